"""The consolidated workbook that leadership opens and prints.

Sheets: Tổng hợp (summary), Số liệu (figures per unit with subtotals), Xếp loại (ranking),
Nộp muộn (late list), Lỗi kiểm tra (validation issues), Nguồn (the inbox files).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import IO, Any

from pipeline.catalogue import sort_key
from pipeline.cellref import to_a1
from pipeline.model import Located, RunResult, UnitResult, Value
from pipeline.outputs import figures, layout
from pipeline.outputs import vocabulary as vi
from pipeline.outputs.inspection import write_inspection_sheet
from pipeline.outputs.late_list import write_late_sheet
from pipeline.schema import Field, Schema
from pipeline.xlsx import Format, Styles, Workbook, Worksheet, new_workbook

TITLE = "TỔNG HỢP KẾT QUẢ THỰC HIỆN CÔNG TÁC DÂN VẬN CHÍNH QUYỀN"

SHEET_SUMMARY = "Tổng hợp"
SHEET_DATA = "Số liệu"
SHEET_RANKING = "Xếp loại"
SHEET_CRITERIA = "Chi tiết điểm"
SHEET_NARRATIVES = "Thuyết minh"
SHEET_PROPOSALS = "Kiến nghị"
SHEET_ISSUES = "Lỗi kiểm tra"
SHEET_SOURCES = "Nguồn"
SHEET_PROVENANCE = "Nguồn số liệu"

DEPARTMENTS_TOTAL = "Cộng sở, ban, ngành"
DISTRICTS_TOTAL = "Cộng huyện, thị xã, thành phố"
GRAND_TOTAL = "Tổng cộng"


def build_consolidated(result: RunResult, schema: Schema, target: IO[bytes]) -> None:
    tz = result.period.tz
    wb = new_workbook(target, result.as_of.astimezone(tz), f"{TITLE} - {result.period.name_vi}")
    styles = Styles(wb)
    f = layout.Formats(styles)
    _summary(wb, f, result, schema)
    _data(wb, f, result, schema)
    with _streamed(wb):
        _ranking(wb, f, result, schema)
        _criteria(wb, f, result, schema)
        _narratives(wb, f, result, schema)
        _proposals(wb, f, result, schema)
    write_late_sheet(wb, styles, result, schema)
    write_inspection_sheet(wb, styles, result, schema)
    with _streamed(wb):
        _issues(wb, f, result, schema)
        _sources(wb, f, result, schema)
        _provenance(wb, f, result, schema)
    try:
        wb.close()
    finally:
        for ws in wb.worksheets():
            if ws.constant_memory:
                ws._opt_close()  # what close() does itself in a workbook-wide constant_memory mode


@contextlib.contextmanager
def _streamed(wb: Workbook) -> Iterator[None]:
    """Sheets added inside write each row to a temporary file as soon as the next row starts
    (xlsxwriter's constant_memory, per sheet): the long per-unit sheets of a national run stay
    out of memory. Only sheets written strictly row after row may be added inside."""
    wb.constant_memory = True
    try:
        yield
    finally:
        wb.constant_memory = False


# ---------------------------------------------------------------- helpers


def _number(value: Value) -> int | float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def _sum(values: list[Value]) -> int | float:
    numbers = [n for n in (_number(v) for v in values) if n is not None]
    return sum(numbers) if numbers else 0


def _value_format(f: layout.Formats, field: Field, kind: str = "cell") -> Format:
    integer = field.type == "integer"
    if kind == "total":
        return f.total_int if integer else f.total_num
    if kind == "grand":
        return f.grand_int if integer else f.grand_num
    return f.int if integer else f.num


def _band_colours(schema: Schema) -> dict[str, str]:
    return {str(b["name"]): str(b.get("color", "")) for b in schema.rubric.get("bands", [])}


def _unit_name(schema: Schema, code: str | None) -> str:
    if not code:
        return ""
    unit = schema.unit_by_code.get(code)
    return unit.name if unit is not None else code


def _table_header(ws: Worksheet, f: layout.Formats, row: int, columns: Sequence[tuple[str, float]]) -> None:
    for col, (label, width) in enumerate(columns):
        ws.set_column(col, col, width)
        layout.write_text(ws, row, col, label, f.header)


def _simple_title(ws: Worksheet, f: layout.Formats, result: RunResult, last_col: int, title: str) -> int:
    return layout.title_rows(
        ws, f, 0, last_col, [(title, f.title), (f"Kỳ báo cáo: {result.period.name_vi}", f.subtitle)]
    )


# ---------------------------------------------------------------- Tổng hợp

# Hidden helper column of the summary: short labels and values the charts plot.
_CHART_COL = 7
RANKING_HEADER_ROW = 3  # the ranking sheet's table header (after the title lines)


def _summary(wb: Workbook, f: layout.Formats, result: RunResult, schema: Schema) -> None:
    """One printed A4 page: header, status, bands, the seven tasks, five units, charts."""
    ws = wb.add_worksheet(SHEET_SUMMARY)
    tz = result.period.tz
    last_col = 4
    for col, width in enumerate((5, 40, 20, 13, 12)):
        ws.set_column(col, col, width)
    row = layout.run_header(ws, f, 1, last_col, result, schema)
    row = layout.title_rows(
        ws,
        f,
        row,
        last_col,
        [
            (TITLE, f.title),
            (
                f"Kỳ báo cáo: {result.period.name_vi} - hạn nộp {vi.fmt_date(result.period.deadline)}"
                f" - số liệu tính đến {vi.fmt_datetime(result.as_of, tz)}",
                f.subtitle,
            ),
        ],
    )
    expected = len(result.units)

    def share(count: int | float) -> float | None:
        return count / expected if expected else None

    # I. Reporting status
    layout.write_text(ws, row, 0, "I. TÌNH HÌNH NỘP BÁO CÁO", f.label)
    row += 1
    _pair_header(ws, f, row, ("STT", "Tình trạng", "Số đơn vị", "Tỷ lệ"))
    row += 1
    status_first = row
    for i, (_status, label, count) in enumerate(figures.status_counts(result), start=1):
        ws.write_number(row, 0, i, f.cell_centre)
        ws.merge_range(row, 1, row, 2, "", f.cell)
        layout.write_text(ws, row, 1, label, f.cell)
        ws.write_number(row, 3, count, f.int)
        layout.write_number(ws, row, 4, share(count), f.pct)
        row += 1
    status_last = row - 1
    ws.write_blank(row, 0, None, f.total_label)
    ws.merge_range(row, 1, row, 2, "", f.total_label)
    layout.write_text(ws, row, 1, "Tổng số đơn vị phải báo cáo", f.total_label)
    ws.write_number(row, 3, expected, f.total_int)
    layout.write_number(ws, row, 4, 1.0 if expected else None, f.pct)
    row += 1

    # II. Bands
    layout.write_text(ws, row, 0, "II. KẾT QUẢ XẾP LOẠI", f.label)
    row += 1
    _pair_header(ws, f, row, ("STT", "Xếp loại", "Số đơn vị", "Tỷ lệ"))
    row += 1
    colours = _band_colours(schema)
    for i, (band, count) in enumerate(figures.band_counts(result, schema), start=1):
        fmt = f.band(colours.get(band), centre=False)
        ws.write_number(row, 0, i, f.cell_centre)
        ws.merge_range(row, 1, row, 2, "", fmt)
        layout.write_text(ws, row, 1, band, fmt)
        ws.write_number(row, 3, count, f.int)
        layout.write_number(ws, row, 4, share(count), f.pct)
        row += 1

    # III. The seven tasks: key figure and rate
    layout.write_text(ws, row, 0, "III. KẾT QUẢ CHỦ YẾU CỦA BẢY NHIỆM VỤ", f.label)
    row += 1
    _pair_header(ws, f, row, ("NV", "Chỉ tiêu chủ yếu và tỷ lệ", "Số liệu", "Tỷ lệ"))
    row += 1
    rate_rows: list[int] = []
    for tf in figures.task_figures(result):
        ws.write_string(row, 0, tf.task, f.cell_centre)
        ws.merge_range(row, 1, row, 2, "", f.cell)
        label = f"{tf.label} ({tf.unit})"
        if tf.rate_label:
            label += f"\n{tf.rate_label}"
            ws.set_row(row, 31)
        layout.write_text(ws, row, 1, label, f.cell)
        layout.write_number(ws, row, 3, tf.value, f.int)
        layout.write_number(ws, row, 4, tf.rate, f.pct)
        ws.write_string(row, _CHART_COL, f"NV{tf.task}")
        rate_rows.append(row)
        row += 1

    # IV. Five units needing most attention
    layout.write_text(ws, row, 0, "IV. CÁC ĐƠN VỊ CẦN QUAN TÂM", f.label)
    row += 1
    layout.write_text(ws, row, 0, "STT", f.header)
    layout.write_text(ws, row, 1, "Đơn vị", f.header)
    ws.merge_range(row, 2, row, 4, "", f.header)
    layout.write_text(ws, row, 2, "Lý do", f.header)
    row += 1
    for i, (unit, why) in enumerate(figures.attention(result, schema), start=1):
        ws.write_number(row, 0, i, f.cell_centre)
        layout.write_text(ws, row, 1, unit.unit.name, f.cell)
        ws.merge_range(row, 2, row, 4, "", f.small)
        layout.write_text(ws, row, 2, why, f.small)
        ws.set_row(row, 13.5 * max(1, -(-len(why) // 62)) + 3)
        row += 1
    row += 1

    # Charts: status and task rates side by side, scores by unit across the page.
    sheet = SHEET_SUMMARY
    pie = wb.add_chart({"type": "pie"})
    pie.add_series(
        {
            "name": "Tình hình nộp báo cáo",
            "categories": [sheet, status_first, 1, status_last, 1],
            "values": [sheet, status_first, 3, status_last, 3],
            "data_labels": {"value": True, "leader_lines": True, "font": _font(9)},
            "points": [{"fill": {"color": c}} for c in _STATUS_CHART_COLOURS],
        }
    )
    _chart_style(pie, "Tình hình nộp báo cáo")
    pie.set_legend({"position": "right", "font": _font(8)})
    ws.insert_chart(row, 0, pie, {"x_scale": 0.62, "y_scale": 0.7, "object_position": 3})
    if rate_rows:
        bars = wb.add_chart({"type": "column"})
        bars.add_series(
            {
                "name": "Tỷ lệ",
                "categories": [sheet, rate_rows[0], _CHART_COL, rate_rows[-1], _CHART_COL],
                "values": [sheet, rate_rows[0], 4, rate_rows[-1], 4],
                "data_labels": {"value": True, "num_format": "0%", "font": _font(7)},
                "fill": {"color": "#4472C4"},
            }
        )
        _chart_style(bars, "Tỷ lệ chủ yếu theo nhiệm vụ")
        bars.set_y_axis({"num_format": "0%", "min": 0, "max": 1, "num_font": _font(7)})
        bars.set_x_axis({"num_font": _font(7)})
        bars.set_legend({"none": True})
        bars.show_hidden_data()
        ws.insert_chart(row, 2, bars, {"x_scale": 0.68, "y_scale": 0.7, "x_offset": 20, "object_position": 3})
    scored = sum(1 for u in result.units if u.score is not None)
    if scored:
        scores = wb.add_chart({"type": "column"})
        first = RANKING_HEADER_ROW + 1
        scores.add_series(
            {
                "name": "Tổng điểm",
                "categories": [SHEET_RANKING, first, 1, first + scored - 1, 1],
                "values": [SHEET_RANKING, first, 3, first + scored - 1, 3],
                "fill": {"color": "#5B9BD5"},
                "gap": 50,
            }
        )
        _chart_style(scores, "Tổng điểm theo đơn vị (xếp từ cao xuống thấp)")
        scores.set_y_axis({"min": 0, "max": 100, "major_unit": 20, "num_font": _font(7)})
        scores.set_x_axis({"num_font": {**_font(6), "rotation": -90}})
        scores.set_legend({"none": True})
        ws.insert_chart(row + 11, 0, scores, {"x_scale": 1.35, "y_scale": 0.75, "object_position": 3})
    ws.set_column(_CHART_COL, _CHART_COL, 8, None, {"hidden": True})
    layout.page_setup(ws, landscape=False, header_rows=None)
    ws.fit_to_pages(1, 1)
    ws.print_area(0, 0, row + 11 + 17, last_col)


_STATUS_CHART_COLOURS = ("#70AD47", "#FFC000", "#C00000", "#7F7F7F", "#BDD7EE")


def _font(size: float) -> dict[str, Any]:
    return {"name": layout.FONT_NAME, "size": size}


def _chart_style(chart: Any, title: str) -> None:
    chart.set_title({"name": title, "name_font": {"name": layout.FONT_NAME, "size": 10, "bold": True}})
    chart.set_chartarea({"border": {"none": True}})
    chart.set_style(10)


def _pair_header(ws: Worksheet, f: layout.Formats, row: int, labels: tuple[str, str, str, str]) -> None:
    """STT | label over columns B:C | count | share."""
    layout.write_text(ws, row, 0, labels[0], f.header)
    ws.merge_range(row, 1, row, 2, "", f.header)
    layout.write_text(ws, row, 1, labels[1], f.header)
    layout.write_text(ws, row, 3, labels[2], f.header)
    layout.write_text(ws, row, 4, labels[3], f.header)


# ---------------------------------------------------------------- Số liệu


def data_rows(result: RunResult) -> tuple[list[UnitResult], list[UnitResult]]:
    """Units with an accepted submission: (departments, districts), registry order."""
    reported = [u for u in result.units if u.submission is not None]
    return (
        [u for u in reported if u.unit.kind == "department"],
        [u for u in reported if u.unit.kind != "department"],
    )


def _data(wb: Workbook, f: layout.Formats, result: RunResult, schema: Schema) -> None:
    ws = wb.add_worksheet(SHEET_DATA)
    indicators = schema.indicators
    first_value_col = 3
    last_col = first_value_col + len(indicators) - 1
    header = _simple_title(ws, f, result, last_col, "SỐ LIỆU CÔNG TÁC DÂN VẬN CHÍNH QUYỀN CỦA CÁC ĐƠN VỊ")
    for col, (label, width) in enumerate((("STT", 5), ("Mã", 9), ("Đơn vị", 32))):
        ws.set_column(col, col, width)
        ws.merge_range(header, col, header + 1, col, "", f.header)
        layout.write_text(ws, header, col, label, f.header)
    for i, field in enumerate(indicators):
        col = first_value_col + i
        ws.set_column(col, col, 14)
        layout.write_text(ws, header, col, field.label, f.header)
        layout.write_text(ws, header + 1, col, field.unit, f.subheader)
    ws.set_row(header, 150)

    row = header + 2
    departments, districts = data_rows(result)
    number = 0
    subtotal_rows: list[int] = []
    all_units: list[UnitResult] = []
    for units, label in ((departments, DEPARTMENTS_TOTAL), (districts, DISTRICTS_TOTAL)):
        first = row
        for unit in units:
            number += 1
            assert unit.submission is not None
            values = unit.submission.values
            ws.write_number(row, 0, number, f.cell_centre)
            layout.write_text(ws, row, 1, unit.unit.code, f.cell_centre)
            layout.write_text(ws, row, 2, unit.unit.name, f.cell)
            for i, field in enumerate(indicators):
                layout.write_number(
                    ws, row, first_value_col + i, values.get(field.key), _value_format(f, field)
                )
            row += 1
        ws.write_blank(row, 0, None, f.total_label)
        ws.write_blank(row, 1, None, f.total_label)
        layout.write_text(ws, row, 2, label, f.total_label)
        for i, field in enumerate(indicators):
            col = first_value_col + i
            cached = _sum([u.submission.values.get(field.key) for u in units if u.submission is not None])
            fmt = _value_format(f, field, "total")
            if units:
                formula = f"=SUM({to_a1(first, col)}:{to_a1(row - 1, col)})"
                ws.write_formula(row, col, formula, fmt, cached)
            else:
                ws.write_number(row, col, 0, fmt)
        subtotal_rows.append(row)
        all_units.extend(units)
        row += 1

    ws.write_blank(row, 0, None, f.grand_label)
    ws.write_blank(row, 1, None, f.grand_label)
    layout.write_text(ws, row, 2, GRAND_TOTAL, f.grand_label)
    for i, field in enumerate(indicators):
        col = first_value_col + i
        cached = _sum([u.submission.values.get(field.key) for u in all_units if u.submission is not None])
        refs = ",".join(to_a1(r, col) for r in subtotal_rows)
        ws.write_formula(row, col, f"=SUM({refs})", _value_format(f, field, "grand"), cached)

    ws.freeze_panes(header + 2, first_value_col)
    ws.autofilter(header + 1, 0, row, last_col)
    layout.page_setup(ws, landscape=True, header_rows=(header, header + 1))


# ---------------------------------------------------------------- Xếp loại


def ranking(result: RunResult) -> list[tuple[int | None, UnitResult]]:
    """Units by score, best first (ties share a rank: 1, 2, 2, 4), then unscored by status."""
    order = {u.unit.code: i for i, u in enumerate(result.units)}
    scored = [u for u in result.units if u.score is not None]
    scored.sort(key=lambda u: (-round(u.score.total, 2) if u.score else 0.0, order[u.unit.code]))
    unscored = [u for u in result.units if u.score is None]
    unscored.sort(key=lambda u: (vi.STATUS_ORDER.get(u.status, 99), order[u.unit.code]))
    ranked: list[tuple[int | None, UnitResult]] = []
    previous: float | None = None
    rank = 0
    for position, unit in enumerate(scored, start=1):
        assert unit.score is not None
        total = round(unit.score.total, 2)
        if total != previous:
            rank = position
            previous = total
        ranked.append((rank, unit))
    ranked.extend((None, u) for u in unscored)
    return ranked


def _ranking(wb: Workbook, f: layout.Formats, result: RunResult, schema: Schema) -> None:
    ws = wb.add_worksheet(SHEET_RANKING)
    criteria: list[dict[str, Any]] = list(schema.rubric.get("criteria", []))
    columns: list[tuple[str, float]] = [
        ("Hạng", 6),
        ("Mã", 10),
        ("Đơn vị", 32),
        ("Tổng điểm", 9),
        ("Xếp loại", 16),
    ]
    columns += [(f"{c['label']} ({c['points']} điểm)", 12) for c in criteria]
    columns += [("Điểm tự chấm", 9), ("Chênh lệch", 9)]
    previous_name, previous = figures.previous_period(result, schema)
    if previous:
        columns += [(f"Điểm {previous_name}", 10), ("Tăng (+), giảm (-) so với kỳ trước", 10)]
    columns += [("Ghi chú", 40)]
    last_col = len(columns) - 1
    header = _simple_title(ws, f, result, last_col, "XẾP LOẠI KẾT QUẢ CÔNG TÁC DÂN VẬN CHÍNH QUYỀN")
    assert header == RANKING_HEADER_ROW
    _table_header(ws, f, header, columns)
    ws.set_row(header, 90)
    colours = _band_colours(schema)
    row = header
    for rank, unit in ranking(result):
        row += 1
        band = vi.band_of(unit, schema.rubric)
        layout.write_number(ws, row, 0, rank, f.cell_centre)
        layout.write_text(ws, row, 1, unit.unit.code, f.cell_centre)
        layout.write_text(ws, row, 2, unit.unit.name, f.cell)
        score = unit.score
        layout.write_number(ws, row, 3, score.total if score else None, f.score)
        layout.write_text(ws, row, 4, band, f.band(colours.get(band)))
        awarded = {c.key: c.points for c in score.criteria} if score else {}
        for i, criterion in enumerate(criteria):
            layout.write_number(ws, row, 5 + i, awarded.get(str(criterion["key"])), f.score)
        col = 5 + len(criteria)
        layout.write_number(ws, row, col, score.self_score if score else None, f.score)
        layout.write_number(ws, row, col + 1, score.difference if score else None, f.score)
        col += 2
        if previous:
            before = previous.get(unit.unit.code)
            before_score = before.score if before is not None else None
            layout.write_number(ws, row, col, before_score, f.score)
            change = round(score.total - before_score, 2) if score and before_score is not None else None
            layout.write_number(ws, row, col + 1, change, f.change)
            col += 2
        note = score.band_rule if score else vi.unit_status_vi(unit.status)
        layout.write_text(ws, row, col, note, f.cell)
        _fit_row(ws, row, ((unit.unit.name, 32), (note, 40), (band, 16)))
    bands = list(schema.rubric.get("bands", []))
    if row > header and len(bands) >= 3:
        # Traffic lights on the total: green from the top band, amber from the third band.
        ws.conditional_format(
            header + 1,
            3,
            row,
            3,
            {
                "type": "icon_set",
                "icon_style": "3_traffic_lights",
                "icons": [
                    {"criteria": ">=", "type": "number", "value": float(bands[0]["min"])},
                    {"criteria": ">=", "type": "number", "value": float(bands[2]["min"])},
                ],
            },
        )
    layout.finish_table(ws, header, row, last_col, 3)


# ---------------------------------------------------------------- Lỗi kiểm tra, Nguồn


def _issues(wb: Workbook, f: layout.Formats, result: RunResult, schema: Schema) -> None:
    ws = wb.add_worksheet(SHEET_ISSUES)
    columns = [
        ("Tệp", 30),
        ("Đơn vị", 26),
        ("Trang tính", 14),
        ("Ô", 7),
        ("Mã lỗi", 18),
        ("Mức độ", 10),
        ("Nội dung", 70),
    ]
    last_col = len(columns) - 1
    header = _simple_title(ws, f, result, last_col, "CÁC LỖI PHÁT HIỆN KHI KIỂM TRA BÁO CÁO")
    _table_header(ws, f, header, columns)
    row = header
    for submission in result.files:
        for issue in sorted(submission.issues, key=sort_key):
            row += 1
            unit = issue.unit or submission.unit
            layout.write_text(ws, row, 0, issue.file or submission.file.name, f.cell)
            layout.write_text(ws, row, 1, _unit_name(schema, unit), f.cell)
            layout.write_text(ws, row, 2, issue.sheet, f.cell)
            layout.write_text(ws, row, 3, issue.cell, f.cell_centre)
            layout.write_text(ws, row, 4, issue.code, f.cell)
            layout.write_text(ws, row, 5, vi.severity_vi(issue.severity), f.cell_centre)
            layout.write_text(ws, row, 6, issue.message, f.cell)
    layout.finish_table(ws, header, row, last_col, 0)


def _sources(wb: Workbook, f: layout.Formats, result: RunResult, schema: Schema) -> None:
    ws = wb.add_worksheet(SHEET_SOURCES)
    columns = [
        ("Tệp", 36),
        ("SHA-256", 30),
        ("Thời điểm nhận", 17),
        ("Nguồn thời điểm", 18),
        ("Đơn vị", 30),
        ("Trạng thái", 18),
        ("Phiên bản", 10),
    ]
    last_col = len(columns) - 1
    header = _simple_title(ws, f, result, last_col, "CÁC TỆP BÁO CÁO ĐÃ NHẬN")
    version_of = {(u.unit.code, v.sha256): v.label for u in result.units for v in u.history}
    _table_header(ws, f, header, columns)
    tz = result.period.tz
    row = header
    for submission in result.files:
        row += 1
        file = submission.file
        layout.write_text(ws, row, 0, file.name, f.cell)
        layout.write_text(ws, row, 1, file.sha256, f.cell)
        layout.write_text(ws, row, 2, vi.fmt_datetime(file.received_at, tz), f.cell_centre)
        layout.write_text(ws, row, 3, vi.received_source_vi(file.received_source), f.cell)
        layout.write_text(ws, row, 4, _unit_name(schema, submission.unit), f.cell)
        layout.write_text(ws, row, 5, vi.file_status_vi(submission.status), f.cell)
        label = version_of.get((submission.unit or "", file.sha256), "")
        layout.write_text(ws, row, 6, label, f.cell_centre)
    layout.finish_table(ws, header, row, last_col, 0)


# ---------------------------------------------------------------- Chi tiết điểm


def _criteria(wb: Workbook, f: layout.Formats, result: RunResult, schema: Schema) -> None:
    """Every criterion's points for every scored unit, with the rule and figures behind them."""
    ws = wb.add_worksheet(SHEET_CRITERIA)
    columns = [
        ("Mã", 10),
        ("Đơn vị", 28),
        ("Tiêu chí", 30),
        ("Điểm đạt", 8),
        ("Điểm tối đa", 8),
        ("Quy tắc cho điểm", 45),
        ("Số liệu sử dụng", 40),
    ]
    last_col = len(columns) - 1
    header = _simple_title(ws, f, result, last_col, "CHI TIẾT ĐIỂM THEO TỪNG TIÊU CHÍ")
    _table_header(ws, f, header, columns)
    row = header
    for _rank, unit in ranking(result):
        if unit.score is None:
            continue
        for c in unit.score.criteria:
            row += 1
            layout.write_text(ws, row, 0, unit.unit.code, f.cell_centre)
            layout.write_text(ws, row, 1, unit.unit.name, f.cell)
            layout.write_text(ws, row, 2, c.label, f.cell)
            ws.write_number(row, 3, c.points, f.score)
            ws.write_number(row, 4, c.max_points, f.score)
            layout.write_text(ws, row, 5, c.rule, f.cell)
            layout.write_text(ws, row, 6, c.figures, f.cell)
            _fit_row(ws, row, ((c.label, 30), (c.rule, 45), (c.figures, 40)))
        row += 1
        layout.write_text(ws, row, 0, unit.unit.code, f.total_label)
        layout.write_text(ws, row, 1, unit.unit.name, f.total_label)
        layout.write_text(ws, row, 2, "Tổng điểm", f.total_label)
        ws.write_number(row, 3, unit.score.total, f.total_num)
        ws.write_number(row, 4, sum(c.max_points for c in unit.score.criteria), f.total_num)
        layout.write_text(ws, row, 5, unit.score.band_rule, f.total_label)
        ws.write_blank(row, 6, None, f.total_label)
        _fit_row(ws, row, ((unit.unit.name, 28), (unit.score.band_rule, 45)))
    layout.finish_table(ws, header, row, last_col, 2)


# ---------------------------------------------------------------- Thuyết minh, Kiến nghị


def _narratives(wb: Workbook, f: layout.Formats, result: RunResult, schema: Schema) -> None:
    """For each task (then limitations, causes, directions) every unit's text, together."""
    ws = wb.add_worksheet(SHEET_NARRATIVES)
    columns = [("STT", 5), ("Mã", 10), ("Đơn vị", 26), ("Nội dung", 110)]
    last_col = len(columns) - 1
    header = _simple_title(ws, f, result, last_col, "TỔNG HỢP THUYẾT MINH CỦA CÁC ĐƠN VỊ")
    _table_header(ws, f, header, columns)
    reported = [u for u in result.units if u.submission is not None]
    row = header
    for field in schema.narratives:
        if field.key == "n_proposals":
            continue  # on its own sheet
        row += 1
        ws.merge_range(row, 0, row, last_col, "", f.total_label)
        layout.write_text(ws, row, 0, field.label, f.total_label)
        number = 0
        for unit in reported:
            assert unit.submission is not None
            text = unit.submission.values.get(field.key)
            if text is None or str(text).strip() == "":
                continue
            number += 1
            row += 1
            ws.write_number(row, 0, number, f.cell_centre)
            layout.write_text(ws, row, 1, unit.unit.code, f.cell_centre)
            layout.write_text(ws, row, 2, unit.unit.name, f.cell)
            layout.write_text(ws, row, 3, text, f.cell)
            ws.set_row(row, _text_height(str(text), 115))
    layout.finish_table(ws, header, row, last_col, 0)


def proposals(result: RunResult) -> list[tuple[UnitResult, str]]:
    """Every unit's proposals (kiến nghị, đề xuất), registry order."""
    out: list[tuple[UnitResult, str]] = []
    for unit in result.units:
        if unit.submission is None:
            continue
        text = unit.submission.values.get("n_proposals")
        if text is not None and str(text).strip():
            out.append((unit, str(text)))
    return out


def _proposals(wb: Workbook, f: layout.Formats, result: RunResult, schema: Schema) -> None:
    ws = wb.add_worksheet(SHEET_PROPOSALS)
    columns = [("STT", 5), ("Mã", 10), ("Đơn vị", 28), ("Kiến nghị, đề xuất", 100)]
    last_col = len(columns) - 1
    header = _simple_title(ws, f, result, last_col, "TỔNG HỢP KIẾN NGHỊ, ĐỀ XUẤT CỦA CÁC ĐƠN VỊ")
    _table_header(ws, f, header, columns)
    row = header
    for number, (unit, text) in enumerate(proposals(result), start=1):
        row += 1
        ws.write_number(row, 0, number, f.cell_centre)
        layout.write_text(ws, row, 1, unit.unit.code, f.cell_centre)
        layout.write_text(ws, row, 2, unit.unit.name, f.cell)
        layout.write_text(ws, row, 3, text, f.cell)
        ws.set_row(row, _text_height(text, 105))
    layout.finish_table(ws, header, row, last_col, 0)


def _fit_row(ws: Worksheet, row: int, texts: Sequence[tuple[str, float]]) -> None:
    """Row height for the longest wrapped text: (text, column width in characters)."""
    lines = max(max(1, -(-len(text) // int(width * 1.1))) for text, width in texts)
    if lines > 1:
        ws.set_row(row, 15.5 * lines + 2)


def _text_height(text: str, chars_per_line: int) -> float:
    """Row height (points) for wrapped 12 pt text: LibreOffice does not grow rows itself."""
    lines = sum(max(1, -(-len(part) // chars_per_line)) for part in text.split("\n"))
    return min(409.0, 16.0 * lines + 2)


# ---------------------------------------------------------------- Nguồn số liệu


def _provenance(wb: Workbook, f: layout.Formats, result: RunResult, schema: Schema) -> None:
    """Where every figure of the data sheet came from: unit, indicator, file, sheet, cell."""
    ws = wb.add_worksheet(SHEET_PROVENANCE)
    columns = [
        ("Mã", 10),
        ("Đơn vị", 26),
        ("Mã chỉ tiêu", 24),
        ("Chỉ tiêu", 50),
        ("Giá trị", 12),
        ("Tệp", 34),
        ("Trang tính", 12),
        ("Ô", 7),
    ]
    last_col = len(columns) - 1
    header = _simple_title(ws, f, result, last_col, "NGUỒN CỦA TỪNG SỐ LIỆU")
    _table_header(ws, f, header, columns)
    row = header
    for unit in result.units:
        sub = unit.submission
        if sub is None:
            continue
        for field in schema.indicators:
            if not field.applies(unit.unit, result.period.period.code):
                continue
            row += 1
            where = sub.location(field.key, Located(field.sheet, field.cell))
            layout.write_text(ws, row, 0, unit.unit.code, f.cell_centre)
            layout.write_text(ws, row, 1, unit.unit.name, f.cell)
            layout.write_text(ws, row, 2, field.key, f.cell)
            layout.write_text(ws, row, 3, field.label, f.cell)
            layout.write_number(ws, row, 4, sub.values.get(field.key), _value_format(f, field))
            layout.write_text(ws, row, 5, sub.file.name, f.cell)
            layout.write_text(ws, row, 6, where.sheet, f.cell)
            layout.write_text(ws, row, 7, where.cell, f.cell_centre)
    layout.finish_table(ws, header, row, last_col, 2)
