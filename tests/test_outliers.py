"""The pure parts of the plausibility checks and what they do to scores: robust statistics on a
log scale, the Vietnamese ratios, reports with nothing new, explained outliers and criteria left
out (the score rescaled to 100)."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest

from pipeline import config
from pipeline.core import novelty, outliers
from pipeline.core.issues import make_issue
from pipeline.core.model import InboxFile, Submission, UnitResult
from pipeline.core.schema import OutlierSettings, Schema
from pipeline.core.score import LEFT_OUT_RULE, score_key, score_unit

S = config.load()
SETTINGS = S.checks.outliers


def test_median_and_fit() -> None:
    assert outliers.median([3.0, 1.0, 2.0]) == 2.0
    assert outliers.median([4.0, 1.0, 2.0, 3.0]) == 2.5
    with pytest.raises(ValueError):
        outliers.median([])
    fit = outliers.fit([1319.0], SETTINGS)
    assert fit is not None
    assert 10**fit.centre - SETTINGS.offset == pytest.approx(1319.0)
    assert fit.tolerance == SETTINGS.min_factor  # one point: no spread, the floor applies
    assert outliers.fit([], SETTINGS) is None


def test_spread_widens_the_tolerance_but_one_typo_does_not() -> None:
    settings = OutlierSettings(offset=10, min_factor=2, spread_multiplier=3)
    steady = outliers.fit([100.0, 110.0, 95.0, 105.0], settings)
    wild = outliers.fit([10.0, 1000.0, 100.0, 30.0, 3000.0], settings)
    assert steady is not None and wild is not None
    assert wild.tolerance > steady.tolerance
    # a typo in the history moves neither the median nor the MAD much
    with_typo = outliers.fit([100.0, 110.0, 95.0, 105.0, 10500.0], settings)
    assert with_typo is not None
    assert with_typo.tolerance == pytest.approx(steady.tolerance, rel=0.5)
    assert abs(with_typo.centre - steady.centre) < 0.05


def test_verdicts_on_a_unit_history() -> None:
    history = [1319.0, 1402.0, 1250.0]  # the increments of Q1, Q2, Q3
    typo = outliers.judge(131_900.0, history, SETTINGS)
    normal = outliers.judge(1500.0, history, SETTINGS)
    shrunk = outliers.judge(13.0, history, SETTINGS)
    assert typo is not None and normal is not None and shrunk is not None
    assert typo.flagged and shrunk.flagged and not normal.flagged
    assert typo.factor == pytest.approx((131_900 + 10) / (1319 + 10), rel=0.01)
    # small counts stay quiet: 0 → 3 sessions is no jump
    small = outliers.judge(3.0, [0.0, 1.0], SETTINGS)
    assert small is not None and not small.flagged


def test_increments_from_cumulative_figures() -> None:
    assert outliers.increments([100.0, 250.0, 240.0, 400.0]) == [100.0, 150.0, 0.0, 150.0]


def test_ratio_words() -> None:
    assert outliers.ratio_words(131_900, 1319, "Quý I") == "gấp 100 lần Quý I"
    assert outliers.ratio_words(13, 1319, "Quý I") == "chỉ bằng 1/100 Quý I"
    assert outliers.ratio_words(2500, 1000, "x") == "gấp 2,5 lần x"
    assert outliers.ratio_words(1000, 1010, "x") == "bằng x"
    assert outliers.ratio_words(5, 0, "x") == "trong khi x là 0"
    assert outliers.ratio_words(0, 50, "x") == "bằng 0, trong khi x là 50"


def test_novelty() -> None:
    now = {"a": 1, "b": 0, "report_date": "2023-06-15", "n": "Kết quả"}
    assert not novelty.empty(now, ["a", "b"])
    assert novelty.empty({"a": 0, "b": None}, ["a", "b"])
    before = dict(now, report_date="2023-03-15")
    assert novelty.same_but(now, before, ["report_date"])
    assert not novelty.same_but(now, dict(before, n="Khác"), ["report_date"])
    assert novelty.same(now, before, ["a", "b"])
    assert not novelty.same({"a": None}, {"a": None}, ["a"])  # nothing reported is not "the same"


# --- scores ---------------------------------------------------------------------------------


def _result(schema: Schema, unit_index: int = 0, period: str = "Q1") -> UnitResult:
    unit = schema.units[unit_index]
    sub = Submission(file=InboxFile("a.xlsx", Path("a.xlsx"), "0" * 64, 1), status="accepted", period=period)
    sub.values = {
        f.key: 4
        for f in schema.fields
        if f.group == "indicator" and f.requirement in ("required", "expected") and f.applies(unit, period)
    }
    return UnitResult(unit=unit, status="on_time", submission=sub)


def _outlier(schema: Schema, key: str, explained: bool) -> object:
    issue = make_issue(schema, "value-outlier", file="a.xlsx", sheet="Số liệu", cell="D8", key=key)
    return dataclasses.replace(issue, explained=explained)


def test_explained_outlier_does_not_cost_completeness() -> None:
    plain = _result(S)
    explained = _result(S)
    unexplained = _result(S)
    explained.submission.issues.append(_outlier(S, "t1_sessions", True))  # type: ignore[union-attr,arg-type]
    unexplained.submission.issues.append(_outlier(S, "t1_sessions", False))  # type: ignore[union-attr,arg-type]

    def completeness(r: UnitResult) -> float:
        score = score_unit(S, r)
        assert score is not None
        return next(c.points for c in score.criteria if c.key == "completeness")

    assert completeness(explained) == completeness(plain)
    assert completeness(unexplained) < completeness(plain)
    assert score_key(explained) == score_key(plain) != score_key(unexplained)


def test_report_with_nothing_new_gets_the_rubrics_completeness_points() -> None:
    r = _result(S)
    r.submission.issues.append(make_issue(S, "report-unchanged", file="a.xlsx", detail="x"))  # type: ignore[union-attr]
    score = score_unit(S, r)
    assert score is not None
    crit = next(c for c in score.criteria if c.key == "completeness")
    rule = next(c for c in S.rubric.criteria if c.key == "completeness")
    assert crit.points == rule.if_no_new_content
    assert score_key(r) != score_key(_result(S))


def test_criterion_that_cannot_apply_is_left_out_and_the_score_rescaled() -> None:
    # task 7 judged on the communes' ratings, which only districts report (form.csv applies_to)
    criteria = tuple(
        dataclasses.replace(c, numerator="c_communes_good", denominator="c_communes_good + c_communes_weak")
        if c.key == "task7"
        else c
        for c in S.rubric.criteria
    )
    schema = dataclasses.replace(S, rubric=dataclasses.replace(S.rubric, criteria=criteria))
    department = next(n for n, u in enumerate(schema.units) if u.kind == "department")
    r = _result(schema, department, "Y")
    score = score_unit(schema, r)
    assert score is not None
    task7 = next(c for c in score.criteria if c.key == "task7")
    assert (task7.points, task7.max_points, task7.rule) == (0.0, 0.0, LEFT_OUT_RULE)
    applied = sum(c.max_points for c in score.criteria)
    assert applied == schema.rubric.total - 5
    raw = sum(c.points for c in score.criteria)
    assert score.total == pytest.approx(round(raw * 100 / applied, 2))
    # a district reports the figures: nothing is left out, nothing rescaled
    district = next(n for n, u in enumerate(schema.units) if u.kind == "district")
    d = score_unit(schema, _result(schema, district, "Y"))
    assert d is not None
    assert all(c.rule != LEFT_OUT_RULE for c in d.criteria)
    assert math.isclose(d.total, sum(c.points for c in d.criteria), abs_tol=0.01)
    # a criterion the rubric does not allow to be left out stays in
    fixed = tuple(dataclasses.replace(c, may_be_left_out=False) for c in criteria)
    strict = dataclasses.replace(schema, rubric=dataclasses.replace(schema.rubric, criteria=fixed))
    kept = score_unit(strict, _result(strict, department, "Y"))
    assert kept is not None and all(c.rule != LEFT_OUT_RULE for c in kept.criteria)
