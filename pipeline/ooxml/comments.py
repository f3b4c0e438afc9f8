"""The comments of a flagged sheet at the XML level: its comments part (ours merged in, anyone
else's kept under ours) and the VML drawing that shows them as notes in Excel, with the
unit's other shapes (form controls) kept.
"""

from __future__ import annotations

import re
from typing import Any

from lxml import etree  # type: ignore[import-untyped]  # no stubs; the trees are typed Any here

from pipeline.core import cellref
from pipeline.ooxml.package import Package
from pipeline.ooxml.parts import ILLEGAL, MAIN, PARSER, VML_O, VML_V, VML_X, dump, local, parse, q


def comment_size(text: str) -> tuple[int, int]:
    """(width, height) in pixels of a comment box that shows `text` whole."""
    rows = sum(len(t) // 45 + 1 for t in text.split("\n"))
    return 320, min(600, 20 * rows + 20)


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
    return "".join(t.text or "" for t in text_el.iter(q("t")))


def _set_text(comment: Any, text: str) -> None:
    for old in comment.findall(q("text")):
        comment.remove(old)
    body = etree.Element(q("text"))
    comment.insert(0, body)  # CT_Comment: <text> before an optional <commentPr>
    t = etree.SubElement(body, q("t"))
    t.text = ILLEGAL.sub("\ufffd", text)
    if text != text.strip() or "\n" in text:
        t.set("{http://www.w3.org/XML/1998/namespace}space", "preserve")


def comments_xml(
    pkg: Package, part: str | None, texts: dict[str, str], author: str
) -> tuple[bytes, list[tuple[str, str]]]:
    """The comments part with `texts` (ref → our text, by `author`) merged in, and every
    (ref, text) in it.

    Our text replaces an earlier comment of ours (by `author`) at the same cell and goes before
    anyone else's.
    """
    if part is not None and pkg.has(part):
        root = parse(pkg.read(part))
    else:
        root = etree.fromstring(f'<comments xmlns="{MAIN}"><authors/><commentList/></comments>', PARSER)
    authors = root.find(q("authors"))
    if authors is None:
        authors = etree.Element(q("authors"))
        root.insert(0, authors)
    names = [a.text or "" for a in authors.findall(q("author"))]
    if author not in names:
        etree.SubElement(authors, q("author")).text = author
        names.append(author)
    ours = str(names.index(author))
    listing = root.find(q("commentList"))
    if listing is None:
        listing = etree.SubElement(root, q("commentList"))
    existing = {str(c.get("ref", "")).upper(): c for c in listing.findall(q("comment"))}
    for ref, text in texts.items():
        comment = existing.get(ref)
        if comment is None:
            comment = etree.SubElement(listing, q("comment"))
            comment.set("ref", ref)
        else:
            by = int(comment.get("authorId", "0") or 0)
            old = comment.find(q("text"))
            if 0 <= by < len(names) and names[by] != author and old is not None:
                text += "\n\n---\n" + _plain(old)
        comment.set("authorId", ours)
        _set_text(comment, text)
    every = [(str(c.get("ref", "")), _plain(c)) for c in listing.findall(q("comment"))]
    return dump(root), every


def vml_xml(pkg: Package, part: str | None, block: int, comments: list[tuple[str, str]]) -> bytes:
    """The VML drawing of a sheet's comments: the unit's other shapes (form controls) kept,
    one note shape per comment."""
    kept: list[Any] = []
    if part is not None and pkg.has(part):
        root = parse(pkg.read(part))
        idmap = root.find(f"{{{VML_O}}}shapelayout/{{{VML_O}}}idmap")
        found = re.match(r"\s*(\d+)", (idmap.get("data") or "") if idmap is not None else "")
        block = int(found.group(1)) if found else block
        for child in root:
            if local(child.tag) == "shapelayout":
                continue
            if local(child.tag) == "shapetype" and child.get("id") == "_x0000_t202":
                continue
            data = child.find(f"{{{VML_X}}}ClientData")
            if local(child.tag) == "shape" and data is not None and data.get("ObjectType") == "Note":
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
