"""The main job end to end: a folder of unit reports → workbook, late list, run.json."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import date, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from pipeline.authoring.sample import SampleManifest
from pipeline.core.schema import Schema
from pipeline.ooxml.edit import fill_workbook
from tests.conftest import AS_OF, run_cli, soffice


def _consolidate(inbox: Path, outbox: Path, as_of: str = AS_OF, period: str = "2023-Q1") -> dict[str, Any]:
    proc = run_cli(
        "consolidate", "--period", period, "--inbox", str(inbox), "--outbox", str(outbox), "--as-of", as_of
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    report: dict[str, Any] = json.loads((outbox / period / "run.json").read_text(encoding="utf-8"))
    return report


@pytest.fixture(scope="module")
def demo(sample: SampleManifest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    outbox = tmp_path_factory.mktemp("outbox")
    return outbox, _consolidate(sample.out_dir, outbox)


def _expected_totals(schema: Schema, sample: SampleManifest) -> dict[str, int]:
    totals = dict.fromkeys((f.key for f in schema.indicators), 0)
    for unit in sample.units.values():
        if unit.state in ("on_time", "late") and unit.values is not None:
            for key in totals:
                v = unit.values.get(key)
                if isinstance(v, int):
                    totals[key] += v
    return totals


def test_outputs_are_written_and_listed(demo: tuple[Path, dict[str, Any]]) -> None:
    outbox, report = demo
    assert report["period"] == "2023-Q1"
    assert report["deadline"] == "2023-03-20"
    assert len(report["outputs"]) >= 3
    for rel in report["outputs"]:
        assert (outbox / rel).is_file(), rel
    assert "2023-Q1/run.json" in report["outputs"]


def test_unit_statuses_follow_the_deadline(demo: tuple[Path, dict[str, Any]], sample: SampleManifest) -> None:
    _, report = demo
    units = {u["code"]: u for u in report["units"]}
    assert len(units) == 32
    for code, planned in sample.units.items():
        assert units[code]["status"] == planned.state, code
        if planned.state == "late":
            assert units[code]["days_late"] == planned.days_late, code
    # Days late recomputed from the receipts, independently of the pipeline; a unit whose
    # on-time report was rejected and fixed within the grace period counts as on time
    # (schemas/calendar.toml resubmission_policy "on_time").
    for code, planned in sample.units.items():
        valid = [f for f in planned.files if f.valid]
        if valid:
            first_day = valid[0].received_at.date()
            resent = not planned.files[0].valid and planned.files[0].received_at.date() <= date(2023, 3, 20)
            expected = 0 if resent else max(0, (first_day - date(2023, 3, 20)).days)
            assert units[code]["days_late"] == expected, code


def test_totals_equal_the_sums_of_accepted_submissions(
    demo: tuple[Path, dict[str, Any]], sample: SampleManifest, schema: Schema
) -> None:
    _, report = demo
    assert report["totals"] == _expected_totals(schema, sample)


def test_every_inbox_file_is_accounted_for(demo: tuple[Path, dict[str, Any]], sample: SampleManifest) -> None:
    _, report = demo
    on_disk = sorted(
        p.relative_to(sample.out_dir).as_posix() for p in sample.out_dir.rglob("*") if p.is_file()
    )
    listed = sorted(f["path"] for f in report["files"])
    assert listed == on_disk
    by_path = {f["path"]: f for f in report["files"]}
    for f in report["files"]:
        assert f["status"] in ("accepted", "superseded", "rejected", "ignored")
        if f["status"] in ("rejected", "ignored"):
            assert f["issues"], f["path"]
    # the rejected unit's file carries the planted errors with their cells
    rejected = next(u for u in sample.units.values() if u.state == "rejected")
    codes = {(i["code"], i["severity"]) for i in by_path[rejected.files[-1].name]["issues"]}
    assert ("value-not-number", "error") in codes
    assert ("rule-violated", "error") in codes
    for issue in by_path[rejected.files[-1].name]["issues"]:
        if issue["code"] in ("value-not-number", "rule-violated"):
            assert issue["sheet"] == "Số liệu" and issue["cell"].startswith("D")


def test_resubmission_keeps_the_latest_valid_version(
    demo: tuple[Path, dict[str, Any]], sample: SampleManifest
) -> None:
    _, report = demo
    resubmitter = next(u for u in sample.units.values() if len(u.files) > 1)
    statuses = {f["path"]: f["status"] for f in report["files"]}
    assert statuses[resubmitter.files[-1].name] == "accepted"
    assert statuses[resubmitter.files[0].name] == "rejected"
    unit = next(u for u in report["units"] if u["code"] == resubmitter.code)
    assert unit["file"] == resubmitter.files[-1].name


def test_workbook_totals_and_late_list(
    demo: tuple[Path, dict[str, Any]], sample: SampleManifest, schema: Schema
) -> None:
    outbox, report = demo
    book = next(rel for rel in report["outputs"] if Path(rel).name.startswith("tong-hop"))
    wb = openpyxl.load_workbook(outbox / book)  # cached values of the SUM formulas are read below
    data = wb["Số liệu"]
    # Only the indicators that apply to the period have a column (the commune bands: the year's).
    keys = [f.key for f in schema.indicators if "all" in f.periods or "Q1" in f.periods]
    labels = [f.label for f in schema.indicators if f.key in keys]
    # The header row that names each column by the schema's label locates the columns.
    key_row, key_col = next(
        (c.row, c.column) for row in data.iter_rows() for c in row if c.value == labels[0]
    )
    grand = data.max_row
    wb_values = openpyxl.load_workbook(outbox / book, data_only=True)["Số liệu"]
    expected = _expected_totals(schema, sample)
    for i, key in enumerate(keys):
        assert data.cell(key_row, key_col + i).value == labels[i]
        assert str(data.cell(grand, key_col + i).value).startswith("=SUM")
        assert wb_values.cell(grand, key_col + i).value == expected[key], key

    late = next(rel for rel in report["outputs"] if Path(rel).name.startswith("danh-sach-nop-muon"))
    ws = openpyxl.load_workbook(outbox / late).active
    assert ws is not None
    cells = [[c.value for c in row] for row in ws.iter_rows()]
    flat = {str(v) for row in cells for v in row if v is not None}
    for code, planned in sample.units.items():
        listed = code in flat
        assert listed == (planned.state in ("late", "missing", "rejected")), code
    assert "20/03/2023" in flat or any(
        isinstance(v, datetime) and v.date() == date(2023, 3, 20) for row in cells for v in row
    )


def test_same_inbox_gives_byte_identical_outputs(
    demo: tuple[Path, dict[str, Any]], sample: SampleManifest, tmp_path: Path
) -> None:
    outbox, report = demo
    again = _consolidate(sample.out_dir, tmp_path)
    assert again["outputs"] == report["outputs"]
    for rel in report["outputs"]:
        assert (tmp_path / rel).read_bytes() == (outbox / rel).read_bytes(), rel


def test_before_the_deadline_missing_units_are_not_due(sample: SampleManifest, tmp_path: Path) -> None:
    report = _consolidate(sample.out_dir, tmp_path, as_of="2023-03-20T23:00:00+07:00")
    statuses = {u["code"]: u["status"] for u in report["units"]}
    for code, planned in sample.units.items():
        if planned.state == "missing":
            assert statuses[code] == "not_due"


def test_outputs_open_in_libreoffice(demo: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    exe = soffice()
    outbox, report = demo
    for rel in report["outputs"]:
        if not rel.endswith(".xlsx"):
            continue
        proc = subprocess.run(
            [exe, f"-env:UserInstallation=file://{tmp_path}/lo", "--headless", "--convert-to", "ods",
             "--outdir", str(tmp_path), str(outbox / rel)],
            capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        converted = tmp_path / (Path(rel).stem + ".ods")
        assert proc.returncode == 0 and converted.is_file() and converted.stat().st_size > 0, proc.stderr


# --- identification problems -----------------------------------------------------------


def _one_file_run(tmp_path: Path, template: Path, name: str, values: dict[str, object]) -> dict[str, Any]:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    base: dict[str, object] = {"unit_code": "SYT", "period": "Quý I", "year": 2023}
    fill_workbook(template, {**base, **values}, inbox / name)
    report = _consolidate(inbox, tmp_path / "outbox")
    assert len(report["files"]) == 1
    return report


def _codes(report: dict[str, Any]) -> set[str]:
    return {i["code"] for i in report["files"][0]["issues"]}


def test_unknown_unit_is_an_error(tmp_path: Path, template: Path) -> None:
    report = _one_file_run(tmp_path, template, "bao-cao.xlsx", {"unit_code": "XYZ"})
    assert "unit-unknown" in _codes(report)
    assert report["files"][0]["status"] == "rejected"
    issue = next(i for i in report["files"][0]["issues"] if i["code"] == "unit-unknown")
    assert (issue["sheet"], issue["cell"]) == ("Thông tin chung", "C5")


def test_other_period_is_flagged_and_not_counted(tmp_path: Path, template: Path) -> None:
    report = _one_file_run(tmp_path, template, "bao-cao.xlsx", {"period": "6 tháng"})
    assert "period-other" in _codes(report)
    assert report["files"][0]["status"] == "ignored"
    assert next(u for u in report["units"] if u["code"] == "SYT")["status"] == "missing"


def test_file_name_naming_another_unit_is_a_conflict(tmp_path: Path, template: Path) -> None:
    report = _one_file_run(tmp_path, template, "Báo cáo Sở Tư pháp.xlsx", {})
    assert "unit-conflict" in _codes(report)


def test_outdated_template_is_named(tmp_path: Path, template: Path) -> None:
    report = _one_file_run(tmp_path, template, "bao-cao.xlsx", {"template_version": "2022.3"})
    assert _codes(report) == {"template-outdated"}


def test_foreign_workbook_is_not_our_template(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    wb = openpyxl.Workbook()
    wb.active["A1"] = "Báo cáo khác"  # type: ignore[index]
    wb.save(inbox / "khac.xlsx")
    (inbox / "ghi chú.txt").write_text("không phải bảng tính", encoding="utf-8")
    report = _consolidate(inbox, tmp_path / "outbox")
    by_path = {f["path"]: f for f in report["files"]}
    assert by_path["khac.xlsx"]["status"] == "rejected"
    assert {i["code"] for i in by_path["khac.xlsx"]["issues"]} == {"template-unknown"}
    assert by_path["ghi chú.txt"]["status"] == "ignored"


def test_received_time_without_receipt_is_kept_from_first_sight(
    tmp_path: Path, template: Path, sample: SampleManifest
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    target = inbox / "bao-cao.xlsx"
    shutil.copy(sample.out_dir / sample.files[0].name, target)
    first = datetime(2023, 3, 18, 10, 0).timestamp()
    os.utime(target, (first, first))
    r1 = _consolidate(inbox, tmp_path / "outbox")
    later = datetime(2023, 3, 30, 10, 0).timestamp()
    os.utime(target, (later, later))  # touched again: the ledger keeps the first sight
    r2 = _consolidate(inbox, tmp_path / "outbox")
    assert r1["files"][0]["received_at"] == r2["files"][0]["received_at"]
    assert r1["files"][0]["received_at"].startswith("2023-03-18")


# --- the command line ----------------------------------------------------------------


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    proc = run_cli("consolidate", "--period", "2023-Q7", "--inbox", str(tmp_path))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr


def test_missing_inbox_exits_1_with_a_message(tmp_path: Path) -> None:
    proc = run_cli(
        "consolidate",
        "--period",
        "2023-Q1",
        "--inbox",
        str(tmp_path / "khong-co"),
        "--outbox",
        str(tmp_path / "o"),
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert str(tmp_path / "khong-co") in proc.stderr


def test_numbers_typed_as_text_follow_the_vietnamese_rule(tmp_path: Path, template: Path) -> None:
    """ "1.234" is one thousand two hundred thirty-four; "1,234" is ambiguous and never guessed."""
    report = _one_file_run(
        tmp_path,
        template,
        "bao-cao.xlsx",
        {
            "t2_dossiers_received": "1.234",
            "t2_dossiers_on_time": "\u00a01.000\u00a0",
            "t1_participants": "1,234",
        },
    )
    issues = report["files"][0]["issues"]
    ambiguous = [i for i in issues if i["code"] == "value-ambiguous"]
    assert [(i["sheet"], i["cell"], i["severity"]) for i in ambiguous] == [("Số liệu", "D9", "error")]
    assert "1,234" in ambiguous[0]["message"]
    assert not any(i["cell"] in ("D13", "D15") for i in issues if i["severity"] == "error")
    # the rejected file is not consolidated; its parsed figures are checked through `check`
    proc = run_cli("check", "--period", "2023-Q1", str(tmp_path / "inbox" / "bao-cao.xlsx"))
    assert proc.returncode == 1
    assert "D9" in proc.stdout


def test_text_numbers_are_consolidated_as_numbers(
    tmp_path: Path, template: Path, sample: SampleManifest
) -> None:
    values = dict(sample.units["SNV"].values or {})
    original = values["t2_dossiers_received"]
    assert isinstance(original, int)
    received = original + 1000  # a larger whole keeps every parts-of-a-whole rule true
    text = f"{received:,}".replace(",", ".")  # 1234 → "1.234", the vi-VN way
    assert "." in text
    report = _one_file_run(tmp_path, template, "bao-cao.xlsx", {**values, "t2_dossiers_received": text})
    assert report["files"][0]["status"] == "accepted"
    assert report["totals"]["t2_dossiers_received"] == received
