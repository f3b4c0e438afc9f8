"""The run's outputs: the consolidated workbook, the late list, the inspection list, the draft
report and reminder letters (.docx), the issues CSV, feedback to units (pipeline.feedback:
annotated workbooks and e-mail texts), and run.json.

Every file is written atomically; run.json comes last and lists the others.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import IO

from pipeline.ledger import FILE_NAME as LEDGER_FILE
from pipeline.ledger import Ledger
from pipeline.model import RunResult
from pipeline.outputs.atomic import OutputError, check_replaceable, write_atomic, write_bytes_atomic
from pipeline.outputs.consolidated import build_consolidated
from pipeline.outputs.inspection import build_inspection
from pipeline.outputs.issues_csv import build_issues_csv, csv_safe
from pipeline.outputs.late_list import build_late_list, late_units
from pipeline.outputs.papers import letter_units, write_letters, write_report
from pipeline.outputs.run_report import render, run_report
from pipeline.progress import STAGES, Progress
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


def issues_csv_name(period_id: str) -> str:
    """The issues list as CSV (OWASP-escaped), relative to the outbox."""
    return f"{period_id}/loi-kiem-tra-{period_id}.csv"


def remove_stale_temporaries(folder: Path) -> None:
    """Temporary files left by a run that was killed before renaming them (called under the run lock)."""
    if folder.is_dir():
        for tmp in folder.glob(".*.tmp"):
            with contextlib.suppress(OSError):
                tmp.unlink()


def write_outputs(result: RunResult, schema: Schema, outbox: Path, ledger: Ledger | None = None) -> list[str]:
    """Write every output into outbox/<period id>/ and return their relative paths.

    Every target is checked before anything is replaced, so a run refused because a file is
    open in Excel leaves all previous outputs as they were; run.json comes last. `ledger`: the
    run's own (its table `pieces` keeps the workbook's and the report's compressed blocks);
    without one, the outbox's ledger is opened for the writing.
    """
    with contextlib.nullcontext(ledger) if ledger is not None else Ledger(outbox / LEDGER_FILE) as store:
        return _write_outputs(result, schema, Path(outbox), store)


def _write_outputs(result: RunResult, schema: Schema, outbox: Path, ledger: Ledger) -> list[str]:
    period_id = result.period.id
    consolidated, late_list, report = output_names(period_id)
    inspection, draft, letters = paper_names(period_id)
    issues_csv = issues_csv_name(period_id)
    letter_folder = outbox / letters
    _mkdir(outbox / period_id)
    remove_stale_temporaries(outbox / period_id)
    remove_stale_temporaries(letter_folder)
    # Letters are named by the registry's unit code, never by unit-supplied text.
    letter_units_by_name = {
        f"{letters}/{code}.docx": unit
        for unit in letter_units(result)
        if (code := re.sub(r"[^0-9A-Za-z_-]", "_", unit.unit.code))
    }
    if letter_units_by_name:
        _mkdir(letter_folder)
    from pipeline import feedback  # imports this package: import it late

    planned = feedback.plan_run_feedback(result, schema)  # workbooks and e-mail texts to units
    feedback.make_folders(planned, outbox)
    files = [consolidated, late_list, inspection, draft, issues_csv, *letter_units_by_name, *planned]
    for rel in [*files, report]:
        check_replaceable(outbox / rel)  # all or none: refuse before replacing anything

    def consolidated_producer(fh: IO[bytes]) -> None:
        # Blocks of rows cached in the ledger (table `pieces`): a rerun compresses only what changed.
        build_consolidated(result, schema, fh, ledger, consolidated)

    def late_producer(fh: IO[bytes]) -> None:
        build_late_list(result, schema, fh)

    def inspection_producer(fh: IO[bytes]) -> None:
        build_inspection(result, schema, fh)

    with Progress(len(files) + 1, "Ghi kết quả", files=len(result.files)) as bar:
        with STAGES.step("write: consolidated workbook"):
            write_atomic(outbox / consolidated, consolidated_producer)
        bar.update()
        with STAGES.step("write: late list, inspection list, issues CSV"):
            write_atomic(outbox / late_list, late_producer)
            write_atomic(outbox / inspection, inspection_producer)
        with STAGES.step("write: report draft .docx"):
            write_report(result, schema, outbox, draft, ledger)
        with STAGES.step("write: late list, inspection list, issues CSV"):
            write_bytes_atomic(outbox / issues_csv, build_issues_csv(result, schema))
        bar.update(4)
        with STAGES.step("write: reminder letters .docx"):
            # only the letters whose content or file changed since the last run are written
            write_letters(result, schema, outbox, letter_units_by_name, outbox / ".logs", on_done=bar.update)
            stale = set(letter_folder.glob("*.docx")) if letter_folder.is_dir() else set()
            for old in sorted(stale - {outbox / rel for rel in letter_units_by_name}):
                old.unlink(missing_ok=True)  # a unit that has since reported gets no letter
        with STAGES.step("write: feedback workbooks + e-mail texts"):
            feedback.write_planned(planned, outbox, period_id, on_done=bar.update)
        result.outputs = [*files, report]
        with STAGES.step("write: run.json"):
            write_bytes_atomic(outbox / report, render(result, schema))
        bar.update()
    return list(result.outputs)


def _mkdir(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(
            f'Không tạo được thư mục "{folder}" ({exc.strerror or exc}). '
            "Kiểm tra quyền ghi vào thư mục kết quả rồi chạy lại."
        ) from exc
