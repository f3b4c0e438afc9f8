"""The safe expression language of schemas/ (rules, rubric checks): three-valued results."""

from __future__ import annotations

import pytest

from pipeline.core.expression import ExpressionError, evaluate, names


@pytest.mark.parametrize(
    ("source", "values", "expected"),
    [
        ("a + b * 2", {"a": 1, "b": 3}, 7),
        ("a - -b", {"a": 1, "b": 3}, 4),
        ("a / b", {"a": 1, "b": 0}, None),  # division by zero: unknown, not an error
        ("a / b", {"a": 3, "b": 2}, 1.5),
        ("a + b", {"a": 1}, None),  # a missing figure makes the result unknown
        ("a <= b <= c", {"a": 1, "b": 2, "c": 3}, True),
        ("a <= b <= c", {"a": 1, "b": 5, "c": 3}, False),
        ("a < b < c", {"a": 9, "b": 5}, False),  # decided before the unknown side
        ("a < b < c", {"a": 1, "b": 5}, None),
        ("a > 0 and b > 0", {"a": 0}, False),  # False wins over unknown
        ("a > 0 and b > 0", {"a": 1}, None),
        ("a > 0 or b > 0", {"a": 1}, True),  # True wins over unknown
        ("a > 0 or b > 0", {"a": 0}, None),
        ("not a", {"a": 0}, True),
        ("not a", {}, None),
        ("2.5", {}, 2.5),
    ],
)
def test_evaluate(source: str, values: dict[str, float], expected: object) -> None:
    assert evaluate(source, values) == expected
    assert type(evaluate(source, values)) is type(expected)


def test_names_once_each() -> None:
    assert names("on_time + late") == ["on_time", "late"]
    assert sorted(names("b + a * b - c")) == ["a", "b", "c"]


@pytest.mark.parametrize("source", ["__import__('os')", "a.b", "a[0]", "'text'", "a if b else c", "a ** b"])
def test_refused(source: str) -> None:
    with pytest.raises(ExpressionError):
        evaluate(source, {})
