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
    seen: list[str] = []
    for node in ast.walk(parse(source)):
        if isinstance(node, ast.Name) and node.id not in seen:
            seen.append(node.id)
    return seen


def evaluate(source: str, values: Mapping[str, Value]) -> Value:
    return _eval(parse(source), values)


def _eval(node: ast.expr, values: Mapping[str, Value]) -> Value:
    if isinstance(node, ast.Constant):
        value = node.value
        return value if isinstance(value, (int, float)) else None
    if isinstance(node, ast.Name):
        return values.get(node.id)
    if isinstance(node, ast.UnaryOp):
        v = _eval(node.operand, values)
        if v is None:
            return None
        if isinstance(node.op, ast.Not):
            return not v
        if isinstance(node.op, ast.USub):
            return -v
        return +v
    if isinstance(node, ast.BinOp):
        a, b = _eval(node.left, values), _eval(node.right, values)
        if a is None or b is None:
            return None
        if isinstance(node.op, ast.Div) and b == 0:
            return None
        return _BINOPS[type(node.op)](a, b)  # type: ignore[no-any-return]
    if isinstance(node, ast.Compare):
        left = _eval(node.left, values)
        for op, comp in zip(node.ops, node.comparators, strict=True):
            right = _eval(comp, values)
            if left is None or right is None:
                return None
            if not _CMPOPS[type(op)](left, right):
                return False
            left = right
        return True
    if isinstance(node, ast.BoolOp):
        results = [_eval(v, values) for v in node.values]
        if isinstance(node.op, ast.And):
            if any(r is False for r in results):
                return False
            return None if any(r is None for r in results) else True
        if any(r is True for r in results):
            return True
        return None if any(r is None for r in results) else False
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
