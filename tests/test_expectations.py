"""Range and rule checks run through great-expectations over the merged table."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from pipeline import schema as schema_module
from pipeline.catalogue import Issue
from pipeline.expectations import _failed_rows, check_submissions, merged_table
from pipeline.model import InboxFile, Located, Submission
from pipeline.schema import Schema

DISTRICT = "540"  # Thành phố Quy Nhơn, 21 communes in schemas/units.csv
DEPARTMENT = "SNV"


@pytest.fixture(scope="module")
def schema() -> Schema:
    return schema_module.load()


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


def test_clean_submissions_give_no_issues(schema: Schema) -> None:
    subs = [make(schema, DEPARTMENT), make(schema, DISTRICT)]
    assert check_submissions(schema, subs, "Y") == {}
    assert check_submissions(schema, subs, "Q1") == {}
    assert check_submissions(schema, [], "Y") == {}


def test_dossiers_parts_above_whole_is_rule_violated(schema: Schema) -> None:
    sub = make(schema, t2_dossiers_on_time=50, t2_dossiers_late=10, t2_dossiers_pending=5)
    issue = only(check_submissions(schema, [make(schema), sub], "Y"), 1)
    assert (issue.code, issue.severity) == ("rule-violated", "error")
    assert (issue.sheet, issue.cell, issue.key) == ("Số liệu", "D17", "t2_dossiers_pending")
    assert (issue.file, issue.unit) == ("bao-cao.xlsx", DEPARTMENT)
    for figure in ("(D15) 50", "(D16) 10", "(D17) 5", "= 65", "(D13) 60"):
        assert figure in issue.message


def test_apologies_above_late_is_suspicious(schema: Schema) -> None:
    issue = only(check_submissions(schema, [make(schema, t2_apologies=11)], "Y"))
    assert (issue.code, issue.severity) == ("rule-suspicious", "warning")
    assert (issue.cell, issue.key) == ("D18", "t2_apologies")
    assert "(D18) 11" in issue.message and "(D16) 10" in issue.message


def test_greater_or_equal_rule(schema: Schema) -> None:
    issue = only(check_submissions(schema, [make(schema, t4_reception_people=11)], "Y"))
    assert (issue.code, issue.cell) == ("rule-suspicious", "D25")
    assert "(D25) 11" in issue.message and "(D24) 12" in issue.message


def test_equal_sides_satisfy_non_strict_rule(schema: Schema) -> None:
    sub = make(schema, t2_dossiers_on_time=45, t2_dossiers_late=10, t2_dossiers_pending=5)
    assert check_submissions(schema, [sub], "Y") == {}


def test_negative_value(schema: Schema) -> None:
    issue = only(check_submissions(schema, [make(schema, t1_sessions=-3)], "Y"))
    assert (issue.code, issue.severity, issue.cell, issue.key) == (
        "value-negative",
        "error",
        "D8",
        "t1_sessions",
    )
    assert "-3" in issue.message


def test_out_of_range_value_with_thousands(schema: Schema) -> None:
    issue = only(check_submissions(schema, [make(schema, self_score=1234)], "Y"))
    assert (issue.code, issue.sheet, issue.cell) == ("value-out-of-range", "Thông tin chung", "C13")
    assert "1.234" in issue.message and "từ 0 đến 100" in issue.message


def test_communes_rule_applies_to_districts_in_year_report_only(schema: Schema) -> None:
    communes = schema.unit_by_code[DISTRICT].communes
    assert communes == 21
    sub = make(
        schema, DISTRICT, c_communes_good=12, c_communes_fair=6, c_communes_average=3, c_communes_weak=2
    )
    issue = only(check_submissions(schema, [sub], "Y"))
    assert (issue.code, issue.severity, issue.cell, issue.key) == (
        "rule-violated",
        "error",
        "D44",
        "c_communes_good",
    )
    assert "= 23" in issue.message and "(21)" in issue.message
    assert check_submissions(schema, [sub], "Q1") == {}
    # A department has no communes: the district-only fields do not apply at all.
    assert check_submissions(schema, [make(schema, DEPARTMENT, c_communes_good=99)], "Y") == {}


def test_missing_values_never_break_rules(schema: Schema) -> None:
    subs = [
        make(schema, t2_dossiers_received=None, t2_dossiers_on_time=500),
        make(schema, t2_dossiers_late=None, t2_apologies=50),
        make(schema, t2_dossiers_late="nhiều", t2_apologies=50),
        make(schema, DISTRICT, c_communes_weak=None, c_communes_good=100),
        make(schema, "unknown-unit", c_communes_good=100),
        make(schema, None),
    ]
    assert check_submissions(schema, subs, "Y") == {}


def test_cell_taken_from_the_submission(schema: Schema) -> None:
    cells = {f.key: Located(f.sheet, f.cell) for f in schema.fields}
    cells["t2_dossiers_pending"] = Located("Số liệu", "D99")
    cells["t2_dossiers_received"] = Located("Số liệu", "E13")
    sub = make(schema, cells=cells, t2_dossiers_pending=20)
    issue = only(check_submissions(schema, [sub], "Y"))
    assert issue.cell == "D99"
    assert "(D99) 20" in issue.message and "(E13) 60" in issue.message
    # Without a cells map, the schema's cell is used.
    issue = only(check_submissions(schema, [make(schema, cells={}, t2_dossiers_pending=20)], "Y"))
    assert (issue.sheet, issue.cell) == ("Số liệu", "D17")


def test_several_failures_map_to_the_right_rows(schema: Schema) -> None:
    subs = [
        make(schema, name="a.xlsx"),
        make(schema, name="b.xlsx", t1_sessions=-1, t4_petitions_resolved=8),
        make(schema, name="c.xlsx"),
        make(schema, name="d.xlsx", t2_dossiers_online=61),
    ]
    found = check_submissions(schema, subs, "Y")
    assert sorted(found) == [1, 3]
    assert sorted((i.code, i.key) for i in found[1]) == [
        ("rule-violated", "t4_petitions_resolved"),
        ("value-negative", "t1_sessions"),
    ]
    assert [(i.code, i.key, i.file) for i in found[3]] == [("rule-violated", "t2_dossiers_online", "d.xlsx")]


def test_merged_table_columns(schema: Schema) -> None:
    df = merged_table(schema, [make(schema, DISTRICT), make(schema, DEPARTMENT)], "Y")
    assert list(df["communes"].isna()) == [False, True]
    assert df.loc[0, "__slack__t2_dossiers_pending"] == 5  # 60 - (40 + 10 + 5)
    assert df.loc[0, "__slack__c_communes_good"] == 0  # 21 - 21
    assert df["c_communes_good"].isna().tolist() == [False, True]
    assert "report_number" not in df.columns


def test_great_expectations_prints_nothing(schema: Schema, capfd: pytest.CaptureFixture[str]) -> None:
    capfd.readouterr()
    subs = [make(schema, t2_apologies=50), make(schema)]
    assert 0 in check_submissions(schema, subs, "Y")
    err = capfd.readouterr().err
    assert "Calculating Metrics" not in err
    assert err == ""


def test_five_hundred_submissions(schema: Schema) -> None:
    subs = [make(schema, name=f"{i}.xlsx", t1_sessions=-1 if i % 50 == 0 else 1) for i in range(500)]
    start = time.perf_counter()
    found = check_submissions(schema, subs, "Y")
    print(f"check_submissions, 500 submissions: {time.perf_counter() - start:.3f} s")
    assert sorted(found) == list(range(0, 500, 50))


def test_failed_rows_recomputed_when_great_expectations_raises(schema: Schema) -> None:
    df = merged_table(
        schema, [make(schema, t1_sessions=-2), make(schema), make(schema, t2_apologies=10)], "Y"
    )
    broken = SimpleNamespace(
        exception_info={"raised_exception": True, "exception_message": "boom"},
        result={},
        expectation_config=SimpleNamespace(
            kwargs={"column": "t1_sessions", "min_value": 0, "max_value": None}
        ),
    )
    assert _failed_rows(broken, df) == [0]
    broken.expectation_config.kwargs = {"column": "__slack__t2_apologies", "min_value": 0, "strict_min": True}
    assert _failed_rows(broken, df) == [0, 1, 2]  # slack 0 everywhere fails a strict minimum


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
from tests.test_expectations import make
s = schema_module.load()
found = __import__("pipeline.expectations", fromlist=["x"]).check_submissions(
    s, [make(s), make(s, t2_dossiers_pending=999)], "Y"
)
print(len(attempts), sorted(i.code for issues in found.values() for i in issues))
"""


def test_the_suite_runs_without_touching_the_network() -> None:
    """Great Expectations is imported and run in a process where every connection fails loudly."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run(
        [sys.executable, "-c", NETWORK_PROBE], cwd=root, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    attempts, codes = proc.stdout.strip().split(" ", 1)
    assert attempts == "0"
    assert codes == "['rule-violated']"
