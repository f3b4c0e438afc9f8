"""The openpyxl boundary for editing a unit's workbook (the only module that writes with it).

Inputs are found through the workbook's defined names (key → cell), never by address, and
the file is saved deterministically: fixed document dates and fixed zip entry times, so the
same template and values always give the same bytes.
"""

from __future__ import annotations

import io
import os
import tempfile
import zipfile
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

import openpyxl
from openpyxl.writer.excel import ExcelWriter

from pipeline import cellref

# Document date stamped in docProps/core.xml unless the caller gives one.
MODIFIED = datetime(2023, 1, 1)
# Zip entry time: Excel's own epoch, as xlsxwriter writes it.
ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)

CellValue = int | float | str | date | None


def destination(wb: Any, key: str) -> tuple[str, str]:
    """(sheet, "D8") of the workbook-scoped defined name `key`; KeyError when absent."""
    names = wb.defined_names
    if key not in names:
        raise KeyError(key)
    dests = list(names[key].destinations)
    if len(dests) != 1:
        raise KeyError(f"{key}: defined name does not point at one cell")
    sheet, ref = dests[0]
    row, col = cellref.from_a1(ref)
    return str(sheet), cellref.to_a1(row, col)


def _check_value(key: str, value: object) -> CellValue:
    # bool is an int subclass but never a valid input: refuse it like any other type.
    if value is None or (isinstance(value, (int, float, str, date)) and not isinstance(value, bool)):
        return value
    raise TypeError(f"{key}: unsupported value type {type(value).__name__}")


def fill_workbook(
    template: Path,
    values: Mapping[str, object],
    target: Path,
    *,
    modified: datetime = MODIFIED,
) -> None:
    """Copy `template` to `target` with each key's named cell set to its value.

    Unknown keys raise KeyError (a programming error, not bad input). Text is always written
    as text, even when it starts with "=" (a narrative never becomes a formula).
    """
    wb = openpyxl.load_workbook(template, keep_vba=False)
    for key, raw in values.items():
        value = _check_value(key, raw)
        sheet, ref = destination(wb, key)
        cell = wb[sheet][ref]
        cell.value = value
        if isinstance(value, str) and cell.data_type == "f":
            cell.data_type = "s"
    save_workbook(wb, target, modified=modified)


def workbook_bytes(wb: Any, *, modified: datetime = MODIFIED) -> bytes:
    """The .xlsx bytes of an openpyxl workbook, with fixed dates."""
    stamp = modified.replace(tzinfo=None, microsecond=0)
    props = wb.properties
    if props.created is None:
        props.created = stamp
    props.modified = stamp
    raw = io.BytesIO()
    # ExcelWriter rather than wb.save(): save() stamps the current time as "modified".
    with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as archive:
        ExcelWriter(wb, archive).save()
    return _fixed_zip(raw.getvalue())


def _fixed_zip(data: bytes) -> bytes:
    """Rewrite a zip with every entry dated ZIP_DATE_TIME (openpyxl uses the current time)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=ZIP_DATE_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o600 << 16
            dst.writestr(entry, src.read(info.filename))
    return out.getvalue()


def save_workbook(wb: Any, target: Path, *, modified: datetime = MODIFIED) -> None:
    """Save atomically: write a temp file in the target's folder, then os.replace."""
    data = workbook_bytes(wb, modified=modified)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", suffix=".xlsx", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        # mkstemp creates 0600; a report is an ordinary shared document.
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
