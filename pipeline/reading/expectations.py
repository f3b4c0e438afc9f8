"""Range and cross-field checks over a run's new submissions: a great_expectations suite.

The suite comes from the form (`schemas/form.csv`), one expectation per check, named by the
form's keys, ranges first and rules next, each in the form's order:
- a numeric field with a min and/or a max: `expect_column_values_to_be_between` on the field's
  column (`min_value`, `max_value`; a missing value is skipped, as great_expectations does);
- a field with a cross-field rule such as "parts ≤ whole":
  `expect_column_pair_values_a_to_be_greater_than_b`, `column_A` the greater side, `column_B`
  the smaller one, `or_equal` for ≤ and ≥, a row with a missing side skipped.
Each carries `meta` {"check": "range" | "rule", "key": <the field's key>} and a Vietnamese
`description`. The suite is plain data here (`Expectation`: type, kwargs, meta, description);
great_expectations builds its ExpectationSuite from that data, our own evaluator interprets the
very same configurations, and `suite_document` writes it in great_expectations' own JSON.

The table it runs over has one row per submission (`check_table`):
- one column per numeric field, named by its key: the value as a float, NaN where it is missing
  or not a number, or where the field does not apply to the unit's kind and the period;
- `communes`: the unit's number of communes in the registry (NaN when it has none);
- one column per rule side that is an expression rather than a name, named by the expression's
  text ("t2_dossiers_on_time + t2_dossiers_late + t2_dossiers_pending"): NaN propagates, x / 0
  is NaN, and it is NaN where the rule's field does not apply, so that the rule cannot fire
  there (a side of the same text under another applicability gets a column of its own,
  "<text> (<key>)").
great_expectations' validation costs a few milliseconds per expectation and little per row
(docs/performance.md), in a process of its own.

Two evaluators give the same failed rows (tests/test_expectations.py compares them on the
sample inbox and on thousands of random rows):
- great_expectations, in a process of its own (`Checker`). Importing it is slow and
  large (docs/performance.md), so a run that expects many new files starts that process before its scan and the
  import overlaps scanning and reading; the run's own process imports neither it nor pandas.
- `failed_directly`, a few lines of our own, for batches of fewer than SMALL_BATCH new rows
  (an incremental run: one new file): there great_expectations' fixed cost (process,
  import) would be the whole step, while the direct evaluation takes microseconds a row.

Failed rows become catalogue issues (value-negative, value-out-of-range, rule-violated,
rule-suspicious) with the figures in their message. This is the only module that imports
great_expectations.
"""

from __future__ import annotations

import ast
import itertools
import json
import logging
import math
import os
import uuid
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import metadata
from types import TracebackType
from typing import Any, Literal

from pipeline.core.errors import PipelineError
from pipeline.core.expression import Comparison, comparison, evaluate, parse
from pipeline.core.issues import Issue, make_issue
from pipeline.core.schema import Field, Schema, Unit
from pipeline.core.vietnamese import format_number
from pipeline.runtime.pool import Limits, Pool

# Fewer new rows than this are checked by `failed_directly`, without great_expectations.
SMALL_BATCH = 200
ANSWER_TIMEOUT = 600.0  # seconds for great_expectations' import plus one validation
COMMUNES = "communes"  # rule name for the unit's number of communes in the registry
COMMUNES_VI = "số xã, phường, thị trấn của đơn vị theo danh mục"
NAN = math.nan

SUITE_NAME = "dvcq-kiem-tra-so-lieu"
BETWEEN = "expect_column_values_to_be_between"
PAIR = "expect_column_pair_values_a_to_be_greater_than_b"
# Ids in the suite document: derived from the names, the same in every run.
_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:dvcq:expectations")
_NOTES = (
    "Bộ kiểm tra phạm vi giá trị và quy tắc liên chỉ tiêu, sinh từ biểu mẫu (schemas/form.csv). "
    "Bảng kiểm tra có một dòng cho mỗi báo cáo mới của lượt tổng hợp; mỗi chỉ tiêu số là một cột "
    "mang mã của chỉ tiêu (trống khi ô không có số hoặc chỉ tiêu không áp dụng cho đơn vị và kỳ), "
    "cột communes là số xã, phường, thị trấn của đơn vị theo danh mục, và mỗi vế quy tắc là biểu "
    "thức có một cột mang chính biểu thức đó (trống khi thiếu số liệu, chia cho 0, hoặc chỉ tiêu "
    "của quy tắc không áp dụng)."
)

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
# The suite, as plain data, built once per form (schema.fields is a hashable tuple)


@dataclass(frozen=True)
class Expectation:
    """One expectation as great_expectations configures it: type, kwargs, meta, description."""

    type: str  # BETWEEN or PAIR
    arguments: tuple[tuple[str, Any], ...]  # the kwargs, as pairs (hashable)
    key: str  # the form's key of the field checked
    check: Literal["range", "rule"]
    description: str
    severity: str = "critical"  # great_expectations' FailureSeverity: "critical" | "warning"

    @property
    def kwargs(self) -> dict[str, Any]:
        return dict(self.arguments)

    @property
    def meta(self) -> dict[str, str]:
        return {"check": self.check, "key": self.key}

    @property
    def columns(self) -> tuple[str, ...]:
        """The table columns it reads."""
        kw = self.kwargs
        return (kw["column"],) if self.type == BETWEEN else (kw["column_A"], kw["column_B"])

    def configuration(self) -> dict[str, Any]:
        """As great_expectations writes an expectation (ExpectationConfiguration.to_json_dict)."""
        return {
            "type": self.type,
            "kwargs": self.kwargs,
            "meta": self.meta,
            "description": self.description,
            "severity": self.severity,
            "id": str(uuid.uuid5(_ID_NAMESPACE, f"{self.check}:{self.key}")),
        }


@dataclass(frozen=True)
class Derived:
    """A table column computed from a rule side that is not a plain name."""

    column: str  # its name in the table: the side's text, made unique if need be
    source: str  # the side, as ast.unparse writes it
    anchor: Field | None  # NaN where this field does not apply; None: applies everywhere


@dataclass(frozen=True)
class Form:
    """What the suite and its table need from a form."""

    numeric: tuple[str, ...]  # keys of the numeric fields, in form order: one column each
    names: tuple[str, ...]  # names a rule compares as a side that are no numeric field (NaN)
    derived: tuple[Derived, ...]
    suite: tuple[Expectation, ...]


def _applies_everywhere(f: Field) -> bool:
    return f.applies_to in ("all", "") and "all" in f.periods


def _implies(f: Field, anchor: Field) -> bool:
    """Wherever `f` applies, `anchor` does (so a value of f's column means anchor applies)."""
    kind = anchor.applies_to in ("all", "") or f.applies_to == anchor.applies_to
    period = "all" in anchor.periods or ("all" not in f.periods and set(f.periods) <= set(anchor.periods))
    return kind and period


def _expected(field: Field) -> str:
    lo, hi = field.min, field.max
    if lo is not None and hi is not None:
        return f"từ {format_number(lo)} đến {format_number(hi)}"
    if lo is not None:
        return f"≥ {format_number(lo)}"
    if hi is not None:
        return f"≤ {format_number(hi)}"
    return ""


@lru_cache(maxsize=16)
def _form(fields: tuple[Field, ...]) -> Form:
    numeric = {f.key: f for f in fields if f.numeric}
    names: list[str] = []
    derived: dict[tuple[str, tuple[str, tuple[str, ...]] | None], Derived] = {}
    taken = set(numeric) | {COMMUNES}

    def derive(source: str, anchor: Field, masked: bool) -> str:
        identity = (source, (anchor.applies_to, anchor.periods) if masked else None)
        found = derived.get(identity)
        if found is None:
            name = source
            for n in itertools.count(1):
                if name not in taken:
                    break
                name = f"{source} ({anchor.key})" if n == 1 else f"{source} ({anchor.key}, {n})"
            taken.add(name)
            found = derived[identity] = Derived(name, source, anchor if masked else None)
        return found.column

    expectations: list[Expectation] = []
    for f in fields:
        if f.numeric and (f.min is not None or f.max is not None):
            bounds = (("min_value", f.min), ("max_value", f.max))
            expectations.append(
                Expectation(
                    BETWEEN,
                    (("column", f.key), *((k, float(v)) for k, v in bounds if v is not None)),
                    f.key,
                    "range",
                    f"Chỉ tiêu “{f.label}” ({f.key}) có giá trị {_expected(f)}; ô trống được bỏ qua.",
                )
            )
    for f in fields:
        if not f.rule:
            continue
        c = comparison(f.rule)
        masked = not _applies_everywhere(f)
        greater, smaller = (c.lhs, c.rhs) if c.greater_side == "lhs" else (c.rhs, c.lhs)
        columns: list[str] = []
        guarded = not masked  # the rule cannot fire where its field does not apply
        for side in (greater, smaller):
            node = parse(side)
            if isinstance(node, ast.Name):
                name = node.id
                if name not in numeric and name != COMMUNES and name not in names:
                    names.append(name)
                guarded = guarded or name == f.key or (name in numeric and _implies(numeric[name], f))
                columns.append(name)
            else:
                columns.append(derive(side, f, masked))
                guarded = True
        if not guarded:  # two plain names neither of which says the field applies
            columns[0] = derive(greater, f, masked)
        severity = "lỗi" if f.rule_severity == "error" else "cảnh báo"
        expectations.append(
            Expectation(
                PAIR,
                (
                    ("column_A", columns[0]),
                    ("column_B", columns[1]),
                    ("or_equal", not c.strict),
                    ("ignore_row_if", "either_value_is_missing"),
                ),
                f.key,
                "rule",
                f"Quy tắc của chỉ tiêu “{f.label}” ({f.key}): {c.lhs} {c.op} {c.rhs} (mức {severity});"
                " bỏ qua khi thiếu số liệu hoặc chỉ tiêu không áp dụng cho đơn vị và kỳ báo cáo.",
                "warning" if f.rule_severity == "warning" else "critical",
            )
        )
    return Form(tuple(numeric), tuple(names), tuple(derived.values()), tuple(expectations))


def suite(fields: tuple[Field, ...]) -> tuple[Expectation, ...]:
    """The form's expectations: its ranges, then its rules, each in the form's order."""
    return _form(fields).suite


def _version() -> str:
    """great_expectations' version, read from its installed metadata (not imported)."""
    try:
        return metadata.version("great_expectations")
    except metadata.PackageNotFoundError:
        return "unknown"


def suite_data(expectations: Sequence[Expectation], name: str = SUITE_NAME) -> dict[str, Any]:
    """The suite as great_expectations writes it (ExpectationSuite.to_json_dict), from our data:
    `gx.ExpectationSuite(**suite_data(...))` builds it. Built without importing it."""
    return {
        "name": name,
        "id": str(uuid.uuid5(_ID_NAMESPACE, name)),
        "expectations": [e.configuration() for e in expectations],
        "meta": {"great_expectations_version": _version()},
        "notes": _NOTES,
    }


def suite_document(schema: Schema) -> bytes:
    """The suite the run used, in great_expectations' JSON (written into outbox/<period>/ for an
    auditor): UTF-8, sorted keys, the same bytes for the same form and version."""
    data = suite_data(suite(schema.fields))
    return (json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode("utf-8")


# ---------------------------------------------------------------------------------------------
# The table of submissions (pure Python: the run's process never imports numpy or pandas)


@dataclass(frozen=True)
class CheckTable:
    """One row per submission; columns of floats (NaN: missing) named as the suite names them."""

    rows: int
    columns: dict[str, array[float]]


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
    schema: Schema,
    submissions: Sequence[Any],
    kinds: list[str | None],
    sample: dict[str | None, Unit | None],
    period_code: str,
) -> dict[str, array[float]]:
    """Every numeric field as a column: a float per submission, NaN where the value is missing
    or not a number or the field does not apply to the unit and period. Read submission by
    submission into one flat array, then sliced into columns: going field by field across
    10,000 values dicts costs several times as much (memory locality), and a list per
    submission would wake the garbage collector."""
    fields = [f for f in schema.fields if f.numeric]
    keys = [f.key for f in fields]
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
    return {key: flat[i::width] for i, key in enumerate(keys)}


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


def check_table(schema: Schema, submissions: Sequence[Any], period_code: str) -> CheckTable:
    """The table the suite runs over, for `submissions` (pipeline.core.model.Submission values)
    and the period being consolidated (e.g. "Q1", "Y"), which decides which fields apply."""
    form = _form(schema.fields)
    n = len(submissions)
    units = [schema.unit_by_code.get(sub.unit) if sub.unit else None for sub in submissions]
    kinds, sample = _kinds(units)
    columns = _figures(schema, submissions, kinds, sample, period_code)
    if COMMUNES not in columns:
        columns[COMMUNES] = array(
            "d", [NAN if u is None or u.communes is None else float(u.communes) for u in units]
        )
    for name in form.names:
        columns[name] = array("d", [NAN]) * n  # a name that is no numeric field: unknown

    def column(name: str) -> Sequence[float]:
        found = columns.get(name)
        return array("d", [NAN]) * n if found is None else found

    for d in form.derived:
        values = _side(parse(d.source), column, n)
        if d.anchor is not None:
            anchor = d.anchor
            applies = {kind: anchor.applies(u, period_code) for kind, u in sample.items()}
            values = [v if applies[k] else NAN for v, k in zip(values, kinds, strict=True)]
        columns[d.column] = array("d", values)
    return CheckTable(n, columns)


# ---------------------------------------------------------------------------------------------
# The two evaluators: per expectation of the suite, the rows that fail it, ascending

Failed = list[list[int]]


def failed_directly(table: CheckTable, expectations: Sequence[Expectation]) -> Failed:
    """What great_expectations' pandas engine computes for these configurations, in plain
    Python. between: a missing value is skipped, any other fails when below min_value or above
    max_value (strict_min, strict_max: at or beyond). pair (either_value_is_missing): a row with
    a missing side is skipped, any other fails unless A > B, or A ≥ B with or_equal."""
    failed: Failed = []
    for e in expectations:
        kw = e.kwargs
        if e.type == BETWEEN:
            lo, hi = kw.get("min_value"), kw.get("max_value")
            lo = -math.inf if lo is None else float(lo)
            hi = math.inf if hi is None else float(hi)
            strict_lo, strict_hi = bool(kw.get("strict_min")), bool(kw.get("strict_max"))
            failed.append(
                [
                    i
                    for i, x in enumerate(table.columns[kw["column"]])
                    if x == x  # not NaN
                    and ((x <= lo if strict_lo else x < lo) or (x >= hi if strict_hi else x > hi))
                ]
            )
        elif e.type == PAIR and kw.get("ignore_row_if") == "either_value_is_missing":
            a, b, or_equal = table.columns[kw["column_A"]], table.columns[kw["column_B"]], kw["or_equal"]
            failed.append(
                [
                    i
                    for i, (x, y) in enumerate(zip(a, b, strict=True))
                    if x == x and y == y and not (x >= y if or_equal else x > y)  # x == x: not NaN
                ]
            )
        else:
            raise ValueError(f"expectation not evaluated directly: {e.type} {kw}")
    return failed


@cache
def _context() -> Any:
    """One ephemeral GX context per process, silent: no analytics, no progress bars."""
    os.environ["GX_ANALYTICS_ENABLED"] = "False"
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    context = gx.get_context(mode="ephemeral")
    if hasattr(context, "enable_analytics"):
        context.enable_analytics(False)
    # GX passes `disable=` to tqdm itself, so TQDM_DISABLE has no effect: this is the switch.
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    datasource = context.data_sources.add_pandas("dvcq")
    datasource.add_dataframe_asset("submissions")
    return context


_names = itertools.count(1)


@lru_cache(maxsize=16)
def _validation(expectations: tuple[Expectation, ...]) -> Any:
    """The ValidationDefinition: the ExpectationSuite built from our data, over a whole-dataframe
    batch of the table of submissions."""
    import great_expectations as gx

    context = _context()
    name = f"{SUITE_NAME}-{next(_names)}"  # unique in the context, even after a cache eviction
    gx_suite = context.suites.add(gx.ExpectationSuite(**suite_data(expectations, name)))
    asset = context.data_sources.get("dvcq").get_asset("submissions")
    batch = asset.add_batch_definition_whole_dataframe(name)
    return context.validation_definitions.add(gx.ValidationDefinition(name=name, data=batch, suite=gx_suite))


def failed_by_great_expectations(table: CheckTable, expectations: tuple[Expectation, ...]) -> Failed:
    """The same, computed by great_expectations in this process (imported on first use). An
    expectation it cannot run is evaluated directly, with a warning."""
    import numpy as np
    import pandas as pd

    validation = _validation(expectations)
    df = pd.DataFrame({name: np.frombuffer(col, dtype=np.float64) for name, col in table.columns.items()})
    outcome = validation.run(batch_parameters={"dataframe": df}, result_format="COMPLETE")
    index = {(e.check, e.key): i for i, e in enumerate(expectations)}
    failed: list[list[int] | None] = [None] * len(expectations)
    for result in outcome.results:
        meta = result.expectation_config.meta or {}
        i = index[(meta["check"], meta["key"])]
        info = result.exception_info or {}
        if isinstance(info, dict) and info.get("raised_exception"):
            _log.warning(
                "great_expectations không kiểm tra được %s: %s",
                expectations[i].description,
                info.get("exception_message"),
            )
            continue
        failed[i] = sorted(int(r) for r in result.result.get("unexpected_index_list") or [])
    for i, rows in enumerate(failed):
        if rows is None:
            failed[i] = failed_directly(table, [expectations[i]])[0]
    return [rows or [] for rows in failed]


# ---------------------------------------------------------------------------------------------
# Great Expectations' own process, for one run (a job of pipeline.runtime.pool)

GX_LIMITS = Limits(processes=1, timeout=ANSWER_TIMEOUT, memory=None, start_timeout=ANSWER_TIMEOUT)


def _columns(expectations: Sequence[Expectation]) -> list[str]:
    """The table columns these expectations read, in suite order."""
    names: list[str] = []
    for e in expectations:
        names += [c for c in e.columns if c not in names]
    return names


def setup(expectations: tuple[Expectation, ...]) -> tuple[Expectation, ...]:
    """great_expectations' worker: the import and a first validation of a one-row table
    (GX's lazy imports and metric registrations), while the run scans and reads."""
    empty = CheckTable(1, {name: array("d", [NAN]) for name in _columns(expectations)})
    failed_by_great_expectations(empty, expectations)
    return expectations


def handle(expectations: tuple[Expectation, ...], table: CheckTable) -> Failed | str:
    """The failed rows of `table`, or the reason great_expectations could not tell."""
    try:
        return failed_by_great_expectations(table, expectations)
    except Exception as exc:
        return f"{exc.__class__.__name__}: {exc}"


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
        self._pool: Pool[CheckTable, Failed | str] = Pool(
            "pipeline.reading.expectations", self.suite, GX_LIMITS
        )

    def __enter__(self) -> Checker:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def started(self) -> bool:
        return self._pool.started

    def expect(self, rows: int) -> None:
        if rows >= SMALL_BATCH:
            self._pool.start(1)

    def check(self, submissions: Sequence[Any], period_code: str) -> dict[int, list[Issue]]:
        """Range and rule issues per submission index (absent index: no issue)."""
        if not submissions:
            return {}
        table = check_table(self.schema, submissions, period_code)
        failed = failed_directly(table, self.suite) if len(submissions) < SMALL_BATCH else self._ask(table)
        return issues(self.schema, submissions, self.suite, failed)

    def _ask(self, table: CheckTable) -> Failed:
        try:
            [answer] = self._pool.map([table], lambda _table, failure: f"{failure.kind}: {failure.detail}")
        except PipelineError as exc:  # the process could not start
            answer = str(exc)
        if isinstance(answer, list):
            return answer
        _log.warning(
            "Không chạy được great_expectations (%s): kiểm tra bằng bộ đánh giá riêng, cùng kết quả.", answer
        )
        self.close()
        return failed_directly(table, self.suite)

    def close(self) -> None:
        """Stop great_expectations' process (if it was started)."""
        self._pool.close()


def check_submissions(
    schema: Schema,
    submissions: Sequence[Any],
    period_code: str,
    *,
    evaluator: Literal["auto", "great_expectations", "direct"] = "auto",
) -> dict[int, list[Issue]]:
    """Range and rule issues per submission index, evaluated in this process.

    `submissions` are `pipeline.core.model.Submission` values; `period_code` is the period being
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
    return issues(schema, submissions, expectations, failed)


# ---------------------------------------------------------------------------------------------
# Failed rows → catalogue issues


def issues(
    schema: Schema, submissions: Sequence[Any], expectations: Sequence[Expectation], failed: Failed
) -> dict[int, list[Issue]]:
    """Issues per submission index (ascending), each submission's in suite order: its ranges,
    then its rules, each in the form's order."""
    by_row: dict[int, list[Expectation]] = {}
    for e, rows in zip(expectations, failed, strict=True):
        for row in rows:
            by_row.setdefault(row, []).append(e)
    found: dict[int, list[Issue]] = {}
    for row in sorted(by_row):
        sub = submissions[row]
        found[row] = [
            _range_issue(schema, schema.field_by_key[e.key], sub)
            if e.check == "range"
            else _rule_issue(schema, schema.field_by_key[e.key], sub)
            for e in by_row[row]
        ]
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


@lru_cache(maxsize=256)
def _comparison(rule: str) -> Comparison:
    return comparison(rule)


def _rule_issue(schema: Schema, anchor: Field, sub: Any) -> Issue:
    rule = _comparison(anchor.rule)
    sheet, cell = _where(schema, sub, anchor.key)
    values: dict[str, float] = {n: _number(sub.values.get(n)) for n in rule.lhs_names}
    values.update({n: _number(sub.values.get(n)) for n in rule.rhs_names})
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

    lhs, _ = side(rule.lhs)
    rhs, _ = side(rule.rhs)
    detail = f"{lhs}, {_BROKEN_VI[rule.op]} {rhs}"
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
