"""The xlsxwriter boundary of spliced rows (pipeline.ooxml.xlsx.SplicedSheets): the one call into
xlsxwriter's internals gives the index xlsxwriter itself writes, and the extents and merged
ranges added after closing are what a reader sees. Fails when a new xlsxwriter changes them."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import datetime

import openpyxl

from pipeline.ooxml.rowxml import Style, number, row, text
from pipeline.ooxml.xlsx import SplicedSheets, Styles, new_workbook, split_sheet_data
from pipeline.ooxml.zipwriter import Entry, write_zip


def test_style_index_is_the_index_xlsxwriter_writes() -> None:
    wb = new_workbook(io.BytesIO(), datetime(2023, 4, 10), "x", in_memory=True)
    spliced = SplicedSheets(wb)
    styles = Styles(wb)
    only_spliced = styles(bold=True, border=1)  # used by spliced rows only
    written = styles(italic=True, num_format="0.00")  # also used by a cell xlsxwriter writes
    index = spliced.style_index(only_spliced)
    other = spliced.style_index(written)
    assert index != other and spliced.style_index(only_spliced) == index
    ws = wb.add_worksheet("A")
    ws.write_number(0, 0, 1.5, written)
    parts = dict(spliced.close())
    sheet = parts["xl/worksheets/sheet1.xml"].decode()
    assert re.search(rf'<c r="A1" s="{other}"', sheet)  # xlsxwriter's own cell: the same index
    styles_xml = parts["xl/styles.xml"].decode()
    xfs = re.search(r'<cellXfs count="(\d+)">(.*?)</cellXfs>', styles_xml, re.S)
    assert xfs is not None and int(xfs.group(1)) > max(index, other)
    bold = re.findall(r"<xf [^>]*/?>", xfs.group(2))[index]
    fonts = re.findall(
        r"<font>.*?</font>", re.search(r"<fonts[^>]*>(.*?)</fonts>", styles_xml, re.S).group(1), re.S
    )  # type: ignore[union-attr]
    font = int(re.search(r'fontId="(\d+)"', bold).group(1))  # type: ignore[union-attr]
    assert "<b/>" in fonts[font]  # the spliced rows' format is in styles.xml, bold


def test_spliced_rows_extent_and_merges_read_back() -> None:
    wb = new_workbook(io.BytesIO(), datetime(2023, 4, 10), "x", in_memory=True)
    spliced = SplicedSheets(wb)
    fmt = Styles(wb)(bold=True)
    style = Style(spliced.style_index(fmt))
    ws = wb.add_worksheet("Số liệu")
    ws.merge_range(0, 0, 0, 2, "Tiêu đề", fmt)  # xlsxwriter's own merge
    spliced.reserve(ws, 3, 2)
    spliced.merge(ws, 2, 0, 2, 2)  # a merge over spliced cells
    rows = row(text(style, "một") + text(style, "hai")) + row(text(style, "ba")) + row(text(style, "bốn"))
    entries = []
    for name, data in spliced.close():
        if name == SplicedSheets.part(ws):
            head, tail = split_sheet_data(data)
            data = head + rows.encode() + tail
            assert b'<dimension ref="A1:C4"/>' in data
            assert (
                b'<mergeCells count="2"><mergeCell ref="A1:C1"/><mergeCell ref="A3:C3"/></mergeCells>' in data
            )
        entries.append(Entry.of(name, data))
    out = io.BytesIO()
    write_zip(out, entries)
    assert zipfile.ZipFile(io.BytesIO(out.getvalue())).testzip() is None
    sheet = openpyxl.load_workbook(io.BytesIO(out.getvalue()))["Số liệu"]
    assert [[c.value for c in r] for r in sheet.iter_rows(min_row=2, max_row=4, max_col=2)] == [
        ["một", "hai"],
        ["ba", None],
        ["bốn", None],
    ]
    assert sheet["A2"].font.b
    assert {str(r) for r in sheet.merged_cells.ranges} == {"A1:C1", "A3:C3"}


def test_row_cells_take_their_words_from_the_caller() -> None:
    """ooxml has no domain words: a boolean is shown in the words the caller's style carries."""
    style = Style(3, ("Có", "Không"))
    assert number(style, True) == '<c s="3" t="inlineStr"><is><t>Có</t></is></c>'
    assert number(style, False) == '<c s="3" t="inlineStr"><is><t>Không</t></is></c>'
    assert number(style, 2) == '<c s="3"><v>2</v></c>'
    assert number(style, None) == '<c s="3"/>'
    assert number(Style(0), True) == '<c t="inlineStr"><is><t>TRUE</t></is></c>'
