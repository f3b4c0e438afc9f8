"""`make demo` as a new user runs it: the sample inbox and its consolidation under build/demo/,
the officer's inbox/ and outbox/ untouched (no ledger, no period folder)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _tree(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under `folder` with its size and modification time (nothing if it is absent)."""
    if not folder.exists():
        return {}
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in folder.rglob("*")
        if p.is_file()
    }


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_demo_writes_under_build_only() -> None:
    before = {name: _tree(ROOT / name) for name in ("inbox", "outbox")}
    proc = subprocess.run(
        # the environment exists already (this test runs in it): make is told not to rebuild it
        ["make", "-o", ".venv/.installed", "demo", f"PY={sys.executable}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert {name: _tree(ROOT / name) for name in ("inbox", "outbox")} == before
    demo = ROOT / "build" / "demo"
    assert (demo / "outbox" / "2023-Q1" / "tong-hop-2023-Q1.xlsx").is_file()
    assert (demo / "outbox" / "ledger.sqlite").is_file()
    assert len(list((demo / "inbox").iterdir())) >= 32
    # it says where the outputs are (make echoes its commands, which never name this file)
    assert str(Path("build", "demo", "outbox", "2023-Q1", "tong-hop-2023-Q1.xlsx")) in proc.stdout
