"""The values that flow between stages: intake → read → validate → merge → score → write."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

from pipeline.catalogue import Issue, has_errors
from pipeline.deadlines import ReportingPeriod
from pipeline.schema import Unit

T = TypeVar("T")

# A parsed input value: numbers are int (integer fields) or float; text is NFC str.
Value = int | float | str | date | None


@dataclass
class InboxFile:
    """One file found in the inbox (or, later, one attachment inside an e-mail)."""

    name: str  # path relative to the inbox, "/"-separated: what the officer sees
    path: Path  # where the bytes are
    sha256: str
    size: int
    received_at: datetime | None = None
    received_source: str = ""  # "receipts" | "email" | "ledger"
    kind: str = ""  # sniffed: "xlsx" | "xls" | "ods" | "xlsb" | "" (not a spreadsheet)


@dataclass(frozen=True)
class Located:
    """Where an input was found in a submitted file."""

    sheet: str
    cell: str


@dataclass
class Submission:
    """One inbox file read as a report, with everything found wrong in it."""

    file: InboxFile
    status: str = "rejected"  # accepted | superseded | rejected | ignored
    unit: str | None = None
    period: str | None = None  # period code, e.g. "Q1"
    year: int | None = None
    template_version: str | None = None
    values: dict[str, Value] = field(default_factory=dict)
    # Read-only: submissions of one template loaded from the parse cache share one mapping.
    cells: Mapping[str, Located] = field(default_factory=dict)
    issues: list[Issue] = field(default_factory=list)
    read_seconds: float = 0.0  # wall time spent reading and validating it (debug log only)

    @property
    def valid(self) -> bool:
        return self.status != "ignored" and not has_errors(self.issues)

    def location(self, key: str, default: Located) -> Located:
        return self.cells.get(key, default)


@dataclass(frozen=True)
class CriterionScore:
    key: str
    label: str
    points: float  # awarded
    max_points: float
    rule: str  # the rule that gave the points, in Vietnamese
    figures: str  # the figures it used, e.g. "đúng hạn 95 / (95 + 5) = 95,0%"


class Score:
    """A unit's score. `criteria` may be given as a function that returns them: a score
    remembered in the ledger (score.load_score) decodes its criteria only when they are read,
    and most runs read them for a few units only."""

    __slots__ = ("_criteria", "band", "band_rule", "self_score", "total")

    def __init__(
        self,
        total: float,
        band: str,
        band_rule: str,  # why this band (thresholds and caps applied)
        criteria: tuple[CriterionScore, ...] | Callable[[], tuple[CriterionScore, ...]],
        self_score: float | None,
    ) -> None:
        self.total = total
        self.band = band
        self.band_rule = band_rule
        self._criteria = criteria
        self.self_score = self_score

    @property
    def criteria(self) -> tuple[CriterionScore, ...]:
        if not isinstance(self._criteria, tuple):
            self._criteria = self._criteria()
        return self._criteria

    @property
    def difference(self) -> float | None:
        return None if self.self_score is None else round(self.self_score - self.total, 2)

    def _fields(self) -> tuple[object, ...]:
        return (self.total, self.band, self.band_rule, self.criteria, self.self_score)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Score) and self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        return "Score(total={!r}, band={!r}, band_rule={!r}, criteria={!r}, self_score={!r})".format(
            *self._fields()
        )


@dataclass(slots=True)  # not frozen: 10,000 of them a run, and a frozen init costs 4× as much
class Version:
    """One version of a unit's report for the period, as the ledger remembers it."""

    number: int  # 1-based, in order of receipt
    of: int  # how many versions in all
    file: str
    sha256: str
    received_at: datetime
    status: str  # accepted | superseded | rejected (as decided by the latest run)
    in_inbox: bool  # False: seen by an earlier run, no longer in the inbox

    @property
    def label(self) -> str:
        return f"{self.number}/{self.of}"


@dataclass
class UnitResult:
    unit: Unit
    status: str  # on_time | late | missing | rejected | not_due
    submission: Submission | None = None  # the consolidated version
    received_at: datetime | None = None  # the time that decides timeliness
    days_late: int = 0
    score: Score | None = None
    band: str = ""
    versions: list[Submission] = field(default_factory=list)  # every file of this unit, oldest first
    history: list[Version] = field(default_factory=list)  # every version ever received (ledger)


@dataclass(frozen=True)
class PastResult:
    """A unit's result in an earlier period, as recorded in the ledger (pipeline/history.py)."""

    period_id: str
    year: int
    order: int
    unit: str
    status: str
    score: float | None
    band: str
    days_late: int
    errors: int  # error issues over all the unit's files of that period


@dataclass
class RunResult:
    period: ReportingPeriod
    as_of: datetime
    files: list[Submission]  # one per inbox file, in name order
    units: list[UnitResult]  # one per registry unit, registry order
    totals: dict[str, int | float]  # indicator key → sum over accepted submissions
    outputs: list[str] = field(default_factory=list)  # written files, relative to the outbox
    past: list[PastResult] = field(default_factory=list)  # earlier periods' results (ledger)
    # What the writers derive from the result and share, computed once (see `once`).
    derived: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def once(self, key: str, compute: Callable[[], T]) -> T:
        """`compute()`, the first time `key` is asked for: the ranking and the inspection list
        feed the workbook, the report and their own files."""
        if key not in self.derived:
            self.derived[key] = compute()
        found: T = self.derived[key]
        return found

    @property
    def accepted(self) -> list[Submission]:
        return [u.submission for u in self.units if u.submission is not None]

    def count(self, status: str) -> int:
        return sum(1 for u in self.units if u.status == status)
