"""What every sheet of the consolidated workbook shares: sheet names, the styles of the spliced
rows, and the blocks of units whose rows are cached as deflated pieces.

The per-unit rows of the long sheets are XML (pipeline.ooxml.rowxml) spliced into the sheet
parts xlsxwriter writes, in blocks of units; each block is deflated on its own and kept in the
cache store (pipeline.store.cache, table `pieces`) under a key built from its inputs: the unit,
its status, days late, the accepted file's sha256 and name, its issues, and the block's
position-dependent numbers (STT, ranks). The cache itself is kept under one fingerprint of the
program, the schema and the libraries, so a key need not repeat them. A rerun compresses only
the blocks whose inputs changed and copies the others (see docs/decisions/row-xml-splicing.md).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pipeline.core.model import RunResult, UnitResult, Value
from pipeline.core.schema import Schema
from pipeline.ooxml import rowxml
from pipeline.ooxml.rowxml import Style
from pipeline.ooxml.xlsx import Format, SplicedSheets, Workbook, Worksheet
from pipeline.ooxml.zipwriter import LEVEL, Deflater, PartBuilder, PieceStore
from pipeline.outputs import layout
from pipeline.outputs.vocabulary import BOOLEANS

TITLE = "TỔNG HỢP KẾT QUẢ THỰC HIỆN CÔNG TÁC DÂN VẬN CHÍNH QUYỀN"

SHEET_SUMMARY = "Tổng hợp"
SHEET_DATA = "Số liệu"
SHEET_RANKING = "Xếp loại"
SHEET_CRITERIA = "Chi tiết điểm"
SHEET_NARRATIVES = "Thuyết minh"
SHEET_PROPOSALS = "Kiến nghị"
SHEET_ISSUES = "Lỗi kiểm tra"
SHEET_SOURCES = "Nguồn"
SHEET_PROVENANCE = "Nguồn số liệu"

# Mean number of units (or files) per cached block, by sheet: blocks of ~40-100 KB of XML
# compress well and a change rewrites one block.
BLOCK_SIZE = {
    SHEET_DATA: 64,
    SHEET_RANKING: 64,
    SHEET_CRITERIA: 16,
    SHEET_NARRATIVES: 128,
    SHEET_PROPOSALS: 128,
    SHEET_ISSUES: 32,
    SHEET_SOURCES: 128,
    SHEET_PROVENANCE: 64,
}
RANKING_HEADER_ROW = 3  # the ranking sheet's table header (after the title lines)


@dataclass
class WorkbookStats:
    """What a build did, per sheet part: pieces compressed now and pieces copied from the cache."""

    compressed: dict[str, int] = field(default_factory=dict)
    reused: dict[str, int] = field(default_factory=dict)


class RowStyles:
    """Cell styles of the spliced rows, registered first so that their indexes are stable."""

    def __init__(self, f: layout.Formats, schema: Schema, spliced: SplicedSheets) -> None:
        def style(fmt: Format) -> Style:
            return Style(spliced.style_index(fmt), BOOLEANS)

        self.cell = style(f.cell)
        self.centre = style(f.cell_centre)
        self.int = style(f.int)
        self.num = style(f.num)
        self.score = style(f.score)
        self.change = style(f.change)
        self.total_label = style(f.total_label)
        self.total_int = style(f.total_int)
        self.total_num = style(f.total_num)
        self.grand_label = style(f.grand_label)
        self.grand_int = style(f.grand_int)
        self.grand_num = style(f.grand_num)
        colours = [b.color for b in schema.rubric.bands] + [""]
        self.band = {c: style(f.band(c or None)) for c in colours}

    def fingerprint(self) -> str:
        named = sorted((k, v.xf) for k, v in vars(self).items() if isinstance(v, Style))
        return repr(named) + repr(sorted((k, v.xf) for k, v in self.band.items()))


@dataclass(frozen=True)
class Block:
    """Units whose rows are one cached piece; `digest` covers every unit's inputs."""

    units: list[UnitResult]
    digest: bytes


class Context:
    """What every cache key of this build starts with, and each unit's inputs as one digest."""

    def __init__(
        self,
        result: RunResult,
        schema: Schema,
        workbook: Workbook,
        styles: RowStyles,
        store: PieceStore | None,
        name: str,
    ) -> None:
        self.result = result
        self.schema = schema
        self.workbook = workbook
        self.styles = styles
        self.store = store
        self.name = name
        self.deflater = Deflater()
        self.base = "\x1f".join((result.period.id, styles.fingerprint(), str(LEVEL)))
        # "Phiên bản": (unit code, sha256) → "k/n", the version's number among the unit's versions.
        self.version_labels = {(u.unit.code, v.sha256): v.label for u in result.units for v in u.history}
        # Each unit's inputs digested once, by unit code (unique in the registry).
        self.unit_key: dict[str, bytes] = {u.unit.code: self._inputs(u) for u in result.units}

    def _inputs(self, u: UnitResult) -> bytes:
        unit, sub = u.unit, u.submission
        if sub is None:
            inputs = "\x1e".join((unit.code, unit.name, unit.kind, u.status))
        else:
            file = sub.file
            version = self.version_labels.get((unit.code, file.sha256), "")
            inputs = "\x1e".join(
                (unit.code, unit.name, unit.kind, u.status, str(u.days_late), file.sha256, file.name, version)
            )
            if sub.issues:
                inputs += "".join(f"\x1e{i.code}:{i.severity}:{i.key}:{i.sheet}:{i.cell}" for i in sub.issues)
        return hashlib.sha256(inputs.encode("utf-8", "surrogatepass")).digest()

    def key(self, sheet: str, *parts: str) -> bytes:
        return rowxml.digest(self.base, sheet, *parts)

    def block(self, units: list[UnitResult]) -> Block:
        keys = self.unit_key
        return Block(units, hashlib.sha256(b"".join([keys[u.unit.code] for u in units])).digest())

    def blocks(self, sheet: str, units: Sequence[UnitResult]) -> list[Block]:
        """Units cut into blocks by content (rowxml.blocks): a unit added or removed changes the
        block that holds it only."""
        cut = rowxml.blocks(units, lambda u: rowxml.code_hash(u.unit.code), BLOCK_SIZE[sheet])
        return [self.block(units) for units in cut]

    def units_key(self, sheet: str, extra: str, block: Block) -> bytes:
        """The key of a block of units: the build's base, the sheet, `extra` (the block's numbers:
        STT, ranks…) and every unit's inputs."""
        return hashlib.sha256(rowxml.digest(self.base, sheet, extra) + block.digest).digest()

    def worksheet(self, name: str) -> Worksheet:
        found = self.workbook.get_worksheet_by_name(name)
        assert found is not None
        return found


class Sheet:
    """A long sheet's spliced rows, in order: cached blocks of units and fresh rows."""

    def __init__(self, ctx: Context, sheet: str, ws: Worksheet) -> None:
        self.sheet = sheet
        self.part = f"xl/worksheets/sheet{ws.index + 1}.xml"
        self.store_name = f"{ctx.name}#{self.part}"
        cached = ctx.store.load_pieces(self.store_name) if ctx.store is not None else {}
        self.builder = PartBuilder(self.part, cached, ctx.deflater)

    def fresh(self, xml: str) -> None:
        self.builder.fresh(xml.encode("utf-8", "replace"))

    def cached(self, key: bytes, render: Callable[[], tuple[str, bytes]]) -> bytes:
        """Add the block stored under `key` (else rendered now); returns its meta."""

        def encoded() -> tuple[bytes, bytes]:
            xml, meta = render()
            return xml.encode("utf-8", "replace"), meta

        return self.builder.cached(key, encoded).meta


# ---------------------------------------------------------------- helpers of the sheets


def number_of(value: Value) -> int | float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def total(values: list[Value]) -> int | float:
    numbers = [n for n in (number_of(v) for v in values) if n is not None]
    return sum(numbers) if numbers else 0


def band_colours(schema: Schema) -> dict[str, str]:
    return {b.name: b.color for b in schema.rubric.bands}


def has_text(value: Value) -> bool:
    if type(value) is str:
        return bool(value) and not value.isspace()
    return value is not None and str(value).strip() != ""


def simple_title(ws: Worksheet, f: layout.Formats, result: RunResult, last_col: int, title: str) -> int:
    return layout.title_rows(
        ws, f, 0, last_col, [(title, f.title), (f"Kỳ báo cáo: {result.period.name_vi}", f.subtitle)]
    )


def finish(
    spliced: SplicedSheets, ws: Worksheet, header: int, last_row: int, last_col: int, frozen_cols: int
) -> None:
    """The table's frame over its real last row (the rows themselves are spliced in later)."""
    if last_row > header:
        spliced.reserve(ws, last_row, last_col)
    layout.finish_table(ws, header, last_row, last_col, frozen_cols)


def chars(width: float) -> int:
    """Characters of 12 pt text on one line of a column `width` wide (for `fit_height`)."""
    return int(width * 1.1)


def fit_height(texts: Sequence[tuple[str, int]]) -> float | None:
    """Row height for the longest wrapped text: (text, `chars` of its column)."""
    lines = max(-(-len(text) // width) for text, width in texts)
    return 15.5 * lines + 2 if lines > 1 else None


def text_height(text: str, chars_per_line: int) -> float:
    """Row height (points) for wrapped 12 pt text: LibreOffice does not grow rows itself."""
    if "\n" in text:
        lines = sum(max(1, -(-len(part) // chars_per_line)) for part in text.split("\n"))
    else:
        lines = max(1, -(-len(text) // chars_per_line))
    return min(409.0, 16.0 * lines + 2)


W16, W28, W30, W32, W40, W45 = (chars(w) for w in (16, 28, 30, 32, 40, 45))
W24, W34 = chars(24), chars(34)
