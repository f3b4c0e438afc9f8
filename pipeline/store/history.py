"""Version history and period consistency, kept in the ledger.

Every version of a unit's report (by content, sha256) is recorded on each run with its
received time, validity, status and values. From that record:

- each unit's history for the period (the consolidated workbook's "Phiên bản" column and the
  "versions" list of run.json);
- each unit's results per period (score, band, lateness, errors), for the change since the
  previous period and the inspection list's repeated lateness and errors;
- period consistency: cumulative (flow) figures never decrease from Q1 to H1 to 9M to Y within
  a year, so a run of a later period compares each unit's consolidated figures with its accepted
  figures of the earlier periods and warns about every decrease, quoting both values.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from pipeline.core import lineage, merge
from pipeline.core.deadlines import ReportingPeriod, period_name
from pipeline.core.issues import make_issue
from pipeline.core.model import Located, PastResult, PreviousYear, RunResult, UnitResult, Value, Version
from pipeline.core.schema import Schema, Unit
from pipeline.core.statuses import FileStatus
from pipeline.core.vietnamese import format_number
from pipeline.store.cache import Cache
from pipeline.store.ledger import Ledger, ScoreRow, VersionRow


def _json_value(v: Value) -> int | float | str | None:
    if isinstance(v, date):
        return v.isoformat()
    return v


def record(
    ledger: Ledger,
    cache: Cache | None,
    period: ReportingPeriod,
    units: list[UnitResult],
    stored: dict[str, list[VersionRow]],
) -> list[VersionRow]:
    """Store every version of every unit seen in this run, with the status merge gave it;
    returns the rows written.

    A version already stored with the same unit, validity and status is not written again
    when the cache says the period's figures were stored under its fingerprint (the same bytes
    read by the same program with the same form give the same figures): a rerun writes only
    what changed. `stored`: the period's versions as Ledger.versions_by_unit gives them.
    """
    same_program = cache is not None and cache.recorded(period.id)
    states: dict[str, tuple[str, bool, str]] = {}
    if same_program:
        states = {r.sha256: (r.unit, r.valid, r.status) for rows in stored.values() for r in rows}
    rows = [
        VersionRow(
            sha256=sub.file.sha256,
            period_id=period.id,
            unit=u.unit.code,
            file_name=sub.file.name,
            received_at=sub.file.received_at,
            valid=sub.valid,
            status=sub.status,
            values={k: _json_value(v) for k, v in sub.values.items()},
        )
        for u in units
        for sub in u.versions
        if sub.file.received_at is not None
        and sub.file.sha256
        and states.get(sub.file.sha256) != (u.unit.code, sub.valid, sub.status)
    ]
    ledger.record_versions(rows)
    if cache is not None and not same_program:
        cache.mark_recorded(period.id)
    return rows


def attach_history(units: list[UnitResult], stored: dict[str, list[VersionRow]]) -> None:
    """UnitResult.history: every version the ledger knows for the unit and period, oldest first
    (`stored`: Ledger.versions_by_unit for the period)."""
    for u in units:
        here = {s.file.sha256: s for s in u.versions}
        rows = stored.get(u.unit.code, [])
        u.history = [
            Version(
                number=n,
                of=len(rows),
                file=here[r.sha256].file.name if r.sha256 in here else r.file_name,
                sha256=r.sha256,
                received_at=r.received_at,
                status=here[r.sha256].status if r.sha256 in here else r.status,
                in_inbox=r.sha256 in here,
            )
            for n, r in enumerate(rows, start=1)
        ]


def _earlier_periods(schema: Schema, period: ReportingPeriod) -> list[tuple[str, str]]:
    """(period id, Vietnamese name) of the same year's earlier periods, nearest first."""
    periods = sorted(schema.calendar.periods, key=lambda p: p.order)
    earlier = [p for p in periods if p.order < period.period.order]
    return [(f"{period.year}-{p.code}", period_name(p.name, period.year)) for p in reversed(earlier)]


def earlier_periods(schema: Schema, period: ReportingPeriod) -> list[tuple[str, str, int]]:
    """(period id, Vietnamese name, order) of the same year's earlier periods, oldest first."""
    periods = sorted(schema.calendar.periods, key=lambda p: p.order)
    return [
        (f"{period.year}-{p.code}", period_name(p.name, period.year), p.order)
        for p in periods
        if p.order < period.period.order
    ]


def last_year_periods(schema: Schema, period: ReportingPeriod) -> list[tuple[str, str, int]]:
    """(period id, Vietnamese name, order) of the previous year's same period and the one before
    it (for that period's own increment), oldest first."""
    periods = sorted(schema.calendar.periods, key=lambda p: p.order)
    year = period.year - 1
    wanted = [p for p in periods if p.order in (period.period.order - 1, period.period.order)]
    return [(f"{year}-{p.code}", period_name(p.name, year), p.order) for p in wanted]


# unit code → period id → the unit's accepted (consolidated) version of that period
Accepted = dict[str, dict[str, VersionRow]]


def accepted_versions(ledger: Ledger, period_ids: list[str]) -> Accepted:
    """Every unit's accepted version of each of the periods, with its figures, in one read."""
    out: Accepted = {}
    for unit, rows in ledger.versions_by_unit(period_ids).items():
        for row in rows:
            if row.status == FileStatus.ACCEPTED:
                out.setdefault(unit, {})[row.period_id] = row  # oldest first: the latest accepted wins
    return out


def period_figures(ledger: Ledger, period_id: str) -> dict[str, dict[str, Value]]:
    """Each unit's accepted (consolidated) figures for the period, as the ledger stored them
    (dates as ISO text)."""
    return _figures(accepted_versions(ledger, [period_id]), period_id)


def _figures(accepted: Accepted, period_id: str) -> dict[str, dict[str, Value]]:
    return {unit: dict(rows[period_id].values) for unit, rows in accepted.items() if period_id in rows}


@dataclass(frozen=True)
class Read:
    """What `apply` reads once from the ledger for the run's later checks and comparisons: the
    accepted versions of the year's earlier periods and of the previous year's same period and
    the one before it."""

    recorded: Accepted  # as the ledger holds them, by the code that sent them
    # the same, with the previous year of a unit formed by a merge summed from its predecessors
    through_lineage: Accepted


def _last_year_through_lineage(
    schema: Schema, period: ReportingPeriod, units: list[UnitResult], recorded: Accepted
) -> Accepted:
    """`recorded`, where a unit formed by a merge since the previous year has its accepted
    versions of the previous year's periods summed from its predecessors' (pipeline.core.lineage),
    so that every same-period comparison (outliers, unchanged reports) sees the units it came
    from. `recorded` itself when no unit of the registry ever ceased."""
    if not any(u.successors for u in schema.registry):
        return recorded
    accepted = {unit: dict(rows) for unit, rows in recorded.items()}
    day = schema.registry_date or period.deadline
    current = [u.unit for u in units]
    for pid, _name, order in last_year_periods(schema, period):
        code = next(p.code for p in schema.calendar.periods if p.order == order)
        back_to = ReportingPeriod(period.year - 1, schema.calendar.period(code), period.tz).deadline
        for unit_code, preds in lineage.predecessors_of_all(schema.registry, current, day, back_to).items():
            whole = [p.unit.code for p in preds if p.whole]
            rows = [accepted[c][pid] for c in whole if pid in accepted.get(c, {})]
            if not rows or whole == [unit_code]:
                continue
            summed: dict[str, Any] = {}
            for row in rows:
                for key, value in row.values.items():
                    if isinstance(value, (int, float)) and not isinstance(value, bool):
                        summed[key] = summed.get(key, 0) + value
            first = rows[0]
            accepted.setdefault(unit_code, {})[pid] = VersionRow(
                sha256="+".join(r.sha256 for r in rows),
                period_id=pid,
                unit=unit_code,
                file_name="; ".join(r.file_name for r in rows),
                received_at=first.received_at,
                valid=True,
                status=first.status,
                values=summed,
            )
    return accepted


def last_year_rows(accepted: Accepted, unit: Unit) -> dict[str, VersionRow]:
    """The unit's accepted versions of the previous year's periods. The one place a
    previous-year lookup goes through: a unit that replaced others would look up its
    predecessors here."""
    return accepted.get(unit.code, {})


def check_flows(
    schema: Schema,
    ledger: Ledger,
    period: ReportingPeriod,
    units: list[UnitResult],
    accepted_before: Accepted | None = None,
) -> None:
    """A warning on the consolidated version for each flow figure below an earlier period's
    (`accepted_before`: accepted_versions of the year's earlier periods, when already read)."""
    earlier = _earlier_periods(schema, period)
    if not earlier:
        return
    names = dict(earlier)
    flows = [f for f in schema.indicators if f.kind == "flow" and f.numeric]
    if accepted_before is None:
        accepted_before = accepted_versions(ledger, [pid for pid, _ in earlier])
    for u in units:
        sub = u.submission
        if sub is None:
            continue
        accepted = accepted_before.get(u.unit.code, {})
        for f in flows:
            now = sub.values.get(f.key)
            if not isinstance(now, (int, float)) or isinstance(now, bool):
                continue
            for pid, _ in earlier:  # nearest earlier period with a larger figure
                row = accepted.get(pid)
                if row is None:
                    continue
                before = row.values.get(f.key)
                if isinstance(before, (int, float)) and not isinstance(before, bool) and now < before:
                    loc = sub.location(f.key, _default(schema, f.key))
                    sub.issues.append(
                        make_issue(
                            schema,
                            "flow-decreased",
                            file=sub.file.name,
                            sheet=loc.sheet,
                            cell=loc.cell,
                            unit=u.unit.code,
                            key=f.key,
                            value=format_number(now),
                            period=period.name_vi,
                            other_value=format_number(before),
                            other_period=names[pid],
                            other=row.file_name,
                        )
                    )
                    break


def _default(schema: Schema, key: str) -> Located:
    f = schema.field_by_key[key]
    return Located(f.sheet, f.cell)


def apply(
    schema: Schema, ledger: Ledger, cache: Cache | None, period: ReportingPeriod, units: list[UnitResult]
) -> Read:
    """Check period consistency, record this run's versions, then read back each unit's history.
    Returns the accepted versions of the year's earlier periods and of the previous year's same
    period and the one before it, read once here (the outlier and unchanged-report checks, the
    previous year and the report's comparisons use them)."""
    ids = [pid for pid, _n, _o in earlier_periods(schema, period) + last_year_periods(schema, period)]
    recorded = accepted_versions(ledger, ids)
    accepted = _last_year_through_lineage(schema, period, units, recorded)
    check_flows(schema, ledger, period, units, accepted)
    # The period's versions are read once: for what record need not write again, and, with
    # the units whose versions it wrote read again, for the history.
    stored = ledger.versions_by_unit([period.id], values=False)
    owner = {r.sha256: unit for unit, rows in stored.items() for r in rows}
    written = record(ledger, cache, period, units, stored)
    touched = {r.unit for r in written} | {owner[r.sha256] for r in written if r.sha256 in owner}
    if touched:
        fresh = ledger.versions_by_unit([period.id], values=False, units=sorted(touched))
        for unit in touched:
            stored[unit] = fresh.get(unit, [])
    attach_history(units, stored)
    return Read(recorded, accepted)


def rejection_checks(
    ledger: Ledger, period: ReportingPeriod, units: list[UnitResult], as_of: datetime
) -> dict[str, datetime]:
    """sha256 → the as-of of the run that first found it rejected, for each unit's first file
    when it came on time and was rejected (the fairness policy's grace counts from that day);
    this run's as-of for the ones found now."""
    found = {
        first.file.sha256: as_of
        for u in units
        if (first := merge.on_time_rejection(period, u.versions)) is not None and first.file.sha256
    }
    return ledger.first_rejections(period.id, found)


def comparison_totals(
    schema: Schema,
    ledger: Ledger,
    period: ReportingPeriod,
    past: list[PastResult],
    read: Read | None = None,
) -> dict[str, dict[str, int | float]]:
    """Period id → the totals of every indicator over the units' accepted figures, for the
    previous period of the year and the same period of the previous year, when the ledger holds
    results for them (the report's "so với kỳ trước, cùng kỳ năm trước"). `read`: what `apply`
    read (both periods are among it), else they are read from the ledger."""
    recorded = {p.period_id for p in past}
    earlier = [pid for pid, _name in _earlier_periods(schema, period)[:1]]
    wanted = [pid for pid in (*earlier, f"{period.year - 1}-{period.period.code}") if pid in recorded]
    accepted = read.recorded if read is not None else accepted_versions(ledger, wanted)
    out: dict[str, dict[str, int | float]] = {}
    for pid in wanted:
        sums: dict[str, int | float] = {f.key: 0 for f in schema.indicators}
        for values in _figures(accepted, pid).values():
            for key in sums:
                v = values.get(key)
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    sums[key] += v
        out[pid] = sums
    return out


def earlier_results(ledger: Ledger, period: ReportingPeriod) -> list[PastResult]:
    """Every recorded unit result of periods before `period` (earlier years included)."""
    return [
        PastResult(
            period_id=r[0],
            year=r[1],
            order=r[2],
            unit=r[3],
            status=r[4],
            score=r[5],
            band=r[6],
            days_late=r[7],
            errors=r[8],
        )
        for r in ledger.results_before(period.year, period.period.order)
    ]


def record_results(ledger: Ledger, result: RunResult) -> None:
    """Replace this period's recorded unit results with this run's."""
    rows: list[ScoreRow] = []
    for u in result.units:
        errors = sum(1 for s in u.versions for i in s.issues if i.severity == "error")
        score = None if u.score is None else round(u.score.total, 2)
        rows.append(
            (
                result.period.id,
                result.period.year,
                result.period.period.order,
                u.unit.code,
                u.status,
                score,
                u.band,
                u.days_late,
                errors,
                result.as_of.isoformat(),
            )
        )
    ledger.replace_results(result.period.id, rows)


def _previous_period(period: ReportingPeriod) -> ReportingPeriod:
    return ReportingPeriod(period.year - 1, period.period, period.tz)


def _numbers(values: dict[str, Value]) -> dict[str, int | float]:
    return {k: v for k, v in values.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def _covering(
    schema: Schema,
    preds: tuple[lineage.Predecessor, ...],
    figures: dict[str, dict[str, Value]],
    results: dict[str, PastResult],
) -> PreviousYear | None:
    whole = [p.unit for p in preds if p.whole]
    reported = [u for u in whole if u.code in figures]
    recorded = tuple(results[u.code] for u in whole if u.code in results)
    if not reported and not recorded:
        return None
    numeric = [f.key for f in schema.indicators if f.numeric]
    values: dict[str, int | float] = {}
    for u in reported:
        numbers = _numbers(figures[u.code])
        for key in numeric:
            if key in numbers:
                values[key] = values.get(key, 0) + numbers[key]
    return PreviousYear(
        units=tuple(u.code for u in reported),
        names=tuple(u.name for u in whole),
        values=values,
        missing=tuple(u.code for u in whole if u.code not in figures),
        split_from=tuple(p.unit.code for p in preds if not p.whole),
        results=recorded,
        covered=tuple(whole),
    )


def previous_years(
    ledger: Ledger,
    schema: Schema,
    period: ReportingPeriod,
    units: list[Unit],
    past: list[PastResult] | None = None,
    read: Read | None = None,
) -> dict[str, PreviousYear]:
    """For each unit, the same period of the previous year (unit code → PreviousYear; absent
    when the ledger has nothing): the unit's own accepted figures and recorded result, or, when
    the registry changed in between, the sum of the figures and the list of the results of the
    units merged into it (pipeline.core.lineage). `past`: earlier_results, and `read`: what
    `apply` read (the same period of the previous year is among it), when already read."""
    before = _previous_period(period)
    figures = _figures(read.recorded, before.id) if read is not None else period_figures(ledger, before.id)
    results = {
        r.unit: r
        for r in (earlier_results(ledger, period) if past is None else past)
        if r.period_id == before.id
    }
    if not figures and not results:
        return {}
    day = schema.registry_date or period.deadline
    preds = lineage.predecessors_of_all(schema.registry, units, day, before.deadline)
    found = {}
    for u in units:
        covering = _covering(schema, preds.get(u.code, ()), figures, results)
        if covering is not None:
            found[u.code] = covering
    return found


def previous_year(
    ledger: Ledger, schema: Schema, period: ReportingPeriod, unit_code: str
) -> PreviousYear | None:
    """One unit's same period of the previous year, predecessors included (see previous_years):
    what the year sheet and every same-period comparison call for a unit."""
    unit = schema.unit_by_code.get(unit_code)
    if unit is None:
        return None
    return previous_years(ledger, schema, period, [unit]).get(unit_code)
