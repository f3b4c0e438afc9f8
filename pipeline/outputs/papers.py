"""The papers that follow the workbook: the draft report (báo cáo) and the reminder letters
(công văn đôn đốc), in the Nghị định 30/2020 layout, left for the officer to edit and sign.

Every figure comes from pipeline/outputs/figures.py, as in the workbook. Both are written as
WordprocessingML through pipeline/word.py. The report's lists that grow with the number of units
(the proposals, the ranking appendix) are compressed by chunk and kept in the ledger's pieces; a
letter is written again only when its content or the file on disk changed
(outbox/.logs/letters-<period>.json). A rerun after one more file costs milliseconds here.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from pipeline import parsecache, word
from pipeline.model import RunResult, UnitResult
from pipeline.outputs import figures
from pipeline.outputs import vocabulary as vi
from pipeline.outputs.atomic import OutputError, write_bytes_atomic
from pipeline.outputs.consolidated import proposals, ranking
from pipeline.outputs.late_list import late_units, received_at
from pipeline.piecewise_zip import PieceStore
from pipeline.schema import Schema
from pipeline.word import Item, Paper, Run

REPORT_NUMBER = "Số:        /BC-SNV"
LETTER_NUMBER = "Số:        /SNV-XDCQ"
SIGNER = "GIÁM ĐỐC"
HIGHLIGHTS = 5  # units quoted per task in the report


def vi_int(n: int | float) -> str:
    """38544 → "38.544" (Vietnamese thousands separator)."""
    if isinstance(n, float) and not n.is_integer():
        return vi_num(n)
    return f"{int(n):,}".replace(",", ".")


def _half_up(n: float, digits: int) -> Decimal:
    """Round as Excel displays a number format: half away from zero (6.25 → 6.3)."""
    return Decimal(repr(n)).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)


def vi_num(n: float, digits: int = 2) -> str:
    """72.5 → "72,5"; 72.0 → "72" (the workbook shows 0.00)."""
    text = f"{_half_up(n, digits):,}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")


def vi_pct(rate: float | None) -> str:
    """0.9637 → "96,4%" (one decimal, as the workbook's 0.0% format)."""
    return "-" if rate is None else f"{_half_up(rate * 100, 1)}%".replace(".", ",")


def _agency(schema: Schema) -> str:
    return str(schema.template.get("agency", vi.PARENT_BODY))


def _first_sentences(text: str, limit: int = 320) -> str:
    """The opening of a narrative: whole sentences up to about `limit` characters."""
    text = " ".join(text.split())
    sentences = re.split(r"(?<=[.;!?])\s+", text)
    out = ""
    for s in sentences:
        if out and len(out) + len(s) > limit:
            break
        out = f"{out} {s}".strip()
    return out if len(out) <= limit + 80 else out[:limit].rstrip() + "…"


def status_sentence(result: RunResult) -> str:
    """ "Tổng số đơn vị phải báo cáo: 32; đúng hạn 25 (78,1%); …" — the workbook's section I."""
    total = len(result.units)
    parts = [f"Tổng số đơn vị phải báo cáo: {total}"]
    for status, label, count in figures.status_counts(result):
        if status == "not_due" and not count:
            continue
        parts.append(f"{label.lower()} {count} ({vi_pct(count / total if total else None)})")
    return "; ".join(parts) + "."


# ------------------------------------------------------------------ the report

APPENDIX_HEADER = ["Hạng", "Đơn vị", "Tình trạng nộp", "Tổng điểm", "Xếp loại"]
APPENDIX_WIDTHS = [14, 68, 27, 20, 36]
_appendix_row = word.row_renderer(APPENDIX_WIDTHS, ["center", "left", "center", "center", "center"])


def _proposal_xml(item: Item) -> str:
    """(code, unit name, proposals) → the bullet."""
    _code, name, text = item
    return word.bullet_xml(" ".join(str(text).split()), f"{name}: ")


def _appendix_xml(item: Item) -> str:
    """(code, rank, unit name, status, total score, band) → the ranking table's row."""
    _code, rank, name, status, total, band = item
    score = "" if total is None else vi_num(float(total))
    return _appendix_row(["" if rank is None else str(rank), str(name), str(status), score, str(band)])


def build_report(result: RunResult, schema: Schema, store: PieceStore | None = None, part: str = "") -> bytes:
    """The report draft; the chunks of its long lists come from `store` (under `part`) when
    their units are unchanged."""
    rp = result.period
    today = result.as_of.astimezone(rp.tz).date()
    name = rp.period.name[:1].lower() + rp.period.name[1:]
    title = f"Kết quả thực hiện công tác dân vận chính quyền {name} năm {rp.year}"
    paper = Paper(f"Báo cáo {title}", vi.ISSUING_BODY)
    paper.header_block(
        _agency(schema), vi.ISSUING_BODY, REPORT_NUMBER, "", vi.NATION, vi.MOTTO, vi.place_and_date(today)
    )
    paper.paragraph("BÁO CÁO", bold=True, align="center", space_after=0)
    paper.paragraph(title, bold=True, align="center", space_after=12)
    reported = sum(1 for u in result.units if u.submission is not None)
    paper.paragraph(
        f"Sở Nội vụ tổng hợp báo cáo kết quả thực hiện công tác dân vận chính quyền {rp.name_vi} "
        f"của {reported}/{len(result.units)} cơ quan, đơn vị, địa phương (số liệu tính đến "
        f"{vi.fmt_datetime(result.as_of, rp.tz)}), như sau:"
    )

    # I. Reporting
    paper.heading("I. TÌNH HÌNH THỰC HIỆN CHẾ ĐỘ BÁO CÁO")
    paper.paragraph(f"Hạn gửi báo cáo: ngày {vi.fmt_date(rp.deadline)}. {status_sentence(result)}")
    chased = late_units(result)
    for status, label in (("late", "Nộp muộn"), ("missing", "Chưa nộp"), ("rejected", "Bị trả lại")):
        units = [u for u in chased if u.status == status]
        if not units:
            continue
        if status == "late":
            names = ", ".join(f"{u.unit.name} ({u.days_late} ngày)" for u in units)
        else:
            names = ", ".join(u.unit.name for u in units)
        paper.bullet(f"{names}.", bold_prefix=f"{label} ({len(units)} đơn vị): ")

    # II. Results per task
    paper.heading("II. KẾT QUẢ THỰC HIỆN CÁC NHIỆM VỤ")
    tasks: dict[str, str] = {str(k): str(v) for k, v in schema.template.get("tasks", {}).items()}
    by_task = {tf.task: tf for tf in figures.task_figures(result)}
    ranked = ranking(result)
    for task in sorted(tasks):
        paper.heading(tasks[task].replace("Nhiệm vụ ", "", 1))
        tf = by_task.get(task)
        if tf is not None and tf.rate_label:
            sentence = f"{tf.label}: {vi_int(tf.value)} {tf.unit}"
            sentence += f"; {tf.rate_label[0].lower()}{tf.rate_label[1:]}: {vi_pct(tf.rate)}"
            paper.paragraph(sentence + ".")
        for field in schema.indicators:
            if field.task != task or (field.applies_to == "district" and rp.period.code != "Y"):
                continue
            value = result.totals.get(field.key)
            if value is None:
                continue
            paper.bullet(f"{field.label}: {vi_int(value)} {field.unit}.")
        key = f"n{task}_results"
        quoted = 0
        for _rank, unit in ranked:  # best scores first; stops at HIGHLIGHTS quotes
            if unit.submission is None:
                continue
            text = unit.submission.values.get(key)
            if text is None or not str(text).strip():
                continue
            if quoted == 0:
                paper.paragraph("Một số kết quả nổi bật của các đơn vị:", italic=True)
            paper.bullet(_first_sentences(str(text)), bold_prefix=f"{unit.unit.name}: ")
            quoted += 1
            if quoted >= HIGHLIGHTS:
                break

    # III. Rating
    paper.heading("III. KẾT QUẢ ĐÁNH GIÁ, XẾP LOẠI")
    counts = [f"{band} {count} đơn vị" for band, count in figures.band_counts(result, schema) if count]
    paper.paragraph("Kết quả xếp loại: " + "; ".join(counts) + " (chi tiết tại Phụ lục kèm theo).")
    previous_name, previous = figures.previous_period(result, schema)
    changes = [
        round(u.score.total - previous[u.unit.code].score, 2)  # type: ignore[operator]
        for u in (result.units if previous else ())
        if u.score is not None and u.unit.code in previous and previous[u.unit.code].score is not None
    ]
    if changes:
        up, down = sum(1 for c in changes if c > 0), sum(1 for c in changes if c < 0)
        paper.paragraph(
            f"So với {previous_name}: {up} đơn vị tăng điểm, {down} đơn vị giảm điểm, "
            f"{len(changes) - up - down} đơn vị không đổi."
        )

    # IV. Limitations and units needing attention
    paper.heading("IV. HẠN CHẾ VÀ CÁC ĐƠN VỊ CẦN QUAN TÂM")
    for unit, why in figures.attention(result, schema):
        paper.bullet(f"{why}.", bold_prefix=f"{unit.unit.name}: ")

    # V. Proposals: one bullet per unit, a cached list
    paper.heading("V. KIẾN NGHỊ, ĐỀ XUẤT")
    props = proposals(result)
    if props:
        paper.paragraph(f"Có {len(props)} đơn vị có kiến nghị, đề xuất:")
        # Items by the accepted file's sha256, not the text: a unit's proposals are read from
        # those bytes under this schema (its fingerprint names the list), and digesting 10,000
        # texts for the chunks' keys cost more than the rest of the report.
        texts = {u.submission.file.sha256: text for u, text in props if u.submission is not None}

        def proposal(item: Item) -> str:
            code, name, sha = item
            return _proposal_xml((code, name, texts[str(sha)]))

        items: list[Item] = [
            (u.unit.code, u.unit.name, u.submission.file.sha256) for u, _ in props if u.submission
        ]
        paper.repeated(f"proposals {parsecache.fingerprint(schema)}", items, proposal)
    else:
        paper.paragraph("Các đơn vị không có kiến nghị, đề xuất.")
    paper.paragraph(
        "(Cán bộ tổng hợp bổ sung phương hướng, nhiệm vụ kỳ tới và đề xuất của Sở Nội vụ.)", italic=True
    )
    paper.paragraph(
        f"Trên đây là báo cáo kết quả thực hiện công tác dân vận chính quyền {rp.name_vi} của Sở Nội vụ./."
    )
    paper.signature(
        ["- UBND tỉnh (b/c);", "- Ban Dân vận Tỉnh ủy (b/c);", "- Lãnh đạo Sở;", "- Lưu: VT, XDCQ."], SIGNER
    )

    # Appendix: the ranking table, one row per unit, a cached list
    paper.page_break()
    paper.paragraph("PHỤ LỤC", bold=True, align="center", space_after=0)
    paper.paragraph(
        f"Kết quả chấm điểm, xếp loại công tác dân vận chính quyền {rp.name_vi}",
        bold=True,
        align="center",
        space_after=0,
    )
    paper.paragraph(
        f"(Kèm theo Báo cáo số       /BC-SNV ngày {vi.fmt_date(today)} của Sở Nội vụ)",
        italic=True,
        align="center",
    )
    paper.table_start(APPENDIX_HEADER, APPENDIX_WIDTHS)
    rubric, status_vi = schema.rubric, vi.UNIT_STATUS_VI
    rows: list[Item] = [  # as vi.unit_status_vi and vi.band_of, inline: one row per unit
        (u.unit.code, rank, u.unit.name, status_vi.get(u.status, u.status), None, vi.band_of(u, rubric))
        if u.score is None
        else (u.unit.code, rank, u.unit.name, status_vi.get(u.status, u.status), u.score.total, u.score.band)
        for rank, u in ranked
    ]
    paper.repeated("appendix", rows, _appendix_xml)
    paper.table_end()
    return paper.to_bytes(result.as_of.astimezone(rp.tz), store, part)


def write_report(result: RunResult, schema: Schema, outbox: Path, rel: str, store: PieceStore) -> None:
    """Write the report draft to outbox/rel, with the compressed chunks of the previous run
    (the store's pieces under "rel#word/document.xml"); a file with the same bytes is left alone."""
    data = build_report(result, schema, store, f"{rel}#{word.DOCUMENT}")
    if not _same_bytes(outbox / rel, data):
        write_bytes_atomic(outbox / rel, data)


def _same_bytes(path: Path, data: bytes) -> bool:
    try:
        if path.stat().st_size != len(data):
            return False
        return path.read_bytes() == data
    except OSError:
        return False


def _write_log(logs: Path, path: Path, data: bytes) -> None:
    """A manifest under outbox/.logs: losing it only costs time, never an output."""
    with contextlib.suppress(OSError, OutputError):
        logs.mkdir(exist_ok=True)
        write_bytes_atomic(path, data)


# ------------------------------------------------------------------ the letters


def letter_units(result: RunResult) -> list[UnitResult]:
    """Units that get a reminder letter: late, missing, rejected."""
    return late_units(result)


MAX_ERRORS = 15  # errors listed in a letter; the rest are counted
WRITERS = 8  # threads writing letters (waiting for the disk, not computing)
_MARK = re.compile(r"QQDVCQ(\w+?)QQ")


class Letters:
    """The reminder letters of one run.

    Each letter shape (status, number of errors listed) is written once with placeholders for
    the unit's own texts, which are then put into word/document.xml; the package around it is
    the skeleton's, already compressed. A letter's key is a digest of its shape and texts: the
    same key means the same bytes.
    """

    def __init__(self, result: RunResult, schema: Schema) -> None:
        self.result, self.schema = result, schema
        rp = result.period
        self._core = word.core_entry(_letter_subject(result), vi.ISSUING_BODY, result.as_of.astimezone(rp.tz))
        self._run_key = word.code_digest(__name__) + self._core.data
        self._shapes: dict[tuple[str, int, bool], tuple[str, bytes]] = {}

    def _shape(self, unit: UnitResult, texts: dict[str, str]) -> tuple[str, bytes]:
        bullets = sum(1 for k in texts if k.startswith("bullet"))
        shape = (unit.status, bullets, "more" in texts)
        if shape not in self._shapes:
            marks = {k: f"QQDVCQ{k}QQ" for k in texts}
            xml = _render_letter(self.result, self.schema, unit.status, marks).body_xml()
            self._shapes[shape] = (
                xml,
                hashlib.blake2b(self._run_key + word.encode(xml), digest_size=16).digest(),
            )
        return self._shapes[shape]

    def key(self, unit: UnitResult) -> str:
        texts = _letter_texts(self.result, unit)
        _xml, digest = self._shape(unit, texts)
        return hashlib.blake2b(
            digest + repr(sorted(texts.items())).encode("utf-8", "replace"), digest_size=16
        ).hexdigest()

    def build(self, unit: UnitResult) -> bytes:
        texts = _letter_texts(self.result, unit)
        xml, _digest = self._shape(unit, texts)
        return word.package(word.document_entry(_fill(xml, texts)), self._core)


def write_letters(
    result: RunResult,
    schema: Schema,
    outbox: Path,
    letters: dict[str, UnitResult],
    logs: Path,
    on_done: Callable[[], None] | None = None,
) -> None:
    """Write the letters (relative path → unit); a letter whose key and file (size, mtime) are
    those of the previous run (logs/letters-<period>.json) is not written again."""
    manifest_path = logs / f"letters-{result.period.id}.json"
    previous = _read_manifest(manifest_path)
    run = Letters(result, schema)
    keys: dict[str, str] = {}
    # Each file is written atomically and synced to disk: the waits for the disk overlap in a
    # few threads (the letters are built here, in order; the bytes do not depend on the threads).
    with ThreadPoolExecutor(WRITERS) as pool:
        writes = []
        for rel, unit in letters.items():
            key = keys[rel] = run.key(unit)
            old = previous.get(rel)
            if old is None or old[0] != key or _stat(outbox / rel) != (old[1], old[2]):
                writes.append(pool.submit(write_bytes_atomic, outbox / rel, run.build(unit)))
            if on_done is not None:
                on_done()
        for done in writes:
            done.result()  # an OutputError of any letter stops the run here
    manifest: dict[str, list[str | int]] = {
        rel: [key, *size_mtime]
        for rel, key in keys.items()
        if (size_mtime := _stat(outbox / rel)) is not None
    }
    if manifest != previous:
        _write_log(logs, manifest_path, json.dumps(manifest, indent=0, sort_keys=True).encode("utf-8"))


def _stat(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def _read_manifest(path: Path) -> dict[str, list[str | int]]:
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {
        rel: entry
        for rel, entry in data.items()
        if isinstance(entry, list)
        and len(entry) == 3
        and isinstance(entry[0], str)
        and all(isinstance(n, int) for n in entry[1:])
    }


def _fill(xml: str, texts: dict[str, str]) -> str:
    xml = re.sub(r"<w:t>([^<]*QQDVCQ)", r'<w:t xml:space="preserve">\1', xml)
    return _MARK.sub(lambda m: word.xml_text(texts[m.group(1)]), xml)


def _letter_texts(result: RunResult, unit: UnitResult) -> dict[str, str]:
    """The unit's own texts in its letter, by placeholder name."""
    texts = {"name": unit.unit.addressee}
    if unit.status == "rejected":
        latest = unit.versions[-1] if unit.versions else None
        errors = [i for i in latest.issues if i.severity == "error"] if latest is not None else []
        for n, issue in enumerate(errors[:MAX_ERRORS]):
            where = f'Trang "{issue.sheet}", ô {issue.cell}: ' if issue.sheet and issue.cell else ""
            texts[f"bullet{n}"] = f"{where}{issue.message}"
        if len(errors) > MAX_ERRORS:
            texts["more"] = str(len(errors) - MAX_ERRORS)
    elif unit.status not in ("missing", "rejected"):  # late
        texts["got"] = vi.fmt_datetime(received_at(unit), result.period.tz)
        texts["days"] = str(unit.days_late)
    return texts


def _letter_subject(result: RunResult) -> str:
    return f"V/v đôn đốc gửi báo cáo kết quả thực hiện công tác dân vận chính quyền {result.period.name_vi}"


def _render_letter(result: RunResult, schema: Schema, status: str, t: dict[str, str]) -> Paper:
    """One letter; `t` holds the unit's texts (or their placeholders)."""
    rp = result.period
    tz = rp.tz
    today = result.as_of.astimezone(tz).date()
    # the same date as the feedback to units: as-of + calendar.resubmit_days, not before the deadline
    from pipeline.feedback import resubmit_by  # imports pipeline.outputs: import it late

    by = resubmit_by(schema, rp, result.as_of)
    subject = _letter_subject(result)
    paper = Paper(subject, vi.ISSUING_BODY)
    paper.header_block(
        _agency(schema),
        vi.ISSUING_BODY,
        LETTER_NUMBER,
        subject,
        vi.NATION,
        vi.MOTTO,
        vi.place_and_date(today),
    )
    paper.paragraph([Run("Kính gửi: "), Run(f"{t['name']}.")], align="center", space_after=12)
    paper.paragraph(
        "Thực hiện Kế hoạch thực hiện công tác dân vận chính quyền năm "
        f"{rp.year} của UBND tỉnh, các cơ quan, đơn vị, địa phương báo cáo kết quả thực hiện "
        f"công tác dân vận chính quyền {rp.name_vi} về Sở Nội vụ trước ngày {vi.fmt_date(rp.deadline)}."
    )
    when = vi.fmt_datetime(result.as_of, tz)
    if status == "missing":
        paper.paragraph(f"Đến {when}, Sở Nội vụ chưa nhận được báo cáo {rp.name_vi} của quý cơ quan, đơn vị.")
        paper.paragraph(
            f"Sở Nội vụ đề nghị quý cơ quan, đơn vị gửi báo cáo (theo mẫu thống nhất) về Sở Nội vụ "
            f"chậm nhất ngày {vi.fmt_date(by)} để tổng hợp, báo cáo UBND tỉnh và Ban Dân vận Tỉnh ủy."
        )
    elif status == "rejected":
        paper.paragraph(
            f"Báo cáo {rp.name_vi} quý cơ quan, đơn vị gửi về chưa hợp lệ nên chưa được tổng hợp. "
            "Các nội dung cần sửa:"
        )
        n = 0
        while f"bullet{n}" in t:
            paper.bullet(t[f"bullet{n}"])
            n += 1
        if "more" in t:
            paper.bullet(f'và {t["more"]} lỗi khác (chi tiết tại trang "Lỗi kiểm tra" của sổ tổng hợp).')
        paper.paragraph(
            f"Đề nghị quý cơ quan, đơn vị sửa các nội dung trên và gửi lại chính tệp báo cáo về Sở Nội vụ "
            f"chậm nhất ngày {vi.fmt_date(by)}."
        )
    else:  # late
        paper.paragraph(
            f"Sở Nội vụ nhận được báo cáo {rp.name_vi} của quý cơ quan, đơn vị lúc {t['got']}, "
            f"chậm {t['days']} ngày so với thời hạn quy định; việc chậm báo cáo đã được tính "
            "vào kết quả chấm điểm tiêu chí chấp hành chế độ báo cáo."
        )
        paper.paragraph(
            "Đề nghị quý cơ quan, đơn vị chấn chỉnh, thực hiện nghiêm chế độ báo cáo định kỳ, gửi báo cáo "
            "các kỳ tiếp theo đúng thời hạn quy định."
        )
    paper.paragraph("Sở Nội vụ đề nghị quý cơ quan, đơn vị quan tâm thực hiện./.")
    paper.signature(["- Như trên;", "- Lãnh đạo Sở;", "- Lưu: VT, XDCQ."], SIGNER)
    return paper
