"""`python -m pipeline …` (also `py -m pipeline …` on Windows)."""

from __future__ import annotations

import contextlib
import os
import sys
from typing import NoReturn


def run() -> None:
    # Great Expectations: no analytics, no progress bars, nothing on the network.
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    from pipeline.cli import main

    try:
        main(prog_name="python -m pipeline")
    except SystemExit as done:
        leave(done.code)
    except KeyboardInterrupt:
        print("Đã dừng theo yêu cầu.", file=sys.stderr)
        sys.exit(1)
    except Exception as exc:  # last resort: never show a traceback to the officer
        print(f"Lỗi không mong đợi: {exc.__class__.__name__}: {exc}", file=sys.stderr)
        print("Chương trình dừng lại; các tệp kết quả cũ không bị thay đổi.", file=sys.stderr)
        sys.exit(1)
    leave(0)


def leave(code: object) -> NoReturn:
    """End the process at once once the command is done: its outputs are written, fsynced and
    closed, the ledger is closed and the workers are joined. What is left is the run's data
    (cli.KEPT), millions of small objects Python would free one by one (~0.1 s at 10,000
    units); the operating system takes the whole process back in no time."""
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:  # sys.exit("message"): what Python itself would print
        print(code, file=sys.stderr)
        status = 1
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(status)


if __name__ == "__main__":
    run()
