"""The outputs leadership opens: the workbook read back, the report draft and letters (.docx),
the history of unit results and the LibreOffice rendering (one-page summary)."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

import docx
import openpyxl
import pytest
from test_outputs import EVIL, TZ, make_result

from pipeline import config
from pipeline.authoring.sample import build_sample_inbox
from pipeline.authoring.template import write_template
from pipeline.core.deadlines import parse_period
from pipeline.core.model import RunResult
from pipeline.core.schema import Schema
from pipeline.core.vietnamese import format_number, format_percent
from pipeline.core.workdays import is_working_day
from pipeline.ooxml import docx as word
from pipeline.outputs import figures
from pipeline.outputs.plain import plain_issue
from pipeline.outputs.workbook.data import no_figures, period_indicators
from pipeline.outputs.write import write_outputs
from pipeline.run import consolidate
from pipeline.store.cache import Cache
from pipeline.store.history import period_figures
from pipeline.store.ledger import Ledger

AS_OF_Q1 = datetime(2023, 4, 10, 9, 0, tzinfo=TZ)
AS_OF_H1 = datetime(2023, 7, 10, 9, 0, tzinfo=TZ)
TRICKY = {"n2_results": "+84 905 123 456", "n3_results": "-5 vụ việc", "n_proposals": "@SUM(A1:A9)"}


@pytest.fixture(scope="module")
def schema() -> Schema:
    return config.load()


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, schema: Schema) -> dict[str, Any]:
    """The sample inbox consolidated for Q1, then for H1 into the same outbox (ledger history)."""
    root = tmp_path_factory.mktemp("runs")
    tpl = write_template(schema, root / "template")
    outbox = root / "outbox"
    out: dict[str, Any] = {"outbox": outbox}
    for code, as_of in (("Q1", AS_OF_Q1), ("H1", AS_OF_H1)):
        inbox = root / f"inbox-{code}"
        build_sample_inbox(schema, tpl, inbox, year=2023, period=code)
        period = parse_period(f"2023-{code}", schema.calendar)
        out[code] = consolidate(schema, period, inbox, outbox, as_of)
    return out


def _docx_text(path: Path) -> str:
    document = docx.Document(str(path))
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            parts.extend(cell.text for cell in row.cells)
    return "\n".join(parts)


def _summary_cells(ws: Any) -> dict[str, Any]:
    """The printed cells' texts (columns A-E; the charts' figures are in hidden columns)."""
    return {str(c.value): c for row in ws.iter_rows(max_col=5) for c in row if isinstance(c.value, str)}


# ------------------------------------------------------------------ the workbook


def test_workbook_figures(runs: dict[str, Any], schema: Schema) -> None:
    result: RunResult = runs["Q1"]
    path = runs["outbox"] / result.outputs[0]
    wb = openpyxl.load_workbook(path, data_only=True)
    ws = wb["Tổng hợp"]
    cells = _summary_cells(ws)
    for _status, label, count in figures.status_counts(result):
        assert ws.cell(cells[label].row, 4).value == count
    tasks = figures.task_figures(result)
    assert [tf.task for tf in tasks] == [str(i) for i in range(1, 8)]
    for tf in tasks:
        row = next(c.row for t, c in cells.items() if t.startswith(f"{tf.label} ({tf.unit})"))
        assert ws.cell(row, 4).value == tf.value
        assert ws.cell(row, 5).value == (pytest.approx(tf.rate) if tf.rate is not None else None)
    t = result.totals
    two = next(tf for tf in tasks if tf.task == "2")
    assert two.value == t["t2_dossiers_on_time"] + t["t2_dossiers_late"]
    # Five units needing attention, the two without a report first.
    header = cells["IV. CÁC ĐƠN VỊ CẦN QUAN TÂM"].row + 1
    names = [ws.cell(header + i, 2).value for i in range(1, 6)]
    missing = [u.unit.name for u in result.units if u.status == "missing"]
    assert names[: len(missing)] == missing
    assert all(ws.cell(header + i, 3).value for i in range(1, 6))
    # Charts are native: status, task rates, scores by unit.
    raw = openpyxl.load_workbook(path)
    assert len(raw["Tổng hợp"]._charts) == 3


def test_ranking_criteria_and_provenance(runs: dict[str, Any], schema: Schema) -> None:
    result: RunResult = runs["Q1"]
    wb = openpyxl.load_workbook(runs["outbox"] / result.outputs[0], data_only=True)
    detail = wb["Chi tiết điểm"]
    by_code = {u.unit.code: u for u in result.units}
    rows = [[c.value for c in r] for r in detail.iter_rows(min_row=5)]
    totals = {r[0]: r[3] for r in rows if r[2] == "Tổng điểm"}
    assert {code: pytest.approx(by_code[code].score.total) for code in totals} == totals  # type: ignore[union-attr]
    rules = [r for r in rows if r[2] != "Tổng điểm"]
    assert all(r[5] for r in rules)  # every criterion names the rule that gave its points
    # Provenance: one row per unit in the data sheet's order, each figure in the column it has
    # on the data sheet, as "sheet!cell" of the unit's file; the file and its version beside.
    source = wb["Nguồn số liệu"]
    data = wb["Số liệu"]
    header = next(r[0].row for r in source.iter_rows() if r[0].value == "Mã")
    provenance = {r[0]: r for r in ([c.value for c in row] for row in source.iter_rows(min_row=header + 1))}
    figures_at = {r[1]: r for r in ([c.value for c in row] for row in data.iter_rows(min_row=6)) if r[1]}
    labels = [c.value for c in source[header]]
    assert labels[:3] == ["Mã", "Đơn vị", "Tệp"] and labels[-1] == "Phiên bản"
    assert labels[3:-1] == [c.value for c in data[5]][3:]  # the data sheet's columns, D onwards
    order = [r[0] for r in ([c.value for c in row] for row in source.iter_rows(min_row=header + 1))]
    assert order == [code for code in figures_at if code in provenance]
    checked = 0
    for unit in result.units:  # every registry unit has a row, with its status where no figures
        row = provenance[unit.unit.code]
        if unit.submission is None:
            assert row[2] == no_figures(unit) and figures_at[unit.unit.code][3] == no_figures(unit)
            continue
        assert row[1] == unit.unit.name and row[2] == unit.submission.file.name
        assert row[-1] == next(v.label for v in unit.history if v.sha256 == unit.submission.file.sha256)
        for i, field in enumerate(period_indicators(schema, "Q1")):
            col = 3 + i
            if not field.applies(unit.unit, "Q1"):
                assert row[col] is None
                continue
            where = unit.submission.cells.get(field.key)
            sheet, cell = (where.sheet, where.cell) if where else (field.sheet, field.cell)
            assert row[col] == f"{sheet}!{cell}"
            assert figures_at[unit.unit.code][col] == unit.submission.values.get(field.key)
            checked += 1
    assert checked > 100


def test_text_never_becomes_formula(tmp_path: Path, schema: Schema) -> None:
    result = make_result(schema)
    for unit in result.units:
        if unit.submission is not None:
            unit.submission.values.update(TRICKY)
    outputs = write_outputs(result, schema, tmp_path)
    wb = openpyxl.load_workbook(tmp_path / outputs[0])
    seen: set[str] = set()
    for ws in wb.worksheets:
        assert not ws._hyperlinks, ws.title
        for row in ws.iter_rows():
            for cell in row:
                if cell.data_type == "f":
                    assert ws.title == "Số liệu" and str(cell.value).startswith("=SUM("), (ws.title, cell)
                elif isinstance(cell.value, str):
                    seen.add(cell.value)
    assert {EVIL, *TRICKY.values()} <= seen
    proposals = wb["Kiến nghị"]
    assert TRICKY["n_proposals"] in [c.value for c in proposals["C"]]
    report = _docx_text(tmp_path / "2023-Q1" / "bao-cao-2023-Q1.docx")
    assert TRICKY["n_proposals"] in report


# ------------------------------------------------------------------ report and letters


def test_report_figures_equal_workbook(runs: dict[str, Any], schema: Schema) -> None:
    result: RunResult = runs["Q1"]
    outbox = runs["outbox"]
    assert "2023-Q1/bao-cao-2023-Q1.docx" in result.outputs
    path = outbox / "2023-Q1" / "bao-cao-2023-Q1.docx"
    document = docx.Document(str(path))
    text = _docx_text(path)
    assert "BÁO CÁO" in text
    assert "Kết quả thực hiện công tác dân vận chính quyền quý I năm 2023" in text
    assert "Bình Định, ngày 10 tháng 4 năm 2023" in text
    assert document.core_properties.created == AS_OF_Q1
    assert document.styles["Normal"].font.name == "Times New Roman"
    section = document.sections[0]
    assert (section.page_width.mm, section.page_height.mm) == pytest.approx((210, 297), abs=0.5)
    assert (section.left_margin.mm, section.right_margin.mm) == pytest.approx((30, 15), abs=0.5)
    assert (section.top_margin.mm, section.bottom_margin.mm) == pytest.approx((20, 20), abs=0.5)
    ws = openpyxl.load_workbook(outbox / result.outputs[0], data_only=True)["Tổng hợp"]
    cells = _summary_cells(ws)
    total = ws.cell(cells["Tổng số đơn vị phải báo cáo"].row, 4).value
    assert f"Tổng số đơn vị phải báo cáo: {total}" in text
    for status in ("Đúng hạn", "Muộn", "Chưa nộp", "Bị trả lại"):
        row = cells[status].row
        count, share = ws.cell(row, 4).value, ws.cell(row, 5).value
        assert f"{status.lower()} {count} ({format_percent(share, fixed=True)})" in text
    for tf in figures.task_figures(result):
        row = next(c.row for t, c in cells.items() if t.startswith(f"{tf.label} ({tf.unit})"))
        rate = ws.cell(row, 5).value
        if rate is not None:
            assert f"{tf.rate_label} đạt {format_percent(rate, fixed=True)}" in text
    for field in period_indicators(schema, "Q1"):  # each task's totals, in prose
        label = field.label[:1].lower() + field.label[1:]
        assert f"{label} {format_number(result.totals[field.key])} {field.unit}" in text
    for band, _count in figures.band_counts(result, schema):
        count = ws.cell(cells[band].row, 4).value
        if count:
            assert f"{band} {count} đơn vị" in text
    for unit in result.units:
        if unit.status in ("late", "missing", "rejected"):
            assert unit.unit.name in text
    # Appendix: the same ranking as the workbook's sheet.
    ranking = openpyxl.load_workbook(outbox / result.outputs[0], data_only=True)["Xếp loại"]
    expected = [
        (r[2].value, "" if r[3].value is None else format_number(r[3].value), r[4].value)
        for r in ranking.iter_rows(min_row=5)
        if r[1].value
    ]
    appendix = document.tables[-1]
    got = [(row.cells[1].text, row.cells[3].text, row.cells[4].text) for row in appendix.rows[1:]]
    assert got == expected


def test_letters(runs: dict[str, Any], schema: Schema) -> None:
    """The right letter per case: not received (đôn đốc gửi), received late (chấn chỉnh,
    nothing to send), rejected (hoàn thiện và gửi lại, each problem in plain words); deadlines
    on working days; times as papers write them; the officer's contact."""
    result: RunResult = runs["Q1"]
    outbox = runs["outbox"]
    chased = [u for u in result.units if u.status in ("late", "missing", "rejected")]
    assert {u.status for u in chased} == {"late", "missing", "rejected"}
    letters = sorted(p.name for p in (outbox / "2023-Q1" / "cong-van-don-doc").iterdir())
    assert letters == sorted(f"{u.unit.code}.docx" for u in chased)
    contact = schema.papers.contact
    for unit in chased:
        rel = f"2023-Q1/cong-van-don-doc/{unit.unit.code}.docx"
        assert rel in result.outputs
        text = _docx_text(outbox / rel)
        assert f"Kính gửi: {unit.unit.addressee}." in text
        assert "Quý I năm 2023" in text and "20/03/2023" in text
        assert "Kế hoạch số 25/KH-UBND ngày 15/02/2023" in text
        assert contact.phone in text and contact.email in text
        assert "trước hết ngày" not in text
        deadlines = [
            datetime.strptime(d, "%d/%m/%Y").date()
            for d in re.findall(r"chậm nhất ngày (\d\d/\d\d/\d{4})", text)
        ]
        if unit.status == "missing":
            assert "V/v đôn đốc gửi báo cáo" in text and "chưa nhận được báo cáo" in text
            assert len(deadlines) == 2  # the period's, then the one this letter sets
        elif unit.status == "late":
            assert "V/v chấn chỉnh việc chậm gửi báo cáo" in text and "đôn đốc" not in text
            assert f"chậm {unit.days_late} ngày" in text and "gửi lại" not in text
            got = unit.received_at.astimezone(TZ)  # type: ignore[union-attr]
            assert f"lúc {got.hour} giờ {got.minute:02d} phút ngày {got.day}/{got.month}/{got.year}" in text
            assert len(deadlines) == 1  # the period's only: nothing to send
        else:
            assert "V/v hoàn thiện và gửi lại báo cáo" in text
            errors = [i for i in unit.versions[-1].issues if i.severity == "error"]
            assert errors and all(plain_issue(i, schema) in text for i in errors)
            assert 'Mục "' in text and "Số liệu!" not in text
            assert len(deadlines) >= 2  # the period's, the one to resend by (and its grace day)
        for day in deadlines[1:]:  # the deadlines the program sets: working days
            assert is_working_day(day, schema.calendar.extra_days_off, schema.calendar.working_days)
            assert day == result.period.resubmit_by(result.as_of, schema.calendar)


# ------------------------------------------------------------------ history


def test_history_change_and_inspection(runs: dict[str, Any], schema: Schema) -> None:
    q1: RunResult = runs["Q1"]
    h1: RunResult = runs["H1"]
    outbox = runs["outbox"]
    assert {p.period_id for p in h1.past} == {"2023-Q1"}
    ws = openpyxl.load_workbook(outbox / h1.outputs[0], data_only=True)["Xếp loại"]
    headers = [c.value for c in ws[4]]
    assert "Điểm Quý I năm 2023" in headers
    before_col = headers.index("Điểm Quý I năm 2023")
    q1_scores = {u.unit.code: u.score.total for u in q1.units if u.score is not None}
    h1_scores = {u.unit.code: u.score.total for u in h1.units if u.score is not None}
    checked = 0
    for row in ws.iter_rows(min_row=5):
        code = row[1].value
        if code in q1_scores and code in h1_scores:
            assert row[before_col].value == pytest.approx(round(q1_scores[code], 2))
            assert row[before_col + 1].value == pytest.approx(round(h1_scores[code] - q1_scores[code], 2))
            checked += 1
    assert checked > 20
    changes = [round(h1_scores[c] - q1_scores[c], 2) for c in h1_scores if c in q1_scores]
    report = _docx_text(outbox / "2023-H1" / "bao-cao-2023-H1.docx")
    assert f"So với Quý I năm 2023: {sum(1 for c in changes if c > 0)} đơn vị tăng điểm" in report
    # Each task's key figure against the previous period of the year, from the ledger's accepted
    # figures (the same period of 2022 is not in the ledger: not mentioned).
    assert set(h1.compared) == {"2023-Q1"} and not q1.compared
    for tf_h1, tf_q1 in zip(figures.task_figures(h1), figures.task_figures(q1), strict=True):
        before = format_number(tf_q1.value)
        assert (
            f"{tf_h1.label}: {format_number(tf_h1.value)} {tf_h1.unit}; so với quý I năm 2023 ({before})"
            in report
        )
    assert "so với quý I năm 2022" not in report
    with Ledger(outbox / "ledger.sqlite") as ledger:
        accepted = period_figures(ledger, "2023-Q1")
    assert {code: accepted[code]["t1_sessions"] for code in accepted} == {
        u.unit.code: u.submission.values["t1_sessions"] for u in q1.units if u.submission is not None
    }
    # Q1 had no earlier period: no change columns.
    q1_headers = [c.value for c in openpyxl.load_workbook(outbox / q1.outputs[0])["Xếp loại"][4]]
    assert not any(str(h).startswith("Điểm Quý") for h in q1_headers)
    # Units late or missing in both periods are suggested for inspection with that reason.
    late_both = {u.unit.code for u in q1.units if u.status in ("late", "missing")} & {
        u.unit.code for u in h1.units if u.status in ("late", "missing")
    }
    inspection = "2023-H1/de-xuat-kiem-tra-2023-H1.xlsx"
    assert inspection in h1.outputs
    sheet = openpyxl.load_workbook(outbox / inspection)["Đề xuất kiểm tra"]
    reasons = {r[1].value: str(r[7].value) for r in sheet.iter_rows() if r[1].value and r[0].value != "STT"}
    for code in late_both:
        assert "nhiều kỳ" in reasons[code]
    # The explicit criteria: the weak bands, a large drop; most criteria first; never the
    # consolidating department.
    policy = schema.inspection
    assert schema.papers.consolidating_unit not in reasons
    for u in h1.units:
        if u.score is not None and u.score.band in policy.bands and u.unit.code != "SNV":
            assert f"Xếp loại {u.score.band}" in reasons[u.unit.code]
        before = q1_scores.get(u.unit.code)
        if u.score is not None and before is not None and before - u.score.total >= policy.score_drop:
            assert "Điểm giảm" in reasons[u.unit.code]
    order = [r[1].value for r in sheet.iter_rows() if r[1].value in reasons]
    counts = [reasons[c].count("\n- ") + 1 for c in order]
    assert counts == sorted(counts, reverse=True) and counts


# ------------------------------------------------------------------ rendering


def _tools() -> tuple[str, str] | None:
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    pdftotext = shutil.which("pdftotext")
    if soffice and pdftotext:
        return soffice, pdftotext
    if os.environ.get("CI", "").lower() in ("true", "1"):
        pytest.fail("CI needs LibreOffice (soffice) and poppler-utils (pdftotext)")
    pytest.skip("LibreOffice or pdftotext not installed")


def _pdf_pages(soffice: str, pdftotext: str, source: Path, out: Path) -> list[str]:
    profile = out / "lo-profile"
    subprocess.run(
        [
            soffice,
            f"-env:UserInstallation={profile.as_uri()}",
            "--headless",
            "--convert-to",
            "pdf",
            "--outdir",
            str(out),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    pdf = out / (source.stem + ".pdf")
    data = pdf.read_bytes()
    count = len(re.findall(rb"/Type\s*/Page(?![s\w])", data))
    text = subprocess.run(
        [pdftotext, "-layout", str(pdf), "-"], check=True, capture_output=True, timeout=60
    ).stdout.decode("utf-8")
    pages = text.split("\f")
    if pages and not pages[-1].strip():
        pages = pages[:-1]
    assert len(pages) == count
    return pages


def runs_schema_tasks() -> tuple[tuple[str, str], ...]:
    return config.load().template.tasks


def _pdf_font_sizes(pdf: Path) -> dict[int, list[float]]:
    """Page number → the size (pt) of every piece of text on it, as poppler's pdftohtml reads
    the PDF (zoom 1: sizes in points)."""
    exe = shutil.which("pdftohtml")
    if exe is None:
        pytest.skip("pdftohtml (poppler-utils) not installed")
    xml = subprocess.run(
        [exe, "-xml", "-i", "-zoom", "1", "-stdout", str(pdf)], check=True, capture_output=True, timeout=120
    ).stdout.decode("utf-8", "replace")
    fonts = {m[0]: float(m[1]) for m in re.findall(r'<fontspec id="(\d+)" size="([\d.]+)"', xml)}
    out: dict[int, list[float]] = {}
    for number, body in re.findall(r'<page number="(\d+)"(.*?)</page>', xml, re.S):
        out[int(number)] = [fonts[f] for f in re.findall(r'<text [^>]*font="(\d+)"', body)]
    return out


def test_rendered_in_libreoffice(runs: dict[str, Any], tmp_path: Path) -> None:
    tools = _tools()
    assert tools is not None
    soffice, pdftotext = tools
    result: RunResult = runs["Q1"]
    outbox = runs["outbox"]
    pages = _pdf_pages(soffice, pdftotext, outbox / result.outputs[0], tmp_path)
    # The summary: its tables on page 1, its charts on page 2; page 3 is the data sheet.
    assert "TỔNG HỢP KẾT QUẢ THỰC HIỆN CÔNG TÁC DÂN VẬN CHÍNH QUYỀN" in pages[0]
    assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in pages[0]
    assert "Độc lập - Tự do - Hạnh phúc" in pages[0]
    assert "IV. CÁC ĐƠN VỊ CẦN QUAN TÂM" in pages[0]
    assert "Tổng điểm theo đơn vị" in pages[1]
    assert "SỐ LIỆU CÔNG TÁC DÂN VẬN CHÍNH QUYỀN CỦA CÁC ĐƠN VỊ" in pages[2]
    assert "Trang 1/" in pages[0]
    # The data sheet on paper: every registry unit, each task's columns with the units' names
    # repeated, no text under 8 pt (font sizes as LibreOffice printed them).
    ranking = next(i for i, p in enumerate(pages) if "XẾP LOẠI KẾT QUẢ CÔNG TÁC" in p)
    data_pages = range(2, ranking)
    sizes = _pdf_font_sizes(tmp_path / (Path(result.outputs[0]).stem + ".pdf"))
    assert len(data_pages) >= 4
    for i in [0, 1, *data_pages]:
        assert min(sizes[i + 1]) >= 8, (i + 1, sorted(sizes[i + 1])[:3])
    printed = "\n".join(pages[i] for i in data_pages)
    tokens = set(printed.split())
    for unit in result.units:  # its code in the "Mã" column (a long name wraps over lines)
        assert unit.unit.code in tokens and unit.unit.name.split()[-1] in tokens, unit.unit.name
    for i in data_pages:
        assert "Đơn vị" in pages[i] and "Nhiệm vụ" in pages[i]  # names and task titles on each page
    for title in (t for _k, t in runs_schema_tasks()):
        assert title.split(".")[0] in printed
    report = _pdf_pages(soffice, pdftotext, outbox / "2023-Q1" / "bao-cao-2023-Q1.docx", tmp_path)
    first = " ".join(report[0].split())  # the title may wrap (the fonts LibreOffice has)
    assert "BÁO CÁO" in first and "quý I năm 2023" in first
    assert "PHỤ LỤC" in report[-1] or any("PHỤ LỤC" in p for p in report)
    code = next(u.unit.code for u in result.units if u.status == "missing")
    letter = _pdf_pages(
        soffice, pdftotext, outbox / "2023-Q1" / "cong-van-don-doc" / f"{code}.docx", tmp_path
    )
    assert len(letter) == 1
    assert "Kính gửi" in letter[0] and "GIÁM ĐỐC" in letter[0]


def test_letters_follow_the_units(tmp_path: Path, schema: Schema) -> None:
    """Letter files are named by registry code; a unit that has since reported loses its letter."""
    result = make_result(schema)
    first = write_outputs(result, schema, tmp_path)
    folder = tmp_path / "2023-Q1" / "cong-van-don-doc"
    assert sorted(p.name for p in folder.iterdir()) == ["542.docx", "SKHDT.docx", "STP.docx"]
    late = next(u for u in result.units if u.unit.code == "STP")
    late.status, late.days_late = "on_time", 0
    second = write_outputs(result, schema, tmp_path)
    assert sorted(p.name for p in folder.iterdir()) == ["542.docx", "SKHDT.docx"]
    assert "2023-Q1/cong-van-don-doc/STP.docx" in first and "2023-Q1/cong-van-don-doc/STP.docx" not in second
    report = json.loads((tmp_path / "2023-Q1" / "run.json").read_text("utf-8"))
    assert report["outputs"] == second


# ------------------------------------------------------------------ caches: a rerun equals a cold run

STAMP = datetime(2023, 4, 10, 9, 0, tzinfo=TZ)
PART = "thu.docx#word/document.xml"


def _item_xml(item: word.Item) -> str:
    _code, name, score = item
    return word.bullet_xml(f"{score} điểm", f"{name}: ")


def _paper(items: list[word.Item], store: Cache | None, part: str = PART) -> tuple[bytes, word.Paper]:
    paper = word.Paper("Thử", "SỞ NỘI VỤ")
    paper.paragraph("Đầu")
    paper.repeated("units", items, _item_xml)
    paper.paragraph("Cuối")
    return paper.to_bytes(STAMP, store, part), paper


def test_committed_skeleton_is_current() -> None:
    fresh = zipfile.ZipFile(io.BytesIO(word.build_skeleton()))
    committed = zipfile.ZipFile(word.SKELETON)
    assert committed.namelist() == fresh.namelist()
    for name in fresh.namelist():
        assert committed.read(name) == fresh.read(name), (
            f"{name} is stale: run `python -m pipeline.ooxml.docx`"
        )


def test_cached_pieces_give_the_bytes_of_a_cold_build(tmp_path: Path) -> None:
    items: list[word.Item] = [(f"U{i:05d}", f"Đơn vị <{i}> & co", i / 4) for i in range(3000)]
    cold, _ = _paper(items, None)
    with Cache(tmp_path / "cache.sqlite", "test") as store:
        data, first = _paper(items, store)
        assert data == cold
        assert first.reused == 0 and first.compressed > 10  # thousands of items: many chunks
        # one unit changed, one gone, one new: only the chunks around them are compressed again
        changed = list(items)
        changed[1500] = ("U01500", "Đơn vị đổi tên", 99.0)
        del changed[10]
        changed.insert(2500, ("N00001", "Đơn vị mới", 1.0))
        data, again = _paper(changed, store)
        assert data == _paper(changed, None)[0]
        assert 0 < again.compressed <= 4 and again.reused >= first.compressed - 4
        assert len(store.load_pieces(PART)) == again.compressed + again.reused  # unused chunks dropped
        assert _paper(changed, store, "other.docx")[1].reused == 0  # pieces are kept per document
    # the package is whole: CRCs check out, python-docx reads every paragraph in order
    assert zipfile.ZipFile(io.BytesIO(data)).testzip() is None
    texts = [p.text for p in docx.Document(io.BytesIO(data)).paragraphs]
    assert texts == ["Đầu", *(f"- {name}: {score} điểm" for _code, name, score in changed), "Cuối"]


def _change(result: RunResult) -> None:
    """One unit changed since the first run: STP's report is now 3 days late, new proposals."""
    stp = next(u for u in result.units if u.unit.code == "STP")
    stp.days_late = 3
    assert stp.submission is not None
    stp.submission.values["n_proposals"] = "Đề nghị mới <b>"


def test_rerun_with_caches_equals_a_cold_run(tmp_path: Path, schema: Schema) -> None:
    warm, cold = tmp_path / "warm", tmp_path / "cold"
    result = make_result(schema)
    cache = Cache(warm / ".cache" / "cache.sqlite", "test")
    write_outputs(result, schema, warm, cache)
    folder = warm / "2023-Q1" / "cong-van-don-doc"
    report = warm / "2023-Q1" / "bao-cao-2023-Q1.docx"

    def inodes() -> dict[str, int]:
        return {p.name: p.stat().st_ino for p in [report, *folder.iterdir()]}

    # nothing changed: no paper is written again
    before = inodes()
    write_outputs(result, schema, warm, cache)
    assert inodes() == before
    # one unit changed, one letter deleted by hand: only those are written again
    _change(result)
    (folder / "542.docx").unlink()
    write_outputs(result, schema, warm, cache)
    after = inodes()
    assert after["SKHDT.docx"] == before["SKHDT.docx"]
    assert after["STP.docx"] != before["STP.docx"] and after[report.name] != before[report.name]
    # a letter edited by hand is written again
    (folder / "SKHDT.docx").write_bytes(b"edited")
    write_outputs(result, schema, warm, cache)
    cache.close()
    fresh = make_result(schema)
    _change(fresh)
    outputs = write_outputs(fresh, schema, cold)
    papers = [rel for rel in outputs if rel.endswith(".docx")]
    assert len(papers) == 4
    for rel in papers:
        assert (warm / rel).read_bytes() == (cold / rel).read_bytes(), rel
    assert "chậm 3 ngày" in _docx_text(cold / "2023-Q1" / "cong-van-don-doc" / "STP.docx")
    assert "Đề nghị mới <b>" in _docx_text(cold / "2023-Q1" / "bao-cao-2023-Q1.docx")


def test_report_chunk_keys_depend_on_content_only() -> None:
    """A chunk of the report is found in the cache by its key: equal items give equal keys
    whether their equal strings are one object (taken from the cache) or several (read
    from the files), and any change of an item changes the key."""

    def fresh(text: str) -> str:
        return "".join(list(text))  # an equal string, another object

    name = "Huyện Thử nghiệm"
    shared = [("U1", name, name, 1, 2.5, None)]
    separate = [("U1", fresh(name), fresh(name), 1, 2.5, None)]
    assert shared[0][1] is shared[0][2] and separate[0][1] is not separate[0][2]
    one = word._Repeated("appendix", shared, str)
    other = word._Repeated("appendix", separate, str)
    assert one.key(shared) == other.key(separate)
    for changed in (
        ("U1", name, name, 1.0, 2.5, None),
        ("U1", name, name, 1, 2.5, ""),
        ("U2", name, name, 1, 2.5, None),
    ):
        assert one.key([changed]) != one.key(shared)
