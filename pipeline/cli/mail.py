"""`mail fetch` and `mail send`: the department's mailbox in, the letters out.

The password is never an option: it comes from the environment variable DVCQ_MAIL_PASSWORD,
else from a prompt that does not echo it; it is never printed or written anywhere.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import click

from pipeline.cli.commands import _folder_option, _Group, _period, _schema, main
from pipeline.core.vietnamese import format_datetime

F = TypeVar("F", bound=Callable[..., Any])
PASSWORD_VARIABLE = "DVCQ_MAIL_PASSWORD"


def _password(user: str) -> str:
    from pipeline.mail.server import MailSettingError

    password = os.environ.get(PASSWORD_VARIABLE, "")
    if password:
        return password
    if not sys.stdin.isatty():
        raise MailSettingError(
            f"Chưa có mật khẩu thư: đặt biến môi trường {PASSWORD_VARIABLE} hoặc chạy lệnh trong cửa sổ lệnh để nhập."
        )
    return str(
        click.prompt(f"Mật khẩu thư của {user}", hide_input=True, prompt_suffix=" (không hiện khi gõ): ")
    )


def _connection_options(f: F) -> F:
    f = click.option(
        "--cafile",
        type=click.Path(dir_okay=False, path_type=Path),
        metavar="TỆP",
        default=None,
        help="Tệp chứng chỉ gốc (PEM) để tin máy chủ dùng chứng chỉ riêng của cơ quan.",
    )(f)
    f = click.option(
        "--tls",
        type=click.Choice(["implicit", "starttls", "none"]),
        default="implicit",
        show_default=True,
        help="Mã hóa kết nối: implicit (IMAP cổng 993, SMTP cổng 465), starttls (IMAP 143, SMTP 587); "
        "none chỉ dùng với máy chủ trên chính máy này.",
    )(f)
    return f


@main.group(cls=_Group, help="Lấy báo cáo từ hộp thư của Sở và gửi thư phản hồi cho các đơn vị.")
def mail() -> None:
    pass


@mail.command(
    help="Tải các thư có tệp báo cáo đính kèm từ hộp thư (chỉ đọc, không đánh dấu, không xóa thư) "
    "vào hộp thư đến, mỗi thư một tệp .eml. Mật khẩu lấy từ biến môi trường DVCQ_MAIL_PASSWORD hoặc hỏi khi chạy."
)
@click.option(
    "--server", required=True, metavar="MÁY-CHỦ[:CỔNG]", help="Máy chủ IMAP, ví dụ mail.binhdinh.gov.vn."
)
@click.option("--user", required=True, metavar="TÊN", help="Tên đăng nhập hộp thư.")
@click.option(
    "--folder", default="INBOX", show_default=True, metavar="THƯ-MỤC", help="Thư mục trong hộp thư."
)
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    metavar="NGÀY",
    help="Chỉ lấy thư đến từ ngày này (dạng 2023-03-01).",
)
@_folder_option("--inbox", default=Path("inbox"), help="Hộp thư đến: thư mục ghi các tệp .eml.")
@_folder_option("--outbox", default=Path("outbox"), help="Thư mục kết quả (nơi có sổ theo dõi).")
@_connection_options
@click.pass_context
def fetch(
    ctx: click.Context,
    server: str,
    user: str,
    folder: str,
    since: datetime | None,
    inbox: Path,
    outbox: Path,
    tls: str,
    cafile: Path | None,
) -> None:
    from pipeline.mail.fetch import fetch_into
    from pipeline.mail.server import parse_server

    schema = _schema(ctx)
    tz = ZoneInfo(schema.calendar.timezone)
    address = parse_server(server, "imap", tls, cafile)
    password = _password(user)
    day: date | None = since.date() if since else None
    now = datetime.now(tz).replace(microsecond=0)
    result = fetch_into(address, user, password, folder, day, inbox, outbox, tz, now)
    click.echo(
        f'Thư mục "{result.folder}" trên {address.shown}: {result.seen} thư; đã lưu {len(result.saved)} thư '
        f"vào {inbox}; đã có từ trước {result.already}; không có tệp báo cáo đính kèm "
        f"{len(result.without_attachment)}."
    )
    if result.saved:
        click.echo("Thư đã lưu:")
        for m in result.saved:
            click.echo(f"  {format_datetime(m.arrived, tz)}  {m.sender}  → {m.file_name}")
    if result.without_attachment:
        click.echo("Thư không có tệp báo cáo đính kèm (không lưu, cần xem và đề nghị đơn vị gửi tệp):")
        for m in result.without_attachment:
            click.echo(f'  {format_datetime(m.arrived, tz)}  {m.sender}  "{m.subject}"')


STATE_VI = {
    "to-send": "sẽ gửi",
    "sent-before": "đã gửi trước đó, không gửi lại",
    "no-address": "chưa có địa chỉ thư",
    "sent": "đã gửi",
    "failed": "gửi không được",
}


@mail.command(
    help="Gửi mỗi đơn vị cần phản hồi một thư: công văn đôn đốc, tệp phản hồi và nội dung thư của lần "
    "tổng hợp. Không có --send thì chỉ chạy thử: ghi thư vào outbox/<kỳ>/thu-gui/ và in bảng, không gửi."
)
@click.option(
    "--period", "period_text", required=True, metavar="NĂM-KỲ", help="Kỳ báo cáo đã tổng hợp, ví dụ 2023-Q1."
)
@_folder_option("--outbox", default=Path("outbox"), help="Thư mục kết quả của lần tổng hợp.")
@click.option("--server", default=None, metavar="MÁY-CHỦ[:CỔNG]", help="Máy chủ SMTP (cần khi có --send).")
@click.option("--user", default=None, metavar="TÊN", help="Tên đăng nhập máy chủ SMTP (cần khi có --send).")
@click.option("--from", "sender", required=True, metavar="ĐỊA-CHỈ", help="Địa chỉ gửi thư của Sở.")
@click.option(
    "--reply-to",
    default=None,
    metavar="ĐỊA-CHỈ",
    help="Địa chỉ nhận thư trả lời của cán bộ (mặc định: --from).",
)
@_connection_options
@click.option("--send", "really", is_flag=True, help="Gửi thật (không có tùy chọn này: chỉ chạy thử).")
@click.pass_context
def send(
    ctx: click.Context,
    period_text: str,
    outbox: Path,
    server: str | None,
    user: str | None,
    sender: str,
    reply_to: str | None,
    tls: str,
    cafile: Path | None,
    really: bool,
) -> None:
    from pipeline.mail import send as sending
    from pipeline.mail.server import parse_server

    schema = _schema(ctx)
    period = _period(ctx, schema, period_text)
    now = datetime.now(period.tz).replace(microsecond=0)
    if really:
        if not server or not user:
            raise click.UsageError("Khi gửi thật (--send) cần --server và --user.", ctx=ctx)
        address = parse_server(server, "smtp", tls, cafile)
        result = sending.send(
            schema, period, outbox, sender, reply_to or sender, now, address, user, _password(user)
        )
    else:
        result = sending.send(schema, period, outbox, sender, reply_to or sender, now)
    rows = [("Đơn vị", "Địa chỉ", "Tiêu đề", "Tệp đính kèm", "Tình trạng")]
    for m in result.messages:
        state = STATE_VI.get(m.state, m.state) + (f" ({m.detail})" if m.detail else "")
        attached = ", ".join(a.name for a in m.attachments) or "-"
        rows.append((m.unit.code, "; ".join(m.recipients) or "-", m.text.subject, attached, state))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        click.echo("  ".join(cell.ljust(widths[i]) if i < 4 else cell for i, cell in enumerate(r)).rstrip())
    n = {state: result.count(state) for state in STATE_VI}
    if really:
        click.echo(
            f"{period.name_vi}: đã gửi {n['sent']} thư; gửi không được {n['failed']}; bỏ qua "
            f"{n['sent-before'] + n['no-address']} (đã gửi trước đó {n['sent-before']}, chưa có địa chỉ thư "
            f"{n['no-address']}). Bản sao các thư đã gửi: {result.folder}"
        )
    else:
        click.echo(
            f"Chạy thử {period.name_vi}: {n['to-send']} thư sẽ được gửi, ghi vào {result.folder} để xem trước; "
            f"đã gửi trước đó {n['sent-before']}; chưa có địa chỉ thư {n['no-address']}. "
            "Không gửi thư nào; để gửi thật, chạy lại với --send."
        )
    if n["failed"]:
        sys.exit(1)
