"""The Word boundary: every .docx this project writes is assembled here.

A document is the package skeleton plus a body. The skeleton (`templates/word/khung-van-ban.docx`:
styles in Times New Roman 14, A4 portrait, margins top and bottom 20 mm, left 30 mm, right 15 mm,
the page number centred in the header from the second page on — Nghị định 30/2020/NĐ-CP) is made
through python-docx by `build_skeleton` (this module is its only importer); `python -m
pipeline.word` rebuilds it and a test fails when the committed one is stale. Runs never import
python-docx: its members are copied already compressed.

The body is WordprocessingML written here from texts, element for element what python-docx
writes for the same calls: python-docx costs about 1 ms a paragraph, a national report has
20,000 paragraphs and table rows. Long lists (one item per unit) go through `Paper.repeated`:
they are cut into chunks at item boundaries that depend only on the items, each chunk is
compressed on its own as raw deflate ending in a sync flush (such pieces concatenate into one
valid deflate stream, and their CRCs combine), and a `PieceCache` keeps each compressed chunk by
its inputs, so a rerun compresses only the chunks whose units changed.

Saving is deterministic: fixed core properties (the run's as-of) and fixed zip entry dates, so
the same inputs give byte-identical files, whether chunks come from the cache or not.
"""

from __future__ import annotations

import functools
import hashlib
import io
import pickle
import re
import struct
import sys
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import NamedTuple

from pipeline.zipdates import ZIP_DATE_TIME, fixed_dates

FONT = "Times New Roman"
BODY_SIZE = 14
SKELETON = Path(__file__).resolve().parent.parent / "templates" / "word" / "khung-van-ban.docx"
DOCUMENT = "word/document.xml"
CORE = "docProps/core.xml"
LEVEL = 6  # zlib's default, as zipfile uses

__all__ = ["Paper", "PieceCache", "Run", "build_skeleton", "code_fingerprint", "paragraph_xml", "run_xml"]


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


# ------------------------------------------------------------------ compressed pieces


class Piece(NamedTuple):
    """Part of a zip member: raw deflate ending in a sync flush (not the final block)."""

    crc: int  # CRC-32 of the uncompressed bytes
    size: int  # uncompressed bytes
    shift: int  # x^(8·size) mod the CRC polynomial: combines this CRC after an earlier one
    data: bytes


class Member(NamedTuple):
    """A zip member's compressed data (a complete raw deflate stream) with its CRC and size."""

    crc: int
    size: int
    data: bytes


def deflate_piece(raw: bytes) -> Piece:
    packer = zlib.compressobj(LEVEL, zlib.DEFLATED, -15)
    data = packer.compress(raw) + packer.flush(zlib.Z_SYNC_FLUSH)
    return Piece(zlib.crc32(raw), len(raw), _x8n(len(raw)), data)


def deflate_member(raw: bytes) -> Member:
    packer = zlib.compressobj(LEVEL, zlib.DEFLATED, -15)
    return Member(zlib.crc32(raw), len(raw), packer.compress(raw) + packer.flush())


_FINAL_EMPTY_BLOCK = b"\x03\x00"  # a final fixed-Huffman block holding only end-of-block


def join_pieces(pieces: Iterable[Piece]) -> Member:
    """One member from pieces in order: data concatenated and closed, CRCs combined."""
    crc, size, datas = 0, 0, []
    for piece in pieces:
        crc = _multmodp(piece.shift, crc) ^ piece.crc
        size += piece.size
        datas.append(piece.data)
    datas.append(_FINAL_EMPTY_BLOCK)
    return Member(crc, size, b"".join(datas))


# CRC-32 combination as zlib's crc32_combine does it (Python's zlib does not expose it):
# crc(A‖B) = crc(A)·x^(8·len B) mod P  ⊕  crc(B), in the reflected bit order of CRC-32.
_POLY = 0xEDB88320


def _multmodp(a: int, b: int) -> int:
    """a·b modulo the CRC-32 polynomial (reflected)."""
    m, p = 1 << 31, 0
    while True:
        if a & m:
            p ^= b
            if not a & (m - 1):
                return p
        m >>= 1
        b = (b >> 1) ^ _POLY if b & 1 else b >> 1


def _powers() -> tuple[int, ...]:
    """x^(2^n) mod P for n = 0..31."""
    p = 1 << 30  # x^1
    table = [p]
    for _ in range(31):
        p = _multmodp(p, p)
        table.append(p)
    return tuple(table)


_X2N = _powers()


def _x8n(n: int) -> int:
    """x^(8·n) mod P: the shift of a CRC over n more bytes."""
    p, k = 1 << 31, 3  # x^0; 8·n = n·2^3
    while n:
        if n & 1:
            p = _multmodp(_X2N[k & 31], p)
        n >>= 1
        k += 1
    return p


# ------------------------------------------------------------------ the zip package


def _zip(members: Sequence[tuple[str, Member]]) -> bytes:
    """A zip of already deflated members, every entry dated ZIP_DATE_TIME, mode 0644.

    Written here because zipfile cannot take compressed data; kept to this one function so
    that it can give way to a shared writer of deflated pieces.
    """
    year, month, day, hour, minute, second = ZIP_DATE_TIME
    dos_time = hour << 11 | minute << 5 | second // 2
    dos_date = (year - 1980) << 9 | month << 5 | day
    out: list[bytes] = []
    central: list[bytes] = []
    offset = 0
    for name, m in members:
        encoded = name.encode("ascii")
        local = struct.pack(
            "<IHHHHHIIIHH",
            0x04034B50,
            20,
            0,
            8,
            dos_time,
            dos_date,
            m.crc,
            len(m.data),
            m.size,
            len(encoded),
            0,
        )
        central.append(
            struct.pack(
                "<IHHHHHHIIIHHHHHII",
                0x02014B50,
                3 << 8 | 20,  # made by: Unix, zip 2.0
                20,
                0,
                8,
                dos_time,
                dos_date,
                m.crc,
                len(m.data),
                m.size,
                len(encoded),
                0,
                0,
                0,
                0,
                0o644 << 16,
                offset,
            )
            + encoded
        )
        out += (local, encoded, m.data)
        offset += len(local) + len(encoded) + len(m.data)
    directory = b"".join(central)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(directory), offset, 0)
    return b"".join([*out, directory, end])


@dataclass(frozen=True)
class Skeleton:
    """The package around a document's body: members as stored, the body's XML frame."""

    members: tuple[tuple[str, Member], ...]  # in package order; DOCUMENT and CORE are replaced
    before_body: str  # word/document.xml up to and with <w:body>
    after_body: str  # the section properties and the closing tags
    digest: bytes


def _raw_members(data: bytes) -> Iterator[tuple[str, Member]]:
    """Each member's compressed bytes, read from its local header (no recompression)."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for info in zf.infolist():
            if info.compress_type != zipfile.ZIP_DEFLATED:
                raise ValueError(f"{info.filename}: not deflated")
            start = info.header_offset
            name_len, extra_len = struct.unpack_from("<HH", data, start + 26)
            begin = start + 30 + name_len + extra_len
            yield info.filename, Member(info.CRC, info.file_size, data[begin : begin + info.compress_size])


@functools.cache
def skeleton() -> Skeleton:
    """The committed skeleton, read once a process (built in memory if the file is missing)."""
    data = SKELETON.read_bytes() if SKELETON.is_file() else build_skeleton()
    members = tuple(_raw_members(data))
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        document = zf.read(DOCUMENT).decode("utf-8")
    head, found, tail = document.partition("<w:body>")
    section = tail.find("<w:sectPr")
    if not found or section < 0:
        raise ValueError(f"{SKELETON}: no body or section properties")
    return Skeleton(members, head + found, tail[section:], hashlib.sha256(data).digest())


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


def core_member(title: str, author: str, stamp: datetime) -> Member:
    """docProps/core.xml: title, author, and every date the given moment (W3CDTF, UTC)."""
    if stamp.tzinfo is not None:
        stamp = stamp.astimezone(UTC)
    text = _CORE_XML.format(
        title=xml_text(title), author=xml_text(author), stamp=stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
    )
    return deflate_member(text.encode("utf-8"))


def package(document: Member, core: Member) -> bytes:
    """The .docx bytes: the skeleton's members with this document's body and properties."""
    own = {DOCUMENT: document, CORE: core}
    return _zip([(name, own.get(name, member)) for name, member in skeleton().members])


def encode(xml: str) -> bytes:
    """UTF-8; a lone surrogate (not valid XML text) becomes "?"."""
    return xml.encode("utf-8", "replace")


# ------------------------------------------------------------------ the piece cache


def code_fingerprint(*modules: ModuleType) -> bytes:
    """What compressed chunks depend on besides their inputs: the code that renders them
    (these modules' source), the skeleton, the zlib build and level."""
    h = hashlib.sha256(f"pieces/1 zlib {zlib.ZLIB_RUNTIME_VERSION} level {LEVEL}".encode())
    h.update(skeleton().digest)
    for module in (*modules, sys.modules[__name__]):
        source = getattr(module, "__file__", None)
        h.update(Path(source).read_bytes() if source else module.__name__.encode())
    return h.digest()


_MAGIC = b"DVCQ-PIECES-1\n"
_RECORD = struct.Struct("<16sIIII")  # key, crc, size, shift, length of data


class PieceCache:
    """Compressed chunks of earlier runs by key (a digest of their inputs), in one file.

    The file holds the fingerprint of the code that rendered them; another fingerprint, a
    damaged or foreign file means an empty cache (everything is compressed again). Only the
    chunks used by the latest run are kept.
    """

    def __init__(self, path: Path | None, fingerprint: bytes) -> None:
        self.path, self.fingerprint = path, fingerprint
        self._old: dict[bytes, Piece] = self._read() if path is not None else {}
        self._used: dict[bytes, Piece] = {}
        self.reused = 0

    def _read(self) -> dict[bytes, Piece]:
        assert self.path is not None
        try:
            data = self.path.read_bytes()
        except OSError:
            return {}
        head = len(_MAGIC) + 32 + 8
        if len(data) < head or not data.startswith(_MAGIC):
            return {}
        fingerprint = data[len(_MAGIC) : len(_MAGIC) + 32]
        count, check = struct.unpack_from("<II", data, len(_MAGIC) + 32)
        if fingerprint != self.fingerprint or zlib.crc32(data[head:]) != check:
            return {}
        pieces: dict[bytes, Piece] = {}
        pos = head
        try:
            for _ in range(count):
                key, crc, size, shift, length = _RECORD.unpack_from(data, pos)
                pos += _RECORD.size
                if pos + length > len(data):
                    return {}
                pieces[key] = Piece(crc, size, shift, data[pos : pos + length])
                pos += length
        except struct.error:
            return {}
        return pieces if pos == len(data) else {}

    def piece(self, key: bytes, make: Callable[[], bytes]) -> Piece:
        """The compressed chunk of this key: from the cache, else made (rendered) and deflated."""
        found = self._used.get(key) or self._old.get(key)
        if found is not None:
            self.reused += 1
        else:
            found = deflate_piece(make())
        self._used[key] = found
        return found

    def to_bytes(self) -> bytes:
        body = b"".join(
            _RECORD.pack(key, p.crc, p.size, p.shift, len(p.data)) + p.data for key, p in self._used.items()
        )
        return _MAGIC + self.fingerprint + struct.pack("<II", len(self._used), zlib.crc32(body)) + body

    def __len__(self) -> int:
        """Chunks used by this run."""
        return len(self._used)

    @property
    def changed(self) -> bool:
        """Whether the file should be written again (new chunks, or chunks no longer used)."""
        return self._used.keys() != self._old.keys()


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
        """A digest of the chunk's items. pickle writes every field (it is only read as a
        digest here, never unpickled): equal keys mean equal items."""
        data = pickle.dumps((self.name, chunk), protocol=5)
        return hashlib.blake2b(data, digest_size=16).digest()

    def xml(self, chunk: Sequence[Item]) -> str:
        render = self.render
        return "".join([render(item) for item in chunk])


class Paper:
    """A document being written: paragraphs, tables, the header block, deterministic save."""

    def __init__(self, title: str, author: str) -> None:
        self.title = title
        self.author = author
        self._parts: list[str | _Repeated] = []

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

        `render(item)` must depend on the item alone (and on the code of the calling module,
        which the cache's fingerprint covers): the item is the chunk's cache key. Its first
        field names the item (a unit code) and decides where chunks end.
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

    def signature(self, recipients: list[str], title: str) -> None:
        """Nơi nhận on the left (11 pt), the signer's title on the right (bold)."""
        widths = (85, 80)
        left = cell_line_xml("Nơi nhận:", bold=True, italic=True, size=12, align=None)
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
        """word/document.xml in full (no cache)."""
        frame = skeleton()
        parts = [frame.before_body]
        for part in self._parts:
            if isinstance(part, str):
                parts.append(part)
            else:
                parts.extend(part.xml(chunk) for chunk in part.chunks())
        parts.append(frame.after_body)
        return "".join(parts)

    def document_member(self, cache: PieceCache | None = None) -> Member:
        """word/document.xml compressed: text between lists in one piece each, each chunk of a
        list a piece of its own (from `cache` when its items are unchanged)."""
        frame = skeleton()
        cache = cache if cache is not None else PieceCache(None, b"")
        pieces: list[Piece] = []
        pending = [frame.before_body]
        for part in self._parts:
            if isinstance(part, str):
                pending.append(part)
                continue
            pieces.append(deflate_piece(encode("".join(pending))))
            pending = []
            for chunk in part.chunks():
                pieces.append(cache.piece(part.key(chunk), functools.partial(_encoded, part, chunk)))
        pending.append(frame.after_body)
        pieces.append(deflate_piece(encode("".join(pending))))
        return join_pieces(pieces)

    def to_bytes(self, stamp: datetime, cache: PieceCache | None = None) -> bytes:
        """The .docx bytes; core properties dated `stamp` (the run's as-of)."""
        return package(self.document_member(cache), core_member(self.title, self.author, stamp))


def _encoded(part: _Repeated, chunk: Sequence[Item]) -> bytes:
    return encode(part.xml(chunk))


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
            field = run._r.makeelement(qn("w:instrText"), {qn("xml:space"): "preserve"})
            field.text = "PAGE"
        else:
            field = run._r.makeelement(qn("w:fldChar"), {qn("w:fldCharType"): kind})
        run._r.append(field)
    section.different_first_page_header_footer = True
    props = doc.core_properties
    fixed = datetime(*ZIP_DATE_TIME)
    props.author = props.last_modified_by = props.title = ""
    props.created = props.modified = props.last_printed = fixed
    props.revision = 1
    raw = io.BytesIO()
    doc.save(raw)
    return fixed_dates(raw.getvalue())


if __name__ == "__main__":  # python -m pipeline.word: rebuild the committed skeleton
    SKELETON.parent.mkdir(parents=True, exist_ok=True)
    SKELETON.write_bytes(build_skeleton())
    print(SKELETON)
