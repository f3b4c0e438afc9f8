"""A progress bar on the terminal for long runs (stderr, only when it is a terminal).

Nothing is printed when stderr is not a terminal (tests, CI, scheduled runs) or when there
are few files: a run over a province's few hundred files is over before a bar helps.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

MIN_FILES = 200  # fewer candidate files than this: no bar


class Progress:
    """`update()` once per step; `close()` at the end. A no-op unless shown."""

    def __init__(self, total: int, desc: str, *, files: int | None = None) -> None:
        self._bar: Any = None
        shown = (files if files is not None else total) > MIN_FILES
        if shown and total > 0 and sys.stderr is not None and sys.stderr.isatty():
            from tqdm import tqdm  # type: ignore[import-untyped]

            self._bar = tqdm(total=total, desc=desc, unit="tệp", file=sys.stderr, leave=False)

    def update(self, n: int = 1) -> None:
        if self._bar is not None:
            self._bar.update(n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class _Running:
    name: str
    since: float  # start of the stretch not yet counted


class Timings:
    """Seconds spent per stage of a run (written to outbox/.logs/ as a debug log, not an output).

    A step inside another (reading in the workers while the inbox is scanned) is counted for
    itself only: the outer step's clock stops meanwhile, so the stages add up to the run.
    """

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._running: list[_Running] = []  # innermost last

    def reset(self) -> None:
        self.seconds.clear()
        self._running.clear()

    def _count(self, step: _Running, now: float) -> None:
        self.seconds[step.name] = self.seconds.get(step.name, 0.0) + now - step.since
        step.since = now

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        if self._running:
            self._count(self._running[-1], start)
        mine = _Running(name, start)
        self._running.append(mine)
        try:
            yield
        finally:
            now = time.perf_counter()
            self._count(mine, now)
            self._running = [r for r in self._running if r is not mine]
            if self._running:
                self._running[-1].since = now


STAGES = Timings()  # the current run's stages (one run per process at a time)
