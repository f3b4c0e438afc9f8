"""Faults: SIGKILL at any moment, two runs at once, outputs that cannot be replaced."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import commands as cli
from pipeline.store import atomic
from pipeline.store.lock import RunLock
from tests.conftest import ROOT
from tests.issue6_support import (
    AS_OF,
    PERIOD,
    REPO,
    cli_args,
    copy_valid,
    output_bytes,
    run_cli,
    snapshot,
)

pytestmark = pytest.mark.skipif(os.name != "posix", reason="SIGKILL and process groups are POSIX")


@pytest.fixture(scope="module")
def states(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, bytes], dict[str, bytes]]:
    """(inbox with 5 files, outbox after a run over the first 3, its outputs, a clean rerun's)."""
    root = tmp_path_factory.mktemp("faults")
    names = copy_valid(root / "inbox", 5)
    first = root / "inbox-first"
    copy_valid(first, 3)
    for folder in (root / "inbox", first):  # no receipts: received times come from the ledger
        (folder / "receipts.csv").unlink()
    done = run_cli(first, root / "outbox-prev")
    assert done.returncode == 0, done.stderr
    shutil.copytree(root / "outbox-prev", root / "outbox-new")
    done = run_cli(root / "inbox", root / "outbox-new")
    assert done.returncode == 0, done.stderr
    assert len(names) == 5
    return (
        root / "inbox",
        root / "outbox-prev",
        output_bytes(root / "outbox-prev"),
        output_bytes(root / "outbox-new"),
    )


def _integrity(outbox: Path) -> None:
    db = sqlite3.connect(outbox / "ledger.sqlite")
    try:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("SELECT count(*) FROM content").fetchone()[0] >= 3
    finally:
        db.close()


def _start(inbox: Path, outbox: Path, pause_at: str = "") -> subprocess.Popen[str]:
    env = {**os.environ}
    if pause_at:
        env["PIPELINE_TEST_PAUSE_AT"] = pause_at
    return subprocess.Popen(
        cli_args(inbox, outbox), cwd=REPO, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
        text=True, start_new_session=True,
    )  # fmt: skip


def _wait_paused(proc: subprocess.Popen[str], name: str) -> None:
    assert proc.stderr is not None
    for line in proc.stderr:
        if line.strip() == f"PAUSED {name}":
            return
    raise AssertionError(f"the run ended without reaching {name} (exit {proc.wait()})")


def _kill(proc: subprocess.Popen[str]) -> None:
    """SIGKILL the run and its workers (the process group this test created), like a power cut."""
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)
    if proc.stderr is not None:
        proc.stderr.close()


def _check_after_kill(outbox: Path, inbox: Path, prev: dict[str, bytes], new: dict[str, bytes]) -> None:
    after = output_bytes(outbox)
    for name, data in prev.items():
        assert after.get(name) in (data, new[name]), name  # whole old or whole new, never half
    _integrity(outbox)
    done = run_cli(inbox, outbox)
    assert done.returncode == 0, done.stderr
    assert output_bytes(outbox) == new
    assert not list((outbox / PERIOD).glob(".*.tmp"))


@pytest.mark.parametrize(
    "point",
    ["after-collect", f"before-replace:tong-hop-{PERIOD}.xlsx", "before-replace:run.json"],
)
def test_sigkill_at_named_points(
    tmp_path: Path, states: tuple[Path, Path, dict[str, bytes], dict[str, bytes]], point: str
) -> None:
    inbox, prev_outbox, prev, new = states
    outbox = tmp_path / "outbox"
    shutil.copytree(prev_outbox, outbox)
    before = snapshot(inbox)
    proc = _start(inbox, outbox, point)
    _wait_paused(proc, point)
    _kill(proc)
    assert snapshot(inbox) == before
    after = output_bytes(outbox)
    if point != "before-replace:run.json":
        assert {k: after[k] for k in prev} == prev  # nothing replaced yet
    else:
        assert after["run.json"] == prev["run.json"]
        assert list((outbox / PERIOD).glob(".run.json.*.tmp"))  # the killed write left only a temp
    _check_after_kill(outbox, inbox, prev, new)


@pytest.mark.parametrize("delay", [0.5, 1.5, 3.0])
def test_sigkill_after_a_delay(
    tmp_path: Path, states: tuple[Path, Path, dict[str, bytes], dict[str, bytes]], delay: float
) -> None:
    inbox, prev_outbox, prev, new = states
    outbox = tmp_path / "outbox"
    shutil.copytree(prev_outbox, outbox)
    proc = _start(inbox, outbox)
    time.sleep(delay)
    _kill(proc)
    _check_after_kill(outbox, inbox, prev, new)


def test_second_run_stops_while_the_first_holds_the_outbox(
    tmp_path: Path, states: tuple[Path, Path, dict[str, bytes], dict[str, bytes]]
) -> None:
    inbox, prev_outbox, prev, new = states
    outbox = tmp_path / "outbox"
    shutil.copytree(prev_outbox, outbox)
    first = _start(inbox, outbox, "after-collect")
    _wait_paused(first, "after-collect")
    second = run_cli(inbox, outbox)
    assert second.returncode == 1
    assert second.stderr.startswith("Lỗi:") and "Traceback" not in second.stderr
    assert str(first.pid) in second.stderr  # who holds the outbox
    assert output_bytes(outbox) == prev
    _kill(first)  # the system releases the lock of a killed run: no stale lock
    _check_after_kill(outbox, inbox, prev, new)


def test_lock_in_process(tmp_path: Path) -> None:
    with RunLock(tmp_path):
        with pytest.raises(Exception) as info, RunLock(tmp_path):
            pass
        assert info.type.__name__ == "LockError"
    with RunLock(tmp_path):  # released on exit
        pass


def _invoke(inbox: Path, outbox: Path) -> tuple[int, str]:
    runner = CliRunner()
    result = runner.invoke(
        cli.main,
        ["consolidate", "--period", PERIOD, "--inbox", str(inbox), "--outbox", str(outbox), "--as-of", AS_OF],
    )
    return result.exit_code, result.output + (result.stderr if hasattr(result, "stderr") else "")


def test_output_open_in_excel(
    tmp_path: Path,
    states: tuple[Path, Path, dict[str, bytes], dict[str, bytes]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Windows refuses to open or replace a file Excel holds: nothing is replaced, exit 1."""
    inbox, prev_outbox, prev, _new = states
    outbox = tmp_path / "outbox"
    shutil.copytree(prev_outbox, outbox)
    locked = outbox / PERIOD / f"danh-sach-nop-muon-{PERIOD}.xlsx"
    real_open = os.open

    def excel_holds(path: object, flags: int, *args: object, **kwargs: object) -> int:
        if Path(str(path)) == locked and flags & (os.O_RDWR | os.O_WRONLY):
            raise PermissionError(13, "The process cannot access the file")
        return real_open(path, flags, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", excel_holds)
    code, output = _invoke(inbox, outbox)
    assert code == 1
    assert "Traceback" not in output and locked.name in output
    assert output_bytes(outbox) == prev
    assert not list((outbox / PERIOD).glob(".*.tmp"))


def test_replace_refused_midway(
    tmp_path: Path,
    states: tuple[Path, Path, dict[str, bytes], dict[str, bytes]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """If the rename itself is refused, that output keeps its previous bytes and no temp is left."""
    inbox, prev_outbox, prev, _new = states
    outbox = tmp_path / "outbox"
    shutil.copytree(prev_outbox, outbox)
    real_replace = os.replace

    def refuse(src: str, dst: str) -> None:
        if str(dst).endswith(f"tong-hop-{PERIOD}.xlsx"):
            raise PermissionError(13, "Access is denied")
        real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "replace", refuse)
    code, output = _invoke(inbox, outbox)
    assert code == 1 and "Traceback" not in output
    assert output_bytes(outbox) == prev
    assert not list((outbox / PERIOD).glob(".*.tmp"))


def test_folder_in_place_of_an_output(
    tmp_path: Path, states: tuple[Path, Path, dict[str, bytes], dict[str, bytes]]
) -> None:
    inbox, prev_outbox, prev, _new = states
    outbox = tmp_path / "outbox"
    shutil.copytree(prev_outbox, outbox)
    (outbox / PERIOD / "run.json").unlink()
    (outbox / PERIOD / "run.json").mkdir()
    done = run_cli(inbox, outbox)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "run.json" in done.stderr
    after = output_bytes(outbox)
    assert {k: after[k] for k in after} == {k: prev[k] for k in after}  # nothing replaced


_DYING_WORKER = """
import os, sys
from pathlib import Path
from pipeline import config
from bench.benchmark import write_bench_schema
from pipeline.core.deadlines import parse_period
from pipeline.core.errors import MachineError
from pipeline.core.model import InboxFile
from pipeline.intake.scan import Entry
from pipeline.reading.reader import Reader

work = Path(sys.argv[1])
schema = config.load(write_bench_schema(5000, work / "schemas"))  # pickles to ~1 MB
period = parse_period("2023-Q1", schema.calendar)
os.environ["PIPELINE_TEST_PAUSE_AT"] = "abort@worker-start"  # every worker dies at once
(work / "a.xlsx").write_bytes(b"PK")
try:
    with Reader(schema, period, None) as reader:
        reader.judge([Entry(InboxFile(name="a.xlsx", path=work / "a.xlsx", sha256="", size=2))])
except MachineError as exc:
    print("refused:", exc)
"""


def test_a_worker_dying_at_start_up_stops_the_run_instead_of_hanging(tmp_path: Path) -> None:
    """A national registry is more than a pipe buffer: it must not be the spawn arguments
    (CPython writes those before closing its copy of the child's end: a dead child = a hang)."""
    proc = subprocess.run(
        [sys.executable, "-c", _DYING_WORKER, str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("refused:")
