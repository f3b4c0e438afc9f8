"""The benchmark's generated inbox is real and consolidates through a registry given as data."""

from __future__ import annotations

import csv
import json
import zipfile
from pathlib import Path

from bench.benchmark import generate
from tests.conftest import run_cli


def test_generated_national_inbox_consolidates_with_its_own_registry(tmp_path: Path) -> None:
    n = 60
    schemas, inbox = generate(n, tmp_path / "bench")
    with (schemas / "units.csv").open(encoding="utf-8") as fh:
        assert len(list(csv.DictReader(fh))) == n
    files = sorted(inbox.rglob("*.xlsx"))
    assert len(files) == n
    with zipfile.ZipFile(files[0]) as zf:  # a real workbook, not a stub
        assert "xl/workbook.xml" in zf.namelist()
    proc = run_cli(
        "--schemas", str(schemas), "consolidate", "--period", "2023-Q1", "--inbox", str(inbox),
        "--outbox", str(tmp_path / "out"), "--as-of", "2023-04-10T09:00:00+07:00",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "out" / "2023-Q1" / "run.json").read_text(encoding="utf-8"))
    assert len(report["units"]) == n
    statuses = {u["status"] for u in report["units"]}
    assert statuses <= {"on_time", "late", "rejected"}
    rejected = [f for f in report["files"] if f["status"] == "rejected"]
    # every rejection is the planted rule error, at the pending-dossiers cell
    for f in rejected:
        assert {i["code"] for i in f["issues"] if i["severity"] == "error"} == {"rule-violated"}
    assert sum(1 for f in report["files"] if f["status"] == "accepted") == n - len(rejected)
    # reused, not regenerated, on the second call
    stamp = files[0].stat().st_mtime_ns
    generate(n, tmp_path / "bench")
    assert files[0].stat().st_mtime_ns == stamp
