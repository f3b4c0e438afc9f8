"""`mail send` against a real SMTP server (aiosmtpd, STARTTLS and AUTH) started by the tests:
one message per unit with the consolidation's letter and feedback attached, a dry run that
touches no server, never the same message twice, one new message after a resubmission."""

from __future__ import annotations

import csv
import io
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from pipeline import config
from pipeline.authoring.sample import SampleManifest
from pipeline.core.deadlines import parse_period
from pipeline.mail.message import read_text
from pipeline.ooxml.edit import fill_workbook
from pipeline.run import consolidate
from tests.conftest import ROOT, run_cli
from tests.mailservers import SmtpServer, make_certificate

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
AS_OF = datetime(2023, 4, 10, 9, 0, tzinfo=TZ)
LATER = datetime(2023, 4, 12, 15, 0, tzinfo=TZ)  # a consolidation two days later: new dates in the letters
USER = "dvcq.snv@example.org"
PASSWORD = "Gửi-thư-Sở-4f9c2e71d0"  # UTF-8: AUTH PLAIN carries it as UTF-8
SENDER = "dvcq@snv.example.org"
OFFICER = "canbo.dvcq@snv.example.org"


def addresses(code: str) -> list[str]:
    return [f"vanthu.{code.lower()}@example.org"]


@pytest.fixture(scope="module")
def cases(sample: SampleManifest) -> dict[str, str]:
    """The units the tests follow: without an address, with two, rejected (then resubmitting)."""
    missing = [c for c, u in sample.units.items() if u.state == "missing"]
    rejected = next(c for c, u in sample.units.items() if u.state == "rejected")
    return {"no_address": missing[0], "missing": missing[1], "rejected": rejected}


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory, cases: dict[str, str]) -> Path:
    """A copy of schemas/ whose registry has the units' (example) addresses."""
    folder = tmp_path_factory.mktemp("registry") / "schemas"
    shutil.copytree(ROOT / "schemas", folder)
    path = folder / "units.csv"
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    for row in rows:
        code = row["code"]
        if code == cases["no_address"]:
            row["email"] = ""
        elif code == cases["rejected"]:  # several addresses
            row["email"] = f"vanthu.{code}@example.org; lanhdao.{code}@example.org"
        else:
            row["email"] = addresses(code)[0]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_text(out.getvalue(), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def consolidated(sample: SampleManifest, registry: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample inbox consolidated (letters, feedback workbooks, e-mail texts)."""
    root = tmp_path_factory.mktemp("consolidated")
    shutil.copytree(sample.out_dir, root / "inbox")
    schema = config.load(registry)
    consolidate(schema, parse_period("2023-Q1", schema.calendar), root / "inbox", root / "outbox", AS_OF)
    return root


@pytest.fixture()
def work(consolidated: Path, tmp_path: Path) -> Path:
    """This test's own copy of the consolidated inbox and outbox (the ledger records sends)."""
    shutil.copytree(consolidated, tmp_path / "run")
    return tmp_path / "run"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_certificate(tmp_path_factory.mktemp("certificate"))


@pytest.fixture()
def smtp(certificate: tuple[Path, Path]) -> Iterator[SmtpServer]:
    with SmtpServer(*certificate, USER, PASSWORD) as server:
        yield server


def send(
    registry: Path,
    root: Path,
    server: SmtpServer | None,
    *extra: str,
    password: str = PASSWORD,
    cafile: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    args = [
        "--schemas",
        str(registry),
        "mail",
        "send",
        "--period",
        "2023-Q1",
        "--outbox",
        str(root / "outbox"),
    ]
    args += ["--from", SENDER, "--reply-to", OFFICER, "--tls", "starttls", *extra]
    if server is not None:
        args += ["--server", f"127.0.0.1:{server.port}", "--user", USER]
    if cafile is not None:
        args += ["--cafile", str(cafile)]
    return run_cli(*args, env={"DVCQ_MAIL_PASSWORD": password})


def parse(data: bytes) -> EmailMessage:
    msg = BytesParser(policy=policy.default).parsebytes(data)
    assert isinstance(msg, EmailMessage)
    return msg


def attachments(msg: EmailMessage) -> dict[str, bytes]:
    out = {}
    for part in msg.iter_attachments():
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        out[str(part.get_filename())] = payload
    return out


def expected(root: Path, registry: Path) -> dict[str, dict[str, bytes]]:
    """unit → the outbox files its message must carry: the letter, and the feedback workbook
    of its latest file (read from the outbox and run.json, independently of the sender)."""
    import json

    base = root / "outbox" / "2023-Q1"
    report = json.loads((base / "run.json").read_text(encoding="utf-8"))
    out: dict[str, dict[str, bytes]] = {}
    for unit in report["units"]:
        code, files = unit["code"], {}
        letter = base / "cong-van-don-doc" / f"{code}.docx"
        if letter.exists():
            files[letter.name] = letter.read_bytes()
        if unit["versions"]:
            fb = base / "feedback" / f"{code}-{unit['versions'][-1]['sha256'][:12]}.xlsx"
            if fb.exists():
                files[fb.name] = fb.read_bytes()
        if files or (base / "thu-phan-hoi" / f"{code}.txt").exists():
            out[code] = files
    return out


def registry_addresses(registry: Path) -> dict[str, list[str]]:
    return {u.code: list(u.emails) for u in config.load(registry).units}


def sent_rows(root: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(root / "outbox" / "ledger.sqlite") as db:
        return sorted(db.execute("SELECT unit, message_id FROM sent_messages WHERE period_id = '2023-Q1'"))


def check_message(msg: EmailMessage, to: list[str], files: dict[str, bytes]) -> None:
    assert [a.strip() for a in str(msg["To"]).split(",")] == to
    assert str(msg["From"]) == SENDER and str(msg["Reply-To"]) == OFFICER
    assert msg["Message-ID"] and msg["Date"]
    got = attachments(msg)
    assert sorted(got.values()) == sorted(files.values())  # the outbox's bytes, each once
    assert {n.rpartition(".")[2] for n in got} == {n.rpartition(".")[2] for n in files}


def test_dry_run_writes_every_message_and_touches_no_server(
    work: Path, registry: Path, smtp: SmtpServer, cases: dict[str, str]
) -> None:
    done = send(registry, work, None)
    assert done.returncode == 0, done.stderr
    assert smtp.collector.connections == 0 and smtp.collector.messages == []
    want = expected(work, registry)
    to = registry_addresses(registry)
    folder = work / "outbox" / "2023-Q1" / "thu-gui"
    written = {p.stem: parse(p.read_bytes()) for p in folder.glob("*.eml")}
    assert set(written) == {c for c in want if to[c]}  # the unit without an address: none
    for code, msg in written.items():
        check_message(msg, to[code], want[code])
    # the subject is the e-mail text's, decoded from its RFC 2047 encoding
    text = read_text(work / "outbox" / "2023-Q1" / "thu-phan-hoi" / f"{cases['rejected']}.txt")
    assert str(written[cases["rejected"]]["Subject"]) == text.subject and text.subject.isascii() is False
    assert b"Subject: =?utf-8?" in (folder / f"{cases['rejected']}.eml").read_bytes()
    rows = {line.split()[0]: line for line in done.stdout.splitlines()[1:] if line.strip()}
    assert cases["no_address"] in rows and "chưa có địa chỉ thư" in rows[cases["no_address"]]
    assert sent_rows(work) == []


def test_send_delivers_one_message_per_unit_then_nothing(
    work: Path, registry: Path, smtp: SmtpServer, certificate: tuple[Path, Path], cases: dict[str, str]
) -> None:
    done = send(registry, work, smtp, "--send", cafile=certificate[0])
    assert done.returncode == 0, done.stderr
    assert smtp.collector.connections >= 1  # the counter the dry run's test relies on
    want = expected(work, registry)
    to = registry_addresses(registry)
    got = {parse(m.data)["Message-ID"]: m for m in smtp.collector.messages}
    assert len(got) == len(smtp.collector.messages) == len([c for c in want if to[c]])
    by_unit = {}
    for m in smtp.collector.messages:
        msg = parse(m.data)
        code = next(c for c in want if to[c] and sorted(to[c]) == sorted(m.recipients))
        by_unit[code] = msg
        assert m.sender == SENDER
        check_message(msg, to[code], want[code])
    assert set(by_unit) == {c for c in want if to[c]}
    assert len(to[cases["rejected"]]) == 2
    assert [u for u, _ in sent_rows(work)] == sorted(by_unit)
    again = send(registry, work, smtp, "--send", cafile=certificate[0])
    assert again.returncode == 0, again.stderr
    assert len(smtp.collector.messages) == len(by_unit)  # a second send delivers nothing
    # a dry run now: every message already sent, their copies kept in thu-gui/
    dry = send(registry, work, None)
    assert dry.returncode == 0 and "đã gửi trước đó, không gửi lại" in dry.stdout
    copies = {p.stem for p in (work / "outbox" / "2023-Q1" / "thu-gui").glob("*.eml")}
    assert copies == set(by_unit)


def test_a_resubmission_produces_exactly_one_new_message(
    work: Path,
    registry: Path,
    smtp: SmtpServer,
    certificate: tuple[Path, Path],
    cases: dict[str, str],
    sample: SampleManifest,
    template_path: Path,
) -> None:
    assert send(registry, work, smtp, "--send", cafile=certificate[0]).returncode == 0
    first = len(smtp.collector.messages)
    # the rejected unit sends its corrected report; the officer consolidates two days later
    code = cases["rejected"]
    values = dict(sample.units[code].files[0].values)
    values["t1_documents_issued"] = 3
    received, on_time, late = (
        values[k] for k in ("t2_dossiers_received", "t2_dossiers_on_time", "t2_dossiers_late")
    )
    assert isinstance(received, int) and isinstance(on_time, int) and isinstance(late, int)
    values["t2_dossiers_pending"] = received - on_time - late
    fixed = work / "inbox" / "Báo cáo (bản sửa).xlsx"
    fill_workbook(template_path, values, fixed)
    stamp = datetime(2023, 4, 11, 10, 0, tzinfo=TZ).timestamp()
    os.utime(fixed, (stamp, stamp))
    schema = config.load(registry)
    reminder = work / "outbox" / "2023-Q1" / "cong-van-don-doc" / f"{cases['missing']}.docx"
    before = reminder.read_bytes()
    consolidate(schema, parse_period("2023-Q1", schema.calendar), work / "inbox", work / "outbox", LATER)
    assert reminder.read_bytes() != before  # new dates in the letter: not a new message for the unit
    done = send(registry, work, smtp, "--send", cafile=certificate[0])
    assert done.returncode == 0, done.stderr
    new = smtp.collector.messages[first:]
    assert len(new) == 1 and sorted(new[0].recipients) == sorted(registry_addresses(registry)[code])
    want = expected(work, registry)[code]
    check_message(parse(new[0].data), registry_addresses(registry)[code], want)
    assert [u for u, _ in sent_rows(work)].count(code) == 2


def test_a_refused_recipient_does_not_stop_the_others(
    work: Path, registry: Path, smtp: SmtpServer, certificate: tuple[Path, Path], cases: dict[str, str]
) -> None:
    refused = addresses(cases["missing"])[0]
    smtp.collector.refuse.add(refused)
    done = send(registry, work, smtp, "--send", cafile=certificate[0])
    assert done.returncode == 1 and "Traceback" not in done.stderr
    to = registry_addresses(registry)
    want = {c for c in expected(work, registry) if to[c]}
    delivered = {tuple(sorted(m.recipients)) for m in smtp.collector.messages}
    assert delivered == {tuple(sorted(to[c])) for c in want - {cases["missing"]}}
    assert cases["missing"] not in [u for u, _ in sent_rows(work)]
    line = next(line for line in done.stdout.splitlines() if line.startswith(cases["missing"] + " "))
    assert "550" in line
    # the failed one is tried again next time; the others are not sent twice
    smtp.collector.refuse.clear()
    assert send(registry, work, smtp, "--send", cafile=certificate[0]).returncode == 0
    assert [tuple(m.recipients) for m in smtp.collector.messages[len(want) - 1 :]] == [
        tuple(to[cases["missing"]])
    ]


def test_a_wrong_password_sends_nothing(
    work: Path, registry: Path, smtp: SmtpServer, certificate: tuple[Path, Path]
) -> None:
    done = send(registry, work, smtp, "--send", password="sai-mat-khau", cafile=certificate[0])
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert "từ chối đăng nhập" in done.stderr
    assert smtp.collector.messages == [] and sent_rows(work) == []
    assert not (work / "outbox" / "2023-Q1" / "thu-gui").exists()


def test_the_password_is_written_nowhere(
    work: Path, registry: Path, smtp: SmtpServer, certificate: tuple[Path, Path], tmp_path: Path
) -> None:
    runs = [send(registry, work, None), send(registry, work, smtp, "--send", cafile=certificate[0])]
    assert runs[1].returncode == 0 and smtp.collector.messages
    for run in runs:
        assert PASSWORD not in run.stdout and PASSWORD not in run.stderr
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert PASSWORD.encode() not in path.read_bytes(), path
    for m in smtp.collector.messages:
        assert PASSWORD.encode() not in m.data


def test_send_needs_a_consolidation(registry: Path, tmp_path: Path) -> None:
    done = send(registry, tmp_path, None)
    assert done.returncode == 1 and "Traceback" not in done.stderr and "consolidate" in done.stderr


def test_implicit_tls_is_the_default(
    work: Path, registry: Path, certificate: tuple[Path, Path], cases: dict[str, str]
) -> None:
    with SmtpServer(*certificate, USER, PASSWORD, implicit=True) as server:
        args = [
            "--schemas",
            str(registry),
            "mail",
            "send",
            "--period",
            "2023-Q1",
            "--outbox",
            str(work / "outbox"),
        ]
        args += ["--from", SENDER, "--server", f"127.0.0.1:{server.port}", "--user", USER, "--send"]
        args += ["--cafile", str(certificate[0])]
        done = run_cli(*args, env={"DVCQ_MAIL_PASSWORD": PASSWORD})
        assert done.returncode == 0, done.stderr
        to = registry_addresses(registry)
        assert len(server.collector.messages) == len([c for c in expected(work, registry) if to[c]])
