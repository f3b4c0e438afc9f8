"""The imaplib boundary: read-only access to one mailbox folder.

Only commands that change nothing on the server are sent: LOGIN/AUTHENTICATE, EXAMINE (the
folder opened read-only), UID SEARCH and UID FETCH of INTERNALDATE and BODY.PEEK[...] (PEEK:
the \\Seen flag is left as it was), LOGOUT. No flag is stored, nothing is moved or deleted.
"""

from __future__ import annotations

import contextlib
import imaplib
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from types import TracebackType

from pipeline.mail.server import TIMEOUT, MailError, Server, connection_error, refused_login

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_INTERNALDATE = re.compile(
    rb'INTERNALDATE "\s?(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)"'
)
_UID = re.compile(rb"\bUID (\d+)")
_CHUNK = 200  # messages per UID FETCH of headers


@dataclass(frozen=True)
class Summary:
    """A message as listed: its UID, arrival in the mailbox and Message-ID header ("" if none)."""

    uid: int
    internaldate: datetime
    message_id: str


def internaldate(response: bytes) -> datetime | None:
    """The INTERNALDATE of a FETCH response ("19-Mar-2023 10:00:00 +0700"), month names in
    English whatever the computer's language."""
    m = _INTERNALDATE.search(response)
    if m is None:
        return None
    day, month, year, hh, mm, ss, sign, oh, om = (g.decode("ascii") for g in m.groups())
    if month.title() not in _MONTHS:
        return None
    offset = timedelta(hours=int(oh), minutes=int(om)) * (-1 if sign == "-" else 1)
    return datetime(
        int(year),
        _MONTHS.index(month.title()) + 1,
        int(day),
        int(hh),
        int(mm),
        int(ss),
        tzinfo=timezone(offset),
    )


def _header_value(raw: bytes, name: bytes) -> str:
    """One header of a HEADER.FIELDS answer, unfolded; "" when absent."""
    m = re.search(rb"(?im)^" + re.escape(name) + rb":[ \t]*((?:.*)(?:\r?\n[ \t].*)*)", raw)
    return re.sub(r"\s+", " ", m.group(1).decode("utf-8", "replace")).strip() if m else ""


class Mailbox:
    """One folder of one mailbox, opened read-only (EXAMINE)."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self._imap: imaplib.IMAP4 | None = None

    def __enter__(self) -> Mailbox:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _client(self) -> imaplib.IMAP4:
        if self._imap is None:
            raise MailError("Chưa kết nối máy chủ thư.")
        return self._imap

    def connect(self, user: str, password: str) -> None:
        s = self.server
        try:
            if s.tls == "implicit":
                self._imap = imaplib.IMAP4_SSL(s.host, s.port, ssl_context=s.context(), timeout=TIMEOUT)
            else:
                self._imap = imaplib.IMAP4(s.host, s.port, timeout=TIMEOUT)
                if s.tls == "starttls":
                    self._imap.starttls(s.context())
        except (OSError, imaplib.IMAP4.error) as exc:
            self.close()
            raise connection_error(s, exc) from None
        try:
            imap = self._client()
            if "AUTH=PLAIN" in imap.capabilities:  # UTF-8 passwords too (LOGIN is ASCII only)
                imap.authenticate("PLAIN", lambda _: f"\0{user}\0{password}".encode())
            else:
                imap.login(user, password)
        except (imaplib.IMAP4.error, UnicodeEncodeError):
            self.close()
            raise refused_login(s, user) from None
        except OSError as exc:
            self.close()
            raise connection_error(s, exc) from None

    def examine(self, folder: str) -> int:
        """Open the folder read-only; the number of messages in it."""
        try:
            kind, data = self._client().select(_quoted(folder), readonly=True)
        except (OSError, imaplib.IMAP4.error) as exc:
            raise self._broken(exc) from None
        if kind != "OK":
            raise MailError(f'Không mở được thư mục "{folder}" trong hộp thư trên {self.server.shown}.')
        return int(data[0] or 0) if data and isinstance(data[0], bytes) else 0

    def search(self, since: date | None) -> list[int]:
        """UIDs of the folder's messages (arrived on or after `since`), oldest first."""
        criteria = f"SINCE {since.day:02d}-{_MONTHS[since.month - 1]}-{since.year}" if since else "ALL"
        kind, data = self._command("SEARCH", criteria)
        if kind != "OK":
            raise MailError(f"Máy chủ thư {self.server.shown} không trả lời lệnh tìm thư.")
        found = data[0] if data and isinstance(data[0], bytes) else b""
        return sorted(int(n) for n in found.split())

    def summaries(self, uids: list[int]) -> list[Summary]:
        """Arrival and Message-ID of each message (headers only: the bodies stay on the server)."""
        out: list[Summary] = []
        for i in range(0, len(uids), _CHUNK):
            chunk = ",".join(str(u) for u in uids[i : i + _CHUNK])
            kind, data = self._command(
                "FETCH", chunk, "(UID INTERNALDATE BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])"
            )
            if kind != "OK":
                raise MailError(f"Máy chủ thư {self.server.shown} không trả lời lệnh đọc thư.")
            for item in data:
                if not isinstance(item, tuple):
                    continue
                head, body = item[0], item[1]
                uid, when = _UID.search(head), internaldate(head)
                if uid is None or when is None:
                    continue
                out.append(Summary(int(uid.group(1)), when, _header_value(body, b"Message-ID")))
        return out

    def message(self, uid: int) -> bytes:
        """The whole message as stored on the server (BODY.PEEK[]: its flags are left alone)."""
        kind, data = self._command("FETCH", str(uid), "(UID BODY.PEEK[])")
        for item in data if kind == "OK" else []:
            if isinstance(item, tuple) and _UID.search(item[0]):
                return bytes(item[1])
        raise MailError(f"Máy chủ thư {self.server.shown} không gửi được thư số {uid}.")

    def _command(self, command: str, *args: str) -> tuple[str, list[object]]:
        try:
            kind, data = self._client().uid(command, *args)
        except (OSError, imaplib.IMAP4.error) as exc:
            raise self._broken(exc) from None
        return kind, list(data)

    def _broken(self, exc: BaseException) -> MailError:
        self.close()
        if isinstance(exc, OSError):
            return connection_error(self.server, exc)
        return MailError(f"Máy chủ thư {self.server.shown} báo lỗi: {exc}.")

    def close(self) -> None:
        imap, self._imap = self._imap, None
        if imap is None:
            return
        # already gone: nothing was changed on the server anyway
        with contextlib.suppress(OSError, imaplib.IMAP4.error):
            imap.logout()


def _quoted(folder: str) -> str:
    """The folder name as an IMAP quoted string (names with spaces, e.g. "Báo cáo", work)."""
    if folder.isascii():
        return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return _utf7(folder)


def _utf7(folder: str) -> str:
    """Modified UTF-7 (RFC 3501 5.1.3) for a non-ASCII folder name."""
    import base64

    out, pending = [], ""
    for ch in folder + "\0":
        if ch != "\0" and not (0x20 <= ord(ch) <= 0x7E):
            pending += ch
            continue
        if pending:
            b64 = base64.b64encode(pending.encode("utf-16-be")).decode("ascii").rstrip("=").replace("/", ",")
            out.append(f"&{b64}-")
            pending = ""
        if ch == "&":
            out.append("&-")
        elif ch != "\0":
            out.append(ch)
    return '"' + "".join(out).replace("\\", "\\\\").replace('"', '\\"') + '"'
