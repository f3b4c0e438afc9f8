"""Deterministic Office packages: every zip entry dated the same fixed moment.

openpyxl and python-docx stamp entries with the current time; rewritten here, the same
content always gives the same bytes (golden-file tests, byte-identical reruns).
"""

from __future__ import annotations

import io
import zipfile

# Excel's own epoch, as xlsxwriter writes it.
ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)


def fixed_dates(data: bytes) -> bytes:
    """The same zip with every entry dated ZIP_DATE_TIME, deflated, mode 0644."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=ZIP_DATE_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            dst.writestr(entry, src.read(info.filename))
    return out.getvalue()
