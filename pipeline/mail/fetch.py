"""`mail fetch`: the units' messages from the department's mailbox into the inbox, as .eml.

Each message with a spreadsheet or zip attachment is written whole (the bytes the server
holds) into the inbox, atomically, under a name made of its arrival, its sender and a digest
of its Message-ID: safe on every file system and the same at every fetch. Messages without
such an attachment are listed, not saved. Every message taken is recorded in the ledger
(Message-ID, content digest, INTERNALDATE, file name): a second fetch recognises them and
writes nothing, and the consolidation takes the INTERNALDATE as the .eml's received time.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import parseaddr
from pathlib import Path
from zoneinfo import ZoneInfo

from pipeline.core.vietnamese import nfc
from pipeline.mail.imap import Mailbox, Summary
from pipeline.mail.server import Server
from pipeline.runtime.progress import Progress
from pipeline.store.atomic import make_folder, write_bytes_atomic
from pipeline.store.ledger import FILE_NAME as LEDGER_FILE
from pipeline.store.ledger import FetchedMessage, Ledger
from pipeline.store.lock import RunLock

# What a unit attaches: workbooks, and zips of them (a zip is opened by the consolidation).
REPORT_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".xlsb", ".ods", ".zip")
REPORT_TYPES = {
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.ms-excel",
    "application/vnd.ms-excel.sheet.macroenabled.12",
    "application/vnd.ms-excel.sheet.binary.macroenabled.12",
    "application/vnd.oasis.opendocument.spreadsheet",
    "application/zip",
    "application/x-zip-compressed",
}


@dataclass(frozen=True)
class Listed:
    """A message as the summary shows it."""

    arrived: datetime
    sender: str
    subject: str
    file_name: str = ""  # the .eml written (or already there); "" when not saved


@dataclass
class FetchResult:
    folder: str
    seen: int = 0
    saved: list[Listed] = field(default_factory=list)
    already: int = 0
    without_attachment: list[Listed] = field(default_factory=list)


def message_key(message_id: str, sha256: str) -> str:
    """How a message is recognised: its Message-ID, else its content."""
    return message_id.strip() or f"sha256:{sha256}"


def has_report(msg: EmailMessage) -> bool:
    """A spreadsheet or zip attached (by name or by type), at any depth of the message."""
    for part in msg.walk():
        if part.is_multipart():
            continue
        name = (part.get_filename() or "").lower().strip()
        if name.endswith(REPORT_SUFFIXES) or part.get_content_type() in REPORT_TYPES:
            return True
    return False


def _sender(msg: EmailMessage) -> str:
    return parseaddr(str(msg.get("From", "")))[1]


def file_name(arrived: datetime, sender: str, key: str) -> str:
    """<arrival>_<sender>_<digest of the message key>.eml: ASCII, no path, stable."""
    who = re.sub(r"[^a-z0-9.-]+", "-", sender.lower().replace("@", "_")).strip(".-")[:60] or "khong-ro"
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:10]
    return f"{arrived:%Y-%m-%d_%H%M%S}_{who}_{digest}.eml"


def _parse(raw: bytes) -> EmailMessage:
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(msg, EmailMessage)
    return msg


def _text(value: object) -> str:
    return nfc(re.sub(r"\s+", " ", str(value or ""))).strip()


def fetch(
    server: Server,
    user: str,
    password: str,
    folder: str,
    since: date | None,
    inbox: Path,
    ledger: Ledger,
    tz: ZoneInfo,
    now: datetime,
) -> FetchResult:
    """Save the folder's new messages with a report attached into `inbox`; record every
    message taken in the ledger. Nothing on the server changes."""
    record = ledger.mail()
    known = record.fetched()
    result = FetchResult(folder)
    taken: list[FetchedMessage] = []
    with Mailbox(server) as box:
        box.connect(user, password)
        box.examine(folder)
        summaries = sorted(box.summaries(box.search(since)), key=lambda s: (s.internaldate, s.uid))
        result.seen = len(summaries)
        make_folder(inbox)
        try:
            with Progress(len(summaries), "Tải thư") as bar:
                for summary in summaries:
                    _take(box, summary, inbox, known, taken, result, tz)
                    bar.update()
        finally:  # what was written is recorded, even when the connection breaks half-way
            record.record_fetched(taken, now)
    return result


def _take(
    box: Mailbox,
    summary: Summary,
    inbox: Path,
    known: dict[str, FetchedMessage],
    taken: list[FetchedMessage],
    result: FetchResult,
    tz: ZoneInfo,
) -> None:
    """One message: recognised (nothing to do), listed (no report attached) or saved."""
    had = known.get(summary.message_id.strip()) if summary.message_id.strip() else None
    if _still_had(had, inbox, result):
        return
    raw = box.message(summary.uid)
    sha = hashlib.sha256(raw).hexdigest()
    msg = _parse(raw)
    key = message_key(summary.message_id or str(msg.get("Message-ID", "")), sha)
    if _still_had(known.get(key), inbox, result):
        return
    arrived = summary.internaldate.astimezone(tz)
    sender, subject = _sender(msg), _text(msg.get("Subject", ""))
    name = file_name(arrived, sender, key) if has_report(msg) else ""
    fetched = FetchedMessage(key, summary.message_id.strip(), sha, arrived, name, sender, subject)
    listed = Listed(arrived, sender, subject, name)
    if name:
        target = inbox / name
        if not (target.is_file() and hashlib.sha256(target.read_bytes()).hexdigest() == sha):
            write_bytes_atomic(target, raw)
        result.saved.append(listed)
    else:
        result.without_attachment.append(listed)
    known[key] = fetched
    taken.append(fetched)


def _still_had(had: FetchedMessage | None, inbox: Path, result: FetchResult) -> bool:
    """A message fetched before whose .eml is still in this inbox (or that had no report):
    counted, nothing written. One whose .eml is not in this inbox is fetched again."""
    if had is None or (had.file_name and not (inbox / had.file_name).is_file()):
        return False
    if had.file_name:
        result.already += 1
    else:  # still listed: the officer may have to ask the unit for its file
        result.without_attachment.append(Listed(had.internaldate, had.sender, had.subject))
    return True


def fetch_into(
    server: Server,
    user: str,
    password: str,
    folder: str,
    since: date | None,
    inbox: Path,
    outbox: Path,
    tz: ZoneInfo,
    now: datetime,
) -> FetchResult:
    """`fetch` with the outbox's ledger, one command at a time per outbox (as a consolidation)."""
    with RunLock(outbox), Ledger(outbox / LEDGER_FILE) as ledger:
        return fetch(server, user, password, folder, since, inbox, ledger, tz, now)
