"""run.json: the machine-readable account of a run (what was read, decided and written)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pipeline.core import year
from pipeline.core.model import RunResult
from pipeline.core.schema import Schema
from pipeline.outputs import commune_bands
from pipeline.outputs import vocabulary as vi


def _iso(dt: datetime | None) -> str | None:
    return None if dt is None else dt.isoformat()


def registry(schema: Schema) -> dict[str, Any]:
    """Which registry the run used: the units.csv file (its sha256) and the day it was taken at."""
    return {
        "file": "units.csv",
        "sha256": schema.registry_digest,
        "date": None if schema.registry_date is None else schema.registry_date.isoformat(),
        "units": len(schema.units),
    }


def _previous_year(result: RunResult, code: str) -> dict[str, Any]:
    """run.json's "previous_year" of a unit; nothing when the ledger has nothing."""
    py = result.previous_year.get(code)
    if py is None:
        return {}
    out: dict[str, Any] = {
        "units": list(py.units),
        "values": py.values,
        "results": [
            {"code": r.unit, "status": r.status, "score": r.score, "band": r.band} for r in py.results
        ],
    }
    if py.missing:
        out["missing"] = list(py.missing)
    if py.split_from:
        out["split_from"] = list(py.split_from)
    return {"previous_year": out}


def report(result: RunResult, schema: Schema) -> dict[str, Any]:
    """The run as one value: what was read (files), decided (units, totals) and written (outputs)."""
    years = year.year_history(schema, result)
    year_end = year.is_year_end(schema, result)
    files = [
        {
            "path": s.file.name,
            "sha256": s.file.sha256,
            "status": s.status,
            "unit": s.unit,
            "received_at": _iso(s.file.received_at),
            "from_cache": s.from_cache,
            "issues": [
                {
                    "code": i.code,
                    "severity": i.severity,
                    "sheet": i.sheet,
                    "cell": i.cell,
                    "message": i.message,
                    **({} if i.explained is None else {"explained": i.explained}),
                }
                for i in s.issues
            ],
        }
        for s in result.files
    ]
    units = [
        {
            **_previous_year(result, u.unit.code),
            "code": u.unit.code,
            "status": u.status,
            "received_at": _iso(u.received_at),
            "days_late": u.days_late,
            "score": None if u.score is None else u.score.total,
            "band": vi.band_of(u, schema.rubric),
            "file": None if u.submission is None else u.submission.file.name,
            "versions": [
                {
                    "version": v.label,
                    "file": v.file,
                    "sha256": v.sha256,
                    "received_at": _iso(v.received_at),
                    "status": v.status,
                    "in_inbox": v.in_inbox,
                }
                for v in u.history
            ],
            "history": [
                {
                    "period": e.period,
                    "status": e.status,
                    "days_late": e.days_late,
                    "score": e.score,
                    "band": e.band,
                    # a period from before the unit's merge: the merged units and their results
                    **(
                        {
                            "units": [code for code, _n, _e in e.parts],
                            "results": [
                                {
                                    "code": code,
                                    "status": x.status,
                                    "days_late": x.days_late,
                                    "score": x.score,
                                    "band": x.band,
                                }
                                for code, _n, x in e.parts
                            ],
                        }
                        if e.parts
                        else {}
                    ),
                }
                for e in years[u.unit.code]
            ],
            **({"annual": _annual(schema, years[u.unit.code])} if year_end else {}),
        }
        for u in result.units
    ]
    extra: dict[str, Any] = {}
    if commune_bands.applies(result, schema):  # the year's rating of the communes and wards
        extra["commune_bands"] = commune_bands.band_counts(result, schema)
    return {
        **extra,
        "registry": registry(schema),
        "period": result.period.id,
        "as_of": result.as_of.isoformat(),
        "deadline": result.period.deadline.isoformat(),
        "outputs": list(result.outputs),
        "totals": dict(result.totals),
        "files": files,
        "units": units,
    }


def _annual(schema: Schema, entries: list[year.PeriodEntry]) -> dict[str, Any] | None:
    rating = year.annual_rating(schema, entries)
    if rating is None:
        return None
    return {"record": rating.record, "score": rating.score, "band": rating.band}


def _one(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def dump(report: dict[str, Any]) -> bytes:
    """UTF-8 JSON, keys sorted, lists in their given (stable) order, trailing newline.

    One line per top-level key, and one line per element of a top-level list (a file, a
    unit): readable and diffable, and each line goes through json's C encoder, which an
    `indent` would turn off (five times slower at 10,000 units).
    """
    lines = {k: [f"    {_one(item)}" for item in v] if isinstance(v, list) else v for k, v in report.items()}
    return _document(lines)


def _document(report: dict[str, Any]) -> bytes:
    """The file from its top-level keys; a list comes as its items' lines, already written.
    Joined once (7.6 MB of text at 10,000 units: each concatenation would copy all of it)."""
    parts = ["{\n"]
    for n, (key, value) in enumerate(sorted(report.items())):
        if n:
            parts.append(",\n")
        if isinstance(value, list) and value:
            parts += (f"  {_one(key)}: [\n", ",\n".join(value), "\n  ]")
        else:
            parts.append(f"  {_one(key)}: {_one(value)}")
    parts.append("\n}\n")
    return "".join(parts).encode("utf-8")
