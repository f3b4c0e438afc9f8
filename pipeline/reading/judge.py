"""One inbox file judged end to end from one read of its bytes: sha256, screening, reading,
legacy fonts, validation. This is the job of the read workers (pipeline.runtime.pool): a file
that crashes or hangs its worker costs only itself.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from pipeline.core.deadlines import ReportingPeriod
from pipeline.core.issues import make_issue
from pipeline.core.model import InboxFile, Submission
from pipeline.core.schema import Schema
from pipeline.core.statuses import FileStatus
from pipeline.core.vietnamese import format_number
from pipeline.intake import screen
from pipeline.reading import packing
from pipeline.runtime import faults
from pipeline.store.cache import PackedVerdict

MAX_TEXT = 20_000  # characters kept of one text input (a real narrative is a few thousand)


def read_one(
    schema: Schema,
    file: InboxFile,
    period: ReportingPeriod,
    *,
    data: bytes | None = None,
    archive: screen.Archive | None = None,
) -> Submission:
    """A screened spreadsheet read and validated; never raises for a bad file.

    `data`: the file's bytes when already read; `archive`: those bytes as an opened zip.
    """
    from pipeline.reading import legacy_fonts
    from pipeline.reading.validate import validate
    from pipeline.reading.workbook import ReadError, read_workbook

    try:
        read = read_workbook(file.path, file.kind, schema, data=data, archive=archive)
        converted = legacy_fonts.convert_read(file.path, file.kind, read)  # TCVN3/VNI text → Unicode
        sub = validate(schema, file, read, period)  # may look into the sheets again (formulas)
    except ReadError as exc:
        sub = Submission(file=file)
        sub.issues.append(make_issue(schema, exc.code, file=file.name, detail=exc.detail))
        return sub
    except (MemoryError, RecursionError) as exc:
        sub = Submission(file=file)
        detail = f"hết bộ nhớ ({exc.__class__.__name__})"
        sub.issues.append(make_issue(schema, "file-crashed-reader", file=file.name, detail=detail))
        return sub
    if converted:
        sub.issues.extend(legacy_fonts.issues(schema, file.name, sub.unit or "", converted))
    _bound_text(schema, sub)
    return sub


def _bound_text(schema: Schema, sub: Submission) -> None:
    """Text inputs longer than MAX_TEXT are cut, with a warning naming the cell."""
    for key, value in sub.values.items():
        if isinstance(value, str) and len(value) > MAX_TEXT:
            sub.values[key] = value[:MAX_TEXT]
            where = sub.cells.get(key)
            sub.issues.append(
                make_issue(
                    schema, "value-too-long", file=sub.file.name, key=key, unit=sub.unit or "",
                    sheet=where.sheet if where else "", cell=where.cell if where else "",
                    value=format_number(len(value)), expected=format_number(MAX_TEXT),
                )
            )  # fmt: skip


def refused(schema: Schema, file: InboxFile, screened: screen.Screened) -> Submission:
    """The verdict on a file that screening refuses or ignores (never opened by a reader)."""
    sub = Submission(file=file, status=FileStatus.IGNORED if screened.ignore_code else FileStatus.REJECTED)
    code = screened.ignore_code or screened.reject_code
    sub.issues.append(make_issue(schema, code, file=file.name, **screened.params))
    return sub


def judge_bytes(schema: Schema, period: ReportingPeriod, file: InboxFile, data: bytes) -> Submission:
    """A file's verdict from its bytes: screened, then (when it passes) read and validated."""
    screened, archive = screen.examine(data, file.path.suffix)
    file.kind = screened.kind
    if not screened.kind or screened.refused:
        return refused(schema, file, screened)
    try:
        return read_one(schema, file, period, data=data, archive=archive)
    except Exception as exc:  # a bug in our own code on a strange file: that file only
        sub = Submission(file=file)
        detail = f"lỗi {exc.__class__.__name__}"
        sub.issues.append(make_issue(schema, "file-crashed-reader", file=file.name, detail=detail))
        return sub
    finally:
        if archive is not None:
            archive.close()


# --- the worker job ----------------------------------------------------------------------------


class Task(NamedTuple):
    """A file as sent to a worker: `known` are the contents whose verdict under this name is
    in the cache (when the file turns out to be one of them, it is not read)."""

    name: str
    path: str
    size: int
    sha256: str  # when the scan knows it already (unchanged file stats, an attachment): not hashed again
    known: frozenset[str]


class Reply(NamedTuple):
    sha256: str  # "" when the file could not be read
    packed: PackedVerdict | None  # None when the verdict is in the cache (sha256 in `known`)
    seconds: float  # time spent on the file in the worker


@dataclass(frozen=True)
class State:
    schema: Schema
    period: ReportingPeriod


def setup(payload: tuple[Schema, ReportingPeriod]) -> State:
    """A worker's start: the readers imported and the registry indexed before it says "ready"
    (a rerun's one new file would otherwise wait for them)."""
    import python_calamine  # noqa: F401

    from pipeline.core import registry
    from pipeline.reading import legacy_fonts, validate, workbook  # noqa: F401

    schema, period = payload
    registry.prepare(schema)
    return State(schema, period)


def handle(state: State, task: Task) -> Reply:
    """One file end to end, from one read of its bytes."""
    start = time.perf_counter()
    faults.checkpoint(f"read:{task.name}")
    path = Path(task.path)
    file = InboxFile(name=task.name, path=path, sha256="", size=task.size)
    refusal = screen.too_large(task.size)
    if refusal is not None:  # never read into memory
        with contextlib.suppress(OSError):
            file.sha256 = screen.sha256_of(path) if task.size else hashlib.sha256(b"").hexdigest()
        return Reply(
            file.sha256, packing.pack(refused(state.schema, file, refusal)), time.perf_counter() - start
        )
    try:
        data = screen.read_bounded(path)
    except OSError as exc:
        sub = refused(state.schema, file, screen.unreadable(exc))
        return Reply("", packing.pack(sub), time.perf_counter() - start)
    file.sha256 = task.sha256 or hashlib.sha256(data).hexdigest()
    if file.sha256 in task.known:
        return Reply(file.sha256, None, time.perf_counter() - start)
    sub = judge_bytes(state.schema, state.period, file, data)
    return Reply(file.sha256, packing.pack(sub), time.perf_counter() - start)
