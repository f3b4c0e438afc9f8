"""The suggested inspection list: units with the lowest scores, repeated lateness or repeated
errors (earlier periods from the ledger), with the reason for each.

The same sheet writer serves the standalone file and the "Đề xuất kiểm tra" sheet of the
consolidated workbook.
"""

from __future__ import annotations

from typing import IO

from pipeline.model import RunResult
from pipeline.outputs import figures, layout
from pipeline.outputs import vocabulary as vi
from pipeline.schema import Schema
from pipeline.xlsx import Styles, Workbook, new_workbook

SHEET = "Đề xuất kiểm tra"
TITLE = "DANH SÁCH ĐƠN VỊ ĐỀ XUẤT KIỂM TRA CÔNG TÁC DÂN VẬN CHÍNH QUYỀN"
COLUMNS: tuple[tuple[str, float], ...] = (
    ("STT", 5),
    ("Mã", 10),
    ("Đơn vị", 32),
    ("Tổng điểm", 9),
    ("Xếp loại", 22),
    ("Số kỳ nộp muộn, không nộp", 10),
    ("Số kỳ có lỗi", 9),
    ("Lý do đề xuất", 70),
)


def write_inspection_sheet(
    wb: Workbook, styles: Styles, result: RunResult, schema: Schema, *, name: str = SHEET
) -> None:
    f = layout.Formats(styles)
    ws = wb.add_worksheet(name)
    last_col = len(COLUMNS) - 1
    row = layout.run_header(ws, f, 2, last_col, result, schema)
    earlier = sorted({p.period_id for p in result.past})
    basis = "các kỳ trước có trong sổ theo dõi: " + ", ".join(earlier) if earlier else "chưa có kỳ trước"
    header = layout.title_rows(
        ws,
        f,
        row,
        last_col,
        [
            (TITLE, f.title),
            (f"Kỳ báo cáo: {result.period.name_vi} (căn cứ kỳ này và {basis})", f.subtitle),
        ],
    )
    for col, (label, width) in enumerate(COLUMNS):
        ws.set_column(col, col, width)
        layout.write_text(ws, header, col, label, f.header)
    ws.set_row(header, 48)
    suggestions = figures.inspection_list(result, schema)
    for i, s in enumerate(suggestions, start=1):
        r = header + i
        unit = s.unit
        ws.write_number(r, 0, i, f.cell_centre)
        layout.write_text(ws, r, 1, unit.unit.code, f.cell_centre)
        layout.write_text(ws, r, 2, unit.unit.name, f.cell)
        layout.write_number(ws, r, 3, unit.score.total if unit.score else None, f.score)
        layout.write_text(ws, r, 4, vi.band_of(unit, schema.rubric), f.cell_centre)
        ws.write_number(r, 5, len(s.late_periods), f.int)
        ws.write_number(r, 6, len(s.error_periods), f.int)
        text = "\n".join(f"- {reason}" for reason in s.reasons)
        layout.write_text(ws, r, 7, text, f.cell)
        ws.set_row(r, 16.0 * sum(max(1, -(-len(x) // 75)) for x in s.reasons) + 2)
    last_row = header + max(len(suggestions), 1)
    if not suggestions:
        ws.merge_range(header + 1, 0, header + 1, last_col, "", f.cell_centre)
        layout.write_text(ws, header + 1, 0, "Không có đơn vị cần đề xuất kiểm tra.", f.cell_centre)
    layout.finish_table(ws, header, last_row, last_col, 3)


def build_inspection(result: RunResult, schema: Schema, target: IO[bytes]) -> None:
    """The standalone inspection-list workbook."""
    wb = new_workbook(target, result.as_of.astimezone(result.period.tz), TITLE.capitalize())
    write_inspection_sheet(wb, Styles(wb), result, schema)
    wb.close()
