"""The report's words for each task and its general assessment: the task's totals and rates in
prose, the change against earlier periods, the highlights chosen by the task's own figures, and
the points the units made (pipeline.outputs.synthesis).

Every figure comes from the run's totals (the workbook's) or from the ledger's accepted figures
of the compared periods (RunResult.compared).
"""

from __future__ import annotations

import hashlib
import heapq
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from pipeline.core.deadlines import period_name
from pipeline.core.model import RunResult, UnitResult
from pipeline.core.schema import Field, Schema
from pipeline.core.vietnamese import fold, format_number, format_percent, lower_first
from pipeline.outputs import figures, synthesis

HIGHLIGHTS = 3  # units quoted per task
NAMES = 5  # unit names shown beside a point of the general assessment, the rest counted
PROPOSAL_NAMES = 30  # proposals name their units (up to this many)


def task_fields(schema: Schema, task: str, period_code: str) -> list[Field]:
    """The task's indicators that apply to the period (commune bands: the year's report only)."""
    return [
        f for f in schema.indicators if f.task == task and ("all" in f.periods or period_code in f.periods)
    ]


def task_prose(result: RunResult, schema: Schema, task: str) -> str:
    """ "Kết quả toàn tỉnh: số … 12 văn bản; số … 45 cuộc. Tỷ lệ … đạt 95,0%." """
    parts = []
    for f in task_fields(schema, task, result.period.period.code):
        value = result.totals.get(f.key)
        if value is None:
            continue
        parts.append(f"{lower_first(f.label)} {format_number(value)} {f.unit}".rstrip())
    text = "Kết quả toàn tỉnh: " + "; ".join(parts) + "." if parts else ""
    tf = next((t for t in figures.task_figures(result) if t.task == task), None)
    if tf is not None and tf.rate is not None:
        text += f" {tf.rate_label} đạt {format_percent(tf.rate, fixed=True)}."
    return text


def _period_name(result: RunResult, schema: Schema, period_id: str) -> str:
    year, _, code = period_id.partition("-")
    for p in schema.calendar.periods:
        if p.code == code:
            return lower_first(period_name(p.name, year))
    return period_id


def task_change(result: RunResult, schema: Schema, task: str) -> str:
    """The change of the task's key figure against the compared periods; "" when the ledger has
    none of them."""
    tf = next((t for t in figures.task_figures(result) if t.task == task), None)
    if tf is None or not result.compared:
        return ""
    keys = figures.task_value_keys(task)
    parts = []
    for period_id, totals in result.compared.items():
        before = sum(totals.get(k, 0) for k in keys)
        diff = tf.value - before
        if diff > 0:
            how = f"tăng {format_number(diff)} {tf.unit}"
        elif diff < 0:
            how = f"giảm {format_number(-diff)} {tf.unit}"
        else:
            how = "không thay đổi"
        if before:
            how += f" ({'+' if diff >= 0 else '−'}{format_percent(abs(diff) / before)})"
        parts.append(f"so với {_period_name(result, schema, period_id)} ({format_number(before)}), {how}")
    return f"{tf.label}: {format_number(tf.value)} {tf.unit}; " + "; ".join(parts) + "."


@dataclass(frozen=True)
class Highlight:
    unit: UnitResult
    value: int | float  # the unit's key figure of the task
    text: str  # the opening of its narrative for the task


def _first_sentences(text: str, limit: int = 320) -> str:
    """The opening of a narrative: whole sentences up to about `limit` characters."""
    out = ""
    for s in re.split(r"(?<=[.;!?])\s+", " ".join(text.split())):
        if out and len(out) + len(s) > limit:
            break
        out = f"{out} {s}".strip()
    return out if len(out) <= limit + 80 else out[:limit].rstrip() + "…"


def highlights(result: RunResult, schema: Schema, task: str, n: int = HIGHLIGHTS) -> list[Highlight]:
    """The units whose work on this task stands out, by the task's own criterion points, then
    its key figure; never a unit whose key figure for the task is zero or blank."""
    keys = figures.task_value_keys(task)
    criterion = f"task{task}"
    full = max((c.points for c in schema.rubric.criteria if c.key == criterion), default=0.0)
    candidates = []
    for i, u in enumerate(result.units):
        sub = u.submission
        if sub is None:
            continue
        values = [sub.values.get(k) for k in keys]
        value = sum(v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool))
        if value <= 0:
            continue
        text = sub.values.get(f"n{task}_results")
        if not isinstance(text, str) or not text.strip():
            continue
        candidates.append((-value, i, u, value, text))
    candidates.sort(key=lambda c: c[:2])
    # Points are read from the largest figure down, and no further once n units have the
    # criterion's full points: none below them can come first (a kept score's criteria are
    # unpacked on reading, and 10,000 of them cost seconds).
    found = []
    at_full = 0
    for negative, i, u, value, text in candidates:
        points = 0.0
        if u.score is not None:
            points = next((c.points for c in u.score.criteria if c.key == criterion), 0.0)
        found.append((-round(points, 2), negative, i, u, value, text))
        at_full += round(points, 2) >= round(full, 2)
        if at_full >= n:
            break
    # the opening sentences of the chosen few only (cutting every text costs seconds too)
    best = heapq.nsmallest(n, found, key=lambda t: t[:3])
    return [Highlight(u, value, _first_sentences(text)) for *_key, u, value, text in best]


# ------------------------------------------------------------------ the units' own words


def _texts(result: RunResult, keys: tuple[str, ...]) -> list[tuple[str, str]]:
    out = []
    for u in result.units:
        if u.submission is None:
            continue
        for key in keys:
            text = u.submission.values.get(key)
            if isinstance(text, str) and text.strip():
                out.append((u.unit.name, text))
    return out


class Memo(Protocol):
    """Where grouped points are kept between runs (pipeline.store.cache.Cache)."""

    def synthesis(self, name: str, key: bytes) -> bytes | None: ...

    def keep_synthesis(self, name: str, key: bytes, data: bytes) -> None: ...


def _inputs_key(texts: list[tuple[str, str]], keys: tuple[str, ...]) -> bytes:
    """The digest of what grouping reads: the narratives grouped, each unit's name and text
    (hashing 10,000 units' texts costs tens of milliseconds; grouping them, seconds)."""
    h = hashlib.sha256("\x1f".join(keys).encode())
    for name, text in texts:
        h.update(f"\x1e{name}\x1f{text}".encode("utf-8", "surrogatepass"))
    return h.digest()


def _grouped(
    result: RunResult, keys: tuple[str, ...], keep: Callable[[str], bool] | None, memo: Memo | None
) -> list[synthesis.Point]:
    """Grouped points, from the cache when the same units sent the same files (the grouping of
    10,000 units' narratives costs seconds; a rerun changes few of them)."""
    texts = _texts(result, keys)
    if memo is None:
        return synthesis.group(texts, keep)
    name, key = f"{result.period.id}/{'+'.join(keys)}", _inputs_key(texts, keys)
    kept = memo.synthesis(name, key)
    if kept is not None:
        return synthesis.from_json(kept)
    made = synthesis.group(texts, keep)
    memo.keep_synthesis(name, key, synthesis.to_json(made))
    return made


def points(result: RunResult, key: str, memo: Memo | None = None) -> list[synthesis.Point]:
    """The grouped points of one narrative of the form (n_limitations, n_causes…)."""
    return _grouped(result, (key,), None, memo)


def strengths(
    result: RunResult, schema: Schema, n: int = 6, memo: Memo | None = None
) -> list[synthesis.Point]:
    """Ưu điểm: the practices units report in their tasks' narratives, grouped; sentences with
    figures (they describe the unit's own counts) or with "chưa" (something not done) are left
    out, and a point is kept when at least two units made it (or the n most made)."""
    keys = tuple(f"n{t}_results" for t, _title in schema.template.tasks)
    grouped = _grouped(result, keys, _practice, memo)
    shared = [p for p in grouped if p.count >= 2]
    return (shared or grouped)[:n]


_DIGIT = re.compile(r"\d")


def _practice(sentence: str) -> bool:
    """A sentence that can be a strength: no figure, nothing "chưa" done."""
    return _DIGIT.search(sentence) is None and "chua" not in fold(sentence).split()


def quote(point: synthesis.Point, names: int = NAMES) -> str:
    return synthesis.quote(point, names)
