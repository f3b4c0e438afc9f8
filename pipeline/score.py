"""Scoring with the rubric of schemas/rubric.toml: every point explained by rule and figure."""

from __future__ import annotations

import marshal
from collections.abc import Callable, Mapping
from functools import cache, partial
from typing import Any

from pipeline.expression import evaluate, names
from pipeline.model import CriterionScore, Score, UnitResult
from pipeline.schema import Schema
from pipeline.vietnamese import format_number

Numbers = Mapping[str, float | int | None]


def _pct(x: float) -> str:
    return format_number(round(x * 100, 1)) + "%"


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


def _lateness(c: Mapping[str, Any], result: UnitResult) -> tuple[float, str, str]:
    days = result.days_late
    for step in c["steps"]:
        if days <= step["max_days"]:
            return float(step["points"]), step["rule"], f"số ngày muộn: {days}"
    other = c["otherwise"]
    return float(other["points"]), other["rule"], f"số ngày muộn: {days}"


def _completeness(schema: Schema, c: Mapping[str, Any], result: UnitResult) -> tuple[float, str, str]:
    sub = result.submission
    assert sub is not None
    period = sub.period or ""
    wanted = _wanted(schema, result.unit.kind, period)
    flawed = {i.key for i in sub.issues if i.severity in ("error", "warning") and i.key}
    good = sum(1 for k in wanted if sub.values.get(k) is not None and k not in flawed)
    share = good / len(wanted) if wanted else 1.0
    return c["points"] * share, c["rule"], f"{good}/{len(wanted)} ô có số liệu hợp lệ ({_pct(share)})"


def _checks(schema: Schema, c: Mapping[str, Any], values: Numbers) -> tuple[float, str, str]:
    points = 0.0
    rules, figures = [], []
    for check in c["checks"]:
        ok = evaluate(check["when"], values) is True
        points += check["points"] if ok else check.get("otherwise", 0)
        rules.append(check["rule"] + (" (đạt)" if ok else " (không đạt)"))
        figures.append(_figures(schema, check["when"], values))
    return points, "; ".join(rules), "; ".join(figures)


def _rate(schema: Schema, c: Mapping[str, Any], values: Numbers) -> tuple[float, str, str]:
    num, den = evaluate(c["numerator"], values), evaluate(c["denominator"], values)
    figures = _figures(schema, f"{c['numerator']} + {c['denominator']}", values)
    if num is None or den is None:
        return 0.0, c["rule"] + " (thiếu số liệu: 0 điểm)", figures
    if den == 0:
        return float(c["if_no_denominator"]), c["rule"], figures
    rate = float(num) / float(den)
    full, zero = float(c["full_at"]), float(c["zero_at"])
    share = min(1.0, max(0.0, (rate - zero) / (full - zero)))
    return c["points"] * share, c["rule"], f"{figures}; tỷ lệ {_pct(rate)}"


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
    for c in rubric["criteria"]:
        kind = c["kind"]
        if kind == "lateness":
            pts, rule, fig = _lateness(c, result)
        elif kind == "completeness":
            pts, rule, fig = _completeness(schema, c, result)
        elif kind == "checks":
            pts, rule, fig = _checks(schema, c, values)
        elif kind == "rate":
            pts, rule, fig = _rate(schema, c, values)
        else:
            raise ValueError(f"rubric: unknown criterion kind {kind!r}")
        criteria.append(CriterionScore(c["key"], c["label"], round(pts, 2), float(c["points"]), rule, fig))
    total = round(sum(x.points for x in criteria), 2)
    bands = rubric["bands"]
    band = next(b for b in bands if total >= b["min"])
    why = f"Tổng {format_number(total)} điểm, ngưỡng {band['name']}: từ {format_number(band['min'])} điểm"
    order = [b["name"] for b in bands]
    for cap in rubric.get("caps", []):
        if cap["when"] == result.status and order.index(band["name"]) < order.index(cap["max_band"]):
            band = bands[order.index(cap["max_band"])]
            why += f"; {cap['rule']}"
    self_score = values.get("self_score")
    return Score(total, band["name"], why, tuple(criteria), None if self_score is None else float(self_score))


# A score as the ledger's memo keeps it: (head, criteria), marshal bytes each. The head (total,
# band, its rule, self-assessment) is read for every unit of a rerun; the criteria, ~90 % of
# the bytes, only for the few units whose criteria are shown again.
Packed = tuple[bytes, bytes]


def score_all(
    schema: Schema,
    results: list[UnitResult],
    known: Mapping[str, bytes] | None = None,
    criteria: Callable[[str], bytes] | None = None,
) -> dict[str, Packed | None]:
    """Score every unit. `known` maps score_key → the head of a score an earlier run packed
    (dump_score; the ledger's score memo) and `criteria(key)` gives that score's criteria:
    such a score is reused instead of scored again. Returns every key this run used → its
    packed score, None for those taken from `known`."""
    statuses = schema.rubric["statuses"]
    known = known or {}
    used: dict[str, Packed | None] = {}
    for r in results:
        key = score_key(r)
        if key is None:
            r.score = None
        elif key in known and criteria is not None:
            used[key] = None
            r.score = load_score(known[key], partial(criteria, key))
        else:
            r.score = score_unit(schema, r)
            if r.score is not None:
                used[key] = dump_score(r.score)
        r.band = r.score.band if r.score else statuses.get(r.status, "")
    return used


# Part of every memo key: a memo written in another format is never read (it is scored again).
MEMO_FORMAT = "3"


def score_key(result: UnitResult) -> str | None:
    """Everything score_unit reads besides the schema: the unit, the content of its accepted
    file (its figures, read under the same schema), status, days late, and the cells with
    errors or warnings (some come from other periods: flow checks)."""
    sub = result.submission
    if sub is None:
        return None
    flawed = sorted(
        {f"{i.key}:{i.severity}" for i in sub.issues if i.severity in ("error", "warning") and i.key}
    )
    return "|".join(
        (MEMO_FORMAT, result.unit.code, sub.file.sha256, result.status, str(result.days_late), *flawed)
    )


def dump_score(score: Score) -> Packed:
    """The score for the ledger's memo: its head and its criteria apart (see Packed)."""
    criteria = tuple((c.key, c.label, c.points, c.max_points, c.rule, c.figures) for c in score.criteria)
    head = (score.total, score.band, score.band_rule, score.self_score)
    return marshal.dumps(head), marshal.dumps(criteria)


def load_score(head: bytes, criteria: Callable[[], bytes]) -> Score:
    """A score from its packed head; `criteria()` gives the packed criteria, asked only when
    the criteria are read."""
    total, band, band_rule, self_score = marshal.loads(head)  # our ledger's, by dump_score
    return Score(total, band, band_rule, partial(_criteria, criteria), self_score)


def _criteria(packed: Callable[[], bytes]) -> tuple[CriterionScore, ...]:
    return tuple(CriterionScore(*c) for c in marshal.loads(packed()))
