"""The schema: the single source of truth, read from `schemas/`.

Registry, calendar, form, rubric, template settings and the issue catalogue are data files;
this module only loads them into typed values. Nothing else in the package opens them.
"""

from __future__ import annotations

import csv
import dataclasses
import tomllib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

DEFAULT_DIR = Path(__file__).resolve().parent.parent / "schemas"


class SchemaError(Exception):
    """The schema folder is missing or inconsistent: the run cannot continue."""


@dataclass(frozen=True)
class Unit:
    code: str
    name: str
    kind: str  # "department" | "district"
    communes: int | None
    aliases: tuple[str, ...]

    @property
    def addressee(self) -> str:
        """How a letter addresses the unit: a district through its People's Committee."""
        if self.kind == "district":
            return "Ủy ban nhân dân " + self.name[:1].lower() + self.name[1:]
        return self.name

    @property
    def kind_vi(self) -> str:
        return "Sở, ban, ngành" if self.kind == "department" else "Huyện, thị xã, thành phố"


@dataclass(frozen=True)
class Field:
    key: str
    group: str  # "identification" | "indicator" | "narrative"
    task: str
    label: str
    unit: str
    kind: str  # "id" | "flow" | "stock" | "text"
    type: str  # unit | period | integer | number | text | date | phone | email
    applies_to: str  # "all" | "district" | "department"
    periods: tuple[str, ...]  # ("all",) or period codes
    requirement: str  # "required" | "expected" | "optional"
    min: float | None
    max: float | None
    rule: str
    rule_severity: str
    sheet: str
    cell: str

    @property
    def numeric(self) -> bool:
        return self.type in ("integer", "number")

    def applies(self, unit: Unit | None, period: str) -> bool:
        if self.applies_to not in ("all", "") and (unit is None or unit.kind != self.applies_to):
            return False
        return "all" in self.periods or period in self.periods


@dataclass(frozen=True)
class Period:
    code: str
    name: str
    aliases: tuple[str, ...]
    order: int
    deadline: str  # "MM-DD"
    cutoff_start: str
    cutoff_start_previous_year: bool
    cutoff_end: str


@dataclass(frozen=True)
class Calendar:
    timezone: str
    timeliness_from: str
    periods: tuple[Period, ...]
    resubmit_days: int = 5  # a rejected unit resends within this many days of the feedback

    def period(self, code: str) -> Period:
        for p in self.periods:
            if p.code == code:
                return p
        raise KeyError(code)


@dataclass(frozen=True)
class Code:
    code: str
    severity: str  # "error" | "warning" | "info"
    title: str
    message: str


@dataclass(frozen=True, eq=False)  # hashed by identity: caches key on the loaded schema
class Schema:
    directory: Path
    units: tuple[Unit, ...]
    calendar: Calendar
    fields: tuple[Field, ...]
    rubric: dict[str, Any]
    template: dict[str, Any]
    codes: dict[str, Code] = field(repr=False)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled for the read workers: the units as plain rows (a national registry pickles in
        a third of the time, and loads faster), the cached lookups left out."""
        args = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        args["units"] = tuple((u.code, u.name, u.kind, u.communes, u.aliases) for u in self.units)
        return (_unpickle_schema, (args,))

    @cached_property
    def unit_by_code(self) -> dict[str, Unit]:
        return {u.code: u for u in self.units}

    @cached_property
    def field_by_key(self) -> dict[str, Field]:
        return {f.key: f for f in self.fields}

    @property
    def indicators(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.group == "indicator")

    @property
    def narratives(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.group == "narrative")

    @property
    def identification(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.group == "identification")

    @property
    def rules(self) -> tuple[Field, ...]:
        """Fields that carry a cross-field rule (parts of a whole)."""
        return tuple(f for f in self.fields if f.rule)

    @property
    def template_id(self) -> str:
        return str(self.template["id"])

    @property
    def template_version(self) -> str:
        return str(self.template["version"])


def _opt_float(text: str) -> float | None:
    text = text.strip()
    return float(text) if text else None


def _unpickle_schema(args: dict[str, Any]) -> Schema:
    args["units"] = tuple(Unit(*row) for row in args["units"])
    return Schema(**args)


def _read_csv(path: Path) -> list[dict[str, str]]:
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            return list(csv.DictReader(fh))
    except OSError as exc:
        raise SchemaError(f"Không đọc được tệp cấu hình {path}: {exc.strerror}") from exc


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise SchemaError(f"Không đọc được tệp cấu hình {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise SchemaError(f"Tệp cấu hình {path} sai cú pháp: {exc}") from exc


def load_units(path: Path) -> tuple[Unit, ...]:
    units = []
    for row in _read_csv(path):
        communes = row.get("communes", "").strip()
        units.append(
            Unit(
                code=row["code"].strip(),
                name=row["name"].strip(),
                kind=row["kind"].strip(),
                communes=int(communes) if communes else None,
                aliases=tuple(a.strip() for a in row.get("aliases", "").split("|") if a.strip()),
            )
        )
    return tuple(units)


def load_fields(path: Path) -> tuple[Field, ...]:
    fields = []
    for row in _read_csv(path):
        fields.append(
            Field(
                key=row["key"],
                group=row["group"],
                task=row["task"],
                label=row["label"],
                unit=row["unit"],
                kind=row["kind"],
                type=row["type"],
                applies_to=row["applies_to"] or "all",
                periods=tuple(p.strip() for p in (row["periods"] or "all").split("|")),
                requirement=row["requirement"],
                min=_opt_float(row["min"]),
                max=_opt_float(row["max"]),
                rule=row["rule"].strip(),
                rule_severity=row["rule_severity"].strip() or "error",
                sheet=row["sheet"],
                cell=row["cell"],
            )
        )
    return tuple(fields)


def load_calendar(path: Path) -> Calendar:
    data = _read_toml(path)
    periods = tuple(
        Period(
            code=p["code"],
            name=p["name"],
            aliases=tuple(p.get("aliases", ())),
            order=int(p["order"]),
            deadline=p["deadline"],
            cutoff_start=p["cutoff_start"],
            cutoff_start_previous_year=bool(p.get("cutoff_start_previous_year", False)),
            cutoff_end=p["cutoff_end"],
        )
        for p in data["periods"]
    )
    return Calendar(
        timezone=data.get("timezone", "Asia/Ho_Chi_Minh"),
        timeliness_from=data.get("timeliness_from", "first_valid"),
        periods=periods,
        resubmit_days=int(data.get("resubmit_days", 5)),
    )


def load_codes(path: Path) -> dict[str, Code]:
    return {r["code"]: Code(r["code"], r["severity"], r["title"], r["message"]) for r in _read_csv(path)}


def _check(schema: Schema) -> None:
    keys = [f.key for f in schema.fields]
    if len(keys) != len(set(keys)):
        raise SchemaError("schemas/form.csv: khóa (key) bị trùng")
    cells = [(f.sheet, f.cell) for f in schema.fields]
    if len(cells) != len(set(cells)):
        raise SchemaError("schemas/form.csv: hai chỉ tiêu dùng chung một ô")
    codes = [u.code for u in schema.units]
    if len(codes) != len(set(codes)):
        raise SchemaError("schemas/units.csv: mã đơn vị bị trùng")


def load(directory: Path | str | None = None) -> Schema:
    d = Path(directory) if directory is not None else DEFAULT_DIR
    if not d.is_dir():
        raise SchemaError(f"Không tìm thấy thư mục cấu hình {d}")
    schema = Schema(
        directory=d,
        units=load_units(d / "units.csv"),
        calendar=load_calendar(d / "calendar.toml"),
        fields=load_fields(d / "form.csv"),
        rubric=_read_toml(d / "rubric.toml"),
        template=_read_toml(d / "template.toml"),
        codes=load_codes(d / "codes.csv"),
    )
    _check(schema)
    return schema
