"""The Word boundary: every .docx this project writes is assembled here.

A document is the package skeleton plus a body. The skeleton (`templates/word/khung-van-ban.docx`:
styles in Times New Roman 14, A4 portrait, margins top and bottom 20 mm, left 30 mm, right 15 mm,
the page number centred in the header from the second page on — Nghị định 30/2020/NĐ-CP) is made
through python-docx by `build_skeleton` (this module is its only importer); `python -m
pipeline.ooxml.docx` rebuilds it and a test fails when the committed one is stale. Runs never import
python-docx: its members are copied already compressed.

The body is WordprocessingML written here from texts, element for element what python-docx
writes for the same calls: a national report has 20,000 paragraphs and table rows, too many to
make through python-docx on every run (docs/performance.md). Long lists (one item per unit) go through `Paper.repeated`:
they are cut into chunks where the items say so (a hash of the unit code), and each chunk is a
piece of word/document.xml compressed on its own (pipeline.ooxml.zipwriter), kept in a piece
store (the caller's: pipeline.store.cache) under a digest of its items and of the code that renders it, so a rerun
compresses only the chunks whose units changed.

Saving is deterministic: fixed core properties (the run's as-of) and fixed zip entry dates, so
the same inputs give byte-identical files, whether chunks come from the cache or not.
"""

from __future__ import annotations

import functools
import hashlib
import io
import re
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pipeline.ooxml.zipdates import ZIP_DATE_TIME, fixed_dates
from pipeline.ooxml.zipwriter import Deflater, Entry, PartBuilder, PieceStore, write_zip

FONT = "Times New Roman"
BODY_SIZE = 14
SKELETON = Path(__file__).resolve().parents[2] / "templates" / "word" / "khung-van-ban.docx"
DOCUMENT = "word/document.xml"
CORE = "docProps/core.xml"

__all__ = [
    "Item",
    "Paper",
    "Run",
    "build_skeleton",
    "bullet_xml",
    "package",
    "paragraph_xml",
    "row_renderer",
    "run_xml",
]


# ------------------------------------------------------------------ units


def _twips(mm: float) -> int:
    """Millimetres → twentieths of a point, rounded as python-docx rounds Mm(...).twips."""
    return round(mm * 36000 / 635)


def _twentieths(pt: float) -> int:
    return round(pt * 20)


def _half_points(pt: float) -> int:
    return round(pt * 2)


FIRST_LINE = _twips(10)  # body paragraphs: first line indented 10 mm

# ------------------------------------------------------------------ runs and paragraphs

# Characters XML 1.0 does not allow (control characters from a unit's cells): dropped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def xml_text(text: str) -> str:
    """Text for an element's content: escaped, characters XML cannot hold dropped."""
    if _NOT_XML.search(text):
        text = _NOT_XML.sub("", text)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _t(text: str) -> str:
    """One <w:t>, keeping leading or trailing spaces as python-docx does."""
    space = ' xml:space="preserve"' if text != text.strip() else ""
    return f"<w:t{space}>{xml_text(text)}</w:t>"


def _run_content(text: str) -> str:
    """Tabs and line breaks become <w:tab/> and <w:br/>, as python-docx's run.text does."""
    if "\t" not in text and "\n" not in text and "\r" not in text:
        return _t(text)
    out: list[str] = []
    piece = ""
    for ch in text:
        if ch in "\t\n\r":
            if piece:
                out.append(_t(piece))
                piece = ""
            out.append("<w:tab/>" if ch == "\t" else "<w:br/>")
        else:
            piece += ch
    if piece:
        out.append(_t(piece))
    return "".join(out)


def run_xml(text: str, *, bold: bool = False, italic: bool = False, size: float | None = None) -> str:
    """A run; the font comes from the Normal style (rPr children in schema order: b, i, sz)."""
    props = ("<w:b/>" if bold else "") + ("<w:i/>" if italic else "")
    if size is not None:
        props += f'<w:sz w:val="{_half_points(size)}"/>'
    rpr = f"<w:rPr>{props}</w:rPr>" if props else ""
    return f"<w:r>{rpr}{_run_content(text)}</w:r>"


_JC = {"justify": "both", "center": "center", "left": "left", "right": "right"}


def paragraph_xml(
    runs: str,
    *,
    align: str | None = "justify",
    indent: bool = True,
    space_after: float | None = 6,
    keep_next: bool = False,
) -> str:
    """A paragraph around already written runs (pPr children in schema order); `align` None
    leaves the alignment to the style."""
    props = "<w:keepNext/>" if keep_next else ""
    if space_after is not None:
        props += f'<w:spacing w:after="{_twentieths(space_after)}"/>'
    if indent and align == "justify":
        props += f'<w:ind w:firstLine="{FIRST_LINE}"/>'
    if align is not None:
        props += f'<w:jc w:val="{_JC[align]}"/>'
    return f"<w:p><w:pPr>{props}</w:pPr>{runs}</w:p>"


@dataclass(frozen=True)
class Run:
    """Part of a paragraph with its own emphasis."""

    text: str
    bold: bool = False
    italic: bool = False
    size: float | None = None

    def xml(self) -> str:
        return run_xml(self.text, bold=self.bold, italic=self.italic, size=self.size)


def bullet_xml(text: str, bold_prefix: str = "") -> str:
    """ "- " then an optional bold lead-in then the text: the bullets of reports and letters."""
    runs = run_xml("- ") + (run_xml(bold_prefix, bold=True) if bold_prefix else "") + run_xml(text)
    return paragraph_xml(runs)


# ------------------------------------------------------------------ tables

_TBL_LOOK = (
    '<w:tblLook w:firstColumn="1" w:firstRow="1" w:lastColumn="0" w:lastRow="0" '
    'w:noHBand="0" w:noVBand="1" w:val="04A0"/>'
)


def table_start_xml(widths_mm: Sequence[float], *, center: bool = False, grid: bool = False) -> str:
    """<w:tbl>, its properties and its grid: fixed layout, column widths in the grid
    (LibreOffice reads these); every cell carries its width too (Word reads those)."""
    style = '<w:tblStyle w:val="TableGrid"/>' if grid else ""
    jc = '<w:jc w:val="center"/>' if center else ""
    cols = "".join(f'<w:gridCol w:w="{_twips(w)}"/>' for w in widths_mm)
    return (
        f'<w:tbl><w:tblPr>{style}<w:tblW w:type="auto" w:w="0"/>{jc}<w:tblLayout w:type="fixed"/>'
        f"{_TBL_LOOK}</w:tblPr><w:tblGrid>{cols}</w:tblGrid>"
    )


def cell_xml(width_mm: float, paragraphs: str) -> str:
    return f'<w:tc><w:tcPr><w:tcW w:type="dxa" w:w="{_twips(width_mm)}"/></w:tcPr>{paragraphs}</w:tc>'


def row_xml(cells: str, *, header: bool = False) -> str:
    """A table row; a header row is repeated at the top of every page."""
    props = '<w:trPr><w:tblHeader w:val="true"/></w:trPr>' if header else ""
    return f"<w:tr>{props}{cells}</w:tr>"


def cell_line_xml(
    text: str,
    *,
    bold: bool = False,
    italic: bool = False,
    size: float = 13,
    space_after: float = 0,
    align: str | None = "center",
) -> str:
    """One line in a table cell: no indent, its own spacing (`align` None: the style's)."""
    return paragraph_xml(
        run_xml(text, bold=bold, italic=italic, size=size), align=align, indent=False, space_after=space_after
    )


def row_renderer(
    widths_mm: Sequence[float], aligns: Sequence[str], *, size: float = 12
) -> Callable[[Sequence[str]], str]:
    """A function from a row's cell texts to the row's XML, each cell one line as `cell_line_xml`
    writes it: the XML around each text is made once (a national table has 10,000 rows)."""
    mark = "\ue000"  # a private-use character: never in the XML around the text
    frames = []
    for width, align in zip(widths_mm, aligns, strict=True):
        before, found, after = cell_xml(width, cell_line_xml(mark, size=size, align=align)).partition(
            _t(mark)
        )
        if not found:
            raise RuntimeError("cell without its text")
        frames.append((before, after))

    def render(texts: Sequence[str]) -> str:
        return (
            "<w:tr>"
            + "".join([b + _run_content(t) + a for (b, a), t in zip(frames, texts, strict=True)])
            + "</w:tr>"
        )

    return render


TABLE_END = "</w:tbl>"
PAGE_BREAK = '<w:p><w:r><w:br w:type="page"/></w:r></w:p>'


# ------------------------------------------------------------------ the package


@dataclass(frozen=True)
class Skeleton:
    """The package around a document's body: entries as stored, the body's XML frame."""

    entries: tuple[Entry, ...]  # in package order; DOCUMENT and CORE are replaced
    before_body: str  # word/document.xml up to and with <w:body>
    after_body: str  # the section properties and the closing tags


def _stored_entries(data: bytes) -> Iterator[Entry]:
    """Each entry's compressed bytes, read from its local header (never compressed again)."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for info in zf.infolist():
            if info.compress_type != zipfile.ZIP_DEFLATED:
                raise ValueError(f"{info.filename}: not deflated")
            start = info.header_offset
            name_len, extra_len = struct.unpack_from("<HH", data, start + 26)
            begin = start + 30 + name_len + extra_len
            yield Entry(info.filename, data[begin : begin + info.compress_size], info.CRC, info.file_size)


@functools.cache
def skeleton() -> Skeleton:
    """The committed skeleton, read once a process (built in memory if the file is missing)."""
    data = SKELETON.read_bytes() if SKELETON.is_file() else build_skeleton()
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        document = zf.read(DOCUMENT).decode("utf-8")
    head, found, tail = document.partition("<w:body>")
    section = tail.find("<w:sectPr")
    if not found or section < 0:
        raise ValueError(f"{SKELETON}: no body or section properties")
    return Skeleton(tuple(_stored_entries(data)), head + found, tail[section:])


_CORE_XML = (
    "<?xml version='1.0' encoding='UTF-8' standalone='yes'?>\n"
    '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
    'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" '
    'xmlns:dcmitype="http://purl.org/dc/dcmitype/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
    "<dc:title>{title}</dc:title><dc:subject/><dc:creator>{author}</dc:creator><cp:keywords/>"
    "<dc:description/><cp:lastModifiedBy>{author}</cp:lastModifiedBy><cp:revision>1</cp:revision>"
    '<dcterms:created xsi:type="dcterms:W3CDTF">{stamp}</dcterms:created>'
    '<dcterms:modified xsi:type="dcterms:W3CDTF">{stamp}</dcterms:modified>'
    "<cp:category/><cp:lastPrinted>{stamp}</cp:lastPrinted></cp:coreProperties>"
)


def core_entry(title: str, author: str, stamp: datetime) -> Entry:
    """docProps/core.xml: title, author, and every date the given moment (W3CDTF, UTC)."""
    if stamp.tzinfo is not None:
        stamp = stamp.astimezone(UTC)
    text = _CORE_XML.format(
        title=xml_text(title), author=xml_text(author), stamp=stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
    )
    return Entry.of(CORE, encode(text))


def document_entry(xml: str) -> Entry:
    """word/document.xml of a short document, compressed whole."""
    return Entry.of(DOCUMENT, encode(xml))


def package(document: Entry, core: Entry) -> bytes:
    """The .docx bytes: the skeleton's entries with this document's body and properties."""
    own = {DOCUMENT: document, CORE: core}
    out = io.BytesIO()
    write_zip(out, [own.get(entry.name, entry) for entry in skeleton().entries])
    return out.getvalue()


def encode(xml: str) -> bytes:
    """UTF-8; a lone surrogate (not valid XML text) becomes "?"."""
    return xml.encode("utf-8", "replace")


# ------------------------------------------------------------------ the document


Item = tuple[str | int | float | None, ...]  # the first field, a str, names the item (a unit code)
_CHUNK_MASK = 127  # a chunk ends after an item whose name hashes to 0 modulo 128: ~128 items
_CHUNK_MAX = 512


@dataclass(frozen=True)
class _Repeated:
    name: str
    items: Sequence[Item]
    render: Callable[[Item], str]

    def chunks(self) -> Iterator[Sequence[Item]]:
        """Consecutive items cut where the item itself says so (a hash of its name, e.g. the unit
        code): one unit added, removed or moved changes only the chunks around it."""
        items, crc32 = self.items, zlib.crc32
        ends = [
            i
            for i, item in enumerate(items)
            if not crc32(str(item[0]).encode("utf-8", "replace")) & _CHUNK_MASK
        ]
        start = 0
        for end in [*ends, len(items) - 1]:
            while end - start >= _CHUNK_MAX:  # a long run without a cut: cut by count
                yield items[start : start + _CHUNK_MAX]
                start += _CHUNK_MAX
            if end >= start:
                yield items[start : end + 1]
                start = end + 1

    def key(self, chunk: Sequence[Item]) -> bytes:
        """A digest of the chunk's items (the piece store is kept under the program's fingerprint,
        so the code that renders them need not be in the key). The repr of str, int, float and
        None (and tuples of them) is exact and depends on content only: equal keys mean equal
        items, whichever equal strings are one object."""
        data = repr((self.name, tuple(chunk))).encode("utf-8", "surrogatepass")
        return hashlib.blake2b(data, digest_size=16).digest()

    def xml(self, chunk: Sequence[Item]) -> str:
        render = self.render
        return "".join([render(item) for item in chunk])

    def encoded(self, chunk: Sequence[Item]) -> tuple[bytes, bytes]:
        return encode(self.xml(chunk)), b""


class Paper:
    """A document being written: paragraphs, tables, the header block, deterministic save."""

    def __init__(self, title: str, author: str) -> None:
        self.title = title
        self.author = author
        self._parts: list[str | _Repeated] = []
        self.compressed = self.reused = 0  # chunks of lists, after `to_bytes`

    # ------------------------------------------------------------ building blocks

    def add(self, xml: str) -> None:
        """Body XML written by the caller (a table row, a bullet from `bullet_xml`...)."""
        self._parts.append(xml)

    def paragraph(
        self,
        text: str | Sequence[Run] = "",
        *,
        bold: bool = False,
        italic: bool = False,
        size: float | None = None,
        align: str = "justify",
        indent: bool = True,
        space_after: float = 6,
        keep_next: bool = False,
    ) -> None:
        """A paragraph of one run (`text`) or of several runs with their own emphasis."""
        if isinstance(text, str):
            runs = run_xml(text, bold=bold, italic=italic, size=size) if text else ""
        else:
            runs = "".join(r.xml() for r in text)
        self.add(
            paragraph_xml(runs, align=align, indent=indent, space_after=space_after, keep_next=keep_next)
        )

    def heading(self, text: str) -> None:
        """A section heading: bold, justified, kept with the next paragraph (ND30 body headings)."""
        self.paragraph(text, bold=True, keep_next=True)

    def bullet(self, text: str, *, bold_prefix: str = "") -> None:
        self.add(bullet_xml(text, bold_prefix))

    def page_break(self) -> None:
        self.add(PAGE_BREAK)

    def repeated(self, name: str, items: Sequence[Item], render: Callable[[Item], str]) -> None:
        """One block of body XML per item (a unit's bullet or table row), in order.

        `render(item)` must depend on the item alone and on code (its module's source is part
        of every chunk's key): the items are the key. The first field of an item names it (a
        unit code) and decides where chunks end.
        """
        if items:
            self._parts.append(_Repeated(name, items, render))

    def header_block(
        self, parent: str, issuing: str, number: str, excerpt: str, nation: str, motto: str, place_date: str
    ) -> None:
        """Left: parent body, issuing body (bold), number, excerpt; right: nation, motto, date."""
        widths = (62, 103)
        left = (
            cell_line_xml(parent.upper(), size=13)
            + cell_line_xml(issuing, bold=True, size=13)
            + cell_line_xml("―――――", size=9, space_after=4)
            + cell_line_xml(number, size=13)
            + (cell_line_xml(excerpt, size=12) if excerpt else "")
        )
        right = (
            cell_line_xml(nation, bold=True, size=12.5)
            + cell_line_xml(motto, bold=True, size=13.5)
            + cell_line_xml("――――――――――", size=9, space_after=4)
            + cell_line_xml(place_date, italic=True, size=13.5)
        )
        self.add(
            table_start_xml(widths, center=True)
            + row_xml(cell_xml(widths[0], left) + cell_xml(widths[1], right))
            + TABLE_END
        )
        self.paragraph("", space_after=6)

    def signature(self, label: str, recipients: list[str], title: str) -> None:
        """The recipients on the left under their `label` (bold italic; the lines 11 pt), the
        signer's title on the right (bold)."""
        widths = (85, 80)
        left = cell_line_xml(label, bold=True, italic=True, size=12, align=None)
        left += "".join(cell_line_xml(line, size=11, align=None) for line in recipients)
        right = paragraph_xml(
            run_xml(title, bold=True, size=14), align="center", indent=False, space_after=None
        )
        self.add(
            table_start_xml(widths)
            + row_xml(cell_xml(widths[0], left) + cell_xml(widths[1], right))
            + TABLE_END
        )

    def table_start(self, header: Sequence[str], widths_mm: Sequence[float], *, size: float = 12) -> None:
        """A bordered, centred table and its bold header row, repeated on every page; the
        rows follow (`repeated` or `add`), then `table_end`."""
        cells = "".join(
            cell_xml(w, cell_line_xml(text, bold=True, size=size))
            for text, w in zip(header, widths_mm, strict=True)
        )
        self.add(table_start_xml(widths_mm, center=True, grid=True) + row_xml(cells, header=True))

    def table_end(self) -> None:
        self.add(TABLE_END)

    # ------------------------------------------------------------ saving

    def body_xml(self) -> str:
        """word/document.xml in full."""
        frame = skeleton()
        parts = [frame.before_body]
        for part in self._parts:
            if isinstance(part, str):
                parts.append(part)
            else:
                parts.extend(part.xml(chunk) for chunk in part.chunks())
        parts.append(frame.after_body)
        return "".join(parts)

    def document_entry(self, store: PieceStore | None = None, part: str = "") -> Entry:
        """word/document.xml in pieces: the text between lists in one piece each, each chunk of
        a list a piece of its own, taken from `store` (under `part`) when its key is there;
        the store then keeps this document's chunks only."""
        frame = skeleton()
        builder = PartBuilder(DOCUMENT, store.load_pieces(part) if store is not None else {}, Deflater())
        pending = [frame.before_body]
        for block in self._parts:
            if isinstance(block, str):
                pending.append(block)
                continue
            builder.fresh(encode("".join(pending)))
            pending = []
            for chunk in block.chunks():
                builder.cached(block.key(chunk), functools.partial(block.encoded, chunk))
        pending.append(frame.after_body)
        builder.fresh(encode("".join(pending)))
        document = builder.finish(b"", b"")
        self.compressed = len(document.new)
        self.reused = len(document.used) - len(document.new)
        if store is not None:
            store.save_pieces(part, document.new, builder.unused())
        return Entry.of_part(document)

    def to_bytes(self, stamp: datetime, store: PieceStore | None = None, part: str = "") -> bytes:
        """The .docx bytes; core properties dated `stamp` (the run's as-of)."""
        return package(self.document_entry(store, part), core_entry(self.title, self.author, stamp))


# ------------------------------------------------------------------ the skeleton (python-docx)


def build_skeleton() -> bytes:
    """The skeleton through python-docx: Normal style, A4 section, page numbers, empty body."""
    import docx
    from docx.enum.section import WD_ORIENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml.ns import qn
    from docx.shared import Mm, Pt

    doc = docx.Document()
    normal = doc.styles["Normal"]
    font = normal.font
    font.name = FONT
    font.size = Pt(BODY_SIZE)
    rpr = normal.element.get_or_add_rPr()
    fonts = rpr.find(qn("w:rFonts"))
    if fonts is None:
        fonts = rpr.makeelement(qn("w:rFonts"), {})
        rpr.append(fonts)
    for attr in ("w:ascii", "w:hAnsi", "w:cs", "w:eastAsia"):
        fonts.set(qn(attr), FONT)
    normal.paragraph_format.space_after = Pt(6)
    normal.paragraph_format.space_before = Pt(0)
    section = doc.sections[0]
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.orientation = WD_ORIENT.PORTRAIT
    section.top_margin = section.bottom_margin = Mm(20)
    section.left_margin, section.right_margin = Mm(30), Mm(15)
    # The page number centred in the header, from the second page on (Nghị định 30).
    header = section.header.paragraphs[0]
    header.alignment = WD_ALIGN_PARAGRAPH.CENTER
    run = header.add_run()
    run.font.size = Pt(13)
    for kind in ("begin", "instr", "end"):
        if kind == "instr":
            field = run.element.makeelement(qn("w:instrText"), {qn("xml:space"): "preserve"})
            field.text = "PAGE"
        else:
            field = run.element.makeelement(qn("w:fldChar"), {qn("w:fldCharType"): kind})
        run.element.append(field)
    section.different_first_page_header_footer = True
    props = doc.core_properties
    fixed = datetime(*ZIP_DATE_TIME)
    props.author = props.last_modified_by = props.title = ""
    props.created = props.modified = props.last_printed = fixed
    props.revision = 1
    raw = io.BytesIO()
    doc.save(raw)
    return fixed_dates(raw.getvalue())


if __name__ == "__main__":  # python -m pipeline.ooxml.docx: rebuild the committed skeleton
    SKELETON.parent.mkdir(parents=True, exist_ok=True)
    SKELETON.write_bytes(build_skeleton())
    print(SKELETON)
