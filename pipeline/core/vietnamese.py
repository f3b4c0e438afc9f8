"""Vietnamese text realities: NFC, numbers typed and shown the vi-VN way, dates as Vietnamese\npapers write them, names written many ways.

This is the one place that formats a number or a date for a reader (format_number,
format_percent, format_date, format_datetime).
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

_SPACES = re.compile(r"[\s\u00a0\u202f\u2007]+")
_PUNCT = re.compile(r"[^0-9a-z]+")
# The combining diacritical marks block but U+034F (the grapheme joiner is not a mark).
_MARKS = re.compile("[\u0300-\u034e\u0350-\u036f]+")


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def fold(text: str) -> str:
    """Lower case, no diacritics, punctuation as spaces: "UBND TX. Hoài Nhơn" → "ubnd tx hoai nhon".

    Tone-mark placement ("Hoà"/"Hòa", "Uỷ"/"Ủy") disappears with the marks themselves.
    """
    decomposed = unicodedata.normalize("NFD", text.replace("Đ", "D").replace("đ", "d"))
    bare = _MARKS.sub("", decomposed)  # Vietnamese marks: one regex pass (a registry folds 20,000 names)
    if not bare.isascii():  # other scripts may carry other combining characters
        bare = "".join(ch for ch in bare if not unicodedata.combining(ch))
    bare = bare.lower().replace("&", " va ")
    return _PUNCT.sub(" ", bare).strip()


# --- numbers ---------------------------------------------------------------------------

_GROUPED = re.compile(r"^\d{1,3}(\.\d{3})+(,\d+)?$")  # 1.234 / 1.234.567 / 1.234,5
_DECIMAL_COMMA = re.compile(r"^\d+,\d+$")  # 12,5
_PLAIN = re.compile(r"^\d+$")


@dataclass(frozen=True)
class ParsedNumber:
    value: float | None
    problem: str = ""  # "" | "not-number" | "ambiguous"


def parse_number(text: str) -> ParsedNumber:
    """Parse a number typed as text with the vi-VN rule (dot thousands, comma decimals).

    "1.234" → 1234, "12,5" → 12.5, "12,5%" → 0.125; a form that another locale reads
    differently ("1,234", "1.5", "1,234.5") is ambiguous and never guessed.
    """
    s = _SPACES.sub("", nfc(text))
    if not s:
        return ParsedNumber(None, "not-number")
    percent = s.endswith("%")
    if percent:
        s = s[:-1]
    sign = 1.0
    if s[:1] in "+-":
        sign = -1.0 if s[0] == "-" else 1.0
        s = s[1:]
    value: float
    if _PLAIN.match(s):
        value = float(s)
    elif _GROUPED.match(s):
        value = float(s.replace(".", "").replace(",", "."))
    elif _DECIMAL_COMMA.match(s):
        whole, frac = s.split(",")
        if len(frac) == 3 and not percent:
            return ParsedNumber(None, "ambiguous")  # 1,234: thousands elsewhere, decimals here
        value = float(f"{whole}.{frac}")
    elif re.match(r"^[\d.,]+$", s):
        return ParsedNumber(None, "ambiguous")
    else:
        return ParsedNumber(None, "not-number")
    value *= sign
    return ParsedNumber(value / 100 if percent else value)


def _half_up(value: float, decimals: int) -> Decimal:
    """Rounded as Excel shows a number format: half away from zero on the written value
    (6.25 → 6.3), not on the binary fraction."""
    return Decimal(repr(float(value))).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)


def _grouped(text: str) -> str:
    """ "1,234,567.5" (Python's grouping) → "1.234.567,5"."""
    return text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")


def format_number(value: float | int, decimals: int = 2) -> str:
    """The one vi-VN number format of everything a user reads: thousands with dots, decimals
    after a comma, at most `decimals` of them, trailing zeros dropped: 1234567 → "1.234.567",
    12.5 → "12,5", 72.0 → "72"."""
    if type(value) is int:
        return f"{value:,}".replace(",", ".")
    if not math.isfinite(value):
        return str(value)
    text = f"{_half_up(value, decimals):,}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return _grouped(text)


def format_percent(rate: float | None, decimals: int = 1, *, fixed: bool = False) -> str:
    """A share as a vi-VN percentage: 0.9637 → "96,4%"; `fixed` keeps the trailing zeros of
    the workbook's 0.0% format (0.95 → "95,0%"); None (no denominator) → "-"."""
    if rate is None:
        return "-"
    if fixed:
        return _grouped(f"{_half_up(rate * 100, decimals):,}") + "%"
    return format_number(rate * 100, decimals) + "%"


def lower_first(text: str) -> str:
    """The text as it reads inside a sentence: its first letter in lower case ("Huyện An Lão"
    → "huyện An Lão", "Quý I" → "quý I")."""
    return text[:1].lower() + text[1:]


def format_date(d: date) -> str:
    """dd/mm/yyyy."""
    return f"{d.day:02d}/{d.month:02d}/{d.year:04d}"


def format_datetime(dt: datetime | None, tz: ZoneInfo) -> str:
    """dd/mm/yyyy hh:mm in local time; "" for no time."""
    if dt is None:
        return ""
    local = dt.astimezone(tz) if dt.tzinfo is not None else dt
    return f"{format_date(local.date())} {local.hour:02d}:{local.minute:02d}"


def format_paper_date(d: date) -> str:
    """A date as Vietnamese papers write it in the text: "22/3/2023" (no leading zeros)."""
    return f"{d.day}/{d.month}/{d.year}"


def format_moment(dt: datetime | None, tz: ZoneInfo) -> str:
    """A time as Vietnamese papers write it: "15 giờ 49 phút ngày 22/3/2023"; "" for none."""
    if dt is None:
        return ""
    local = dt.astimezone(tz) if dt.tzinfo is not None else dt
    return f"{local.hour} giờ {local.minute:02d} phút ngày {format_paper_date(local.date())}"


# --- unit names --------------------------------------------------------------------------

_PREFIXES = (
    "uy ban nhan dan",
    "ubnd",
    "thanh pho",
    "tp",
    "thi xa",
    "tx",
    "huyen",
)


# Every leading prefix at once: no prefix followed by a space starts another, so stripping them
# one by one in any order ends at the same place.
_LEADING_PREFIXES = re.compile("^(?:(?:" + "|".join(map(re.escape, _PREFIXES)) + ") )+")


def strip_prefixes(folded: str) -> str:
    return _LEADING_PREFIXES.sub("", folded, count=1)
