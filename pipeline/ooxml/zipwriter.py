"""Zip packages (.xlsx, .docx) whose big parts are made of independently deflated pieces.

A piece is some XML (one unit's rows, or a block of units) compressed on its own as raw deflate
ending with a full flush: the compressor's state is reset and the output ends on a byte boundary
(an empty stored block), so pieces concatenate into one valid deflate stream, closed by an empty
final block. A piece's bytes depend on its XML alone, so a piece cached by an earlier run is
copied into the package as it is, never compressed again.

The zip entry also needs the CRC-32 of the whole part: it is combined from the pieces' CRCs
(zlib's crc32_combine, here in Python: x2nmodp/multmodp of zlib 1.2.12). Each piece keeps its
length operator x^(8·size) mod P, so one combine is one multmodp.

Pieces are cached by a `PieceStore` (the caller's; the runs use pipeline.store.cache) under keys built from their inputs; pieces that
a run did not use are dropped from it. Every entry of the package is dated the same fixed moment
(`zipdates.ZIP_DATE_TIME`), so the same content gives the same bytes.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import IO, Protocol

from pipeline.ooxml.zipdates import ZIP_DATE_TIME

LEVEL = 3  # deflate_fast: level 6 saves ~20 % of the size for ~15 % more time on a cold build
_FINAL_BLOCK = b"\x03\x00"  # an empty final block (fixed Huffman, end-of-block only)
_POLY = 0xEDB88320  # CRC-32, reflected


def _multmodp(a: int, b: int) -> int:
    """a × b modulo the CRC-32 polynomial, reflected (zlib's multmodp); a is never 0."""
    m = 1 << 31
    p = 0
    while True:
        if a & m:
            p ^= b
            if (a & (m - 1)) == 0:
                return p
        m >>= 1
        b = (b >> 1) ^ _POLY if b & 1 else b >> 1


def _x2n_table() -> tuple[int, ...]:
    p = 1 << 30  # x^1
    table = [p]
    for _ in range(1, 32):
        p = _multmodp(p, p)
        table.append(p)
    return tuple(table)


_X2N = _x2n_table()  # x^(2^k) modulo P, k = 0..31


def length_operator(size: int) -> int:
    """x^(8·size) modulo P: what appending `size` bytes does to a CRC (zlib's x2nmodp(size, 3))."""
    p = 1 << 31  # x^0
    k = 3
    while size:
        if size & 1:
            p = _multmodp(_X2N[k & 31], p)
        size >>= 1
        k += 1
    return p


def crc32_combine(crc1: int, crc2: int, operator: int) -> int:
    """CRC-32 of A+B from crc(A), crc(B) and B's length operator."""
    return _multmodp(operator, crc1) ^ crc2


@dataclass(frozen=True)
class Piece:
    """Raw deflate ending with a full flush, with the CRC-32, length and length operator of
    the XML it holds; `meta` is the caller's note about it (e.g. how many rows it holds), kept
    with it so that a rerun need not look at the piece's inputs again."""

    data: bytes
    crc: int
    size: int
    operator: int
    meta: bytes = b""


class PieceStore(Protocol):
    """Where pieces are kept between runs (pipeline.ledger.Ledger)."""

    def load_pieces(self, part: str) -> dict[bytes, Piece]: ...

    def save_pieces(self, part: str, new: dict[bytes, Piece], unused: list[bytes]) -> None: ...


class Deflater:
    """One compressor for many pieces: a full flush resets it, so each piece's bytes are those
    a fresh compressor would give (tests/test_workbook_pieces.py checks it)."""

    def __init__(self, level: int = LEVEL) -> None:
        self._z = zlib.compressobj(level, zlib.DEFLATED, -15)
        self.count = 0  # pieces compressed: what a rerun saves is what it does not count

    def piece(self, xml: bytes, meta: bytes = b"") -> Piece:
        self.count += 1
        data = self._z.compress(xml) + self._z.flush(zlib.Z_FULL_FLUSH)
        return Piece(data, zlib.crc32(xml), len(xml), length_operator(len(xml)), meta)


@dataclass
class PiecedPart:
    """One zip entry made of pieces, in order; `new` holds the pieces compressed by this run."""

    name: str
    pieces: list[Piece] = field(default_factory=list)
    new: dict[bytes, Piece] = field(default_factory=dict)
    used: set[bytes] = field(default_factory=set)

    def crc(self) -> int:
        crc = 0
        for p in self.pieces:
            crc = crc32_combine(crc, p.crc, p.operator)
        return crc

    def size(self) -> int:
        return sum(p.size for p in self.pieces)

    def data(self) -> bytes:
        return b"".join([p.data for p in self.pieces] + [_FINAL_BLOCK])


class PartBuilder:
    """Assembles a pieced part: cached pieces by key and fresh XML (compressed on every run),
    then the part's head and tail around them."""

    def __init__(self, name: str, cached: dict[bytes, Piece], deflater: Deflater) -> None:
        self.part = PiecedPart(name)
        self._cached = cached
        self._deflater = deflater

    def fresh(self, xml: bytes) -> None:
        """XML that changes with every run (a subtotal row): never cached."""
        if xml:
            self.part.pieces.append(self._deflater.piece(xml))

    def cached(self, key: bytes, render: Callable[[], tuple[bytes, bytes]]) -> Piece:
        """The piece stored under `key`, else `render()` (XML, meta) compressed and remembered."""
        piece = self._cached.get(key) or self.part.new.get(key)
        if piece is None:
            xml, meta = render()
            piece = self._deflater.piece(xml, meta)
            self.part.new[key] = piece
        self.part.used.add(key)
        self.part.pieces.append(piece)
        return piece

    def finish(self, head: bytes, tail: bytes) -> PiecedPart:
        """The part: `head`, the pieces added so far, then `tail` (both compressed now)."""
        self.part.pieces = [
            *([self._deflater.piece(head)] if head else []),
            *self.part.pieces,
            *([self._deflater.piece(tail)] if tail else []),
        ]
        return self.part

    def unused(self) -> list[bytes]:
        return [k for k in self._cached if k not in self.part.used]


# ------------------------------------------------------------------ the zip file

_DOS_TIME = (ZIP_DATE_TIME[3] << 11) | (ZIP_DATE_TIME[4] << 5) | (ZIP_DATE_TIME[5] // 2)
_DOS_DATE = ((ZIP_DATE_TIME[0] - 1980) << 9) | (ZIP_DATE_TIME[1] << 5) | ZIP_DATE_TIME[2]
_LOCAL = struct.Struct("<IHHHHHIIIHH")
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")
_END = struct.Struct("<IHHHHIIH")
_UTF8_NAMES = 0x0800
_MAX = 0xFFFFFFFF


def deflate_whole(data: bytes, level: int = LEVEL) -> bytes:
    z = zlib.compressobj(level, zlib.DEFLATED, -15)
    return z.compress(data) + z.flush()


@dataclass(frozen=True)
class Entry:
    """A zip entry ready to write: its bytes as stored (deflated unless `method` is 0, stored),
    with the CRC and size of the original."""

    name: str
    data: bytes
    crc: int
    size: int
    method: int = 8  # zipfile.ZIP_DEFLATED

    @staticmethod
    def of(name: str, content: bytes, level: int = LEVEL) -> Entry:
        return Entry(name, deflate_whole(content, level), zlib.crc32(content), len(content))

    @staticmethod
    def of_part(part: PiecedPart) -> Entry:
        return Entry(part.name, part.data(), part.crc(), part.size())


def write_zip(target: IO[bytes], entries: Iterable[Entry]) -> None:
    """A plain zip (fixed dates, no data descriptors, no zip64) written front to back."""
    central: list[bytes] = []
    offset = 0
    count = 0
    for e in entries:
        name = e.name.encode("utf-8")
        flags = 0 if name.isascii() else _UTF8_NAMES
        if len(e.data) > _MAX or e.size > _MAX or offset > _MAX:
            raise ValueError(f"{e.name}: a zip entry over 4 GiB is not supported")
        header = _LOCAL.pack(
            0x04034B50, 20, flags, e.method, _DOS_TIME, _DOS_DATE, e.crc, len(e.data), e.size, len(name), 0
        )
        target.write(header + name)
        target.write(e.data)
        entry = (0x02014B50, 20, 20, flags, e.method, _DOS_TIME, _DOS_DATE, e.crc, len(e.data), e.size)
        central.append(_CENTRAL.pack(*entry, len(name), 0, 0, 0, 0, 0o644 << 16, offset) + name)
        offset += len(header) + len(name) + len(e.data)
        count += 1
    directory = b"".join(central)
    target.write(directory)
    target.write(_END.pack(0x06054B50, 0, 0, count, count, len(directory), offset, 0))
