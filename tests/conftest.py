"""Shared fixtures: the schema, the generated template, the sample inbox, one filled report and
its conversions, and the real command line.

Conversions are made by LibreOffice (`soffice --headless --convert-to ...`), once per test
session. When soffice is missing those tests skip, unless CI=true (then they fail).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Mapping
from pathlib import Path

import pytest

from pipeline import config
from pipeline.authoring.sample import SampleManifest, build_sample_inbox
from pipeline.authoring.template import write_template
from pipeline.core.schema import Schema
from pipeline.ooxml.edit import CellValue, fill_workbook

# LibreOffice filters: target extension → --convert-to argument.
LO_FILTERS = {
    "xls": "xls",
    "ods": "ods",
    "xlsx": "xlsx:Calc MS Excel 2007 XML",
    "xlsm": "xlsm:Calc MS Excel 2007 VBA XML",
}
SAMPLE_UNIT = "SNV"
ROOT = Path(__file__).resolve().parents[1]
AS_OF = "2023-04-10T09:00:00+07:00"


@pytest.fixture(scope="session")
def schema() -> Schema:
    return config.load()


@pytest.fixture(scope="session")
def template_path(schema: Schema, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_template(schema, tmp_path_factory.mktemp("template"))


@pytest.fixture(scope="session")
def template(template_path: Path) -> Path:
    return template_path


@pytest.fixture(scope="session")
def sample(tmp_path_factory: pytest.TempPathFactory, schema: Schema, template_path: Path) -> SampleManifest:
    """The demo's sample inbox: 32 units, late, missing, rejected and resubmitted ones."""
    return build_sample_inbox(schema, template_path, tmp_path_factory.mktemp("sample") / "inbox")


@pytest.fixture(scope="session")
def sample_values(sample: SampleManifest) -> Mapping[str, CellValue]:
    """The values of one valid, on-time Q1 2023 report (from the sample generator)."""
    unit = sample.units[SAMPLE_UNIT]
    assert unit.state == "on_time" and unit.values is not None
    return dict(unit.values)


@pytest.fixture(scope="session")
def filled_xlsx(
    template_path: Path, sample_values: Mapping[str, CellValue], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    target = tmp_path_factory.mktemp("filled") / "Báo cáo Sở Nội vụ.xlsx"
    fill_workbook(template_path, sample_values, target)
    return target


def soffice_convert(source: Path, target_ext: str, out_dir: Path) -> Path:
    """Convert `source` with LibreOffice into out_dir; the result keeps the base name."""
    exe = soffice()
    out_dir.mkdir(parents=True, exist_ok=True)
    profile = Path(os.environ.get("TMPDIR", "/tmp")) / f"lo-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        subprocess.run(
            [
                exe,
                f"-env:UserInstallation={profile.as_uri()}",
                "--headless",
                "--convert-to",
                LO_FILTERS[target_ext],
                "--outdir",
                str(out_dir),
                str(source),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    result = out_dir / f"{source.stem}.{target_ext}"
    assert result.is_file(), f"LibreOffice did not write {result}"
    return result


@pytest.fixture(scope="session")
def converted(filled_xlsx: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The filled report saved by LibreOffice as .xls, .ods, .xlsx and .xlsm (one conversion each)."""
    base = tmp_path_factory.mktemp("libreoffice")
    return {ext: soffice_convert(filled_xlsx, ext, base / ext) for ext in LO_FILTERS}


def run_cli(
    *args: str, cwd: Path = ROOT, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The real command line, as the officer runs it (`env`: variables set for it, such as
    the mail password)."""
    variables = {**os.environ, **(env or {}), "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        cwd=cwd,
        env=variables,
        capture_output=True,
        text=True,
        timeout=600,
    )


def soffice() -> str:
    """LibreOffice's binary; tests that need it skip without it, except in CI."""
    exe = shutil.which("soffice") or shutil.which("libreoffice")
    if exe is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("LibreOffice (soffice) is required in CI")
        pytest.skip("LibreOffice is not installed")
    return exe


def comparable(name: str, data: bytes) -> bytes:
    """An output's bytes as two runs over the same inbox and as-of must give them: run.json
    without its `from_cache` flags (a rerun takes verdicts from the cache, a cold run does not)."""
    if not name.endswith("run.json"):
        return data
    report = json.loads(data)
    for entry in report.get("files", []):
        entry.pop("from_cache", None)
    return json.dumps(report, ensure_ascii=False, sort_keys=True).encode("utf-8")


def output_files(outbox: Path, period: str = "2023-Q1") -> dict[str, bytes]:
    """Every output run.json lists (run.json itself included), comparable across runs."""
    report = json.loads((outbox / period / "run.json").read_text(encoding="utf-8"))
    return {rel: comparable(rel, (outbox / rel).read_bytes()) for rel in report["outputs"]}
