"""What leaders and units read (issue 12), checked on real outputs of a consolidated sample
inbox: no cell reference, error code or hash in any paper for them; the report's synthesis
(highlights by each task's own figures, grouped points and proposals); deadlines on working
days (Tết, 30/4-1/5, the officer's days off and swapped Saturdays); the fairness policy; the
feedback for the version that counts only; charts by short names; the ranking's order."""

from __future__ import annotations

import csv
import dataclasses
import html
import io
import re
import zipfile
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import docx
import openpyxl
import pytest
from test_outputs import TZ

from pipeline import config
from pipeline.authoring.sample import build_sample_inbox
from pipeline.authoring.template import write_template
from pipeline.core import merge
from pipeline.core.deadlines import parse_period
from pipeline.core.issues import make_issue
from pipeline.core.model import InboxFile, PastResult, RunResult, Submission
from pipeline.core.ranking import rank
from pipeline.core.schema import Schema
from pipeline.core.statuses import UnitStatus
from pipeline.core.workdays import add_working_days, is_working_day, public_holidays
from pipeline.outputs import feedback, figures, report_tasks, synthesis
from pipeline.outputs.plain import plain_issue
from pipeline.run import consolidate
from pipeline.store import history
from pipeline.store.ledger import Ledger, VersionRow

AS_OF = datetime(2023, 4, 10, 9, 0, tzinfo=TZ)

# What no paper for leaders or units may show.
CELL = re.compile(r"(?<![\w/.\-–])\$?[A-Z]{1,3}\$?[1-9]\d{0,6}(?![\w/])")
SHEET_CELL = re.compile(r"[^\s\"]!\$?[A-Z]{1,3}\$?\d")
HASH = re.compile(r"\b[0-9a-f]{12,64}\b")


@pytest.fixture(scope="module")
def schema() -> Schema:
    return config.load()


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, schema: Schema) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("leaders")
    tpl = write_template(schema, root / "template")
    inbox, outbox = root / "inbox", root / "outbox"
    build_sample_inbox(schema, tpl, inbox, year=2023, period="Q1")
    result = consolidate(schema, parse_period("2023-Q1", schema.calendar), inbox, outbox, AS_OF)
    return {"result": result, "outbox": outbox}


def _docx_text(path: Path) -> str:
    document = docx.Document(str(path))
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:
        parts.extend(cell.text for row in table.rows for cell in row.cells)
    return "\n".join(parts)


def _sheet_texts(path: Path, sheet: str, max_col: int | None = None) -> list[str]:
    ws = openpyxl.load_workbook(path, data_only=True)[sheet]
    return [str(c.value) for row in ws.iter_rows(max_col=max_col) for c in row if isinstance(c.value, str)]


def _papers(run: dict[str, Any]) -> dict[str, str]:
    """Every paper a leader or a unit reads, as text: the report, the letters, the summary's
    printed cells, the late list, the inspection list, the e-mails."""
    result: RunResult = run["result"]
    base: Path = run["outbox"] / result.period.id
    papers = {"report": _docx_text(base / f"bao-cao-{result.period.id}.docx")}
    for letter in sorted((base / "cong-van-don-doc").glob("*.docx")):
        papers[f"letter {letter.name}"] = _docx_text(letter)
    workbook = base / f"tong-hop-{result.period.id}.xlsx"
    papers["summary"] = "\n".join(_sheet_texts(workbook, "Tổng hợp", max_col=5))
    papers["late list"] = "\n".join(
        _sheet_texts(base / f"danh-sach-nop-muon-{result.period.id}.xlsx", "Nộp muộn")
    )
    papers["inspection"] = "\n".join(
        _sheet_texts(base / f"de-xuat-kiem-tra-{result.period.id}.xlsx", "Đề xuất kiểm tra")
    )
    for mail in sorted((base / "thu-phan-hoi").glob("*.txt")):
        papers[f"e-mail {mail.name}"] = mail.read_bytes().decode("utf-8-sig")
    return papers


def test_no_cell_reference_code_or_hash_in_papers(run: dict[str, Any], schema: Schema) -> None:
    papers = _papers(run)
    assert any(k.startswith("letter") for k in papers) and any(k.startswith("e-mail") for k in papers)
    codes = [c for c in schema.codes if "-" in c]
    for name, text in papers.items():
        assert not CELL.findall(text), (name, CELL.findall(text)[:5])
        assert not SHEET_CELL.findall(text), (name, SHEET_CELL.findall(text)[:5])
        assert not HASH.findall(text), (name, HASH.findall(text)[:5])
        assert not [c for c in codes if re.search(rf"(?<![\w-]){re.escape(c)}(?![\w-])", text)], name
        assert ".." not in text.replace("...", ""), name
    # The rejected unit's problems are named in plain words in its letter.
    rejected = next(u for u in run["result"].units if u.status == UnitStatus.REJECTED)
    letter = papers[f"letter {rejected.unit.code}.docx"]
    errors = [i for i in rejected.versions[-1].issues if i.severity == "error"]
    assert errors and all(plain_issue(i, schema) in letter for i in errors)
    assert 'Mục "' in letter and "ghi" in letter


def test_missing_units_are_told_by_when(run: dict[str, Any], schema: Schema) -> None:
    result: RunResult = run["result"]
    by = result.period.resubmit_by(result.as_of, schema.calendar)
    missing = [u for u in result.units if u.status == UnitStatus.MISSING]
    assert missing
    for u in missing:
        mail = (run["outbox"] / result.period.id / "thu-phan-hoi" / f"{u.unit.code}.txt").read_bytes()
        text = mail.decode("utf-8-sig")
        assert f"chậm nhất ngày {by.strftime('%d/%m/%Y')}" in text and schema.papers.contact.email in text


def test_comparisons_come_from_the_ledger(schema: Schema, tmp_path: Path) -> None:
    """The previous period of the year and the same period of the previous year, each unit's
    accepted figures summed (history.period_figures), when the ledger has them."""
    rows = [
        VersionRow("a" * 64, "2023-Q1", "STP", "q1.xlsx", AS_OF, True, "accepted", {"t1_sessions": 4}),
        VersionRow("b" * 64, "2023-Q1", "SNV", "q1.xlsx", AS_OF, True, "accepted", {"t1_sessions": 6}),
        VersionRow("c" * 64, "2023-Q1", "SNV", "old.xlsx", AS_OF, True, "superseded", {"t1_sessions": 99}),
        VersionRow("d" * 64, "2022-H1", "STP", "h1.xlsx", AS_OF, True, "accepted", {"t1_sessions": 7}),
    ]
    past = [
        PastResult(pid, int(pid[:4]), 1, "STP", "on_time", 90.0, "Tốt", 0, 0)
        for pid in ("2023-Q1", "2022-H1")
    ]
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        ledger.record_versions(rows)
        assert history.period_figures(ledger, "2023-Q1") == {
            "STP": {"t1_sessions": 4},
            "SNV": {"t1_sessions": 6},
        }
        h1 = parse_period("2023-H1", schema.calendar)
        compared = history.comparison_totals(schema, ledger, h1, past)
        assert compared["2023-Q1"]["t1_sessions"] == 10 and compared["2022-H1"]["t1_sessions"] == 7
        assert history.comparison_totals(schema, ledger, h1, past[:1]).keys() == {"2023-Q1"}


def test_the_scanner_finds_what_it_looks_for() -> None:
    assert CELL.findall('Ô D7 ghi "mười hai"') == ["D7"]
    assert SHEET_CELL.findall("Số liệu!D7") and HASH.findall("a3f9c2e81b7d")
    assert not CELL.findall("kỳ 2023-Q1, Kế hoạch số 25/KH-UBND, mô hình 540")


def test_report_synthesis(run: dict[str, Any], schema: Schema) -> None:
    result: RunResult = run["result"]
    text = _docx_text(run["outbox"] / result.period.id / f"bao-cao-{result.period.id}.docx")
    plan = schema.papers.plan(2023)
    assert plan is not None and f"Kế hoạch số {plan.number} ngày 15/02/2023" in text
    # Highlights: chosen by each task's own figures, never a unit with nothing in that task.
    chosen = {task: report_tasks.highlights(result, schema, task) for task, _t in schema.template.tasks}
    assert all(chosen.values())
    assert len({tuple(h.unit.unit.code for h in hs) for hs in chosen.values()}) > 1  # not the same list
    for hs in chosen.values():
        assert all(h.value > 0 for h in hs)
        assert all(f"{h.unit.unit.name}: {h.text}" in text for h in hs)
    # General assessment, directions and proposals from the units' own words, grouped.
    for heading in ("IV. ĐÁNH GIÁ CHUNG", "1. Ưu điểm", "2. Hạn chế", "3. Nguyên nhân", "V. PHƯƠNG HƯỚNG"):
        assert heading in text
    proposals = report_tasks.points(result, "n_proposals")
    proposing = [
        u for u in result.units if u.submission is not None and u.submission.values.get("n_proposals")
    ]
    assert 0 < len(proposals) < len(proposing)  # grouped: fewer points than units proposing
    assert sum(p.count for p in proposals) == len(proposing)
    for point in proposals:
        assert f"{point.text[:-1]} ({point.count} đơn vị: " in text
    limitations = report_tasks.points(result, "n_limitations")
    assert limitations and report_tasks.quote(limitations[0]) in text


def test_highlights_are_the_best_by_points_then_figure(run: dict[str, Any], schema: Schema) -> None:
    """The early stop of `highlights` (points read from the largest figure down) chooses what
    reading every unit's points would."""
    result: RunResult = run["result"]
    for task, _title in schema.template.tasks:
        keys = figures.task_value_keys(task)
        every = []
        for i, u in enumerate(result.units):
            sub = u.submission
            if sub is None or not str(sub.values.get(f"n{task}_results") or "").strip():
                continue
            value = sum(
                v
                for k in keys
                if isinstance(v := sub.values.get(k), (int, float)) and not isinstance(v, bool)
            )
            if value <= 0:
                continue
            points = (
                next((c.points for c in u.score.criteria if c.key == f"task{task}"), 0.0) if u.score else 0.0
            )
            every.append((-round(points, 2), -value, i, u.unit.code))
        want = [code for *_k, code in sorted(every)[: report_tasks.HIGHLIGHTS]]
        assert [h.unit.unit.code for h in report_tasks.highlights(result, schema, task)] == want


def test_grouping_rule() -> None:
    points = synthesis.group(
        [
            ("A", "- Đề nghị tỉnh bố trí kinh phí cho hoạt động tuyên truyền.\n- Tăng cường tập huấn."),
            ("B", "Đề nghị tỉnh bố trí kinh phí cho hoạt động tuyên truyền, kiểm tra."),
            ("C", "đề nghị TỈNH bố trí kinh phí cho hoạt động tuyên truyền"),
            ("A", "Đề nghị tỉnh bố trí kinh phí cho hoạt động tuyên truyền."),  # once per unit
            ("D", "Ok"),  # a short text is kept whole
        ]
    )
    assert [(p.count, p.units) for p in points] == [(3, ["A", "B", "C"]), (1, ["A"]), (1, ["D"])]
    assert points[0].text == "Đề nghị tỉnh bố trí kinh phí cho hoạt động tuyên truyền."
    assert synthesis.quote(points[0], names=2) == (
        "Đề nghị tỉnh bố trí kinh phí cho hoạt động tuyên truyền (3 đơn vị: A, B và 1 đơn vị khác)."
    )


# ------------------------------------------------------------------ working days


def test_working_days_skip_holidays_and_follow_the_officer() -> None:
    # 30/4 and 1/5/2023 (with the swapped days 29/4-3/5): from Wed 26/4, 5 working days → 8/5
    assert public_holidays(2023) >= {date(2023, 4, 29), date(2023, 4, 30), date(2023, 5, 1), date(2023, 5, 2)}
    assert add_working_days(date(2023, 4, 26), 5) == date(2023, 5, 8)
    # Tết 2024 (8-14/2) and Tết 2025 (25/1-2/2)
    assert add_working_days(date(2024, 2, 6), 3) == date(2024, 2, 16)
    assert add_working_days(date(2025, 1, 24), 1) == date(2025, 2, 3)
    for start in (date(2024, 2, 1) + timedelta(days=i) for i in range(20)):
        for n in (1, 3, 5):
            assert is_working_day(add_working_days(start, n))
    # An extra day off the officer keeps, and a Saturday worked in exchange.
    assert add_working_days(date(2023, 6, 1), 1, extra_days_off=[date(2023, 6, 2)]) == date(2023, 6, 5)
    assert add_working_days(date(2023, 6, 2), 1, working_days=[date(2023, 6, 3)]) == date(2023, 6, 3)
    assert add_working_days(date(2023, 6, 3), 0) == date(2023, 6, 5)


def test_resubmission_deadline_never_on_a_day_off(schema: Schema) -> None:
    period = parse_period("2023-Q1", schema.calendar)
    for day in range(60):
        as_of = datetime(2023, 3, 1, 9, 0, tzinfo=TZ) + timedelta(days=day)
        by = period.resubmit_by(as_of, schema.calendar)
        assert by >= period.deadline and by > as_of.date()
        assert by == period.deadline or is_working_day(by)
    # Across 30/4: a run on 27/4/2023 gives the 5th working day after it, 9/5.
    assert period.resubmit_by(datetime(2023, 4, 27, 9, 0, tzinfo=TZ), schema.calendar) == date(2023, 5, 9)


def test_the_calendar_needs_no_network(tmp_path: Path) -> None:
    """The holidays come from data inside the package: no socket is opened."""
    import socket

    real = socket.socket

    def refuse(*_a: Any, **_k: Any) -> Any:
        raise AssertionError("network used")

    socket.socket = refuse  # type: ignore[misc,assignment]
    try:
        public_holidays.cache_clear()
        assert date(2026, 9, 2) in public_holidays(2026)
    finally:
        socket.socket = real  # type: ignore[misc]


# ------------------------------------------------------------------ fairness policy


def _sub(schema: Schema, name: str, received: datetime, *, error: bool) -> Submission:
    file = InboxFile(name, Path(name), name.encode().hex().ljust(64, "0")[:64], 1, received, "email", "xlsx")
    issues = [
        make_issue(schema, "value-not-number", file=name, sheet="Số liệu", cell="D8", key="t1_sessions")
    ]
    return Submission(file=file, unit="STP", period="Q1", year=2023, issues=issues if error else [])


def test_fairness_policy(schema: Schema, tmp_path: Path) -> None:
    period = parse_period("2023-Q1", schema.calendar)
    sent = datetime(2023, 3, 17, 10, 0, tzinfo=TZ)  # Friday, on time, rejected
    told = datetime(2023, 3, 17, 16, 0, tzinfo=TZ)  # the run that found it: 5 working days → 24/3
    fixed = datetime(2023, 3, 22, 16, 0, tzinfo=TZ)  # 2 days after the deadline, within grace

    def unit_of(s: Schema, corrected: datetime) -> Any:
        subs = [_sub(s, "a.xlsx", sent, error=True), _sub(s, "b.xlsx", corrected, error=False)]
        units = merge.merge(s, subs, period, AS_OF)
        merge.apply_fairness(s, period, units, {subs[0].file.sha256: told})
        return next(u for u in units if u.unit.code == "STP")

    kept = unit_of(schema, fixed)
    assert kept.status == UnitStatus.ON_TIME and kept.days_late == 0 and kept.resubmitted_in_time
    assert kept.grace_until == date(2023, 3, 24)
    late = unit_of(schema, datetime(2023, 3, 28, 9, 0, tzinfo=TZ))  # past the grace period
    assert late.status == UnitStatus.LATE and late.days_late == 8 and not late.resubmitted_in_time
    strict = unit_of(_with_policy(schema, "corrected_time"), fixed)
    assert strict.status == UnitStatus.LATE and strict.days_late == 2 and strict.grace_until is None
    # The feedback on the rejected file says which policy applies and by when.
    sub = kept.versions[0]
    assert "24/03/2023" in feedback.policy_sentence(schema, sub, period, told, kept.grace_until)
    assert "đã qua" in feedback.policy_sentence(schema, sub, period, AS_OF, kept.grace_until)
    strict_words = feedback.policy_sentence(_with_policy(schema, "corrected_time"), sub, period, told)
    assert "bản đã sửa" in strict_words and "đúng hạn" not in strict_words
    # The day a rejection was first found is kept in the ledger: a later run does not move it.
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        first = ledger.first_rejections("2023-Q1", {sub.file.sha256: told})
        again = ledger.first_rejections("2023-Q1", {sub.file.sha256: AS_OF})
    assert first == again == {sub.file.sha256: told}


def _with_policy(schema: Schema, policy: str) -> Schema:
    calendar = dataclasses.replace(schema.calendar, resubmission_policy=policy)
    return dataclasses.replace(schema, calendar=calendar)


# ------------------------------------------------------------------ feedback, charts, ranking


def test_feedback_only_for_the_version_that_counts(schema: Schema, tmp_path: Path) -> None:
    period = parse_period("2023-Q1", schema.calendar)
    old = _sub(schema, "old.xlsx", datetime(2023, 3, 15, 9, 0, tzinfo=TZ), error=True)
    new = _sub(schema, "new.xlsx", datetime(2023, 3, 16, 9, 0, tzinfo=TZ), error=False)
    new.issues.append(make_issue(schema, "value-not-reported", file="new.xlsx", sheet="Số liệu", cell="D9"))
    units = merge.merge(schema, [old, new], period, AS_OF)
    result = RunResult(period, AS_OF, [old, new], units, {}, rank(units))
    plan = feedback.plan_run_feedback(result, schema)
    workbooks = [rel for rel in plan if "/feedback/" in rel]
    assert workbooks == [f"2023-Q1/feedback/{feedback.feedback_name(new)}"]
    # A stale feedback file of an earlier run is moved to the archive subfolder, not left there.
    folder = tmp_path / "2023-Q1" / "feedback"
    folder.mkdir(parents=True)
    stale = folder / feedback.feedback_name(old)
    stale.write_bytes(b"old")
    feedback.make_folders(plan, tmp_path)
    feedback.write_planned(plan, tmp_path, "2023-Q1", None)
    assert not stale.exists() and (folder / feedback.ARCHIVE_DIR / stale.name).read_bytes() == b"old"
    assert sorted(p.name for p in folder.glob("*.xlsx")) == [feedback.feedback_name(new)]


def test_charts_use_short_names_and_bands(run: dict[str, Any], schema: Schema) -> None:
    result: RunResult = run["result"]
    path = run["outbox"] / result.outputs[0]
    with zipfile.ZipFile(path) as z:
        charts = [z.read(n).decode() for n in sorted(z.namelist()) if n.startswith("xl/charts/chart")]
    scores = next(c for c in charts if "Tổng điểm theo đơn vị" in c)
    labels = [
        html.unescape(x)
        for x in re.findall(r"<c:pt idx=\"\d+\"><c:v>([^<]*)</c:v>", scores.split("<c:val>")[0])
    ]
    ranked = [u for r, u in result.ranking if r is not None]
    assert labels[: len(ranked)] == [u.unit.label for u in ranked]
    assert "Sở Tư pháp" in labels and "An Lão" in labels and not any(u.unit.code in labels for u in ranked)
    for band in (b for b in schema.rubric.bands if b.min > 0):  # a threshold line per band
        assert f"{band.name} từ {int(band.min)} điểm" in scores
    rates = next(c for c in charts if "Tỷ lệ chủ yếu theo nhiệm vụ" in c)
    assert "Nhiệm vụ 1" not in rates and "Nhiệm vụ 3" not in rates  # no rate: no empty bar
    # Numbers are numbers: the summary's score column and the ranking are numeric cells.
    ws = openpyxl.load_workbook(path)["Tổng hợp"]
    scores_cells = [r[4] for r in ws.iter_rows(max_col=5) if isinstance(r[4].value, float)]
    assert scores_cells and all(c.number_format != "General" for c in scores_cells)
    assert not [
        c.value
        for r in ws.iter_rows(max_col=5)
        for c in r
        if isinstance(c.value, str) and re.search(r"\d+,\d+ điểm", c.value)
    ]


def test_ranking_by_band_then_score(run: dict[str, Any], schema: Schema) -> None:
    result: RunResult = run["result"]
    order = [b.name for b in schema.rubric.bands]
    scored = [u for r, u in result.ranking if r is not None and u.score is not None]
    keys = [(order.index(u.score.band), -u.score.total) for u in scored]  # type: ignore[union-attr]
    assert keys == sorted(keys)
    ws = openpyxl.load_workbook(run["outbox"] / result.outputs[0])["Xếp loại"]
    assert any(
        isinstance(c.value, str) and c.value.startswith("Thứ tự xếp hạng: theo mức xếp loại") for c in ws["A"]
    )


def test_issues_csv_for_vietnamese_excel(run: dict[str, Any]) -> None:
    result: RunResult = run["result"]
    raw = (run["outbox"] / result.period.id / f"loi-kiem-tra-{result.period.id}.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline=""), delimiter=";"))
    assert rows[0][:3] == ["Tệp", "Đơn vị", "Trang tính"] and len({len(r) for r in rows}) == 1
