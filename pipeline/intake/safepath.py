"""File names that come from outside (e-mail attachments, zip members, units) made safe.

A name from outside never chooses a folder: only its last component is kept, and the
result is a plain file name valid on Windows and Linux, so that writing it under a folder
can never land outside that folder (no "..", no absolute path, no drive, no device name).
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

MAX_NAME_CHARS = 150
_FORBIDDEN = re.compile(r'[\x00-\x1f\x7f<>:"|?*]')
_WINDOWS_DEVICES = {
    "con",
    "prn",
    "aux",
    "nul",
    *(f"com{i}" for i in range(1, 10)),
    *(f"lpt{i}" for i in range(1, 10)),
}


class UnsafePathError(ValueError):
    """A computed path left its folder (a bug: safe_file_name should make this impossible)."""


def safe_file_name(name: str, fallback: str = "tep-dinh-kem") -> str:
    """The last component of `name`, cleaned: NFC, no separators, controls or reserved names."""
    text = unicodedata.normalize("NFC", name)
    text = re.split(r"[\\/]", text)[-1]  # both separators, whatever the platform
    text = _FORBIDDEN.sub("_", text).strip().rstrip(". ")
    text = text.lstrip(".")  # no hidden files, no "." or ".."
    stem = text.split(".", 1)[0].lower()
    if stem in _WINDOWS_DEVICES:
        text = "_" + text
    if len(text) > MAX_NAME_CHARS:
        dot = text.rfind(".")
        suffix = text[dot:] if dot > 0 and len(text) - dot <= 10 else ""
        text = text[: MAX_NAME_CHARS - len(suffix)] + suffix
    return text or fallback


def safe_join(folder: Path, name: str) -> Path:
    """folder / safe_file_name(name), checked to be directly inside `folder`."""
    target = Path(folder) / safe_file_name(name)
    if target.resolve().parent != Path(folder).resolve():
        raise UnsafePathError(f"{name!r} escapes {folder}")
    return target
