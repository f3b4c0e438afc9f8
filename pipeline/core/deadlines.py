"""The reporting calendar: which period a run is for, its deadline, and lateness."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time
from functools import cached_property
from zoneinfo import ZoneInfo

from pipeline.core.errors import PeriodError
from pipeline.core.schema import Calendar, Period
from pipeline.core.workdays import add_working_days

_PERIOD_ID = re.compile(r"^\s*(\d{4})-([A-Za-z0-9]+)\s*$")


def period_name(name: str, year: int | str) -> str:
    """A period of a year as the outputs write it: "Quý I năm 2023"; the year's own period
    (named "Năm") reads "năm 2023", not "Năm năm 2023"."""
    if name.casefold() == "năm":
        return f"năm {year}"
    return f"{name} năm {year}"


@dataclass(frozen=True)
class ReportingPeriod:
    year: int
    period: Period
    tz: ZoneInfo

    @cached_property  # asked for every unit and file of a run
    def id(self) -> str:
        return f"{self.year}-{self.period.code}"

    @cached_property
    def name_vi(self) -> str:
        return period_name(self.period.name, self.year)

    def _day(self, month_day: str, year: int) -> date:
        month, day = (int(x) for x in month_day.split("-"))
        return date(year, month, day)

    @cached_property
    def deadline(self) -> date:
        return self._day(self.period.deadline, self.year)

    @cached_property
    def deadline_end(self) -> datetime:
        """The last instant that counts as on time: 23:59:59 of the deadline day, local."""
        return datetime.combine(self.deadline, time(23, 59, 59), self.tz)

    @property
    def cutoff_start(self) -> date:
        y = self.year - 1 if self.period.cutoff_start_previous_year else self.year
        return self._day(self.period.cutoff_start, y)

    @property
    def cutoff_end(self) -> date:
        return self._day(self.period.cutoff_end, self.year)

    def days_late(self, received: datetime) -> int:
        """Calendar days after the deadline day, in local time; 0 when on time."""
        local = received.astimezone(self.tz).date()
        return max(0, (local - self.deadline).days)

    def is_due(self, as_of: datetime) -> bool:
        return as_of > self.deadline_end

    def resubmit_by(self, as_of: datetime, calendar: Calendar) -> date:
        """The date by which a unit sends or resends its report: `resubmit_days` working days
        after the run's date (`as_of`, local; weekends, public holidays and the officer's extra
        days off skipped, swapped working days counted), never before the period's deadline."""
        local = as_of.astimezone(self.tz).date()
        by = add_working_days(local, calendar.resubmit_days, calendar.extra_days_off, calendar.working_days)
        return max(self.deadline, by)

    def previous_in_year(self, calendar: Calendar) -> list[ReportingPeriod]:
        return [
            ReportingPeriod(self.year, p, self.tz)
            for p in sorted(calendar.periods, key=lambda p: p.order)
            if p.order < self.period.order
        ]


def parse_period(text: str, calendar: Calendar) -> ReportingPeriod:
    """ "2023-Q1" → ReportingPeriod; PeriodError with a Vietnamese message otherwise."""
    m = _PERIOD_ID.match(text)
    codes = ", ".join(p.code for p in calendar.periods)
    if not m:
        raise PeriodError(f'Kỳ báo cáo "{text}" không đúng dạng NĂM-KỲ, ví dụ 2023-Q1 (kỳ: {codes}).')
    year, code = int(m.group(1)), m.group(2).upper()
    for p in calendar.periods:
        if p.code.upper() == code:
            return ReportingPeriod(year, p, ZoneInfo(calendar.timezone))
    raise PeriodError(f'Không có kỳ báo cáo "{m.group(2)}". Các kỳ: {codes}.')
