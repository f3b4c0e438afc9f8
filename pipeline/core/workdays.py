"""Working days in Viet Nam: the one module that asks the `holidays` package.

The package's Vietnam calendar (Tết, 30/4, 1/5, 2/9 and the days the government swaps around
them) is data shipped inside the package: nothing is fetched. The officer adds what the
province decides (schemas/calendar.toml `extra_days_off`, `working_days`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import date, timedelta
from functools import lru_cache

import holidays


@lru_cache(maxsize=64)
def public_holidays(year: int) -> frozenset[date]:
    """Viet Nam's public holidays and official days off of `year`."""
    return frozenset(holidays.country_holidays("VN", years=[year]).keys())


def is_working_day(
    day: date, extra_days_off: Collection[date] = (), working_days: Collection[date] = ()
) -> bool:
    """Monday to Friday that is no holiday and no extra day off; or a swapped working day."""
    if day in working_days:
        return True
    if day.weekday() >= 5 or day in extra_days_off:
        return False
    return day not in public_holidays(day.year)


def add_working_days(
    start: date, n: int, extra_days_off: Iterable[date] = (), working_days: Iterable[date] = ()
) -> date:
    """The n-th working day after `start` (`start` itself never counts); n ≤ 0 gives the first
    working day from `start` on."""
    off, worked = frozenset(extra_days_off), frozenset(working_days)
    day = start
    if n <= 0:
        while not is_working_day(day, off, worked):
            day += timedelta(days=1)
        return day
    counted = 0
    while counted < n:
        day += timedelta(days=1)
        if is_working_day(day, off, worked):
            counted += 1
    return day
