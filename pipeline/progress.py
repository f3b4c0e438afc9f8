"""A progress bar on the terminal for long runs (stderr, only when it is a terminal).

Nothing is printed when stderr is not a terminal (tests, CI, scheduled runs) or when there
are few files: a run over a province's few hundred files is over before a bar helps.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
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


class Timings:
    """Seconds spent per stage of a run (written to outbox/.logs/ as a debug log, not an output)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def reset(self) -> None:
        self.seconds.clear()

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start


STAGES = Timings()  # the current run's stages (one run per process at a time)
