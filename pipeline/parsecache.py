"""The parse cache: each file's read-and-validate result, kept in the ledger by content.

A file is read once. Its Submission as it stands after reading, validation and the
great-expectations checks (status, unit, period, year, template version, values, cells and
issues) is stored under (sha256, file name, schema fingerprint, period id); a later run over
the same bytes takes it from the ledger instead of opening the file. The file name is part of
the key because messages name the file; the fingerprint covers every byte of the schemas/
folder, the package version and this module's storage format, so any change of form,
registry, calendar or rubric (or of the format) reads every file again. Those checks are
row-wise (one submission at a time), so a cached result stays right whatever else is in the
inbox.

Storage: a result is packed with marshal (no code runs when it is loaded back, unlike
pickle) as plain tuples; where the inputs were found and which keys carry values (the
"layout", the same for every file made from one template) is packed apart and stored once,
so that loading 10,000 results builds little more than their values. Workers send results to
the run in this same packed form.
"""

from __future__ import annotations

import hashlib
import marshal
from datetime import date, datetime
from functools import cache
from typing import Any

from pipeline import __version__
from pipeline.catalogue import Issue
from pipeline.model import InboxFile, Located, Submission, Value
from pipeline.schema import Schema

FORMAT = 2  # of the packed results: part of the fingerprint, so a change reads every file again
_MARSHAL = 4

# Refusals that say more about this machine at that moment than about the file: read again.
TRANSIENT = frozenset({"file-timeout", "file-crashed-reader"})

# A packed result: (packed layout, packed data).
Packed = tuple[bytes, bytes]


@cache
def fingerprint(schema: Schema) -> str:
    """sha256 over the package version, the storage format and every file of the schemas folder.

    Computed once per loaded schema (a Schema is hashed by identity).
    """
    h = hashlib.sha256(f"dvcq {__version__} parse-cache {FORMAT}\n".encode())
    for path in sorted(p for p in schema.directory.rglob("*") if p.is_file()):
        h.update(path.relative_to(schema.directory).as_posix().encode("utf-8") + b"\0")
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def cacheable(sub: Submission) -> bool:
    return not sub.issues or not any(i.code in TRANSIENT for i in sub.issues)


# --- packed form ---------------------------------------------------------------------------


_PLAIN = frozenset({int, float, str, bool, type(None)})  # value types marshal keeps as they are


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
    layout = (
        tuple((k, c.sheet, c.cell) for k, c in sub.cells.items()),
        tuple(sub.values),
    )
    values: tuple[Any, ...] = tuple(sub.values.values())
    dates: tuple[int, ...] = ()
    if not _PLAIN.issuperset(map(type, values)):  # dates (one or two): tagged, the rest as it is
        dates = tuple(i for i, t in enumerate(map(type, values)) if t not in _PLAIN)
        tagged = list(values)
        for i in dates:
            tagged[i] = _pack_value(tagged[i])
        values = tuple(tagged)
    data: tuple[Any, ...] = (
        sub.status,
        sub.unit,
        sub.period,
        sub.year,
        sub.template_version,
        values,
        dates,
        tuple((i.code, i.severity, i.file, i.sheet, i.cell, i.message, i.unit, i.key) for i in sub.issues),
    )
    return marshal.dumps(layout, _MARSHAL), marshal.dumps(data, _MARSHAL)


class Unpacker:
    """Packed results back into Submissions; each distinct layout is unpacked once."""

    def __init__(self) -> None:
        self._layouts: dict[bytes, tuple[dict[str, Located], tuple[str, ...]]] = {}
        self._located: dict[tuple[str, str], Located] = {}
        self._interned: dict[bytes, bytes] = {}

    def layout(self, packed: bytes) -> bytes:
        """An equal packed layout already seen, or this one: one object for every file of a
        template (hashed once when results are stored)."""
        return self._interned.setdefault(packed, packed)

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
        cells, keys = self._layout(packed[0])
        status, unit, period, year, version, values, dates, issues = marshal.loads(packed[1])
        found = dict(zip(keys, values, strict=True))
        for i in dates:
            found[keys[i]] = _unpack_value(values[i])
        return Submission(
            file=file,
            status=status,
            unit=unit,
            period=period,
            year=year,
            template_version=version,
            values=found,
            cells=cells,  # shared by the files of one template (Submission.cells is read-only)
            issues=[Issue(*row) for row in issues] if issues else [],
        )


def unpack(packed: Packed, file: InboxFile) -> Submission:
    return Unpacker().submission(packed, file)


# --- the cache of one run ------------------------------------------------------------------


class Cache:
    """The results stored for one fingerprint and period, as the ledger holds them."""

    def __init__(
        self, rows: dict[tuple[str, str], tuple[str, int, bytes]], layouts: dict[int, bytes]
    ) -> None:
        self._rows = rows
        self._layouts = layouts
        self.unpacker = Unpacker()  # shared with the workers' results: one layout, unpacked once

    def __contains__(self, key: tuple[str, str]) -> bool:
        return key in self._rows

    def kind(self, key: tuple[str, str]) -> str:
        return self._rows[key][0]

    def kinds(self) -> dict[tuple[str, str], str]:
        """(sha256, file name) → kind of every stored result."""
        return {key: row[0] for key, row in self._rows.items()}

    def screened(self) -> dict[str, str]:
        """sha256 → kind of contents that passed screening and were read by an earlier run."""
        return {sha: row[0] for (sha, _name), row in self._rows.items()}

    def shas_by_name(self) -> dict[str, frozenset[str]]:
        """File name → the contents stored under that name."""
        found: dict[str, set[str]] = {}
        for sha, name in self._rows:
            found.setdefault(name, set()).add(sha)
        return {name: frozenset(shas) for name, shas in found.items()}

    def load(self, key: tuple[str, str], file: InboxFile) -> Submission:
        _kind, layout, data = self._rows[key]
        return self.unpacker.submission((self._layouts[layout], data), file)
