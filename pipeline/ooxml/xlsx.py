"""The xlsxwriter boundary: every workbook this project writes is created here.

Workbooks are deterministic (fixed document dates) and never turn text into formulas or
links: a unit's narrative "=HYPERLINK(...)" stays text.
"""

from __future__ import annotations

import io
import re
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import xlsxwriter
from xlsxwriter.format import Format
from xlsxwriter.utility import xl_rowcol_to_cell
from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

from pipeline.ooxml.package import Package

FONT = "Times New Roman"
FONT_SIZE = 12

__all__ = [
    "FONT",
    "FONT_SIZE",
    "Format",
    "SplicedSheets",
    "Styles",
    "Workbook",
    "Worksheet",
    "new_workbook",
    "split_sheet_data",
]


def new_workbook(
    target: str | Path | IO[bytes],
    created: datetime,
    title: str = "",
    *,
    author: str = "",
    in_memory: bool = False,
) -> Workbook:
    """A workbook with safe string handling and fixed document properties (`created`: a moment;
    written in UTC, as the format wants it)."""
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
            "author": author,
            "company": author,
            "created": (created.astimezone(UTC) if created.tzinfo else created).replace(tzinfo=None),
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


# ---------------------------------------------------------------- rows spliced in after xlsxwriter
# The long sheets of the consolidated workbook get their per-unit rows as ready XML spliced into
# the sheet parts after xlsxwriter has written them (docs/decisions/row-xml-splicing.md). A
# spliced cell names its style by index in styles.xml, and xlsxwriter keeps that index private:
# `style_index` is the one place this project calls into xlsxwriter's internals: splicing needs
# the index, and the decision note gives the measurement that justifies it; tests/test_ooxml.py
# fails if a new xlsxwriter assigns indexes otherwise.

_DIMENSION = re.compile(rb'<dimension ref="[A-Z]+[0-9]+(:[A-Z]+[0-9]+)?"/>')
# Elements that follow <mergeCells> in a worksheet (ECMA-376 §18.3.1.99, CT_Worksheet order).
_AFTER_MERGES = (
    b"<phoneticPr", b"<conditionalFormatting", b"<dataValidations", b"<hyperlinks", b"<printOptions",
    b"<pageMargins", b"<pageSetup", b"<headerFooter", b"<rowBreaks", b"<colBreaks", b"<drawing",
    b"<legacyDrawing", b"<tableParts", b"<extLst", b"</worksheet>",
)  # fmt: skip


class SplicedSheets:
    """The sheets of an in-memory workbook (`new_workbook(io.BytesIO(), ..., in_memory=True)`)
    whose rows are spliced in as XML once xlsxwriter has closed it: their style indexes, the
    extent of the rows to come, and merged ranges over them."""

    def __init__(self, wb: Workbook) -> None:
        self.wb = wb
        self._extents: dict[str, tuple[int, int]] = {}
        self._merges: dict[str, list[tuple[int, int, int, int]]] = {}

    @staticmethod
    def part(ws: Worksheet) -> str:
        return f"xl/worksheets/sheet{ws.index + 1}.xml"

    def style_index(self, fmt: Format) -> int:
        """The index of `fmt` in styles.xml, assigned now if it has none yet (a format used only
        in spliced rows must be registered before the workbook is closed).

        xlsxwriter's one private call in the project: it has no public way to ask for the index.
        Why it is worth it (measured) and what guards it: docs/decisions/row-xml-splicing.md,
        tests/test_ooxml.py."""
        return int(fmt._get_xf_index())

    def reserve(self, ws: Worksheet, last_row: int, last_col: int) -> None:
        """Rows up to `last_row` (0-based) will be spliced into `ws`: its <dimension> says so.

        Not through xlsxwriter's dimensions: it would walk every row of the range when writing."""
        self._extents[self.part(ws)] = (last_row, last_col)

    def merge(self, ws: Worksheet, first_row: int, first_col: int, last_row: int, last_col: int) -> None:
        """A merged range over spliced cells: declared in the sheet, no cell written."""
        self._merges.setdefault(self.part(ws), []).append((first_row, first_col, last_row, last_col))

    def close(self) -> list[tuple[str, bytes]]:
        """Close the workbook and return its package parts, (name, bytes), in xlsxwriter's order,
        with the reserved extents and the merged ranges written into their sheets."""
        self.wb.close()
        target = self.wb.filename
        assert isinstance(target, io.BytesIO)
        parts: list[tuple[str, bytes]] = []
        with zipfile.ZipFile(io.BytesIO(target.getvalue())) as package:
            for info in package.infolist():
                data = package.read(info)
                extent = self._extents.get(info.filename)
                if extent is not None:
                    ref = f'<dimension ref="A1:{xl_rowcol_to_cell(*extent)}"/>'.encode()
                    data = _DIMENSION.sub(ref, data, count=1)
                merges = self._merges.get(info.filename)
                if merges:
                    data = _with_merges(data, merges)
                parts.append((info.filename, data))
        return parts


def _with_merges(xml: bytes, merges: list[tuple[int, int, int, int]]) -> bytes:
    """`xml` (a worksheet) with these ranges appended to its <mergeCells>."""
    cells = b"".join(
        f'<mergeCell ref="{xl_rowcol_to_cell(r1, c1)}:{xl_rowcol_to_cell(r2, c2)}"/>'.encode()
        for r1, c1, r2, c2 in merges
    )
    found = re.search(rb'<mergeCells count="(\d+)">', xml)
    if found is not None:
        count = int(found.group(1)) + len(merges)
        end = xml.index(b"</mergeCells>", found.end())
        head = xml[: found.start()] + f'<mergeCells count="{count}">'.encode() + xml[found.end() : end]
        return head + cells + xml[end:]
    at = min(i for i in (xml.find(tag) for tag in _AFTER_MERGES) if i >= 0)
    return xml[:at] + f'<mergeCells count="{len(merges)}">'.encode() + cells + b"</mergeCells>" + xml[at:]


def split_sheet_data(xml: bytes) -> tuple[bytes, bytes]:
    """A sheet part cut where spliced rows go: before </sheetData>."""
    at = xml.rfind(b"</sheetData>")
    if at < 0:  # no row at all: <sheetData/>
        at = xml.index(b"<sheetData/>")
        return xml[:at] + b"<sheetData>", b"</sheetData>" + xml[at + len(b"<sheetData/>") :]
    return xml[:at], xml[at:]


_WORKBOOK_PR = re.compile(rb"<workbookPr\b[^>]*/>")


def lock_structure(data: bytes) -> bytes:
    """The workbook `data` (an .xlsx written here) with its structure protected, no password:
    sheets cannot be added, removed, renamed, moved or unhidden. xlsxwriter does not write
    `<workbookProtection>`; it goes right after `<workbookPr>`, where the schema orders it."""

    package = Package(data)
    xml = package.read("xl/workbook.xml")
    if b"<workbookProtection" not in xml:
        found = _WORKBOOK_PR.search(xml)
        if found is None:
            raise ValueError("xl/workbook.xml has no <workbookPr>")
        lock = b'<workbookProtection lockStructure="1"/>'
        xml = xml[: found.end()] + lock + xml[found.end() :]
        package.put("xl/workbook.xml", xml)
    return package.save()
