"""The suggested inspection list: units with the lowest scores, repeated lateness or repeated
errors (earlier periods from the ledger), with the reason for each.

The same sheet writer serves the standalone file and the "Đề xuất kiểm tra" sheet of the
consolidated workbook.
"""

from __future__ import annotations

from typing import IO

from pipeline.core.model import RunResult
from pipeline.core.schema import Schema
from pipeline.core.vietnamese import format_number
from pipeline.ooxml.xlsx import SplicedSheets, Styles, Workbook
from pipeline.outputs import figures, layout
from pipeline.outputs import vocabulary as vi

SHEET = "Đề xuất kiểm tra"
TITLE = "DANH SÁCH ĐƠN VỊ ĐỀ XUẤT KIỂM TRA CÔNG TÁC DÂN VẬN CHÍNH QUYỀN"
COLUMNS: tuple[tuple[str, float], ...] = (
    ("STT", 5),
    ("Mã", 9),
    ("Đơn vị", 28),
    ("Tổng điểm", 9),
    ("Xếp loại", 14),
    ("Số kỳ nộp muộn, không nộp", 10),
    ("Số kỳ có lỗi", 8),
    ("Lý do đề xuất", 50),
)  # 133 wide: fits A4 landscape at 70% or more (8 pt on paper)


def write_inspection_sheet(
    wb: Workbook,
    styles: Styles,
    spliced: SplicedSheets,
    result: RunResult,
    schema: Schema,
    suggestions: list[figures.Suggestion],
) -> list[layout.TableRow]:
    """Write the inspection list as sheet SHEET of `wb` but its rows, which are returned: the
    caller splices them in as XML (layout.write_with_rows, the consolidated workbook)."""
    f = layout.Formats(styles)
    ws = wb.add_worksheet(SHEET)
    last_col = len(COLUMNS) - 1
    row = layout.run_header(ws, f, 2, last_col, result, schema)
    earlier = [
        p.name_vi
        for p in result.period.previous_in_year(schema.calendar)
        if p.id in {x.period_id for x in result.past}
    ]
    basis = "các kỳ trước có trong sổ theo dõi: " + ", ".join(earlier) if earlier else "chưa có kỳ trước"
    policy = schema.inspection
    criteria = (
        f"Tiêu chí: xếp loại {' hoặc '.join(policy.bands)}; nộp muộn hoặc không nộp từ {policy.late_periods} kỳ; "
        f"bị trả lại hoặc có lỗi từ {policy.rejected_periods} kỳ; điểm giảm từ {format_number(policy.score_drop)} "
        "điểm so với kỳ trước. Xếp theo số tiêu chí, rồi mức xếp loại, rồi điểm."
    )
    header = layout.title_rows(
        ws,
        f,
        row,
        last_col,
        [
            (TITLE, f.title),
            (f"Kỳ báo cáo: {result.period.name_vi} (căn cứ kỳ này và {basis})", f.subtitle),
            (criteria, f.subtitle),
        ],
    )
    layout.table_header(ws, f, header, COLUMNS)
    ws.set_row(header, 48)
    rows: list[layout.TableRow] = []
    for i, sug in enumerate(suggestions, start=1):
        unit = sug.unit
        cells = (
            (i, f.cell_centre, True),
            (unit.unit.code, f.cell_centre, False),
            (unit.unit.name, f.cell, False),
            (unit.score.total if unit.score else None, f.score, True),
            (vi.band_of(unit, schema.rubric), f.cell_centre, False),
            (len(sug.late_periods), f.int, True),
            (len(sug.error_periods), f.int, True),
            ("\n".join(f"- {reason}" for reason in sug.reasons), f.cell, False),
        )
        rows.append(layout.TableRow(cells, 16.0 * sum(max(1, -(-len(x) // 54)) for x in sug.reasons) + 2))
    spliced.reserve(ws, header + len(rows), last_col)
    last_row = header + max(len(suggestions), 1)
    if not suggestions:
        ws.merge_range(header + 1, 0, header + 1, last_col, "", f.cell_centre)
        layout.write_text(ws, header + 1, 0, "Không có đơn vị cần đề xuất kiểm tra.", f.cell_centre)
    layout.finish_table(ws, header, last_row, last_col, 3)
    return rows


def build_inspection(
    result: RunResult, schema: Schema, suggestions: list[figures.Suggestion], target: IO[bytes]
) -> None:
    """The standalone inspection-list workbook."""

    def sheet(
        wb: Workbook, styles: Styles, spliced: SplicedSheets, result: RunResult, schema: Schema
    ) -> list[layout.TableRow]:
        return write_inspection_sheet(wb, styles, spliced, result, schema, suggestions)

    layout.write_standalone(result, schema, TITLE.capitalize(), sheet, target)
