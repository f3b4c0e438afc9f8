"""Merge: for each unit keep the latest valid submission, decide its status, sum the totals."""

from __future__ import annotations

from datetime import datetime

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


def _resent_in_time(
    schema: Schema, period: ReportingPeriod, versions: list[Submission], decisive: Submission
) -> bool:
    """The fairness policy (schemas/calendar.toml resubmission_policy = "on_time"): a report
    received on time and rejected, whose corrected version came by the resubmission deadline
    (resubmit_days working days after the rejected version was received), counts as on time."""
    calendar = schema.calendar
    received = decisive.file.received_at
    if calendar.resubmission_policy != "on_time" or received is None:
        return False
    for sub in versions:
        if sub is decisive:
            return False
        at = sub.file.received_at
        if at is not None and not sub.valid and at <= period.deadline_end:
            return received <= period.resubmission_end(at, calendar)
    return False


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
