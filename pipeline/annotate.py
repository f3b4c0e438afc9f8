"""The unit's own .xlsx annotated at the XML level: the feedback workbook without openpyxl.

Every member of the unit's package is copied as it is stored, except the few that the
annotation changes:

- `xl/styles.xml`: fonts and fills of the report sheet and of the highlights appended, and for
  each flagged cell a clone of its own cell format with the highlight fill (borders, number
  format, font and protection stay the unit's);
- each flagged sheet: the `s=` of the flagged cells (missing cells inserted in order), its
  comments part, VML drawing and relationships (`<legacyDrawing>`), no tab selected;
- the new first sheet "Kết quả kiểm tra": `xl/workbook.xml` (`<sheets>`, defined names'
  `localSheetId` shifted, the active tab), its relationships, `[Content_Types].xml`, the sheet
  titles of `docProps/app.xml`, the modified date of `docProps/core.xml`;
- `xl/calcChain.xml` is dropped (Excel rebuilds it), an earlier "Kết quả kiểm tra" sheet (a
  feedback workbook sent back) is replaced.

What this path does not handle raises `Unsupported` and the caller falls back to openpyxl
(pipeline.fill): a macro-enabled or template workbook (.xlsm/.xltx: openpyxl saves it without
macros as .xlsx), strict OOXML, no styles part, threaded comments on a flagged sheet, a VML
drawing or sheet that is not well-formed XML, rows or cells without their `r=` address on a
flagged sheet, members that are encrypted, compressed other than by deflate, or over 100 MB
unzipped in all, and any XML with a DOCTYPE.
"""

from __future__ import annotations

import copy
import posixpath
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from lxml import etree  # type: ignore[import-untyped]  # no stubs; the trees are typed Any here

from pipeline import cellref
from pipeline.ooxmlzip import Package, PackageError
from pipeline.vietnamese import nfc

FEEDBACK_SHEET = "Kết quả kiểm tra"
COMMENT_AUTHOR = "Sở Nội vụ tỉnh Bình Định"
# Fill of an offending cell by severity (the template's input cells are pale yellow FFFFCC).
HIGHLIGHT = {"error": "FFFF9999", "warning": "FFFFC000", "info": "FFBDD7EE"}
# A unit's file larger than this once unzipped is not annotated (zip bomb guard).
MAX_UNZIPPED_BYTES = 100 * 1024 * 1024
SEVERITY_RANK = {"error": 0, "warning": 1, "info": 2}


@dataclass(frozen=True)
class CellNote:
    """One issue at one cell of the unit's workbook: highlighted, with a comment."""

    sheet: str
    cell: str
    severity: str  # error | warning | info
    text: str


@dataclass(frozen=True)
class ReportRow:
    sheet: str
    cell: str
    text: str
    severity: str  # error | warning | info
    severity_vi: str
    code: str


@dataclass(frozen=True)
class CheckReport:
    """The first sheet of a feedback workbook: who, what, until when, and each thing to fix."""

    title: str
    header: tuple[tuple[str, str], ...]  # (label, value) lines under the title
    rows: tuple[ReportRow, ...]
    footer: tuple[str, ...]  # how to resend


class Unsupported(Exception):
    """This package is not annotated here; the caller uses openpyxl instead (the reason says why)."""


def lines(text: str, width: int) -> int:
    """Lines that wrapped text takes at about `width` characters a line."""
    return sum(max(1, -(-len(part) // width)) for part in text.split("\n"))


def comment_size(text: str) -> tuple[int, int]:
    """(width, height) in pixels of a comment box that shows `text` whole."""
    rows = sum(len(t) // 45 + 1 for t in text.split("\n"))
    return 320, min(600, 20 * rows + 20)


# --- namespaces and content types ----------------------------------------------------------------

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_R = "http://schemas.openxmlformats.org/package/2006/relationships"
CT = "http://schemas.openxmlformats.org/package/2006/content-types"
EP = "http://schemas.openxmlformats.org/officeDocument/2006/extended-properties"
VT = "http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes"
VML_V = "urn:schemas-microsoft-com:vml"
VML_O = "urn:schemas-microsoft-com:office:office"
VML_X = "urn:schemas-microsoft-com:office:excel"

REL_OFFICE_DOC = R + "/officeDocument"
REL_WORKSHEET = R + "/worksheet"
REL_STYLES = R + "/styles"
REL_COMMENTS = R + "/comments"
REL_VML = R + "/vmlDrawing"
REL_CALC_CHAIN = R + "/calcChain"
REL_APP = R + "/extended-properties"
REL_CORE = "http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties"
REL_THREADED = "http://schemas.microsoft.com/office/2017/10/relationships/threadedComment"

CT_WORKBOOK = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
CT_WORKSHEET = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
CT_COMMENTS = "application/vnd.openxmlformats-officedocument.spreadsheetml.comments+xml"
CT_VML = "application/vnd.openxmlformats-officedocument.vmlDrawing"

_DECLARATION = b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
# Worksheet children that must come after <legacyDrawing> (CT_Worksheet sequence).
_AFTER_LEGACY = frozenset(
    (
        "legacyDrawingHF",
        "drawingHF",
        "picture",
        "oleObjects",
        "controls",
        "webPublishItems",
        "tableParts",
        "extLst",
    )
)
_TAB_SELECTED = re.compile(rb"""(<(?:\w+:)?sheetView\b[^>]*?)\s+tabSelected\s*=\s*(["'])(?:1|true)\2""")
_CORE_MODIFIED = re.compile(rb"(<dcterms:modified\b[^>]*>)[^<]*(</dcterms:modified>)")


def _q(tag: str, ns: str = MAIN) -> str:
    return f"{{{ns}}}{tag}"


def _parse(data: bytes) -> Any:
    root = etree.fromstring(data, _PARSER)
    if root.getroottree().docinfo.doctype:
        raise Unsupported("XML with a DOCTYPE")
    return root


def _dump(root: Any) -> bytes:
    return _DECLARATION + bytes(etree.tostring(root, xml_declaration=False, encoding="UTF-8"))


def _text(value: str) -> str:
    """Element text: XML-escaped, characters XML cannot carry replaced."""
    return _ILLEGAL.sub("\ufffd", value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _attr(value: str) -> str:
    """An attribute value between double quotes, whitespace kept."""
    text = _text(value).replace('"', "&quot;")
    return text.replace("\n", "&#10;").replace("\r", "&#13;").replace("\t", "&#9;")


def _local(tag: object) -> str:
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def rels_name(part: str) -> str:
    folder, name = posixpath.split(part)
    return posixpath.join(folder, "_rels", f"{name}.rels")


def resolve(source: str, target: str, mode: str | None = None) -> str | None:
    """The part a relationship of `source` points at; None for external or outside targets."""
    if mode == "External":
        return None
    target = unquote(target)
    if target.startswith("/"):
        path = posixpath.normpath(target.lstrip("/"))
    else:
        path = posixpath.normpath(posixpath.join(posixpath.dirname(source), target))
    return None if path.startswith("..") or path == "." else path


# --- package pieces ------------------------------------------------------------------------------


class _Rels:
    """The relationships of one part (created empty when the part has none yet)."""

    def __init__(self, pkg: Package, source: str) -> None:
        self.source = source
        self.part = rels_name(source)
        if pkg.has(self.part):
            self.root = _parse(pkg.read(self.part))
        else:
            self.root = etree.Element(_q("Relationships", PKG_R), nsmap={None: PKG_R})
        self.changed = False
        self._entries: list[tuple[str, str, str | None]] | None = None

    def __iter__(self) -> Iterator[tuple[str, str, str | None]]:
        """(Id, Type, target part) of each relationship."""
        if self._entries is None:
            self._entries = [
                (
                    rel.get("Id", ""),
                    rel.get("Type", ""),
                    resolve(self.source, rel.get("Target", ""), rel.get("TargetMode")),
                )
                for rel in self.root.iterfind(_q("Relationship", PKG_R))
            ]
        return iter(self._entries)

    def get(self, rel_id: str) -> tuple[str, str | None] | None:
        for rid, kind, part in self:
            if rid == rel_id:
                return kind, part
        return None

    def first(self, kind: str) -> tuple[str, str | None] | None:
        for rid, found, part in self:
            if found == kind:
                return rid, part
        return None

    def add(self, kind: str, part: str) -> str:
        used = {rid for rid, _, _ in self}
        n = len(used) + 1
        while f"rId{n}" in used:
            n += 1
        rel = etree.SubElement(self.root, _q("Relationship", PKG_R))
        rel.set("Id", f"rId{n}")
        rel.set("Type", kind)
        rel.set("Target", posixpath.relpath(part, posixpath.dirname(self.source) or "."))
        self.changed = True
        self._entries = None
        return f"rId{n}"

    def remove(self, rel_id: str) -> None:
        for rel in self.root.iterfind(_q("Relationship", PKG_R)):
            if rel.get("Id") == rel_id:
                self.root.remove(rel)
                self.changed = True
                self._entries = None

    def save(self, pkg: Package) -> None:
        if self.changed:
            pkg.put(self.part, _dump(self.root))


class _ContentTypes:
    def __init__(self, pkg: Package) -> None:
        self.root = _parse(pkg.read("[Content_Types].xml"))
        self.changed = False
        self._overrides = {
            str(el.get("PartName", "")).casefold(): el for el in self.root.iterfind(_q("Override", CT))
        }
        self._defaults = {
            str(el.get("Extension", "")).casefold(): str(el.get("ContentType", ""))
            for el in self.root.iterfind(_q("Default", CT))
        }

    def type_of(self, part: str) -> str:
        found = self._overrides.get("/" + part.casefold())
        if found is not None:
            return str(found.get("ContentType", ""))
        return self._defaults.get(posixpath.basename(part).rpartition(".")[2].casefold(), "")

    def override(self, part: str, content_type: str) -> None:
        if self.type_of(part) == content_type:
            return
        self.remove(part)
        el = etree.SubElement(self.root, _q("Override", CT))
        el.set("PartName", "/" + part)
        el.set("ContentType", content_type)
        self._overrides["/" + part.casefold()] = el
        self.changed = True

    def remove(self, part: str) -> None:
        el = self._overrides.pop("/" + part.casefold(), None)
        if el is not None:
            self.root.remove(el)
            self.changed = True

    def save(self, pkg: Package) -> None:
        if self.changed:
            pkg.put("[Content_Types].xml", _dump(self.root))


@dataclass
class _Sheet:
    name: str
    sheet_id: int
    rel_id: str
    kind: str  # relationship type
    part: str | None
    element: Any


# --- styles ------------------------------------------------------------------------------------

_FONTS = (  # plain, bold, title, link: the report sheet's, all Times New Roman
    '<font><sz val="12"/><name val="Times New Roman"/><family val="1"/></font>',
    '<font><b/><sz val="12"/><name val="Times New Roman"/><family val="1"/></font>',
    '<font><b/><sz val="14"/><name val="Times New Roman"/><family val="1"/></font>',
    '<font><u/><sz val="12"/><color rgb="FF0563C1"/><name val="Times New Roman"/><family val="1"/></font>',
)
_HEAD_FILL = "FFD9D9D9"
_FILL = '<fill><patternFill patternType="solid"><fgColor rgb="{rgb}"/><bgColor indexed="64"/></patternFill></fill>'
_WRAP = '<alignment vertical="top" wrapText="1"/>'


def _extend(parent: Any, tag: str, xml: str) -> int:
    """Append the elements of `xml` to `parent` (one parse), update its count; the index of the first."""
    start = len(parent.findall(_q(tag)))
    added = list(etree.fromstring(f'<x xmlns="{MAIN}">{xml}</x>', _PARSER))
    parent.extend(added)
    parent.set("count", str(start + len(added)))
    return start


_FONT_NAMES = ("plain", "bold", "title", "link")
_FILLS = "".join(_FILL.format(rgb=rgb) for rgb in (*HIGHLIGHT.values(), _HEAD_FILL))
_FILL_NAMES = (*HIGHLIGHT, "head")


class _Styles:
    """styles.xml with the report sheet's formats and the highlight fills appended once, and a
    highlighted clone of each flagged cell's format made on demand."""

    def __init__(self, root: Any) -> None:
        self.root = root
        fonts, fills, xfs = (root.find(_q(t)) for t in ("fonts", "fills", "cellXfs"))
        if fonts is None or fills is None or xfs is None or not len(xfs.findall(_q("xf"))):
            raise Unsupported("styles.xml without fonts, fills or cell formats")
        self._xfs = xfs
        self._own = xfs.findall(_q("xf"))  # the unit's formats, before ours
        first_font = _extend(fonts, "font", "".join(_FONTS))
        font = {name: first_font + n for n, name in enumerate(_FONT_NAMES)}
        first_fill = _extend(fills, "fill", _FILLS)
        self.fill = {name: first_fill + n for n, name in enumerate(_FILL_NAMES)}
        style_xf = ' xfId="0"' if root.find(f"{_q('cellStyleXfs')}/{_q('xf')}") is not None else ""

        def xf(font_id: int, fill_id: int = 0, wrap: bool = False) -> str:
            attrs = f'numFmtId="0" fontId="{font_id}" fillId="{fill_id}" borderId="0"{style_xf} applyFont="1"'
            attrs += ' applyFill="1"' if fill_id else ""
            return f"<xf {attrs}" + (f' applyAlignment="1">{_WRAP}</xf>' if wrap else "/>")

        formats = {
            "title": xf(font["title"]),
            "label": xf(font["bold"]),
            "value": xf(font["plain"], wrap=True),
            "head": xf(font["bold"], self.fill["head"]),
            "link": xf(font["link"], wrap=True),
            **{f"sev-{sev}": xf(font["plain"], self.fill[sev], wrap=True) for sev in HIGHLIGHT},
        }
        first_xf = _extend(xfs, "xf", "".join(formats.values()))
        self.report = {name: first_xf + n for n, name in enumerate(formats)}
        self._count = first_xf + len(formats)
        self._clones: dict[tuple[int, str], int] = {}

    def highlighted(self, xf_index: int, severity: str) -> int:
        """The index of the unit's format `xf_index` with the fill of `severity`."""
        key = (xf_index, severity)
        if key not in self._clones:
            base = self._own[xf_index] if 0 <= xf_index < len(self._own) else self._own[0]
            clone = copy.deepcopy(base)
            clone.set("fillId", str(self.fill.get(severity, self.fill["error"])))
            clone.set("applyFill", "1")
            self._xfs.append(clone)
            self._clones[key] = self._count
            self._count += 1
            self._xfs.set("count", str(self._count))
        return self._clones[key]


# --- the report sheet --------------------------------------------------------------------------

_COLUMNS = (6, 18, 8, 80, 11, 20)
_HEADINGS = ("STT", "Trang tính", "Ô", "Nội dung cần sửa", "Mức độ", "Mã lỗi")


def _str_cell(ref: str, style: int, value: str) -> str:
    space = ' xml:space="preserve"' if value != value.strip() else ""
    return f'<c r="{ref}" s="{style}" t="inlineStr"><is><t{space}>{_text(value)}</t></is></c>'


def report_sheet_xml(report: CheckReport, xf: dict[str, int], sheet_names: dict[str, str]) -> bytes:
    """The worksheet XML of "Kết quả kiểm tra" (the same layout as fill's openpyxl sheet).

    `xf` holds the cell format indexes of styles.xml; `sheet_names` maps a note's (NFC) sheet
    name to the name in the workbook, for the links of the "Ô" column.
    """
    rows: list[str] = []
    merges = ["A1:F1"]
    links: list[str] = []
    rows.append(f'<row r="1">{_str_cell("A1", xf["title"], report.title)}</row>')
    row = 3
    for label, value in report.header:
        merges.append(f"A{row}:C{row}")
        rows.append(
            f'<row r="{row}">{_str_cell(f"A{row}", xf["label"], label)}{_str_cell(f"D{row}", xf["value"], value)}</row>'
        )
        row += 1
    row += 1
    head_row = row
    rows.append(
        f'<row r="{row}">'
        + "".join(_str_cell(f"{cellref.col_letters(c)}{row}", xf["head"], h) for c, h in enumerate(_HEADINGS))
        + "</row>"
    )
    for n, item in enumerate(report.rows, start=1):
        row += 1
        cell_style = xf["value"]
        if item.sheet and item.cell:
            target = cellref.quote_sheet(sheet_names.get(item.sheet, item.sheet)) + "!" + item.cell
            links.append(f'<hyperlink ref="C{row}" location="{_attr(target)}" display="{_attr(item.cell)}"/>')
            cell_style = xf["link"]
        rows.append(
            f'<row r="{row}" ht="{16 * lines(item.text, 75)}" customHeight="1">'
            f'<c r="A{row}" s="{xf["value"]}"><v>{n}</v></c>'
            + _str_cell(f"B{row}", xf["value"], item.sheet)
            + _str_cell(f"C{row}", cell_style, item.cell)
            + _str_cell(f"D{row}", xf["value"], item.text)
            + _str_cell(f"E{row}", xf.get(f"sev-{item.severity}", xf["value"]), item.severity_vi)
            + _str_cell(f"F{row}", xf["value"], item.code)
            + "</row>"
        )
    row += 1
    for line in report.footer:
        row += 1
        merges.append(f"A{row}:F{row}")
        rows.append(
            f'<row r="{row}" ht="{16 * lines(line, 120)}" customHeight="1">{_str_cell(f"A{row}", xf["value"], line)}</row>'
        )
    cols = "".join(
        f'<col min="{c}" max="{c}" width="{w}" customWidth="1"/>' for c, w in enumerate(_COLUMNS, start=1)
    )
    parts = [
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n',
        f'<worksheet xmlns="{MAIN}" xmlns:r="{R}">',
        '<sheetPr><pageSetUpPr fitToPage="1"/></sheetPr>',
        f'<dimension ref="A1:F{row}"/>',
        '<sheetViews><sheetView tabSelected="1" workbookViewId="0">',
        f'<pane ySplit="{head_row}" topLeftCell="A{head_row + 1}" activePane="bottomLeft" state="frozen"/>',
        '<selection pane="bottomLeft" activeCell="A1" sqref="A1"/></sheetView></sheetViews>',
        '<sheetFormatPr defaultRowHeight="15"/>',
        f"<cols>{cols}</cols>",
        f"<sheetData>{''.join(rows)}</sheetData>",
        f'<mergeCells count="{len(merges)}">'
        + "".join(f'<mergeCell ref="{m}"/>' for m in merges)
        + "</mergeCells>",
        f"<hyperlinks>{''.join(links)}</hyperlinks>" if links else "",
        '<pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" footer="0.3"/>',
        '<pageSetup paperSize="9" orientation="landscape" fitToWidth="1" fitToHeight="0"/>',
        "</worksheet>",
    ]
    return "".join(parts).encode("utf-8")


# --- comments ------------------------------------------------------------------------------------

_VML_HEAD = (
    f'<xml xmlns:v="{VML_V}" xmlns:o="{VML_O}" xmlns:x="{VML_X}">'
    '<o:shapelayout v:ext="edit"><o:idmap v:ext="edit" data="{block}"/></o:shapelayout>'
)
_VML_SHAPETYPE = (
    f'<v:shapetype xmlns:v="{VML_V}" xmlns:o="{VML_O}" id="_x0000_t202" coordsize="21600,21600" o:spt="202"'
    ' path="m,l,21600r21600,l21600,xe"><v:stroke joinstyle="miter"/>'
    '<v:path gradientshapeok="t" o:connecttype="rect"/></v:shapetype>'
)
_VML_SHAPE = (
    '<v:shape xmlns:v="{v}" xmlns:o="{o}" xmlns:x="{x}" id="_x0000_s{id}" type="#_x0000_t202"'
    ' style="position:absolute;margin-left:59.25pt;margin-top:1.5pt;width:{w}px;height:{h}px;z-index:{z};'
    'visibility:hidden" fillcolor="#ffffe1" o:insetmode="auto"><v:fill color2="#ffffe1"/>'
    '<v:shadow on="t" color="black" obscured="t"/><v:path o:connecttype="none"/>'
    '<v:textbox style="mso-direction-alt:auto"><div style="text-align:left"></div></v:textbox>'
    '<x:ClientData ObjectType="Note"><x:MoveWithCells/><x:SizeWithCells/>'
    "<x:Anchor>{anchor}</x:Anchor><x:AutoFill>False</x:AutoFill>"
    "<x:Row>{row}</x:Row><x:Column>{col}</x:Column></x:ClientData></v:shape>"
)


def _vml_shape(shape_id: int, z: int, ref: str, text: str) -> str:
    row, col = cellref.from_a1(ref)
    width, height = comment_size(text)
    top = max(0, row - 1)
    # Anchor: left column, x offset, top row, y offset, right column, x offset, bottom row, y offset
    anchor = f"{col + 1}, 15, {top}, 10, {col + 6}, 15, {top + -(-height // 20)}, 4"
    return _VML_SHAPE.format(
        v=VML_V, o=VML_O, x=VML_X, id=shape_id, z=z, w=width, h=height, anchor=anchor, row=row, col=col
    )


def _plain(text_el: Any) -> str:
    return "".join(t.text or "" for t in text_el.iter(_q("t")))


def _set_text(comment: Any, text: str) -> None:
    for old in comment.findall(_q("text")):
        comment.remove(old)
    body = etree.Element(_q("text"))
    comment.insert(0, body)  # CT_Comment: <text> before an optional <commentPr>
    t = etree.SubElement(body, _q("t"))
    t.text = _ILLEGAL.sub("\ufffd", text)
    if text != text.strip() or "\n" in text:
        t.set("{http://www.w3.org/XML/1998/namespace}space", "preserve")


def _comments_xml(
    pkg: Package, part: str | None, texts: dict[str, str]
) -> tuple[bytes, list[tuple[str, str]]]:
    """The comments part with `texts` (ref → our text) merged in, and every (ref, text) in it.

    Our text replaces an earlier comment of ours at the same cell and goes before anyone else's.
    """
    if part is not None and pkg.has(part):
        root = _parse(pkg.read(part))
    else:
        root = etree.fromstring(f'<comments xmlns="{MAIN}"><authors/><commentList/></comments>', _PARSER)
    authors = root.find(_q("authors"))
    if authors is None:
        authors = etree.Element(_q("authors"))
        root.insert(0, authors)
    names = [a.text or "" for a in authors.findall(_q("author"))]
    if COMMENT_AUTHOR not in names:
        etree.SubElement(authors, _q("author")).text = COMMENT_AUTHOR
        names.append(COMMENT_AUTHOR)
    ours = str(names.index(COMMENT_AUTHOR))
    listing = root.find(_q("commentList"))
    if listing is None:
        listing = etree.SubElement(root, _q("commentList"))
    existing = {str(c.get("ref", "")).upper(): c for c in listing.findall(_q("comment"))}
    for ref, text in texts.items():
        comment = existing.get(ref)
        if comment is None:
            comment = etree.SubElement(listing, _q("comment"))
            comment.set("ref", ref)
        else:
            author = int(comment.get("authorId", "0") or 0)
            old = comment.find(_q("text"))
            if 0 <= author < len(names) and names[author] != COMMENT_AUTHOR and old is not None:
                text += "\n\n---\n" + _plain(old)
        comment.set("authorId", ours)
        _set_text(comment, text)
    every = [(str(c.get("ref", "")), _plain(c)) for c in listing.findall(_q("comment"))]
    return _dump(root), every


def _vml_xml(pkg: Package, part: str | None, block: int, comments: list[tuple[str, str]]) -> bytes:
    """The VML drawing of a sheet's comments: the unit's other shapes (form controls) kept,
    one note shape per comment."""
    kept: list[Any] = []
    if part is not None and pkg.has(part):
        root = _parse(pkg.read(part))
        idmap = root.find(f"{{{VML_O}}}shapelayout/{{{VML_O}}}idmap")
        found = re.match(r"\s*(\d+)", (idmap.get("data") or "") if idmap is not None else "")
        block = int(found.group(1)) if found else block
        for child in root:
            if _local(child.tag) == "shapelayout":
                continue
            if _local(child.tag) == "shapetype" and child.get("id") == "_x0000_t202":
                continue
            data = child.find(f"{{{VML_X}}}ClientData")
            if _local(child.tag) == "shape" and data is not None and data.get("ObjectType") == "Note":
                continue
            kept.append(child)
    used = {str(s.get("id", "")) for s in kept}
    shapes: list[str] = []
    shape_id = block * 1024
    for z, (ref, text) in enumerate(comments, start=1):
        shape_id += 1
        while f"_x0000_s{shape_id}" in used:
            shape_id += 1
        shapes.append(_vml_shape(shape_id, z, ref, text))
    body = "".join(etree.tostring(k, encoding="unicode") for k in kept)
    return (_VML_HEAD.format(block=block) + _VML_SHAPETYPE + body + "".join(shapes) + "</xml>").encode(
        "utf-8"
    )


# --- flagged sheets ------------------------------------------------------------------------------


def _merged_top_left(root: Any) -> list[tuple[int, int, int, int]]:
    ranges = []
    for m in root.iterfind(f"{_q('mergeCells')}/{_q('mergeCell')}"):
        try:
            ranges.append(cellref.span(str(m.get("ref", ""))))
        except ValueError:
            continue
    return ranges


@dataclass
class _SheetCells:
    """The rows and cells of one sheet's <sheetData>, found or inserted by position."""

    data: Any
    col_styles: list[tuple[int, int, int]]
    rows: dict[int, Any] = field(default_factory=dict)
    extent: list[int] = field(default_factory=lambda: [-1, -1, -1, -1])

    def __post_init__(self) -> None:
        for row in self.data.iterfind(_q("row")):
            r = row.get("r")
            if r is None or not r.isdigit():
                raise Unsupported("a row without its address")
            self.rows[int(r) - 1] = row

    def cell(self, row: int, col: int) -> tuple[Any, int]:
        """The <c> at (row, col), inserted when missing, and the format it shows."""
        row_el = self.rows.get(row)
        if row_el is None:
            row_el = etree.Element(_q("row"))
            row_el.set("r", str(row + 1))
            after = [r for r in self.rows if r < row]
            if after:
                self.rows[max(after)].addnext(row_el)
            else:
                self.data.insert(0, row_el)
            self.rows[row] = row_el
        ref = cellref.to_a1(row, col)
        before = None
        for c in row_el.iterfind(_q("c")):
            address = c.get("r")
            if address is None:
                raise Unsupported("a cell without its address")
            found = cellref.from_a1(address)[1]
            if found == col:
                return c, int(c.get("s", "0") or 0)
            if found > col:
                before = c
                break
        c = etree.Element(_q("c"))
        c.set("r", ref)
        if before is not None:
            before.addprevious(c)
        else:
            row_el.append(c)
        if "spans" in row_el.attrib:
            del row_el.attrib["spans"]  # an optional hint that the new cell may not fit
        r1, c1, r2, c2 = self.extent
        self.extent = [
            row if r1 < 0 else min(r1, row),
            col if c1 < 0 else min(c1, col),
            max(r2, row),
            max(c2, col),
        ]
        if row_el.get("customFormat") in ("1", "true"):
            return c, int(row_el.get("s", "0") or 0)
        for low, high, style in self.col_styles:
            if low <= col + 1 <= high:
                return c, style
        return c, 0


def _col_styles(root: Any) -> list[tuple[int, int, int]]:
    found = []
    for col in root.iterfind(f"{_q('cols')}/{_q('col')}"):
        try:
            found.append(
                (int(col.get("min", "0")), int(col.get("max", "0")), int(col.get("style", "0") or 0))
            )
        except ValueError:
            continue
    return found


def _widen_dimension(root: Any, extent: list[int]) -> None:
    dim = root.find(_q("dimension"))
    if dim is None or extent[0] < 0:
        return
    try:
        r1, c1, r2, c2 = cellref.span(str(dim.get("ref", "")))
    except ValueError:
        return
    top, left = min(r1, extent[0]), min(c1, extent[1])
    bottom, right = max(r2, extent[2]), max(c2, extent[3])
    dim.set("ref", f"{cellref.to_a1(top, left)}:{cellref.to_a1(bottom, right)}")


def _clear_tab_selected(root: Any) -> None:
    for view in root.iterfind(f"{_q('sheetViews')}/{_q('sheetView')}"):
        if view.get("tabSelected") in ("1", "true"):
            del view.attrib["tabSelected"]


# --- the annotation ------------------------------------------------------------------------------


class _Annotation:
    def __init__(
        self, pkg: Package, notes: Sequence[CellNote], report: CheckReport, modified: datetime
    ) -> None:
        self.pkg = pkg
        self.notes = notes
        self.report = report
        self.modified = modified
        self.types = _ContentTypes(pkg)
        self.new_parts: set[str] = set()

    def free_part(self, pattern: str) -> str:
        n = 1
        while self.pkg.has(pattern.format(n)) or pattern.format(n) in self.new_parts:
            n += 1
        self.new_parts.add(pattern.format(n))
        return pattern.format(n)

    def run(self) -> bytes:
        pkg = self.pkg
        root_rels = _Rels(pkg, "")
        office = root_rels.first(REL_OFFICE_DOC)
        if office is None or office[1] is None or not pkg.has(office[1]):
            raise Unsupported("no workbook part")
        wb_part = office[1]
        if self.types.type_of(wb_part) != CT_WORKBOOK:
            raise Unsupported(f"workbook content type {self.types.type_of(wb_part)!r} (macros, template)")
        wb = _parse(pkg.read(wb_part))
        if wb.tag != _q("workbook"):
            raise Unsupported(f"workbook root {wb.tag} (strict OOXML?)")
        wb_rels = _Rels(pkg, wb_part)
        sheets_el = wb.find(_q("sheets"))
        if sheets_el is None:
            raise Unsupported("no <sheets>")
        sheets: list[_Sheet] = []
        for el in sheets_el.iterfind(_q("sheet")):
            rid = str(el.get(_q("id", R), ""))
            rel = wb_rels.get(rid)
            sheets.append(
                _Sheet(
                    str(el.get("name", "")),
                    int(el.get("sheetId", "0")),
                    rid,
                    rel[0] if rel else "",
                    rel[1] if rel else None,
                    el,
                )
            )
        old = [s for s in sheets if nfc(s.name).casefold() == FEEDBACK_SHEET.casefold()]
        kept = [s for s in sheets if s not in old]
        self.drop_sheets(wb_rels, old, kept)

        styles_rel = wb_rels.first(REL_STYLES)
        if styles_rel is None or styles_rel[1] is None or not pkg.has(styles_rel[1]):
            raise Unsupported("no styles part")
        styles = _Styles(_parse(pkg.read(styles_rel[1])))

        by_name = {nfc(s.name): s for s in kept if s.kind == REL_WORKSHEET and s.part and pkg.has(s.part)}
        grouped: dict[str, dict[str, list[CellNote]]] = {}
        for note in self.notes:
            if note.sheet in by_name and note.cell and cellref.is_a1(note.cell):
                grouped.setdefault(note.sheet, {}).setdefault(note.cell.upper().replace("$", ""), []).append(
                    note
                )
        for name, cells in grouped.items():
            self.annotate_sheet(by_name[name], cells, styles)
        for s in kept:  # one selected tab, ours: several would group the sheets in Excel
            if s.part and nfc(s.name) not in grouped and pkg.has(s.part):
                head = pkg.head(s.part, 8192)  # <sheetViews> comes before <sheetData>
                if b"tabSelected" not in head and (b"sheetData" in head or b"sheetViews>" in head):
                    continue
                data = pkg.read(s.part)
                if b"tabSelected" in data:
                    cleared = _TAB_SELECTED.sub(rb"\1", data)
                    if cleared != data:
                        pkg.put(s.part, cleared)

        wb_dir = posixpath.dirname(wb_part)
        report_part = self.free_part(posixpath.join(wb_dir, "worksheets", "sheet{}.xml"))
        names = {nfc(s.name): s.name for s in kept}
        pkg.put(report_part, report_sheet_xml(self.report, styles.report, names))
        self.types.override(report_part, CT_WORKSHEET)
        rid = wb_rels.add(REL_WORKSHEET, report_part)
        new = etree.Element(_q("sheet"), nsmap={"r": R})
        new.set("name", FEEDBACK_SHEET)
        new.set("sheetId", str(max((s.sheet_id for s in kept), default=0) + 1))
        new.set(_q("id", R), rid)
        sheets_el.insert(0, new)
        self.shift_sheet_indexes(wb, sheets, old)
        calc = wb_rels.first(REL_CALC_CHAIN)
        if calc is not None:  # cell positions by sheet: Excel rebuilds the chain
            wb_rels.remove(calc[0])
            if calc[1]:
                pkg.remove(calc[1])
                self.types.remove(calc[1])
        pkg.put(styles_rel[1], _dump(styles.root))
        pkg.put(wb_part, _dump(wb))
        wb_rels.save(pkg)
        self.update_properties(root_rels, [s.name for s in sheets if s.kind == REL_WORKSHEET], old)
        self.types.save(pkg)
        return pkg.save()

    def drop_sheets(self, wb_rels: _Rels, old: list[_Sheet], kept: list[_Sheet]) -> None:
        """Remove an earlier "Kết quả kiểm tra" (a feedback workbook sent back) with its parts."""
        if not old:
            return
        pkg = self.pkg
        referenced: set[str] = set()
        for s in kept:
            if s.part:
                referenced.update(p for _, _, p in _Rels(pkg, s.part) if p)
        referenced.update(p for _, _, p in wb_rels if p)
        for s in old:
            s.element.getparent().remove(s.element)
            wb_rels.remove(s.rel_id)
            if not s.part:
                continue
            for _, _, target in _Rels(pkg, s.part):
                if target and target not in referenced and target != s.part:
                    pkg.remove(target)
                    pkg.remove(rels_name(target))
                    self.types.remove(target)
            pkg.remove(rels_name(s.part))
            if s.part not in referenced:
                pkg.remove(s.part)
                self.types.remove(s.part)

    def shift_sheet_indexes(self, wb: Any, sheets: list[_Sheet], old: list[_Sheet]) -> None:
        """Sheet positions after ours went first: defined names' localSheetId, the active tab."""
        position: dict[int, int] = {}
        n = 1
        for i, s in enumerate(sheets):
            if s not in old:
                position[i] = n
                n += 1
        for name in list(wb.iterfind(f"{_q('definedNames')}/{_q('definedName')}")):
            local = name.get("localSheetId")
            if local is None:
                continue
            if not local.isdigit() or int(local) not in position:
                name.getparent().remove(name)  # it belonged to the removed sheet
            else:
                name.set("localSheetId", str(position[int(local)]))
        names = wb.find(_q("definedNames"))
        if names is not None and not len(names):
            wb.remove(names)
        for view in wb.iterfind(f"{_q('bookViews')}/{_q('workbookView')}"):
            view.set("activeTab", "0")
            view.set("firstSheet", "0")

    def annotate_sheet(self, sheet: _Sheet, cells: dict[str, list[CellNote]], styles: _Styles) -> None:
        pkg = self.pkg
        assert sheet.part is not None
        root = _parse(pkg.read(sheet.part))
        if root.tag != _q("worksheet"):
            raise Unsupported(f"sheet root {root.tag}")
        rels = _Rels(pkg, sheet.part)
        if any(kind == REL_THREADED for _, kind, _ in rels):
            raise Unsupported("threaded comments")
        data = root.find(_q("sheetData"))
        if data is None:
            raise Unsupported("no <sheetData>")
        merged = _merged_top_left(root)
        table = _SheetCells(data, _col_styles(root))
        texts: dict[str, str] = {}
        for ref in sorted(cells, key=cellref.from_a1):
            items = cells[ref]
            row, col = cellref.from_a1(ref)
            for r1, c1, r2, c2 in merged:  # a merged range is commented at its top-left cell
                if r1 <= row <= r2 and c1 <= col <= c2:
                    row, col = r1, c1
                    break
            cell, shown = table.cell(row, col)
            worst = min(items, key=lambda n: SEVERITY_RANK.get(n.severity, 9)).severity
            cell.set("s", str(styles.highlighted(shown, worst)))
            key = cellref.to_a1(row, col)
            text = "\n\n".join(n.text for n in items)
            texts[key] = f"{texts[key]}\n\n{text}" if key in texts else text
        _widen_dimension(root, table.extent)
        _clear_tab_selected(root)

        comments = rels.first(REL_COMMENTS)
        comments_part = comments[1] if comments else None
        if comments_part is None:
            comments_part = self.free_part(
                posixpath.join(posixpath.dirname(posixpath.dirname(sheet.part)), "comments{}.xml")
            )
            rels.add(REL_COMMENTS, comments_part)
        xml, every = _comments_xml(pkg, comments_part, texts)
        pkg.put(comments_part, xml)
        self.types.override(comments_part, CT_COMMENTS)

        legacy = root.find(_q("legacyDrawing"))
        vml_part = None
        if legacy is not None:
            found = rels.get(str(legacy.get(_q("id", R), "")))
            if found is None or found[0] != REL_VML or found[1] is None:
                raise Unsupported("legacyDrawing without its VML part")
            vml_part = found[1]
        else:
            vml_part = self.free_part(
                posixpath.join(
                    posixpath.dirname(posixpath.dirname(sheet.part)), "drawings", "vmlDrawing{}.vml"
                )
            )
            legacy = etree.Element(_q("legacyDrawing"), nsmap={"r": R})
            legacy.set(_q("id", R), rels.add(REL_VML, vml_part))
            after = next((c for c in root if _local(c.tag) in _AFTER_LEGACY), None)
            if after is not None:
                after.addprevious(legacy)
            else:
                root.append(legacy)
        pkg.put(vml_part, _vml_xml(pkg, vml_part, max(1, sheet.sheet_id), every))
        if self.types.type_of(vml_part) != CT_VML:
            self.types.override(vml_part, CT_VML)
        rels.save(pkg)
        pkg.put(sheet.part, _dump(root))

    def update_properties(self, root_rels: _Rels, worksheets: list[str], old: list[_Sheet]) -> None:
        pkg = self.pkg
        app = root_rels.first(REL_APP)
        if app is not None and app[1] and pkg.has(app[1]):
            root = _parse(pkg.read(app[1]))
            _retitle(root, worksheets, {s.name for s in old})
            pkg.put(app[1], _dump(root))
        core = root_rels.first(REL_CORE)
        if core is not None and core[1] and pkg.has(core[1]):
            stamp = self.modified.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
            data = pkg.read(core[1])
            dated = _CORE_MODIFIED.sub(lambda m: m.group(1) + stamp + m.group(2), data)
            if dated != data:
                pkg.put(core[1], dated)


def _retitle(app: Any, worksheets: list[str], removed: set[str]) -> None:
    """docProps/app.xml: our sheet first among the worksheet titles; titles that cannot be
    matched with the workbook are dropped (optional, Excel rewrites them)."""
    pairs_el, titles_el = app.find(f"{{{EP}}}HeadingPairs"), app.find(f"{{{EP}}}TitlesOfParts")
    if pairs_el is None or titles_el is None:
        for el in (pairs_el, titles_el):
            if el is not None:
                app.remove(el)
        return
    pairs_vec, titles_vec = pairs_el.find(f"{{{VT}}}vector"), titles_el.find(f"{{{VT}}}vector")
    try:
        assert pairs_vec is not None and titles_vec is not None
        variants = list(pairs_vec)
        titles = list(titles_vec)
        offset = 0
        for k in range(0, len(variants) - 1, 2):
            count_el = variants[k + 1][0]
            count = int(count_el.text or "0")
            names = [t.text or "" for t in titles[offset : offset + count]]
            if names == worksheets:
                for t in titles[offset : offset + count]:
                    if (t.text or "") in removed:
                        titles_vec.remove(t)
                first = etree.Element(f"{{{VT}}}lpstr")
                first.text = FEEDBACK_SHEET
                titles_vec.insert(offset, first)
                count_el.text = str(count + 1 - len([n for n in names if n in removed]))
                titles_vec.set("size", str(len(titles_vec)))
                return
            offset += count
    except (AssertionError, IndexError, ValueError, TypeError):
        pass
    app.remove(pairs_el)
    app.remove(titles_el)


def annotated_xlsx(
    source: Path | bytes, notes: Sequence[CellNote], report: CheckReport, *, modified: datetime
) -> bytes:
    """The unit's .xlsx (path or bytes, only read) with each noted cell filled by severity and
    commented, and the report as a new, active first sheet. Unsupported: use openpyxl."""
    try:
        data = source if isinstance(source, bytes) else Path(source).read_bytes()
        pkg = Package(data)
        if pkg.unzipped_size > MAX_UNZIPPED_BYTES:
            raise Unsupported("too large once unzipped")
        return _Annotation(pkg, notes, report, modified).run()
    except Unsupported:
        raise
    except (PackageError, etree.XMLSyntaxError, OSError, KeyError, ValueError, IndexError) as exc:
        raise Unsupported(f"{exc.__class__.__name__}: {exc}") from exc
