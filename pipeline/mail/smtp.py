"""The smtplib boundary: one authenticated session that sends messages one by one."""

from __future__ import annotations

import base64
import smtplib
import ssl
from types import TracebackType

from pipeline.mail.server import TIMEOUT, MailError, Server, connection_error, refused_login


class Refused(Exception):
    """The server did not take one message (or refused every recipient); `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Outgoing:
    """An SMTP session: connect (implicit TLS, STARTTLS or plain on loopback), log in, send."""

    def __init__(self, server: Server, user: str, password: str) -> None:
        self.server = server
        self._user = user
        self._password = password
        self._smtp: smtplib.SMTP | None = None

    def __enter__(self) -> Outgoing:
        self.connect()
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def connect(self) -> None:
        s = self.server
        try:
            if s.tls == "implicit":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(s.host, s.port, timeout=TIMEOUT, context=s.context())
            else:
                smtp = smtplib.SMTP(s.host, s.port, timeout=TIMEOUT)
                if s.tls == "starttls":
                    smtp.starttls(context=s.context())
            self._smtp = smtp
            smtp.ehlo_or_helo_if_needed()
        except (OSError, smtplib.SMTPException) as exc:
            self.close()
            if isinstance(exc, smtplib.SMTPNotSupportedError):
                raise MailError(
                    f"Máy chủ thư {s.shown} không hỗ trợ STARTTLS: dùng --tls implicit."
                ) from None
            raise connection_error(s, exc) from None
        try:
            self._login(smtp)
        except smtplib.SMTPAuthenticationError:
            self.close()
            raise refused_login(s, self._user) from None
        except smtplib.SMTPNotSupportedError:
            self.close()
            raise MailError(
                f"Máy chủ thư {s.shown} không cho đăng nhập qua kết nối này. Kiểm tra cổng và --tls "
                "(465: implicit, 587: starttls) theo hướng dẫn của bộ phận quản trị thư."
            ) from None
        except (OSError, smtplib.SMTPException) as exc:
            self.close()
            raise connection_error(s, exc) from None

    def _login(self, smtp: smtplib.SMTP) -> None:
        """AUTH PLAIN with the credentials in UTF-8 when the server offers it (smtplib's own
        login encodes them as ASCII: a Vietnamese password would fail), else smtplib's login."""
        offered = smtp.esmtp_features.get("auth", "").upper().split() if smtp.has_extn("auth") else []
        if "PLAIN" not in offered:
            smtp.login(self._user, self._password)
            return
        token = base64.b64encode(f"\0{self._user}\0{self._password}".encode()).decode("ascii")
        code, reply = smtp.docmd("AUTH", f"PLAIN {token}")
        if code not in (235, 503):  # 503: already authenticated
            raise smtplib.SMTPAuthenticationError(code, reply)

    def send(self, sender: str, recipients: list[str], data: bytes) -> list[str]:
        """Send one message; the recipients the server refused (the others got it). Raises
        Refused when the message went to nobody; reconnects once if the session was dropped."""
        for attempt in (1, 2):
            if self._smtp is None:
                self.connect()
            assert self._smtp is not None
            try:
                refused = self._smtp.sendmail(sender, recipients, data)
                return sorted(refused)
            except smtplib.SMTPRecipientsRefused as exc:
                raise Refused("máy chủ từ chối mọi địa chỉ nhận: " + _codes(exc.recipients)) from None
            except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
                raise Refused(f"máy chủ từ chối thư ({exc.smtp_code} {_text(exc.smtp_error)})") from None
            except (smtplib.SMTPServerDisconnected, OSError) as exc:
                self.close()
                if attempt == 2:
                    raise connection_error(self.server, exc) from None
        raise AssertionError("unreachable")

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException, ssl.SSLError):
            smtp.close()


def _text(raw: bytes | str) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw


def _codes(recipients: dict[str, tuple[int, bytes]]) -> str:
    return "; ".join(f"{addr} ({code} {_text(msg)})" for addr, (code, msg) in sorted(recipients.items()))
