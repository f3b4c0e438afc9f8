"""Pre-parse screening (pipeline.screen) and reading in worker processes (pipeline.workers)."""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
import time
import zipfile
from pathlib import Path

import pytest

from pipeline import config
from pipeline.core.deadlines import ReportingPeriod, parse_period
from pipeline.core.model import InboxFile, Submission
from pipeline.core.schema import Schema
from pipeline.intake import screen
from pipeline.intake.scan import Entry
from pipeline.reading.judge import MAX_TEXT
from pipeline.reading.reader import READ_LIMITS, Reader
from pipeline.runtime.pool import Limits, Pool
from tests.issue6_support import (
    BILLION_LAUGHS,
    CORPUS,
    copy_valid,
    replace_member,
    template_path,
    zip_bomb,
)


@pytest.fixture(scope="module")
def schema() -> Schema:
    return config.load(None)


def _code(path: Path) -> str:
    s = screen.screen(path)
    return s.reject_code or s.ignore_code


def test_zip_bomb_refused_from_directory_in_under_a_second(tmp_path: Path) -> None:
    bomb = zip_bomb(tmp_path / "bao-cao.xlsx", template_path())
    assert bomb.stat().st_size < 3 * 1024 * 1024  # 1 GiB of sheet in ~1 MB
    with zipfile.ZipFile(bomb) as zf:  # a real bomb: the declared size is honest
        assert zf.getinfo("xl/worksheets/sheet5.xml").file_size > 1 << 29
    start = time.perf_counter()
    assert _code(bomb) == "file-bomb"
    assert time.perf_counter() - start < 1.0


def test_billion_laughs_refused_in_under_a_second(tmp_path: Path) -> None:
    lol = replace_member(template_path(), tmp_path / "lol.xlsx", "xl/sharedStrings.xml", BILLION_LAUGHS)
    start = time.perf_counter()
    s = screen.screen(lol)
    assert time.perf_counter() - start < 1.0
    assert s.reject_code == "file-unsafe-xml"
    assert s.params["detail"] == "xl/sharedStrings.xml"


def test_entity_in_workbook_xml_refused(tmp_path: Path) -> None:
    with zipfile.ZipFile(template_path()) as zf:
        xml = zf.read("xl/workbook.xml")
    evil = xml.replace(b"?>", b'?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>', 1)
    path = replace_member(template_path(), tmp_path / "xxe.xlsx", "xl/workbook.xml", evil)
    assert _code(path) == "file-unsafe-xml"


def test_zip_caps(tmp_path: Path) -> None:
    many = tmp_path / "many.xlsx"
    with zipfile.ZipFile(many, "w") as zf:
        zf.writestr("xl/workbook.xml", "<workbook/>")
        for i in range(screen.MAX_MEMBERS + 1):
            zf.writestr(f"xl/m{i}.xml", "")
    assert _code(many) == "file-bomb"

    nested = replace_member(
        template_path(), tmp_path / "nested.xlsx", "xl/embeddings/inner.zip", b"PK\x05\x06" + bytes(18)
    )
    assert _code(nested) == "file-bomb"

    ratio = tmp_path / "ratio.xlsx"
    with zipfile.ZipFile(ratio, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("xl/workbook.xml", "<workbook/>")
        zf.writestr("xl/worksheets/sheet1.xml", b" " * (8 * 1024 * 1024))  # 8 MB → ~8 KB
    assert _code(ratio) == "file-bomb"

    traversal = replace_member(template_path(), tmp_path / "trav.xlsx", "../../evil.xml", b"<x/>")
    assert _code(traversal) == "file-unsafe-path"


def test_files_that_are_not_reports(tmp_path: Path) -> None:
    cases: dict[str, tuple[bytes, str]] = {
        "rong.xlsx": (b"", "file-empty"),
        "trang-web.xls": (b"<html><body><table><tr><td>1</td></tr></table></body></html>", "file-html"),
        "bang.xls": (b"ma_don_vi;so_lieu\nSYT;12\n", "file-text"),
        "so-lieu.csv": (b"a,b\n1,2\n", "file-text"),
        "rac.xlsx": (bytes(range(256)) * 4, "file-unknown-format"),
        "anh.png": (b"\x89PNG\r\n\x1a\n" + bytes(100), "not-spreadsheet"),
        "ghi-chu.txt": (b"xin chao", "not-spreadsheet"),
    }
    for name, (data, code) in cases.items():
        (tmp_path / name).write_bytes(data)
        assert _code(tmp_path / name) == code, name
    truncated = tmp_path / "dut.xlsx"
    truncated.write_bytes(template_path().read_bytes()[:5000])
    assert _code(truncated) == "file-truncated"
    big = tmp_path / "lon.xlsx"
    with big.open("wb") as fh:
        fh.write(b"PK\x03\x04")
        fh.truncate(screen.MAX_FILE_BYTES + 1)
    assert _code(big) == "file-too-large"
    assert screen.name_code("~$Báo cáo Sở Y tế.xlsx") == "lock-file"
    assert screen.name_code(".~lock.bao-cao.xlsx#") == "lock-file"
    assert screen.name_code(".DS_Store") == "system-file"
    assert screen.name_code("Thumbs.db") == "system-file"
    assert screen.name_code("Báo cáo.xlsx") == ""


@pytest.mark.skipif(not CORPUS.is_dir(), reason="shared corpus not present")
def test_encrypted_files_in_every_format() -> None:
    for name in ("pass_protected.xlsx", "pass_protected.xlsb", "pass_protected.ods", "issue_385.xls"):
        assert _code(CORPUS / name) == "file-encrypted", name
    assert screen.screen(CORPUS / "any_sheets.xls").kind == "xls"
    assert screen.screen(CORPUS / "any_sheets.xlsb").kind == "xlsb"
    assert screen.screen(CORPUS / "any_sheets.ods").kind == "ods"


def test_valid_template_passes(tmp_path: Path) -> None:
    copy_valid(tmp_path, 1)
    path = next(tmp_path.glob("*.xlsx"))
    s = screen.screen(path)
    assert (s.kind, s.refused) == ("xlsx", False)


# --- worker processes --------------------------------------------------------------------


def _inbox_files(paths: list[Path]) -> list[InboxFile]:
    return [InboxFile(name=p.name, path=p, sha256="", size=p.stat().st_size) for p in paths]


def _read(
    schema: Schema, period: ReportingPeriod, files: list[InboxFile], limits: Limits = READ_LIMITS
) -> list[Submission]:
    """The files judged by the read workers (no cache), verdicts in order."""
    with Reader(schema, period, None, limits) as reader:
        return reader.judge([Entry(f) for f in files])


def test_worker_crash_and_timeout_cost_one_file(
    tmp_path: Path, schema: Schema, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = copy_valid(tmp_path, 4)
    files = _inbox_files([tmp_path / n for n in names])
    period = parse_period("2023-Q1", schema.calendar)
    # The worker aborts on the second file (what python-calamine does on a bomb).
    monkeypatch.setenv("PIPELINE_TEST_PAUSE_AT", f"abort@read:{names[1]}")
    results = _read(schema, period, files)
    assert [r.file.name for r in results] == names
    assert [i.code for i in results[1].issues] == ["file-crashed-reader"]
    assert all(r.unit for i, r in enumerate(results) if i != 1)
    # The third file hangs: the worker is killed after the timeout, the others are read.
    monkeypatch.setenv("PIPELINE_TEST_PAUSE_AT", f"read:{names[2]}")
    start = time.monotonic()
    results = _read(schema, period, files, dataclasses.replace(READ_LIMITS, timeout=2.0))
    assert time.monotonic() - start < 20
    assert [i.code for i in results[2].issues] == ["file-timeout"]
    assert all(r.unit for i, r in enumerate(results) if i != 2)


def test_crash_and_timeout_inside_a_batch_cost_one_file(
    tmp_path: Path, schema: Schema, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files go to the workers in batches: the file that kills or hangs its worker is charged,
    its batch mates (before and after it) are read by a fresh worker."""
    [valid] = copy_valid(tmp_path / "v", 1)
    paths = [tmp_path / f"bao-cao-{i:02d}.xlsx" for i in range(40)]
    for path in paths:
        shutil.copyfile(tmp_path / "v" / valid, path)
    files = [InboxFile(name=p.name, path=p, sha256="", size=p.stat().st_size) for p in paths]
    period = parse_period("2023-Q1", schema.calendar)
    monkeypatch.setenv("PIPELINE_TEST_PAUSE_AT", f"abort@read:{paths[13].name}")
    outcomes = _read(schema, period, files)
    assert [o.file.name for o in outcomes] == [p.name for p in paths]
    assert [i.code for i in outcomes[13].issues] == ["file-crashed-reader"]
    assert all(o.unit and o.file.kind == "xlsx" for i, o in enumerate(outcomes) if i != 13)
    assert len({o.file.sha256 for o in outcomes}) == 1  # hashed, even the crashed one
    monkeypatch.setenv("PIPELINE_TEST_PAUSE_AT", f"read:{paths[27].name}")
    start = time.monotonic()
    outcomes = _read(schema, period, files, dataclasses.replace(READ_LIMITS, timeout=2.0))
    assert time.monotonic() - start < 60
    assert [i.code for i in outcomes[27].issues] == ["file-timeout"]
    assert all(o.unit for i, o in enumerate(outcomes) if i != 27)


def test_screening_in_a_worker_refuses_like_the_main_process(tmp_path: Path, schema: Schema) -> None:
    """A file of unknown kind is hashed and screened in the worker: refusals as screen.screen."""
    lol = replace_member(template_path(), tmp_path / "lol.xlsx", "xl/sharedStrings.xml", BILLION_LAUGHS)
    bomb = zip_bomb(tmp_path / "bom.xlsx", template_path())
    text = tmp_path / "ghi-chu.xlsx"
    text.write_text("đây không phải bảng tính\n", encoding="utf-8")
    paths = [lol, bomb, text]
    files = [InboxFile(name=p.name, path=p, sha256="", size=p.stat().st_size) for p in paths]
    period = parse_period("2023-Q1", schema.calendar)
    outcomes = _read(schema, period, files)
    for path, outcome in zip(paths, outcomes, strict=True):
        screened = screen.screen(path)
        assert screened.refused and outcome.status == "rejected" and not outcome.file.kind
        assert [i.code for i in outcome.issues] == [screened.reject_code]
        assert outcome.file.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_real_bomb_inside_a_worker_costs_one_file(tmp_path: Path, schema: Schema) -> None:
    """Even if screening missed it, calamine's abort on a bomb takes only its worker down: the
    bomb read by calamine unscreened, in a worker of the run's pool (job in issue6_support)."""
    names = copy_valid(tmp_path, 2)
    bomb = zip_bomb(tmp_path / "bomb.xlsx", template_path())
    paths = [str(tmp_path / names[0]), str(bomb), str(tmp_path / names[1])]
    limits = dataclasses.replace(READ_LIMITS, memory=512 * 1024 * 1024, timeout=20.0)
    start = time.monotonic()
    with Pool[str, str]("tests.issue6_support", None, limits) as pool:
        results = pool.map(paths, lambda _path, failure: failure.kind)
    assert time.monotonic() - start < 60
    assert results[0] == results[2] == "read"
    assert results[1] in ("crashed", "timeout")


def test_long_text_is_bounded(tmp_path: Path, schema: Schema) -> None:
    from pipeline.ooxml.edit import fill_workbook

    path = tmp_path / "dai.xlsx"
    shutil.copy2(template_path(), path)
    valid = copy_valid(tmp_path / "v", 1)[0]
    from pipeline.reading.workbook import read_workbook

    period = parse_period("2023-Q1", schema.calendar)
    base = read_workbook(tmp_path / "v" / valid, "xlsx", schema)
    values = {k: c.value for k, c in base.cells.items() if c.value is not None}
    values["n1_results"] = "Tuyên truyền. " * 8000  # 112,000 characters
    fill_workbook(template_path(), values, path)
    [sub] = _read(schema, period, _inbox_files([path]))
    assert len(str(sub.values["n1_results"])) == MAX_TEXT
    assert [i.code for i in sub.issues if i.key == "n1_results"] == ["value-too-long"]


def test_million_rows_sheet_is_bounded(tmp_path: Path, schema: Schema) -> None:
    """1,000,000 rows appended to the data sheet: read in bounded time, values unchanged."""
    [valid] = copy_valid(tmp_path / "v", 1)
    src = tmp_path / "v" / valid
    with zipfile.ZipFile(src) as zf:
        xml = zf.read("xl/worksheets/sheet3.xml")
    rows = b"".join(b'<row r="%d"><c r="A%d"><v>%d</v></c></row>' % (i, i, i) for i in range(1000, 1_001_000))
    big = replace_member(
        src,
        tmp_path / "trieu-dong.xlsx",
        "xl/worksheets/sheet3.xml",
        xml.replace(b"</sheetData>", rows + b"</sheetData>"),
    )
    assert screen.screen(big).kind == "xlsx"  # within the caps: a legitimate if bloated file
    period = parse_period("2023-Q1", schema.calendar)
    plain, bloated = _read(schema, period, _inbox_files([src, big]))
    assert bloated.read_seconds < 10
    assert bloated.unit == plain.unit is not None
    assert bloated.values == plain.values
