"""What the units wrote, grouped: the report's general assessment (strengths, limitations,
causes), its directions and its proposals come from the units' own narratives.

The rule, plain and deterministic (no model, no network):

1. Each unit's text is cut into sentences: at ". ", "; ", "! ", "? ", at line breaks and at
   list marks ("- ", "+ ", "• ", "1. ", "a) "). Fragments under three words are dropped, but
   a text with no longer sentence is kept whole (a unit's words are never lost).
2. A sentence is compared by its folded words (pipeline.core.vietnamese.fold: lower case, no
   diacritics, no punctuation), short function words left out.
3. Two sentences make the same point when their folded word sets are equal, or when their
   Jaccard similarity (shared words / all words) is at least SIMILAR (0.6).
4. Units are read in registry order; a sentence joins the first group whose first sentence it
   is similar to, else starts a group. A unit counts once per group.
5. Groups are listed by how many units made the point (most first), then by first appearance.
   Each group is quoted by its first sentence, with the count and the units' names.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from pipeline.core.vietnamese import fold

SIMILAR = 0.6
MIN_WORDS = 3
_SPLIT = re.compile(r"[.;!?]\s+|[\r\n]+")  # the mark goes: each sentence ends with "." again
_MARK = re.compile(r"^\s*(?:[-+•*–]+|\d{1,2}[.)]|[a-zđ][)])\s*", re.IGNORECASE)
_STOP = frozenset(
    [
        "va",
        "cua",
        "cac",
        "cho",
        "voi",
        "trong",
        "la",
        "da",
        "duoc",
        "co",
        "nhung",
        "mot",
        "de",
        "tai",
        "tu",
        "theo",
        "tren",
        "ve",
        "nay",
        "do",
        "khi",
        "nhu",
    ]
)


@dataclass
class Point:
    """One point several units made: its first wording and who made it."""

    text: str
    words: frozenset[str]
    first: int  # order of appearance
    units: list[str] = field(default_factory=list)  # unit names, registry order, once each

    @property
    def count(self) -> int:
        return len(self.units)


def sentences(text: str) -> list[str]:
    """The sentences of a narrative, list marks removed, each ending with a full stop."""
    out = []
    for piece in _SPLIT.split(text):
        piece = _MARK.sub("", piece).strip().rstrip(".;,:").strip()
        if len(piece.split()) < MIN_WORDS:
            continue
        out.append(piece[:1].upper() + piece[1:] + ".")
    whole = " ".join(text.split())
    return out if out or not whole else [whole if whole.endswith((".", "!", "?")) else whole + "."]


def _words(sentence: str) -> frozenset[str]:
    return frozenset(w for w in fold(sentence).split() if w not in _STOP)


def _similar(a: frozenset[str], b: frozenset[str]) -> bool:
    if a == b:
        return True
    union = len(a | b)
    return union > 0 and len(a & b) / union >= SIMILAR


def group(texts: Iterable[tuple[str, str]], keep: Callable[[str], bool] | None = None) -> list[Point]:
    """(unit name, text) in registry order → the points made, most often made first; `keep`:
    which sentences count (all when None).

    A sentence is compared only with the points that share one of its rarest words: a point
    similar to a sentence of n words shares all but 40% of them, so it has one of any
    floor(0.4 n) + 1 of them (pigeonhole); taking the rarest keeps the comparisons few, and the
    work grows with the number of sentences, not with its square (10,000 units)."""
    points: list[Point] = []
    seen: dict[str, frozenset[str]] = {}  # sentence → its words: many units write the same
    exact: dict[frozenset[str], Point] = {}
    by_word: dict[str, list[Point]] = {}
    members: dict[int, set[str]] = {}  # point → its units, for the membership test (lists are slow)
    # Units repeat one another's texts and sentences: each distinct one is cut and judged once.
    cut: dict[str, list[str]] = {}
    kept: dict[str, bool] = {}
    for unit, text in texts:
        parts = cut.get(text)
        if parts is None:
            parts = cut[text] = sentences(text)
        for sentence in parts:
            if keep is not None:
                ok = kept.get(sentence)
                if ok is None:
                    ok = kept[sentence] = keep(sentence)
                if not ok:
                    continue
            words = seen.get(sentence)
            if words is None:
                words = seen[sentence] = _words(sentence)
            if not words:
                continue
            found = exact.get(words)
            if found is None:
                probe = sorted(words, key=lambda w: (len(by_word.get(w, ())), w))[: int(0.4 * len(words)) + 1]
                candidates = sorted({p.first: p for w in probe for p in by_word.get(w, ())}.items())
                found = next((p for _i, p in candidates if _similar(words, p.words)), None)
            if found is None:
                found = Point(sentence, words, len(points))
                points.append(found)
                exact[words] = found
                for w in words:
                    by_word.setdefault(w, []).append(found)
            named = members.setdefault(found.first, set())
            if unit not in named:
                named.add(unit)
                found.units.append(unit)
    return sorted(points, key=lambda p: (-p.count, p.first))


def quote(point: Point, names: int = 6) -> str:
    """ "Sentence (3 đơn vị: A, B, C)." — the first `names` units named, the rest counted."""
    shown = ", ".join(point.units[:names])
    more = point.count - names
    if more > 0:
        shown += f" và {more} đơn vị khác"
    return f"{point.text[:-1]} ({point.count} đơn vị: {shown})."


def to_json(points: list[Point]) -> bytes:
    return json.dumps(
        [[p.text, sorted(p.words), p.first, p.units] for p in points], ensure_ascii=False
    ).encode()


def from_json(data: bytes) -> list[Point]:
    return [Point(text, frozenset(words), first, units) for text, words, first, units in json.loads(data)]
