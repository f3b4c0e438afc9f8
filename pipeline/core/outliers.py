"""Outlier statistics, pure: how far a figure departs from what a unit's history predicts.

Figures are compared on a log scale, log10(x + offset): a typo that adds two zeros is a
distance of about 2 whatever the size of the unit, and the offset keeps small counts quiet
(0 → 3 sessions is a distance of 0.11). The expected value is the median of the history; the
tolerance is the larger of a fixed factor and a multiple of the history's robust spread
(1.4826 × the median absolute deviation, which estimates a standard deviation without letting
one earlier typo widen it). Thresholds come from schemas/checks.toml (OutlierSettings).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from pipeline.core.schema import OutlierSettings
from pipeline.core.vietnamese import format_number

# MAD × this estimates the standard deviation of a normal sample.
MAD_TO_SD = 1.4826


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    n = len(ordered)
    if n == 0:
        raise ValueError("median of nothing")
    mid = n // 2
    return ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def log_scale(value: float, offset: float) -> float:
    return math.log10(max(0.0, value) + offset)


@dataclass(frozen=True)
class Verdict:
    """A figure against its expectation: flagged when `factor` exceeds `tolerance`."""

    expected: float  # on the figure's own scale
    factor: float  # (value + offset) / (expected + offset), or its inverse: always ≥ 1
    tolerance: float

    @property
    def flagged(self) -> bool:
        return self.factor > self.tolerance


@dataclass(frozen=True)
class Fit:
    """What a history predicts: its centre on the log scale and the tolerated factor."""

    centre: float
    tolerance: float
    offset: float

    def verdict(self, value: float) -> Verdict:
        distance = abs(log_scale(value, self.offset) - self.centre)
        expected = max(0.0, 10**self.centre - self.offset)
        return Verdict(expected=expected, factor=10**distance, tolerance=self.tolerance)


def fit(history: Sequence[float], settings: OutlierSettings, *, peers: bool = False) -> Fit | None:
    """The expectation from `history` (earlier figures of the same unit, or peers' figures
    scaled alike); None without history."""
    if not history:
        return None
    c = settings.offset
    log10 = math.log10
    logs = [log10((h if h > 0 else 0.0) + c) for h in history]  # log_scale, inlined: 10,000 peers
    centre = median(logs)
    spread = MAD_TO_SD * median([abs(x - centre) for x in logs]) if len(logs) > 1 else 0.0
    floor = settings.peer_min_factor if peers else settings.min_factor
    return Fit(centre, max(floor, 10 ** (settings.spread_multiplier * spread)), c)


def judge(value: float, history: Sequence[float], settings: OutlierSettings) -> Verdict | None:
    """`value` against the unit's own `history`; None without history."""
    model = fit(history, settings)
    return None if model is None else model.verdict(value)


def increments(cumulative: Sequence[float]) -> list[float]:
    """Each period's own activity from cumulative figures (the first is its own increment);
    a decrease counts as no activity (the flow check reports the decrease itself)."""
    out: list[float] = []
    before = 0.0
    for v in cumulative:
        out.append(max(0.0, v - before))
        before = max(before, v)
    return out


def ratio_words(value: float, reference: float, what: str) -> str:
    """ "gấp 100 lần {what}", "chỉ bằng 1/100 {what}": the value against a reference, in
    Vietnamese words and figures."""
    if reference <= 0:
        return f"trong khi {what} là 0"
    r = value / reference
    if 0.95 <= r < 1.05:
        return f"bằng {what}"
    if r >= 1:
        return f"gấp {_round_ratio(r)} lần {what}"
    if value <= 0:
        return f"bằng 0, trong khi {what} là {format_number(reference)}"
    return f"chỉ bằng 1/{_round_ratio(1 / r)} {what}"


def _round_ratio(r: float) -> str:
    """Two significant figures: 100, 13, 2,5."""
    if r >= 10:
        return format_number(int(round(r, 1 - math.floor(math.log10(r)))))
    return format_number(r, 1)
