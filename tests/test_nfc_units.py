"""NFC everywhere (file names, cell text) and unit matching gaps, on real files."""

from __future__ import annotations

import shutil
import unicodedata
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from pipeline import config
from pipeline.core.deadlines import parse_period
from pipeline.core.registry import match_unit
from pipeline.core.schema import Schema
from pipeline.ooxml.edit import CellValue, fill_workbook
from pipeline.run import collect
from pipeline.store.ledger import Ledger

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
AS_OF = datetime(2023, 4, 10, 9, 0, tzinfo=TZ)


def _nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


def _collect(schema: Schema, inbox: Path, tmp: Path) -> list:  # type: ignore[type-arg]
    with Ledger(tmp / "ledger.sqlite") as ledger:
        return collect(
            schema, parse_period("2023-Q1", schema.calendar), inbox, ledger, None, AS_OF, tmp / "work"
        )


def test_decomposed_file_name_and_text_become_nfc(
    schema: Schema, template_path: Path, sample_values: Mapping[str, CellValue], tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    values = dict(sample_values, preparer_name=_nfd("Nguyễn Thị Hoà"), unit_code=_nfd("Sở Nội vụ"))
    fill_workbook(template_path, values, inbox / _nfd("Báo cáo Sở Nội vụ.xlsx"))
    (sub,) = _collect(schema, inbox, tmp_path)
    assert sub.file.name == "Báo cáo Sở Nội vụ.xlsx" == unicodedata.normalize("NFC", sub.file.name)
    assert sub.unit == "SNV"
    assert sub.values["preparer_name"] == "Nguyễn Thị Hoà"
    assert all(unicodedata.is_normalized("NFC", i.message) for i in sub.issues)


@pytest.mark.parametrize(
    "text",
    [_nfd("Sở Nội vụ"), "SO NOI VU", "Sở Nội Vụ tỉnh Bình Định", "snv - So Noi vu", "  Sở  Nội   vụ "],
)
def test_unit_spellings(schema: Schema, text: str) -> None:
    m = match_unit(schema, text)
    assert m.unit is not None and m.unit.code == "SNV", text


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("UBND huyện Tuy Phước tỉnh Bình Định", "550"),
        ("Văn phòng UBND tỉnh Bình Định", "VPUBND"),
        (_nfd("Uỷ ban nhân dân thị xã Hoài Nhơn"), "543"),
    ],
)
def test_province_suffix(schema: Schema, text: str, code: str) -> None:
    m = match_unit(schema, text)
    assert m.unit is not None and m.unit.code == code
    assert match_unit(schema, "Bình Định").unit is None


@pytest.fixture()
def ambiguous_schema(tmp_path: Path) -> Schema:
    """The registry with one alias ("Nội vụ") shared by two units."""
    d = tmp_path / "schemas"
    shutil.copytree(config.DEFAULT_DIR, d)
    units = (d / "units.csv").read_text(encoding="utf-8")
    units = units.replace("SNV,Sở Nội vụ,department,,SNV", "SNV,Sở Nội vụ,department,,SNV|Nội vụ")
    units = units.replace("SYT,Sở Y tế,department,,SYT", "SYT,Sở Y tế,department,,SYT|Nội vụ")
    (d / "units.csv").write_text(units, encoding="utf-8")
    return config.load(d)


def test_ambiguous_unit_is_an_error_not_a_guess(
    ambiguous_schema: Schema,
    template_path: Path,
    sample_values: Mapping[str, CellValue],
    tmp_path: Path,
) -> None:
    m = match_unit(ambiguous_schema, "nội vụ")
    assert m.unit is None and m.ambiguous and {u.code for u in m.candidates} == {"SNV", "SYT"}
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    fill_workbook(template_path, dict(sample_values, unit_code="Nội vụ"), inbox / "bao-cao.xlsx")
    (sub,) = _collect(ambiguous_schema, inbox, tmp_path)
    field = ambiguous_schema.field_by_key["unit_code"]
    found = [(i.code, i.severity, i.sheet, i.cell) for i in sub.issues if i.code.startswith("unit-")]
    assert found == [("unit-ambiguous", "error", field.sheet, field.cell)]
    assert sub.unit is None and not sub.valid
