"""An Office package (zip) edited member by member: unchanged members are copied as they are
stored (no inflate, no deflate), changed and new ones are deflated, every entry carries the
same fixed date, so the same input and the same edits always give the same bytes.

Only what OOXML packages use is supported: stored or deflated members, no encryption, no
zip64 (a package over 100 MB unzipped is refused before it gets here).
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

from pipeline.ooxml.zipwriter import Entry, write_zip

_LOCAL = struct.Struct("<4sHHHHHIIIHH")


class PackageError(Exception):
    """The zip uses something this writer does not copy (encryption, another compression)."""


def _inflate(raw: bytes, size: int) -> bytes:
    try:
        return zlib.decompress(raw, -15, max(size, 1))
    except zlib.error as exc:
        raise PackageError(f"corrupt member: {exc}") from exc


class Package:
    """The members of a zip, read lazily; `put`/`remove` record edits, `save` writes a new zip."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        try:
            archive = zipfile.ZipFile(io.BytesIO(data))  # BytesIO shares the bytes, no copy
            infos = archive.infolist()
        except (zipfile.BadZipFile, ValueError, OSError) as exc:
            raise PackageError(f"not a zip: {exc}") from exc
        self._archive = archive
        self.order: list[str] = []
        self._infos: dict[str, zipfile.ZipInfo] = {}
        self._folded: dict[str, str] = {}
        for info in infos:
            if info.filename in self._infos or info.is_dir():
                if info.is_dir():
                    continue
                raise PackageError(f"duplicate member {info.filename}")
            if info.flag_bits & 0x1:
                raise PackageError("encrypted member")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise PackageError(f"compression {info.compress_type}")
            self.order.append(info.filename)
            self._infos[info.filename] = info
            self._folded[info.filename.casefold()] = info.filename
        self.unzipped_size = sum(info.file_size for info in infos)
        self._changed: dict[str, bytes] = {}
        self._removed: set[str] = set()

    def name(self, part: str) -> str | None:
        """The member name of an OPC part name (parts are case-insensitive), None if absent."""
        if part in self._changed:
            return part
        found = self._folded.get(part.casefold())
        return None if found is None or found in self._removed else found

    def has(self, part: str) -> bool:
        return self.name(part) is not None

    def read(self, part: str) -> bytes:
        member = self.name(part)
        if member is None:
            raise KeyError(part)
        if member in self._changed:
            return self._changed[member]
        info = self._infos[member]
        raw = self._stored_bytes(info)
        data = raw if info.compress_type == zipfile.ZIP_STORED else _inflate(raw, info.file_size)
        if len(data) != info.file_size or zlib.crc32(data) != info.CRC:
            raise PackageError(f"corrupt member {member}")
        return data

    def head(self, part: str, size: int) -> bytes:
        """About the first `size` bytes of a member (less inflating than `read` for a peek)."""
        member = self.name(part)
        if member is None:
            raise KeyError(part)
        if member in self._changed:
            return self._changed[member][:size]
        info = self._infos[member]
        raw = self._stored_bytes(info)
        if info.compress_type == zipfile.ZIP_STORED:
            return raw[:size]
        try:
            return zlib.decompressobj(-15).decompress(raw, size)
        except zlib.error as exc:
            raise PackageError(f"corrupt member {member}: {exc}") from exc

    def put(self, part: str, data: bytes) -> None:
        member = self.name(part) or part
        self._changed[member] = data
        self._removed.discard(member)
        if member not in self._infos and member not in self.order:
            self.order.append(member)
            self._folded[member.casefold()] = member

    def remove(self, part: str) -> None:
        member = self.name(part)
        if member is not None:
            self._removed.add(member)
            self._changed.pop(member, None)

    def save(self, level: int = 1) -> bytes:
        entries: list[Entry] = []
        for member in self.order:
            if member in self._removed:
                continue
            if member in self._changed:
                entries.append(Entry.of(member, self._changed[member], level))
            else:
                info = self._infos[member]
                entries.append(
                    Entry(member, self._stored_bytes(info), info.CRC, info.file_size, info.compress_type)
                )
        out = io.BytesIO()
        try:
            write_zip(out, entries)
        except ValueError as exc:
            raise PackageError(str(exc)) from exc
        return out.getvalue()

    def _stored_bytes(self, info: zipfile.ZipInfo) -> bytes:
        """The member's compressed bytes as stored, found through its local header."""
        start = info.header_offset
        head = self._data[start : start + _LOCAL.size]
        if len(head) != _LOCAL.size or head[:4] != b"PK\x03\x04":
            raise PackageError(f"bad local header for {info.filename}")
        fields = _LOCAL.unpack(head)
        begin = start + _LOCAL.size + fields[9] + fields[10]
        body = self._data[begin : begin + info.compress_size]
        if len(body) != info.compress_size:
            raise PackageError(f"truncated member {info.filename}")
        return body
