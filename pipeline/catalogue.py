"""Issues are data: one catalogue of codes (schemas/codes.csv) and the Issue record.

Bad input never raises; every stage returns Issue values, collected in one pass.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from pipeline.schema import Schema

SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}
SEVERITY_VI = {"error": "Lỗi", "warning": "Cảnh báo", "info": "Thông tin"}


@dataclass(frozen=True)
class Issue:
    code: str
    severity: str
    file: str
    sheet: str
    cell: str
    message: str
    unit: str = ""
    key: str = ""

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


class _Blank(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""


def make_issue(
    schema: Schema,
    code: str,
    *,
    file: str = "",
    sheet: str = "",
    cell: str = "",
    unit: str = "",
    key: str = "",
    **params: Any,
) -> Issue:
    """Build an Issue from the catalogue; the label of `key` is filled in for the message."""
    entry = schema.codes[code]
    values = _Blank(params)
    values.update(file=file, sheet=sheet, cell=cell, key=key, unit=unit)
    if key and "label" not in params and key in schema.field_by_key:
        values["label"] = schema.field_by_key[key].label
    return Issue(
        code=code,
        severity=entry.severity,
        file=file,
        sheet=sheet,
        cell=cell,
        message=entry.message.format_map(values),
        unit=unit,
        key=key,
    )


def has_errors(issues: list[Issue]) -> bool:
    return any(i.severity == "error" for i in issues)


def sort_key(issue: Issue) -> tuple[str, int, str, str, str]:
    return (issue.file, SEVERITY_ORDER.get(issue.severity, 9), issue.sheet, issue.cell, issue.code)
