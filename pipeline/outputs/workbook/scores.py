"""The ranking sheet ("Xếp loại": rank, total, band, each criterion, the self-score and, from
the second period of a year, the change since the previous period) and "Chi tiết điểm" (every
criterion of every unit, with the rule and figures behind its points)."""

from __future__ import annotations

from pipeline.core import year
from pipeline.core.model import UnitResult
from pipeline.core.score import LEFT_OUT_RULE
from pipeline.core.vietnamese import format_number
from pipeline.ooxml import rowxml
from pipeline.ooxml.rowxml import number, repeated_number, row, text
from pipeline.ooxml.xlsx import SplicedSheets, Workbook
from pipeline.outputs import figures, layout
from pipeline.outputs import vocabulary as vi
from pipeline.outputs.workbook import blocks, year_sheet
from pipeline.outputs.workbook.blocks import (
    RANKING_HEADER_ROW,
    SHEET_CRITERIA,
    SHEET_RANKING,
    W16,
    W28,
    W30,
    W32,
    W40,
    W45,
    Context,
    Sheet,
    band_colours,
    finish,
    fit_height,
    simple_title,
)


def ranking_sheet(wb: Workbook, f: layout.Formats, spliced: SplicedSheets, ctx: Context) -> Sheet:
    result, schema, s = ctx.result, ctx.schema, ctx.styles
    ranked = result.ranking
    ws = wb.add_worksheet(SHEET_RANKING)
    criteria = schema.rubric.criteria
    columns: list[tuple[str, float]] = [
        ("Hạng", 6),
        ("Mã", 10),
        ("Đơn vị", 32),
        ("Tổng điểm", 9),
        ("Xếp loại", 16),
    ]
    columns += [(f"{c.label} ({format_number(c.points)} điểm)", 12) for c in criteria]
    columns += [("Điểm tự chấm", 9), ("Chênh lệch", 9)]
    previous_name, previous = figures.previous_period(result, schema)
    if previous:
        columns += [(f"Điểm {previous_name}", 10), ("Tăng (+), giảm (-) so với kỳ trước", 10)]
    columns += [("Ghi chú", 40)]
    last_col = len(columns) - 1
    header = simple_title(ws, f, result, last_col, "XẾP LOẠI KẾT QUẢ CÔNG TÁC DÂN VẬN CHÍNH QUYỀN")
    assert header == RANKING_HEADER_ROW
    layout.table_header(ws, f, header, columns)
    ws.set_row(header, 90)
    colours = band_colours(schema)
    criterion_keys = [c.key for c in criteria]
    rubric = schema.rubric

    def before(unit: UnitResult) -> float | None:
        past = previous.get(unit.unit.code)
        return past.score if past is not None else None

    def render(block: list[tuple[int | None, UnitResult]]) -> tuple[str, bytes]:
        out = []
        for rank, unit in block:
            band = vi.band_of(unit, rubric)
            score = unit.score
            awarded = {c.key: c.points for c in score.criteria} if score else {}
            note = score.band_rule if score else vi.unit_status_vi(unit.status)
            cells = [
                number(s.centre, rank),
                text(s.centre, unit.unit.code),
                text(s.cell, unit.unit.name),
                number(s.score, score.total if score else None),
                text(s.band[colours.get(band) or ""], band),
                *[repeated_number(s.score, awarded.get(k)) for k in criterion_keys],
                number(s.score, score.self_score if score else None),
                number(s.score, score.difference if score else None),
            ]
            if previous:
                then = before(unit)
                change = round(score.total - then, 2) if score and then is not None else None
                cells += [number(s.score, then), number(s.change, change)]
            cells.append(text(s.cell, note))
            out.append(row("".join(cells), fit_height(((unit.unit.name, W32), (note, W40), (band, W16)))))
        return "".join(out), b""

    sheet = Sheet(ctx, SHEET_RANKING, ws)
    for block in rowxml.blocks(
        ranked, lambda ranked: rowxml.code_hash(ranked[1].unit.code), blocks.BLOCK_SIZE[SHEET_RANKING]
    ):
        # Ranks (and previous scores) are in the key: a unit moving up or down renders again the
        # blocks whose ranks it shifts.
        if previous:
            numbers = [f"{rank}:{before(u)}" for rank, u in block]
        else:
            numbers = [str(rank) for rank, _u in block]
        key = ctx.units_key(
            SHEET_RANKING, "\x1d".join([previous_name, *numbers]), ctx.block([u for _r, u in block])
        )
        sheet.cached(key, lambda block=block: render(block))  # type: ignore[misc]
    last_row = header + len(ranked)
    bands = schema.rubric.bands
    if last_row > header and len(bands) >= 3:
        # Traffic lights on the total: green from the top band, amber from the third band.
        ws.conditional_format(
            header + 1,
            3,
            last_row,
            3,
            {
                "type": "icon_set",
                "icon_style": "3_traffic_lights",
                "icons": [
                    {"criteria": ">=", "type": "number", "value": bands[0].min},
                    {"criteria": ">=", "type": "number", "value": bands[2].min},
                ],
            },
        )
    finish(spliced, ws, header, last_row, last_col, 3)
    return sheet


# ---------------------------------------------------------------- Chi tiết điểm


def criteria_sheet(wb: Workbook, f: layout.Formats, spliced: SplicedSheets, ctx: Context) -> Sheet:
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
    annual = ctx.schema.rubric.annual
    if annual is not None and year.is_year_end(ctx.schema, ctx.result):
        lines = [
            ("CHI TIẾT ĐIỂM THEO TỪNG TIÊU CHÍ", f.title),
            (f"Kỳ báo cáo: {ctx.result.period.name_vi}", f.subtitle),
            (f"Xếp loại năm (thi đua, khen thưởng; xem trang {year_sheet.SHEET}): {annual.rule}", f.subtitle),
        ]
        header = layout.title_rows(ws, f, 0, last_col, lines)
        ws.set_row(len(lines) - 1, 48)  # the rating's rule wraps
    else:
        header = simple_title(ws, f, ctx.result, last_col, "CHI TIẾT ĐIỂM THEO TỪNG TIÊU CHÍ")
    layout.table_header(ws, f, header, columns)
    full = ctx.schema.rubric.total
    s = ctx.styles
    scored = [u for rank, u in ctx.result.ranking if rank is not None]
    # A criterion's label, points and rule repeat on many rows: their cells and the lines they
    # wrap to are worked out once.
    repeated: dict[tuple[str, float, float, str], tuple[str, str, int]] = {}

    def criterion(label: str, points: float, most: float, rule: str) -> tuple[str, str, int]:
        found = repeated.get((label, points, most, rule))
        if found is None:
            before = text(s.cell, label) + repeated_number(s.score, points) + repeated_number(s.score, most)
            lines = max(-(-len(label) // W30), -(-len(rule) // W45))
            found = repeated[(label, points, most, rule)] = (before, text(s.cell, rule), lines)
        return found

    total_label = text(s.total_label, "Tổng điểm")

    def render(units: list[UnitResult]) -> tuple[str, bytes]:
        out = []
        for unit in units:
            score = unit.score
            assert score is not None
            named = text(s.centre, unit.unit.code) + text(s.cell, unit.unit.name)
            for c in score.criteria:
                before, rule, lines = criterion(c.label, c.points, c.max_points, c.rule)
                figures = c.figures
                lines = max(lines, -(-len(figures) // W40))
                out.append(
                    row(
                        named + before + rule + text(s.cell, figures), 15.5 * lines + 2 if lines > 1 else None
                    )
                )
            cells = (
                text(s.total_label, unit.unit.code)
                + text(s.total_label, unit.unit.name)
                + total_label
                + number(s.total_num, score.total)
                # a score rescaled for criteria left out is out of the rubric's total
                + number(
                    s.total_num,
                    full
                    if any(c.rule == LEFT_OUT_RULE for c in score.criteria)
                    else sum(c.max_points for c in score.criteria),
                )
                + text(s.total_label, score.band_rule)
                + s.total_label.blank
            )
            out.append(row(cells, fit_height(((unit.unit.name, W28), (score.band_rule, W45)))))
        return "".join(out), str(len(out)).encode()

    sheet = Sheet(ctx, SHEET_CRITERIA, ws)
    rows = 0
    for block in ctx.blocks(SHEET_CRITERIA, scored):
        key = ctx.units_key(SHEET_CRITERIA, "", block)
        rows += int(sheet.cached(key, lambda block=block: render(block.units)))  # type: ignore[misc]
    finish(spliced, ws, header, header + rows, last_col, 2)
    return sheet
