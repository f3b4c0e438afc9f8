"""Intake: what is in the inbox, what kind of file each is, and when it was received.

The inbox is only ever read. Every file found is returned, either as a candidate report or
with the reason it is ignored, so the outputs account for all of them.

A rerun over 10,000 unchanged files must cost little: the folder is listed once (one stat a
file); a file whose size, modification and change times and inode are those recorded in the
ledger (file_stats, per inbox folder) keeps its recorded sha256 without being opened; received
times come from the ledger in a few statements (Ledger.first_sights). Files that must be hashed
and screened are handed to an `Examine` function: in this process by default, in the worker
processes for a run (pipeline.run.collect), which then read them in the same pass.
"""

from __future__ import annotations

import atexit
import csv
import hashlib
import os
import shutil
import stat as stat_mod
import tempfile
import unicodedata
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from pipeline import screen
from pipeline.ledger import FileRecord, FirstSights, Ledger
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


# Hashes and screens files whose sha256 is not known: sets each file's sha256 and kind and
# returns its screening, or None when the content is known to have passed (parse cache).
Examine = Callable[[list[InboxFile]], list[screen.Screened | None]]


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
            # csv.DictReader's reading, by column index (a national inbox has 10,000 receipts):
            # the last column of a repeated name counts, blank lines are skipped, short rows
            # read as empty.
            reader = csv.reader(fh)
            header = next(reader, [])
            columns = {name: i for i, name in enumerate(header)}
            at_file, at_when = columns.get("file", -1), columns.get("received_at", -1)
            line = 1
            for row in reader:
                if not row:
                    continue
                line += 1
                name = row[at_file].strip() if 0 <= at_file < len(row) else ""
                when = row[at_when].strip() if 0 <= at_when < len(row) else ""
                if not name:
                    continue
                try:
                    at = datetime.fromisoformat(when)
                except ValueError as exc:
                    raise ReceiptsError(
                        f'{RECEIPTS}, dòng {line}: thời điểm nhận "{when}" không đúng dạng '
                        "ISO 8601 (ví dụ 2023-03-20T16:30 hoặc 2023-03-20T16:30:00+07:00)."
                    ) from exc
                receipts[_nfc(name).replace("\\", "/")] = at if at.tzinfo else at.replace(tzinfo=tz)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ReceiptsError(f"Không đọc được {RECEIPTS}: {exc}") from exc
    return receipts


def _nfc(text: str) -> str:
    """nfc(), with the quick check first: names are nearly always NFC already."""
    return text if unicodedata.is_normalized("NFC", text) else nfc(text)


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
    from pipeline import mail  # with the email package: only when a file may be a container

    return mail.is_email(f.path) or zipfile.is_zipfile(f.path)


def _expand(
    container: Found,
    receipts: dict[str, datetime],
    sights: FirstSights,
    tz: ZoneInfo,
    now: datetime,
    workdir: Path,
) -> list[Found]:
    """The container (.eml or .zip) and every file taken out of it.

    An attachment's received time: the officer's receipt for the attachment itself or for its
    container, then the message's own date (newest Received header, else Date), then, for a zip
    found directly in the inbox, the container's time as the ledger first saw it.
    """
    from pipeline import mail

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
            sights.first_mtime(child.sha256, member.name, f.received_at or now, now)
        name_code = screen.name_code(member.name.rsplit("/", 1)[-1])
        if name_code:
            out.append(Found(child, ignore_code=name_code))
        else:
            out.append(_classify(child, path))
    return out


def examine_here(files: list[InboxFile]) -> list[screen.Screened | None]:
    """The default Examine: sha256 and screening in this process."""
    out: list[screen.Screened | None] = []
    for f in files:
        try:
            f.sha256 = sha256_of(f.path)
        except OSError:
            f.sha256 = ""  # gone or locked: screening says so (file-unreadable)
        screened = screen.screen(f.path, f.size)
        f.kind = screened.kind
        out.append(screened)
    return out


# A file found under the inbox: (name relative to the inbox, "/"-separated, NFC; its path;
# its os.stat, None when it vanished or cannot be looked at).
_Entry = tuple[str, Path, os.stat_result | None]


def _walk(inbox: Path) -> list[_Entry]:
    """Every file under the inbox (as os.walk finds them: symlinked folders are not entered).

    Path.iterdir builds each child path from its folder's (cheaper than Path(text) for 10,000
    files); the one stat per file tells folders from files too.
    """
    found: list[_Entry] = []
    folders: list[tuple[str, Path]] = [("", inbox)]
    while folders:
        prefix, folder = folders.pop()
        try:
            children = list(folder.iterdir())
        except OSError:
            continue
        for path in children:
            try:
                st: os.stat_result | None = path.stat()
            except OSError:
                st = None
            if st is not None and stat_mod.S_ISDIR(st.st_mode):
                if not path.is_symlink():
                    folders.append((f"{prefix}{path.name}/", path))
                continue
            found.append((_nfc(prefix + path.name), path, st))
    found.sort(key=lambda e: e[0])
    return found


def scan(
    inbox: Path,
    ledger: Ledger,
    tz: ZoneInfo,
    now: datetime,
    workdir: Path | None = None,
    *,
    screened: Mapping[str, str] | None = None,
    cached: Mapping[tuple[str, str], str] | None = None,
    examine: Examine = examine_here,
) -> list[Found]:
    """Every file under the inbox, in name order, with type and received time.

    `screened`: sha256 → kind of contents that passed screening and were read by an earlier
    run; `cached`: (sha256, name) → kind of those stored under that very name (the parse
    cache). The same bytes are not screened again. Files whose sha256 is not known from the
    ledger go to `examine`.

    E-mails (.eml) and zip files are opened: their spreadsheet attachments follow them in the
    list, written under `workdir` (a private temporary folder; one is made and removed at exit
    when not given).
    """
    receipts = read_receipts(inbox, tz)
    if workdir is None:
        workdir = Path(tempfile.mkdtemp(prefix="dvcq-attachments-"))
        atexit.register(shutil.rmtree, workdir, True)
    screened = screened or {}
    cached = cached or {}
    inbox_key = str(inbox.resolve())
    recorded = ledger.file_stats(inbox_key)
    records: dict[str, FileRecord] = {}  # what to remember of each file for the next run
    mtimes: dict[str, float] = {}
    items: list[Found] = []
    unknown: list[InboxFile] = []
    for name, path, st in _walk(inbox):
        f = InboxFile(name=name, path=path, sha256="", size=st.st_size if st else 0)
        name_code = screen.name_code(name.rsplit("/", 1)[-1])
        if name_code:
            items.append(Found(f, ignore_code=name_code))
            continue
        if name == RECEIPTS:
            items.append(Found(f, ignore_code="officer-file"))
            continue
        if st is None or not stat_mod.S_ISREG(st.st_mode):
            detail = "không đọc được thông tin tệp" if st is None else "không phải tệp thông thường"
            items.append(Found(f, reject_code="file-unreadable", params={"detail": detail}))
            continue
        record = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, "")
        known = recorded.get(name)
        if known is not None and known[:4] == record[:4]:
            f.sha256 = known[4]
            records[name] = known
        else:
            unknown.append(f)
            records[name] = record
        mtimes[name] = st.st_mtime
        items.append(Found(f))
    examined = dict(zip(map(id, unknown), examine(unknown), strict=True)) if unknown else {}

    sights = ledger.first_sights()
    sights.prefetch(
        [item.file.sha256 for item in items if item.file.sha256 and item.file.name not in receipts]
    )
    found: list[Found] = []
    for item in items:
        f = item.file
        if item.ignore_code or item.reject_code:
            found.append(item)
            continue
        if f.name in receipts:
            f.received_at, f.received_source = receipts[f.name], "receipts"
        else:
            mtime = sights.recorded(f.sha256) if f.sha256 else None  # known content: no conversion
            if mtime is None:
                mtime = datetime.fromtimestamp(mtimes[f.name], tz)
                if f.sha256:
                    mtime = sights.first_mtime(f.sha256, f.name, mtime, now)
                # else: could not be read (rejected): no content to remember a time for
            f.received_at, f.received_source = mtime, "ledger"
        key = (f.sha256, f.name)
        if id(f) in examined:
            records[f.name] = (*records[f.name][:4], f.sha256)
            outcome = examined[id(f)]
            if outcome is None:  # known content: passed screening before
                f.kind = cached.get(key) or screened.get(f.sha256, "")
                found.append(item)
                continue
            item = Found(f, outcome.ignore_code, outcome.reject_code, outcome.params)
        elif key in cached:
            f.kind = cached[key]
            found.append(item)
            continue
        elif f.sha256 in screened:
            f.kind = screened[f.sha256]
            found.append(item)
            continue
        else:
            item = _classify(f, f.path)
        if _is_container(item):
            found.extend(_expand(item, receipts, sights, tz, now, workdir / f"{len(found):05d}"))
        else:
            found.append(item)
    sights.flush()
    gone = [name for name in recorded if name not in records]
    changed = {name: r for name, r in records.items() if r[4] and recorded.get(name) is not r}
    ledger.record_file_stats(inbox_key, changed, gone)
    return found
