"""Feedback stage on a bench inbox: CPU per workbook (XML path and openpyxl path) and the
stage's time, cold (fresh outbox) and incremental (the same outbox again).

    python -m pipeline.benchmark_feedback --bench outbox/bench/10000 --work /tmp/feedback-bench

The run's result (read, validated, merged, scored) comes from the pipeline's own stages with a
ledger under --work: the first call reads every file (about a minute at 10,000), later calls
use the parse cache. Only --work is written.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported in the functions: a spawned worker re-imports this module, and
    # should load no more than it does under `python -m pipeline` (pipeline/__main__.py)
    from pipeline.feedback import Producer
    from pipeline.model import RunResult
    from pipeline.schema import Schema

PERIOD = "2023-Q1"
AS_OF = "2023-04-10T09:00:00+07:00"  # as pipeline.benchmark


def _result(bench: Path, work: Path) -> tuple[RunResult, Schema]:
    from pipeline import history, merge, run, score
    from pipeline import schema as schema_mod
    from pipeline.deadlines import parse_period
    from pipeline.ledger import FILE_NAME as LEDGER_FILE
    from pipeline.ledger import Ledger
    from pipeline.model import RunResult

    schema = schema_mod.load(bench / "schemas")
    period = parse_period(PERIOD, schema.calendar)
    as_of = datetime.fromisoformat(AS_OF)
    work.mkdir(parents=True, exist_ok=True)
    with Ledger(work / LEDGER_FILE) as ledger, tempfile.TemporaryDirectory() as tmp:
        subs = run.collect(schema, period, bench / "inbox", ledger, as_of, Path(tmp))
        units = merge.merge(schema, subs, period, as_of)
        history.apply(schema, ledger, period, units)
        score.score_all(schema, units)
        return RunResult(
            period=period, as_of=as_of, files=subs, units=units, totals=merge.totals(schema, units)
        ), schema


def _cpu() -> tuple[float, float]:
    """(seconds of CPU of this process, of its finished children)."""
    return time.process_time(), resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime + resource.getrusage(
        resource.RUSAGE_CHILDREN
    ).ru_stime


def _stage(plan: dict[str, Producer], out: Path) -> dict[str, float]:
    """Wall and CPU of write_planned, with the wall of its two phases: building the workbooks
    (this process and the worker) and putting the files in place (fsync, rename)."""
    from pipeline import feedback
    from pipeline.outputs import atomic

    phases = {"build_wall_s": 0.0, "commit_wall_s": 0.0}
    build_all, commit = feedback._build_all, atomic.AtomicBatch.commit

    def timed_build(*args: Any) -> None:
        t = time.perf_counter()
        build_all(*args)
        phases["build_wall_s"] += time.perf_counter() - t

    def timed_commit(batch: atomic.AtomicBatch) -> None:
        t = time.perf_counter()
        commit(batch)
        phases["commit_wall_s"] += time.perf_counter() - t

    feedback._build_all = timed_build  # type: ignore[assignment]
    atomic.AtomicBatch.commit = timed_commit  # type: ignore[method-assign, assignment]
    try:
        wall, (own, children) = time.perf_counter(), _cpu()
        feedback.write_planned(plan, out, PERIOD)
        own2, children2 = _cpu()
    finally:
        feedback._build_all = build_all
        atomic.AtomicBatch.commit = commit  # type: ignore[method-assign]
    return {
        "wall_s": round(time.perf_counter() - wall, 3),
        **{k: round(v, 3) for k, v in phases.items()},
        "cpu_s": round(own2 - own, 3),
        "worker_cpu_s": round(children2 - children, 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--bench", type=Path, default=Path("outbox/bench/10000"))
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "feedback-bench")
    ap.add_argument("--openpyxl-sample", type=int, default=40, help="workbooks timed through openpyxl")
    args = ap.parse_args()
    from pipeline import annotate, feedback, fill

    t = time.perf_counter()
    result, schema = _result(args.bench, args.work)
    print(f"run result: {len(result.files)} files in {time.perf_counter() - t:.1f} s")

    t = time.process_time()
    plan = feedback.plan_run_feedback(result, schema)
    jobs = [job for p in plan.values() if (job := feedback._job(p)) is not None]
    print(
        f"plan: {len(jobs)} workbooks, {len(plan) - len(jobs)} e-mail texts, {time.process_time() - t:.3f} s CPU"
    )

    xml, unsupported = [], 0
    for job in jobs:
        t = time.process_time()
        feedback.build_workbook(job)
        xml.append(time.process_time() - t)
        if job.source is not None:
            try:
                annotate.annotated_xlsx(job.source, job.notes, job.annotated, modified=job.modified)
            except annotate.Unsupported:
                unsupported += 1
    old = []
    for job in [j for j in jobs if j.source is not None][: args.openpyxl_sample]:
        t = time.process_time()
        fill.annotate_workbook(job.source, job.notes, job.annotated, modified=job.modified)  # type: ignore[arg-type]
        old.append(time.process_time() - t)
    if xml:
        print(f"XML path:      {1000 * sum(xml) / len(xml):6.2f} ms CPU per workbook ({len(xml)} workbooks)")
    if old:
        print(f"openpyxl path: {1000 * sum(old) / len(old):6.2f} ms CPU per workbook ({len(old)} workbooks)")
    print(f"workbooks the XML path left to openpyxl: {unsupported}")

    out = args.work / "outbox"
    shutil.rmtree(out, ignore_errors=True)
    cold = _stage(plan, out)
    incremental = _stage(plan, out)
    print(f"stage cold:        {cold}")
    print(f"stage incremental: {incremental}")


if __name__ == "__main__":
    main()
