"""Where the range and rule checks spend their time: `python -m bench.expectations --n 10000`.

Rerunnable figures for pipeline/reading/expectations.py (CPU seconds, `time.process_time`, so
that other jobs on the machine matter less; wall seconds where waiting is the point): the import
of great_expectations, the preparation of the suite (context, ExpectationSuite built from our
data, validation definition), a validation of n rows and of 1 row by great_expectations with
the form's suite (one expectation per range and per rule), the table of submissions, our own
evaluator, the issues, and the run's Checker end to end. The n submissions are made in memory
with the benchmark's figures (5% with a broken rule) and a registry of n units, as `make bench`
generates them; nothing is read from disk. Each part runs in a fresh process.
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

from bench import benchmark
from pipeline import config
from pipeline.core.model import InboxFile, Located, Submission
from pipeline.core.schema import Schema
from pipeline.core.statuses import FileStatus

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
        subs.append(
            Submission(f, FileStatus.ACCEPTED, unit.code, PERIOD_CODE, 2023, "1", values, dict(cells))
        )
    return subs


def _cpu(fn: Any, *args: Any) -> tuple[float, Any]:
    start = time.process_time()
    result = fn(*args)
    return time.process_time() - start, result


def measure_great_expectations(schemas: Path, n: int) -> dict[str, float]:
    """In this (fresh) process: import, preparation, validations."""
    from pipeline.reading import expectations as ex

    schema = config.load(schemas)
    subs = submissions(schema, n)
    suite = ex.suite(schema.fields)
    out: dict[str, float] = {}
    os.environ["GX_ANALYTICS_ENABLED"] = "False"  # as the module does before its import
    out["import great_expectations + pandas"], _ = _cpu(lambda: __import__("great_expectations"))
    out[f"prepare: context, suite of {len(suite)} expectations, validation definition"], _ = _cpu(
        ex._validation, suite
    )
    for rows in (n, 1):
        table = ex.check_table(schema, subs[:rows], PERIOD_CODE)
        ex.failed_by_great_expectations(table, suite)  # the first run pays some lazy imports
        out[f"validate {rows} rows × {len(table.columns)} columns, {len(suite)} expectations"], _ = _cpu(
            ex.failed_by_great_expectations, table, suite
        )
    return out


def measure_run_side(schemas: Path, n: int) -> dict[str, float | bool]:
    """In this (fresh) process, as the run's process does it: never importing GX or pandas."""
    from pipeline.reading import expectations as ex

    schema = config.load(schemas)
    subs = submissions(schema, n)
    suite = ex.suite(schema.fields)
    out: dict[str, float | bool] = {}
    out["suite document (GX's JSON, built without GX)"], _ = _cpu(ex.suite_document, schema)
    for rows in (n, 1):
        out[f"table of submissions, {rows} rows"], table = _cpu(
            ex.check_table, schema, subs[:rows], PERIOD_CODE
        )
        out[f"own evaluator, {rows} rows"], failed = _cpu(ex.failed_directly, table, suite)
        out[f"issues from failed rows, {rows} rows"], _ = _cpu(ex.issues, schema, subs[:rows], suite, failed)
    # The run: a cold one expects n new rows before its scan, checks them after reading.
    with ex.Checker(schema) as checker:
        wall = time.perf_counter()
        checker.expect(n)
        [worker] = checker._pool._workers
        worker.conn.poll(600)  # the scan and the reading happen here
        assert worker.conn.recv() == "ready"
        worker.ready = True
        out["Checker, cold: process started → ready (wall, overlaps scan and reading)"] = (
            time.perf_counter() - wall
        )
        wall, cpu = time.perf_counter(), time.process_time()
        checker.check(subs, PERIOD_CODE)
        out[f"Checker, cold: check({n}) after reading (wall, critical path)"] = time.perf_counter() - wall
        out[f"Checker, cold: check({n}) after reading (CPU of the run's process)"] = time.process_time() - cpu
        out["Checker, cold: answered by great_expectations' process"] = checker.started
    with ex.Checker(schema) as checker:
        wall = time.perf_counter()
        checker.expect(1)
        checker.check(subs[:1], PERIOD_CODE)
        out["Checker, incremental: check(1) (wall)"] = time.perf_counter() - wall
        out["Checker, incremental: a process was started"] = checker.started
    out["great_expectations, pandas or numpy imported in the run's process"] = any(
        m in sys.modules for m in ("great_expectations", "pandas", "numpy")
    )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(
        description="Timings of the range and rule checks (pipeline/reading/expectations.py)."
    )
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--part", choices=["great_expectations", "run"], help=argparse.SUPPRESS)
    ap.add_argument("--schemas", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.part:
        measure = measure_great_expectations if args.part == "great_expectations" else measure_run_side
        print(json.dumps(measure(args.schemas, args.n), ensure_ascii=False))
        return
    with tempfile.TemporaryDirectory(prefix="dvcq-bench-gx-") as tmp:
        schemas = benchmark.write_bench_schema(args.n, Path(tmp) / "schemas")
        figures: dict[str, Any] = {}
        for part in ("great_expectations", "run"):
            cmd = [sys.executable, "-m", "bench.expectations", "--n", str(args.n)]
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
