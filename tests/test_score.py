from __future__ import annotations

import dataclasses
from datetime import datetime
from pathlib import Path

import pytest

from pipeline import config
from pipeline.authoring.sample import SampleManifest
from pipeline.core.deadlines import parse_period
from pipeline.core.issues import make_issue
from pipeline.core.model import InboxFile, Score, Submission, UnitResult
from pipeline.core.schema import Schema
from pipeline.core.score import dump_score, load_score, score_all, score_key, score_unit
from pipeline.run import consolidate
from tests.conftest import AS_OF

S = config.load()

BASE: dict[str, int | None] = {
    "t1_sessions": 3,
    "t1_participants": 150,
    "t2_dossiers_on_time": 90,
    "t2_dossiers_late": 10,
    "t3_inspections": 0,
    "t4_petitions_in_competence": 20,
    "t4_petitions_resolved": 15,
    "t5_models_registered": 2,
    "t5_models_recognized": 0,
    "t6_recommendations_received": 0,
    "t6_recommendations_addressed": 0,
    "t7_inspections_planned": 4,
    "t7_inspections_done": 1,
}


def _result(values: dict[str, int | None], status: str = "on_time", days_late: int = 0) -> UnitResult:
    sub = Submission(file=InboxFile("a.xlsx", Path("a.xlsx"), "0" * 64, 1), status="accepted", period="Q1")
    applicable = [
        f.key
        for f in S.fields
        if f.requirement in ("required", "expected")
        and f.group != "identification"
        and f.applies(S.units[0], "Q1")
    ]
    sub.values = {k: 1 for k in applicable}  # complete unless a test blanks something
    sub.values.update({k: v for k, v in values.items()})
    return UnitResult(unit=S.units[0], status=status, submission=sub, days_late=days_late)


def _points(r: UnitResult) -> dict[str, float]:
    score = score_unit(S, r)
    assert score is not None
    return {c.key: c.points for c in score.criteria}


def test_each_criterion_by_hand() -> None:
    p = _points(_result(BASE))
    assert p["discipline"] == 10
    assert p["completeness"] == 10
    assert p["task1"] == 10
    # 90 / 100 = 90%: halfway between 80% (0) and 100% (20)
    assert p["task2"] == pytest.approx(10)
    assert p["task3"] == 5  # no inspection: 5
    # 15 / 20 = 75%: halfway between 50% (0) and 100% (15)
    assert p["task4"] == pytest.approx(7.5)
    assert p["task5"] == 5
    assert p["task6"] == 10  # nothing received: full points
    assert p["task7"] == pytest.approx(1.25)  # 5 × 1/4


@pytest.mark.parametrize(("days", "points"), [(0, 10), (1, 6), (3, 6), (4, 3), (10, 3), (11, 0)])
def test_discipline_steps(days: int, points: int) -> None:
    status = "late" if days else "on_time"
    assert _points(_result(BASE, status, days))["discipline"] == points


def test_missing_figures_score_zero_and_lower_completeness() -> None:
    r = _result({**BASE, "t2_dossiers_late": None})
    p = _points(r)
    assert p["task2"] == 0
    assert p["completeness"] < 10


def test_bands_and_late_cap() -> None:
    perfect = {**BASE, "t2_dossiers_late": 0, "t3_inspections": 1, "t4_petitions_resolved": 20,
               "t5_models_recognized": 1, "t7_inspections_done": 4}  # fmt: skip
    on_time = _result(perfect)
    late = _result(perfect, "late", 1)
    score_all(S, [on_time, late])
    assert on_time.score is not None and on_time.score.total == 100 and on_time.band == "Tốt"
    assert late.score is not None and late.score.total == 96 and late.band == "Khá"


def test_statuses_without_report_get_status_bands() -> None:
    missing = UnitResult(unit=S.units[1], status="missing")
    rejected = UnitResult(unit=S.units[2], status="rejected")
    score_all(S, [missing, rejected])
    assert missing.score is None and missing.band == S.rubric.status_band("missing") == "Không báo cáo"
    assert rejected.band == S.rubric.status_band("rejected") == "Chưa đủ điều kiện xếp loại"


def test_self_score_difference() -> None:
    r = _result({**BASE, "self_score": 90})
    score = score_unit(S, r)
    assert score is not None and score.self_score == 90
    assert score.difference == pytest.approx(90 - score.total)


def test_a_remembered_score_is_reused_and_equal() -> None:
    r = _result(BASE)
    first = score_all(S, [r])
    assert r.score is not None and len(first) == 1
    assert load_score(dump_score(r.score)) == r.score
    # Kept under its key, the score is taken as it is: nothing scored again, nothing new to keep.
    again = _result(BASE)
    assert score_all(S, [again], first) == {}
    assert again.score == r.score
    # A kept score is really what is used: a different one under the same key comes back.
    [key] = first
    odd = dataclasses.replace(r.score, total=1.5)
    third = _result(BASE)
    score_all(S, [third], {key: dump_score(odd)})
    assert third.score == odd


def test_what_the_score_depends_on_is_in_its_key() -> None:
    base = score_key(_result(BASE))
    assert base is not None
    assert score_key(_result(BASE, "late", 1)) != base  # lateness and its cap
    flawed = _result(BASE)
    assert flawed.submission is not None
    flawed.submission.issues.append(make_issue(S, "value-not-number", key="t1_sessions", value="x"))
    assert score_key(flawed) != base  # completeness counts flawed cells
    other = _result(BASE)
    assert other.submission is not None
    other.submission.file.sha256 = "1" * 64  # other bytes, other figures
    assert score_key(other) != base


def test_a_rerun_takes_its_scores_from_the_cache_equal_to_a_fresh_scoring(
    sample: SampleManifest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rerun takes every score from the cache store; each equals a fresh scoring."""
    schema = config.load()
    period = parse_period("2023-Q1", schema.calendar)
    as_of = datetime.fromisoformat(AS_OF)
    first = consolidate(schema, period, sample.out_dir, tmp_path / "outbox", as_of)
    scored_now: list[str] = []

    def spy(schema: Schema, result: UnitResult) -> Score | None:
        scored_now.append(result.unit.code)
        return score_unit(schema, result)

    monkeypatch.setattr("pipeline.core.score.score_unit", spy)
    again = consolidate(schema, period, sample.out_dir, tmp_path / "outbox", as_of)
    assert scored_now == []  # every score came from the cache
    scored = [(a, b) for a, b in zip(first.units, again.units, strict=True) if a.score is not None]
    assert len(scored) > 10
    for a, b in scored:
        assert b.score is not None and b.score.criteria == a.score.criteria
        assert b.score == score_unit(schema, b)
