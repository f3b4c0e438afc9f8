"""The run's outputs: the consolidated workbook, the late list, feedback to units, run.json.

Every file is written atomically; run.json comes last and lists the others.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO

from pipeline.model import RunResult
from pipeline.outputs.atomic import OutputError, write_atomic, write_bytes_atomic
from pipeline.outputs.consolidated import build_consolidated
from pipeline.outputs.late_list import build_late_list, late_units
from pipeline.outputs.run_report import dump, run_report
from pipeline.schema import Schema

__all__ = [
    "OutputError",
    "build_consolidated",
    "build_late_list",
    "dump",
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

    write_atomic(outbox / consolidated, consolidated_producer)
    write_atomic(outbox / late_list, late_producer)
    from pipeline.feedback import write_run_feedback  # imports this package: import it late

    feedback = write_run_feedback(result, schema, outbox)  # workbooks and e-mails to units
    result.outputs = [consolidated, late_list, report, *feedback]
    write_bytes_atomic(outbox / report, dump(run_report(result, schema)))
    return list(result.outputs)
