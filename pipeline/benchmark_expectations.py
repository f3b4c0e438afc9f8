"""Where the range and rule checks spend their time: `python -m pipeline.benchmark_expectations`.

Rerunnable figures for pipeline/expectations.py (CPU seconds, `time.process_time`, so that
other jobs on the machine matter less; wall seconds where waiting is the point): the import
of great_expectations, the preparation of the suite, a validation of n rows and of 1 row by
great_expectations, with today's suite and with one expectation per check (the suite before
the check table, for comparison), the check table, our own evaluator, and the run's Checker
end to end. The n submissions are made in memory with the benchmark's figures (5% with a
broken rule) and a registry of n units, as `make bench` generates them; nothing is read from
disk. Each measure that imports great_expectations runs in a fresh process.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pipeline import benchmark
from pipeline import schema as schema_mod
from pipeline.model import InboxFile, Located, Submission
from pipeline.schema import Schema

PERIOD_CODE = "Q1"


def submissions(schema: Schema, n: int) -> list[Submission]:
    rng = random.Random(n)
    cells = {f.key: Located(f.sheet, f.cell) for f in schema.fields}
    subs = []
    for i, unit in enumerate(schema.units[:n]):
        values: dict[str, Any] = dict(benchmark._figures(rng, rng.random() < benchmark.ERROR_SHARE))
        values |= {"unit_code": unit.code, "period": "Quý I", "year": 2023, "self_score": 85}
        name = f"{i // 1000:02d}/Báo cáo Quý I-2023 - {unit.name}.xlsx"
        f = InboxFile(name=name, path=Path(name), sha256="0" * 64, size=1)
        subs.append(Submission(f, "accepted", unit.code, PERIOD_CODE, 2023, "1", values, dict(cells)))
    return subs


def _cpu(fn: Any, *args: Any) -> tuple[float, Any]:
    start = time.process_time()
    result = fn(*args)
    return time.process_time() - start, result


def measure_great_expectations(schemas: Path, n: int) -> dict[str, float]:
    """In this (fresh) process: import, preparation, validations."""
    from pipeline import expectations as ex

    schema = schema_mod.load(schemas)
    subs = submissions(schema, n)
    suite = ex.suite(schema.fields)
    out: dict[str, float] = {}
    os.environ["GX_ANALYTICS_ENABLED"] = "False"  # as pipeline.expectations does before its import
    out["import great_expectations + pandas"], _ = _cpu(lambda: __import__("great_expectations"))
    out["prepare: context, suite, validation definition"], _ = _cpu(ex._validation, suite)
    for rows in (n, 1):
        table = ex.check_table(schema, subs[:rows], PERIOD_CODE)
        ex.failed_by_great_expectations(table, suite)  # the first run pays some lazy imports
        out[f"validate {rows} rows: check table, {len(suite)} expectations"], _ = _cpu(
            ex.failed_by_great_expectations, table, suite
        )
        out[f"validate {rows} rows: one expectation per check ({len(ex.checks(schema.fields))})"] = (
            _per_check(ex, schema, table)
        )
    return out


def _per_check(ex: Any, schema: Schema, table: Any) -> float:
    """The suite before the check table: one ExpectColumnValuesToBeBetween per check, wide table."""
    import great_expectations as gx
    import numpy as np
    import pandas as pd
    from great_expectations.expectations.core.expect_column_values_to_be_between import (
        ExpectColumnValuesToBeBetween,
    )

    context = ex._context()
    all_checks = ex.checks(schema.fields)
    name = f"per-check-{table.submissions}"
    gx_suite = gx.ExpectationSuite(name=name)
    for i, c in enumerate(all_checks):
        lower = c.lower if c.lower is not None else c.strict_lower
        gx_suite.add_expectation(
            ExpectColumnValuesToBeBetween(
                column=f"c{i}", min_value=lower, max_value=c.upper, strict_min=c.strict_lower is not None
            )
        )
    gx_suite = context.suites.add(gx_suite)
    batch = context.data_sources.get("dvcq").get_asset("checks").add_batch_definition_whole_dataframe(name)
    validation = context.validation_definitions.add(
        gx.ValidationDefinition(name=name, data=batch, suite=gx_suite)
    )
    values = np.frombuffer(table.columns["value"], dtype=np.float64).reshape(
        len(all_checks), table.submissions
    )
    df = pd.DataFrame({f"c{i}": values[i] for i in range(len(all_checks))})
    validation.run(batch_parameters={"dataframe": df}, result_format="COMPLETE")
    seconds, _ = _cpu(lambda: validation.run(batch_parameters={"dataframe": df}, result_format="COMPLETE"))
    return seconds


def measure_run_side(schemas: Path, n: int) -> dict[str, float | bool]:
    """In this (fresh) process, as the run's process does it: never importing GE or pandas."""
    from pipeline import expectations as ex

    schema = schema_mod.load(schemas)
    subs = submissions(schema, n)
    suite = ex.suite(schema.fields)
    out: dict[str, float | bool] = {}
    for rows in (n, 1):
        out[f"check table, {rows} rows"], table = _cpu(ex.check_table, schema, subs[:rows], PERIOD_CODE)
        out[f"own evaluator, {rows} rows"], failed = _cpu(ex.failed_directly, table, suite)
        out[f"issues from failed rows, {rows} rows"], _ = _cpu(ex.issues, schema, subs[:rows], table, failed)
    # The run: a cold one expects n new rows before its scan, checks them after reading.
    with ex.Checker(schema) as checker:
        wall = time.perf_counter()
        checker.expect(n)
        assert checker._conn is not None
        checker._conn.poll(600)  # the scan and the reading happen here
        checker._conn.recv()
        checker._ready = True
        out["Checker, cold: process started → ready (wall, overlaps scan and reading)"] = (
            time.perf_counter() - wall
        )
        wall, cpu = time.perf_counter(), time.process_time()
        checker.check(subs, PERIOD_CODE)
        out[f"Checker, cold: check({n}) after reading (wall, critical path)"] = time.perf_counter() - wall
        out[f"Checker, cold: check({n}) after reading (CPU of the run's process)"] = time.process_time() - cpu
    with ex.Checker(schema) as checker:
        wall = time.perf_counter()
        checker.expect(1)
        checker.check(subs[:1], PERIOD_CODE)
        out["Checker, incremental: check(1) (wall)"] = time.perf_counter() - wall
        out["Checker, incremental: a process was started"] = checker.started
    out["great_expectations or pandas imported in the run's process"] = any(
        m in sys.modules for m in ("great_expectations", "pandas")
    )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(
        description="Timings of the range and rule checks (pipeline/expectations.py)."
    )
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--part", choices=["great_expectations", "run"], help=argparse.SUPPRESS)
    ap.add_argument("--schemas", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.part:
        measure = measure_great_expectations if args.part == "great_expectations" else measure_run_side
        print(json.dumps(measure(args.schemas, args.n), ensure_ascii=False))
        return
    with tempfile.TemporaryDirectory(prefix="dvcq-bench-ge-") as tmp:
        schemas = benchmark.write_bench_schema(args.n, Path(tmp) / "schemas")
        figures: dict[str, Any] = {}
        for part in ("great_expectations", "run"):
            cmd = [sys.executable, "-m", "pipeline.benchmark_expectations", "--n", str(args.n)]
            proc = subprocess.run(
                [*cmd, "--part", part, "--schemas", str(schemas)], capture_output=True, text=True, check=True
            )
            figures |= json.loads(proc.stdout.strip().splitlines()[-1])
    width = max(map(len, figures))
    for name, value in figures.items():
        shown = f"{value:8.3f}" if isinstance(value, float) else f"{value!s:>8}"
        print(f"{name:<{width}}  {shown}")


if __name__ == "__main__":
    main()
