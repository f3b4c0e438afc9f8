"""The one fingerprint every cached thing is kept under.

A cached verdict, score or piece of an output is only as good as what made it: the schema
(form, registry, calendar, rubric, template, catalogue), the program's own code, and the
libraries that read and write the files. The fingerprint is a sha256 over all three; the cache
store (pipeline.store.cache) is emptied whenever it changes, so a new version of the program,
a corrected rule or an upgraded reader never serves an old verdict.
"""

from __future__ import annotations

import hashlib
import sys
import zlib
from collections.abc import Iterator
from functools import cache
from importlib import metadata
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # pipeline/
# What the program reads besides its modules: the Word skeleton every .docx is made from.
PROGRAM_DATA = (PACKAGE_DIR.parent / "templates" / "word",)
# The distributions that read or write the files a verdict or an output is made of.
LIBRARIES = (
    "python-calamine",
    "defusedxml",
    "lxml",
    "olefile",
    "msoffcrypto-tool",
    "openpyxl",
    "xlsxwriter",
    "great-expectations",
    "pandas",
    "numpy",
    "python-docx",
)


def _files(folder: Path, pattern: str) -> list[Path]:
    return sorted(p for p in folder.rglob(pattern) if p.is_file() and "__pycache__" not in p.parts)


def _file_digests(base: Path, files: list[Path]) -> Iterator[bytes]:
    """Each file's name (relative to `base`) and the sha256 of its bytes."""
    for path in files:
        yield path.relative_to(base).as_posix().encode("utf-8") + b"\0"
        yield hashlib.sha256(path.read_bytes()).digest()


@cache
def code_digest() -> str:
    """sha256 over the package's Python sources and the data files it reads (computed once)."""
    h = hashlib.sha256(b"dvcq code\n")
    for chunk in _file_digests(PACKAGE_DIR, _files(PACKAGE_DIR, "*.py")):
        h.update(chunk)
    for folder in PROGRAM_DATA:
        for chunk in _file_digests(folder.parent, _files(folder, "*") if folder.is_dir() else []):
            h.update(chunk)
    return h.hexdigest()


@cache
def library_versions() -> tuple[tuple[str, str], ...]:
    """(distribution, version) of every library in LIBRARIES, with Python's and zlib's."""
    found = [("python", sys.version.split()[0]), ("zlib", zlib.ZLIB_RUNTIME_VERSION)]
    for name in LIBRARIES:
        try:
            found.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            found.append((name, "-"))
    return tuple(found)


def schema_digest(directory: Path) -> str:
    """sha256 over every file of a schema folder (names and contents)."""
    h = hashlib.sha256(b"dvcq schema\n")
    for chunk in _file_digests(directory, _files(directory, "*")):
        h.update(chunk)
    default = PACKAGE_DIR.parent / "schemas" / "codes.csv"
    if not (directory / "codes.csv").is_file() and default.is_file():
        h.update(
            b"default codes.csv\0" + hashlib.sha256(default.read_bytes()).digest()
        )  # what config falls back to
    return h.hexdigest()


def fingerprint(schema_directory: Path) -> str:
    """The fingerprint of everything cached for runs with this schema folder."""
    h = hashlib.sha256(b"dvcq cache fingerprint 1\n")
    h.update(schema_digest(schema_directory).encode() + b"\n")
    h.update(code_digest().encode() + b"\n")
    for name, version in library_versions():
        h.update(f"{name}=={version}\n".encode())
    return h.hexdigest()
