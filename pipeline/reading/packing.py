"""A file's verdict (a Submission) as bytes: what the worker processes send back and what the
cache store keeps.

Packed with marshal as plain tuples (no code runs on loading, unlike pickle), in two parts: the
layout (where each input was found, and the order of the values: the same for every file made
from one template, stored once) and the data (status, identification, values, issues, kind).
"""

from __future__ import annotations

import marshal
from datetime import date, datetime
from typing import Any

from pipeline.core.issues import Issue
from pipeline.core.model import InboxFile, Located, Submission, Value
from pipeline.core.statuses import FileStatus, Severity
from pipeline.store.cache import PackedVerdict as Packed  # how the cache keeps a verdict

_MARSHAL = 4
_PLAIN = frozenset({int, float, str, bool, type(None)})  # value types marshal keeps as they are

# A packed verdict: (packed layout, packed data).


def _pack_value(v: Value) -> Any:
    if isinstance(v, datetime):
        return ("t", v.isoformat())
    if isinstance(v, date):
        return ("d", v.toordinal())
    return v


def _unpack_value(v: tuple[str, Any]) -> Value:
    return datetime.fromisoformat(v[1]) if v[0] == "t" else date.fromordinal(v[1])


def pack(sub: Submission) -> Packed:
    """(layout, data): the layout is shared by every file of one template (stored once)."""
    layout = (tuple((k, c.sheet, c.cell) for k, c in sub.cells.items()), tuple(sub.values))
    values: tuple[Any, ...] = tuple(sub.values.values())
    dates: tuple[int, ...] = ()
    if not _PLAIN.issuperset(map(type, values)):  # dates (one or two): tagged, the rest as it is
        dates = tuple(i for i, t in enumerate(map(type, values)) if t not in _PLAIN)
        tagged = list(values)
        for i in dates:
            tagged[i] = _pack_value(tagged[i])
        values = tuple(tagged)
    data: tuple[Any, ...] = (
        str(sub.status),
        sub.unit,
        sub.period,
        sub.year,
        sub.template_version,
        values,
        dates,
        tuple(
            (i.code, str(i.severity), i.file, i.sheet, i.cell, i.message, i.unit, i.key) for i in sub.issues
        ),
        sub.file.kind,
    )
    return marshal.dumps(layout, _MARSHAL), marshal.dumps(data, _MARSHAL)


class Unpacker:
    """Packed verdicts back into Submissions; each distinct layout is unpacked once, and the
    submissions of one template share its cell map (Submission.cells is read-only)."""

    def __init__(self) -> None:
        self._layouts: dict[bytes, tuple[dict[str, Located], tuple[str, ...]]] = {}
        self._located: dict[tuple[str, str], Located] = {}

    def _layout(self, packed: bytes) -> tuple[dict[str, Located], tuple[str, ...]]:
        found = self._layouts.get(packed)
        if found is None:
            cells, keys = marshal.loads(packed)
            located = self._located
            found = (
                {k: located.setdefault((sheet, cell), Located(sheet, cell)) for k, sheet, cell in cells},
                keys,
            )
            self._layouts[packed] = found
        return found

    def submission(self, packed: Packed, file: InboxFile) -> Submission:
        """The verdict on `file` (its kind is set from the verdict)."""
        cells, keys = self._layout(packed[0])
        status, unit, period, year, version, values, dates, issues, kind = marshal.loads(packed[1])
        found = dict(zip(keys, values, strict=True))
        for i in dates:
            found[keys[i]] = _unpack_value(values[i])
        file.kind = kind
        return Submission(
            file=file,
            status=FileStatus(status),
            unit=unit,
            period=period,
            year=year,
            template_version=version,
            values=found,
            cells=cells,
            issues=[Issue(c, Severity(s), *rest) for c, s, *rest in issues] if issues else [],
        )


def unpack(packed: Packed, file: InboxFile) -> Submission:
    return Unpacker().submission(packed, file)
