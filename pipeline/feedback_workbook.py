"""One feedback workbook from its job: the unit's .xlsx annotated at the XML level
(pipeline.annotate), through openpyxl when that path does not handle the file (pipeline.fill,
imported only then), or the "Kết quả kiểm tra" sheet alone.

Kept apart from pipeline.feedback so that a worker process building workbooks imports only
this, pipeline.annotate and lxml (~0.07 s), not the outputs package (~0.17 s).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pipeline.annotate import CellNote, CheckReport, Unsupported, annotated_xlsx

# Bumped when the bytes of a feedback workbook change for the same inputs (reruns rebuild them).
FORMAT = "feedback-2"


@dataclass(frozen=True)
class WorkbookJob:
    """Everything one feedback workbook is made of, small enough to send to a worker process."""

    source: Path | None  # the unit's .xlsx when it can be annotated
    sha256: str  # of the unit's file: with the rest, what the workbook's bytes depend on
    notes: tuple[CellNote, ...]
    annotated: CheckReport  # the report sheet of an annotated copy
    alone: CheckReport  # the report sheet of a workbook that holds nothing else
    modified: datetime

    def key(self) -> str:
        """A hash of the inputs (not the path: attachments live in a new temporary folder each run)."""
        parts = (
            FORMAT,
            self.source is not None,
            self.sha256,
            self.notes,
            self.annotated,
            self.alone,
            self.modified,
        )
        return hashlib.sha256(repr(parts).encode("utf-8")).hexdigest()


def build_workbook(job: WorkbookJob) -> bytes:
    """The unit's own workbook annotated at the XML level (pipeline.annotate); through openpyxl
    when that path does not handle the file; the report sheet alone when neither can."""
    if job.source is not None:
        try:
            return annotated_xlsx(job.source, job.notes, job.annotated, modified=job.modified)
        except Unsupported:
            pass  # openpyxl, below
    from pipeline import fill  # openpyxl only when needed (0.15 s to import)

    if job.source is not None:
        try:
            return fill.annotate_workbook(job.source, job.notes, job.annotated, modified=job.modified)
        except fill.AnnotateError:
            pass  # the report sheet alone, below
    return fill.report_workbook(job.alone, modified=job.modified)


def build_chunk(jobs: list[WorkbookJob]) -> list[bytes]:
    """What a worker process is given: several jobs at a time (fewer round trips)."""
    return [build_workbook(job) for job in jobs]
