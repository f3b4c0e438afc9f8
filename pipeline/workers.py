"""Reading candidate files in worker processes, so that no single file can take the run down.

A persistent pool of worker processes ("spawn": the same on Linux and Windows) reads and
validates one file at a time. Each worker caps its own address space (RLIMIT_AS, where the
platform has it) and each file has a wall-clock limit; a worker that dies (python-calamine
aborts the process on some hostile files) or runs out of time is replaced, and that one file
becomes a rejected Submission with the code file-crashed-reader or file-timeout. Results
come back in the order of the input list, whatever order the workers finish in.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from pipeline import faults
from pipeline.catalogue import make_issue
from pipeline.deadlines import ReportingPeriod
from pipeline.model import InboxFile, Submission
from pipeline.schema import Schema

PROCESSES = 2
FILE_TIMEOUT = 10.0  # seconds for one file, read and validated
MEMORY_LIMIT = 1 << 30  # bytes of address space per worker
MAX_TEXT = 20_000  # characters kept of one text input (a real narrative is a few thousand)
START_TIMEOUT = 120.0  # a worker's interpreter start-up (slow disks, antivirus on Windows)


@dataclass
class FileRead:
    submission: Submission
    seconds: float  # wall time spent on the file, as measured by the parent


def read_one(schema: Schema, file: InboxFile, period: ReportingPeriod) -> Submission:
    """One candidate file read and validated in this process; never raises for a bad file."""
    from pipeline import legacy_fonts
    from pipeline.read import ReadError, read_workbook
    from pipeline.validate import validate

    try:
        read = read_workbook(file.path, file.kind, schema)
    except ReadError as exc:
        sub = Submission(file=file)
        sub.issues.append(make_issue(schema, exc.code, file=file.name, detail=exc.detail))
        return sub
    except (MemoryError, RecursionError) as exc:
        sub = Submission(file=file)
        detail = f"hết bộ nhớ ({exc.__class__.__name__})"
        sub.issues.append(make_issue(schema, "file-crashed-reader", file=file.name, detail=detail))
        return sub
    converted = legacy_fonts.convert_read(file.path, file.kind, read)  # TCVN3/VNI text → Unicode
    sub = validate(schema, file, read, period)
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
                    value=f"{len(value):,}".replace(",", "."), expected=f"{MAX_TEXT:,}".replace(",", "."),
                )
            )  # fmt: skip


def _limit_memory(limit: int) -> None:
    try:
        import resource
    except ImportError:  # Windows: no rlimits; the timeout and the process boundary remain
        return
    try:
        _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        cap = limit if hard == resource.RLIM_INFINITY else min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    except (ValueError, OSError):
        pass


def _serve(conn: Connection, schema: Schema, period: ReportingPeriod, memory_limit: int) -> None:
    """Worker loop: (index, file) in, (index, Submission) out; None or a closed pipe ends it."""
    # Readers written in Rust print panics on stderr: keep the officer's console clean.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
    except OSError:
        pass
    _limit_memory(memory_limit)
    conn.send("ready")
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        index, file = task
        faults.checkpoint(f"read:{file.name}")
        try:
            sub = read_one(schema, file, period)
        except Exception as exc:  # a bug in our own code on a strange file: that file only
            sub = Submission(file=file)
            detail = f"lỗi {exc.__class__.__name__}"
            sub.issues.append(make_issue(schema, "file-crashed-reader", file=file.name, detail=detail))
        try:
            conn.send((index, sub))
        except (OSError, EOFError):
            return


class _Worker:
    def __init__(self, ctx: Any, schema: Schema, period: ReportingPeriod, memory_limit: int) -> None:
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(child, schema, period, memory_limit), daemon=True)
        self.proc.start()
        child.close()
        self.task: int | None = None
        self.started = 0.0
        self.ready = False

    def send(self, index: int, file: InboxFile) -> None:
        self.conn.send((index, file))
        self.task, self.started = index, time.monotonic()

    def kill(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(5)
        self.conn.close()

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.send(None)
        self.proc.join(2)
        self.kill()


def _crash_detail(code: int | None) -> str:
    if code is not None and code < 0:
        return f"tiến trình đọc bị dừng bởi tín hiệu {-code}, thường do hết bộ nhớ"
    return f"tiến trình đọc dừng với mã {code}"


def read_files(
    schema: Schema,
    period: ReportingPeriod,
    files: Sequence[InboxFile],
    *,
    processes: int = PROCESSES,
    timeout: float = FILE_TIMEOUT,
    memory_limit: int = MEMORY_LIMIT,
    on_done: Callable[[], None] | None = None,
) -> list[FileRead]:
    """Every file read and validated in worker processes; one result per file, in order.

    `on_done` is called once per file finished (a progress bar).
    """
    results: list[FileRead | None] = [None] * len(files)
    if not files:
        return []
    ctx = multiprocessing.get_context("spawn")
    pending = deque(range(len(files)))
    workers: list[_Worker] = []

    def refuse(index: int, code: str, **params: str) -> None:
        sub = Submission(file=files[index])
        sub.issues.append(make_issue(schema, code, file=files[index].name, **params))
        results[index] = FileRead(sub, timeout if code == "file-timeout" else 0.0)
        if on_done is not None:
            on_done()

    try:
        workers = [
            _Worker(ctx, schema, period, memory_limit) for _ in range(max(1, min(processes, len(files))))
        ]
        start_deadline = time.monotonic() + START_TIMEOUT
        while pending or any(w.task is not None for w in workers):
            for i, w in enumerate(workers):
                if w.ready and w.task is None and pending:
                    try:
                        w.send(pending[0], files[pending[0]])
                    except OSError:  # the worker died while idle: not this file's fault
                        w.kill()
                        workers[i] = _Worker(ctx, schema, period, memory_limit)
                        start_deadline = time.monotonic() + START_TIMEOUT
                        continue
                    pending.popleft()
            busy = [w for w in workers if w.task is not None]
            now = time.monotonic()
            waits = [w.started + timeout - now for w in busy]
            if any(not w.ready for w in workers):
                waits.append(start_deadline - now)
            ready = wait(
                [w.conn for w in workers] + [w.proc.sentinel for w in workers],
                timeout=max(0.0, min(waits)) if waits else None,
            )
            replace: list[_Worker] = []
            for w in workers:
                died = False
                if w.conn in ready:
                    try:
                        msg = w.conn.recv()
                    except (EOFError, OSError):
                        died = True
                    else:
                        if msg == "ready":
                            w.ready = True
                        elif w.task is not None:
                            index, sub = msg
                            results[index] = FileRead(sub, time.monotonic() - w.started)
                            w.task = None
                            if on_done is not None:
                                on_done()
                elif w.proc.sentinel in ready:
                    died = True
                if died:
                    if not w.ready:
                        raise OSError("Không khởi động được tiến trình đọc tệp.")
                    w.proc.join(1)
                    if w.task is not None:
                        refuse(w.task, "file-crashed-reader", detail=_crash_detail(w.proc.exitcode))
                        w.task = None
                    replace.append(w)
                elif w.task is not None and time.monotonic() - w.started > timeout:
                    refuse(w.task, "file-timeout", limit=f"{timeout:g}")
                    w.task = None
                    replace.append(w)
            if any(not w.ready for w in workers) and time.monotonic() > start_deadline:
                raise OSError("Không khởi động được tiến trình đọc tệp (quá thời gian chờ).")
            for w in replace:
                w.kill()
                workers[workers.index(w)] = _Worker(ctx, schema, period, memory_limit)
                start_deadline = time.monotonic() + START_TIMEOUT
    finally:
        for w in workers:
            w.stop()
    return [r for r in results if r is not None]
