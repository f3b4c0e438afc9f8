"""A realistic, deterministic demo inbox: the template filled for every registry unit.

The inbox exercises what the consolidation must handle: units on time, late by a few days,
missing, rejected for errors, and a resubmission whose first version is invalid. Figures are
plausible for the unit's size and consistent with every rule of form.csv (except where an
error is planted on purpose), and bands differ because some units have late dossiers and
unresolved petitions. The manifest records what was written, so tests compute totals
independently of the pipeline.
"""

from __future__ import annotations

import csv
import os
import random
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from pipeline.core.deadlines import ReportingPeriod, parse_period
from pipeline.core.schema import Schema, Unit
from pipeline.core.vietnamese import lower_first
from pipeline.ooxml.edit import CellValue, fill_workbook

RECEIPTS = "receipts.csv"
# Days after the deadline of the plain late units; the resubmitting unit is late by
# RESUBMIT_DAYS_LATE (its first version is invalid, so timeliness counts from the second).
LATE_DAYS = (2, 6, 15)
RESUBMIT_DAYS_LATE = 1
MISSING_COUNT = 2
# Share of units in each performance profile (the rest are "good").
WEAK_UNITS = 4
FAIR_UNITS = 8
# Text planted in a numeric cell of the rejected unit.
NUMBER_AS_WORDS = "mười hai"


@dataclass(frozen=True)
class SampleFile:
    name: str  # relative to the inbox folder
    received_at: datetime  # aware, local time of the calendar's timezone
    values: Mapping[str, CellValue]  # every form key → value written (None = left blank)
    valid: bool  # False when an error was planted on purpose


@dataclass(frozen=True)
class SampleUnit:
    code: str
    state: str  # "on_time" | "late" | "missing" | "rejected" | "ceased" (no longer in the registry)
    days_late: int
    files: tuple[SampleFile, ...]  # oldest first; empty when missing

    @property
    def file_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.files)

    @property
    def received(self) -> tuple[datetime, ...]:
        return tuple(f.received_at for f in self.files)

    @property
    def values(self) -> Mapping[str, CellValue] | None:
        """Values of the version that should be consolidated (last valid one)."""
        valid = [f for f in self.files if f.valid]
        return valid[-1].values if valid else None


@dataclass(frozen=True)
class SampleManifest:
    period: ReportingPeriod
    out_dir: Path
    units: Mapping[str, SampleUnit]  # registry order
    # (unit code, key, "explained" | "typo"): figures planted for the plausibility checks
    planted: tuple[tuple[str, str, str], ...] = ()

    def count(self, state: str) -> int:
        return sum(1 for u in self.units.values() if u.state == state)

    @property
    def files(self) -> tuple[SampleFile, ...]:
        """Every file written, in order of receipt."""
        every = [f for u in self.units.values() for f in u.files]
        return tuple(sorted(every, key=lambda f: (f.received_at, f.name)))


# -- small helpers ----------------------------------------------------------------------


def _n(value: int) -> str:
    """Vietnamese thousands separator in narratives: 12345 → "12.345"."""
    return f"{value:,}".replace(",", ".")


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}".replace(".", ",") if whole else "100"


def _ascii(text: str) -> str:
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _period_phrase(rp: ReportingPeriod) -> str:
    """How a report names its period in prose: "quý I năm 2023", "6 tháng đầu năm 2023"."""
    name = rp.period.name
    if name.lower() == "năm":
        return f"năm {rp.year}"
    if name[:1].isdigit():
        return f"{name} đầu năm {rp.year}"
    return f"{lower_first(name)} năm {rp.year}"


def _subject(unit: Unit) -> str:
    """ "Sở Y tế", "UBND huyện Tuy Phước"."""
    return f"UBND {lower_first(unit.name)}" if unit.kind == "district" else unit.name


def _pick(rng: random.Random, options: list[str], k: int) -> list[str]:
    return rng.sample(options, min(k, len(options)))


# -- figures ----------------------------------------------------------------------------


def _quarter(unit: Unit, size: float, profile: str, rng: random.Random) -> dict[str, int]:
    """One quarter's own activity (flows) and its pending dossiers at the quarter's end,
    consistent with the form's rules (which then hold for the sums too)."""
    district = unit.kind == "district"

    def flow(base: float) -> int:
        return max(0, round(base * size * rng.uniform(0.8, 1.2)))

    v: dict[str, int] = {}
    v["t1_documents_issued"] = max(1, flow(3))
    v["t1_sessions"] = 0 if profile == "weak" and not district and rng.random() < 0.5 else flow(2.5)
    v["t1_participants"] = v["t1_sessions"] * rng.randint(35, 180)

    v["t2_procedures_reviewed"] = flow(8)
    v["t2_procedures_simplified"] = round(v["t2_procedures_reviewed"] * rng.uniform(0.1, 0.45))
    received = flow(900)
    v["t2_dossiers_received"] = received
    v["t2_dossiers_online"] = round(received * rng.uniform(0.35, 0.92))
    resolved = round(received * rng.uniform(0.82, 0.96))
    late_rate = {"good": (0.0, 0.004), "fair": (0.01, 0.05), "weak": (0.08, 0.18)}[profile]
    late = round(resolved * rng.uniform(*late_rate))
    v["t2_dossiers_on_time"] = resolved - late
    v["t2_dossiers_late"] = late
    # A few dossiers are withdrawn or returned: pending + resolved may stay below received.
    v["t2_dossiers_pending"] = received - resolved - round(received * rng.uniform(0.0, 0.02))
    share = rng.uniform(0.1, 0.5) if profile == "weak" else rng.uniform(0.6, 1.0)
    v["t2_apologies"] = min(late, round(late * share))

    v["t3_inspections"] = 0 if profile == "weak" else rng.randint(1, 2 + round(size))
    v["t3_officials_disciplined"] = rng.choice([0, 0, 0, 1] if profile != "weak" else [0, 1, 2])
    v["t3_harassment_cases"] = rng.choice([0, 0, 0, 0, 1]) if profile != "good" else 0

    turns = flow(12) + 3
    v["t4_reception_turns"] = turns
    v["t4_reception_people"] = turns + rng.randint(0, max(1, turns // 3))
    v["t4_head_reception_days"] = 3 - (0 if profile == "good" else rng.randint(0, 1))
    petitions = flow(15)
    in_competence = round(petitions * rng.uniform(0.3, 0.7))
    resolve_rate = {"good": (0.93, 1.0), "fair": (0.78, 0.93), "weak": (0.5, 0.72)}[profile]
    v["t4_petitions_received"] = petitions
    v["t4_petitions_in_competence"] = in_competence
    v["t4_petitions_resolved"] = int(in_competence * rng.uniform(*resolve_rate))
    v["t4_dialogues"] = rng.randint(0, 1 + 3 * district)

    registered = 0 if profile == "weak" and rng.random() < 0.5 else max(1, flow(1.5))
    v["t5_models_registered"] = registered
    recognized_chance = {"good": 0.75, "fair": 0.4, "weak": 0.0}[profile]
    v["t5_models_recognized"] = (
        rng.randint(1, registered) if registered and rng.random() < recognized_chance else 0
    )
    v["t5_exemplars"] = flow(1.2)
    v["t5_commendations"] = flow(2)

    supervisions = rng.randint(0, 1 + 2 * district)
    recommendations = supervisions * rng.randint(1, 5)
    address_rate = {"good": (0.9, 1.0), "fair": (0.7, 0.9), "weak": (0.5, 0.7)}[profile]
    v["t6_supervisions_hosted"] = supervisions
    v["t6_recommendations_received"] = recommendations
    v["t6_recommendations_addressed"] = int(recommendations * rng.uniform(*address_rate))
    return v


# A real jump the demo plants in one unit's year, explained in its report: the figure, the
# quarter, the factor and the explanation (in the task's explanation cell).
JUMP_KEY = "t4_petitions_received"
JUMP_QUARTER = 3
JUMP_FACTOR = 25
JUMP_EXPLANATION = (
    "Trong quý III, đơn vị tiếp nhận nhiều đơn kiến nghị của các hộ dân bị ảnh hưởng bởi dự án "
    "đường ven biển (đoạn qua địa bàn), nên số đơn tăng đột biến so với các quý trước."
)
# A typo the demo plants in one unit's year-end report: two zeros too many.
TYPO_KEY = "t2_dossiers_received"
TYPO_FACTOR = 100
TYPO_PERIOD_ORDER = 4


def _figures(unit: Unit, rp: ReportingPeriod, profile: str, jump: bool = False) -> dict[str, int]:
    """Cumulative indicator figures of the unit's year up to the period: the sum of each
    quarter's own activity (so they never decrease), the pending dossiers of the last quarter;
    the unit's size, plan and quarters are the same whichever period is built."""
    seed = f"dvcq-sample/{rp.year}/{unit.code}"
    year = random.Random(seed)
    district = unit.kind == "district"
    size = year.uniform(2.0, 4.0) if district else year.uniform(0.3, 1.6)
    if district and unit.communes:
        size *= unit.communes / 14
    v: dict[str, int] = {}
    for q in range(1, rp.period.order + 1):
        quarter = _quarter(unit, size, profile, random.Random(f"{seed}/q{q}"))
        if jump and q == JUMP_QUARTER:
            quarter[JUMP_KEY] *= JUMP_FACTOR
        for key, value in quarter.items():
            v[key] = value if key == "t2_dossiers_pending" else v.get(key, 0) + value

    # The year's plan of inspections, and what was done of it so far (never less than before).
    planned = year.randint(1, 2 + 4 * district)
    short = year.randint(1, planned) if profile == "weak" else year.choice([0, 0, 0, 1])
    v["t7_inspections_planned"] = planned
    v["t7_inspections_done"] = planned - short
    v["t7_units_inspected"] = (planned - short) * year.randint(1, 3)

    communes = unit.communes or 0
    weak = year.randint(0, 1) if communes else 0
    average = year.randint(0, 2) if communes > 2 else 0
    good = round((communes - weak - average) * year.uniform(0.4, 0.7))
    v["c_communes_good"] = good
    v["c_communes_fair"] = communes - weak - average - good
    v["c_communes_average"] = average
    v["c_communes_weak"] = weak
    return v


# -- narratives -------------------------------------------------------------------------

DISTRICT_MODELS = [
    "Dân vận khéo trong vận động Nhân dân hiến đất làm đường giao thông nông thôn",
    "Khu dân cư kiểu mẫu gắn với xây dựng nông thôn mới",
    "Thắp sáng đường quê",
    "Vận động Nhân dân phân loại rác thải tại nguồn",
    "Dân vận khéo trong công tác bồi thường, giải phóng mặt bằng",
]
DEPARTMENT_MODELS = [
    "Cải cách hành chính gắn với chuyển đổi số",
    "Bộ phận một cửa thân thiện, vì Nhân dân phục vụ",
    "Cơ quan xanh - sạch - đẹp, văn minh công sở",
    "Cán bộ, đảng viên gương mẫu nói đi đôi với làm",
    "Dân vận khéo trong hướng dẫn người dân thực hiện dịch vụ công trực tuyến",
]


def _narratives(unit: Unit, rp: ReportingPeriod, v: Mapping[str, int], rng: random.Random) -> dict[str, str]:
    who, when = _subject(unit), _period_phrase(rp)
    district = unit.kind == "district"
    out: dict[str, str] = {}

    n1 = [
        f"Trong {when}, {who} đã ban hành {_n(v['t1_documents_issued'])} kế hoạch, văn bản chỉ đạo, "
        f"triển khai công tác dân vận chính quyền, bám sát Kế hoạch năm {rp.year} của UBND tỉnh."
    ]
    if v["t1_sessions"]:
        n1.append(
            f"Tổ chức {_n(v['t1_sessions'])} hội nghị, buổi tuyên truyền, quán triệt với "
            f"{_n(v['t1_participants'])} lượt cán bộ, công chức, viên chức, người lao động và Nhân dân tham dự."
        )
    else:
        n1.append(
            "Trong kỳ chưa tổ chức hội nghị tuyên truyền riêng; nội dung được lồng ghép trong giao ban."
        )
    n1 += _pick(
        rng,
        [
            "Nội dung tuyên truyền tập trung vào Luật Thực hiện dân chủ ở cơ sở năm 2022 và quy chế "
            "dân chủ trong hoạt động của cơ quan.",
            "Việc tuyên truyền được lồng ghép trong sinh hoạt chi bộ, họp cơ quan và đăng tải trên "
            "Trang thông tin điện tử của đơn vị.",
            "Đơn vị phối hợp với hệ thống truyền thanh cơ sở và các nhóm Zalo khu dân cư để đưa "
            "thông tin đến Nhân dân."
            if district
            else "Cán bộ, công chức được phổ biến các chủ trương mới về công tác dân vận qua hội nghị trực tuyến.",
        ],
        rng.randint(1, 2),
    )
    out["n1_results"] = " ".join(n1)

    received, late = v["t2_dossiers_received"], v["t2_dossiers_late"]
    n2 = [
        f"Rà soát, đánh giá {_n(v['t2_procedures_reviewed'])} thủ tục hành chính, đề xuất cắt giảm, "
        f"đơn giản hóa {_n(v['t2_procedures_simplified'])} thủ tục.",
        f"Tiếp nhận {_n(received)} hồ sơ thủ tục hành chính, trong đó {_n(v['t2_dossiers_online'])} hồ sơ "
        f"trực tuyến ({_pct(v['t2_dossiers_online'], received)}%); giải quyết đúng hạn "
        f"{_n(v['t2_dossiers_on_time'])} hồ sơ, quá hạn {_n(late)} hồ sơ, đang giải quyết "
        f"{_n(v['t2_dossiers_pending'])} hồ sơ.",
    ]
    if late:
        n2.append(f"Đã ban hành {_n(v['t2_apologies'])} văn bản xin lỗi tổ chức, cá nhân do trễ hẹn.")
    else:
        n2.append("Không có hồ sơ giải quyết quá hạn.")
    n2 += _pick(
        rng,
        [
            "Công khai đầy đủ thủ tục hành chính tại Bộ phận Một cửa và trên Cổng Dịch vụ công quốc gia.",
            "Đẩy mạnh số hóa hồ sơ, kết quả giải quyết thủ tục hành chính và thanh toán trực tuyến "
            "phí, lệ phí theo Đề án 06 của Chính phủ.",
            "Triển khai đánh giá mức độ hài lòng của người dân, doanh nghiệp đối với việc giải quyết "
            "thủ tục hành chính.",
        ],
        rng.randint(1, 2),
    )
    out["n2_results"] = " ".join(n2)

    n3 = [
        f"Tổ chức {_n(v['t3_inspections'])} cuộc kiểm tra công vụ, việc chấp hành kỷ luật, kỷ cương "
        "hành chính và văn hóa công sở."
        if v["t3_inspections"]
        else "Trong kỳ chưa tổ chức kiểm tra công vụ theo kế hoạch; sẽ thực hiện trong kỳ tiếp theo.",
        f"Đã xem xét, xử lý kỷ luật {_n(v['t3_officials_disciplined'])} cán bộ, công chức, viên chức vi phạm."
        if v["t3_officials_disciplined"]
        else "Không có cán bộ, công chức, viên chức bị xử lý kỷ luật.",
        f"Phát hiện, xử lý {_n(v['t3_harassment_cases'])} vụ việc nhũng nhiễu, gây phiền hà người dân."
        if v["t3_harassment_cases"]
        else "Không phát hiện trường hợp nhũng nhiễu, gây phiền hà người dân, doanh nghiệp.",
    ]
    n3 += _pick(
        rng,
        [
            "Cán bộ, công chức thực hiện nghiêm Quy tắc ứng xử, đeo thẻ công chức khi thi hành công vụ.",
            'Tiếp tục thực hiện Chỉ thị số 05-CT/TW gắn với xây dựng phong cách "trọng dân, gần dân, '
            'hiểu dân, giúp dân, có trách nhiệm với dân".',
            "Duy trì hộp thư góp ý và đường dây nóng để tiếp nhận phản ánh về thái độ phục vụ.",
        ],
        1,
    )
    out["n3_results"] = " ".join(n3)

    in_comp = v["t4_petitions_in_competence"]
    n4 = [
        f"Tiếp {_n(v['t4_reception_turns'])} lượt công dân với {_n(v['t4_reception_people'])} người; "
        f"người đứng đầu tiếp công dân định kỳ {_n(v['t4_head_reception_days'])} buổi.",
        f"Tiếp nhận {_n(v['t4_petitions_received'])} đơn khiếu nại, tố cáo, kiến nghị, phản ánh, trong đó "
        f"{_n(in_comp)} đơn thuộc thẩm quyền; đã giải quyết {_n(v['t4_petitions_resolved'])} đơn "
        f"(đạt {_pct(v['t4_petitions_resolved'], in_comp)}%).",
    ]
    if v["t4_dialogues"]:
        n4.append(f"Tổ chức {_n(v['t4_dialogues'])} hội nghị đối thoại giữa người đứng đầu với Nhân dân.")
    n4.append(
        "Các vụ việc chủ yếu liên quan đến bồi thường, hỗ trợ, tái định cư và tranh chấp đất đai."
        if district
        else "Nội dung đơn chủ yếu kiến nghị về chế độ, chính sách thuộc lĩnh vực quản lý của ngành."
    )
    out["n4_results"] = " ".join(n4)

    models = DISTRICT_MODELS if district else DEPARTMENT_MODELS
    n5 = [
        f'Đăng ký {_n(v["t5_models_registered"])} mô hình "Dân vận khéo", đã có '
        f"{_n(v['t5_models_recognized'])} mô hình được công nhận; xây dựng {_n(v['t5_exemplars'])} "
        'điển hình "Dân vận khéo".'
    ]
    if v["t5_models_registered"]:
        n5.append(f'Tiêu biểu là mô hình "{rng.choice(models)}".')
    if v["t5_commendations"]:
        n5.append(f"Khen thưởng {_n(v['t5_commendations'])} tập thể, cá nhân có thành tích trong phong trào.")
    out["n5_results"] = " ".join(n5)

    n6 = [
        f"Tạo điều kiện để Ủy ban MTTQ Việt Nam và các tổ chức chính trị - xã hội thực hiện "
        f"{_n(v['t6_supervisions_hosted'])} cuộc giám sát, phản biện xã hội theo Quyết định 217-QĐ/TW, "
        "218-QĐ/TW."
    ]
    if v["t6_recommendations_received"]:
        n6.append(
            f"Tiếp nhận {_n(v['t6_recommendations_received'])} kiến nghị sau giám sát, đã tiếp thu, giải quyết "
            f"{_n(v['t6_recommendations_addressed'])} kiến nghị."
        )
    n6.append("Định kỳ lấy ý kiến góp ý của Nhân dân, doanh nghiệp đối với dự thảo văn bản có liên quan.")
    out["n6_results"] = " ".join(n6)

    planned, done = v["t7_inspections_planned"], v["t7_inspections_done"]
    n7 = [
        f"Theo kế hoạch năm {rp.year}, đơn vị kiểm tra {_n(planned)} cuộc về công tác dân vận chính quyền; "
        f"đến nay đã thực hiện {_n(done)} cuộc tại {_n(v['t7_units_inspected'])} cơ quan, đơn vị, địa phương."
    ]
    if done < planned:
        n7.append("Các cuộc kiểm tra còn lại sẽ được thực hiện trong kỳ tiếp theo.")
    out["n7_results"] = " ".join(n7)

    limitations = [
        "Một số cán bộ, công chức chưa nhận thức đầy đủ vai trò của công tác dân vận chính quyền.",
        "Tỷ lệ hồ sơ trực tuyến toàn trình còn thấp so với chỉ tiêu tỉnh giao.",
        'Việc xây dựng, nhân rộng mô hình "Dân vận khéo" chưa đồng đều.',
        "Hạ tầng công nghệ thông tin phục vụ giải quyết thủ tục hành chính còn hạn chế.",
    ]
    if late:
        limitations.insert(0, "Vẫn còn hồ sơ thủ tục hành chính giải quyết quá hạn.")
    out["n_limitations"] = " ".join(_pick(rng, limitations, 2))
    if rng.random() < 0.75:
        out["n_causes"] = " ".join(
            _pick(
                rng,
                [
                    "Số lượng hồ sơ tăng trong khi biên chế còn thiếu.",
                    "Một số người dân chưa quen sử dụng dịch vụ công trực tuyến.",
                    "Công tác phối hợp giữa các cơ quan có lúc chưa chặt chẽ.",
                    "Kinh phí cho hoạt động tuyên truyền, kiểm tra còn hạn chế.",
                ],
                2,
            )
        )
    out["n_directions"] = " ".join(
        _pick(
            rng,
            [
                "Tiếp tục quán triệt, triển khai Kế hoạch công tác dân vận chính quyền của UBND tỉnh.",
                "Đẩy mạnh cải cách hành chính, chuyển đổi số, giảm tỷ lệ hồ sơ trễ hẹn.",
                "Nâng cao chất lượng tiếp công dân, giải quyết dứt điểm đơn thư ngay từ cơ sở.",
                'Tiếp tục đăng ký, xây dựng và nhân rộng các mô hình "Dân vận khéo".',
                "Thực hiện đầy đủ kế hoạch kiểm tra công tác dân vận chính quyền.",
            ],
            3,
        )
    )
    if rng.random() < 0.6:
        out["n_proposals"] = rng.choice(
            [
                "Đề nghị UBND tỉnh quan tâm bố trí kinh phí cho hoạt động tuyên truyền, kiểm tra.",
                "Đề nghị Sở Nội vụ tổ chức tập huấn nghiệp vụ công tác dân vận chính quyền cho cán bộ phụ trách.",
                "Đề nghị tỉnh nâng cấp hệ thống thông tin giải quyết thủ tục hành chính.",
            ]
        )
    return out


# -- identification ---------------------------------------------------------------------

FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Huỳnh", "Võ", "Phan", "Đặng", "Bùi", "Đỗ", "Hồ", "Ngô"]
MIDDLE = ["Văn", "Thị", "Minh", "Thanh", "Ngọc", "Quốc", "Thị Thu", "Hữu", "Đức", "Thị Kim"]
GIVEN = ["Hà", "Hùng", "Lan", "Tuấn", "Dũng", "Hương", "Phúc", "Trang", "Nam", "Hải", "Linh", "Thảo"]


def _identification(
    unit: Unit, rp: ReportingPeriod, received: datetime, rng: random.Random
) -> dict[str, CellValue]:
    name = f"{rng.choice(FAMILY)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}"
    words = _ascii(name).lower().split()
    handle = words[-1] + "".join(w[0] for w in words[:-1])
    if rng.random() < 0.5:
        phone = f"0256 3{rng.randint(100, 999)} {rng.randint(100, 999)}"
    else:
        phone = f"{rng.choice(['090', '091', '098', '097', '035', '088'])}{rng.randint(1000000, 9999999)}"
    roll = rng.random()
    if roll < 0.7:
        email: str | None = f"{handle}.{_ascii(unit.code).lower()}@binhdinh.gov.vn"
    elif roll < 0.85:
        email = f"{handle}{rng.randint(80, 99)}@gmail.com"
    else:
        email = None
    signer = "UBND" if unit.kind == "district" else unit.code
    report_day = max(rp.cutoff_end, received.date() - timedelta(days=rng.randint(0, 3)))
    self_score = round(rng.uniform(78, 98) * 2) / 2 if rng.random() < 0.85 else None
    return {
        "unit_code": unit.code,
        # Units write the period both ways: the Vietnamese name from the list, or the code.
        "period": rp.period.name if rng.random() < 0.6 else rp.period.code,
        "year": rp.year,
        "report_number": f"{rng.randint(5, 180)}/BC-{signer}",
        "report_date": report_day,
        "preparer_name": name,
        "preparer_phone": phone,
        "preparer_email": email,
        "self_score": self_score,
    }


def _unit_values(
    schema: Schema,
    unit: Unit,
    rp: ReportingPeriod,
    profile: str,
    received: datetime,
    rng: random.Random,
    planted: Planted,
) -> dict[str, CellValue]:
    """Every form key → value; inputs that do not apply to the unit or period stay blank."""
    figures = _figures(unit, rp, profile, jump=unit.code == planted.jump_unit)
    texts = _narratives(unit, rp, figures, rng)
    if unit.code == planted.jump_unit and rp.period.order == JUMP_QUARTER:
        texts[f"t{schema.field_by_key[JUMP_KEY].task}_explanation"] = JUMP_EXPLANATION
    if unit.code == planted.typo_unit and rp.period.order == TYPO_PERIOD_ORDER:
        figures[TYPO_KEY] *= TYPO_FACTOR
    ident = _identification(unit, rp, received, rng)
    values: dict[str, CellValue] = {}
    for f in schema.fields:
        if f.group == "identification":
            values[f.key] = ident.get(f.key)
        elif not f.applies(unit, rp.period.code):
            values[f.key] = None
        elif f.group == "indicator":
            values[f.key] = figures.get(f.key)
        else:
            values[f.key] = texts.get(f.key)
    return values


# -- timing and names -------------------------------------------------------------------


def _office_time(day: date, rng: random.Random, rp: ReportingPeriod) -> datetime:
    minutes = rng.randint(7 * 60 + 30, 17 * 60)
    return datetime.combine(day, time(minutes // 60, minutes % 60, rng.randint(0, 59)), rp.tz)


def _on_time_receipt(rp: ReportingPeriod, rng: random.Random, latest: date | None = None) -> datetime:
    """A working day after the data cut-off and no later than `latest` (default: the deadline)."""
    last = latest or rp.deadline
    days = [rp.cutoff_end + timedelta(days=i) for i in range(1, (last - rp.cutoff_end).days + 1)]
    # Units send on working days; fall back to any day if the window has none.
    working = [d for d in days if d.weekday() < 5] or days or [last]
    return _office_time(rng.choice(working), rng, rp)


def _file_name(unit: Unit, rp: ReportingPeriod, rng: random.Random, suffix: str = "") -> str:
    pname = rp.period.name
    stem = rng.choice(
        [
            f"Báo cáo DVCQ {pname}-{rp.year} - {unit.name}",
            f"BC dân vận chính quyền {pname} năm {rp.year} - {unit.name}",
            f"{unit.name} - Báo cáo công tác dân vận chính quyền {pname} {rp.year}",
        ]
    )
    return unicodedata.normalize("NFC", f"{stem}{suffix}.xlsx")


# -- the inbox --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    state: str
    days_late: int
    profile: str
    role: str  # "normal" | "late" | "missing" | "rejected" | "resubmit"


@dataclass(frozen=True)
class Planted:
    """The units of the year whose figures carry what the plausibility checks must find: a jump
    explained in the report (JUMP_*), a typo in the year-end report (TYPO_*). They report on
    time every period, so that their figures are judged against their whole year."""

    jump_unit: str
    typo_unit: str

    def in_period(self, rp: ReportingPeriod) -> tuple[tuple[str, str, str], ...]:
        """(unit code, key, "explained" | "typo") planted in the period's reports."""
        found = []
        if rp.period.order == JUMP_QUARTER:
            found.append((self.jump_unit, JUMP_KEY, "explained"))
        if rp.period.order == TYPO_PERIOD_ORDER:
            found.append((self.typo_unit, TYPO_KEY, "typo"))
        return tuple(found)


def planted_units(schema: Schema, year: int) -> Planted:
    rng = random.Random(f"dvcq-sample/{year}/planted")
    districts = [u.code for u in schema.units if u.kind == "district"]
    others = [u.code for u in schema.units if u.kind != "district"]
    return Planted(jump_unit=rng.choice(districts or others), typo_unit=rng.choice(others or districts))


def _profiles(schema: Schema, year: int) -> dict[str, str]:
    """Each unit's performance over the year (the same in every period's reports)."""
    order = [u.code for u in schema.units]
    random.Random(f"dvcq-sample/{year}/profiles").shuffle(order)
    profiles = {c: "weak" for c in order[:WEAK_UNITS]}
    profiles.update({c: "fair" for c in order[WEAK_UNITS : WEAK_UNITS + FAIR_UNITS]})
    return profiles


def _plan(schema: Schema, rng: random.Random, year: int, keep: tuple[str, ...]) -> dict[str, _Plan]:
    codes = [u.code for u in schema.units]
    needed = MISSING_COUNT + len(LATE_DAYS) + 2
    if len(codes) < needed + WEAK_UNITS + len(keep):
        raise ValueError(
            f"the registry needs at least {needed + WEAK_UNITS + len(keep)} units for a sample inbox"
        )
    picked = rng.sample([c for c in codes if c not in keep], needed)
    roles: dict[str, tuple[str, int, str]] = {}
    for code in picked[:MISSING_COUNT]:
        roles[code] = ("missing", 0, "missing")
    for code, days in zip(picked[MISSING_COUNT:], LATE_DAYS, strict=False):
        roles[code] = ("late", days, "late")
    roles[picked[-2]] = ("rejected", 0, "rejected")
    roles[picked[-1]] = ("late", RESUBMIT_DAYS_LATE, "resubmit")
    profiles = _profiles(schema, year)
    plans = {}
    for code in codes:
        state, days, role = roles.get(code, ("on_time", 0, "normal"))
        plans[code] = _Plan(state, days, profiles.get(code, "good"), role)
    return plans


def _ceased_reporter(schema: Schema, rp: ReportingPeriod) -> Unit | None:
    """A unit that reported a year before and no longer exists on the period's deadline (a
    district ended by a reorganisation first), with a code no current unit reuses."""
    year_before = rp.deadline.replace(year=rp.deadline.year - 1)
    current = {u.code for u in schema.units}
    gone = [
        u
        for u in schema.registry
        if u.reports and u.valid_on(year_before) and not u.valid_on(rp.deadline) and u.code not in current
    ]
    gone.sort(key=lambda u: u.kind != "district")
    return gone[0] if gone else None


def _clear(out_dir: Path) -> None:
    """Remove what a previous build wrote (its workbooks and receipts), nothing else."""
    for path in out_dir.glob("*.xlsx"):
        path.unlink()
    (out_dir / RECEIPTS).unlink(missing_ok=True)


def _with_rule_error(values: Mapping[str, CellValue], rng: random.Random) -> dict[str, CellValue]:
    """The resubmitter's first version: more petitions resolved than in its competence."""
    bad = dict(values)
    in_comp = values.get("t4_petitions_in_competence")
    base = in_comp if isinstance(in_comp, int) else 0
    bad["t4_petitions_resolved"] = base + rng.randint(2, 9)
    return bad


def _with_errors(values: Mapping[str, CellValue], rng: random.Random) -> dict[str, CellValue]:
    """The rejected unit's file: parts exceed the whole, and a count written in words."""
    bad = dict(values)
    received = values.get("t2_dossiers_received")
    on_time = values.get("t2_dossiers_on_time")
    late = values.get("t2_dossiers_late")
    if isinstance(received, int) and isinstance(on_time, int) and isinstance(late, int):
        bad["t2_dossiers_pending"] = received - on_time - late + rng.randint(15, 60)
    bad["t1_documents_issued"] = NUMBER_AS_WORDS
    return bad


def _resent_in_time(schema: Schema, rp: ReportingPeriod, files: list[SampleFile]) -> bool:
    """Whether the resubmitter counts as on time: under the fairness policy "on_time"
    (schemas/calendar.toml resubmission_policy) its rejected version came by the deadline, and a
    run that sees both versions first (the demo's one run) gives the grace period from its own
    date, so the correction is in time (pipeline.core.merge.apply_fairness)."""
    return schema.calendar.resubmission_policy == "on_time" and files[0].received_at <= rp.deadline_end


def build_sample_inbox(
    schema: Schema, template: Path, out_dir: Path, year: int = 2023, period: str = "Q1"
) -> SampleManifest:
    """Fill `template` for every registry unit into `out_dir`, write receipts.csv, return the manifest."""
    rp = parse_period(f"{year}-{period}", schema.calendar)
    schema = schema.at(rp.deadline)  # the units that report for this period
    out_dir.mkdir(parents=True, exist_ok=True)
    _clear(out_dir)
    seed = f"dvcq-sample/{rp.id}"
    planted = planted_units(schema, year)
    plans = _plan(schema, random.Random(seed), year, (planted.jump_unit, planted.typo_unit))

    units: dict[str, SampleUnit] = {}
    for unit in schema.units:
        plan = plans[unit.code]
        # One generator per unit: editing one unit's story does not reshuffle the others.
        rng = random.Random(f"{seed}/{unit.code}")
        files: list[SampleFile] = []
        if plan.role == "late":
            received = _office_time(rp.deadline + timedelta(days=plan.days_late), rng, rp)
        elif plan.role == "resubmit":
            # The first (invalid) version arrives before the deadline.
            received = _on_time_receipt(rp, rng, latest=rp.deadline - timedelta(days=1))
        else:
            received = _on_time_receipt(rp, rng)
        if plan.role != "missing":
            values = _unit_values(schema, unit, rp, plan.profile, received, rng, planted)
            name = _file_name(unit, rp, rng)
            if plan.role == "resubmit":
                files.append(SampleFile(name, received, _with_rule_error(values, rng), valid=False))
                fixed_at = _office_time(rp.deadline + timedelta(days=plan.days_late), rng, rp)
                second = name.removesuffix(".xlsx") + " (bản sửa).xlsx"
                files.append(SampleFile(second, fixed_at, values, valid=True))
            elif plan.role == "rejected":
                files.append(SampleFile(name, received, _with_errors(values, rng), valid=False))
            else:
                files.append(SampleFile(name, received, values, valid=True))
        state, days_late = plan.state, plan.days_late
        if plan.role == "resubmit" and _resent_in_time(schema, rp, files):
            state, days_late = "on_time", 0  # the fairness policy: sent on time, fixed in time
        units[unit.code] = SampleUnit(unit.code, state, days_late, tuple(files))

    gone = _ceased_reporter(schema, rp)
    if gone is not None:  # a unit that ceased since last year still sends its report: rejected
        rng = random.Random(f"{seed}/{gone.code}")
        received = _on_time_receipt(rp, rng)
        values = _unit_values(schema, gone, rp, "good", received, rng, planted)
        ceased = SampleFile(_file_name(gone, rp, rng), received, values, valid=False)
        units[gone.code] = SampleUnit(gone.code, "ceased", 0, (ceased,))

    manifest = SampleManifest(period=rp, out_dir=out_dir, units=units, planted=planted.in_period(rp))
    names = [f.name for f in manifest.files]
    if len(names) != len(set(names)):
        raise ValueError("sample inbox: two files with the same name")
    for f in manifest.files:
        path = out_dir / f.name
        # The document's own "modified" stamp: shortly before it was sent.
        stamp = (f.received_at - timedelta(minutes=17)).astimezone(UTC).replace(tzinfo=None)
        fill_workbook(template, f.values, path, modified=stamp)
        ts = f.received_at.timestamp()
        os.utime(path, (ts, ts))
    with (out_dir / RECEIPTS).open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["file", "received_at"])
        for f in manifest.files:
            writer.writerow([f.name, f.received_at.isoformat(timespec="seconds")])
    return manifest
