"""The year's rating of the communes and wards (Tốt, Khá, Trung bình, Yếu), the province's own
output since communes report to it directly: every commune and ward with its band, the counts by
band. Written for the last period of the year when the period's registry has communes or wards
(the districts reported these counts before the 2025 reorganisation)."""

from __future__ import annotations

from typing import IO

from pipeline.core.model import RunResult, UnitResult
from pipeline.core.schema import Schema, kind_order
from pipeline.ooxml.xlsx import SplicedSheets, Styles, Workbook
from pipeline.outputs import layout
from pipeline.outputs import vocabulary as vi

LOCAL = ("ward", "commune")
SHEET = "Xếp loại xã, phường"
TITLE = "KẾT QUẢ XẾP LOẠI CÔNG TÁC DÂN VẬN CHÍNH QUYỀN CỦA CÁC XÃ, PHƯỜNG"
COLUMNS: tuple[tuple[str, float], ...] = (
    ("STT", 5),
    ("Mã", 10),
    ("Xã, phường", 34),
    ("Loại", 10),
    ("Tổng điểm", 10),
    ("Xếp loại", 26),
)


def applies(result: RunResult, schema: Schema) -> bool:
    """The year's run (the calendar's last period) of a registry with communes or wards."""
    last = max(p.order for p in schema.calendar.periods)
    return result.period.period.order == last and any(u.unit.kind in LOCAL for u in result.units)


def communes(result: RunResult) -> list[UnitResult]:
    """Every commune and ward of the period's registry: wards first, registry order."""
    return sorted((u for u in result.units if u.unit.kind in LOCAL), key=lambda u: kind_order(u.unit.kind))


def band_counts(result: RunResult, schema: Schema) -> dict[str, int]:
    """Communes and wards per band (the rubric's bands, then the statuses of unscored ones)."""
    counts = {b.name: 0 for b in schema.rubric.bands}
    for u in communes(result):
        band = vi.band_of(u, schema.rubric)
        counts[band] = counts.get(band, 0) + 1
    return counts


def _sheet(
    wb: Workbook, styles: Styles, spliced: SplicedSheets, result: RunResult, schema: Schema
) -> list[layout.TableRow]:
    f = layout.Formats(styles)
    ws = wb.add_worksheet(SHEET)
    last_col = len(COLUMNS) - 1
    row = layout.run_header(ws, f, 2, last_col, result, schema)
    counts = "; ".join(f"{band}: {n}" for band, n in band_counts(result, schema).items())
    header = layout.title_rows(
        ws,
        f,
        row,
        last_col,
        [(TITLE, f.title), (f"{result.period.name_vi} - số xã, phường theo xếp loại: {counts}", f.subtitle)],
    )
    layout.table_header(ws, f, header, COLUMNS)
    listed = communes(result)
    rows = [
        layout.TableRow(
            (
                (i, f.cell_centre, True),
                (u.unit.code, f.cell_centre, False),
                (u.unit.name, f.cell, False),
                (u.unit.kind_vi, f.cell_centre, False),
                (u.score.total if u.score else None, f.score, True),
                (vi.band_of(u, schema.rubric), f.cell_centre, False),
            )
        )
        for i, u in enumerate(listed, start=1)
    ]
    spliced.reserve(ws, header + len(rows), last_col)
    layout.finish_table(ws, header, header + max(len(rows), 1), last_col, 3)
    return rows


def build_commune_bands(result: RunResult, schema: Schema, target: IO[bytes]) -> None:
    """The standalone workbook of the communes' and wards' bands."""
    layout.write_standalone(result, schema, TITLE.capitalize(), _sheet, target)
