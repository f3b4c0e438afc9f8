"""The officer's own record of arrival times: inbox/receipts.csv (file,received_at).

A receipt outranks every other source of a file's received time (an e-mail's headers, the
time the file was first seen). A line that cannot be read stops the run with a message naming
the line: a wrong receipt would silently make a unit late or on time.
"""

from __future__ import annotations

import csv
import unicodedata
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from pipeline.core.errors import InputError

RECEIPTS = "receipts.csv"


class ReceiptsError(InputError):
    """receipts.csv cannot be read: the officer must fix it before the run can continue."""


def read_receipts(inbox: Path, tz: ZoneInfo) -> dict[str, datetime]:
    """File name (as the inbox lists it, "/"-separated, NFC) → received time; {} without the file.

    A time written without a zone is Vietnam's (`tz`)."""
    path = inbox / RECEIPTS
    if not path.is_file():
        return {}
    receipts: dict[str, datetime] = {}
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            # csv.DictReader's reading, by column index (a national inbox has 10,000 receipts):
            # the last column of a repeated name counts, blank lines are skipped, short rows
            # read as empty.
            reader = csv.reader(fh)
            header = next(reader, [])
            columns = {name.strip(): i for i, name in enumerate(header)}
            at_file, at_when = columns.get("file", -1), columns.get("received_at", -1)
            for row in reader:
                if not row:
                    continue
                name = row[at_file].strip() if 0 <= at_file < len(row) else ""
                when = row[at_when].strip() if 0 <= at_when < len(row) else ""
                if not name:
                    continue
                try:
                    at = datetime.fromisoformat(when)
                except ValueError as exc:
                    raise ReceiptsError(
                        f'{RECEIPTS}, dòng {reader.line_num}: thời điểm nhận "{when}" không đúng dạng '
                        "ISO 8601 (ví dụ 2023-03-20T16:30 hoặc 2023-03-20T16:30:00+07:00)."
                    ) from exc
                name = unicodedata.normalize("NFC", name).replace("\\", "/")
                receipts[name] = at if at.tzinfo else at.replace(tzinfo=tz)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ReceiptsError(f"Không đọc được {RECEIPTS}: {exc}") from exc
    return receipts
