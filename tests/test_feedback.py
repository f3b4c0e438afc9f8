"""Feedback to units: annotated workbooks, e-mail texts and the `check` command, on real files."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from pipeline import run
from pipeline.authoring.sample import SampleManifest
from pipeline.check import check_file
from pipeline.core.deadlines import parse_period
from pipeline.core.schema import Schema
from pipeline.ooxml.edit import HIGHLIGHT, fill_workbook
from pipeline.outputs.feedback import COMMENT_AUTHOR, EMAIL_DIR, FEEDBACK_DIR, FEEDBACK_SHEET, feedback_name
from tests.conftest import AS_OF, run_cli, soffice
from tests.test_annotate import package_problems

PERIOD = "2023-Q1"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _valid_values(sample: SampleManifest, kind: str = "") -> dict[str, Any]:
    """The values of one valid sample file (a real filled template), to build variants from;
    with `kind`, of a unit of that kind ("district" | "department")."""
    from pipeline import config

    units = config.load().unit_by_code
    for unit in sample.units.values():
        if unit.state == "on_time" and (not kind or units[unit.code].kind == kind):
            return dict(unit.files[-1].values)
    raise AssertionError("no on-time unit in the sample")


def _consolidate(schema: Schema, inbox: Path, outbox: Path) -> dict[str, Any]:
    period = parse_period(PERIOD, schema.calendar)
    run.consolidate(schema, period, inbox, outbox, datetime.fromisoformat(AS_OF))
    report: dict[str, Any] = json.loads((outbox / PERIOD / "run.json").read_text(encoding="utf-8"))
    return report


@pytest.fixture(scope="module")
def demo(
    sample: SampleManifest, schema: Schema, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, Any], dict[str, str]]:
    before = {p.name: _sha(p) for p in sample.out_dir.iterdir() if p.is_file()}
    outbox = tmp_path_factory.mktemp("outbox")
    return outbox, _consolidate(schema, sample.out_dir, outbox), before


def _issues_with_cells(entry: dict[str, Any]) -> set[tuple[str, str, str, str]]:
    return {
        (i["sheet"], i["cell"], i["code"], i["severity"])
        for i in entry["issues"]
        if i["severity"] in ("error", "warning")
    }


def _report_rows(ws: Any) -> set[tuple[str, str, str]]:
    """(sheet, cell, code) of each issue row of the "Kết quả kiểm tra" sheet."""
    rows = list(ws.iter_rows(values_only=True))
    start = next(n for n, r in enumerate(rows) if r[0] == "STT") + 1
    found = set()
    for r in rows[start:]:
        if not isinstance(r[0], int):
            break
        found.add((r[1] or "", r[2] or "", r[5]))
    return found


def _assert_annotated(
    path: Path, issues: set[tuple[str, str, str, str]], *, saved_by_lo: bool = False
) -> None:
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames[0] == FEEDBACK_SHEET
    assert wb.active.title == FEEDBACK_SHEET
    for sheet, cell, code, severity in issues:
        if not cell:
            continue
        c = wb[sheet][cell]
        worst = "error" if any(i[:2] == (sheet, cell) and i[3] == "error" for i in issues) else severity
        assert c.fill.fgColor.rgb == HIGHLIGHT[worst], (sheet, cell)
        assert c.comment is not None and code in c.comment.text, (sheet, cell)
        assert saved_by_lo or c.comment.author == COMMENT_AUTHOR  # LibreOffice drops the author
    assert _report_rows(wb[FEEDBACK_SHEET]) == {(s, c, code) for s, c, code, _ in issues}


def test_feedback_workbook_for_each_file_with_issues(
    demo: tuple[Path, dict[str, Any], dict[str, str]], sample: SampleManifest
) -> None:
    outbox, report, before = demo
    folder = outbox / PERIOD / FEEDBACK_DIR
    listed = {rel for rel in report["outputs"] if rel.startswith(f"{PERIOD}/{FEEDBACK_DIR}/")}
    with_issues = [f for f in report["files"] if f["status"] != "ignored" and _issues_with_cells(f)]
    assert with_issues, "the sample has a rejected unit"
    expected_names = {f"{f['unit']}-{f['sha256'][:12]}.xlsx" for f in with_issues}
    assert {Path(rel).name for rel in listed} == expected_names
    assert {p.name for p in folder.iterdir()} == expected_names
    for f in with_issues:
        path = folder / f"{f['unit']}-{f['sha256'][:12]}.xlsx"
        _assert_annotated(path, _issues_with_cells(f))
        assert package_problems(path.read_bytes()) == []
        with zipfile.ZipFile(path) as zf:  # annotated at the XML level, not rewritten by openpyxl
            assert "xl/comments/comment1.xml" not in zf.namelist()
            assert zf.read("xl/theme/theme1.xml") == zipfile.ZipFile(sample.out_dir / f["path"]).read(
                "xl/theme/theme1.xml"
            )
    # the inbox is never modified
    assert {p.name: _sha(p) for p in sample.out_dir.iterdir() if p.is_file()} == before


def test_run_json_carries_every_issue_with_its_cell(
    demo: tuple[Path, dict[str, Any], dict[str, str]],
) -> None:
    _, report, _ = demo
    rejected = [f for f in report["files"] if f["status"] == "rejected"]
    assert rejected
    for f in rejected:
        for i in f["issues"]:
            assert set(i) >= {"code", "severity", "sheet", "cell", "message"}
        cells = {(i["code"], i["sheet"], i["cell"]) for i in f["issues"]}
        assert all(sheet and cell for code, sheet, cell in cells if code.startswith(("value-", "rule-")))


def test_feedback_bytes_are_deterministic(
    demo: tuple[Path, dict[str, Any], dict[str, str]], sample: SampleManifest, schema: Schema, tmp_path: Path
) -> None:
    outbox, report, _ = demo
    again = _consolidate(schema, sample.out_dir, tmp_path)
    feedback = [rel for rel in report["outputs"] if f"/{FEEDBACK_DIR}/" in rel or f"/{EMAIL_DIR}/" in rel]
    assert feedback == [
        rel for rel in again["outputs"] if f"/{FEEDBACK_DIR}/" in rel or f"/{EMAIL_DIR}/" in rel
    ]
    for rel in feedback:
        assert (outbox / rel).read_bytes() == (tmp_path / rel).read_bytes(), rel


def test_rerun_reuses_feedback_and_gives_the_bytes_of_a_cold_run(
    demo: tuple[Path, dict[str, Any], dict[str, str]], sample: SampleManifest, schema: Schema, tmp_path: Path
) -> None:
    """A rerun on the same outbox writes no feedback file again (same inputs) and its files are
    byte for byte those of a cold run into a fresh outbox; a changed input is rebuilt."""
    outbox, report, _ = demo
    rels = [rel for rel in report["outputs"] if f"/{FEEDBACK_DIR}/" in rel or f"/{EMAIL_DIR}/" in rel]
    assert any(rel.endswith(".xlsx") for rel in rels) and any(rel.endswith(".txt") for rel in rels)
    before = {rel: (outbox / rel).stat() for rel in rels}
    _consolidate(schema, sample.out_dir, outbox)
    for rel in rels:
        now = (outbox / rel).stat()
        assert (now.st_ino, now.st_mtime_ns) == (before[rel].st_ino, before[rel].st_mtime_ns), rel
    cold = tmp_path / "cold"
    _consolidate(schema, sample.out_dir, cold)
    for rel in rels:
        assert (outbox / rel).read_bytes() == (cold / rel).read_bytes(), rel
    # a feedback file changed by hand is written again, with the bytes of the cold run
    changed = next(rel for rel in rels if rel.endswith(".xlsx"))
    (outbox / changed).write_bytes(b"not ours")
    _consolidate(schema, sample.out_dir, outbox)
    assert (outbox / changed).read_bytes() == (cold / changed).read_bytes()


def test_email_texts(demo: tuple[Path, dict[str, Any], dict[str, str]], schema: Schema) -> None:
    outbox, report, _ = demo
    units = {u["code"]: u for u in report["units"]}
    files = {f["path"]: f for f in report["files"]}
    emails = {Path(rel).stem: outbox / rel for rel in report["outputs"] if f"/{EMAIL_DIR}/" in rel}
    rejected = [code for code, u in units.items() if u["status"] == "rejected"]
    missing = [code for code, u in units.items() if u["status"] == "missing"]
    assert rejected and set(rejected) | set(missing) <= set(emails)
    for code in rejected:
        raw = emails[code].read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf")
        assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
        text = raw.decode("utf-8-sig")
        assert schema.unit_by_code[code].name in text
        assert "Quý I năm 2023" in text
        assert "đề nghị sửa và gửi lại" in text
        assert "15/04/2023" in text  # as-of 10/04 + resubmit_days (5)
        assert text.rstrip().endswith("Sở Nội vụ tỉnh Bình Định")
        latest = [f for f in report["files"] if f["unit"] == code][-1]
        assert latest["path"] in text
        for i in files[latest["path"]]["issues"]:
            assert f"{i['sheet']}!{i['cell']}: {i['message']}" in text
    for code in missing:
        assert schema.unit_by_code[code].name in emails[code].read_text(encoding="utf-8-sig")
    # a unit whose resubmission was accepted gets no e-mail about its old version; an accepted
    # unit is written to only about the warnings of its accepted file (e.g. an outlier)
    accepted = {u["code"] for u in units.values() if u["status"] in ("on_time", "late")}
    resubmitted = [c for c in accepted if sum(1 for f in report["files"] if f["unit"] == c) > 1]
    assert resubmitted
    for code in accepted & set(emails):
        text = emails[code].read_text(encoding="utf-8-sig")
        mine = units[code]["file"]
        assert mine in text and any(i["severity"] == "warning" for i in files[mine]["issues"])
        assert "đề nghị sửa và gửi lại" not in text
        assert not [
            f["path"]
            for f in report["files"]
            if f["unit"] == code and f["path"] != mine and f["path"] in text
        ]


def test_warnings_only_file(sample: SampleManifest, schema: Schema, template: Path, tmp_path: Path) -> None:
    values = _valid_values(sample)
    values["preparer_email"] = "khong-co-thu"
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    fill_workbook(template, values, inbox / "bao-cao.xlsx")
    report = _consolidate(schema, inbox, tmp_path / "outbox")
    entry = report["files"][0]
    assert entry["status"] == "accepted"
    assert ("Thông tin chung", "C12", "value-bad-email", "warning") in _issues_with_cells(entry)
    path = tmp_path / "outbox" / PERIOD / FEEDBACK_DIR / f"{entry['unit']}-{entry['sha256'][:12]}.xlsx"
    _assert_annotated(path, _issues_with_cells(entry))
    email = (tmp_path / "outbox" / PERIOD / EMAIL_DIR / f"{entry['unit']}.txt").read_text(
        encoding="utf-8-sig"
    )
    assert "đề nghị xem lại" in email and "Thông tin chung!C12" in email


def test_feedback_workbook_sent_back_corrected_is_accepted(
    demo: tuple[Path, dict[str, Any], dict[str, str]], sample: SampleManifest, schema: Schema, tmp_path: Path
) -> None:
    """A unit may correct the highlighted cells in the feedback workbook itself and resend it."""
    outbox, report, _ = demo
    rejected = next(f for f in report["files"] if f["status"] == "rejected" and f["unit"])
    feedback = outbox / PERIOD / FEEDBACK_DIR / f"{rejected['unit']}-{rejected['sha256'][:12]}.xlsx"
    planned = next(u for u in sample.units.values() if u.code == rejected["unit"])
    good = _valid_values(sample, kind=schema.unit_by_code[planned.code].kind)
    fixes = {f.key: good[f.key] for f in schema.indicators}
    resent = tmp_path / "ban-sua.xlsx"
    fill_workbook(feedback, fixes, resent)
    checked = check_file(schema, resent, parse_period(PERIOD, schema.calendar), datetime.fromisoformat(AS_OF))
    assert checked.submission.unit == planned.code
    assert checked.verdict.accepted, [i.code for i in checked.submission.issues]


def test_libreoffice_opens_feedback_with_highlights_and_comments(
    demo: tuple[Path, dict[str, Any], dict[str, str]], tmp_path: Path
) -> None:
    exe = soffice()
    outbox, report, _ = demo
    entry = next(f for f in report["files"] if f["status"] == "rejected" and f["unit"])
    source = outbox / PERIOD / FEEDBACK_DIR / f"{entry['unit']}-{entry['sha256'][:12]}.xlsx"
    converted = _soffice_convert(exe, source, tmp_path, "xlsx:Calc MS Excel 2007 XML")
    _assert_annotated(converted, _issues_with_cells(entry), saved_by_lo=True)


def _soffice_convert(exe: str, source: Path, out: Path, target: str) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    profile = (out / "lo-profile").as_uri()
    proc = subprocess.run(
        [
            exe,
            f"-env:UserInstallation={profile}",
            "--headless",
            "--convert-to",
            target,
            "--outdir",
            str(out / "conv"),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    ext = target.split(":")[0]
    result = out / "conv" / f"{source.stem}.{ext}"
    assert result.is_file(), proc.stdout + proc.stderr
    return result


def test_libreoffice_saved_and_ods_submissions(
    sample: SampleManifest, schema: Schema, template: Path, tmp_path: Path
) -> None:
    """A unit that saves with LibreOffice: .xlsx is annotated, .ods gets the report sheet alone."""
    exe = soffice()
    values = _valid_values(sample)
    values["t1_documents_issued"] = "nhiều"
    filled = tmp_path / "filled" / "bao-cao-loi.xlsx"
    fill_workbook(template, values, filled)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    lo_xlsx = _soffice_convert(exe, filled, tmp_path / "x", "xlsx:Calc MS Excel 2007 XML")
    shutil.copy(lo_xlsx, inbox / "bao-cao-libreoffice.xlsx")
    ods = _soffice_convert(exe, filled, tmp_path / "o", "ods")
    inbox_ods = tmp_path / "inbox-ods"
    inbox_ods.mkdir()
    shutil.copy(ods, inbox_ods / "bao-cao.ods")

    report = _consolidate(schema, inbox, tmp_path / "outbox")
    entry = report["files"][0]
    assert entry["status"] == "rejected"
    assert ("Số liệu", "D7", "value-not-number", "error") in _issues_with_cells(entry)
    folder = tmp_path / "outbox" / PERIOD / FEEDBACK_DIR
    _assert_annotated(folder / f"{entry['unit']}-{entry['sha256'][:12]}.xlsx", _issues_with_cells(entry))

    report = _consolidate(schema, inbox_ods, tmp_path / "outbox-ods")
    entry = report["files"][0]
    assert ("Số liệu", "D7", "value-not-number", "error") in _issues_with_cells(entry)
    path = tmp_path / "outbox-ods" / PERIOD / FEEDBACK_DIR / f"{entry['unit']}-{entry['sha256'][:12]}.xlsx"
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == [FEEDBACK_SHEET]
    assert _report_rows(wb[FEEDBACK_SHEET]) == {(s, c, code) for s, c, code, _ in _issues_with_cells(entry)}


def test_unreadable_file_gets_a_report_named_by_hash(schema: Schema, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "bao-cao.xlsx").write_bytes(b"PK\x03\x04 not really a zip")
    report = _consolidate(schema, inbox, tmp_path / "outbox")
    entry = report["files"][0]
    assert entry["issues"][0]["code"].startswith("file-")  # refused by screening or reading
    names = [p.name for p in (tmp_path / "outbox" / PERIOD / FEEDBACK_DIR).iterdir()]
    assert names == [f"chua-ro-don-vi-{entry['sha256'][:12]}.xlsx"]
    wb = openpyxl.load_workbook(tmp_path / "outbox" / PERIOD / FEEDBACK_DIR / names[0])
    assert wb.sheetnames == [FEEDBACK_SHEET]


def test_feedback_name_never_comes_from_unit_text(sample: SampleManifest) -> None:
    from pipeline.core.model import InboxFile, Submission

    sub = Submission(
        file=InboxFile(name="../../x.xlsx", path=Path("x"), sha256="a" * 64, size=1), unit="../SYT"
    )
    assert feedback_name(sub) == "SYT-aaaaaaaaaaaa.xlsx"


# --- the check command ---------------------------------------------------------------------------


def test_check_command_same_issues_as_the_run(
    demo: tuple[Path, dict[str, Any], dict[str, str]], sample: SampleManifest, tmp_path: Path
) -> None:
    _, report, _ = demo
    rejected = next(f for f in report["files"] if f["status"] == "rejected" and f["unit"])
    accepted = next(f for f in report["files"] if f["status"] == "accepted" and not f["issues"])
    bad, good = sample.out_dir / rejected["path"], sample.out_dir / accepted["path"]

    proc = run_cli("check", str(good))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Được chấp nhận" in proc.stdout

    proc = run_cli("check", str(good), str(bad), "--period", PERIOD, "--feedback", str(tmp_path / "fb"))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Bị trả lại" in proc.stdout
    for i in rejected["issues"]:
        assert f"{i['code']} {i['sheet']}!{i['cell']}: {i['message']}" in proc.stdout
    written = list((tmp_path / "fb").iterdir())
    assert [p.name for p in written] == [f"{rejected['unit']}-{rejected['sha256'][:12]}.xlsx"]
    _assert_annotated(written[0], _issues_with_cells(rejected))


def test_check_takes_the_period_from_the_file(
    sample: SampleManifest, schema: Schema, template: Path, tmp_path: Path
) -> None:
    values = _valid_values(sample)
    values["period"] = "6 tháng"
    path = tmp_path / "bao-cao-6-thang.xlsx"
    fill_workbook(template, values, path)
    checked = check_file(schema, path, None, datetime.fromisoformat(AS_OF))
    assert checked.period.id == "2023-H1"
    assert "period-other" not in {i.code for i in checked.submission.issues}
    checked = check_file(schema, path, parse_period(PERIOD, schema.calendar), datetime.fromisoformat(AS_OF))
    assert not checked.verdict.accepted
    assert "period-other" in {i.code for i in checked.submission.issues}


def test_check_usage_and_non_spreadsheets(tmp_path: Path) -> None:
    assert run_cli("check").returncode == 2
    assert run_cli("check", str(tmp_path / "none.xlsx")).returncode == 2
    text = tmp_path / "ghi-chu.txt"
    text.write_text("không phải bảng tính", encoding="utf-8")
    proc = run_cli("check", str(text))
    assert proc.returncode == 1
    assert "not-spreadsheet" in proc.stdout


def test_invalid_later_version_while_an_earlier_one_is_consolidated(
    sample: SampleManifest, schema: Schema, template: Path, tmp_path: Path
) -> None:
    values = _valid_values(sample)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    fill_workbook(template, values, inbox / "ban-1.xlsx")
    fill_workbook(template, {**values, "t1_documents_issued": "mười"}, inbox / "ban-2.xlsx")
    (inbox / "receipts.csv").write_text(
        "file,received_at\nban-1.xlsx,2023-03-15T09:00\nban-2.xlsx,2023-03-17T09:00\n", encoding="utf-8"
    )
    report = _consolidate(schema, inbox, tmp_path / "outbox")
    unit = next(u for u in report["units"] if u["file"] == "ban-1.xlsx")
    assert unit["status"] == "on_time"
    feedback = [rel for rel in report["outputs"] if f"/{FEEDBACK_DIR}/" in rel]
    entry = next(f for f in report["files"] if f["path"] == "ban-2.xlsx")
    assert [Path(rel).name for rel in feedback] == [f"{unit['code']}-{entry['sha256'][:12]}.xlsx"]
    email = (tmp_path / "outbox" / PERIOD / EMAIL_DIR / f"{unit['code']}.txt").read_text(encoding="utf-8-sig")
    assert "ban-2.xlsx" in email and "Số liệu!D7" in email
    assert 'bản gửi trước của đơn vị (tệp "ban-1.xlsx")' in email


def test_check_opens_a_zip_like_the_run(
    demo: tuple[Path, dict[str, Any], dict[str, str]], sample: SampleManifest, tmp_path: Path
) -> None:
    import zipfile

    _, report, _ = demo
    rejected = next(f for f in report["files"] if f["status"] == "rejected" and f["unit"])
    accepted = next(f for f in report["files"] if f["status"] == "accepted" and not f["issues"])
    bundle = tmp_path / "bao-cao.zip"
    with zipfile.ZipFile(bundle, "w") as zf:
        zf.write(sample.out_dir / rejected["path"], "loi.xlsx")
        zf.write(sample.out_dir / accepted["path"], "dung.xlsx")
    proc = run_cli("check", str(bundle), "--period", PERIOD)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"Tệp: {bundle}/loi.xlsx" in proc.stdout
    assert f"Tệp: {bundle}/dung.xlsx" in proc.stdout
    assert "Tổng cộng: 1 tệp được chấp nhận, 1 tệp bị trả lại." in proc.stdout
    for i in rejected["issues"]:
        assert f"{i['code']} {i['sheet']}!{i['cell']}" in proc.stdout


def test_refused_file_is_never_opened_for_annotation(schema: Schema, tmp_path: Path) -> None:
    """A file that screening refused gets the "Kết quả kiểm tra" sheet alone."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "bao-cao.xls").write_bytes(b"<html><body><table><tr><td>1</td></tr></table></body></html>")
    report = _consolidate(schema, inbox, tmp_path / "outbox")
    entry = report["files"][0]
    assert entry["status"] == "rejected"
    assert entry["issues"][0]["code"].startswith("file-")
    (path,) = (tmp_path / "outbox" / PERIOD / FEEDBACK_DIR).iterdir()
    assert openpyxl.load_workbook(path).sheetnames == [FEEDBACK_SHEET]


def test_parallel_build_gives_the_serial_bytes(
    template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From PARALLEL_MIN workbooks on, a spawned worker builds some: the bytes do not change."""
    from pipeline.ooxml.edit import CellNote, CheckReport, ReportRow
    from pipeline.outputs import feedback

    source = tmp_path / "don-vi.xlsx"
    shutil.copy(template, source)
    jobs = {}
    for n in range(feedback.PARALLEL_MIN + 3):
        note = CellNote("Số liệu", f"D{7 + n % 30}", "error", f"Lỗi số {n}")
        report = CheckReport(
            "KẾT QUẢ",
            (("Đơn vị", f"U{n:05d}"),),
            (ReportRow("Số liệu", note.cell, note.text, "error", "Lỗi", "x"),),
            (),
        )
        jobs[f"{n}.xlsx"] = feedback.WorkbookJob(
            source, "0" * 64, (note,), report, report, datetime(2023, 4, 10)
        )
    serial = [feedback.build_workbook(job) for job in jobs.values()]
    here: list[str] = []

    def spy(job: feedback.WorkbookJob) -> bytes:  # in this process only: the workers build theirs
        here.append(job.annotated.header[0][1])
        raise AssertionError("built in the run's process")

    monkeypatch.setattr(feedback, "build_workbook", spy)
    done: list[int] = []
    assert feedback.build_all(list(jobs.values()), done.append) == serial
    assert here == [] and sum(done) == len(jobs)


class _Unpicklable(str):
    """Text that cannot be sent to a worker process: the run builds those workbooks itself."""

    def __reduce__(self) -> Any:
        raise TypeError("not for a worker")


def test_failed_worker_leaves_its_workbooks_to_the_run(template: Path, tmp_path: Path) -> None:
    from pipeline.ooxml.edit import CellNote, CheckReport, ReportRow
    from pipeline.outputs import feedback

    source = tmp_path / "don-vi.xlsx"
    shutil.copy(template, source)
    jobs = {}
    for n in range(feedback.PARALLEL_MIN + 5):
        note = CellNote("Số liệu", "D7", "error", _Unpicklable(f"Lỗi số {n}"))
        report = CheckReport("KẾT QUẢ", (), (ReportRow("Số liệu", "D7", note.text, "error", "Lỗi", "x"),), ())
        jobs[f"{n}.xlsx"] = feedback.WorkbookJob(
            source, "0" * 64, (note,), report, report, datetime(2023, 4, 10)
        )
    built = feedback.build_all(list(jobs.values()))
    assert len(built) == len(jobs)
    assert all(
        data == feedback.build_workbook(job)
        for data, job in list(zip(built, jobs.values(), strict=True))[::8]
    )
