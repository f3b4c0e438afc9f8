"""The ranking of the units: by band first (best band first), then by score, best first, ties
sharing a rank (1, 2, 2, 4), within each kind of unit when the registry has communes or wards;
the units without a score after them, by status (no report, rejected…), in registry order.

Band first: a unit capped to "Khá" for lateness ranks below every "Tốt" unit even with a higher
score (the sheet says so under the table)."""

from __future__ import annotations

from collections.abc import Sequence
from operator import itemgetter

from pipeline.core.model import UnitResult
from pipeline.core.schema import LOCAL_KINDS, kind_order
from pipeline.core.statuses import UnitStatus

Ranked = list[tuple[int | None, UnitResult]]  # (rank, or None for a unit without a score; unit)

_STATUS_ORDER = {s: i for i, s in enumerate(UnitStatus)}


def rank(units: list[UnitResult], bands: Sequence[str] = ()) -> Ranked:
    """Units by band, then score; a registry with communes or wards is ranked within each kind of
    unit (departments, wards, communes: a department is not compared with a commune), the kinds
    in the outputs' order, every scored unit before the unscored ones. `bands`: the rubric's band
    names, best first (none: by score alone)."""
    order = {b: i for i, b in enumerate(bands)}
    by_kind = any(u.unit.kind in LOCAL_KINDS - {"district"} for u in units)
    scored = [
        (
            (
                kind_order(u.unit.kind) if by_kind else 0,
                order.get(u.score.band, len(order)),
                -round(u.score.total, 2),
            ),
            i,
            u,
        )
        for i, u in enumerate(units)
        if u.score is not None
    ]
    scored.sort(key=itemgetter(0, 1))
    unscored = [(_STATUS_ORDER.get(u.status, 99), i, u) for i, u in enumerate(units) if u.score is None]
    unscored.sort(key=itemgetter(0, 1))
    ranked: Ranked = []
    previous: tuple[int, int, float] | None = None
    position_rank = 0
    group, start = -1, 0
    for position, (key, _i, unit) in enumerate(scored, start=1):
        if key[0] != group:  # a new kind: ranks start again
            group, start = key[0], position - 1
        if key != previous:  # the same band and score share a rank
            position_rank = position - start
            previous = key
        ranked.append((position_rank, unit))
    ranked.extend((None, u) for _o, _i, u in unscored)
    return ranked
