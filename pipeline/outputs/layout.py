"""Print-ready sheet layout shared by every workbook (Nghị định 30/2020/NĐ-CP).

A4, Times New Roman, margins left 1.2in, right 0.7in, top and bottom 0.8in, page numbers in
the footer, header rows repeated, the formal header block at the top of a document.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import IO, Any

from pipeline.core.model import RunResult
from pipeline.core.schema import Schema
from pipeline.ooxml import rowxml
from pipeline.ooxml.xlsx import (
    Format,
    SplicedSheets,
    Styles,
    Workbook,
    Worksheet,
    new_workbook,
    split_sheet_data,
)
from pipeline.ooxml.zipwriter import Entry, write_zip
from pipeline.outputs import vocabulary as vi

A4 = 9
FOOTER = "&CTrang &P/&N"

INT_FMT = "#,##0"
NUM_FMT = "#,##0.00"
SCORE_FMT = "0.00"
PCT_FMT = "0.0%"

# Traffic-light colours of the rubric's bands: (fill, font).
BAND_COLOURS: dict[str, tuple[str, str]] = {
    "green": ("#C6EFCE", "#006100"),
    "blue": ("#DDEBF7", "#1F4E79"),
    "amber": ("#FFEB9C", "#9C5700"),
    "red": ("#FFC7CE", "#9C0006"),
}
STATUS_COLOURS = ("#EDEDED", "#404040")


class Formats:
    """The named cell formats of one workbook."""

    def __init__(self, styles: Styles) -> None:
        self.styles = styles
        border: dict[str, Any] = {"border": 1, "valign": "vcenter"}
        self.border = border
        self.title = styles(bold=True, font_size=14, align="center", valign="vcenter", text_wrap=True)
        self.subtitle = styles(italic=True, align="center", valign="vcenter", text_wrap=True)
        self.centre = styles(align="center", valign="vcenter")
        self.parent_body = styles(align="center")
        self.issuing_body = styles(bold=True, align="center")
        self.nation = styles(bold=True, align="center", font_size=12)
        self.motto = styles(bold=True, underline=1, align="center", font_size=13)
        self.place_date = styles(italic=True, align="center")
        self.label = styles(bold=True)
        self.text = styles()
        self.header = styles(bold=True, align="center", text_wrap=True, bg_color="#D9E1F2", **border)
        self.subheader = styles(italic=True, align="center", text_wrap=True, bg_color="#D9E1F2", **border)
        self.cell = styles(text_wrap=True, **border)
        self.cell_centre = styles(align="center", text_wrap=True, **border)
        self.change = styles(num_format="+0.00;-0.00;0.00", **border)
        self.small = styles(text_wrap=True, font_size=10, **border)
        self.int = styles(num_format=INT_FMT, **border)
        self.num = styles(num_format=NUM_FMT, **border)
        self.score = styles(num_format=SCORE_FMT, **border)
        self.pct = styles(num_format=PCT_FMT, **border)
        self.total_label = styles(bold=True, text_wrap=True, bg_color="#F2F2F2", **border)
        self.total_int = styles(bold=True, num_format=INT_FMT, bg_color="#F2F2F2", **border)
        self.total_num = styles(bold=True, num_format=NUM_FMT, bg_color="#F2F2F2", **border)
        self.grand_label = styles(bold=True, text_wrap=True, bg_color="#D9D9D9", **border)
        self.grand_int = styles(bold=True, num_format=INT_FMT, bg_color="#D9D9D9", **border)
        self.grand_num = styles(bold=True, num_format=NUM_FMT, bg_color="#D9D9D9", **border)

    def band(self, colour: str | None, *, centre: bool = True) -> Format:
        fill, font = BAND_COLOURS.get(colour or "", STATUS_COLOURS)
        props: dict[str, Any] = {"bg_color": fill, "font_color": font, "text_wrap": True, **self.border}
        if centre:
            props["align"] = "center"
        return self.styles(**props)


def finish_table(ws: Worksheet, header: int, last_row: int, last_col: int, frozen_cols: int) -> None:
    """A data sheet's table: header frozen with the first columns, a filter, printed landscape
    with the header row repeated on every page."""
    ws.freeze_panes(header + 1, frozen_cols)
    ws.autofilter(header, 0, max(last_row, header + 1), last_col)
    page_setup(ws, landscape=True, header_rows=(header, header))


# A4 landscape inside page_setup's margins (1.9 inch), in pixels at 96 dpi. A column of width w
# is (w + 0.71) characters of the workbook's default font (xlsxwriter adds the padding); a
# character of Times New Roman 12 measured 9.4 pixels in LibreOffice's PDF (9.5 taken).
A4_LANDSCAPE_PX = int((11.69 - 1.9) * 96)
MIN_SCALE = 70  # 12 pt text printed at 70% is 8.4 pt: never smaller than 8 pt on paper
PACK_SCALE = 80  # columns are put on a page as long as they fit at this scale (9.6 pt text)


def column_px(width: float) -> int:
    return int((width + 0.71) * 9.5)


@dataclass(frozen=True)
class Pages:
    """How a wide table prints: the columns where a new page starts, and the print scale."""

    breaks: tuple[int, ...]
    scale: int

    def first_page_last(self, last: int) -> int:
        """The last column printed on the first page (`last`: the table's last column)."""
        return self.breaks[0] - 1 if self.breaks else last

    def spans(self, first: int, last: int) -> list[tuple[int, int]]:
        """(first, last) columns of each page's part of the range first..last."""
        starts = [first, *(b for b in self.breaks if first < b <= last)]
        return [(a, (starts[i + 1] - 1) if i + 1 < len(starts) else last) for i, a in enumerate(starts)]


def plan_pages(widths: Sequence[float], fixed: int, groups: Sequence[tuple[int, int]]) -> Pages:
    """A page break before each group of columns (a task) that would not fit beside the previous
    ones beside the first `fixed` columns (repeated on every page); a group too wide for a page
    alone is cut; one print scale for all pages, never below MIN_SCALE."""
    fixed_px = sum(column_px(w) for w in widths[:fixed])
    room = A4_LANDSCAPE_PX * 100 / PACK_SCALE - fixed_px  # pixels of columns a page holds
    pieces: list[tuple[int, int]] = []
    for first, last in groups:  # cut a group wider than a page
        start, used = first, 0.0
        for col in range(first, last + 1):
            px = column_px(widths[col])
            if used + px > room and col > start:
                pieces.append((start, col - 1))
                start, used = col, 0.0
            used += px
        pieces.append((start, last))
    breaks: list[int] = []
    pages: list[float] = []
    for first, last in pieces:
        px = sum(column_px(widths[c]) for c in range(first, last + 1))
        if not pages or pages[-1] + px > room:
            if pages:
                breaks.append(first)
            pages.append(0.0)
        pages[-1] += px
    widest = fixed_px + max(pages, default=0.0)
    scale = max(MIN_SCALE, min(100, int(A4_LANDSCAPE_PX * 100 / widest))) if widest else 100
    return Pages(tuple(breaks), scale)


def print_across(ws: Worksheet, pages: Pages, fixed: int, header_rows: tuple[int, int]) -> None:
    """Print a wide table across pages as `pages` plans it, the first `fixed` columns and the
    header rows repeated on every page."""
    ws.set_paper(A4)
    ws.set_landscape()
    ws.set_margins(left=1.2, right=0.7, top=0.8, bottom=0.8)
    ws.set_footer(FOOTER)
    ws.set_print_scale(pages.scale)
    ws.repeat_rows(header_rows[0], header_rows[1])
    ws.repeat_columns(0, fixed - 1)
    ws.set_v_pagebreaks(list(pages.breaks))


def page_setup(ws: Worksheet, *, landscape: bool, header_rows: tuple[int, int] | None) -> None:
    """A4, fit to the page width, formal margins, page numbers; repeat the table header."""
    ws.set_paper(A4)
    if landscape:
        ws.set_landscape()
    else:
        ws.set_portrait()
    ws.fit_to_pages(1, 0)
    ws.set_margins(left=1.2, right=0.7, top=0.8, bottom=0.8)
    ws.set_footer(FOOTER)
    ws.center_horizontally()
    if header_rows is not None:
        ws.repeat_rows(header_rows[0], header_rows[1])


def run_header(
    ws: Worksheet, f: Formats, split: int, last_col: int, result: RunResult, schema: Schema
) -> int:
    """The formal header block of a run's sheet, dated the run's as-of day (local time)."""
    today = result.as_of.astimezone(result.period.tz).date()
    return header_block(ws, f, split, last_col, today, schema.template.agency, schema.template.place)


def header_block(
    ws: Worksheet, f: Formats, split: int, last_col: int, today: date, parent_body: str, place: str = vi.PLACE
) -> int:
    """The formal header block on rows 0-2; returns the next free row.

    Left, columns 0..split: parent body (upper case), issuing body (bold). Right, columns
    split+1..last_col: the nation's name (bold), the motto (bold, underlined), then place and
    date in italics.
    """
    right = split + 1
    _merge(ws, 0, 0, split, parent_body.upper(), f.parent_body)
    _merge(ws, 1, 0, split, vi.ISSUING_BODY, f.issuing_body)
    _merge(ws, 0, right, last_col, vi.NATION, f.nation)
    _merge(ws, 1, right, last_col, vi.MOTTO, f.motto)
    _merge(ws, 2, right, last_col, vi.place_and_date(today, place), f.place_date)
    return 4


def title_rows(ws: Worksheet, f: Formats, row: int, last_col: int, lines: list[tuple[str, Format]]) -> int:
    """Centred title lines across the table width; returns the row after a blank line."""
    for text, fmt in lines:
        _merge(ws, row, 0, last_col, text, fmt)
        row += 1
    return row + 1


def _merge(ws: Worksheet, row: int, first: int, last: int, text: str, fmt: Format) -> None:
    if last > first:
        ws.merge_range(row, first, row, last, "", fmt)
    ws.write_string(row, first, text, fmt)


def write_text(ws: Worksheet, row: int, col: int, text: object, fmt: Format) -> None:
    """Text, always as text: a unit's "=HYPERLINK(...)" never becomes a formula or link."""
    if text is None or text == "":
        ws.write_blank(row, col, None, fmt)
    else:
        ws.write_string(row, col, str(text), fmt)


def table_header(ws: Worksheet, f: Formats, row: int, columns: Sequence[tuple[str, float]]) -> None:
    """A table's header row: each column's label and width."""
    for col, (label, width) in enumerate(columns):
        ws.set_column(col, col, width)
        write_text(ws, row, col, label, f.header)


def write_number(ws: Worksheet, row: int, col: int, value: object, fmt: Format) -> None:
    """A number, or a blank (formatted) cell for None; anything else as text."""
    if value is None or value == "":
        ws.write_blank(row, col, None, fmt)
    elif isinstance(value, bool):
        ws.write_string(row, col, vi.BOOLEANS[0] if value else vi.BOOLEANS[1], fmt)
    elif isinstance(value, int | float):
        ws.write_number(row, col, value, fmt)
    else:
        ws.write_string(row, col, str(value), fmt)


@dataclass(frozen=True)
class TableRow:
    """One row of a table as data, from column A: (value, format, numeric) per cell, and the
    row height in points (None: default). Spliced into a sheet as XML (`table_xml`)."""

    cells: tuple[tuple[object, Format, bool], ...]
    height: float | None = None


def table_xml(rows: list[TableRow], spliced: SplicedSheets) -> str:
    """Rows as the XML of <sheetData> (pipeline.ooxml.rowxml), each from column A."""
    styles: dict[Format, rowxml.Style] = {}
    out = []
    for table_row in rows:
        cells = []
        for value, fmt, numeric in table_row.cells:
            style = styles.get(fmt)
            if style is None:
                style = styles[fmt] = rowxml.Style(spliced.style_index(fmt), vi.BOOLEANS)
            cells.append(rowxml.number(style, value) if numeric else rowxml.text(style, value))
        out.append(rowxml.row("".join(cells), table_row.height))
    return "".join(out)


SheetWriter = Callable[[Workbook, Styles, SplicedSheets, RunResult, Schema], list[TableRow]]


def write_standalone(
    result: RunResult, schema: Schema, title: str, write_sheet: SheetWriter, target: IO[bytes]
) -> None:
    """A workbook of one table sheet (the late list, the inspection list): the sheet written by
    `write_sheet`, its rows spliced in as XML, as in the consolidated workbook."""
    wb = new_workbook(io.BytesIO(), result.as_of, title, author=schema.template.receiver, in_memory=True)
    spliced = SplicedSheets(wb)
    rows = write_sheet(wb, Styles(wb), spliced, result, schema)
    ws = wb.worksheets()[0]
    part = SplicedSheets.part(ws)
    xml = table_xml(rows, spliced).encode("utf-8", "replace")
    entries = []
    for name, data in spliced.close():
        if name == part:
            head, tail = split_sheet_data(data)
            data = head + xml + tail
        entries.append(Entry.of(name, data))
    write_zip(target, entries)
