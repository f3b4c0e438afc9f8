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
            result.status = UnitStatus.LATE if result.days_late > 0 else UnitStatus.ON_TIME
        elif versions:
            result.status = UnitStatus.REJECTED
            result.received_at = versions[-1].file.received_at
        else:
            result.status = UnitStatus.MISSING if period.is_due(as_of) else UnitStatus.NOT_DUE
        results.append(result)
    return results


def on_time_rejection(period: ReportingPeriod, versions: list[Submission]) -> Submission | None:
    """The unit's first file, when it came by the period's deadline and was rejected: the
    version the fairness policy gives a grace period to."""
    ordered = sorted(versions, key=_order)
    if not ordered:
        return None
    first = ordered[0]
    at = first.file.received_at
    return first if at is not None and at <= period.deadline_end and not first.valid else None


def apply_fairness(
    schema: Schema, period: ReportingPeriod, units: list[UnitResult], checked: dict[str, datetime]
) -> None:
    """The fairness policy (schemas/calendar.toml resubmission_policy = "on_time"): a unit whose
    report came on time but was rejected gets a grace period, resubmit_days working days from
    the day the program first found the report rejected (`checked`: sha256 → that run's as-of,
    from the ledger; the day the unit could be told, as its feedback said). A corrected version
    received by then counts as on time. Every unit with such a report gets `grace_until`, which
    letters and feedback quote."""
    if schema.calendar.resubmission_policy != "on_time":
        return
    for u in units:
        rejected = on_time_rejection(period, u.versions)
        if rejected is None:
            continue
        told = checked.get(rejected.file.sha256) or rejected.file.received_at
        assert told is not None
        u.grace_until = period.resubmit_by(told, schema.calendar)
        if u.status != UnitStatus.LATE or u.received_at is None:
            continue
        if u.received_at.astimezone(period.tz).date() <= u.grace_until:
            u.days_late = 0
            u.status = UnitStatus.ON_TIME
            u.resubmitted_in_time = True


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
