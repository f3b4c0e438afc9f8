"""The unit's own .xlsx annotated at the XML level (pipeline.ooxml.annotate), on real files: read back
with openpyxl, python-calamine and LibreOffice, and checked for the structure Excel insists on."""

from __future__ import annotations

import io
import posixpath
import zipfile
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import python_calamine
from lxml import etree  # type: ignore[import-untyped]

from pipeline.ooxml import annotate, parts
from pipeline.ooxml.annotate import HIGHLIGHT, CellNote, CheckReport, ReportRow
from pipeline.ooxml.edit import save_workbook
from pipeline.outputs import feedback
from pipeline.outputs.feedback import COMMENT_AUTHOR, FEEDBACK_SHEET, WORDING
from tests.conftest import soffice_convert

MODIFIED = datetime(2023, 4, 10, 9, 0, 0)
MAIN = parts.MAIN
R = parts.R
PKG_R = parts.PKG_R
CT = parts.CT
# CT_Worksheet: the order its children must come in.
WORKSHEET_ORDER = [
    "sheetPr", "dimension", "sheetViews", "sheetFormatPr", "cols", "sheetData", "sheetCalcPr",
    "sheetProtection", "protectedRanges", "scenarios", "autoFilter", "sortState", "dataConsolidate",
    "customSheetViews", "mergeCells", "phoneticPr", "conditionalFormatting", "dataValidations",
    "hyperlinks", "printOptions", "pageMargins", "pageSetup", "headerFooter", "rowBreaks", "colBreaks",
    "customProperties", "cellWatches", "ignoredErrors", "smartTags", "drawing", "legacyDrawing",
    "legacyDrawingHF", "drawingHF", "picture", "oleObjects", "controls", "webPublishItems", "tableParts",
    "extLst",
]  # fmt: skip


def _xml(zf: zipfile.ZipFile, name: str) -> Any:
    return etree.fromstring(zf.read(name))


def package_problems(data: bytes) -> list[str]:
    """What Excel would repair or refuse in a package: parts without a content type, content
    types or relationships pointing at nothing, duplicate ids and names, sheet children out of
    order, cell formats, fonts and fills out of range, more than one selected tab."""
    problems: list[str] = []
    zf = zipfile.ZipFile(io.BytesIO(data))
    names = set(zf.namelist())
    if len(names) != len(zf.namelist()):
        problems.append("duplicate zip members")
    types = _xml(zf, "[Content_Types].xml")
    defaults = {d.get("Extension").lower(): d.get("ContentType") for d in types.iterfind(f"{{{CT}}}Default")}
    overrides = {
        o.get("PartName").lstrip("/"): o.get("ContentType") for o in types.iterfind(f"{{{CT}}}Override")
    }
    for part in overrides:
        if part not in names:
            problems.append(f"content type for a missing part {part}")
    for part in names - {"[Content_Types].xml"}:
        if part not in overrides and posixpath.basename(part).rpartition(".")[2].lower() not in defaults:
            problems.append(f"no content type for {part}")
    targets: dict[str, dict[str, tuple[str, str]]] = {}  # source part → id → (type, target part)
    for rels in sorted(n for n in names if n.endswith(".rels")):
        folder, base = posixpath.split(rels)
        source = posixpath.join(posixpath.dirname(folder), base[: -len(".rels")])
        if source and source not in names:
            problems.append(f"relationships of a missing part {rels}")
        ids: dict[str, tuple[str, str]] = {}
        for rel in _xml(zf, rels).iterfind(f"{{{PKG_R}}}Relationship"):
            if rel.get("Id") in ids:
                problems.append(f"duplicate relationship id {rel.get('Id')} in {rels}")
            target = parts.resolve(source, rel.get("Target"), rel.get("TargetMode"))
            if rel.get("TargetMode") != "External" and target not in names:
                problems.append(f"{rels}: {rel.get('Id')} points at a missing part {rel.get('Target')}")
            ids[rel.get("Id")] = (rel.get("Type"), target or "")
        targets[source] = ids
    wb_part = next(p for t, p in targets[""].values() if t.endswith("/officeDocument"))
    wb = _xml(zf, wb_part)
    sheets = list(wb.iterfind(f"{{{MAIN}}}sheets/{{{MAIN}}}sheet"))
    for attr in ("sheetId", "name", f"{{{R}}}id"):
        values = [str(s.get(attr)).casefold() for s in sheets]
        if len(set(values)) != len(values):
            problems.append(f"duplicate sheet {attr}: {values}")
    for name in wb.iterfind(f"{{{MAIN}}}definedNames/{{{MAIN}}}definedName"):
        if name.get("localSheetId") is not None and int(name.get("localSheetId")) >= len(sheets):
            problems.append(f"defined name {name.get('name')} of sheet {name.get('localSheetId')}")
    for view in wb.iterfind(f"{{{MAIN}}}bookViews/{{{MAIN}}}workbookView"):
        if int(view.get("activeTab", "0")) >= len(sheets):
            problems.append("active tab out of range")
    styles = _xml(zf, next(p for t, p in targets[wb_part].values() if t.endswith("/styles")))
    counts = {}
    for group, item in (("fonts", "font"), ("fills", "fill"), ("borders", "border"), ("cellXfs", "xf")):
        el = styles.find(f"{{{MAIN}}}{group}")
        counts[group] = len(el.findall(f"{{{MAIN}}}{item}"))
        if el.get("count") is not None and int(el.get("count")) != counts[group]:
            problems.append(f"styles {group} count {el.get('count')} for {counts[group]}")
    for xf in styles.iterfind(f"{{{MAIN}}}cellXfs/{{{MAIN}}}xf"):
        for attr, group in (("fontId", "fonts"), ("fillId", "fills"), ("borderId", "borders")):
            if int(xf.get(attr, "0")) >= counts[group]:
                problems.append(f"cell format {attr} {xf.get(attr)} out of range")
    selected = 0
    for sheet in sheets:
        kind, part = targets[wb_part][sheet.get(f"{{{R}}}id")]
        if not kind.endswith("/worksheet"):
            continue
        ws = _xml(zf, part)
        order = [WORKSHEET_ORDER.index(etree.QName(c).localname) for c in ws if isinstance(c.tag, str)]
        if order != sorted(order):
            problems.append(f"{part}: children out of order")
        selected += sum(v.get("tabSelected") in ("1", "true") for v in ws.iter(f"{{{MAIN}}}sheetView"))
        for c in ws.iter(f"{{{MAIN}}}c"):
            if int(c.get("s", "0")) >= counts["cellXfs"]:
                problems.append(f"{part}!{c.get('r')}: format {c.get('s')} out of range")
        legacy = ws.find(f"{{{MAIN}}}legacyDrawing")
        rels = targets.get(part, {})
        if legacy is not None and rels.get(legacy.get(f"{{{R}}}id"), ("", ""))[0] != parts.REL_VML:
            problems.append(f"{part}: legacyDrawing without its VML relationship")
        comments = [p for t, p in rels.values() if t == parts.REL_COMMENTS]
        if comments and legacy is None:
            problems.append(f"{part}: comments without a VML drawing")
        for c in comments:
            refs = [x.get("ref") for x in _xml(zf, c).iter(f"{{{MAIN}}}comment")]
            if len(set(refs)) != len(refs):
                problems.append(f"{c}: two comments at one cell")
        for vml in (p for t, p in rels.values() if t == parts.REL_VML):
            etree.fromstring(zf.read(vml))  # well-formed
    if selected != 1:
        problems.append(f"{selected} selected tabs")
    return problems


def _report(notes: list[CellNote]) -> CheckReport:
    rows = tuple(ReportRow(n.sheet, n.cell, n.text, n.severity, n.severity, "rule-violated") for n in notes)
    return CheckReport(
        "KẾT QUẢ KIỂM TRA",
        (("Đơn vị", "Sở Thử nghiệm"), ("Kết quả", "Bị trả lại")),
        rows,
        ("Gửi lại",),
        WORDING,
    )


def _values(path: Path | bytes) -> dict[str, list[list[Any]]]:
    wb = python_calamine.CalamineWorkbook.from_filelike(
        io.BytesIO(path if isinstance(path, bytes) else path.read_bytes())
    )
    return {name: wb.get_sheet_by_name(name).to_python() for name in wb.sheet_names}


def _annotated(source: Path, notes: list[CellNote], tmp_path: Path, name: str = "out.xlsx") -> Path:
    data = annotate.annotated_xlsx(source, notes, _report(notes), modified=MODIFIED)
    assert package_problems(data) == []
    out = tmp_path / name
    out.write_bytes(data)
    return out


def _check_notes(path: Path, notes: list[CellNote], *, author: bool = True) -> Any:
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames[0] == FEEDBACK_SHEET and wb.active.title == FEEDBACK_SHEET
    for note in notes:
        cell = wb[note.sheet][note.cell]
        assert cell.fill.fgColor.rgb == HIGHLIGHT[note.severity], note
        assert cell.comment is not None and note.text in cell.comment.text, note
        assert not author or cell.comment.author == COMMENT_AUTHOR
    rows = list(wb[FEEDBACK_SHEET].iter_rows(values_only=True))
    start = next(n for n, r in enumerate(rows) if r[0] == "STT") + 1
    assert [(r[1], r[2], r[3]) for r in rows[start : start + len(notes)]] == [
        (n.sheet, n.cell, n.text) for n in notes
    ]
    return wb


NOTES = [
    CellNote("Số liệu", "D7", "error", "[Lỗi – value-not-number] Ô D7 phải là số."),
    CellNote("Thông tin chung", "C12", "warning", "[Cảnh báo – value-bad-email] Thư điện tử không hợp lệ."),
]


def test_filled_template_annotated_in_place(filled_xlsx: Path, tmp_path: Path) -> None:
    out = _annotated(filled_xlsx, NOTES, tmp_path)
    wb = _check_notes(out, NOTES)
    source = openpyxl.load_workbook(filled_xlsx)
    for note in NOTES:  # the unit's own format is kept, only the fill changes
        before, after = source[note.sheet][note.cell], wb[note.sheet][note.cell]
        assert (before.number_format, before.border.left.style, before.font.name) == (
            after.number_format,
            after.border.left.style,
            after.font.name,
        )
    values = _values(out)
    assert next(iter(values)) == FEEDBACK_SHEET
    original = _values(filled_xlsx)
    assert {k: v for k, v in values.items() if k != FEEDBACK_SHEET} == original
    assert wb.defined_names.keys() == source.defined_names.keys()  # every input's name is kept
    with zipfile.ZipFile(filled_xlsx) as before_zip, zipfile.ZipFile(out) as after_zip:
        untouched = [n for n in before_zip.namelist() if n.startswith("xl/theme/")]
        assert untouched and all(before_zip.read(n) == after_zip.read(n) for n in untouched)


def test_print_titles_stay_on_their_sheet(filled_xlsx: Path, tmp_path: Path) -> None:
    """Defined names local to a sheet follow it when the report sheet goes first."""
    out = _annotated(filled_xlsx, NOTES, tmp_path)
    src = openpyxl.load_workbook(filled_xlsx)
    wb = openpyxl.load_workbook(out)
    for ws in src.worksheets:
        assert wb[ws.title].print_title_rows == ws.print_title_rows


def test_cells_missing_merged_and_on_other_sheets(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Số liệu"
    ws["A1"] = "Tiêu đề"
    ws["B2"] = 5
    ws.merge_cells("B2:C3")
    ws["D5"] = "=1+1"
    other = wb.create_sheet("Khác")
    other["A1"] = "x"
    other.sheet_view.tabSelected = True  # the unit left two tabs selected
    source = tmp_path / "don-vi.xlsx"
    save_workbook(wb, source)
    notes = [
        CellNote("Số liệu", "C3", "error", "Ô trong vùng gộp"),
        CellNote("Số liệu", "F20", "warning", "Ô chưa có"),
        CellNote("Số liệu", "A4", "error", "Dòng chưa có"),
        CellNote("Không có", "A1", "error", "Trang tính không có"),
        CellNote("Số liệu", "??", "error", "Ô sai"),
    ]
    out = _annotated(source, notes, tmp_path)
    got = openpyxl.load_workbook(out)
    assert got["Số liệu"]["B2"].fill.fgColor.rgb == HIGHLIGHT["error"]  # the merged range's top-left
    assert "Ô trong vùng gộp" in got["Số liệu"]["B2"].comment.text
    for ref, severity in (("F20", "warning"), ("A4", "error")):
        assert got["Số liệu"][ref].fill.fgColor.rgb == HIGHLIGHT[severity]
        assert got["Số liệu"][ref].comment is not None
    assert got["Số liệu"]["D5"].value == "=1+1" and got["Số liệu"]["B2"].value == 5
    assert got.sheetnames == [FEEDBACK_SHEET, "Số liệu", "Khác"]


def test_feedback_workbook_sent_back_is_annotated_again(filled_xlsx: Path, tmp_path: Path) -> None:
    """A unit resends our feedback workbook with a comment of its own: the old report sheet and
    our old comments are replaced, the unit's comment is kept under ours."""
    first = _annotated(filled_xlsx, NOTES, tmp_path, "first.xlsx")
    wb = openpyxl.load_workbook(first)
    from openpyxl.comments import Comment

    wb["Số liệu"]["D8"].comment = Comment("Đơn vị giải thích số liệu", "Nguyễn Văn A")
    resent = tmp_path / "resent.xlsx"
    save_workbook(wb, resent)
    notes = [
        CellNote("Số liệu", "D7", "warning", "[Cảnh báo] Xem lại D7."),
        CellNote("Số liệu", "D8", "error", "[Lỗi] Sửa D8."),
    ]
    out = _annotated(resent, notes, tmp_path, "second.xlsx")
    got = _check_notes(out, notes)
    assert got.sheetnames.count(FEEDBACK_SHEET) == 1
    assert got["Số liệu"]["D7"].comment.text == notes[0].text  # our old comment replaced
    assert got["Số liệu"]["D8"].comment.text.endswith("---\nĐơn vị giải thích số liệu")
    assert got["Thông tin chung"]["C12"].comment.text == NOTES[1].text  # not flagged now: left
    assert next(iter(_values(out))) == FEEDBACK_SHEET


def test_libreoffice_saved_workbook(converted: Mapping[str, Path], tmp_path: Path) -> None:
    """LibreOffice's .xlsx (shared strings, its own styles) is annotated here; LibreOffice reads
    the result back with the fills and comments; a macro-enabled .xlsm is left to openpyxl."""
    out = _annotated(converted["xlsx"], NOTES, tmp_path)
    _check_notes(out, NOTES)
    back = soffice_convert(out, "xlsx", tmp_path / "lo")
    _check_notes(back, NOTES, author=False)  # LibreOffice drops comment authors
    assert _values(back)[FEEDBACK_SHEET] == _values(out)[FEEDBACK_SHEET]
    with pytest.raises(annotate.Unsupported):
        annotate.annotated_xlsx(converted["xlsm"], NOTES, _report(NOTES), modified=MODIFIED)


def test_macro_workbook_falls_back_to_openpyxl(converted: Mapping[str, Path], tmp_path: Path) -> None:
    job = feedback.WorkbookJob(
        source=converted["xlsm"], sha256="0" * 64, notes=tuple(NOTES), annotated=_report(NOTES),
        alone=_report(NOTES), modified=MODIFIED,
    )  # fmt: skip
    out = tmp_path / "xlsm.xlsx"
    out.write_bytes(feedback.build_workbook(job))
    _check_notes(out, NOTES)


def test_same_inputs_same_bytes(filled_xlsx: Path) -> None:
    one = annotate.annotated_xlsx(filled_xlsx, NOTES, _report(NOTES), modified=MODIFIED)
    two = annotate.annotated_xlsx(filled_xlsx.read_bytes(), NOTES, _report(NOTES), modified=MODIFIED)
    assert one == two


def test_not_a_package_is_unsupported(tmp_path: Path) -> None:
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(b"PK\x03\x04 broken")
    with pytest.raises(annotate.Unsupported):
        annotate.annotated_xlsx(bad, NOTES, _report(NOTES), modified=MODIFIED)
    with zipfile.ZipFile(tmp_path / "dtd.xlsx", "w") as zf:
        zf.writestr("[Content_Types].xml", '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><Types/>')
    with pytest.raises(annotate.Unsupported):
        annotate.annotated_xlsx(tmp_path / "dtd.xlsx", NOTES, _report(NOTES), modified=MODIFIED)


def test_report_text_is_escaped(filled_xlsx: Path, tmp_path: Path) -> None:
    """Text from a unit's file (names, messages) is data in the report sheet, never markup."""
    notes = [CellNote("Số liệu", "D7", "error", '<b>&"x"</b> =HYPERLINK("a") \x01 ')]
    out = _annotated(filled_xlsx, notes, tmp_path)
    rows = list(openpyxl.load_workbook(out)[FEEDBACK_SHEET].iter_rows(values_only=True))
    assert any(r[3] == '<b>&"x"</b> =HYPERLINK("a") \ufffd ' for r in rows)


def test_rich_workbook_keeps_what_openpyxl_would_drop(tmp_path: Path) -> None:
    """Charts, a chart sheet, a table, validations, the unit's own comments and sheet-local
    names all stay; openpyxl would have dropped the charts."""
    from pipeline.ooxml.xlsx import new_workbook

    source = tmp_path / "rich.xlsx"
    wb = new_workbook(source, datetime(2023, 1, 1))
    ws = wb.add_worksheet("Số liệu")
    ws.write_string("A1", "Tiêu đề")
    ws.write_number("D7", 5)
    ws.write_number("D8", 6)
    ws.write_comment("D8", "Ghi chú của đơn vị", {"author": "Nguyễn Văn A"})
    ws.write_comment("A1", "Chú thích khác")
    ws.data_validation("D7:D20", {"validate": "integer", "criteria": ">=", "value": 0})
    ws.add_table("F1:G4", {"columns": [{"header": "a"}, {"header": "b"}]})
    chart = wb.add_chart({"type": "column"})
    chart.add_series({"values": "='Số liệu'!$D$7:$D$8"})
    ws.insert_chart("I2", chart)
    other = wb.add_worksheet("Khác")
    other.write_string("A1", "x")
    other.write_comment("B2", "c2")
    sheet_chart = wb.add_chart({"type": "line"})
    sheet_chart.add_series({"values": "='Số liệu'!$D$7:$D$8"})
    wb.add_chartsheet("Biểu đồ").set_chart(sheet_chart)
    wb.define_name("'Số liệu'!rieng", "='Số liệu'!$A$1")
    wb.close()
    notes = [
        CellNote("Số liệu", "D7", "error", "Lỗi D7"),
        CellNote("Số liệu", "D8", "warning", "Xem lại D8"),
        CellNote("Khác", "C5", "error", "Lỗi C5"),
    ]
    out = _annotated(source, notes, tmp_path)
    got = _check_notes(out, notes)
    assert got.sheetnames == [FEEDBACK_SHEET, "Số liệu", "Khác", "Biểu đồ"]
    assert got["Số liệu"]["D8"].comment.text == "Xem lại D8\n\n---\nGhi chú của đơn vị"
    assert got["Số liệu"]["A1"].comment.text == "Chú thích khác"
    assert got["Khác"]["B2"].comment.text == "c2"
    assert list(got["Số liệu"].defined_names) == ["rieng"]
    with zipfile.ZipFile(source) as before, zipfile.ZipFile(out) as after:
        kept = [n for n in before.namelist() if n.startswith(("xl/charts/", "xl/tables/", "xl/chartsheets/"))]
        assert len(kept) == 5 and all(before.read(n) == after.read(n) for n in kept)
