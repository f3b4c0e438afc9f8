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

import contextlib
import dataclasses
import hashlib
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import partial
from pathlib import Path

from pipeline import cellref, fill
from pipeline.catalogue import SEVERITY_ORDER, Issue, has_errors
from pipeline.deadlines import ReportingPeriod
from pipeline.feedback_workbook import FORMAT as FORMAT
from pipeline.feedback_workbook import WorkbookJob as WorkbookJob
from pipeline.feedback_workbook import build_chunk
from pipeline.feedback_workbook import build_workbook as build_workbook
from pipeline.model import RunResult, Submission, UnitResult
from pipeline.outputs.atomic import AtomicBatch, OutputError, write_bytes_atomic
from pipeline.outputs.vocabulary import fmt_date, fmt_datetime, severity_vi
from pipeline.schema import Schema

FEEDBACK_DIR = "feedback"
EMAIL_DIR = "thu-phan-hoi"
SIGNATURE = "Sở Nội vụ tỉnh Bình Định"
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
    return sorted((i for i in sub.issues if i.severity in ("error", "warning")), key=_order)


def verdict(sub: Submission) -> Verdict:
    issues = feedback_issues(sub)
    errors = sum(1 for i in issues if i.severity == "error")
    return Verdict(
        accepted=sub.status != "ignored" and not has_errors(sub.issues),
        errors=errors,
        warnings=len(issues) - errors,
    )


def needs_feedback(sub: Submission) -> bool:
    # asked of every file and unit of a national run: no sorting here
    if not sub.issues:
        return False
    return sub.status != "ignored" and any(i.severity in ("error", "warning") for i in sub.issues)


def resubmit_by(schema: Schema, period: ReportingPeriod, as_of: datetime) -> date:
    """As-of date + resubmit_days (schemas/calendar.toml), never before the period's deadline."""
    local = as_of.astimezone(period.tz).date()
    return max(period.deadline, local + timedelta(days=schema.calendar.resubmit_days))


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
    refused = any(i.code.startswith("file-") and i.severity == "error" for i in sub.issues)
    return sub.file.kind in ANNOTATABLE and bool(sub.cells) and not refused


def check_report(
    schema: Schema, sub: Submission, period: ReportingPeriod, as_of: datetime, *, annotated: bool
) -> fill.CheckReport:
    v = verdict(sub)
    deadline = fmt_date(resubmit_by(schema, period, as_of))
    header = [
        ("Đơn vị", _unit_label(schema, sub)),
        ("Kỳ báo cáo", period.name_vi),
        ("Tệp đã gửi", sub.file.name),
        ("Mã SHA-256 của tệp", sub.file.sha256),
    ]
    if sub.file.received_at is not None:
        header.append(("Thời điểm nhận", fmt_datetime(sub.file.received_at, period.tz)))
    header += [
        ("Ngày kiểm tra", fmt_date(as_of.astimezone(period.tz).date())),
        ("Kết quả", _verdict_text(v)),
        ("Hạn gửi lại" if not v.accepted else "Hạn gửi bản sửa (nếu có)", deadline),
    ]
    rows = tuple(
        fill.ReportRow(i.sheet, i.cell, i.message, i.severity, severity_vi(i.severity), i.code)
        for i in feedback_issues(sub)
    )
    footer = (
        "Cách sửa và gửi lại:",
        check_report_where(annotated=annotated),
        "2. Sửa trên tệp báo cáo của đơn vị (mẫu báo cáo của Sở Nội vụ), lưu lại bằng Excel, "
        "LibreOffice hoặc WPS. Không đổi tên trang tính, không chèn hoặc xóa dòng trong mẫu.",
        f"3. Gửi lại tệp đã sửa cho Sở Nội vụ trước hết ngày {deadline}, theo đường đã gửi báo cáo "
        '(thư điện tử hoặc hệ thống quản lý văn bản), ghi rõ "bản sửa" trong tên tệp hoặc trích yếu.',
    )
    return fill.CheckReport(TITLE, tuple(header), rows, footer)


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


def workbook_job(schema: Schema, sub: Submission, period: ReportingPeriod, as_of: datetime) -> WorkbookJob:
    modified = as_of.astimezone(period.tz).replace(tzinfo=None, microsecond=0)
    notes = tuple(
        fill.CellNote(i.sheet, i.cell, i.severity, f"[{severity_vi(i.severity)} – {i.code}] {i.message}")
        for i in feedback_issues(sub)
        if i.sheet and i.cell
    )
    annotated = check_report(schema, sub, period, as_of, annotated=True)
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
    attachment: str,
) -> bytes:
    """The e-mail to a unit about its latest file (UTF-8 with BOM, CRLF line endings)."""
    v = verdict(sub)
    deadline = fmt_date(resubmit_by(schema, period, as_of))
    received = fmt_datetime(sub.file.received_at, period.tz)
    action = "đề nghị sửa và gửi lại" if not v.accepted else "đề nghị xem lại"
    lines = [
        f"Tiêu đề: Kết quả kiểm tra báo cáo công tác dân vận chính quyền {period.name_vi} – {action}",
        "",
        f"Kính gửi: {unit.unit.addressee}",
        "",
        f"Sở Nội vụ tỉnh Bình Định đã nhận báo cáo công tác dân vận chính quyền {period.name_vi} "
        f'của đơn vị (tệp "{sub.file.name}"' + (f", nhận lúc {received}" if received else "") + ").",
        "",
    ]
    if not v.accepted:
        warn = f" và {v.warnings} nội dung cần xem lại" if v.warnings else ""
        lines += [
            f"Qua kiểm tra, báo cáo chưa được tổng hợp vì có {v.errors} lỗi{warn}. "
            f"Đề nghị đơn vị sửa và gửi lại báo cáo trước hết ngày {deadline}.",
        ]
        kept = unit.submission
        if kept is not None and kept is not sub:
            lines.append(
                f'Trong khi chờ bản sửa, Sở Nội vụ tổng hợp bản gửi trước của đơn vị (tệp "{kept.file.name}").'
            )
    else:
        lines += [
            f"Báo cáo đã được tiếp nhận và tổng hợp. Có {v.warnings} nội dung đề nghị đơn vị xem lại; "
            f"nếu cần sửa, đề nghị gửi lại bản sửa trước hết ngày {deadline}.",
        ]
    lines += ["", "Các nội dung cần sửa, xem lại:"]
    for n, i in enumerate(feedback_issues(sub), start=1):
        where = f"{i.sheet}!{i.cell}: " if i.sheet and i.cell else ""
        lines.append(f"{n}. [{severity_vi(i.severity)}] {where}{i.message}")
    lines += [
        "",
        f'Tệp kèm theo ("{attachment}") là chính tệp của đơn vị, các ô cần sửa được tô màu và có ghi chú; '
        'trang đầu "Kết quả kiểm tra" liệt kê các nội dung trên.',
        'Khi gửi lại, đề nghị ghi rõ "bản sửa" trong tên tệp hoặc trích yếu.',
        "",
        "Trân trọng.",
        "",
        SIGNATURE,
    ]
    return _crlf_bom(lines)


def reminder_text(unit: UnitResult, period: ReportingPeriod, as_of: datetime) -> bytes:
    """A short reminder to a unit that has not reported after the deadline."""
    lines = [
        f"Tiêu đề: Đôn đốc gửi báo cáo công tác dân vận chính quyền {period.name_vi}",
        "",
        f"Kính gửi: {unit.unit.addressee}",
        "",
        f"Đến ngày {fmt_date(as_of.astimezone(period.tz).date())}, Sở Nội vụ tỉnh Bình Định chưa nhận được "
        f"báo cáo công tác dân vận chính quyền {period.name_vi} của đơn vị "
        f"(hạn gửi: ngày {fmt_date(period.deadline)}).",
        "Đề nghị đơn vị khẩn trương gửi báo cáo theo mẫu của Sở Nội vụ.",
        "",
        "Trân trọng.",
        "",
        SIGNATURE,
    ]
    return _crlf_bom(lines)


# --- the run's part ------------------------------------------------------------------------------


def _clean_stale(folder: Path, keep: set[str], pattern: re.Pattern[str]) -> None:
    """Remove this module's own files of an earlier run that this run did not write."""
    if not folder.is_dir():
        return
    for path in folder.iterdir():
        if path.is_file() and pattern.match(path.name) and path.name not in keep:
            try:
                path.unlink()
            except OSError as exc:
                raise OutputError(f'Không xóa được tệp cũ "{path}": {exc.strerror or exc}.') from exc


def _mkdir(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f'Không tạo được thư mục "{folder}" ({exc.strerror or exc}).') from exc


Producer = Callable[[], bytes]


def plan_run_feedback(result: RunResult, schema: Schema) -> dict[str, Producer]:
    """Every feedback file of a run (path relative to the outbox → its bytes, built on demand).

    The names are known before anything is built, so the run can check every target first.
    """
    period, as_of = result.period, result.as_of
    plan: dict[str, Producer] = {}
    workbooks: dict[str, str] = {}  # sha256 → file name in feedback/
    for sub in result.files:
        if needs_feedback(sub):
            name = feedback_name(sub)
            workbooks[sub.file.sha256] = name
            plan[f"{period.id}/{FEEDBACK_DIR}/{name}"] = partial(
                build_workbook, workbook_job(schema, sub, period, as_of)
            )
    for unit in result.units:
        latest = unit.versions[-1] if unit.versions else None
        rel = f"{period.id}/{EMAIL_DIR}/{safe_code(unit.unit.code)}.txt"
        if latest is not None and needs_feedback(latest) and latest.file.sha256 in workbooks:
            attachment = workbooks[latest.file.sha256]
            plan[rel] = partial(email_text, schema, unit, latest, period, as_of, attachment)
        elif unit.status == "missing":
            plan[rel] = partial(reminder_text, unit, period, as_of)
    return plan


def make_folders(plan: dict[str, Producer], outbox: Path) -> None:
    for folder in sorted({rel.rpartition("/")[0] for rel in plan}):  # plan keys are "/"-separated
        _mkdir(Path(outbox) / folder)


def _job(p: Producer) -> WorkbookJob | None:
    if isinstance(p, partial) and p.func is build_workbook:
        job = p.args[0]
        assert isinstance(job, WorkbookJob)
        return job
    return None


def _load_index(path: Path) -> dict[str, list[object]]:
    try:
        index = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return index if isinstance(index, dict) else {}


def _still_there(path: str, entry: object, key: str) -> list[object] | None:
    """The index entry [input key, sha256, size, mtime_ns] when the file written for `key` is
    still there unchanged: by size and time, or else by content."""
    if not (isinstance(entry, list) and len(entry) == 4 and entry[0] == key):
        return None
    try:
        stat = os.stat(path)
        if stat.st_size == entry[2] and stat.st_mtime_ns == entry[3]:
            return entry
        if stat.st_size == entry[2] and hashlib.sha256(Path(path).read_bytes()).hexdigest() == entry[1]:
            return [key, entry[1], stat.st_size, stat.st_mtime_ns]
    except OSError:
        pass
    return None


# Feedback workbooks from which a spawned worker builds some of them: below, this process alone
# is done (~0.5 s) before a worker would have started (~0.15 s) and earned its start-up.
PARALLEL_MIN = 200
CHUNK = 8  # workbooks sent to the worker at a time (~25 ms of work)


def _build_all(jobs: dict[str, WorkbookJob], emit: Callable[[str, bytes], None]) -> None:
    """Build the workbooks (~3 ms each), calling emit(rel, bytes) as each is ready.

    From PARALLEL_MIN on, this process and one spawned worker take chunks from the same list
    (the worker's start-up, ~0.2 s, overlaps this process's work); the worker's results are
    emitted here, between chunks. A worker that fails leaves its chunks to this process.
    """
    items = list(jobs.items())
    if len(items) < PARALLEL_MIN or (os.cpu_count() or 1) < 2:
        for rel, job in items:
            emit(rel, build_workbook(job))
        return
    import multiprocessing
    import queue
    import threading
    from collections import deque
    from concurrent.futures import Future, ProcessPoolExecutor

    chunks = deque(items[i : i + CHUNK] for i in range(0, len(items), CHUNK))
    lock = threading.Lock()
    ready: queue.SimpleQueue[tuple[str, bytes]] = queue.SimpleQueue()

    def take() -> list[tuple[str, WorkbookJob]] | None:
        with lock:
            return chunks.popleft() if chunks else None

    def feed(pool: ProcessPoolExecutor) -> None:
        sent: deque[tuple[list[tuple[str, WorkbookJob]], Future[list[bytes]] | None]] = deque()
        try:
            while True:
                while len(sent) < 2 and (chunk := take()) is not None:
                    sent.append((chunk, None))  # held here until the worker has built it
                    sent[-1] = (chunk, pool.submit(build_chunk, [job for _, job in chunk]))
                if not sent:
                    return
                chunk, future = sent[0]
                assert future is not None
                for (rel, _), data in zip(chunk, future.result(), strict=True):
                    ready.put((rel, data))
                sent.popleft()
        except Exception:  # a broken worker: its chunks go back to this process
            with lock:
                chunks.extendleft(reversed([chunk for chunk, _ in sent]))

    def drain() -> None:
        while True:
            try:
                rel, data = ready.get_nowait()
            except queue.Empty:
                return
            emit(rel, data)

    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=ctx) as pool:
        feeder = threading.Thread(target=feed, args=(pool,), name="feedback-feeder", daemon=True)
        feeder.start()
        while True:
            chunk = take()
            if chunk is None:
                feeder.join()
                chunk = take()  # what a failed worker gave back
                if chunk is None:
                    break
            for rel, job in chunk:
                emit(rel, build_workbook(job))
            drain()
    drain()


def write_planned(
    plan: dict[str, Producer], outbox: Path, period_id: str, on_done: Callable[[], None] | None = None
) -> list[str]:
    """Write the planned files atomically and remove this module's files of earlier runs.

    A file whose inputs (workbooks) or bytes (e-mail texts) are those recorded for it by the
    last run, and which is still there unchanged, is not written again; the record is
    outbox/.logs/feedback-<period>.json.
    """
    outbox = Path(outbox)
    base = outbox / period_id
    make_folders(plan, outbox)
    index_path = outbox / ".logs" / f"feedback-{period_id}.json"
    previous = _load_index(index_path)
    index: dict[str, list[object]] = {}
    jobs: dict[str, WorkbookJob] = {}
    keys: dict[str, str] = {}

    def done() -> None:
        if on_done is not None:
            on_done()

    with AtomicBatch() as batch:

        def emit(rel: str, data: bytes) -> None:
            batch.add(outbox / rel, data)
            index[rel] = [keys[rel], hashlib.sha256(data).hexdigest()]
            done()

        for rel, produce in plan.items():
            job = _job(produce)
            data = produce() if job is None else b""
            keys[rel] = job.key() if job is not None else hashlib.sha256(data).hexdigest()
            kept = _still_there(os.path.join(outbox, rel), previous.get(rel), keys[rel])
            if kept is not None:  # same inputs, same bytes already there: not built again
                index[rel] = kept
                done()
            elif job is not None:
                jobs[rel] = job
            else:
                emit(rel, data)
        _build_all(jobs, emit)
        batch.commit()
    for rel, entry in index.items():
        if len(entry) == 2:  # written by this run: record size and time for the next one
            with contextlib.suppress(OSError):
                stat = os.stat(os.path.join(outbox, rel))
                entry += [stat.st_size, stat.st_mtime_ns]
    record = json.dumps(dict(sorted(index.items())), ensure_ascii=False, separators=(",", ":")).encode()
    if record != _read_bytes(index_path):
        with contextlib.suppress(OSError, OutputError):
            index_path.parent.mkdir(exist_ok=True)
            write_bytes_atomic(index_path, record)
    names = {rel.rpartition("/")[2] for rel in plan}
    _clean_stale(base / FEEDBACK_DIR, names, _FEEDBACK_NAME)
    _clean_stale(base / EMAIL_DIR, names, _EMAIL_NAME)
    return list(plan)


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""
