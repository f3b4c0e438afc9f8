"""The package model of an .xlsx edited at the XML level (pipeline.ooxml.annotate): the
namespaces, relationship types and content types it uses, XML parsed without DOCTYPEs or
entities and written back with its declaration, the relationships of a part, the package's
`[Content_Types].xml`, and `xl/styles.xml` with the report sheet's formats and the highlight
fills appended.

Anything here that does not match what this path handles raises `Unsupported`: the caller then
falls back to openpyxl (pipeline.ooxml.edit).
"""

from __future__ import annotations

import copy
import posixpath
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

from lxml import etree  # type: ignore[import-untyped]  # no stubs; the trees are typed Any here

from pipeline.ooxml.package import Package

# Fill of an offending cell by severity (the template's input cells are pale yellow FFFFCC).
HIGHLIGHT = {"error": "FFFF9999", "warning": "FFFFC000", "info": "FFBDD7EE"}


class Unsupported(Exception):
    """This package is not annotated here; the caller uses openpyxl instead (the reason says why)."""


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

DECLARATION = b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def q(tag: str, ns: str = MAIN) -> str:
    return f"{{{ns}}}{tag}"


def parse(data: bytes) -> Any:
    root = etree.fromstring(data, PARSER)
    if root.getroottree().docinfo.doctype:
        raise Unsupported("XML with a DOCTYPE")
    return root


def dump(root: Any) -> bytes:
    return DECLARATION + bytes(etree.tostring(root, xml_declaration=False, encoding="UTF-8"))


def xml_text(value: str) -> str:
    """Element text: XML-escaped, characters XML cannot carry replaced."""
    return ILLEGAL.sub("\ufffd", value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def xml_attr(value: str) -> str:
    """An attribute value between double quotes, whitespace kept."""
    text = xml_text(value).replace('"', "&quot;")
    return text.replace("\n", "&#10;").replace("\r", "&#13;").replace("\t", "&#9;")


def local(tag: object) -> str:
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


class Rels:
    """The relationships of one part (created empty when the part has none yet)."""

    def __init__(self, pkg: Package, source: str) -> None:
        self.source = source
        self.part = rels_name(source)
        if pkg.has(self.part):
            self.root = parse(pkg.read(self.part))
        else:
            self.root = etree.Element(q("Relationships", PKG_R), nsmap={None: PKG_R})
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
                for rel in self.root.iterfind(q("Relationship", PKG_R))
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
        rel = etree.SubElement(self.root, q("Relationship", PKG_R))
        rel.set("Id", f"rId{n}")
        rel.set("Type", kind)
        rel.set("Target", posixpath.relpath(part, posixpath.dirname(self.source) or "."))
        self.changed = True
        self._entries = None
        return f"rId{n}"

    def remove(self, rel_id: str) -> None:
        for rel in self.root.iterfind(q("Relationship", PKG_R)):
            if rel.get("Id") == rel_id:
                self.root.remove(rel)
                self.changed = True
                self._entries = None

    def save(self, pkg: Package) -> None:
        if self.changed:
            pkg.put(self.part, dump(self.root))


class ContentTypes:
    def __init__(self, pkg: Package) -> None:
        self.root = parse(pkg.read("[Content_Types].xml"))
        self.changed = False
        self._overrides = {
            str(el.get("PartName", "")).casefold(): el for el in self.root.iterfind(q("Override", CT))
        }
        self._defaults = {
            str(el.get("Extension", "")).casefold(): str(el.get("ContentType", ""))
            for el in self.root.iterfind(q("Default", CT))
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
        el = etree.SubElement(self.root, q("Override", CT))
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
            pkg.put("[Content_Types].xml", dump(self.root))


# --- styles ------------------------------------------------------------------------------------

_FONTS = (  # plain, bold, title, link: the report sheet's, all Times New Roman
    '<font><sz val="12"/><name val="Times New Roman"/><family val="1"/></font>',
    '<font><b/><sz val="12"/><name val="Times New Roman"/><family val="1"/></font>',
    '<font><b/><sz val="14"/><name val="Times New Roman"/><family val="1"/></font>',
    '<font><u/><sz val="12"/><color rgb="FF0563C1"/><name val="Times New Roman"/><family val="1"/></font>',
)
_HEAD_FILL = "FFD9D9D9"
_FILL = (
    '<fill><patternFill patternType="solid"><fgColor rgb="{rgb}"/><bgColor indexed="64"/>'
    "</patternFill></fill>"
)
_WRAP = '<alignment vertical="top" wrapText="1"/>'


def _extend(parent: Any, tag: str, xml: str) -> int:
    """Append the elements of `xml` to `parent` (one parse), update its count; the index of the first."""
    start = len(parent.findall(q(tag)))
    added = list(etree.fromstring(f'<x xmlns="{MAIN}">{xml}</x>', PARSER))
    parent.extend(added)
    parent.set("count", str(start + len(added)))
    return start


_FONT_NAMES = ("plain", "bold", "title", "link")
_FILLS = "".join(_FILL.format(rgb=rgb) for rgb in (*HIGHLIGHT.values(), _HEAD_FILL))
_FILL_NAMES = (*HIGHLIGHT, "head")


class Styles:
    """styles.xml with the report sheet's formats and the highlight fills appended once, and a
    highlighted clone of each flagged cell's format made on demand."""

    def __init__(self, root: Any) -> None:
        self.root = root
        fonts, fills, xfs = (root.find(q(t)) for t in ("fonts", "fills", "cellXfs"))
        if fonts is None or fills is None or xfs is None or not len(xfs.findall(q("xf"))):
            raise Unsupported("styles.xml without fonts, fills or cell formats")
        self._xfs = xfs
        self._own = xfs.findall(q("xf"))  # the unit's formats, before ours
        first_font = _extend(fonts, "font", "".join(_FONTS))
        font = {name: first_font + n for n, name in enumerate(_FONT_NAMES)}
        first_fill = _extend(fills, "fill", _FILLS)
        self.fill = {name: first_fill + n for n, name in enumerate(_FILL_NAMES)}
        style_xf = ' xfId="0"' if root.find(f"{q('cellStyleXfs')}/{q('xf')}") is not None else ""

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
