"""Issues are data: one catalogue of codes (schemas/codes.csv) and the Issue record.

Bad input never raises; every stage returns Issue values, collected in one pass. The report of
a run is a value too (pipeline.outputs.run_report): what was read, decided and written.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pipeline.core.schema import Schema
from pipeline.core.statuses import SEVERITY_ORDER, Severity


@dataclass(frozen=True)
class Issue:
    """One thing found wrong (or worth a look) in one file, at one cell when it has one."""

    code: str  # a key of the catalogue
    severity: Severity
    file: str  # the inbox name ("thư.eml/Báo cáo.xlsx" for an attachment)
    sheet: str
    cell: str  # "D8"
    message: str  # Vietnamese, from the catalogue's template
    unit: str = ""  # registry code, when known
    key: str = ""  # the form's key of the input concerned, when one is
    # value-outlier only: whether the unit explained it in its task's explanation cell
    explained: bool | None = None


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


def has_errors(issues: Iterable[Issue]) -> bool:
    return any(i.severity == Severity.ERROR for i in issues)


def sort_key(issue: Issue) -> tuple[str, int, str, str, str]:
    return (issue.file, SEVERITY_ORDER.get(issue.severity, 9), issue.sheet, issue.cell, issue.code)
