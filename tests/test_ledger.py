"""The ledger keeps what must survive, under a schema version with real migrations: an outbox
written before the record and the caches were separated (commit 3be1dec, committed as a fixture)
opens after the change and keeps its history."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import datetime
from pathlib import Path

import pytest

from pipeline import config
from pipeline.authoring.sample import build_sample_inbox
from pipeline.core.deadlines import parse_period
from pipeline.run import consolidate
from pipeline.store import ledger as ledger_mod
from pipeline.store.ledger import Ledger, LedgerError

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "outbox-3be1dec"
RECORD = ("content", "versions", "period_scores")
OLD_CACHES = ("parse_cache", "parse_layouts", "pieces", "score_memo", "file_stats", "meta")


def _rows(path: Path, tables: tuple[str, ...] = RECORD) -> dict[str, list[tuple[object, ...]]]:
    db = sqlite3.connect(path)
    try:
        return {t: sorted(db.execute(f"SELECT * FROM {t}").fetchall()) for t in tables}
    finally:
        db.close()


def _tables(path: Path) -> set[str]:
    db = sqlite3.connect(path)
    try:
        return {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        db.close()


@pytest.fixture
def old_outbox(tmp_path: Path) -> Path:
    """A copy of the outbox written by commit 3be1dec (Q1 then H1 of the sample year)."""
    outbox = tmp_path / "outbox"
    outbox.mkdir()
    shutil.copy(FIXTURE / "ledger.sqlite", outbox / "ledger.sqlite")
    return outbox


def test_an_old_ledger_is_migrated_and_keeps_its_history(old_outbox: Path) -> None:
    path = old_outbox / "ledger.sqlite"
    assert set(OLD_CACHES) <= _tables(path)  # the caches lived in the ledger then
    before = _rows(path)
    assert len(before["versions"]) == 62 and len(before["period_scores"]) == 64
    with Ledger(path):
        pass
    assert _rows(path) == before  # the record, untouched
    assert not set(OLD_CACHES) & _tables(path)  # the caches gone (rebuilt in the cache store)
    db = sqlite3.connect(path)
    try:
        versions = db.execute("SELECT version FROM schema_version ORDER BY version").fetchall()
        assert versions == [(n,) for n in range(1, ledger_mod.VERSION + 1)]
    finally:
        db.close()
    applied = _rows(path, ("schema_version",))
    with Ledger(path):  # opening again applies nothing more
        pass
    assert _rows(path, ("schema_version",)) == applied


def test_a_run_on_an_old_outbox_uses_its_history(old_outbox: Path, tmp_path: Path) -> None:
    """9M after the fixture's Q1 and H1: the earlier periods' results and versions are there."""
    schema = config.load()
    template = next((Path(__file__).resolve().parents[1] / "templates" / "excel").glob("*.xlsx"))
    inbox = build_sample_inbox(schema, template, tmp_path / "inbox", year=2023, period="9M").out_dir
    period = parse_period("2023-9M", schema.calendar)
    before = _rows(old_outbox / "ledger.sqlite")
    result = consolidate(
        schema, period, inbox, old_outbox, datetime.fromisoformat("2023-10-10T09:00:00+07:00")
    )
    earlier = {(p.period_id, p.unit): (p.status, p.score, p.band) for p in result.past}
    recorded = {(r[0], r[3]): (r[4], r[5], r[6]) for r in before["period_scores"]}
    assert earlier == recorded  # every result of Q1 and H1, as 3be1dec recorded them
    after = _rows(old_outbox / "ledger.sqlite")
    assert set(before["versions"]) <= set(after["versions"])  # nothing of the history lost
    assert {r[1] for r in after["versions"]} == {"2023-Q1", "2023-H1", "2023-9M"}


def test_a_ledger_of_a_newer_program_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    with Ledger(path):
        pass
    db = sqlite3.connect(path)
    try:
        db.execute(
            "INSERT INTO schema_version VALUES (?, 'from the future', '2030-01-01')",
            (ledger_mod.VERSION + 1,),
        )
        db.commit()
    finally:
        db.close()
    with pytest.raises(LedgerError):
        Ledger(path)


def test_a_ledger_of_the_previous_version_gains_the_mail_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ledger written before `mail fetch`/`mail send` existed (version 1) gets their tables on
    first opening, its record untouched."""
    path = tmp_path / "ledger.sqlite"
    with monkeypatch.context() as m:
        m.setattr(ledger_mod, "VERSION", 1)
        with Ledger(path):
            pass
    assert "fetched_messages" not in _tables(path)
    with Ledger(path) as ledger:
        assert ledger.mail().fetched() == {} and ledger.mail().sent("2023-Q1") == {}
    assert {"fetched_messages", "sent_messages", "content", "versions"} <= _tables(path)
