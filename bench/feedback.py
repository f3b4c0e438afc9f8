"""Feedback stage on a bench inbox: CPU per workbook (XML path and openpyxl path) and the
stage's time, cold (fresh outbox) and incremental (the same outbox again, its cache kept).

    python -m bench.feedback --bench build/bench/10000 --work /tmp/feedback-bench

The run's result (read, validated, merged, scored) comes from the pipeline's own stages with a
ledger and a cache under --work: the first call reads every file (about a minute at 10,000),
later calls take the verdicts from the cache. Only --work is written.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported in the functions: a spawned worker re-imports this module, and
    # should load no more than it does under `python -m pipeline` (pipeline/__main__.py)
    from pipeline.core.model import RunResult
    from pipeline.core.schema import Schema
    from pipeline.outputs.feedback import Planned

PERIOD = "2023-Q1"
AS_OF = "2023-04-10T09:00:00+07:00"  # as bench.benchmark


def _result(bench: Path, work: Path) -> tuple[RunResult, Schema]:
    from pipeline import config, run
    from pipeline.core.deadlines import parse_period
    from pipeline.store.cache import Cache
    from pipeline.store.fingerprint import fingerprint
    from pipeline.store.ledger import FILE_NAME as LEDGER_FILE
    from pipeline.store.ledger import Ledger

    schema = config.load(bench / "schemas")
    period = parse_period(PERIOD, schema.calendar)
    as_of = datetime.fromisoformat(AS_OF)
    work.mkdir(parents=True, exist_ok=True)
    with (
        Ledger(work / LEDGER_FILE) as ledger,
        Cache.of_outbox(work, fingerprint(schema.directory)) as cache,
        tempfile.TemporaryDirectory() as tmp,
    ):
        files = run.collect(schema, period, bench / "inbox", ledger, cache, as_of, Path(tmp))
        return run.decide(schema, period, files, ledger, cache, as_of), schema


def _cpu() -> tuple[float, float]:
    """(seconds of CPU of this process, of its finished children)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time(), children.ru_utime + children.ru_stime


def _timed(action: Callable[[], object]) -> dict[str, float]:
    """Wall and CPU (this process, its worker processes) of one call."""
    wall, (own, children) = time.perf_counter(), _cpu()
    action()
    own2, children2 = _cpu()
    return {
        "wall_s": round(time.perf_counter() - wall, 3),
        "cpu_s": round(own2 - own, 3),
        "worker_cpu_s": round(children2 - children, 3),
    }


def _stage(plan: dict[str, Planned], out: Path, fingerprint: str) -> dict[str, float]:
    """Wall and CPU of the whole feedback stage (build, write, commit) into `out`."""
    from pipeline.outputs import feedback
    from pipeline.store.cache import Cache

    with Cache.of_outbox(out, fingerprint) as cache:
        feedback.make_folders(plan, out)  # as the run does, before checking the targets
        return _timed(lambda: feedback.write_planned(plan, out, PERIOD, cache))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--bench", type=Path, default=Path("build/bench/10000"))
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "feedback-bench")
    ap.add_argument("--openpyxl-sample", type=int, default=40, help="workbooks timed through openpyxl")
    args = ap.parse_args()
    from pipeline.ooxml import annotate
    from pipeline.ooxml import edit as fill
    from pipeline.outputs import feedback
    from pipeline.outputs.feedback_workbook import build_workbook
    from pipeline.store.fingerprint import fingerprint

    t = time.perf_counter()
    result, schema = _result(args.bench, args.work)
    print(f"run result: {len(result.files)} files in {time.perf_counter() - t:.1f} s")

    t = time.process_time()
    plan = feedback.plan_run_feedback(result, schema)
    jobs = [p.job for p in plan.values() if p.job is not None]
    print(
        f"plan: {len(jobs)} workbooks, {len(plan) - len(jobs)} e-mail texts, {time.process_time() - t:.3f} s CPU"
    )

    xml, unsupported = [], 0
    for job in jobs:
        t = time.process_time()
        build_workbook(job)
        xml.append(time.process_time() - t)
        if job.source is not None:
            try:
                annotate.annotated_xlsx(job.source, job.notes, job.annotated, modified=job.modified)
            except annotate.Unsupported:
                unsupported += 1
    old = []
    for job in jobs[: args.openpyxl_sample]:
        if job.source is None:
            continue
        t = time.process_time()
        fill.annotate_workbook(job.source, job.notes, job.annotated, modified=job.modified)
        old.append(time.process_time() - t)
    if xml:
        print(f"XML path:      {1000 * sum(xml) / len(xml):6.2f} ms CPU per workbook ({len(xml)} workbooks)")
    if old:
        print(f"openpyxl path: {1000 * sum(old) / len(old):6.2f} ms CPU per workbook ({len(old)} workbooks)")
    print(f"workbooks the XML path left to openpyxl: {unsupported}")
    print(f"build only (workers when many): {_timed(lambda: feedback.build_all(jobs))}")

    out = args.work / "outbox"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    digest = fingerprint(schema.directory)
    cold = _stage(plan, out, digest)
    incremental = _stage(plan, out, digest)
    print(f"stage cold:        {cold}")
    print(f"stage incremental: {incremental}")


if __name__ == "__main__":
    main()
