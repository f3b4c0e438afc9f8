"""The ledger: a SQLite database under the outbox that remembers what was seen and when.

A file's received time, when no receipt names it, is its modification time at first sight,
kept by content (sha256) so that it never changes afterwards.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path
from types import TracebackType

FILE_NAME = "ledger.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS content (
    sha256 TEXT PRIMARY KEY,
    first_name TEXT NOT NULL,
    first_seen_at TEXT NOT NULL,
    first_mtime TEXT NOT NULL
);
"""


class LedgerError(Exception):
    """The ledger cannot be opened or written: the run cannot continue."""


class Ledger:
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, timeout=30, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise LedgerError(f"Không mở được sổ theo dõi {path}: {exc}") from exc

    def __enter__(self) -> Ledger:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    def first_mtime(self, sha256: str, name: str, mtime: datetime, seen_at: datetime) -> datetime:
        """The modification time recorded when this content was first seen (recorded now if new)."""
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(
                "INSERT OR IGNORE INTO content (sha256, first_name, first_seen_at, first_mtime)"
                " VALUES (?, ?, ?, ?)",
                (sha256, name, seen_at.isoformat(), mtime.isoformat()),
            )
            row = self._db.execute("SELECT first_mtime FROM content WHERE sha256 = ?", (sha256,)).fetchone()
        return datetime.fromisoformat(row[0])
