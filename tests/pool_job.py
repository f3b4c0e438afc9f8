"""A job of pipeline.runtime.pool for tests/test_pool.py: a worker that upper-cases text
(taking a while over items that say "slow", so that every worker of the pool gets some)."""

from __future__ import annotations

import time


def setup(payload: object) -> object:
    return payload


def handle(state: object, item: str) -> str:
    if item.startswith("slow"):
        time.sleep(0.05)
    return item.upper()
