"""`make demo` as a new user runs it: the sample year's four inboxes and their consolidation under
build/demo/, the officer's inbox/ and outbox/ untouched (no ledger, no period folder)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
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
    assert (demo / "outbox" / "ledger.sqlite").is_file()
    # the four periods of the sample year, each from its own inbox, into one outbox
    for code in ("Q1", "H1", "9M", "Y"):
        workbook = demo / "outbox" / f"2023-{code}" / f"tong-hop-2023-{code}.xlsx"
        assert workbook.is_file()
        assert len(list((demo / f"inbox-2023-{code}").iterdir())) >= 32
        # the year sheet from the second period on (its part is named in the workbook)
        with zipfile.ZipFile(workbook) as z:
            assert ('name="Cả năm"' in z.read("xl/workbook.xml").decode()) == (code != "Q1")
        # it says where the outputs are (make echoes its commands, which never name this file)
        assert (
            str(Path("build", "demo", "outbox", f"2023-{code}", f"tong-hop-2023-{code}.xlsx")) in proc.stdout
        )
