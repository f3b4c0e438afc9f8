"""The fillable workbook that units receive, generated from the schema alone.

Every input cell sits exactly where form.csv says and carries a workbook-scoped defined name
equal to its key, so readers find inputs by name even if a unit inserts rows. Labels, units
of measure and headings are placed relative to each input cell (never at fixed addresses).
The hidden meta sheet holds the template fingerprint and the drop-down lists.
"""

from __future__ import annotations

import io
import math
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any

from pipeline.core import cellref
from pipeline.core.schema import Field, Period, Schema
from pipeline.core.vietnamese import lower_first
from pipeline.ooxml.xlsx import Format, Styles, Workbook, Worksheet, lock_structure, new_workbook

# Fixed document date: the same schema always gives the same bytes.
CREATED = datetime(2023, 1, 1)

# Upper bound of integer inputs without a max in form.csv (Excel needs one for "between").
INTEGER_MAX = 10**9

INPUT_FILL = "#FFFFCC"
HEADER_FILL = "#DDEBF7"
TASK_FILL = "#F2F2F2"

# Meta sheet layout (zero-based): fingerprint in rows 0-1, lists below from LIST_ROW.
META_ID_ROW = 0
META_VERSION_ROW = 1
META_HEADER_ROW = 8
META_UNIT_COL = 0  # unit codes; names in the next column
META_PERIOD_COL = 3

# Nghị định 30/2020: left 30-35 mm, right 15-20 mm, top/bottom 20-25 mm (in inches).
MARGINS = {"left": 1.2, "right": 0.7, "top": 0.9, "bottom": 0.9}
A4 = 9

# Column widths (characters) by role.
WIDTH_STT = 6
WIDTH_LABEL = 58
WIDTH_UNIT = 14
WIDTH_INPUT = 18
WIDTH_ID_INPUT = 30
WIDTH_NAME = 42
WIDTH_NARRATIVE_LABEL = 34
WIDTH_NARRATIVE = 90
NARRATIVE_ROW_HEIGHT = 150
LINE_HEIGHT = 16.5


@dataclass(frozen=True)
class MetaLists:
    """Where the drop-down sources live on the meta sheet (absolute references)."""

    unit_codes: str  # '_meta'!$A$10:$A$41
    unit_table: str  # '_meta'!$A$10:$B$41 (code → name lookup)
    periods: str  # '_meta'!$D$10:$D$17


def _vi_int(n: int | float) -> str:
    """Vietnamese thousands separator: 1000000000 → "1.000.000.000"."""
    return f"{int(n):,}".replace(",", ".")


def _range(sheet: str, first_row: int, first_col: int, last_row: int, last_col: int) -> str:
    first = cellref.absolute(cellref.to_a1(first_row, first_col))
    last = cellref.absolute(cellref.to_a1(last_row, last_col))
    return f"{cellref.quote_sheet(sheet)}!{first}:{last}"


def _lines(text: str, width: float) -> int:
    """Rough number of wrapped lines of `text` in a column `width` characters wide."""
    per_line = max(1, int(width * 1.05))
    return max(1, sum(math.ceil(max(1, len(part)) / per_line) for part in text.split("\n")))


def _short_day(month_day: str) -> str:
    """ "03-20" → "20/3"."""
    month, day = (int(x) for x in month_day.split("-"))
    return f"{day}/{month}"


def applicability_note(field: Field, periods: Sequence[Period]) -> str:
    """ "(chỉ UBND cấp huyện, báo cáo năm)" for inputs that do not apply to everyone."""
    parts: list[str] = []
    if field.applies_to == "district":
        parts.append("chỉ UBND cấp huyện")
    elif field.applies_to == "department":
        parts.append("chỉ sở, ban, ngành")
    if "all" not in field.periods:
        names = [lower_first(p.name) for p in periods if p.code in field.periods]
        parts.append("báo cáo " + ", ".join(names))
    return f"({', '.join(parts)})" if parts else ""


def field_label(field: Field, periods: Sequence[Period]) -> str:
    note = applicability_note(field, periods)
    return f"{field.label} {note}" if note else field.label


def sheet_names(schema: Schema) -> list[str]:
    """Input sheets in order of first appearance in form.csv."""
    names: list[str] = []
    for f in schema.fields:
        if f.sheet not in names:
            names.append(f.sheet)
    return names


class _Builder:
    def __init__(self, schema: Schema, wb: Workbook) -> None:
        self.schema = schema
        self.wb = wb
        self.st = Styles(wb)
        self.meta_name = schema.template.meta_sheet
        # A registry of a whole country is no drop-down: past this size every filled file would
        # carry the list, so the unit cell takes a typed code instead.
        self.list_units = len(schema.units) <= schema.template.unit_list_max
        self.periods = sorted(schema.calendar.periods, key=lambda p: p.order)

    # -- formats ------------------------------------------------------------------------
    def title(self) -> Format:
        return self.st(bold=True, font_size=14, align="center", valign="vcenter", text_wrap=True)

    def subtitle(self) -> Format:
        return self.st(italic=True, align="center", valign="vcenter", text_wrap=True)

    def header(self) -> Format:
        return self.st(
            bold=True, border=1, align="center", valign="vcenter", text_wrap=True, bg_color=HEADER_FILL
        )

    def cell(self, **extra: Any) -> Format:
        props: dict[str, Any] = {"border": 1, "valign": "vcenter", "text_wrap": True, **extra}
        return self.st(**props)

    def input_format(self, field: Field) -> Format:
        props: dict[str, Any] = {
            "border": 1,
            "bg_color": INPUT_FILL,
            "locked": False,
            "valign": "vcenter",
        }
        if field.type == "integer":
            # The year is an identifier, not a quantity: no thousands separator.
            props["num_format"] = "0" if field.group == "identification" else "#,##0"
        elif field.type == "number":
            props["num_format"] = "0.0#"
        elif field.type == "date":
            props["num_format"] = "dd/mm/yyyy"
            props["align"] = "left"
        elif field.type in ("unit", "phone"):
            # Text format keeps "540" and "0256..." as typed (no number conversion).
            props["num_format"] = "@"
        if field.type == "text":
            props["text_wrap"] = True
            props["valign"] = "top"
        return self.st(**props)

    # -- sheets -------------------------------------------------------------------------
    def build(self) -> None:
        instructions = self.wb.add_worksheet(self.schema.template.instructions_sheet)
        data_sheets = [(name, self.wb.add_worksheet(name)) for name in sheet_names(self.schema)]
        meta = self.wb.add_worksheet(self.meta_name)
        lists = self.write_meta(meta)
        self.write_instructions(instructions)
        for name, ws in data_sheets:
            fields = [f for f in self.schema.fields if f.sheet == name]
            self.write_data_sheet(ws, name, fields, lists)
        self.define_names()
        instructions.activate()

    def write_meta(self, ws: Worksheet) -> MetaLists:
        """Fingerprint and drop-down lists; hidden (readable by the pipeline, not by users)."""
        name = self.meta_name
        text = self.st()
        ws.write_string(META_ID_ROW, 0, "template_id", text)
        ws.write_string(META_ID_ROW, 1, self.schema.template_id, text)
        ws.write_string(META_VERSION_ROW, 0, "template_version", text)
        ws.write_string(META_VERSION_ROW, 1, self.schema.template_version, text)
        ws.write_string(META_HEADER_ROW, META_UNIT_COL, "Mã đơn vị", text)
        ws.write_string(META_HEADER_ROW, META_UNIT_COL + 1, "Tên đơn vị", text)
        ws.write_string(META_HEADER_ROW, META_PERIOD_COL, "Kỳ báo cáo", text)
        first = META_HEADER_ROW + 1
        units = self.schema.units if self.list_units else ()
        for i, unit in enumerate(units):
            # "540 – Thành phố Quy Nhơn": the drop-down shows whom a code is; the reader takes
            # the code before the dash (pipeline.core.registry.match_unit).
            ws.write_string(first + i, META_UNIT_COL, f"{unit.code} – {unit.name}", text)
            ws.write_string(first + i, META_UNIT_COL + 1, unit.name, text)
        choices = [p.name for p in self.periods]  # Vietnamese only: the reader still accepts codes
        for i, choice in enumerate(choices):
            ws.write_string(first + i, META_PERIOD_COL, choice, text)
        ws.set_column(META_UNIT_COL, META_UNIT_COL, 18)
        ws.set_column(META_UNIT_COL + 1, META_UNIT_COL + 1, 45)
        ws.set_column(META_PERIOD_COL, META_PERIOD_COL, 14)
        ws.very_hidden()  # not listed by Excel's "Unhide": only a macro or the package shows it
        ws.protect()
        last_unit = first + len(units) - 1
        return MetaLists(
            unit_codes=_range(name, first, META_UNIT_COL, last_unit, META_UNIT_COL) if units else "",
            unit_table=_range(name, first, META_UNIT_COL, last_unit, META_UNIT_COL + 1) if units else "",
            periods=_range(name, first, META_PERIOD_COL, first + len(choices) - 1, META_PERIOD_COL),
        )

    def write_instructions(self, ws: Worksheet) -> None:
        tpl = self.schema.template
        widths = [8, 46, 28, 30]
        for col, width in enumerate(widths):
            ws.set_column(col, col, width)
        last_col = len(widths) - 1
        text_width = sum(widths[1:])
        row = 0
        ws.merge_range(row, 0, row, last_col, tpl.agency, self.st(align="left"))
        row += 1
        ws.merge_range(row, 0, row, last_col, "SỞ NỘI VỤ", self.st(bold=True, align="left"))
        row += 2
        ws.set_row(row, 40)
        ws.merge_range(row, 0, row, last_col, tpl.title, self.title())
        row += 1
        version = f"Mẫu {self.schema.template_id}, phiên bản {self.schema.template_version}"
        ws.merge_range(row, 0, row, last_col, version, self.subtitle())
        row += 2

        ws.merge_range(row, 0, row, last_col, "I. HƯỚNG DẪN ĐIỀN MẪU", self.st(bold=True))
        row += 1
        wrap = self.st(text_wrap=True, valign="top")
        for i, line in enumerate(tpl.instructions, start=1):
            ws.write_string(row, 0, f"{i}.", self.st(align="center", valign="top"))
            ws.merge_range(row, 1, row, last_col, str(line), wrap)
            ws.set_row(row, LINE_HEIGHT * _lines(str(line), text_width))
            row += 1
        row += 1

        ws.merge_range(row, 0, row, last_col, "II. DANH SÁCH ĐƠN VỊ BÁO CÁO", self.st(bold=True))
        row += 1
        for col, head in enumerate(["Mã đơn vị", "Tên đơn vị", "Loại đơn vị", "Số đơn vị cấp xã"]):
            ws.write_string(row, col, head, self.header())
        row += 1
        if not self.list_units:
            note = f"{len(self.schema.units)} đơn vị: xem danh mục mã đơn vị do Sở Nội vụ gửi kèm."
            ws.merge_range(row, 0, row, last_col, note, wrap)
            row += 1
        for unit in self.schema.units if self.list_units else ():
            ws.write_string(row, 0, unit.code, self.cell(align="center"))
            ws.write_string(row, 1, unit.name, self.cell())
            ws.write_string(row, 2, unit.kind_vi, self.cell())
            if unit.communes is None:
                ws.write_blank(row, 3, None, self.cell())
            else:
                ws.write_number(row, 3, unit.communes, self.cell(align="center"))
            row += 1
        row += 1

        ws.merge_range(row, 0, row, last_col, "III. KỲ BÁO CÁO VÀ HẠN GỬI", self.st(bold=True))
        row += 1
        for col, head in enumerate(
            ["Mã kỳ", "Kỳ báo cáo", "Hạn gửi (đến hết ngày)", "Thời gian chốt số liệu"]
        ):
            ws.write_string(row, col, head, self.header())
        row += 1
        for p in self.periods:
            start = _short_day(p.cutoff_start) + (" năm trước" if p.cutoff_start_previous_year else "")
            ws.write_string(row, 0, p.code, self.cell(align="center"))
            ws.write_string(row, 1, p.name, self.cell())
            ws.write_string(row, 2, _short_day(p.deadline), self.cell(align="center"))
            ws.write_string(row, 3, f"Từ {start} đến {_short_day(p.cutoff_end)}", self.cell())
            row += 1
        self.finish(ws)

    def write_data_sheet(self, ws: Worksheet, name: str, fields: list[Field], lists: MetaLists) -> None:
        indicator = any(f.group == "indicator" for f in fields)
        narrative = all(f.group in ("narrative", "explanation") for f in fields)
        positions = {f.key: cellref.from_a1(f.cell) for f in fields}
        input_col = min(col for _, col in positions.values())
        first_row = min(row for row, _ in positions.values())
        # Columns left of the input: [STT, label, (unit of measure)].
        offset = 3 if indicator else 2
        if input_col < offset:
            raise ValueError(f"form.csv: sheet {name!r} needs {offset} columns left of its inputs")
        stt_col, label_col = input_col - offset, input_col - offset + 1
        unit_col = input_col - 1 if indicator else None
        has_unit_lookup = any(f.type == "unit" for f in fields)
        last_col = input_col + 1 if has_unit_lookup else input_col

        ws.set_column(stt_col, stt_col, WIDTH_STT)
        if narrative:
            ws.set_column(label_col, label_col, WIDTH_NARRATIVE_LABEL)
            ws.set_column(input_col, input_col, WIDTH_NARRATIVE)
        else:
            ws.set_column(label_col, label_col, WIDTH_LABEL)
            ws.set_column(input_col, input_col, WIDTH_INPUT if indicator else WIDTH_ID_INPUT)
        if unit_col is not None:
            ws.set_column(unit_col, unit_col, WIDTH_UNIT)
        if has_unit_lookup:
            ws.set_column(input_col + 1, input_col + 1, WIDTH_NAME)

        # Task headings take the (empty) row before each task's first indicator.
        headings: dict[int, str] = {}
        if indicator:
            tasks = self.schema.template.task_titles
            seen: set[str] = set()
            for f in fields:
                if f.group == "indicator" and f.task and f.task not in seen:
                    seen.add(f.task)
                    headings[positions[f.key][0] - 1] = str(tasks.get(f.task, f"Nhiệm vụ {f.task}"))
        used_rows = {row for row, _ in positions.values()}
        clash = used_rows & set(headings)
        if clash:
            raise ValueError(f"form.csv: sheet {name!r} has no empty row before a task ({sorted(clash)})")
        header_row = min([first_row, *headings]) - 1
        if header_row < 1:
            raise ValueError(f"form.csv: sheet {name!r} leaves no room for its header")

        # Title block above the header.
        ws.set_row(0, 36)
        ws.merge_range(0, stt_col, 0, last_col, self.schema.template.title, self.title())
        if header_row >= 2:
            ws.merge_range(1, stt_col, 1, last_col, name.upper(), self.st(bold=True, align="center"))
        if header_row >= 3:
            ws.merge_range(2, stt_col, 2, last_col, self.sheet_note(fields), self.subtitle())

        heads = {stt_col: "STT", label_col: "Nội dung", input_col: "Số liệu" if indicator else "Thông tin"}
        if narrative:
            heads[input_col] = "Kết quả, nội dung báo cáo"
        if unit_col is not None:
            heads[unit_col] = "Đơn vị tính"
        if has_unit_lookup:
            heads[input_col + 1] = "Tên đơn vị (tự hiện theo mã)"
        ws.set_row(header_row, 32)
        for col, head in sorted(heads.items()):
            ws.write_string(header_row, col, head, self.header())
        if indicator:
            ws.repeat_rows(header_row)

        task_fmt = self.st(bold=True, border=1, bg_color=TASK_FILL, valign="vcenter", text_wrap=True)
        for row, text in headings.items():
            ws.merge_range(row, stt_col, row, input_col, text, task_fmt)

        counters: dict[str, int] = {}
        for n, f in enumerate(fields, start=1):
            row, col = positions[f.key]
            if f.group == "indicator" and f.task:
                counters[f.task] = counters.get(f.task, 0) + 1
                stt = f"{f.task}.{counters[f.task]}"
            else:
                stt = str(n)
            label = field_label(f, self.periods)
            ws.write_string(row, col - offset, stt, self.cell(align="center"))
            ws.write_string(row, col - offset + 1, label, self.cell(valign="top" if narrative else "vcenter"))
            if indicator:
                ws.write_string(row, col - 1, f.unit, self.cell(align="center"))
            ws.write_blank(row, col, None, self.input_format(f))
            if narrative:
                ws.set_row(row, NARRATIVE_ROW_HEIGHT)
            else:
                width = WIDTH_LABEL
                ws.set_row(row, max(20.0, LINE_HEIGHT * _lines(label, width)))
            self.validate(ws, f, row, col, lists)
            if f.type == "unit":
                self.unit_lookup(ws, f, row, col, lists)
        self.finish(ws)

    def sheet_note(self, fields: list[Field]) -> str:
        if any(f.group == "indicator" for f in fields):
            return "(Số liệu lũy kế từ ngày 15/12 năm trước đến ngày chốt số liệu của kỳ báo cáo)"
        if all(f.group in ("narrative", "explanation") for f in fields):
            return "(Nêu ngắn gọn kết quả nổi bật, hạn chế, nguyên nhân, phương hướng và kiến nghị)"
        return f"Kính gửi: {self.schema.template.receiver}"

    def unit_lookup(self, ws: Worksheet, field: Field, row: int, col: int, lists: MetaLists) -> None:
        """The unit's name, looked up from the code chosen, in the cell to the right."""
        if not lists.unit_table:
            return
        code_cell = cellref.to_a1(row, col)
        formula = f'=IFERROR(VLOOKUP({code_cell},{lists.unit_table},2,FALSE),"")'
        ws.write_formula(row, col + 1, formula, self.cell(italic=True), "")

    def validate(self, ws: Worksheet, field: Field, row: int, col: int, lists: MetaLists) -> None:
        options = validation_options(field, lists, self.periods)
        if options is not None:
            ws.data_validation(row, col, row, col, options)

    def define_names(self) -> None:
        for f in self.schema.fields:
            self.wb.define_name(f.key, "=" + cellref.sheet_ref(f.sheet, f.cell))
        for key, row in (("template_id", META_ID_ROW), ("template_version", META_VERSION_ROW)):
            self.wb.define_name(key, "=" + cellref.sheet_ref(self.meta_name, cellref.to_a1(row, 1)))

    def finish(self, ws: Worksheet) -> None:
        """Print setup (A4, Nghị định 30 margins) and protection without a password."""
        ws.set_paper(A4)
        ws.set_portrait()
        ws.fit_to_pages(1, 0)
        ws.set_margins(**MARGINS)
        ws.center_horizontally()
        ws.set_footer('&C&"Times New Roman,Regular"&10Trang &P/&N')
        # No password: the province can unprotect and adapt the form.
        ws.protect("", {"format_rows": True})


def validation_options(field: Field, lists: MetaLists, periods: Sequence[Period]) -> dict[str, Any] | None:
    """xlsxwriter data validation for one input, with Vietnamese prompts; None for free text."""
    lo = field.min if field.min is not None else 0
    if field.type == "integer":
        hi = field.max if field.max is not None else INTEGER_MAX
        if field.key == "year" or field.group == "identification":
            message = f"Ghi năm báo cáo, từ {int(lo)} đến {int(hi)} (ví dụ 2023)."
            title = "Năm báo cáo"
        else:
            message = (
                f"Ghi số nguyên từ {_vi_int(lo)} trở lên. Không có phát sinh thì ghi 0; "
                "để trống nghĩa là chưa báo cáo."
            )
            title = "Số nguyên không âm" if lo == 0 else "Số nguyên"
        return {
            "validate": "integer",
            "criteria": "between",
            "minimum": int(lo),
            "maximum": int(hi),
            "input_title": title,
            "input_message": message,
            "error_title": "Số liệu không hợp lệ",
            "error_message": f"Chỉ được ghi số nguyên từ {_vi_int(lo)} đến {_vi_int(hi)}.",
            "error_type": "stop",
        }
    if field.type == "number":
        hi = field.max if field.max is not None else INTEGER_MAX
        return {
            "validate": "decimal",
            "criteria": "between",
            "minimum": lo,
            "maximum": hi,
            "input_title": "Điểm tự chấm",
            "input_message": f"Ghi số từ {_vi_int(lo)} đến {_vi_int(hi)}; có thể có phần thập phân.",
            "error_title": "Số liệu không hợp lệ",
            "error_message": f"Chỉ được ghi số từ {_vi_int(lo)} đến {_vi_int(hi)}.",
        }
    if field.type == "date":
        return {
            "validate": "date",
            "criteria": "between",
            "minimum": date(2000, 1, 1),
            "maximum": date(2100, 12, 31),
            "input_title": "Ngày",
            "input_message": "Ghi ngày theo dạng ngày/tháng/năm, ví dụ 15/03/2023.",
            "error_title": "Ngày không hợp lệ",
            "error_message": "Đề nghị ghi ngày hợp lệ theo dạng ngày/tháng/năm, ví dụ 15/03/2023.",
        }
    if field.type == "unit" and not lists.unit_codes:
        return {
            "validate": "any",
            "input_title": "Mã đơn vị",
            "input_message": "Ghi mã đơn vị theo danh mục do Sở Nội vụ gửi kèm.",
        }
    if field.type == "unit":
        return {
            "validate": "list",
            "source": "=" + lists.unit_codes,
            "input_title": "Mã đơn vị",
            "input_message": "Chọn mã đơn vị trong danh sách; tên đơn vị hiện ở ô bên phải.",
            "error_title": "Mã đơn vị không đúng",
            "error_message": "Đề nghị chọn mã đơn vị trong danh sách (xem trang Hướng dẫn).",
        }
    if field.type == "period":
        names = ", ".join(p.name for p in periods)
        return {
            "validate": "list",
            "source": "=" + lists.periods,
            "input_title": "Kỳ báo cáo",
            "input_message": f"Chọn kỳ báo cáo trong danh sách: {names}.",
            "error_title": "Kỳ báo cáo không đúng",
            "error_message": f"Đề nghị chọn một kỳ báo cáo: {names}.",
        }
    hints = {
        "phone": "Ghi số điện thoại liên hệ, ví dụ 0256 3822 123 hoặc 0905 123 456.",
        "email": "Ghi địa chỉ thư điện tử, ví dụ nguyenvana@binhdinh.gov.vn.",
    }
    if field.type in hints:
        # 'any' shows the prompt without restricting what is typed.
        return {"validate": "any", "input_title": "Lưu ý", "input_message": hints[field.type]}
    return None


def build_template(schema: Schema, target: Path | IO[bytes]) -> None:
    """Write the template workbook for `schema` to a path or a binary stream, its structure
    protected (no sheet added, removed, renamed or shown: the reader finds the form by its
    sheets), without a password so that the province can adapt it."""
    memory = io.BytesIO()
    wb = new_workbook(memory, CREATED, title=schema.template.title, author=schema.template.receiver)
    _Builder(schema, wb).build()
    wb.close()
    data = lock_structure(memory.getvalue())
    if isinstance(target, Path):
        target.write_bytes(data)
    else:
        target.write(data)


def write_template(schema: Schema, out_dir: Path) -> Path:
    """Write out_dir/<template file_name> atomically (temp file, then os.replace)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / schema.template.file_name
    fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", suffix=".xlsx", dir=out_dir)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        build_template(schema, tmp)
        # mkstemp creates 0600; the template is an ordinary shared document.
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
