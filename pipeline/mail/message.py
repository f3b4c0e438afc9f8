"""The message to one unit, built with the standard library's email package: Vietnamese
subject and text in UTF-8 (encoded as the standards want), the files attached, Message-ID,
Date and Reply-To set."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

SUBJECT_LABEL = "Tiêu đề:"  # first line of the e-mail texts in thu-phan-hoi/ (pipeline.outputs.feedback)
MIME_TYPES = {
    ".docx": ("application", "vnd.openxmlformats-officedocument.wordprocessingml.document"),
    ".xlsx": ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
}


@dataclass(frozen=True)
class Attachment:
    name: str  # as the unit sees it
    path: Path  # the file in the outbox


@dataclass(frozen=True)
class Text:
    subject: str
    body: str


def read_text(path: Path) -> Text:
    """An e-mail text of thu-phan-hoi/: its "Tiêu đề:" line is the subject, the rest the body."""
    lines = path.read_text(encoding="utf-8-sig").replace("\r\n", "\n").split("\n")
    subject = ""
    if lines and lines[0].startswith(SUBJECT_LABEL):
        subject = lines.pop(0).removeprefix(SUBJECT_LABEL).strip()
        while lines and not lines[0].strip():
            lines.pop(0)
    return Text(subject, "\n".join(lines).rstrip("\n") + "\n")


def domain_of(address: str) -> str:
    return address.rpartition("@")[2] or "localhost"


def build(
    sender: str,
    reply_to: str,
    recipients: tuple[str, ...],
    text: Text,
    attachments: tuple[Attachment, ...],
    message_id: str,
    date: datetime,
) -> EmailMessage:
    msg = EmailMessage(policy=policy.SMTP)  # CRLF line endings, as sent
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Reply-To"] = reply_to
    msg["Subject"] = text.subject
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = message_id
    msg.set_content(text.body, charset="utf-8")
    for att in attachments:
        main, sub = MIME_TYPES.get(att.path.suffix.lower(), ("application", "octet-stream"))
        msg.add_attachment(att.path.read_bytes(), maintype=main, subtype=sub, filename=att.name)
    return msg
