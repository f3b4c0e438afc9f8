"""The message to one unit, built with the standard library's email package: Vietnamese
subject and text in UTF-8 (encoded as the standards want), the files attached, Message-ID,
Date and Reply-To set."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.header import Header
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
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
) -> bytes:
    """The message as sent (CRLF line endings).

    Built with the compat32 API: the newer policy's folding of a long Vietnamese subject loses
    the space before a word that follows non-ASCII punctuation ("2023 – đề" read back as
    "2023 –đề"); email.header.Header splits inside the encoded words and keeps every space.
    """
    msg = MIMEMultipart("mixed")
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Reply-To"] = reply_to
    # encoded words joined by single spaces: the generator folds there, never inside a word
    msg["Subject"] = " ".join(Header(text.subject, "utf-8", header_name="Subject").encode().split())
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = message_id
    msg.attach(MIMEText(text.body.replace("\n", "\r\n"), "plain", "utf-8"))
    for att in attachments:
        _, sub = MIME_TYPES.get(att.path.suffix.lower(), ("application", "octet-stream"))
        part = MIMEApplication(att.path.read_bytes(), _subtype=sub)
        part.add_header("Content-Disposition", "attachment", filename=("utf-8", "", att.name))
        msg.attach(part)
    return msg.as_bytes(policy=policy.compat32.clone(linesep="\r\n"))
