"""The narratives gathered for the report's writer: "Thuyết minh" (for each task, then the
limitations, causes and directions, every unit's text together) and "Kiến nghị" (every unit's
proposals)."""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.core.model import RunResult, UnitResult
from pipeline.ooxml.rowxml import row, text
from pipeline.ooxml.xlsx import SplicedSheets, Workbook
from pipeline.outputs import layout
from pipeline.outputs.workbook.blocks import (
    SHEET_NARRATIVES,
    SHEET_PROPOSALS,
    Context,
    RowStyles,
    Sheet,
    finish,
    has_text,
    simple_title,
    text_height,
)


def _texts(
    s: RowStyles, units: list[UnitResult], keys: Sequence[str], chars_per_line: int
) -> dict[str, tuple[str, bytes]]:
    """Per key, the rows of the units that wrote something under it, and how many rows that is
    (each unit read once for all keys)."""
    out: dict[str, list[str]] = {key: [] for key in keys}
    for unit in units:
        assert unit.submission is not None
        found = [(key, value) for key, value in zip(keys, map(unit.submission.values.get, keys), strict=True)]
        named = ""
        for key, value in found:
            if not has_text(value):
                continue
            if not named:
                named = text(s.centre, unit.unit.code) + text(s.cell, unit.unit.name)
            shown = str(value)
            out[key].append(row(named + text(s.cell, shown), text_height(shown, chars_per_line)))
    return {key: ("".join(rows), str(len(rows)).encode()) for key, rows in out.items()}


def narratives_sheet(wb: Workbook, f: layout.Formats, spliced: SplicedSheets, ctx: Context) -> Sheet:
    """For each task (then limitations, causes, directions) every unit's text, together.

    Blocks are cut over every reported unit, so whether a unit wrote a text is decided only when
    its block is rendered; the block's row count is kept with it."""
    result, schema, s = ctx.result, ctx.schema, ctx.styles
    ws = wb.add_worksheet(SHEET_NARRATIVES)
    columns = [("Mã", 10), ("Đơn vị", 26), ("Nội dung", 100)]  # fits A4 landscape at 70% or more
    last_col = len(columns) - 1
    header = simple_title(ws, f, result, last_col, "TỔNG HỢP THUYẾT MINH CỦA CÁC ĐƠN VỊ")
    layout.table_header(ws, f, header, columns)
    blocks = ctx.blocks(SHEET_NARRATIVES, [u for u in result.units if u.submission is not None])
    sheet = Sheet(ctx, SHEET_NARRATIVES, ws)
    fields = [fld for fld in schema.narratives if fld.key != "n_proposals"]  # proposals: own sheet
    keys = [fld.key for fld in fields]
    rendered: dict[int, dict[str, tuple[str, bytes]]] = {}  # block → every field's rows

    def render(index: int, key: str) -> tuple[str, bytes]:
        if index not in rendered:
            rendered[index] = _texts(s, blocks[index].units, keys, 105)
        return rendered[index][key]

    row_at = header
    for fld in fields:
        row_at += 1
        spliced.merge(ws, row_at, 0, row_at, last_col)
        sheet.fresh(row(text(s.total_label, fld.label) + s.total_label.blank * last_col))
        for index, block in enumerate(blocks):
            meta = sheet.cached(
                ctx.units_key(SHEET_NARRATIVES, fld.key, block),
                lambda index=index, key=fld.key: render(index, key),  # type: ignore[misc]
            )
            row_at += int(meta)
    finish(spliced, ws, header, row_at, last_col, 0)
    return sheet


def proposals(result: RunResult) -> list[tuple[UnitResult, str]]:
    """Every unit's proposals (kiến nghị, đề xuất), registry order."""
    out: list[tuple[UnitResult, str]] = []
    for unit in result.units:
        if unit.submission is None:
            continue
        text = unit.submission.values.get("n_proposals")
        if has_text(text):
            out.append((unit, str(text)))
    return out


def proposals_sheet(wb: Workbook, f: layout.Formats, spliced: SplicedSheets, ctx: Context) -> Sheet:
    s = ctx.styles
    ws = wb.add_worksheet(SHEET_PROPOSALS)
    columns = [("Mã", 10), ("Đơn vị", 28), ("Kiến nghị, đề xuất", 98)]  # fits A4 landscape at 70% or more
    last_col = len(columns) - 1
    header = simple_title(ws, f, ctx.result, last_col, "TỔNG HỢP KIẾN NGHỊ, ĐỀ XUẤT CỦA CÁC ĐƠN VỊ")
    layout.table_header(ws, f, header, columns)
    sheet = Sheet(ctx, SHEET_PROPOSALS, ws)
    rows = 0
    for block in ctx.blocks(SHEET_PROPOSALS, [u for u in ctx.result.units if u.submission is not None]):
        meta = sheet.cached(
            ctx.units_key(SHEET_PROPOSALS, "", block),
            lambda block=block: _texts(s, block.units, ["n_proposals"], 103)["n_proposals"],  # type: ignore[misc]
        )
        rows += int(meta)
    finish(spliced, ws, header, header + rows, last_col, 0)
    return sheet
