"""The ledger: a SQLite database under the outbox that remembers what was seen and when.

A file's received time, when no receipt names it, is its modification time at first sight,
kept by content (sha256) so that it never changes afterwards.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from pipeline.piecewise_zip import Piece

FILE_NAME = "ledger.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS content (
    sha256 TEXT PRIMARY KEY,
    first_name TEXT NOT NULL,
    first_seen_at TEXT NOT NULL,
    first_mtime TEXT NOT NULL
);
-- Every version of every unit's report, per period: one row per content (issue 3).
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
-- Each run's unit results per period: change since the previous period, repeated lateness.
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
-- Each file's read-and-validate result by content (pipeline/parsecache.py, issue 5).
CREATE TABLE IF NOT EXISTS parsed (
    sha256 TEXT NOT NULL,
    file_name TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    period_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (sha256, file_name, fingerprint, period_id)
);
-- Deflated pieces of big output parts (pipeline/piecewise_zip.py): raw deflate ending
-- with a full flush, under a key built from the piece's inputs; CRC-32, length and length
-- operator of the XML it holds; the writer's note about it (meta: e.g. its row count).
CREATE TABLE IF NOT EXISTS pieces (
    part TEXT NOT NULL,
    key BLOB NOT NULL,
    data BLOB NOT NULL,
    crc INTEGER NOT NULL,
    size INTEGER NOT NULL,
    operator INTEGER NOT NULL,
    meta BLOB NOT NULL,
    PRIMARY KEY (part, key)
) WITHOUT ROWID;
"""

# A row of period_scores, in column order.
ScoreRow = tuple[str, int, int, str, str, float | None, str, int, int, str]


@dataclass(frozen=True)
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

    # --- versions (issue 3) -------------------------------------------------------------

    def record_versions(self, rows: list[VersionRow]) -> None:
        """Insert or update (status, validity, values) every given version, in one transaction.

        The first received time and name of a content are kept: the same bytes sent again do
        not make a new version.
        """
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(
                "INSERT INTO versions (sha256, period_id, unit, file_name, received_at, valid, status,"
                " values_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (sha256, period_id) DO UPDATE SET unit = excluded.unit,"
                " valid = excluded.valid, status = excluded.status, values_json = excluded.values_json",
                [
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
                ],
            )

    def versions(self, unit: str, period_ids: list[str]) -> list[VersionRow]:
        """Stored versions of `unit` for the given periods, oldest first."""
        if not period_ids:
            return []
        marks = ", ".join("?" for _ in period_ids)
        rows = self._db.execute(
            "SELECT sha256, period_id, unit, file_name, received_at, valid, status, values_json"
            f" FROM versions WHERE unit = ? AND period_id IN ({marks})"
            " ORDER BY received_at, file_name",
            (unit, *period_ids),
        ).fetchall()
        return [
            VersionRow(
                r[0], r[1], r[2], r[3], datetime.fromisoformat(r[4]), bool(r[5]), r[6], json.loads(r[7])
            )
            for r in rows
        ]

    # --- parse cache (issue 5) -----------------------------------------------------------

    def parsed(self, fingerprint: str, period_id: str) -> dict[tuple[str, str], tuple[str, str]]:
        """(sha256, file name) → (sniffed kind, stored read result), for this fingerprint and period."""
        rows = self._db.execute(
            "SELECT sha256, file_name, kind, data FROM parsed WHERE fingerprint = ? AND period_id = ?",
            (fingerprint, period_id),
        ).fetchall()
        return {(r[0], r[1]): (r[2], r[3]) for r in rows}

    def store_parsed(self, fingerprint: str, period_id: str, rows: list[tuple[str, str, str, str]]) -> None:
        """(sha256, file name, kind, data) rows, in one transaction; other fingerprints are dropped."""
        if not rows:
            return
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("DELETE FROM parsed WHERE fingerprint <> ?", (fingerprint,))
            self._db.executemany(
                "INSERT OR REPLACE INTO parsed (sha256, file_name, fingerprint, period_id, kind, data)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [(sha, name, fingerprint, period_id, kind, data) for sha, name, kind, data in rows],
            )

    # --- pieces of output parts (issue 5) ------------------------------------------------

    def load_pieces(self, part: str) -> dict[bytes, Piece]:
        """Every cached piece of one output part (e.g. a workbook's sheet), by key."""
        rows = self._db.execute(
            "SELECT key, data, crc, size, operator, meta FROM pieces WHERE part = ?", (part,)
        ).fetchall()
        return {r[0]: Piece(r[1], r[2], r[3], r[4], r[5]) for r in rows}

    def save_pieces(self, part: str, new: dict[bytes, Piece], unused: list[bytes]) -> None:
        """Store this run's new pieces of `part` and drop those it did not use, in one transaction."""
        if not new and not unused:
            return
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("DELETE FROM pieces WHERE part = ? AND key = ?", [(part, k) for k in unused])
            self._db.executemany(
                "INSERT OR REPLACE INTO pieces (part, key, data, crc, size, operator, meta)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(part, k, p.data, p.crc, p.size, p.operator, p.meta) for k, p in new.items()],
            )

    # --- unit results per period (issue 4) ----------------------------------------------

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
        """This period's unit results, replacing those of an earlier run, in one transaction."""
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("DELETE FROM period_scores WHERE period_id = ?", (period_id,))
            self._db.executemany("INSERT INTO period_scores VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
