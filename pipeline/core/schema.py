"""The schema as typed values: registry, calendar, form, rubric, template settings, catalogue.

`schemas/` is the single source of truth; pipeline.config reads it into these values. Nothing
here reads a file.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from enum import StrEnum
from pathlib import Path

from pipeline.core.statuses import Severity, UnitStatus
from pipeline.core.vietnamese import lower_first

# Unit kinds, in the order the outputs group them, with their Vietnamese group names.
KINDS_VI: dict[str, str] = {
    "department": "Sở, ban, ngành",
    "district": "Huyện, thị xã, thành phố",
    "ward": "Phường",
    "commune": "Xã",
}
# Kinds governed by a People's Committee: a letter is addressed to "Ủy ban nhân dân …".
LOCAL_KINDS = frozenset({"district", "commune", "ward"})


@dataclass(frozen=True)
class Unit:
    code: str
    name: str
    kind: str  # "department" | "district" | "commune" | "ward"
    communes: int | None
    aliases: tuple[str, ...]
    valid_from: date | None = None  # first day the unit exists; None: always has
    valid_to: date | None = None  # last day the unit exists; None: still does
    successors: tuple[str, ...] = ()  # codes it became when it ceased (one: a merge; several: a split)
    reports: bool = True  # False: in the registry for its lineage only, never expected to report
    emails: tuple[str, ...] = ()  # where `mail send` writes to the unit (units.csv `email`)
    short_name: str = ""  # how charts label it ("An Lão", "Sở Tư pháp"); `label` falls back to name

    @property
    def label(self) -> str:
        """The short name charts and narrow columns show."""
        return self.short_name or self.name

    @property
    def addressee(self) -> str:
        """How a letter addresses the unit: a local government through its People's Committee."""
        if self.kind in LOCAL_KINDS:
            return "Ủy ban nhân dân " + lower_first(self.name)
        return self.name

    @property
    def in_sentence(self) -> str:
        """The name inside a sentence: "xã Một" (a commune, ward or district), "Sở Tư pháp"."""
        return lower_first(self.name) if self.kind in LOCAL_KINDS else self.name

    @property
    def kind_vi(self) -> str:
        return KINDS_VI.get(self.kind, self.kind)

    def valid_on(self, day: date) -> bool:
        """The unit exists on `day` (both ends of its validity included)."""
        return (self.valid_from is None or self.valid_from <= day) and (
            self.valid_to is None or day <= self.valid_to
        )


def kind_order(kind: str) -> int:
    """The position of a kind in the outputs' grouping (unknown kinds last)."""
    order = list(KINDS_VI)
    return order.index(kind) if kind in order else len(order)


@dataclass(frozen=True)
class Field:
    """One input of the form (a row of schemas/form.csv)."""

    key: str
    group: str  # "identification" | "indicator" | "narrative"
    task: str
    label: str
    unit: str
    kind: str  # "id" | "flow" | "stock" | "text"
    type: str  # unit | period | integer | number | text | date | phone | email
    applies_to: str  # "all", or unit kinds separated by "|" ("district", "commune|ward")
    periods: tuple[str, ...]  # ("all",) or period codes
    requirement: str  # "required" | "expected" | "optional"
    min: float | None
    max: float | None
    rule: str
    rule_severity: Severity
    sheet: str
    cell: str

    @property
    def numeric(self) -> bool:
        return self.type in ("integer", "number")

    def applies(self, unit: Unit | None, period: str) -> bool:
        if self.applies_to not in ("all", "") and (
            unit is None or unit.kind not in self.applies_to.split("|")
        ):
            return False
        return "all" in self.periods or period in self.periods


@dataclass(frozen=True)
class Period:
    code: str
    name: str
    aliases: tuple[str, ...]
    order: int
    deadline: str  # "MM-DD"
    cutoff_start: str
    cutoff_start_previous_year: bool
    cutoff_end: str


@dataclass(frozen=True)
class Calendar:
    timezone: str
    timeliness_from: str  # "first_valid" | "consolidated"
    periods: tuple[Period, ...]
    resubmit_days: int = 5  # working days a unit has to resend, counted from the run's date
    extra_days_off: tuple[date, ...] = ()  # days off the officer adds to the public holidays
    working_days: tuple[date, ...] = ()  # weekend days worked by decision (swapped days)
    # A report received on time, rejected, and corrected by the resubmission deadline counts as
    # on time ("on_time", the default) or from the corrected version's time ("corrected_time").
    resubmission_policy: str = "on_time"

    def period(self, code: str) -> Period:
        for p in self.periods:
            if p.code == code:
                return p
        raise KeyError(code)


@dataclass(frozen=True)
class Code:
    """An entry of the issue catalogue (schemas/codes.csv)."""

    code: str
    severity: Severity
    title: str
    message: str  # str.format template; unknown names are left blank


# --- the rubric (schemas/rubric.toml) ---------------------------------------------------------


class CriterionKind(StrEnum):
    LATENESS = "lateness"  # points by days late
    COMPLETENESS = "completeness"  # points × share of expected inputs present and valid
    CHECKS = "checks"  # points per condition met
    RATE = "rate"  # points linear in a rate between zero_at and full_at


@dataclass(frozen=True)
class Step:
    """Points for a lateness up to `max_days` (the last step: any lateness)."""

    max_days: int | None
    points: float
    rule: str


@dataclass(frozen=True)
class Condition:
    """Points when an expression over the indicators holds (`otherwise` when it does not)."""

    when: str
    points: float
    otherwise: float
    rule: str


@dataclass(frozen=True)
class Criterion:
    key: str
    label: str
    points: float
    kind: CriterionKind
    rule: str = ""
    steps: tuple[Step, ...] = ()  # lateness: in order, then `otherwise`
    otherwise: Step | None = None
    checks: tuple[Condition, ...] = ()
    numerator: str = ""  # rate
    denominator: str = ""
    full_at: float = 1.0
    zero_at: float = 0.0
    if_no_denominator: float = 0.0
    kinds: tuple[str, ...] = ()  # unit kinds it scores; empty: every kind
    may_be_left_out: bool = False  # left out (score rescaled) when none of its figures applies
    if_no_new_content: float | None = None  # completeness: points of a report with nothing new

    def applies(self, kind: str) -> bool:
        return not self.kinds or kind in self.kinds


@dataclass(frozen=True)
class Band:
    name: str
    min: float
    color: str  # green | blue | amber | red: the traffic light of the outputs


@dataclass(frozen=True)
class Cap:
    """A unit with this status is rated at most `max_band`."""

    when: UnitStatus
    max_band: str
    rule: str


@dataclass(frozen=True)
class AnnualRule:
    """The annual rating of the year's run: the year report's score and the year's record."""

    report_weight: float
    record_weight: float
    period_points: tuple[tuple[str, float], ...]  # (unit status, points out of 100)
    rule: str

    def points_of(self, status: str) -> float:
        return dict(self.period_points).get(status, 0.0)


@dataclass(frozen=True)
class Rubric:
    name: str
    total: float
    criteria: tuple[Criterion, ...]
    bands: tuple[Band, ...]  # best first: a score gets the first band whose minimum it reaches
    caps: tuple[Cap, ...]
    statuses: tuple[tuple[UnitStatus, str], ...]  # what a unit without a score is rated
    annual: AnnualRule | None = None

    def status_band(self, status: str) -> str:
        """The rating shown for a unit without a score ("Không báo cáo"…); "" when none."""
        for known, text in self.statuses:
            if known == status:
                return text
        return ""


# --- plausibility checks (schemas/checks.toml) -------------------------------------------------


@dataclass(frozen=True)
class OutlierSettings:
    offset: float = 10.0
    min_factor: float = 10.0
    spread_multiplier: float = 5.0
    peer_min_factor: float = 30.0
    peer_min_count: int = 5


@dataclass(frozen=True)
class Checks:
    outliers: OutlierSettings = OutlierSettings()
    unchanged_ignore: tuple[str, ...] = ("period", "year", "report_number", "report_date")


# --- the template (schemas/template.toml) ------------------------------------------------------


@dataclass(frozen=True)
class TemplateSettings:
    id: str
    version: str
    file_name: str
    title: str
    agency: str  # parent body in the header block, e.g. "UBND TỈNH BÌNH ĐỊNH"
    receiver: str
    meta_sheet: str
    instructions_sheet: str
    unit_list_max: int
    instructions: tuple[str, ...]
    tasks: tuple[tuple[str, str], ...]  # ("1", "Nhiệm vụ 1. …"), in order
    place: str = "Bình Định"  # the place of the papers' "<place>, ngày … tháng … năm …" line

    @property
    def task_titles(self) -> dict[str, str]:
        return dict(self.tasks)


@dataclass(frozen=True)
class Plan:
    """The province's plan a period's report answers to (schemas/template.toml [[plans]])."""

    year: int
    number: str  # "25/KH-UBND"
    date: date | None
    title: str


@dataclass(frozen=True)
class Contact:
    """The officer who answers units' questions: on letters and e-mails."""

    name: str = ""
    phone: str = ""
    email: str = ""

    def sentence(self) -> str:
        """'Chi tiết liên hệ: bà Nguyễn Thị A, điện thoại …, thư điện tử …' ("" when unset)."""
        parts = [
            p
            for p in (
                self.name,
                self.phone and f"điện thoại {self.phone}",
                self.email and f"thư điện tử {self.email}",
            )
            if p
        ]
        return "Chi tiết xin liên hệ: " + ", ".join(parts) + "." if parts else ""


@dataclass(frozen=True)
class InspectionPolicy:
    """Who is suggested for inspection (schemas/rubric.toml [inspection])."""

    bands: tuple[str, ...] = ("Yếu", "Trung bình")
    late_periods: int = 2  # late or missing in at least this many periods of the year
    rejected_periods: int = 2  # rejected or with errors in at least this many periods
    score_drop: float = 10.0  # points lost since the previous period
    exclude_consolidating: bool = True  # the consolidating department is never suggested


@dataclass(frozen=True)
class Papers:
    """What papers for leaders and units cite: the plans, the contact, who consolidates."""

    plans: tuple[Plan, ...] = ()
    contact: Contact = Contact()
    consolidating_unit: str = ""  # registry code of the department that consolidates (Sở Nội vụ)

    def plan(self, year: int) -> Plan | None:
        for p in self.plans:
            if p.year == year:
                return p
        return None


@dataclass(frozen=True, eq=False)  # hashed by identity: per-schema caches key on the loaded value
class Schema:
    directory: Path
    units: tuple[Unit, ...]
    calendar: Calendar
    fields: tuple[Field, ...]
    rubric: Rubric
    template: TemplateSettings
    codes: dict[str, Code] = field(repr=False)
    # Every row of units.csv, past and present (`units`: the registry in force, see `at`).
    registry: tuple[Unit, ...] = field(default=(), repr=False)
    registry_digest: str = ""  # sha256 of units.csv: which registry file a run used
    registry_date: date | None = None  # the day `units` was taken at (None: the units in force now)
    checks: Checks = Checks()
    papers: Papers = Papers()
    inspection: InspectionPolicy = InspectionPolicy()
    unit_by_code: dict[str, Unit] = field(init=False, repr=False)
    field_by_key: dict[str, Field] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.registry:
            object.__setattr__(self, "registry", self.units)
        object.__setattr__(self, "unit_by_code", {u.code: u for u in self.units})
        object.__setattr__(self, "field_by_key", {f.key: f for f in self.fields})

    def at(self, day: date) -> Schema:
        """The same schema with the registry of `day`: the units valid on it (a period's
        registry is the one of its deadline)."""
        return replace(
            self, units=tuple(u for u in self.registry if u.reports and u.valid_on(day)), registry_date=day
        )

    @property
    def indicators(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.group == "indicator")

    @property
    def narratives(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.group == "narrative")

    @property
    def explanations(self) -> dict[str, Field]:
        """Each task's explanation cell ("Giải trình số liệu có biến động lớn"), by task."""
        return {f.task: f for f in self.fields if f.group == "explanation"}

    @property
    def identification(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.group == "identification")

    @property
    def rules(self) -> tuple[Field, ...]:
        """Fields that carry a cross-field rule (parts of a whole)."""
        return tuple(f for f in self.fields if f.rule)

    @property
    def template_id(self) -> str:
        return self.template.id

    @property
    def template_version(self) -> str:
        return self.template.version
