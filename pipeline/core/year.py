"""The year so far, per unit: each period's status, days late, score and band, and the
annual rating of the year's last period (pipeline.core.schema.AnnualRule).

The earlier periods come from the ledger's recorded results (RunResult.past), the current one
from the run itself. `year_history` is the one place the year's rows of a unit are looked up:
a unit that replaced others would gather its predecessors' rows here.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.core.model import RunResult, UnitResult
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
    for p in past:
        entries = out.get(p.unit)
        if entries is not None:
            entries.append(
                PeriodEntry(p.period_id, codes.get(p.order, ""), p.status, p.days_late, p.score, p.band)
            )
    for u in result.units:
        out[u.unit.code].append(_now(result, u))
    return out


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
