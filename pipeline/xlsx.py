"""The xlsxwriter boundary: every workbook this project writes is created here.

Workbooks are deterministic (fixed document dates) and never turn text into formulas or
links: a unit's narrative "=HYPERLINK(...)" stays text.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import IO, Any

import xlsxwriter
from xlsxwriter.format import Format
from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

FONT = "Times New Roman"
FONT_SIZE = 12

__all__ = ["FONT", "FONT_SIZE", "Format", "Styles", "Workbook", "Worksheet", "new_workbook"]


def new_workbook(target: str | Path | IO[bytes], created: datetime, title: str = "") -> Workbook:
    """A workbook with safe string handling and fixed document properties."""
    wb = xlsxwriter.Workbook(
        target if not isinstance(target, Path) else str(target),
        {
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "strings_to_numbers": False,
            "default_date_format": "dd/mm/yyyy",
            "remove_timezone": True,
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
