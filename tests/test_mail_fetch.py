"""`mail fetch` against a real Dovecot started by the tests: the units' messages saved as .eml,
read-only on the server, recognised at the next fetch, and received when they arrived in the
mailbox (INTERNALDATE), which the consolidation uses."""

from __future__ import annotations

import io
import json
import sqlite3
import subprocess
import zipfile
from collections.abc import Iterator
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from pipeline.authoring.sample import SampleManifest
from pipeline.core.deadlines import parse_period
from pipeline.core.schema import Schema
from pipeline.mail.fetch import file_name, has_report
from pipeline.mail.imap import internaldate
from pipeline.run import consolidate
from tests.conftest import run_cli
from tests.mailservers import Dovecot, dovecot_folder, make_certificate

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
USER = "dvcq.snv"
PASSWORD = "Mật-khẩu-Sở-2023!x7Q"  # UTF-8 on purpose: IMAP logs in with AUTHENTICATE PLAIN
AS_OF = datetime(2023, 4, 10, 9, 0, tzinfo=TZ)
XLSX = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=TZ)


# When each message arrived in the department's mailbox (the deadline of Q1 2023 is 20/03).
ON_TIME_AT = at("2023-03-18T09:30:00")
LATE_AT = at("2023-03-26T08:15:00")  # 6 days late, while its own headers say 19/03
LATE_CLAIMS = at("2023-03-19T21:05:00")
FIRST_AT = at("2023-03-15T10:00:00")  # the resubmitting unit's invalid first version
SECOND_AT = at("2023-03-22T14:00:00")  # its valid second version: 2 days late
ZIP_AT = at("2023-03-17T15:00:00")
TWICE_AT = (at("2023-03-16T08:00:00"), at("2023-03-16T08:05:00"))
NOTE_AT = at("2023-03-19T11:00:00")


def message(
    sender: str,
    subject: str,
    sent: datetime,
    ident: str,
    attachments: list[tuple[str, bytes, tuple[str, str]]],
) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "dvcq.snv@example.org"
    msg["Subject"] = subject
    msg["Date"] = format_datetime(sent)
    msg["Received"] = f"from relay.example.org by mx.example.org; {format_datetime(sent)}"
    msg["Message-ID"] = f"<{ident}@example.org>"
    msg.set_content("Kính gửi Sở Nội vụ,\nĐơn vị gửi báo cáo đính kèm.\n")
    for name, data, (main, sub) in attachments:
        msg.add_attachment(data, maintype=main, subtype=sub, filename=name)
    return bytes(msg).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def zipped(name: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(name, data)
    return buf.getvalue()


class Mailbox:
    """The messages put into the test mailbox, and the units they come from."""

    def __init__(self, sample: SampleManifest) -> None:
        on_time = [c for c, u in sample.units.items() if u.state == "on_time"]
        self.on_time, self.late, self.zipped, self.twice = on_time[:4]
        self.resubmit = next(c for c, u in sample.units.items() if len(u.files) == 2)
        self.silent = on_time[4]  # writes without attaching anything
        self.sample = sample

    def data(self, code: str, n: int = 0) -> tuple[str, bytes]:
        f = self.sample.units[code].files[n]
        return f.name, (self.sample.out_dir / f.name).read_bytes()

    def fill(self, server: Dovecot) -> None:
        def add(code: str, arrived: datetime, raw: bytes) -> None:
            server.append(raw, arrived)

        def report(code: str, n: int, sent: datetime, ident: str) -> bytes:
            name, data = self.data(code, n)
            return message(
                f"vanthu.{code.lower()}@example.org",
                "Báo cáo DVCQ Quý I/2023",
                sent,
                ident,
                [(name, data, XLSX)],
            )

        add(self.on_time, ON_TIME_AT, report(self.on_time, 0, ON_TIME_AT, "on-time"))
        add(self.late, LATE_AT, report(self.late, 0, LATE_CLAIMS, "late"))
        add(self.resubmit, FIRST_AT, report(self.resubmit, 0, FIRST_AT, "first"))
        add(self.resubmit, SECOND_AT, report(self.resubmit, 1, SECOND_AT, "second"))
        name, data = self.data(self.zipped)
        raw = message(
            f"vanthu.{self.zipped.lower()}@example.org", "Báo cáo (tệp nén)", ZIP_AT, "zipped",
            [("bao-cao.zip", zipped(name, data), ("application", "zip"))],
        )  # fmt: skip
        add(self.zipped, ZIP_AT, raw)
        twice = report(self.twice, 0, TWICE_AT[0], "twice")
        add(self.twice, TWICE_AT[0], twice)
        add(self.twice, TWICE_AT[1], twice)  # the same message delivered twice
        note = message(
            f"vanthu.{self.silent.lower()}@example.org", "Xin gia hạn nộp báo cáo", NOTE_AT, "note", []
        )
        add(self.silent, NOTE_AT, note)

    SEEN = 8
    SAVED = 6
    ALREADY = 1  # the second copy of the same message
    WITHOUT = 1


@pytest.fixture(scope="module")
def mail_folder() -> Iterator[Path]:
    yield from dovecot_folder()


@pytest.fixture(scope="module")
def certificate(mail_folder: Path) -> tuple[Path, Path]:
    return make_certificate(mail_folder)


@pytest.fixture(scope="module")
def mailbox(sample: SampleManifest) -> Mailbox:
    return Mailbox(sample)


@pytest.fixture(scope="module")
def dovecot(mail_folder: Path, certificate: tuple[Path, Path], mailbox: Mailbox) -> Iterator[Dovecot]:
    server = Dovecot(mail_folder, USER, PASSWORD, *certificate)
    server.start()
    try:
        mailbox.fill(server)
        yield server
    finally:
        server.stop()


def fetch(
    server: Dovecot, root: Path, *extra: str, password: str = PASSWORD, port: int | None = None
) -> subprocess.CompletedProcess[str]:
    env_password = {"DVCQ_MAIL_PASSWORD": password}
    args = [
        "mail", "fetch", "--server", f"127.0.0.1:{port or server.imaps_port}", "--user", USER,
        "--inbox", str(root / "inbox"), "--outbox", str(root / "outbox"), *extra,
    ]  # fmt: skip
    return run_cli(*args, env=env_password)


def with_ca(server: Dovecot) -> tuple[str, str]:
    return ("--cafile", str(server.cert))


def fetched_rows(outbox: Path) -> list[tuple[str, str, str, str]]:
    with sqlite3.connect(outbox / "ledger.sqlite") as db:
        return sorted(db.execute("SELECT message_key, sha256, internaldate, file_name FROM fetched_messages"))


def inbox_state(inbox: Path) -> dict[str, tuple[int, bytes]]:
    return {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(inbox.iterdir())}


@pytest.fixture(scope="module")
def fetched(dovecot: Dovecot, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    root = tmp_path_factory.mktemp("fetched")
    done = fetch(dovecot, root, *with_ca(dovecot))
    assert done.returncode == 0, done.stderr
    return root, done.stdout, done.stderr


def test_fetch_saves_each_message_with_a_report_once(
    fetched: tuple[Path, str, str], mailbox: Mailbox
) -> None:
    root, out, _ = fetched
    names = sorted(p.name for p in (root / "inbox").iterdir())
    assert len(names) == Mailbox.SAVED and all(n.endswith(".eml") for n in names)
    rows = fetched_rows(root / "outbox")
    keys = {r[0] for r in rows}
    assert keys == {
        f"<{i}@example.org>" for i in ("on-time", "late", "first", "second", "zipped", "twice", "note")
    }
    saved = {r[3] for r in rows if r[3]}
    assert saved == set(names)
    assert [r[3] for r in rows if r[0] == "<note@example.org>"] == [""]  # listed, not saved
    # the summary's figures: seen, saved, already had, without attachment
    numbers = [int(w) for w in out.splitlines()[0].replace(";", " ").replace(".", " ").split() if w.isdigit()]
    assert numbers[-4:] == [Mailbox.SEEN, Mailbox.SAVED, Mailbox.ALREADY, Mailbox.WITHOUT]
    # every .eml is the message as the server holds it, named by arrival, sender and Message-ID
    late = next(r for r in rows if r[0] == "<late@example.org>")
    assert late[3].startswith("2023-03-26_081500_vanthu.")
    assert datetime.fromisoformat(late[2]) == LATE_AT


def test_fetch_then_consolidate_gives_the_statuses_of_the_arrivals(
    fetched: tuple[Path, str, str], mailbox: Mailbox, schema: Schema
) -> None:
    root = fetched[0]
    outbox = root / "outbox"
    consolidate(schema, parse_period("2023-Q1", schema.calendar), root / "inbox", outbox, AS_OF)
    report = json.loads((outbox / "2023-Q1" / "run.json").read_text(encoding="utf-8"))
    units = {u["code"]: u for u in report["units"]}
    assert (units[mailbox.on_time]["status"], units[mailbox.on_time]["days_late"]) == ("on_time", 0)
    assert (units[mailbox.late]["status"], units[mailbox.late]["days_late"]) == ("late", 6)
    assert (units[mailbox.resubmit]["status"], units[mailbox.resubmit]["days_late"]) == ("late", 2)
    assert [v["status"] for v in units[mailbox.resubmit]["versions"]] == ["rejected", "accepted"]
    assert units[mailbox.zipped]["status"] == "on_time"
    assert units[mailbox.twice]["status"] == "on_time" and len(units[mailbox.twice]["versions"]) == 1
    assert units[mailbox.silent]["status"] == "missing"
    # received_at of the .eml and of its attachment: the INTERNALDATE, not the message's headers
    by_unit = {f["unit"]: f for f in report["files"] if f["unit"]}
    assert datetime.fromisoformat(by_unit[mailbox.late]["received_at"]) == LATE_AT
    late_eml = by_unit[mailbox.late]["path"].split("/")[0]
    eml = next(f for f in report["files"] if f["path"] == late_eml)
    assert datetime.fromisoformat(eml["received_at"]) == LATE_AT
    assert datetime.fromisoformat(by_unit[mailbox.zipped]["received_at"]) == ZIP_AT


def test_receipts_csv_still_wins_over_the_arrival(
    dovecot: Dovecot, mailbox: Mailbox, schema: Schema, tmp_path: Path
) -> None:
    assert fetch(dovecot, tmp_path, *with_ca(dovecot)).returncode == 0
    inbox, outbox = tmp_path / "inbox", tmp_path / "outbox"
    late = next(r[3] for r in fetched_rows(outbox) if r[0] == "<late@example.org>")
    (inbox / "receipts.csv").write_text(f"file,received_at\n{late},2023-03-19T10:00\n", encoding="utf-8")
    consolidate(schema, parse_period("2023-Q1", schema.calendar), inbox, outbox, AS_OF)
    report = json.loads((outbox / "2023-Q1" / "run.json").read_text(encoding="utf-8"))
    unit = next(u for u in report["units"] if u["code"] == mailbox.late)
    assert (unit["status"], datetime.fromisoformat(unit["received_at"])) == (
        "on_time",
        at("2023-03-19T10:00:00"),
    )


def test_a_second_fetch_adds_nothing_and_the_server_is_unchanged(dovecot: Dovecot, tmp_path: Path) -> None:
    before = dovecot.state()
    assert before[0] == Mailbox.SEEN
    first = fetch(dovecot, tmp_path, *with_ca(dovecot))
    assert first.returncode == 0, first.stderr
    inbox = inbox_state(tmp_path / "inbox")
    rows = fetched_rows(tmp_path / "outbox")
    second = fetch(dovecot, tmp_path, *with_ca(dovecot))
    assert second.returncode == 0, second.stderr
    assert inbox_state(tmp_path / "inbox") == inbox
    assert fetched_rows(tmp_path / "outbox") == rows
    numbers = [
        int(w)
        for w in second.stdout.splitlines()[0].replace(";", " ").replace(".", " ").split()
        if w.isdigit()
    ]
    assert numbers[-4:] == [Mailbox.SEEN, 0, Mailbox.SAVED + Mailbox.ALREADY, Mailbox.WITHOUT]
    # read-only: same messages, same flags (no \Seen), nothing moved or deleted
    assert dovecot.state() == before
    assert not any(b"\\Seen" in f for f in before[1])


def test_starttls_and_since(dovecot: Dovecot, tmp_path: Path) -> None:
    done = fetch(
        dovecot,
        tmp_path,
        *with_ca(dovecot),
        "--tls",
        "starttls",
        "--since",
        "2023-03-18",
        port=dovecot.imap_port,
    )
    assert done.returncode == 0, done.stderr
    keys = {r[0] for r in fetched_rows(tmp_path / "outbox")}
    assert keys == {
        "<on-time@example.org>",
        "<late@example.org>",
        "<second@example.org>",
        "<note@example.org>",
    }


def test_a_folder_with_a_vietnamese_name(dovecot: Dovecot, mailbox: Mailbox, tmp_path: Path) -> None:
    folder = '"B&AOE-o c&AOE-o &AREBoQ-n v&Hss-"'  # "Báo cáo đơn vị" in modified UTF-7 (RFC 3501)
    with dovecot.admin() as imap:
        assert imap.create(folder)[0] == "OK"
    name, data = mailbox.data(mailbox.on_time)
    dovecot.append(
        message("vanthu@example.org", "Báo cáo", ON_TIME_AT, "in-folder", [(name, data, XLSX)]),
        ON_TIME_AT,
        folder,
    )
    done = fetch(dovecot, tmp_path, *with_ca(dovecot), "--folder", "Báo cáo đơn vị")
    assert done.returncode == 0, done.stderr
    assert [r[0] for r in fetched_rows(tmp_path / "outbox")] == ["<in-folder@example.org>"]


def test_a_wrong_password_stops_with_one_vietnamese_line(dovecot: Dovecot, tmp_path: Path) -> None:
    done = fetch(dovecot, tmp_path, *with_ca(dovecot), password="sai-mật-khẩu")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert "từ chối đăng nhập" in done.stderr
    assert not (tmp_path / "inbox").exists() or not any((tmp_path / "inbox").iterdir())


def test_an_untrusted_certificate_or_no_server_stops_cleanly(dovecot: Dovecot, tmp_path: Path) -> None:
    untrusted = fetch(dovecot, tmp_path)  # the test certificate is no public authority's
    assert untrusted.returncode == 1 and "Traceback" not in untrusted.stderr
    assert "--cafile" in untrusted.stderr and len(untrusted.stderr.strip().splitlines()) == 1
    closed = fetch(dovecot, tmp_path, *with_ca(dovecot), port=1)  # nobody listens on port 1
    assert closed.returncode == 1 and "Traceback" not in closed.stderr
    assert len(closed.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "inbox").exists() or not any((tmp_path / "inbox").iterdir())


def test_no_tls_only_on_loopback(tmp_path: Path) -> None:
    done = run_cli(
        "mail", "fetch", "--server", "mail.example.org", "--user", USER, "--tls", "none",
        "--inbox", str(tmp_path / "inbox"), "--outbox", str(tmp_path / "outbox"),
    )  # fmt: skip
    assert done.returncode == 1 and "Traceback" not in done.stderr and "--tls none" in done.stderr
    assert not (tmp_path / "outbox").exists()


def test_the_password_is_written_nowhere(
    fetched: tuple[Path, str, str], dovecot: Dovecot, mail_folder: Path
) -> None:
    root, out, err = fetched
    secret = PASSWORD.encode("utf-8")
    assert PASSWORD not in out and PASSWORD not in err
    for folder in (root, mail_folder):
        for path in folder.rglob("*"):
            if path.is_file() and not path.is_socket():
                assert secret not in path.read_bytes(), path


def test_internaldate_and_names() -> None:
    when = internaldate(b'1 (UID 7 INTERNALDATE "26-Mar-2023 01:15:00 +0000" BODY[] {5}')
    assert when == LATE_AT
    assert internaldate(b'1 (UID 7 INTERNALDATE " 6-Mar-2023 01:15:00 -0130")') is not None
    name = file_name(LATE_AT, "Văn.Thư@Sở.example.org", "<late@example.org>")
    assert name == file_name(LATE_AT, "Văn.Thư@Sở.example.org", "<late@example.org>")  # stable
    assert name.isascii() and "/" not in name and name.startswith("2023-03-26_081500_")
    note = EmailMessage()
    note.set_content("không có tệp")
    assert not has_report(note)
    note.add_attachment(b"%PDF", maintype="application", subtype="pdf", filename="cong-van.pdf")
    assert not has_report(note)
    note.add_attachment(b"PK", maintype="application", subtype="octet-stream", filename="Báo cáo.XLSX")
    assert has_report(note)
