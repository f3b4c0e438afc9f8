"""The Vietnamese words every output uses, in one place.

Writers never spell a status, a time source or a date format themselves: they ask here.
"""

from __future__ import annotations

from datetime import date

from pipeline.core.model import PreviousYear, UnitResult
from pipeline.core.schema import Rubric, Schema
from pipeline.core.statuses import FileStatus, Severity, UnitStatus

__all__ = [
    "FILE_STATUS_VI",
    "ISSUING_BODY",
    "PARENT_BODY",
    "RECEIVED_SOURCE_VI",
    "SEVERITY_VI",
    "UNIT_STATUS_VI",
    "band_of",
    "place_and_date",
]

# Unit statuses (UnitResult.status), in the order they are listed everywhere.
UNIT_STATUS_VI: dict[str, str] = {
    UnitStatus.ON_TIME: "Đúng hạn",
    UnitStatus.LATE: "Muộn",
    UnitStatus.MISSING: "Chưa nộp",
    UnitStatus.REJECTED: "Bị trả lại",
    UnitStatus.NOT_DUE: "Chưa đến hạn",
}

# Inbox file statuses (Submission.status).
FILE_STATUS_VI: dict[str, str] = {
    FileStatus.ACCEPTED: "Được tổng hợp",
    FileStatus.SUPERSEDED: "Đã có bản thay thế",
    FileStatus.REJECTED: "Bị trả lại",
    FileStatus.IGNORED: "Bỏ qua",
}

SEVERITY_VI: dict[str, str] = {
    Severity.ERROR: "Lỗi",
    Severity.WARNING: "Cảnh báo",
    Severity.INFO: "Thông tin",
}

# Where the receipt time came from (InboxFile.received_source).
RECEIVED_SOURCE_VI: dict[str, str] = {
    "receipts": "Sổ nhận văn bản",
    "email": "Thư điện tử",
    "ledger": "Thời điểm sửa tệp",
    "mailbox": "Thời điểm thư đến hộp thư của Sở",
}

# Header block of a printed document (Nghị định 30/2020): parent body and issuing body.
PARENT_BODY = "UBND TỈNH BÌNH ĐỊNH"
ISSUING_BODY = "SỞ NỘI VỤ"
NATION = "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"
MOTTO = "Độc lập - Tự do - Hạnh phúc"
SIGNER = "GIÁM ĐỐC"  # who signs the Sở's papers
RECIPIENTS = "Nơi nhận:"  # the label of a paper's recipients' list, left of the signature
PLACE = "Bình Định"

NOT_RECEIVED = "Chưa nhận được báo cáo"
BOOLEANS = ("Có", "Không")  # a yes/no answer of the form, as shown in a cell


def unit_status_vi(status: str) -> str:
    return UNIT_STATUS_VI.get(status, status)


def file_status_vi(status: str) -> str:
    return FILE_STATUS_VI.get(status, status)


def received_source_vi(source: str) -> str:
    return RECEIVED_SOURCE_VI.get(source, source)


def severity_vi(severity: str) -> str:
    return SEVERITY_VI.get(severity, severity)


def place_and_date(d: date, place: str = PLACE) -> str:
    """Place and date line, e.g. "Bình Định, ngày 05 tháng 12 năm 2023".

    Nghị định 30/2020: a leading zero for days below 10 and for months 1 and 2 only.
    """
    month = f"{d.month:02d}" if d.month <= 2 else str(d.month)
    return f"{place}, ngày {d.day:02d} tháng {month} năm {d.year}"


def band_of(unit: UnitResult, rubric: Rubric) -> str:
    """The band shown for a unit: its score's band, else the rubric's text for its status."""
    if unit.score is not None:
        return unit.score.band
    return rubric.status_band(unit.status) or unit.band


def unit_name(schema: Schema, code: str | None) -> str:
    """A unit's name in the registry; its code when the registry does not know it."""
    if not code:
        return ""
    unit = schema.unit_by_code.get(code)
    return unit.name if unit is not None else code


def registry_note(schema: Schema) -> str:
    """The registry a period's outputs used: units.csv by its digest, and the day it was taken at."""
    day = (
        "" if schema.registry_date is None else f" áp dụng ngày {schema.registry_date.strftime('%d/%m/%Y')},"
    )
    return (
        f"Danh sách đơn vị báo cáo: tệp units.csv (SHA-256 {schema.registry_digest[:16]}…),{day}"
        f" {len(schema.units)} đơn vị."
    )


def previous_year_note(py: PreviousYear) -> str:
    """How an output names a previous year that covers several units: "gồm xã A, xã B (chưa có
    số liệu) trước sắp xếp"; a commune or ward written in lower case inside the sentence."""
    if not py.merged:
        return ""
    names = []
    for u in py.covered:
        name = u.in_sentence
        names.append(name + (" (chưa có số liệu)" if u.code in py.missing else ""))
    return "gồm " + ", ".join(names) + " trước sắp xếp"
