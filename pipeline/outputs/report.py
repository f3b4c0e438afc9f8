"""The draft report (báo cáo) in the Nghị định 30/2020 layout, left for the officer to edit and
sign. Every figure comes from pipeline.outputs.figures, as in the workbook.

The report's lists that grow with the number of units (the proposals, the ranking appendix) are
compressed by chunk and kept in the cache store's pieces (pipeline.ooxml.docx.Paper.repeated);
a report with the same bytes as the file on disk is not written again.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.core.model import RunResult
from pipeline.core.schema import Schema
from pipeline.core.statuses import UnitStatus
from pipeline.core.vietnamese import format_date, format_moment, format_number, format_percent, lower_first
from pipeline.ooxml import docx as word
from pipeline.ooxml.docx import Item, Paper
from pipeline.ooxml.zipwriter import PieceStore
from pipeline.outputs import figures, report_tasks
from pipeline.outputs import vocabulary as vi
from pipeline.outputs.late_list import late_units
from pipeline.outputs.letters import plan_citation
from pipeline.store.atomic import write_bytes_atomic
from pipeline.store.cache import Cache

REPORT_NUMBER = "Số:        /BC-SNV"
POINTS = 8  # grouped points quoted under each heading of the general assessment


def status_sentence(result: RunResult) -> str:
    """ "Tổng số đơn vị phải báo cáo: 32; đúng hạn 25 (78,1%); …" — the workbook's section I."""
    total = len(result.units)
    parts = [f"Tổng số đơn vị phải báo cáo: {total}"]
    for status, label, count in figures.status_counts(result):
        if status == UnitStatus.NOT_DUE and not count:
            continue
        parts.append(
            f"{label.lower()} {count} ({format_percent(count / total if total else None, fixed=True)})"
        )
    return "; ".join(parts) + "."


APPENDIX_HEADER = ["Hạng", "Đơn vị", "Tình trạng nộp", "Tổng điểm", "Xếp loại"]
APPENDIX_WIDTHS = [14, 68, 27, 20, 36]
_appendix_row = word.row_renderer(APPENDIX_WIDTHS, ["center", "left", "center", "center", "center"])


def _appendix_xml(item: Item) -> str:
    """(code, rank, unit name, status, total score, band) → the ranking table's row."""
    _code, rank, name, status, total, band = item
    score = "" if total is None else format_number(float(total))
    return _appendix_row(["" if rank is None else str(rank), str(name), str(status), score, str(band)])


def build_report(
    result: RunResult,
    schema: Schema,
    store: PieceStore | None = None,
    part: str = "",
    memo: report_tasks.Memo | None = None,
) -> bytes:
    """The report draft; the chunks of its long lists come from `store` (under `part`) when
    their units are unchanged, the grouped narratives from `memo` when the files are."""
    rp = result.period
    today = result.as_of.astimezone(rp.tz).date()
    name = rp.name_vi
    title = f"Kết quả thực hiện công tác dân vận chính quyền {lower_first(name)}"
    paper = Paper(f"Báo cáo {title}", vi.ISSUING_BODY)
    paper.header_block(
        schema.template.agency,
        vi.ISSUING_BODY,
        REPORT_NUMBER,
        "",
        vi.NATION,
        vi.MOTTO,
        vi.place_and_date(today, schema.template.place),
    )
    paper.paragraph("BÁO CÁO", bold=True, align="center", space_after=0)
    paper.paragraph(title, bold=True, align="center", space_after=12)
    reported = sum(1 for u in result.units if u.submission is not None)
    paper.paragraph(
        f"Thực hiện {plan_citation(schema, rp.year)}, Sở Nội vụ tổng hợp báo cáo kết quả thực hiện "
        f"công tác dân vận chính quyền {rp.name_vi} của {reported}/{len(result.units)} cơ quan, đơn vị, "
        f"địa phương (số liệu tính đến {format_moment(result.as_of, rp.tz)}), như sau:"
    )

    # I. Reporting
    paper.heading("I. TÌNH HÌNH THỰC HIỆN CHẾ ĐỘ BÁO CÁO")
    paper.paragraph(f"Hạn gửi báo cáo: ngày {format_date(rp.deadline)}. {status_sentence(result)}")
    resent = [u.unit.name for u in result.units if u.resubmitted_in_time]
    if resent:
        paper.paragraph(
            f"Có {len(resent)} đơn vị gửi báo cáo đúng hạn nhưng phải hoàn thiện, đã gửi lại trong hạn "
            f"nên được tính là đúng hạn: {', '.join(resent)}."
        )
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

    # II. Results per task: the totals in prose, the change, the highlights by the task's figures
    paper.heading("II. KẾT QUẢ THỰC HIỆN CÁC NHIỆM VỤ")
    tasks = schema.template.task_titles
    for task in sorted(tasks):
        paper.heading(tasks[task].replace("Nhiệm vụ ", "", 1))
        prose = report_tasks.task_prose(result, schema, task)
        if prose:
            paper.paragraph(prose)
        change = report_tasks.task_change(result, schema, task)
        if change:
            paper.paragraph(change)
        chosen = report_tasks.highlights(result, schema, task)
        if chosen:
            paper.paragraph("Một số kết quả nổi bật:", italic=True)
            for h in chosen:
                paper.bullet(h.text, bold_prefix=f"{h.unit.unit.name}: ")

    _year_on_year(paper, result)

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

    # IV. General assessment from the units' own narratives
    paper.heading("IV. ĐÁNH GIÁ CHUNG")
    for title, found in (
        ("1. Ưu điểm", report_tasks.strengths(result, schema, memo=memo)),
        ("2. Hạn chế", report_tasks.points(result, "n_limitations", memo)),
        ("3. Nguyên nhân của hạn chế", report_tasks.points(result, "n_causes", memo)),
    ):
        paper.paragraph(title, bold=True, space_after=0)
        for point in found[:POINTS]:
            paper.bullet(report_tasks.quote(point))
        if not found:
            paper.paragraph("Các đơn vị không nêu nội dung này.", italic=True)
    attention = figures.attention(result, schema)
    if attention:
        paper.paragraph("Các đơn vị cần quan tâm:", italic=True)
        for unit, why in attention:
            paper.bullet(f"{why.rstrip('.')}.", bold_prefix=f"{unit.unit.name}: ")

    # V. Directions, seeded from the units' own
    paper.heading("V. PHƯƠNG HƯỚNG, NHIỆM VỤ KỲ TỚI")
    for point in report_tasks.points(result, "n_directions", memo)[:POINTS]:
        paper.bullet(point.text)
    paper.paragraph(
        "(Cán bộ tổng hợp bổ sung phương hướng, nhiệm vụ của Sở Nội vụ; các nội dung trên là phương "
        "hướng được nhiều đơn vị nêu.)",
        italic=True,
    )

    # VI. Proposals, grouped by content
    paper.heading("VI. KIẾN NGHỊ, ĐỀ XUẤT")
    grouped = report_tasks.points(result, "n_proposals", memo)
    if grouped:
        proposing = len({name for p in grouped for name in p.units})
        paper.paragraph(f"Có {proposing} đơn vị có kiến nghị, đề xuất, gồm {len(grouped)} nội dung:")
        for point in grouped:
            paper.bullet(report_tasks.quote(point, report_tasks.PROPOSAL_NAMES))
    else:
        paper.paragraph("Các đơn vị không có kiến nghị, đề xuất.")
    paper.paragraph(
        f"Trên đây là báo cáo kết quả thực hiện công tác dân vận chính quyền {rp.name_vi} của Sở Nội vụ./."
    )
    paper.signature(
        vi.RECIPIENTS,
        ["- UBND tỉnh (b/c);", "- Ban Dân vận Tỉnh ủy (b/c);", "- Lãnh đạo Sở;", "- Lưu: VT, XDCQ."],
        vi.SIGNER,
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
        f"(Kèm theo Báo cáo số       /BC-SNV ngày {format_date(today)} của Sở Nội vụ)",
        italic=True,
        align="center",
    )
    paper.table_start(APPENDIX_HEADER, APPENDIX_WIDTHS)
    rubric, status_vi, ranked = schema.rubric, vi.UNIT_STATUS_VI, result.ranking
    rows: list[Item] = [  # as vi.unit_status_vi and vi.band_of, inline: one row per unit
        (u.unit.code, rank, u.unit.name, status_vi.get(u.status, u.status), None, vi.band_of(u, rubric))
        if u.score is None
        else (u.unit.code, rank, u.unit.name, status_vi.get(u.status, u.status), u.score.total, u.score.band)
        for rank, u in ranked
    ]
    paper.repeated("appendix", rows, _appendix_xml)
    paper.table_end()
    return paper.to_bytes(result.as_of.astimezone(rp.tz), store, part)


def write_report(result: RunResult, schema: Schema, outbox: Path, rel: str, cache: Cache | None) -> None:
    """Write the report draft to outbox/rel, with the compressed chunks of the previous run
    (the cache's pieces under "rel#word/document.xml") and its grouped narratives; a file with
    the same bytes is left alone."""
    data = build_report(result, schema, cache, f"{rel}#{word.DOCUMENT}", cache)
    if not _same_bytes(outbox / rel, data):
        write_bytes_atomic(outbox / rel, data)


def _same_bytes(path: Path, data: bytes) -> bool:
    try:
        if path.stat().st_size != len(data):
            return False
        return path.read_bytes() == data
    except OSError:
        return False


def _year_on_year(paper: Paper, result: RunResult) -> None:
    """The tasks' key figures against the same period of the previous year; a unit formed by a
    merge is compared with the sum of the units it came from, and named with them."""
    compared = figures.same_period_last_year(result)
    if not compared:
        return
    rp = result.period
    paper.paragraph(
        f"So với cùng kỳ năm {rp.year - 1} ({compared[0].units} đơn vị có số liệu cả hai năm):", italic=True
    )
    for c in compared:
        paper.bullet(
            f"{format_number(c.before)} → {format_number(c.now)} {c.unit}.", bold_prefix=f"{c.label}: "
        )
    merged = [
        (u.unit.name, vi.previous_year_note(py))
        for u in result.units
        if (py := result.previous_year.get(u.unit.code)) is not None
        and py.merged
        and u.submission is not None
    ]
    if merged:
        paper.paragraph("Số liệu cùng kỳ năm trước của các đơn vị hình thành sau sắp xếp:", italic=True)
        for name, note in merged:
            paper.bullet(f"{note}.", bold_prefix=f"{name}: ")
