"""Intake: what is in the inbox, what kind of file each is, and when it was received.

The inbox is only ever read. Every file found is returned, either as a candidate report or
with the reason it is ignored, so the outputs account for all of them.
"""

from __future__ import annotations

import csv
import hashlib
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from pipeline import screen
from pipeline.ledger import Ledger
from pipeline.model import InboxFile
from pipeline.vietnamese import nfc

RECEIPTS = "receipts.csv"
SYSTEM_NAMES = screen.SYSTEM_NAMES
ZIP_MAGIC = screen.ZIP_MAGIC
OLE_MAGIC = screen.OLE_MAGIC
ODS_MIME = screen.ODS_MIME


class ReceiptsError(Exception):
    """receipts.csv cannot be read: the officer must fix it before the run can continue."""


@dataclass
class Found:
    """An inbox file and, when it is not a candidate report, why (a catalogue code)."""

    file: InboxFile
    ignore_code: str = ""  # system-file | lock-file | officer-file | not-spreadsheet
    reject_code: str = ""  # file-empty and the refusals of pipeline.screen
    params: dict[str, str] = field(default_factory=dict)


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def sniff(path: Path) -> str:
    """The file's real type from its first bytes, never from its extension ("" if refused)."""
    return screen.screen(path).kind


def read_receipts(inbox: Path, tz: ZoneInfo) -> dict[str, datetime]:
    """inbox/receipts.csv (file,received_at): the officer's own record of arrival times."""
    path = inbox / RECEIPTS
    if not path.is_file():
        return {}
    receipts: dict[str, datetime] = {}
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            for line, row in enumerate(csv.DictReader(fh), start=2):
                name, when = (row.get("file") or "").strip(), (row.get("received_at") or "").strip()
                if not name:
                    continue
                try:
                    at = datetime.fromisoformat(when)
                except ValueError as exc:
                    raise ReceiptsError(
                        f'{RECEIPTS}, dòng {line}: thời điểm nhận "{when}" không đúng dạng '
                        "ISO 8601 (ví dụ 2023-03-20T16:30 hoặc 2023-03-20T16:30:00+07:00)."
                    ) from exc
                receipts[nfc(name).replace("\\", "/")] = at if at.tzinfo else at.replace(tzinfo=tz)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ReceiptsError(f"Không đọc được {RECEIPTS}: {exc}") from exc
    return receipts


def scan(inbox: Path, ledger: Ledger, tz: ZoneInfo, now: datetime) -> list[Found]:
    """Every file under the inbox, in name order, with type and received time."""
    receipts = read_receipts(inbox, tz)
    found: list[Found] = []
    paths = sorted(
        (Path(root) / name for root, _dirs, names in os.walk(inbox) for name in names),
        key=lambda p: nfc(p.relative_to(inbox).as_posix()),
    )
    for path in paths:
        name = nfc(path.relative_to(inbox).as_posix())
        base = name.rsplit("/", 1)[-1]
        stat = path.stat()
        f = InboxFile(name=name, path=path, sha256="", size=stat.st_size)
        name_code = screen.name_code(base)
        if name_code:
            found.append(Found(f, ignore_code=name_code))
            continue
        if name == RECEIPTS:
            found.append(Found(f, ignore_code="officer-file"))
            continue
        f.sha256 = sha256_of(path)
        mtime = datetime.fromtimestamp(stat.st_mtime, tz)
        if name in receipts:
            f.received_at, f.received_source = receipts[name], "receipts"
        else:
            f.received_at = ledger.first_mtime(f.sha256, name, mtime, now)
            f.received_source = "ledger"
        screened = screen.screen(path, stat.st_size)  # bytes and zip directory only: issue 6
        f.kind = screened.kind
        found.append(Found(f, screened.ignore_code, screened.reject_code, screened.params))
    return found
