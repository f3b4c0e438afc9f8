"""Checking files without consolidating (`python -m pipeline check FILE...`).

The same path as the run, one file at a time: sniff the type from the bytes, then
run.read_submission (read, legacy encodings, identification, per-cell checks) and
run.apply_expectations (ranges and cross-field rules). A file "would be accepted" when it is
this period's report and has no error; warnings do not reject it.

Without --period the file's own period and year (from its cells) are used; a file whose period
cannot be read is judged against the current year's first period and gets the period issue.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from pipeline import intake, run
from pipeline.catalogue import make_issue
from pipeline.deadlines import ReportingPeriod
from pipeline.feedback import Verdict, verdict, write_feedback_file
from pipeline.model import InboxFile, Submission
from pipeline.schema import Schema
from pipeline.vietnamese import nfc


@dataclass
class FileCheck:
    path: Path
    submission: Submission
    period: ReportingPeriod
    verdict: Verdict
    feedback: Path | None = None


def _inbox_file(path: Path) -> tuple[InboxFile, str, dict[str, str]]:
    """The file as the run would see it, and a catalogue code when it is not a candidate report."""
    size = path.stat().st_size
    f = InboxFile(name=nfc(path.name), path=path, sha256=intake.sha256_of(path), size=size)
    if size == 0:
        return f, "file-empty", {}
    f.kind = intake.sniff(path)
    if f.kind in ("", "zip"):
        return f, "not-spreadsheet", {}
    if f.kind == "zip-broken":
        return f, "file-unreadable", {"detail": "tệp nén bị hỏng"}
    return f, "", {}


def _default_period(schema: Schema, now: datetime) -> ReportingPeriod:
    first = min(schema.calendar.periods, key=lambda p: p.order)
    return ReportingPeriod(now.year, first, ZoneInfo(schema.calendar.timezone))


def check_file(schema: Schema, path: Path, period: ReportingPeriod | None, now: datetime) -> FileCheck:
    f, code, params = _inbox_file(path)
    judged = period or _default_period(schema, now)
    if code:
        sub = Submission(file=f, status="ignored" if code == "not-spreadsheet" else "rejected")
        sub.issues.append(make_issue(schema, code, file=f.name, **params))
        return FileCheck(path, sub, judged, verdict(sub))
    sub = run.read_submission(schema, f, judged)
    if period is None and sub.period is not None and sub.year is not None:
        own = ReportingPeriod(sub.year, schema.calendar.period(sub.period), judged.tz)
        if own.id != judged.id:  # judge the file against its own period
            judged = own
            sub = run.read_submission(schema, f, judged)
    run.apply_expectations(schema, [sub], judged)
    return FileCheck(path, sub, judged, verdict(sub))


def check_files(
    schema: Schema,
    paths: list[Path],
    period: ReportingPeriod | None,
    now: datetime,
    feedback_dir: Path | None = None,
) -> list[FileCheck]:
    checks = [check_file(schema, p, period, now) for p in paths]
    if feedback_dir is not None:
        for c in checks:
            if c.verdict.errors or c.verdict.warnings:
                c.feedback = write_feedback_file(schema, c.submission, c.period, now, feedback_dir)
    return checks
