"""loi-kiem-tra-<period>.csv: the issues list as CSV, safe to open in Excel.

Text from units (file names, cell values quoted in messages) must never become a formula,
a link or a command when the officer opens the CSV. The OWASP rule for CSV injection is
applied to every cell: a cell that starts with = + - @, a tab or a carriage return gets a
leading apostrophe, and every cell is quoted. UTF-8 with BOM so that Excel and LibreOffice
show the Vietnamese diacritics; CRLF line ends; ";" between fields, the list separator of
Vietnamese Windows (the decimal mark there is ",", so Excel opens a ";" file in columns).

Kept beside the workbook's "Lỗi kiểm tra" sheet: it is the officer's machine-readable list
(filtered, joined across periods, loaded elsewhere), where the sheet is for reading. No "sep="
line: Excel then ignores the BOM and shows the diacritics wrongly.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from pipeline.core.issues import sort_key
from pipeline.core.model import RunResult
from pipeline.core.schema import Schema
from pipeline.outputs import vocabulary as vi

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")
HEADER = ("Tệp", "Đơn vị", "Trang tính", "Ô", "Mã lỗi", "Mức độ", "Nội dung")


def csv_safe(text: str) -> str:
    """OWASP: neutralise a cell that a spreadsheet would read as a formula."""
    if text.startswith(FORMULA_TRIGGERS):
        return "'" + text
    return text


SEPARATOR = ";"


def csv_bytes(rows: Iterable[Iterable[str]]) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter=SEPARATOR, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    for row in rows:
        writer.writerow([csv_safe(cell) for cell in row])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def build_issues_csv(result: RunResult, schema: Schema) -> bytes:
    rows: list[tuple[str, ...]] = [HEADER]
    for submission in result.files:
        for issue in sorted(submission.issues, key=sort_key):
            rows.append(
                (
                    issue.file or submission.file.name,
                    vi.unit_name(schema, issue.unit or submission.unit),
                    issue.sheet,
                    issue.cell,
                    issue.code,
                    vi.severity_vi(issue.severity),
                    issue.message,
                )
            )
    return csv_bytes(rows)
