"""Merge: for each unit keep the latest valid submission, decide its status, sum the totals."""

from __future__ import annotations

from datetime import date, datetime

from pipeline.core.deadlines import ReportingPeriod
from pipeline.core.issues import make_issue
from pipeline.core.model import Submission, UnitResult
from pipeline.core.schema import Schema
from pipeline.core.statuses import FileStatus, UnitStatus

_EPOCH = datetime.fromisoformat("1970-01-01T00:00:00+00:00")


def _order(sub: Submission) -> tuple[datetime, str]:
    return (sub.file.received_at or _EPOCH, sub.file.name)


def merge(
    schema: Schema, submissions: list[Submission], period: ReportingPeriod, as_of: datetime
) -> list[UnitResult]:
    """Decide each submission's status and each registry unit's status, in registry order."""
    by_unit: dict[str, list[Submission]] = {}
    for sub in submissions:
        if sub.status == FileStatus.IGNORED:
            continue
        if sub.unit is not None and sub.unit in schema.unit_by_code:
            by_unit.setdefault(sub.unit, []).append(sub)
        sub.status = FileStatus.REJECTED  # until chosen below
    results: list[UnitResult] = []
    for unit in schema.units:
        versions = sorted(by_unit.get(unit.code, []), key=_order)
        valid = [s for s in versions if s.valid]
        result = UnitResult(unit=unit, status=UnitStatus.MISSING, versions=versions)
        if valid:
            chosen = valid[-1]
            chosen.status = FileStatus.ACCEPTED
            for older in valid[:-1]:
                older.status = FileStatus.SUPERSEDED
                older.issues.append(
                    make_issue(
                        schema, "superseded", file=older.file.name, unit=unit.code, other=chosen.file.name
                    )
                )
            decisive = valid[0] if schema.calendar.timeliness_from == "first_valid" else chosen
            result.submission = chosen
            result.received_at = decisive.file.received_at
            result.days_late = period.days_late(result.received_at) if result.received_at else 0
            if result.days_late and _resent_in_time(schema, period, versions, decisive):
                result.days_late = 0
                result.resubmitted_in_time = True
            result.status = UnitStatus.LATE if result.days_late > 0 else UnitStatus.ON_TIME
        elif versions:
            result.status = UnitStatus.REJECTED
            result.received_at = versions[-1].file.received_at
        else:
            result.status = UnitStatus.MISSING if period.is_due(as_of) else UnitStatus.NOT_DUE
        results.append(result)
    return results


def grace_deadline(schema: Schema, period: ReportingPeriod, versions: list[Submission]) -> date | None:
    """Under the fairness policy "on_time" (schemas/calendar.toml resubmission_policy), the day
    by which a unit whose report came on time but was rejected must send the corrected version
    to be counted on time: resubmit_days working days after that rejected version was received
    (never before the period's deadline). None when the policy or the unit's files do not give
    one. Letters and feedback quote this same day."""
    if schema.calendar.resubmission_policy != "on_time":
        return None
    for sub in sorted(versions, key=_order):
        at = sub.file.received_at
        if at is None or at > period.deadline_end:
            return None
        if not sub.valid:
            return period.resubmit_by(at, schema.calendar)
    return None


def _resent_in_time(
    schema: Schema, period: ReportingPeriod, versions: list[Submission], decisive: Submission
) -> bool:
    """The decisive version came after the deadline but by the grace deadline of an earlier,
    on-time, rejected version."""
    received = decisive.file.received_at
    grace = grace_deadline(schema, period, [s for s in versions if _order(s) < _order(decisive)])
    return received is not None and grace is not None and received.astimezone(period.tz).date() <= grace


def totals(schema: Schema, results: list[UnitResult]) -> dict[str, int | float]:
    """Indicator key → sum over the accepted submissions (blank counts as nothing)."""
    sums: dict[str, int | float] = {f.key: 0 for f in schema.indicators}
    for r in results:
        if r.submission is None:
            continue
        values = r.submission.values
        for key in sums:
            v = values.get(key)
            if isinstance(v, (int, float)):
                sums[key] += v
    return sums
