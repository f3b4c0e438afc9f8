"""Range and cross-field checks over a run's new submissions: a great_expectations suite.

The checks come from the schema (`schemas/form.csv`): one per numeric field with a min and/or
max ("range"), one per cross-field rule such as "parts ≤ whole" ("rule"), in that order. They
run over one long table, the *check table*: one row per (check, submission), check by check
(n submissions: row i is check i // n on submission i % n), with the columns
- `value`: the field's value for a range; for a rule its slack, greater side − smaller side.
  NaN when the value is missing or not a number, when a side cannot be computed (a missing
  figure, x / 0), or when the field does not apply to the unit and period;
- `lower`, `strict_lower`, `upper`: the check's bounds, NaN where it has none. A range has its
  min and max; a rule's slack has 0 as `lower` (≤, ≥) or as `strict_lower` (<, >).
The suite is generated from the bounds that occur: "value ≥ lower", "value > strict_lower",
"upper ≥ value", each an ExpectColumnPairValuesAToBeGreaterThanB that skips a row with a
missing side. Two or three expectations over a long table rather than one per field and rule
(46 on today's form): great_expectations' validation costs ~7 ms CPU per expectation and little
per row (46 expectations × 10,000 rows: 0.45 s; 2 over the same 460,000 cells: ~0.1 s).

Two evaluators run the very same expectation configurations over the very same table and give
the same failed rows (tests/test_expectations.py compares them on the sample inbox and on
thousands of random rows):
- great_expectations, in a process of its own (`Checker`). Importing it costs ~2 s CPU and
  ~250 MB, so a run that expects many new files starts that process before its scan and the
  import overlaps scanning and reading; the run's own process imports neither it nor pandas.
- `failed_directly`, a few lines of our own, for batches of fewer than SMALL_BATCH new rows
  (an incremental run: one new file): there great_expectations' fixed cost (process, import,
  ~2.5 s) would be the whole step, while the direct evaluation takes microseconds a row.

Failed rows become catalogue issues (value-negative, value-out-of-range, rule-violated,
rule-suspicious) with the figures in their message. This is the only module that imports
great_expectations.
"""

from __future__ import annotations

import ast
import contextlib
import itertools
import logging
import math
import multiprocessing
import os
import signal
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from multiprocessing.connection import Connection, wait
from types import TracebackType
from typing import Any, Literal

from pipeline.catalogue import Issue, make_issue
from pipeline.expression import Comparison, comparison, evaluate, parse
from pipeline.schema import Field, Schema, Unit
from pipeline.vietnamese import format_number

# Fewer new rows than this are checked by `failed_directly`, without great_expectations.
SMALL_BATCH = 200
ANSWER_TIMEOUT = 600.0  # seconds for great_expectations' import plus one validation
COMMUNES = "communes"  # rule name for the unit's number of communes in the registry
COMMUNES_VI = "số xã, phường, thị trấn của đơn vị theo danh mục"
VALUE = "value"
NAN = math.nan

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
# The checks and the suite, built once per form (schema.fields is a hashable tuple)


@dataclass(frozen=True)
class Check:
    """One check of the form: a field's range (comparison None) or its cross-field rule."""

    field: Field
    comparison: Comparison | None
    lower: float | None = None  # value ≥ lower
    strict_lower: float | None = None  # value > strict_lower
    upper: float | None = None  # value ≤ upper

    @property
    def greater(self) -> str:
        c = self.comparison
        assert c is not None
        return c.lhs if c.greater_side == "lhs" else c.rhs

    @property
    def smaller(self) -> str:
        c = self.comparison
        assert c is not None
        return c.rhs if c.greater_side == "lhs" else c.lhs


@lru_cache(maxsize=16)
def checks(fields: tuple[Field, ...]) -> tuple[Check, ...]:
    """Ranges of the numeric fields, then the rules, each in the form's order."""
    ranges = [
        Check(f, None, lower=f.min, upper=f.max)
        for f in fields
        if f.numeric and (f.min is not None or f.max is not None)
    ]
    rules = []
    for f in fields:
        if f.rule:
            c = comparison(f.rule)
            rules.append(Check(f, c, lower=None if c.strict else 0.0, strict_lower=0.0 if c.strict else None))
    return (*ranges, *rules)


@dataclass(frozen=True)
class Expectation:
    """One expectation as plain data: the arguments of ExpectColumnPairValuesAToBeGreaterThanB."""

    column_A: str  # great_expectations' argument names
    column_B: str
    or_equal: bool
    description: str
    ignore_row_if: str = "either_value_is_missing"

    def kwargs(self) -> dict[str, Any]:
        return {
            "column_A": self.column_A,
            "column_B": self.column_B,
            "or_equal": self.or_equal,
            "ignore_row_if": self.ignore_row_if,
        }


# Bound column → the expectation over it, in suite order.
_BOUNDS: dict[str, Expectation] = {
    "lower": Expectation(VALUE, "lower", True, "giá trị ≥ cận dưới (mức tối thiểu của chỉ tiêu; độ dư của quy tắc ≥ 0)"),
    "strict_lower": Expectation(VALUE, "strict_lower", False, "giá trị > cận dưới chặt (độ dư của quy tắc dùng < hoặc >)"),
    "upper": Expectation("upper", VALUE, True, "cận trên ≥ giá trị (mức tối đa của chỉ tiêu)"),
}  # fmt: skip


@lru_cache(maxsize=16)
def suite(fields: tuple[Field, ...]) -> tuple[Expectation, ...]:
    """The expectations for the bounds this form uses (today: "value ≥ lower", "upper ≥ value")."""
    found = checks(fields)
    return tuple(e for column, e in _BOUNDS.items() if any(getattr(c, column) is not None for c in found))


# ---------------------------------------------------------------------------------------------
# The check table (pure Python: the run's process never imports numpy or pandas)


@dataclass(frozen=True)
class CheckTable:
    """`value` and the suite's bound columns, len(checks) × `submissions` rows, check by check."""

    submissions: int
    columns: dict[str, array[float]]

    def locate(self, position: int) -> tuple[int, int]:
        """(check index, submission index) of a table row."""
        return divmod(position, self.submissions)


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return NAN
    return float(value)


def _kinds(units: list[Unit | None]) -> tuple[list[str | None], dict[str | None, Unit | None]]:
    """Each submission's unit kind (None: unknown unit), and one unit of each kind.

    Field.applies reads only the unit's kind: it is asked once per kind, not per submission."""
    kinds: list[str | None] = []
    sample: dict[str | None, Unit | None] = {}
    for u in units:
        kind = None if u is None else u.kind
        sample.setdefault(kind, u)
        kinds.append(kind)
    return kinds, sample


def _figures(
    schema: Schema, submissions: Sequence[Any], units: list[Unit | None], period_code: str
) -> dict[str, Sequence[float]]:
    """Every numeric field as a column: a float per submission, NaN where the value is missing
    or not a number or the field does not apply to the unit and period; `communes` from the
    registry. Read submission by submission into one flat array, then sliced into columns:
    going field by field across 10,000 values dicts costs several times as much (memory
    locality), and a list per submission would wake the garbage collector."""
    fields = [f for f in schema.fields if f.numeric]
    keys = [f.key for f in fields]
    kinds, sample = _kinds(units)
    masks = {kind: tuple(f.applies(u, period_code) for f in fields) for kind, u in sample.items()}
    flat: array[float] = array("d")
    for sub, kind in zip(submissions, kinds, strict=True):
        flat.extend(
            [
                # _number(x), with its common case inline (a call per figure is a third of the time)
                (float(x) if type(x) is int or type(x) is float else _number(x)) if ok else NAN
                for x, ok in zip(map(sub.values.get, keys), masks[kind], strict=True)
            ]
        )
    width = len(keys)
    columns: dict[str, Sequence[float]] = {key: flat[i::width] for i, key in enumerate(keys)}
    columns[COMMUNES] = [NAN if u is None or u.communes is None else float(u.communes) for u in units]
    return columns


def _side(node: ast.expr, column: Callable[[str], Sequence[float]], n: int) -> Sequence[float]:
    """A rule side evaluated over every submission; NaN propagates, x / 0 is NaN."""
    if isinstance(node, ast.Constant):
        return [_number(node.value)] * n  # parse() admits only int and float constants
    if isinstance(node, ast.Name):
        return column(node.id)
    if isinstance(node, ast.UnaryOp):
        v = _side(node.operand, column, n)
        return [-x for x in v] if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.BinOp):
        a, b = _side(node.left, column, n), _side(node.right, column, n)
        if isinstance(node.op, ast.Add):
            return [x + y for x, y in zip(a, b, strict=True)]
        if isinstance(node.op, ast.Sub):
            return [x - y for x, y in zip(a, b, strict=True)]
        if isinstance(node.op, ast.Mult):
            return [x * y for x, y in zip(a, b, strict=True)]
        return [x / y if y != 0 else NAN for x, y in zip(a, b, strict=True)]  # y NaN: x / y is NaN
    raise ValueError(f"unsupported rule side: {ast.unparse(node)}")


def _columns(expectations: Sequence[Expectation]) -> list[str]:
    """The table columns these expectations read: `value` and their bounds, in suite order."""
    names = [VALUE]
    for e in expectations:
        names += [c for c in (e.column_A, e.column_B) if c not in names]
    return names


def check_table(schema: Schema, submissions: Sequence[Any], period_code: str) -> CheckTable:
    """The table the suite runs over, for `submissions` (pipeline.model.Submission values)."""
    n = len(submissions)
    units = [schema.unit_by_code.get(sub.unit) if sub.unit else None for sub in submissions]
    figures = _figures(schema, submissions, units, period_code)
    kinds, sample = _kinds(units)

    def column(name: str) -> Sequence[float]:
        found = figures.get(name)
        return [NAN] * n if found is None else found  # a name that is no numeric field: unknown

    value: array[float] = array("d")
    bounds = {name: array("d") for name in _columns(suite(schema.fields)) if name != VALUE}
    for check in checks(schema.fields):
        if check.comparison is None:
            value.extend(column(check.field.key))
        else:
            greater = _side(parse(check.greater), column, n)
            smaller = _side(parse(check.smaller), column, n)
            by_kind = {kind: check.field.applies(u, period_code) for kind, u in sample.items()}
            value.extend(
                [g - s if by_kind[k] else NAN for g, s, k in zip(greater, smaller, kinds, strict=True)]
            )
        for name, bound in bounds.items():
            b = getattr(check, name)
            bound.extend(array("d", [NAN if b is None else b]) * n)
    return CheckTable(n, {VALUE: value, **bounds})


# ---------------------------------------------------------------------------------------------
# The two evaluators: table rows that fail an expectation, ascending


def failed_directly(table: CheckTable, expectations: Sequence[Expectation]) -> list[int]:
    """What great_expectations' pandas engine computes for these expectations, in plain Python:
    a row with a NaN side is skipped, any other fails unless A ≥ B (or A > B)."""
    failed: set[int] = set()
    for e in expectations:
        a, b = table.columns[e.column_A], table.columns[e.column_B]
        failed.update(
            i
            for i, (x, y) in enumerate(zip(a, b, strict=True))
            if x == x and y == y and not (x >= y if e.or_equal else x > y)  # x == x: not NaN
        )
    return sorted(failed)


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
    datasource.add_dataframe_asset("checks")
    return context


_names = itertools.count(1)


@lru_cache(maxsize=16)
def _validation(expectations: tuple[Expectation, ...]) -> Any:
    """The ValidationDefinition (suite + whole-dataframe batch of the check table)."""
    import great_expectations as gx
    from great_expectations.expectations.core.expect_column_pair_values_a_to_be_greater_than_b import (
        ExpectColumnPairValuesAToBeGreaterThanB,
    )

    context = _context()
    name = f"dvcq-{next(_names)}"  # unique even after a cache eviction
    gx_suite = gx.ExpectationSuite(name=name)
    for index, e in enumerate(expectations):
        gx_suite.add_expectation(
            ExpectColumnPairValuesAToBeGreaterThanB(
                **e.kwargs(), description=e.description, meta={"index": index}
            )
        )
    gx_suite = context.suites.add(gx_suite)
    batch = context.data_sources.get("dvcq").get_asset("checks").add_batch_definition_whole_dataframe(name)
    return context.validation_definitions.add(gx.ValidationDefinition(name=name, data=batch, suite=gx_suite))


def failed_by_great_expectations(table: CheckTable, expectations: tuple[Expectation, ...]) -> list[int]:
    """The same, computed by great_expectations in this process (imported on first use)."""
    import numpy as np
    import pandas as pd

    validation = _validation(expectations)
    df = pd.DataFrame({name: np.frombuffer(col, dtype=np.float64) for name, col in table.columns.items()})
    outcome = validation.run(batch_parameters={"dataframe": df}, result_format="COMPLETE")
    failed: set[int] = set()
    for result in outcome.results:
        info = result.exception_info or {}
        if isinstance(info, dict) and info.get("raised_exception"):
            e = expectations[int((result.expectation_config.meta or {})["index"])]
            _log.warning(
                "great_expectations không kiểm tra được %s: %s", e.description, info.get("exception_message")
            )
            failed.update(failed_directly(table, [e]))
            continue
        failed.update(int(r) for r in result.result.get("unexpected_index_list") or [])
    return sorted(failed)


# ---------------------------------------------------------------------------------------------
# Great Expectations' own process, for one run


def _serve(conn: Connection, expectations: tuple[Expectation, ...]) -> None:
    """great_expectations' process: prepare the suite, then check tables until None or EOF."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is for the run: it stops this process
    try:
        # The import (~2 s) and a first validation of an empty table (GE's lazy imports and
        # metric registrations), while the run scans and reads.
        empty = CheckTable(1, {name: array("d", [NAN]) for name in _columns(expectations)})
        failed_by_great_expectations(empty, expectations)
        answer: tuple[str, Any] = ("ready", None)
    except Exception as exc:
        answer = ("error", f"{exc.__class__.__name__}: {exc}")
    while True:
        try:
            conn.send(answer)
            if answer[0] == "error":
                return
            table = conn.recv()
        except (EOFError, OSError):  # the run has gone
            return
        if table is None:
            return
        try:
            answer = ("ok", failed_by_great_expectations(table, expectations))
        except Exception as exc:
            answer = ("error", f"{exc.__class__.__name__}: {exc}")


class Checker:
    """The range and rule checks of one run, as a context manager.

    `expect(n)` starts great_expectations' process when n ≥ SMALL_BATCH new rows are likely,
    so that its import overlaps the scan and the reading; `check()` uses it for large batches
    and `failed_directly` for small ones. Nothing is spawned or imported unless a large batch
    is expected or checked. Leaving the block stops the process, on errors and Ctrl+C too.
    If great_expectations fails, the same expectations are evaluated by `failed_directly`
    (with a warning): the issues are the same.
    """

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self.suite = suite(schema.fields)
        self._conn: Connection | None = None
        self._proc: Any = None  # multiprocessing.Process
        self._ready = False

    def __enter__(self) -> Checker:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close(wait=t is None)

    @property
    def started(self) -> bool:
        return self._proc is not None

    def expect(self, rows: int) -> None:
        if rows >= SMALL_BATCH:
            self._start()

    def check(self, submissions: Sequence[Any], period_code: str) -> dict[int, list[Issue]]:
        """Range and rule issues per submission index (absent index: no issue)."""
        if not submissions:
            return {}
        table = check_table(self.schema, submissions, period_code)
        failed = failed_directly(table, self.suite) if len(submissions) < SMALL_BATCH else self._ask(table)
        return issues(self.schema, submissions, table, failed)

    def _start(self) -> None:
        if self._proc is not None:
            return
        ctx = multiprocessing.get_context("spawn")  # the same on Linux and Windows
        conn, child = ctx.Pipe()
        proc = ctx.Process(target=_serve, args=(child, self.suite), name="dvcq-expectations", daemon=True)
        try:
            proc.start()
        except BaseException:
            conn.close()
            raise
        finally:
            child.close()
        self._conn, self._proc = conn, proc

    def _ask(self, table: CheckTable) -> list[int]:
        self._start()
        assert self._conn is not None
        try:
            self._conn.send(table)
            kind, data = self._answer(self._conn)
        except (OSError, EOFError) as exc:
            kind, data = "error", f"{exc.__class__.__name__}: {exc}"
        if kind == "ok":
            return list(data)
        _log.warning(
            "Không chạy được great_expectations (%s): kiểm tra bằng bộ đánh giá riêng, cùng kết quả.", data
        )
        self.close(wait=False)
        return failed_directly(table, self.suite)

    def _answer(self, conn: Connection) -> tuple[str, Any]:
        while True:
            ready = wait([conn, self._proc.sentinel], timeout=ANSWER_TIMEOUT)
            if conn in ready:
                kind, data = conn.recv()
                if kind == "ready":
                    self._ready = True
                    continue
                return kind, data
            if ready:
                return "error", f"tiến trình dừng với mã {self._proc.exitcode}"
            return "error", f"quá {ANSWER_TIMEOUT:g} giây"

    def close(self, *, wait: bool = True) -> None:
        """Stop the process: politely when it is idle and `wait`, else at once."""
        if self._proc is None or self._conn is None:
            return
        if wait:
            with contextlib.suppress(OSError):
                self._conn.send(None)
            self._proc.join(2.0 if self._ready else 0.0)
        if self._proc.is_alive():
            self._proc.kill()  # still importing, or the run is being stopped: nothing to lose
        self._proc.join()
        self._conn.close()
        self._proc, self._conn, self._ready = None, None, False


def check_submissions(
    schema: Schema,
    submissions: Sequence[Any],
    period_code: str,
    *,
    evaluator: Literal["auto", "great_expectations", "direct"] = "auto",
) -> dict[int, list[Issue]]:
    """Range and rule issues per submission index, evaluated in this process.

    `submissions` are `pipeline.model.Submission` values; `period_code` is the period being
    consolidated (e.g. "Q1", "Y"), which decides which fields apply. "auto": great_expectations
    from SMALL_BATCH rows on (imported here), `failed_directly` below.
    """
    if not submissions:
        return {}
    table = check_table(schema, submissions, period_code)
    expectations = suite(schema.fields)
    if evaluator == "great_expectations" or (evaluator == "auto" and len(submissions) >= SMALL_BATCH):
        failed = failed_by_great_expectations(table, expectations)
    else:
        failed = failed_directly(table, expectations)
    return issues(schema, submissions, table, failed)


# ---------------------------------------------------------------------------------------------
# Failed rows → catalogue issues


def issues(
    schema: Schema, submissions: Sequence[Any], table: CheckTable, failed: list[int]
) -> dict[int, list[Issue]]:
    """Issues per submission index; `failed` ascending, so each submission's in check order."""
    all_checks = checks(schema.fields)
    found: dict[int, list[Issue]] = {}
    for position in failed:
        index, row = table.locate(position)
        check, sub = all_checks[index], submissions[row]
        if check.comparison is None:
            issue = _range_issue(schema, check.field, sub)
        else:
            issue = _rule_issue(schema, check, sub)
        found.setdefault(row, []).append(issue)
    return found


def _expected(field: Field) -> str:
    lo, hi = field.min, field.max
    if lo is not None and hi is not None:
        return f"từ {format_number(lo)} đến {format_number(hi)}"
    if lo is not None:
        return f"≥ {format_number(lo)}"
    if hi is not None:
        return f"≤ {format_number(hi)}"
    return ""


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


def _rule_issue(schema: Schema, rule: Check, sub: Any) -> Issue:
    assert rule.comparison is not None
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
