"""The write stage: every output of a run into outbox/<period>/, atomically, run.json last.

The consolidated workbook, the late list, the inspection list, the report draft and the
reminder letters (.docx), the issues CSV, the expectation suite the run used, feedback to units
(annotated workbooks and e-mail texts) and run.json, which lists every other file.

Every target is checked before anything is replaced, so a run refused because a file is open in
Excel leaves all previous outputs as they were.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import IO

from pipeline.core.model import RunResult
from pipeline.core.schema import Schema
from pipeline.outputs import commune_bands, feedback, figures, letters, run_report
from pipeline.outputs.inspection import build_inspection
from pipeline.outputs.issues_csv import build_issues_csv
from pipeline.outputs.late_list import build_late_list
from pipeline.outputs.report import write_report
from pipeline.outputs.workbook import build_consolidated
from pipeline.reading.expectations import suite_document
from pipeline.runtime.progress import STAGES, Progress
from pipeline.store.atomic import (
    OutputError,
    check_replaceable,
    make_folder,
    write_atomic,
    write_bytes_atomic,
)
from pipeline.store.cache import Cache

LOGS = ".logs"  # debug logs of the last runs (stage timings, read times): not outputs


def output_names(period_id: str) -> dict[str, str]:
    """Each output file of a period, relative to the outbox ("/"-separated), by what it is."""
    return {
        "workbook": f"{period_id}/tong-hop-{period_id}.xlsx",
        "late_list": f"{period_id}/danh-sach-nop-muon-{period_id}.xlsx",
        "inspection": f"{period_id}/de-xuat-kiem-tra-{period_id}.xlsx",
        "report": f"{period_id}/bao-cao-{period_id}.docx",
        "issues_csv": f"{period_id}/loi-kiem-tra-{period_id}.csv",
        "suite": f"{period_id}/bo-kiem-tra-{period_id}.json",
        "commune_bands": f"{period_id}/xep-loai-xa-phuong-{period_id}.xlsx",
        "run_json": f"{period_id}/run.json",
    }


def remove_stale_temporaries(folder: Path) -> None:
    """Temporary files left by a run that was killed before renaming them (called under the run lock)."""
    if folder.is_dir():
        for tmp in folder.glob(".*.tmp"):
            with contextlib.suppress(OSError):
                tmp.unlink()


def write_outputs(result: RunResult, schema: Schema, outbox: Path, cache: Cache | None = None) -> list[str]:
    """Write every output into outbox/<period id>/ and return their paths relative to the outbox.

    `cache`: the run's cache store (pieces of the workbook and the report, letters and feedback
    as last written); without one, everything is built from scratch.
    """
    outbox = Path(outbox)
    period_id = result.period.id
    names = output_names(period_id)
    make_folder(outbox / period_id)
    remove_stale_temporaries(outbox / period_id)
    letter_files = letters.letter_names(result)
    if letter_files:
        make_folder(outbox / period_id / letters.FOLDER)
    remove_stale_temporaries(outbox / period_id / letters.FOLDER)
    planned = feedback.plan_run_feedback(result, schema)  # workbooks and e-mail texts to units
    feedback.make_folders(planned, outbox)
    files = [names[k] for k in ("workbook", "late_list", "inspection", "report", "issues_csv", "suite")]
    bands = commune_bands.applies(result, schema)  # the year's run of a registry with communes
    if bands:
        files.append(names["commune_bands"])
    files += [*letter_files, *planned]
    for rel in [*files, names["run_json"]]:
        check_replaceable(outbox / rel)  # all or none: refuse before replacing anything
    suggestions = figures.inspection_list(result, schema)

    def workbook(fh: IO[bytes]) -> None:
        build_consolidated(result, schema, fh, cache, names["workbook"], suggestions)

    def late_list(fh: IO[bytes]) -> None:
        build_late_list(result, schema, fh)

    def inspection(fh: IO[bytes]) -> None:
        build_inspection(result, schema, suggestions, fh)

    with Progress(len(files) + 1, "Ghi kết quả", files=len(result.files)) as bar:
        with STAGES.step("write: consolidated workbook"):
            write_atomic(outbox / names["workbook"], workbook)
        with STAGES.step("write: late list, inspection list, issues CSV, suite"):
            write_atomic(outbox / names["late_list"], late_list)
            write_atomic(outbox / names["inspection"], inspection)
            write_bytes_atomic(outbox / names["issues_csv"], build_issues_csv(result, schema))
            write_bytes_atomic(outbox / names["suite"], suite_document(schema))
            if bands:
                write_atomic(
                    outbox / names["commune_bands"],
                    lambda fh: commune_bands.build_commune_bands(result, schema, fh),
                )
        bar.update(5)
        with STAGES.step("write: report draft .docx"):
            write_report(result, schema, outbox, names["report"], cache)
        bar.update(1)
        with STAGES.step("write: reminder letters .docx"):
            letters.write_letters(result, schema, outbox, letter_files, cache, on_done=bar.update)
        with STAGES.step("write: feedback workbooks + e-mail texts"):
            feedback.write_planned(planned, outbox, period_id, cache, on_done=bar.update)
        result.outputs = [*files, names["run_json"]]
        with STAGES.step("write: run.json"):
            write_bytes_atomic(outbox / names["run_json"], run_report.dump(run_report.report(result, schema)))
        bar.update()
    return list(result.outputs)


def write_logs(result: RunResult, outbox: Path, stages: dict[str, float]) -> None:
    """outbox/.logs/: seconds per stage and per file read (debug logs of the last run of each
    period, not outputs: never listed in run.json, and losing them costs nothing)."""
    times = {s.file.name: round(s.read_seconds, 4) for s in result.files if s.read_seconds}
    with contextlib.suppress(OutputError, OSError):
        (outbox / LOGS).mkdir(exist_ok=True)
        data = json.dumps(times, ensure_ascii=False, indent=1, sort_keys=True).encode("utf-8")
        write_bytes_atomic(outbox / LOGS / f"read-times-{result.period.id}.json", data)
        data = json.dumps({k: round(v, 3) for k, v in stages.items()}, ensure_ascii=False, indent=1).encode()
        write_bytes_atomic(outbox / LOGS / f"stages-{result.period.id}.json", data)
