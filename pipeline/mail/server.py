"""Where and how to reach a mail server: HOST[:PORT], the TLS mode, the trusted certificates,
and the one error a mail command stops with (a Vietnamese sentence, no traceback).

TLS is the default (implicit TLS: IMAP 993, SMTP 465); STARTTLS (IMAP 143, SMTP 587) upgrades
a plain connection before anything is sent; `none` sends the password in clear and is accepted
only for a loopback address (a test server on this computer).
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

from pipeline.core.errors import InputError, MachineError

TLS_MODES = ("implicit", "starttls", "none")
DEFAULT_PORTS = {
    "imap": {"implicit": 993, "starttls": 143, "none": 143},
    "smtp": {"implicit": 465, "starttls": 587, "none": 25},
}
TIMEOUT = 60.0  # seconds for connecting and for each reply


class MailError(MachineError):
    """A mail server cannot be used now (unreachable, certificate, refused login)."""


class MailSettingError(InputError):
    """A mail option the officer gave cannot be used (address, TLS mode, certificate file)."""


@dataclass(frozen=True)
class Server:
    host: str
    port: int
    tls: str  # one of TLS_MODES
    cafile: Path | None = None

    @property
    def shown(self) -> str:
        return f"{self.host}:{self.port}"

    def context(self) -> ssl.SSLContext:
        """Certificates checked against the system's authorities, or the officer's --cafile."""
        try:
            return ssl.create_default_context(cafile=str(self.cafile) if self.cafile else None)
        except (OSError, ssl.SSLError) as exc:
            raise MailSettingError(
                f'Không đọc được tệp chứng chỉ "{self.cafile}" ({_reason(exc)}). '
                "Tệp --cafile phải là chứng chỉ gốc dạng PEM do bộ phận quản trị thư cung cấp."
            ) from exc


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def parse_server(text: str, protocol: str, tls: str, cafile: Path | None) -> Server:
    """HOST[:PORT] (an IPv6 address in brackets) with the protocol's port for the TLS mode."""
    text = text.strip()
    host, port_text = text, ""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest.removeprefix(":")
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    if not host:
        raise MailSettingError(f'Địa chỉ máy chủ thư "{text}" không hợp lệ (dạng máy-chủ hoặc máy-chủ:cổng).')
    try:
        port = int(port_text) if port_text else DEFAULT_PORTS[protocol][tls]
    except ValueError:
        raise MailSettingError(f'Cổng "{port_text}" của máy chủ thư không phải một số.') from None
    if not 0 < port < 65536:
        raise MailSettingError(f"Cổng {port} của máy chủ thư không hợp lệ.")
    if tls == "none" and not is_loopback(host):
        raise MailSettingError(
            "--tls none (không mã hóa, mật khẩu đi dạng chữ thường) chỉ dùng được với máy chủ "
            f'trên chính máy này (127.0.0.1, localhost), không dùng được với "{host}".'
        )
    if cafile is not None and not cafile.is_file():
        raise MailSettingError(f'Không tìm thấy tệp chứng chỉ "{cafile}" (--cafile).')
    return Server(host, port, tls, cafile)


def _reason(exc: BaseException) -> str:
    return (
        str(getattr(exc, "strerror", None) or getattr(exc, "reason", None) or exc) or exc.__class__.__name__
    )


def connection_error(server: Server, exc: BaseException) -> MailError:
    """The one sentence for a connection that failed: certificate, TLS, or the network."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return MailError(
            f"Chứng chỉ của máy chủ thư {server.shown} không được tin cậy ({exc.verify_message}). "
            "Nếu Sở dùng chứng chỉ riêng, chỉ định tệp chứng chỉ gốc bằng --cafile; "
            "nếu không, báo bộ phận quản trị thư."
        )
    if isinstance(exc, ssl.SSLError):
        return MailError(
            f"Không thiết lập được kết nối mã hóa với máy chủ thư {server.shown} ({_reason(exc)}). "
            "Kiểm tra cổng và chế độ --tls (implicit hoặc starttls) theo hướng dẫn của bộ phận quản trị thư."
        )
    if isinstance(exc, socket.gaierror):
        return MailError(f'Không tìm thấy máy chủ thư "{server.host}". Kiểm tra tên máy chủ và kết nối mạng.')
    if isinstance(exc, TimeoutError):
        return MailError(f"Máy chủ thư {server.shown} không trả lời. Kiểm tra kết nối mạng rồi chạy lại.")
    return MailError(
        f"Không kết nối được máy chủ thư {server.shown} ({_reason(exc)}). "
        "Kiểm tra tên máy chủ, cổng và kết nối mạng rồi chạy lại."
    )


def refused_login(server: Server, user: str) -> MailError:
    return MailError(
        f'Máy chủ thư {server.shown} từ chối đăng nhập của "{user}": sai tên đăng nhập hoặc mật khẩu. '
        "Kiểm tra lại rồi chạy lại."
    )
