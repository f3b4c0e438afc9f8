"""The generated template: deterministic, committed, named inputs, protection, validations."""

from __future__ import annotations

import hashlib
import io
from datetime import date
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from pipeline import config
from pipeline.authoring import template
from pipeline.core import cellref
from pipeline.core.registry import match_unit
from pipeline.core.schema import Schema
from pipeline.ooxml.edit import destination, fill_workbook

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def s() -> Schema:
    return config.load()


@pytest.fixture(scope="module")
def tpl(s: Schema, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return template.write_template(s, tmp_path_factory.mktemp("tpl"))


@pytest.fixture(scope="module")
def wb(tpl: Path) -> Any:
    return openpyxl.load_workbook(tpl)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_generation_is_deterministic(s: Schema, tpl: Path, tmp_path: Path) -> None:
    again = template.write_template(s, tmp_path)
    buf = io.BytesIO()
    template.build_template(s, buf)
    assert _sha(again.read_bytes()) == _sha(tpl.read_bytes()) == _sha(buf.getvalue())
    assert again.name == s.template.file_name
    assert [p.name for p in tmp_path.iterdir()] == [again.name]  # no temp file left behind


def test_committed_template_is_current(s: Schema, tpl: Path) -> None:
    committed = ROOT / "templates" / "excel" / s.template.file_name
    assert committed.is_file(), "run `python -m pipeline template` and commit the result"
    assert _sha(committed.read_bytes()) == _sha(tpl.read_bytes()), "template is stale: regenerate it"


def test_sheets_in_order_and_meta_hidden_with_fingerprint(s: Schema, wb: Any) -> None:
    data_sheets = list(dict.fromkeys(f.sheet for f in s.fields))
    meta = s.template.meta_sheet
    assert wb.sheetnames == [s.template.instructions_sheet, *data_sheets, meta]
    assert wb[meta].sheet_state == "veryHidden"
    assert wb.security is not None and wb.security.lockStructure  # no sheet added, renamed, shown
    assert all(wb[name].sheet_state == "visible" for name in wb.sheetnames if name != meta)
    assert (wb[meta]["A1"].value, wb[meta]["B1"].value) == ("template_id", s.template_id)
    assert (wb[meta]["A2"].value, wb[meta]["B2"].value) == ("template_version", s.template_version)
    assert destination(wb, "template_id") == (meta, "B1")
    assert destination(wb, "template_version") == (meta, "B2")


def test_every_field_is_a_workbook_scoped_name_on_its_cell(s: Schema, wb: Any) -> None:
    for f in s.fields:
        assert f.key in wb.defined_names, f.key
        dn = wb.defined_names[f.key]
        assert dn.localSheetId is None, f.key
        assert list(dn.destinations) == [(f.sheet, cellref.absolute(f.cell))], f.key


def test_inputs_unlocked_and_styled_others_locked(s: Schema, wb: Any) -> None:
    inputs = {(f.sheet, f.cell) for f in s.fields}
    for f in s.fields:
        c = wb[f.sheet][f.cell]
        assert c.protection.locked is False, f.key
        assert c.fill.fgColor.rgb.endswith(template.INPUT_FILL.lstrip("#")), f.key
        assert c.border.left.style is not None, f.key
    # Labels (left of inputs), headers and blank cells stay locked.
    for f in s.fields:
        row, col = cellref.from_a1(f.cell)
        for other in (cellref.to_a1(row, col - 1), cellref.to_a1(0, 0), cellref.to_a1(row, col + 2)):
            if (f.sheet, other) not in inputs:
                assert wb[f.sheet][other].protection.locked is not False, (f.sheet, other)
    for ws in wb.worksheets:
        assert ws.protection.sheet is True, ws.title
        assert not ws.protection.password, ws.title


def test_labels_sit_left_of_inputs(s: Schema, wb: Any) -> None:
    for f in s.fields:
        row, col = cellref.from_a1(f.cell)
        left = [wb[f.sheet][cellref.to_a1(row, c)].value for c in range(col)]
        assert any(isinstance(v, str) and f.label in v for v in left), f.key
    district_y = [f for f in s.fields if f.applies_to == "district" and "Y" in f.periods]
    for f in district_y:
        row, col = cellref.from_a1(f.cell)
        text = " ".join(str(wb[f.sheet][cellref.to_a1(row, c)].value) for c in range(col))
        assert "huyện" in text and "năm" in text, f.key


def _validations(ws: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for dv in ws.data_validations.dataValidation:
        for rng in dv.sqref.ranges:
            for row in rng.cells:
                out[cellref.to_a1(row[0] - 1, row[1] - 1)] = dv
    return out


def test_validations(s: Schema, wb: Any) -> None:
    by_sheet = {name: _validations(wb[name]) for name in wb.sheetnames}
    for f in s.fields:
        dv = by_sheet[f.sheet].get(f.cell)
        if f.type == "integer":
            assert dv is not None and dv.type == "whole", f.key
            assert float(dv.formula1) == (f.min or 0), f.key
            if f.max is not None:
                assert float(dv.formula2) == f.max, f.key
            assert dv.prompt and dv.error, f.key
        elif f.type == "number":
            assert dv is not None and dv.type == "decimal", f.key
        elif f.type == "date":
            assert dv is not None and dv.type == "date", f.key
        elif f.type in ("unit", "period"):
            assert dv is not None and dv.type == "list", f.key


def _list_values(wb: Any, formula: str) -> list[str]:
    sheet, _, ref = formula.lstrip("=").rpartition("!")
    ws = wb[sheet.strip("'")]
    return [str(row[0].value) for row in ws[ref.replace("$", "")]]


def test_drop_down_lists(s: Schema, wb: Any) -> None:
    unit_field = next(f for f in s.fields if f.type == "unit")
    period_field = next(f for f in s.fields if f.type == "period")
    units = _list_values(wb, _validations(wb[unit_field.sheet])[unit_field.cell].formula1)
    # "code – name": the drop-down says whom each code is; the reader takes the code
    assert units == [f"{u.code} – {u.name}" for u in s.units]
    assert len(units) == 32
    assert all(match_unit(s, shown).unit == unit for shown, unit in zip(units, s.units, strict=True))
    periods = _list_values(wb, _validations(wb[period_field.sheet])[period_field.cell].formula1)
    assert periods == [p.name for p in sorted(s.calendar.periods, key=lambda p: p.order)]  # Vietnamese only
    # The unit's name is looked up in the cell right of the code.
    row, col = cellref.from_a1(unit_field.cell)
    formula = wb[unit_field.sheet][cellref.to_a1(row, col + 1)].value
    assert isinstance(formula, str) and formula.startswith("=") and "VLOOKUP" in formula
    assert unit_field.cell in formula


def test_print_setup(wb: Any, s: Schema) -> None:
    for ws in wb.worksheets:
        if ws.sheet_state != "visible":
            continue
        assert int(ws.page_setup.paperSize) == 9, ws.title
        assert ws.sheet_properties.pageSetUpPr.fitToPage, ws.title
        assert ws.page_margins.left == pytest.approx(1.2), ws.title
        assert ws.page_margins.right == pytest.approx(0.7), ws.title


def test_filled_copy_keeps_names_meta_validations_protection(s: Schema, tpl: Path, tmp_path: Path) -> None:
    values = {"unit_code": "SYT", "year": 2023, "report_date": date(2023, 3, 17), "t1_sessions": 4}
    target = tmp_path / "filled.xlsx"
    fill_workbook(tpl, values, target)
    original, filled = openpyxl.load_workbook(tpl), openpyxl.load_workbook(target)
    assert set(filled.defined_names) == set(original.defined_names)
    assert filled.sheetnames == original.sheetnames
    assert filled[s.template.meta_sheet].sheet_state == "veryHidden"
    for name in filled.sheetnames:
        assert filled[name].protection.sheet is True
        assert len(filled[name].data_validations.dataValidation) == len(
            original[name].data_validations.dataValidation
        )
    for key, value in values.items():
        sheet, cell = destination(filled, key)
        got = filled[sheet][cell].value
        assert (got.date() if key == "report_date" else got) == value
        assert filled[sheet][cell].protection.locked is False
    with pytest.raises(KeyError):
        fill_workbook(tpl, {"no_such_key": 1}, tmp_path / "bad.xlsx")
    assert not (tmp_path / "bad.xlsx").exists()


def test_text_starting_with_equals_stays_text(tpl: Path, tmp_path: Path) -> None:
    target = tmp_path / "eq.xlsx"
    fill_workbook(tpl, {"n1_results": '=HYPERLINK("http://x")'}, target)
    wb = openpyxl.load_workbook(target)
    sheet, cell = destination(wb, "n1_results")
    assert wb[sheet][cell].data_type == "s"
