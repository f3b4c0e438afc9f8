"""The ledger: what must survive, in a SQLite database under the outbox (outbox/ledger.sqlite).

It keeps the record and nothing that can be rebuilt (that is pipeline.store.cache):

- `content`: when each content (sha256) was first seen, and the file's modification time
  then: a file's received time, when no receipt names it, never changes afterwards;
- `versions`: every version of every unit's report per period, with its figures;
- `period_scores`: each unit's result per period (status, score, band, lateness, errors),
  for the change since the previous period and the inspection list;
- `fetched_messages`: each message `mail fetch` took from the mailbox (Message-ID, content
  digest, the server's INTERNALDATE, the .eml file written), whose arrival is the received
  time of the .eml;
- `sent_messages`: each message `mail send` delivered (unit, period, digest, Message-ID, time).

The database carries its own schema version (table `schema_version`, one row per migration
applied). Opening a ledger applies the migrations it has not had yet, in one transaction each;
a ledger written by a newer program is refused rather than misread.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from pipeline.core.errors import FileError

FILE_NAME = "ledger.sqlite"
_CHUNK = 500  # values per IN (...) list: far below SQLite's limit on bound parameters

# A row of period_scores, in column order.
ScoreRow = tuple[str, int, int, str, str, float | None, str, int, int, str]


class LedgerError(FileError):
    """The ledger cannot be opened or written: the run cannot continue."""


# --- migrations ---------------------------------------------------------------------------------
#
# Version 0 is a ledger without `schema_version`: a new file, or one written before the record
# and the caches were separated (commit 3be1dec and earlier), which held the parse cache, the
# score memo, the output pieces and the file stats beside the record. Each migration is SQL run
# in one transaction with the row that records it.

_RECORD_TABLES = """
CREATE TABLE IF NOT EXISTS content (
    sha256 TEXT PRIMARY KEY,
    first_name TEXT NOT NULL,
    first_seen_at TEXT NOT NULL,
    first_mtime TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS versions (
    sha256 TEXT NOT NULL,
    period_id TEXT NOT NULL,
    unit TEXT NOT NULL,
    file_name TEXT NOT NULL,
    received_at TEXT NOT NULL,
    valid INTEGER NOT NULL,
    status TEXT NOT NULL,
    values_json TEXT NOT NULL,
    PRIMARY KEY (sha256, period_id)
);
CREATE INDEX IF NOT EXISTS versions_unit ON versions (unit, period_id);
CREATE TABLE IF NOT EXISTS period_scores (
    period_id TEXT NOT NULL,
    year INTEGER NOT NULL,
    period_order INTEGER NOT NULL,
    unit TEXT NOT NULL,
    status TEXT NOT NULL,
    score REAL,
    band TEXT NOT NULL,
    days_late INTEGER NOT NULL,
    errors INTEGER NOT NULL,
    as_of TEXT NOT NULL,
    PRIMARY KEY (period_id, unit)
);
"""

# The caches that lived in the ledger until 3be1dec: they move to the cache store (rebuilt there).
_OLD_CACHES = (
    "parse_cache",
    "parse_layouts",
    "pieces",
    "score_memo",
    "file_stats",
    "scores",
    "parsed",
    "meta",
)

MIGRATIONS: tuple[tuple[str, str], ...] = (
    (
        "the record apart from the caches",
        _RECORD_TABLES + "".join(f"DROP TABLE IF EXISTS {name};\n" for name in _OLD_CACHES),
    ),
    (
        "mail: messages fetched from the mailbox and messages sent to units",
        """
CREATE TABLE IF NOT EXISTS fetched_messages (
    message_key TEXT PRIMARY KEY,
    message_id TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    internaldate TEXT NOT NULL,
    file_name TEXT NOT NULL,
    sender TEXT NOT NULL,
    subject TEXT NOT NULL,
    fetched_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS fetched_messages_sha ON fetched_messages (sha256);
CREATE TABLE IF NOT EXISTS sent_messages (
    period_id TEXT NOT NULL,
    unit TEXT NOT NULL,
    digest TEXT NOT NULL,
    message_id TEXT NOT NULL,
    recipients TEXT NOT NULL,
    sent_at TEXT NOT NULL,
    PRIMARY KEY (period_id, unit, digest)
);
""",
    ),
)
VERSION = len(MIGRATIONS)


def _version(db: sqlite3.Connection) -> int:
    db.execute(
        "CREATE TABLE IF NOT EXISTS schema_version ("
        " version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    row = db.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return int(row[0] or 0)


def migrate(db: sqlite3.Connection, path: Path) -> int:
    """Apply the migrations `db` lacks; returns its version."""
    current = _version(db)
    if current > VERSION:
        raise LedgerError(
            f'Sổ theo dõi "{path}" do phiên bản mới hơn của chương trình ghi (phiên bản dữ liệu '
            f"{current}, chương trình này đọc đến {VERSION}). Dùng phiên bản chương trình mới hơn."
        )
    for number in range(current + 1, VERSION + 1):
        description, sql = MIGRATIONS[number - 1]
        statements = [s.strip() for s in sql.split(";") if s.strip()]
        with db:
            db.execute("BEGIN IMMEDIATE")
            for statement in statements:
                db.execute(statement)
            db.execute(
                "INSERT INTO schema_version (version, description, applied_at) VALUES (?, ?, ?)",
                (number, description, datetime.now().astimezone().isoformat(timespec="seconds")),
            )
    return VERSION


@dataclass(slots=True)  # not frozen: every version of a period is read on every run
class VersionRow:
    """One stored version: a unit's report for a period, by content."""

    sha256: str
    period_id: str
    unit: str
    file_name: str
    received_at: datetime
    valid: bool
    status: str  # the status given by the latest run of that period
    values: dict[str, Any]  # numbers and text as JSON values (dates as ISO text)


class Ledger:
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, timeout=30, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            migrate(self._db, path)
        except sqlite3.Error as exc:
            raise LedgerError(f'Không mở được sổ theo dõi "{path}": {exc}') from exc
        except OSError as exc:
            raise LedgerError(f'Không mở được sổ theo dõi "{path}": {exc.strerror or exc}') from exc

    def __enter__(self) -> Ledger:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    def _write(self, work: Callable[[sqlite3.Connection], object]) -> None:
        """One transaction; a database error stops the run with a message naming the ledger."""
        try:
            with self._db:
                self._db.execute("BEGIN IMMEDIATE")
                work(self._db)
        except sqlite3.Error as exc:
            raise LedgerError(f'Không ghi được sổ theo dõi "{self.path}": {exc}') from exc

    # --- first sights ------------------------------------------------------------------------

    def first_sights(self) -> FirstSights:
        """When each content was first seen: looked up in bulk, new contents recorded by `flush()`."""
        return FirstSights(self)

    def mail(self) -> MailRecord:
        """The record of messages fetched from the mailbox and sent to units."""
        return MailRecord(self)

    # --- versions ------------------------------------------------------------------------------

    def record_versions(self, rows: list[VersionRow]) -> None:
        """Insert or update (status, validity, values) every given version, in one transaction.

        The first received time and name of a content are kept: the same bytes sent again do
        not make a new version.
        """
        if not rows:
            return
        values = [
            (
                r.sha256,
                r.period_id,
                r.unit,
                r.file_name,
                r.received_at.isoformat(),
                int(r.valid),
                r.status,
                json.dumps(r.values, ensure_ascii=False, sort_keys=True, default=str),
            )
            for r in rows
        ]
        self._write(
            lambda db: db.executemany(
                "INSERT INTO versions (sha256, period_id, unit, file_name, received_at, valid, status,"
                " values_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (sha256, period_id) DO UPDATE SET unit = excluded.unit,"
                " valid = excluded.valid, status = excluded.status, values_json = excluded.values_json",
                values,
            )
        )

    def versions_by_unit(
        self, period_ids: list[str], *, values: bool = True, units: list[str] | None = None
    ) -> dict[str, list[VersionRow]]:
        """Every unit's stored versions for the given periods, oldest first, in one query
        (`units`: only these units', at most a few hundred).

        Without `values` the stored figures are not decoded (an empty dict in each row).
        """
        if not period_ids:
            return {}
        marks = ", ".join("?" for _ in period_ids)
        column = "values_json" if values else "''"
        where = f"period_id IN ({marks})"
        args = list(period_ids)
        if units is not None:
            if len(units) > _CHUNK:  # past SQLite's bound parameters: every unit, then filtered
                every = self.versions_by_unit(period_ids, values=values)
                return {u: every[u] for u in units if u in every}
            where += f" AND unit IN ({', '.join('?' for _ in units)})"
            args += units
        rows = self._db.execute(
            f"SELECT sha256, period_id, unit, file_name, received_at, valid, status, {column}"
            f" FROM versions WHERE {where} ORDER BY unit, received_at, file_name",
            args,
        ).fetchall()
        out: dict[str, list[VersionRow]] = {}
        for r in rows:
            out.setdefault(r[2], []).append(
                VersionRow(
                    r[0], r[1], r[2], r[3], datetime.fromisoformat(r[4]), bool(r[5]), r[6],
                    json.loads(r[7]) if values else {},
                )
            )  # fmt: skip
        return out

    # --- unit results per period -------------------------------------------------------------

    def results_before(self, year: int, order: int) -> list[ScoreRow]:
        """Recorded unit results of every period before (year, order), oldest first."""
        rows = self._db.execute(
            "SELECT period_id, year, period_order, unit, status, score, band, days_late, errors, as_of"
            " FROM period_scores WHERE year < ? OR (year = ? AND period_order < ?)"
            " ORDER BY year, period_order, unit",
            (year, year, order),
        ).fetchall()
        return [tuple(r) for r in rows]

    def replace_results(self, period_id: str, rows: list[ScoreRow]) -> None:
        """This period's unit results, replacing those of an earlier run, in one transaction.

        Only rows that changed (as_of aside) are written, and those of units no longer given
        are deleted: a rerun after one late file rewrites one row, not the whole registry's.
        A row's as_of is thus the run that last changed it."""
        sql = "SELECT unit, year, period_order, status, score, band, days_late, errors FROM period_scores"
        stored = {r[0]: r[1:] for r in self._db.execute(f"{sql} WHERE period_id = ?", (period_id,))}
        changed = [r for r in rows if stored.get(r[3]) != (*r[1:3], *r[4:9])]
        given = {r[3] for r in rows}
        gone = [(period_id, unit) for unit in stored if unit not in given]
        if not changed and not gone:
            return

        def work(db: sqlite3.Connection) -> None:
            db.executemany("DELETE FROM period_scores WHERE period_id = ? AND unit = ?", gone)
            db.executemany(
                "INSERT OR REPLACE INTO period_scores VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", changed
            )

        self._write(work)


# --- mail ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FetchedMessage:
    """A message taken from the mailbox: `file_name` is "" when it was not saved (no report
    attached); `internaldate` is its arrival in the mailbox (the server's INTERNALDATE)."""

    message_key: str  # the Message-ID, or "sha256:<digest>" for a message without one
    message_id: str
    sha256: str
    internaldate: datetime
    file_name: str
    sender: str
    subject: str


@dataclass(frozen=True)
class SentMessage:
    period_id: str
    unit: str
    digest: str  # what the unit was told (pipeline.mail.send.substance)
    message_id: str
    recipients: tuple[str, ...]
    sent_at: datetime


class MailRecord:
    """The ledger's record of the mailbox: messages fetched and messages sent."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    def fetched(self) -> dict[str, FetchedMessage]:
        """Every message fetched so far, by message key."""
        rows = self._ledger._db.execute(
            "SELECT message_key, message_id, sha256, internaldate, file_name, sender, subject"
            " FROM fetched_messages"
        ).fetchall()
        return {
            r[0]: FetchedMessage(r[0], r[1], r[2], datetime.fromisoformat(r[3]), r[4], r[5], r[6])
            for r in rows
        }

    def record_fetched(self, messages: list[FetchedMessage], at: datetime) -> None:
        rows = [
            (m.message_key, m.message_id, m.sha256, m.internaldate.isoformat(), m.file_name, m.sender,
             m.subject, at.isoformat())
            for m in messages
        ]  # fmt: skip
        if rows:
            self._ledger._write(
                lambda db: db.executemany(
                    "INSERT OR REPLACE INTO fetched_messages VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows
                )
            )

    def sent(self, period_id: str) -> dict[str, set[str]]:
        """unit → the digests of the messages already sent to it for the period."""
        out: dict[str, set[str]] = {}
        for unit, digest in self._ledger._db.execute(
            "SELECT unit, digest FROM sent_messages WHERE period_id = ?", (period_id,)
        ):
            out.setdefault(unit, set()).add(digest)
        return out

    def record_sent(self, message: SentMessage) -> None:
        """One message, in its own transaction: a failure later never makes it be sent again."""
        row = (
            message.period_id, message.unit, message.digest, message.message_id,
            " ".join(message.recipients), message.sent_at.isoformat(),
        )  # fmt: skip
        self._ledger._write(
            lambda db: db.execute("INSERT OR REPLACE INTO sent_messages VALUES (?, ?, ?, ?, ?, ?)", row)
        )


class FirstSights:
    """When each content was first seen, for a whole inbox, in a few statements.

    `first_mtime` answers in call order as if each content were recorded at once (a content
    seen twice in one run keeps the first call's time); the new contents are written by
    `flush()` in one transaction.
    """

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self._known: dict[str, datetime] = {}
        self._new: dict[str, tuple[str, str, str]] = {}  # sha256 → (name, seen_at, mtime), ISO

    def prefetch(self, shas: list[str]) -> None:
        """Look up the recorded times of these contents at once (a few queries)."""
        wanted = sorted({s for s in shas if s not in self._known})
        db = self._ledger._db
        for i in range(0, len(wanted), _CHUNK):
            chunk = wanted[i : i + _CHUNK]
            marks = ", ".join("?" for _ in chunk)
            for sha, at in db.execute(
                f"SELECT sha256, first_mtime FROM content WHERE sha256 IN ({marks})", chunk
            ):
                self._known[sha] = datetime.fromisoformat(at)

    def arrivals(self, shas: list[str]) -> dict[str, datetime]:
        """The mailbox arrival (INTERNALDATE) of each of these contents that `mail fetch` saved."""
        found: dict[str, datetime] = {}
        wanted = sorted(set(shas))
        db = self._ledger._db
        for i in range(0, len(wanted), _CHUNK):
            chunk = wanted[i : i + _CHUNK]
            marks = ", ".join("?" for _ in chunk)
            for sha, at in db.execute(
                f"SELECT sha256, MIN(internaldate) FROM fetched_messages WHERE sha256 IN ({marks})"
                " GROUP BY sha256",
                chunk,
            ):
                found[sha] = datetime.fromisoformat(at)
        return found

    def first_mtime(self, sha256: str, name: str, mtime: datetime, seen_at: datetime) -> datetime:
        """The modification time recorded when this content was first seen (`mtime` if new)."""
        if sha256 not in self._known:
            self.prefetch([sha256])
        if sha256 not in self._known:
            self._known[sha256] = datetime.fromisoformat(mtime.isoformat())
            self._new[sha256] = (name, seen_at.isoformat(), mtime.isoformat())
        return self._known[sha256]

    def flush(self) -> None:
        if not self._new:
            return
        rows = [(sha, name, seen, mtime) for sha, (name, seen, mtime) in self._new.items()]
        self._ledger._write(
            lambda db: db.executemany(
                "INSERT OR IGNORE INTO content (sha256, first_name, first_seen_at, first_mtime)"
                " VALUES (?, ?, ?, ?)",
                rows,
            )
        )
        self._new.clear()
