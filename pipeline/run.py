"""One consolidation run, stage by stage: intake → read → validate → merge → score → write.

This module only says in which order the stages run and what each hands the next; the work is
in the stage packages (pipeline.intake, pipeline.reading, pipeline.core, pipeline.store,
pipeline.outputs).
"""

from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path

from pipeline.core import merge, ranking, score
from pipeline.core.deadlines import ReportingPeriod
from pipeline.core.errors import InputError
from pipeline.core.issues import make_issue
from pipeline.core.model import RunResult, Submission
from pipeline.core.schema import Schema
from pipeline.core.statuses import FileStatus
from pipeline.intake import containers, scan
from pipeline.intake.receipts import read_receipts
from pipeline.outputs.write import write_logs, write_outputs
from pipeline.reading.reader import Reader
from pipeline.runtime import faults
from pipeline.runtime.progress import STAGES, Progress
from pipeline.store import history, plausibility
from pipeline.store.cache import Cache
from pipeline.store.fingerprint import fingerprint
from pipeline.store.ledger import FILE_NAME as LEDGER_FILE
from pipeline.store.ledger import Ledger
from pipeline.store.lock import RunLock


class InboxError(InputError):
    """The inbox folder is missing: the run cannot continue."""


def collect(
    schema: Schema,
    period: ReportingPeriod,
    inbox: Path,
    ledger: Ledger,
    cache: Cache | None,
    now: datetime,
    workdir: Path,
) -> list[Submission]:
    """Every inbox file (and every file taken out of an e-mail or a zip) with its verdict:
    intake, then reading and validation. Attachments are written under `workdir`."""
    with STAGES.step("intake: list the inbox"):
        receipts = read_receipts(inbox, period.tz)
        listing = scan.scan(inbox, cache)
    with Reader(schema, period, cache) as reader:
        with STAGES.step("read: verdicts from the cache"):
            reader.start(reader.unknown(listing.entries))  # workers start while the cache loads
        with Progress(len(listing.entries), "Đọc tệp") as bar, STAGES.step("read: new files (workers)"):
            subs = reader.judge(listing.entries, bar.update)
        with STAGES.step("intake: received times, e-mails and zips"):
            sights = ledger.first_sights()
            scan.stamp_received(listing.entries, receipts, sights, period.tz, now)
            attached: list[scan.Entry] = []
            for n, sub in enumerate(subs):
                if containers.is_container(sub):
                    opened, entries = containers.open_container(
                        schema, sub, receipts, sights, period.tz, now, workdir / f"{n:05d}"
                    )
                    subs[n] = opened
                    attached += entries
        if attached:
            with STAGES.step("read: new files (workers)"):
                subs += reader.judge(attached)
        with STAGES.step("intake: received times, e-mails and zips"):
            sights.flush()
            listing.remember(cache)
            _mark_duplicates(schema, subs)
        with STAGES.step("validate: ranges and rules (great_expectations)"):
            reader.check_ranges()
        with STAGES.step("read: verdicts kept in the cache"):
            reader.remember()
    subs.sort(key=lambda s: s.file.name)  # attachments after their container, by name
    return subs


def _mark_duplicates(schema: Schema, subs: list[Submission]) -> None:
    """The same bytes sent twice are one submission: later copies are ignored as duplicates."""
    first = scan.first_copies(subs)
    for n, sub in enumerate(subs):
        f = sub.file
        original = first.get(f.sha256, f.name) if f.kind else f.name
        if original != f.name:
            copy = Submission(file=f, status=FileStatus.IGNORED, from_cache=sub.from_cache)
            copy.issues.append(make_issue(schema, "duplicate-file", file=f.name, other=original))
            subs[n] = copy


def decide(
    schema: Schema,
    period: ReportingPeriod,
    files: list[Submission],
    ledger: Ledger,
    cache: Cache,
    as_of: datetime,
) -> RunResult:
    """The run's result from the collected files: merged by unit, checked against the ledger's
    history, scored (kept scores reused from the cache), ranked."""
    with STAGES.step("merge"):
        units = merge.merge(schema, files, period, as_of)
    with STAGES.step("history (ledger)"):
        read = history.apply(schema, ledger, cache, period, units)
        merge.apply_fairness(schema, period, units, history.rejection_checks(ledger, period, units, as_of))
    with STAGES.step("plausibility (ledger)"):
        plausibility.check(schema, period, units, read.through_lineage)
    with STAGES.step("score"):
        kept = cache.scores(period.id)
        made = score.score_all(schema, units, kept)
        used = {score.score_key(u) for u in units}
        cache.keep_scores(period.id, made, [key for key in kept if key not in used])
    with STAGES.step("history (ledger)"):  # earlier periods, and the previous year through the lineage
        past = history.earlier_results(ledger, period)
        previous_year = history.previous_years(ledger, schema, period, [u.unit for u in units], past, read)
    return RunResult(
        period=period,
        as_of=as_of,
        files=files,
        units=units,
        totals=merge.totals(schema, units),
        ranking=ranking.rank(units, [b.name for b in schema.rubric.bands]),
        past=past,
        compared=history.comparison_totals(schema, ledger, period, past, read),
        previous_year=previous_year,
    )


def consolidate(
    schema: Schema, period: ReportingPeriod, inbox: Path, outbox: Path, as_of: datetime
) -> RunResult:
    """Consolidate the inbox for the period into outbox/<period>/ (and the outbox's ledger)."""
    if not inbox.is_dir():
        raise InboxError(f'Không tìm thấy thư mục hộp thư đến "{inbox}".')
    schema = schema.at(period.deadline)  # the period's registry: the units valid on its deadline
    STAGES.reset()
    with (
        RunLock(outbox),  # one run per outbox at a time
        Ledger(outbox / LEDGER_FILE) as ledger,
        Cache.of_outbox(outbox, fingerprint(schema.directory)) as cache,
        tempfile.TemporaryDirectory(prefix="dvcq-") as tmp,
    ):
        files = collect(schema, period, inbox, ledger, cache, as_of, Path(tmp))
        faults.checkpoint("after-collect")
        result = decide(schema, period, files, ledger, cache, as_of)
        write_outputs(result, schema, outbox, cache)
        with STAGES.step("history (ledger)"):
            history.record_results(ledger, result)
        write_logs(result, outbox, STAGES.seconds)
    return result
