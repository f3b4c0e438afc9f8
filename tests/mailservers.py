"""Real mail servers for the mail tests, on loopback ports, started and stopped by the tests.

- IMAP: Dovecot (Debian package dovecot-imapd) in the foreground with a throw-away
  configuration: its own base_dir, a passwd-file with a salted hash (the password itself is
  written nowhere), a static userdb with a Maildir under the same folder, implicit TLS and
  STARTTLS listeners, a self-signed certificate made here with `cryptography`.
- SMTP: aiosmtpd in this process, STARTTLS required before AUTH, collecting every message.

The tests FAIL, not skip, when Dovecot is missing: `.ci/run` installs it.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import imaplib
import ipaddress
import os
import pwd
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

DOVECOT = "/usr/sbin/dovecot"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (also its own authority, for --cafile)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def _ssha256(password: str) -> str:
    salt = os.urandom(8)
    return "{SSHA256}" + base64.b64encode(hashlib.sha256(password.encode() + salt).digest() + salt).decode()


@dataclass
class Dovecot:
    folder: Path
    user: str
    password: str
    cert: Path  # also the authority the clients trust (--cafile)
    key: Path
    imaps_port: int = 0
    imap_port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def config(self) -> Path:
        return self.folder / "dovecot.conf"

    def start(self) -> None:
        if not Path(DOVECOT).exists():
            pytest.fail(
                f"Dovecot is required for the mail tests ({DOVECOT} is missing): "
                "apt-get install dovecot-imapd (.ci/run does it)."
            )
        cert, key = self.cert, self.key
        (self.folder / "passwd").write_text(f"{self.user}:{_ssha256(self.password)}\n")
        home = self.folder / "home"
        home.mkdir()
        if os.geteuid() == 0:  # mail processes run as Dovecot's own users
            internal, login = "dovecot", "dovenull"
            owner = pwd.getpwnam("dovecot")
            os.chown(home, owner.pw_uid, owner.pw_gid)
            uid, gid = owner.pw_uid, owner.pw_gid
        else:  # everything as the current user
            internal = login = pwd.getpwuid(os.geteuid()).pw_name
            uid, gid = os.geteuid(), os.getegid()
        self.imaps_port, self.imap_port = free_port(), free_port()
        f = self.folder
        self.config.write_text(
            f"""
base_dir = {f}/run
state_dir = {f}/state
log_path = {f}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = required
ssl_cert = <{cert}
ssl_key = <{key}
default_internal_user = {internal}
default_login_user = {login}
first_valid_uid = 1
first_valid_gid = 1
auth_mechanisms = plain login
passdb {{
  driver = passwd-file
  args = username_format=%u {f}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={home}/%u
}}
mail_location = maildir:~/Maildir
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.imap_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {self.imaps_port}
    ssl = yes
  }}
}}
"""
        )
        self.process = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(self.config)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                out = self.process.stdout.read().decode() if self.process.stdout else ""
                log = (f / "dovecot.log").read_text() if (f / "dovecot.log").exists() else ""
                pytest.fail(f"Dovecot did not start: {out}\n{log}")
            try:
                with self.admin():
                    return
            except (OSError, imaplib.IMAP4.error):
                time.sleep(0.2)
        pytest.fail("Dovecot did not answer on its port within 30 s")

    def admin(self) -> imaplib.IMAP4_SSL:
        """A connection of the test itself (to fill the mailbox and look at it)."""
        ctx = ssl.create_default_context(cafile=str(self.cert))
        imap = imaplib.IMAP4_SSL("127.0.0.1", self.imaps_port, ssl_context=ctx, timeout=10)
        imap.authenticate("PLAIN", lambda _: f"\0{self.user}\0{self.password}".encode())
        return imap

    def append(self, raw: bytes, arrived: dt.datetime, folder: str = "INBOX") -> None:
        with self.admin() as imap:
            kind, data = imap.append(folder, "", imaplib.Time2Internaldate(arrived), raw)
            assert kind == "OK", data

    def state(self, folder: str = "INBOX") -> tuple[int, list[bytes]]:
        """The folder's message count and every message's UID and flags, read with EXAMINE."""
        with self.admin() as imap:
            kind, data = imap.select(folder, readonly=True)
            assert kind == "OK"
            count = int(data[0] or 0) if isinstance(data[0], bytes) else 0
            flags: list[bytes] = []
            if count:
                kind, items = imap.fetch(f"1:{count}", "(UID FLAGS)")
                flags = sorted(i for i in items if isinstance(i, bytes))
            return count, flags

    def stop(self) -> None:
        if self.process is None:
            return
        subprocess.run([DOVECOT, "-c", str(self.config), "stop"], capture_output=True, timeout=30)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
        if self.process.stdout:
            self.process.stdout.close()
        self.process = None


@dataclass
class Received:
    sender: str
    recipients: list[str]
    data: bytes


@dataclass
class Collector:
    """The SMTP handler: accepts every message, except recipients it is told to refuse."""

    refuse: set[str] = field(default_factory=set)
    messages: list[Received] = field(default_factory=list)
    connections: int = 0

    async def handle_EHLO(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str, responses: list[str]
    ) -> list[str]:
        self.connections += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 Hộp thư không tồn tại"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        data = envelope.original_content or b""
        self.messages.append(Received(str(envelope.mail_from), list(envelope.rcpt_tos), bytes(data)))
        return "250 Message accepted"


class SmtpServer:
    """aiosmtpd on a loopback port, AUTH (PLAIN/LOGIN) for one user: STARTTLS required before
    AUTH, or (`implicit`) TLS from the first byte, as on port 465."""

    def __init__(self, cert: Path, key: Path, user: str, password: str, *, implicit: bool = False) -> None:
        self.user, self.password = user, password
        self.collector = Collector()
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert, key)
        self.port = free_port()
        tls: dict[str, Any] = (
            # aiosmtpd counts only STARTTLS as TLS for auth_require_tls; implicit TLS is TLS anyway
            {"ssl_context": ctx, "auth_require_tls": False}
            if implicit
            else {"tls_context": ctx, "require_starttls": True, "auth_require_tls": True}
        )
        self.controller = Controller(
            self.collector, hostname="127.0.0.1", port=self.port, authenticator=self._authenticate, **tls
        )

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == self.user.encode()
            and auth_data.password == self.password.encode()
        )
        return AuthResult(success=ok, handled=False)

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


def dovecot_folder() -> Iterator[Path]:
    """A folder Dovecot's unprivileged processes can enter (pytest's tmp folders are 0700)."""
    folder = Path(tempfile.mkdtemp(prefix="dvcq-dovecot-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
