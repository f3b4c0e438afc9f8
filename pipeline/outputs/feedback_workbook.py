"""One feedback workbook from its job: the unit's .xlsx annotated at the XML level
(pipeline.ooxml.annotate), through openpyxl when that path does not handle the file
(pipeline.ooxml.edit, imported only then), or the report sheet alone. The job carries every
word of the workbook (pipeline.outputs.feedback builds it).

Kept apart from pipeline.outputs.feedback so that a worker process building workbooks imports
only this, pipeline.ooxml.annotate (with its parts and comments modules) and lxml, not the rest
of the outputs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pipeline.ooxml.annotate import CellNote, CheckReport, Unsupported, annotated_xlsx


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
            self.source is not None,
            self.sha256,
            self.notes,
            self.annotated,
            self.alone,
            self.modified,
        )
        return hashlib.sha256(repr(parts).encode("utf-8")).hexdigest()


def build_workbook(job: WorkbookJob) -> bytes:
    """The unit's own workbook annotated at the XML level (pipeline.ooxml.annotate); through openpyxl
    when that path does not handle the file; the report sheet alone when neither can."""
    if job.source is not None:
        try:
            return annotated_xlsx(job.source, job.notes, job.annotated, modified=job.modified)
        except Unsupported:
            pass  # openpyxl, below
    from pipeline.ooxml import edit as fill  # openpyxl only when needed (slow to import)

    if job.source is not None:
        try:
            return fill.annotate_workbook(job.source, job.notes, job.annotated, modified=job.modified)
        except fill.AnnotateError:
            pass  # the report sheet alone, below
    return fill.report_workbook(job.alone, modified=job.modified)


# --- a job of the worker processes (pipeline.runtime.pool) ----------------------------------------


def setup(payload: None) -> None:
    """A worker that builds feedback workbooks needs nothing but this module."""


def handle(state: None, job: WorkbookJob) -> bytes:
    return build_workbook(job)
