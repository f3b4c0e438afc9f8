"""Each run's unit results per period, kept in the ledger database (table `period_scores`).

Written at the end of a consolidate run; read before the outputs are written so that the
ranking shows the change since the previous period of the same year and the inspection list
sees repeated lateness and repeated errors in earlier periods.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from pipeline.deadlines import ReportingPeriod
from pipeline.ledger import FILE_NAME, LedgerError
from pipeline.model import PastResult, RunResult
from pipeline.outputs import vocabulary as vi
from pipeline.schema import Schema

_SCHEMA = """
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


def _connect(outbox: Path) -> sqlite3.Connection:
    path = Path(outbox) / FILE_NAME
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, timeout=30, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript(_SCHEMA)
    except sqlite3.Error as exc:
        raise LedgerError(f"Không mở được sổ theo dõi {path}: {exc}") from exc
    return db


def earlier(outbox: Path, period: ReportingPeriod) -> list[PastResult]:
    """Every recorded unit result of periods before `period` (earlier years included)."""
    db = _connect(outbox)
    try:
        rows = db.execute(
            "SELECT period_id, year, period_order, unit, status, score, band, days_late, errors"
            " FROM period_scores WHERE year < ? OR (year = ? AND period_order < ?)"
            " ORDER BY year, period_order, unit",
            (period.year, period.year, period.period.order),
        ).fetchall()
    except sqlite3.Error as exc:
        raise LedgerError(f"Không đọc được sổ theo dõi: {exc}") from exc
    finally:
        db.close()
    return [
        PastResult(
            period_id=str(r[0]),
            year=int(r[1]),
            order=int(r[2]),
            unit=str(r[3]),
            status=str(r[4]),
            score=None if r[5] is None else float(r[5]),
            band=str(r[6]),
            days_late=int(r[7]),
            errors=int(r[8]),
        )
        for r in rows
    ]


def record(outbox: Path, result: RunResult, schema: Schema) -> None:
    """Replace this period's rows with this run's unit results."""
    rows = []
    for u in result.units:
        errors = sum(1 for s in u.versions for i in s.issues if i.severity == "error")
        rows.append(
            (
                result.period.id,
                result.period.year,
                result.period.period.order,
                u.unit.code,
                u.status,
                None if u.score is None else round(u.score.total, 2),
                vi.band_of(u, schema.rubric),
                u.days_late,
                errors,
                result.as_of.isoformat(),
            )
        )
    db = _connect(outbox)
    try:
        with db:
            db.execute("BEGIN IMMEDIATE")
            db.execute("DELETE FROM period_scores WHERE period_id = ?", (result.period.id,))
            db.executemany("INSERT INTO period_scores VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    except sqlite3.Error as exc:
        raise LedgerError(f"Không ghi được sổ theo dõi: {exc}") from exc
    finally:
        db.close()
