"""The ranking of the units: by band first (best band first), then by score, best first, ties
sharing a rank (1, 2, 2, 4); the units without a score after them, by status (no report,
rejected…), in registry order.

Band first: a unit capped to "Khá" for lateness ranks below every "Tốt" unit even with a higher
score (the sheet says so under the table)."""

from __future__ import annotations

from collections.abc import Sequence
from operator import itemgetter

from pipeline.core.model import UnitResult
from pipeline.core.statuses import UnitStatus

Ranked = list[tuple[int | None, UnitResult]]  # (rank, or None for a unit without a score; unit)

_STATUS_ORDER = {s: i for i, s in enumerate(UnitStatus)}


def rank(units: list[UnitResult], bands: Sequence[str] = ()) -> Ranked:
    """`bands`: the rubric's band names, best first (none: by score alone)."""
    order = {b: i for i, b in enumerate(bands)}
    scored = [
        ((order.get(u.score.band, len(order)), -round(u.score.total, 2)), i, u)
        for i, u in enumerate(units)
        if u.score is not None
    ]
    scored.sort(key=itemgetter(0, 1))
    unscored = [(_STATUS_ORDER.get(u.status, 99), i, u) for i, u in enumerate(units) if u.score is None]
    unscored.sort(key=itemgetter(0, 1))
    ranked: Ranked = []
    previous: tuple[int, float] | None = None
    position_rank = 0
    for position, (total, _i, unit) in enumerate(scored, start=1):
        if total != previous:
            position_rank = position
            previous = total
        ranked.append((position_rank, unit))
    ranked.extend((None, u) for _o, _i, u in unscored)
    return ranked
