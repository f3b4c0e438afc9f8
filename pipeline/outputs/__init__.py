"""The run's outputs: the consolidated workbook, the late list, the issues CSV and run.json.

Every file is written atomically; run.json comes last and lists the others.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import IO

from pipeline.model import RunResult
from pipeline.outputs.atomic import OutputError, check_replaceable, write_atomic, write_bytes_atomic
from pipeline.outputs.consolidated import build_consolidated
from pipeline.outputs.issues_csv import build_issues_csv, csv_safe
from pipeline.outputs.late_list import build_late_list, late_units
from pipeline.outputs.run_report import dump, run_report
from pipeline.schema import Schema

__all__ = [
    "OutputError",
    "build_consolidated",
    "build_issues_csv",
    "build_late_list",
    "csv_safe",
    "dump",
    "issues_csv_name",
    "late_units",
    "output_names",
    "run_report",
    "write_atomic",
    "write_bytes_atomic",
    "write_outputs",
]


def output_names(period_id: str) -> tuple[str, str, str]:
    """(consolidated, late list, run.json), relative to the outbox, "/"-separated."""
    return (
        f"{period_id}/tong-hop-{period_id}.xlsx",
        f"{period_id}/danh-sach-nop-muon-{period_id}.xlsx",
        f"{period_id}/run.json",
    )


def issues_csv_name(period_id: str) -> str:
    """The issues list as CSV (OWASP-escaped), relative to the outbox."""
    return f"{period_id}/loi-kiem-tra-{period_id}.csv"


def remove_stale_temporaries(folder: Path) -> None:
    """Temporary files left by a run that was killed before renaming them (called under the run lock)."""
    if folder.is_dir():
        for tmp in folder.glob(".*.tmp"):
            with contextlib.suppress(OSError):
                tmp.unlink()


def write_outputs(result: RunResult, schema: Schema, outbox: Path) -> list[str]:
    """Write the three outputs into outbox/<period id>/ and return their relative paths."""
    outbox = Path(outbox)
    consolidated, late_list, report = output_names(result.period.id)
    folder = outbox / result.period.id
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(
            f'Không tạo được thư mục "{folder}" ({exc.strerror or exc}). '
            "Kiểm tra quyền ghi vào thư mục kết quả rồi chạy lại."
        ) from exc

    def consolidated_producer(fh: IO[bytes]) -> None:
        build_consolidated(result, schema, fh)

    def late_producer(fh: IO[bytes]) -> None:
        build_late_list(result, schema, fh)

    remove_stale_temporaries(folder)
    issues_csv = issues_csv_name(result.period.id)
    for rel in (consolidated, late_list, issues_csv, report):
        check_replaceable(outbox / rel)  # all or none: refuse before replacing anything
    write_atomic(outbox / consolidated, consolidated_producer)
    write_atomic(outbox / late_list, late_producer)
    write_bytes_atomic(outbox / issues_csv, build_issues_csv(result, schema))
    result.outputs = [consolidated, late_list, report, issues_csv]  # run.json stays third: callers index it
    write_bytes_atomic(outbox / report, dump(run_report(result, schema)))
    return list(result.outputs)
