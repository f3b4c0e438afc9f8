"""Command line: parses arguments, calls the library, prints Vietnamese results.

Exit codes: 0 the run completed; 1 it could not complete (message, no traceback);
2 a usage error. `check`: 0 every file would be accepted, 1 some file would be rejected (or
the check could not complete), 2 a usage error.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import click

from pipeline import config
from pipeline.cli import words
from pipeline.core.deadlines import ReportingPeriod, parse_period
from pipeline.core.errors import PeriodError, PipelineError
from pipeline.core.schema import Schema
from pipeline.outputs.vocabulary import UNIT_STATUS_VI

F = TypeVar("F", bound=Callable[..., Any])

words.install()  # usage lines, headings and usage errors in Vietnamese


def _schema(ctx: click.Context) -> Schema:
    obj = ctx.find_root().obj
    assert isinstance(obj, dict)
    return config.load(obj.get("schemas"))


def _period(ctx: click.Context, schema: Schema, text: str) -> ReportingPeriod:
    try:
        return parse_period(text, schema.calendar)
    except PeriodError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param_hint="--period") from exc


def _as_of(ctx: click.Context, text: str | None, tz: ZoneInfo) -> datetime:
    if not text:
        return datetime.now(tz).replace(microsecond=0)
    try:
        at = datetime.fromisoformat(text)
    except ValueError as exc:
        raise click.BadParameter(
            f'"{text}" không phải thời điểm ISO 8601 (ví dụ 2023-03-25T09:00).', ctx=ctx, param_hint="--as-of"
        ) from exc
    return at if at.tzinfo else at.replace(tzinfo=tz)


class _Command(click.Command):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("options_metavar", "[TÙY CHỌN]")
        super().__init__(*args, **kwargs)


class _Group(click.Group):
    command_class = _Command

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("options_metavar", "[TÙY CHỌN]")
        kwargs.setdefault("subcommand_metavar", "LỆNH [THAM SỐ]...")
        super().__init__(*args, **kwargs)

    def invoke(self, ctx: click.Context) -> Any:
        """Every command: a PipelineError (the run cannot continue) is one Vietnamese line on
        stderr and exit code 1, never a traceback."""
        try:
            return super().invoke(ctx)
        except PipelineError as exc:
            click.echo(f"Lỗi: {exc}", err=True)
            ctx.exit(1)


def _folder_option(*decls: str, default: Path | None, help: str) -> Callable[[F], F]:
    """An option naming a folder (THƯ-MỤC), its default shown when it has one."""
    return click.option(
        *decls,
        type=click.Path(file_okay=False, path_type=Path),
        metavar="THƯ-MỤC",
        default=default,
        show_default=default is not None,
        help=help,
    )


@click.group(cls=_Group, help="Tổng hợp báo cáo công tác dân vận chính quyền tỉnh Bình Định.")
@_folder_option("--schemas", default=None, help="Thư mục cấu hình (mặc định: schemas/ của chương trình).")
@click.pass_context
def main(ctx: click.Context, schemas: Path | None) -> None:
    ctx.obj = {"schemas": schemas}


@main.command(help="Tạo mẫu báo cáo Excel gửi các đơn vị (templates/excel/).")
@_folder_option(
    "--out",
    default=None,
    help="Thư mục ghi mẫu báo cáo (mặc định: templates/excel, hoặc templates/excel/<tên thư mục cấu hình>"
    " khi dùng --schemas với cấu hình khác).",
)
@click.pass_context
def template(ctx: click.Context, out: Path | None) -> None:
    from pipeline.authoring.template import write_template

    schema = _schema(ctx)
    if out is None:  # another configuration's template never overwrites the default one
        out = Path("templates/excel")
        if schema.directory.resolve() != config.DEFAULT_DIR.resolve():
            out = out / schema.directory.name
    path = write_template(schema, out)
    click.echo(f"Đã tạo mẫu báo cáo: {path}")


@main.command(help="Tổng hợp các báo cáo trong hộp thư đến cho một kỳ, ví dụ --period 2023-Q1.")
@click.option(
    "--period", "period_text", required=True, metavar="NĂM-KỲ", help="Kỳ báo cáo, kỳ là Q1, H1, 9M hoặc Y."
)
@_folder_option("--inbox", default=Path("inbox"), help="Hộp thư đến: thư mục chứa các tệp đơn vị gửi.")
@_folder_option("--outbox", default=Path("outbox"), help="Thư mục ghi kết quả.")
@click.option(
    "--as-of",
    "as_of_text",
    default=None,
    metavar="THỜI-ĐIỂM",
    help="Thời điểm tổng hợp (ISO 8601, ví dụ 2023-03-25T09:00); mặc định: bây giờ.",
)
@click.pass_context
def consolidate(
    ctx: click.Context, period_text: str, inbox: Path, outbox: Path, as_of_text: str | None
) -> None:
    from pipeline.run import consolidate as run_consolidate

    schema = _schema(ctx)
    period = _period(ctx, schema, period_text)
    as_of = _as_of(ctx, as_of_text, period.tz)
    result = run_consolidate(schema, period, inbox, outbox, as_of)
    counts = ", ".join(
        f"{label.lower()} {result.count(s)}" for s, label in UNIT_STATUS_VI.items() if result.count(s)
    )
    click.echo(
        f"Kỳ {period.name_vi}: {len(result.files)} tệp trong hộp thư đến; {len(result.units)} đơn vị: {counts}."
    )
    click.echo("Kết quả đã ghi vào:")
    for line in _output_lines(outbox, result.outputs):
        click.echo(f"  {line}")


def _output_lines(outbox: Path, outputs: list[str]) -> list[str]:
    """Files of the period folder one per line; a subfolder (letters, feedback) as one line
    with its number of files: a national run writes thousands of them."""
    lines: list[str] = []
    folders: dict[str, int] = {}
    for rel in outputs:
        parts = rel.split("/")
        if len(parts) > 2:
            folder = "/".join(parts[:-1])
            if folder not in folders:
                lines.append(folder)
            folders[folder] = folders.get(folder, 0) + 1
        else:
            lines.append(rel)
    return [
        f"{outbox / rel}{os.sep} ({folders[rel]} tệp)" if rel in folders else str(outbox / rel)
        for rel in lines
    ]


@main.command(help="Tạo hộp thư mẫu để chạy thử (không dùng thư mục inbox/).")
@_folder_option("--out", default=Path("build/sample-inbox"), help="Thư mục ghi hộp thư mẫu.")
@click.option(
    "--period", "period_text", default="2023-Q1", show_default=True, metavar="NĂM-KỲ", help="Kỳ báo cáo."
)
@click.pass_context
def sample(ctx: click.Context, out: Path, period_text: str) -> None:
    from pipeline.authoring.sample import build_sample_inbox
    from pipeline.authoring.template import write_template

    schema = _schema(ctx)
    period = _period(ctx, schema, period_text)
    tpl = write_template(schema, out.parent / "template")
    build_sample_inbox(schema, tpl, out, year=period.year, period=period.period.code)
    click.echo(f"Đã tạo hộp thư mẫu: {out}")


@main.command(
    help="Kiểm tra tệp báo cáo mà không tổng hợp (trước khi gửi hoặc khi vừa nhận). "
    "Mã thoát: 0 mọi tệp được chấp nhận, 1 có tệp bị trả lại, 2 gõ sai lệnh."
)
@click.argument(
    "files",
    nargs=-1,
    required=True,
    metavar="TỆP...",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
)
@click.option(
    "--period",
    "period_text",
    default=None,
    metavar="NĂM-KỲ",
    help="Kỳ báo cáo; mặc định: kỳ ghi trong chính tệp.",
)
@_folder_option(
    "--feedback",
    "feedback_dir",
    default=None,
    help="Ghi tệp phản hồi (tô màu, ghi chú các ô cần sửa) vào thư mục này.",
)
@click.pass_context
def check(
    ctx: click.Context, files: tuple[Path, ...], period_text: str | None, feedback_dir: Path | None
) -> None:
    from pipeline.check import check_files
    from pipeline.outputs.feedback import feedback_issues
    from pipeline.outputs.vocabulary import severity_vi

    schema = _schema(ctx)
    period = _period(ctx, schema, period_text) if period_text else None
    now = datetime.now(ZoneInfo(schema.calendar.timezone)).replace(microsecond=0)
    checks = check_files(schema, list(files), period, now, feedback_dir)
    for c in checks:
        sub, v = c.submission, c.verdict
        click.echo(f"Tệp: {c.name}")
        if not c.judged:  # an opened e-mail or zip: its attachments follow
            for i in sub.issues:
                click.echo(f"  {i.message}")
            continue
        unit = schema.unit_by_code.get(sub.unit or "")
        who = f"{unit.name} (mã {unit.code})" if unit else "chưa xác định được"
        click.echo(f"  Đơn vị: {who}; kỳ: {c.period.name_vi}")
        outcome = "Được chấp nhận" if v.accepted else "Bị trả lại"
        click.echo(f"  Kết quả: {outcome} ({v.errors} lỗi, {v.warnings} cảnh báo)")
        for i in feedback_issues(sub) if sub.status != "ignored" else sub.issues:
            where = f" {i.sheet}!{i.cell}" if i.sheet and i.cell else ""
            click.echo(f"  - [{severity_vi(i.severity)}] {i.code}{where}: {i.message}")
        if c.feedback is not None:
            click.echo(f"  Tệp phản hồi: {c.feedback}")
    reports = [c for c in checks if c.judged]
    accepted = sum(1 for c in reports if c.verdict.accepted)
    click.echo(f"Tổng cộng: {accepted} tệp được chấp nhận, {len(reports) - accepted} tệp bị trả lại.")
    sys.exit(0 if reports and accepted == len(reports) else 1)
