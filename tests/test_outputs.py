"""Outputs: the consolidated workbook, the late list, run.json and atomic writes."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

import openpyxl
import pytest

from pipeline import config
from pipeline.core.deadlines import parse_period
from pipeline.core.issues import Issue, make_issue
from pipeline.core.model import (
    Criteria,
    CriterionScore,
    InboxFile,
    RunResult,
    Score,
    Submission,
    UnitResult,
    Version,
)
from pipeline.core.ranking import rank
from pipeline.core.schema import Schema
from pipeline.outputs.late_list import late_units
from pipeline.outputs.plain import plain_issue
from pipeline.outputs.run_report import dump, report
from pipeline.outputs.workbook.data import period_indicators
from pipeline.outputs.write import write_outputs
from pipeline.store.atomic import OutputError, write_atomic, write_bytes_atomic

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
EVIL = '=HYPERLINK("http://x","y")'


@pytest.fixture(scope="module")
def schema() -> Schema:
    return config.load()


def _file(name: str, received: datetime | None, source: str = "email") -> InboxFile:
    return InboxFile(
        name=name,
        path=Path("/nonexistent") / name,
        sha256=(name.encode().hex() * 8)[:64],
        size=1234,
        received_at=received,
        received_source=source,
        kind="xlsx",
    )


def _score(schema: Schema, total: float, band: str, self_score: float | None) -> Score:
    criteria = tuple(
        CriterionScore(
            key=c.key,
            label=c.label,
            points=c.points if i else total - (100 - c.points),
            max_points=c.points,
            rule="quy tắc",
            figures="",
        )
        for i, c in enumerate(schema.rubric.criteria)
    )
    return Score(
        total=total,
        band=band,
        band_rule=f"Đạt {total} điểm: {band}",
        criteria=Criteria(criteria),
        self_score=self_score,
    )


def _values(schema: Schema, seed: int) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for i, f in enumerate(schema.indicators):
        values[f.key] = None if f.applies_to == "district" else seed * 10 + i
    values["n1_results"] = EVIL  # a narrative that looks like a formula
    return values


def make_result(schema: Schema) -> RunResult:
    period = parse_period("2023-Q1", schema.calendar)
    by = schema.unit_by_code
    as_of = datetime(2023, 3, 27, 9, 30, tzinfo=TZ)

    f_snv = _file("snv/bao-cao-q1.xlsx", datetime(2023, 3, 18, 10, 0, tzinfo=TZ), "receipts")
    f_stp = _file("stp.xlsx", datetime(2023, 3, 22, 8, 15, tzinfo=TZ))
    f_qn = _file("quy-nhon.xlsx", datetime(2023, 3, 20, 16, 45, tzinfo=TZ), "ledger")
    f_bad = _file(EVIL, datetime(2023, 3, 19, 7, 5, tzinfo=TZ))

    s_snv = Submission(
        file=f_snv, status="accepted", unit="SNV", period="Q1", year=2023, values=_values(schema, 1)
    )
    s_stp = Submission(
        file=f_stp, status="accepted", unit="STP", period="Q1", year=2023, values=_values(schema, 2)
    )
    s_qn = Submission(
        file=f_qn, status="accepted", unit="540", period="Q1", year=2023, values=_values(schema, 3)
    )
    s_qn.values["t1_sessions"] = None  # not reported: blank, not 0
    error = make_issue(
        schema,
        "value-not-number",
        file=EVIL,
        sheet="Số liệu",
        cell="D8",
        unit="SKHDT",
        key="t1_sessions",
        value="mười",
    )
    s_bad = Submission(
        file=f_bad,
        status="rejected",
        unit="SKHDT",
        period="Q1",
        year=2023,
        issues=[error, Issue("rule-suspicious", "warning", EVIL, "Số liệu", "D9", EVIL, unit="SKHDT")],
    )

    units = [
        UnitResult(
            by["SNV"],
            "on_time",
            s_snv,
            f_snv.received_at,
            0,
            _score(schema, 72.5, "Khá", 80.0),
            "Khá",
            [s_snv],
        ),
        UnitResult(
            by["STP"], "late", s_stp, f_stp.received_at, 2, _score(schema, 90.0, "Khá", None), "Khá", [s_stp]
        ),
        UnitResult(by["SKHDT"], "rejected", None, None, 0, None, "", [s_bad]),
        UnitResult(
            by["540"], "on_time", s_qn, f_qn.received_at, 0, _score(schema, 72.5, "Khá", 70.0), "Khá", [s_qn]
        ),
        UnitResult(by["542"], "missing"),
        UnitResult(by["543"], "on_time", None, None, 0, _score(schema, 40.0, "Yếu", None), "Yếu"),
    ]
    accepted = [s_snv, s_stp, s_qn]
    totals: dict[str, int | float] = {}
    for f in schema.indicators:
        nums: list[int] = [v for s in accepted if isinstance(v := s.values.get(f.key), int)]
        totals[f.key] = sum(nums)
    return RunResult(
        period=period,
        as_of=as_of,
        files=[s_bad, s_qn, s_snv, s_stp],
        units=units,
        totals=totals,
        ranking=rank(units),
    )


def _find_row(ws: Any, col: int, text: str) -> int:
    for row in ws.iter_rows():
        if row[col - 1].value == text:
            return int(row[col - 1].row)
    raise AssertionError(f"{text!r} not found in column {col} of {ws.title}")


@pytest.fixture()
def written(tmp_path: Path, schema: Schema) -> tuple[RunResult, Path, list[str]]:
    result = make_result(schema)
    outputs = write_outputs(result, schema, tmp_path)
    return result, tmp_path, outputs


def test_output_files(written: tuple[RunResult, Path, list[str]]) -> None:
    result, outbox, outputs = written
    feedback = ("2023-Q1/feedback/", "2023-Q1/thu-phan-hoi/")  # pipeline.feedback, see test_feedback.py
    assert [rel for rel in outputs if not rel.startswith(feedback)] == [
        "2023-Q1/tong-hop-2023-Q1.xlsx",
        "2023-Q1/danh-sach-nop-muon-2023-Q1.xlsx",
        "2023-Q1/de-xuat-kiem-tra-2023-Q1.xlsx",
        "2023-Q1/bao-cao-2023-Q1.docx",
        "2023-Q1/loi-kiem-tra-2023-Q1.csv",
        "2023-Q1/bo-kiem-tra-2023-Q1.json",
        "2023-Q1/cong-van-don-doc/STP.docx",
        "2023-Q1/cong-van-don-doc/542.docx",
        "2023-Q1/cong-van-don-doc/SKHDT.docx",
        "2023-Q1/run.json",
    ]
    assert outputs[-1] == "2023-Q1/run.json"
    assert result.outputs == outputs
    for rel in outputs:
        assert (outbox / rel).is_file()
    assert not [p for p in (outbox / "2023-Q1").iterdir() if p.name.endswith(".tmp")]
    wb = openpyxl.load_workbook(outbox / outputs[0])
    assert wb.sheetnames == [  # the leaders' sheets first, then the technical ones, hidden
        "Tổng hợp",
        "Số liệu",
        "Xếp loại",
        "Nộp muộn",
        "Đề xuất kiểm tra",
        "Chi tiết điểm",
        "Thuyết minh",
        "Kiến nghị",
        "Lỗi kiểm tra",
        "Nguồn",
        "Nguồn số liệu",
    ]


def test_data_totals(written: tuple[RunResult, Path, list[str]], schema: Schema) -> None:
    result, outbox, outputs = written
    path = outbox / outputs[0]
    cached = openpyxl.load_workbook(path, data_only=True)["Số liệu"]
    formulas = openpyxl.load_workbook(path)["Số liệu"]
    dept_row = _find_row(cached, 3, "Cộng sở, ban, ngành")
    dist_row = _find_row(cached, 3, "Cộng huyện, thị xã, thành phố")
    grand_row = _find_row(cached, 3, "Tổng cộng")
    # Every unit has a row: departments SNV, STP, SKHDT (rejected) above their subtotal; the
    # districts 540, 542 (missing), 543 between the subtotals; no figures: the status in words.
    assert [cached.cell(r, 2).value for r in range(dept_row - 3, dept_row)] == ["SNV", "STP", "SKHDT"]
    assert [cached.cell(r, 2).value for r in range(dist_row - 3, dist_row)] == ["540", "542", "543"]
    assert dist_row == dept_row + 4 and grand_row == dist_row + 1
    assert cached.cell(dept_row - 1, 4).value == "Báo cáo bị trả lại, chưa tổng hợp"
    assert cached.cell(dist_row - 2, 4).value == "Chưa nộp báo cáo"

    by_code = {u.unit.code: u for u in result.units}
    for i, field in enumerate(period_indicators(schema, "Q1")):
        col = 4 + i
        assert cached.cell(2 + _find_row(cached, 1, "STT"), col).value in (field.unit, None)
        values: list[Any] = [
            by_code[c].submission.values[field.key]  # type: ignore[union-attr]
            for c in ("SNV", "STP", "540")
        ]
        dept = sum(v for v in values[:2] if v is not None)
        dist = sum(v for v in values[2:] if v is not None)
        assert cached.cell(dept_row, col).value == dept
        assert cached.cell(dist_row, col).value == dist
        assert cached.cell(grand_row, col).value == dept + dist == result.totals[field.key]
        assert str(formulas.cell(dept_row, col).value).startswith("=SUM(")
        assert str(formulas.cell(grand_row, col).value).startswith("=SUM(")
    # A blank (not reported) stays blank, not 0.
    col = 4 + [f.key for f in schema.indicators].index("t1_sessions")
    assert cached.cell(dist_row - 3, col).value is None


def test_print_settings(written: tuple[RunResult, Path, list[str]]) -> None:
    _, outbox, outputs = written
    wb = openpyxl.load_workbook(outbox / outputs[0])
    across = ("Số liệu", "Xếp loại", "Nguồn số liệu")  # wide: printed across pages
    technical = ("Lỗi kiểm tra", "Nguồn", "Nguồn số liệu")
    for ws in wb.worksheets:
        assert int(ws.page_setup.paperSize) == 9
        assert (ws.sheet_state == "hidden") == (ws.title in technical), ws.title  # not printed
        if ws.title in across:
            # One scale for every page, never under 70% (12 pt → 8.4 pt); the names repeated.
            assert not ws.sheet_properties.pageSetUpPr or not ws.sheet_properties.pageSetUpPr.fitToPage
            assert 70 <= int(ws.page_setup.scale) <= 100, ws.title
            assert ws.print_title_cols is not None and ws.col_breaks.count >= 1, ws.title
        else:
            assert ws.sheet_properties.pageSetUpPr.fitToPage
            assert int(ws.page_setup.fitToWidth or 1) == 1  # absent means 1 (ECMA-376 default)
            # The sheets fit the width and run on (the summary: tables, then charts).
            height = ws.page_setup.fitToHeight
            assert (1 if height is None else int(height)) == 0, ws.title
        assert ws.page_margins.left == pytest.approx(1.2)
        assert ws.page_margins.right == pytest.approx(0.7)
        assert ws.page_margins.top == pytest.approx(0.8)
        assert "&P" in ws.oddFooter.center.text and "&N" in ws.oddFooter.center.text
        if ws.title != "Tổng hợp":
            assert ws.page_setup.orientation == "landscape"
            assert ws.print_title_rows is not None
            assert ws.freeze_panes is not None
            assert ws.auto_filter.ref is not None
        for row in ws.iter_rows():
            for cell in row:
                if cell.value is not None:
                    assert cell.font.name == "Times New Roman", (ws.title, cell.coordinate)
    assert wb["Tổng hợp"].page_setup.orientation == "portrait"


def test_ranking_ties(written: tuple[RunResult, Path, list[str]]) -> None:
    _, outbox, outputs = written
    ws = openpyxl.load_workbook(outbox / outputs[0])["Xếp loại"]
    header = _find_row(ws, 1, "Hạng")
    rows = [[c.value for c in r] for r in ws.iter_rows(min_row=header + 1, max_row=header + 6)]
    assert [(r[0], r[1]) for r in rows] == [
        (1, "STP"),
        (2, "SNV"),
        (2, "540"),
        (4, "543"),
        (None, "542"),
        (None, "SKHDT"),
    ]
    assert rows[0][3] == 90.0
    assert rows[4][4] == "Không báo cáo"
    assert rows[5][4] == "Chưa đủ điều kiện xếp loại"
    # Self score and difference (self - computed).
    headers = [c.value for c in ws[header]]
    self_col = headers.index("Điểm tự chấm")
    assert rows[1][self_col] == 80.0 and rows[1][self_col + 1] == pytest.approx(7.5)
    assert rows[0][self_col] is None


def test_late_list(written: tuple[RunResult, Path, list[str]], schema: Schema) -> None:
    result, outbox, outputs = written
    assert [u.unit.code for u in late_units(result)] == ["STP", "542", "SKHDT"]
    standalone = openpyxl.load_workbook(outbox / outputs[1])
    assert standalone.sheetnames == ["Nộp muộn"]
    sheets = [standalone["Nộp muộn"], openpyxl.load_workbook(outbox / outputs[0])["Nộp muộn"]]
    contents = []
    for ws in sheets:
        header = _find_row(ws, 1, "STT")
        assert [c.value for c in ws[header]] == [
            "STT",
            "Mã",
            "Đơn vị",
            "Tình trạng",
            "Hạn nộp",
            "Thời điểm nhận",
            "Số ngày muộn",
            "Ghi chú",
        ]
        rows = [[c.value for c in r] for r in ws.iter_rows(min_row=header + 1, max_row=header + 3)]
        assert [r[0] for r in rows] == [1, 2, 3]
        assert [r[1] for r in rows] == ["STP", "542", "SKHDT"]
        assert rows[0][4] == "20/03/2023"
        assert rows[0][5] == "22/03/2023 08:15"
        assert rows[0][6] == 2
        assert rows[1][6] is None and rows[1][7] == "Chưa nhận được báo cáo"
        # The problem in plain words: the form's item, no cell address.
        assert rows[2][7] == plain_issue(result.units[2].versions[0].issues[0], schema)
        assert rows[2][7].startswith('Mục "') and "Số liệu!" not in rows[2][7]
        assert ws.cell(header + 4, 1).value is None
        contents.append(rows)
    assert contents[0] == contents[1]


def test_unit_text_stays_text(written: tuple[RunResult, Path, list[str]]) -> None:
    _, outbox, outputs = written
    wb = openpyxl.load_workbook(outbox / outputs[0])
    issues = wb["Lỗi kiểm tra"]
    header = _find_row(issues, 1, "Tệp")
    assert [c.value for c in issues[header]] == [
        "Tệp",
        "Đơn vị",
        "Trang tính",
        "Ô",
        "Mã lỗi",
        "Mức độ",
        "Nội dung",
    ]
    first = issues.cell(header + 1, 1)
    assert first.value == EVIL and first.data_type == "s" and first.hyperlink is None
    assert issues.cell(header + 1, 2).value == "Sở Kế hoạch và Đầu tư"
    assert issues.cell(header + 1, 6).value == "Lỗi"
    message = issues.cell(header + 2, 7)
    assert message.value == EVIL and message.data_type == "s"
    assert issues.cell(header + 2, 6).value == "Cảnh báo"

    sources = wb["Nguồn"]
    header = _find_row(sources, 1, "Tệp")
    rows = [[c.value for c in r] for r in sources.iter_rows(min_row=header + 1, max_row=header + 4)]
    assert sources.cell(header + 1, 1).data_type == "s"
    assert rows[0][0] == EVIL and rows[0][5] == "Bị trả lại"
    assert rows[1][2] == "20/03/2023 16:45" and rows[1][3] == "Thời điểm sửa tệp"
    assert rows[2][3] == "Sổ nhận văn bản" and rows[2][5] == "Được tổng hợp"
    assert len(str(rows[0][1])) == 64


def test_summary(written: tuple[RunResult, Path, list[str]]) -> None:
    result, outbox, outputs = written
    ws = openpyxl.load_workbook(outbox / outputs[0], data_only=True)["Tổng hợp"]
    # the printed columns A-E (the charts' figures are in hidden columns)
    cells = {str(c.value): c for row in ws.iter_rows(max_col=5) for c in row if isinstance(c.value, str)}
    assert "TỔNG HỢP KẾT QUẢ THỰC HIỆN CÔNG TÁC DÂN VẬN CHÍNH QUYỀN" in cells
    expected = {"Đúng hạn": 3, "Muộn": 1, "Chưa nộp": 1, "Bị trả lại": 1, "Chưa đến hạn": 0}
    for label, count in expected.items():
        row = cells[label].row
        assert ws.cell(row, 4).value == count
        assert ws.cell(row, 5).value == pytest.approx(count / 6)
    assert ws.cell(cells["Tổng số đơn vị phải báo cáo"].row, 4).value == 6
    assert ws.cell(cells["Khá"].row, 4).value == 3
    assert ws.cell(cells["Yếu"].row, 4).value == 1
    assert ws.cell(cells["Tốt"].row, 4).value == 0
    assert ws.cell(cells["Không báo cáo"].row, 4).value == 1
    rate = next(c for t, c in cells.items() if "Tỷ lệ hồ sơ thủ tục hành chính giải quyết đúng hạn" in t).row
    t = result.totals
    assert ws.cell(rate, 5).value == pytest.approx(
        t["t2_dossiers_on_time"] / (t["t2_dossiers_on_time"] + t["t2_dossiers_late"])
    )


def test_run_json(written: tuple[RunResult, Path, list[str]]) -> None:
    _, outbox, outputs = written
    raw = (outbox / outputs[-1]).read_bytes()
    assert raw.endswith(b"\n")
    report = json.loads(raw.decode("utf-8"))
    assert set(report) == {"period", "as_of", "deadline", "outputs", "files", "units", "totals", "registry"}
    assert report["registry"]["file"] == "units.csv" and len(report["registry"]["sha256"]) == 64
    assert report["period"] == "2023-Q1"
    assert report["deadline"] == "2023-03-20"
    assert report["as_of"] == "2023-03-27T09:30:00+07:00"
    assert report["outputs"] == outputs
    assert set(report["files"][0]) == {
        "path",
        "sha256",
        "status",
        "unit",
        "received_at",
        "from_cache",
        "issues",
    }
    assert set(report["files"][0]["issues"][0]) == {"code", "severity", "sheet", "cell", "message"}
    assert report["files"][0]["path"] == EVIL
    units = {u["code"]: u for u in report["units"]}
    assert set(units["STP"]) == {
        "code", "status", "received_at", "days_late", "score", "band", "file", "versions", "history"
    }  # fmt: skip
    assert units["STP"]["days_late"] == 2 and units["STP"]["file"] == "stp.xlsx"
    assert units["542"]["received_at"] is None and units["542"]["score"] is None
    assert units["542"]["band"] == "Không báo cáo"
    assert "Không báo cáo".encode() in raw  # ensure_ascii=False


def test_deterministic(tmp_path: Path, schema: Schema) -> None:
    a = write_outputs(make_result(schema), schema, tmp_path / "a")
    b = write_outputs(make_result(schema), schema, tmp_path / "b")
    assert a == b
    for rel in a:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()
    first = {rel: (tmp_path / "a" / rel).read_bytes() for rel in a}
    write_outputs(make_result(schema), schema, tmp_path / "a")
    assert {rel: (tmp_path / "a" / rel).read_bytes() for rel in a} == first


def test_write_atomic_keeps_old_file(tmp_path: Path) -> None:
    target = tmp_path / "tong-hop.xlsx"
    write_bytes_atomic(target, b"old")

    def broken(fh: IO[bytes]) -> None:
        fh.write(b"half of a new file")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        write_atomic(target, broken)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["tong-hop.xlsx"]
    write_bytes_atomic(target, b"new")
    assert target.read_bytes() == b"new"


def test_write_atomic_locked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "danh-sách.xlsx"
    write_bytes_atomic(target, b"old")

    def locked(src: Any, dst: Any) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "replace", locked)
    with pytest.raises(OutputError) as info:
        write_bytes_atomic(target, b"new")
    assert "danh-sách.xlsx" in str(info.value)
    assert "Đóng tệp rồi chạy lại" in str(info.value)
    monkeypatch.undo()
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["danh-sách.xlsx"]


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs POSIX permissions, not root")
def test_write_atomic_read_only_folder(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(OutputError) as info:
            write_bytes_atomic(folder / "run.json", b"{}")
        assert "run.json" in str(info.value)
    finally:
        folder.chmod(0o755)


def test_write_atomic_folder_refuses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A read-only folder (simulated: root ignores permissions) gives OutputError."""
    import tempfile

    def refuse(*args: Any, **kwargs: Any) -> tuple[int, str]:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(OutputError) as info:
        write_bytes_atomic(tmp_path / "run.json", b"{}")
    assert "run.json" in str(info.value)
    assert not (tmp_path / "run.json").exists()


def test_run_json_is_the_report_value_serialised_once(
    written: tuple[RunResult, Path, list[str]], schema: Schema
) -> None:
    """run.json is the run's report (one value) as run_report.dump writes it: valid JSON, one
    line per file and per unit, awkward text and blanks included."""
    result, outbox, _outputs = written
    on_disk = (outbox / "2023-Q1" / "run.json").read_bytes()
    assert on_disk == dump(report(result, schema))
    odd = 'tệp "lạ"\\\n\t\x01\u2028\U0001f600 ạ.xlsx'
    result.files[0].file.name = odd
    result.files[0].unit = None
    result.files[0].file.received_at = None
    result.files[0].issues.append(Issue("x", "error", odd, None, None, odd))  # type: ignore[arg-type]
    result.units[0].history = [
        Version(1, 2, odd, "a" * 64, datetime(2023, 3, 1, 7, 0, tzinfo=TZ), "superseded", False),
        Version(2, 2, "b.xlsx", "b" * 64, datetime(2023, 3, 2, 7, 0, 0, 5, tzinfo=TZ), "accepted", True),
    ]
    result.units[1].days_late = 10**20
    result.totals["t1_sessions"] = 1.5e-7
    data = dump(report(result, schema))
    back = json.loads(data)
    assert back["files"][0]["path"] == odd and back["files"][0]["from_cache"] is False
    assert back["units"][0]["versions"][0]["file"] == odd and back["units"][1]["days_late"] == 10**20
    assert back["totals"]["t1_sessions"] == 1.5e-7
    lines = data.decode("utf-8").splitlines()
    assert len(lines) == len([ln for ln in lines if ln.strip()])  # no blank line
    assert sum(1 for ln in lines if ln.startswith('    {"days_late"') or ln.startswith('    {"band"')) == len(
        result.units
    )
