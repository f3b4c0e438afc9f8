"""The list of units to chase: late, missing and rejected reports.

The same sheet writer serves the standalone file and the "Nộp muộn" sheet of the
consolidated workbook.
"""

from __future__ import annotations

from datetime import datetime
from typing import IO

from pipeline.core.model import RunResult, Submission, UnitResult
from pipeline.core.schema import Schema
from pipeline.core.statuses import Severity, UnitStatus
from pipeline.core.vietnamese import format_date, format_datetime
from pipeline.ooxml.xlsx import SplicedSheets, Styles, Workbook
from pipeline.outputs import layout
from pipeline.outputs import vocabulary as vi
from pipeline.outputs.plain import plain_issue

SHEET = "Nộp muộn"
TITLE = "DANH SÁCH ĐƠN VỊ NỘP BÁO CÁO MUỘN, CHƯA NỘP HOẶC BỊ TRẢ LẠI"
STATUSES = (UnitStatus.LATE, UnitStatus.MISSING, UnitStatus.REJECTED)
COLUMNS: tuple[tuple[str, float], ...] = (
    ("STT", 5),
    ("Mã", 9),
    ("Đơn vị", 30),
    ("Tình trạng", 13),
    ("Hạn nộp", 11),
    ("Thời điểm nhận", 16),
    ("Số ngày muộn", 9),
    ("Ghi chú", 40),
)  # 133 wide: fits A4 landscape at 70% or more (8 pt on paper)


def late_units(result: RunResult) -> list[UnitResult]:
    """Late, then missing, then rejected units; registry order within each."""
    return [u for status in STATUSES for u in result.units if u.status == status]


def _latest(unit: UnitResult) -> Submission | None:
    if unit.submission is not None:
        return unit.submission
    return unit.versions[-1] if unit.versions else None


def received_at(unit: UnitResult) -> datetime | None:
    """The time that decided timeliness, else the receipt time of the newest file."""
    if unit.received_at is not None:
        return unit.received_at
    latest = _latest(unit)
    return latest.file.received_at if latest is not None else None


def note(unit: UnitResult, schema: Schema) -> str:
    if unit.status == UnitStatus.MISSING:
        return vi.NOT_RECEIVED
    if unit.status == UnitStatus.REJECTED:
        latest = _latest(unit)
        if latest is not None:
            errors = [i for i in latest.issues if i.severity == Severity.ERROR]
            if errors:
                more = f" (và {len(errors) - 1} lỗi khác)" if len(errors) > 1 else ""
                return plain_issue(errors[0], schema).rstrip(".") + more + "."
    return ""


def write_late_sheet(
    wb: Workbook, styles: Styles, spliced: SplicedSheets, result: RunResult, schema: Schema
) -> list[layout.TableRow]:
    """Write the late list as sheet SHEET of `wb` but its rows, which are returned: the
    caller splices them in as XML (layout.write_with_rows, the consolidated workbook)."""
    f = layout.Formats(styles)
    ws = wb.add_worksheet(SHEET)
    tz = result.period.tz
    last_col = len(COLUMNS) - 1
    row = layout.run_header(ws, f, 2, last_col, result, schema)
    row = layout.title_rows(
        ws,
        f,
        row,
        last_col,
        [
            (TITLE, f.title),
            (f"Kỳ báo cáo: {result.period.name_vi}", f.subtitle),
            (
                f"Hạn nộp: {format_date(result.period.deadline)}; "
                f"số liệu tính đến {format_datetime(result.as_of, tz)}",
                f.subtitle,
            ),
        ],
    )
    header = row
    layout.table_header(ws, f, header, COLUMNS)
    ws.set_row(header, 32)
    units = late_units(result)
    deadline = format_date(result.period.deadline)
    rows: list[layout.TableRow] = []
    for i, unit in enumerate(units, start=1):
        text = note(unit, schema)
        cells = (
            (i, f.cell_centre, True),
            (unit.unit.code, f.cell_centre, False),
            (unit.unit.name, f.cell, False),
            (vi.unit_status_vi(unit.status), f.cell_centre, False),
            (deadline, f.cell_centre, False),
            (format_datetime(received_at(unit), tz), f.cell_centre, False),
            (unit.days_late if unit.status == UnitStatus.LATE else None, f.int, True),
            (text, f.cell, False),
        )
        lines = max(-(-len(text) // 43), -(-len(unit.unit.name) // 32), 1)
        rows.append(layout.TableRow(cells, 16.0 * lines + 2))
    spliced.reserve(ws, header + len(rows), last_col)
    last_row = header + max(len(units), 1)
    if not units:
        ws.merge_range(header + 1, 0, header + 1, last_col, "", f.cell_centre)
        layout.write_text(ws, header + 1, 0, "Tất cả đơn vị đã nộp báo cáo đúng hạn.", f.cell_centre)
    layout.finish_table(ws, header, last_row, last_col, 3)
    return rows


def build_late_list(result: RunResult, schema: Schema, target: IO[bytes]) -> None:
    """The standalone late-list workbook."""
    layout.write_standalone(result, schema, TITLE.capitalize(), write_late_sheet, target)
