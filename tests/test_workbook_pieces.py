"""The consolidated workbook built from cached deflate pieces (pipeline/ooxml/zipwriter.py,
pipeline/ooxml/rowxml.py): the zip and deflate mechanics, rows without `r` attributes read
right by openpyxl, python-calamine and LibreOffice, a rerun from the cache byte-identical to a
cold build, and a change of one unit recompressing only that unit's blocks."""

from __future__ import annotations

import io
import random
import zipfile
import zlib
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import python_calamine
from conftest import soffice_convert
from test_outputs import TZ, make_result

from pipeline import config
from pipeline.core import score
from pipeline.core.deadlines import parse_period
from pipeline.core.model import InboxFile, RunResult, Submission, UnitResult
from pipeline.core.ranking import rank
from pipeline.core.schema import Schema
from pipeline.ooxml.zipwriter import (
    Deflater,
    Entry,
    PartBuilder,
    crc32_combine,
    length_operator,
    write_zip,
)
from pipeline.outputs.workbook import blocks, build_consolidated
from pipeline.outputs.write import write_outputs
from pipeline.store.cache import Cache

NAME = "2023-Q1/tong-hop-2023-Q1.xlsx"
LONG_SHEETS = ("Số liệu", "Xếp loại", "Chi tiết điểm", "Thuyết minh", "Kiến nghị", "Nguồn", "Nguồn số liệu")


@pytest.fixture(scope="module")
def schema() -> Schema:
    return config.load()


# ------------------------------------------------------------------ deflate pieces and the zip


def test_full_flush_pieces_are_independent_and_concatenate() -> None:
    rng = random.Random(5)
    words = [b'<c s="4" t="inlineStr"><is><t>', b"</t></is></c>", b"<row>", b"</row>", "Sở".encode()]
    xmls = [
        b"".join(rng.choice(words) + str(rng.random()).encode() for _ in range(rng.randint(0, 300)))
        for _ in range(60)
    ]
    shared = Deflater()
    pieces = [shared.piece(x) for x in xmls]
    for xml, piece in zip(xmls, pieces, strict=True):
        assert Deflater().piece(xml) == piece  # a piece's bytes depend on its XML alone
        assert piece.crc == zlib.crc32(xml) and piece.size == len(xml)
        assert piece.operator == length_operator(len(xml))
    builder = PartBuilder("xl/part.xml", {}, shared)
    for i, piece_xml in enumerate(xmls):
        builder.cached(str(i).encode(), lambda x=piece_xml: (x, b""))
    part = builder.finish(b"<head>", b"</tail>")
    whole = b"<head>" + b"".join(xmls) + b"</tail>"
    assert zlib.decompress(part.data(), -15) == whole  # one valid deflate stream
    assert part.crc() == zlib.crc32(whole) and part.size() == len(whole)
    crc = 0
    for x in xmls:
        crc = crc32_combine(crc, zlib.crc32(x), length_operator(len(x)))
    assert crc == zlib.crc32(b"".join(xmls))


def test_zip_writer() -> None:
    out = io.BytesIO()
    builder = PartBuilder("xl/worksheets/sheet1.xml", {}, Deflater())
    builder.cached(b"k", lambda: (b"<row/>" * 1000, b"1000"))
    write_zip(
        out,
        [
            Entry.of("[Content_Types].xml", b"<Types/>"),
            Entry.of_part(builder.finish(b"<a>", b"</a>")),
            Entry.of("docs/tệp.xml", b""),
        ],
    )
    with zipfile.ZipFile(io.BytesIO(out.getvalue())) as z:
        assert z.testzip() is None
        assert [i.filename for i in z.infolist()] == [
            "[Content_Types].xml",
            "xl/worksheets/sheet1.xml",
            "docs/tệp.xml",
        ]
        assert z.read("xl/worksheets/sheet1.xml") == b"<a>" + b"<row/>" * 1000 + b"</a>"
        assert {i.date_time for i in z.infolist()} == {(1980, 1, 1, 0, 0, 0)}


# ------------------------------------------------------------------ rows without `r`


def _openpyxl_rows(path: Path, sheet: str) -> list[list[Any]]:
    ws = openpyxl.load_workbook(path, data_only=True)[sheet]
    return [[c.value for c in row] for row in ws.iter_rows()]


def _same(a: Any, b: Any) -> bool:
    if a in (None, "") and b in (None, ""):
        return True
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(b, bool):
        return abs(a - b) < 1e-9
    return bool(a == b)


def _assert_same_cells(expected: list[list[Any]], got: list[list[Any]], where: str) -> None:
    rows = max(len(expected), len(got))
    for r in range(rows):
        left = expected[r] if r < len(expected) else []
        right = got[r] if r < len(got) else []
        for c in range(max(len(left), len(right))):
            a = left[c] if c < len(left) else None
            b = right[c] if c < len(right) else None
            assert _same(a, b), (where, r + 1, c + 1, a, b)


@pytest.fixture(scope="module")
def workbook(tmp_path_factory: pytest.TempPathFactory, schema: Schema) -> Path:
    outbox = tmp_path_factory.mktemp("pieces")
    outputs = write_outputs(make_result(schema), schema, outbox)
    path = outbox / outputs[0]
    with zipfile.ZipFile(path) as z:
        sheet = z.read("xl/worksheets/sheet2.xml")
    assert b"<row><c" in sheet  # spliced rows carry no r attribute
    return path


def test_rows_without_r_read_by_openpyxl_and_calamine(workbook: Path) -> None:
    calamine = python_calamine.CalamineWorkbook.from_path(str(workbook))
    for sheet in LONG_SHEETS:
        expected = _openpyxl_rows(workbook, sheet)
        got = calamine.get_sheet_by_name(sheet).to_python(skip_empty_area=False)
        _assert_same_cells(expected, got, sheet)
    # openpyxl places the spliced cells where the writer meant them (see also test_outputs).
    data = openpyxl.load_workbook(workbook)["Số liệu"]
    # (rows 4-6: the tasks, the indicators' labels, their units of measure)
    assert data["B7"].value == "SNV" and data["C7"].value == "Sở Nội vụ" and data["A7"].value == 1
    ranking = openpyxl.load_workbook(workbook)["Xếp loại"]
    assert [ranking.cell(5, c).value for c in (1, 2)] == [1, "STP"]
    # The dimension covers the spliced rows (openpyxl's read-only mode trusts it).
    read_only = openpyxl.load_workbook(workbook, read_only=True)["Xếp loại"]
    assert read_only.max_row == 4 + 6 + 1  # and the sentence on the ranking's order


def test_rows_without_r_read_by_libreoffice(workbook: Path, tmp_path: Path) -> None:
    saved = soffice_convert(workbook, "xlsx", tmp_path / "lo")  # LibreOffice's own rows, with r
    for sheet in LONG_SHEETS:
        _assert_same_cells(_openpyxl_rows(workbook, sheet), _openpyxl_rows(saved, sheet), sheet)


# ------------------------------------------------------------------ the cache


def _file(name: str, received: datetime) -> InboxFile:
    sha = zlib.crc32(name.encode()).to_bytes(4, "big").hex() * 8
    return InboxFile(name, Path("/nonexistent") / name, sha, 1000, received, "receipts", "xlsx")


def _national(schema: Schema, changed: bool = False) -> RunResult:
    """Every registry unit reported, with its own figures and texts; `changed`: the fifth unit
    sent a new file (another name and sha256, another text, a figure the rubric does not use)."""
    period = parse_period("2023-Q1", schema.calendar)
    received = datetime(2023, 3, 10, 8, 0, tzinfo=TZ)
    files: list[Submission] = []
    units: list[UnitResult] = []
    for n, unit in enumerate(schema.units):
        values: dict[str, Any] = {}
        for i, f in enumerate(schema.indicators):
            values[f.key] = (n * 37 + i * 11) % 50 if f.applies(unit, "Q1") else None
        for f in schema.narratives:
            values[f.key] = f"{unit.name}: nội dung {f.label.lower()} số {n}."
        name = f"{unit.code}.xlsx"
        if changed and n == 4:
            name = f"{unit.code}-bổ sung.xlsx"
            values["n2_results"] = "Nội dung đã sửa & bổ sung <lần 2>."
            values["t1_documents_issued"] = 777
        sub = Submission(
            _file(name, received + timedelta(hours=n)), "accepted", unit.code, "Q1", 2023, values=values
        )
        files.append(sub)
        units.append(UnitResult(unit, "on_time", sub, sub.file.received_at, 0, versions=[sub]))
    score.score_all(schema, units)
    files.sort(key=lambda s: s.file.name)
    totals: dict[str, int | float] = {}
    for f in schema.indicators:
        totals[f.key] = sum(
            v for u in units if u.submission and isinstance(v := u.submission.values[f.key], int)
        )
    return RunResult(
        period=period,
        as_of=datetime(2023, 4, 10, 9, 0, tzinfo=TZ),
        files=files,
        units=units,
        totals=totals,
        ranking=rank(units),
    )


def _build(result: RunResult, schema: Schema, cache: Cache | None) -> tuple[bytes, Any]:
    out = io.BytesIO()
    stats = build_consolidated(result, schema, out, cache, NAME)
    return out.getvalue(), stats


def test_rerun_from_cache_is_byte_identical(tmp_path: Path, schema: Schema) -> None:
    """A run that reuses cached pieces gives the bytes of a cold run into a fresh outbox; so does
    write_outputs run twice into the same outbox (the cache store holds the pieces)."""
    result = _national(schema)
    with Cache(tmp_path / "a" / "cache.sqlite", "test") as cache:
        cold, first = _build(result, schema, cache)
        again, second = _build(result, schema, cache)
    assert sum(first.compressed.values()) > 0 and sum(first.reused.values()) == 0
    assert sum(second.compressed.values()) == 0 and sum(second.reused.values()) > 0
    assert again == cold
    assert _build(result, schema, None)[0] == cold  # no cache at all: the same bytes
    with Cache(tmp_path / "b" / ".cache" / "cache.sqlite", "test") as cache:
        rel = write_outputs(_national(schema), schema, tmp_path / "b", cache)[0]
        write_outputs(_national(schema), schema, tmp_path / "b", cache)
    write_outputs(_national(schema), schema, tmp_path / "fresh")
    assert (tmp_path / "b" / rel).read_bytes() == (tmp_path / "fresh" / rel).read_bytes()


def test_one_unit_changed_recompresses_only_its_blocks(
    tmp_path: Path, schema: Schema, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small blocks, so that the registry's units make several blocks per sheet.
    monkeypatch.setattr(blocks, "BLOCK_SIZE", dict.fromkeys(blocks.BLOCK_SIZE, 3))
    with Cache(tmp_path / "cache.sqlite", "test") as cache:
        _build(_national(schema), schema, cache)
        changed = _national(schema, changed=True)
        cached, stats = _build(changed, schema, cache)
        stored = {
            sheet: len(cache.load_pieces(f"{NAME}#xl/worksheets/sheet{i}.xml"))
            for i, sheet in enumerate(consolidated_sheets(), start=1)
        }
    fresh, _ = _build(_national(schema, changed=True), schema, None)
    assert cached == fresh  # the cache gives the bytes of a cold build
    narratives = sum(1 for f in schema.narratives if f.key != "n_proposals")
    assert stats.compressed == {
        "Số liệu": 1,
        "Xếp loại": 1,  # the score did not change: no rank moved
        "Chi tiết điểm": 1,
        "Thuyết minh": narratives,  # its block in every section
        "Kiến nghị": 1,
        "Nộp muộn": 0,  # written afresh on every run, never cached
        "Đề xuất kiểm tra": 0,
        "Lỗi kiểm tra": 0,
        "Nguồn": stats.compressed["Nguồn"],
        "Nguồn số liệu": 1,
    }
    assert 1 <= stats.compressed["Nguồn"] <= 2  # the old file's block and the new file's block
    for sheet in LONG_SHEETS:
        assert stats.reused[sheet] > 0, sheet
        # Pieces the run did not use were dropped: the ledger holds exactly this run's pieces.
        assert stored[sheet] == stats.compressed[sheet] + stats.reused[sheet], sheet


def consolidated_sheets() -> list[str]:
    return [
        "Tổng hợp",
        "Số liệu",
        "Xếp loại",
        "Nộp muộn",
        "Đề xuất kiểm tra",
        "Chi tiết điểm",
        "Thuyết minh",
        "Kiến nghị",
        "Lỗi kiểm tra",
        "Nguồn",
        "Nguồn số liệu",
    ]
