"""The ledger: a SQLite database under the outbox that remembers what was seen and when.

A file's received time, when no receipt names it, is its modification time at first sight,
kept by content (sha256) so that it never changes afterwards.
"""

from __future__ import annotations

import contextlib
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
-- Each run's unit results per period: change since the previous period, repeated lateness;
-- as_of: the run that last changed the row.
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
-- Each unit's score by everything it depends on (pipeline.score.score_key), per schema: its
-- head and its criteria apart (pipeline.score.Packed). (The first memo, "scores", is dropped.)
DROP TABLE IF EXISTS scores;
CREATE TABLE IF NOT EXISTS score_memo (
    fingerprint TEXT NOT NULL,
    period_id TEXT NOT NULL,
    key TEXT NOT NULL,
    head BLOB NOT NULL,
    criteria BLOB NOT NULL,
    PRIMARY KEY (fingerprint, period_id, key)
);
-- Small named values: e.g. the schema fingerprint under which a period's versions were stored.
CREATE TABLE IF NOT EXISTS meta (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
-- Each file's read-and-validate result by content (pipeline/parsecache.py, issue 5): packed
-- with marshal; where the inputs were found (the same for every file of one template) is kept
-- once in parse_layouts. (The first parse cache, JSON in a table "parsed", is dropped.)
DROP TABLE IF EXISTS parsed;
CREATE TABLE IF NOT EXISTS parse_cache (
    sha256 TEXT NOT NULL,
    file_name TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    period_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    layout INTEGER NOT NULL,
    data BLOB NOT NULL,
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
CREATE TABLE IF NOT EXISTS parse_layouts (
    id INTEGER PRIMARY KEY,
    data BLOB NOT NULL UNIQUE
);
-- What each inbox file was when last hashed: an unchanged file is not even opened (issue 5).
CREATE TABLE IF NOT EXISTS file_stats (
    inbox TEXT NOT NULL,
    name TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    ctime_ns INTEGER NOT NULL,
    inode INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    PRIMARY KEY (inbox, name)
);
"""

# A file's identity on disk (size, mtime_ns, ctime_ns, inode): the same four numbers are taken
# to mean the same bytes. ctime changes with every write and cannot be set back by the tools
# that keep modification times (unzip, cp -p, rsync -t), so those copies are hashed again.
FileStat = tuple[int, int, int, int]
FileRecord = tuple[int, int, int, int, str]  # a FileStat and the sha256 of the bytes it was taken of
MMAP_BYTES = 1 << 30  # address space only: pages are read as they are touched
_CHUNK = 500  # values per IN (...) list: far below SQLite's limit on bound parameters

# A row of period_scores, in column order.
ScoreRow = tuple[str, int, int, str, str, float | None, str, int, int, str]


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
            # Read through a memory map: a rerun reads ~60 MB of parse cache, scores and pieces
            # at 10,000 units, a third faster than through read() calls.
            self._db.execute(f"PRAGMA mmap_size={MMAP_BYTES}")
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

    def first_sights(self) -> FirstSights:
        """first_mtime for many files: looked up in bulk, new contents recorded by `flush()`."""
        return FirstSights(self._db)

    # --- file stats (issue 5) ------------------------------------------------------------

    def file_stats(self, inbox: str) -> dict[str, FileRecord]:
        """name → (size, mtime_ns, ctime_ns, inode, sha256) of every file of `inbox` recorded by
        an earlier run."""
        rows = self._db.execute(
            "SELECT name, size, mtime_ns, ctime_ns, inode, sha256 FROM file_stats WHERE inbox = ?", (inbox,)
        ).fetchall()
        return {r[0]: r[1:] for r in rows}

    def record_file_stats(self, inbox: str, changed: dict[str, FileRecord], gone: list[str]) -> None:
        """Insert or replace the `changed` rows and drop the `gone` names, in one transaction."""
        if not changed and not gone:
            return
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(
                "DELETE FROM file_stats WHERE inbox = ? AND name = ?", [(inbox, n) for n in gone]
            )
            self._db.executemany(
                "INSERT OR REPLACE INTO file_stats VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(inbox, name, *record) for name, record in changed.items()],
            )

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

    def meta(self, name: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, name: str, value: str) -> None:
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", (name, value))

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

    # --- parse cache (issue 5) -----------------------------------------------------------

    def parse_cache(
        self, fingerprint: str, period_id: str
    ) -> tuple[dict[tuple[str, str], tuple[str, int, bytes]], dict[int, bytes]]:
        """(sha256, file name) → (sniffed kind, layout id, packed result) for this fingerprint and
        period, and the layouts they use (id → packed layout)."""
        rows = self._db.execute(
            "SELECT sha256, file_name, kind, layout, data FROM parse_cache"
            " WHERE fingerprint = ? AND period_id = ?",
            (fingerprint, period_id),
        ).fetchall()
        layouts = dict(self._db.execute("SELECT id, data FROM parse_layouts").fetchall())
        return {(r[0], r[1]): (r[2], r[3], r[4]) for r in rows}, layouts

    def parsed_count(self, fingerprint: str, period_id: str) -> int:
        """How many read results are kept for this fingerprint and period (no data loaded)."""
        row = self._db.execute(
            "SELECT COUNT(*) FROM parse_cache WHERE fingerprint = ? AND period_id = ?",
            (fingerprint, period_id),
        ).fetchone()
        return int(row[0])

    def store_parse_cache(
        self, fingerprint: str, period_id: str, rows: list[tuple[str, str, str, bytes, bytes]]
    ) -> None:
        """(sha256, file name, kind, packed layout, packed result) rows, in one transaction;
        rows of other fingerprints, and layouts no row uses any more, are dropped."""
        if not rows:
            return
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("DELETE FROM parse_cache WHERE fingerprint <> ?", (fingerprint,))
            ids: dict[bytes, int] = {}
            for layout in {r[3] for r in rows}:
                self._db.execute("INSERT OR IGNORE INTO parse_layouts (data) VALUES (?)", (layout,))
                found = self._db.execute("SELECT id FROM parse_layouts WHERE data = ?", (layout,)).fetchone()
                ids[layout] = found[0]
            self._db.executemany(
                "INSERT OR REPLACE INTO parse_cache (sha256, file_name, fingerprint, period_id, kind, layout,"
                " data) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (sha, name, fingerprint, period_id, kind, ids[layout], data)
                    for sha, name, kind, layout, data in rows
                ],
            )
            self._db.execute(
                "DELETE FROM parse_layouts WHERE id NOT IN (SELECT DISTINCT layout FROM parse_cache)"
            )

    # --- score memo (issue 5) -------------------------------------------------------------

    def scores(self, fingerprint: str, period_id: str) -> dict[str, bytes]:
        """score key → packed head of every remembered score (their criteria: score_criteria)."""
        rows = self._db.execute(
            "SELECT key, head FROM score_memo WHERE fingerprint = ? AND period_id = ?",
            (fingerprint, period_id),
        ).fetchall()
        return dict(rows)

    def score_criteria(self, fingerprint: str, period_id: str, key: str) -> bytes:
        """The packed criteria of a remembered score. Asked while outputs are written, or later
        for a result kept after the run: then from a read-only connection of its own."""
        sql = "SELECT criteria FROM score_memo WHERE fingerprint = ? AND period_id = ? AND key = ?"
        try:
            row = self._db.execute(sql, (fingerprint, period_id, key)).fetchone()
        except sqlite3.ProgrammingError:  # closed
            with contextlib.closing(
                sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True)
            ) as db:
                row = db.execute(sql, (fingerprint, period_id, key)).fetchone()
        if row is None:
            raise LedgerError(f"Sổ theo dõi {self.path} không còn tiêu chí của điểm {key}.")
        return bytes(row[0])

    def keep_scores(
        self, fingerprint: str, period_id: str, before: set[str], now: dict[str, tuple[bytes, bytes] | None]
    ) -> None:
        """Store the scores `now` packs and `before` had not; drop those `now` no longer uses
        (and every other fingerprint's)."""
        new = [(fingerprint, period_id, k, *v) for k, v in now.items() if v is not None and k not in before]
        gone = [(fingerprint, period_id, k) for k in before if k not in now]
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("DELETE FROM score_memo WHERE fingerprint <> ?", (fingerprint,))
            self._db.executemany(
                "DELETE FROM score_memo WHERE fingerprint = ? AND period_id = ? AND key = ?", gone
            )
            self._db.executemany("INSERT OR REPLACE INTO score_memo VALUES (?, ?, ?, ?, ?)", new)

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
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("DELETE FROM period_scores WHERE period_id = ? AND unit = ?", gone)
            self._db.executemany(
                "INSERT OR REPLACE INTO period_scores VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", changed
            )


class FirstSights:
    """Ledger.first_mtime for a whole inbox: the same answers, in a few statements.

    Answers are given in call order, exactly as one first_mtime call each would give them (a
    content seen twice in one run keeps the first call's time); the new contents are written
    by flush() in one transaction.
    """

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._known: dict[str, datetime] = {}
        self._new: dict[str, tuple[str, str, str]] = {}  # sha256 → (name, seen_at, mtime), ISO

    def prefetch(self, shas: list[str]) -> None:
        """Look up the recorded times of these contents at once (a few queries)."""
        wanted = sorted({s for s in shas if s not in self._known})
        for i in range(0, len(wanted), _CHUNK):
            chunk = wanted[i : i + _CHUNK]
            marks = ", ".join("?" for _ in chunk)
            for sha, at in self._db.execute(
                f"SELECT sha256, first_mtime FROM content WHERE sha256 IN ({marks})", chunk
            ):
                self._known[sha] = datetime.fromisoformat(at)

    def recorded(self, sha256: str) -> datetime | None:
        """The time recorded for a content prefetched or answered before, else None."""
        return self._known.get(sha256)

    def first_mtime(self, sha256: str, name: str, mtime: datetime, seen_at: datetime) -> datetime:
        if sha256 not in self._known:
            self.prefetch([sha256])
        if sha256 not in self._known:
            self._known[sha256] = datetime.fromisoformat(mtime.isoformat())
            self._new[sha256] = (name, seen_at.isoformat(), mtime.isoformat())
        return self._known[sha256]

    def flush(self) -> None:
        if not self._new:
            return
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(
                "INSERT OR IGNORE INTO content (sha256, first_name, first_seen_at, first_mtime)"
                " VALUES (?, ?, ?, ?)",
                [(sha, name, seen, mtime) for sha, (name, seen, mtime) in self._new.items()],
            )
        self._new.clear()
