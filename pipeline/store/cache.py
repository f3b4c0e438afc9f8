"""The cache store: everything a run derives and a later run may reuse, apart from the record.

One SQLite file under the outbox (outbox/.cache/cache.sqlite), safe to delete: deleting it
costs the next run time, never an output or a piece of history (that is the ledger's). Every
row in it was made under one fingerprint (pipeline.store.fingerprint: the schema files, the
program's code, the versions of the libraries that read and write files); opened under another
fingerprint, the store starts empty. What it holds:

- `file_stats`: each inbox file's size, times and inode with the sha256 of its bytes: a file
  whose four numbers are unchanged is not opened again to be hashed;
- `verdicts` (+ `layouts`): each file's verdict (what screening, reading, validation and the
  range and rule checks made of it), by content, name and period, packed by pipeline.reading;
- `scores`: each unit's score by everything it depends on (pipeline.core.score.score_key);
- `pieces`: deflated blocks of the big output parts (pipeline.ooxml.zipwriter);
- `syntheses`: the report's grouped narratives, by the digest of the texts they came from;
- `outputs`: for files written only when their inputs change (letters, feedback), the key of
  the inputs and the file's size, time and sha256 as written;
- `recorded`: the periods whose versions the ledger holds with figures read under this
  fingerprint (their unchanged versions need not be written again).
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from types import TracebackType

from pipeline.core.errors import FileError
from pipeline.ooxml.zipwriter import Piece

FOLDER = ".cache"
FILE_NAME = "cache.sqlite"
MMAP_BYTES = 1 << 30  # address space only: a rerun reads ~60 MB of verdicts, scores and pieces

_TABLES = """
CREATE TABLE IF NOT EXISTS about (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS file_stats (
    inbox TEXT NOT NULL, name TEXT NOT NULL,
    size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, ctime_ns INTEGER NOT NULL, inode INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    PRIMARY KEY (inbox, name)
);
CREATE TABLE IF NOT EXISTS layouts (id INTEGER PRIMARY KEY, data BLOB NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS verdicts (
    period_id TEXT NOT NULL, sha256 TEXT NOT NULL, name TEXT NOT NULL,
    layout INTEGER NOT NULL, data BLOB NOT NULL,
    PRIMARY KEY (period_id, sha256, name)
);
CREATE TABLE IF NOT EXISTS scores (
    period_id TEXT NOT NULL, key TEXT NOT NULL, head BLOB NOT NULL, criteria BLOB NOT NULL,
    PRIMARY KEY (period_id, key)
);
CREATE TABLE IF NOT EXISTS pieces (
    part TEXT NOT NULL, key BLOB NOT NULL, data BLOB NOT NULL,
    crc INTEGER NOT NULL, size INTEGER NOT NULL, operator INTEGER NOT NULL, meta BLOB NOT NULL,
    PRIMARY KEY (part, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS outputs (
    path TEXT PRIMARY KEY, key TEXT NOT NULL, sha256 TEXT NOT NULL,
    size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS recorded (period_id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS syntheses (name TEXT PRIMARY KEY, key BLOB NOT NULL, data BLOB NOT NULL);
"""

# A file's identity on disk (size, mtime_ns, ctime_ns, inode) and the sha256 of the bytes it was
# taken of. ctime changes with every write and cannot be set back by the tools that keep
# modification times (unzip, cp -p, rsync -t), so those copies are hashed again.
FileRecord = tuple[int, int, int, int, str]
# A stored verdict: (packed layout, packed data), see pipeline.reading.packing.
PackedVerdict = tuple[bytes, bytes]
# A written output as remembered: (key of its inputs, sha256, size, mtime_ns).
Written = tuple[str, str, int, int]


def _message(path: Path, exc: BaseException) -> str:
    return f'Không dùng được bộ nhớ đệm "{path}" ({exc}). Có thể xóa thư mục "{path.parent}" rồi chạy lại.'


class Cache:
    """The cache store of one outbox, under one fingerprint."""

    def __init__(self, path: Path, fingerprint: str) -> None:
        self.path = path
        self.fingerprint = fingerprint
        self.emptied = False  # True when this opening found another fingerprint (or none)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                self._db = self._connect()
            except sqlite3.DatabaseError:  # damaged: it is only a cache
                self._remove_files()
                self._db = self._connect()
        except (sqlite3.Error, OSError) as exc:
            raise FileError(_message(path, exc)) from exc

    @classmethod
    def of_outbox(cls, outbox: Path, fingerprint: str) -> Cache:
        return cls(outbox / FOLDER / FILE_NAME, fingerprint)

    def _connect(self) -> sqlite3.Connection:
        """The database, emptied first when it was made under another fingerprint."""
        db = self._configured()
        row = db.execute("SELECT value FROM about WHERE name = 'fingerprint'").fetchone()
        if row is not None and row[0] == self.fingerprint:
            return db
        db.close()
        self._remove_files()
        db = self._configured()
        db.execute("INSERT INTO about (name, value) VALUES ('fingerprint', ?)", (self.fingerprint,))
        self.emptied = True
        return db

    def _configured(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(f"PRAGMA mmap_size={MMAP_BYTES}")
            db.executescript(_TABLES)
        except BaseException:
            db.close()
            raise
        return db

    def _remove_files(self) -> None:
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                Path(f"{self.path}{suffix}").unlink()

    def __enter__(self) -> Cache:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    def _write(self, statements: list[tuple[str, list[tuple[object, ...]]]]) -> None:
        """Several statements, each over its rows, in one transaction."""
        if not any(rows for _sql, rows in statements):
            return
        try:
            with self._db:
                self._db.execute("BEGIN IMMEDIATE")
                for sql, rows in statements:
                    if rows:
                        self._db.executemany(sql, rows)
        except sqlite3.Error as exc:
            raise FileError(_message(self.path, exc)) from exc

    # --- file stats ------------------------------------------------------------------------------

    def file_stats(self, inbox: str) -> dict[str, FileRecord]:
        """name → (size, mtime_ns, ctime_ns, inode, sha256) of every file of `inbox` seen before."""
        rows = self._db.execute(
            "SELECT name, size, mtime_ns, ctime_ns, inode, sha256 FROM file_stats WHERE inbox = ?", (inbox,)
        ).fetchall()
        return {r[0]: r[1:] for r in rows}

    def record_file_stats(self, inbox: str, changed: dict[str, FileRecord], gone: list[str]) -> None:
        self._write(
            [
                ("DELETE FROM file_stats WHERE inbox = ? AND name = ?", [(inbox, n) for n in gone]),
                (
                    "INSERT OR REPLACE INTO file_stats VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [(inbox, name, *record) for name, record in changed.items()],
                ),
            ]
        )

    # --- verdicts --------------------------------------------------------------------------------

    def verdicts(self, period_id: str) -> dict[tuple[str, str], PackedVerdict]:
        """(sha256, file name) → packed verdict of every file judged for the period."""
        layouts = dict(self._db.execute("SELECT id, data FROM layouts").fetchall())
        rows = self._db.execute(
            "SELECT sha256, name, layout, data FROM verdicts WHERE period_id = ?", (period_id,)
        ).fetchall()
        return {(r[0], r[1]): (layouts[r[2]], r[3]) for r in rows}

    def store_verdicts(self, period_id: str, rows: list[tuple[str, str, bytes, bytes]]) -> None:
        """(sha256, name, packed layout, packed data) rows; a layout is stored once."""
        if not rows:
            return
        try:
            with self._db:
                self._db.execute("BEGIN IMMEDIATE")
                ids: dict[bytes, int] = {}
                for layout in {r[2] for r in rows}:
                    self._db.execute("INSERT OR IGNORE INTO layouts (data) VALUES (?)", (layout,))
                    found = self._db.execute("SELECT id FROM layouts WHERE data = ?", (layout,)).fetchone()
                    ids[layout] = found[0]
                self._db.executemany(
                    "INSERT OR REPLACE INTO verdicts (period_id, sha256, name, layout, data) VALUES (?, ?, ?, ?, ?)",
                    [(period_id, sha, name, ids[layout], data) for sha, name, layout, data in rows],
                )
        except sqlite3.Error as exc:
            raise FileError(_message(self.path, exc)) from exc

    # --- scores ----------------------------------------------------------------------------------

    def scores(self, period_id: str) -> dict[str, tuple[bytes, bytes]]:
        """score key → (packed head, packed criteria) of every score kept for the period."""
        rows = self._db.execute(
            "SELECT key, head, criteria FROM scores WHERE period_id = ?", (period_id,)
        ).fetchall()
        return {r[0]: (r[1], r[2]) for r in rows}

    def keep_scores(self, period_id: str, new: dict[str, tuple[bytes, bytes]], unused: list[str]) -> None:
        """Store the period's new scores and drop those this run did not use."""
        self._write(
            [
                ("DELETE FROM scores WHERE period_id = ? AND key = ?", [(period_id, k) for k in unused]),
                (
                    "INSERT OR REPLACE INTO scores VALUES (?, ?, ?, ?)",
                    [(period_id, k, *v) for k, v in new.items()],
                ),
            ]
        )

    # --- pieces of output parts (pipeline.ooxml.zipwriter.PieceStore) ----------------------------

    def load_pieces(self, part: str) -> dict[bytes, Piece]:
        rows = self._db.execute(
            "SELECT key, data, crc, size, operator, meta FROM pieces WHERE part = ?", (part,)
        ).fetchall()
        return {r[0]: Piece(r[1], r[2], r[3], r[4], r[5]) for r in rows}

    def save_pieces(self, part: str, new: dict[bytes, Piece], unused: list[bytes]) -> None:
        self._write(
            [
                ("DELETE FROM pieces WHERE part = ? AND key = ?", [(part, k) for k in unused]),
                (
                    "INSERT OR REPLACE INTO pieces (part, key, data, crc, size, operator, meta)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [(part, k, p.data, p.crc, p.size, p.operator, p.meta) for k, p in new.items()],
                ),
            ]
        )

    # --- the report's grouped narratives (pipeline.outputs.synthesis) ---------------------------

    def synthesis(self, name: str, key: bytes) -> bytes | None:
        """The grouped points kept under `name` when they were made from inputs digested as `key`."""
        row = self._db.execute(
            "SELECT data FROM syntheses WHERE name = ? AND key = ?", (name, key)
        ).fetchone()
        return None if row is None else bytes(row[0])

    def keep_synthesis(self, name: str, key: bytes, data: bytes) -> None:
        self._write(
            [("INSERT OR REPLACE INTO syntheses (name, key, data) VALUES (?, ?, ?)", [(name, key, data)])]
        )

    # --- outputs written only when their inputs change ------------------------------------------

    def written(self, prefix: str) -> dict[str, Written]:
        """Outputs under `prefix` (relative to the outbox) as last written: path → (key, sha256,
        size, mtime_ns)."""
        rows = self._db.execute(
            "SELECT path, key, sha256, size, mtime_ns FROM outputs WHERE path >= ? AND path < ?",
            (prefix, prefix + "\U0010ffff"),
        ).fetchall()
        return {r[0]: (r[1], r[2], r[3], r[4]) for r in rows}

    def record_written(self, entries: dict[str, Written], gone: list[str]) -> None:
        self._write(
            [
                ("DELETE FROM outputs WHERE path = ?", [(p,) for p in gone]),
                (
                    "INSERT OR REPLACE INTO outputs VALUES (?, ?, ?, ?, ?)",
                    [(p, *e) for p, e in entries.items()],
                ),
            ]
        )

    # --- versions recorded under this fingerprint -----------------------------------------------

    def recorded(self, period_id: str) -> bool:
        row = self._db.execute("SELECT 1 FROM recorded WHERE period_id = ?", (period_id,)).fetchone()
        return row is not None

    def mark_recorded(self, period_id: str) -> None:
        self._write([("INSERT OR IGNORE INTO recorded VALUES (?)", [(period_id,)])])
