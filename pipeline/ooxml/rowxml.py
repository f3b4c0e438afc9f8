"""Worksheet rows as ready XML, for the long sheets spliced into xlsxwriter's sheet parts.

Rows and cells carry no `r` attribute: ECMA-376 Part 1 makes it optional on <row> (§18.3.1.73)
and <c> (§18.3.1.4); readers place a row after the previous one and a cell after the previous
cell of its row. So every row is written from column A with no gap (blank cells keep their
style), and the same XML fits whatever row it lands on: pieces of rows can be cached and moved.
Strings are inline (t="inlineStr"), escaped as xlsxwriter escapes them, so no piece depends on
a shared-string table.

Blocks are cut by content (a boundary after each item whose code hashes to 0 modulo the mean
block size), so adding or removing one unit changes only the block that holds it.
"""

from __future__ import annotations

import hashlib
import math
import re
import zlib
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f]")
_ESCAPED = re.compile(r"(_x[0-9a-fA-F]{4}_)")
_TEXT_END = "</t></is></c>"
_NUM_END = "</v></c>"
_MAX_CHARS = 32767  # Excel's limit, in UTF-16 units


class Style:
    """The XML prefixes of cells with one style (xf) index; `numbers` remembers the cells of
    numbers that repeat (points, maxima, scores); `booleans` are the words shown for
    True and False (the caller's language)."""

    __slots__ = ("blank", "booleans", "number", "numbers", "text", "text_kept", "xf")

    def __init__(self, xf: int, booleans: tuple[str, str] = ("TRUE", "FALSE")) -> None:
        self.xf = xf
        self.booleans = booleans
        self.numbers: dict[float, str] = {}
        attr = f' s="{xf}"' if xf else ""
        self.blank = f"<c{attr}/>"
        self.number = f"<c{attr}><v>"
        self.text = f'<c{attr} t="inlineStr"><is><t>'
        self.text_kept = f'<c{attr} t="inlineStr"><is><t xml:space="preserve">'


def _rare(s: str) -> str:
    """xlsxwriter's escapes for control characters (_xHHHH_) and Unicode non-characters."""
    s = _ESCAPED.sub(r"_x005F\1", s)
    s = _CONTROL.sub(lambda m: f"_x{ord(m.group(0)):04X}_", s)
    s = s.replace("\ufffe", "_xFFFE_").replace("\uffff", "_xFFFF_")
    if len(s) > _MAX_CHARS // 2 and len(s.encode("utf-16-le")) // 2 > _MAX_CHARS:
        s = s.encode("utf-16-le")[: 2 * _MAX_CHARS].decode("utf-16-le", "ignore")
    return s


def escape(s: str) -> str:
    """Cell text for <t>: &, <, > escaped; control characters as xlsxwriter writes them."""
    if not s.isprintable() or "_x" in s or len(s) > _MAX_CHARS // 2:
        s = _rare(s)
    if "&" in s:
        s = s.replace("&", "&amp;")
    if "<" in s:
        s = s.replace("<", "&lt;")
    if ">" in s:
        s = s.replace(">", "&gt;")
    return s


def text(style: Style, value: object) -> str:
    """A text cell (always text: a unit's "=HYPERLINK(...)" stays text), blank for None or ""."""
    if value is None or value == "":
        return style.blank
    s = value if type(value) is str else str(value)
    if s.strip() is not s:  # leading or trailing whitespace (strip returns the same str otherwise)
        return style.text_kept + escape(s) + _TEXT_END
    return style.text + escape(s) + _TEXT_END


def repeated_number(style: Style, value: float | None) -> str:
    """`number` for values that repeat on many rows, remembered per style."""
    if value is None:
        return style.blank
    found = style.numbers.get(value)
    if found is None:
        found = style.numbers[value] = number(style, value)
    return found


def number(style: Style, value: object) -> str:
    """A number; blank for None or ""; the style's words for a boolean; anything else as
    text (the same choices as layout.write_number)."""
    kind = type(value)
    if kind is int:
        n = int(value)  # type: ignore[call-overload]
        shown = str(n) if -1_000_000_000_000_000 < n < 1_000_000_000_000_000 else f"{n:.16G}"
        return style.number + shown + _NUM_END
    if kind is float:
        x = float(value)  # type: ignore[arg-type]
        if not math.isfinite(x):
            return style.blank
        return style.number + f"{x:.16G}" + _NUM_END
    if value is None or value == "":
        return style.blank
    if kind is bool:
        return text(style, style.booleans[0] if value else style.booleans[1])
    if isinstance(value, int | float):
        return number(style, float(value))
    return text(style, value)


_ROW_OPEN: dict[float | None, str] = {None: "<row>"}


def row(cells: str, height: float | None = None) -> str:
    """A <row>; `height` in points, rounded to whole pixels as xlsxwriter's set_row does."""
    opening = _ROW_OPEN.get(height)
    if opening is None:
        assert height is not None
        pixels = int(height * 4.0 / 3.0 + 0.5)
        opening = _ROW_OPEN[height] = f'<row ht="{pixels * 0.75:.16g}" customHeight="1">'
    return opening + cells + "</row>"


def code_hash(code: str) -> int:
    """A stable hash of an item's code (unit code, file name) for `blocks`."""
    return zlib.crc32(code.encode("utf-8", "surrogatepass"))


def blocks(items: Sequence[T], hash_of: Callable[[T], int], mean: int) -> list[list[T]]:
    """Items cut into blocks of about `mean` items, a cut after each item whose code's hash is 0
    modulo `mean` (see `code_hash`)."""
    out: list[list[T]] = []
    current: list[T] = []
    for item in items:
        current.append(item)
        if hash_of(item) % mean == 0:
            out.append(current)
            current = []
    if current:
        out.append(current)
    return out


def digest(*parts: str) -> bytes:
    """A cache key: sha256 of the parts (the inputs of a piece, never its XML)."""
    return hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).digest()
