"""The one process pool: work that may crash, hang or eat memory, done in worker processes.

Reading hostile files (python-calamine aborts the whole process on some of them), building
feedback workbooks on the second core, and great_expectations (whose import costs seconds and
hundreds of MB) all go through `Pool`. A job is a module with two functions:

    setup(payload) -> state      once per worker, after the module is imported
    handle(state, item) -> result, once per item

Workers are spawned (the same on Linux and Windows), cap their own address space where the
platform allows (RLIMIT_AS), and send their stderr to the null device (readers written in Rust
print panics there). Items travel in small batches, one message each way per batch; each worker
marks in shared memory which item of its batch it is on and since when, so that a crash or a
timeout is charged to that one item (`fallback(item, failure)` gives its result) and its batch
mates are sent again to a fresh worker. Results come back in the order of the items.

The payload (a schema of 10,000 units pickles to ~1 MB) is pickled once into a temporary file
that every worker reads at start-up: nothing large goes through a pipe while the run waits,
and a worker dying at start-up cannot leave the run blocked on a full pipe.
"""

from __future__ import annotations

import contextlib
import importlib
import math
import multiprocessing
import os
import pickle
import signal
import tempfile
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from types import TracebackType
from typing import Any, Generic, TypeVar

from pipeline.core.errors import MachineError
from pipeline.runtime import faults

Item = TypeVar("Item")
Result = TypeVar("Result")


@dataclass(frozen=True)
class Limits:
    processes: int = 2  # one per core of the machine this is written for
    timeout: float | None = 10.0  # seconds for one item; None: no limit
    memory: int | None = 1 << 30  # bytes of address space per worker; None: no cap
    start_timeout: float = 120.0  # an interpreter and its imports (slow disks, antivirus on Windows)
    batch: int = 16  # items per message; fewer near the end so that the workers finish together
    few: int = 8  # up to this many items expected: one worker (a second would only cost its start-up)
    tries: int = 3  # an item sent again this often (its batch mates crashed) is charged the crash


@dataclass(frozen=True)
class Failure:
    """Why an item has no result: its worker crashed or ran out of time while on it, or the
    item could not be sent to a worker at all (it does not pickle)."""

    kind: str  # "crashed" | "timeout" | "unsendable"
    detail: str  # Vietnamese, for the officer
    seconds: float  # time spent on the item before it was given up


REPEATED_CRASHES = "tiến trình xử lý dừng nhiều lần trong lượt có tệp này"


def _crash_detail(code: int | None) -> str:
    if code is not None and code < 0:
        return f"tiến trình xử lý bị dừng bởi tín hiệu {-code}, thường do hết bộ nhớ"
    return f"tiến trình xử lý dừng với mã {code}"


# --- the worker process ---------------------------------------------------------------------


def _limit_memory(limit: int | None) -> None:
    if limit is None:
        return
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


def _quiet_stderr() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
    except OSError:
        pass


def _serve(conn: Connection, progress: Any, job: str, payload_path: str, memory: int | None) -> None:
    """A worker: set up the job, say "ready", then answer batches until None or a closed pipe.

    `progress` (shared memory): [start time of the current item (time.monotonic), its position
    in the batch, or -1 between batches].
    """
    faults.checkpoint("worker-start")
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is for the run, which stops its workers
    _quiet_stderr()
    _limit_memory(memory)
    module = importlib.import_module(job)
    with open(payload_path, "rb") as fh:
        payload = pickle.load(fh)
    state = module.setup(payload)
    handle = module.handle
    conn.send("ready")
    while True:
        try:
            batch = conn.recv()
        except (EOFError, OSError):
            return
        if batch is None:
            return
        replies = []
        for position, item in enumerate(batch):
            progress[0] = time.monotonic()  # the time first: the parent reads position, then time
            progress[1] = position
            replies.append(handle(state, item))
        progress[1] = -1
        try:
            conn.send(replies)
        except (OSError, EOFError):
            return


class _Worker:
    def __init__(self, ctx: Any, job: str, payload_path: str, memory: int | None) -> None:
        self.conn, child = ctx.Pipe()
        self.progress = ctx.Array("d", [0.0, -1.0], lock=False)
        self.proc = ctx.Process(
            target=_serve, args=(child, self.progress, job, payload_path, memory), daemon=True
        )
        self.proc.start()
        child.close()
        self.started = time.monotonic()
        self.ready = False
        self.batch: list[int] = []  # indexes of the items sent and not answered
        self.sent = 0.0

    def send(self, batch: list[int], items: list[Any]) -> None:
        self.sent = time.monotonic()
        self.conn.send(items)
        self.batch = batch

    def current(self) -> tuple[int | None, float]:
        """(index of the item being worked on, since when).

        (None, time sent) before the batch's first item; (None, inf) once its last item is done
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
        with contextlib.suppress(OSError):
            self.conn.send(None)
        self.proc.join(2)
        self.kill()


# --- the pool ---------------------------------------------------------------------------------


def _pickles(item: object) -> bool:
    try:
        pickle.dumps(item)
    except (pickle.PicklingError, TypeError, AttributeError, RecursionError):
        return False
    return True


class Pool(Generic[Item, Result]):
    """Worker processes running one job (a module with setup and handle), for one run.

    Workers start on first use, or earlier with `start(n)` so that their start-up overlaps what
    the run does meanwhile, and serve every later `map` until `close()`.
    """

    def __init__(self, job: str, payload: object, limits: Limits | None = None) -> None:
        self.job = job
        self.limits = limits or Limits()
        self._payload = payload
        self._payload_path: str | None = None
        self._ctx = multiprocessing.get_context("spawn")
        self._workers: list[_Worker] = []

    def __enter__(self) -> Pool[Item, Result]:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        for w in self._workers:
            w.stop()
        self._workers = []
        if self._payload_path is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._payload_path)
            self._payload_path = None

    @property
    def started(self) -> bool:
        return bool(self._workers)

    def start(self, expected: int) -> None:
        """Start the workers `expected` items will need, without waiting for them."""
        while len(self._workers) < self._wanted(expected):
            self._workers.append(self._new_worker())

    def _wanted(self, items: int) -> int:
        if items <= 0:
            return 0
        return 1 if items <= self.limits.few else self.limits.processes

    def _new_worker(self) -> _Worker:
        if self._payload_path is None:  # pickled once for every worker of the pool
            fd, path = tempfile.mkstemp(prefix="dvcq-payload-", suffix=".pickle")
            with os.fdopen(fd, "wb") as fh:
                pickle.dump(self._payload, fh, protocol=pickle.HIGHEST_PROTOCOL)
            self._payload_path = path
        return _Worker(self._ctx, self.job, self._payload_path, self.limits.memory)

    def map(
        self,
        items: Sequence[Item],
        fallback: Callable[[Item, Failure], Result],
        on_done: Callable[[int], None] | None = None,
    ) -> list[Result]:
        """Every item handled by the workers, results in order; an item whose worker crashed or
        overran gets `fallback(item, failure)`. `on_done(n)`: n more items finished.

        MachineError when a worker cannot start (dies or stays silent during start-up).
        """
        if not items:
            return []
        limits = self.limits
        results: list[Any] = [None] * len(items)
        finished = [False] * len(items)
        tries = [0] * len(items)
        pending = deque(range(len(items)))

        def done(index: int, result: Result) -> None:
            results[index] = result
            finished[index] = True

        def give_up(index: int, failure: Failure) -> None:
            done(index, fallback(items[index], failure))
            if on_done is not None:
                on_done(1)

        def requeue(indexes: list[int], culprit: int | None) -> None:
            for index in reversed(indexes):
                if index == culprit:
                    continue
                tries[index] += 1
                if tries[index] >= limits.tries:
                    give_up(index, Failure("crashed", REPEATED_CRASHES, 0.0))
                else:
                    pending.appendleft(index)

        workers = self._workers
        while len(workers) < self._wanted(len(items)):
            workers.append(self._new_worker())
        while pending or any(w.batch for w in workers):
            for i, w in enumerate(workers):
                while w.ready and not w.batch and pending:  # until a batch is out (or none left)
                    size = max(1, min(limits.batch, len(pending) // (4 * len(workers))))
                    batch = [pending.popleft() for _ in range(min(size, len(pending)))]
                    try:
                        w.send(batch, [items[j] for j in batch])
                    except OSError:  # the worker died while idle: not these items' fault
                        pending.extendleft(reversed(batch))
                        w.kill()
                        w = workers[i] = self._new_worker()
                    except (pickle.PicklingError, TypeError, AttributeError, RecursionError) as exc:
                        # Nothing was sent: the items that do not pickle are given up, the others
                        # go back to the queue (all given up when none fails alone).
                        alone = [j for j in batch if _pickles(items[j])]
                        if len(alone) == len(batch):
                            alone = []
                        for j in batch:
                            if j not in alone:
                                give_up(j, Failure("unsendable", exc.__class__.__name__, 0.0))
                        pending.extendleft(reversed(alone))
            if not pending and not any(w.batch for w in workers):
                break  # the last items were given up here: nothing is out to wait for
            now = time.monotonic()
            waits = [w.started + limits.start_timeout - now for w in workers if not w.ready]
            if limits.timeout is not None:
                waits += [
                    since + limits.timeout - now
                    for w in workers
                    if w.batch and (since := w.current()[1]) != math.inf
                ]
            ready = wait(
                [w.conn for w in workers] + [w.proc.sentinel for w in workers],
                timeout=max(0.0, min(waits)) if waits else None,
            )
            replace: list[_Worker] = []
            for w in workers:
                died = False
                if w.conn in ready:
                    try:
                        message = w.conn.recv()
                    except (EOFError, OSError):
                        died = True
                    else:
                        if message == "ready":
                            w.ready = True
                        elif w.batch:
                            for index, result in zip(w.batch, message, strict=True):
                                done(index, result)
                            if on_done is not None:
                                on_done(len(w.batch))
                            w.batch = []
                elif w.proc.sentinel in ready:
                    died = True
                if died:
                    if not w.ready:
                        raise MachineError(
                            "Không khởi động được tiến trình xử lý (tiến trình dừng khi khởi động)."
                        )
                    w.proc.join(1)
                    culprit, since = w.current()
                    if culprit is not None:
                        spent = time.monotonic() - since
                        give_up(culprit, Failure("crashed", _crash_detail(w.proc.exitcode), spent))
                    requeue(w.batch, culprit)
                    w.batch = []
                    replace.append(w)
                elif not w.ready and time.monotonic() - w.started > limits.start_timeout:
                    raise MachineError("Không khởi động được tiến trình xử lý (quá thời gian chờ).")
                elif w.batch and limits.timeout is not None:
                    culprit, since = w.current()
                    if time.monotonic() - since > limits.timeout:
                        if culprit is not None:
                            give_up(culprit, Failure("timeout", f"{limits.timeout:g}", limits.timeout))
                        requeue(w.batch, culprit)
                        w.batch = []
                        replace.append(w)
            for w in replace:
                w.kill()
                workers[workers.index(w)] = self._new_worker()
        assert all(finished)
        return list(results)
