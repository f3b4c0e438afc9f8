"""Intake: what is in the inbox, what kind of file each is, and when it was received.

The inbox is only ever read. Every file found is returned, either as a candidate report or
with the reason it is ignored, so the outputs account for all of them.
"""

from __future__ import annotations

import atexit
import csv
import hashlib
import os
import shutil
import tempfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from pipeline import mail, screen
from pipeline.ledger import Ledger
from pipeline.model import InboxFile
from pipeline.vietnamese import nfc

RECEIPTS = "receipts.csv"
SYSTEM_NAMES = screen.SYSTEM_NAMES


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


def first_copies(found: list[Found]) -> dict[str, str]:
    """sha256 → name of the earliest received candidate with that content.

    The same bytes sent twice (a file and the same attachment in a later e-mail) are one
    submission, received when the first copy arrived; the other copies are duplicates.
    """
    first: dict[str, tuple[datetime, str]] = {}
    for item in found:
        f = item.file
        if item.ignore_code or item.reject_code or not f.sha256 or f.received_at is None:
            continue
        key = (f.received_at, f.name)
        if f.sha256 not in first or key < first[f.sha256]:
            first[f.sha256] = key
    return {sha: name for sha, (_, name) in first.items()}


def _classify(f: InboxFile, path: Path) -> Found:
    """A candidate report, or why it is rejected or ignored: bytes and zip directory only."""
    screened = screen.screen(path, f.size)
    f.kind = screened.kind
    return Found(f, screened.ignore_code, screened.reject_code, screened.params)


def _is_container(item: Found) -> bool:
    """An e-mail or a zip of attachments that passed screening (not a bomb, not too large)."""
    f = item.file
    if f.kind or item.reject_code or not f.size:
        return False
    return mail.is_email(f.path) or zipfile.is_zipfile(f.path)


def _expand(
    container: Found,
    receipts: dict[str, datetime],
    ledger: Ledger,
    tz: ZoneInfo,
    now: datetime,
    workdir: Path,
) -> list[Found]:
    """The container (.eml or .zip) and every file taken out of it.

    An attachment's received time: the officer's receipt for the attachment itself or for its
    container, then the message's own date (newest Received header, else Date), then, for a zip
    found directly in the inbox, the container's time as the ledger first saw it.
    """
    f = container.file
    try:
        if mail.is_email(f.path):
            opened = mail.open_email(f.path, f.name, tz)
        else:
            opened = mail.open_zip(f.path, f.name)
    except mail.ContainerError as exc:
        return [Found(f, reject_code="file-unreadable", params={"detail": exc.detail})]
    if opened.received_at is not None and f.received_source != "receipts":
        f.received_at, f.received_source = opened.received_at, "email"
    what = "thư điện tử" if opened.kind == "email" else "tệp nén"
    if opened.problems:
        out = [Found(f, reject_code="container-limit", params={"detail": "; ".join(opened.problems)})]
    else:
        params = {"what": what, "count": str(len(opened.members))}
        out = [Found(f, ignore_code="container-opened", params=params)]
    for index, member in enumerate(opened.members, start=1):
        path = mail.write_member(member, workdir, index)
        child = InboxFile(
            name=member.name, path=path, sha256=hashlib.sha256(member.data).hexdigest(), size=len(member.data)
        )
        if member.name in receipts:
            child.received_at, child.received_source = receipts[member.name], "receipts"
        else:
            child.received_at, child.received_source = f.received_at, f.received_source
            ledger.first_mtime(child.sha256, member.name, f.received_at or now, now)
        name_code = screen.name_code(member.name.rsplit("/", 1)[-1])
        if name_code:
            out.append(Found(child, ignore_code=name_code))
        else:
            out.append(_classify(child, path))
    return out


def scan(
    inbox: Path,
    ledger: Ledger,
    tz: ZoneInfo,
    now: datetime,
    workdir: Path | None = None,
    *,
    screened: Mapping[str, str] | None = None,
) -> list[Found]:
    """Every file under the inbox, in name order, with type and received time.

    `screened`: sha256 → kind of contents that passed screening and were read by an earlier
    run (the parse cache); the same bytes are not screened again.

    E-mails (.eml) and zip files are opened: their spreadsheet attachments follow them in the
    list, written under `workdir` (a private temporary folder; one is made and removed at exit
    when not given).
    """
    receipts = read_receipts(inbox, tz)
    if workdir is None:
        workdir = Path(tempfile.mkdtemp(prefix="dvcq-attachments-"))
        atexit.register(shutil.rmtree, workdir, True)
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
        if screened and f.sha256 in screened:
            f.kind = screened[f.sha256]
            found.append(Found(f))
            continue
        item = _classify(f, path)
        if _is_container(item):
            found.extend(_expand(item, receipts, ledger, tz, now, workdir / f"{len(found):05d}"))
        else:
            found.append(item)
    return found
