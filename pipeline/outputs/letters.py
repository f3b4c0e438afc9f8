"""The reminder letters (công văn đôn đốc) in the Nghị định 30/2020 layout, one for each unit
that is late, has not reported or was rejected, left for the officer to sign.

A letter is named by the registry's unit code, never by text from a unit's file. It is written
again only when its content changed or the file on disk is not the one written
(pipeline.outputs.written); the letter of a unit that has since reported is removed.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from pathlib import Path

from pipeline.core.model import RunResult, UnitResult
from pipeline.core.schema import Schema
from pipeline.core.statuses import Severity, UnitStatus
from pipeline.core.vietnamese import format_date, format_moment, lower_first
from pipeline.ooxml import docx as word
from pipeline.ooxml.docx import Paper, Run
from pipeline.outputs import vocabulary as vi
from pipeline.outputs.late_list import late_units, received_at
from pipeline.outputs.plain import grace_sentence, plain_issue
from pipeline.outputs.written import WrittenFiles, remove_stale
from pipeline.store.cache import Cache

FOLDER = "cong-van-don-doc"
LETTER_NUMBER = "Số:        /SNV-XDCQ"
_LETTER_NAME = re.compile(r".*\.docx$")
MAX_ERRORS = 15  # errors listed in a letter; the rest are counted


def letter_file_name(code: str) -> str:
    """The letter's file name in the period's FOLDER, from the registry code alone."""
    return f"{re.sub(r'[^0-9A-Za-z_-]', '_', code)}.docx"


def letter_names(result: RunResult) -> dict[str, UnitResult]:
    """Path of each letter, relative to the outbox → its unit (late, missing, rejected: the
    late list's units)."""
    folder = f"{result.period.id}/{FOLDER}"
    return {
        f"{folder}/{letter_file_name(unit.unit.code)}": unit for unit in late_units(result) if unit.unit.code
    }


SUBJECTS = {  # the letter's case → its "V/v" line (Nghị định 30/2020 trích yếu)
    UnitStatus.MISSING: "V/v đôn đốc gửi báo cáo kết quả thực hiện công tác dân vận chính quyền {period}",
    UnitStatus.LATE: "V/v chấn chỉnh việc chậm gửi báo cáo kết quả thực hiện công tác dân vận chính quyền {period}",
    UnitStatus.REJECTED: "V/v hoàn thiện và gửi lại báo cáo kết quả thực hiện công tác dân vận chính quyền {period}",
}


def subject(result: RunResult, unit: UnitResult) -> str:
    template = SUBJECTS.get(unit.status, SUBJECTS[UnitStatus.MISSING])
    return template.format(period=result.period.name_vi)


def plan_citation(schema: Schema, year: int) -> str:
    """ "Kế hoạch số 25/KH-UBND ngày 15/02/2023 của UBND tỉnh về …" as settings give it."""
    plan = schema.papers.plan(year)
    if plan is None or not plan.number:
        return f"Kế hoạch thực hiện công tác dân vận chính quyền năm {year} của UBND tỉnh"
    on = f" ngày {format_date(plan.date)}" if plan.date is not None else ""
    return f"Kế hoạch số {plan.number}{on} của UBND tỉnh về thực hiện công tác dân vận chính quyền năm {year}"


def letter(result: RunResult, schema: Schema, unit: UnitResult) -> Paper:
    """The letter to one unit: not received (đôn đốc), received late (chấn chỉnh, nothing to
    send), rejected (hoàn thiện và gửi lại, each problem in plain words)."""
    rp = result.period
    tz = rp.tz
    today = result.as_of.astimezone(tz).date()
    by = format_date(rp.resubmit_by(result.as_of, schema.calendar))  # as the feedback to units says
    title = subject(result, unit)
    paper = Paper(title, vi.ISSUING_BODY)
    paper.header_block(
        schema.template.agency,
        vi.ISSUING_BODY,
        LETTER_NUMBER,
        title,
        vi.NATION,
        vi.MOTTO,
        vi.place_and_date(today, schema.template.place),
    )
    paper.paragraph([Run("Kính gửi: "), Run(f"{unit.unit.addressee}.")], align="center", space_after=12)
    paper.paragraph(
        f"Thực hiện {plan_citation(schema, rp.year)}, các cơ quan, đơn vị, địa phương báo cáo kết quả "
        f"thực hiện công tác dân vận chính quyền {rp.name_vi} về Sở Nội vụ chậm nhất ngày "
        f"{format_date(rp.deadline)}."
    )
    when = format_moment(result.as_of, tz)
    if unit.status == UnitStatus.MISSING:
        paper.paragraph(f"Đến {when}, Sở Nội vụ chưa nhận được báo cáo {rp.name_vi} của quý cơ quan, đơn vị.")
        paper.paragraph(
            f"Sở Nội vụ đề nghị quý cơ quan, đơn vị gửi báo cáo (theo mẫu thống nhất) về Sở Nội vụ "
            f"chậm nhất ngày {by} để tổng hợp, báo cáo UBND tỉnh và Ban Dân vận Tỉnh ủy."
        )
    elif unit.status == UnitStatus.REJECTED:
        latest = unit.versions[-1] if unit.versions else None
        got = format_moment(latest.file.received_at, tz) if latest is not None else ""
        paper.paragraph(
            f"Báo cáo {rp.name_vi} quý cơ quan, đơn vị gửi về"
            + (f" lúc {got}" if got else "")
            + " chưa hợp lệ nên chưa được tổng hợp. Các nội dung cần hoàn thiện:"
        )
        errors = [i for i in latest.issues if i.severity == Severity.ERROR] if latest is not None else []
        for issue in errors[:MAX_ERRORS]:
            paper.bullet(plain_issue(issue, schema))
        if len(errors) > MAX_ERRORS:
            more = len(errors) - MAX_ERRORS
            paper.bullet(
                f"và {more} nội dung khác (chi tiết trong tệp kết quả kiểm tra gửi kèm thư điện tử)."
            )
        resend = (
            "Đề nghị quý cơ quan, đơn vị hoàn thiện các nội dung trên và gửi lại chính tệp báo cáo về "
            f"Sở Nội vụ chậm nhất ngày {by}."
        )
        grace = unit.grace_until  # the fairness policy (pipeline.core.merge.apply_fairness)
        if grace is not None and format_date(grace) == by:
            resend += (
                " Báo cáo đã gửi trong hạn nên bản hoàn thiện gửi trong thời hạn này được tính là đúng hạn."
            )
        paper.paragraph(resend)
        if grace is not None and format_date(grace) != by:
            paper.paragraph(grace_sentence(grace, today))
    else:  # late: the report is in, the unit is told to keep the deadlines, nothing to send
        got = format_moment(received_at(unit), tz)
        paper.paragraph(
            f"Sở Nội vụ nhận được báo cáo {rp.name_vi} của quý cơ quan, đơn vị lúc {got}, "
            f"chậm {unit.days_late} ngày so với thời hạn quy định; việc chậm báo cáo đã được tính "
            "vào kết quả chấm điểm tiêu chí chấp hành chế độ báo cáo."
        )
        paper.paragraph(
            "Đề nghị quý cơ quan, đơn vị chấn chỉnh, thực hiện nghiêm chế độ báo cáo định kỳ, gửi báo cáo "
            "các kỳ tiếp theo đúng thời hạn quy định."
        )
    # The contact in the closing sentence: the letter keeps to one page.
    contact = schema.papers.contact.sentence().removesuffix(".")
    contact = f" ({lower_first(contact)})" if contact else ""
    paper.paragraph(f"Sở Nội vụ đề nghị quý cơ quan, đơn vị quan tâm thực hiện{contact}./.")
    paper.signature(vi.RECIPIENTS, ["- Như trên;", "- Lãnh đạo Sở;", "- Lưu: VT, XDCQ."], vi.SIGNER)
    return paper


def write_letters(
    result: RunResult,
    schema: Schema,
    outbox: Path,
    letters: dict[str, UnitResult],
    cache: Cache | None,
    on_done: Callable[[], None] | None = None,
) -> None:
    """Write the letters (path relative to the outbox → unit) that changed, and remove the
    letters of earlier runs whose unit no longer gets one."""
    moment = result.as_of.astimezone(result.period.tz)
    files = WrittenFiles(outbox, cache, (f"{result.period.id}/{FOLDER}/",))
    try:
        for rel, unit in letters.items():
            core = word.core_entry(subject(result, unit), vi.ISSUING_BODY, moment)
            body = letter(result, schema, unit).body_xml()
            key = hashlib.sha256(core.data + word.encode(body)).hexdigest()
            if not files.unchanged(rel, key):
                files.write(rel, key, word.package(word.document_entry(body), core))
            if on_done is not None:
                on_done()
        files.commit()
    except BaseException:
        files.abort()
        raise
    # a unit that has since reported gets no letter
    kept = {rel.rpartition("/")[2] for rel in letters}
    remove_stale(outbox / result.period.id / FOLDER, kept, _LETTER_NAME, "công văn cũ")
