"""`mail send`: one message per unit that needs one, from what a consolidation wrote in
outbox/<period>/: the reminder letter (cong-van-don-doc/), the feedback workbook of the unit's
latest file (feedback/) and the e-mail text (thu-phan-hoi/).

Without `send` it is a dry run: every message is written under outbox/<period>/thu-gui/ and no
server is touched. With it, each message is sent and recorded in the ledger at once, with the
digest of what it tells the unit (`substance`): a rerun sends only a message whose substance
changed (a new letter or new feedback after a resubmission), never the same one twice.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pipeline.core.deadlines import ReportingPeriod
from pipeline.core.errors import InputError
from pipeline.core.schema import Schema, Unit
from pipeline.mail import message
from pipeline.mail.message import Attachment, Text
from pipeline.mail.server import Server
from pipeline.mail.smtp import Outgoing, Refused
from pipeline.outputs.feedback import EMAIL_DIR, FEEDBACK_DIR, SIGNATURE, safe_code
from pipeline.outputs.letters import FOLDER as LETTER_DIR
from pipeline.outputs.letters import letter_file_name
from pipeline.outputs.written import remove_stale
from pipeline.store.atomic import make_folder, write_bytes_atomic
from pipeline.store.ledger import FILE_NAME as LEDGER_FILE
from pipeline.store.ledger import Ledger, MailRecord, SentMessage
from pipeline.store.lock import RunLock

SENT_DIR = "thu-gui"
_SENT_NAME = re.compile(r"^[A-Za-z0-9_-]+\.eml$")

# What happens to a unit's message.
TO_SEND = "to-send"
SENT_BEFORE = "sent-before"
NO_ADDRESS = "no-address"
SENT = "sent"
FAILED = "failed"


class NoConsolidation(InputError):
    """The period has not been consolidated into this outbox: nothing to send."""


@dataclass
class Planned:
    unit: Unit
    recipients: tuple[str, ...]
    text: Text
    attachments: tuple[Attachment, ...]
    digest: str
    state: str
    detail: str = ""  # why it failed, or the addresses the server refused

    @property
    def file_name(self) -> str:
        return f"{safe_code(self.unit.code)}.eml"


@dataclass
class SendResult:
    period: ReportingPeriod
    messages: list[Planned] = field(default_factory=list)
    folder: Path | None = None  # where the .eml files were written

    def count(self, state: str) -> int:
        return sum(1 for m in self.messages if m.state == state)


def _report(outbox: Path, period: ReportingPeriod) -> dict[str, Any]:
    path = outbox / period.id / "run.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NoConsolidation(
            f'Chưa có kết quả tổng hợp {period.name_vi} trong "{outbox}" (không thấy {path.name}). '
            "Chạy lệnh consolidate cho kỳ này trước khi gửi thư."
        ) from None
    except (OSError, ValueError) as exc:
        raise NoConsolidation(
            f'Không đọc được "{path}" ({exc.__class__.__name__}). Chạy lại consolidate.'
        ) from None
    assert isinstance(data, dict)
    return data


def _cover(unit: Unit, period: ReportingPeriod, letter: str) -> Text:
    """The text of a message that carries the letter alone (a unit late but accepted)."""
    body = [
        f"Kính gửi: {unit.addressee}",
        "",
        f"Sở Nội vụ tỉnh Bình Định gửi kèm theo thư này công văn về việc báo cáo công tác dân vận chính "
        f'quyền {period.name_vi} của quý cơ quan, đơn vị (tệp "{letter}").',
        "Đề nghị quý cơ quan, đơn vị nghiên cứu, thực hiện.",
        "",
        "Trân trọng.",
        "",
        SIGNATURE,
    ]
    return Text(
        f"Công văn của Sở Nội vụ về báo cáo công tác dân vận chính quyền {period.name_vi}",
        "\n".join(body) + "\n",
    )


def _with_letter(text: Text, letter: str) -> Text:
    """An e-mail text that also carries the letter: one line says so, above the signature."""
    note = f'Kèm theo thư này là công văn của Sở Nội vụ (tệp "{letter}").'
    head, sep, tail = text.body.rpartition("Trân trọng.")
    body = f"{head}{note}\n\n{sep}{tail}" if sep else f"{text.body}\n{note}\n"
    return Text(text.subject, body)


def substance(period_id: str, unit: dict[str, Any], issues: list[Any], plan: dict[str, Any]) -> str:
    """The digest of what a message tells the unit: its status, its latest file and that
    file's errors and warnings, what is attached, the subject and the addresses. The dates a
    consolidation writes into the texts (today, the deadline to resend) are left out: a
    consolidation rerun the next day does not send the same reminder again."""
    latest = unit["versions"][-1]["sha256"] if unit.get("versions") else ""
    flagged = sorted(
        (i["code"], i.get("sheet") or "", i.get("cell") or "")
        for i in issues
        if i.get("severity") in ("error", "warning")
    )
    what = {"period": period_id, "unit": unit["code"], "status": unit["status"], "latest": latest}
    what |= {"issues": flagged, **plan}
    return hashlib.sha256(json.dumps(what, ensure_ascii=False, sort_keys=True).encode("utf-8")).hexdigest()


def plan(schema: Schema, period: ReportingPeriod, outbox: Path, record: MailRecord) -> list[Planned]:
    """Every unit's message, in the registry's order, with what happens to it."""
    schema = schema.at(period.deadline)  # the period's registry, as the consolidation used
    report = _report(outbox, period)
    base = outbox / period.id
    issues_of = {f["path"]: f.get("issues", []) for f in report.get("files", [])}
    sent = record.sent(period.id)
    planned: list[Planned] = []
    for u in report.get("units", []):
        unit = schema.unit_by_code.get(u["code"])
        if unit is None:  # left the registry since the consolidation
            continue
        latest = u["versions"][-1] if u.get("versions") else None
        attachments: list[Attachment] = []
        letter = base / LETTER_DIR / letter_file_name(unit.code)
        letter_name = f"Cong-van-don-doc-{letter.name}"
        feedback = (
            base / FEEDBACK_DIR / f"{safe_code(unit.code)}-{latest['sha256'][:12]}.xlsx" if latest else None
        )
        text_path = base / EMAIL_DIR / f"{safe_code(unit.code)}.txt"
        if feedback is not None and feedback.is_file():
            attachments.append(Attachment(feedback.name, feedback))
        if letter.is_file():
            attachments.append(Attachment(letter_name, letter))
        if text_path.is_file():
            text = message.read_text(text_path)
            if letter.is_file():
                text = _with_letter(text, letter_name)
        elif letter.is_file():
            text = _cover(unit, period, letter_name)
        else:
            continue  # nothing to tell this unit
        recipients = unit.emails
        what = {
            "attachments": [a.name for a in attachments],
            "subject": text.subject,
            "to": sorted(recipients),
        }
        digest = substance(period.id, u, issues_of.get(latest["file"], []) if latest else [], what)
        state = (
            NO_ADDRESS if not recipients else SENT_BEFORE if digest in sent.get(unit.code, set()) else TO_SEND
        )
        planned.append(Planned(unit, recipients, text, tuple(attachments), digest, state))
    return planned


def message_id(period: ReportingPeriod, p: Planned, sender: str) -> str:
    """Unique per unit, period and substance; the same in the dry run and when sent."""
    return f"<dvcq.{period.id}.{safe_code(p.unit.code)}.{p.digest[:20]}@{message.domain_of(sender)}>"


def _built(period: ReportingPeriod, p: Planned, sender: str, reply_to: str, now: datetime) -> bytes:
    return message.build(
        sender, reply_to, p.recipients, p.text, p.attachments, message_id(period, p, sender), now
    )


def send(
    schema: Schema,
    period: ReportingPeriod,
    outbox: Path,
    sender: str,
    reply_to: str,
    now: datetime,
    server: Server | None = None,
    user: str = "",
    password: str = "",
) -> SendResult:
    """The dry run (`server` None: the messages written under thu-gui/, nothing sent), or the
    sending: each message written, sent, and recorded in the ledger at once."""
    with RunLock(outbox), Ledger(outbox / LEDGER_FILE) as ledger:
        record = ledger.mail()
        result = SendResult(period, plan(schema, period, outbox, record))
        folder = outbox / period.id / SENT_DIR
        result.folder = folder
        due = [p for p in result.messages if p.state == TO_SEND]
        if server is None:
            make_folder(folder)
            for p in due:
                write_bytes_atomic(folder / p.file_name, _built(period, p, sender, reply_to, now))
            # a message sent earlier keeps its copy; a dry run's message no longer due goes
            kept = {p.file_name for p in result.messages if p.state in (TO_SEND, SENT_BEFORE)}
            remove_stale(folder, kept, _SENT_NAME, "thư cũ")
            return result
        if not due:
            return result
        with Outgoing(server, user, password) as smtp:  # a refused login stops here: nothing sent
            make_folder(folder)
            for p in due:
                data = _built(period, p, sender, reply_to, now)
                write_bytes_atomic(folder / p.file_name, data)
                try:
                    refused = smtp.send(sender, list(p.recipients), data)
                except Refused as exc:
                    p.state, p.detail = FAILED, exc.reason
                    continue
                p.state = SENT
                p.detail = "; ".join(refused)
                delivered = tuple(r for r in p.recipients if r not in refused)
                record.record_sent(
                    SentMessage(
                        period.id, p.unit.code, p.digest, message_id(period, p, sender), delivered, now
                    )
                )
    return result
