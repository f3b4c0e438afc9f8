"""The figures sheet ("Số liệu": every unit's figures grouped by kind of unit, with each kind's
subtotal and the grand total) and its twin "Nguồn số liệu" (where each figure was read)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import partial
from operator import is_not

from pipeline.core.cellref import to_a1
from pipeline.core.model import RunResult, UnitResult
from pipeline.core.schema import KINDS_VI, Field, Schema, kind_order
from pipeline.core.statuses import UnitStatus
from pipeline.ooxml.rowxml import Style, number, row, text
from pipeline.ooxml.xlsx import SplicedSheets, Workbook
from pipeline.outputs import layout
from pipeline.outputs import vocabulary as vi
from pipeline.outputs.workbook.blocks import (
    SHEET_DATA,
    SHEET_PROVENANCE,
    Context,
    RowStyles,
    Sheet,
    chars,
    finish,
    fit_height,
    simple_title,
    total,
)

DEPARTMENTS_TOTAL = "Cộng sở, ban, ngành"
DISTRICTS_TOTAL = "Cộng huyện, thị xã, thành phố"
GRAND_TOTAL = "Tổng cộng"
PROVENANCE_NOTE = "Mỗi ô ghi trang tính!ô của tệp báo cáo nơi đọc số liệu ở cùng ô trên trang Số liệu"


def data_rows(result: RunResult) -> list[tuple[str, list[UnitResult]]]:
    """Every registry unit, reported or not, grouped by kind, each group with its subtotal's
    label: one group per kind of the period's registry (departments, districts, wards,
    communes), registry order within a group. Rows come from this one ordered list."""
    kinds = sorted({u.unit.kind for u in result.units} | {"department"}, key=kind_order)
    return [
        (_TOTALS.get(k, f"Cộng {KINDS_VI.get(k, k).lower()}"), [u for u in result.units if u.unit.kind == k])
        for k in kinds
    ]


_TOTALS = {"department": DEPARTMENTS_TOTAL, "district": DISTRICTS_TOTAL}
# A registry past this many units prints each kind from a new page (communes and wards: ~150).
PAGE_PER_KIND = 60


def period_indicators(schema: Schema, period_code: str) -> list[Field]:
    """The indicators that apply to the period (the commune bands: the year's report only)."""
    return [f for f in schema.indicators if "all" in f.periods or period_code in f.periods]


def no_figures(unit: UnitResult) -> str:
    """What the data sheet shows in place of a unit's figures when it has none."""
    return NO_FIGURES.get(unit.status, vi.unit_status_vi(unit.status))


NO_FIGURES = {
    UnitStatus.MISSING: "Chưa nộp báo cáo",
    UnitStatus.REJECTED: "Báo cáo bị trả lại, chưa tổng hợp",
    UnitStatus.NOT_DUE: "Chưa đến hạn báo cáo",
}


_NUMBERS = {int, float}


def _column_sums(units: Sequence[UnitResult], keys: Sequence[str]) -> list[int | float]:
    """Per indicator, the sum of the units' numbers in order (blanks, text and yes/no count as
    nothing), as `_sum` gives; columns of plain numbers and blanks are summed without a loop."""
    rows = [list(map(u.submission.values.get, keys)) for u in units if u.submission is not None]
    sums: list[int | float] = []
    for column in zip(*rows, strict=True) if rows else [() for _ in keys]:
        kinds = set(map(type, column))
        kinds.discard(type(None))
        if kinds <= _NUMBERS:
            sums.append(sum(filter(partial(is_not, None), column)))
        else:
            sums.append(total(list(column)))
    return sums


def _formula(style: Style, formula: str, cached: int | float) -> str:
    """A formula with its cached value, as xlsxwriter writes one."""
    return number(style, cached).replace("<v>", f"<f>{formula}</f><v>", 1)


def figures_sheet(wb: Workbook, f: layout.Formats, spliced: SplicedSheets, ctx: Context) -> Sheet:
    result, schema, s = ctx.result, ctx.schema, ctx.styles
    ws = wb.add_worksheet(SHEET_DATA)
    indicators = period_indicators(schema, result.period.period.code)
    first_value_col = 3
    last_col = first_value_col + len(indicators) - 1
    widths: list[float] = [5, 9, NAME_WIDTH, *([VALUE_WIDTH] * len(indicators))]
    groups = _task_groups(indicators, first_value_col)
    pages = layout.plan_pages(widths, first_value_col, list(groups.values()))
    # The title over the first page only (merged wider, it would print on a middle page).
    header = simple_title(
        ws, f, result, pages.first_page_last(last_col), "SỐ LIỆU CÔNG TÁC DÂN VẬN CHÍNH QUYỀN CỦA CÁC ĐƠN VỊ"
    )
    for col, (label, width) in enumerate((("STT", 5), ("Mã", 9), ("Đơn vị", NAME_WIDTH))):
        ws.set_column(col, col, width)
        ws.merge_range(header, col, header + 2, col, "", f.header)
        layout.write_text(ws, header, col, label, f.header)
    spans = pages.spans(first_value_col, last_col)  # a unit without figures: its status on each page
    titles = schema.template.task_titles
    for task, (first_col, last_col_of_task) in groups.items():
        title = titles.get(task, f"Nhiệm vụ {task}")
        for first, last in pages.spans(first_col, last_col_of_task):  # the title on each page
            if last > first:
                ws.merge_range(header, first, header, last, "", f.header)
            layout.write_text(ws, header, first, title, f.header)
    for i, fld in enumerate(indicators):
        col = first_value_col + i
        ws.set_column(col, col, VALUE_WIDTH)
        layout.write_text(ws, header + 1, col, fld.label, f.header)
        layout.write_text(ws, header + 2, col, fld.unit, f.subheader)
    ws.set_row(header, 48)
    ws.set_row(header + 1, 150)
    task_row, header = header, header + 1  # below: `header` is the labels' row, as before

    sheet = Sheet(ctx, SHEET_DATA, ws)
    keys = [fld.key for fld in indicators]
    integer = [fld.type == "integer" for fld in indicators]
    cell_styles = [
        (fld.key, s.int if whole else s.num) for fld, whole in zip(indicators, integer, strict=True)
    ]

    def render(units: list[UnitResult], start: int) -> tuple[str, bytes]:
        # The block's column sums go with it: subtotals never read every unit's figures again.
        sums = json.dumps(_column_sums(units, keys)).encode()
        return _data_block(s, cell_styles, units, start, spans), sums

    row_at = header + 2
    at = row_at  # a unit without figures: its status in words across the figures' columns,
    for _label, units in data_rows(result):  # merged here (a cached block is not rendered again)
        for n, u in enumerate(units):
            if u.submission is None:
                for first, last in spans:
                    spliced.merge(ws, at + n, first, at + n, last)
        at += len(units) + 1
    count = 0
    subtotal_rows: list[int] = []
    subtotals: list[list[int | float]] = []
    breaks: list[int] = []
    for label, units in data_rows(result):
        if row_at > header + 2 and len(result.units) > PAGE_PER_KIND:
            breaks.append(row_at)  # each kind from a new printed page
        first = row_at
        sums: list[int | float] = [0] * len(keys)
        for block in ctx.blocks(SHEET_DATA, units):
            start = count + 1  # STT numbers are in the key: a unit added above renumbers the blocks below
            meta = sheet.cached(
                ctx.units_key(SHEET_DATA, str(start), block),
                lambda block=block, start=start: render(block.units, start),  # type: ignore[misc]
            )
            sums = [a + b for a, b in zip(sums, json.loads(meta), strict=True)]
            count += len(block.units)
        row_at += len(units)
        cells = [s.total_label.blank, s.total_label.blank, text(s.total_label, label)]
        for i, (cached, whole) in enumerate(zip(sums, integer, strict=True)):
            style = s.total_int if whole else s.total_num
            col = first_value_col + i
            if units:
                cells.append(_formula(style, f"SUM({to_a1(first, col)}:{to_a1(row_at - 1, col)})", cached))
            else:
                cells.append(number(style, 0))
        sheet.fresh(row("".join(cells)))
        subtotal_rows.append(row_at)
        subtotals.append(sums)
        row_at += 1

    cells = [s.grand_label.blank, s.grand_label.blank, text(s.grand_label, GRAND_TOTAL)]
    for i, whole in enumerate(integer):
        col = first_value_col + i
        refs = ",".join(to_a1(r, col) for r in subtotal_rows)
        grand = total([part[i] for part in subtotals])
        cells.append(_formula(s.grand_int if whole else s.grand_num, f"SUM({refs})", grand))
    sheet.fresh(row("".join(cells)))
    spliced.reserve(ws, row_at, last_col)
    ws.freeze_panes(header + 2, first_value_col)
    ws.autofilter(header + 1, 0, row_at, last_col)
    layout.print_across(ws, pages, first_value_col, (task_row, header + 1))
    if breaks:
        ws.set_h_pagebreaks(breaks)
    return sheet


def _task_groups(indicators: Sequence[Field], first_col: int) -> dict[str, tuple[int, int]]:
    """Task → (first column, last column) of its indicators, in the form's order."""
    groups: dict[str, tuple[int, int]] = {}
    for i, fld in enumerate(indicators):
        col = first_col + i
        first, _last = groups.get(fld.task, (col, col))
        groups[fld.task] = (first, col)
    return groups


def _data_block(
    s: RowStyles,
    cell_styles: list[tuple[str, Style]],
    units: list[UnitResult],
    start: int,
    spans: list[tuple[int, int]],
) -> str:
    """The rows of a block of units; a unit without figures gets its status in words in place
    of its figures (the caller merges those cells)."""
    out = []
    centre, cell = s.centre, s.cell
    styles = [style for _key, style in cell_styles]
    keys = [key for key, _style in cell_styles]
    for n, unit in enumerate(units, start):
        name = unit.unit.name
        named = number(centre, n) + text(centre, unit.unit.code) + text(cell, name)
        # a long name wraps: the row grows (LibreOffice does not grow spliced rows itself)
        height = None if len(name) <= NAME_CHARS else fit_height(((name, NAME_CHARS),))
        if unit.submission is None:
            status = "".join(text(centre, no_figures(unit)) + centre.blank * (b - a) for a, b in spans)
            out.append(row(named + status, height))
            continue
        values = map(unit.submission.values.get, keys)
        out.append(
            row(
                named
                + "".join(
                    [
                        style.number + str(v) + "</v></c>"  # the usual case: a whole number
                        if type(v) is int and -_BIG < v < _BIG
                        else number(style, v)
                        for style, v in zip(styles, values, strict=True)
                    ]
                ),
                height,
            )
        )
    return "".join(out)


NAME_WIDTH = 30  # the units' names column of the data sheet
NAME_CHARS = chars(NAME_WIDTH)
VALUE_WIDTH = 12  # each figure's column: its label wraps in the header
_BIG = 1_000_000_000_000_000  # whole numbers below this are written as they are (as number() does)

# ---------------------------------------------------------------- Nguồn số liệu


def provenance_sheet(wb: Workbook, f: layout.Formats, spliced: SplicedSheets, ctx: Context) -> Sheet:
    """Where every figure of the data sheet came from: one row per unit, in the order of the data
    sheet, each figure in its data-sheet column (D onwards) as "sheet!cell" of the unit's file;
    the file and its version beside."""
    result, schema, s = ctx.result, ctx.schema, ctx.styles
    ws = wb.add_worksheet(SHEET_PROVENANCE)
    indicators = period_indicators(schema, result.period.period.code)
    first_value_col = 3
    last_col = first_value_col + len(indicators)
    columns = [("Mã", 10), ("Đơn vị", 26), ("Tệp", 34)]
    columns += [(fld.label, 14) for fld in indicators]
    columns += [("Phiên bản", 10)]
    widths = [float(w) for _label, w in columns]
    groups = [(2, 2), *_task_groups(indicators, first_value_col).values(), (last_col, last_col)]
    pages = layout.plan_pages(widths, 2, groups)
    header = layout.title_rows(
        ws,
        f,
        0,
        pages.first_page_last(last_col),
        [
            ("NGUỒN CỦA TỪNG SỐ LIỆU", f.title),
            (f"Kỳ báo cáo: {result.period.name_vi}", f.subtitle),
            (vi.registry_note(schema), f.subtitle),  # which registry the period used
            (PROVENANCE_NOTE, f.subtitle),
        ],
    )
    layout.table_header(ws, f, header, columns)
    ws.set_row(header, 150)
    spans = pages.spans(2, last_col)
    everyone = [u for _label, group in data_rows(result) for u in group]
    for i, u in enumerate(everyone):  # status in words across each page's columns (cached blocks too)
        if u.submission is None:
            for first, last in spans:
                spliced.merge(ws, header + 1 + i, first, header + 1 + i, last)
    period = result.period.period.code
    # Per unit kind, for each indicator: key, the template's sheet and cell and that cell as XML,
    # or None where the indicator does not apply to that kind of unit.
    by_kind: dict[str, list[tuple[str, str, str, str] | None]] = {}
    located: dict[tuple[str, str], str] = {}  # (sheet, cell) → the cell's XML
    version_of = ctx.version_labels

    def where(sheet: str, cell: str) -> str:
        found = located.get((sheet, cell))
        if found is None:
            found = located[(sheet, cell)] = text(s.centre, f"{sheet}!{cell}")
        return found

    def render(units: list[UnitResult]) -> tuple[str, bytes]:
        out = []
        blank = s.cell.blank
        for unit in units:
            sub = unit.submission
            if sub is None:
                named = text(s.centre, unit.unit.code) + text(s.cell, unit.unit.name)
                status = "".join(text(s.centre, no_figures(unit)) + blank * (b - a) for a, b in spans)
                out.append("<row>" + named + status + "</row>")
                continue
            kind = by_kind.get(unit.unit.kind)
            if kind is None:
                kind = by_kind[unit.unit.kind] = [
                    (fld.key, fld.sheet, fld.cell, where(fld.sheet, fld.cell))
                    if fld.applies(unit.unit, period)
                    else None
                    for fld in indicators
                ]
            cells = sub.cells
            row_cells = [
                text(s.centre, unit.unit.code),
                text(s.cell, unit.unit.name),
                text(s.cell, sub.file.name),
            ]
            for known in kind:
                if known is None:
                    row_cells.append(blank)
                    continue
                key, sheet, cell, default = known
                at = cells.get(key)
                if at is None or (at.cell == cell and at.sheet == sheet):
                    row_cells.append(default)
                else:
                    row_cells.append(where(at.sheet, at.cell))
            row_cells.append(text(s.centre, version_of.get((unit.unit.code, sub.file.sha256), "")))
            out.append("<row>" + "".join(row_cells) + "</row>")
        return "".join(out), b""

    sheet = Sheet(ctx, SHEET_PROVENANCE, ws)
    units = [u for _label, group in data_rows(result) for u in group]
    for block in ctx.blocks(SHEET_PROVENANCE, units):
        # The version label is among each unit's inputs (Context).
        sheet.cached(ctx.units_key(SHEET_PROVENANCE, "", block), lambda block=block: render(block.units))  # type: ignore[misc]
    finish(spliced, ws, header, header + len(units), last_col, 3)
    layout.print_across(ws, pages, 2, (header, header))
    return sheet
