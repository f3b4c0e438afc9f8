"""Figures every paper shares: the seven tasks' key figures and rates, the units needing
attention, the suggested inspection list and the change since the previous period.

The workbook, the report draft and the letters all take their numbers from here, so the
report's figures equal the workbook's.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import dataclass

from pipeline.core.model import PastResult, RunResult, UnitResult
from pipeline.core.schema import Schema
from pipeline.core.statuses import Severity, UnitStatus
from pipeline.core.vietnamese import format_date, format_number
from pipeline.outputs import vocabulary as vi
from pipeline.outputs.plain import plain_issue


@dataclass(frozen=True)
class TaskFigure:
    task: str  # "1".."7"
    label: str  # the key figure, e.g. "Hồ sơ thủ tục hành chính đã giải quyết"
    unit: str  # unit of measure
    value: int | float
    rate_label: str  # "" when the task has no rate
    numerator: int | float
    denominator: int | float

    @property
    def rate(self) -> float | None:
        if not self.rate_label or not self.denominator:
            return None
        return self.numerator / self.denominator


# (task, label, unit, value keys, rate label, numerator keys, denominator keys)
_TASKS: tuple[tuple[str, str, str, tuple[str, ...], str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("1", "Hội nghị, buổi tuyên truyền, quán triệt", "cuộc", ("t1_sessions",), "", (), ()),
    (
        "2",
        "Hồ sơ thủ tục hành chính đã giải quyết",
        "hồ sơ",
        ("t2_dossiers_on_time", "t2_dossiers_late"),
        "Tỷ lệ hồ sơ thủ tục hành chính giải quyết đúng hạn",
        ("t2_dossiers_on_time",),
        ("t2_dossiers_on_time", "t2_dossiers_late"),
    ),
    ("3", "Cuộc thanh tra, kiểm tra công vụ", "cuộc", ("t3_inspections",), "", (), ()),
    (
        "4",
        "Đơn thuộc thẩm quyền giải quyết",
        "đơn",
        ("t4_petitions_in_competence",),
        "Tỷ lệ đơn thuộc thẩm quyền đã giải quyết",
        ("t4_petitions_resolved",),
        ("t4_petitions_in_competence",),
    ),
    (
        "5",
        'Mô hình "Dân vận khéo" đăng ký',
        "mô hình",
        ("t5_models_registered",),
        'Tỷ lệ mô hình "Dân vận khéo" được công nhận',
        ("t5_models_recognized",),
        ("t5_models_registered",),
    ),
    (
        "6",
        "Kiến nghị sau giám sát, phản biện",
        "kiến nghị",
        ("t6_recommendations_received",),
        "Tỷ lệ kiến nghị sau giám sát, phản biện đã tiếp thu, giải quyết",
        ("t6_recommendations_addressed",),
        ("t6_recommendations_received",),
    ),
    (
        "7",
        "Cuộc kiểm tra công tác dân vận chính quyền đã thực hiện",
        "cuộc",
        ("t7_inspections_done",),
        "Tỷ lệ cuộc kiểm tra đã thực hiện so với kế hoạch",
        ("t7_inspections_done",),
        ("t7_inspections_planned",),
    ),
)


def task_value_keys(task: str) -> tuple[str, ...]:
    """The indicator keys whose sum is the task's key figure."""
    return next((keys for t, _label, _unit, keys, *_rest in _TASKS if t == task), ())


def task_figures(result: RunResult) -> list[TaskFigure]:
    """One key figure per task, with its rate where the task has one (from result.totals)."""

    def total(keys: tuple[str, ...]) -> int | float:
        return sum(result.totals.get(k, 0) for k in keys)

    return [
        TaskFigure(task, label, unit, total(keys), rate_label, total(num), total(den))
        for task, label, unit, keys, rate_label, num, den in _TASKS
    ]


@dataclass(frozen=True)
class YearOnYear:
    """A task's key figure against the same period of the previous year, over the units that
    have figures in both (a merged unit's previous year: its predecessors' sum)."""

    task: str
    label: str
    unit: str
    now: int | float
    before: int | float
    units: int  # units compared


def same_period_last_year(result: RunResult) -> list[YearOnYear]:
    """Each task's key figure now and in the same period of the previous year (run.previous_year);
    empty when the ledger has nothing for that period."""
    compared = [
        (u.submission.values, result.previous_year[u.unit.code].values)
        for u in result.units
        if u.submission is not None
        and u.unit.code in result.previous_year
        and result.previous_year[u.unit.code].units
    ]
    if not compared:
        return []

    def total(values: Mapping[str, object], keys: tuple[str, ...]) -> int | float:
        return sum(
            v for k in keys if isinstance(v := values.get(k), (int, float)) and not isinstance(v, bool)
        )

    return [
        YearOnYear(
            task, label, unit, sum(total(now, keys) for now, _ in compared), sum(total(b, keys) for _, b in compared),
            len(compared),
        )
        for task, label, unit, keys, *_rest in _TASKS
    ]  # fmt: skip


def status_counts(result: RunResult) -> list[tuple[str, str, int]]:
    """(status, Vietnamese label, count) in the usual order."""
    return [(s, label, result.count(s)) for s, label in vi.UNIT_STATUS_VI.items()]


@dataclass(frozen=True)
class Plausibility:
    """What the checks against the units' history found in the consolidated reports."""

    outliers: int  # figures flagged value-outlier
    explained: int  # of which the unit explained
    nothing_new: int  # units whose report says nothing new (report-unchanged, report-empty)


def plausibility(result: RunResult) -> Plausibility:
    flagged = explained = nothing_new = 0
    for u in result.units:
        if u.submission is None:
            continue
        codes = [
            i for i in u.submission.issues if i.code in ("value-outlier", "report-unchanged", "report-empty")
        ]
        flagged += sum(1 for i in codes if i.code == "value-outlier")
        explained += sum(1 for i in codes if i.code == "value-outlier" and i.explained)
        nothing_new += any(i.code != "value-outlier" for i in codes)
    return Plausibility(flagged, explained, nothing_new)


def band_names(schema: Schema) -> list[str]:
    """The rubric's bands, then the texts for units without a score."""
    names = [b.name for b in schema.rubric.bands]
    for _status, text in schema.rubric.statuses:
        if text not in names:
            names.append(text)
    return names


def band_counts(result: RunResult, schema: Schema) -> list[tuple[str, int]]:
    unit_bands = [vi.band_of(u, schema.rubric) for u in result.units]
    return [(b, unit_bands.count(b)) for b in band_names(schema)]


def _first_error(unit: UnitResult, schema: Schema) -> str:
    for sub in reversed(unit.versions):
        for issue in sub.issues:
            if issue.severity == Severity.ERROR:
                return plain_issue(issue, schema)
    return ""


def _weakest(unit: UnitResult, n: int = 2) -> str:
    if unit.score is None:
        return ""
    lost = sorted(
        (c for c in unit.score.criteria if c.max_points - c.points > 0.005),
        key=lambda c: -(c.max_points - c.points),
    )[:n]
    return "; ".join(
        f"{c.label} đạt {format_number(c.points)}/{format_number(c.max_points)} điểm" for c in lost
    )


def reason(unit: UnitResult, result: RunResult, schema: Schema, *, with_score: bool = True) -> str:
    """Why a unit needs attention, in one sentence (`with_score`: its score in the sentence,
    where no numeric cell beside shows it)."""
    if unit.status == UnitStatus.MISSING:
        return f"Chưa nộp báo cáo (hạn {format_date(result.period.deadline)})"
    if unit.status == UnitStatus.REJECTED:
        error = _first_error(unit, schema)
        return "Báo cáo bị trả lại" + (f": {error.rstrip('.')}" if error else "")
    parts: list[str] = []
    if unit.score is not None:
        band = vi.band_of(unit, schema.rubric)
        parts.append(
            f"Đạt {format_number(unit.score.total)} điểm, xếp loại {band}"
            if with_score
            else f"Xếp loại {band}"
        )
        weakest = _weakest(unit)
        if weakest:
            parts.append(f"thấp ở: {weakest}")
    if unit.status == UnitStatus.LATE:
        parts.append(f"nộp muộn {unit.days_late} ngày")
    return "; ".join(parts)


def attention(
    result: RunResult, schema: Schema, n: int = 5, *, with_score: bool = True
) -> list[tuple[UnitResult, str]]:
    """The n units needing most attention: no report, rejected, then the lowest scores (then
    most days late, then registry order)."""
    first = {UnitStatus.MISSING: 0, UnitStatus.REJECTED: 1}
    # (key..., registry index, unit): the index is unique, so units are never compared; the n
    # smallest without sorting every unit (10,000 at national scale)
    due = [
        (first.get(u.status, 2), 0.0 if u.score is None else round(u.score.total, 2), -u.days_late, i, u)
        for i, u in enumerate(result.units)
        if u.status != UnitStatus.NOT_DUE
    ]
    return [(u, reason(u, result, schema, with_score=with_score)) for *_key, u in heapq.nsmallest(n, due)]


# ------------------------------------------------------------------ previous period


def previous_period(result: RunResult, schema: Schema) -> tuple[str, dict[str, PastResult]]:
    """(period name, unit code → result) of the latest earlier period of the same year in
    the ledger; ("", {}) when the ledger holds none."""
    earlier = [p for p in result.period.previous_in_year(schema.calendar)]
    for period in reversed(earlier):
        rows = {p.unit: p for p in result.past if p.period_id == period.id}
        if rows:
            return period.name_vi, rows
    return "", {}


# ------------------------------------------------------------------ inspection list


@dataclass(frozen=True)
class Suggestion:
    unit: UnitResult
    reasons: tuple[str, ...]
    late_periods: tuple[str, ...]  # period ids (earlier and this one) with a late/missing report
    error_periods: tuple[str, ...]  # period ids with error issues


def inspection_list(result: RunResult, schema: Schema) -> list[Suggestion]:
    """Units to inspect by the explicit criteria of schemas/rubric.toml [inspection]: a band
    among `bands`, late or missing in `late_periods` periods of the year or more, rejected or
    with errors in `rejected_periods` or more, a drop of `score_drop` points or more since the
    previous period. Most criteria met first, then the lower band, the lower score, registry
    order. The consolidating department is left out when `exclude_consolidating` (default). In
    the year's run, a commune or ward rated in the lowest band is always listed (the province
    now rates the communes itself)."""
    policy = schema.inspection
    skip = schema.papers.consolidating_unit if policy.exclude_consolidating else ""
    bands = [b.name for b in schema.rubric.bands]
    lowest_band = schema.rubric.bands[-1].name
    year_end = result.period.period.order == max(p.order for p in schema.calendar.periods)
    names = {p.id: p.name_vi for p in result.period.previous_in_year(schema.calendar)}
    names[result.period.id] = result.period.name_vi
    previous_name, previous = previous_period(result, schema)
    past_of: dict[str, list[PastResult]] = {}  # one pass: a scan per unit is quadratic at national scale
    for p in result.past:
        if p.period_id in names:  # this year's earlier periods
            past_of.setdefault(p.unit, []).append(p)
    found: list[tuple[tuple[int, int, float, int], Suggestion]] = []
    for index, u in enumerate(result.units):
        if u.unit.code == skip or u.status == UnitStatus.NOT_DUE:
            continue
        past = past_of.get(u.unit.code, [])
        late = [p.period_id for p in past if p.status in (UnitStatus.LATE, UnitStatus.MISSING)]
        if u.status in (UnitStatus.LATE, UnitStatus.MISSING):
            late.append(result.period.id)
        errors = [p.period_id for p in past if p.errors > 0 or p.status == UnitStatus.REJECTED]
        if u.status == UnitStatus.REJECTED or any(
            i.severity == Severity.ERROR for s in u.versions for i in s.issues
        ):
            errors.append(result.period.id)
        band = vi.band_of(u, schema.rubric)
        reasons: list[str] = []
        if u.score is not None and band in policy.bands:
            weakest = _weakest(u)
            reasons.append(
                f"Xếp loại {band} ({format_number(u.score.total)} điểm)"
                + (f"; thấp ở: {weakest}" if weakest else "")
            )
        if (
            year_end
            and u.unit.kind in ("commune", "ward")
            and u.score is not None
            and u.score.band == lowest_band
        ):
            reasons.append(
                f"{u.unit.kind_vi} xếp loại {lowest_band} năm {result.period.year}: đề xuất kiểm tra"
            )
        if len(late) >= policy.late_periods:
            reasons.append("Nộp muộn hoặc không nộp nhiều kỳ: " + ", ".join(names.get(p, p) for p in late))
        elif u.status == UnitStatus.MISSING:
            reasons.append("Không báo cáo kỳ này")
        if len(errors) >= policy.rejected_periods:
            reasons.append(
                "Báo cáo bị trả lại hoặc có lỗi nhiều kỳ: " + ", ".join(names.get(p, p) for p in errors)
            )
        before = previous.get(u.unit.code)
        if u.score is not None and before is not None and before.score is not None:
            drop = round(before.score - u.score.total, 2)
            if drop >= policy.score_drop:
                reasons.append(f"Điểm giảm {format_number(drop)} điểm so với {previous_name}")
        if not reasons:
            continue
        worst = bands.index(band) if band in bands else len(bands)
        score = u.score.total if u.score is not None else -1.0
        found.append(
            ((-len(reasons), -worst, score, index), Suggestion(u, tuple(reasons), tuple(late), tuple(errors)))
        )
    found.sort(key=lambda item: item[0])
    return [s for _key, s in found]
