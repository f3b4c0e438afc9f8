"""The xlsxwriter boundary: every workbook this project writes is created here.

Workbooks are deterministic (fixed document dates) and never turn text into formulas or
links: a unit's narrative "=HYPERLINK(...)" stays text.
"""

from __future__ import annotations

import io
import re
import zipfile
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import xlsxwriter
from xlsxwriter.format import Format
from xlsxwriter.utility import xl_rowcol_to_cell
from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

FONT = "Times New Roman"
FONT_SIZE = 12

__all__ = [
    "FONT",
    "FONT_SIZE",
    "Format",
    "Styles",
    "Workbook",
    "Worksheet",
    "close_to_parts",
    "merge_only",
    "new_workbook",
    "reserve_rows",
    "xf_index",
]


def new_workbook(
    target: str | Path | IO[bytes], created: datetime, title: str = "", *, in_memory: bool = False
) -> Workbook:
    """A workbook with safe string handling and fixed document properties."""
    wb = xlsxwriter.Workbook(
        target if not isinstance(target, Path) else str(target),
        {
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "strings_to_numbers": False,
            "default_date_format": "dd/mm/yyyy",
            "remove_timezone": True,
            "in_memory": in_memory,
        },
    )
    wb.set_properties(
        {
            "title": title,
            "author": "Sở Nội vụ tỉnh Bình Định",
            "company": "Sở Nội vụ tỉnh Bình Định",
            "created": created.replace(tzinfo=None),
        }
    )
    # Default cell style: Times New Roman, as Nghị định 30/2020 asks.
    wb.formats[0].set_font_name(FONT)
    wb.formats[0].set_font_size(FONT_SIZE)
    return wb


class Styles:
    """Formats created once per workbook and shared, all in Times New Roman."""

    def __init__(self, wb: Workbook, size: int = FONT_SIZE) -> None:
        self._wb = wb
        self._size = size
        self._cache: dict[tuple[tuple[str, Any], ...], Format] = {}

    def __call__(self, **props: Any) -> Format:
        merged: dict[str, Any] = {"font_name": FONT, "font_size": self._size, **props}
        key = tuple(sorted(merged.items()))
        if key not in self._cache:
            self._cache[key] = self._wb.add_format(merged)
        return self._cache[key]


# ---------------------------------------------------------------- rows written around xlsxwriter
# The long sheets of the consolidated workbook get their per-unit rows as ready XML spliced into
# the sheet part after xlsxwriter has written it (pipeline/outputs/consolidated.py). These few
# helpers use xlsxwriter 3.3 internals (the version is pinned in requirements.txt).


def xf_index(fmt: Format) -> int:
    """The style index of `fmt` in styles.xml, assigned now if the format has none yet: a format
    used only by spliced rows must be registered before the workbook is closed."""
    return int(fmt._get_xf_index())


_SPLICED = "_dvcq_spliced_extent"  # (last row, last col) of rows spliced in after closing
_DIMENSION = re.compile(rb'<dimension ref="[A-Z]+[0-9]+(:[A-Z]+[0-9]+)?"/>')


def reserve_rows(ws: Worksheet, last_row: int, last_col: int) -> None:
    """Rows up to `last_row` (0-based) will be spliced into the sheet: its <dimension> will say so.

    Not through xlsxwriter's dimensions: it would walk every row of the range when writing."""
    setattr(ws, _SPLICED, (last_row, last_col))


def merge_only(ws: Worksheet, first_row: int, first_col: int, last_row: int, last_col: int) -> None:
    """A merged range over spliced cells: the range is declared, no cell is written."""
    ws.merge.append([first_row, first_col, last_row, last_col])


def close_to_parts(wb: Workbook) -> list[tuple[str, bytes]]:
    """Close an in-memory workbook (`new_workbook(io.BytesIO(), ..., in_memory=True)`) and return
    its package parts, (name, bytes), in xlsxwriter's order; sheets with reserved rows get a
    <dimension> that covers them."""
    wb.close()
    target = wb.filename
    assert isinstance(target, io.BytesIO)
    extents = {
        f"xl/worksheets/sheet{ws.index + 1}.xml": getattr(ws, _SPLICED)
        for ws in wb.worksheets()
        if hasattr(ws, _SPLICED)
    }
    parts: list[tuple[str, bytes]] = []
    with zipfile.ZipFile(io.BytesIO(target.getvalue())) as package:
        for info in package.infolist():
            data = package.read(info)
            extent = extents.get(info.filename)
            if extent is not None:
                ref = f'<dimension ref="A1:{xl_rowcol_to_cell(*extent)}"/>'.encode()
                data = _DIMENSION.sub(ref, data, count=1)
            parts.append((info.filename, data))
    return parts


def split_sheet_data(xml: bytes) -> tuple[bytes, bytes]:
    """A sheet part cut where spliced rows go: before </sheetData>."""
    at = xml.rfind(b"</sheetData>")
    if at < 0:  # no row at all: <sheetData/>
        at = xml.index(b"<sheetData/>")
        return xml[:at] + b"<sheetData>", b"</sheetData>" + xml[at + len(b"<sheetData/>") :]
    return xml[:at], xml[at:]
