"""The year so far ("Cả năm"), from the second period of a year on: one row per unit with each
period's status, days late, score and band, the year's counts of late, missing and rejected
periods, the scores across the periods as a sparkline, and, in the year's last run, the annual
rating (pipeline.core.year)."""

from __future__ import annotations

from pipeline.core import cellref, year
from pipeline.core.model import RunResult
from pipeline.core.schema import Schema
from pipeline.ooxml.xlsx import Format, SplicedSheets, Styles, Workbook
from pipeline.outputs import layout
from pipeline.outputs import vocabulary as vi

SHEET = "Cả năm"
TITLE = "TÌNH HÌNH BÁO CÁO VÀ KẾT QUẢ XẾP LOẠI CÁC KỲ TRONG NĂM"
# The measures shown per period, each a group of adjacent columns (the scores side by side
# make the sparkline's range).
MEASURES: tuple[tuple[str, float], ...] = (
    ("Tình trạng", 11),
    ("Số ngày muộn", 7),
    ("Điểm", 7),
    ("Xếp loại", 11),
)


def reached(schema: Schema, result: RunResult) -> list[str]:
    """The codes of the year's periods so far, in order."""
    periods = sorted(schema.calendar.periods, key=lambda p: p.order)
    return [p.code for p in periods if p.order <= result.period.period.order]


def _annual(schema: Schema, result: RunResult) -> bool:
    return year.is_year_end(schema, result) and schema.rubric.annual is not None


def columns(schema: Schema, result: RunResult) -> list[tuple[str, float]]:
    """The header of the table, from column A."""
    cols: list[tuple[str, float]] = [("STT", 5), ("Mã", 8), ("Đơn vị", 28)]
    for measure, width in MEASURES:
        cols += [(f"{measure} {schema.calendar.period(c).name}", width) for c in reached(schema, result)]
    cols += [("Số kỳ muộn", 7), ("Số kỳ chưa nộp", 7), ("Số kỳ bị trả lại", 7), ("Điểm các kỳ", 14)]
    if _annual(schema, result):
        cols += [("Điểm chấp hành chế độ báo cáo", 10), ("Điểm xếp loại năm", 9), ("Xếp loại năm", 12)]
    return cols


def write_year_sheet(
    wb: Workbook, styles: Styles, spliced: SplicedSheets, result: RunResult, schema: Schema
) -> list[layout.TableRow]:
    """Write the sheet but its rows, which are returned for the caller to splice in."""
    f = layout.Formats(styles)
    ws = wb.add_worksheet(SHEET)
    cols = columns(schema, result)
    last_col = len(cols) - 1
    annual = _annual(schema, result)
    names = ", ".join(schema.calendar.period(c).name for c in reached(schema, result))
    lines = [(TITLE, f.title), (f"Các kỳ báo cáo năm {result.period.year}: {names}", f.subtitle)]
    if annual and schema.rubric.annual is not None:
        lines.append((f"Xếp loại năm (thi đua, khen thưởng): {schema.rubric.annual.rule}", f.subtitle))
    row = layout.title_rows(ws, f, 0, last_col, lines)
    if annual:
        ws.set_row(len(lines) - 1, 36)  # the rating's rule wraps on two lines
    header = row
    layout.table_header(ws, f, header, cols)
    ws.set_row(header, 45)
    history = year.year_history(schema, result)
    codes = reached(schema, result)
    score_first = 3 + 2 * len(codes)  # after the statuses and the days late
    spark_col = 3 + len(MEASURES) * len(codes) + 3
    rows: list[layout.TableRow] = []
    for i, u in enumerate(result.units, start=1):
        entries = history[u.unit.code]
        by_code = {e.code: e for e in entries}
        cells: list[tuple[object, Format, bool]] = [
            (i, f.cell_centre, True),
            (u.unit.code, f.cell_centre, False),
            (u.unit.name + _merged_note(schema, entries), f.cell, False),
        ]
        found = [by_code.get(c) for c in codes]
        cells += [(vi.unit_status_vi(e.status) if e else None, f.cell_centre, False) for e in found]
        cells += [(e.days_late if e and e.days_late else None, f.int, True) for e in found]
        cells += [(e.score if e else None, f.score, True) for e in found]
        cells += [(e.band if e else None, f.cell_centre, False) for e in found]
        late, missing, rejected = year.counts(entries)
        cells += [(late, f.int, True), (missing, f.int, True), (rejected, f.int, True), (None, f.cell, False)]
        if annual:
            rating = year.annual_rating(schema, entries)
            cells += [
                (rating.record if rating else None, f.score, True),
                (rating.score if rating else None, f.score, True),
                (rating.band if rating else None, f.cell_centre, False),
            ]
        rows.append(layout.TableRow(tuple(cells)))
        if len(codes) > 1:
            r = header + i
            first, last = cellref.to_a1(r, score_first), cellref.to_a1(r, score_first + len(codes) - 1)
            ws.add_sparkline(
                r, spark_col, {"range": f"'{SHEET}'!{first}:{last}", "markers": True, "min": 0, "max": 100}
            )
    spliced.reserve(ws, header + len(rows), last_col)
    layout.finish_table(ws, header, header + max(len(rows), 1), last_col, 3)
    if len(codes) > 2:
        # Past two periods the table is ~250 characters wide: on one A4 page its text would print
        # below 8 pt. Two pages wide, the unit's code and name repeated on each.
        ws.fit_to_pages(2, 0)
        ws.repeat_columns(0, 2)
    return rows


def _merged_note(schema: Schema, entries: list[year.PeriodEntry]) -> str:
    """ " (Quý I: gồm xã Một, xã Hai trước sắp xếp)" for the periods from before a merge."""
    notes = []
    for e in entries:
        if e.parts:
            names = ", ".join(name for _c, name, _x in e.parts)
            notes.append(f"{schema.calendar.period(e.code).name}: gồm {names} trước sắp xếp")
    return f" ({'; '.join(notes)})" if notes else ""
