"""A formula in an input cell: its cached value is used; with no cached value it is reported."""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable
from pathlib import Path

import openpyxl
import pytest
from conftest import soffice_convert

from pipeline.core.deadlines import parse_period
from pipeline.core.model import InboxFile, Submission
from pipeline.core.schema import Schema
from pipeline.intake import screen
from pipeline.ooxml.edit import destination
from pipeline.reading.judge import read_one as read_submission

KEY = "t1_sessions"


def _read(schema: Schema, path: Path) -> Submission:
    f = InboxFile(name=path.name, path=path, sha256="", size=0, kind=screen.screen(path).kind)
    return read_submission(schema, f, parse_period("2023-Q1", schema.calendar))


@pytest.fixture(scope="module")
def with_formula(filled_xlsx: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """The filled report with "=3+4" typed into an input cell, saved by openpyxl (no cached value)."""
    wb = openpyxl.load_workbook(filled_xlsx)
    sheet, cell = destination(wb, KEY)
    wb[sheet][cell] = "=3+4"
    target = tmp_path_factory.mktemp("formula") / "Báo cáo Sở Nội vụ.xlsx"
    wb.save(target)
    return target, sheet, cell


def test_formula_without_cached_value_is_reported(
    schema: Schema, with_formula: tuple[Path, str, str]
) -> None:
    path, sheet, cell = with_formula
    sub = _read(schema, path)
    found = [(i.code, i.severity, i.sheet, i.cell, i.key) for i in sub.issues if i.code == "formula-no-value"]
    assert found == [("formula-no-value", "error", sheet, cell, KEY)]
    assert not sub.valid
    assert sub.values[KEY] is None
    assert not any(i.code == "value-not-reported" and i.key == KEY for i in sub.issues)


def test_formula_with_cached_value_is_used(
    schema: Schema, with_formula: tuple[Path, str, str], tmp_path: Path
) -> None:
    """LibreOffice computes and stores the result when it saves: the cached 7 is read."""
    path, _, _ = with_formula
    saved = soffice_convert(path, "xlsx", tmp_path / "lo")
    sub = _read(schema, saved)
    assert sub.values[KEY] == 7
    assert not any(i.code == "formula-no-value" for i in sub.issues)
    assert sub.valid, [(i.code, i.cell) for i in sub.issues if i.severity == "error"]


def _rewrite_member(source: Path, target: Path, member: str, edit: Callable[[str], str]) -> None:
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == member:
                data = edit(data.decode("utf-8")).encode("utf-8")
            zout.writestr(info, data)


def test_shared_formulas_as_wps_saves_them(schema: Schema, filled_xlsx: Path, tmp_path: Path) -> None:
    """Shared formulas (<f t="shared" si="0"/>) with cached values read as their values; a
    shared-formula cell without its cached value is reported at its own cell."""
    sheet = schema.field_by_key["t1_documents_issued"].sheet
    keys = ["t1_documents_issued", "t1_sessions", "t1_participants"]
    cells = [schema.field_by_key[k].cell for k in keys]
    assert all(schema.field_by_key[k].sheet == sheet for k in keys)
    before = _read(schema, filled_xlsx)
    with zipfile.ZipFile(filled_xlsx) as zf:
        wb = zf.read("xl/workbook.xml").decode("utf-8")
    index = re.findall(r'<sheet [^>]*name="([^"]+)"', wb).index(sheet) + 1
    member = f"xl/worksheets/sheet{index}.xml"

    def edit(xml: str) -> str:
        first, second, third = cells
        xml, n1 = re.subn(
            rf'<c r="{first}"([^>]*)><v>',
            rf'<c r="{first}"\1><f t="shared" ref="{first}:{third}" si="0">0+1</f><v>',
            xml,
        )
        xml, n2 = re.subn(
            rf'<c r="{second}"([^>]*)><v>', rf'<c r="{second}"\1><f t="shared" si="0"/><v>', xml
        )
        xml, n3 = re.subn(
            rf'<c r="{third}"([^>]*)><v>[^<]*</v>', rf'<c r="{third}"\1><f t="shared" si="0"/>', xml
        )
        assert (n1, n2, n3) == (1, 1, 1)
        return xml

    target = tmp_path / "Báo cáo Sở Nội vụ - WPS.xlsx"
    _rewrite_member(filled_xlsx, target, member, edit)
    sub = _read(schema, target)
    assert sub.values["t1_documents_issued"] == before.values["t1_documents_issued"]
    assert sub.values["t1_sessions"] == before.values["t1_sessions"]
    found = [(i.code, i.sheet, i.cell) for i in sub.issues if i.code == "formula-no-value"]
    assert found == [("formula-no-value", sheet, cells[2])]


def test_formula_in_a_cell_that_does_not_apply_is_not_reported(
    schema: Schema, filled_xlsx: Path, tmp_path: Path
) -> None:
    """An uncomputed formula matters only where the value is used: a commune-rating cell (for
    districts, in the yearly report) of a department's Q1 report is neither read nor judged."""
    key = "c_communes_good"
    unit = schema.unit_by_code["SNV"]
    assert not schema.field_by_key[key].applies(unit, "Q1")
    wb = openpyxl.load_workbook(filled_xlsx)
    sheet, cell = destination(wb, key)
    wb[sheet][cell] = "=1+1"
    target = tmp_path / "Báo cáo Sở Nội vụ.xlsx"
    wb.save(target)
    sub = _read(schema, target)
    assert sub.unit == "SNV"
    assert not [i for i in sub.issues if i.key == key]
    assert sub.valid
