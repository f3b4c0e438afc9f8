"""The summary sheet ("Tổng hợp"): one printed A4 page for leaders: the header block, the
reporting status, the bands, the seven tasks' key figures, the units needing attention, charts."""

from __future__ import annotations

from typing import Any

from pipeline.core.model import RunResult
from pipeline.core.schema import KINDS_VI, Schema, kind_order
from pipeline.core.vietnamese import format_date, format_datetime
from pipeline.ooxml.xlsx import FONT, Workbook, Worksheet
from pipeline.outputs import figures, layout
from pipeline.outputs.workbook.blocks import (
    RANKING_HEADER_ROW,
    SHEET_RANKING,
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
    if scored and len(result.units) > PAGE_PER_KIND:  # ~150 units: one legible chart per kind
        end = _kind_charts(wb, ws, result, row + 11)
        ws.set_column(_CHART_COL, _CHART_COL + 1, 8, None, {"hidden": True})
        layout.page_setup(ws, landscape=False, header_rows=None)
        ws.fit_to_pages(1, 0)
        ws.print_area(0, 0, end, last_col)
        return
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


def _kind_charts(wb: Workbook, ws: Worksheet, result: RunResult, row: int) -> int:
    """Score charts by kind of unit (highest first), a kind of more than _CHART_UNITS units over
    several charts, each from its own rows of the hidden helper columns; from a new printed
    page, two charts a page. Returns the last row they use."""
    groups: dict[str, list[tuple[str, float]]] = {}
    for rank, u in result.ranking:
        if rank is not None and u.score is not None:
            groups.setdefault(u.unit.kind, []).append((u.unit.name, u.score.total))
    charts: list[tuple[str, list[tuple[str, float]]]] = []
    for kind in sorted(groups, key=kind_order):
        units = groups[kind]
        parts = -(-len(units) // _CHART_UNITS)
        size = -(-len(units) // parts)  # parts of even size
        for n in range(parts):
            title = f"Tổng điểm: {KINDS_VI.get(kind, kind)} (xếp từ cao xuống thấp)"
            if parts > 1:
                title += f", phần {n + 1}/{parts}"
            charts.append((title, units[n * size : (n + 1) * size]))
    data_row = row
    breaks = []
    for n, (title, units) in enumerate(charts):
        if n % 2 == 0:
            breaks.append(row)
        first = data_row
        for name, total in units:
            ws.write_string(data_row, _CHART_COL, name)
            ws.write_number(data_row, _CHART_COL + 1, total)
            data_row += 1
        chart = wb.add_chart({"type": "column"})
        chart.add_series(
            {
                "name": "Tổng điểm",
                "categories": [SHEET_SUMMARY, first, _CHART_COL, data_row - 1, _CHART_COL],
                "values": [SHEET_SUMMARY, first, _CHART_COL + 1, data_row - 1, _CHART_COL + 1],
                "fill": {"color": "#5B9BD5"},
                "gap": 50,
                "data_labels": {"value": True, "num_format": "0", "font": _font(6)},
            }
        )
        _chart_style(chart, title)
        chart.set_y_axis({"min": 0, "max": 100, "major_unit": 20, "num_font": _font(7)})
        chart.set_x_axis({"num_font": {**_font(7), "rotation": -90}})
        chart.set_legend({"none": True})
        chart.show_hidden_data()
        ws.insert_chart(row + 1, 0, chart, {"x_scale": 1.35, "y_scale": 1.5, "object_position": 3})
        row += _CHART_ROWS
    ws.set_h_pagebreaks(breaks)
    return max(row, data_row)


_STATUS_CHART_COLOURS = ("#70AD47", "#FFC000", "#C00000", "#7F7F7F", "#BDD7EE")


def _font(size: float) -> dict[str, Any]:
    return {"name": FONT, "size": size}


def _chart_style(chart: Any, title: str) -> None:
    chart.set_title({"name": title, "name_font": {"name": FONT, "size": 10, "bold": True}})
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
