"""Shared fixtures: the generated template and the sample inbox, built once per session."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline import schema as schema_mod
from pipeline.sample import SampleManifest, build_sample_inbox
from pipeline.schema import Schema
from pipeline.template import write_template

ROOT = Path(__file__).resolve().parents[1]
AS_OF = "2023-04-10T09:00:00+07:00"


@pytest.fixture(scope="session")
def schema() -> Schema:
    return schema_mod.load()


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory, schema: Schema) -> Path:
    return write_template(schema, tmp_path_factory.mktemp("template"))


@pytest.fixture(scope="session")
def sample(tmp_path_factory: pytest.TempPathFactory, schema: Schema, template: Path) -> SampleManifest:
    return build_sample_inbox(schema, template, tmp_path_factory.mktemp("sample") / "inbox")


def run_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """The real command line, as the officer runs it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def soffice() -> str:
    """LibreOffice's binary; tests that need it skip without it, except in CI."""
    exe = shutil.which("soffice") or shutil.which("libreoffice")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("LibreOffice (soffice) is required in CI")
        pytest.skip("LibreOffice is not installed")
    return exe
