"""Incremental runs (issue 5): an unchanged file is never read again; a schema change reads all."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import zipfile
from datetime import date, datetime
from pathlib import Path

from pipeline import parsecache
from pipeline import schema as schema_mod
from pipeline.catalogue import Issue
from pipeline.model import InboxFile, Located, Submission
from pipeline.sample import SampleManifest
from tests.conftest import AS_OF, run_cli

PERIOD = "2023-Q1"


def _run(inbox: Path, outbox: Path, *schemas: str) -> dict[str, float]:
    args = [*schemas, "consolidate", "--period", PERIOD, "--inbox", str(inbox), "--outbox", str(outbox)]
    proc = run_cli(*args, "--as-of", AS_OF)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # no progress bar when stderr is not a terminal
    log = outbox / ".logs" / f"read-times-{PERIOD}.json"
    times: dict[str, float] = json.loads(log.read_text(encoding="utf-8"))
    return times


def _outputs(outbox: Path) -> dict[str, bytes]:
    report = json.loads((outbox / PERIOD / "run.json").read_text(encoding="utf-8"))
    return {rel: (outbox / rel).read_bytes() for rel in report["outputs"]}


def test_second_run_reads_no_file_and_gives_the_same_bytes(sample: SampleManifest, tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    first = _run(sample.out_dir, outbox)
    assert len(first) >= 10  # the candidate reports were read
    before = _outputs(outbox)
    feedback = sorted((outbox / PERIOD / "feedback").glob("*.xlsx"))
    assert feedback
    stamps = [p.stat().st_mtime_ns for p in feedback]
    again = _run(sample.out_dir, outbox)
    assert again == {}  # every candidate came from the ledger
    assert _outputs(outbox) == before
    # feedback workbooks with the same inputs are neither built nor written again
    assert [p.stat().st_mtime_ns for p in feedback] == stamps
    stages = json.loads((outbox / ".logs" / f"stages-{PERIOD}.json").read_text(encoding="utf-8"))
    assert "expectations (great_expectations)" in stages  # timed, though nothing was new


def test_a_rerun_after_one_more_file_equals_a_cold_run(sample: SampleManifest, tmp_path: Path) -> None:
    """Everything remembered between runs (parsed files, versions, scores, feedback) gives
    the outputs a fresh outbox would get, byte for byte."""
    inbox, warm, cold = tmp_path / "inbox", tmp_path / "warm", tmp_path / "cold"
    shutil.copytree(sample.out_dir, inbox)
    _run(inbox, warm)
    accepted = next(u.files[-1] for u in sample.units.values() if u.state == "on_time")
    extra = inbox / "gui-lai.xlsx"  # the same figures sent again: other bytes, a later version
    shutil.copy(inbox / accepted.name, extra)
    with zipfile.ZipFile(extra, "a") as zf:
        zf.writestr("docProps/custom-resent.txt", "gửi lại")
    assert len(_run(inbox, warm)) == 1  # only the new file was read
    _run(inbox, cold)
    assert _outputs(warm) == _outputs(cold)
    assert "gui-lai.xlsx" in (warm / PERIOD / "run.json").read_text(encoding="utf-8")


def test_a_hand_edited_feedback_file_is_written_again(sample: SampleManifest, tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    _run(sample.out_dir, outbox)
    target = sorted((outbox / PERIOD / "feedback").glob("*.xlsx"))[0]
    good = target.read_bytes()
    target.write_bytes(b"edited")
    _run(sample.out_dir, outbox)
    assert target.read_bytes() == good


def test_a_changed_schema_reads_every_file_again(sample: SampleManifest, tmp_path: Path) -> None:
    outbox, schemas = tmp_path / "outbox", tmp_path / "schemas"
    shutil.copytree(schema_mod.DEFAULT_DIR, schemas)
    first = _run(sample.out_dir, outbox, "--schemas", str(schemas))
    with (schemas / "rubric.toml").open("a", encoding="utf-8") as fh:
        fh.write("\n# một dòng chú thích: vẫn là một thay đổi của cấu hình\n")
    again = _run(sample.out_dir, outbox, "--schemas", str(schemas))
    assert set(again) == set(first)


def test_a_submission_round_trips_through_the_cache(tmp_path: Path) -> None:
    f = InboxFile(name="a/b.xlsx", path=tmp_path / "b.xlsx", sha256="0" * 64, size=1)
    sub = Submission(
        file=f,
        status="accepted",
        unit="SNV",
        period="Q1",
        year=2023,
        template_version="1",
        values={
            "n": 3,
            "x": 1.5,
            "t": "chữ",
            "d": date(2023, 3, 1),
            "dt": datetime(2023, 3, 1, 9),
            "z": None,
        },
        cells={"n": Located("Biểu 1", "C5")},
        issues=[Issue("c", "warning", "a/b.xlsx", "Biểu 1", "C5", "thông điệp", "SNV", "n")],
    )
    back = parsecache.unpack(parsecache.pack(sub), f)
    assert back == sub
    assert [type(v) for v in back.values.values()] == [type(v) for v in sub.values.values()]


def test_an_incremental_run_gives_the_bytes_of_a_cold_run(sample: SampleManifest, tmp_path: Path) -> None:
    """One more file after a run: the run that takes the rest from the caches (file stats, parse
    cache) writes the same bytes as a first run over the same inbox into a fresh outbox."""
    inbox = tmp_path / "inbox"
    shutil.copytree(sample.out_dir, inbox)
    late = sorted(inbox.glob("*.xlsx"))[-1]
    held = tmp_path / late.name
    late.rename(held)
    outbox = tmp_path / "outbox"
    _run(inbox, outbox)
    held.rename(late)
    again = _run(inbox, outbox)
    assert set(again) == {late.name}  # only the new file was read
    fresh = tmp_path / "fresh"
    _run(inbox, fresh)
    assert _outputs(outbox) == _outputs(fresh)


def test_unchanged_files_are_not_hashed_again_and_changed_ones_are(
    sample: SampleManifest, tmp_path: Path
) -> None:
    inbox, outbox = tmp_path / "inbox", tmp_path / "outbox"
    shutil.copytree(sample.out_dir, inbox)
    _run(inbox, outbox)
    db = sqlite3.connect(outbox / "ledger.sqlite")
    try:
        stats = dict(db.execute("SELECT name, sha256 FROM file_stats").fetchall())
    finally:
        db.close()
    assert stats and all(len(sha) == 64 for sha in stats.values())
    # Other bytes, same size and same modification time (a byte of a local zip header's date,
    # which no reader looks at): only the change time tells, and the file is read again.
    target = sorted(inbox.glob("*.xlsx"))[0]
    before = target.stat()
    data = bytearray(target.read_bytes())
    assert data[:4] == b"PK\x03\x04"
    data[10] ^= 0x01
    target.write_bytes(bytes(data))
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert target.stat().st_size == before.st_size and target.stat().st_mtime_ns == before.st_mtime_ns
    again = _run(inbox, outbox)
    assert set(again) == {target.name}


def test_packed_results_survive_dates_and_issues(tmp_path: Path) -> None:
    f = InboxFile(name="b.xlsx", path=tmp_path / "b.xlsx", sha256="1" * 64, size=1)
    cells = {"d": Located("S", "C5"), "n": Located("S", "C6")}
    plain = Submission(file=f, values={"n": 1, "d": None}, cells=cells)
    dated = Submission(file=f, values={"n": 2, "d": date(2023, 3, 31)}, cells=dict(cells))
    unpacker = parsecache.Unpacker()
    a, b = parsecache.pack(plain), parsecache.pack(dated)
    assert a[0] == b[0]  # one layout for both
    assert unpacker.submission(a, f) == plain and unpacker.submission(b, f) == dated
