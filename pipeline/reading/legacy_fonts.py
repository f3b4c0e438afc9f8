"""Text typed in the legacy Vietnamese encodings TCVN3 (ABC) and VNI, converted to Unicode.

Old documents keep Vietnamese in 8-bit "font encodings": the bytes are Windows-1252 letters
that a special font draws as Vietnamese. In an .xlsx the text is stored as those Windows-1252
characters, so "Báo cáo" typed in TCVN3 (font .VnTime) reads "B¸o c¸o", and in VNI (font
VNI-Times) "Baùo caùo".

Detection, strongest signal first:
1. the cell's font (.xlsx only, from xl/styles.xml and the sheet XML, read only when some text
   could be legacy): ".VnTime", ".VnArial"… are TCVN3 (a name ending in "H", ".VnTimeH", is the
   upper-case variant); "VNI-Times", "VNI-Helve"… are VNI;
2. the content: characters that Unicode Vietnamese never uses inside words ("¸ µ ¹ ¨ ©" for
   TCVN3; a vowel followed by a VNI mark, "aù oø eä", for VNI).
Text with any Unicode-only Vietnamese letter (ă đ ơ ư ạ…ỹ) is Unicode and never converted.

No maintained PyPI package does this conversion (searched November 2026), so the tables are
here: TCVN3 one character to one letter, VNI a base letter plus one mark character.
"""

from __future__ import annotations

import re
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path

from defusedxml import ElementTree

from pipeline.core.issues import Issue, make_issue
from pipeline.core.schema import Schema
from pipeline.reading.workbook import RawCell, WorkbookRead

# --- TCVN3 (ABC) ---------------------------------------------------------------------------------

# Each TCVN3 code (as the Windows-1252 / Latin-1 character it is stored as) → Unicode letter.
# Upper-case toned letters have no code: the ".VnTimeH" font draws the lower-case codes as capitals.
_TCVN3_ROWS = {
    "¡¢£¤¥¦§": "ĂÂÊÔƠƯĐ",
    "¨©ª«¬\u00ad®": "ăâêôơưđ",
    "µ¶·¸¹": "àảãáạ",
    "»¼½¾Æ": "ằẳẵắặ",
    "ÇÈÉÊË": "ầẩẫấậ",
    "ÌÎÏÐÑ": "èẻẽéẹ",
    "ÒÓÔÕÖ": "ềểễếệ",
    "×ØÜÝÞ": "ìỉĩíị",
    "ßáâãä": "òỏõóọ",
    "åæçèé": "ồổỗốộ",
    "êëìíî": "ờởỡớợ",
    "ïñòóô": "ùủũúụ",
    "õö÷øù": "ừửữứự",
    "úûüýþ": "ỳỷỹýỵ",
}
TCVN3: dict[str, str] = {k: v for ks, vs in _TCVN3_ROWS.items() for k, v in zip(ks, vs, strict=True)}
# Codes that Unicode Vietnamese text never contains (the others are also Latin-1 letters
# such as "á" or "ê" that Unicode Vietnamese uses).
_TCVN3_ONLY = frozenset("¡¢£¤¥¦§¨©ª«¬\u00ad®µ¶·¸¹»¼½¾ÆÇËÎÏÐÑÖ×ØÜÞßäåæçëîïñö÷øûüþ")

_TCVN3_AFTER_CONSONANT = re.compile(
    "[bcdghklmnpqrstvxBCDGHKLMNPQRSTVX]["
    + "".join(sorted(c for c in _TCVN3_ONLY if c >= "\u00c0"))
    + "](?![øùûõïäåëüØÙÛÕÏÄÅËÜ])"  # not VNI "tö" + tone mark
)

# --- VNI ------------------------------------------------------------------------------------------

_GRAVE, _ACUTE, _HOOK, _TILDE, _DOT = "\u0300", "\u0301", "\u0309", "\u0303", "\u0323"
_CIRC, _BREVE, _HORN = "\u0302", "\u0306", "\u031b"
_TONES = {"ø": _GRAVE, "ù": _ACUTE, "û": _HOOK, "õ": _TILDE, "ï": _DOT}
_CIRC_MARKS = {"â": "", "à": _GRAVE, "á": _ACUTE, "å": _HOOK, "ã": _TILDE, "ä": _DOT}
_BREVE_MARKS = {"ê": "", "è": _GRAVE, "é": _ACUTE, "ú": _HOOK, "ü": _TILDE, "ë": _DOT}
# Single characters: đ, ơ, ư and the i / ỵ letters.
_VNI_SINGLE = {
    "ñ": "đ",
    "Ñ": "Đ",
    "ô": "ơ",
    "Ô": "Ơ",
    "ö": "ư",
    "Ö": "Ư",
    "ì": "ì",
    "í": "í",
    "æ": "ỉ",
    "ó": "ĩ",
    "ò": "ị",
    "î": "ỵ",
    "Ì": "Ì",
    "Í": "Í",
    "Æ": "Ỉ",
    "Ó": "Ĩ",
    "Ò": "Ị",
    "Î": "Ỵ",
}


def _compose(base: str, *marks: str) -> str:
    return unicodedata.normalize("NFC", base + "".join(marks))


def _vni_table() -> dict[str, str]:
    table: dict[str, str] = {}
    bases: dict[str, tuple[dict[str, str], ...]] = {
        "a": (_CIRC_MARKS, _BREVE_MARKS),
        "e": (_CIRC_MARKS,),
        "o": (_CIRC_MARKS,),
    }
    for base in "aeiouyAEIOUY":
        for mark_case in (str.lower, str.upper):
            for mark, tone in _TONES.items():
                table[base + mark_case(mark)] = _compose(base, tone)
            for shape, marks in zip((_CIRC, _BREVE), bases.get(base.lower(), ()), strict=False):
                for mark, tone in marks.items():
                    table[base + mark_case(mark)] = _compose(base, shape, *([tone] if tone else []))
    for horn, letter in (("ô", "o"), ("Ô", "O"), ("ö", "u"), ("Ö", "U")):
        for mark_case in (str.lower, str.upper):
            for mark, tone in _TONES.items():
                table[horn + mark_case(mark)] = _compose(letter, _HORN, tone)
    return table


VNI: dict[str, str] = {**_vni_table(), **_VNI_SINGLE}
# One pass, two-character sequences first: "où" is ó, and a lone "ó" is ĩ.
_VNI_PATTERN = re.compile("|".join(re.escape(k) for k in sorted(VNI, key=len, reverse=True)))
# VNI single characters that Unicode Vietnamese never uses (TCVN3 uses them too: font check only).
_VNI_ONLY = frozenset("ñÑöÖæÆîÎ")
# A vowel followed by a mark that never follows a vowel in Unicode Vietnamese ("aù", "eä").
# A word-initial "ñ"/"Ñ" before a vowel is VNI đ ("ñi"); after a consonant it is TCVN3 ủ ("chñ").
# Also a circumflex or breve mark after a, e, o where Unicode has no such pair ("aâ", "eá", "aé";
# not "oà", "oá": Unicode "hoà", "hoá").
_VNI_STRONG = re.compile(
    r"[aeiouyôöAEIOUYÔÖ][øùûõïäåëüØÙÛÕÏÄÅËÜ]|(?<![A-Za-z])[ñÑ][aeiouyAEIOUY]"
    r"|[aeoAEO][âÂ]|[aeAE][áàãÁÀÃ]|[aA][êéèúÊÉÈÚ]"
)

# Letters that exist only in Unicode Vietnamese: the text is Unicode already.
_UNICODE_VI = re.compile(
    "[\u0102\u0103\u0110\u0111\u0128\u0129\u0168\u0169\u01a0\u01a1\u01af\u01b0\u1ea0-\u1ef9]"
)
_LATIN1_HIGH = re.compile("[\u00a1-\u00ff]")
_WORD = re.compile(r"\S+")


def _tcvn3_font(font: str) -> bool:
    return font.strip().lower().startswith(".vn")


def _vni_font(font: str) -> bool:
    f = font.strip().lower()
    return f.startswith(("vni-", "vni ", "vni_"))


def legacy_font(font: str | None) -> str:
    """ "tcvn3", "vni" or "" for a font name."""
    if not font:
        return ""
    if _tcvn3_font(font):
        return "tcvn3"
    if _vni_font(font):
        return "vni"
    return ""


def _upper_words(original: str, converted: str) -> str:
    """A TCVN3 word typed in capitals ("B¸O") has lower-case toned codes: make it "BÁO".

    Only words with two or more ASCII capitals and no ASCII lower case: "Tù" stays "Tự".
    """
    out: list[str] = []
    last = 0
    for m_orig, m_conv in zip(_WORD.finditer(original), _WORD.finditer(converted), strict=False):
        out.append(converted[last : m_conv.start()])
        word = m_conv.group()
        letters = [c for c in m_orig.group() if c.isascii() and c.isalpha()]
        if len(letters) >= 2 and all(c.isupper() for c in letters):
            word = word.upper()
        out.append(word)
        last = m_conv.end()
    out.append(converted[last:])
    return "".join(out)


def tcvn3_to_unicode(text: str, *, upper: bool = False) -> str:
    converted = "".join(TCVN3.get(c, c) for c in text)
    if upper:
        return converted.upper()
    if len(_WORD.findall(text)) == len(_WORD.findall(converted)):
        return _upper_words(text, converted)
    return converted


def vni_to_unicode(text: str) -> str:
    return _VNI_PATTERN.sub(lambda m: VNI[m.group()], text)


def detect(text: str, font: str | None = None) -> str:
    """ "tcvn3", "vni" or "" for one cell's text (and its font when known).

    Even in a legacy-font cell, text is converted only when it holds a character that Unicode
    Vietnamese never uses (a Unicode "Không" typed into a .VnTime cell stays as it is).
    """
    if _UNICODE_VI.search(text) or not _LATIN1_HIGH.search(text):
        return ""
    vni_strong = len(_VNI_STRONG.findall(text))
    by_font = legacy_font(font)
    if by_font == "tcvn3" and any(c in _TCVN3_ONLY for c in text):
        return "tcvn3"
    if by_font == "vni" and (vni_strong or any(c in _VNI_ONLY for c in text)):
        return "vni"
    # Content alone: TCVN3 codes below 0xC0 (á à ạ ă â đ ư…) are frequent and never VNI.
    # and a code at or above 0xC0 right after a consonant ("Së"), where a VNI mark cannot be.
    tcvn_low = sum(1 for c in text if c in _TCVN3_ONLY and c < "\u00c0") + len(
        _TCVN3_AFTER_CONSONANT.findall(text)
    )
    enough = 1 if len(text) <= 20 else 2
    if tcvn_low >= enough and tcvn_low > vni_strong:
        return "tcvn3"
    if vni_strong >= enough and vni_strong > tcvn_low:
        return "vni"
    return ""  # no signal, or as much of one as of the other: left as typed


def to_unicode(text: str, encoding: str, font: str | None = None) -> str:
    if encoding == "tcvn3":
        upper = bool(font) and font is not None and font.strip().upper().endswith("H")
        return unicodedata.normalize("NFC", tcvn3_to_unicode(text, upper=upper))
    if encoding == "vni":
        return unicodedata.normalize("NFC", vni_to_unicode(text))
    return text


# --- fonts of .xlsx cells --------------------------------------------------------------------------

_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_REL_NS = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_PKG_REL_NS = "{http://schemas.openxmlformats.org/package/2006/relationships}"


def _sheet_paths(zf: zipfile.ZipFile) -> dict[str, str]:
    """Sheet name (NFC) → zip path of its XML."""
    wb = ElementTree.fromstring(zf.read("xl/workbook.xml"))
    rels = ElementTree.fromstring(zf.read("xl/_rels/workbook.xml.rels"))
    targets = {r.get("Id"): r.get("Target", "") for r in rels.iter(f"{_PKG_REL_NS}Relationship")}
    paths: dict[str, str] = {}
    for sheet in wb.iter(f"{_NS}sheet"):
        target = targets.get(sheet.get(f"{_REL_NS}id"), "")
        path = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
        paths[unicodedata.normalize("NFC", sheet.get("name", ""))] = path
    return paths


def _run_fonts(zf: zipfile.ZipFile) -> dict[int, str]:
    """Shared string index → font of its first run, for strings that carry run fonts."""
    try:
        raw = zf.read("xl/sharedStrings.xml")
    except KeyError:
        return {}
    if b"rFont" not in raw:
        return {}
    fonts: dict[int, str] = {}
    for n, si in enumerate(ElementTree.fromstring(raw).iter(f"{_NS}si")):
        for rfont in si.iter(f"{_NS}rFont"):
            fonts[n] = rfont.get("val", "")
            break
    return fonts


def cell_fonts(path: Path, wanted: dict[str, set[str]]) -> dict[tuple[str, str], str]:
    """(sheet, "D7") → font name of each wanted cell of an .xlsx whose font is a legacy one.

    Cheap when no legacy font is used: only xl/styles.xml is parsed.
    """
    found: dict[tuple[str, str], str] = {}
    with zipfile.ZipFile(path) as zf:
        raw_styles = zf.read("xl/styles.xml")
        run_fonts = {k: v for k, v in _run_fonts(zf).items() if legacy_font(v)}
        low = raw_styles.lower()
        if not run_fonts and b".vn" not in low and b"vni" not in low:
            return found  # no legacy font name anywhere in the styles: nothing to parse
        styles = ElementTree.fromstring(raw_styles)
        fonts_node = styles.find(f"{_NS}fonts")
        names = [
            (f.find(f"{_NS}name").get("val", "") if f.find(f"{_NS}name") is not None else "")
            for f in (fonts_node if fonts_node is not None else [])
        ]
        xfs_node = styles.find(f"{_NS}cellXfs")
        xf_fonts = [int(x.get("fontId", "0")) for x in (xfs_node if xfs_node is not None else [])]
        xf_font = {n: names[i] for n, i in enumerate(xf_fonts) if i < len(names)}
        if not any(legacy_font(f) for f in xf_font.values()) and not run_fonts:
            return found
        default = xf_font.get(0, "")
        paths = _sheet_paths(zf)
        for sheet, refs in wanted.items():
            if sheet not in paths:
                continue
            root = ElementTree.fromstring(zf.read(paths[sheet]))
            for c in root.iter(f"{_NS}c"):
                ref = c.get("r", "")
                if ref not in refs:
                    continue
                font = xf_font.get(int(c.get("s", "0")), default)
                if c.get("t") == "s" and run_fonts:
                    v = c.find(f"{_NS}v")
                    if v is not None and v.text and v.text.isdigit() and int(v.text) in run_fonts:
                        font = run_fonts[int(v.text)]
                if legacy_font(font):
                    found[(sheet, ref)] = font
    return found


# --- the pipeline's hook -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Conversion:
    key: str
    sheet: str
    cell: str
    original: str
    converted: str
    encoding: str  # "tcvn3" | "vni"
    font: str  # "" when detected from the content alone


ENCODING_VI = {"tcvn3": "TCVN3 (ABC)", "vni": "VNI"}


def _may_convert(text: str) -> bool:
    """Whether `detect` could name an encoding for this text under some font.

    Without a character that Unicode Vietnamese never uses (TCVN3 or VNI) and without a VNI
    mark after a vowel, `detect` says "" whatever the font: such text ("Quý I", typed in every
    report) is not a candidate, and the workbook's fonts are not looked up for it.
    """
    if _UNICODE_VI.search(text) or not _LATIN1_HIGH.search(text):
        return False
    return any(c in _TCVN3_ONLY or c in _VNI_ONLY for c in text) or _VNI_STRONG.search(text) is not None


def convert_read(path: Path, kind: str, read: WorkbookRead) -> list[Conversion]:
    """Replace legacy-encoded text in `read.cells` by Unicode; what was converted, and where."""
    candidates = {
        key: c for key, c in read.cells.items() if isinstance(c.value, str) and _may_convert(c.value)
    }
    if not candidates:
        return []
    fonts: dict[tuple[str, str], str] = {}
    if kind == "xlsx":
        wanted: dict[str, set[str]] = {}
        for c in candidates.values():
            wanted.setdefault(c.sheet, set()).add(c.cell)
        try:
            fonts = cell_fonts(path, wanted)
        except (zipfile.BadZipFile, KeyError, ValueError, ElementTree.ParseError, OSError):
            fonts = {}  # fonts unreadable: the content decides
        except Exception:  # defusedxml refuses a hostile file; reading already reported it
            fonts = {}
    done: list[Conversion] = []
    for key, c in candidates.items():
        assert isinstance(c.value, str)
        font = fonts.get((c.sheet, c.cell), "")
        encoding = detect(c.value, font)
        if not encoding:
            continue
        converted = to_unicode(c.value, encoding, font)
        if converted == c.value:
            continue
        read.cells[key] = RawCell(c.sheet, c.cell, converted)
        done.append(Conversion(key, c.sheet, c.cell, c.value, converted, encoding, font))
    return done


def issues(schema: Schema, file: str, unit: str, conversions: list[Conversion]) -> list[Issue]:
    """One "legacy-encoding" warning per converted cell."""
    found: list[Issue] = []
    for c in conversions:
        shown = c.converted if len(c.converted) <= 80 else c.converted[:77] + "..."
        detail = ENCODING_VI[c.encoding] + (f" (phông {c.font})" if c.font else "")
        found.append(
            make_issue(
                schema,
                "legacy-encoding",
                file=file,
                sheet=c.sheet,
                cell=c.cell,
                unit=unit,
                key=c.key,
                value=shown,
                detail=detail,
            )
        )
    return found
