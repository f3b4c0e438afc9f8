"""The officer's technical sheets about files: "Lỗi kiểm tra" (every issue with its file,
sheet, cell and code) and "Nguồn" (every inbox file, its sha256, received time and status)."""

from __future__ import annotations

from pipeline.core.issues import sort_key
from pipeline.core.model import Submission
from pipeline.core.vietnamese import format_datetime
from pipeline.ooxml import rowxml
from pipeline.ooxml.rowxml import text
from pipeline.ooxml.xlsx import SplicedSheets, Workbook
from pipeline.outputs import issues_csv, layout
from pipeline.outputs import vocabulary as vi
from pipeline.outputs.workbook import blocks
from pipeline.outputs.workbook.blocks import (
    SHEET_ISSUES,
    SHEET_SOURCES,
    Context,
    Sheet,
    finish,
    simple_title,
)

# ---------------------------------------------------------------- Lỗi kiểm tra, Nguồn


def issues_sheet(wb: Workbook, f: layout.Formats, spliced: SplicedSheets, ctx: Context) -> Sheet:
    result, schema, s = ctx.result, ctx.schema, ctx.styles
    ws = wb.add_worksheet(SHEET_ISSUES)
    # the issues CSV's columns, with their widths
    columns = list(zip(issues_csv.HEADER, (30, 26, 14, 7, 18, 10, 70), strict=True))
    last_col = len(columns) - 1
    header = simple_title(ws, f, result, last_col, "CÁC LỖI PHÁT HIỆN KHI KIỂM TRA BÁO CÁO")
    layout.table_header(ws, f, header, columns)
    with_issues = [sub for sub in result.files if sub.issues]

    def unit_of(sub_unit: str | None, issue_unit: str) -> str:
        return vi.unit_name(schema, issue_unit or sub_unit)

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

    sheet = Sheet(ctx, SHEET_ISSUES, ws)
    for block in rowxml.blocks(
        with_issues, lambda sub: rowxml.code_hash(sub.file.name), blocks.BLOCK_SIZE[SHEET_ISSUES]
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
    finish(spliced, ws, header, header + sum(len(sub.issues) for sub in with_issues), last_col, 0)
    return sheet


def sources_sheet(wb: Workbook, f: layout.Formats, spliced: SplicedSheets, ctx: Context) -> Sheet:
    result, schema, s = ctx.result, ctx.schema, ctx.styles
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
    header = simple_title(ws, f, result, last_col, "CÁC TỆP BÁO CÁO ĐÃ NHẬN")
    layout.table_header(ws, f, header, columns)
    tz = result.period.tz
    version_of = ctx.version_labels

    def render(subs: list[Submission]) -> tuple[str, bytes]:
        out = []
        for sub in subs:
            file = sub.file
            out.append(
                "<row>"
                + text(s.cell, file.name)
                + text(s.cell, file.sha256)
                + text(s.centre, format_datetime(file.received_at, tz))
                + text(s.cell, vi.received_source_vi(file.received_source))
                + text(s.cell, vi.unit_name(schema, sub.unit))
                + text(s.cell, vi.file_status_vi(sub.status))
                + text(s.centre, version_of.get((sub.unit or "", file.sha256), ""))
                + "</row>"
            )
        return "".join(out), b""

    sheet = Sheet(ctx, SHEET_SOURCES, ws)
    for block in rowxml.blocks(
        result.files, lambda sub: rowxml.code_hash(sub.file.name), blocks.BLOCK_SIZE[SHEET_SOURCES]
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
    finish(spliced, ws, header, header + len(result.files), last_col, 0)
    return sheet
