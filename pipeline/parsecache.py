"""The parse cache: each file's read-and-validate result, kept in the ledger by content.

A file is read once. Its Submission as it stands after reading, validation and the
great-expectations checks (status, unit, period, year, template version, values, cells and
issues) is stored under (sha256, file name, schema fingerprint, period id); a later run over
the same bytes takes it from the ledger instead of opening the file. The file name is part of
the key because messages name the file; the fingerprint covers every byte of the schemas/
folder and the package version, so any change of form, registry, calendar or rubric reads
every file again. Those checks are row-wise (one submission at a time), so a cached result
stays right whatever else is in the inbox.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from functools import cache
from typing import Any

from pipeline import __version__
from pipeline.catalogue import Issue
from pipeline.model import InboxFile, Located, Submission, Value
from pipeline.schema import Schema

# Refusals that say more about this machine at that moment than about the file: read again.
TRANSIENT = frozenset({"file-timeout", "file-crashed-reader"})


@cache
def fingerprint(schema: Schema) -> str:
    """sha256 over the package version and every file of the schemas folder (name and bytes).

    Computed once per loaded schema (a Schema is hashed by identity).
    """
    h = hashlib.sha256(f"dvcq {__version__}\n".encode())
    for path in sorted(p for p in schema.directory.rglob("*") if p.is_file()):
        h.update(path.relative_to(schema.directory).as_posix().encode("utf-8") + b"\0")
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def cacheable(sub: Submission) -> bool:
    return not any(i.code in TRANSIENT for i in sub.issues)


def _value(v: Value) -> list[Any]:
    if isinstance(v, datetime):
        return ["t", v.isoformat()]
    if isinstance(v, date):
        return ["d", v.isoformat()]
    return ["v", v]


def _unvalue(tag: str, v: Any) -> Value:
    if tag == "t":
        return datetime.fromisoformat(v)
    if tag == "d":
        return date.fromisoformat(v)
    return v  # type: ignore[no-any-return]


def dump(sub: Submission) -> str:
    data = {
        "status": sub.status,
        "unit": sub.unit,
        "period": sub.period,
        "year": sub.year,
        "template_version": sub.template_version,
        "values": [[k, *_value(v)] for k, v in sub.values.items()],
        "cells": [[k, c.sheet, c.cell] for k, c in sub.cells.items()],
        "issues": [list(i.as_dict().values()) for i in sub.issues],
    }
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def load(text: str, file: InboxFile) -> Submission:
    data = json.loads(text)
    return Submission(
        file=file,
        status=data["status"],
        unit=data["unit"],
        period=data["period"],
        year=data["year"],
        template_version=data["template_version"],
        values={k: _unvalue(tag, v) for k, tag, v in data["values"]},
        cells={k: Located(sheet, cell) for k, sheet, cell in data["cells"]},
        issues=[Issue(*row) for row in data["issues"]],
    )
