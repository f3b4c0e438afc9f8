"""Intake: what is in the inbox, and when each file was received.

The inbox is only ever read. Every file found is returned, so that the outputs account for all
of them: files named as never being reports (system files, Excel lock files, the officer's own
receipts.csv) carry the code that says so, files that cannot even be looked at say why.

A rerun over 10,000 unchanged files must cost little: the folder is listed once (one stat a
file), and a file whose size, modification and change times and inode are those the cache
recorded keeps its recorded sha256 without being opened. Other files are hashed by the read
workers, from the same read of their bytes that screens and reads them (pipeline.reading).
"""

from __future__ import annotations

import os
import stat as stat_mod
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from pipeline.core.model import InboxFile, Submission
from pipeline.core.vietnamese import nfc
from pipeline.intake import screen
from pipeline.intake.receipts import RECEIPTS
from pipeline.store.cache import Cache, FileRecord
from pipeline.store.ledger import FirstSights


@dataclass
class Entry:
    """An inbox file as the intake found it. `file.sha256` is "" when its bytes must be hashed;
    `name_code` is set for files judged by their name alone (system-file, lock-file,
    officer-file); `unreadable` says why a file cannot be looked at (it vanished, it is not a
    regular file); `mtime` is its modification time (epoch seconds) when it could be stat'ed."""

    file: InboxFile
    name_code: str = ""
    unreadable: str = ""
    mtime: float | None = None


@dataclass
class Listing:
    """The inbox as listed: its entries in name order, and what to remember of each file."""

    inbox: Path
    entries: list[Entry]
    recorded: dict[str, FileRecord]  # the cache's file stats for this inbox, before this run
    stats: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)  # name → this run's

    def remember(self, cache: Cache | None) -> None:
        """Record each file's stat and sha256 (known now that the workers hashed the new ones)."""
        if cache is None:
            return
        now: dict[str, FileRecord] = {}
        for e in self.entries:
            st = self.stats.get(e.file.name)
            if st is not None and e.file.sha256:
                now[e.file.name] = (*st, e.file.sha256)
        changed = {name: r for name, r in now.items() if self.recorded.get(name) != r}
        gone = [name for name in self.recorded if name not in now]
        cache.record_file_stats(_inbox_key(self.inbox), changed, gone)


def _inbox_key(inbox: Path) -> str:
    return str(inbox.resolve())


def _walk(inbox: Path) -> list[tuple[str, Path, os.stat_result | None]]:
    """Every file under the inbox: (name relative to the inbox, "/"-separated, NFC; path; stat,
    None when it vanished or cannot be looked at). Symlinked folders are not entered."""
    found: list[tuple[str, Path, os.stat_result | None]] = []
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
            found.append((nfc(prefix + path.name), path, st))
    found.sort(key=lambda e: e[0])
    return found


def scan(inbox: Path, cache: Cache | None) -> Listing:
    """Every file under the inbox, in name order; sha256 from the cache's file stats where the
    file is unchanged on disk."""
    recorded = cache.file_stats(_inbox_key(inbox)) if cache is not None else {}
    listing = Listing(inbox, [], recorded)
    for name, path, st in _walk(inbox):
        f = InboxFile(name=name, path=path, sha256="", size=st.st_size if st else 0)
        entry = Entry(f, mtime=st.st_mtime if st else None)
        code = screen.name_code(name.rsplit("/", 1)[-1])
        if code:
            entry.name_code = code
        elif name == RECEIPTS:
            entry.name_code = "officer-file"
        elif st is None or not stat_mod.S_ISREG(st.st_mode):
            entry.unreadable = "không đọc được thông tin tệp" if st is None else "không phải tệp thông thường"
        else:
            identity = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
            listing.stats[name] = identity
            known = recorded.get(name)
            if known is not None and known[:4] == identity:
                f.sha256 = known[4]
        listing.entries.append(entry)
    return listing


def stamp_received(
    entries: list[Entry],
    receipts: dict[str, datetime],
    sights: FirstSights,
    tz: ZoneInfo,
    now: datetime,
) -> None:
    """Each judged file's received time: the officer's receipt, else, for an .eml that
    `mail fetch` saved, its arrival in the mailbox (INTERNALDATE, recorded in the ledger), else
    the modification time the ledger recorded when its content was first seen (recorded now for
    a new content)."""
    unstamped = [e.file for e in entries if e.file.sha256 and e.file.name not in receipts]
    sights.prefetch([f.sha256 for f in unstamped])
    arrivals = sights.arrivals([f.sha256 for f in unstamped if f.name.lower().endswith(".eml")])
    for e in entries:
        f = e.file
        if e.name_code or e.unreadable:
            continue
        if f.name in receipts:
            f.received_at, f.received_source = receipts[f.name], "receipts"
        elif f.sha256 in arrivals:
            f.received_at, f.received_source = arrivals[f.sha256], "mailbox"
        elif f.sha256 and e.mtime is not None:
            mtime = datetime.fromtimestamp(e.mtime, tz)
            f.received_at, f.received_source = sights.first_mtime(f.sha256, f.name, mtime, now), "ledger"


def first_copies(subs: list[Submission]) -> dict[str, str]:
    """sha256 → name of the earliest received file with that content (screened and judged).

    The same bytes sent twice (a file and the same attachment in a later e-mail) are one
    submission, received when the first copy arrived; the other copies are duplicates.
    """
    first: dict[str, tuple[datetime, str]] = {}
    for sub in subs:
        f = sub.file
        if not f.sha256 or f.received_at is None or not f.kind:
            continue
        key = (f.received_at, f.name)
        if f.sha256 not in first or key < first[f.sha256]:
            first[f.sha256] = key
    return {sha: name for sha, (_, name) in first.items()}
