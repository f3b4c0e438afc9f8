"""Tiny, safe expressions over indicator values, used by form rules and the rubric.

Grammar: names, numbers, + - * /, comparisons, and/or/not. A missing value (None) makes
the whole result None ("cannot be decided"), never a guess.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

Value = float | int | bool | None

_BINOPS: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}
_CMPOPS: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}
OP_SYMBOL = {ast.Lt: "<", ast.LtE: "≤", ast.Gt: ">", ast.GtE: "≥", ast.Eq: "=", ast.NotEq: "≠"}


class ExpressionError(ValueError):
    pass


@lru_cache(maxsize=512)
def parse(source: str) -> ast.expr:
    try:
        tree = ast.parse(source, mode="eval").body
    except SyntaxError as exc:
        raise ExpressionError(f"biểu thức sai cú pháp: {source!r}") from exc
    for node in ast.walk(tree):
        allowed = (
            ast.Name, ast.Constant, ast.BinOp, ast.Compare, ast.BoolOp, ast.UnaryOp,
            ast.Load, ast.operator, ast.cmpop, ast.boolop, ast.unaryop,
        )  # fmt: skip
        if not isinstance(node, allowed):
            raise ExpressionError(f"biểu thức không được phép: {source!r}")
        if isinstance(node, ast.BinOp) and type(node.op) not in _BINOPS:
            raise ExpressionError(f"phép toán không được phép: {source!r}")
        if isinstance(node, ast.Constant) and not isinstance(node.value, (int, float)):
            raise ExpressionError(f"hằng số không được phép: {source!r}")
    return tree


def names(source: str) -> list[str]:
    """Names in order of first appearance."""
    return list(_names(source))


@lru_cache(maxsize=512)
def _names(source: str) -> tuple[str, ...]:
    seen: list[str] = []
    for node in ast.walk(parse(source)):
        if isinstance(node, ast.Name) and node.id not in seen:
            seen.append(node.id)
    return tuple(seen)


def evaluate(source: str, values: Mapping[str, Value]) -> Value:
    return _compiled(source)(values)


Evaluator = Callable[[Mapping[str, Value]], Value]


@lru_cache(maxsize=512)
def _compiled(source: str) -> Evaluator:
    """The expression as nested closures, built once per source: evaluating it for each
    unit then costs a few calls, not a walk over the syntax tree."""
    return _compile(parse(source))


def _compile(node: ast.expr) -> Evaluator:
    if isinstance(node, ast.Constant):
        value = node.value
        constant: Value = value if isinstance(value, (int, float)) else None
        return lambda values: constant
    if isinstance(node, ast.Name):
        name = node.id
        return lambda values: values.get(name)
    if isinstance(node, ast.UnaryOp):
        operand, unary = _compile(node.operand), node.op

        def unary_op(values: Mapping[str, Value]) -> Value:
            v = operand(values)
            if v is None:
                return None
            if isinstance(unary, ast.Not):
                return not v
            if isinstance(unary, ast.USub):
                return -v
            return +v

        return unary_op
    if isinstance(node, ast.BinOp):
        left, right = _compile(node.left), _compile(node.right)
        func, divide = _BINOPS[type(node.op)], isinstance(node.op, ast.Div)

        def bin_op(values: Mapping[str, Value]) -> Value:
            a, b = left(values), right(values)
            if a is None or b is None:
                return None
            if divide and b == 0:
                return None
            return func(a, b)  # type: ignore[no-any-return]

        return bin_op
    if isinstance(node, ast.Compare):
        first = _compile(node.left)
        steps = [
            (_CMPOPS[type(op)], _compile(comp)) for op, comp in zip(node.ops, node.comparators, strict=True)
        ]

        def compare(values: Mapping[str, Value]) -> Value:
            a = first(values)
            for cmp, side in steps:
                b = side(values)
                if a is None or b is None:
                    return None
                if not cmp(a, b):
                    return False
                a = b
            return True

        return compare
    if isinstance(node, ast.BoolOp):
        parts, conjunction = [_compile(v) for v in node.values], isinstance(node.op, ast.And)

        def bool_op(values: Mapping[str, Value]) -> Value:
            results = [p(values) for p in parts]
            if conjunction:
                if any(r is False for r in results):
                    return False
                return None if any(r is None for r in results) else True
            if any(r is True for r in results):
                return True
            return None if any(r is None for r in results) else False

        return bool_op
    raise ExpressionError("biểu thức không được phép")


@dataclass(frozen=True)
class Comparison:
    """A rule "lhs op rhs" split in its two sides, for messages and the expectation suite."""

    lhs: str
    op: str  # symbol for messages
    rhs: str
    lhs_names: tuple[str, ...]
    rhs_names: tuple[str, ...]
    greater_side: str  # "lhs" when the rule reads lhs ≥ rhs, else "rhs"
    strict: bool


def comparison(source: str) -> Comparison:
    node = parse(source)
    if not isinstance(node, ast.Compare) or len(node.ops) != 1:
        raise ExpressionError(f"quy tắc phải có dạng 'vế trái so sánh vế phải': {source!r}")
    op = type(node.ops[0])
    lhs, rhs = ast.unparse(node.left), ast.unparse(node.comparators[0])
    if op not in (ast.Lt, ast.LtE, ast.Gt, ast.GtE):
        raise ExpressionError(f"quy tắc chỉ dùng <, <=, >, >=: {source!r}")
    return Comparison(
        lhs=lhs,
        op=OP_SYMBOL[op],
        rhs=rhs,
        lhs_names=tuple(names(lhs)),
        rhs_names=tuple(names(rhs)),
        greater_side="lhs" if op in (ast.Gt, ast.GtE) else "rhs",
        strict=op in (ast.Lt, ast.Gt),
    )
