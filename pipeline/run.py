"""One consolidation run: intake → read → validate → merge → score → write."""

from __future__ import annotations

import contextlib
import gc
import json
import os
import tempfile
from collections.abc import Iterator
from datetime import datetime
from functools import partial
from pathlib import Path

from pipeline import expectations, faults, history, intake, merge, outputs, parsecache, score, workers
from pipeline.catalogue import make_issue
from pipeline.deadlines import ReportingPeriod
from pipeline.ledger import FILE_NAME as LEDGER_FILE
from pipeline.ledger import Ledger
from pipeline.lock import RunLock
from pipeline.model import InboxFile, RunResult, Submission
from pipeline.progress import STAGES, Progress
from pipeline.schema import Schema
from pipeline.screen import Screened


class InboxError(Exception):
    """The inbox folder is missing: the run cannot continue."""


# One candidate file read and validated on its own, in this process: what each worker runs.
read_submission = workers.read_one


def apply_expectations(
    schema: Schema,
    subs: list[Submission],
    period: ReportingPeriod,
    checker: expectations.Checker | None = None,
) -> None:
    """Ranges and cross-field rules over the table of all identified submissions.

    `checker`: the run's, possibly with great_expectations' process already started; without
    one, a few rows are checked here and many in a process started now (pipeline.expectations).
    """
    candidates = [s for s in subs if s.status != "ignored" and s.unit is not None and s.values]
    if not candidates:
        return  # nothing new: nothing is started or imported
    if checker is None:
        with expectations.Checker(schema) as own:
            found = own.check(candidates, period.period.code)
    else:
        found = checker.check(candidates, period.period.code)
    for index, issues in found.items():
        candidates[index].issues.extend(issues)


def likely_new_files(schema: Schema, period: ReportingPeriod, inbox: Path, ledger: Ledger) -> int:
    """About how many files this run will read: inbox files (names only) less the parse cache,
    and at least one when the inbox has files: the cache also holds files that have left the
    inbox (a file replaced under its name), and a rerun is usually made because one came in."""
    files = sum(len(names) for _root, _dirs, names in os.walk(inbox))
    return max(files - ledger.parsed_count(parsecache.fingerprint(schema), period.id), min(files, 1))


def collect(
    schema: Schema,
    period: ReportingPeriod,
    inbox: Path,
    ledger: Ledger,
    now: datetime,
    workdir: Path | None = None,
    checker: expectations.Checker | None = None,
    likely_new: int = 0,
) -> list[Submission]:
    """Every inbox file as a Submission (ignored ones included), validated.

    Attachments of e-mails and zips are written under `workdir` (a private temporary folder).
    A file the ledger does not know is hashed, screened, read and validated in one pass by the
    worker processes; an unchanged one comes from the parse cache without being opened.
    `likely_new`: about how many files are new (likely_new_files): their workers start first.
    """
    with workers.Pool(schema, period) as pool:
        pool.start(likely_new)
        with STAGES.step("parse cache (ledger)"):
            fingerprint = parsecache.fingerprint(schema)
            cache = parsecache.Cache(*ledger.parse_cache(fingerprint, period.id))
        read: dict[int, workers.Outcome] = {}  # id(InboxFile) → what the workers made of it

        def examine(files: list[InboxFile]) -> list[Screened | None]:
            with Progress(len(files), "Đọc tệp") as bar, STAGES.step("read + validate (2 workers)"):
                outcomes = pool.run(files, cache.shas_by_name(), bar.update, cache.unpacker)
            read.update((id(o.file), o) for o in outcomes if o.submission is not None)
            return [o.screened for o in outcomes]  # None: in the parse cache under that name

        with STAGES.step("scan (sha256, screen, receipts)"):
            scanned = intake.scan(
                inbox, ledger, period.tz, now, workdir,
                screened=cache.screened(), cached=cache.kinds(), examine=examine,
            )  # fmt: skip
        first = intake.first_copies(scanned)
        subs: list[Submission] = []
        fresh: list[int] = []  # positions in subs of the files read by this run
        to_read: dict[int, InboxFile] = {}  # position in subs → candidate still to read
        with STAGES.step("parse cache (ledger)"):
            for found in scanned:
                f = found.file
                if found.ignore_code or found.reject_code:
                    sub = Submission(file=f, status="ignored" if found.ignore_code else "rejected")
                    code = found.ignore_code or found.reject_code
                    sub.issues.append(make_issue(schema, code, file=f.name, **found.params))
                elif first.get(f.sha256, f.name) != f.name:
                    sub = Submission(file=f, status="ignored")
                    sub.issues.append(
                        make_issue(schema, "duplicate-file", file=f.name, other=first[f.sha256])
                    )
                elif (f.sha256, f.name) in cache:
                    sub = cache.load((f.sha256, f.name), f)  # unchanged: never read again
                elif id(f) in read:
                    done = read[id(f)]
                    assert done.submission is not None
                    sub = done.submission
                    sub.read_seconds = done.seconds
                    fresh.append(len(subs))
                else:  # an attachment, or a file screened here: read below
                    to_read[len(subs)] = f
                    sub = Submission(file=f)
                subs.append(sub)
        if to_read:
            with Progress(len(to_read), "Đọc tệp") as bar, STAGES.step("read + validate (2 workers)"):
                outcomes = pool.run(list(to_read.values()), on_done=bar.update, unpacker=cache.unpacker)
            for position, done in zip(to_read, outcomes, strict=True):
                assert done.submission is not None
                subs[position] = done.submission
                subs[position].read_seconds = done.seconds
                read[id(done.file)] = done
            fresh = sorted([*fresh, *to_read])
    new = [subs[position] for position in fresh]
    counts = [len(s.issues) for s in new]
    with STAGES.step("expectations (great_expectations)"):
        apply_expectations(schema, new, period, checker)  # row-wise: cached results already hold theirs
    with STAGES.step("parse cache (ledger)"):
        rows = []
        for s, count in zip(new, counts, strict=True):
            if not parsecache.cacheable(s):
                continue
            packed = read[id(s.file)].packed
            if packed is None or len(s.issues) != count:  # the expectations added issues
                packed = parsecache.pack(s)
            rows.append((s.file.sha256, s.file.name, s.file.kind, *packed))
        ledger.store_parse_cache(fingerprint, period.id, rows)
    return subs


def consolidate(
    schema: Schema, period: ReportingPeriod, inbox: Path, outbox: Path, as_of: datetime
) -> RunResult:
    if not inbox.is_dir():
        raise InboxError(f'Không tìm thấy thư mục hộp thư đến "{inbox}".')
    with (
        RunLock(outbox),  # one run per outbox at a time (pipeline.lock)
        Ledger(outbox / LEDGER_FILE) as ledger,
        tempfile.TemporaryDirectory(prefix="dvcq-") as tmp,
        _collector_paused(),
    ):
        STAGES.reset()
        with expectations.Checker(schema) as checker:
            # Many new files: great_expectations' process starts now, its import
            # overlapping the scan and the reading; few: it is never started.
            likely = likely_new_files(schema, period, inbox, ledger)
            checker.expect(likely)
            subs = collect(schema, period, inbox, ledger, as_of, Path(tmp), checker, likely)
        faults.checkpoint("after-collect")
        fingerprint = parsecache.fingerprint(schema)
        with STAGES.step("merge"):
            units = merge.merge(schema, subs, period, as_of)
        with STAGES.step("history"):
            history.apply(schema, ledger, period, units, fingerprint)
        with STAGES.step("score"):
            known = ledger.scores(fingerprint, period.id)
            criteria = partial(ledger.score_criteria, fingerprint, period.id)
            scored = score.score_all(schema, units, known, criteria)
            ledger.keep_scores(fingerprint, period.id, set(known), scored)
        result = RunResult(
            period=period, as_of=as_of, files=subs, units=units, totals=merge.totals(schema, units)
        )
        result.past = history.earlier_results(ledger, period)
        outputs.write_outputs(result, schema, outbox, ledger)
        with STAGES.step("history"):
            history.record_results(ledger, result)
        write_read_times(result, outbox)
    return result


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for the run.

    Submissions, values, versions and scores are millions of small objects that all live
    until the run ends; the collector would walk them again and again (about a third of the
    CPU of a 10,000-file rerun, and still ~0.04 s of it while the outputs are written). What
    the run drops is freed by reference counting; its few reference cycles (xlsxwriter's
    workbooks, openpyxl's for a feedback workbook it writes) wait for the end of the run.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        # What the run allocated is still the youngest generation: the first collection after
        # enabling would walk all of it (~0.05 s at 10,000 units). Moved to the oldest one
        # instead, without a walk (freeze, then unfreeze into the oldest generation).
        gc.freeze()
        gc.unfreeze()
        if enabled:
            gc.enable()


def write_read_times(result: RunResult, outbox: Path) -> None:
    """outbox/.logs/read-times-<period>.json: seconds per file read (a debug log, not an output)."""
    times = {s.file.name: round(s.read_seconds, 4) for s in result.files if s.read_seconds}
    with contextlib.suppress(outputs.OutputError, OSError):
        (outbox / ".logs").mkdir(exist_ok=True)
        data = json.dumps(times, ensure_ascii=False, indent=1, sort_keys=True).encode("utf-8")
        outputs.write_bytes_atomic(outbox / ".logs" / f"read-times-{result.period.id}.json", data)
        stages = {k: round(v, 3) for k, v in STAGES.seconds.items()}
        data = json.dumps(stages, ensure_ascii=False, indent=1).encode("utf-8")
        outputs.write_bytes_atomic(outbox / ".logs" / f"stages-{result.period.id}.json", data)
