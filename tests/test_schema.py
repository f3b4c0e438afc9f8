from __future__ import annotations

import csv
import dataclasses
import pickle
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from pipeline import config
from pipeline.core import expression
from pipeline.core.deadlines import PeriodError, parse_period

SHARED = Path(__file__).resolve().parents[2] / "shared" / "domain"
TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def test_registry_has_the_32_units_of_the_brief() -> None:
    s = config.load()
    assert len(s.units) == 32
    districts = [u for u in s.units if u.kind == "district"]
    assert len(districts) == 11
    assert sum(u.communes or 0 for u in districts) == 159
    assert {u.code for u in districts} == {str(c) for c in [540, *range(542, 552)]}


def test_form_has_every_indicator_of_the_province_draft() -> None:
    s = config.load()
    with (SHARED / "indicators.csv").open(encoding="utf-8") as fh:
        draft = list(csv.DictReader(fh))
    for row in draft:
        f = s.field_by_key[row["key"]]
        assert f.label == row["label_vi"]
        assert f.kind == row["kind"]
        assert f.applies_to == row["applies_to"]
    ids = {f.key for f in s.identification}
    assert ids == {
        "unit_code", "period", "year", "report_number", "report_date",
        "preparer_name", "preparer_phone", "preparer_email", "self_score",
    }  # fmt: skip


def test_every_rule_is_a_comparison_over_known_names() -> None:
    s = config.load()
    known = set(s.field_by_key) | {"communes"}
    assert len(s.rules) == 9
    for f in s.rules:
        cmp = expression.comparison(f.rule)
        assert set(cmp.lhs_names + cmp.rhs_names) <= known
        assert f.key in cmp.lhs_names + cmp.rhs_names


def test_deadlines_and_lateness() -> None:
    s = config.load()
    q1 = parse_period("2023-Q1", s.calendar)
    assert q1.deadline.isoformat() == "2023-03-20"
    assert q1.cutoff_start.isoformat() == "2022-12-15"
    assert q1.days_late(datetime(2023, 3, 20, 23, 59, 59, tzinfo=TZ)) == 0
    assert q1.days_late(datetime(2023, 3, 21, 0, 0, 1, tzinfo=TZ)) == 1
    # 17:30 UTC on the 20th is already the 21st in Vietnam
    assert q1.days_late(datetime(2023, 3, 20, 17, 30, tzinfo=ZoneInfo("UTC"))) == 1
    y = parse_period("2023-y", s.calendar)
    assert y.deadline.isoformat() == "2023-11-25"
    assert not q1.is_due(datetime(2023, 3, 20, 12, tzinfo=TZ))
    assert q1.is_due(datetime(2023, 3, 21, tzinfo=TZ))
    # the year's own period is "năm 2023", never "Năm năm 2023"
    assert (q1.name_vi, y.name_vi) == ("Quý I năm 2023", "năm 2023")


@pytest.mark.parametrize("text", ["2023", "2023-Q5", "Q1-2023", ""])
def test_bad_period_ids(text: str) -> None:
    with pytest.raises(PeriodError):
        parse_period(text, config.load().calendar)


def test_expressions_propagate_missing_values() -> None:
    assert expression.evaluate("a + b <= c", {"a": 1, "b": 2, "c": 3}) is True
    assert expression.evaluate("a + b <= c", {"a": 1, "b": None, "c": 3}) is None
    assert expression.evaluate("a / b", {"a": 1, "b": 0}) is None
    with pytest.raises(expression.ExpressionError):
        expression.parse("__import__('os')")


def test_letters_address_a_district_through_its_peoples_committee() -> None:
    s = config.load()
    assert s.unit_by_code["550"].addressee == "Ủy ban nhân dân huyện Tuy Phước"
    assert s.unit_by_code["540"].addressee == "Ủy ban nhân dân thành phố Quy Nhơn"
    assert s.unit_by_code["SYT"].addressee == "Sở Y tế"


def test_a_schema_pickles_whole_for_the_read_workers() -> None:
    """Workers get the run's schema pickled (units as plain rows): every field comes back."""
    schema = config.load()
    assert schema.unit_by_code  # a cached lookup: rebuilt on the other side, not sent
    back = pickle.loads(pickle.dumps(schema))
    for f in dataclasses.fields(schema):
        assert getattr(back, f.name) == getattr(schema, f.name), f.name
    assert back.unit_by_code == schema.unit_by_code and back is not schema
