"""The run's outputs: the consolidated workbook, the late list, the inspection list, the draft
report and reminder letters (.docx), feedback to units (pipeline.feedback), and run.json.

Every file is written atomically; run.json comes last and lists the others.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import IO

from pipeline.model import RunResult
from pipeline.outputs.atomic import OutputError, write_atomic, write_bytes_atomic
from pipeline.outputs.consolidated import build_consolidated
from pipeline.outputs.inspection import build_inspection
from pipeline.outputs.late_list import build_late_list, late_units
from pipeline.outputs.papers import build_letter, build_report, letter_units
from pipeline.outputs.run_report import dump, run_report
from pipeline.schema import Schema

__all__ = [
    "OutputError",
    "build_consolidated",
    "build_late_list",
    "dump",
    "late_units",
    "output_names",
    "paper_names",
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


LETTERS_FOLDER = "cong-van-don-doc"


def paper_names(period_id: str) -> tuple[str, str, str]:
    """(inspection list, report draft, letters folder), relative to the outbox."""
    return (
        f"{period_id}/de-xuat-kiem-tra-{period_id}.xlsx",
        f"{period_id}/bao-cao-{period_id}.docx",
        f"{period_id}/{LETTERS_FOLDER}",
    )


def write_outputs(result: RunResult, schema: Schema, outbox: Path) -> list[str]:
    """Write every output into outbox/<period id>/ and return their relative paths."""
    outbox = Path(outbox)
    consolidated, late_list, report = output_names(result.period.id)
    _mkdir(outbox / result.period.id)

    def consolidated_producer(fh: IO[bytes]) -> None:
        build_consolidated(result, schema, fh)

    def late_producer(fh: IO[bytes]) -> None:
        build_late_list(result, schema, fh)

    def inspection_producer(fh: IO[bytes]) -> None:
        build_inspection(result, schema, fh)

    inspection, draft, letters = paper_names(result.period.id)
    write_atomic(outbox / consolidated, consolidated_producer)
    write_atomic(outbox / late_list, late_producer)
    write_atomic(outbox / inspection, inspection_producer)
    write_bytes_atomic(outbox / draft, build_report(result, schema))
    written = [consolidated, late_list, inspection, draft]
    # Letters are named by the registry's unit code, never by unit-supplied text.
    letter_folder = outbox / letters
    stale = set(letter_folder.glob("*.docx")) if letter_folder.is_dir() else set()
    for unit in letter_units(result):
        code = re.sub(r"[^0-9A-Za-z_-]", "_", unit.unit.code)
        if not code:
            continue
        _mkdir(letter_folder)
        target = letter_folder / f"{code}.docx"
        write_bytes_atomic(target, build_letter(result, schema, unit))
        stale.discard(target)
        written.append(f"{letters}/{code}.docx")
    for old in sorted(stale):  # a unit that has since reported gets no letter
        old.unlink(missing_ok=True)
    from pipeline.feedback import write_run_feedback  # imports this package: import it late

    written += write_run_feedback(result, schema, outbox)  # workbooks and e-mail texts to units
    result.outputs = [*written, report]
    write_bytes_atomic(outbox / report, dump(run_report(result, schema)))
    return list(result.outputs)


def _mkdir(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(
            f'Không tạo được thư mục "{folder}" ({exc.strerror or exc}). '
            "Kiểm tra quyền ghi vào thư mục kết quả rồi chạy lại."
        ) from exc
