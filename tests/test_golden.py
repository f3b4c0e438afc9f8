"""Golden outputs over a fixed inbox of real files (LibreOffice's bytes, a real e-mail).

The fixture inbox tests/fixtures/inbox-2023-Q1/ was built once by
tests/fixtures/make_fixture_inbox.py and is committed; the golden files in tests/golden/2023-Q1/
were written by tests/golden/regenerate.py. Nothing here regenerates either: the inbox is
copied to a temporary folder and consolidated there, at a fixed as-of.

Golden workbooks are compared the way XlsxWriter's own test suite compares files: unzip both
packages, compare the (sorted) lists of parts, then each part's XML split into one element per
line, after normalising what may differ between two correct runs (see `normalise`). Zip-level
details (entry order, dates, compression) are not compared: they are not the document.

The content tests read the figures back through the pipeline and compare them with the values
written by hand in make_fixture_inbox.REPORTS, never with the sample generator's.
"""

from __future__ import annotations

import csv
import difflib
import email
import io
import json
import re
import zipfile
from datetime import date, datetime, time
from email import policy
from email.header import decode_header, make_header
from email.message import EmailMessage
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest

from pipeline.core.model import RunResult, Submission, UnitResult
from pipeline.core.schema import Schema
from tests.fixtures.make_fixture_inbox import (
    EMAIL,
    EMAIL_DATE,
    EMAIL_RECEIVED,
    PLANTED,
    REPORTS,
    Report,
)
from tests.golden.regenerate import CONSOLIDATED, FIXTURE_INBOX, PERIOD, golden_names, run_fixture

GOLDEN = Path(__file__).resolve().parent / "golden"
GOLDEN_FILES = sorted(p.relative_to(GOLDEN).as_posix() for p in (GOLDEN / PERIOD).rglob("*.xlsx"))
TZ = ZoneInfo("Asia/Ho_Chi_Minh")
DEADLINE_END = datetime.combine(date(2023, 3, 20), time(23, 59, 59), TZ)
ID_KEYS = ("unit_code", "period", "year")  # parsed into Submission.unit / .period / .year
MAX_DIFF_LINES = 40


# --- the run -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[RunResult, Path]:
    """One consolidation of a copy of the fixture inbox (tests/fixtures is never written)."""
    return run_fixture(tmp_path_factory.mktemp("golden-run"))


@pytest.fixture(scope="module")
def run_json(run: tuple[RunResult, Path]) -> dict:
    _, outbox = run
    return json.loads((outbox / PERIOD / "run.json").read_text(encoding="utf-8"))


def unit_result(result: RunResult, code: str) -> UnitResult:
    return next(u for u in result.units if u.unit.code == code)


def submission_of(result: RunResult, report: Report) -> Submission:
    """The file the pipeline read for the report (accepted or not)."""
    return next(s for s in result.files if s.file.name == report.inbox_name)


# --- comparing packages the XlsxWriter way --------------------------------------------------------

# Volatile content, part → (pattern, replacement). Two runs over the same inbox at the same as-of
# give byte-identical files; what is normalised is what a correct change of environment (not of
# our outputs) may change:
# - docProps/core.xml: the document's created/modified/printed dates (stamped by the writer);
# - docProps/app.xml: the writing application's name and version (XlsxWriter's or openpyxl's
#   AppVersion, LibreOffice's build string carried over from the unit's own file).
VOLATILE: dict[str, list[tuple[re.Pattern[str], str]]] = {
    "docProps/core.xml": [
        (re.compile(r"(<dcterms:(created|modified)\b[^>]*>)[^<]*(</dcterms:\2>)"), r"\1\3"),
        (re.compile(r"<cp:lastPrinted>[^<]*</cp:lastPrinted>"), "<cp:lastPrinted/>"),
    ],
    "docProps/app.xml": [
        (re.compile(r"<Application>[^<]*</Application>"), "<Application/>"),
        (re.compile(r"<AppVersion>[^<]*</AppVersion>"), "<AppVersion/>"),
    ],
}
XML_SUFFIXES = (".xml", ".rels", ".vml")


def normalise(part: str, data: bytes) -> list[str]:
    """A part as lines to compare: XML one element per line, volatile values blanked; the
    elements of [Content_Types].xml and of .rels parts sorted (their order has no meaning in
    OPC); any other part as its bytes' hex, 64 bytes a line."""
    if not part.endswith(XML_SUFFIXES):
        hexed = data.hex()
        return [hexed[i : i + 128] for i in range(0, len(hexed), 128)]
    text = data.decode("utf-8").replace("\r\n", "\n")
    for pattern, replacement in VOLATILE.get(part, []):
        text = pattern.sub(replacement, text)
    lines = re.sub(r">\s*<", ">\n<", text.strip()).split("\n")
    if part == "[Content_Types].xml" or part.endswith(".rels"):
        # Keep the XML declaration and the root element where they are; sort the children.
        head, body, tail = lines[:2], lines[2:-1], lines[-1:]
        lines = head + sorted(body) + tail
    return lines


def compare_packages(got: bytes, expected: bytes, label: str) -> list[str]:
    """Every difference between two packages, each naming the part, with a short diff."""
    with zipfile.ZipFile(io.BytesIO(got)) as zg, zipfile.ZipFile(io.BytesIO(expected)) as ze:
        got_parts = {n: zg.read(n) for n in zg.namelist()}
        exp_parts = {n: ze.read(n) for n in ze.namelist()}
    problems: list[str] = []
    if sorted(got_parts) != sorted(exp_parts):
        missing = sorted(set(exp_parts) - set(got_parts))
        extra = sorted(set(got_parts) - set(exp_parts))
        problems.append(f"{label}: parts differ; missing {missing}, unexpected {extra}")
    for part in sorted(set(got_parts) & set(exp_parts)):
        exp_lines, got_lines = normalise(part, exp_parts[part]), normalise(part, got_parts[part])
        if exp_lines == got_lines:
            continue
        diff = list(
            difflib.unified_diff(exp_lines, got_lines, f"golden/{part}", f"output/{part}", n=1, lineterm="")
        )
        shown = [line if len(line) <= 200 else line[:200] + "…" for line in diff[:MAX_DIFF_LINES]]
        more = f"\n… {len(diff) - MAX_DIFF_LINES} more diff lines" if len(diff) > MAX_DIFF_LINES else ""
        problems.append(f"{label}: part {part} differs:\n" + "\n".join(shown) + more)
    return problems


# --- the golden files -----------------------------------------------------------------------------


def test_golden_files_are_the_runs_outputs(run: tuple[RunResult, Path]) -> None:
    """The golden folder holds exactly the consolidated workbook and the planted error's feedback."""
    result, _ = run
    assert sorted(golden_names(result)) == GOLDEN_FILES, (
        "the golden files are not the outputs of this run; if that is on purpose, run "
        "`.venv/bin/python -m tests.golden.regenerate`"
    )
    assert CONSOLIDATED in GOLDEN_FILES


@pytest.mark.parametrize("rel", GOLDEN_FILES)
def test_output_matches_golden(run: tuple[RunResult, Path], rel: str) -> None:
    _, outbox = run
    produced = outbox / rel
    assert produced.is_file(), f"the run did not write {rel}"
    problems = compare_packages(produced.read_bytes(), (GOLDEN / rel).read_bytes(), rel)
    assert not problems, (
        "\n\n".join(problems)
        + "\n\nIf the change is intended, run `.venv/bin/python -m tests.golden.regenerate` and review."
    )


def _repack(data: bytes, edit: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for name in reversed(src.namelist()):  # another entry order: not part of the comparison
            dst.writestr(name, edit.get(name, src.read(name)))
    return out.getvalue()


def test_comparison_ignores_volatile_parts_and_reports_real_changes() -> None:
    golden = (GOLDEN / CONSOLIDATED).read_bytes()
    with zipfile.ZipFile(io.BytesIO(golden)) as zf:
        core = zf.read("docProps/core.xml").decode()
        app = zf.read("docProps/app.xml").decode()
        sheet = zf.read("xl/worksheets/sheet2.xml").decode()
    restamped = {
        "docProps/core.xml": re.sub(
            r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", "2031-12-31T23:59:59Z", core
        ).encode(),
        "docProps/app.xml": re.sub(r"<AppVersion>[^<]*<", "<AppVersion>16.0300<", app).encode(),
    }
    assert restamped["docProps/core.xml"] != core.encode()
    assert compare_packages(_repack(golden, restamped), golden, "x") == []

    number = re.search(r"<v>(\d+)</v>", sheet)
    assert number is not None
    changed = sheet[: number.start(1)] + str(int(number.group(1)) + 1) + sheet[number.end(1) :]
    problems = compare_packages(_repack(golden, {"xl/worksheets/sheet2.xml": changed.encode()}), golden, "x")
    assert len(problems) == 1
    assert "part xl/worksheets/sheet2.xml differs" in problems[0]
    assert (
        f"-<v>{number.group(1)}</v>" in problems[0] and f"+<v>{int(number.group(1)) + 1}</v>" in problems[0]
    )


# --- the fixture inbox itself ---------------------------------------------------------------------


def test_fixture_inbox_is_small_and_untouched(run: tuple[RunResult, Path]) -> None:
    """The committed inbox holds the documented files only, also after the run (on a copy)."""
    names = sorted(p.name for p in FIXTURE_INBOX.iterdir())
    expected = sorted([r.file for r in REPORTS if not r.in_email] + [EMAIL, "receipts.csv"])
    assert names == expected
    assert sum(p.stat().st_size for p in FIXTURE_INBOX.iterdir()) < 1024 * 1024


def _saved_by_libreoffice(data: bytes, fmt: str) -> bool:
    if fmt == "xlsx":
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            app = zf.read("docProps/app.xml").decode()
        return "<Application>LibreOffice/" in app
    if fmt == "ods":
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            meta = zf.read("meta.xml").decode()
            return zf.read("mimetype") == b"application/vnd.oasis.opendocument.spreadsheet" and (
                "<meta:generator>LibreOffice/" in meta
            )
    # BIFF8 in an OLE2 compound file, with the CompObj stream LibreOffice's xls export writes.
    return data.startswith(bytes.fromhex("d0cf11e0a1b11ae1")) and b"Microsoft Excel 97-Tabelle" in data


def _message() -> EmailMessage:
    raw = (FIXTURE_INBOX / EMAIL).read_bytes()
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def _attachment(report: Report) -> bytes:
    attached = [p for p in _message().iter_attachments() if p.get_filename() == report.file]
    assert len(attached) == 1
    payload = attached[0].get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload


@pytest.mark.parametrize("report", REPORTS, ids=lambda r: f"{r.unit}-{r.fmt}")
def test_fixture_files_are_libreoffices_bytes(report: Report) -> None:
    data = _attachment(report) if report.in_email else (FIXTURE_INBOX / report.file).read_bytes()
    assert _saved_by_libreoffice(data, report.fmt)


def test_email_is_a_real_rfc5322_message() -> None:
    raw = (FIXTURE_INBOX / EMAIL).read_bytes()
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert head.isascii(), "headers must be encoded (RFC 2047), not raw UTF-8"
    # Decoded per RFC 2047 by email.header: the From display name is folded into two encoded
    # words in mid-word, which policy.default's address parser reads back with a stray space.
    legacy = email.message_from_bytes(raw)
    decoded = {h: str(make_header(decode_header(legacy[h]))) for h in ("From", "To", "Subject")}
    assert decoded["From"].startswith("Văn phòng HĐND và UBND thành phố Quy Nhơn <")
    assert decoded["To"] == "Sở Nội vụ tỉnh Bình Định <sonoivu@binhdinh.gov.vn>"
    assert "Quý I năm 2023" in decoded["Subject"]
    msg = _message()
    assert msg["Message-ID"] and msg["Received"]
    assert parsedate_to_datetime(str(msg["Date"])) == EMAIL_DATE
    assert str(msg["Received"]).rsplit(";", 1)[1].strip() == format_datetime(EMAIL_RECEIVED)
    body = msg.get_body(("plain",))
    assert body is not None and "Kính gửi" in body.get_content()
    (in_email,) = (r for r in REPORTS if r.in_email)
    assert _attachment(in_email)[:4] == b"PK\x03\x04"


# --- what the pipeline read from the real files ---------------------------------------------------


@pytest.mark.parametrize("report", REPORTS, ids=lambda r: f"{r.unit}-{r.fmt}")
def test_figures_read_back(run: tuple[RunResult, Path], schema: Schema, report: Report) -> None:
    """Every value written into the template comes back, at its cell, from LibreOffice's file."""
    result, _ = run
    sub = submission_of(result, report)
    assert sub.file.kind == report.fmt
    assert (sub.unit, sub.period, sub.year) == (report.unit, "Q1", 2023)
    expected = {k: v for k, v in report.values.items() if k not in ID_KEYS}
    assert sub.values == expected
    where = {f.key: (f.sheet, f.cell) for f in schema.fields}
    for key in expected:
        located = sub.cells[key]
        assert (located.sheet, located.cell) == where[key], key
    if report.status != "rejected":
        assert unit_result(result, report.unit).submission is sub


def test_totals_are_the_sums_of_the_accepted_fixture_figures(run: tuple[RunResult, Path]) -> None:
    result, _ = run
    accepted = [r for r in REPORTS if r.status != "rejected"]
    for key in REPORTS[0].figures:
        assert result.totals[key] == sum(r.figures[key] for r in accepted), key


def test_planted_issues_reported_at_their_cells(run_json: dict) -> None:
    """run.json: the planted error and warning at their cells, with their codes; nothing else."""
    (planted,) = (r for r in REPORTS if r.unit == PLANTED["unit"])
    found: dict[str, set[tuple[str, str, str, str]]] = {}
    for entry in run_json["files"]:
        found[entry["path"]] = {
            (i["code"], i["sheet"], i["cell"], i["severity"])
            for i in entry["issues"]
            if i["severity"] in ("error", "warning")
        }
    error_code, sheet, cell, _ = PLANTED["error"]
    warning_code, w_sheet, w_cell, _ = PLANTED["warning"]
    assert found.pop(planted.inbox_name) == {
        (error_code, sheet, cell, "error"),
        (warning_code, w_sheet, w_cell, "warning"),
    }
    assert all(not issues for issues in found.values()), found
    statuses = {e["path"]: e["status"] for e in run_json["files"]}
    assert statuses[planted.inbox_name] == "rejected"


def test_feedback_workbook_marks_the_planted_cells(run: tuple[RunResult, Path]) -> None:
    result, outbox = run
    (rel,) = [n for n in golden_names(result) if "/feedback/" in n]
    wb = openpyxl.load_workbook(outbox / rel)
    ws = wb[PLANTED["error"][1]]
    for _, _, cell, key in (PLANTED["error"], PLANTED["warning"]):
        assert ws[cell].comment is not None, cell
        (report,) = (r for r in REPORTS if r.unit == PLANTED["unit"])
        assert ws[cell].value == report.figures[key]


def _receipts() -> dict[str, datetime]:
    with (FIXTURE_INBOX / "receipts.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    out = {}
    for row in rows:
        at = datetime.fromisoformat(row["received_at"])
        out[row["file"]] = at if at.tzinfo else at.replace(tzinfo=TZ)
    return out


def test_statuses_follow_receipts(run: tuple[RunResult, Path], run_json: dict) -> None:
    result, _ = run
    receipts = _receipts()
    assert sorted(receipts) == sorted(r.file for r in REPORTS if r.received_at is not None)
    assert sum(at > DEADLINE_END for at in receipts.values()) == 1  # exactly one late receipt
    units = {u["code"]: u for u in run_json["units"]}
    for report in REPORTS:
        sub = submission_of(result, report)
        if report.in_email:
            # Not in receipts.csv: the newest Received header decides, not the Date header.
            assert (sub.file.received_at, sub.file.received_source) == (EMAIL_RECEIVED, "email")
            assert sub.file.received_at != EMAIL_DATE
        else:
            assert (sub.file.received_at, sub.file.received_source) == (receipts[report.file], "receipts")
        got = unit_result(result, report.unit)
        assert (got.status, got.days_late) == (report.status, report.days_late), report.unit
        assert (units[report.unit]["status"], units[report.unit]["days_late"]) == (
            report.status,
            report.days_late,
        )
        if report.status != "rejected":
            assert got.received_at == sub.file.received_at
    # The 27 other registry units sent nothing.
    reported = {r.unit for r in REPORTS}
    assert {u.status for u in result.units if u.unit.code not in reported} == {"missing"}
