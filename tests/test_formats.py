"""A report saved by LibreOffice as .xlsx, .xlsm, .xls or .ods gives exactly the same figures."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipeline.core.deadlines import parse_period
from pipeline.core.model import InboxFile, Submission
from pipeline.core.schema import Schema
from pipeline.intake import screen
from pipeline.reading.judge import read_one as read_submission
from pipeline.reading.workbook import read_workbook


def _submission(schema: Schema, path: Path, name: str | None = None) -> Submission:
    kind = screen.screen(path).kind
    f = InboxFile(name=name or path.name, path=path, sha256=screen.sha256_of(path), size=0, kind=kind)
    return read_submission(schema, f, parse_period("2023-Q1", schema.calendar))


def _issues(sub: Submission) -> list[tuple[str, str, str]]:
    return sorted((i.code, i.sheet, i.cell) for i in sub.issues)


def test_original_is_valid(schema: Schema, filled_xlsx: Path) -> None:
    sub = _submission(schema, filled_xlsx)
    assert sub.valid, _issues(sub)
    assert sub.unit == "SNV"


@pytest.mark.parametrize(
    ("ext", "kind", "located_by"),
    [("xlsx", "xlsx", "names"), ("xlsm", "xlsx", "names"), ("xls", "xls", "schema"), ("ods", "ods", "names")],
)
def test_libreoffice_saved_gives_same_values(
    schema: Schema, filled_xlsx: Path, converted: dict[str, Path], ext: str, kind: str, located_by: str
) -> None:
    path = converted[ext]
    assert screen.screen(path).kind == kind
    read = read_workbook(path, kind, schema)
    assert read.located_by == located_by
    assert (read.fingerprint_id, read.fingerprint_version) == (schema.template_id, schema.template_version)
    assert read.missing == []
    original = _submission(schema, filled_xlsx)
    saved = _submission(schema, path)
    assert saved.values == original.values
    assert _issues(saved) == _issues(original)
    assert saved.unit == original.unit and saved.period == original.period and saved.year == original.year
    assert {k: (c.sheet, c.cell) for k, c in saved.cells.items()} == {
        k: (c.sheet, c.cell) for k, c in original.cells.items()
    }


def test_xls_with_wrong_extension_is_read_by_content(
    schema: Schema, filled_xlsx: Path, converted: dict[str, Path], tmp_path: Path
) -> None:
    """An .xls renamed .xlsx: the type comes from the first bytes, not the extension."""
    path = tmp_path / "Báo cáo.xlsx"
    shutil.copyfile(converted["xls"], path)
    assert screen.screen(path).kind == "xls"
    assert _submission(schema, path).values == _submission(schema, filled_xlsx).values


def test_libreoffice_xlsx_uses_shared_strings_and_keeps_values(
    schema: Schema, converted: dict[str, Path]
) -> None:
    """LibreOffice's own .xlsx layout (shared strings, its styles) reads through defined names."""
    import zipfile

    with zipfile.ZipFile(converted["xlsx"]) as zf:
        assert "xl/sharedStrings.xml" in zf.namelist()
    assert _submission(schema, converted["xlsx"]).valid
