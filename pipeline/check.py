"""Checking files without consolidating (`python -m pipeline check FILE...`).

The same path as the run: the files are copied into a private temporary inbox and go through
run.collect (intake; then screening, reading and validation in the guarded worker processes:
legacy encodings, identification, per-cell checks; e-mails and zip files opened; then ranges
and cross-field rules), with a throw-away ledger and no cache.
A report "would be accepted" when it is this period's report and has no error; warnings do not
reject it. An opened e-mail or zip is not judged itself: its attachments are.

Without --period each report is judged against its own period and year (from its cells); a file
whose period cannot be read is judged against the current year's first period and gets the
period issue.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from pipeline import run
from pipeline.core.deadlines import ReportingPeriod
from pipeline.core.model import Submission
from pipeline.core.schema import Schema
from pipeline.core.vietnamese import nfc
from pipeline.intake.scan import Entry
from pipeline.outputs.feedback import Verdict, verdict, write_feedback_file
from pipeline.reading.reader import Reader
from pipeline.store.ledger import FILE_NAME as LEDGER_FILE
from pipeline.store.ledger import Ledger

CONTAINER_CODES = ("container-opened",)  # not a report: its attachments are judged


@dataclass
class FileCheck:
    name: str  # as the officer gave it (an attachment: "thu.eml/Báo cáo.xlsx")
    submission: Submission
    period: ReportingPeriod
    verdict: Verdict
    judged: bool = True  # False for an opened container
    feedback: Path | None = None


def _default_period(schema: Schema, now: datetime) -> ReportingPeriod:
    first = min(schema.calendar.periods, key=lambda p: p.order)
    return ReportingPeriod(now.year, first, ZoneInfo(schema.calendar.timezone))


def _stage(paths: list[Path], inbox: Path) -> dict[str, Path]:
    """Copy the files into the temporary inbox: staged name → the path the officer gave."""
    names = [nfc(p.name) for p in paths]
    flat = len(set(names)) == len(names)
    staged: dict[str, Path] = {}
    for n, (path, name) in enumerate(zip(paths, names, strict=True), start=1):
        rel = name if flat else f"{n}/{name}"
        (inbox / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, inbox / rel)
        staged[rel] = path
    return staged


def _shown(sub: Submission, staged: dict[str, Path]) -> str:
    name = sub.file.name
    for rel, path in staged.items():
        if name == rel or name.startswith(rel + "/"):
            return str(path) + name[len(rel) :]
    return name


def check_files(
    schema: Schema,
    paths: list[Path],
    period: ReportingPeriod | None,
    now: datetime,
    feedback_dir: Path | None = None,
) -> list[FileCheck]:
    judged = period or _default_period(schema, now)
    schema = schema.at(judged.deadline)  # the registry of the period the files are judged for
    checks: list[FileCheck] = []
    with tempfile.TemporaryDirectory(prefix="dvcq-check-") as tmp:
        inbox, work = Path(tmp) / "inbox", Path(tmp) / "work"
        inbox.mkdir()
        staged = _stage(paths, inbox)
        with Ledger(Path(tmp) / LEDGER_FILE) as ledger:
            subs = run.collect(schema, judged, inbox, ledger, None, now, work)
        owns: list[ReportingPeriod] = []
        again: dict[str, list[int]] = {}  # a report of another period → judged against its own
        for n, sub in enumerate(subs):
            own = judged
            if period is None and sub.period is not None and sub.year is not None:
                own = ReportingPeriod(sub.year, schema.calendar.period(sub.period), judged.tz)
                if own.id != judged.id:
                    again.setdefault(own.id, []).append(n)
            owns.append(own)
        for indexes in again.values():  # one reader (one worker) per period, not per file
            with Reader(schema, owns[indexes[0]], None) as reader:
                fresh = reader.judge([Entry(subs[n].file) for n in indexes])
                reader.check_ranges()
            for n, again_judged in zip(indexes, fresh, strict=True):
                subs[n] = again_judged
        for sub, own in zip(subs, owns, strict=True):
            container = any(i.code in CONTAINER_CODES for i in sub.issues)
            checks.append(FileCheck(_shown(sub, staged), sub, own, verdict(sub), judged=not container))
        if feedback_dir is not None:  # while attachments still exist in the temporary folder
            for c in checks:
                if c.judged and (c.verdict.errors or c.verdict.warnings):
                    c.feedback = write_feedback_file(schema, c.submission, c.period, now, feedback_dir)
    return checks


def check_file(schema: Schema, path: Path, period: ReportingPeriod | None, now: datetime) -> FileCheck:
    """One spreadsheet file (not a container) checked on its own."""
    return check_files(schema, [path], period, now)[0]
