"""Reading a submitted workbook: the python-calamine boundary.

Inputs are found through the workbook's defined names (so inserted rows do not break
reading); where a format keeps no names we can read, the schema's own cells are used.

A worker reads thousands of files made from one template: what the template fixes
(xl/workbook.xml with its defined names, the sheets' relationships) is parsed once per
distinct content and kept for the worker's life, keyed by the member's stored bytes.
"""

from __future__ import annotations

import io
import re
import unicodedata
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from functools import cache, partial
from pathlib import Path
from typing import Any, NamedTuple

from defusedxml import ElementTree

from pipeline.core import cellref
from pipeline.core.schema import Schema
from pipeline.core.vietnamese import nfc
from pipeline.intake.screen import Archive

_MAIN_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_REL_NS = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_PKG_REL_NS = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_ODS_TABLE_NS = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"

MAX_ROWS = 2000  # rows read per sheet: the form uses fewer than 100, inserted rows included

CellValue = str | int | float | bool | date | datetime | time | None


class ReadError(Exception):
    """The file cannot be read as a workbook; `detail` says why, in Vietnamese."""

    def __init__(self, detail: str, code: str = "file-unreadable") -> None:
        super().__init__(detail)
        self.detail = detail
        self.code = code  # the catalogue code: file-unreadable | file-encrypted


class RawCell(NamedTuple):
    """An input as found: where, and what (a named tuple: 50 of them per file, built cheaply)."""

    sheet: str
    cell: str
    value: CellValue


@dataclass
class WorkbookRead:
    fingerprint_id: str | None
    fingerprint_version: str | None
    cells: dict[str, RawCell]  # schema key → where and what
    missing: list[str] = field(default_factory=list)  # keys the file has no place for
    located_by: str = "names"  # "names" | "schema"
    # keys whose cell holds a formula with no cached result (calamine reads those as empty),
    # among those asked through check_formulas
    formula_no_value: list[str] = field(default_factory=list)
    # (sheet, "D8") cells → those holding a formula without a cached value (.xlsx only)
    uncached: Callable[[set[tuple[str, str]]], set[tuple[str, str]]] | None = field(
        default=None, repr=False, compare=False
    )

    def check_formulas(self, keys: Iterable[str]) -> list[str]:
        """Those of `keys` whose cell is blank because it holds a formula with no cached value.

        The caller asks only for the inputs whose value is used (applicable to the unit and
        period): the sheet XML is inflated and searched only then. ReadError when the
        workbook's structure turns out to be broken.
        """
        if self.uncached is None:
            return []
        blank: dict[tuple[str, str], str] = {}
        for key in keys:
            c = self.cells.get(key)
            if c is not None and c.value is None:
                blank[(c.sheet, c.cell.replace("$", ""))] = key
        if not blank:
            return []
        try:
            found = self.uncached(set(blank))
        except Exception as exc:
            raise _structure_error(exc) from exc
        keys_found = sorted(blank[c] for c in found if c in blank)
        self.formula_no_value = sorted({*self.formula_no_value, *keys_found})
        return keys_found


# --- where the inputs are ------------------------------------------------------------------


@dataclass(frozen=True)
class _Place:
    key: str
    sheet: str  # NFC
    ref: str  # "D8" (no $), as the issues show it
    row: int
    col: int


@dataclass(frozen=True)
class _Layout:
    """Where each input of the form is, for one set of defined names (or the schema's cells)."""

    places: tuple[_Place, ...]
    missing: tuple[str, ...]
    fingerprint: tuple[_Place | None, _Place | None]  # template_id, template_version (names only)


def _place(key: str, sheet: str, ref: str) -> _Place:
    row, col = cellref.from_a1(ref)
    return _Place(key, nfc(sheet), ref, row, col)


def _layout(schema: Schema, names: dict[str, str] | None) -> _Layout:
    places: list[_Place] = []
    missing: list[str] = []
    for f in schema.fields:
        if names:
            target = cellref.parse_sheet_ref(names[f.key]) if f.key in names else None
            if target is None:
                if f.group != "explanation":  # added in 2023.1's explanation cells: optional
                    missing.append(f.key)
                continue
            places.append(_place(f.key, *target))
        else:
            places.append(_place(f.key, f.sheet, f.cell))
    marks: list[_Place | None] = [None, None]
    if names:
        for n, key in enumerate(("template_id", "template_version")):
            target = cellref.parse_sheet_ref(names.get(key, ""))
            marks[n] = _place(key, *target) if target else None
    return _Layout(tuple(places), tuple(missing), (marks[0], marks[1]))


@cache
def _schema_layout(schema: Schema) -> _Layout:
    return _layout(schema, None)


# --- .xlsx: workbook.xml and relationships, parsed once per distinct content ------------------


@dataclass
class _Book:
    """xl/workbook.xml parsed (safe parser): its names, and where each schema finds its inputs."""

    names: dict[str, str]
    sheet_ids: list[tuple[str, str]]  # (sheet name NFC, relationship id), in workbook order
    layouts: dict[Schema, _Layout] = field(default_factory=dict)  # a Schema hashes by identity

    def layout(self, schema: Schema) -> _Layout:
        found = self.layouts.get(schema)
        if found is None:
            found = self.layouts[schema] = _layout(schema, self.names)
        return found


_BOOKS: dict[tuple[int, int, bytes], _Book] = {}
_MEMBERS: dict[tuple[int, int, bytes, bytes], dict[str, str]] = {}
_CACHE_MAX = 64  # distinct templates (and versions) a worker keeps
# Stored bytes of a member kept as a key: a template's are a few KB; larger members (a hostile
# file's) are parsed every time, never kept, so that 64 of them cannot fill a worker's memory.
_CACHED_SIZE = 64 * 1024


def _stored_key(archive: Archive, name: str) -> tuple[int, int, bytes] | None:
    info = archive.zf.getinfo(name)
    small = info.compress_size <= _CACHED_SIZE and info.file_size <= 16 * _CACHED_SIZE
    stored = archive.stored(info) if small else None
    return None if stored is None else (info.compress_type, info.file_size, stored)


def _parse_book(xml: bytes) -> _Book:
    root = ElementTree.fromstring(xml)
    names: dict[str, str] = {}
    for node in root.iter(f"{_MAIN_NS}definedName"):
        if node.get("localSheetId") is None and node.text:
            names[node.get("name", "")] = node.text
    sheets = [(nfc(s.get("name", "")), s.get(f"{_REL_NS}id", "")) for s in root.iter(f"{_MAIN_NS}sheet")]
    return _Book(names, sheets)


def _book(archive: Archive) -> _Book:
    key = _stored_key(archive, "xl/workbook.xml")
    if key is not None and key in _BOOKS:
        return _BOOKS[key]
    book = _parse_book(archive.read("xl/workbook.xml"))
    if key is not None:
        if len(_BOOKS) >= _CACHE_MAX:
            _BOOKS.clear()
        _BOOKS[key] = book
    return book


def _members(archive: Archive, book: _Book) -> dict[str, str]:
    """Sheet name (NFC) → zip member of its XML."""
    wb_key = _stored_key(archive, "xl/workbook.xml")
    rels_key = _stored_key(archive, "xl/_rels/workbook.xml.rels")
    key = None if wb_key is None or rels_key is None else (*wb_key, rels_key[2])
    if key is not None and key in _MEMBERS:
        return _MEMBERS[key]
    rels = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    targets = {r.get("Id"): r.get("Target", "") for r in rels.iter(f"{_PKG_REL_NS}Relationship")}
    members: dict[str, str] = {}
    for sheet, rid in book.sheet_ids:
        target = targets.get(rid, "")
        if target:
            members.setdefault(sheet, target.lstrip("/") if target.startswith("/") else f"xl/{target}")
    if key is not None:
        if len(_MEMBERS) >= _CACHE_MAX:
            _MEMBERS.clear()
        _MEMBERS[key] = members
    return members


def _uncached_formulas(archive: Archive, book: _Book, cells: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which of the given (sheet, "D8") cells hold a formula with no cached value.

    A file saved by Excel or LibreOffice always stores the result (<v>) next to the formula
    (<f>); a file written by a library often does not, and then the value is unknown. Only the
    asked cells are looked at, found as bytes in the sheet XML: no parse of the whole sheet.
    """
    found: set[tuple[str, str]] = set()
    wanted: dict[str, list[str]] = {}
    for sheet, ref in cells:
        wanted.setdefault(sheet, []).append(ref)
    for name, member in _members(archive, book).items():
        if name not in wanted:
            continue
        try:
            data = archive.read(member)
        except KeyError:
            continue
        # No formula element at all, the common case; a prefixed sheet (<x:worksheet>) is
        # searched for ":f" too (slower: ":" is frequent in namespaced XML).
        if b"<f" not in data and (b":worksheet" not in data[:1024] or b":f" not in data):
            continue
        for ref in wanted[name]:
            cell = _cell_xml(data, ref)
            if cell is not None and _uncached(cell):
                found.add((name, ref))
    return found


_CELL_END = re.compile(rb"</(?:\w+:)?c>")


def _cell_xml(data: bytes, ref: str) -> bytes | None:
    """The XML of cell `ref` (<c r="D8" ...>...</c>), prefixed or not; None when absent."""
    at = data.find(f' r="{ref}"'.encode())
    if at < 0:
        return None
    start = data.rfind(b"<", 0, at)
    tag_end = data.find(b">", at)
    if tag_end < 0:
        return None
    if data[tag_end - 1 : tag_end] == b"/":
        return data[start : tag_end + 1]  # <c r="D8" s="3"/>: an empty cell
    end = _CELL_END.search(data, tag_end)
    return data[start : end.end()] if end else None


def _uncached(cell: bytes) -> bool:
    has_formula = re.search(rb"<(?:\w+:)?f[\s>/]", cell) is not None
    value = re.search(rb"<(?:\w+:)?v>([^<]+)<", cell)
    inline = re.search(rb"<(?:\w+:)?is>", cell)
    return has_formula and value is None and inline is None


def defined_names_ods(data: bytes) -> dict[str, str]:
    """Named ranges of an .ods, as "'Sheet'!$D$8" targets."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        root = ElementTree.fromstring(zf.read("content.xml"))
    names: dict[str, str] = {}
    for node in root.iter(f"{_ODS_TABLE_NS}named-range"):
        address = node.get(f"{_ODS_TABLE_NS}cell-range-address", "")
        name = node.get(f"{_ODS_TABLE_NS}name", "")
        # $'Số liệu'.$D$8 → 'Số liệu'!$D$8
        sheet, _, ref = address.lstrip("$").rpartition(".")
        if sheet and ref:
            names[name] = f"{sheet}!{ref}"
    return names


_BROKEN = (zipfile.BadZipFile, KeyError, ElementTree.ParseError, OSError)


def _structure_error(exc: Exception) -> ReadError:
    if isinstance(exc, _BROKEN):
        return ReadError(f"cấu trúc tệp bị hỏng: {exc.__class__.__name__}")
    # defusedxml refuses entity declarations: a hostile file
    return ReadError(f"tệp có nội dung không an toàn: {exc.__class__.__name__}")


# Grids of the template's own meta sheet, by the stored bytes of everything calamine reads to
# make it (the sheet, styles, shared strings, workbook and its relationships): every file made
# from one template carries the same bytes, so the sheet is parsed once per worker.
_GRIDS: dict[tuple[tuple[int, int, bytes] | None, ...], list[list[Any]]] = {}
_GRID_SOURCES = ("xl/styles.xml", "xl/sharedStrings.xml", "xl/workbook.xml", "xl/_rels/workbook.xml.rels")


def _grid_key(archive: Archive, book: _Book, sheet: str) -> tuple[tuple[int, int, bytes] | None, ...] | None:
    member = _members(archive, book).get(sheet)
    if member is None:
        return None
    parts: list[tuple[int, int, bytes] | None] = []
    for name in (member, *_GRID_SOURCES):
        try:
            part = _stored_key(archive, name)
        except KeyError:
            parts.append(None)  # absent: absent from the key too
            continue
        if part is None:
            return None
        parts.append(part)
    return tuple(parts)


def _shared_grid_key(
    archive: Archive, book: _Book, sheet: str
) -> tuple[tuple[int, int, bytes] | None, ...] | None:
    try:
        return _grid_key(archive, book, sheet)
    except Exception:  # a damaged package: calamine reads (and reports) it
        return None


class _Sheets:
    """Lazily loaded sheets of one workbook, as grids of python values."""

    def __init__(
        self,
        data: bytes,
        max_rows: int | None = None,
        shared: tuple[str, Callable[[str], tuple[tuple[int, int, bytes] | None, ...] | None]] | None = None,
    ) -> None:
        import python_calamine as pc

        try:
            self._wb = pc.CalamineWorkbook.from_filelike(io.BytesIO(data))
        except pc.PasswordError as exc:
            raise ReadError("tệp được đặt mật khẩu", "file-encrypted") from exc
        except Exception as exc:
            raise ReadError(f"không mở được bảng tính ({exc.__class__.__name__})") from exc
        self._raw_names = {nfc(n): n for n in self._wb.sheet_names}
        self._grids: dict[str, list[list[Any]] | None] = {}
        self._max_rows = max_rows  # rows converted per sheet: a sheet of 1,000,000 rows stays cheap
        self._shared = shared  # (the sheet kept across files: the meta sheet, how to key it)

    def grid(self, sheet: str) -> list[list[Any]] | None:
        if sheet in self._grids:
            return self._grids[sheet]
        if sheet not in self._raw_names:
            self._grids[sheet] = None
            return None
        key = self._shared[1](sheet) if self._shared is not None and sheet == self._shared[0] else None
        grid = _GRIDS.get(key) if key is not None else None
        if grid is None:
            try:
                ws = self._wb.get_sheet_by_name(self._raw_names[sheet])
                grid = ws.to_python(skip_empty_area=False, nrows=self._max_rows)
            except Exception as exc:
                raise ReadError(f'không đọc được trang tính "{sheet}" ({exc.__class__.__name__})') from exc
            if key is not None:
                if len(_GRIDS) >= _CACHE_MAX:
                    _GRIDS.clear()
                _GRIDS[key] = grid
        self._grids[sheet] = grid
        return grid

    def at(self, place: _Place) -> CellValue:
        grid = self.grid(place.sheet)
        if grid is None or place.row >= len(grid):
            return None
        row = grid[place.row]
        if place.col >= len(row):
            return None
        v = row[place.col]
        if v == "":
            return None
        return nfc(v) if isinstance(v, str) else v


_NFC = partial(unicodedata.normalize, "NFC")


def _cells(sheets: _Sheets, layout: _Layout) -> dict[str, RawCell]:
    """Every located input with its value: what _Sheets.at gives, in one loop (50 a file)."""
    # sheets loaded in the order of first use (a broken sheet is reported by name: always the same)
    grids = {sheet: sheets.grid(sheet) or [] for sheet in dict.fromkeys(p.sheet for p in layout.places)}
    cells: dict[str, RawCell] = {}
    for p in layout.places:
        grid = grids[p.sheet]
        v = None
        if p.row < len(grid):
            row = grid[p.row]
            if p.col < len(row):
                v = row[p.col]
                if v == "":
                    v = None
                elif type(v) is str:
                    v = _NFC(v)
        cells[p.key] = RawCell(p.sheet, p.ref, v)
    return cells


def _fingerprint(sheets: _Sheets, layout: _Layout, meta_sheet: str) -> tuple[str | None, str | None]:
    found: dict[str, str] = {}
    for place in layout.fingerprint:
        if place is not None:
            v = sheets.at(place)
            if v is not None:
                found[place.key] = str(v)
    if len(found) < 2:  # no names (.xls) or names lost: look for the labels on the meta sheet
        grid = sheets.grid(nfc(meta_sheet)) or []
        for row in grid[:20]:
            if len(row) >= 2 and row[0] in ("template_id", "template_version") and row[1] != "":
                found.setdefault(str(row[0]), str(row[1]))
    version = found.get("template_version")
    if version is not None and version.endswith(".0") and version[:-2].replace(".", "").isdigit():
        version = version[:-2]  # "2023.1" typed back as a number stays "2023.1"
    return found.get("template_id"), version


def read_workbook(
    path: Path, kind: str, schema: Schema, *, data: bytes | None = None, archive: Archive | None = None
) -> WorkbookRead:
    """Every input of the form, located and read; ReadError when the file is not a workbook.

    `data`: the file's bytes when the caller has them (read once per file); `archive`: the
    same bytes as an already opened zip (screening opens it).
    """
    if data is None:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ReadError(f"không mở được bảng tính ({exc.__class__.__name__})") from exc
    book: _Book | None = None
    if kind == "xlsx":
        try:
            if archive is None:
                archive = Archive(data)  # in memory: nothing to close, kept for check_formulas
            book = _book(archive)
        except Exception as exc:
            raise _structure_error(exc) from exc
    return _read(data, kind, schema, archive, book)


def _read(
    data: bytes, kind: str, schema: Schema, archive: Archive | None, book: _Book | None
) -> WorkbookRead:
    if book is not None:
        layout = book.layout(schema) if book.names else _schema_layout(schema)
    elif kind == "ods":
        try:
            names = defined_names_ods(data)
        except Exception as exc:
            raise _structure_error(exc) from exc
        layout = _layout(schema, names) if names else _schema_layout(schema)
    else:  # .xls / .xlsb: names not read here; the schema's cells are used
        layout = _schema_layout(schema)
    located_by = "names" if layout is not _schema_layout(schema) else "schema"
    meta = nfc(schema.template.meta_sheet)
    shared = None
    if archive is not None and book is not None:  # the template's own sheet: kept across files
        shared = (meta, partial(_shared_grid_key, archive, book))
    sheets = _Sheets(data, max_rows=MAX_ROWS, shared=shared)
    fp_id, fp_version = _fingerprint(sheets, layout, meta)
    result = WorkbookRead(fp_id, fp_version, {}, missing=list(layout.missing), located_by=located_by)
    result.cells = _cells(sheets, layout)
    if archive is not None and book is not None:
        result.uncached = partial(_uncached_formulas, archive, book)
    return result
