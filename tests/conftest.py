"""Shared fixtures: the schema, the generated template, one filled report and its conversions.

Conversions are made by LibreOffice (`soffice --headless --convert-to ...`), once per test
session. When soffice is missing those tests skip, unless CI=true (then they fail).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Mapping
from pathlib import Path

import pytest

from pipeline import schema as schema_mod
from pipeline.fill import CellValue, fill_workbook
from pipeline.sample import build_sample_inbox
from pipeline.template import write_template

# LibreOffice filters: target extension → --convert-to argument.
LO_FILTERS = {
    "xls": "xls",
    "ods": "ods",
    "xlsx": "xlsx:Calc MS Excel 2007 XML",
    "xlsm": "xlsm:Calc MS Excel 2007 VBA XML",
}
SAMPLE_UNIT = "SNV"


@pytest.fixture(scope="session")
def schema() -> schema_mod.Schema:
    return schema_mod.load()


@pytest.fixture(scope="session")
def template_path(schema: schema_mod.Schema, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_template(schema, tmp_path_factory.mktemp("template"))


@pytest.fixture(scope="session")
def sample_values(
    schema: schema_mod.Schema, template_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Mapping[str, CellValue]:
    """The values of one valid, on-time Q1 2023 report (from the sample generator)."""
    manifest = build_sample_inbox(schema, template_path, tmp_path_factory.mktemp("sample"))
    unit = manifest.units[SAMPLE_UNIT]
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
    exe = shutil.which("soffice") or shutil.which("libreoffice")
    if exe is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("soffice (LibreOffice) is required in CI")
        pytest.skip("soffice (LibreOffice) is not installed")
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
