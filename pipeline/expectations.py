"""Range and cross-field checks over all submissions at once, run by great-expectations.

The submissions become one pandas DataFrame (the "merged table"): one row per submission,
one float column per numeric field (NaN when the value is missing, not a number, or the field
does not apply to the unit and period), a `communes` column from the registry, and for each
rule a derived column `__slack__<key>` = greater side − smaller side of the rule (NaN when a
side cannot be computed or the rule's field does not apply). The expectation suite is generated
from the schema: a between-check per field with min/max and a "slack ≥ 0" (or "> 0") check per
rule. Failed rows come back as `unexpected_index_list` and are turned into catalogue issues.

This is the only module that imports great_expectations; it is imported lazily (5–7 s).
"""

from __future__ import annotations

import ast
import itertools
import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any

from pipeline.catalogue import Issue, make_issue
from pipeline.expression import Comparison, comparison, evaluate, parse
from pipeline.schema import Field, Schema
from pipeline.vietnamese import format_number

if TYPE_CHECKING:
    import pandas as pd

SLACK_PREFIX = "__slack__"
COMMUNES = "communes"  # rule name for the unit's number of communes in the registry
COMMUNES_VI = "số xã, phường, thị trấn của đơn vị theo danh mục"

_log = logging.getLogger(__name__)

# How a rule reads when it is broken, from the left-hand side: "a ≤ b" broken is "a > b".
_BROKEN_VI = {
    "≤": "lớn hơn",
    "<": "lớn hơn hoặc bằng",
    "≥": "nhỏ hơn",
    ">": "nhỏ hơn hoặc bằng",
}
_OP_VI: dict[type[ast.operator], str] = {ast.Add: "+", ast.Sub: "−", ast.Mult: "×", ast.Div: ":"}
_PRECEDENCE: dict[type[ast.operator], int] = {ast.Add: 1, ast.Sub: 1, ast.Mult: 2, ast.Div: 2}


# ---------------------------------------------------------------------------------------------
# Formatting


def _expected(field: Field) -> str:
    lo, hi = field.min, field.max
    if lo is not None and hi is not None:
        return f"từ {format_number(lo)} đến {format_number(hi)}"
    if lo is not None:
        return f"≥ {format_number(lo)}"
    if hi is not None:
        return f"≤ {format_number(hi)}"
    return ""


# ---------------------------------------------------------------------------------------------
# The suite, built once per form (schema.fields is a hashable tuple of frozen dataclasses)


@dataclass(frozen=True)
class _Rule:
    field: Field
    comparison: Comparison

    @property
    def column(self) -> str:
        return SLACK_PREFIX + self.field.key

    @property
    def greater(self) -> str:
        c = self.comparison
        return c.lhs if c.greater_side == "lhs" else c.rhs

    @property
    def smaller(self) -> str:
        c = self.comparison
        return c.rhs if c.greater_side == "lhs" else c.lhs


@dataclass(frozen=True)
class _Plan:
    numeric: tuple[Field, ...]  # every numeric field: one column each
    ranged: tuple[Field, ...]  # numeric fields with min and/or max: one expectation each
    rules: tuple[_Rule, ...]  # one slack column and one expectation each


@lru_cache(maxsize=16)
def _plan(fields: tuple[Field, ...]) -> _Plan:
    numeric = tuple(f for f in fields if f.numeric)
    ranged = tuple(f for f in numeric if f.min is not None or f.max is not None)
    rules = tuple(_Rule(f, comparison(f.rule)) for f in fields if f.rule)
    return _Plan(numeric, ranged, rules)


@cache
def _context() -> Any:
    """One ephemeral GE context per process, silent: no analytics, no progress bars."""
    os.environ["GX_ANALYTICS_ENABLED"] = "False"
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    context = gx.get_context(mode="ephemeral")
    if hasattr(context, "enable_analytics"):
        context.enable_analytics(False)
    # GE passes `disable=` to tqdm itself, so TQDM_DISABLE has no effect: this is the switch.
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    datasource = context.data_sources.add_pandas("dvcq")
    datasource.add_dataframe_asset("merged")
    return context


_names = itertools.count(1)


@lru_cache(maxsize=16)
def _validation(fields: tuple[Field, ...]) -> Any:
    """The ValidationDefinition (suite + whole-dataframe batch) for one form."""
    import great_expectations as gx
    from great_expectations.expectations.core.expect_column_values_to_be_between import (
        ExpectColumnValuesToBeBetween,
    )

    context = _context()
    plan = _plan(fields)
    name = f"dvcq-{next(_names)}"  # unique even after a cache eviction
    suite = gx.ExpectationSuite(name=name)
    for f in plan.ranged:
        suite.add_expectation(
            ExpectColumnValuesToBeBetween(
                column=f.key,
                min_value=f.min,
                max_value=f.max,
                meta={"kind": "range", "key": f.key},
            )
        )
    for r in plan.rules:
        suite.add_expectation(
            ExpectColumnValuesToBeBetween(
                column=r.column,
                min_value=0,
                strict_min=r.comparison.strict,
                meta={"kind": "rule", "key": r.field.key, "severity": r.field.rule_severity},
            )
        )
    suite = context.suites.add(suite)
    asset = context.data_sources.get("dvcq").get_asset("merged")
    batch = asset.add_batch_definition_whole_dataframe(name)
    return context.validation_definitions.add(gx.ValidationDefinition(name=name, data=batch, suite=suite))


# ---------------------------------------------------------------------------------------------
# The merged table


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return math.nan
    return float(value)


def _side(node: ast.expr, df: pd.DataFrame) -> Any:
    """A rule side evaluated on whole columns; NaN propagates, x / 0 is NaN."""
    import numpy as np

    if isinstance(node, ast.Constant):
        return _number(node.value)  # parse() admits only int and float constants
    if isinstance(node, ast.Name):
        return df[node.id] if node.id in df.columns else np.nan
    if isinstance(node, ast.UnaryOp):
        v = _side(node.operand, df)
        return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.BinOp):
        a, b = _side(node.left, df), _side(node.right, df)
        if isinstance(node.op, ast.Add):
            return a + b
        if isinstance(node.op, ast.Sub):
            return a - b
        if isinstance(node.op, ast.Mult):
            return a * b
        with np.errstate(divide="ignore", invalid="ignore"):
            q = a / b
        return q.where(b != 0) if hasattr(q, "where") else (q if b != 0 else np.nan)
    raise ValueError(f"unsupported rule side: {ast.unparse(node)}")


def merged_table(schema: Schema, submissions: Sequence[Any], period_code: str) -> pd.DataFrame:
    """One row per submission (RangeIndex = position in `submissions`), floats or NaN."""
    import numpy as np
    import pandas as pd

    plan = _plan(schema.fields)
    units = [schema.unit_by_code.get(sub.unit) if sub.unit else None for sub in submissions]
    data: dict[str, Any] = {}
    applies: dict[str, np.ndarray[Any, Any]] = {}
    for f in plan.numeric:
        mask = np.array([f.applies(u, period_code) for u in units], dtype=bool)
        col = np.array([_number(sub.values.get(f.key)) for sub in submissions], dtype=float)
        data[f.key] = np.where(mask, col, np.nan)
        applies[f.key] = mask
    data[COMMUNES] = np.array(
        [math.nan if u is None or u.communes is None else float(u.communes) for u in units], dtype=float
    )
    df = pd.DataFrame(data, index=pd.RangeIndex(len(submissions)))
    for r in plan.rules:
        slack = _side(parse(r.greater), df) - _side(parse(r.smaller), df)
        if not isinstance(slack, pd.Series):  # both sides constant or unknown names
            slack = pd.Series(slack, index=df.index, dtype=float)
        anchor = applies.get(r.field.key)
        if anchor is None:
            anchor = np.array([r.field.applies(u, period_code) for u in units], dtype=bool)
        df[r.column] = slack.where(anchor).astype(float)
    return df


# ---------------------------------------------------------------------------------------------
# Running and mapping failures back to submissions


def _failed_rows(result: Any, df: pd.DataFrame) -> list[int]:
    """Row positions that failed one expectation; recomputed in pandas if GE raised."""
    import pandas as pd

    info = result.exception_info or {}
    raised = info.get("raised_exception") if isinstance(info, dict) else False
    if not raised:
        rows = result.result.get("unexpected_index_list") or []
        return sorted({int(r) for r in rows if not isinstance(r, dict)})
    kwargs = result.expectation_config.kwargs
    column = kwargs["column"]
    _log.warning("great_expectations could not check %s: %s", column, info.get("exception_message"))
    values = df[column]
    bad = pd.Series(False, index=df.index)
    lo, hi = kwargs.get("min_value"), kwargs.get("max_value")
    if lo is not None:
        bad |= values <= lo if kwargs.get("strict_min") else values < lo
    if hi is not None:
        bad |= values >= hi if kwargs.get("strict_max") else values > hi
    return [int(i) for i in df.index[bad.fillna(False)]]


def check_submissions(schema: Schema, submissions: Sequence[Any], period_code: str) -> dict[int, list[Issue]]:
    """Range and rule issues per submission index (absent index: no issue).

    `submissions` are `pipeline.model.Submission` values; `period_code` is the period being
    consolidated (e.g. "Q1", "Y"), which decides which fields apply.
    """
    if not submissions:
        return {}
    df = merged_table(schema, submissions, period_code)
    validation = _validation(schema.fields)
    outcome = validation.run(batch_parameters={"dataframe": df}, result_format="COMPLETE")
    plan = _plan(schema.fields)
    rules = {r.field.key: r for r in plan.rules}
    found: dict[int, list[Issue]] = {}
    for result in outcome.results:
        if result.success:
            continue
        meta = result.expectation_config.meta or {}
        key = str(meta.get("key", ""))
        for row in _failed_rows(result, df):
            sub = submissions[row]
            if meta.get("kind") == "rule":
                issue = _rule_issue(schema, rules[key], sub)
            else:
                issue = _range_issue(schema, schema.field_by_key[key], sub)
            found.setdefault(row, []).append(issue)
    return found


def _where(schema: Schema, sub: Any, key: str) -> tuple[str, str]:
    located = sub.cells.get(key)
    if located is not None:
        return located.sheet, located.cell
    f = schema.field_by_key.get(key)
    return (f.sheet, f.cell) if f is not None else ("", "")


def _range_issue(schema: Schema, field: Field, sub: Any) -> Issue:
    value = _number(sub.values.get(field.key))
    sheet, cell = _where(schema, sub, field.key)
    negative = value < 0 and field.min == 0
    return make_issue(
        schema,
        "value-negative" if negative else "value-out-of-range",
        file=sub.file.name,
        sheet=sheet,
        cell=cell,
        unit=sub.unit or "",
        key=field.key,
        value=format_number(value),
        expected=_expected(field),
    )


def _rule_issue(schema: Schema, rule: _Rule, sub: Any) -> Issue:
    anchor = rule.field
    sheet, cell = _where(schema, sub, anchor.key)
    values: dict[str, float] = {n: _number(sub.values.get(n)) for n in rule.comparison.lhs_names}
    values.update({n: _number(sub.values.get(n)) for n in rule.comparison.rhs_names})
    unit = schema.unit_by_code.get(sub.unit) if sub.unit else None
    if COMMUNES in values and COMMUNES not in schema.field_by_key:
        values[COMMUNES] = math.nan if unit is None or unit.communes is None else float(unit.communes)

    def term(name: str) -> str:
        value = format_number(values[name])
        if name == COMMUNES and name not in schema.field_by_key:
            return f"{COMMUNES_VI} ({value})"
        f = schema.field_by_key.get(name)
        if f is None:
            return f"{name} {value}"
        where_sheet, where_cell = _where(schema, sub, name)
        ref = where_cell if where_sheet == sheet else f"{where_sheet}!{where_cell}"
        return f"{f.label} ({ref}) {value}"

    def render(node: ast.expr, parent: int = 0) -> str:
        if isinstance(node, ast.Name):
            return term(node.id)
        if isinstance(node, ast.Constant):
            return format_number(_number(node.value))
        if isinstance(node, ast.UnaryOp):
            return "−" + render(node.operand, 3)
        if isinstance(node, ast.BinOp):
            prec = _PRECEDENCE[type(node.op)]
            text = f"{render(node.left, prec)} {_OP_VI[type(node.op)]} {render(node.right, prec + 1)}"
            return f"({text})" if prec < parent else text
        return ast.unparse(node)

    def side(source: str) -> tuple[str, float]:
        node = parse(source)
        total = _number(_evaluate(node, values))
        text = render(node)
        if not isinstance(node, (ast.Name, ast.Constant)):
            text += f" = {format_number(total)}"
        return text, total

    lhs, _ = side(rule.comparison.lhs)
    rhs, _ = side(rule.comparison.rhs)
    detail = f"{lhs}, {_BROKEN_VI[rule.comparison.op]} {rhs}"
    code = "rule-suspicious" if anchor.rule_severity == "warning" else "rule-violated"
    return make_issue(
        schema,
        code,
        file=sub.file.name,
        sheet=sheet,
        cell=cell,
        unit=sub.unit or "",
        key=anchor.key,
        detail=detail,
    )


def _evaluate(node: ast.expr, values: dict[str, float]) -> float:
    result = evaluate(ast.unparse(node), {k: None if math.isnan(v) else v for k, v in values.items()})
    return math.nan if result is None else float(result)
