"""Plausibility against the ledger, after merge: outliers and reports with nothing new.

A run of a period reads, once (pipeline.store.history.apply), every unit's accepted figures of
the year's earlier periods and of the previous year's same period (and the one before it). From
them, for each unit with a consolidated report:

- `value-outlier` (warning) at each numeric figure that departs strongly from what the unit's
  history predicts (pipeline.core.outliers): for a cumulative (flow) figure its increment since
  the previous report against its earlier increments (per quarter) and last year's increment of
  the same period; for a stock its earlier values. A unit with no history is compared with its
  peers of the same kind (districts scaled by their number of communes). An outlier whose task's
  explanation cell is filled is marked explained and quotes it;
- `report-empty` (every figure blank or zero) or `report-unchanged` (every cumulative figure equal
  to the previous report of the year, every figure equal to the same period of last year, or the
  whole report equal to an earlier one but for its date and number).

Work is O(units × indicators): peers' medians are computed once per kind and indicator.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache

from pipeline.core import novelty, outliers
from pipeline.core.deadlines import ReportingPeriod
from pipeline.core.issues import Issue, make_issue
from pipeline.core.model import Located, Submission, UnitResult, Value
from pipeline.core.schema import Field, Schema, Unit
from pipeline.core.vietnamese import format_number
from pipeline.store.history import Accepted, earlier_periods, last_year_periods, last_year_rows
from pipeline.store.ledger import VersionRow

# At most this many characters of an explanation are quoted in a message.
QUOTE_MAX = 300
OUTLIER = "value-outlier"
NO_NEW_CONTENT = ("report-unchanged", "report-empty")


def _number(v: Value | object) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v)


@dataclass(frozen=True)
class _Report:
    """An earlier accepted report of the unit: its period's id, name and order, and the row."""

    pid: str
    name: str
    order: int
    row: VersionRow


@dataclass(frozen=True)
class _Expectation:
    verdict: outliers.Verdict
    expected: float  # the figure expected, on the reported (cumulative) scale
    reference: float | None  # the figure the message compares with
    reference_name: str
    basis: str


class _Peers:
    """What peers of one kind predict for one indicator, fitted once per kind and indicator over
    every unit's figure (the unit's own included: the median does not let one unit move it).
    Districts are compared per commune: the median per commune times the unit's communes is
    what it is expected to report, and the spread is taken on the peers' figures brought to the
    size of a median district (the log scale's offset then means the same as for the unit)."""

    def __init__(self, schema: Schema, period_code: str, units: Sequence[UnitResult]) -> None:
        self._schema = schema
        self._period_code = period_code
        self._units = units
        self._fits: dict[str, tuple[dict[str, tuple[float, outliers.Fit] | None], dict[str, list[str]]]] = {}

    @staticmethod
    def size(unit: Unit) -> float | None:
        return float(unit.communes) if unit.kind == "district" and unit.communes else None

    def fit(self, kind: str, key: str) -> tuple[float, outliers.Fit] | None:
        """(median figure per unit of size, the fit of the peers at a median size)."""
        return self._kind(kind)[0].get(key)

    def suspects(self, unit: Unit) -> list[str]:
        """The keys of the unit's figures that the peers' fits flag (the exact verdict follows)."""
        return self._kind(unit.kind)[1].get(unit.code, [])

    def _kind(self, kind: str) -> tuple[dict[str, tuple[float, outliers.Fit] | None], dict[str, list[str]]]:
        known = self._fits.get(kind)
        if known is None:
            known = self._fits[kind] = self._fit_kind(kind)
        return known

    def _fit_kind(
        self, kind: str
    ) -> tuple[dict[str, tuple[float, outliers.Fit] | None], dict[str, list[str]]]:
        """Every indicator's fit for one kind of unit, and the units each flags, in one pass
        over the units and one comparison per figure (no per-figure function call: at 10,000
        units the peers' check is the cold run's, see docs/performance.md)."""
        keys = [f.key for f in _judged(self._schema, kind, self._period_code)]
        codes: list[str] = []
        sizes: list[float] = []
        rows: list[tuple[Value, ...]] = []
        for u in self._units:
            if u.unit.kind != kind or u.submission is None:
                continue
            size = self.size(u.unit) or (None if kind == "district" else 1.0)
            if size is None:
                continue
            values = u.submission.values
            codes.append(u.unit.code)
            sizes.append(size)
            rows.append(tuple([values.get(k) for k in keys]))
        s = self._schema.checks.outliers
        c = s.offset
        fits: dict[str, tuple[float, outliers.Fit] | None] = {}
        suspects: dict[str, list[str]] = {}
        for k, column in zip(keys, zip(*rows, strict=True) if rows else [() for _k in keys], strict=True):
            fits[k] = None
            # (unit, figure, size) of the units that reported the figure
            known = [(n, v, sizes[n]) for n, v in enumerate(column) if type(v) is int or type(v) is float]
            if len(known) < s.peer_min_count:
                continue
            per_size = [v / size for _n, v, size in known]
            typical = outliers.median([size for _n, _v, size in known])
            model = outliers.fit([v * typical for v in per_size], s, peers=True)
            if model is None:
                continue
            middle = outliers.median(per_size)
            fits[k] = (middle, model)
            t = model.tolerance
            # only above the peers: below them is what a small unit reports (_peer_expectation)
            for n in [n for n, v, size in known if v + c > t * (middle * size + c)]:
                suspects.setdefault(codes[n], []).append(k)
        return fits, suspects


def _explanation(schema: Schema, f: Field, sub: Submission) -> str:
    field = schema.explanations.get(f.task)
    text = sub.values.get(field.key) if field is not None else None
    return text.strip() if isinstance(text, str) else ""


def _flow_expectation(
    schema: Schema, f: Field, value: float, order: int, year: list[_Report], last: list[_Report]
) -> _Expectation | None:
    s = schema.checks.outliers
    points = [(0, 0.0, "")] + [
        (r.order, v, r.name) for r in year if (v := _number(r.row.values.get(f.key))) is not None
    ]
    history: list[float] = []
    for (o1, v1, _n1), (o2, v2, _n2) in itertools.pairwise(points):
        history.append(max(0.0, v2 - v1) / (o2 - o1))
    last_points = {r.order: _number(r.row.values.get(f.key)) for r in last}
    same, before = last_points.get(order), last_points.get(order - 1, 0.0 if order == 1 else None)
    if same is not None and before is not None:
        history.append(max(0.0, same - before))
    if not history:
        return None
    prev_order, prev_value, prev_name = points[-1]
    if len(points) > 1 and value == prev_value:
        return None  # nothing new in this figure since the last report: common for small counts
    gap = order - prev_order
    verdict = outliers.judge(max(0.0, value - prev_value) / gap, history, s)
    if verdict is None:
        return None
    expected = prev_value + verdict.expected * gap
    if len(points) > 1:
        return _Expectation(
            verdict, expected, prev_value, prev_name, "số liệu phát sinh các kỳ trước của đơn vị"
        )
    last_same = last[-1].name if last else ""
    return _Expectation(verdict, expected, same, last_same, "số liệu phát sinh cùng kỳ năm trước của đơn vị")


def _stock_expectation(
    schema: Schema, f: Field, value: float, year: list[_Report], last: list[_Report]
) -> _Expectation | None:
    reports = [*last[-1:], *year]
    known = [(r, v) for r in reports if (v := _number(r.row.values.get(f.key))) is not None]
    verdict = outliers.judge(value, [v for _r, v in known], schema.checks.outliers)
    if verdict is None:
        return None
    ref, ref_value = known[-1]
    return _Expectation(verdict, verdict.expected, ref_value, ref.name, "số liệu các kỳ trước của đơn vị")


def _peer_expectation(
    schema: Schema, f: Field, value: float, unit: Unit, peers: _Peers
) -> _Expectation | None:
    found = peers.fit(unit.kind, f.key)
    size = _Peers.size(unit) or (None if unit.kind == "district" else 1.0)
    if found is None or size is None:
        return None
    per_size, model = found
    expected = per_size * size
    if value <= expected:
        # Far below its peers is what a small unit reports (a department's size is unknown);
        # far above them is what inflates the province's totals: a typo's ×10, ×100.
        return None
    c = model.offset
    distance = abs(outliers.log_scale(value, c) - outliers.log_scale(expected, c))
    verdict = outliers.Verdict(expected=expected, factor=10**distance, tolerance=model.tolerance)
    if unit.kind == "district":
        basis = "số liệu của các đơn vị cùng loại, quy theo số xã, phường, thị trấn"
    else:
        basis = "số liệu của các đơn vị cùng loại"
    return _Expectation(verdict, expected, None, "", basis)


@cache
def _judged(schema: Schema, kind: str, period_code: str) -> tuple[Field, ...]:
    """The numeric indicators a unit of this kind reports in the period."""
    probe = next((u for u in schema.units if u.kind == kind), None)
    return tuple(f for f in schema.indicators if f.numeric and f.applies(probe, period_code))


def _own_bounds(
    f: Field,
    value: float,
    order: int,
    year: Sequence[tuple[int, Mapping[str, object]]],
    last: Sequence[tuple[int, Mapping[str, object]]],
    floor: float,
) -> tuple[float, float, float, float] | None:
    """(the figure judged, the smallest and largest it is compared with, the least tolerance);
    None: nothing to compare with, or nothing new since the last report. A quick bound for
    skipping the exact test (_flow_expectation, _stock_expectation), not a verdict."""
    key = f.key
    if f.kind != "flow":
        known = [x for _o, vals in [*last[-1:], *year] if type(x := vals.get(key)) is int or type(x) is float]
        return (value, min(known), max(known), floor) if known else None
    history: list[float] = []
    prev_o, prev_v = 0, 0.0
    for o, vals in year:
        x = vals.get(key)
        if type(x) is int or type(x) is float:
            d = x - prev_v
            history.append((d if d > 0 else 0.0) / (o - prev_o))
            prev_o, prev_v = o, x
    same = before = None
    for o, vals in last:
        x = vals.get(key)
        if type(x) is int or type(x) is float:
            if o == order:
                same = float(x)
            elif o == order - 1:
                before = float(x)
    if order == 1:
        before = 0.0
    if same is not None and before is not None:
        history.append(max(0.0, same - before))
    if not history or (prev_o and value == prev_v):
        return None
    increment = max(0.0, value - prev_v) / (order - prev_o)
    return increment, min(history), max(history), floor


def _peer_bounds(
    peers: _Peers, kind: str, key: str, value: float, size: float | None
) -> tuple[float, float, float, float] | None:
    found = peers.fit(kind, key)
    if found is None or size is None:
        return None
    expected = found[0] * size
    return value, expected, expected, found[1].tolerance


def _outlier_issues(
    schema: Schema,
    period: ReportingPeriod,
    u: UnitResult,
    year: list[_Report],
    last: list[_Report],
    peers: _Peers,
) -> list[Issue]:
    sub = u.submission
    assert sub is not None
    found: list[Issue] = []
    order = period.period.order
    own_history = bool(year or last)
    values = sub.values
    year_values = [(r.order, r.row.values) for r in year]
    last_values = [(r.order, r.row.values) for r in last]
    c = schema.checks.outliers.offset
    floor = schema.checks.outliers.min_factor
    size = _Peers.size(u.unit) or (None if u.unit.kind == "district" else 1.0)
    judged = _judged(schema, u.unit.kind, period.period.code)
    if not own_history:  # only the figures the peers' fits flag: the rest cannot be outliers
        flagged = set(peers.suspects(u.unit))
        judged = tuple(f for f in judged if f.key in flagged)
    for f in judged:
        raw = values.get(f.key)
        if type(raw) is not int and type(raw) is not float:
            continue
        value = float(raw)
        # The exact test costs ~30 µs a figure; most figures lie within the floor factor of every
        # figure they are compared with, which no median can turn into an outlier.
        if own_history:
            bounds = _own_bounds(f, value, order, year_values, last_values, floor)
        else:
            bounds = _peer_bounds(peers, u.unit.kind, f.key, value, size)
        if bounds is None:
            continue
        x, lo, hi, tolerance = bounds
        if x + c <= tolerance * (lo + c) and (x + c) * tolerance >= hi + c:
            continue
        if own_history:
            if f.kind == "flow":
                exp = _flow_expectation(schema, f, value, order, year, last)
            else:
                exp = _stock_expectation(schema, f, value, year, last)
        else:
            exp = _peer_expectation(schema, f, value, u.unit, peers)
        if exp is None or not exp.verdict.flagged:
            continue
        if exp.reference is None:
            detail = outliers.ratio_words(value, exp.expected, "mức thường gặp")
        else:
            what = f"số đã báo cáo {exp.reference_name} ({format_number(exp.reference)})"
            detail = outliers.ratio_words(value, exp.reference, what)
        text = _explanation(schema, f, sub)
        quoted = text if len(text) <= QUOTE_MAX else text[: QUOTE_MAX - 1] + "…"
        loc = sub.location(f.key, Located(f.sheet, f.cell))
        issue = make_issue(
            schema,
            OUTLIER,
            file=sub.file.name,
            sheet=loc.sheet,
            cell=loc.cell,
            unit=u.unit.code,
            key=f.key,
            period=period.name_vi,
            value=format_number(value),
            detail=detail,
            basis=exp.basis,
            expected=format_number(round(exp.expected)),
            task=f.task,
            explanation=f' Đã giải trình: "{quoted}".' if text else "",
        )
        found.append(dataclasses.replace(issue, explained=bool(text)))
    return found


def _novelty_issue(
    schema: Schema, period: ReportingPeriod, u: UnitResult, year: list[_Report], last: list[_Report]
) -> Issue | None:
    sub = u.submission
    assert sub is not None
    judged = _judged(schema, u.unit.kind, period.period.code)
    numeric = [f.key for f in judged]
    flows = [f.key for f in judged if f.kind == "flow"]
    if novelty.empty(sub.values, numeric):
        return make_issue(schema, "report-empty", file=sub.file.name, unit=u.unit.code)
    detail = ""
    same_period = [r for r in last if r.order == period.period.order]
    values = sub.values
    for r in [*reversed(year), *same_period]:
        stored = r.row.values
        if any(values.get(k) != stored.get(k) for k in numeric):
            continue  # a figure differs (the usual case, found at the first few figures)
        if novelty.same_but(values, stored, schema.checks.unchanged_ignore):
            detail = (
                f'nội dung giống hệt báo cáo {r.name} (tệp "{r.row.file_name}"), chỉ khác ngày và số văn bản'
            )
            break
    if not detail and year and novelty.same(sub.values, year[-1].row.values, flows):
        r = year[-1]
        detail = (
            f'mọi số liệu lũy kế bằng đúng báo cáo {r.name} (tệp "{r.row.file_name}"):'
            " không có phát sinh nào trong kỳ"
        )
    if not detail and same_period and novelty.same(sub.values, same_period[0].row.values, numeric):
        r = same_period[0]
        detail = f'mọi số liệu bằng đúng báo cáo cùng kỳ {r.name} (tệp "{r.row.file_name}")'
    if not detail:
        return None
    return make_issue(schema, "report-unchanged", file=sub.file.name, unit=u.unit.code, detail=detail)


def check(schema: Schema, period: ReportingPeriod, units: list[UnitResult], accepted: Accepted) -> None:
    """Add the outlier and unchanged-report issues to each unit's consolidated report
    (`accepted`: what pipeline.store.history.apply read)."""
    this_year = earlier_periods(schema, period)
    previous = last_year_periods(schema, period)
    peers = _Peers(schema, period.period.code, units)
    for u in units:
        sub = u.submission
        if sub is None:
            continue
        mine = accepted.get(u.unit.code, {})
        year = [_Report(pid, name, order, mine[pid]) for pid, name, order in this_year if pid in mine]
        old = last_year_rows(accepted, u.unit)
        last = [_Report(pid, name, order, old[pid]) for pid, name, order in previous if pid in old]
        flagged = _novelty_issue(schema, period, u, year, last)
        if flagged is None or flagged.code != "report-empty":  # an empty report: nothing to judge
            sub.issues += _outlier_issues(schema, period, u, year, last, peers)
        if flagged is not None:
            sub.issues.append(flagged)
