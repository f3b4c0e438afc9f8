"""Test-only pause points, to kill a real run at a chosen moment (tests/test_faults.py).

When the environment variable PIPELINE_TEST_PAUSE_AT names a checkpoint, the run prints
"PAUSED <name>" on stderr and sleeps there, so that a test can SIGKILL it at that point;
when it is "abort@<name>", the process aborts there (as python-calamine does on a bomb).
This is the only place the variable is read; unset, a checkpoint costs one dict lookup.
"""

from __future__ import annotations

import os
import sys
import time

ENV = "PIPELINE_TEST_PAUSE_AT"


def checkpoint(name: str) -> None:
    wanted = os.environ.get(ENV)
    if not wanted:
        return
    if wanted == f"abort@{name}":
        os.abort()
    if wanted == name:
        print(f"PAUSED {name}", file=sys.stderr, flush=True)
        time.sleep(120)
