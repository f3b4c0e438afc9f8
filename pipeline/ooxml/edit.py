"""The openpyxl boundary for editing a unit's workbook (the only module that writes with it).

openpyxl is imported on first use (it is slow to import): a run whose feedback workbooks are all
annotated at the XML level (pipeline.ooxml.annotate) never loads it.

Inputs are found through the workbook's defined names (key → cell), never by address, and
the file is saved deterministically: fixed document dates and fixed zip entry times, so the
same template and values always give the same bytes.
"""

from __future__ import annotations

import io
import os
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

from pipeline.core import cellref
from pipeline.core.statuses import SEVERITY_ORDER
from pipeline.core.vietnamese import nfc
from pipeline.ooxml.annotate import HIGHLIGHT as HIGHLIGHT
from pipeline.ooxml.annotate import MAX_UNZIPPED_BYTES as MAX_UNZIPPED_BYTES
from pipeline.ooxml.annotate import CellNote as CellNote
from pipeline.ooxml.annotate import CheckReport as CheckReport
from pipeline.ooxml.annotate import ReportRow as ReportRow
from pipeline.ooxml.annotate import lines
from pipeline.ooxml.comments import comment_size
from pipeline.ooxml.zipdates import fixed_dates

# Document date stamped in docProps/core.xml unless the caller gives one.
MODIFIED = datetime(2023, 1, 1)

CellValue = int | float | str | date | None


def destination(wb: Any, key: str) -> tuple[str, str]:
    """(sheet, "D8") of the workbook-scoped defined name `key`; KeyError when absent."""
    names = wb.defined_names
    if key not in names:
        raise KeyError(key)
    dests = list(names[key].destinations)
    if len(dests) != 1:
        raise KeyError(f"{key}: defined name does not point at one cell")
    sheet, ref = dests[0]
    row, col = cellref.from_a1(ref)
    return str(sheet), cellref.to_a1(row, col)


def _check_value(key: str, value: object) -> CellValue:
    # bool is an int subclass but never a valid input: refuse it like any other type.
    if value is None or (isinstance(value, (int, float, str, date)) and not isinstance(value, bool)):
        return value
    raise TypeError(f"{key}: unsupported value type {type(value).__name__}")


def fill_workbook(
    template: Path,
    values: Mapping[str, object],
    target: Path,
    *,
    modified: datetime = MODIFIED,
) -> None:
    """Copy `template` to `target` with each key's named cell set to its value.

    Unknown keys raise KeyError (a programming error, not bad input). Text is always written
    as text, even when it starts with "=" (a narrative never becomes a formula).
    """
    import openpyxl

    wb = openpyxl.load_workbook(template, keep_vba=False)
    for key, raw in values.items():
        value = _check_value(key, raw)
        sheet, ref = destination(wb, key)
        cell = wb[sheet][ref]
        cell.value = value
        if isinstance(value, str) and cell.data_type == "f":
            cell.data_type = "s"
    save_workbook(wb, target, modified=modified)


def workbook_bytes(wb: Any, *, modified: datetime = MODIFIED) -> bytes:
    """The .xlsx bytes of an openpyxl workbook, with fixed dates."""
    from openpyxl.writer.excel import ExcelWriter

    stamp = modified.replace(tzinfo=None, microsecond=0)
    props = wb.properties
    if props.created is None:
        props.created = stamp
    props.modified = stamp
    raw = io.BytesIO()
    # ExcelWriter rather than wb.save(): save() stamps the current time as "modified".
    with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as archive:
        ExcelWriter(wb, archive).save()
    return fixed_dates(raw.getvalue())


def save_workbook(wb: Any, target: Path, *, modified: datetime = MODIFIED) -> None:
    """Save atomically: write a temp file in the target's folder, then os.replace."""
    data = workbook_bytes(wb, modified=modified)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", suffix=".xlsx", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        # mkstemp creates 0600; a report is an ordinary shared document.
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


# --- feedback workbooks (the fallback of pipeline.ooxml.annotate, and the report sheet alone) --


class AnnotateError(Exception):
    """The unit's workbook cannot be annotated (not loadable by openpyxl, or too large)."""


def _as_text(cell: Any, value: str) -> None:
    """Text stays text: a unit-supplied string starting with "=" never becomes a formula."""
    cell.value = value
    if cell.data_type == "f":
        cell.data_type = "s"


def _write_report(wb: Any, report: CheckReport, index: int) -> Any:
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.worksheet.hyperlink import Hyperlink

    ws = wb.create_sheet(report.wording.sheet, index)
    bold = Font(name="Times New Roman", bold=True, size=12)
    plain = Font(name="Times New Roman", size=12)
    wrap = Alignment(wrap_text=True, vertical="top")
    for letter, width in zip("ABCDEF", (6, 18, 8, 80, 11, 20), strict=True):
        ws.column_dimensions[letter].width = width
    ws.merge_cells("A1:F1")
    _as_text(ws["A1"], report.title)
    ws["A1"].font = Font(name="Times New Roman", bold=True, size=14)
    row = 3
    for label, value in report.header:
        ws.merge_cells(start_row=row, start_column=1, end_row=row, end_column=3)
        _as_text(ws.cell(row, 1), label)
        ws.cell(row, 1).font = bold
        _as_text(ws.cell(row, 4), value)
        ws.cell(row, 4).font = plain
        ws.cell(row, 4).alignment = wrap
        row += 1
    row += 1
    for col, head in enumerate(report.wording.headings, start=1):
        c = ws.cell(row, col)
        _as_text(c, head)
        c.font = bold
        c.fill = PatternFill("solid", fgColor="FFD9D9D9")
    ws.freeze_panes = ws.cell(row + 1, 1)
    for n, item in enumerate(report.rows, start=1):
        row += 1
        ws.cell(row, 1).value = n
        _as_text(ws.cell(row, 2), item.sheet)
        _as_text(ws.cell(row, 3), item.cell)
        if item.sheet and item.cell:
            target = cellref.quote_sheet(item.sheet) + "!" + item.cell
            ws.cell(row, 3).hyperlink = Hyperlink(ref=ws.cell(row, 3).coordinate, location=target)
        _as_text(ws.cell(row, 4), item.text)
        _as_text(ws.cell(row, 5), item.severity_label)
        ws.cell(row, 5).fill = PatternFill("solid", fgColor=HIGHLIGHT.get(item.severity, "FFFFFFFF"))
        _as_text(ws.cell(row, 6), item.code)
        for col in range(1, 7):
            ws.cell(row, col).font = plain
            ws.cell(row, col).alignment = wrap
        # openpyxl does not size rows: give wrapped text its lines (about 75 characters each)
        ws.row_dimensions[row].height = 16 * lines(item.text, 75)
    row += 1
    for line in report.footer:
        row += 1
        ws.merge_cells(start_row=row, start_column=1, end_row=row, end_column=6)
        _as_text(ws.cell(row, 1), line)
        ws.cell(row, 1).font = plain
        ws.cell(row, 1).alignment = wrap
        ws.row_dimensions[row].height = 16 * lines(line, 120)
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    return ws


def _make_first(wb: Any, ws: Any) -> None:
    for other in wb.worksheets:
        other.sheet_view.tabSelected = False
    ws.sheet_view.tabSelected = True
    wb.active = wb.worksheets.index(ws)
    for view in wb.views:
        view.firstSheet = 0
        view.activeTab = wb.worksheets.index(ws)


def _note_cell(ws: Any, ref: str) -> Any:
    """The cell at `ref`, or the top-left cell of the merged range that covers it."""
    from openpyxl.cell.cell import MergedCell

    cell = ws[ref]
    if isinstance(cell, MergedCell):
        for rng in ws.merged_cells.ranges:
            if ref in rng:
                return ws.cell(rng.min_row, rng.min_col)
    return cell


def annotate_workbook(
    source: Path,
    notes: Sequence[CellNote],
    report: CheckReport,
    *,
    modified: datetime = MODIFIED,
) -> bytes:
    """The unit's own workbook with each noted cell filled by severity and commented, and the
    report as a new first sheet. `source` is only read. AnnotateError when it cannot be loaded.
    """
    import openpyxl
    from openpyxl.comments import Comment
    from openpyxl.styles import PatternFill

    try:
        with zipfile.ZipFile(source) as zf:
            if sum(i.file_size for i in zf.infolist()) > MAX_UNZIPPED_BYTES:
                raise AnnotateError("too large once unzipped")
        wb = openpyxl.load_workbook(source, keep_vba=False, keep_links=False, rich_text=False)
    except AnnotateError:
        raise
    except Exception as exc:  # any failure to load the unit's file: fall back to the report alone
        raise AnnotateError(f"{exc.__class__.__name__}: {exc}") from exc
    author = report.wording.author
    for name in [ws.title for ws in wb.worksheets if nfc(ws.title) == nfc(report.wording.sheet)]:
        del wb[name]  # a feedback workbook sent back: the old report goes
    by_name = {nfc(ws.title): ws for ws in wb.worksheets}

    grouped: dict[tuple[str, str], list[CellNote]] = {}
    for note in notes:
        if note.sheet in by_name and note.cell and cellref.is_a1(note.cell):
            grouped.setdefault((note.sheet, note.cell.upper()), []).append(note)
    for (sheet, ref), items in grouped.items():
        ws = by_name[sheet]
        cell = _note_cell(ws, ref)
        worst = min(items, key=lambda n: SEVERITY_ORDER.get(n.severity, 9)).severity
        cell.fill = PatternFill("solid", fgColor=HIGHLIGHT.get(worst, HIGHLIGHT["error"]))
        text = "\n\n".join(n.text for n in items)
        if cell.comment is not None and cell.comment.author != author:
            text += "\n\n---\n" + str(cell.comment.text)
        width, height = comment_size(text)
        cell.comment = Comment(text, author, height=height, width=width)
    ws = _write_report(wb, report, 0)
    _make_first(wb, ws)
    return workbook_bytes(wb, modified=modified)


def report_workbook(report: CheckReport, *, modified: datetime = MODIFIED) -> bytes:
    """A workbook with the report sheet alone (for a file that cannot be annotated)."""
    import openpyxl

    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    wb.properties.created = modified.replace(tzinfo=None, microsecond=0)
    wb.properties.creator = report.wording.author
    ws = _write_report(wb, report, 0)
    _make_first(wb, ws)
    return workbook_bytes(wb, modified=modified)
