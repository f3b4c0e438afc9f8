"""Scoring with the rubric of schemas/rubric.toml: every point explained by rule and figure."""

from __future__ import annotations

import marshal
from collections.abc import Mapping
from functools import cache

from pipeline.core.expression import evaluate, names
from pipeline.core.issues import Issue
from pipeline.core.model import Criteria, CriterionScore, Score, UnitResult
from pipeline.core.schema import Criterion, CriterionKind, Schema
from pipeline.core.statuses import Severity
from pipeline.core.vietnamese import format_number, format_percent

Numbers = Mapping[str, float | int | None]


@cache
def _labelled(schema: Schema, source: str) -> tuple[tuple[str, str], ...]:
    """(name, label) of each name in an expression, once per schema and expression."""
    return tuple((n, schema.field_by_key[n].label if n in schema.field_by_key else n) for n in names(source))


@cache
def _wanted(schema: Schema, kind: str, period: str) -> tuple[str, ...]:
    """Keys a unit of this kind is expected to fill for the period (completeness)."""
    probe = next(u for u in schema.units if u.kind == kind)
    return tuple(
        f.key
        for f in schema.fields
        if f.requirement in ("required", "expected")
        and f.applies(probe, period)
        and f.group != "identification"
    )


def _figures(schema: Schema, source: str, values: Numbers) -> str:
    parts = []
    for n, label in _labelled(schema, source):
        v = values.get(n)
        parts.append(f"{label}: {'không báo cáo' if v is None else format_number(v)}")
    return "; ".join(parts)


def _lateness(c: Criterion, result: UnitResult) -> tuple[float, str, str]:
    days = result.days_late
    for step in c.steps:
        if step.max_days is None or days <= step.max_days:
            return step.points, step.rule, f"số ngày muộn: {days}"
    other = c.otherwise
    return (
        (other.points, other.rule, f"số ngày muộn: {days}")
        if other
        else (0.0, c.rule, f"số ngày muộn: {days}")
    )


# Issues of a report that says nothing new (pipeline.store.plausibility).
NO_NEW_CONTENT = ("report-unchanged", "report-empty")


def _flaws(issues: list[Issue]) -> list[Issue]:
    """The issues that count against a figure: errors and warnings at a cell, an explained
    outlier aside (the unit has answered for it)."""
    return [
        i
        for i in issues
        if i.severity in (Severity.ERROR, Severity.WARNING) and i.key and i.explained is not True
    ]


def _completeness(schema: Schema, c: Criterion, result: UnitResult) -> tuple[float, str, str]:
    sub = result.submission
    assert sub is not None
    nothing_new = [i for i in sub.issues if i.code in NO_NEW_CONTENT]
    if nothing_new and c.if_no_new_content is not None:
        rule = f"Báo cáo không có nội dung mới: {format_number(c.if_no_new_content)} điểm"
        return c.if_no_new_content, rule, nothing_new[0].message
    wanted = _wanted(schema, result.unit.kind, sub.period or "")
    flawed = {i.key for i in _flaws(sub.issues)}
    good = sum(1 for k in wanted if sub.values.get(k) is not None and k not in flawed)
    share = good / len(wanted) if wanted else 1.0
    return c.points * share, c.rule, f"{good}/{len(wanted)} ô có số liệu hợp lệ ({format_percent(share)})"


def _checks(schema: Schema, c: Criterion, values: Numbers) -> tuple[float, str, str]:
    points = 0.0
    rules, figures = [], []
    for check in c.checks:
        ok = evaluate(check.when, values) is True
        points += check.points if ok else check.otherwise
        rules.append(check.rule + (" (đạt)" if ok else " (không đạt)"))
        figures.append(_figures(schema, check.when, values))
    return points, "; ".join(rules), "; ".join(figures)


def _rate(schema: Schema, c: Criterion, values: Numbers) -> tuple[float, str, str]:
    num, den = evaluate(c.numerator, values), evaluate(c.denominator, values)
    figures = _figures(schema, f"{c.numerator} + {c.denominator}", values)
    if num is None or den is None:
        return 0.0, c.rule + " (thiếu số liệu: 0 điểm)", figures
    if den == 0:
        return c.if_no_denominator, c.rule, figures
    rate = float(num) / float(den)
    share = min(1.0, max(0.0, (rate - c.zero_at) / (c.full_at - c.zero_at)))
    return c.points * share, c.rule, f"{figures}; tỷ lệ {format_percent(rate)}"


LEFT_OUT_RULE = "Không áp dụng đối với đơn vị (chỉ tiêu không thuộc đối tượng báo cáo): không tính, điểm quy đổi về thang 100"


@cache
def _criterion_keys(schema: Schema, c: Criterion) -> tuple[str, ...]:
    """The form's inputs a criterion reads."""
    sources = [check.when for check in c.checks] + [c.numerator, c.denominator]
    return tuple(n for src in sources if src for n in names(src) if n in schema.field_by_key)


def _left_out(schema: Schema, c: Criterion, result: UnitResult) -> bool:
    """A criterion that may be left out is, when none of its inputs applies to the unit
    (the form's applicability by kind of unit and period)."""
    if not c.may_be_left_out:
        return False
    keys = _criterion_keys(schema, c)
    period = result.submission.period if result.submission is not None else ""
    return bool(keys) and not any(schema.field_by_key[k].applies(result.unit, period or "") for k in keys)


def score_unit(schema: Schema, result: UnitResult) -> Score | None:
    """The unit's score, or None when it has no accepted submission."""
    sub = result.submission
    if sub is None:
        return None
    values: dict[str, float | int | None] = {
        k: v for k, v in sub.values.items() if isinstance(v, (int, float)) or v is None
    }
    rubric = schema.rubric
    criteria = []
    for c in rubric.criteria:
        if not c.applies(result.unit.kind):  # the rubric can differ by kind of unit
            continue
        if _left_out(schema, c, result):
            criteria.append(CriterionScore(c.key, c.label, 0.0, 0.0, LEFT_OUT_RULE, ""))
            continue
        if c.kind == CriterionKind.LATENESS:
            pts, rule, fig = _lateness(c, result)
        elif c.kind == CriterionKind.COMPLETENESS:
            pts, rule, fig = _completeness(schema, c, result)
        elif c.kind == CriterionKind.CHECKS:
            pts, rule, fig = _checks(schema, c, values)
        else:
            pts, rule, fig = _rate(schema, c, values)
        criteria.append(CriterionScore(c.key, c.label, round(pts, 2), c.points, rule, fig))
    total = round(sum(x.points for x in criteria), 2)
    applied = sum(x.max_points for x in criteria)
    rescaled = ""
    if applied and applied != sum(c.points for c in rubric.criteria if c.applies(result.unit.kind)):
        rescaled = (
            f"; quy đổi về thang {format_number(rubric.total)}: {format_number(total)}"
            f" / {format_number(applied)} × {format_number(rubric.total)}"
        )
        total = round(total * rubric.total / applied, 2)
    bands = rubric.bands
    band = next((b for b in bands if total >= b.min), bands[-1])
    why = f"Tổng {format_number(total)} điểm{rescaled}, ngưỡng {band.name}: từ {format_number(band.min)} điểm"
    order = [b.name for b in bands]
    for cap in rubric.caps:
        if cap.when == result.status and order.index(band.name) < order.index(cap.max_band):
            band = bands[order.index(cap.max_band)]
            why += f"; {cap.rule}"
    self_score = values.get("self_score")
    return Score(
        total, band.name, why, Criteria(tuple(criteria)), None if self_score is None else float(self_score)
    )


# A score as the cache keeps it: (head, criteria), marshal bytes each.
Packed = tuple[bytes, bytes]

# Part of every key: a score kept in another format is never read (it is scored again).
MEMO_FORMAT = "5"


def score_key(result: UnitResult) -> str | None:
    """Everything score_unit reads besides the schema: the unit, the content of its accepted
    file (its figures, read under the same schema), status, days late, and the cells with
    errors or warnings (some come from other periods: flow checks)."""
    sub = result.submission
    if sub is None:
        return None
    flawed = sorted({f"{i.key}:{i.severity}" for i in _flaws(sub.issues)})
    flawed += sorted({i.code for i in sub.issues if i.code in NO_NEW_CONTENT})
    return "|".join(
        (MEMO_FORMAT, result.unit.code, sub.file.sha256, result.status, str(result.days_late), *flawed)
    )


def dump_score(score: Score) -> Packed:
    head = (score.total, score.band, score.band_rule, score.self_score)
    return marshal.dumps(head), score.criteria.packed()


def load_score(packed: Packed) -> Score:
    """A kept score: its head now, its criteria when first read (Criteria)."""
    total, band, band_rule, self_score = marshal.loads(packed[0])  # the cache's own, by dump_score
    return Score(total, band, band_rule, Criteria(packed=packed[1]), self_score)


def score_all(
    schema: Schema, results: list[UnitResult], known: Mapping[str, Packed] | None = None
) -> dict[str, Packed]:
    """Score every unit (UnitResult.score and .band). A score `known` under its key (kept by an
    earlier run, pipeline.store.cache) is reused instead of scored again. Returns the scores
    this run made, by key, for the cache to keep."""
    known = known or {}
    made: dict[str, Packed] = {}
    for r in results:
        key = score_key(r)
        if key is None:
            r.score = None
        elif key in known:
            r.score = load_score(known[key])
        else:
            r.score = score_unit(schema, r)
            if r.score is not None:
                made[key] = dump_score(r.score)
        r.band = r.score.band if r.score else schema.rubric.status_band(r.status)
    return made
