"""What the officer reads on the command line is Vietnamese, usage errors included."""

from __future__ import annotations

from tests.conftest import run_cli


def test_usage_error_is_vietnamese_and_exits_2() -> None:
    proc = run_cli("consolidate")
    assert proc.returncode == 2
    assert "--period" in proc.stderr
    for english in ("Usage:", "Error:", "Missing option", "Try '"):
        assert english not in proc.stderr


def test_help_is_vietnamese() -> None:
    proc = run_cli("consolidate", "--help")
    assert proc.returncode == 0
    for english in ("Usage:", "Options:", "Show this message", "[required]", "[OPTIONS]"):
        assert english not in proc.stdout
    assert "--period" in proc.stdout and "--as-of" in proc.stdout


def test_unknown_command_exits_2() -> None:
    proc = run_cli("tong-hop")
    assert proc.returncode == 2
    assert "'tong-hop'" in proc.stderr and "No such command" not in proc.stderr
