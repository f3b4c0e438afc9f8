"""Range and rule checks: the suite generated from the schema (one expectation per range and per
rule, named by the form's keys), run by great_expectations and by our own evaluator over the
same table of submissions, with the same issues; its document in GX's JSON; the run's Checker."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import pickle
import random
import shutil
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Literal

import pytest

from pipeline import config, run
from pipeline.authoring.sample import SampleManifest
from pipeline.core.expression import evaluate
from pipeline.core.issues import Issue
from pipeline.core.model import InboxFile, Located, Submission
from pipeline.core.schema import Schema
from pipeline.core.statuses import FileStatus, Severity
from pipeline.intake import scan
from pipeline.reading import expectations
from pipeline.reading.expectations import (
    BETWEEN,
    PAIR,
    SMALL_BATCH,
    Checker,
    check_submissions,
    check_table,
    failed_by_great_expectations,
    failed_directly,
    suite,
    suite_document,
)
from pipeline.reading.reader import Reader
from pipeline.store.cache import Cache
from pipeline.store.fingerprint import fingerprint
from pipeline.store.ledger import Ledger
from tests.conftest import AS_OF, output_files

ROOT = Path(__file__).resolve().parents[1]
Found = dict[int, list[Issue]]

DISTRICT = "540"  # Thành phố Quy Nhơn, 21 communes in schemas/units.csv
DEPARTMENT = "SNV"
ERROR = Severity.ERROR


def clean_values(schema: Schema) -> dict[str, int | float | str | None]:
    values: dict[str, int | float | str | None] = {f.key: 1 for f in schema.indicators if f.numeric}
    values.update(
        year=2026,
        self_score=90.5,
        report_number="15/BC-SNV",
        t2_procedures_reviewed=10,
        t2_procedures_simplified=4,
        t2_dossiers_received=60,
        t2_dossiers_online=30,
        t2_dossiers_on_time=40,
        t2_dossiers_late=10,
        t2_dossiers_pending=5,
        t2_apologies=10,
        t4_reception_turns=12,
        t4_reception_people=15,
        t4_petitions_received=9,
        t4_petitions_in_competence=7,
        t4_petitions_resolved=7,
        t6_recommendations_received=3,
        t6_recommendations_addressed=2,
        c_communes_good=10,
        c_communes_fair=6,
        c_communes_average=3,
        c_communes_weak=2,
    )
    return values


def make(
    schema: Schema,
    unit: str | None = DEPARTMENT,
    name: str = "bao-cao.xlsx",
    cells: dict[str, Located] | None = None,
    **changes: int | float | str | None,
) -> Submission:
    values = clean_values(schema)
    values.update(changes)
    if cells is None:
        cells = {f.key: Located(f.sheet, f.cell) for f in schema.fields}
    return Submission(
        file=InboxFile(name=name, path=Path("/nonexistent") / name, sha256="0" * 64, size=1),
        status=FileStatus.ACCEPTED,
        unit=unit,
        period="Y",
        year=2026,
        values=dict(values),
        cells=cells,
    )


def only(found: dict[int, list[Issue]], index: int = 0) -> Issue:
    assert list(found) == [index], found
    assert len(found[index]) == 1, found[index]
    return found[index][0]


@pytest.fixture(params=["direct", "great_expectations"])
def check(request: pytest.FixtureRequest) -> Callable[..., Found]:
    """check_submissions with one evaluator or the other: every behaviour test runs on both."""
    return partial(check_submissions, evaluator=request.param)


def test_clean_submissions_give_no_issues(schema: Schema, check: Callable[..., Found]) -> None:
    subs = [make(schema, DEPARTMENT), make(schema, DISTRICT)]
    assert check(schema, subs, "Y") == {}
    assert check(schema, subs, "Q1") == {}
    assert check(schema, [], "Y") == {}


def test_dossiers_parts_above_whole_is_rule_violated(schema: Schema, check: Callable[..., Found]) -> None:
    sub = make(schema, t2_dossiers_on_time=50, t2_dossiers_late=10, t2_dossiers_pending=5)
    issue = only(check(schema, [make(schema), sub], "Y"), 1)
    assert (issue.code, issue.severity) == ("rule-violated", "error")
    assert (issue.sheet, issue.cell, issue.key) == ("Số liệu", "D17", "t2_dossiers_pending")
    assert (issue.file, issue.unit) == ("bao-cao.xlsx", DEPARTMENT)
    for figure in ("(D15) 50", "(D16) 10", "(D17) 5", "= 65", "(D13) 60"):
        assert figure in issue.message


def test_apologies_above_late_is_suspicious(schema: Schema, check: Callable[..., Found]) -> None:
    issue = only(check(schema, [make(schema, t2_apologies=11)], "Y"))
    assert (issue.code, issue.severity) == ("rule-suspicious", "warning")
    assert (issue.cell, issue.key) == ("D18", "t2_apologies")
    assert "(D18) 11" in issue.message and "(D16) 10" in issue.message


def test_greater_or_equal_rule(schema: Schema, check: Callable[..., Found]) -> None:
    issue = only(check(schema, [make(schema, t4_reception_people=11)], "Y"))
    assert (issue.code, issue.cell) == ("rule-suspicious", "D25")
    assert "(D25) 11" in issue.message and "(D24) 12" in issue.message


def test_equal_sides_satisfy_non_strict_rule(schema: Schema, check: Callable[..., Found]) -> None:
    sub = make(schema, t2_dossiers_on_time=45, t2_dossiers_late=10, t2_dossiers_pending=5)
    assert check(schema, [sub], "Y") == {}


def test_negative_value(schema: Schema, check: Callable[..., Found]) -> None:
    issue = only(check(schema, [make(schema, t1_sessions=-3)], "Y"))
    assert (issue.code, issue.severity, issue.cell, issue.key) == (
        "value-negative",
        "error",
        "D8",
        "t1_sessions",
    )
    assert "-3" in issue.message


def test_out_of_range_value_with_thousands(schema: Schema, check: Callable[..., Found]) -> None:
    issue = only(check(schema, [make(schema, self_score=1234)], "Y"))
    assert (issue.code, issue.sheet, issue.cell) == ("value-out-of-range", "Thông tin chung", "C13")
    assert "1.234" in issue.message and "từ 0 đến 100" in issue.message


def test_communes_rule_applies_to_districts_in_year_report_only(
    schema: Schema, check: Callable[..., Found]
) -> None:
    communes = schema.unit_by_code[DISTRICT].communes
    assert communes == 21
    sub = make(
        schema, DISTRICT, c_communes_good=12, c_communes_fair=6, c_communes_average=3, c_communes_weak=2
    )
    issue = only(check(schema, [sub], "Y"))
    assert (issue.code, issue.severity, issue.cell, issue.key) == (
        "rule-violated",
        "error",
        "D44",
        "c_communes_good",
    )
    assert "= 23" in issue.message and "(21)" in issue.message
    assert check(schema, [sub], "Q1") == {}
    # A department has no communes: the district-only fields do not apply at all.
    assert check(schema, [make(schema, DEPARTMENT, c_communes_good=99)], "Y") == {}


def test_missing_values_never_break_rules(schema: Schema, check: Callable[..., Found]) -> None:
    subs = [
        make(schema, t2_dossiers_received=None, t2_dossiers_on_time=500),
        make(schema, t2_dossiers_late=None, t2_apologies=50),
        make(schema, t2_dossiers_late="nhiều", t2_apologies=50),
        make(schema, DISTRICT, c_communes_weak=None, c_communes_good=100),
        make(schema, "unknown-unit", c_communes_good=100),
        make(schema, None),
    ]
    assert check(schema, subs, "Y") == {}


def test_cell_taken_from_the_submission(schema: Schema, check: Callable[..., Found]) -> None:
    cells = {f.key: Located(f.sheet, f.cell) for f in schema.fields}
    cells["t2_dossiers_pending"] = Located("Số liệu", "D99")
    cells["t2_dossiers_received"] = Located("Số liệu", "E13")
    sub = make(schema, cells=cells, t2_dossiers_pending=20)
    issue = only(check(schema, [sub], "Y"))
    assert issue.cell == "D99"
    assert "(D99) 20" in issue.message and "(E13) 60" in issue.message
    # Without a cells map, the schema's cell is used.
    issue = only(check(schema, [make(schema, cells={}, t2_dossiers_pending=20)], "Y"))
    assert (issue.sheet, issue.cell) == ("Số liệu", "D17")


def test_several_failures_map_to_the_right_rows(schema: Schema, check: Callable[..., Found]) -> None:
    subs = [
        make(schema, name="a.xlsx"),
        make(schema, name="b.xlsx", t1_sessions=-1, t4_petitions_resolved=8),
        make(schema, name="c.xlsx"),
        make(schema, name="d.xlsx", t2_dossiers_online=61),
    ]
    found = check(schema, subs, "Y")
    assert sorted(found) == [1, 3]
    # in check order: ranges, then rules
    assert [(i.code, i.key) for i in found[1]] == [
        ("value-negative", "t1_sessions"),
        ("rule-violated", "t4_petitions_resolved"),
    ]
    assert [(i.code, i.key, i.file) for i in found[3]] == [("rule-violated", "t2_dossiers_online", "d.xlsx")]


def test_five_hundred_submissions(schema: Schema, check: Callable[..., Found]) -> None:
    subs = [make(schema, name=f"{i}.xlsx", t1_sessions=-1 if i % 50 == 0 else 1) for i in range(500)]
    assert sorted(check(schema, subs, "Y")) == list(range(0, 500, 50))


# ---------------------------------------------------------------------------------------------
# The suite and its table


def test_the_suite_is_generated_from_the_schema(schema: Schema) -> None:
    expectations_ = suite(schema.fields)
    ranged = [f for f in schema.fields if f.numeric and (f.min is not None or f.max is not None)]
    rules = [f for f in schema.fields if f.rule]
    assert len(expectations_) == len(ranged) + len(rules) == 46
    # one per range, then one per rule, each in the form's order, named by the form's keys
    assert [(e.check, e.key) for e in expectations_] == [("range", f.key) for f in ranged] + [
        ("rule", f.key) for f in rules
    ]
    assert all(e.meta == {"check": e.check, "key": e.key} and e.description for e in expectations_)
    by_name = {(e.check, e.key): e for e in expectations_}
    score = by_name["range", "self_score"]
    assert (score.type, score.kwargs) == (BETWEEN, {"column": "self_score", "min_value": 0, "max_value": 100})
    assert by_name["range", "t1_sessions"].kwargs == {"column": "t1_sessions", "min_value": 0}
    assert {e.type for e in expectations_[len(ranged) :]} == {PAIR}
    pending = by_name["rule", "t2_dossiers_pending"]
    assert pending.kwargs == {
        "column_A": "t2_dossiers_received",
        "column_B": "t2_dossiers_on_time + t2_dossiers_late + t2_dossiers_pending",
        "or_equal": True,
        "ignore_row_if": "either_value_is_missing",
    }
    assert pending.description.startswith("Quy tắc") and "(t2_dossiers_pending)" in pending.description
    people = by_name["rule", "t4_reception_people"]  # ≥: the left-hand side is the greater
    assert (people.kwargs["column_A"], people.kwargs["column_B"]) == (
        "t4_reception_people",
        "t4_reception_turns",
    )
    assert (people.severity, by_name["rule", "t2_dossiers_online"].severity) == ("warning", "critical")
    communes = by_name["rule", "c_communes_good"]
    assert (communes.kwargs["column_A"], communes.kwargs["column_B"]) == (
        "communes",
        "c_communes_good + c_communes_fair + c_communes_average + c_communes_weak",
    )
    # strict rules (< and >) are the same expectation without or_equal
    strict = {(e.check, e.key): e for e in suite(variant(schema).fields)}
    assert strict["rule", "t2_apologies"].kwargs["or_equal"] is False
    assert strict["rule", "t4_reception_people"].kwargs["or_equal"] is False
    assert strict["rule", "t2_dossiers_pending"].kwargs["or_equal"] is True
    assert strict["range", "t1_sessions"].kwargs == {"column": "t1_sessions", "max_value": 8}
    online = strict["rule", "t2_dossiers_online"].kwargs
    assert (online["column_A"], online["column_B"]) == (
        "100",
        "t2_dossiers_online / t2_dossiers_received * 100",
    )


def test_check_table_columns(schema: Schema) -> None:
    subs = [make(schema, DISTRICT), make(schema, DEPARTMENT, t1_sessions=None), make(schema, None)]
    table = check_table(schema, subs, "Y")
    numeric = [f.key for f in schema.fields if f.numeric]
    derived = [
        "t2_dossiers_on_time + t2_dossiers_late + t2_dossiers_pending",
        "c_communes_good + c_communes_fair + c_communes_average + c_communes_weak",
    ]
    assert list(table.columns) == [*numeric, "communes", *derived]
    assert table.rows == 3
    assert all(len(c) == 3 and c.typecode == "d" for c in table.columns.values())
    cols = table.columns
    assert (cols["t1_sessions"][0], cols["self_score"][0]) == (1, 90.5)
    assert math.isnan(cols["t1_sessions"][1])  # missing
    assert cols["t2_dossiers_on_time + t2_dossiers_late + t2_dossiers_pending"][0] == 55
    assert (cols["communes"][0], cols["c_communes_good"][0]) == (21, 10)
    assert cols["c_communes_good + c_communes_fair + c_communes_average + c_communes_weak"][0] == 21
    # a department: no communes, and the district-only fields do not apply
    assert math.isnan(cols["communes"][1]) and math.isnan(cols["c_communes_good"][1])
    assert math.isnan(cols["c_communes_good + c_communes_fair + c_communes_average + c_communes_weak"][1])
    # no unit: the fields for every unit still do, the district-only ones not
    assert cols["t1_sessions"][2] == 1 and math.isnan(cols["c_communes_good"][2])
    quarter = check_table(schema, subs, "Q1")  # the communes fields are for the year report
    assert quarter.columns["communes"][0] == 21
    assert math.isnan(quarter.columns["c_communes_good"][0])
    assert math.isnan(quarter.columns[derived[1]][0])
    # the table travels to great_expectations' process
    copy = pickle.loads(pickle.dumps(table))
    assert copy.rows == 3
    assert {k: v.tobytes() for k, v in copy.columns.items()} == {k: v.tobytes() for k, v in cols.items()}


def test_a_rule_never_fires_where_its_field_does_not_apply(schema: Schema) -> None:
    """A district-only rule over fields for every unit, and a side shared with a rule for every
    unit: their columns are masked for the other units and periods, under names of their own."""
    form = variant(schema)
    by_name = {(e.check, e.key): e for e in suite(form.fields)}
    fair = by_name["rule", "c_communes_fair"].kwargs  # t4_dialogues <= t4_reception_turns
    assert (fair["column_A"], fair["column_B"]) == ("t4_reception_turns (c_communes_fair)", "t4_dialogues")
    average = by_name["rule", "c_communes_average"].kwargs
    shared = "t2_dossiers_on_time + t2_dossiers_late + t2_dossiers_pending"
    assert by_name["rule", "t2_dossiers_pending"].kwargs["column_B"] == shared
    assert (average["column_A"], average["column_B"]) == (
        "t2_dossiers_received + 10",
        f"{shared} (c_communes_average)",
    )
    assert suite(form.fields) == suite(variant(schema).fields)  # deterministic names
    subs = [
        make(form, DISTRICT, t4_dialogues=13, t2_dossiers_on_time=100, t2_apologies=9),
        make(form, DEPARTMENT, t4_dialogues=13, t2_dossiers_on_time=100, t2_apologies=9),
        make(form, None, t4_dialogues=13, t2_dossiers_on_time=100, t2_apologies=9),
    ]
    table = check_table(form, subs, "Y")
    assert list(table.columns["t4_reception_turns (c_communes_fair)"][:1]) == [12]
    assert all(math.isnan(x) for x in table.columns["t4_reception_turns (c_communes_fair)"][1:])
    assert list(table.columns[shared]) == [115] * 3
    assert table.columns[f"{shared} (c_communes_average)"][0] == 115
    evaluators: tuple[Literal["direct", "great_expectations"], ...] = ("direct", "great_expectations")
    for evaluator in evaluators:
        found = check_submissions(form, subs, "Y", evaluator=evaluator)
        rules = {row: [i.key for i in issues if i.code.startswith("rule")] for row, issues in found.items()}
        assert rules == {
            0: ["t2_dossiers_pending", "c_communes_fair", "c_communes_average"],
            1: ["t2_dossiers_pending"],
            2: ["t2_dossiers_pending"],
        }
        quarter = check_submissions(form, subs, "Q1", evaluator=evaluator)
        assert {row: [i.key for i in issues] for row, issues in quarter.items()} == {
            row: ["t2_dossiers_pending"] for row in range(3)
        }


def test_the_suite_document_is_great_expectations_json(schema: Schema) -> None:
    """great_expectations reads the document back as the same suite (its own to_json_dict), with
    the very expectations the run evaluates."""
    data = suite_document(schema)
    assert data == suite_document(schema) and data.endswith(b"}\n")
    document = json.loads(data.decode("utf-8"))
    assert data.decode("utf-8") == json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    assert "“" in data.decode("utf-8")  # UTF-8, not \u escapes

    import great_expectations as gx

    assert document["meta"] == {"great_expectations_version": gx.__version__}
    loaded = gx.ExpectationSuite(**document)
    assert loaded.to_json_dict() == document
    assert len(loaded.expectations) == len(suite(schema.fields)) == 46
    for ours, theirs in zip(suite(schema.fields), loaded.expectations, strict=True):
        config = theirs.configuration
        assert (config.type, config.kwargs, config.meta) == (ours.type, ours.kwargs, ours.meta)
        assert config.description == ours.description
    # what an auditor sees: the rule on the dossiers, by its key
    [pending] = [
        e for e in document["expectations"] if e["meta"] == {"check": "rule", "key": "t2_dossiers_pending"}
    ]
    assert pending["type"] == "expect_column_pair_values_a_to_be_greater_than_b"
    assert pending["kwargs"]["column_B"] == "t2_dossiers_on_time + t2_dossiers_late + t2_dossiers_pending"


# ---------------------------------------------------------------------------------------------
# Both evaluators give the same issues


def variant(schema: Schema) -> Schema:
    """Today's form with what it lacks, to exercise every case: strict rules (< and >), a
    division (x / 0), constants and a unary minus, a field with a maximum only, a district-only
    rule over two fields for every unit, a side shared by rules of different applicability."""
    rules = {
        "t2_apologies": "t2_apologies < t2_dossiers_late",
        "t4_reception_people": "t4_reception_people > t4_reception_turns",
        "t2_dossiers_online": "t2_dossiers_online / t2_dossiers_received * 100 <= 100",
        "t6_recommendations_addressed": "t6_recommendations_addressed * 2 <= t6_recommendations_received + 3",
        "t5_models_recognized": "-t5_models_recognized >= -t5_models_registered - 1",
        "c_communes_fair": "t4_dialogues <= t4_reception_turns",
        "c_communes_average": (
            "t2_dossiers_on_time + t2_dossiers_late + t2_dossiers_pending <= t2_dossiers_received + 10"
        ),
    }
    fields = []
    for f in schema.fields:
        if f.key in rules:
            f = dataclasses.replace(f, rule=rules[f.key], rule_severity=ERROR)
        if f.key == "t1_sessions":
            f = dataclasses.replace(f, min=None, max=8.0)
        fields.append(f)
    return dataclasses.replace(schema, fields=tuple(fields))


def random_submissions(schema: Schema, count: int, seed: int) -> list[Submission]:
    """Figures around the bounds and each other, missing ones, text, booleans, zeros, fractions."""
    rng = random.Random(seed)
    units: list[str | None] = [*(u.code for u in schema.units), None, "unknown-unit"]
    keys = [f.key for f in schema.fields if f.numeric]
    pool: list[Any] = [
        None,
        "nhiều",
        True,
        0,
        0,
        -1,
        1,
        2,
        5,
        8,
        9,
        10,
        12.5,
        2000,
        2100,
        2101,
        100,
        101,
        -0.5,
    ]
    subs = []
    for i in range(count):
        changes: dict[str, Any] = {}
        for key in keys:
            r = rng.random()
            if r < 0.25:
                changes[key] = rng.choice(pool)
            elif r < 0.45:
                changes[key] = rng.randint(0, 70)
        subs.append(make(schema, unit=rng.choice(units), name=f"{i:05d}.xlsx", **changes))
    return subs


def test_both_evaluators_agree_on_random_rows(schema: Schema) -> None:
    form = variant(schema)
    subs = random_submissions(form, 3000, seed=20260101)
    seen: dict[str, set[tuple[str, str]]] = {}
    for period in ("Y", "Q1"):
        by_gx = check_submissions(form, subs, period, evaluator="great_expectations")
        directly = check_submissions(form, subs, period, evaluator="direct")
        assert by_gx == directly
        seen[period] = {(i.code, i.key) for issues in directly.values() for i in issues}
    # every kind of check failed somewhere, so the comparison covered it
    for expected in [
        ("value-negative", "t2_dossiers_late"),
        ("value-out-of-range", "year"),
        ("value-out-of-range", "self_score"),
        ("value-out-of-range", "t1_sessions"),  # maximum only
        ("rule-violated", "t2_apologies"),  # strict <
        ("rule-violated", "t4_reception_people"),  # strict >
        ("rule-violated", "t2_dossiers_online"),  # division
        ("rule-violated", "t6_recommendations_addressed"),  # constants
        ("rule-violated", "t5_models_recognized"),  # unary minus
        ("rule-violated", "c_communes_good"),  # districts, year report: the registry's communes
        ("rule-violated", "c_communes_fair"),  # districts, year report: two plain names
        ("rule-violated", "c_communes_average"),  # districts, year report: a shared side
        ("value-negative", "c_communes_fair"),
    ]:
        assert expected in seen["Y"], expected
    # the year report's fields do not apply to the quarter's report
    assert not {key for _code, key in seen["Q1"] if key.startswith("c_")}


@pytest.mark.parametrize("period", ["Y", "Q1"])
def test_issues_match_the_rules_read_row_by_row(schema: Schema, period: str) -> None:
    """An oracle independent of the table: each rule and range evaluated on its own."""
    form = variant(schema)
    subs = random_submissions(form, 1500, seed=7)
    found = check_submissions(form, subs, period, evaluator="direct")
    for row, sub in enumerate(subs):
        unit = form.unit_by_code.get(sub.unit) if sub.unit else None
        values: dict[str, float | None] = {}
        for f in form.fields:
            v = sub.values.get(f.key)
            plain = isinstance(v, (int, float)) and not isinstance(v, bool) and f.numeric
            figure = float(v) if plain else None  # type: ignore[arg-type]
            values[f.key] = figure if f.applies(unit, period) else None
        values["communes"] = None if unit is None or unit.communes is None else float(unit.communes)
        expected = set()
        for f in form.fields:
            v = values.get(f.key)
            if v is not None and ((f.min is not None and v < f.min) or (f.max is not None and v > f.max)):
                expected.add(f.key)
            if f.rule and f.applies(unit, period) and evaluate(f.rule, values) is False:
                expected.add("rule:" + f.key)
        got = {("rule:" if i.code.startswith("rule") else "") + i.key for i in found.get(row, [])}
        assert got == expected, (row, sub.unit, got ^ expected)


def test_both_evaluators_agree_on_the_sample_inbox(
    schema: Schema, sample: SampleManifest, tmp_path: Path
) -> None:
    """The demo's real .xlsx files, read as the run reads them, checked against both periods."""
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        subs = run.collect(
            schema, sample.period, sample.out_dir, ledger, None, datetime.fromisoformat(AS_OF), tmp_path
        )
    candidates = [s for s in subs if s.status != "ignored" and s.unit is not None and s.values]
    assert len(candidates) >= 20
    for period in ("Q1", "Y"):
        by_gx = check_submissions(schema, candidates, period, evaluator="great_expectations")
        assert by_gx == check_submissions(schema, candidates, period, evaluator="direct")
    assert by_gx  # the sample has broken rules


def test_an_expectation_great_expectations_cannot_run_is_evaluated_directly(
    schema: Schema, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    subs = [make(schema, t1_sessions=-2), make(schema), make(schema, self_score=101)]
    table = check_table(schema, subs, "Y")
    expectations_ = suite(schema.fields)
    directly = failed_directly(table, expectations_)
    sessions = next(i for i, e in enumerate(expectations_) if e.key == "t1_sessions")
    assert directly[sessions] == [0]

    def result(e: expectations.Expectation, rows: list[int], raised: bool) -> SimpleNamespace:
        return SimpleNamespace(
            success=not rows,
            exception_info={"raised_exception": raised, "exception_message": "boom" if raised else None},
            result={} if raised else {"unexpected_index_list": rows},
            expectation_config=SimpleNamespace(meta=e.meta),
        )

    results = [
        result(e, rows, i == sessions)
        for i, (e, rows) in enumerate(zip(expectations_, directly, strict=True))
    ]
    fake = SimpleNamespace(run=lambda **kwargs: SimpleNamespace(results=results[::-1]))  # any order
    monkeypatch.setattr(expectations, "_validation", lambda e: fake)
    with caplog.at_level(logging.WARNING, logger="pipeline.reading.expectations"):
        assert failed_by_great_expectations(table, expectations_) == directly
    assert "boom" in caplog.text


def test_great_expectations_prints_nothing(schema: Schema, capfd: pytest.CaptureFixture[str]) -> None:
    capfd.readouterr()
    subs = [make(schema, t2_apologies=50), make(schema)]
    assert 0 in check_submissions(schema, subs, "Y", evaluator="great_expectations")
    err = capfd.readouterr().err
    assert "Calculating Metrics" not in err
    assert err == ""


# ---------------------------------------------------------------------------------------------
# The run's Checker: great_expectations in a process of its own, only for large batches


def batch(schema: Schema, count: int) -> list[Submission]:
    return [make(schema, name=f"{i}.xlsx", t2_apologies=11 if i % 7 == 0 else 10) for i in range(count)]


def _process(checker: Checker) -> Any:
    """great_expectations' process (multiprocessing.Process) of the checker's pool."""
    workers = checker._pool._workers
    assert len(workers) == 1
    return workers[0].proc


def test_a_small_batch_starts_nothing(schema: Schema) -> None:
    with Checker(schema) as checker:
        checker.expect(SMALL_BATCH - 1)
        found = checker.check(batch(schema, SMALL_BATCH - 1), "Y")
        assert not checker.started
    assert sorted(found) == list(range(0, SMALL_BATCH - 1, 7))


def test_a_large_batch_runs_in_great_expectations_process(schema: Schema) -> None:
    subs = batch(schema, SMALL_BATCH)
    with Checker(schema) as checker:
        checker.expect(SMALL_BATCH)  # started early, as the run does before its scan
        proc = _process(checker)
        assert proc.is_alive()
        found = checker.check(subs, "Y")
        assert _process(checker) is proc  # answered by that process, not by the fallback
    assert proc.exitcode is not None  # stopped when the block ends
    assert not checker.started
    assert found == check_submissions(schema, subs, "Y", evaluator="direct")
    assert sorted(found) == list(range(0, SMALL_BATCH, 7))


def test_the_process_is_stopped_on_interrupt(schema: Schema) -> None:
    proc = None
    with pytest.raises(KeyboardInterrupt), Checker(schema) as checker:
        checker.expect(SMALL_BATCH)
        proc = _process(checker)
        raise KeyboardInterrupt
    assert proc is not None and not proc.is_alive()


def test_a_dead_process_falls_back_to_the_direct_evaluator(
    schema: Schema, caplog: pytest.LogCaptureFixture
) -> None:
    subs = batch(schema, SMALL_BATCH)
    with Checker(schema) as checker, caplog.at_level(logging.WARNING, logger="pipeline.reading.expectations"):
        checker.expect(SMALL_BATCH)
        proc = _process(checker)
        proc.kill()
        proc.join()
        found = checker.check(subs, "Y")
        assert not checker.started
    assert found == check_submissions(schema, subs, "Y", evaluator="direct")
    assert "great_expectations" in caplog.text


RUN_PROBE = """
import json, sys
from datetime import datetime
from pathlib import Path
from pipeline import config, run
from pipeline.core.deadlines import parse_period
from pipeline.reading import expectations
from pipeline.runtime import pool
small_batch, inbox, outbox = int(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
expectations.SMALL_BATCH = small_batch
spawned = []
new_worker = pool.Pool._new_worker
def spy(self):
    if self.job == "pipeline.reading.expectations":
        spawned.append(self.job)
    return new_worker(self)
pool.Pool._new_worker = spy
s = config.load()
run.consolidate(s, parse_period("2023-Q1", s.calendar), inbox, outbox, datetime.fromisoformat(sys.argv[4]))
print(json.dumps([len(spawned), "great_expectations" in sys.modules, "pandas" in sys.modules]))
"""


def _run(small_batch: int, inbox: Path, outbox: Path) -> list[Any]:
    """A run in a fresh process: [great_expectations' processes spawned, whether the run's own
    process imported great_expectations, pandas]."""
    proc = subprocess.run(
        [sys.executable, "-c", RUN_PROBE, str(small_batch), str(inbox), str(outbox), AS_OF],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    return list(json.loads(proc.stdout.strip().splitlines()[-1]))


def test_runs_by_either_evaluator_write_the_same_bytes(sample: SampleManifest, tmp_path: Path) -> None:
    """The sample inbox consolidated with the direct evaluator (its ~30 files are a small batch)
    and with great_expectations' process (threshold lowered to 1), each into a fresh outbox: the
    same outputs, and the run's own process imports neither great_expectations nor pandas."""
    outbox = tmp_path / "outbox"
    assert _run(SMALL_BATCH, sample.out_dir, outbox) == [0, False, False]
    direct = output_files(outbox)
    assert any(b"rule-" in data for name, data in direct.items() if name.endswith(".csv"))
    [suite_name] = [name for name in direct if name.endswith("/bo-kiem-tra-2023-Q1.json")]
    assert (
        json.loads(direct[suite_name])["expectations"]
        == json.loads(suite_document(config.load()))["expectations"]
    )
    shutil.rmtree(outbox)
    assert _run(1, sample.out_dir, outbox) == [1, False, False]
    assert output_files(outbox) == direct


NETWORK_PROBE = """
import socket, sys
attempts = []
def refuse(*args, **kwargs):
    attempts.append(args)
    raise OSError("network disabled by the test")
socket.socket.connect = refuse
socket.socket.connect_ex = refuse
socket.create_connection = refuse
socket.getaddrinfo = refuse
from pipeline import config
from pipeline.reading.expectations import check_submissions
from tests.test_expectations import make
s = config.load()
found = check_submissions(s, [make(s), make(s, t2_dossiers_pending=999)], "Y", evaluator="great_expectations")
assert "great_expectations" in sys.modules
print(len(attempts), sorted(i.code for issues in found.values() for i in issues))
"""


def test_the_suite_runs_without_touching_the_network() -> None:
    """Great Expectations is imported and run in a process where every connection fails loudly."""
    proc = subprocess.run(
        [sys.executable, "-c", NETWORK_PROBE], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    attempts, codes = proc.stdout.strip().split(" ", 1)
    assert attempts == "0"
    assert codes == "['rule-violated']"


def test_a_rerun_over_the_same_inbox_starts_nothing(
    schema: Schema, sample: SampleManifest, tmp_path: Path
) -> None:
    """Even with the threshold lowered to 5: every report comes from the cache, so the reader
    expects no new file and great_expectations' process is never started."""
    outbox = tmp_path / "outbox"
    assert _run(5, sample.out_dir, outbox)[0] == 1  # cold: ~30 new files
    with Cache.of_outbox(outbox, fingerprint(schema.directory)) as cache:
        listing = scan.scan(sample.out_dir, cache)
        assert len(listing.entries) >= 20
        with Reader(schema, sample.period, cache) as reader:
            assert reader.unknown(listing.entries) == 0
    assert _run(5, sample.out_dir, outbox) == [0, False, False]
