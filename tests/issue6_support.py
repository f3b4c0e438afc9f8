"""Helpers for the hostile-file and fault tests (issue 6): real files, real subprocesses."""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zipfile
import zlib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "foreign-spreadsheets"
PERIOD = "2023-Q1"
AS_OF = "2023-04-10T09:00:00+07:00"


@functools.cache
def sample_inbox() -> Path:
    """The 32-unit sample inbox (built once per test session, never modified: copy it)."""
    from pipeline import config
    from pipeline.authoring.sample import build_sample_inbox
    from pipeline.authoring.template import write_template

    root = Path(tempfile.mkdtemp(prefix="issue6-sample-"))
    schema = config.load(None)
    template = write_template(schema, root / "template")
    build_sample_inbox(schema, template, root / "inbox")
    return root / "inbox"


@functools.cache
def template_path() -> Path:
    return (
        sample_inbox().parent
        / "template"
        / next(p.name for p in (sample_inbox().parent / "template").iterdir())
    )


def copy_valid(target: Path, count: int | None = None) -> list[str]:
    """Copy `count` valid sample submissions (all files when None) and receipts.csv into `target`."""
    src = sample_inbox()
    target.mkdir(parents=True, exist_ok=True)
    names = sorted(p.name for p in src.iterdir() if p.suffix == ".xlsx")
    chosen = names if count is None else names[:count]
    for name in [*chosen, "receipts.csv"]:
        shutil.copy2(src / name, target / name)
    return chosen


def run_cli(
    inbox: Path, outbox: Path, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "pipeline", "consolidate", "--period", PERIOD, "--inbox", str(inbox),
         "--outbox", str(outbox), "--as-of", AS_OF],
        cwd=REPO, env=full_env, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


def cli_args(inbox: Path, outbox: Path) -> list[str]:
    return [sys.executable, "-m", "pipeline", "consolidate", "--period", PERIOD,
            "--inbox", str(inbox), "--outbox", str(outbox), "--as-of", AS_OF]  # fmt: skip


def snapshot(folder: Path) -> dict[str, tuple[str, int, int]]:
    """Every file under `folder`: (sha256, size, mtime_ns); the inbox must never change."""
    out: dict[str, tuple[str, int, int]] = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            st = path.stat()
            out[path.relative_to(folder).as_posix()] = (
                hashlib.sha256(path.read_bytes()).hexdigest(),
                st.st_size,
                st.st_mtime_ns,
            )
    return out


def output_bytes(outbox: Path) -> dict[str, bytes]:
    """The period folder's files, run.json as tests.conftest.comparable gives it."""
    from tests.conftest import comparable

    folder = outbox / PERIOD
    return {p.name: comparable(p.name, p.read_bytes()) for p in sorted(folder.iterdir()) if p.is_file()}


# --- hostile file builders ---------------------------------------------------------------


def _deflate(data: bytes) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


def write_raw_zip(path: Path, members: list[tuple[str, bytes, int, int]]) -> None:
    """A zip from (name, raw deflate data, crc32, uncompressed size), written by hand."""
    with path.open("wb") as fh:
        central = b""
        for name, data, crc, size in members:
            offset = fh.tell()
            encoded = name.encode()
            fh.write(
                struct.pack(
                    "<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 8, 0, 0x21, crc, len(data), size, len(encoded), 0
                )
            )
            fh.write(encoded)
            fh.write(data)
            central += struct.pack(
                "<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, 0, 8, 0, 0x21, crc, len(data), size,
                len(encoded), 0, 0, 0, 0, 0, offset,
            ) + encoded  # fmt: skip
        start = fh.tell()
        fh.write(central)
        fh.write(
            struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, len(members), len(members), len(central), start, 0)
        )


def zip_bomb(path: Path, template: Path, gib: int = 1, member: str = "xl/worksheets/sheet5.xml") -> Path:
    """The template with one sheet replaced by `gib` GiB of valid sheet XML (~1 MB on disk).

    The sheet is rows of one cell, the worst case for a reader. Each segment is deflated
    with a full flush, which makes it byte-aligned and independent: the 4 MiB block of rows
    is compressed once and repeated, so the test never compresses a GiB.
    """
    head = (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
    )
    row = b"<row><c><v>1</v></c></row>"
    chunk = row * ((1 << 22) // len(row))
    tail = b"</sheetData></worksheet>"
    count = (gib << 30) // len(chunk)

    def segment(data: bytes, final: bool) -> bytes:
        c = zlib.compressobj(9, zlib.DEFLATED, -15)
        return c.compress(data) + c.flush(zlib.Z_FINISH if final else zlib.Z_FULL_FLUSH)

    crc = zlib.crc32(head)
    for _ in range(count):
        crc = zlib.crc32(chunk, crc)
    crc = zlib.crc32(tail, crc)
    data = segment(head, False) + segment(chunk, False) * count + segment(tail, True)
    size = len(head) + len(chunk) * count + len(tail)
    members = []
    with zipfile.ZipFile(template) as zf:
        for info in zf.infolist():
            if info.filename == member:
                members.append((info.filename, data, crc, size))
            else:
                raw = zf.read(info.filename)
                members.append((info.filename, _deflate(raw), zlib.crc32(raw), len(raw)))
    write_raw_zip(path, members)
    return path


BILLION_LAUGHS = b"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1" uniqueCount="1"><si><t>&lol9;</t></si></sst>
"""


def replace_member(src: Path, target: Path, member: str, data: bytes) -> Path:
    """A copy of the zip `src` with `member` replaced (or added)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            if info.filename != member:
                zout.writestr(info.filename, zin.read(info.filename))
        zout.writestr(member, data)
    return target


# --- a job of pipeline.runtime.pool that reads a workbook with python-calamine, unscreened ------
# (what a read worker would do if screening missed a hostile file: the test proves the crash
# costs that one file only)


def setup(payload: object) -> object:
    return payload


def handle(state: object, path: str) -> str:
    import python_calamine

    book = python_calamine.CalamineWorkbook.from_path(path)
    for name in book.sheet_names:
        book.get_sheet_by_name(name).to_python()
    return "read"
