"""The ranking of the units: by score, best first, ties sharing a rank (1, 2, 2, 4), within each
kind of unit when the registry has communes or wards; the units without a score after them, by
status (no report, rejected…), in registry order."""

from __future__ import annotations

from operator import itemgetter

from pipeline.core.model import UnitResult
from pipeline.core.schema import LOCAL_KINDS, kind_order
from pipeline.core.statuses import UnitStatus

Ranked = list[tuple[int | None, UnitResult]]  # (rank, or None for a unit without a score; unit)

_STATUS_ORDER = {s: i for i, s in enumerate(UnitStatus)}


def rank(units: list[UnitResult]) -> Ranked:
    """Units by score; a registry with communes or wards is ranked within each kind of unit
    (departments, wards, communes: a department is not compared with a commune), the kinds in
    the outputs' order, every scored unit before the unscored ones."""
    by_kind = any(u.unit.kind in LOCAL_KINDS - {"district"} for u in units)
    scored = [
        (kind_order(u.unit.kind) if by_kind else 0, -round(u.score.total, 2), i, u)
        for i, u in enumerate(units)
        if u.score is not None
    ]
    scored.sort(key=itemgetter(0, 1, 2))
    unscored = [(_STATUS_ORDER.get(u.status, 99), i, u) for i, u in enumerate(units) if u.score is None]
    unscored.sort(key=itemgetter(0, 1))
    ranked: Ranked = []
    previous: tuple[int, float] | None = None
    position_rank = 0
    group, start = -1, 0
    for position, (kind, total, _i, unit) in enumerate(scored, start=1):
        if kind != group:  # a new kind: ranks start again
            group, start = kind, position - 1
        if (kind, total) != previous:
            position_rank = position - start
            previous = (kind, total)
        ranked.append((position_rank, unit))
    ranked.extend((None, u) for _o, _i, u in unscored)
    return ranked
