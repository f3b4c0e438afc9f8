"""Resubmissions kept by content in the ledger, version history, and period consistency."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl

from pipeline.core.deadlines import parse_period
from pipeline.core.model import RunResult
from pipeline.core.schema import Schema
from pipeline.ooxml.edit import CellValue, fill_workbook
from pipeline.run import consolidate
from pipeline.store.ledger import Ledger

TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def _write(template: Path, values: Mapping[str, CellValue], target: Path, received: datetime) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fill_workbook(template, values, target)
    os.utime(target, (received.timestamp(), received.timestamp()))


def _run(schema: Schema, period: str, inbox: Path, outbox: Path, as_of: datetime) -> RunResult:
    return consolidate(schema, parse_period(period, schema.calendar), inbox, outbox, as_of)


def test_versions_and_flow_decrease(
    schema: Schema, template_path: Path, sample_values: Mapping[str, CellValue], tmp_path: Path
) -> None:
    outbox = tmp_path / "outbox"
    q1 = dict(sample_values)
    # Q1: a first version with an error, then a correction (both kept in the ledger).
    q1_inbox = tmp_path / "q1"
    bad = dict(q1, t1_sessions="nhiều")
    _write(template_path, bad, q1_inbox / "SNV Quý I.xlsx", datetime(2023, 3, 10, 9, 0, tzinfo=TZ))
    _write(template_path, q1, q1_inbox / "SNV Quý I (bản sửa).xlsx", datetime(2023, 3, 22, 9, 0, tzinfo=TZ))
    # The same corrected content sent twice: one submission.
    shutil.copyfile(q1_inbox / "SNV Quý I (bản sửa).xlsx", q1_inbox / "SNV Quý I - gửi lại.xlsx")
    first = _run(schema, "2023-Q1", q1_inbox, outbox, datetime(2023, 4, 10, 9, 0, tzinfo=TZ))
    snv = next(u for u in first.units if u.unit.code == "SNV")
    assert [(v.label, v.status) for v in snv.history] == [("1/2", "rejected"), ("2/2", "accepted")]
    assert snv.submission is not None and snv.submission.file.name == "SNV Quý I (bản sửa).xlsx"
    dup = next(s for s in first.files if s.file.name == "SNV Quý I - gửi lại.xlsx")
    assert dup.status == "ignored" and dup.issues[0].code == "duplicate-file"

    report = json.loads((outbox / "2023-Q1" / "run.json").read_text(encoding="utf-8"))
    unit = next(u for u in report["units"] if u["code"] == "SNV")
    assert [(v["version"], v["file"], v["status"]) for v in unit["versions"]] == [
        ("1/2", "SNV Quý I.xlsx", "rejected"),
        ("2/2", "SNV Quý I (bản sửa).xlsx", "accepted"),
    ]
    assert unit["versions"][0]["received_at"] == "2023-03-10T09:00:00+07:00"
    wb = openpyxl.load_workbook(outbox / "2023-Q1" / "tong-hop-2023-Q1.xlsx", read_only=True)
    rows = [list(r) for r in wb["Nguồn"].iter_rows(values_only=True)]
    header = next(i for i, r in enumerate(rows) if r and r[0] == "Tệp")
    assert rows[header][-1] == "Phiên bản"
    shown = {r[0]: r[-1] for r in rows[header + 1 :] if r and r[0]}
    assert shown["SNV Quý I.xlsx"] == "1/2" and shown["SNV Quý I (bản sửa).xlsx"] == "2/2"

    # H1: one cumulative figure falls below Q1's (flagged), another rises (fine).
    h1 = dict(q1, period="H1", report_date=q1["report_date"])
    assert isinstance(q1["t1_sessions"], int) and isinstance(q1["t2_dossiers_received"], int)
    h1["t1_sessions"] = q1["t1_sessions"] - 1
    h1["t2_dossiers_received"] = q1["t2_dossiers_received"] + 50
    h1_inbox = tmp_path / "h1"
    _write(template_path, h1, h1_inbox / "SNV 6 tháng.xlsx", datetime(2023, 6, 15, 9, 0, tzinfo=TZ))
    second = _run(schema, "2023-H1", h1_inbox, outbox, datetime(2023, 7, 1, 9, 0, tzinfo=TZ))
    snv = next(u for u in second.units if u.unit.code == "SNV")
    assert snv.submission is not None and snv.status == "on_time"
    flagged = [i for i in snv.submission.issues if i.code == "flow-decreased"]
    field = schema.field_by_key["t1_sessions"]
    assert [(i.key, i.severity, i.sheet, i.cell) for i in flagged] == [
        ("t1_sessions", "warning", field.sheet, field.cell)
    ]
    assert str(q1["t1_sessions"]) in flagged[0].message.replace(".", "")
    assert str(h1["t1_sessions"]) in flagged[0].message.replace(".", "")
    report = json.loads((outbox / "2023-H1" / "run.json").read_text(encoding="utf-8"))
    issues = [i for f in report["files"] for i in f["issues"] if i["code"] == "flow-decreased"]
    assert [(i["severity"], i["sheet"], i["cell"]) for i in issues] == [("warning", field.sheet, field.cell)]
    assert [v["version"] for u in report["units"] if u["code"] == "SNV" for v in u["versions"]] == ["1/1"]


def test_history_survives_removal_from_inbox(
    schema: Schema, template_path: Path, sample_values: Mapping[str, CellValue], tmp_path: Path
) -> None:
    inbox, outbox = tmp_path / "inbox", tmp_path / "outbox"
    as_of = datetime(2023, 4, 10, 9, 0, tzinfo=TZ)
    _write(template_path, sample_values, inbox / "a.xlsx", datetime(2023, 3, 15, 9, 0, tzinfo=TZ))
    changed = dict(sample_values, t1_sessions=999)
    _write(template_path, changed, inbox / "b.xlsx", datetime(2023, 3, 16, 9, 0, tzinfo=TZ))
    _run(schema, "2023-Q1", inbox, outbox, as_of)
    (inbox / "a.xlsx").unlink()
    result = _run(schema, "2023-Q1", inbox, outbox, as_of)
    snv = next(u for u in result.units if u.unit.code == "SNV")
    assert [(v.label, v.file, v.in_inbox) for v in snv.history] == [
        ("1/2", "a.xlsx", False),
        ("2/2", "b.xlsx", True),
    ]
    assert snv.submission is not None and snv.submission.values["t1_sessions"] == 999


def test_unit_results_are_rewritten_only_where_they_changed(tmp_path: Path) -> None:
    """Ledger.replace_results writes changed rows (as_of is the run that last changed a row)
    and deletes the rows of units no longer given."""
    Row = tuple[str, int, int, str, str, float | None, str, int, int, str]

    def row(unit: str, status: str, as_of: str, period: str = "2023-Q1") -> Row:
        return (period, 2023, 1, unit, status, 80.0 if status == "on_time" else None, "Khá", 0, 0, as_of)

    def stored(ledger: Ledger, period: str = "2023-Q1") -> dict[str, tuple[object, ...]]:
        sql = "SELECT unit, status, as_of FROM period_scores WHERE period_id = ?"
        return {r[0]: tuple(r[1:]) for r in ledger._db.execute(sql, (period,)).fetchall()}

    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        first = [row("A", "on_time", "t1"), row("B", "missing", "t1"), row("C", "missing", "t1")]
        ledger.replace_results("2023-Q1", first)
        ledger.replace_results("2023-Q1", [row("A", "on_time", "t2"), row("B", "late", "t2")])
        assert stored(ledger) == {"A": ("on_time", "t1"), "B": ("late", "t2")}
        ledger.replace_results("2023-Q2", [row("A", "missing", "t3", "2023-Q2")])  # its own rows
        assert stored(ledger) == {"A": ("on_time", "t1"), "B": ("late", "t2")}
        assert stored(ledger, "2023-Q2") == {"A": ("missing", "t3")}
