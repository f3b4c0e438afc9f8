"""Vietnamese text realities: NFC, numbers typed the vi-VN way, names written many ways."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

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


def format_number(value: float | int) -> str:
    """vi-VN display: 1234567 → "1.234.567", 12.5 → "12,5"."""
    if type(value) is int:
        return f"{value:,}".replace(",", ".")
    if float(value).is_integer():
        return f"{int(value):,}".replace(",", ".")
    whole, _, frac = f"{value:,.2f}".rstrip("0").partition(".")
    return whole.replace(",", ".") + ("," + frac if frac else "")


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
