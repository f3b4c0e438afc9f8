"""The values that flow between stages: intake → read → validate → merge → score → write."""

from __future__ import annotations

import marshal
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from pipeline.core.deadlines import ReportingPeriod
from pipeline.core.issues import Issue, has_errors
from pipeline.core.schema import Unit
from pipeline.core.statuses import FileStatus, UnitStatus

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
    received_source: str = ""  # "receipts" | "mailbox" | "email" | "ledger"
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
    status: FileStatus = FileStatus.REJECTED  # provisional until merge decides
    unit: str | None = None
    period: str | None = None  # period code, e.g. "Q1"
    year: int | None = None
    template_version: str | None = None
    values: dict[str, Value] = field(default_factory=dict)
    # Read-only: submissions of one template taken from the cache share one mapping.
    cells: Mapping[str, Located] = field(default_factory=dict)
    issues: list[Issue] = field(default_factory=list)
    read_seconds: float = 0.0  # wall time spent reading and validating it (debug log only)
    from_cache: bool = False  # this run took the verdict from the cache instead of making it

    @property
    def valid(self) -> bool:
        return self.status != FileStatus.IGNORED and not has_errors(self.issues)

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


class Criteria:
    """The criteria of a score, in rubric order: given, or as the cache keeps them (marshal
    bytes), unpacked when first read. A rerun loads 10,000 kept scores and shows the criteria of
    only the few units whose rows changed (docs/performance.md)."""

    __slots__ = ("_items", "_packed")

    def __init__(
        self, items: tuple[CriterionScore, ...] | None = None, *, packed: bytes | None = None
    ) -> None:
        if (items is None) == (packed is None):
            raise ValueError("Criteria: items or packed bytes, one of them")
        self._items = items
        self._packed = packed

    def items(self) -> tuple[CriterionScore, ...]:
        if self._items is None:
            assert self._packed is not None
            self._items = tuple(CriterionScore(*c) for c in marshal.loads(self._packed))  # ours, by packed()
        return self._items

    def packed(self) -> bytes:
        if self._packed is None:
            fields = tuple((c.key, c.label, c.points, c.max_points, c.rule, c.figures) for c in self.items())
            self._packed = marshal.dumps(fields)
        return self._packed

    def __iter__(self) -> Iterator[CriterionScore]:
        return iter(self.items())

    def __len__(self) -> int:
        return len(self.items())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Criteria) and self.items() == other.items()

    def __hash__(self) -> int:
        return hash(self.items())

    def __repr__(self) -> str:
        return f"Criteria({self.items()!r})"


@dataclass(frozen=True)
class Score:
    """A unit's score: its total, its band and why, each criterion's points, its own self-score."""

    total: float
    band: str
    band_rule: str  # why this band (thresholds and caps applied)
    criteria: Criteria
    self_score: float | None

    @property
    def difference(self) -> float | None:
        return None if self.self_score is None else round(self.self_score - self.total, 2)


@dataclass(slots=True)  # not frozen: 10,000 of them a run, and a frozen init costs 4× as much
class Version:
    """One version of a unit's report for the period, as the ledger remembers it."""

    number: int  # 1-based, in order of receipt
    of: int  # how many versions in all
    file: str
    sha256: str
    received_at: datetime
    status: str  # a FileStatus value, as decided by the latest run
    in_inbox: bool  # False: seen by an earlier run, no longer in the inbox

    @property
    def label(self) -> str:
        return f"{self.number}/{self.of}"


@dataclass
class UnitResult:
    unit: Unit
    status: UnitStatus
    submission: Submission | None = None  # the consolidated version
    received_at: datetime | None = None  # the time that decides timeliness
    days_late: int = 0
    score: Score | None = None
    band: str = ""
    versions: list[Submission] = field(default_factory=list)  # every file of this unit, oldest first
    history: list[Version] = field(default_factory=list)  # every version ever received (ledger)
    resubmitted_in_time: bool = False  # sent on time, rejected, corrected by the grace deadline
    grace_until: date | None = None  # sent on time and rejected: the day to resend by to count on time


@dataclass(frozen=True)
class PastResult:
    """A unit's result in an earlier period, as recorded in the ledger (pipeline.store.history)."""

    period_id: str
    year: int
    order: int
    unit: str
    status: str
    score: float | None
    band: str
    days_late: int
    errors: int  # error issues over all the unit's files of that period


@dataclass(frozen=True)
class PreviousYear:
    """A unit's same period of the previous year, across registry changes: the units it covers
    (the unit itself, or the units merged into it) and their accepted figures summed."""

    units: tuple[str, ...]  # codes with accepted figures that year, summed in `values`
    names: tuple[str, ...]  # the names of every unit it covers (`units`, then `missing`)
    values: dict[str, int | float]  # numeric indicator → sum over `units`
    missing: tuple[str, ...] = ()  # codes merged into the unit that have no accepted figures
    split_from: tuple[str, ...] = ()  # codes of units split among several (figures not divisible)
    results: tuple[PastResult, ...] = ()  # the recorded status, score and band of every unit covered
    covered: tuple[Unit, ...] = ()  # every unit merged into it (or itself), registry order

    @property
    def merged(self) -> bool:
        """It covers units other than the unit itself (a registry change lies in between)."""
        return len(self.units) + len(self.missing) > 1


@dataclass
class RunResult:
    """What a run decided: the files, the units, the totals and ranking, the earlier periods."""

    period: ReportingPeriod
    as_of: datetime
    files: list[Submission]  # one per inbox file (and per file taken out of an e-mail or zip)
    units: list[UnitResult]  # one per registry unit, registry order
    totals: dict[str, int | float]  # indicator key → sum over accepted submissions
    ranking: list[tuple[int | None, UnitResult]]  # pipeline.core.ranking.rank(units)
    past: list[PastResult] = field(default_factory=list)  # earlier periods' results (ledger)
    # period id → indicator totals of the previous period of the year and the same period of
    # the previous year, when the ledger has them (pipeline.store.history.comparison_totals)
    compared: dict[str, dict[str, int | float]] = field(default_factory=dict)
    # Unit code → its same period of the previous year, predecessors included (absent: nothing).
    previous_year: dict[str, PreviousYear] = field(default_factory=dict)
    outputs: list[str] = field(default_factory=list)  # written files, relative to the outbox

    def count(self, status: str) -> int:
        return sum(1 for u in self.units if u.status == status)
