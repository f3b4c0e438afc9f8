"""Finding a unit of the registry from how people write it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from pipeline.schema import Schema, Unit
from pipeline.vietnamese import fold, strip_prefixes

_PROVINCE_SUFFIX = re.compile(r"\s+(tinh\s+)?binh\s+dinh$")


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


def match_unit(schema: Schema, text: str) -> UnitMatch:
    """A registry code, "code - name", a name or an alias → the unit; ambiguous → candidates."""
    raw = text.strip()
    if raw.endswith(".0") and raw[:-2].isdigit():  # a numeric code read as float
        raw = raw[:-2]
    by_code = {u.code.upper(): u for u in schema.units}
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
    words = f" {fold(text)} "
    hits: dict[str, str] = {}  # code → longest matching spelling
    for spelling, codes in _index(schema).items():
        if len(spelling) < 3 or f" {spelling} " not in words:
            continue
        for code in codes:
            if len(spelling) > len(hits.get(code, "")):
                hits[code] = spelling
    # Drop a unit whose only evidence is part of another unit's longer match.
    kept = [c for c, s in hits.items() if not any(s != o and f" {s} " in f" {o} " for o in hits.values())]
    return [schema.unit_by_code[c] for c in sorted(kept)]
