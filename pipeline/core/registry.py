"""Finding a unit of the registry from how people write it."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date
from functools import cache

from pipeline.core import lineage
from pipeline.core.schema import Schema, Unit
from pipeline.core.vietnamese import fold, strip_prefixes

_PROVINCE_SUFFIX = re.compile(r"\s+(tinh\s+)?(binh\s+dinh|gia\s+lai)$")


@dataclass(frozen=True)
class UnitMatch:
    unit: Unit | None
    candidates: tuple[Unit, ...] = ()  # more than one: ambiguous

    @property
    def ambiguous(self) -> bool:
        return self.unit is None and len(self.candidates) > 1


@cache
def _index(schema: Schema) -> dict[str, frozenset[str]]:
    """Folded spelling → codes of the units written that way."""
    index: dict[str, set[str]] = {}
    for u in schema.units:
        for spelling in (u.code, u.name, *u.aliases):
            f = fold(spelling)
            for variant in {f, strip_prefixes(f)}:
                if variant:
                    index.setdefault(variant, set()).add(u.code)
    return {k: frozenset(v) for k, v in index.items()}


@cache
def _by_code(schema: Schema) -> dict[str, Unit]:
    return {u.code.upper(): u for u in schema.units}


@cache
def _spellings(schema: Schema) -> tuple[dict[str, int], int]:
    """Spellings usable in free text (3 characters or more) → rank in the index; most words."""
    ranks = {s: n for n, s in enumerate(_index(schema)) if len(s) >= 3}
    return ranks, max((s.count(" ") + 1 for s in ranks), default=0)


def prepare(schema: Schema) -> None:
    """Build the registry's indexes now, not on the first file a worker reads."""
    _by_code(schema)
    _spellings(schema)


def match_unit(schema: Schema, text: str) -> UnitMatch:
    """A registry code, "code - name", a name or an alias → the unit; ambiguous → candidates."""
    raw = text.strip()
    if raw.endswith(".0") and raw[:-2].isdigit():  # a numeric code read as float
        raw = raw[:-2]
    by_code = _by_code(schema)
    head = raw.split(" - ")[0].split(" – ")[0].strip().upper()
    if head in by_code:
        return UnitMatch(by_code[head])
    index = _index(schema)
    f = fold(raw)
    codes = index.get(f) or index.get(strip_prefixes(f)) or frozenset()
    if not codes:  # "Sở Nội vụ tỉnh Bình Định": the province written after the name
        bare = _PROVINCE_SUFFIX.sub("", f)
        for candidate in (bare, f"{bare} tinh"):  # "Văn phòng UBND tỉnh" keeps its "tỉnh"
            codes = index.get(candidate) or index.get(strip_prefixes(candidate)) or frozenset()
            if codes:
                break
    units = tuple(schema.unit_by_code[c] for c in sorted(codes))
    if len(units) == 1:
        return UnitMatch(units[0])
    return UnitMatch(None, units)


def units_named_in(schema: Schema, text: str) -> list[Unit]:
    """Units whose name or alias appears, as whole words, in free text such as a file name.

    When one match lies inside a longer one ("an nhon" inside "thi xa an nhon"), the
    longer wins; codes count only as whole words of three letters or more.
    """
    # A spelling appears as whole words exactly when it is a run of the text's words: look
    # each run up (a few hundred) instead of scanning a registry of thousands of units.
    tokens = fold(text).split(" ")
    ranks, longest = _spellings(schema)
    found = {
        run
        for i in range(len(tokens))
        for j in range(i + 1, min(len(tokens), i + longest) + 1)
        if (run := " ".join(tokens[i:j])) in ranks
    }
    index = _index(schema)
    hits: dict[str, str] = {}  # code → longest matching spelling (the first in index order on a tie)
    for spelling in sorted(found, key=ranks.__getitem__):
        for code in index[spelling]:
            if len(spelling) > len(hits.get(code, "")):
                hits[code] = spelling
    # Drop a unit whose only evidence is part of another unit's longer match.
    kept = [c for c, s in hits.items() if not any(s != o and f" {s} " in f" {o} " for o in hits.values())]
    return [schema.unit_by_code[c] for c in sorted(kept)]


@cache
def _former(schema: Schema) -> Schema:
    """The schema whose registry is the rows of `schema.registry` no longer in force."""
    current = set(schema.units)
    return replace(schema, units=tuple(u for u in schema.registry if u not in current), registry_date=None)


def match_ceased(schema: Schema, text: str, day: date) -> tuple[Unit, tuple[Unit, ...]] | None:
    """A code or name of a unit that ceased before `day` (an old report, an old template) →
    that unit and the units of `day` it became; None when `text` names no such unit."""
    former = _former(schema)
    if not former.units:
        return None
    m = match_unit(former, text)
    candidates = (m.unit,) if m.unit is not None else m.candidates
    return lineage.ceased(schema.registry, candidates, day)
