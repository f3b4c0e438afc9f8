"""A1 cell references: the one place that converts between "D12" and (row, col).

Rows and columns are zero-based, as in xlsxwriter and python-calamine.
"""

from __future__ import annotations

import re
from functools import lru_cache

_A1 = re.compile(r"^\$?([A-Za-z]{1,3})\$?([0-9]{1,7})$")


def col_letters(col: int) -> str:
    """0 → "A", 25 → "Z", 26 → "AA"."""
    if col < 0:
        raise ValueError(f"negative column {col}")
    letters = ""
    col += 1
    while col:
        col, rem = divmod(col - 1, 26)
        letters = chr(ord("A") + rem) + letters
    return letters


def col_index(letters: str) -> int:
    """ "A" → 0, "AA" → 26."""
    col = 0
    for ch in letters.upper():
        col = col * 26 + (ord(ch) - ord("A") + 1)
    return col - 1


def to_a1(row: int, col: int) -> str:
    return f"{col_letters(col)}{row + 1}"


@lru_cache(maxsize=4096)
def from_a1(ref: str) -> tuple[int, int]:
    """ "D12" or "$D$12" → (11, 3)."""
    m = _A1.match(ref.strip())
    if not m:
        raise ValueError(f"not an A1 cell reference: {ref!r}")
    return int(m.group(2)) - 1, col_index(m.group(1))


def is_a1(ref: str) -> bool:
    """Whether `ref` is one A1 cell reference ("D12", "$D$12")."""
    try:
        from_a1(ref)
    except (ValueError, KeyError):
        return False
    return True


def span(ref: str) -> tuple[int, int, int, int]:
    """ "B2:A5" or "C3" → (top, left, bottom, right), zero-based; ValueError if not a range."""
    first, _, last = ref.partition(":")
    r1, c1 = from_a1(first)
    r2, c2 = from_a1(last or first)
    return min(r1, r2), min(c1, c2), max(r1, r2), max(c1, c2)


def absolute(ref: str) -> str:
    """ "D12" → "$D$12"."""
    row, col = from_a1(ref)
    return f"${col_letters(col)}${row + 1}"


def quote_sheet(sheet: str) -> str:
    """Sheet name as it appears in a formula or defined name: 'Số liệu'."""
    return "'" + sheet.replace("'", "''") + "'"


def sheet_ref(sheet: str, ref: str) -> str:
    """'Số liệu'!$D$12: the target of a defined name."""
    return f"{quote_sheet(sheet)}!{absolute(ref)}"


@lru_cache(maxsize=4096)
def parse_sheet_ref(target: str) -> tuple[str, str] | None:
    """Inverse of sheet_ref for a single cell; None for ranges, formulas or #REF!."""
    if "!" not in target:
        return None
    sheet, _, ref = target.rpartition("!")
    sheet = sheet.strip()
    if sheet.startswith("'") and sheet.endswith("'"):
        sheet = sheet[1:-1].replace("''", "'")
    try:
        row, col = from_a1(ref)
    except ValueError:
        return None
    return sheet, to_a1(row, col)
