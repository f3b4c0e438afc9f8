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

from pipeline.zipdates import ZIP_DATE_TIME

_LOCAL = struct.Struct("<4sHHHHHIIIHH")
_CENTRAL = struct.Struct("<4s6H3I5H2I")
_END = struct.Struct("<4s4H2IH")
_DOS_TIME = (ZIP_DATE_TIME[3] << 11) | (ZIP_DATE_TIME[4] << 5) | (ZIP_DATE_TIME[5] // 2)
_DOS_DATE = ((ZIP_DATE_TIME[0] - 1980) << 9) | (ZIP_DATE_TIME[1] << 5) | ZIP_DATE_TIME[2]
_UTF8_NAME = 0x800
_MODE = 0o100644 << 16  # a regular file, rw-r--r--, as zipdates.fixed_dates writes it
_LIMIT = 0xFFFFFFFF


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
        out: list[bytes] = []
        central: list[bytes] = []
        offset = 0
        for member in self.order:
            if member in self._removed:
                continue
            raw_name = member.encode("utf-8")
            flags = 0 if raw_name.isascii() else _UTF8_NAME
            if member in self._changed:
                content = self._changed[member]
                packer = zlib.compressobj(level, zlib.DEFLATED, -15)
                body = packer.compress(content) + packer.flush()
                method, crc, size = zipfile.ZIP_DEFLATED, zlib.crc32(content), len(content)
            else:
                info = self._infos[member]
                body = self._stored_bytes(info)
                method, crc, size = info.compress_type, info.CRC, info.file_size
            if offset > _LIMIT or len(body) > _LIMIT or size > _LIMIT:
                raise PackageError("zip64 is not written")
            head = _LOCAL.pack(
                b"PK\x03\x04", 20, flags, method, _DOS_TIME, _DOS_DATE, crc, len(body), size, len(raw_name), 0
            )
            central.append(
                _CENTRAL.pack(
                    b"PK\x01\x02",
                    (3 << 8) | 20,
                    20,
                    flags,
                    method,
                    _DOS_TIME,
                    _DOS_DATE,
                    crc,
                    len(body),
                    size,
                    len(raw_name),
                    0,
                    0,
                    0,
                    0,
                    _MODE,
                    offset,
                )
                + raw_name
            )
            out += (head, raw_name, body)
            offset += len(head) + len(raw_name) + len(body)
        directory = b"".join(central)
        count = len(central)
        end = _END.pack(b"PK\x05\x06", 0, 0, count, count, len(directory), offset, 0)
        return b"".join(out) + directory + end

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
