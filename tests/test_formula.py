"""A formula in an input cell: its cached value is used; with no cached value it is reported."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest
from conftest import soffice_convert

from pipeline import intake
from pipeline.deadlines import parse_period
from pipeline.fill import destination
from pipeline.model import InboxFile, Submission
from pipeline.run import read_submission
from pipeline.schema import Schema

KEY = "t1_sessions"


def _read(schema: Schema, path: Path) -> Submission:
    f = InboxFile(name=path.name, path=path, sha256="", size=0, kind=intake.sniff(path))
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
