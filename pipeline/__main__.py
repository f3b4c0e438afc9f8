"""`python -m pipeline …` (also `py -m pipeline …` on Windows)."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def run() -> None:
    # Great Expectations: no analytics, no progress bars, nothing on the network.
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    from pipeline.cli import main

    installed = Path(sys.argv[0]).stem == "dvcq"  # the console script of `pip install .`
    try:
        main(prog_name="dvcq" if installed else "python -m pipeline")
    except KeyboardInterrupt:
        print("Đã dừng theo yêu cầu.", file=sys.stderr)
        sys.exit(1)
    except Exception as exc:  # a bug of ours: still never a traceback for the officer
        print(f"Lỗi không mong đợi: {exc.__class__.__name__}: {exc}", file=sys.stderr)
        print("Chương trình dừng lại; các tệp kết quả cũ không bị thay đổi.", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    run()
