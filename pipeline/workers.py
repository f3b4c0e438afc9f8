"""Reading candidate files in worker processes, so that no single file can take the run down.

A persistent pool of worker processes ("spawn": the same on Linux and Windows) handles each
file end to end from one read of its bytes: sha256, screening (pipeline.screen), reading
(python-calamine) and validation; a file whose kind is already known (screened before) is
only read and validated. Each worker caps its own address space (RLIMIT_AS, where the
platform has it) and each file has a wall-clock limit; a worker that dies (python-calamine
aborts the process on some hostile files) or runs out of time is replaced, and that one file
becomes a rejected Submission with the code file-crashed-reader or file-timeout.

Files travel in small batches (one message each way per batch, results packed by
pipeline.parsecache); the worker marks in shared memory which file of its batch it is on and
since when, so that a crash or a timeout is still charged to that one file: the other files
of the batch are sent again. Results come back in the order of the input list.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import math
import multiprocessing
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.reduction import ForkingPickler
from pathlib import Path
from types import TracebackType
from typing import Any

from pipeline import faults, parsecache, screen
from pipeline.catalogue import make_issue
from pipeline.deadlines import ReportingPeriod
from pipeline.intake import sha256_of
from pipeline.model import InboxFile, Submission
from pipeline.schema import Schema

PROCESSES = 2
FILE_TIMEOUT = 10.0  # seconds for one file, read and validated
MEMORY_LIMIT = 1 << 30  # bytes of address space per worker
MAX_TEXT = 20_000  # characters kept of one text input (a real narrative is a few thousand)
START_TIMEOUT = 120.0  # a worker's interpreter start-up (slow disks, antivirus on Windows)
MAX_BATCH = 16  # files per message; fewer near the end so that both workers finish together
FEW_FILES = 8  # up to this many files to read: one worker
MAX_TRIES = 3  # a file sent again this often (its batch mates crashed) is charged the crash
REPEATED_CRASHES = "tiến trình đọc dừng nhiều lần trong lượt tệp có tệp này"


@dataclass
class FileRead:
    submission: Submission
    seconds: float  # time spent on the file in its worker (0 for a refusal by the pool)


@dataclass
class Outcome:
    """What a worker made of one file.

    `screened` is set when the worker screened the file (its kind was not known); a refused
    file has no submission. `cached`: the bytes are in the parse cache under this name, so the
    worker neither screened nor read them. `packed` is the submission in parse-cache form.
    """

    file: InboxFile  # sha256 (and kind, when screened) filled in
    screened: screen.Screened | None
    submission: Submission | None
    packed: parsecache.Packed | None
    seconds: float
    cached: bool = False


def read_one(
    schema: Schema,
    file: InboxFile,
    period: ReportingPeriod,
    *,
    data: bytes | None = None,
    archive: screen.Archive | None = None,
) -> Submission:
    """One candidate file read and validated in this process; never raises for a bad file.

    `data`: the file's bytes when already read; `archive`: those bytes as an opened zip.
    """
    from pipeline import legacy_fonts
    from pipeline.read import ReadError, read_workbook
    from pipeline.validate import validate

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
                    value=f"{len(value):,}".replace(",", "."), expected=f"{MAX_TEXT:,}".replace(",", "."),
                )
            )  # fmt: skip


# A file as sent to a worker: (name, path, size, sha256 or "", kind or "", contents cached under
# that name). The reply: (sha256, screening or None, packed result or None, seconds, cached); on
# the pipe, a packed layout equal to the worker's previous one is sent as None (see _serve).
_Task = tuple[str, str, int, str, str, frozenset[str]]
_Screening = tuple[str, str, str, dict[str, str]]
_Reply = tuple[str, _Screening | None, parsecache.Packed | None, float, bool]
_Sent = tuple[str, _Screening | None, tuple[bytes | None, bytes] | None, float, bool]


def _handle(schema: Schema, period: ReportingPeriod, task: _Task) -> _Reply:
    """One file end to end, from one read of its bytes."""
    name, path_text, size, sha, kind, cached = task
    start = time.perf_counter()
    path = Path(path_text)
    faults.checkpoint(f"read:{name}")
    data: bytes | None = None
    screening: _Screening | None = None
    try:
        if not kind and screen.too_large(size) is not None:
            sha = sha or sha256_of(path)  # too large to hold: hashed in blocks, never read
            refusal = screen.too_large(size)
            assert refusal is not None
            return sha, _screening(refusal), None, time.perf_counter() - start, False
        data = screen.read_bounded(path)
    except OSError as exc:
        if kind:
            data = None  # the reader reports it
        else:
            return sha, _screening(screen.unreadable(exc)), None, time.perf_counter() - start, False
    if not sha and data is not None:
        sha = hashlib.sha256(data).hexdigest()
    if sha in cached:
        return sha, None, None, time.perf_counter() - start, True
    archive: screen.Archive | None = None
    if not kind:
        assert data is not None
        screened, archive = screen.examine(data, path.suffix)
        screening = _screening(screened)
        if not screened.kind or screened.refused:
            return sha, screening, None, time.perf_counter() - start, False
        kind = screened.kind
    file = InboxFile(name=name, path=path, sha256=sha, size=size, kind=kind)
    try:
        sub = read_one(schema, file, period, data=data, archive=archive)
    except Exception as exc:  # a bug in our own code on a strange file: that file only
        sub = Submission(file=file)
        detail = f"lỗi {exc.__class__.__name__}"
        sub.issues.append(make_issue(schema, "file-crashed-reader", file=file.name, detail=detail))
    finally:
        if archive is not None:
            archive.close()
    return sha, screening, parsecache.pack(sub), time.perf_counter() - start, False


def _screening(s: screen.Screened) -> _Screening:
    return (s.kind, s.ignore_code, s.reject_code, s.params)


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


def _serve(conn: Connection, progress: Any, memory_limit: int) -> None:
    """Worker loop: the schema and period first, then a batch of tasks in, their replies out;
    None or a closed pipe ends it.

    `progress` (shared memory): [start time of the current file (time.monotonic), its position
    in the batch, or -1 between batches].
    """
    faults.checkpoint("worker-start")
    # Readers written in Rust print panics on stderr: keep the officer's console clean.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
    except OSError:
        pass
    _limit_memory(memory_limit)
    # The readers' modules now, while the run has no file to hand over yet.
    import python_calamine  # noqa: F401

    from pipeline import legacy_fonts, read, registry, validate  # noqa: F401

    try:
        schema, period = conn.recv()
    except (EOFError, OSError):
        return
    registry.prepare(schema)  # before "ready": a rerun's one new file would wait for it
    # The schema (10,000 units) and the modules stay for the worker's life: out of the cyclic
    # collector's sight, so that its passes over each file's garbage stay short.
    gc.freeze()
    conn.send("ready")
    layout: bytes | None = None  # the last packed layout sent: the parent keeps it too
    while True:
        try:
            batch = conn.recv()
        except (EOFError, OSError):
            return
        if batch is None:
            return
        replies: list[_Sent] = []
        for position, task in enumerate(batch):
            progress[0] = time.monotonic()  # the time first: the parent reads position, then time
            progress[1] = position
            sha, screening, packed, seconds, cached = _handle(schema, period, task)
            if packed is not None and packed[0] == layout:  # the same template: not sent again
                replies.append((sha, screening, (None, packed[1]), seconds, cached))
            else:
                replies.append((sha, screening, packed, seconds, cached))
                layout = packed[0] if packed is not None else layout
        progress[1] = -1
        try:
            conn.send(replies)
        except (OSError, EOFError):
            return


class _Worker:
    def __init__(self, ctx: Any, schema: bytes, memory_limit: int) -> None:
        """`schema`: the run's (schema, period), pickled once by the Pool for all its workers."""
        self.conn, child = ctx.Pipe()
        self.progress = ctx.Array("d", [0.0, -1.0], lock=False)
        self.proc = ctx.Process(target=_serve, args=(child, self.progress, memory_limit), daemon=True)
        self.proc.start()
        child.close()
        # The schema goes over the pipe, not in the process's arguments: CPython's spawn writes
        # those before closing its own copy of the child's end, so with more than a pipe buffer
        # of them (a national registry) a worker dying at start-up would hang the run for good.
        # From a thread: the worker's interpreter start-up overlaps the run's own work.
        self._handing = threading.Thread(target=self._hand_over, args=(schema,), daemon=True)
        self._handing.start()
        self.batch: list[int] = []  # indexes of the files sent and not answered
        self.sent = 0.0
        self.ready = False
        self.layout: bytes | None = None  # the last packed layout received from this worker

    def _hand_over(self, schema: bytes) -> None:
        with contextlib.suppress(OSError, ValueError):  # died or stopped: seen by the pool
            self.conn.send_bytes(schema)  # the worker's conn.recv() unpickles it

    def send(self, batch: list[int], tasks: list[_Task]) -> None:
        self.sent = time.monotonic()
        self.conn.send(tasks)
        self.batch = batch

    def current(self) -> tuple[int | None, float]:
        """(index of the file being worked on, since when).

        (None, time sent) before the batch's first file; (None, inf) once its last file is done
        (the replies are on their way: nothing to time out).
        """
        position = int(self.progress[1])
        started = self.progress[0]
        if 0 <= position < len(self.batch):
            return self.batch[position], max(started, self.sent)
        if started < self.sent:
            return None, self.sent
        return None, math.inf

    def kill(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(5)
        self.conn.close()

    def stop(self) -> None:
        self._handing.join(2)
        if not self._handing.is_alive():  # never two writers on the pipe at once
            with contextlib.suppress(OSError):
                self.conn.send(None)
            self.proc.join(2)
        self.kill()


def _crash_detail(code: int | None) -> str:
    if code is not None and code < 0:
        return f"tiến trình đọc bị dừng bởi tín hiệu {-code}, thường do hết bộ nhớ"
    return f"tiến trình đọc dừng với mã {code}"


class Pool:
    """The worker processes of one run, started on first use and kept for the run's later files."""

    def __init__(
        self,
        schema: Schema,
        period: ReportingPeriod,
        *,
        processes: int = PROCESSES,
        timeout: float = FILE_TIMEOUT,
        memory_limit: int = MEMORY_LIMIT,
    ) -> None:
        self.schema, self.period = schema, period
        self.processes, self.timeout, self.memory_limit = processes, timeout, memory_limit
        self._ctx = multiprocessing.get_context("spawn")
        self._workers: list[_Worker] = []
        self._schema_message: bytes | None = None

    def __enter__(self) -> Pool:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        for w in self._workers:
            w.stop()
        self._workers = []

    def start(self, files: int) -> None:
        """Start the workers `files` files will need now, so that their start-up (an interpreter
        and its imports, ~0.1–0.2 s) overlaps what the run does before handing them files."""
        while len(self._workers) < self._wanted(files):
            self._workers.append(self._new_worker())

    def _wanted(self, files: int) -> int:
        """Workers for `files` files: one for a handful (a second would only cost its start-up,
        on the core the run itself is using), else one per core."""
        if files <= 0:
            return 0
        return 1 if files <= FEW_FILES else self.processes

    def _new_worker(self) -> _Worker:
        if self._schema_message is None:  # pickled once for every worker of the run
            self._schema_message = bytes(ForkingPickler.dumps((self.schema, self.period)))
        return _Worker(self._ctx, self._schema_message, self.memory_limit)

    def run(
        self,
        files: Sequence[InboxFile],
        cached: Mapping[str, frozenset[str]] | None = None,
        on_done: Callable[[int], None] | None = None,
        unpacker: parsecache.Unpacker | None = None,
    ) -> list[Outcome]:
        """Every file handled by the workers; one outcome per file, in order.

        A file with a kind is only read; a file without one is hashed (unless its sha256 is
        known) and screened first. `cached`: file name → contents in the parse cache under that
        name (not read again). `on_done(n)`: n more files finished (a progress bar).
        """
        if not files:
            return []
        cached = cached or {}
        unpacker = unpacker or parsecache.Unpacker()
        tasks: list[_Task] = [
            (f.name, str(f.path), f.size, f.sha256, f.kind, cached.get(f.name, frozenset())) for f in files
        ]
        outcomes: list[Outcome | None] = [None] * len(files)
        tries = [0] * len(files)
        pending = deque(range(len(files)))
        left = len(files)

        def finish(index: int, reply: _Sent, w: _Worker) -> None:
            nonlocal left
            sha, screening, sent, seconds, was_cached = reply
            packed: parsecache.Packed | None = None
            if sent is not None:
                if sent[0] is not None:
                    w.layout = unpacker.layout(sent[0])
                assert w.layout is not None
                packed = (w.layout, sent[1])
            f = files[index]
            f.sha256 = sha or f.sha256
            screened = None
            if screening is not None:
                kind, ignore_code, reject_code, params = screening
                screened = screen.Screened(kind, ignore_code, reject_code, params)
                f.kind = kind
            sub = None
            if packed is not None:
                sub = unpacker.submission(packed, f)
            outcomes[index] = Outcome(f, screened, sub, packed, seconds, was_cached)
            left -= 1

        def refuse(index: int, code: str, **params: str) -> None:
            nonlocal left
            f = files[index]
            screened = None
            if not f.kind:  # never screened: screening in this process says whether it would pass
                if not f.sha256:
                    with contextlib.suppress(OSError):
                        f.sha256 = sha256_of(f.path)
                screened = screen.screen(f.path, f.size)
                f.kind = screened.kind
                if screened.refused or not screened.kind:
                    outcomes[index] = Outcome(f, screened, None, None, 0.0)
                    left -= 1
                    if on_done is not None:
                        on_done(1)
                    return
            sub = Submission(file=f)
            sub.issues.append(make_issue(self.schema, code, file=f.name, **params))
            outcomes[index] = Outcome(f, screened, sub, None, self.timeout if code == "file-timeout" else 0.0)
            left -= 1
            if on_done is not None:
                on_done(1)

        def requeue(indexes: list[int], culprit: int | None) -> None:
            for index in reversed(indexes):
                if index == culprit:
                    continue
                tries[index] += 1
                if tries[index] >= MAX_TRIES:
                    refuse(index, "file-crashed-reader", detail=REPEATED_CRASHES)
                else:
                    pending.appendleft(index)

        workers = self._workers
        while len(workers) < self._wanted(len(files)):
            workers.append(self._new_worker())
        start_deadline = time.monotonic() + START_TIMEOUT
        while pending or any(w.batch for w in workers):
            for i, w in enumerate(workers):
                if w.ready and not w.batch and pending:
                    size = max(1, min(MAX_BATCH, len(pending) // (4 * len(workers))))
                    batch = [pending.popleft() for _ in range(min(size, len(pending)))]
                    try:
                        w.send(batch, [tasks[j] for j in batch])
                    except OSError:  # the worker died while idle: not these files' fault
                        pending.extendleft(reversed(batch))
                        w.kill()
                        workers[i] = self._new_worker()
                        start_deadline = time.monotonic() + START_TIMEOUT
            now = time.monotonic()
            waits = [w.current()[1] + self.timeout - now for w in workers if w.batch]
            waits = [x for x in waits if x != math.inf]
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
                        elif w.batch:
                            for index, reply in zip(w.batch, msg, strict=True):
                                finish(index, reply, w)
                            if on_done is not None:
                                on_done(len(w.batch))
                            w.batch = []
                elif w.proc.sentinel in ready:
                    died = True
                if died:
                    if not w.ready:
                        raise OSError("Không khởi động được tiến trình đọc tệp.")
                    w.proc.join(1)
                    culprit, _since = w.current()
                    if culprit is not None:
                        refuse(culprit, "file-crashed-reader", detail=_crash_detail(w.proc.exitcode))
                    requeue(w.batch, culprit)
                    w.batch = []
                    replace.append(w)
                elif w.batch:
                    culprit, since = w.current()
                    if time.monotonic() - since > self.timeout:
                        if culprit is not None:
                            refuse(culprit, "file-timeout", limit=f"{self.timeout:g}")
                        requeue(w.batch, culprit)
                        w.batch = []
                        replace.append(w)
            if any(not w.ready for w in workers) and time.monotonic() > start_deadline:
                raise OSError("Không khởi động được tiến trình đọc tệp (quá thời gian chờ).")
            for w in replace:
                w.kill()
                workers[workers.index(w)] = self._new_worker()
                start_deadline = time.monotonic() + START_TIMEOUT
        assert left == 0
        return [o for o in outcomes if o is not None]


def read_files(
    schema: Schema,
    period: ReportingPeriod,
    files: Sequence[InboxFile],
    *,
    processes: int = PROCESSES,
    timeout: float = FILE_TIMEOUT,
    memory_limit: int = MEMORY_LIMIT,
    on_done: Callable[[int], None] | None = None,
) -> list[FileRead]:
    """Every (screened) file read and validated in worker processes; one result per file, in order."""
    with Pool(schema, period, processes=processes, timeout=timeout, memory_limit=memory_limit) as pool:
        outcomes = pool.run(files, on_done=on_done)
    return [FileRead(o.submission, o.seconds) for o in outcomes if o.submission is not None]
