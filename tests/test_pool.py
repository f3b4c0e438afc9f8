"""The process pool (pipeline.runtime.pool) with real worker processes."""

from __future__ import annotations

import threading
from typing import Any

from pipeline.runtime.pool import Failure, Limits, Pool


class _Unpicklable(str):
    """Text that cannot be sent to a worker process."""

    def __reduce__(self) -> Any:
        raise TypeError("not for a worker")


def _fallback(item: str, failure: Failure) -> str:
    return f"{failure.kind}:{item}"


def test_items_that_cannot_be_sent_go_to_the_fallback_even_when_the_workers_are_ready() -> None:
    """Regression: when the workers were ready and every remaining item failed to pickle, map
    gave them all up and then waited for replies that nobody would send."""
    with Pool[str, str]("tests.pool_job", None, Limits(processes=2, few=0, batch=4)) as pool:
        # both workers started and ready: the first is busy for ~2 s, long enough for the second
        slow = [f"slow{n}" for n in range(40)]
        assert pool.map(slow, _fallback) == [s.upper() for s in slow]
        items = [_Unpicklable(f"x{n}") for n in range(10)]
        got: list[list[str]] = []
        mapper = threading.Thread(target=lambda: got.append(pool.map(items, _fallback)), daemon=True)
        mapper.start()
        mapper.join(60)
        assert not mapper.is_alive(), "map waited for workers that had nothing to do"
        assert got == [[f"unsendable:x{n}" for n in range(10)]]
        mixed = ["p", _Unpicklable("q"), "r"]
        assert pool.map(mixed, _fallback) == ["P", "unsendable:q", "R"]
