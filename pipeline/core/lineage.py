"""The registry over time: which units a unit came from, and what a ceased unit became.

Pure functions over the rows of schemas/units.csv (Schema.registry). A unit that ceases names
its successor(s): several units naming one successor is a merge, a unit naming several is a
split. An official code may be reused by the successor (a merged commune often keeps the code
of one of the communes it came from), so a unit is a row, found by its code and a day.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from pipeline.core.schema import Unit


@dataclass(frozen=True)
class Predecessor:
    """A unit of an earlier day that became (all or part of) a unit of a later day."""

    unit: Unit
    whole: bool  # it became this unit only (a merge, or no change); False: split among several


def unit_at(registry: Sequence[Unit], code: str, day: date) -> Unit | None:
    """The row of `code` valid on `day`."""
    return _at(_by_code(registry), code, day)


def _by_code(registry: Sequence[Unit]) -> dict[str, list[Unit]]:
    rows: dict[str, list[Unit]] = {}
    for u in registry:
        rows.setdefault(u.code, []).append(u)
    return rows


def _at(rows: dict[str, list[Unit]], code: str, day: date) -> Unit | None:
    return next((u for u in rows.get(code, ()) if u.valid_on(day)), None)


def predecessors_of_all(
    registry: Sequence[Unit], units: Sequence[Unit], day: date, back_to: date
) -> dict[str, tuple[Predecessor, ...]]:
    """`predecessors` of every unit of `units` (valid on `day`), by code, each old unit's fate
    followed once: a run asks this for every unit of its registry."""
    wanted = {u.code: u for u in units}
    found: dict[str, list[Predecessor]] = {code: [] for code in wanted}
    rows = _by_code(registry)  # one index: a registry of thousands of rows is followed once
    for old in registry:
        if not old.valid_on(back_to):
            continue
        became = _fate(rows, old, day)
        for u in became:
            if wanted.get(u.code) == u:
                found[u.code].append(Predecessor(old, whole=len(became) == 1))
    return {code: tuple(p) for code, p in found.items()}


def _after(rows: dict[str, list[Unit]], unit: Unit) -> list[Unit]:
    """The rows `unit` became on the day after it ceased."""
    if unit.valid_to is None:
        return []
    day = unit.valid_to + timedelta(days=1)
    return [s for code in unit.successors if (s := _at(rows, code, day)) is not None]


def fate(registry: Sequence[Unit], unit: Unit, day: date) -> tuple[Unit, ...]:
    """The units valid on `day` that `unit` (of an earlier day) became: itself when it still
    exists, else its successors' fates, followed through every change up to `day`."""
    return _fate(_by_code(registry), unit, day)


def _fate(rows: dict[str, list[Unit]], unit: Unit, day: date) -> tuple[Unit, ...]:
    found: list[Unit] = []
    todo, seen = [unit], set()
    while todo:
        u = todo.pop(0)
        if (u.code, u.valid_from) in seen:
            continue
        seen.add((u.code, u.valid_from))
        if u.valid_on(day):
            if u not in found:
                found.append(u)
        elif u.valid_to is not None and u.valid_to < day:
            todo += _after(rows, u)
    return tuple(found)


def predecessors(registry: Sequence[Unit], unit: Unit, day: date, back_to: date) -> tuple[Predecessor, ...]:
    """The units valid on `back_to` that became `unit` (valid on `day`): the unit itself when
    nothing changed in between, or the units merged into it, or the units it was split from.
    Ordered as in the registry."""
    found = []
    rows = _by_code(registry)
    for old in registry:
        if not old.valid_on(back_to):
            continue
        became = _fate(rows, old, day)
        if unit in became:
            found.append(Predecessor(old, whole=len(became) == 1))
    return tuple(found)


def ceased(
    registry: Sequence[Unit], candidates: Sequence[Unit], day: date
) -> tuple[Unit, tuple[Unit, ...]] | None:
    """Among `candidates` (rows matched from what a report says), the one that no longer exists
    on `day`, with the units valid on `day` it became; None when none has ceased."""
    for u in candidates:
        if u.valid_to is not None and u.valid_to < day:
            return u, fate(registry, u, day)
    return None


def changes(
    registry: Sequence[Unit], since: date, day: date
) -> list[tuple[tuple[Unit, ...], tuple[Unit, ...]]]:
    """The registry's changes between two days, as (units before, units after) pairs: a merge
    is several → one, a split one → several; units that did not change are left out."""
    pairs: dict[tuple[str, ...], tuple[list[Unit], tuple[Unit, ...]]] = {}
    rows = _by_code(registry)
    for old in registry:
        if not old.valid_on(since) or old.valid_on(day):
            continue
        became = _fate(rows, old, day)
        key = tuple(sorted(u.code for u in became))
        pairs.setdefault(key, ([], became))[0].append(old)
    return [(tuple(before), after) for before, after in pairs.values()]
