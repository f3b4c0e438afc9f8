"""The reading stage of a run: every inbox file gets a verdict, from the cache or from the read
workers, then the range and rule checks run over the new ones, and the new verdicts are kept.

A file the cache knows (same bytes under the same name, same fingerprint) is neither screened
nor read: its verdict is loaded (`Submission.from_cache`). Any other file is hashed, screened,
read and validated in one pass by a worker process (pipeline.reading.judge); a file that kills
or hangs its worker is charged `file-crashed-reader` or `file-timeout` (never cached: that says
more about the machine at that moment than about the file).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from pipeline.core.deadlines import ReportingPeriod
from pipeline.core.issues import make_issue
from pipeline.core.model import InboxFile, Submission
from pipeline.core.schema import Schema
from pipeline.core.statuses import FileStatus
from pipeline.intake import screen
from pipeline.intake.scan import Entry
from pipeline.reading import expectations, packing
from pipeline.reading.judge import Reply, Task
from pipeline.runtime.pool import Failure, Limits, Pool
from pipeline.store.cache import Cache, PackedVerdict

READ_LIMITS = Limits()  # two workers, 10 s a file, 1 GB each: the pool's defaults
# Refusals that say more about this machine at that moment than about the file: read again.
TRANSIENT = frozenset({"file-timeout", "file-crashed-reader"})


@dataclass
class _Fresh:
    """A verdict made by this run: its packed form as the worker sent it, and its issue count then
    (the range and rule checks may add issues, and the verdict is packed again)."""

    submission: Submission
    packed: PackedVerdict | None
    issues: int


class Reader:
    """Verdicts for a run's files: the cache first, the read workers for the rest."""

    def __init__(
        self, schema: Schema, period: ReportingPeriod, cache: Cache | None, limits: Limits = READ_LIMITS
    ) -> None:
        self.schema, self.period, self.cache = schema, period, cache
        self._pool: Pool[Task, Reply] = Pool("pipeline.reading.judge", (schema, period), limits)
        self.checker = expectations.Checker(schema)
        self._verdicts: dict[tuple[str, str], PackedVerdict] = {}
        self._by_name: dict[str, frozenset[str]] = {}
        self._unpacker = packing.Unpacker()
        self._fresh: list[_Fresh] = []
        if cache is not None:
            self._verdicts = cache.verdicts(period.id)
            by_name: dict[str, set[str]] = {}
            for sha, name in self._verdicts:
                by_name.setdefault(name, set()).add(sha)
            self._by_name = {name: frozenset(shas) for name, shas in by_name.items()}

    def __enter__(self) -> Reader:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._pool.close()
        self.checker.close()

    def unknown(self, entries: Sequence[Entry]) -> int:
        """How many of these files the cache cannot judge (they will be read)."""
        return sum(1 for e in entries if self._needs_reading(e))

    def start(self, expected: int) -> None:
        """Start the workers (and great_expectations' process, for many files) that `expected`
        new files will need, so that their start-up overlaps what the run does meanwhile."""
        self._pool.start(expected)
        self.checker.expect(expected)

    def _needs_reading(self, e: Entry) -> bool:
        if e.name_code or e.unreadable:
            return False
        return not e.file.sha256 or (e.file.sha256, e.file.name) not in self._verdicts

    def _cached(self, file: InboxFile) -> Submission:
        sub = self._unpacker.submission(self._verdicts[(file.sha256, file.name)], file)
        sub.from_cache = True
        return sub

    def judge(
        self, entries: Sequence[Entry], on_done: Callable[[int], None] | None = None
    ) -> list[Submission]:
        """One verdict per entry, in order."""
        subs: list[Submission | None] = [None] * len(entries)
        to_read: list[int] = []
        for n, e in enumerate(entries):
            f = e.file
            if e.unreadable:
                sub = Submission(file=f)
                sub.issues.append(
                    make_issue(self.schema, "file-unreadable", file=f.name, detail=e.unreadable)
                )
                subs[n] = sub
            elif e.name_code:
                if (f.sha256, f.name) in self._verdicts:
                    subs[n] = self._cached(f)
                else:
                    sub = Submission(file=f, status=FileStatus.IGNORED)
                    sub.issues.append(make_issue(self.schema, e.name_code, file=f.name))
                    subs[n] = sub
                    self._fresh.append(_Fresh(sub, None, len(sub.issues)))
            elif f.sha256 and (f.sha256, f.name) in self._verdicts:
                subs[n] = self._cached(f)
            else:
                to_read.append(n)
        tasks = [
            Task(entries[n].file.name, str(entries[n].file.path), entries[n].file.size,
                 entries[n].file.sha256, self._by_name.get(entries[n].file.name, frozenset()))
            for n in to_read
        ]  # fmt: skip
        replies = self._pool.map(tasks, self._failed, on_done)
        for n, reply in zip(to_read, replies, strict=True):
            f = entries[n].file
            f.sha256 = reply.sha256 or f.sha256
            if reply.packed is None:  # the same bytes as a verdict the cache holds under this name
                subs[n] = self._cached(f)
                continue
            sub = self._unpacker.submission(reply.packed, f)
            sub.read_seconds = reply.seconds
            subs[n] = sub
            self._fresh.append(_Fresh(sub, reply.packed, len(sub.issues)))
        return [s for s in subs if s is not None]

    def _failed(self, task: Task, failure: Failure) -> Reply:
        """The verdict on a file whose worker crashed or overran while on it."""
        file = InboxFile(name=task.name, path=Path(task.path), sha256="", size=task.size)
        sub = Submission(file=file)
        if failure.kind == "timeout":
            sub.issues.append(make_issue(self.schema, "file-timeout", file=task.name, limit=failure.detail))
        else:
            sub.issues.append(
                make_issue(self.schema, "file-crashed-reader", file=task.name, detail=failure.detail)
            )
        with contextlib.suppress(OSError):
            file.sha256 = screen.sha256_of(file.path)
        return Reply(file.sha256, packing.pack(sub), failure.seconds)

    def check_ranges(self) -> None:
        """The range and cross-field rules over this run's new verdicts (row-wise: cached
        verdicts already hold theirs)."""
        fresh = [x.submission for x in self._fresh]
        candidates = [s for s in fresh if s.status != FileStatus.IGNORED and s.unit is not None and s.values]
        if not candidates:
            return
        for index, issues in self.checker.check(candidates, self.period.period.code).items():
            candidates[index].issues.extend(issues)

    def remember(self) -> None:
        """Keep this run's new verdicts in the cache (transient refusals aside)."""
        if self.cache is None:
            return
        rows = []
        for x in self._fresh:
            sub = x.submission
            if any(i.code in TRANSIENT for i in sub.issues):
                continue
            packed = x.packed if x.packed is not None and len(sub.issues) == x.issues else packing.pack(sub)
            rows.append((sub.file.sha256, sub.file.name, *packed))
        self.cache.store_verdicts(self.period.id, rows)
