"""Range and rule checks: the suite generated from the schema, run by great_expectations and by
our own evaluator over the same check table, with the same issues; the run's Checker."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import random
import shutil
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from pipeline import expectations, parsecache, run
from pipeline.catalogue import Issue
from pipeline.deadlines import parse_period
from pipeline.expectations import (
    SMALL_BATCH,
    Checker,
    check_submissions,
    check_table,
    checks,
    failed_by_great_expectations,
    failed_directly,
    suite,
)
from pipeline.expression import evaluate
from pipeline.ledger import Ledger
from pipeline.model import InboxFile, Located, Submission
from pipeline.sample import SampleManifest
from pipeline.schema import Schema
from tests.conftest import AS_OF

ROOT = Path(__file__).resolve().parents[1]
Found = dict[int, list[Issue]]

DISTRICT = "540"  # Thành phố Quy Nhơn, 21 communes in schemas/units.csv
DEPARTMENT = "SNV"


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
    unit: str = DEPARTMENT,
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
        status="accepted",
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
# The suite and the check table


def test_the_suite_is_generated_from_the_schema(schema: Schema) -> None:
    all_checks = checks(schema.fields)
    ranged = [f.key for f in schema.fields if f.numeric and (f.min is not None or f.max is not None)]
    rules = [f.key for f in schema.fields if f.rule]
    assert [c.field.key for c in all_checks] == ranged + rules  # ranges first, then rules
    assert [(e.column_A, e.column_B, e.or_equal) for e in suite(schema.fields)] == [
        ("value", "lower", True),
        ("upper", "value", True),
    ]  # no strict rule in today's form
    strict = variant(schema)
    assert [(e.column_A, e.column_B, e.or_equal) for e in suite(strict.fields)] == [
        ("value", "lower", True),
        ("value", "strict_lower", False),
        ("upper", "value", True),
    ]


def test_check_table_columns(schema: Schema) -> None:
    subs = [make(schema, DISTRICT), make(schema, DEPARTMENT, t1_sessions=None)]
    table = check_table(schema, subs, "Y")
    all_checks = checks(schema.fields)
    assert table.submissions == 2
    assert set(table.columns) == {"value", "lower", "upper"}
    assert all(len(c) == 2 * len(all_checks) for c in table.columns.values())

    def cell(column: str, key: str, kind: str, row: int) -> float:
        position = _position(all_checks, key, kind, row, 2)
        assert table.locate(position)[1] == row
        return table.columns[column][position]

    assert cell("value", "t1_sessions", "range", 0) == 1
    assert math.isnan(cell("value", "t1_sessions", "range", 1))  # missing
    assert (cell("lower", "self_score", "range", 0), cell("upper", "self_score", "range", 0)) == (0, 100)
    assert math.isnan(cell("upper", "t1_sessions", "range", 0))  # no maximum
    assert cell("value", "t2_dossiers_pending", "rule", 0) == 5  # slack: 60 - (40 + 10 + 5)
    assert cell("lower", "t2_dossiers_pending", "rule", 0) == 0
    assert cell("value", "c_communes_good", "rule", 0) == 0  # 21 communes - 21
    assert math.isnan(cell("value", "c_communes_good", "rule", 1))  # not for a department
    assert math.isnan(cell("value", "c_communes_good", "range", 1))
    quarter = check_table(schema, subs, "Q1")  # the communes fields are for the year report
    assert math.isnan(quarter.columns["value"][_position(all_checks, "c_communes_good", "rule", 0, 2)])


def _position(all_checks: tuple[expectations.Check, ...], key: str, kind: str, row: int, n: int) -> int:
    index = next(
        i
        for i, c in enumerate(all_checks)
        if c.field.key == key and (c.comparison is None) == (kind == "range")
    )
    return index * n + row


# ---------------------------------------------------------------------------------------------
# Both evaluators give the same issues


def variant(schema: Schema) -> Schema:
    """Today's form with what it lacks, to exercise every case: strict rules (< and >), a
    division (x / 0), constants and a unary minus, a field with a maximum only."""
    rules = {
        "t2_apologies": "t2_apologies < t2_dossiers_late",
        "t4_reception_people": "t4_reception_people > t4_reception_turns",
        "t2_dossiers_online": "t2_dossiers_online / t2_dossiers_received * 100 <= 100",
        "t6_recommendations_addressed": "t6_recommendations_addressed * 2 <= t6_recommendations_received + 3",
        "t5_models_recognized": "-t5_models_recognized >= -t5_models_registered - 1",
    }
    fields = []
    for f in schema.fields:
        if f.key in rules:
            f = dataclasses.replace(f, rule=rules[f.key], rule_severity="error")
        if f.key == "t1_sessions":
            f = dataclasses.replace(f, min=None, max=8.0)
        fields.append(f)
    return dataclasses.replace(schema, fields=tuple(fields))


def random_submissions(schema: Schema, count: int, seed: int) -> list[Submission]:
    """Figures around the bounds and each other, missing ones, text, booleans, zeros, fractions."""
    rng = random.Random(seed)
    units: list[str | None] = [u.code for u in schema.units] + [None, "unknown-unit"]
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
    seen: set[tuple[str, str]] = set()
    for period in ("Y", "Q1"):
        by_ge = check_submissions(form, subs, period, evaluator="great_expectations")
        directly = check_submissions(form, subs, period, evaluator="direct")
        assert by_ge == directly
        seen |= {(i.code, i.key) for issues in directly.values() for i in issues}
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
        ("rule-violated", "c_communes_good"),  # districts, year report
        ("value-negative", "c_communes_fair"),
    ]:
        assert expected in seen, expected


def test_issues_match_the_rules_read_row_by_row(schema: Schema) -> None:
    """An oracle independent of the check table: each rule and range evaluated on its own."""
    form = variant(schema)
    subs = random_submissions(form, 1500, seed=7)
    found = check_submissions(form, subs, "Y", evaluator="direct")
    for row, sub in enumerate(subs):
        unit = form.unit_by_code.get(sub.unit) if sub.unit else None
        values: dict[str, float | None] = {}
        for f in form.fields:
            v = sub.values.get(f.key)
            plain = isinstance(v, (int, float)) and not isinstance(v, bool) and f.numeric
            values[f.key] = float(v) if plain and f.applies(unit, "Y") else None  # type: ignore[arg-type]
        values["communes"] = None if unit is None or unit.communes is None else float(unit.communes)
        expected = set()
        for f in form.fields:
            v = values.get(f.key)
            if v is not None and ((f.min is not None and v < f.min) or (f.max is not None and v > f.max)):
                expected.add(f.key)
            if f.rule and f.applies(unit, "Y") and evaluate(f.rule, values) is False:
                expected.add("rule:" + f.key)
        got = {("rule:" if i.code.startswith("rule") else "") + i.key for i in found.get(row, [])}
        assert got == expected, (row, sub.unit, got ^ expected)


def test_both_evaluators_agree_on_the_sample_inbox(
    schema: Schema, sample: SampleManifest, tmp_path: Path
) -> None:
    """The demo's real .xlsx files, read as the run reads them, checked against both periods."""
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        subs = run.collect(
            schema, sample.period, sample.out_dir, ledger, datetime.fromisoformat(AS_OF), tmp_path
        )
    candidates = [s for s in subs if s.status != "ignored" and s.unit is not None and s.values]
    assert len(candidates) >= 20
    for period in ("Q1", "Y"):
        by_ge = check_submissions(schema, candidates, period, evaluator="great_expectations")
        assert by_ge == check_submissions(schema, candidates, period, evaluator="direct")
    assert by_ge  # the sample has broken rules


def test_an_expectation_great_expectations_cannot_run_is_evaluated_directly(
    schema: Schema, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    subs = [make(schema, t1_sessions=-2), make(schema), make(schema, self_score=101)]
    table = check_table(schema, subs, "Y")
    expectations_ = suite(schema.fields)
    raised = SimpleNamespace(
        success=False,
        exception_info={"raised_exception": True, "exception_message": "boom"},
        result={},
        expectation_config=SimpleNamespace(meta={"index": 0}),
    )
    upper = SimpleNamespace(
        success=False,
        exception_info={"raised_exception": False},
        result={"unexpected_index_list": failed_directly(table, expectations_[1:])},
        expectation_config=SimpleNamespace(meta={"index": 1}),
    )
    fake = SimpleNamespace(run=lambda **kwargs: SimpleNamespace(results=[raised, upper]))
    monkeypatch.setattr(expectations, "_validation", lambda e: fake)
    with caplog.at_level(logging.WARNING, logger="pipeline.expectations"):
        assert failed_by_great_expectations(table, expectations_) == failed_directly(table, expectations_)
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
        proc = checker._proc
        assert proc is not None and proc.is_alive()
        found = checker.check(subs, "Y")
        assert checker._proc is proc  # answered by that process, not by the fallback
    assert proc.exitcode is not None  # stopped when the block ends
    assert found == check_submissions(schema, subs, "Y", evaluator="direct")
    assert sorted(found) == list(range(0, SMALL_BATCH, 7))


def test_the_process_is_stopped_on_interrupt(schema: Schema) -> None:
    with pytest.raises(KeyboardInterrupt), Checker(schema) as checker:
        checker.expect(SMALL_BATCH)
        proc = checker._proc
        raise KeyboardInterrupt
    assert proc is not None and not proc.is_alive()


def test_a_dead_process_falls_back_to_the_direct_evaluator(
    schema: Schema, caplog: pytest.LogCaptureFixture
) -> None:
    subs = batch(schema, SMALL_BATCH)
    with Checker(schema) as checker, caplog.at_level(logging.WARNING, logger="pipeline.expectations"):
        checker.expect(SMALL_BATCH)
        assert checker._proc is not None
        checker._proc.kill()
        checker._proc.join()
        found = checker.check(subs, "Y")
        assert not checker.started
    assert found == check_submissions(schema, subs, "Y", evaluator="direct")
    assert "great_expectations" in caplog.text


RUN_PROBE = """
import json, sys
from datetime import datetime
from pathlib import Path
from pipeline import expectations, run, schema as schema_module
from pipeline.deadlines import parse_period
small_batch, inbox, outbox = int(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
expectations.SMALL_BATCH = small_batch
started = []
start = expectations.Checker._start
def spy(self):
    started.append(self._proc is None)  # a process spawned, not one already running
    start(self)
expectations.Checker._start = spy
s = schema_module.load()
run.consolidate(s, parse_period("2023-Q1", s.calendar), inbox, outbox, datetime.fromisoformat(sys.argv[4]))
print(json.dumps([sum(started), "great_expectations" in sys.modules, "pandas" in sys.modules]))
"""


def _run(small_batch: int, inbox: Path, outbox: Path) -> list[Any]:
    proc = subprocess.run(
        [sys.executable, "-c", RUN_PROBE, str(small_batch), str(inbox), str(outbox), AS_OF],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return list(json.loads(proc.stdout.strip().splitlines()[-1]))


def _outputs(outbox: Path) -> dict[str, bytes]:
    report = json.loads((outbox / "2023-Q1" / "run.json").read_text(encoding="utf-8"))
    return {rel: (outbox / rel).read_bytes() for rel in report["outputs"]}


def test_runs_by_either_evaluator_write_the_same_bytes(sample: SampleManifest, tmp_path: Path) -> None:
    """The sample inbox consolidated with the direct evaluator (its ~30 files are a small batch)
    and with great_expectations' process (threshold lowered to 1), each into a fresh outbox: the
    same outputs, and the run's own process imports neither great_expectations nor pandas."""
    outbox = tmp_path / "outbox"
    assert _run(SMALL_BATCH, sample.out_dir, outbox) == [0, False, False]
    direct = _outputs(outbox)
    assert any(b"rule-" in data for name, data in direct.items() if name.endswith(".csv"))
    shutil.rmtree(outbox)
    assert _run(1, sample.out_dir, outbox) == [1, False, False]
    assert _outputs(outbox) == direct


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
from pipeline import schema as schema_module
from pipeline.expectations import check_submissions
from tests.test_expectations import make
s = schema_module.load()
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


def test_likely_new_files_counts_the_inbox_less_the_parse_cache(schema: Schema, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    (inbox / "sub").mkdir(parents=True)
    for name in ("a.xlsx", "b.xlsx", "sub/c.xlsx"):
        (inbox / name).write_bytes(b"x")
    period = parse_period("2023-Q1", schema.calendar)
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        assert run.likely_new_files(schema, period, inbox, ledger) == 3
        fingerprint = parsecache.fingerprint(schema)
        ledger.store_parse_cache(fingerprint, period.id, [("0" * 64, "a.xlsx", "xlsx", b"layout", b"data")])
        ledger.store_parse_cache(fingerprint, "2023-Q2", [("1" * 64, "b.xlsx", "xlsx", b"layout", b"data")])
        assert run.likely_new_files(schema, period, inbox, ledger) == 2
        # the cache holds more than the inbox (files replaced under their names): still one
        rows = [(str(i) * 64, f"{name}.xlsx", "xlsx", b"layout", b"data") for i, name in enumerate("bcdef")]
        ledger.store_parse_cache(fingerprint, period.id, rows)
        assert run.likely_new_files(schema, period, inbox, ledger) == 1
        assert run.likely_new_files(schema, period, tmp_path / "empty", ledger) == 0


def test_a_rerun_over_the_same_inbox_starts_nothing(sample: SampleManifest, tmp_path: Path) -> None:
    """Even with the threshold lowered to 5: every report comes from the parse cache."""
    outbox = tmp_path / "outbox"
    assert _run(5, sample.out_dir, outbox)[0] == 1  # cold: ~30 new files
    assert _run(5, sample.out_dir, outbox) == [0, False, False]
