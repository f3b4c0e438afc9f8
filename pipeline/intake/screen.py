"""Safety screening of a file before any parser sees it.

Decided from the file's first bytes, the zip's central directory and (for OLE files) the
compound-file directory only: nothing is decompressed beyond a few kilobytes of XML prologue.
A file that fails here is refused with its own catalogue code; it never reaches calamine,
which aborts the whole process on a decompression bomb (see docs: measured facts).

Screening works on the file's bytes in memory (`examine`), so that a worker reads a file
once for its sha256, its screening and its reading; a zip that passes is handed on as an
`Archive` (its directory parsed once, members inflated straight from those bytes).
"""

from __future__ import annotations

import hashlib
import io
import os
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

ZIP_MAGIC = b"PK\x03\x04"
ZIP_EMPTY = b"PK\x05\x06"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ODS_MIME = b"application/vnd.oasis.opendocument.spreadsheet"

# Caps: far above any real report (a filled template is ~30 KB, 4 sheets, ~20 members).
MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_MEMBERS = 2000
MAX_TOTAL_UNCOMPRESSED = 200 * 1024 * 1024
MAX_MEMBER_UNCOMPRESSED = 100 * 1024 * 1024
MAX_RATIO = 200  # uncompressed / compressed, for members larger than RATIO_FLOOR
RATIO_FLOOR = 1024 * 1024
XML_PROLOGUE = 4096  # bytes of each XML member inspected for DTD / entity declarations

SPREADSHEET_EXTENSIONS = {".xls", ".xlsx", ".xlsm", ".xlsb", ".ods", ".xlt", ".xltx", ".xltm", ".csv"}
SYSTEM_NAMES = {".ds_store", "thumbs.db", "desktop.ini", ".gitkeep", ".localized"}


@dataclass
class Screened:
    """The sniffed type (xlsx | xlsb | ods | xls | "") and, if refused, why."""

    kind: str = ""
    ignore_code: str = ""
    reject_code: str = ""
    params: dict[str, str] = field(default_factory=dict)

    @property
    def refused(self) -> bool:
        return bool(self.ignore_code or self.reject_code)


def name_code(base: str) -> str:
    """A code for names that are never reports, from the base name alone ("" otherwise)."""
    low = base.lower()
    if base.startswith("~$") or (base.startswith(".~lock.") and base.endswith("#")):
        return "lock-file"
    if low in SYSTEM_NAMES or base.startswith("._"):
        return "system-file"
    return ""


def too_large(size: int) -> Screened | None:
    """The refusal of an empty or oversized file, decided from its size alone."""
    if size == 0:
        return Screened(reject_code="file-empty")
    if size > MAX_FILE_BYTES:
        return Screened(
            reject_code="file-too-large",
            params={
                "size": f"{size / 1024 / 1024:.0f} MB",
                "limit": f"{MAX_FILE_BYTES // 1024 // 1024} MB",
            },
        )
    return None


def unreadable(exc: OSError) -> Screened:
    return Screened(reject_code="file-unreadable", params={"detail": exc.strerror or str(exc)})


def screen(path: Path, size: int | None = None) -> Screened:
    """Everything decided before parsing; never raises for a bad file."""
    try:
        if size is None:
            size = path.stat().st_size
        refusal = too_large(size)
        if refusal is not None:
            return refusal
        data = read_bounded(path)
    except OSError as exc:
        return unreadable(exc)
    return examine(data, path.suffix)[0]


def sha256_of(path: Path) -> str:
    """The sha256 of a file's bytes, read in blocks (a file too large to hold)."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_bounded(path: Path) -> bytes:
    """The file's bytes, at most MAX_FILE_BYTES + 1 of them (more means too large).

    Sized from the open file: asking for MAX_FILE_BYTES at once would allocate 20 MB per file.
    """
    with open(path, "rb", buffering=0) as fh:
        data = fh.read(min(os.fstat(fh.fileno()).st_size, MAX_FILE_BYTES) + 1)
        while 0 < len(data) <= MAX_FILE_BYTES:  # short read, or the file grew: read on, bounded
            more = fh.read(MAX_FILE_BYTES + 1 - len(data))
            if not more:
                break
            data += more
    return data


def examine(data: bytes, suffix: str) -> tuple[Screened, Archive | None]:
    """Screening of a file's bytes (`suffix`: its extension), and the zip when it passed as one."""
    refusal = too_large(len(data))
    if refusal is not None:
        return refusal, None
    head = data[:4096]
    if head.startswith(OLE_MAGIC):
        return _screen_ole(data, suffix), None
    if head.startswith(ZIP_MAGIC) or head.startswith(ZIP_EMPTY):
        return _screen_zip(data, suffix)
    return _screen_other(head, suffix.lower()), None


def _screen_other(head: bytes, suffix: str) -> Screened:
    text = _text_kind(head)
    if suffix in SPREADSHEET_EXTENSIONS and suffix != ".csv":
        if text == "html":
            return Screened(reject_code="file-html")
        if text in ("csv", "text"):
            return Screened(reject_code="file-text")
        return Screened(reject_code="file-unknown-format")
    if suffix == ".csv":
        return Screened(reject_code="file-text")
    return Screened(ignore_code="not-spreadsheet")


def _text_kind(head: bytes) -> str:
    """ "html" | "csv" | "text" | "" (binary) for the first bytes of a non-zip, non-OLE file."""
    sample = head.lstrip(b"\xef\xbb\xbf\xff\xfe\xfe\xff \t\r\n")
    low = sample[:512].lower().replace(b"\x00", b"")
    if low.startswith((b"<!doctype html", b"<html", b"<?xml", b"<table", b"<meta", b"<head", b"<body")) or (
        b"<html" in low or b"<table" in low
    ):
        return "html"
    if b"\x00" in head[:512] and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return ""
    try:
        decoded = head.decode("utf-8")
    except UnicodeDecodeError:
        try:
            decoded = head.decode("cp1258")
        except UnicodeDecodeError:
            return ""
    printable = sum(1 for ch in decoded if ch.isprintable() or ch in "\r\n\t")
    if printable < 0.95 * max(1, len(decoded)):
        return ""
    first = decoded.splitlines()[0] if decoded.splitlines() else ""
    return "csv" if any(sep in first for sep in (",", ";", "\t")) else "text"


# --- zip -------------------------------------------------------------------------------

_INFLATABLE = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
_PLAIN_FLAGS = 0x0002 | 0x0004 | 0x0008 | 0x0800  # deflate options, data descriptor, UTF-8 name


class Archive:
    """A zip held in memory: its directory parsed once, members inflated from the bytes.

    Stored and deflated members with a plain local header are inflated directly (no
    ZipExtFile per member); anything else, or anything unexpected, goes through zipfile,
    so that a damaged member fails exactly as zipfile makes it fail.
    """

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.zf = zipfile.ZipFile(io.BytesIO(data))
        self.infos = self.zf.infolist()
        self._inflated: dict[str, bytes] = {}
        self._stored: dict[tuple[str, int], bytes | None] = {}

    def stored(self, info: zipfile.ZipInfo) -> bytes | None:
        """The member's bytes as stored (compressed), or None when they are not plainly there."""
        key = (info.filename, info.header_offset)
        if key not in self._stored:
            self._stored[key] = self._find_stored(info)
        return self._stored[key]

    def _find_stored(self, info: zipfile.ZipInfo) -> bytes | None:
        data, off = self.data, info.header_offset
        if info.compress_type not in _INFLATABLE or info.flag_bits & ~_PLAIN_FLAGS:
            return None
        if off < 0 or data[off : off + 4] != ZIP_MAGIC or off + 30 > len(data):
            return None
        name_len, extra_len = struct.unpack_from("<HH", data, off + 26)
        name = data[off + 30 : off + 30 + name_len]
        try:
            if name.decode("utf-8" if info.flag_bits & 0x800 else "cp437") != info.orig_filename:
                return None
        except UnicodeDecodeError:
            return None
        start = off + 30 + name_len + extra_len
        end = start + info.compress_size
        return data[start:end] if end <= len(data) else None

    def prefix(self, info: zipfile.ZipInfo, limit: int, stored: bytes | None = None) -> bytes:
        """At most `limit` bytes of a member, without inflating the rest."""
        if info.filename in self._inflated:
            return self._inflated[info.filename][:limit]
        raw = self.stored(info) if stored is None else stored
        if raw is not None:
            limit = min(limit, info.file_size)
            if info.compress_type == zipfile.ZIP_STORED:
                return raw[:limit]
            try:
                return zlib.decompressobj(-15).decompress(raw, limit)
            except zlib.error:
                pass  # let zipfile raise its own error
        with self.zf.open(info) as fh:
            return fh.read(limit)

    def read(self, name: str) -> bytes:
        """A whole member (KeyError when absent); checked against its size and CRC-32."""
        if name in self._inflated:
            return self._inflated[name]
        info = self.zf.getinfo(name)
        raw = self.stored(info)
        out: bytes | None = None
        if raw is not None:
            try:
                out = (
                    raw
                    if info.compress_type == zipfile.ZIP_STORED
                    else zlib.decompressobj(-15).decompress(raw, info.file_size + 1)
                )
            except zlib.error:
                out = None
            if out is not None and (len(out) != info.file_size or zlib.crc32(out) != info.CRC):
                out = None  # damaged: zipfile says how
        if out is None:
            out = self.zf.read(info)
        self._inflated[name] = out
        return out

    def close(self) -> None:
        self.zf.close()


# Members already found free of DTDs, by their stored bytes: the members that every file made
# from the template shares (styles, theme, workbook, relationships) are inflated once per worker.
# Keyed by the bytes themselves (not by the CRC-32 the file declares, which a file can forge).
_CLEAN: dict[tuple[int, int, bytes], bool] = {}
_CLEAN_MAX = 512
_CLEAN_SIZE = 64 * 1024  # stored bytes: larger members are checked every time, never kept


def _screen_zip(data: bytes, suffix: str) -> tuple[Screened, Archive | None]:
    archive: Archive | None = None
    try:
        archive = Archive(data)
        screened = _screen_archive(archive, suffix)
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        EOFError,
        zlib.error,
        ValueError,
        NotImplementedError,
    ) as exc:
        screened = Screened(reject_code="file-truncated", params={"detail": exc.__class__.__name__})
    except OSError as exc:
        screened = unreadable(exc)
    if screened.kind and archive is not None:
        return screened, archive
    if archive is not None:
        archive.close()
    return screened, None


def _screen_archive(archive: Archive, suffix: str) -> Screened:
    zf, infos = archive.zf, archive.infos
    refusal = _zip_caps(infos)
    if refusal is not None:
        return refusal
    names = {i.filename for i in infos}
    if any(i.flag_bits & 0x1 for i in infos):
        return Screened(reject_code="file-encrypted")
    kind = ""
    if "xl/workbook.xml" in names:
        kind = "xlsx"
    elif "xl/workbook.bin" in names:
        kind = "xlsb"
    elif "mimetype" in names and archive.prefix(zf.getinfo("mimetype"), 128).strip() == ODS_MIME:
        kind = "ods"
    if kind == "ods" and _ods_encrypted(archive, names):
        return Screened(reject_code="file-encrypted")
    if not kind:
        if suffix.lower() in SPREADSHEET_EXTENSIONS:
            return Screened(reject_code="file-unknown-format")
        return Screened(ignore_code="not-spreadsheet")
    for info in infos:
        if info.filename.lower().endswith((".xml", ".rels", ".vml")) and _has_dtd(archive, info):
            return Screened(reject_code="file-unsafe-xml", params={"detail": info.filename})
    return Screened(kind=kind)


def _zip_caps(infos: list[zipfile.ZipInfo]) -> Screened | None:
    if len(infos) > MAX_MEMBERS:
        return Screened(reject_code="file-bomb", params={"detail": f"{len(infos)} thành phần"})
    total = 0
    for info in infos:
        name = info.filename
        if name.startswith("/") or "\\" in name or ".." in name or ":" in name or "\x00" in name:
            pure = PurePosixPath(name.replace("\\", "/"))  # the exact rule, for names that need it
            if pure.is_absolute() or ".." in pure.parts or ":" in name or "\x00" in name:
                return Screened(reject_code="file-unsafe-path", params={"detail": name})
        total += info.file_size
        if info.file_size > MAX_MEMBER_UNCOMPRESSED or total > MAX_TOTAL_UNCOMPRESSED:
            return Screened(
                reject_code="file-bomb", params={"detail": f"{name}: {info.file_size:,} byte khi giải nén"}
            )
        if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(1, info.compress_size):
            ratio = info.file_size // max(1, info.compress_size)
            return Screened(reject_code="file-bomb", params={"detail": f"{name}: nén {ratio} lần"})
        if name.lower().endswith(
            (".zip", ".gz", ".7z", ".rar")
        ):  # spreadsheets in a zip of attachments are screened one by one
            return Screened(reject_code="file-bomb", params={"detail": f"tệp nén lồng nhau {name}"})
    return None


def _has_dtd(archive: Archive, info: zipfile.ZipInfo) -> bool:
    stored = archive.stored(info)
    key = None
    if stored is not None and len(stored) <= _CLEAN_SIZE:  # a template's members are small
        key = (info.compress_type, info.file_size, stored)
    if key is not None and key in _CLEAN:
        return False
    head = archive.prefix(info, XML_PROLOGUE, stored)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        head = head.replace(b"\x00", b"")
    low = head.upper()
    found = b"<!DOCTYPE" in low or b"<!ENTITY" in low
    if key is not None and not found:
        if len(_CLEAN) >= _CLEAN_MAX:
            _CLEAN.clear()
        _CLEAN[key] = False
    return found


def _ods_encrypted(archive: Archive, names: set[str]) -> bool:
    if "META-INF/manifest.xml" not in names:
        return False
    info = archive.zf.getinfo("META-INF/manifest.xml")
    if info.file_size > 1024 * 1024:
        return False
    return b"encryption-data" in archive.prefix(info, 1024 * 1024)


# --- OLE compound file (.xls, and encrypted OOXML) ------------------------------------
# olefile reads the compound-file directory; msoffcrypto-tool says whether the workbook is
# encrypted (an EncryptionInfo stream, or a FILEPASS record in a BIFF8 Workbook stream). Old
# BIFF5 files that msoffcrypto-tool does not know are left to the reader, in its worker.


def _screen_ole(data: bytes, suffix: str) -> Screened:
    import msoffcrypto
    import olefile

    try:
        with olefile.OleFileIO(data) as ole:
            streams = {"/".join(path).lower() for path in ole.listdir(streams=True, storages=False)}
    except Exception as exc:  # olefile raises OSError and others on a broken directory
        return Screened(reject_code="file-truncated", params={"detail": f"OLE: {exc.__class__.__name__}"})
    if "encryptioninfo" in streams or "encryptedpackage" in streams:
        return Screened(reject_code="file-encrypted")
    if "workbook" not in streams and "book" not in streams:
        if suffix.lower() in SPREADSHEET_EXTENSIONS:
            return Screened(reject_code="file-unknown-format")
        return Screened(ignore_code="not-spreadsheet")
    try:
        encrypted = msoffcrypto.OfficeFile(io.BytesIO(data)).is_encrypted()
    except Exception:  # a format msoffcrypto-tool does not know (BIFF5): the reader decides
        encrypted = False
    if encrypted:
        return Screened(reject_code="file-encrypted")
    return Screened(kind="xls")
