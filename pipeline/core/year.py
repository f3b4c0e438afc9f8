"""The year so far, per unit: each period's status, days late, score and band, and the
annual rating of the year's last period (pipeline.core.schema.AnnualRule).

The earlier periods come from the ledger's recorded results (RunResult.past), the current one
from the run itself. `year_history` is the one place the year's rows of a unit are looked up.
A unit formed during the year by a merge (schemas/units.csv `valid_from`, the merged units'
`successor`) has, for the periods before it existed, the results of the units merged into it:
their list (`PeriodEntry.parts`), summed up as the worst status, the most days late and the mean
score (a split unit's results are not divided: they are left out, as for the previous year).
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.core import lineage
from pipeline.core.deadlines import parse_period
from pipeline.core.model import PastResult, RunResult, UnitResult
from pipeline.core.schema import Schema
from pipeline.core.statuses import UnitStatus
from pipeline.core.vietnamese import format_number


@dataclass(frozen=True)
class PeriodEntry:
    period: str  # period id, "2023-Q1"
    code: str  # "Q1"
    status: str  # a UnitStatus value
    days_late: int
    score: float | None
    band: str
    # The units merged into this one, when the period is from before the merge: (code, name as
    # written inside a sentence, their entry) each; empty for the unit's own result.
    parts: tuple[tuple[str, str, PeriodEntry], ...] = ()


@dataclass(frozen=True)
class Annual:
    """The annual rating: the year report's score weighted with the year's reporting record."""

    record: float  # points of the reporting record, out of 100
    score: float | None  # None without a scored year report
    band: str
    figures: str  # how it was computed, in Vietnamese


def shown(result: RunResult) -> bool:
    """The year sheet appears from the second period of a year on."""
    return result.period.period.order > 1


def is_year_end(schema: Schema, result: RunResult) -> bool:
    return result.period.period.order == max(p.order for p in schema.calendar.periods)


def year_history(schema: Schema, result: RunResult) -> dict[str, list[PeriodEntry]]:
    """Unit code → the year's periods so far, oldest first (this run's period last)."""
    codes = {p.order: p.code for p in schema.calendar.periods}
    out: dict[str, list[PeriodEntry]] = {u.unit.code: [] for u in result.units}
    past = sorted(
        (p for p in result.past if p.year == result.period.year and p.order < result.period.period.order),
        key=lambda p: p.order,
    )
    deadlines = {pid: parse_period(pid, schema.calendar).deadline for pid in {p.period_id for p in past}}
    units = {u.unit.code: u.unit for u in result.units}
    for p in past:
        unit = units.get(p.unit)
        # a reused code (a merged commune keeping an old commune's code): the old row's result
        if unit is not None and unit.valid_on(deadlines[p.period_id]):
            out[p.unit].append(_entry(p, codes))
    _merged_entries(schema, result, past, codes, out)
    for u in result.units:
        out[u.unit.code].append(_now(result, u))
    return out


def _entry(p: PastResult, codes: dict[int, str]) -> PeriodEntry:
    return PeriodEntry(p.period_id, codes.get(p.order, ""), p.status, p.days_late, p.score, p.band)


_WORST_FIRST = (UnitStatus.MISSING, UnitStatus.REJECTED, UnitStatus.LATE, UnitStatus.ON_TIME)


def _merged_entries(
    schema: Schema,
    result: RunResult,
    past: list[PastResult],
    codes: dict[int, str],
    out: dict[str, list[PeriodEntry]],
) -> None:
    """For every unit without its own result of an earlier period of the year, the results of
    the units merged into it, if the ledger has them (inserted in period order)."""
    recorded = {(p.unit, p.period_id): p for p in past}
    periods = sorted(schema.calendar.periods, key=lambda c: c.order)
    order = {f"{result.period.year}-{c.code}": c.order for c in periods}
    for period in (c for c in periods if c.order < result.period.period.order):
        pid = f"{result.period.year}-{period.code}"
        lacking = [u.unit for u in result.units if all(e.period != pid for e in out[u.unit.code])]
        if not lacking:
            continue
        day = parse_period(pid, schema.calendar).deadline
        found = lineage.predecessors_of_all(schema.registry, lacking, result.period.deadline, day)
        for unit in lacking:
            parts = tuple(
                (p.unit.code, p.unit.in_sentence, _entry(recorded[(p.unit.code, pid)], codes))
                for p in found.get(unit.code, ())
                if p.whole and p.unit != unit and (p.unit.code, pid) in recorded
            )
            if not parts:
                continue
            entries = [e for _c, _n, e in parts]
            statuses = {e.status for e in entries}
            status = next((s for s in _WORST_FIRST if s in statuses), entries[0].status)
            scores = [e.score for e in entries if e.score is not None]
            score = round(sum(scores) / len(scores), 2) if scores else None
            if score is not None:
                bands = schema.rubric.bands
                band = next((b for b in bands if score >= b.min), bands[-1]).name
            else:
                band = schema.rubric.status_band(status) or ""
            merged = PeriodEntry(
                pid, period.code, status, max(e.days_late for e in entries), score, band, parts
            )
            out[unit.code].append(merged)
            out[unit.code].sort(key=lambda e: order[e.period])


def _now(result: RunResult, u: UnitResult) -> PeriodEntry:
    score = None if u.score is None else round(u.score.total, 2)
    return PeriodEntry(result.period.id, result.period.period.code, u.status, u.days_late, score, u.band)


def annual_rating(schema: Schema, entries: list[PeriodEntry]) -> Annual | None:
    """The annual rating from a unit's year (its last entry the year report); None without an
    annual rule in the rubric."""
    rule = schema.rubric.annual
    if rule is None or not entries:
        return None
    record = sum(rule.points_of(e.status) for e in entries) / len(entries)
    last = entries[-1]
    if last.score is None:
        band = schema.rubric.status_band(last.status) or schema.rubric.bands[-1].name
        return Annual(round(record, 2), None, band, "Không có báo cáo năm được chấm điểm")
    score = round(rule.report_weight * last.score + rule.record_weight * record, 2)
    bands = schema.rubric.bands
    band = next((b for b in bands if score >= b.min), bands[-1]).name
    figures = (
        f"{format_number(rule.report_weight)} × {format_number(last.score)}"
        f" + {format_number(rule.record_weight)} × {format_number(round(record, 2))}"
        f" = {format_number(score)}"
    )
    return Annual(round(record, 2), score, band, figures)


def counts(entries: list[PeriodEntry]) -> tuple[int, int, int]:
    """The year's late, missing and rejected periods."""
    return (
        sum(1 for e in entries if e.status == UnitStatus.LATE),
        sum(1 for e in entries if e.status == UnitStatus.MISSING),
        sum(1 for e in entries if e.status == UnitStatus.REJECTED),
    )
