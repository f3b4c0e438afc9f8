"""The python-docx boundary: every Word document this project writes is created here.

Documents follow Nghị định 30/2020/NĐ-CP: A4, Times New Roman, margins top and bottom 20 mm,
left 30 mm, right 15 mm, the formal header block. Saving is deterministic: fixed core
properties and fixed zip entry dates, so the same inputs give byte-identical files.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape as xml_escape

import docx
from docx.enum.section import WD_ORIENT
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_BREAK
from docx.oxml import parse_xml
from docx.oxml.ns import nsmap, qn
from docx.shared import Mm, Pt
from lxml import etree  # type: ignore[import-untyped]

from pipeline.zipdates import fixed_dates

FONT = "Times New Roman"
BODY_SIZE = 14

__all__ = ["Paper"]


def _set_font(run_or_style: Any, size: float | None = None) -> None:
    font = run_or_style.font
    font.name = FONT
    if size is not None:
        font.size = Pt(size)
    rpr = run_or_style.element.get_or_add_rPr()
    fonts = rpr.find(qn("w:rFonts"))
    if fonts is None:
        fonts = rpr.makeelement(qn("w:rFonts"), {})
        rpr.append(fonts)
    for attr in ("w:ascii", "w:hAnsi", "w:cs", "w:eastAsia"):
        fonts.set(qn(attr), FONT)


class Paper:
    """A document being written: paragraphs, tables, the header block, deterministic save."""

    def __init__(self, title: str, author: str) -> None:
        self.doc = docx.Document()
        self.title = title
        self.author = author
        normal = self.doc.styles["Normal"]
        _set_font(normal, BODY_SIZE)
        normal.paragraph_format.space_after = Pt(6)
        normal.paragraph_format.space_before = Pt(0)
        section = self.doc.sections[0]
        section.page_width, section.page_height = Mm(210), Mm(297)
        section.orientation = WD_ORIENT.PORTRAIT
        section.top_margin = section.bottom_margin = Mm(20)
        section.left_margin, section.right_margin = Mm(30), Mm(15)
        self._page_numbers(section)

    # ------------------------------------------------------------ building blocks

    def paragraph(
        self,
        text: str = "",
        *,
        bold: bool = False,
        italic: bool = False,
        size: float | None = None,
        align: str = "justify",
        indent: bool = True,
        space_after: float = 6,
    ) -> Any:
        p = self.doc.add_paragraph()
        p.alignment = _ALIGN[align]
        if indent and align == "justify":
            p.paragraph_format.first_line_indent = Mm(10)
        p.paragraph_format.space_after = Pt(space_after)
        if text:
            self.run(p, text, bold=bold, italic=italic, size=size)
        return p

    def run(
        self,
        paragraph: Any,
        text: str,
        *,
        bold: bool = False,
        italic: bool = False,
        underline: bool = False,
        size: float | None = None,
    ) -> Any:
        r = paragraph.add_run(text)
        r.bold, r.italic, r.underline = bold, italic, underline
        if size is not None:  # the font itself comes from the Normal style
            r.font.size = Pt(size)
        return r

    def heading(self, text: str) -> Any:
        """A section heading: bold, justified, no indent (ND30 body headings)."""
        p = self.paragraph(text, bold=True, indent=True)
        p.paragraph_format.keep_with_next = True
        return p

    def bullet(self, text: str, *, bold_prefix: str = "") -> Any:
        p = self.paragraph()
        self.run(p, "- ")
        if bold_prefix:
            self.run(p, bold_prefix, bold=True)
        self.run(p, text)
        return p

    def page_break(self) -> None:
        p = self.doc.add_paragraph()
        p.add_run().add_break(WD_BREAK.PAGE)

    def header_block(
        self, parent: str, issuing: str, number: str, excerpt: str, nation: str, motto: str, place_date: str
    ) -> None:
        """Left: parent body, issuing body (bold), number, excerpt; right: nation, motto, date."""
        table = self.doc.add_table(rows=1, cols=2)
        table.alignment = WD_TABLE_ALIGNMENT.CENTER
        table.autofit = False
        _widths(table, (62, 103))
        left, right = table.rows[0].cells
        self._cell_line(left, parent.upper(), size=13, first=True)
        self._cell_line(left, issuing, bold=True, size=13)
        self._cell_line(left, "―――――", size=9, space_after=4)
        self._cell_line(left, number, size=13)
        if excerpt:
            self._cell_line(left, excerpt, size=12)
        self._cell_line(right, nation, bold=True, size=12.5, first=True)
        self._cell_line(right, motto, bold=True, size=13.5)
        self._cell_line(right, "――――――――――", size=9, space_after=4)
        self._cell_line(right, place_date, italic=True, size=13.5)
        self.paragraph("", space_after=6)

    def _cell_line(
        self,
        cell: Any,
        text: str,
        *,
        bold: bool = False,
        italic: bool = False,
        size: float = 13,
        first: bool = False,
        space_after: float = 0,
    ) -> None:
        p = cell.paragraphs[0] if first else cell.add_paragraph()
        p.alignment = WD_ALIGN_PARAGRAPH.CENTER
        p.paragraph_format.space_after = Pt(space_after)
        p.paragraph_format.first_line_indent = None
        self.run(p, text, bold=bold, italic=italic, size=size)

    def table(
        self, header: list[str], rows: list[list[str]], widths_mm: list[float], *, size: float = 12
    ) -> Any:
        """A bordered table with a repeated, bold header row."""
        table = self.doc.add_table(rows=1, cols=len(header))
        table.style = self.doc.styles["Table Grid"]
        table.alignment = WD_TABLE_ALIGNMENT.CENTER
        table.autofit = False
        _widths(table, tuple(widths_mm))
        for i, text in enumerate(header):
            cell = table.rows[0].cells[i]
            cell.width = Mm(widths_mm[i])
            p = cell.paragraphs[0]
            p.alignment = WD_ALIGN_PARAGRAPH.CENTER
            p.paragraph_format.space_after = Pt(0)
            self.run(p, text, bold=True, size=size)
        trpr = table.rows[0]._tr.get_or_add_trPr()
        trpr.append(trpr.makeelement(qn("w:tblHeader"), {qn("w:val"): "true"}))
        if not rows:
            return table
        # One data row is built through python-docx with placeholder texts; every row is that
        # row's XML with the texts put in, parsed in one go (python-docx costs ~1 ms a cell).
        marks = [f"QQDVCQCELL{i}QQ" for i in range(len(header))]
        cells = table.add_row().cells
        for i, mark in enumerate(marks):
            cells[i].width = Mm(widths_mm[i])
            p = cells[i].paragraphs[0]
            p.paragraph_format.space_after = Pt(0)
            p.alignment = WD_ALIGN_PARAGRAPH.LEFT if i in (1,) else WD_ALIGN_PARAGRAPH.CENTER
            self.run(p, mark, size=size)
        tr = table.rows[1]._tr
        template = etree.tostring(tr, encoding="unicode")
        tr.getparent().remove(tr)
        parts: list[str] = []  # the row's XML around each cell's text
        rest = template
        for mark in marks:
            before, found, rest = rest.partition(f"<w:t>{mark}</w:t>")
            if not found:
                raise RuntimeError(f"table row template without {mark}")
            parts.append(before + '<w:t xml:space="preserve">')
            rest = "</w:t>" + rest
        body = "".join(
            "".join(part + xml_escape(str(text)) for part, text in zip(parts, values, strict=True)) + rest
            for values in rows
        )
        wrapper = parse_xml(f'<w:tbl xmlns:w="{nsmap["w"]}">{body}</w:tbl>')
        tbl = table._tbl
        for row in list(wrapper):
            tbl.append(row)
        return table

    def signature(self, recipients: list[str], title: str) -> None:
        """Nơi nhận on the left (11 pt), the signer's title on the right (bold)."""
        table = self.doc.add_table(rows=1, cols=2)
        table.autofit = False
        _widths(table, (85, 80))
        left, right = table.rows[0].cells
        p = left.paragraphs[0]
        p.paragraph_format.space_after = Pt(0)
        self.run(p, "Nơi nhận:", bold=True, italic=True, size=12)
        for line in recipients:
            q = left.add_paragraph()
            q.paragraph_format.space_after = Pt(0)
            self.run(q, line, size=11)
        p = right.paragraphs[0]
        p.alignment = WD_ALIGN_PARAGRAPH.CENTER
        self.run(p, title, bold=True, size=14)

    def _page_numbers(self, section: Any) -> None:
        """Page number centred in the header, from the second page on (Nghị định 30)."""
        p = section.header.paragraphs[0]
        p.alignment = WD_ALIGN_PARAGRAPH.CENTER
        run = p.add_run()
        run.font.size = Pt(13)
        for kind, text in (("begin", ""), ("instr", "PAGE"), ("end", "")):
            if kind == "instr":
                el = run._r.makeelement(qn("w:instrText"), {qn("xml:space"): "preserve"})
                el.text = text
            else:
                el = run._r.makeelement(qn("w:fldChar"), {qn("w:fldCharType"): kind})
            run._r.append(el)
        section.different_first_page_header_footer = True

    # ------------------------------------------------------------ saving

    def to_bytes(self, stamp: datetime) -> bytes:
        """The .docx bytes with fixed core properties and zip entry dates."""
        props = self.doc.core_properties
        # Core properties are W3CDTF in UTC: store the instant, not the local wall time.
        if stamp.tzinfo is not None:
            stamp = stamp.astimezone(UTC)
        fixed = stamp.replace(tzinfo=None, microsecond=0)
        props.author = props.last_modified_by = self.author
        props.title = self.title
        props.created = props.modified = props.last_printed = fixed
        props.revision = 1
        raw = io.BytesIO()
        self.doc.save(raw)
        return fixed_dates(raw.getvalue())


def _widths(table: Any, widths_mm: tuple[float, ...]) -> None:
    """Column widths in the grid (LibreOffice reads these) and in every cell (Word does)."""
    for column, width in zip(table.columns, widths_mm, strict=True):
        column.width = Mm(width)
        for cell in column.cells:
            cell.width = Mm(width)


_ALIGN = {
    "justify": WD_ALIGN_PARAGRAPH.JUSTIFY,
    "center": WD_ALIGN_PARAGRAPH.CENTER,
    "left": WD_ALIGN_PARAGRAPH.LEFT,
    "right": WD_ALIGN_PARAGRAPH.RIGHT,
}
