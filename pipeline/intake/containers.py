"""Containers in the inbox: whole e-mails (.eml) and zip archives, opened into their files.

An .eml dropped in the inbox is parsed with the standard library (policy.default); every
attachment is returned (a zip attachment is opened in turn, one level deep). A zip file in
the inbox is opened the same way. Attachment and member names are never trusted as paths:
only a sanitised NFC base name is kept, for display, and the bytes are written under a private
temporary folder with names of our own. The inbox is never modified.

The message's received time is the date of its newest Received header when there is one
(the officer's mail server stamped it), otherwise its Date header (the sender's clock); a
message saved by `mail fetch` is received when it arrived in the mailbox (open_container).
"""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import parsedate_to_datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from pipeline.core.issues import make_issue
from pipeline.core.model import InboxFile, Submission
from pipeline.core.schema import Schema
from pipeline.core.statuses import FileStatus
from pipeline.intake import screen
from pipeline.intake.safepath import safe_file_name
from pipeline.intake.scan import Entry
from pipeline.store.ledger import FirstSights

# Simple caps (issue 6 hardens the zip handling further).
MAX_MEMBERS = 200  # files taken from one container
MAX_MEMBER_BYTES = 25 * 1024 * 1024  # one attachment or zip member, uncompressed
MAX_TOTAL_BYTES = 200 * 1024 * 1024  # everything taken from one container


class ContainerError(Exception):
    """The container cannot be opened at all; `detail` says why, in Vietnamese."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass(frozen=True)
class Member:
    """One file taken out of a container."""

    name: str  # "thu.eml/Báo cáo.xlsx" or "thu.eml/bc.zip/Báo cáo.xlsx": display only
    data: bytes


@dataclass
class Opened:
    kind: str  # "email" | "zip"
    members: list[Member] = field(default_factory=list)
    received_at: datetime | None = None  # e-mail only: Received/Date of the message
    problems: list[str] = field(default_factory=list)  # caps reached, in Vietnamese


def is_email(path: Path) -> bool:
    return path.suffix.lower() == ".eml"


def safe_name(raw: str | None, fallback: str) -> str:
    """An attachment or member name reduced to a harmless NFC base name (never a path)."""
    return safe_file_name(raw or "", fallback)


def _unique(name: str, taken: set[str]) -> str:
    if name not in taken:
        taken.add(name)
        return name
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    n = 2
    while True:
        candidate = f"{stem} ({n}).{ext}" if dot else f"{stem} ({n})"
        if candidate not in taken:
            taken.add(candidate)
            return candidate
        n += 1


def _aware(dt: datetime, tz: ZoneInfo) -> datetime:
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=tz)


def message_time(msg: EmailMessage, tz: ZoneInfo) -> tuple[datetime | None, str]:
    """Newest Received header date, else the Date header; (None, "") when neither parses."""
    stamps: list[datetime] = []
    for header in msg.get_all("Received") or []:
        _, _, when = str(header).rpartition(";")
        try:
            stamps.append(_aware(parsedate_to_datetime(when.strip()), tz))
        except (TypeError, ValueError, IndexError):
            continue
    if stamps:
        return max(stamps), "received-header"
    date_header = msg.get("Date")
    if date_header is not None:
        try:
            return _aware(parsedate_to_datetime(str(date_header)), tz), "date-header"
        except (TypeError, ValueError, IndexError):
            pass
    return None, ""


class _Budget:
    def __init__(self, opened: Opened) -> None:
        self.opened = opened
        self.total = 0

    def take(self, name: str, size: int) -> bool:
        if len(self.opened.members) >= MAX_MEMBERS:
            self.opened.problems.append(f"có hơn {MAX_MEMBERS} tệp, chỉ lấy {MAX_MEMBERS} tệp đầu")
            return False
        if size > MAX_MEMBER_BYTES:
            self.opened.problems.append(f'tệp "{name}" lớn hơn {MAX_MEMBER_BYTES // (1024 * 1024)} MB')
            return False
        if self.total + size > MAX_TOTAL_BYTES:
            self.opened.problems.append(f"tổng dung lượng vượt {MAX_TOTAL_BYTES // (1024 * 1024)} MB")
            return False
        self.total += size
        return True


def _member_name(info: zipfile.ZipInfo) -> str:
    """The member's name; names written without the UTF-8 flag are tried as UTF-8, then cp1258."""
    if info.flag_bits & 0x800:
        return info.filename
    raw = info.filename.encode("cp437", errors="replace")
    for encoding in ("utf-8", "cp1258"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return info.filename


def _open_zip(data: io.BytesIO | Path, prefix: str, budget: _Budget) -> None:
    try:
        with zipfile.ZipFile(data) as zf:
            taken: set[str] = set()
            for index, info in enumerate(zf.infolist(), start=1):
                if info.is_dir():
                    continue
                name = _unique(safe_name(_member_name(info), f"tệp-{index}"), taken)
                if name.lower() in {".ds_store", "thumbs.db"} or "__MACOSX/" in info.filename:
                    continue
                if not budget.take(name, info.file_size):
                    break
                with zf.open(info) as fh:
                    content = fh.read(MAX_MEMBER_BYTES + 1)
                if len(content) > MAX_MEMBER_BYTES:  # the header lied about the size
                    budget.opened.problems.append(f'tệp "{name}" lớn hơn khai báo')
                    continue
                budget.opened.members.append(Member(f"{prefix}/{name}", content))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, RuntimeError, OSError) as exc:
        # RuntimeError: an encrypted member; NotImplementedError: an unknown compression.
        budget.opened.problems.append(f'tệp nén "{prefix}" không mở được ({exc.__class__.__name__})')


def open_zip(path: Path, name: str) -> Opened:
    opened = Opened(kind="zip")
    try:
        with zipfile.ZipFile(path):
            pass
    except (zipfile.BadZipFile, OSError) as exc:
        raise ContainerError("tệp nén bị hỏng") from exc
    _open_zip(path, name, _Budget(opened))
    return opened


def open_email(path: Path, name: str, tz: ZoneInfo) -> Opened:
    """The message's attachments (zip attachments opened) and its received time."""
    try:
        with path.open("rb") as fh:
            msg = BytesParser(policy=policy.default).parse(fh)
    except (OSError, ValueError) as exc:
        raise ContainerError(f"không đọc được thư ({exc.__class__.__name__})") from exc
    assert isinstance(msg, EmailMessage)
    opened = Opened(kind="email")
    opened.received_at, _ = message_time(msg, tz)
    budget = _Budget(opened)
    taken: set[str] = set()
    index = 0
    for part in msg.walk():  # walks into attached messages (message/rfc822) too
        if part.is_multipart():
            continue
        filename = part.get_filename()
        if filename is None and part.get_content_disposition() != "attachment":
            continue  # the message text itself
        index += 1
        try:
            payload = part.get_payload(decode=True)
        except (ValueError, TypeError):
            payload = None
        if not isinstance(payload, bytes):
            continue
        att = _unique(safe_name(filename, f"tệp-đính-kèm-{index}"), taken)
        if att.lower().endswith(".zip") or (payload.startswith(b"PK\x03\x04") and _is_plain_zip(payload)):
            _open_zip(io.BytesIO(payload), f"{name}/{att}", budget)
            continue
        if budget.take(att, len(payload)):
            opened.members.append(Member(f"{name}/{att}", payload))
    return opened


def _is_plain_zip(payload: bytes) -> bool:
    """A zip that is not itself an office document (xlsx/ods are zips too)."""
    try:
        with zipfile.ZipFile(io.BytesIO(payload)) as zf:
            names = set(zf.namelist())
    except zipfile.BadZipFile:
        return False
    return not ({"xl/workbook.xml", "xl/workbook.bin", "mimetype", "[Content_Types].xml"} & names)


def write_member(member: Member, workdir: Path, index: int) -> Path:
    """The member's bytes under the private workdir, under a name of our own."""
    suffix = Path(member.name).suffix.lower()
    suffix = suffix if re.fullmatch(r"\.[a-z0-9]{1,5}", suffix) else ""
    workdir.mkdir(parents=True, exist_ok=True)
    target = workdir / f"{index:05d}{suffix}"
    target.write_bytes(member.data)
    return target


# --- a container of the inbox, opened for a run -------------------------------------------------


def is_container(sub: Submission) -> bool:
    """An e-mail or a zip of attachments: screened as no spreadsheet (now or by an earlier
    run, whose verdict the cache keeps) while being an .eml or a plain zip."""
    codes = {i.code for i in sub.issues}
    if sub.file.kind or codes != {"not-spreadsheet"} or not sub.file.size:
        return False
    return is_email(sub.file.path) or zipfile.is_zipfile(sub.file.path)


def open_container(
    schema: Schema,
    container: Submission,
    receipts: dict[str, datetime],
    sights: FirstSights,
    tz: ZoneInfo,
    now: datetime,
    workdir: Path,
) -> tuple[Submission, list[Entry]]:
    """The container's verdict, and the files taken out of it as inbox entries.

    An attachment's received time: the officer's receipt for the attachment itself or for its
    container, then the message's arrival in the mailbox when `mail fetch` saved it (recorded in
    the ledger), then the message's own date (newest Received header, else Date), then, for a zip
    found directly in the inbox, the container's time as the ledger first saw it.
    """
    f = container.file
    verdict = Submission(file=f, status=FileStatus.IGNORED, from_cache=container.from_cache)
    try:
        opened = open_email(f.path, f.name, tz) if is_email(f.path) else open_zip(f.path, f.name)
    except ContainerError as exc:
        verdict.status = FileStatus.REJECTED
        verdict.issues.append(make_issue(schema, "file-unreadable", file=f.name, detail=exc.detail))
        return verdict, []
    if opened.received_at is not None and f.received_source not in ("receipts", "mailbox"):
        f.received_at, f.received_source = opened.received_at, "email"
    if opened.problems:
        verdict.status = FileStatus.REJECTED
        detail = "; ".join(opened.problems)
        verdict.issues.append(make_issue(schema, "container-limit", file=f.name, detail=detail))
    else:
        what = "thư điện tử" if opened.kind == "email" else "tệp nén"
        count = str(len(opened.members))
        verdict.issues.append(make_issue(schema, "container-opened", file=f.name, what=what, count=count))
    entries: list[Entry] = []
    for index, member in enumerate(opened.members, start=1):
        path = write_member(member, workdir, index)
        child = InboxFile(
            name=member.name, path=path, sha256=hashlib.sha256(member.data).hexdigest(), size=len(member.data)
        )
        if member.name in receipts:
            child.received_at, child.received_source = receipts[member.name], "receipts"
        else:
            child.received_at, child.received_source = f.received_at, f.received_source
            sights.first_mtime(child.sha256, member.name, f.received_at or now, now)
        entries.append(Entry(child, name_code=screen.name_code(member.name.rsplit("/", 1)[-1])))
    return verdict, entries
