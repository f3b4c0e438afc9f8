"""Reading a submitted workbook: the python-calamine boundary.

Inputs are found through the workbook's defined names (so inserted rows do not break
reading); where a format keeps no names we can read, the schema's own cells are used.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from defusedxml import ElementTree

from pipeline import cellref
from pipeline.schema import Schema
from pipeline.vietnamese import nfc

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


@dataclass(frozen=True)
class RawCell:
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
    # keys whose cell holds a formula with no cached result (calamine reads those as empty)
    formula_no_value: list[str] = field(default_factory=list)


class _XlsxPackage:
    """One .xlsx opened once: the zip, xl/workbook.xml parsed once (safe parser), the sheets' members."""

    def __init__(self, path: Path) -> None:
        self.zf = zipfile.ZipFile(path)
        try:
            self.workbook = ElementTree.fromstring(self.zf.read("xl/workbook.xml"))
        except BaseException:
            self.zf.close()
            raise
        self._members: dict[str, str] | None = None

    def close(self) -> None:
        self.zf.close()

    def names(self) -> dict[str, str]:
        names: dict[str, str] = {}
        for node in self.workbook.iter(f"{_MAIN_NS}definedName"):
            if node.get("localSheetId") is None and node.text:
                names[node.get("name", "")] = node.text
        return names

    def members(self) -> dict[str, str]:
        """Sheet name (NFC) → zip member of its XML."""
        if self._members is None:
            rels = ElementTree.fromstring(self.zf.read("xl/_rels/workbook.xml.rels"))
            targets = {r.get("Id"): r.get("Target", "") for r in rels.iter(f"{_PKG_REL_NS}Relationship")}
            self._members = {}
            for sheet in self.workbook.iter(f"{_MAIN_NS}sheet"):
                target = targets.get(sheet.get(f"{_REL_NS}id"), "")
                if target:
                    member = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
                    self._members.setdefault(nfc(sheet.get("name", "")), member)
        return self._members


def defined_names_xlsx(path: Path) -> dict[str, str]:
    """Workbook-scoped defined names of an .xlsx/.xlsm, from xl/workbook.xml (safe parser)."""
    package = _XlsxPackage(path)
    try:
        return package.names()
    finally:
        package.close()


def _uncached_formulas(package: _XlsxPackage, cells: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which of the given (sheet, "D8") cells hold a formula with no cached value.

    A file saved by Excel or LibreOffice always stores the result (<v>) next to the formula
    (<f>); a file written by a library often does not, and then the value is unknown. Only the
    asked cells are looked at, found as bytes in the sheet XML: no parse of the whole sheet.
    """
    found: set[tuple[str, str]] = set()
    wanted: dict[str, list[str]] = {}
    for sheet, ref in cells:
        wanted.setdefault(sheet, []).append(ref)
    for name, member in package.members().items():
        if name not in wanted:
            continue
        try:
            data = package.zf.read(member)
        except KeyError:
            continue
        if b"<f" not in data and b":f" not in data:
            continue  # no formulas at all: the common case
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


def defined_names_ods(path: Path) -> dict[str, str]:
    """Named ranges of an .ods, as "'Sheet'!$D$8" targets."""
    with zipfile.ZipFile(path) as zf:
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


def _open_xlsx(path: Path) -> _XlsxPackage:
    try:
        return _XlsxPackage(path)
    except (zipfile.BadZipFile, KeyError, ElementTree.ParseError, OSError) as exc:
        raise ReadError(f"cấu trúc tệp bị hỏng: {exc.__class__.__name__}") from exc
    except Exception as exc:  # defusedxml refuses entity declarations: a hostile file
        raise ReadError(f"tệp có nội dung không an toàn: {exc.__class__.__name__}") from exc


def _defined_names(path: Path, kind: str, package: _XlsxPackage | None = None) -> dict[str, str] | None:
    try:
        if package is not None:
            return package.names()
        if kind == "xlsx":
            return defined_names_xlsx(path)
        if kind == "ods":
            return defined_names_ods(path)
    except (zipfile.BadZipFile, KeyError, ElementTree.ParseError, OSError) as exc:
        raise ReadError(f"cấu trúc tệp bị hỏng: {exc.__class__.__name__}") from exc
    except Exception as exc:  # defusedxml refuses entity declarations: a hostile file
        raise ReadError(f"tệp có nội dung không an toàn: {exc.__class__.__name__}") from exc
    return None  # .xls / .xlsb: names not read here; the schema's cells are used


class _Sheets:
    """Lazily loaded sheets of one workbook, as grids of python values."""

    def __init__(self, path: Path, max_rows: int | None = None) -> None:
        import python_calamine as pc

        try:
            with path.open("rb") as fh:
                self._wb = pc.CalamineWorkbook.from_filelike(fh)
        except pc.PasswordError as exc:
            raise ReadError("tệp được đặt mật khẩu", "file-encrypted") from exc
        except Exception as exc:
            raise ReadError(f"không mở được bảng tính ({exc.__class__.__name__})") from exc
        self.names = [nfc(n) for n in self._wb.sheet_names]
        self._raw_names = dict(zip(self.names, self._wb.sheet_names, strict=True))
        self._grids: dict[str, list[list[Any]]] = {}
        self._max_rows = max_rows  # rows converted per sheet: a sheet of 1,000,000 rows stays cheap

    def grid(self, sheet: str) -> list[list[Any]] | None:
        if sheet not in self._raw_names:
            return None
        if sheet not in self._grids:
            try:
                ws = self._wb.get_sheet_by_name(self._raw_names[sheet])
                self._grids[sheet] = ws.to_python(skip_empty_area=False, nrows=self._max_rows)
            except Exception as exc:
                raise ReadError(f'không đọc được trang tính "{sheet}" ({exc.__class__.__name__})') from exc
        return self._grids[sheet]

    def value(self, sheet: str, ref: str) -> CellValue:
        grid = self.grid(sheet)
        if grid is None:
            return None
        row, col = cellref.from_a1(ref)
        if row >= len(grid) or col >= len(grid[row]):
            return None
        v = grid[row][col]
        if v == "":
            return None
        return nfc(v) if isinstance(v, str) else v


def _fingerprint(
    sheets: _Sheets, names: dict[str, str] | None, meta_sheet: str
) -> tuple[str | None, str | None]:
    found: dict[str, str] = {}
    if names:
        for key in ("template_id", "template_version"):
            target = cellref.parse_sheet_ref(names.get(key, ""))
            if target:
                v = sheets.value(*target)
                if v is not None:
                    found[key] = str(v)
    if len(found) < 2:  # no names (.xls) or names lost: look for the labels on the meta sheet
        grid = sheets.grid(meta_sheet) or []
        for row in grid[:20]:
            if len(row) >= 2 and row[0] in ("template_id", "template_version") and row[1] != "":
                found.setdefault(str(row[0]), str(row[1]))
    version = found.get("template_version")
    if version is not None and version.endswith(".0") and version[:-2].replace(".", "").isdigit():
        version = version[:-2]  # "2023.1" typed back as a number stays "2023.1"
    return found.get("template_id"), version


def read_workbook(path: Path, kind: str, schema: Schema) -> WorkbookRead:
    """Every input of the form, located and read; ReadError when the file is not a workbook."""
    package = _open_xlsx(path) if kind == "xlsx" else None  # the zip opened once for names and formulas
    try:
        return _read_workbook(path, kind, schema, package)
    finally:
        if package is not None:
            package.close()


def _read_workbook(path: Path, kind: str, schema: Schema, package: _XlsxPackage | None) -> WorkbookRead:
    names = _defined_names(path, kind, package)
    sheets = _Sheets(path, max_rows=MAX_ROWS)
    fp_id, fp_version = _fingerprint(sheets, names, str(schema.template["meta_sheet"]))
    result = WorkbookRead(fp_id, fp_version, {}, located_by="names" if names else "schema")
    for f in schema.fields:
        if names:
            target = cellref.parse_sheet_ref(names[f.key]) if f.key in names else None
            if target is None:
                result.missing.append(f.key)
                continue
            sheet, ref = target
        else:
            sheet, ref = f.sheet, f.cell
        result.cells[f.key] = RawCell(nfc(sheet), ref, sheets.value(nfc(sheet), ref))
    if package is not None:
        _find_uncached(package, result)
    return result


def _find_uncached(package: _XlsxPackage, result: WorkbookRead) -> None:
    blank = {(c.sheet, c.cell.replace("$", "")): key for key, c in result.cells.items() if c.value is None}
    if not blank:
        return
    try:
        uncached = _uncached_formulas(package, set(blank))
    except (zipfile.BadZipFile, KeyError, ElementTree.ParseError, OSError) as exc:
        raise ReadError(f"cấu trúc tệp bị hỏng: {exc.__class__.__name__}") from exc
    except Exception as exc:  # defusedxml refuses entity declarations: a hostile file
        raise ReadError(f"tệp có nội dung không an toàn: {exc.__class__.__name__}") from exc
    result.formula_no_value = sorted(blank[c] for c in uncached if c in blank)
