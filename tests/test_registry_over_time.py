"""The registry over time (issue 15): a period's registry is the units valid on its deadline;
three communes merged into one and a district that ceases between two years; previous_year from
the predecessors' accepted figures; a report from a ceased unit rejected with its successor
named; every output names the registry it used; the Gia Lai 2026 configuration end to end."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import zipfile
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest

from pipeline import config
from pipeline.authoring.sample import build_sample_inbox
from pipeline.authoring.template import write_template
from pipeline.core import lineage
from pipeline.core.deadlines import parse_period
from pipeline.core.errors import SchemaError
from pipeline.core.schema import Schema, Unit
from pipeline.ooxml.edit import CellValue, fill_workbook
from pipeline.run import consolidate
from pipeline.store import history
from pipeline.store.ledger import FILE_NAME, Ledger

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
ROOT = Path(__file__).resolve().parents[1]
GIA_LAI = ROOT / "schemas" / "gia-lai-2026"

UNITS = """code,name,kind,communes,aliases,valid_from,valid_to,successor
SNV,Sở Nội vụ,department,,,,,
D1,Huyện Thử Nghiệm,district,4,UBND huyện Thử Nghiệm,,2024-06-30,X9|X4
X1,Xã Một,commune,,,,2024-06-30,X9
X2,Xã Hai,commune,,,,2024-06-30,X9
X3,Xã Ba,commune,,,,2024-06-30,X9
X4,Xã Bốn,commune,,,,,
X9,Xã Hợp Nhất,commune,,,2024-07-01,,
"""


@pytest.fixture(scope="module")
def changing(tmp_path_factory: pytest.TempPathFactory) -> Schema:
    """The 2023 form, calendar and rubric with a registry that changes on 1 July 2024."""
    folder = tmp_path_factory.mktemp("schemas")
    for name in ("calendar.toml", "form.csv", "rubric.toml", "template.toml"):
        shutil.copyfile(ROOT / "schemas" / name, folder / name)
    (folder / "units.csv").write_text(UNITS, encoding="utf-8")
    return config.load(folder)  # no codes.csv of its own: the program's catalogue


def _write(template: Path, values: Mapping[str, CellValue], target: Path, received: datetime) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fill_workbook(template, values, target)
    os.utime(target, (received.timestamp(), received.timestamp()))


def _report(base: Mapping[str, CellValue], unit: str, year: int, sessions: int) -> dict[str, CellValue]:
    return dict(
        base, unit_code=unit, year=year, period="Quý I", t1_sessions=sessions, t1_participants=10 * sessions
    )


def test_a_period_registry_is_the_units_valid_on_its_deadline(changing: Schema) -> None:
    assert [u.code for u in changing.at(date(2024, 3, 20)).units] == ["SNV", "D1", "X1", "X2", "X3", "X4"]
    assert [u.code for u in changing.at(date(2025, 3, 20)).units] == ["SNV", "X4", "X9"]
    x9 = lineage.unit_at(changing.registry, "X9", date(2025, 3, 20))
    assert x9 is not None
    found = lineage.predecessors(changing.registry, x9, date(2025, 3, 20), date(2024, 3, 20))
    assert [(p.unit.code, p.whole) for p in found] == [
        ("D1", False),
        ("X1", True),
        ("X2", True),
        ("X3", True),
    ]
    changes = lineage.changes(changing.registry, date(2024, 3, 20), date(2025, 3, 20))
    assert sorted(([u.code for u in before], [u.code for u in after]) for before, after in changes) == [
        (["D1"], ["X9", "X4"]),
        (["X1", "X2", "X3"], ["X9"]),
    ]


def test_overlapping_codes_and_unknown_successors_are_refused(tmp_path: Path) -> None:
    for name in ("calendar.toml", "form.csv", "rubric.toml", "template.toml"):
        shutil.copyfile(ROOT / "schemas" / name, tmp_path / name)
    (tmp_path / "units.csv").write_text(UNITS + "X1,Xã Một mới,commune,,,2024-06-01,,\n", encoding="utf-8")
    with pytest.raises(SchemaError, match="X1"):
        config.load(tmp_path)
    (tmp_path / "units.csv").write_text(
        UNITS.replace("2024-06-30,X9\n", "2024-06-30,X7\n", 1), encoding="utf-8"
    )
    with pytest.raises(SchemaError, match="X7"):
        config.load(tmp_path)


def test_merge_and_ceased_district_across_two_years(
    changing: Schema, sample_values: Mapping[str, CellValue], tmp_path: Path
) -> None:
    template = write_template(changing, tmp_path / "template")
    outbox = tmp_path / "outbox"
    sent = datetime(2024, 3, 15, 9, 0, tzinfo=TZ)
    first = tmp_path / "2024"
    for unit, sessions in (("SNV", 4), ("D1", 40), ("X1", 1), ("X2", 2), ("X3", 3)):
        _write(template, _report(sample_values, unit, 2024, sessions), first / f"{unit}.xlsx", sent)
    q1 = parse_period("2024-Q1", changing.calendar)
    before = consolidate(changing, q1, first, outbox, datetime(2024, 4, 10, 9, 0, tzinfo=TZ))
    assert sorted(u.unit.code for u in before.units) == ["D1", "SNV", "X1", "X2", "X3", "X4"]

    second = tmp_path / "2025"
    sent = datetime(2025, 3, 15, 9, 0, tzinfo=TZ)
    for unit, sessions in (("SNV", 5), ("X9", 7), ("X4", 1)):
        _write(template, _report(sample_values, unit, 2025, sessions), second / f"{unit}.xlsx", sent)
    # Reports from units that no longer exist: a merged commune, the ceased district.
    _write(template, _report(sample_values, "X2", 2025, 2), second / "xa hai.xlsx", sent)
    _write(template, _report(sample_values, "UBND huyện Thử Nghiệm", 2025, 9), second / "huyen.xlsx", sent)
    q1 = parse_period("2025-Q1", changing.calendar)
    after = consolidate(changing, q1, second, outbox, datetime(2025, 4, 10, 9, 0, tzinfo=TZ))

    assert [u.unit.code for u in after.units] == ["SNV", "X4", "X9"]
    ceased = {s.file.name: s for s in after.files if s.file.name in ("xa hai.xlsx", "huyen.xlsx")}
    for name, successors in (("xa hai.xlsx", ["X9"]), ("huyen.xlsx", ["X9", "X4"])):
        sub = ceased[name]
        assert sub.status == "rejected" and sub.unit is None
        [issue] = [i for i in sub.issues if i.code == "unit-ceased"]
        assert (issue.sheet, issue.cell, issue.severity) == ("Thông tin chung", "C5", "error")
        assert all(code in issue.message for code in successors)
        assert "01/07/2024" in issue.message

    report = json.loads((outbox / "2025-Q1" / "run.json").read_text(encoding="utf-8"))
    units = {u["code"]: u for u in report["units"]}
    merged = units["X9"]["previous_year"]
    assert merged["units"] == ["X1", "X2", "X3"]
    assert merged["values"]["t1_sessions"] == 6 and merged["values"]["t1_participants"] == 60
    assert merged["split_from"] == ["D1"]  # the district's figures are not divided among its successors
    assert units["SNV"]["previous_year"]["units"] == ["SNV"]
    assert units["SNV"]["previous_year"]["values"]["t1_sessions"] == 4
    assert [(r["code"], r["status"]) for r in merged["results"]] == [
        ("X1", "on_time"),
        ("X2", "on_time"),
        ("X3", "on_time"),
    ]
    assert all(r["score"] is not None and r["band"] for r in merged["results"])
    # X4 sent nothing in 2024: no figures, its recorded status only.
    assert units["X4"]["previous_year"] == {
        "units": [], "values": {}, "missing": ["X4"], "split_from": ["D1"],
        "results": [{"code": "X4", "status": "missing", "score": None, "band": "Không báo cáo"}],
    }  # fmt: skip

    with Ledger(outbox / FILE_NAME) as ledger:
        assert history.period_figures(ledger, "2024-Q1")["X2"]["t1_sessions"] == 2
        one = history.previous_year(ledger, changing.at(q1.deadline), q1, "X9")
    assert one is not None and one.units == ("X1", "X2", "X3") and one.merged

    # The report's comparison with the same period of 2024: X9 against X1 + X2 + X3, SNV against itself.
    with zipfile.ZipFile(outbox / "2025-Q1" / "bao-cao-2025-Q1.docx") as z:
        text = re.sub(r"<[^>]+>", "", z.read("word/document.xml").decode("utf-8"))
    assert "So với cùng kỳ năm 2024 (2 đơn vị có số liệu cả hai năm)" in text
    assert "Hội nghị, buổi tuyên truyền, quán triệt: 10 → 12 cuộc." in text
    assert "Xã Hợp Nhất: gồm xã Một, xã Hai, xã Ba trước sắp xếp." in text

    digest = hashlib.sha256((changing.directory / "units.csv").read_bytes()).hexdigest()
    assert report["registry"] == {"file": "units.csv", "sha256": digest, "date": "2025-03-20", "units": 3}
    earlier = json.loads((outbox / "2024-Q1" / "run.json").read_text(encoding="utf-8"))
    assert earlier["registry"]["date"] == "2024-03-20" and earlier["registry"]["units"] == 6
    wb = openpyxl.load_workbook(outbox / "2025-Q1" / "tong-hop-2025-Q1.xlsx", read_only=True)
    notes = [c for row in wb["Nguồn số liệu"].iter_rows(max_row=4, values_only=True) for c in row if c]
    assert any(digest[:16] in str(c) and "20/03/2025" in str(c) for c in notes)


def test_gia_lai_registry_from_the_resolution() -> None:
    gl = config.load(GIA_LAI)
    now = gl.at(date(2026, 3, 20))
    kinds = [u.kind for u in now.units]
    assert (kinds.count("department"), kinds.count("commune"), kinds.count("ward")) == (15, 110, 25)
    before = gl.at(date(2025, 3, 20))
    assert sorted({u.kind for u in before.units}) == ["department", "district"] and len(before.units) == 32
    # Nghị quyết 1664/NQ-UBTVQH15, Điều 1 khoản 102: four wards of Quy Nhơn became phường Quy Nhơn.
    quy_nhon = lineage.unit_at(gl.registry, "21583", date(2026, 3, 20))
    assert quy_nhon is not None and quy_nhon.name == "Phường Quy Nhơn"
    found = lineage.predecessors(gl.registry, quy_nhon, date(2026, 3, 20), date(2025, 3, 20))
    assert sorted(p.unit.name for p in found if p.whole) == [
        "Phường Hải Cảng", "Phường Thị Nại", "Phường Trần Phú", "Phường Đống Đa",
    ]  # fmt: skip
    former = [u for u in gl.registry if not u.reports]
    assert len(former) == 155  # the former Bình Định's communes, kept for the lineage only
    new_bd = {s for u in former for s in u.successors}
    assert len(new_bd) == 58


def test_gia_lai_configuration_end_to_end(tmp_path: Path) -> None:
    """~150 units: template, sample inbox, consolidation across the reorganisation (Quý I 2025
    under the registry of that day, then Quý I 2026); data sheet and charts grouped by kind; the
    year's run rates every commune and ward, the Yếu ones on the inspection list."""
    gl = config.load(GIA_LAI)
    template = write_template(gl, tmp_path / "template")
    outbox = tmp_path / "outbox"
    runs = (
        ("2025-Q1", "2025-04-10T09:00:00+07:00"),
        ("2026-Q1", "2026-04-10T09:00:00+07:00"),
        ("2026-Y", "2026-12-05T09:00:00+07:00"),
    )
    for period, as_of in runs:
        year, code = period.split("-")
        inbox = tmp_path / period
        manifest = build_sample_inbox(gl, template, inbox, year=int(year), period=code)
        rp = parse_period(period, gl.calendar)
        result = consolidate(gl, rp, inbox, outbox, datetime.fromisoformat(as_of))
        if period == "2026-Q1":
            # The sample's report from a district that ceased on 30/06/2025 is rejected, its successors named.
            [gone] = [u for u in manifest.units.values() if u.state == "ceased"]
            [sub] = [s for s in result.files if s.file.name == gone.files[0].name]
            assert sub.status == "rejected" and [i.code for i in sub.issues] == ["unit-ceased"]
            report = json.loads((outbox / period / "run.json").read_text(encoding="utf-8"))
            units = {u["code"]: u for u in report["units"]}
            before = json.loads((outbox / "2025-Q1" / "run.json").read_text(encoding="utf-8"))
            accepted = {u["code"] for u in before["units"] if u["status"] in ("on_time", "late")}
            # Sở Nội vụ of 2026 took in Sở Lao động - Thương binh và Xã hội on 1 July 2025.
            covered = [code for code in ("SNV", "SLDTBXH") if code in accepted]
            assert covered and units["SNV"]["previous_year"]["units"] == covered
            assert sorted(r["code"] for r in units["SNV"]["previous_year"]["results"]) == ["SLDTBXH", "SNV"]
            assert report["registry"]["date"] == "2026-03-20" and report["registry"]["units"] == 150
            with zipfile.ZipFile(outbox / period / f"bao-cao-{period}.docx") as z:
                text = re.sub(r"<[^>]+>", "", z.read("word/document.xml").decode("utf-8"))
            assert "So với cùng kỳ năm 2025" in text
            assert "Sở Nông nghiệp và Môi trường: gồm Sở Nông nghiệp và Phát triển nông thôn" in text
            assert before["registry"]["date"] == "2025-03-20" and before["registry"]["units"] == 32
    assert len(result.units) == 150
    # Ranked within each kind (a department is not compared with a commune), kinds in order.
    kinds = [(rank, u.unit.kind) for rank, u in result.ranking if rank is not None]
    firsts = [kind for n, (rank, kind) in enumerate(kinds) if n == 0 or kinds[n - 1][1] != kind]
    assert firsts == ["department", "ward", "commune"]
    assert [rank for n, (rank, kind) in enumerate(kinds) if n == 0 or kinds[n - 1][1] != kind] == [1, 1, 1]
    wb = openpyxl.load_workbook(outbox / "2026-Y" / "tong-hop-2026-Y.xlsx")
    data = wb["Số liệu"]
    labels = [data.cell(r, 3).value for r in range(1, data.max_row + 1)]
    subtotals = [x for x in labels if isinstance(x, str) and x.startswith("Cộng")]
    assert subtotals == ["Cộng sở, ban, ngành", "Cộng phường", "Cộng xã"]
    assert len(data.row_breaks.brk) == 2  # each kind printed from a new page
    summary = {
        r[1]: r[3]
        for r in wb["Tổng hợp"].iter_rows(values_only=True)
        if r[1] in ("Sở, ban, ngành", "Phường", "Xã")
    }
    assert summary == {"Sở, ban, ngành": 15, "Phường": 25, "Xã": 110}
    with zipfile.ZipFile(outbox / "2026-Y" / "tong-hop-2026-Y.xlsx") as z:
        charts = [n for n in z.namelist() if n.startswith("xl/charts/chart")]
        titles = b"".join(z.read(n) for n in charts).decode("utf-8")
    assert len(charts) == 7  # status, task rates; departments, wards, communes in three parts of 37
    assert (
        "Tổng điểm: Phường" in titles
        and "Tổng điểm: Xã (xếp từ cao xuống thấp), phần 3/3" in titles
        and "Tổng điểm: Sở, ban, ngành" in titles
    )

    report = json.loads((outbox / "2026-Y" / "run.json").read_text(encoding="utf-8"))
    bands = report["commune_bands"]
    communes = [u for u in report["units"] if u["code"].isdigit()]
    assert sum(bands.values()) == len(communes) == 135
    assert {"Tốt", "Khá", "Trung bình", "Yếu"} <= set(bands)
    rated = openpyxl.load_workbook(outbox / "2026-Y" / "xep-loai-xa-phuong-2026-Y.xlsx", read_only=True)
    rows = [r for r in rated.active.iter_rows(values_only=True) if r and isinstance(r[0], int)]
    assert len(rows) == 135 and {r[5] for r in rows} <= {*bands}
    weak = {u["code"] for u in communes if u["band"] == "Yếu"}
    listed = openpyxl.load_workbook(outbox / "2026-Y" / "de-xuat-kiem-tra-2026-Y.xlsx", read_only=True)
    codes = {str(r[1]) for r in listed.active.iter_rows(values_only=True) if r and isinstance(r[0], int)}
    assert weak and weak <= codes


def test_an_old_template_from_a_district_that_ceased(
    template_path: Path, sample_values: Mapping[str, CellValue], tmp_path: Path
) -> None:
    """The 2023 template (another template id) filled by Thành phố Quy Nhơn for 2026: rejected
    with the wards that succeeded the city named, not as an unknown template."""
    gl = config.load(GIA_LAI)
    inbox = tmp_path / "inbox"
    values = dict(sample_values, unit_code="540", year=2026)
    _write(template_path, values, inbox / "UBND TP Quy Nhơn.xlsx", datetime(2026, 3, 15, 9, 0, tzinfo=TZ))
    result = consolidate(
        gl, parse_period("2026-Q1", gl.calendar), inbox, tmp_path / "outbox", datetime(2026, 4, 10, tzinfo=TZ)
    )
    [sub] = result.files
    assert sub.status == "rejected" and sub.unit is None
    assert [i.code for i in sub.issues] == ["unit-ceased"]
    message = sub.issues[0].message
    assert "01/07/2025" in message
    for code in ("21553", "21583", "21589", "21592", "21601", "21607"):  # the wards of Quy Nhơn
        assert code in message


def test_committed_gia_lai_template_is_current(tmp_path: Path) -> None:
    """templates/excel/gia-lai-2026/ is what the configuration generates (the units in force)."""
    gl = config.load(GIA_LAI)
    fresh = write_template(gl, tmp_path)
    committed = ROOT / "templates" / "excel" / "gia-lai-2026" / gl.template.file_name
    assert committed.read_bytes() == fresh.read_bytes(), (
        "run `python -m pipeline --schemas schemas/gia-lai-2026 template --out templates/excel/gia-lai-2026`"
    )
    listed = openpyxl.load_workbook(committed, read_only=True)
    # the unit drop-down lists "code – name"
    codes = {
        str(r[0]).split(" – ")[0]
        for r in listed[gl.template.meta_sheet].iter_rows(values_only=True)
        if r and r[0]
    }
    assert {"21583", "SNNMT"} <= codes and "540" not in codes  # new units listed, ceased ones not


def test_lineage_follows_chains_and_reused_codes() -> None:
    """A unit merged twice reaches the unit of today; a code reused by the successor is a new row."""
    a = Unit("A", "Xã A", "commune", None, (), valid_to=date(2023, 12, 31), successors=("B",))
    b = Unit("B", "Xã B", "commune", None, (), valid_to=date(2024, 12, 31), successors=("C",))
    c = Unit("C", "Xã C", "commune", None, (), valid_from=date(2025, 1, 1))
    registry = (a, b, c)
    assert lineage.fate(registry, a, date(2025, 6, 1)) == (c,)
    assert [p.unit for p in lineage.predecessors(registry, c, date(2025, 6, 1), date(2023, 6, 1))] == [a, b]
    gl = config.load(GIA_LAI)
    ward = lineage.unit_at(gl.registry, "21553", date(2026, 3, 20))
    assert ward is not None and ward.name == "Phường Quy Nhơn Bắc"
    old = lineage.unit_at(gl.registry, "21553", date(2025, 3, 20))
    assert old is not None and old.name == "Phường Nhơn Phú" and not old.reports
    found = lineage.predecessors(gl.registry, ward, date(2026, 3, 20), date(2025, 3, 20))
    assert {p.unit.name for p in found if p.whole} == {"Phường Nhơn Phú", "Phường Trần Quang Diệu"}
    assert lineage.ceased(gl.registry, [old], date(2026, 3, 20)) == (old, (ward,))


def test_same_period_checks_compare_a_merged_unit_with_its_predecessors(
    changing: Schema, sample_values: Mapping[str, CellValue], tmp_path: Path
) -> None:
    """Xã Hợp Nhất's 2025 report repeats, figure for figure, the sum of the 2024 reports of the
    three communes merged into it: the unchanged-report check compares it with them."""
    template = write_template(changing, tmp_path / "template")
    numeric = {f.key for f in changing.indicators if f.numeric}
    outbox = tmp_path / "outbox"
    parts = {"X1": 1, "X2": 2, "X3": 3}
    reports = {code: _report(sample_values, code, 2024, n) for code, n in parts.items()}
    for code, values in reports.items():
        _write(template, values, tmp_path / "2024" / f"{code}.xlsx", datetime(2024, 3, 15, 9, 0, tzinfo=TZ))
    q1 = parse_period("2024-Q1", changing.calendar)
    consolidate(changing, q1, tmp_path / "2024", outbox, datetime(2024, 4, 10, 9, 0, tzinfo=TZ))
    merged = _report(sample_values, "X9", 2025, 0)
    for key in numeric:
        if isinstance(merged.get(key), int):  # each figure: the three communes' 2024 figures summed
            merged[key] = sum(int(str(r[key])) for r in reports.values())
    _write(template, merged, tmp_path / "2025" / "X9.xlsx", datetime(2025, 3, 15, 9, 0, tzinfo=TZ))
    q1 = parse_period("2025-Q1", changing.calendar)
    after = consolidate(changing, q1, tmp_path / "2025", outbox, datetime(2025, 4, 10, 9, 0, tzinfo=TZ))
    x9 = next(u for u in after.units if u.unit.code == "X9")
    assert x9.submission is not None
    [same] = [i for i in x9.submission.issues if i.code == "report-unchanged"]
    assert "X1.xlsx; X2.xlsx; X3.xlsx" in same.message


def test_year_sheet_and_history_of_a_unit_merged_during_the_year(
    changing: Schema, sample_values: Mapping[str, CellValue], tmp_path: Path
) -> None:
    """X9 exists from 1 July 2024: its 2024 year (the 9-month run) starts with the Quý I results
    of X1, X2, X3 merged into it (their list, the worst status, the mean score)."""
    template = write_template(changing, tmp_path / "template")
    outbox = tmp_path / "outbox"
    q1_inbox = tmp_path / "q1"
    on_time, late = datetime(2024, 3, 15, 9, 0, tzinfo=TZ), datetime(2024, 3, 25, 9, 0, tzinfo=TZ)
    for unit, sessions, received in (
        ("SNV", 4, on_time),
        ("X1", 1, on_time),
        ("X2", 2, late),
        ("X3", 3, on_time),
    ):
        _write(template, _report(sample_values, unit, 2024, sessions), q1_inbox / f"{unit}.xlsx", received)
    q1 = consolidate(
        changing,
        parse_period("2024-Q1", changing.calendar),
        q1_inbox,
        outbox,
        datetime(2024, 4, 10, 9, 0, tzinfo=TZ),
    )
    before = {u.unit.code: u for u in q1.units}
    assert (before["X1"].status, before["X2"].status, before["X3"].status) == ("on_time", "late", "on_time")

    nine = tmp_path / "9m"
    sent = datetime(2024, 9, 15, 9, 0, tzinfo=TZ)
    for unit in ("SNV", "X9", "X4"):
        values = dict(_report(sample_values, unit, 2024, 5), period="9 tháng")
        _write(template, values, nine / f"{unit}.xlsx", sent)
    consolidate(
        changing,
        parse_period("2024-9M", changing.calendar),
        nine,
        outbox,
        datetime(2024, 10, 10, 9, 0, tzinfo=TZ),
    )
    report = json.loads((outbox / "2024-9M" / "run.json").read_text(encoding="utf-8"))
    units = {u["code"]: u for u in report["units"]}
    first = units["X9"]["history"][0]
    assert first["period"] == "2024-Q1" and first["units"] == ["X1", "X2", "X3"]
    parts = {r["code"]: r for r in first["results"]}
    assert {c: r["status"] for c, r in parts.items()} == {"X1": "on_time", "X2": "late", "X3": "on_time"}
    assert first["status"] == "late" and first["days_late"] == parts["X2"]["days_late"] == 5
    scores = [before[c].score.total for c in ("X1", "X2", "X3")]  # type: ignore[union-attr]
    assert first["score"] == round(sum(round(s, 2) for s in scores) / 3, 2)
    assert [e["period"] for e in units["X9"]["history"]] == ["2024-Q1", "2024-9M"]
    # SNV existed all year: its own Q1; X4 sent nothing in Q1 and merged nothing: its own record
    assert "units" not in units["SNV"]["history"][0] and units["SNV"]["history"][0]["period"] == "2024-Q1"

    wb = openpyxl.load_workbook(outbox / "2024-9M" / "tong-hop-2024-9M.xlsx", read_only=True)
    rows = [r for r in wb["Cả năm"].iter_rows(values_only=True) if r and r[1] == "X9"]
    assert rows and "Quý I: gồm xã Một, xã Hai, xã Ba trước sắp xếp" in str(rows[0][2])
