"""The consolidated workbook that leadership opens and prints.

Sheets: Tổng hợp (summary), Số liệu (figures per unit with subtotals), Xếp loại (ranking),
Chi tiết điểm, Thuyết minh, Kiến nghị, Nộp muộn (late list), Đề xuất kiểm tra (inspection
list), Lỗi kiểm tra (validation issues), Nguồn (the inbox files), Nguồn số liệu (where each
figure was read).

xlsxwriter writes everything that does not grow with the number of units: the summary with its
charts, titles, headers, column widths, formats, frozen panes, filters, print settings and
conditional formats (over the real last row). The per-unit rows of the long sheets are XML
(pipeline/outputs/rowxml.py) spliced into those sheets' <sheetData>, in blocks of units, each
block deflated on its own and cached in the ledger under a key built from its inputs (unit,
accepted file's sha256, status, days late, issues, schema and code fingerprints, style indexes,
and the block's position-dependent numbers: STT, ranks). A rerun compresses only the blocks
whose inputs changed and copies the others (pipeline/piecewise_zip.py).
"""

from __future__ import annotations

import hashlib
import io
import json
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache, partial
from operator import is_not, itemgetter
from pathlib import Path
from typing import IO, Any

from pipeline import parsecache
from pipeline.catalogue import sort_key
from pipeline.cellref import to_a1
from pipeline.model import RunResult, Submission, UnitResult, Value
from pipeline.outputs import figures, inspection, late_list, layout, rowxml
from pipeline.outputs import vocabulary as vi
from pipeline.outputs.rowxml import Style, number, repeated_number, row, text
from pipeline.piecewise_zip import LEVEL, Deflater, Entry, PartBuilder, PieceStore, write_zip
from pipeline.schema import Schema
from pipeline.xlsx import (
    Format,
    Workbook,
    Worksheet,
    close_to_parts,
    merge_only,
    new_workbook,
    reserve_rows,
    split_sheet_data,
    xf_index,
)
from pipeline.xlsx import Styles as XlsxStyles

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

PROVENANCE_NOTE = "Mỗi ô ghi trang tính!ô của tệp báo cáo nơi đọc số liệu ở cùng ô trên trang Số liệu"

DEPARTMENTS_TOTAL = "Cộng sở, ban, ngành"
DISTRICTS_TOTAL = "Cộng huyện, thị xã, thành phố"
GRAND_TOTAL = "Tổng cộng"

# Mean number of units (or files) per cached block, by sheet: blocks of ~40-100 KB of XML
# compress well and a change rewrites one block.
_BLOCK = {
    SHEET_DATA: 64,
    SHEET_RANKING: 64,
    SHEET_CRITERIA: 16,
    SHEET_NARRATIVES: 128,
    SHEET_PROPOSALS: 128,
    SHEET_ISSUES: 32,
    SHEET_SOURCES: 128,
    SHEET_PROVENANCE: 64,
}


@dataclass
class WorkbookStats:
    """What a build did, per sheet part: pieces compressed now and pieces copied from the cache."""

    compressed: dict[str, int] = field(default_factory=dict)
    reused: dict[str, int] = field(default_factory=dict)


class _Sheet:
    """A long sheet's spliced rows, in order: cached blocks of units and fresh rows."""

    def __init__(self, ctx: _Context, sheet: str, ws: Worksheet) -> None:
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


def build_consolidated(
    result: RunResult, schema: Schema, target: IO[bytes], store: PieceStore | None = None, name: str = ""
) -> WorkbookStats:
    """Write the workbook to `target`. With a `store`, blocks of rows are taken from and kept in
    it under part names prefixed by `name` (the output's path): the bytes are the same."""
    tz = result.period.tz
    wb = new_workbook(
        io.BytesIO(), result.as_of.astimezone(tz), f"{TITLE} - {result.period.name_vi}", in_memory=True
    )
    styles = XlsxStyles(wb)
    f = layout.Formats(styles)
    s = _Styles(f, schema)  # style indexes first: they do not depend on what the sheets hold
    ranked = ranking(result)
    ctx = _Context(result, schema, s, store, name)
    ctx.workbook = wb
    _summary(wb, f, result, schema, sum(1 for rank, _u in ranked if rank is not None))
    sheets = [
        _data(wb, f, s, ctx),
        _ranking(wb, f, s, ctx, ranked),
        _criteria(wb, f, s, ctx, ranked),
        _narratives(wb, f, s, ctx),
        _proposals(wb, f, s, ctx),
        _table(ctx, late_list.SHEET, late_list.write_late_sheet(wb, styles, result, schema)),
        _table(ctx, inspection.SHEET, inspection.write_inspection_sheet(wb, styles, result, schema)),
        _issues(wb, f, s, ctx),
        _sources(wb, f, s, ctx),
        _provenance(wb, f, s, ctx),
    ]
    by_part = {sheet.part: sheet for sheet in sheets}
    stats = WorkbookStats()
    entries: list[Entry] = []
    for part_name, xml in close_to_parts(wb):
        sheet = by_part.get(part_name)
        if sheet is None:
            entries.append(Entry.of(part_name, xml))
            continue
        head, tail = split_sheet_data(xml)
        part = sheet.builder.finish(head, tail)
        entries.append(Entry.of_part(part))
        stats.compressed[sheet.sheet] = len(part.new)
        stats.reused[sheet.sheet] = len(part.used) - len(part.new)
        if store is not None:
            store.save_pieces(sheet.store_name, part.new, sheet.builder.unused())
    write_zip(target, entries)
    return stats


class _Styles:
    """Cell styles of the spliced rows, registered first so that their indexes are stable."""

    def __init__(self, f: layout.Formats, schema: Schema) -> None:
        def style(fmt: Format) -> Style:
            return Style(xf_index(fmt))

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
        colours = [str(b.get("color", "")) for b in schema.rubric.get("bands", [])] + [""]
        self.band = {c: style(f.band(c or None)) for c in colours}

    def fingerprint(self) -> str:
        return repr(sorted((k, getattr(v, "xf", None)) for k, v in vars(self).items() if k != "band")) + repr(
            sorted((k, v.xf) for k, v in self.band.items())
        )


@cache
def _code_fingerprint() -> str:
    """sha256 over the package's Python sources: a change of code renders every block again."""
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(path.relative_to(root).as_posix().encode("utf-8") + b"\0" + path.read_bytes())
    return h.hexdigest()


class _Context:
    """What every cache key of this run starts with, and each unit's inputs as one string."""

    def __init__(
        self, result: RunResult, schema: Schema, styles: _Styles, store: PieceStore | None, name: str
    ) -> None:
        self.result = result
        self.schema = schema
        self.store = store
        self.name = name
        self.deflater = Deflater()
        self.styles = styles
        self.workbook: Workbook
        self._versions: dict[tuple[str, str], str] | None = None
        self.base = "\x1f".join(
            (
                _code_fingerprint(),
                parsecache.fingerprint(schema),
                result.period.id,
                styles.fingerprint(),
                str(LEVEL),
                zlib.ZLIB_RUNTIME_VERSION,
            )
        )
        # Each unit's inputs digested once, and the hash that decides where blocks are cut; by
        # id() of the UnitResult (they live as long as the run), so that a lookup does not read
        # the unit again.
        self.unit_key: dict[int, bytes] = {}
        self.unit_hash: dict[int, int] = {}
        sha256 = hashlib.sha256
        crc32 = zlib.crc32
        for u in result.units:
            unit, sub = u.unit, u.submission
            if sub is None:
                inputs = "\x1e".join((unit.code, unit.name, unit.kind, u.status))
            else:
                file = sub.file
                sha = file.sha256
                version = next((v.label for v in u.history if v.sha256 == sha), "")  # "Phiên bản"
                inputs = "\x1e".join(
                    (unit.code, unit.name, unit.kind, u.status, str(u.days_late), sha, file.name, version)
                )
                if sub.issues:
                    inputs += "".join(
                        f"\x1e{i.code}:{i.severity}:{i.key}:{i.sheet}:{i.cell}" for i in sub.issues
                    )
            self.unit_key[id(u)] = sha256(inputs.encode("utf-8", "surrogatepass")).digest()
            self.unit_hash[id(u)] = crc32(unit.code.encode("utf-8", "surrogatepass"))
        self._joined: dict[int, bytes] = {}
        self._kept: list[object] = []  # blocks whose id() is a key of _joined

    def key(self, sheet: str, *parts: str) -> bytes:
        return rowxml.digest(self.base, sheet, *parts)

    def units_key(self, sheet: str, extra: str, units: list[UnitResult]) -> bytes:
        """The key of a block of units: the run's base, the sheet, `extra` (the block's numbers:
        STT, ranks…) and every unit's inputs."""
        joined = self._joined.get(id(units))
        if joined is None:
            keys = self.unit_key
            joined = self._joined[id(units)] = b"".join([keys[id(u)] for u in units])
        h = hashlib.sha256(rowxml.digest(self.base, sheet, extra))
        h.update(joined)
        return h.digest()

    def version_labels(self) -> dict[tuple[str, str], str]:
        """(unit code, sha256) → "k/n", the version's number among the unit's versions."""
        if self._versions is None:
            self._versions = {(u.unit.code, v.sha256): v.label for u in self.result.units for v in u.history}
        return self._versions

    def blocks_of(self, units: list[UnitResult]) -> list[UnitResult]:
        """Keep a list of units made outside `blocks` alive for `units_key`."""
        self._kept.append(units)
        return units

    def worksheet(self, name: str) -> Worksheet:
        found = self.workbook.get_worksheet_by_name(name)
        assert found is not None
        return found

    def blocks(self, sheet: str, units: Sequence[UnitResult]) -> list[list[UnitResult]]:
        """Units cut into blocks (the lists stay alive with the context: `units_key` remembers
        their joined keys by identity)."""
        hashes = self.unit_hash
        cut = rowxml.blocks(units, lambda u: hashes[id(u)], _BLOCK[sheet])
        self._kept.append(cut)
        return cut


# ---------------------------------------------------------------- helpers


def _number(value: Value) -> int | float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def _sum(values: list[Value]) -> int | float:
    numbers = [n for n in (_number(v) for v in values) if n is not None]
    return sum(numbers) if numbers else 0


def _band_colours(schema: Schema) -> dict[str, str]:
    return {str(b["name"]): str(b.get("color", "")) for b in schema.rubric.get("bands", [])}


def _unit_name(schema: Schema, code: str | None) -> str:
    if not code:
        return ""
    unit = schema.unit_by_code.get(code)
    return unit.name if unit is not None else code


def _table_header(ws: Worksheet, f: layout.Formats, row: int, columns: Sequence[tuple[str, float]]) -> None:
    for col, (label, width) in enumerate(columns):
        ws.set_column(col, col, width)
        layout.write_text(ws, row, col, label, f.header)


def _simple_title(ws: Worksheet, f: layout.Formats, result: RunResult, last_col: int, title: str) -> int:
    return layout.title_rows(
        ws, f, 0, last_col, [(title, f.title), (f"Kỳ báo cáo: {result.period.name_vi}", f.subtitle)]
    )


def _finish(ws: Worksheet, header: int, last_row: int, last_col: int, frozen_cols: int) -> None:
    """The table's frame over its real last row (the rows themselves are spliced in later)."""
    if last_row > header:
        reserve_rows(ws, last_row, last_col)
    layout.finish_table(ws, header, last_row, last_col, frozen_cols)


def _chars(width: float) -> int:
    """Characters of 12 pt text on one line of a column `width` wide (for `_fit_height`)."""
    return int(width * 1.1)


def _fit_height(texts: Sequence[tuple[str, int]]) -> float | None:
    """Row height for the longest wrapped text: (text, `_chars` of its column)."""
    lines = max(-(-len(text) // chars) for text, chars in texts)
    return 15.5 * lines + 2 if lines > 1 else None


def _text_height(text: str, chars_per_line: int) -> float:
    """Row height (points) for wrapped 12 pt text: LibreOffice does not grow rows itself."""
    if "\n" in text:
        lines = sum(max(1, -(-len(part) // chars_per_line)) for part in text.split("\n"))
    else:
        lines = max(1, -(-len(text) // chars_per_line))
    return min(409.0, 16.0 * lines + 2)


# ---------------------------------------------------------------- Tổng hợp

# Hidden helper column of the summary: short labels and values the charts plot.
_CHART_COL = 7
RANKING_HEADER_ROW = 3  # the ranking sheet's table header (after the title lines)


def _summary(wb: Workbook, f: layout.Formats, result: RunResult, schema: Schema, scored: int) -> None:
    """One printed A4 page: header, status, bands, the seven tasks, five units, charts."""
    ws = wb.add_worksheet(SHEET_SUMMARY)
    tz = result.period.tz
    last_col = 4
    for col, width in enumerate((5, 40, 20, 13, 12)):
        ws.set_column(col, col, width)
    row = layout.run_header(ws, f, 1, last_col, result, schema)
    row = layout.title_rows(
        ws,
        f,
        row,
        last_col,
        [
            (TITLE, f.title),
            (
                f"Kỳ báo cáo: {result.period.name_vi} - hạn nộp {vi.fmt_date(result.period.deadline)}"
                f" - số liệu tính đến {vi.fmt_datetime(result.as_of, tz)}",
                f.subtitle,
            ),
        ],
    )
    expected = len(result.units)

    def share(count: int | float) -> float | None:
        return count / expected if expected else None

    # I. Reporting status
    layout.write_text(ws, row, 0, "I. TÌNH HÌNH NỘP BÁO CÁO", f.label)
    row += 1
    _pair_header(ws, f, row, ("STT", "Tình trạng", "Số đơn vị", "Tỷ lệ"))
    row += 1
    status_first = row
    for i, (_status, label, count) in enumerate(figures.status_counts(result), start=1):
        ws.write_number(row, 0, i, f.cell_centre)
        ws.merge_range(row, 1, row, 2, "", f.cell)
        layout.write_text(ws, row, 1, label, f.cell)
        ws.write_number(row, 3, count, f.int)
        layout.write_number(ws, row, 4, share(count), f.pct)
        row += 1
    status_last = row - 1
    ws.write_blank(row, 0, None, f.total_label)
    ws.merge_range(row, 1, row, 2, "", f.total_label)
    layout.write_text(ws, row, 1, "Tổng số đơn vị phải báo cáo", f.total_label)
    ws.write_number(row, 3, expected, f.total_int)
    layout.write_number(ws, row, 4, 1.0 if expected else None, f.pct)
    row += 1

    # II. Bands
    layout.write_text(ws, row, 0, "II. KẾT QUẢ XẾP LOẠI", f.label)
    row += 1
    _pair_header(ws, f, row, ("STT", "Xếp loại", "Số đơn vị", "Tỷ lệ"))
    row += 1
    colours = _band_colours(schema)
    for i, (band, count) in enumerate(figures.band_counts(result, schema), start=1):
        fmt = f.band(colours.get(band), centre=False)
        ws.write_number(row, 0, i, f.cell_centre)
        ws.merge_range(row, 1, row, 2, "", fmt)
        layout.write_text(ws, row, 1, band, fmt)
        ws.write_number(row, 3, count, f.int)
        layout.write_number(ws, row, 4, share(count), f.pct)
        row += 1

    # III. The seven tasks: key figure and rate
    layout.write_text(ws, row, 0, "III. KẾT QUẢ CHỦ YẾU CỦA BẢY NHIỆM VỤ", f.label)
    row += 1
    _pair_header(ws, f, row, ("NV", "Chỉ tiêu chủ yếu và tỷ lệ", "Số liệu", "Tỷ lệ"))
    row += 1
    rate_rows: list[int] = []
    for tf in figures.task_figures(result):
        ws.write_string(row, 0, tf.task, f.cell_centre)
        ws.merge_range(row, 1, row, 2, "", f.cell)
        label = f"{tf.label} ({tf.unit})"
        if tf.rate_label:
            label += f"\n{tf.rate_label}"
            ws.set_row(row, 31)
        layout.write_text(ws, row, 1, label, f.cell)
        layout.write_number(ws, row, 3, tf.value, f.int)
        layout.write_number(ws, row, 4, tf.rate, f.pct)
        ws.write_string(row, _CHART_COL, f"NV{tf.task}")
        rate_rows.append(row)
        row += 1

    # IV. Five units needing most attention
    layout.write_text(ws, row, 0, "IV. CÁC ĐƠN VỊ CẦN QUAN TÂM", f.label)
    row += 1
    layout.write_text(ws, row, 0, "STT", f.header)
    layout.write_text(ws, row, 1, "Đơn vị", f.header)
    ws.merge_range(row, 2, row, 4, "", f.header)
    layout.write_text(ws, row, 2, "Lý do", f.header)
    row += 1
    for i, (unit, why) in enumerate(figures.attention(result, schema), start=1):
        ws.write_number(row, 0, i, f.cell_centre)
        layout.write_text(ws, row, 1, unit.unit.name, f.cell)
        ws.merge_range(row, 2, row, 4, "", f.small)
        layout.write_text(ws, row, 2, why, f.small)
        ws.set_row(row, 13.5 * max(1, -(-len(why) // 62)) + 3)
        row += 1
    row += 1

    # Charts: status and task rates side by side, scores by unit across the page.
    sheet = SHEET_SUMMARY
    pie = wb.add_chart({"type": "pie"})
    pie.add_series(
        {
            "name": "Tình hình nộp báo cáo",
            "categories": [sheet, status_first, 1, status_last, 1],
            "values": [sheet, status_first, 3, status_last, 3],
            "data_labels": {"value": True, "leader_lines": True, "font": _font(9)},
            "points": [{"fill": {"color": c}} for c in _STATUS_CHART_COLOURS],
        }
    )
    _chart_style(pie, "Tình hình nộp báo cáo")
    pie.set_legend({"position": "right", "font": _font(8)})
    ws.insert_chart(row, 0, pie, {"x_scale": 0.62, "y_scale": 0.7, "object_position": 3})
    if rate_rows:
        bars = wb.add_chart({"type": "column"})
        bars.add_series(
            {
                "name": "Tỷ lệ",
                "categories": [sheet, rate_rows[0], _CHART_COL, rate_rows[-1], _CHART_COL],
                "values": [sheet, rate_rows[0], 4, rate_rows[-1], 4],
                "data_labels": {"value": True, "num_format": "0%", "font": _font(7)},
                "fill": {"color": "#4472C4"},
            }
        )
        _chart_style(bars, "Tỷ lệ chủ yếu theo nhiệm vụ")
        bars.set_y_axis({"num_format": "0%", "min": 0, "max": 1, "num_font": _font(7)})
        bars.set_x_axis({"num_font": _font(7)})
        bars.set_legend({"none": True})
        bars.show_hidden_data()
        ws.insert_chart(row, 2, bars, {"x_scale": 0.68, "y_scale": 0.7, "x_offset": 20, "object_position": 3})
    if scored:
        scores = wb.add_chart({"type": "column"})
        first = RANKING_HEADER_ROW + 1
        scores.add_series(
            {
                "name": "Tổng điểm",
                "categories": [SHEET_RANKING, first, 1, first + scored - 1, 1],
                "values": [SHEET_RANKING, first, 3, first + scored - 1, 3],
                "fill": {"color": "#5B9BD5"},
                "gap": 50,
            }
        )
        _chart_style(scores, "Tổng điểm theo đơn vị (xếp từ cao xuống thấp)")
        scores.set_y_axis({"min": 0, "max": 100, "major_unit": 20, "num_font": _font(7)})
        scores.set_x_axis({"num_font": {**_font(6), "rotation": -90}})
        scores.set_legend({"none": True})
        ws.insert_chart(row + 11, 0, scores, {"x_scale": 1.35, "y_scale": 0.75, "object_position": 3})
    ws.set_column(_CHART_COL, _CHART_COL, 8, None, {"hidden": True})
    layout.page_setup(ws, landscape=False, header_rows=None)
    ws.fit_to_pages(1, 1)
    ws.print_area(0, 0, row + 11 + 17, last_col)


_STATUS_CHART_COLOURS = ("#70AD47", "#FFC000", "#C00000", "#7F7F7F", "#BDD7EE")


def _font(size: float) -> dict[str, Any]:
    return {"name": layout.FONT_NAME, "size": size}


def _chart_style(chart: Any, title: str) -> None:
    chart.set_title({"name": title, "name_font": {"name": layout.FONT_NAME, "size": 10, "bold": True}})
    chart.set_chartarea({"border": {"none": True}})
    chart.set_style(10)


def _pair_header(ws: Worksheet, f: layout.Formats, row: int, labels: tuple[str, str, str, str]) -> None:
    """STT | label over columns B:C | count | share."""
    layout.write_text(ws, row, 0, labels[0], f.header)
    ws.merge_range(row, 1, row, 2, "", f.header)
    layout.write_text(ws, row, 1, labels[1], f.header)
    layout.write_text(ws, row, 3, labels[2], f.header)
    layout.write_text(ws, row, 4, labels[3], f.header)


# ---------------------------------------------------------------- Số liệu


def data_rows(result: RunResult) -> tuple[list[UnitResult], list[UnitResult]]:
    """Units with an accepted submission: (departments, districts), registry order."""
    reported = [u for u in result.units if u.submission is not None]
    return (
        [u for u in reported if u.unit.kind == "department"],
        [u for u in reported if u.unit.kind != "department"],
    )


_NUMBERS = {int, float}


def _column_sums(units: Sequence[UnitResult], keys: Sequence[str]) -> list[int | float]:
    """Per indicator, the sum of the units' numbers in order (blanks, text and yes/no count as
    nothing), as `_sum` gives; columns of plain numbers and blanks are summed without a loop."""
    rows = [list(map(u.submission.values.get, keys)) for u in units if u.submission is not None]
    sums: list[int | float] = []
    for column in zip(*rows, strict=True) if rows else [() for _ in keys]:
        kinds = set(map(type, column))
        kinds.discard(type(None))
        if kinds <= _NUMBERS:
            sums.append(sum(filter(partial(is_not, None), column)))
        else:
            sums.append(_sum(list(column)))
    return sums


def _formula(style: Style, formula: str, cached: int | float) -> str:
    """A formula with its cached value, as xlsxwriter writes one."""
    return number(style, cached).replace("<v>", f"<f>{formula}</f><v>", 1)


def _data(wb: Workbook, f: layout.Formats, s: _Styles, ctx: _Context) -> _Sheet:
    result, schema = ctx.result, ctx.schema
    ws = wb.add_worksheet(SHEET_DATA)
    indicators = schema.indicators
    first_value_col = 3
    last_col = first_value_col + len(indicators) - 1
    header = _simple_title(ws, f, result, last_col, "SỐ LIỆU CÔNG TÁC DÂN VẬN CHÍNH QUYỀN CỦA CÁC ĐƠN VỊ")
    for col, (label, width) in enumerate((("STT", 5), ("Mã", 9), ("Đơn vị", 32))):
        ws.set_column(col, col, width)
        ws.merge_range(header, col, header + 1, col, "", f.header)
        layout.write_text(ws, header, col, label, f.header)
    for i, fld in enumerate(indicators):
        col = first_value_col + i
        ws.set_column(col, col, 14)
        layout.write_text(ws, header, col, fld.label, f.header)
        layout.write_text(ws, header + 1, col, fld.unit, f.subheader)
    ws.set_row(header, 150)

    sheet = _Sheet(ctx, SHEET_DATA, ws)
    keys = [fld.key for fld in indicators]
    integer = [fld.type == "integer" for fld in indicators]
    cell_styles = [
        (fld.key, s.int if whole else s.num) for fld, whole in zip(indicators, integer, strict=True)
    ]

    def render(units: list[UnitResult], start: int) -> tuple[str, bytes]:
        # The block's column sums go with it: subtotals never read every unit's figures again.
        return _data_block(s, cell_styles, units, start), json.dumps(_column_sums(units, keys)).encode()

    row_at = header + 2
    count = 0
    subtotal_rows: list[int] = []
    subtotals: list[list[int | float]] = []
    for units, label in zip(data_rows(result), (DEPARTMENTS_TOTAL, DISTRICTS_TOTAL), strict=True):
        first = row_at
        sums: list[int | float] = [0] * len(keys)
        for block in ctx.blocks(SHEET_DATA, units):
            start = count + 1  # STT numbers are in the key: a unit added above renumbers the blocks below
            meta = sheet.cached(
                ctx.units_key(SHEET_DATA, str(start), block),
                lambda block=block, start=start: render(block, start),  # type: ignore[misc]
            )
            sums = [a + b for a, b in zip(sums, json.loads(meta), strict=True)]
            count += len(block)
        row_at += len(units)
        cells = [s.total_label.blank, s.total_label.blank, text(s.total_label, label)]
        for i, (cached, whole) in enumerate(zip(sums, integer, strict=True)):
            style = s.total_int if whole else s.total_num
            col = first_value_col + i
            if units:
                cells.append(_formula(style, f"SUM({to_a1(first, col)}:{to_a1(row_at - 1, col)})", cached))
            else:
                cells.append(number(style, 0))
        sheet.fresh(row("".join(cells)))
        subtotal_rows.append(row_at)
        subtotals.append(sums)
        row_at += 1

    cells = [s.grand_label.blank, s.grand_label.blank, text(s.grand_label, GRAND_TOTAL)]
    for i, whole in enumerate(integer):
        col = first_value_col + i
        refs = ",".join(to_a1(r, col) for r in subtotal_rows)
        grand = _sum([part[i] for part in subtotals])
        cells.append(_formula(s.grand_int if whole else s.grand_num, f"SUM({refs})", grand))
    sheet.fresh(row("".join(cells)))
    reserve_rows(ws, row_at, last_col)
    ws.freeze_panes(header + 2, first_value_col)
    ws.autofilter(header + 1, 0, row_at, last_col)
    layout.page_setup(ws, landscape=True, header_rows=(header, header + 1))
    return sheet


def _data_block(s: _Styles, cell_styles: list[tuple[str, Style]], units: list[UnitResult], start: int) -> str:
    out = []
    centre, cell = s.centre, s.cell
    styles = [style for _key, style in cell_styles]
    keys = [key for key, _style in cell_styles]
    for n, unit in enumerate(units, start):
        assert unit.submission is not None
        values = map(unit.submission.values.get, keys)
        out.append(
            "<row>"
            + number(centre, n)
            + text(centre, unit.unit.code)
            + text(cell, unit.unit.name)
            + "".join(
                [
                    style.number + str(v) + "</v></c>"  # the usual case: a whole number
                    if type(v) is int and -_BIG < v < _BIG
                    else number(style, v)
                    for style, v in zip(styles, values, strict=True)
                ]
            )
            + "</row>"
        )
    return "".join(out)


_BIG = 1_000_000_000_000_000  # whole numbers below this are written as they are (as number() does)


# ---------------------------------------------------------------- Xếp loại


def ranking(result: RunResult) -> list[tuple[int | None, UnitResult]]:
    """Units by score, best first (ties share a rank: 1, 2, 2, 4), then unscored by status;
    computed once per result (the workbook and the report both rank)."""
    return result.once("ranking", partial(_rank, result))


def _rank(result: RunResult) -> list[tuple[int | None, UnitResult]]:
    scored = [(-round(u.score.total, 2), i, u) for i, u in enumerate(result.units) if u.score is not None]
    scored.sort(key=itemgetter(0, 1))
    unscored = [
        (vi.STATUS_ORDER.get(u.status, 99), i, u) for i, u in enumerate(result.units) if u.score is None
    ]
    unscored.sort(key=itemgetter(0, 1))
    ranked: list[tuple[int | None, UnitResult]] = []
    previous: float | None = None
    rank = 0
    for position, (total, _i, unit) in enumerate(scored, start=1):
        if total != previous:
            rank = position
            previous = total
        ranked.append((rank, unit))
    ranked.extend((None, u) for _o, _i, u in unscored)
    return ranked


W16, W28, W30, W32, W40, W45 = (_chars(w) for w in (16, 28, 30, 32, 40, 45))


def _ranking(
    wb: Workbook, f: layout.Formats, s: _Styles, ctx: _Context, ranked: list[tuple[int | None, UnitResult]]
) -> _Sheet:
    result, schema = ctx.result, ctx.schema
    ws = wb.add_worksheet(SHEET_RANKING)
    criteria: list[dict[str, Any]] = list(schema.rubric.get("criteria", []))
    columns: list[tuple[str, float]] = [
        ("Hạng", 6),
        ("Mã", 10),
        ("Đơn vị", 32),
        ("Tổng điểm", 9),
        ("Xếp loại", 16),
    ]
    columns += [(f"{c['label']} ({c['points']} điểm)", 12) for c in criteria]
    columns += [("Điểm tự chấm", 9), ("Chênh lệch", 9)]
    previous_name, previous = figures.previous_period(result, schema)
    if previous:
        columns += [(f"Điểm {previous_name}", 10), ("Tăng (+), giảm (-) so với kỳ trước", 10)]
    columns += [("Ghi chú", 40)]
    last_col = len(columns) - 1
    header = _simple_title(ws, f, result, last_col, "XẾP LOẠI KẾT QUẢ CÔNG TÁC DÂN VẬN CHÍNH QUYỀN")
    assert header == RANKING_HEADER_ROW
    _table_header(ws, f, header, columns)
    ws.set_row(header, 90)
    colours = _band_colours(schema)
    criterion_keys = [str(c["key"]) for c in criteria]
    rubric = schema.rubric

    def before(unit: UnitResult) -> float | None:
        past = previous.get(unit.unit.code)
        return past.score if past is not None else None

    def render(block: list[tuple[int | None, UnitResult]]) -> tuple[str, bytes]:
        out = []
        for rank, unit in block:
            band = vi.band_of(unit, rubric)
            score = unit.score
            awarded = {c.key: c.points for c in score.criteria} if score else {}
            note = score.band_rule if score else vi.unit_status_vi(unit.status)
            cells = [
                number(s.centre, rank),
                text(s.centre, unit.unit.code),
                text(s.cell, unit.unit.name),
                number(s.score, score.total if score else None),
                text(s.band[colours.get(band) or ""], band),
                *[repeated_number(s.score, awarded.get(k)) for k in criterion_keys],
                number(s.score, score.self_score if score else None),
                number(s.score, score.difference if score else None),
            ]
            if previous:
                then = before(unit)
                change = round(score.total - then, 2) if score and then is not None else None
                cells += [number(s.score, then), number(s.change, change)]
            cells.append(text(s.cell, note))
            out.append(row("".join(cells), _fit_height(((unit.unit.name, W32), (note, W40), (band, W16)))))
        return "".join(out), b""

    sheet = _Sheet(ctx, SHEET_RANKING, ws)
    hashes = ctx.unit_hash
    for block in rowxml.blocks(ranked, lambda ranked_unit: hashes[id(ranked_unit[1])], _BLOCK[SHEET_RANKING]):
        # Ranks (and previous scores) are in the key: a unit moving up or down renders again the
        # blocks whose ranks it shifts.
        if previous:
            numbers = [f"{rank}:{before(u)}" for rank, u in block]
        else:
            numbers = [str(rank) for rank, _u in block]
        units = ctx.blocks_of([u for _r, u in block])
        key = ctx.units_key(SHEET_RANKING, "\x1d".join([previous_name, *numbers]), units)
        sheet.cached(key, lambda block=block: render(block))  # type: ignore[misc]
    last_row = header + len(ranked)
    bands = list(schema.rubric.get("bands", []))
    if last_row > header and len(bands) >= 3:
        # Traffic lights on the total: green from the top band, amber from the third band.
        ws.conditional_format(
            header + 1,
            3,
            last_row,
            3,
            {
                "type": "icon_set",
                "icon_style": "3_traffic_lights",
                "icons": [
                    {"criteria": ">=", "type": "number", "value": float(bands[0]["min"])},
                    {"criteria": ">=", "type": "number", "value": float(bands[2]["min"])},
                ],
            },
        )
    _finish(ws, header, last_row, last_col, 3)
    return sheet


# ---------------------------------------------------------------- Chi tiết điểm


def _criteria(
    wb: Workbook, f: layout.Formats, s: _Styles, ctx: _Context, ranked: list[tuple[int | None, UnitResult]]
) -> _Sheet:
    """Every criterion's points for every scored unit, with the rule and figures behind them."""
    ws = wb.add_worksheet(SHEET_CRITERIA)
    columns = [
        ("Mã", 10),
        ("Đơn vị", 28),
        ("Tiêu chí", 30),
        ("Điểm đạt", 8),
        ("Điểm tối đa", 8),
        ("Quy tắc cho điểm", 45),
        ("Số liệu sử dụng", 40),
    ]
    last_col = len(columns) - 1
    header = _simple_title(ws, f, ctx.result, last_col, "CHI TIẾT ĐIỂM THEO TỪNG TIÊU CHÍ")
    _table_header(ws, f, header, columns)
    scored = [u for rank, u in ranked if rank is not None]
    # A criterion's label, points and rule repeat on many rows: their cells and the lines they
    # wrap to are worked out once.
    repeated: dict[tuple[str, float, float, str], tuple[str, str, int]] = {}

    def criterion(label: str, points: float, most: float, rule: str) -> tuple[str, str, int]:
        found = repeated.get((label, points, most, rule))
        if found is None:
            before = text(s.cell, label) + repeated_number(s.score, points) + repeated_number(s.score, most)
            lines = max(-(-len(label) // W30), -(-len(rule) // W45))
            found = repeated[(label, points, most, rule)] = (before, text(s.cell, rule), lines)
        return found

    total_label = text(s.total_label, "Tổng điểm")

    def render(units: list[UnitResult]) -> tuple[str, bytes]:
        out = []
        for unit in units:
            score = unit.score
            assert score is not None
            named = text(s.centre, unit.unit.code) + text(s.cell, unit.unit.name)
            for c in score.criteria:
                before, rule, lines = criterion(c.label, c.points, c.max_points, c.rule)
                figures = c.figures
                lines = max(lines, -(-len(figures) // W40))
                out.append(
                    row(
                        named + before + rule + text(s.cell, figures), 15.5 * lines + 2 if lines > 1 else None
                    )
                )
            cells = (
                text(s.total_label, unit.unit.code)
                + text(s.total_label, unit.unit.name)
                + total_label
                + number(s.total_num, score.total)
                + number(s.total_num, sum(c.max_points for c in score.criteria))
                + text(s.total_label, score.band_rule)
                + s.total_label.blank
            )
            out.append(row(cells, _fit_height(((unit.unit.name, W28), (score.band_rule, W45)))))
        return "".join(out), str(len(out)).encode()

    sheet = _Sheet(ctx, SHEET_CRITERIA, ws)
    rows = 0
    for block in ctx.blocks(SHEET_CRITERIA, scored):
        key = ctx.units_key(SHEET_CRITERIA, "", block)
        rows += int(sheet.cached(key, lambda block=block: render(block)))  # type: ignore[misc]
    _finish(ws, header, header + rows, last_col, 2)
    return sheet


# ---------------------------------------------------------------- Thuyết minh, Kiến nghị


def _has_text(value: Value) -> bool:
    if type(value) is str:
        return bool(value) and not value.isspace()
    return value is not None and str(value).strip() != ""


def _texts(
    s: _Styles, units: list[UnitResult], keys: Sequence[str], chars_per_line: int
) -> dict[str, tuple[str, bytes]]:
    """Per key, the rows of the units that wrote something under it, and how many rows that is
    (each unit read once for all keys)."""
    out: dict[str, list[str]] = {key: [] for key in keys}
    for unit in units:
        assert unit.submission is not None
        found = [(key, value) for key, value in zip(keys, map(unit.submission.values.get, keys), strict=True)]
        named = ""
        for key, value in found:
            if not _has_text(value):
                continue
            if not named:
                named = text(s.centre, unit.unit.code) + text(s.cell, unit.unit.name)
            shown = str(value)
            out[key].append(row(named + text(s.cell, shown), _text_height(shown, chars_per_line)))
    return {key: ("".join(rows), str(len(rows)).encode()) for key, rows in out.items()}


def _narratives(wb: Workbook, f: layout.Formats, s: _Styles, ctx: _Context) -> _Sheet:
    """For each task (then limitations, causes, directions) every unit's text, together.

    Blocks are cut over every reported unit, so whether a unit wrote a text is decided only when
    its block is rendered; the block's row count is kept with it."""
    result, schema = ctx.result, ctx.schema
    ws = wb.add_worksheet(SHEET_NARRATIVES)
    columns = [("Mã", 10), ("Đơn vị", 26), ("Nội dung", 115)]
    last_col = len(columns) - 1
    header = _simple_title(ws, f, result, last_col, "TỔNG HỢP THUYẾT MINH CỦA CÁC ĐƠN VỊ")
    _table_header(ws, f, header, columns)
    blocks = ctx.blocks(SHEET_NARRATIVES, [u for u in result.units if u.submission is not None])
    sheet = _Sheet(ctx, SHEET_NARRATIVES, ws)
    fields = [fld for fld in schema.narratives if fld.key != "n_proposals"]  # proposals: own sheet
    keys = [fld.key for fld in fields]
    rendered: dict[int, dict[str, tuple[str, bytes]]] = {}  # block → every field's rows

    def render(index: int, key: str) -> tuple[str, bytes]:
        if index not in rendered:
            rendered[index] = _texts(s, blocks[index], keys, 120)
        return rendered[index][key]

    row_at = header
    for fld in fields:
        row_at += 1
        merge_only(ws, row_at, 0, row_at, last_col)
        sheet.fresh(row(text(s.total_label, fld.label) + s.total_label.blank * last_col))
        for index, block in enumerate(blocks):
            meta = sheet.cached(
                ctx.units_key(SHEET_NARRATIVES, fld.key, block),
                lambda index=index, key=fld.key: render(index, key),  # type: ignore[misc]
            )
            row_at += int(meta)
    _finish(ws, header, row_at, last_col, 0)
    return sheet


def proposals(result: RunResult) -> list[tuple[UnitResult, str]]:
    """Every unit's proposals (kiến nghị, đề xuất), registry order."""
    out: list[tuple[UnitResult, str]] = []
    for unit in result.units:
        if unit.submission is None:
            continue
        text = unit.submission.values.get("n_proposals")
        if _has_text(text):
            out.append((unit, str(text)))
    return out


def _proposals(wb: Workbook, f: layout.Formats, s: _Styles, ctx: _Context) -> _Sheet:
    ws = wb.add_worksheet(SHEET_PROPOSALS)
    columns = [("Mã", 10), ("Đơn vị", 28), ("Kiến nghị, đề xuất", 105)]
    last_col = len(columns) - 1
    header = _simple_title(ws, f, ctx.result, last_col, "TỔNG HỢP KIẾN NGHỊ, ĐỀ XUẤT CỦA CÁC ĐƠN VỊ")
    _table_header(ws, f, header, columns)
    sheet = _Sheet(ctx, SHEET_PROPOSALS, ws)
    rows = 0
    for block in ctx.blocks(SHEET_PROPOSALS, [u for u in ctx.result.units if u.submission is not None]):
        meta = sheet.cached(
            ctx.units_key(SHEET_PROPOSALS, "", block),
            lambda block=block: _texts(s, block, ["n_proposals"], 110)["n_proposals"],  # type: ignore[misc]
        )
        rows += int(meta)
    _finish(ws, header, header + rows, last_col, 0)
    return sheet


# ---------------------------------------------------------------- Nộp muộn, Đề xuất kiểm tra


def _table(ctx: _Context, name: str, rows: list[layout.TableRow]) -> _Sheet:
    """Rows of a sheet whose writer lives in its own module (late list, inspection list):
    rendered and compressed on every run (a few thousand rows at 10,000 units, cheap to render)."""
    sheet = _Sheet(ctx, name, ctx.worksheet(name))
    sheet.fresh(layout.table_xml(rows))
    return sheet


# ---------------------------------------------------------------- Lỗi kiểm tra, Nguồn


def _issues(wb: Workbook, f: layout.Formats, s: _Styles, ctx: _Context) -> _Sheet:
    result, schema = ctx.result, ctx.schema
    ws = wb.add_worksheet(SHEET_ISSUES)
    columns = [
        ("Tệp", 30),
        ("Đơn vị", 26),
        ("Trang tính", 14),
        ("Ô", 7),
        ("Mã lỗi", 18),
        ("Mức độ", 10),
        ("Nội dung", 70),
    ]
    last_col = len(columns) - 1
    header = _simple_title(ws, f, result, last_col, "CÁC LỖI PHÁT HIỆN KHI KIỂM TRA BÁO CÁO")
    _table_header(ws, f, header, columns)
    with_issues = [sub for sub in result.files if sub.issues]

    def unit_of(sub_unit: str | None, issue_unit: str) -> str:
        return _unit_name(schema, issue_unit or sub_unit)

    def render(subs: list[Submission]) -> tuple[str, bytes]:
        out = []
        for sub in subs:
            for issue in sorted(sub.issues, key=sort_key):
                out.append(
                    "<row>"
                    + text(s.cell, issue.file or sub.file.name)
                    + text(s.cell, unit_of(sub.unit, issue.unit))
                    + text(s.cell, issue.sheet)
                    + text(s.centre, issue.cell)
                    + text(s.cell, issue.code)
                    + text(s.centre, vi.severity_vi(issue.severity))
                    + text(s.cell, issue.message)
                    + "</row>"
                )
        return "".join(out), b""

    sheet = _Sheet(ctx, SHEET_ISSUES, ws)
    for block in rowxml.blocks(
        with_issues, lambda sub: rowxml.code_hash(sub.file.name), _BLOCK[SHEET_ISSUES]
    ):
        parts = [
            "\x1e".join(
                [sub.file.name]
                + [
                    "\x1d".join(
                        (i.file, unit_of(sub.unit, i.unit), i.sheet, i.cell, i.code, i.severity, i.message)
                    )
                    for i in sub.issues
                ]
            )
            for sub in block
        ]
        sheet.cached(ctx.key(SHEET_ISSUES, *parts), lambda block=block: render(block))  # type: ignore[misc]
    _finish(ws, header, header + sum(len(sub.issues) for sub in with_issues), last_col, 0)
    return sheet


def _sources(wb: Workbook, f: layout.Formats, s: _Styles, ctx: _Context) -> _Sheet:
    result, schema = ctx.result, ctx.schema
    ws = wb.add_worksheet(SHEET_SOURCES)
    columns = [
        ("Tệp", 36),
        ("SHA-256", 30),
        ("Thời điểm nhận", 17),
        ("Nguồn thời điểm", 18),
        ("Đơn vị", 30),
        ("Trạng thái", 18),
        ("Phiên bản", 10),
    ]
    last_col = len(columns) - 1
    header = _simple_title(ws, f, result, last_col, "CÁC TỆP BÁO CÁO ĐÃ NHẬN")
    _table_header(ws, f, header, columns)
    tz = result.period.tz
    version_of = ctx.version_labels()

    def render(subs: list[Submission]) -> tuple[str, bytes]:
        out = []
        for sub in subs:
            file = sub.file
            out.append(
                "<row>"
                + text(s.cell, file.name)
                + text(s.cell, file.sha256)
                + text(s.centre, vi.fmt_datetime(file.received_at, tz))
                + text(s.cell, vi.received_source_vi(file.received_source))
                + text(s.cell, _unit_name(schema, sub.unit))
                + text(s.cell, vi.file_status_vi(sub.status))
                + text(s.centre, version_of.get((sub.unit or "", file.sha256), ""))
                + "</row>"
            )
        return "".join(out), b""

    sheet = _Sheet(ctx, SHEET_SOURCES, ws)
    for block in rowxml.blocks(
        result.files, lambda sub: rowxml.code_hash(sub.file.name), _BLOCK[SHEET_SOURCES]
    ):
        parts = [
            "\x1d".join(
                (
                    sub.file.name,
                    sub.file.sha256,
                    repr(sub.file.received_at.timestamp()) if sub.file.received_at else "",
                    sub.file.received_source,
                    sub.unit or "",
                    sub.status,
                    version_of.get((sub.unit or "", sub.file.sha256), ""),
                )
            )
            for sub in block
        ]
        sheet.cached(ctx.key(SHEET_SOURCES, *parts), lambda block=block: render(block))  # type: ignore[misc]
    _finish(ws, header, header + len(result.files), last_col, 0)
    return sheet


# ---------------------------------------------------------------- Nguồn số liệu


def _provenance(wb: Workbook, f: layout.Formats, s: _Styles, ctx: _Context) -> _Sheet:
    """Where every figure of the data sheet came from: one row per unit, in the order of the data
    sheet, each figure in its data-sheet column (D onwards) as "sheet!cell" of the unit's file;
    the file and its version beside."""
    result, schema = ctx.result, ctx.schema
    ws = wb.add_worksheet(SHEET_PROVENANCE)
    indicators = schema.indicators
    first_value_col = 3
    last_col = first_value_col + len(indicators)
    header = layout.title_rows(
        ws,
        f,
        0,
        last_col,
        [
            ("NGUỒN CỦA TỪNG SỐ LIỆU", f.title),
            (f"Kỳ báo cáo: {result.period.name_vi}", f.subtitle),
            (PROVENANCE_NOTE, f.subtitle),
        ],
    )
    columns = [("Mã", 10), ("Đơn vị", 26), ("Tệp", 34)]
    columns += [(fld.label, 14) for fld in indicators]
    columns += [("Phiên bản", 10)]
    _table_header(ws, f, header, columns)
    ws.set_row(header, 150)
    period = result.period.period.code
    # Per unit kind, for each indicator: key, the template's sheet and cell and that cell as XML,
    # or None where the indicator does not apply to that kind of unit.
    by_kind: dict[str, list[tuple[str, str, str, str] | None]] = {}
    located: dict[tuple[str, str], str] = {}  # (sheet, cell) → the cell's XML
    version_of = ctx.version_labels()

    def where(sheet: str, cell: str) -> str:
        found = located.get((sheet, cell))
        if found is None:
            found = located[(sheet, cell)] = text(s.centre, f"{sheet}!{cell}")
        return found

    def render(units: list[UnitResult]) -> tuple[str, bytes]:
        out = []
        blank = s.cell.blank
        for unit in units:
            sub = unit.submission
            assert sub is not None
            kind = by_kind.get(unit.unit.kind)
            if kind is None:
                kind = by_kind[unit.unit.kind] = [
                    (fld.key, fld.sheet, fld.cell, where(fld.sheet, fld.cell))
                    if fld.applies(unit.unit, period)
                    else None
                    for fld in indicators
                ]
            cells = sub.cells
            row_cells = [
                text(s.centre, unit.unit.code),
                text(s.cell, unit.unit.name),
                text(s.cell, sub.file.name),
            ]
            for known in kind:
                if known is None:
                    row_cells.append(blank)
                    continue
                key, sheet, cell, default = known
                at = cells.get(key)
                if at is None or (at.cell == cell and at.sheet == sheet):
                    row_cells.append(default)
                else:
                    row_cells.append(where(at.sheet, at.cell))
            row_cells.append(text(s.centre, version_of.get((unit.unit.code, sub.file.sha256), "")))
            out.append("<row>" + "".join(row_cells) + "</row>")
        return "".join(out), b""

    sheet = _Sheet(ctx, SHEET_PROVENANCE, ws)
    units = [u for group in data_rows(result) for u in group]
    for block in ctx.blocks(SHEET_PROVENANCE, units):
        # The version label is among each unit's inputs (_Context).
        sheet.cached(ctx.units_key(SHEET_PROVENANCE, "", block), lambda block=block: render(block))  # type: ignore[misc]
    _finish(ws, header, header + len(units), last_col, 3)
    return sheet
