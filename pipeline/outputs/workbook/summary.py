"""The summary sheet ("Tổng hợp"): one printed A4 page for leaders: the header block, the
reporting status, the bands, the seven tasks' key figures, the units needing attention, charts."""

from __future__ import annotations

from typing import Any

from pipeline.core.model import RunResult
from pipeline.core.schema import KINDS_VI, Schema, kind_order
from pipeline.core.vietnamese import format_date, format_datetime, format_number
from pipeline.ooxml.xlsx import FONT, Workbook, Worksheet
from pipeline.outputs import figures, layout
from pipeline.outputs.workbook.blocks import (
    SHEET_SUMMARY,
    TITLE,
    band_colours,
)
from pipeline.outputs.workbook.data import PAGE_PER_KIND

# Hidden helper column of the summary: short labels and values the charts plot.
_CHART_COL = 7


def write(wb: Workbook, f: layout.Formats, result: RunResult, schema: Schema) -> None:
    """One printed A4 page: header, status, bands, the seven tasks, five units, charts."""
    scored = sum(1 for rank, _u in result.ranking if rank is not None)
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
                f"Kỳ báo cáo: {result.period.name_vi} - hạn nộp {format_date(result.period.deadline)}"
                f" - số liệu tính đến {format_datetime(result.as_of, tz)}",
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
    pie_points: list[str] = []  # the pie: statuses with units only (no empty category)
    for i, (_status, label, count) in enumerate(figures.status_counts(result), start=1):
        if count:
            at = _HELPER_ROW + 10 + len(pie_points)
            ws.write_string(at, _CHART_COL, label)
            ws.write_number(at, _CHART_COL + 1, count, f.int)
            pie_points.append(_STATUS_CHART_COLOURS[(i - 1) % len(_STATUS_CHART_COLOURS)])
        ws.write_number(row, 0, i, f.cell_centre)
        ws.merge_range(row, 1, row, 2, "", f.cell)
        layout.write_text(ws, row, 1, label, f.cell)
        ws.write_number(row, 3, count, f.int)
        layout.write_number(ws, row, 4, share(count), f.pct)
        row += 1
    ws.write_blank(row, 0, None, f.total_label)
    ws.merge_range(row, 1, row, 2, "", f.total_label)
    layout.write_text(ws, row, 1, "Tổng số đơn vị phải báo cáo", f.total_label)
    ws.write_number(row, 3, expected, f.total_int)
    layout.write_number(ws, row, 4, 1.0 if expected else None, f.pct)
    row += 1
    row = _plausibility(ws, f, row, figures.plausibility(result))

    # II. Bands
    layout.write_text(ws, row, 0, "II. KẾT QUẢ XẾP LOẠI", f.label)
    row += 1
    _pair_header(ws, f, row, ("STT", "Xếp loại", "Số đơn vị", "Tỷ lệ"))
    row += 1
    colours = band_colours(schema)
    for i, (band, count) in enumerate(figures.band_counts(result, schema), start=1):
        fmt = f.band(colours.get(band), centre=False)
        ws.write_number(row, 0, i, f.cell_centre)
        ws.merge_range(row, 1, row, 2, "", fmt)
        layout.write_text(ws, row, 1, band, fmt)
        ws.write_number(row, 3, count, f.int)
        layout.write_number(ws, row, 4, share(count), f.pct)
        row += 1

    if len(result.units) > PAGE_PER_KIND:  # ~150 units: the bands of each kind of unit
        row = _by_kind(ws, f, result, schema, row)

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
        if tf.rate is not None:  # the rates chart: only tasks with a rate (no empty category),
            at = _HELPER_ROW + len(rate_rows)  # contiguous in the hidden helper columns
            ws.write_string(at, _CHART_COL, f"Nhiệm vụ {tf.task}")
            ws.write_number(at, _CHART_COL + 1, tf.rate, f.pct)
            rate_rows.append(at)
        row += 1

    # IV. Five units needing most attention: the score a number, the reason in words
    layout.write_text(ws, row, 0, "IV. CÁC ĐƠN VỊ CẦN QUAN TÂM", f.label)
    row += 1
    layout.write_text(ws, row, 0, "STT", f.header)
    layout.write_text(ws, row, 1, "Đơn vị", f.header)
    ws.merge_range(row, 2, row, 3, "", f.header)
    layout.write_text(ws, row, 2, "Lý do", f.header)
    layout.write_text(ws, row, 4, "Điểm", f.header)
    row += 1
    for i, (unit, why) in enumerate(figures.attention(result, schema, with_score=False), start=1):
        ws.write_number(row, 0, i, f.cell_centre)
        layout.write_text(ws, row, 1, unit.unit.name, f.cell)
        ws.merge_range(row, 2, row, 3, "", f.cell)
        layout.write_text(ws, row, 2, why, f.cell)
        layout.write_number(ws, row, 4, unit.score.total if unit.score else None, f.score)
        ws.set_row(row, 16 * max(1, -(-len(why) // 40)) + 3)
        row += 1

    # Charts on the second page: status and task rates, then scores by unit.
    charts_page = row
    ws.set_h_pagebreaks([charts_page])
    row += 1
    sheet = SHEET_SUMMARY
    pie = wb.add_chart({"type": "pie"})
    pie.add_series(
        {
            "name": "Tình hình nộp báo cáo",
            "categories": [
                sheet,
                _HELPER_ROW + 10,
                _CHART_COL,
                _HELPER_ROW + 9 + len(pie_points),
                _CHART_COL,
            ],
            "values": [
                sheet,
                _HELPER_ROW + 10,
                _CHART_COL + 1,
                _HELPER_ROW + 9 + len(pie_points),
                _CHART_COL + 1,
            ],
            "data_labels": {"value": True, "leader_lines": True, "font": _font(CHART_FONT)},
            "points": [{"fill": {"color": c}} for c in pie_points],
        }
    )
    _chart_style(pie, "Tình hình nộp báo cáo")
    pie.set_legend({"position": "bottom", "font": _font(CHART_FONT)})
    ws.insert_chart(row, 0, pie, {"x_scale": 0.68, "y_scale": 1.0, "object_position": 3})
    if rate_rows:
        bars = wb.add_chart({"type": "bar"})
        bars.add_series(
            {
                "name": "Tỷ lệ",
                "categories": [sheet, rate_rows[0], _CHART_COL, rate_rows[-1], _CHART_COL],
                "values": [sheet, rate_rows[0], _CHART_COL + 1, rate_rows[-1], _CHART_COL + 1],
                "data_labels": {"value": True, "num_format": "0%", "font": _font(CHART_FONT)},
                "fill": {"color": "#4472C4"},
            }
        )
        _chart_style(bars, "Tỷ lệ chủ yếu theo nhiệm vụ")
        bars.set_x_axis({"num_format": "0%", "min": 0, "max": 1, "num_font": _font(CHART_FONT)})
        bars.set_y_axis({"num_font": _font(CHART_FONT), "reverse": True})
        bars.set_legend({"none": True})
        bars.show_hidden_data()
        ws.insert_chart(row, 2, bars, {"x_scale": 0.68, "y_scale": 1.0, "object_position": 3})
    if scored and len(result.units) > PAGE_PER_KIND:  # ~150 units: one legible chart per kind
        end = _kind_charts(wb, ws, result, schema, row + 16, charts_page)
        ws.set_column(_CHART_COL, _CHART_COL + 1, 8, None, {"hidden": True})
        layout.page_setup(ws, landscape=False, header_rows=None)
        ws.fit_to_pages(1, 0)
        ws.print_area(0, 0, end, last_col)
        return
    if scored:
        _score_chart(wb, ws, f, result, schema, row + 16)
        last_row = row + 16 + 26
    else:
        last_row = row + 16
    ws.set_column(_CHART_COL, _CHART_COL + 1 + len(schema.rubric.bands), 8, None, {"hidden": True})
    layout.page_setup(ws, landscape=False, header_rows=None)
    ws.fit_to_pages(1, 0)
    ws.print_area(0, 0, last_row, last_col)


CHART_FONT = 12  # printed at about 70% (the page fits its width): 8.4 pt
CHART_UNITS = 60  # units in the score chart: the best ranked, when there are more


def _score_chart(
    wb: Workbook, ws: Worksheet, f: layout.Formats, result: RunResult, schema: Schema, at: int
) -> None:
    """Scores by unit, best first: short names, bars coloured by band, a dashed line at each
    band's threshold. Its figures sit in the summary's hidden helper columns."""
    units = [u for rank, u in result.ranking if rank is not None and u.score is not None][:CHART_UNITS]
    bands = [b for b in schema.rubric.bands if b.min > 0]
    first = _HELPER_ROW + 20  # below the rates chart's figures
    for i, u in enumerate(units):
        ws.write_string(first + i, _CHART_COL, u.unit.label)
        ws.write_number(first + i, _CHART_COL + 1, round(u.score.total, 2) if u.score else 0, f.score)
        for j, band in enumerate(bands):
            ws.write_number(first + i, _CHART_COL + 2 + j, band.min, f.score)
    last = first + len(units) - 1
    colours = band_colours(schema)
    chart = wb.add_chart({"type": "column"})
    chart.add_series(
        {
            "name": "Tổng điểm",
            "categories": [SHEET_SUMMARY, first, _CHART_COL, last, _CHART_COL],
            "values": [SHEET_SUMMARY, first, _CHART_COL + 1, last, _CHART_COL + 1],
            "points": [
                {"fill": {"color": _BAR.get(colours.get(u.score.band if u.score else "", ""), "#7F7F7F")}}
                for u in units
            ],
            "gap": 40,
        }
    )
    lines = wb.add_chart({"type": "line"})
    for j, band in enumerate(bands):
        lines.add_series(
            {
                "name": f"{band.name} từ {format_number(band.min)} điểm",
                "categories": [SHEET_SUMMARY, first, _CHART_COL, last, _CHART_COL],
                "values": [SHEET_SUMMARY, first, _CHART_COL + 2 + j, last, _CHART_COL + 2 + j],
                "line": {"color": _BAR.get(band.color, "#7F7F7F"), "width": 1.5, "dash_type": "dash"},
                "marker": {"type": "none"},
            }
        )
    chart.combine(lines)
    _chart_style(chart, "Tổng điểm theo đơn vị (xếp theo mức xếp loại, rồi theo điểm)")
    chart.set_y_axis({"min": 0, "max": 100, "major_unit": 20, "num_font": _font(CHART_FONT)})
    chart.set_x_axis({"num_font": {**_font(CHART_FONT), "rotation": -90}})
    chart.set_legend({"position": "bottom", "font": _font(CHART_FONT), "delete_series": [0]})
    ws.insert_chart(at, 0, chart, {"x_scale": 1.36, "y_scale": 1.6, "object_position": 3})


_HELPER_ROW = 200  # the score chart's figures: hidden columns, below the printed area
_BAR = {"green": "#70AD47", "blue": "#5B9BD5", "amber": "#FFC000", "red": "#C00000"}


def _by_kind(ws: Worksheet, f: layout.Formats, result: RunResult, schema: Schema, row: int) -> int:
    """Rows under the bands: for each kind of unit, how many units and how many in each band
    ("Tốt/Khá/Trung bình/Yếu"); returns the next free row."""
    bands = [b.name for b in schema.rubric.bands]
    short = {"Trung bình": "TB"}  # the header fits its column
    _pair_header(ws, f, row, ("", "Theo loại đơn vị", "Số đơn vị", "/".join(short.get(b, b) for b in bands)))
    row += 1
    for i, kind in enumerate(sorted({u.unit.kind for u in result.units}, key=kind_order), start=1):
        units = [u for u in result.units if u.unit.kind == kind]
        counts = [sum(1 for u in units if u.score is not None and u.score.band == b) for b in bands]
        ws.write_number(row, 0, i, f.cell_centre)
        ws.merge_range(row, 1, row, 2, "", f.cell)
        layout.write_text(ws, row, 1, KINDS_VI.get(kind, kind), f.cell)
        ws.write_number(row, 3, len(units), f.int)
        layout.write_text(ws, row, 4, "/".join(str(n) for n in counts), f.cell_centre)
        row += 1
    return row


# Score charts of a large registry: at most this many units a chart (names stay legible), two
# charts a printed page, each this many rows tall.
_CHART_UNITS = 40
_CHART_ROWS = 24
KIND_CHART_UNITS = 160  # per kind of unit: four charts (110 communes of Gia Lai: three)


def _kind_charts(
    wb: Workbook, ws: Worksheet, result: RunResult, schema: Schema, row: int, charts_page: int
) -> int:
    """Score charts by kind of unit (highest first), a kind of more than _CHART_UNITS units over
    several charts, each from its own rows of the hidden helper columns; from a new printed
    page, two charts a page. Returns the last printed row."""
    groups: dict[str, list[tuple[str, float, str]]] = {}
    for rank, u in result.ranking:
        if rank is not None and u.score is not None:
            groups.setdefault(u.unit.kind, []).append((u.unit.label, u.score.total, u.score.band))
    colours = band_colours(schema)
    charts: list[tuple[str, list[tuple[str, float, str]]]] = []
    for kind in sorted(groups, key=kind_order):
        units = groups[kind]
        shown = ""
        if len(units) > KIND_CHART_UNITS:  # a national registry: the best ranked; all on "Xếp loại"
            units = units[:KIND_CHART_UNITS]
            shown = f", {KIND_CHART_UNITS} đơn vị đứng đầu"
        parts = -(-len(units) // _CHART_UNITS)
        size = -(-len(units) // parts)  # parts of even size
        for n in range(parts):
            title = f"Tổng điểm: {KINDS_VI.get(kind, kind)} (xếp từ cao xuống thấp{shown})"
            if parts > 1:
                title += f", phần {n + 1}/{parts}"
            charts.append((title, units[n * size : (n + 1) * size]))
    data_row = _HELPER_ROW + 20  # below the status chart's figures, as the score chart's
    breaks = [charts_page]  # the page of the status and rates charts stays
    for n, (title, units) in enumerate(charts):
        if n % 2 == 0:
            breaks.append(row)
        first = data_row
        for name, total, _band in units:
            ws.write_string(data_row, _CHART_COL, name)
            ws.write_number(data_row, _CHART_COL + 1, round(total, 2))
            data_row += 1
        chart = wb.add_chart({"type": "column"})
        chart.add_series(
            {
                "name": "Tổng điểm",
                "categories": [SHEET_SUMMARY, first, _CHART_COL, data_row - 1, _CHART_COL],
                "values": [SHEET_SUMMARY, first, _CHART_COL + 1, data_row - 1, _CHART_COL + 1],
                "points": [
                    {"fill": {"color": _BAR.get(colours.get(band, ""), "#7F7F7F")}} for *_, band in units
                ],
                "gap": 50,
            }
        )
        _chart_style(chart, title)
        chart.set_y_axis({"min": 0, "max": 100, "major_unit": 20, "num_font": _font(CHART_FONT)})
        chart.set_x_axis({"num_font": {**_font(CHART_FONT), "rotation": -90}})
        chart.set_legend({"none": True})
        chart.show_hidden_data()
        ws.insert_chart(row + 1, 0, chart, {"x_scale": 1.35, "y_scale": 1.5, "object_position": 3})
        row += _CHART_ROWS
    ws.set_h_pagebreaks(breaks)
    return row


_STATUS_CHART_COLOURS = ("#70AD47", "#FFC000", "#C00000", "#7F7F7F", "#BDD7EE")


def _font(size: float) -> dict[str, Any]:
    return {"name": FONT, "size": size}


def _chart_style(chart: Any, title: str) -> None:
    chart.set_title({"name": title, "name_font": {"name": FONT, "size": CHART_FONT + 1, "bold": True}})
    chart.set_chartarea({"border": {"none": True}})
    chart.set_style(10)


def _plausibility(ws: Worksheet, f: layout.Formats, row: int, found: figures.Plausibility) -> int:
    """The checks against the units' history: reports with nothing new, figures flagged."""
    lines = (
        ("Trong đó: báo cáo không có nội dung mới", found.nothing_new),
        ("Số liệu biến động bất thường (số ô)", found.outliers),
        ("Trong đó: đơn vị đã giải trình", found.explained),
    )
    for label, count in lines:
        ws.write_blank(row, 0, None, f.cell)
        ws.merge_range(row, 1, row, 2, "", f.cell)
        layout.write_text(ws, row, 1, label, f.cell)
        ws.write_number(row, 3, count, f.int)
        ws.write_blank(row, 4, None, f.cell)
        row += 1
    return row


def _pair_header(ws: Worksheet, f: layout.Formats, row: int, labels: tuple[str, str, str, str]) -> None:
    """STT | label over columns B:C | count | share."""
    layout.write_text(ws, row, 0, labels[0], f.header)
    ws.merge_range(row, 1, row, 2, "", f.header)
    layout.write_text(ws, row, 1, labels[1], f.header)
    layout.write_text(ws, row, 3, labels[2], f.header)
    layout.write_text(ws, row, 4, labels[3], f.header)
