"""File names from e-mails or units never escape the folder they are written to."""

from __future__ import annotations

from pathlib import Path

from pipeline.intake.safepath import MAX_NAME_CHARS, safe_file_name, safe_join

HOSTILE = [
    "../../etc/passwd",
    "..\\..\\Windows\\System32\\evil.xlsx",
    "/etc/cron.d/x",
    "C:\\Users\\Public\\x.xlsx",
    "C:x.xlsx",
    "\\\\server\\share\\x.xlsx",
    "..",
    ".",
    "",
    "a\x00b.xlsx",
    "CON.xlsx",
    "nul",
    "bao-cao.xlsx.",
    "x" * 400 + ".xlsx",
    "=cmd|' /C calc'!A0.xlsx",
    "Báo cáo Sở Y tế.xlsx",
]


def test_hostile_names_stay_in_the_folder(tmp_path: Path) -> None:
    folder = tmp_path / "attachments"
    folder.mkdir()
    made = set()
    for name in HOSTILE:
        target = safe_join(folder, name)
        assert target.parent == folder
        assert target.resolve().parent == folder.resolve()
        assert target.name not in ("", ".", "..")
        assert len(target.name) <= MAX_NAME_CHARS
        target.write_bytes(b"x")  # really writable there
        made.add(target.name)
    assert {p.name for p in folder.iterdir()} == made
    assert not (tmp_path / "etc").exists()


def test_names_kept_readable() -> None:
    assert safe_file_name("Báo cáo Sở Y tế.xlsx") == "Báo cáo Sở Y tế.xlsx"
    assert safe_file_name("../../etc/passwd") == "passwd"
    assert safe_file_name("CON.xlsx") == "_CON.xlsx"
    assert safe_file_name("x" * 400 + ".xlsx").endswith(".xlsx")
    assert safe_file_name("") == "tep-dinh-kem"
