"""The demo inbox: deterministic, the planned mix of states, values as recorded, rules hold."""

from __future__ import annotations

import csv
import hashlib
from datetime import date, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from pipeline import config
from pipeline.authoring import template
from pipeline.authoring.sample import SampleManifest, build_sample_inbox
from pipeline.core import expression
from pipeline.core.schema import Schema
from pipeline.ooxml.edit import destination


@pytest.fixture(scope="module")
def s() -> Schema:
    return config.load()


@pytest.fixture(scope="module")
def tpl(s: Schema, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return template.write_template(s, tmp_path_factory.mktemp("tpl"))


@pytest.fixture(scope="module")
def inbox(s: Schema, tpl: Path, tmp_path_factory: pytest.TempPathFactory) -> SampleManifest:
    return build_sample_inbox(s, tpl, tmp_path_factory.mktemp("inbox"))


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_build_is_deterministic(s: Schema, tpl: Path, inbox: SampleManifest, tmp_path: Path) -> None:
    (tmp_path / "stale.xlsx").write_bytes(b"old")
    again = build_sample_inbox(s, tpl, tmp_path)
    assert _digests(tmp_path) == _digests(inbox.out_dir)
    assert again.units.keys() == inbox.units.keys()


def test_states(s: Schema, inbox: SampleManifest) -> None:
    assert list(inbox.units) == [u.code for u in s.units]
    assert len(inbox.units) == 32
    assert inbox.count("missing") == 2
    # The resubmitter (sent on time, rejected, fixed a day late) counts as on time under the
    # fairness policy (schemas/calendar.toml resubmission_policy = "on_time").
    assert s.calendar.resubmission_policy == "on_time"
    assert inbox.count("late") == 3
    assert inbox.count("rejected") == 1
    assert inbox.count("on_time") == 32 - 6
    late = sorted(u.days_late for u in inbox.units.values() if u.state == "late")
    assert late == [2, 6, 15]
    deadline_end = inbox.period.deadline_end
    for u in inbox.units.values():
        if u.state == "missing":
            assert u.files == ()
        elif u.state == "on_time" and len(u.files) == 2:  # the resubmitter, checked below
            assert u.days_late == 0
        elif u.state == "on_time":
            assert len(u.files) == 1 and u.files[0].valid
            assert u.files[0].received_at <= deadline_end
        elif u.state == "rejected":
            assert len(u.files) == 1 and not u.files[0].valid
        else:
            assert u.files[-1].valid
            assert inbox.period.days_late(u.files[-1].received_at) == u.days_late
    resubmitted = [u for u in inbox.units.values() if len(u.files) == 2]
    assert len(resubmitted) == 1
    first, second = resubmitted[0].files
    assert not first.valid and first.received_at <= deadline_end
    assert second.valid and inbox.period.days_late(second.received_at) == 1
    assert "(bản sửa)" in second.name


def test_receipts_and_mtimes(inbox: SampleManifest) -> None:
    with (inbox.out_dir / "receipts.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    recorded = {f.name: f.received_at for f in inbox.files}
    assert {r["file"]: datetime.fromisoformat(r["received_at"]) for r in rows} == recorded
    assert all(r["received_at"].endswith("+07:00") for r in rows)
    assert sorted(p.name for p in inbox.out_dir.glob("*.xlsx")) == sorted(recorded)
    for name, at in recorded.items():
        assert (inbox.out_dir / name).stat().st_mtime == at.timestamp()


def _read_back(path: Path, keys: list[str]) -> dict[str, Any]:
    wb = openpyxl.load_workbook(path, data_only=True)
    out: dict[str, Any] = {}
    for key in keys:
        sheet, cell = destination(wb, key)
        value = wb[sheet][cell].value
        out[key] = value.date() if isinstance(value, datetime) else value
    return out


def test_named_cells_equal_manifest(s: Schema, inbox: SampleManifest) -> None:
    keys = [f.key for f in s.fields]
    for f in inbox.files:
        assert set(f.values) == set(keys)
        assert _read_back(inbox.out_dir / f.name, keys) == dict(f.values), f.name


def test_valid_files_satisfy_every_rule(s: Schema, inbox: SampleManifest) -> None:
    checked = 0
    for code, u in inbox.units.items():
        unit = s.unit_by_code[code]
        for f in u.files:
            if not f.valid:
                continue
            values: dict[str, Any] = {k: v for k, v in f.values.items() if isinstance(v, (int, float))}
            values["communes"] = unit.communes
            for field in s.rules:
                assert expression.evaluate(field.rule, values) in (True, None), (code, field.rule)
            for field in s.fields:
                v = f.values[field.key]
                if field.numeric and v is not None:
                    assert isinstance(v, (int, float)) and not isinstance(v, bool)
                    assert field.min is None or v >= field.min, (code, field.key)
                    assert field.max is None or v <= field.max, (code, field.key)
                if not field.applies(unit, inbox.period.period.code):
                    assert v is None, (code, field.key)
                elif field.requirement in ("required", "expected"):
                    assert v is not None and v != "", (code, field.key)
            report_date = f.values["report_date"]
            assert isinstance(report_date, date) and report_date <= f.received_at.date()
            checked += 1
    assert checked == 32 - 2 - 1


def test_invalid_files_carry_planted_errors(s: Schema, inbox: SampleManifest) -> None:
    rejected = next(u for u in inbox.units.values() if u.state == "rejected")
    bad = rejected.files[0].values
    assert any(isinstance(bad[f.key], str) for f in s.fields if f.numeric)
    parts = expression.evaluate(
        "t2_dossiers_on_time + t2_dossiers_late + t2_dossiers_pending <= t2_dossiers_received",
        {k: v for k, v in bad.items() if isinstance(v, int)},
    )
    assert parts is False
    resubmitted = next(u for u in inbox.units.values() if len(u.files) == 2)
    first = resubmitted.files[0].values
    numbers = {k: v for k, v in first.items() if isinstance(v, (int, float))}
    assert any(expression.evaluate(f.rule, numbers) is False for f in s.rules)


def test_figures_vary(s: Schema, inbox: SampleManifest) -> None:
    accepted = {c: u.values for c, u in inbox.units.items() if u.values is not None}
    late_units = [c for c, v in accepted.items() if v["t2_dossiers_late"]]
    unresolved = [
        c for c, v in accepted.items() if v["t4_petitions_resolved"] != v["t4_petitions_in_competence"]
    ]
    assert len(late_units) >= 3 and len(unresolved) >= 3
    received = {c: v["t2_dossiers_received"] for c, v in accepted.items()}
    dept = [n for c, n in received.items() if isinstance(n, int) and s.unit_by_code[c].kind == "department"]
    dist = [n for c, n in received.items() if isinstance(n, int) and s.unit_by_code[c].kind == "district"]
    assert sum(dept) / len(dept) < sum(dist) / len(dist)
    periods = {v["period"] for v in accepted.values()}
    assert periods == {"Quý I", "Q1"}
    assert len({v["n1_results"] for v in accepted.values()}) == len(accepted)
