"""Feedback to units: the annotated workbook of each file with errors or warnings, and a
ready-to-send e-mail text per unit.

outbox/<period>/feedback/<unit code>-<sha256[:12]>.xlsx — the unit's own file (never the inbox
copy: it is loaded, annotated and saved here) with every offending cell filled by severity and
commented, and a first sheet "Kết quả kiểm tra" listing what to fix and by when. Only .xlsx/.xlsm
files can be annotated; for .xls, .ods or a file openpyxl cannot load, the workbook holds the
"Kết quả kiểm tra" sheet alone.

outbox/<period>/thu-phan-hoi/<unit code>.txt — the e-mail text (UTF-8 with BOM, CRLF) for each
unit whose latest file has errors (đề nghị sửa và gửi lại) or warnings (đề nghị xem lại), and a
reminder for each unit that has not reported after the deadline.

File names come from the registry's unit code and the file's hash, never from text the unit
wrote. The openpyxl work itself is in pipeline.fill.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import partial
from pathlib import Path

from pipeline.core import cellref
from pipeline.core.deadlines import ReportingPeriod
from pipeline.core.issues import Issue, has_errors
from pipeline.core.model import RunResult, Submission, UnitResult
from pipeline.core.schema import Schema
from pipeline.core.statuses import SEVERITY_ORDER, FileStatus, Severity, UnitStatus
from pipeline.core.vietnamese import format_date, format_datetime
from pipeline.ooxml.annotate import CellNote, CheckReport, ReportRow, Wording
from pipeline.outputs.feedback_workbook import WorkbookJob, build_workbook
from pipeline.outputs.plain import grace_sentence, plain_issue
from pipeline.outputs.vocabulary import severity_vi
from pipeline.outputs.written import WrittenFiles, remove_stale
from pipeline.runtime.pool import Failure, Limits, Pool
from pipeline.store.atomic import OutputError, make_folder, write_bytes_atomic
from pipeline.store.cache import Cache

FEEDBACK_DIR = "feedback"
EMAIL_DIR = "thu-phan-hoi"
ARCHIVE_DIR = "luu-tru"  # feedback of versions that no longer count, moved out of the way
SIGNATURE = "Sở Nội vụ tỉnh Bình Định"
# The feedback workbook's words (pipeline.ooxml holds none): its first sheet's name and column
# headings, and the author of its comments (an earlier comment by another author is kept).
FEEDBACK_SHEET = "Kết quả kiểm tra"
COMMENT_AUTHOR = SIGNATURE
HEADINGS = ("STT", "Trang tính", "Ô", "Nội dung cần sửa", "Mức độ", "Mã lỗi")
WORDING = Wording(FEEDBACK_SHEET, HEADINGS, COMMENT_AUTHOR)
UNKNOWN_UNIT = "chua-ro-don-vi"
TITLE = "KẾT QUẢ KIỂM TRA BÁO CÁO CÔNG TÁC DÂN VẬN CHÍNH QUYỀN"
ANNOTATABLE = ("xlsx",)  # sniffed kinds openpyxl can load (.xlsx and .xlsm)

_SAFE = re.compile(r"[^A-Za-z0-9_-]+")
_FEEDBACK_NAME = re.compile(r"^[A-Za-z0-9_-]+-[0-9a-f]{12}\.xlsx$")
_EMAIL_NAME = re.compile(r"^[A-Za-z0-9_-]+\.txt$")


@dataclass(frozen=True)
class Verdict:
    accepted: bool
    errors: int
    warnings: int


def _order(issue: Issue) -> tuple[int, str, int, int, str]:
    """Errors first, then by sheet, row and column (D7 before D17), then code."""
    try:
        row, col = cellref.from_a1(issue.cell)
    except ValueError:
        row, col = -1, -1
    return (SEVERITY_ORDER.get(issue.severity, 9), issue.sheet, row, col, issue.code)


def feedback_issues(sub: Submission) -> list[Issue]:
    """What the unit has to fix or look at: errors and warnings, in a stable order."""
    return sorted((i for i in sub.issues if i.severity in (Severity.ERROR, Severity.WARNING)), key=_order)


def verdict(sub: Submission, issues: list[Issue] | None = None) -> Verdict:
    """Accepted or not, and how many errors and warnings (`issues`: feedback_issues(sub), when
    the caller has them already)."""
    issues = feedback_issues(sub) if issues is None else issues
    errors = sum(1 for i in issues if i.severity == Severity.ERROR)
    return Verdict(
        accepted=sub.status != FileStatus.IGNORED and not has_errors(sub.issues),
        errors=errors,
        warnings=len(issues) - errors,
    )


def needs_feedback(sub: Submission) -> bool:
    # asked of every file and unit of a national run: no sorting here
    if not sub.issues:
        return False
    return sub.status != FileStatus.IGNORED and any(
        i.severity in (Severity.ERROR, Severity.WARNING) for i in sub.issues
    )


def safe_code(text: str | None) -> str:
    return _SAFE.sub("", text or "")[:40] or UNKNOWN_UNIT


def feedback_name(sub: Submission) -> str:
    """<unit code>-<sha256[:12]>.xlsx: from the registry code and the bytes, nothing else."""
    digest = sub.file.sha256[:12] if re.fullmatch(r"[0-9a-f]{64}", sub.file.sha256) else "0" * 12
    return f"{safe_code(sub.unit)}-{digest}.xlsx"


def _verdict_text(v: Verdict) -> str:
    if not v.accepted:
        extra = f" và {v.warnings} cảnh báo cần xem lại" if v.warnings else ""
        return f"Bị trả lại: có {v.errors} lỗi phải sửa{extra}. Đề nghị sửa và gửi lại."
    return f"Được chấp nhận, có {v.warnings} cảnh báo. Đề nghị xem lại; nếu cần sửa thì gửi lại bản sửa."


def _unit_label(schema: Schema, sub: Submission) -> str:
    unit = schema.unit_by_code.get(sub.unit or "")
    return f"{unit.name} (mã {unit.code})" if unit else "Chưa xác định được đơn vị"


def annotatable(sub: Submission) -> bool:
    """Only a file that was read as a workbook (in the guarded reader) is opened with openpyxl:
    never one that screening or reading refused (too large, a zip bomb, encrypted, crashed)."""
    refused = any(i.code.startswith("file-") and i.severity == Severity.ERROR for i in sub.issues)
    return sub.file.kind in ANNOTATABLE and bool(sub.cells) and not refused


def check_report(
    schema: Schema,
    sub: Submission,
    period: ReportingPeriod,
    as_of: datetime,
    *,
    annotated: bool,
    issues: list[Issue] | None = None,
    grace: date | None = None,
) -> CheckReport:
    issues = feedback_issues(sub) if issues is None else issues
    v = verdict(sub, issues)
    deadline = format_date(period.resubmit_by(as_of, schema.calendar))
    header = [
        ("Đơn vị", _unit_label(schema, sub)),
        ("Kỳ báo cáo", period.name_vi),
        ("Tệp đã gửi", sub.file.name),
        ("Mã SHA-256 của tệp", sub.file.sha256),
    ]
    if sub.file.received_at is not None:
        header.append(("Thời điểm nhận", format_datetime(sub.file.received_at, period.tz)))
    header += [
        ("Ngày kiểm tra", format_date(as_of.astimezone(period.tz).date())),
        ("Kết quả", _verdict_text(v)),
        ("Hạn gửi lại" if not v.accepted else "Hạn gửi bản sửa (nếu có)", deadline),
    ]
    rows = tuple(
        ReportRow(i.sheet, i.cell, i.message, i.severity, severity_vi(i.severity), i.code) for i in issues
    )
    footer = (
        "Cách sửa và gửi lại:",
        check_report_where(annotated=annotated),
        "2. Sửa trên tệp báo cáo của đơn vị (mẫu báo cáo của Sở Nội vụ), lưu lại bằng Excel, "
        "LibreOffice hoặc WPS. Không đổi tên trang tính, không chèn hoặc xóa dòng trong mẫu.",
        f"3. Gửi lại tệp đã sửa cho Sở Nội vụ chậm nhất ngày {deadline}, theo đường đã gửi báo cáo "
        '(thư điện tử hoặc hệ thống quản lý văn bản), ghi rõ "bản sửa" trong tên tệp hoặc trích yếu.',
        *((policy,) if (policy := policy_sentence(schema, sub, period, as_of, grace)) else ()),
    )
    return CheckReport(TITLE, tuple(header), rows, footer, WORDING)


def policy_sentence(
    schema: Schema, sub: Submission, period: ReportingPeriod, as_of: datetime, grace: date | None = None
) -> str:
    """Which fairness policy applies to a rejected file (schemas/calendar.toml
    resubmission_policy) and what it means for it; "" for an accepted file. `grace`: the unit's
    grace deadline (UnitResult.grace_until); without it, a file received on time is told now, so
    its grace runs from `as_of`, as pipeline.core.merge.apply_fairness counts it."""
    if not has_errors(sub.issues):
        return ""
    if schema.calendar.resubmission_policy != "on_time":
        return "Thời hạn báo cáo được tính theo thời điểm Sở Nội vụ nhận được bản đã sửa hợp lệ."
    if grace is None:
        at = sub.file.received_at
        if at is None or at > period.deadline_end:
            return (
                "Báo cáo này gửi sau hạn: thời hạn báo cáo được tính theo thời điểm nhận bản đã sửa hợp lệ."
            )
        grace = period.resubmit_by(as_of, schema.calendar)
    return grace_sentence(grace, as_of.astimezone(period.tz).date())


def check_report_where(*, annotated: bool) -> str:
    """The footer's first step: where to look (the flagged cells, or the addresses listed)."""
    if annotated:
        return (
            "1. Các ô có lỗi được tô màu đỏ, ô cần xem lại tô màu cam; đưa chuột vào ô để đọc ghi chú. "
            'Bấm vào địa chỉ ở cột "Ô" để đến ô đó.'
        )
    return (
        "1. Tệp đã gửi không ghi chú trực tiếp được (không phải tệp .xlsx): đề nghị mở tệp gốc "
        "của đơn vị và sửa theo địa chỉ trang tính, ô nêu trên."
    )


def workbook_job(
    schema: Schema, sub: Submission, period: ReportingPeriod, as_of: datetime, grace: date | None = None
) -> WorkbookJob:
    # Document dates are written as UTC ("...Z"): the run's moment in UTC, not local time.
    modified = as_of.astimezone(UTC).replace(tzinfo=None, microsecond=0)
    issues = feedback_issues(sub)
    notes = tuple(
        CellNote(i.sheet, i.cell, i.severity, f"[{severity_vi(i.severity)} – {i.code}] {i.message}")
        for i in issues
        if i.sheet and i.cell
    )
    annotated = check_report(schema, sub, period, as_of, annotated=True, issues=issues, grace=grace)
    where = check_report_where(annotated=False)
    alone = dataclasses.replace(annotated, footer=(annotated.footer[0], where, *annotated.footer[2:]))
    return WorkbookJob(
        source=sub.file.path if annotatable(sub) else None,
        sha256=sub.file.sha256,
        notes=notes,
        annotated=annotated,
        alone=alone,
        modified=modified,
    )


def feedback_workbook(schema: Schema, sub: Submission, period: ReportingPeriod, as_of: datetime) -> bytes:
    """The bytes of the feedback workbook of one submission (deterministic for the same inputs)."""
    return build_workbook(workbook_job(schema, sub, period, as_of))


def write_feedback_file(
    schema: Schema, sub: Submission, period: ReportingPeriod, as_of: datetime, folder: Path
) -> Path:
    """Write one feedback workbook into `folder` (created when missing); returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / feedback_name(sub)
    if target.resolve().parent != folder.resolve():  # cannot happen with safe names; stay inside
        raise OutputError(f'Tên tệp phản hồi không hợp lệ: "{target.name}".')
    write_bytes_atomic(target, feedback_workbook(schema, sub, period, as_of))
    return target


# --- e-mail texts ------------------------------------------------------------------------------


def _crlf_bom(lines: list[str]) -> bytes:
    return ("\ufeff" + "\r\n".join(lines) + "\r\n").encode("utf-8")


def email_text(
    schema: Schema,
    unit: UnitResult,
    sub: Submission,
    period: ReportingPeriod,
    as_of: datetime,
) -> bytes:
    """The e-mail to a unit about its latest file (UTF-8 with BOM, CRLF line endings)."""
    issues = feedback_issues(sub)
    v = verdict(sub, issues)
    deadline = format_date(period.resubmit_by(as_of, schema.calendar))
    received = format_datetime(sub.file.received_at, period.tz)
    action = "đề nghị sửa và gửi lại" if not v.accepted else "đề nghị xem lại"
    lines = [
        f"Tiêu đề: Kết quả kiểm tra báo cáo công tác dân vận chính quyền {period.name_vi} – {action}",
        "",
        f"Kính gửi: {unit.unit.addressee}",
        "",
        f"{schema.template.receiver} đã nhận báo cáo công tác dân vận chính quyền {period.name_vi} "
        f'của đơn vị (tệp "{sub.file.name}"' + (f", nhận lúc {received}" if received else "") + ").",
        "",
    ]
    if not v.accepted:
        warn = f" và {v.warnings} nội dung cần xem lại" if v.warnings else ""
        lines += [
            f"Qua kiểm tra, báo cáo chưa được tổng hợp vì có {v.errors} lỗi{warn}. "
            f"Đề nghị đơn vị sửa và gửi lại báo cáo chậm nhất ngày {deadline}.",
        ]
        policy = policy_sentence(schema, sub, period, as_of, unit.grace_until)
        if policy:
            lines.append(policy)
        kept = unit.submission
        if kept is not None and kept is not sub:
            lines.append(
                f'Trong khi chờ bản sửa, Sở Nội vụ tổng hợp bản gửi trước của đơn vị (tệp "{kept.file.name}").'
            )
    else:
        lines += [
            f"Báo cáo đã được tiếp nhận và tổng hợp. Có {v.warnings} nội dung đề nghị đơn vị xem lại; "
            f"nếu cần sửa, đề nghị gửi lại bản sửa chậm nhất ngày {deadline}.",
        ]
    lines += ["", "Các nội dung cần sửa, xem lại:"]
    for n, i in enumerate(issues, start=1):
        lines.append(f"{n}. [{severity_vi(i.severity)}] {plain_issue(i, schema)}")
    lines += [
        "",
        # The attachment is named by the unit's code and a part of the file's hash: the officer
        # attaches it (feedback/<code>-….xlsx), the unit reads no hash in the text.
        "Tệp kèm theo là chính tệp của đơn vị, các ô cần sửa được tô màu và có ghi chú; "
        'trang đầu "Kết quả kiểm tra" liệt kê các nội dung trên.',
        'Khi gửi lại, đề nghị ghi rõ "bản sửa" trong tên tệp hoặc trích yếu.',
        *_contact(schema),
        "",
        "Trân trọng.",
        "",
        schema.template.receiver,
    ]
    return _crlf_bom(lines)


def _contact(schema: Schema) -> list[str]:
    sentence = schema.papers.contact.sentence()
    return [sentence] if sentence else []


def reminder_text(schema: Schema, unit: UnitResult, period: ReportingPeriod, as_of: datetime) -> bytes:
    """A short reminder to a unit that has not reported after the deadline, with the date by
    which to send (as the letter says), signed by the configuration's consolidating department."""
    by = format_date(period.resubmit_by(as_of, schema.calendar))
    signature = schema.template.receiver
    lines = [
        f"Tiêu đề: Đôn đốc gửi báo cáo công tác dân vận chính quyền {period.name_vi}",
        "",
        f"Kính gửi: {unit.unit.addressee}",
        "",
        f"Đến ngày {format_date(as_of.astimezone(period.tz).date())}, {signature} chưa nhận được "
        f"báo cáo công tác dân vận chính quyền {period.name_vi} của đơn vị "
        f"(hạn gửi: ngày {format_date(period.deadline)}).",
        f"Đề nghị đơn vị gửi báo cáo theo mẫu của Sở Nội vụ chậm nhất ngày {by}.",
        *_contact(schema),
        "",
        "Trân trọng.",
        "",
        signature,
    ]
    return _crlf_bom(lines)


# --- the run's part ------------------------------------------------------------------------------

# Feedback workbooks from which the worker processes build them: below, this process is done
# before workers would have started and earned their start-up (docs/performance.md).
PARALLEL_MIN = 200
BUILD_LIMITS = Limits(processes=2, timeout=60.0, memory=1 << 30, batch=8)


@dataclass(frozen=True)
class Planned:
    """One feedback file of a run: a workbook (built from its job) or an e-mail text."""

    job: WorkbookJob | None
    text: Callable[[], bytes] | None = None


def plan_run_feedback(result: RunResult, schema: Schema) -> dict[str, Planned]:
    """Every feedback file of a run (path relative to the outbox → what it is made of).

    The names are known before anything is built, so the run can check every target first.
    """
    period, as_of = result.period, result.as_of
    plan: dict[str, Planned] = {}
    workbooks: dict[str, str] = {}  # sha256 → file name in feedback/
    # Only the version that counts gets feedback: a unit's latest file; a file no unit owns
    # (unknown unit, not a report of this period) is answered on its own.
    counts = {u.versions[-1].file.sha256: u.grace_until for u in result.units if u.versions}
    owned = {s.file.sha256 for u in result.units for s in u.versions}
    for sub in result.files:
        if needs_feedback(sub) and (sub.file.sha256 in counts or sub.file.sha256 not in owned):
            name = feedback_name(sub)
            workbooks[sub.file.sha256] = name
            grace = counts.get(sub.file.sha256)
            plan[f"{period.id}/{FEEDBACK_DIR}/{name}"] = Planned(
                workbook_job(schema, sub, period, as_of, grace)
            )
    for unit in result.units:
        latest = unit.versions[-1] if unit.versions else None
        rel = f"{period.id}/{EMAIL_DIR}/{safe_code(unit.unit.code)}.txt"
        if latest is not None and needs_feedback(latest) and latest.file.sha256 in workbooks:
            plan[rel] = Planned(None, partial(email_text, schema, unit, latest, period, as_of))
        elif unit.status == UnitStatus.MISSING:
            plan[rel] = Planned(None, partial(reminder_text, schema, unit, period, as_of))
    return plan


def make_folders(plan: dict[str, Planned], outbox: Path) -> None:
    """The folders of the planned files (before their targets are checked, then written)."""
    for folder in sorted({rel.rpartition("/")[0] for rel in plan}):  # plan keys are "/"-separated
        make_folder(Path(outbox) / folder)


def _built_here(job: WorkbookJob, failure: Failure) -> bytes:
    """A workbook the workers could not build, built in this process: whole when it could not
    be sent to them; the report sheet alone when its build crashed or overran (the unit's file
    is not opened again here)."""
    if failure.kind == "unsendable":
        return build_workbook(job)
    return build_workbook(dataclasses.replace(job, source=None))


def build_all(jobs: list[WorkbookJob], on_done: Callable[[int], None] | None = None) -> list[bytes]:
    """The workbooks' bytes, in order: in this process for a few, else in worker processes."""
    if len(jobs) < PARALLEL_MIN:
        built = []
        for job in jobs:
            built.append(build_workbook(job))
            if on_done is not None:
                on_done(1)
        return built
    with Pool[WorkbookJob, bytes]("pipeline.outputs.feedback_workbook", None, BUILD_LIMITS) as pool:
        return pool.map(jobs, _built_here, on_done)


def write_planned(
    plan: dict[str, Planned],
    outbox: Path,
    period_id: str,
    cache: Cache | None,
    on_done: Callable[[int], None] | None = None,
) -> list[str]:
    """Write the planned files atomically (into the folders make_folders made) and remove this
    module's files of earlier runs.

    A file whose inputs are those it was last written for, and which is still there unchanged,
    is not built or written again (pipeline.outputs.written): a workbook's key is its job's, a
    text's is the text itself.
    """
    outbox = Path(outbox)
    base = outbox / period_id
    files = WrittenFiles(outbox, cache, (f"{period_id}/{FEEDBACK_DIR}/", f"{period_id}/{EMAIL_DIR}/"))
    try:
        jobs: dict[str, tuple[WorkbookJob, str]] = {}
        for rel, planned in plan.items():
            if planned.job is not None:
                key = planned.job.key()
                if not files.unchanged(rel, key):
                    jobs[rel] = (planned.job, key)
                    continue
            else:
                assert planned.text is not None
                data = planned.text()
                key = hashlib.sha256(data).hexdigest()
                if not files.unchanged(rel, key):
                    files.write(rel, key, data)
            if on_done is not None:
                on_done(1)
        built = build_all([job for job, _ in jobs.values()], on_done)
        for (rel, (_, key)), data in zip(jobs.items(), built, strict=True):
            files.write(rel, key, data)
        files.commit()
    except BaseException:
        files.abort()
        raise
    names = {rel.rpartition("/")[2] for rel in plan}
    remove_stale(base / FEEDBACK_DIR, names, _FEEDBACK_NAME, "tệp cũ", ARCHIVE_DIR)
    remove_stale(base / EMAIL_DIR, names, _EMAIL_NAME, "tệp cũ")
    return list(plan)
