"""Reports that say nothing new, pure: empty, or equal to an earlier report.

Values compare as the ledger stores them (dates as ISO text), so a report read now and one
read from the ledger compare alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date

from pipeline.core.model import Value

Figures = Mapping[str, Value]


def stored_form(v: Value | object) -> object:
    """A value as the ledger stores it (JSON): a date as ISO text, blank text as None."""
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, str) and not v.strip():
        return None
    return v


def empty(values: Figures, numeric_keys: Iterable[str]) -> bool:
    """Every figure blank or zero (stops at the first figure that is not)."""
    return all(stored_form(values.get(k)) in (None, 0) for k in numeric_keys)


def same(now: Figures, before: Figures, keys: Iterable[str]) -> bool:
    """The same value in every one of `keys`, and at least one of them not blank."""
    any_value = False
    for k in keys:
        a, b = stored_form(now.get(k)), stored_form(before.get(k))
        if a != b:
            return False
        any_value = any_value or a is not None
    return any_value


def same_but(now: Figures, before: Figures, ignore: Iterable[str]) -> bool:
    """The same content except the `ignore`d inputs (the report's date, number…)."""
    skip = set(ignore)
    keys = (set(now) | set(before)) - skip
    return same(now, before, sorted(keys))
