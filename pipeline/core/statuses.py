"""The closed vocabularies of the pipeline: severities of issues, statuses of files and units.

String enums: a member equals its value ("error" == Severity.ERROR), so the values written to
run.json, the ledger and the cache stay the plain words they always were.
"""

from __future__ import annotations

from enum import StrEnum


class Severity(StrEnum):
    """How much an issue weighs: an error rejects the file, a warning asks for a look."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


SEVERITY_ORDER: dict[str, int] = {s: i for i, s in enumerate(Severity)}  # errors first


class FileStatus(StrEnum):
    """What became of one inbox file (Submission.status)."""

    ACCEPTED = "accepted"  # the unit's consolidated version
    SUPERSEDED = "superseded"  # valid, but a later valid version replaces it
    REJECTED = "rejected"  # has errors (or could not be read)
    IGNORED = "ignored"  # not a report of this period (system file, other period, duplicate…)


class UnitStatus(StrEnum):
    """What became of one registry unit in the period (UnitResult.status), in listing order."""

    ON_TIME = "on_time"
    LATE = "late"
    MISSING = "missing"
    REJECTED = "rejected"
    NOT_DUE = "not_due"
