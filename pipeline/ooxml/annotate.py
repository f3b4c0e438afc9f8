"""The unit's own .xlsx annotated at the XML level: the feedback workbook without openpyxl.

What the caller gives: the notes (`CellNote`: a cell, its severity, the comment's text) and the
report (`CheckReport`: the report sheet's title, header, rows and footer, and its `Wording`: the
sheet's name, its column headings, the comments' author). This package holds no words of its own.

Every member of the unit's package is copied as it is stored, except the few that the
annotation changes:

- `xl/styles.xml`: fonts and fills of the report sheet and of the highlights appended, and for
  each flagged cell a clone of its own cell format with the highlight fill (borders, number
  format, font and protection stay the unit's);
- each flagged sheet: the `s=` of the flagged cells (missing cells inserted in order), its
  comments part, VML drawing and relationships (`<legacyDrawing>`), no tab selected;
- the new first sheet, the report: `xl/workbook.xml` (`<sheets>`, defined names'
  `localSheetId` shifted, the active tab), its relationships, `[Content_Types].xml`, the sheet
  titles of `docProps/app.xml`, the modified date of `docProps/core.xml`;
- `xl/calcChain.xml` is dropped (Excel rebuilds it), an earlier report sheet of the same name (a
  feedback workbook sent back) is replaced.

The package model (relationships, content types, styles) is in pipeline.ooxml.parts, the
comments part and its VML drawing in pipeline.ooxml.comments.

What this path does not handle raises `Unsupported` and the caller falls back to openpyxl
(pipeline.ooxml.edit): a macro-enabled or template workbook (.xlsm/.xltx: openpyxl saves it
without macros as .xlsx), strict OOXML, no styles part, threaded comments on a flagged sheet, a
VML drawing or sheet that is not well-formed XML, rows or cells without their `r=` address on a
flagged sheet, members that are encrypted, compressed other than by deflate, or over 100 MB
unzipped in all, and any XML with a DOCTYPE.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from lxml import etree  # type: ignore[import-untyped]  # no stubs; the trees are typed Any here

from pipeline.core import cellref
from pipeline.core.statuses import SEVERITY_ORDER
from pipeline.core.vietnamese import nfc
from pipeline.ooxml.comments import comments_xml, vml_xml
from pipeline.ooxml.package import Package, PackageError
from pipeline.ooxml.parts import (
    CT_COMMENTS,
    CT_VML,
    CT_WORKBOOK,
    CT_WORKSHEET,
    EP,
    MAIN,
    REL_APP,
    REL_CALC_CHAIN,
    REL_COMMENTS,
    REL_CORE,
    REL_OFFICE_DOC,
    REL_STYLES,
    REL_THREADED,
    REL_VML,
    REL_WORKSHEET,
    VT,
    ContentTypes,
    R,
    Rels,
    Styles,
    dump,
    local,
    parse,
    q,
    rels_name,
    xml_attr,
    xml_text,
)
from pipeline.ooxml.parts import HIGHLIGHT as HIGHLIGHT
from pipeline.ooxml.parts import Unsupported as Unsupported

# A unit's file larger than this once unzipped is not annotated (zip bomb guard).
MAX_UNZIPPED_BYTES = 100 * 1024 * 1024


@dataclass(frozen=True)
class CellNote:
    """One issue at one cell of the unit's workbook: highlighted, with a comment."""

    sheet: str
    cell: str
    severity: str  # error | warning | info
    text: str


@dataclass(frozen=True)
class ReportRow:
    sheet: str
    cell: str
    text: str
    severity: str  # error | warning | info: the fill of the severity column
    severity_label: str  # what the severity column shows
    code: str


@dataclass(frozen=True)
class Wording:
    """The caller's words in a feedback workbook (the defaults are only placeholders)."""

    sheet: str = "Report"  # name of the report sheet; an earlier sheet of this name is replaced
    headings: tuple[str, str, str, str, str, str] = ("No.", "Sheet", "Cell", "Text", "Severity", "Code")
    author: str = "Reviewer"  # of the comments (and the creator of a workbook made from nothing)


@dataclass(frozen=True)
class CheckReport:
    """The first sheet of a feedback workbook: who, what, until when, and each thing to fix."""

    title: str
    header: tuple[tuple[str, str], ...]  # (label, value) lines under the title
    rows: tuple[ReportRow, ...]
    footer: tuple[str, ...]  # how to resend
    wording: Wording = Wording()


def lines(text: str, width: int) -> int:
    """Lines that wrapped text takes at about `width` characters a line."""
    return sum(max(1, -(-len(part) // width)) for part in text.split("\n"))


# Worksheet children that must come after <legacyDrawing> (CT_Worksheet sequence).
_AFTER_LEGACY = frozenset(
    (
        "legacyDrawingHF",
        "drawingHF",
        "picture",
        "oleObjects",
        "controls",
        "webPublishItems",
        "tableParts",
        "extLst",
    )
)
_TAB_SELECTED = re.compile(rb"""(<(?:\w+:)?sheetView\b[^>]*?)\s+tabSelected\s*=\s*(["'])(?:1|true)\2""")
_CORE_MODIFIED = re.compile(rb"(<dcterms:modified\b[^>]*>)[^<]*(</dcterms:modified>)")


@dataclass
class _Sheet:
    name: str
    sheet_id: int
    rel_id: str
    kind: str  # relationship type
    part: str | None
    element: Any


# --- the report sheet --------------------------------------------------------------------------

_COLUMNS = (6, 18, 8, 80, 11, 20)  # number, sheet, cell, text, severity, code


def _str_cell(ref: str, style: int, value: str) -> str:
    space = ' xml:space="preserve"' if value != value.strip() else ""
    return f'<c r="{ref}" s="{style}" t="inlineStr"><is><t{space}>{xml_text(value)}</t></is></c>'


def report_sheet_xml(report: CheckReport, xf: dict[str, int], sheet_names: dict[str, str]) -> bytes:
    """The worksheet XML of the report sheet (the same layout as edit's openpyxl sheet).

    `xf` holds the cell format indexes of styles.xml; `sheet_names` maps a note's (NFC) sheet
    name to the name in the workbook, for the links of the cell column.
    """
    rows: list[str] = []
    merges = ["A1:F1"]
    links: list[str] = []
    rows.append(f'<row r="1">{_str_cell("A1", xf["title"], report.title)}</row>')
    row = 3
    for label, value in report.header:
        merges.append(f"A{row}:C{row}")
        rows.append(
            f'<row r="{row}">'
            + _str_cell(f"A{row}", xf["label"], label)
            + _str_cell(f"D{row}", xf["value"], value)
            + "</row>"
        )
        row += 1
    row += 1
    head_row = row
    rows.append(
        f'<row r="{row}">'
        + "".join(
            _str_cell(f"{cellref.col_letters(c)}{row}", xf["head"], h)
            for c, h in enumerate(report.wording.headings)
        )
        + "</row>"
    )
    for n, item in enumerate(report.rows, start=1):
        row += 1
        cell_style = xf["value"]
        if item.sheet and item.cell:
            target = cellref.quote_sheet(sheet_names.get(item.sheet, item.sheet)) + "!" + item.cell
            links.append(
                f'<hyperlink ref="C{row}" location="{xml_attr(target)}" display="{xml_attr(item.cell)}"/>'
            )
            cell_style = xf["link"]
        rows.append(
            f'<row r="{row}" ht="{16 * lines(item.text, 75)}" customHeight="1">'
            f'<c r="A{row}" s="{xf["value"]}"><v>{n}</v></c>'
            + _str_cell(f"B{row}", xf["value"], item.sheet)
            + _str_cell(f"C{row}", cell_style, item.cell)
            + _str_cell(f"D{row}", xf["value"], item.text)
            + _str_cell(f"E{row}", xf.get(f"sev-{item.severity}", xf["value"]), item.severity_label)
            + _str_cell(f"F{row}", xf["value"], item.code)
            + "</row>"
        )
    row += 1
    for line in report.footer:
        row += 1
        merges.append(f"A{row}:F{row}")
        rows.append(
            f'<row r="{row}" ht="{16 * lines(line, 120)}" customHeight="1">'
            + _str_cell(f"A{row}", xf["value"], line)
            + "</row>"
        )
    cols = "".join(
        f'<col min="{c}" max="{c}" width="{w}" customWidth="1"/>' for c, w in enumerate(_COLUMNS, start=1)
    )
    parts = [
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n',
        f'<worksheet xmlns="{MAIN}" xmlns:r="{R}">',
        '<sheetPr><pageSetUpPr fitToPage="1"/></sheetPr>',
        f'<dimension ref="A1:F{row}"/>',
        '<sheetViews><sheetView tabSelected="1" workbookViewId="0">',
        f'<pane ySplit="{head_row}" topLeftCell="A{head_row + 1}" activePane="bottomLeft" state="frozen"/>',
        '<selection pane="bottomLeft" activeCell="A1" sqref="A1"/></sheetView></sheetViews>',
        '<sheetFormatPr defaultRowHeight="15"/>',
        f"<cols>{cols}</cols>",
        f"<sheetData>{''.join(rows)}</sheetData>",
        f'<mergeCells count="{len(merges)}">'
        + "".join(f'<mergeCell ref="{m}"/>' for m in merges)
        + "</mergeCells>",
        f"<hyperlinks>{''.join(links)}</hyperlinks>" if links else "",
        '<pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" footer="0.3"/>',
        '<pageSetup paperSize="9" orientation="landscape" fitToWidth="1" fitToHeight="0"/>',
        "</worksheet>",
    ]
    return "".join(parts).encode("utf-8")


# --- flagged sheets ------------------------------------------------------------------------------


def _merged_top_left(root: Any) -> list[tuple[int, int, int, int]]:
    ranges = []
    for m in root.iterfind(f"{q('mergeCells')}/{q('mergeCell')}"):
        try:
            ranges.append(cellref.span(str(m.get("ref", ""))))
        except ValueError:
            continue
    return ranges


@dataclass
class _SheetCells:
    """The rows and cells of one sheet's <sheetData>, found or inserted by position."""

    data: Any
    col_styles: list[tuple[int, int, int]]
    rows: dict[int, Any] = field(default_factory=dict)
    extent: list[int] = field(default_factory=lambda: [-1, -1, -1, -1])

    def __post_init__(self) -> None:
        for row in self.data.iterfind(q("row")):
            r = row.get("r")
            if r is None or not r.isdigit():
                raise Unsupported("a row without its address")
            self.rows[int(r) - 1] = row

    def cell(self, row: int, col: int) -> tuple[Any, int]:
        """The <c> at (row, col), inserted when missing, and the format it shows."""
        row_el = self.rows.get(row)
        if row_el is None:
            row_el = etree.Element(q("row"))
            row_el.set("r", str(row + 1))
            after = [r for r in self.rows if r < row]
            if after:
                self.rows[max(after)].addnext(row_el)
            else:
                self.data.insert(0, row_el)
            self.rows[row] = row_el
        ref = cellref.to_a1(row, col)
        before = None
        for c in row_el.iterfind(q("c")):
            address = c.get("r")
            if address is None:
                raise Unsupported("a cell without its address")
            found = cellref.from_a1(address)[1]
            if found == col:
                return c, int(c.get("s", "0") or 0)
            if found > col:
                before = c
                break
        c = etree.Element(q("c"))
        c.set("r", ref)
        if before is not None:
            before.addprevious(c)
        else:
            row_el.append(c)
        if "spans" in row_el.attrib:
            del row_el.attrib["spans"]  # an optional hint that the new cell may not fit
        r1, c1, r2, c2 = self.extent
        self.extent = [
            row if r1 < 0 else min(r1, row),
            col if c1 < 0 else min(c1, col),
            max(r2, row),
            max(c2, col),
        ]
        if row_el.get("customFormat") in ("1", "true"):
            return c, int(row_el.get("s", "0") or 0)
        for low, high, style in self.col_styles:
            if low <= col + 1 <= high:
                return c, style
        return c, 0


def _col_styles(root: Any) -> list[tuple[int, int, int]]:
    found = []
    for col in root.iterfind(f"{q('cols')}/{q('col')}"):
        try:
            found.append(
                (int(col.get("min", "0")), int(col.get("max", "0")), int(col.get("style", "0") or 0))
            )
        except ValueError:
            continue
    return found


def _widen_dimension(root: Any, extent: list[int]) -> None:
    dim = root.find(q("dimension"))
    if dim is None or extent[0] < 0:
        return
    try:
        r1, c1, r2, c2 = cellref.span(str(dim.get("ref", "")))
    except ValueError:
        return
    top, left = min(r1, extent[0]), min(c1, extent[1])
    bottom, right = max(r2, extent[2]), max(c2, extent[3])
    dim.set("ref", f"{cellref.to_a1(top, left)}:{cellref.to_a1(bottom, right)}")


def _clear_tab_selected(root: Any) -> None:
    for view in root.iterfind(f"{q('sheetViews')}/{q('sheetView')}"):
        if view.get("tabSelected") in ("1", "true"):
            del view.attrib["tabSelected"]


# --- the annotation ------------------------------------------------------------------------------


class _Annotation:
    def __init__(
        self, pkg: Package, notes: Sequence[CellNote], report: CheckReport, modified: datetime
    ) -> None:
        self.pkg = pkg
        self.notes = notes
        self.report = report
        self.modified = modified
        self.types = ContentTypes(pkg)
        self.new_parts: set[str] = set()

    def free_part(self, pattern: str) -> str:
        n = 1
        while self.pkg.has(pattern.format(n)) or pattern.format(n) in self.new_parts:
            n += 1
        self.new_parts.add(pattern.format(n))
        return pattern.format(n)

    def run(self) -> bytes:
        pkg = self.pkg
        root_rels = Rels(pkg, "")
        office = root_rels.first(REL_OFFICE_DOC)
        if office is None or office[1] is None or not pkg.has(office[1]):
            raise Unsupported("no workbook part")
        wb_part = office[1]
        if self.types.type_of(wb_part) != CT_WORKBOOK:
            raise Unsupported(f"workbook content type {self.types.type_of(wb_part)!r} (macros, template)")
        wb = parse(pkg.read(wb_part))
        if wb.tag != q("workbook"):
            raise Unsupported(f"workbook root {wb.tag} (strict OOXML?)")
        wb_rels = Rels(pkg, wb_part)
        sheets_el = wb.find(q("sheets"))
        if sheets_el is None:
            raise Unsupported("no <sheets>")
        sheets: list[_Sheet] = []
        for el in sheets_el.iterfind(q("sheet")):
            rid = str(el.get(q("id", R), ""))
            rel = wb_rels.get(rid)
            sheets.append(
                _Sheet(
                    str(el.get("name", "")),
                    int(el.get("sheetId", "0")),
                    rid,
                    rel[0] if rel else "",
                    rel[1] if rel else None,
                    el,
                )
            )
        sheet_name = self.report.wording.sheet
        old = [s for s in sheets if nfc(s.name).casefold() == nfc(sheet_name).casefold()]
        kept = [s for s in sheets if s not in old]
        self.drop_sheets(wb_rels, old, kept)

        styles_rel = wb_rels.first(REL_STYLES)
        if styles_rel is None or styles_rel[1] is None or not pkg.has(styles_rel[1]):
            raise Unsupported("no styles part")
        styles = Styles(parse(pkg.read(styles_rel[1])))

        by_name = {nfc(s.name): s for s in kept if s.kind == REL_WORKSHEET and s.part and pkg.has(s.part)}
        grouped: dict[str, dict[str, list[CellNote]]] = {}
        for note in self.notes:
            if note.sheet in by_name and note.cell and cellref.is_a1(note.cell):
                grouped.setdefault(note.sheet, {}).setdefault(note.cell.upper().replace("$", ""), []).append(
                    note
                )
        for name, cells in grouped.items():
            self.annotate_sheet(by_name[name], cells, styles)
        for s in kept:  # one selected tab, ours: several would group the sheets in Excel
            if s.part and nfc(s.name) not in grouped and pkg.has(s.part):
                head = pkg.head(s.part, 8192)  # <sheetViews> comes before <sheetData>
                if b"tabSelected" not in head and (b"sheetData" in head or b"sheetViews>" in head):
                    continue
                data = pkg.read(s.part)
                if b"tabSelected" in data:
                    cleared = _TAB_SELECTED.sub(rb"\1", data)
                    if cleared != data:
                        pkg.put(s.part, cleared)

        wb_dir = posixpath.dirname(wb_part)
        report_part = self.free_part(posixpath.join(wb_dir, "worksheets", "sheet{}.xml"))
        names = {nfc(s.name): s.name for s in kept}
        pkg.put(report_part, report_sheet_xml(self.report, styles.report, names))
        self.types.override(report_part, CT_WORKSHEET)
        rid = wb_rels.add(REL_WORKSHEET, report_part)
        new = etree.Element(q("sheet"), nsmap={"r": R})
        new.set("name", sheet_name)
        new.set("sheetId", str(max((s.sheet_id for s in kept), default=0) + 1))
        new.set(q("id", R), rid)
        sheets_el.insert(0, new)
        self.shift_sheet_indexes(wb, sheets, old)
        calc = wb_rels.first(REL_CALC_CHAIN)
        if calc is not None:  # cell positions by sheet: Excel rebuilds the chain
            wb_rels.remove(calc[0])
            if calc[1]:
                pkg.remove(calc[1])
                self.types.remove(calc[1])
        pkg.put(styles_rel[1], dump(styles.root))
        pkg.put(wb_part, dump(wb))
        wb_rels.save(pkg)
        self.update_properties(root_rels, [s.name for s in sheets if s.kind == REL_WORKSHEET], old)
        self.types.save(pkg)
        return pkg.save()

    def drop_sheets(self, wb_rels: Rels, old: list[_Sheet], kept: list[_Sheet]) -> None:
        """Remove an earlier report sheet (a feedback workbook sent back) with its parts."""
        if not old:
            return
        pkg = self.pkg
        referenced: set[str] = set()
        for s in kept:
            if s.part:
                referenced.update(p for _, _, p in Rels(pkg, s.part) if p)
        referenced.update(p for _, _, p in wb_rels if p)
        for s in old:
            s.element.getparent().remove(s.element)
            wb_rels.remove(s.rel_id)
            if not s.part:
                continue
            for _, _, target in Rels(pkg, s.part):
                if target and target not in referenced and target != s.part:
                    pkg.remove(target)
                    pkg.remove(rels_name(target))
                    self.types.remove(target)
            pkg.remove(rels_name(s.part))
            if s.part not in referenced:
                pkg.remove(s.part)
                self.types.remove(s.part)

    def shift_sheet_indexes(self, wb: Any, sheets: list[_Sheet], old: list[_Sheet]) -> None:
        """Sheet positions after ours went first: defined names' localSheetId, the active tab."""
        position: dict[int, int] = {}
        n = 1
        for i, s in enumerate(sheets):
            if s not in old:
                position[i] = n
                n += 1
        for name in list(wb.iterfind(f"{q('definedNames')}/{q('definedName')}")):
            local = name.get("localSheetId")
            if local is None:
                continue
            if not local.isdigit() or int(local) not in position:
                name.getparent().remove(name)  # it belonged to the removed sheet
            else:
                name.set("localSheetId", str(position[int(local)]))
        names = wb.find(q("definedNames"))
        if names is not None and not len(names):
            wb.remove(names)
        for view in wb.iterfind(f"{q('bookViews')}/{q('workbookView')}"):
            view.set("activeTab", "0")
            view.set("firstSheet", "0")

    def annotate_sheet(self, sheet: _Sheet, cells: dict[str, list[CellNote]], styles: Styles) -> None:
        pkg = self.pkg
        assert sheet.part is not None
        root = parse(pkg.read(sheet.part))
        if root.tag != q("worksheet"):
            raise Unsupported(f"sheet root {root.tag}")
        rels = Rels(pkg, sheet.part)
        if any(kind == REL_THREADED for _, kind, _ in rels):
            raise Unsupported("threaded comments")
        data = root.find(q("sheetData"))
        if data is None:
            raise Unsupported("no <sheetData>")
        merged = _merged_top_left(root)
        table = _SheetCells(data, _col_styles(root))
        texts: dict[str, str] = {}
        for ref in sorted(cells, key=cellref.from_a1):
            items = cells[ref]
            row, col = cellref.from_a1(ref)
            for r1, c1, r2, c2 in merged:  # a merged range is commented at its top-left cell
                if r1 <= row <= r2 and c1 <= col <= c2:
                    row, col = r1, c1
                    break
            cell, shown = table.cell(row, col)
            worst = min(items, key=lambda n: SEVERITY_ORDER.get(n.severity, 9)).severity
            cell.set("s", str(styles.highlighted(shown, worst)))
            key = cellref.to_a1(row, col)
            text = "\n\n".join(n.text for n in items)
            texts[key] = f"{texts[key]}\n\n{text}" if key in texts else text
        _widen_dimension(root, table.extent)
        _clear_tab_selected(root)

        comments = rels.first(REL_COMMENTS)
        comments_part = comments[1] if comments else None
        if comments_part is None:
            comments_part = self.free_part(
                posixpath.join(posixpath.dirname(posixpath.dirname(sheet.part)), "comments{}.xml")
            )
            rels.add(REL_COMMENTS, comments_part)
        xml, every = comments_xml(pkg, comments_part, texts, self.report.wording.author)
        pkg.put(comments_part, xml)
        self.types.override(comments_part, CT_COMMENTS)

        legacy = root.find(q("legacyDrawing"))
        vml_part = None
        if legacy is not None:
            found = rels.get(str(legacy.get(q("id", R), "")))
            if found is None or found[0] != REL_VML or found[1] is None:
                raise Unsupported("legacyDrawing without its VML part")
            vml_part = found[1]
        else:
            vml_part = self.free_part(
                posixpath.join(
                    posixpath.dirname(posixpath.dirname(sheet.part)), "drawings", "vmlDrawing{}.vml"
                )
            )
            legacy = etree.Element(q("legacyDrawing"), nsmap={"r": R})
            legacy.set(q("id", R), rels.add(REL_VML, vml_part))
            after = next((c for c in root if local(c.tag) in _AFTER_LEGACY), None)
            if after is not None:
                after.addprevious(legacy)
            else:
                root.append(legacy)
        pkg.put(vml_part, vml_xml(pkg, vml_part, max(1, sheet.sheet_id), every))
        if self.types.type_of(vml_part) != CT_VML:
            self.types.override(vml_part, CT_VML)
        rels.save(pkg)
        pkg.put(sheet.part, dump(root))

    def update_properties(self, root_rels: Rels, worksheets: list[str], old: list[_Sheet]) -> None:
        pkg = self.pkg
        app = root_rels.first(REL_APP)
        if app is not None and app[1] and pkg.has(app[1]):
            root = parse(pkg.read(app[1]))
            _retitle(root, self.report.wording.sheet, worksheets, {s.name for s in old})
            pkg.put(app[1], dump(root))
        core = root_rels.first(REL_CORE)
        if core is not None and core[1] and pkg.has(core[1]):
            stamp = self.modified.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
            data = pkg.read(core[1])
            dated = _CORE_MODIFIED.sub(lambda m: m.group(1) + stamp + m.group(2), data)
            if dated != data:
                pkg.put(core[1], dated)


def _retitle(app: Any, title: str, worksheets: list[str], removed: set[str]) -> None:
    """docProps/app.xml: our sheet first among the worksheet titles; titles that cannot be
    matched with the workbook are dropped (optional, Excel rewrites them)."""
    pairs_el, titles_el = app.find(f"{{{EP}}}HeadingPairs"), app.find(f"{{{EP}}}TitlesOfParts")
    if pairs_el is None or titles_el is None:
        for el in (pairs_el, titles_el):
            if el is not None:
                app.remove(el)
        return
    pairs_vec, titles_vec = pairs_el.find(f"{{{VT}}}vector"), titles_el.find(f"{{{VT}}}vector")
    try:
        assert pairs_vec is not None and titles_vec is not None
        variants = list(pairs_vec)
        titles = list(titles_vec)
        offset = 0
        for k in range(0, len(variants) - 1, 2):
            count_el = variants[k + 1][0]
            count = int(count_el.text or "0")
            names = [t.text or "" for t in titles[offset : offset + count]]
            if names == worksheets:
                for t in titles[offset : offset + count]:
                    if (t.text or "") in removed:
                        titles_vec.remove(t)
                first = etree.Element(f"{{{VT}}}lpstr")
                first.text = title
                titles_vec.insert(offset, first)
                count_el.text = str(count + 1 - len([n for n in names if n in removed]))
                titles_vec.set("size", str(len(titles_vec)))
                return
            offset += count
    except (AssertionError, IndexError, ValueError, TypeError):
        pass
    app.remove(pairs_el)
    app.remove(titles_el)


def annotated_xlsx(
    source: Path | bytes, notes: Sequence[CellNote], report: CheckReport, *, modified: datetime
) -> bytes:
    """The unit's .xlsx (path or bytes, only read) with each noted cell filled by severity and
    commented, and the report as a new, active first sheet. Unsupported: use openpyxl."""
    try:
        data = source if isinstance(source, bytes) else Path(source).read_bytes()
        pkg = Package(data)
        if pkg.unzipped_size > MAX_UNZIPPED_BYTES:
            raise Unsupported("too large once unzipped")
        return _Annotation(pkg, notes, report, modified).run()
    except Unsupported:
        raise
    except (PackageError, etree.XMLSyntaxError, OSError, KeyError, ValueError, IndexError) as exc:
        raise Unsupported(f"{exc.__class__.__name__}: {exc}") from exc
