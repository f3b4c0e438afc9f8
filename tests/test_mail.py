"""E-mails (.eml) and zip files dropped in the inbox: attachments taken as submissions."""

from __future__ import annotations

import json
import os
import zipfile
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from pipeline.core.deadlines import parse_period
from pipeline.core.model import Submission
from pipeline.core.schema import Schema
from pipeline.intake import containers as mail
from pipeline.run import collect, consolidate
from pipeline.store.ledger import Ledger

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
XLSX_TYPE = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")
AS_OF = datetime(2023, 4, 10, 9, 0, tzinfo=TZ)
SENT = datetime(2023, 3, 19, 21, 5, tzinfo=TZ)  # sender's clock (Date header)
RELAYED = datetime(2023, 3, 20, 7, 40, tzinfo=TZ)  # first mail server
DELIVERED = datetime(2023, 3, 21, 8, 15, tzinfo=TZ)  # officer's mail server: the newest
MTIME = datetime(2023, 4, 1, 10, 0, tzinfo=TZ)  # when the officer saved the .eml


def _message(attachments: list[tuple[str, bytes, tuple[str, str]]], received: bool = True) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Văn thư Sở Nội vụ <vanthu.snv@binhdinh.gov.vn>"
    msg["To"] = "dvcq@binhdinh.gov.vn"
    msg["Subject"] = "Báo cáo công tác dân vận chính quyền Quý I năm 2023"
    msg["Date"] = format_datetime(SENT)
    if received:  # servers prepend: newest first, but we do not rely on the order
        msg["Received"] = f"from relay.vnpt.vn by mail.binhdinh.gov.vn; {format_datetime(RELAYED)}"
        msg["Received"] = f"from mx.binhdinh.gov.vn by mailbox.binhdinh.gov.vn; {format_datetime(DELIVERED)}"
    msg.set_content("Kính gửi Sở Nội vụ,\nĐơn vị gửi báo cáo đính kèm.\n")
    for name, data, (main, sub) in attachments:
        msg.add_attachment(data, maintype=main, subtype=sub, filename=name)
    return bytes(msg)


def _zip(members: dict[str, bytes]) -> bytes:
    import io

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _put(inbox: Path, name: str, data: bytes) -> Path:
    path = inbox / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, (MTIME.timestamp(), MTIME.timestamp()))
    return path


def _collect(schema: Schema, inbox: Path, tmp: Path, work: Path | None = None) -> list[Submission]:
    """Every file of the inbox (attachments included) with its verdict, as a run collects them."""
    with Ledger(tmp / "ledger.sqlite") as ledger:
        period = parse_period("2023-Q1", schema.calendar)
        return collect(schema, period, inbox, ledger, None, AS_OF, work or tmp / "work")


def _refusal(sub: Submission) -> str:
    """The code that refused or set aside a file ("" for a file read as a report)."""
    if not sub.file.kind and sub.issues:
        return sub.issues[0].code
    return ""


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_eml_attachment_is_consolidated_with_message_time(
    schema: Schema, filled_xlsx: Path, tmp_path: Path
) -> None:
    inbox, outbox = tmp_path / "inbox", tmp_path / "outbox"
    # Decomposed (NFD) attachment name, as macOS mail clients send it.
    import unicodedata

    att_name = unicodedata.normalize("NFD", "Báo cáo Sở Nội vụ Quý I.xlsx")
    _put(inbox, "Thư Sở Nội vụ.eml", _message([(att_name, filled_xlsx.read_bytes(), XLSX_TYPE)]))
    before = _tree(inbox)

    period = parse_period("2023-Q1", schema.calendar)
    result = consolidate(schema, period, inbox, outbox, AS_OF)

    assert _tree(inbox) == before  # the inbox is never modified
    names = [s.file.name for s in result.files]
    assert names == ["Thư Sở Nội vụ.eml", "Thư Sở Nội vụ.eml/Báo cáo Sở Nội vụ Quý I.xlsx"]
    container, attachment = result.files
    assert container.status == "ignored" and [i.code for i in container.issues] == ["container-opened"]
    assert attachment.status == "accepted" and attachment.unit == "SNV"
    assert attachment.file.received_at == DELIVERED  # newest Received header, not Date, not mtime
    assert attachment.file.received_source == "email"
    unit = next(u for u in result.units if u.unit.code == "SNV")
    assert unit.status == "late" and unit.days_late == 1  # deadline 20/3, delivered 21/3

    report = json.loads((outbox / "2023-Q1" / "run.json").read_text(encoding="utf-8"))
    row = next(f for f in report["files"] if f["path"].endswith(".xlsx"))
    assert row["path"] == "Thư Sở Nội vụ.eml/Báo cáo Sở Nội vụ Quý I.xlsx"
    assert datetime.fromisoformat(row["received_at"]) == DELIVERED


def test_date_header_when_no_received_header(schema: Schema, filled_xlsx: Path, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    _put(inbox, "thu.eml", _message([("bc.xlsx", filled_xlsx.read_bytes(), XLSX_TYPE)], received=False))
    found = _collect(schema, inbox, tmp_path)
    assert [f.file.name for f in found] == ["thu.eml", "thu.eml/bc.xlsx"]
    assert found[1].file.received_at == SENT and found[1].file.kind == "xlsx"


def test_receipt_outranks_message_date(schema: Schema, filled_xlsx: Path, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    _put(inbox, "thu.eml", _message([("bc.xlsx", filled_xlsx.read_bytes(), XLSX_TYPE)]))
    (inbox / "receipts.csv").write_text("file,received_at\nthu.eml,2023-03-18T10:00\n", encoding="utf-8")
    found = _collect(schema, inbox, tmp_path)
    child = next(f for f in found if f.file.name == "thu.eml/bc.xlsx")
    assert child.file.received_at == datetime(2023, 3, 18, 10, 0, tzinfo=TZ)
    assert child.file.received_source == "receipts"


def test_zip_attachment_and_hostile_names(
    schema: Schema, filled_xlsx: Path, converted: dict[str, Path], tmp_path: Path
) -> None:
    """A zip attached to the mail is opened; names with paths never leave the work folder."""
    inbox, work = tmp_path / "inbox", tmp_path / "work"
    archive = _zip(
        {
            "bao cao/Báo cáo SNV.xls": converted["xls"].read_bytes(),
            "../../../../tmp/evil.xlsx": filled_xlsx.read_bytes(),
            "__MACOSX/._Báo cáo SNV.xls": b"junk",
        }
    )
    eml = _message(
        [
            ("Hồ sơ.zip", archive, ("application", "zip")),
            ("..\\..\\Công văn.pdf", b"%PDF-1.4 not a report", ("application", "pdf")),
        ]
    )
    _put(inbox, "thu.eml", eml)
    found = _collect(schema, inbox, tmp_path, work)
    by_name = {f.file.name: f for f in found}
    assert set(by_name) == {
        "thu.eml",
        "thu.eml/Hồ sơ.zip/Báo cáo SNV.xls",
        "thu.eml/Hồ sơ.zip/evil.xlsx",
        "thu.eml/Công văn.pdf",
    }
    assert by_name["thu.eml/Hồ sơ.zip/Báo cáo SNV.xls"].file.kind == "xls"
    assert _refusal(by_name["thu.eml/Công văn.pdf"]) == "not-spreadsheet"
    for f in found[1:]:
        assert f.file.path.resolve().is_relative_to(work.resolve())
        assert f.file.received_at == DELIVERED
    assert (
        not Path("/tmp/evil.xlsx").exists() or Path("/tmp/evil.xlsx").read_bytes() != filled_xlsx.read_bytes()
    )


def test_zip_in_inbox_uses_ledger_time(schema: Schema, converted: dict[str, Path], tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    _put(inbox, "Báo cáo.zip", _zip({"Báo cáo Sở Nội vụ.ods": converted["ods"].read_bytes()}))
    period = parse_period("2023-Q1", schema.calendar)
    result = consolidate(schema, period, inbox, tmp_path / "outbox", AS_OF)
    sub = next(s for s in result.files if s.file.name == "Báo cáo.zip/Báo cáo Sở Nội vụ.ods")
    assert sub.status == "accepted" and sub.file.received_at == MTIME


def test_caps_are_reported(schema: Schema, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mail, "MAX_MEMBERS", 2)
    inbox = tmp_path / "inbox"
    _put(inbox, "nhieu.zip", _zip({f"{i}.xlsx": b"x" for i in range(5)}))
    found = _collect(schema, inbox, tmp_path)
    assert _refusal(found[0]) == "container-limit" and found[0].status == "rejected"
    assert len(found) == 3


def test_safe_name() -> None:
    assert mail.safe_name("../../etc/passwd", "x") == "passwd"
    assert mail.safe_name("C:\\Users\\a\\Báo cáo.xlsx", "x") == "Báo cáo.xlsx"
    assert mail.safe_name("..", "tệp-1") == "tệp-1"
    assert mail.safe_name("a\x00b:c.xlsx", "x") == "a_b_c.xlsx"


def test_same_attachment_twice_is_one_submission_received_first(
    schema: Schema, filled_xlsx: Path, tmp_path: Path
) -> None:
    """A file saved in the inbox later and the same bytes by e-mail: the earliest copy counts."""
    inbox = tmp_path / "inbox"
    _put(inbox, "a - lưu tay.xlsx", filled_xlsx.read_bytes())  # mtime 1/4: later than the e-mail
    _put(inbox, "z - thư.eml", _message([("bc.xlsx", filled_xlsx.read_bytes(), XLSX_TYPE)]))
    result = consolidate(schema, parse_period("2023-Q1", schema.calendar), inbox, tmp_path / "out", AS_OF)
    by_name = {s.file.name: s for s in result.files}
    assert by_name["z - thư.eml/bc.xlsx"].status == "accepted"
    dup = by_name["a - lưu tay.xlsx"]
    assert dup.status == "ignored" and [i.code for i in dup.issues] == ["duplicate-file"]
    unit = next(u for u in result.units if u.unit.code == "SNV")
    assert unit.received_at == DELIVERED and [v.label for v in unit.history] == ["1/1"]


def test_spreadsheet_named_eml_is_read_as_spreadsheet(
    schema: Schema, filled_xlsx: Path, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    _put(inbox, "bao-cao.eml", filled_xlsx.read_bytes())
    found = _collect(schema, inbox, tmp_path)
    assert [(f.file.name, f.file.kind, _refusal(f)) for f in found] == [("bao-cao.eml", "xlsx", "")]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_a_named_pipe_in_the_inbox_is_refused_not_read(
    schema: Schema, filled_xlsx: Path, tmp_path: Path
) -> None:
    """Reading a pipe would block the run: only regular files are opened."""
    inbox = tmp_path / "inbox"
    _put(inbox, "bao-cao.xlsx", filled_xlsx.read_bytes())
    os.mkfifo(inbox / "ong-dan.xlsx")
    found = _collect(schema, inbox, tmp_path)
    assert [(f.file.name, _refusal(f)) for f in found] == [
        ("bao-cao.xlsx", ""),
        ("ong-dan.xlsx", "file-unreadable"),
    ]
