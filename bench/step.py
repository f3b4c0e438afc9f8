"""One measured baseline step of the benchmark, run in its own process."""

from __future__ import annotations

import sys
from pathlib import Path

from bench.benchmark import STEPS

if __name__ == "__main__":
    print(STEPS[sys.argv[1]](Path(sys.argv[2])))
