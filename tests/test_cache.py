"""The cache store follows the program: one fingerprint (schema, code, libraries) for everything
derived; an unchanged rerun takes every verdict from it, a changed program reads every file again
and never serves an old verdict; deleting the cache costs time only."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import zipfile
from datetime import date, datetime
from pathlib import Path

import pytest

from pipeline import config
from pipeline.authoring.sample import SampleManifest
from pipeline.core.issues import Issue
from pipeline.core.model import InboxFile, Located, Submission
from pipeline.reading import packing
from pipeline.store import fingerprint as fp
from pipeline.store.cache import Cache
from tests.conftest import AS_OF, ROOT, output_files, run_cli

PERIOD = "2023-Q1"


def _run(inbox: Path, outbox: Path, *options: str, cwd: Path = ROOT) -> dict[str, float]:
    """A consolidation through the command line; the seconds spent on each file read (none when
    every verdict came from the cache)."""
    args = [*options, "consolidate", "--period", PERIOD, "--inbox", str(inbox), "--outbox", str(outbox)]
    proc = run_cli(*args, "--as-of", AS_OF, cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # no progress bar when stderr is not a terminal
    log = outbox / ".logs" / f"read-times-{PERIOD}.json"
    times: dict[str, float] = json.loads(log.read_text(encoding="utf-8"))
    return times


def _files(outbox: Path) -> list[dict[str, object]]:
    report = json.loads((outbox / PERIOD / "run.json").read_text(encoding="utf-8"))
    files: list[dict[str, object]] = report["files"]
    return files


def _verdicts(outbox: Path) -> list[tuple[object, ...]]:
    """Each file's verdict as run.json records it: path, status, unit, issues (codes and cells)."""
    return [
        (f["path"], f["status"], f["unit"], tuple((i["code"], i["sheet"], i["cell"]) for i in f["issues"]))  # type: ignore[attr-defined]
        for f in _files(outbox)
    ]


def test_an_unchanged_rerun_takes_every_verdict_from_the_cache(
    sample: SampleManifest, tmp_path: Path
) -> None:
    outbox = tmp_path / "outbox"
    first = _run(sample.out_dir, outbox)
    assert len(first) >= 10  # the reports were read
    assert not any(f["from_cache"] for f in _files(outbox))
    before, verdicts = output_files(outbox), _verdicts(outbox)
    feedback = sorted((outbox / PERIOD / "feedback").glob("*.xlsx"))
    assert feedback
    stamps = [p.stat().st_mtime_ns for p in feedback]
    again = _run(sample.out_dir, outbox)
    assert again == {}  # no file was read
    assert all(f["from_cache"] is True for f in _files(outbox))
    assert _verdicts(outbox) == verdicts and output_files(outbox) == before
    # feedback workbooks with the same inputs are neither built nor written again
    assert [p.stat().st_mtime_ns for p in feedback] == stamps


def _program_copy(root: Path) -> Path:
    """The program (package, schemas, templates) copied where a test may change it."""
    for name in ("pipeline", "schemas", "templates"):
        shutil.copytree(ROOT / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    return root


@pytest.mark.parametrize(
    "module", ["pipeline/reading/validate.py", "pipeline/core/merge.py", "pipeline/outputs/letters.py"]
)
def test_a_change_to_any_module_reads_every_file_again(
    sample: SampleManifest, tmp_path: Path, module: str
) -> None:
    program = _program_copy(tmp_path / "program")
    outbox = tmp_path / "outbox"
    _run(sample.out_dir, outbox, cwd=program)
    verdicts = _verdicts(outbox)
    with (program / module).open("a", encoding="utf-8") as fh:
        fh.write("\n# a new version of the program: one more comment line\n")
    _run(sample.out_dir, outbox, cwd=program)
    assert not any(f["from_cache"] for f in _files(outbox))  # every verdict made again
    assert _verdicts(outbox) == verdicts  # and the same
    _run(sample.out_dir, outbox, cwd=program)
    assert all(f["from_cache"] for f in _files(outbox))


def test_a_changed_rule_is_never_answered_from_the_cache(sample: SampleManifest, tmp_path: Path) -> None:
    """The upgrade of the issue: a validator rule changes between two runs over the same outbox.
    The rerun judges with the new rule, as a fresh outbox would."""
    program = _program_copy(tmp_path / "program")
    old, fresh = tmp_path / "old", tmp_path / "fresh"
    _run(sample.out_dir, old, cwd=program)
    statuses = {u["code"]: u["status"] for u in json.loads((old / PERIOD / "run.json").read_text())["units"]}
    assert list(statuses.values()).count("on_time") > 10
    validate = program / "pipeline" / "reading" / "validate.py"
    text = validate.read_text(encoding="utf-8")
    rule = "if read.fingerprint_version != schema.template_version:"
    assert rule in text
    validate.write_text(text.replace(rule, "if True:  # every template now outdated"), encoding="utf-8")
    _run(sample.out_dir, old, cwd=program)
    _run(sample.out_dir, fresh, cwd=program)
    after = {u["code"]: u["status"] for u in json.loads((old / PERIOD / "run.json").read_text())["units"]}
    assert "on_time" not in after.values() and "late" not in after.values()
    # The same verdicts as a fresh outbox (the old one keeps its history of versions besides).
    assert _verdicts(old) == _verdicts(fresh)
    assert all("template-outdated" in {i[0] for i in v[3]} for v in _verdicts(old) if v[0].endswith(".xlsx"))


def test_a_changed_schema_reads_every_file_again(sample: SampleManifest, tmp_path: Path) -> None:
    outbox, schemas = tmp_path / "outbox", tmp_path / "schemas"
    shutil.copytree(config.DEFAULT_DIR, schemas)
    first = _run(sample.out_dir, outbox, "--schemas", str(schemas))
    with (schemas / "rubric.toml").open("a", encoding="utf-8") as fh:
        fh.write("\n# một dòng chú thích: vẫn là một thay đổi của cấu hình\n")
    again = _run(sample.out_dir, outbox, "--schemas", str(schemas))
    assert set(again) == set(first)


def test_the_fingerprint_covers_schema_code_and_libraries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    schemas = tmp_path / "schemas"
    shutil.copytree(config.DEFAULT_DIR, schemas)
    base = fp.fingerprint(schemas)
    assert fp.fingerprint(schemas) == base  # stable
    (schemas / "units.csv").write_bytes((schemas / "units.csv").read_bytes() + b"\n")
    assert fp.fingerprint(schemas) != base
    changed = fp.fingerprint(schemas)
    versions = dict(fp.library_versions())
    assert versions["python-calamine"] != "-" and versions["xlsxwriter"] != "-"
    upgraded = tuple((name, "99" if name == "python-calamine" else v) for name, v in fp.library_versions())
    monkeypatch.setattr(fp, "library_versions", lambda: upgraded)
    assert fp.fingerprint(schemas) != changed
    monkeypatch.undo()
    monkeypatch.setattr(fp, "code_digest", lambda: "another program")
    assert fp.fingerprint(schemas) != changed


def test_the_cache_is_safe_to_delete(sample: SampleManifest, tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    _run(sample.out_dir, outbox)
    before = output_files(outbox)
    history = _ledger_rows(outbox)
    shutil.rmtree(outbox / ".cache")
    again = _run(sample.out_dir, outbox)
    assert len(again) >= 10 and output_files(outbox) == before  # read again, same outputs
    assert _ledger_rows(outbox) == history  # the record never lived in the cache


def test_a_damaged_cache_is_rebuilt(sample: SampleManifest, tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    _run(sample.out_dir, outbox)
    before = output_files(outbox)
    (outbox / ".cache" / "cache.sqlite").write_bytes(b"not a database" * 100)
    for suffix in ("-wal", "-shm"):
        Path(f"{outbox / '.cache' / 'cache.sqlite'}{suffix}").unlink(missing_ok=True)
    _run(sample.out_dir, outbox)
    assert output_files(outbox) == before


def _ledger_rows(outbox: Path) -> dict[str, list[tuple[object, ...]]]:
    db = sqlite3.connect(outbox / "ledger.sqlite")
    try:
        return {
            table: sorted(db.execute(f"SELECT * FROM {table}").fetchall())
            for table in ("content", "versions", "period_scores")
        }
    finally:
        db.close()


def test_a_cache_of_another_fingerprint_starts_empty(tmp_path: Path) -> None:
    path = tmp_path / ".cache" / "cache.sqlite"
    with Cache(path, "a") as cache:
        assert cache.emptied
        cache.record_file_stats("inbox", {"x.xlsx": (1, 2, 3, 4, "0" * 64)}, [])
    with Cache(path, "a") as cache:
        assert not cache.emptied and cache.file_stats("inbox") == {"x.xlsx": (1, 2, 3, 4, "0" * 64)}
    with Cache(path, "b") as cache:
        assert cache.emptied and cache.file_stats("inbox") == {}


def test_a_rerun_after_one_more_file_equals_a_cold_run(sample: SampleManifest, tmp_path: Path) -> None:
    """Everything remembered between runs (verdicts, versions, scores, pieces, feedback) gives
    the outputs a fresh outbox would get, byte for byte."""
    inbox, warm, cold = tmp_path / "inbox", tmp_path / "warm", tmp_path / "cold"
    shutil.copytree(sample.out_dir, inbox)
    _run(inbox, warm)
    accepted = next(u.files[-1] for u in sample.units.values() if u.state == "on_time")
    extra = inbox / "gui-lai.xlsx"  # the same figures sent again: other bytes, a later version
    shutil.copy(inbox / accepted.name, extra)
    with zipfile.ZipFile(extra, "a") as zf:
        zf.writestr("docProps/custom-resent.txt", "gửi lại")
    assert set(_run(inbox, warm)) == {"gui-lai.xlsx"}  # only the new file was read
    assert [f["path"] for f in _files(warm) if not f["from_cache"]] == ["gui-lai.xlsx"]
    _run(inbox, cold)
    assert output_files(warm) == output_files(cold)


def test_a_hand_edited_feedback_file_is_written_again(sample: SampleManifest, tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    _run(sample.out_dir, outbox)
    target = sorted((outbox / PERIOD / "feedback").glob("*.xlsx"))[0]
    good = target.read_bytes()
    target.write_bytes(b"edited")
    _run(sample.out_dir, outbox)
    assert target.read_bytes() == good


def test_an_incremental_run_gives_the_bytes_of_a_cold_run(sample: SampleManifest, tmp_path: Path) -> None:
    """One more file after a run: the run that takes the rest from the cache writes the same
    bytes as a first run over the same inbox into a fresh outbox."""
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
    assert output_files(outbox) == output_files(fresh)


def test_unchanged_files_are_not_hashed_again_and_changed_ones_are(
    sample: SampleManifest, tmp_path: Path
) -> None:
    inbox, outbox = tmp_path / "inbox", tmp_path / "outbox"
    shutil.copytree(sample.out_dir, inbox)
    _run(inbox, outbox)
    db = sqlite3.connect(outbox / ".cache" / "cache.sqlite")
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


def test_a_verdict_round_trips_through_its_packed_form(tmp_path: Path) -> None:
    f = InboxFile(name="a/b.xlsx", path=tmp_path / "b.xlsx", sha256="0" * 64, size=1, kind="xlsx")
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
    other = InboxFile(name="a/b.xlsx", path=tmp_path / "b.xlsx", sha256="0" * 64, size=1)
    back = packing.unpack(packing.pack(sub), other)
    assert back == sub and other.kind == "xlsx"
    assert [type(v) for v in back.values.values()] == [type(v) for v in sub.values.values()]


def test_packed_verdicts_of_one_template_share_a_layout(tmp_path: Path) -> None:
    f = InboxFile(name="b.xlsx", path=tmp_path / "b.xlsx", sha256="1" * 64, size=1)
    cells = {"d": Located("S", "C5"), "n": Located("S", "C6")}
    plain = Submission(file=f, values={"n": 1, "d": None}, cells=cells)
    dated = Submission(file=f, values={"n": 2, "d": date(2023, 3, 31)}, cells=dict(cells))
    unpacker = packing.Unpacker()
    a, b = packing.pack(plain), packing.pack(dated)
    assert a[0] == b[0]  # one layout for both
    assert unpacker.submission(a, f) == plain and unpacker.submission(b, f) == dated
