"""The Vietnamese words every output uses, in one place.

Writers never spell a status, a time source or a date format themselves: they ask here.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from pipeline.catalogue import SEVERITY_VI
from pipeline.model import UnitResult

__all__ = [
    "FILE_STATUS_VI",
    "ISSUING_BODY",
    "PARENT_BODY",
    "RECEIVED_SOURCE_VI",
    "SEVERITY_VI",
    "STATUS_ORDER",
    "UNIT_STATUS_VI",
    "band_of",
    "fmt_date",
    "fmt_datetime",
    "place_and_date",
]

# Unit statuses (UnitResult.status), in the order they are listed everywhere.
UNIT_STATUS_VI: dict[str, str] = {
    "on_time": "Đúng hạn",
    "late": "Muộn",
    "missing": "Chưa nộp",
    "rejected": "Bị trả lại",
    "not_due": "Chưa đến hạn",
}
STATUS_ORDER: dict[str, int] = {s: i for i, s in enumerate(UNIT_STATUS_VI)}

# Inbox file statuses (Submission.status).
FILE_STATUS_VI: dict[str, str] = {
    "accepted": "Được tổng hợp",
    "superseded": "Đã có bản thay thế",
    "rejected": "Bị trả lại",
    "ignored": "Bỏ qua",
}

# Where the receipt time came from (InboxFile.received_source).
RECEIVED_SOURCE_VI: dict[str, str] = {
    "receipts": "Sổ nhận văn bản",
    "email": "Thư điện tử",
    "ledger": "Thời điểm sửa tệp",
}

# Header block of a printed document (Nghị định 30/2020): parent body and issuing body.
PARENT_BODY = "UBND TỈNH BÌNH ĐỊNH"
ISSUING_BODY = "SỞ NỘI VỤ"
NATION = "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"
MOTTO = "Độc lập - Tự do - Hạnh phúc"
PLACE = "Bình Định"

NOT_RECEIVED = "Chưa nhận được báo cáo"


def unit_status_vi(status: str) -> str:
    return UNIT_STATUS_VI.get(status, status)


def file_status_vi(status: str) -> str:
    return FILE_STATUS_VI.get(status, status)


def received_source_vi(source: str) -> str:
    return RECEIVED_SOURCE_VI.get(source, source)


def severity_vi(severity: str) -> str:
    return SEVERITY_VI.get(severity, severity)


def fmt_date(d: date) -> str:
    """dd/mm/yyyy."""
    return f"{d.day:02d}/{d.month:02d}/{d.year:04d}"


def fmt_datetime(dt: datetime | None, tz: ZoneInfo) -> str:
    """dd/mm/yyyy hh:mm in local time; "" for no time."""
    if dt is None:
        return ""
    local = dt.astimezone(tz) if dt.tzinfo is not None else dt
    return f"{fmt_date(local.date())} {local.hour:02d}:{local.minute:02d}"


def place_and_date(d: date) -> str:
    """Place and date line, e.g. "Bình Định, ngày 05 tháng 12 năm 2023".

    Nghị định 30/2020: a leading zero for days below 10 and for months 1 and 2 only.
    """
    month = f"{d.month:02d}" if d.month <= 2 else str(d.month)
    return f"{PLACE}, ngày {d.day:02d} tháng {month} năm {d.year}"


def band_of(unit: UnitResult, rubric: dict[str, Any]) -> str:
    """The band shown for a unit: its score's band, else the rubric's text for its status."""
    if unit.score is not None:
        return unit.score.band
    statuses: dict[str, str] = rubric.get("statuses", {})
    if unit.status in statuses:
        return statuses[unit.status]
    return unit.band
