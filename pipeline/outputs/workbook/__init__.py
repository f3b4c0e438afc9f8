"""The consolidated workbook that leadership opens and prints.

Sheets: Tổng hợp (summary), Số liệu (figures per unit with subtotals), Xếp loại (ranking),
Chi tiết điểm, Thuyết minh, Kiến nghị, Nộp muộn (late list), Đề xuất kiểm tra (inspection
list), Cả năm (the year so far, from the second period of a year), Lỗi kiểm tra (validation issues), Nguồn (the inbox files), Nguồn số liệu (where each
figure was read).

xlsxwriter writes everything that does not grow with the number of units: the summary with its
charts, titles, headers, column widths, formats, frozen panes, filters, print settings and
conditional formats. The per-unit rows of the long sheets are spliced in as XML, in blocks
cached between runs (pipeline.outputs.workbook.blocks).
"""

from __future__ import annotations

import io
from typing import IO

from pipeline.core import year
from pipeline.core.model import RunResult
from pipeline.core.schema import Schema
from pipeline.ooxml.xlsx import SplicedSheets, Styles, new_workbook, split_sheet_data
from pipeline.ooxml.zipwriter import Entry, PieceStore, write_zip
from pipeline.outputs import figures, inspection, late_list, layout
from pipeline.outputs.workbook import data, files, scores, summary, texts, year_sheet
from pipeline.outputs.workbook.blocks import TITLE, Context, RowStyles, Sheet, WorkbookStats


def build_consolidated(
    result: RunResult,
    schema: Schema,
    target: IO[bytes],
    store: PieceStore | None = None,
    name: str = "",
    suggestions: list[figures.Suggestion] | None = None,
) -> WorkbookStats:
    """Write the workbook to `target`. With a `store`, blocks of rows are taken from and kept in
    it under part names prefixed by `name` (the output's path): the bytes are the same.
    `suggestions`: the inspection list, when the caller has it already."""
    title = f"{TITLE} - {result.period.name_vi}"
    wb = new_workbook(io.BytesIO(), result.as_of, title, author=schema.template.receiver, in_memory=True)
    spliced = SplicedSheets(wb)
    styles = Styles(wb)
    f = layout.Formats(styles)
    s = RowStyles(f, schema, spliced)  # style indexes first: they do not depend on what the sheets hold
    ctx = Context(result, schema, wb, s, store, name)
    if suggestions is None:
        suggestions = figures.inspection_list(result, schema)
    summary.write(wb, f, result, schema)
    sheets = [
        data.figures_sheet(wb, f, spliced, ctx),
        scores.ranking_sheet(wb, f, spliced, ctx),
        scores.criteria_sheet(wb, f, spliced, ctx),
        texts.narratives_sheet(wb, f, spliced, ctx),
        texts.proposals_sheet(wb, f, spliced, ctx),
        _table(
            ctx, spliced, late_list.SHEET, late_list.write_late_sheet(wb, styles, spliced, result, schema)
        ),
        _table(
            ctx,
            spliced,
            inspection.SHEET,
            inspection.write_inspection_sheet(wb, styles, spliced, result, schema, suggestions),
        ),
        *(
            [
                _table(
                    ctx,
                    spliced,
                    year_sheet.SHEET,
                    year_sheet.write_year_sheet(wb, styles, spliced, result, schema),
                )
            ]
            if year.shown(result)
            else []
        ),
        files.issues_sheet(wb, f, spliced, ctx),
        files.sources_sheet(wb, f, spliced, ctx),
        data.provenance_sheet(wb, f, spliced, ctx),
    ]
    by_part = {sheet.part: sheet for sheet in sheets}
    stats = WorkbookStats()
    entries: list[Entry] = []
    for part_name, xml in spliced.close():
        sheet = by_part.get(part_name)
        if sheet is None:
            entries.append(Entry.of(part_name, xml))
            continue
        head, tail = split_sheet_data(xml)
        part = sheet.builder.finish(head, tail)
        entries.append(Entry.of_part(part))
        stats.compressed[sheet.sheet] = len(part.new)
        stats.reused[sheet.sheet] = len(part.used) - len(part.new)
        if store is not None:
            store.save_pieces(sheet.store_name, part.new, sheet.builder.unused())
    write_zip(target, entries)
    return stats


def _table(ctx: Context, spliced: SplicedSheets, name: str, rows: list[layout.TableRow]) -> Sheet:
    """Rows of a sheet whose writer lives in its own module (late list, inspection list):
    rendered and compressed on every run (a few thousand rows at 10,000 units, cheap to render)."""
    sheet = Sheet(ctx, name, ctx.worksheet(name))
    sheet.fresh(layout.table_xml(rows, spliced))
    return sheet
