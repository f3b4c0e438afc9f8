"""Reading `schemas/` (the single source of truth) into a typed Schema (pipeline.core.schema).

The only module that opens the schema files. A file that is missing, malformed or
inconsistent stops the run with a SchemaError naming the file.
"""

from __future__ import annotations

import csv
import hashlib
import re
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

from pipeline.core.errors import SchemaError
from pipeline.core.schema import (
    AnnualRule,
    Band,
    Calendar,
    Cap,
    Checks,
    Code,
    Condition,
    Contact,
    Criterion,
    CriterionKind,
    Field,
    InspectionPolicy,
    OutlierSettings,
    Papers,
    Period,
    Plan,
    Rubric,
    Schema,
    Step,
    TemplateSettings,
    Unit,
)
from pipeline.core.statuses import Severity, UnitStatus

PROJECT_DIR = Path(__file__).resolve().parent.parent
DEFAULT_DIR = PROJECT_DIR / "schemas"

T = TypeVar("T")


@contextmanager
def _reading(path: Path) -> Iterator[None]:
    """A missing key or a value of the wrong type in `path` becomes a SchemaError naming it."""
    try:
        yield
    except SchemaError:
        raise
    except KeyError as exc:
        raise SchemaError(f"Tệp cấu hình {path}: thiếu mục {exc}.") from exc
    except (ValueError, TypeError) as exc:
        raise SchemaError(f"Tệp cấu hình {path}: giá trị không hợp lệ ({exc}).") from exc


def _read_csv(path: Path) -> list[dict[str, str]]:
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            return list(csv.DictReader(fh))
    except OSError as exc:
        raise SchemaError(f"Không đọc được tệp cấu hình {path}: {exc.strerror}") from exc
    except (UnicodeDecodeError, csv.Error) as exc:
        raise SchemaError(f"Tệp cấu hình {path} không đọc được dạng CSV UTF-8: {exc}") from exc


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise SchemaError(f"Không đọc được tệp cấu hình {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise SchemaError(f"Tệp cấu hình {path} sai cú pháp: {exc}") from exc


def _load(path: Path, parse: Callable[[Path], T]) -> T:
    with _reading(path):
        return parse(path)


def _opt_float(text: str) -> float | None:
    text = text.strip()
    return float(text) if text else None


def _day(row: dict[str, str], column: str) -> date | None:
    """An ISO date of the registry (empty: open); columns are read by name, absent means empty."""
    text = (row.get(column) or "").strip()
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        raise SchemaError(
            f"schemas/units.csv: đơn vị {row.get('code', '')}: cột {column} ghi {text!r}, không phải ngày dạng NNNN-TT-NN."
        ) from None


def _units(path: Path) -> tuple[Unit, ...]:
    units = []
    for row in _read_csv(path):
        communes = (row.get("communes") or "").strip()
        units.append(
            Unit(
                code=row["code"].strip(),
                name=row["name"].strip(),
                kind=row["kind"].strip(),
                communes=int(communes) if communes else None,
                aliases=tuple(a.strip() for a in (row.get("aliases") or "").split("|") if a.strip()),
                valid_from=_day(row, "valid_from"),
                valid_to=_day(row, "valid_to"),
                successors=tuple(c.strip() for c in (row.get("successor") or "").split("|") if c.strip()),
                reports=(row.get("reports") or "").strip().lower() not in ("no", "không"),
                emails=_emails(path, row),
                short_name=(row.get("short_name") or "").strip(),
            )
        )
    return tuple(units)


def _digest(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise SchemaError(f"Không đọc được tệp cấu hình {path}: {exc.strerror}") from exc


def _check_registry(units: tuple[Unit, ...]) -> None:
    """Codes unique among units that exist at the same time (an official code may be reused
    by the unit that succeeds another); every successor names a unit of the registry."""
    by_code: dict[str, list[Unit]] = {}
    for u in units:
        if u.valid_from is not None and u.valid_to is not None and u.valid_to < u.valid_from:
            raise SchemaError(f"schemas/units.csv: đơn vị {u.code}: valid_to trước valid_from")
        if u.successors and u.valid_to is None:
            raise SchemaError(f"schemas/units.csv: đơn vị {u.code} có đơn vị kế tiếp nhưng chưa ghi valid_to")
        for other in by_code.get(u.code, []):
            if _overlap(u, other):
                raise SchemaError(f"schemas/units.csv: mã đơn vị bị trùng ({u.code}) trong cùng thời gian")
        by_code.setdefault(u.code, []).append(u)
    for u in units:
        for code in u.successors:
            if code not in by_code:
                raise SchemaError(
                    f"schemas/units.csv: đơn vị {u.code}: đơn vị kế tiếp {code} không có trong danh sách"
                )


def _overlap(a: Unit, b: Unit) -> bool:
    a_from, b_from = a.valid_from or date.min, b.valid_from or date.min
    a_to, b_to = a.valid_to or date.max, b.valid_to or date.max
    return a_from <= b_to and b_from <= a_to


_ADDRESS = re.compile(r"[^@\s<>\"(),;|]+@[^@\s<>\"(),;|]+\.[A-Za-z0-9-]+")


def _emails(path: Path, row: dict[str, str]) -> tuple[str, ...]:
    """The unit's e-mail addresses: the `email` column, several separated by ";" (or "," or
    "|"); an empty column is a unit without an address."""
    found = tuple(a.strip() for a in re.split(r"[;,|]", row.get("email") or "") if a.strip())
    for address in found:
        if not _ADDRESS.fullmatch(address):
            raise SchemaError(
                f'{path}: địa chỉ thư "{address}" của đơn vị {row.get("code", "").strip()} không hợp lệ '
                "(mỗi địa chỉ dạng ten@donvi.gov.vn, nhiều địa chỉ cách nhau bằng dấu chấm phẩy)."
            )
    return found


def _fields(path: Path) -> tuple[Field, ...]:
    return tuple(
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
            rule_severity=Severity(row["rule_severity"].strip() or "error"),
            sheet=row["sheet"],
            cell=row["cell"],
        )
        for row in _read_csv(path)
    )


def _calendar(path: Path) -> Calendar:
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
        extra_days_off=_dates(data.get("extra_days_off", [])),
        working_days=_dates(data.get("working_days", [])),
        resubmission_policy=_choice(
            data.get("resubmission_policy", "on_time"), ("on_time", "corrected_time")
        ),
    )


def _dates(values: Any) -> tuple[date, ...]:
    """A TOML list of dates, written as dates or as "YYYY-MM-DD" strings."""
    return tuple(sorted(v if isinstance(v, date) else date.fromisoformat(str(v)) for v in values))


def _choice(value: Any, allowed: tuple[str, ...]) -> str:
    if str(value) not in allowed:
        raise ValueError(f"{value!r} không phải một trong {', '.join(allowed)}")
    return str(value)


def _papers(path: Path) -> Papers:
    data = _read_toml(path)
    contact = data.get("contact", {})
    plans = tuple(
        Plan(
            year=int(p["year"]),
            number=str(p.get("number", "")),
            date=_dates([p["date"]])[0] if p.get("date") else None,
            title=str(p.get("title", "")),
        )
        for p in data.get("plans", ())
    )
    return Papers(
        plans=plans,
        contact=Contact(
            str(contact.get("name", "")), str(contact.get("phone", "")), str(contact.get("email", ""))
        ),
        consolidating_unit=str(data.get("consolidating_unit", "")),
    )


def _inspection(path: Path) -> InspectionPolicy:
    data = _read_toml(path).get("inspection", {})
    default = InspectionPolicy()
    return InspectionPolicy(
        bands=tuple(str(b) for b in data.get("bands", default.bands)),
        late_periods=int(data.get("late_periods", default.late_periods)),
        rejected_periods=int(data.get("rejected_periods", default.rejected_periods)),
        score_drop=float(data.get("score_drop", default.score_drop)),
        exclude_consolidating=bool(data.get("exclude_consolidating", default.exclude_consolidating)),
    )


def _codes(path: Path) -> dict[str, Code]:
    return {
        r["code"]: Code(r["code"], Severity(r["severity"]), r["title"], r["message"]) for r in _read_csv(path)
    }


def _step(data: dict[str, Any]) -> Step:
    days = data.get("max_days")
    return Step(None if days is None else int(days), float(data["points"]), str(data["rule"]))


def _criterion(data: dict[str, Any]) -> Criterion:
    kind = CriterionKind(data["kind"])
    otherwise = data.get("otherwise")
    return Criterion(
        key=str(data["key"]),
        label=str(data["label"]),
        points=float(data["points"]),
        kind=kind,
        rule=str(data.get("rule", "")),
        steps=tuple(_step(s) for s in data.get("steps", ())),
        otherwise=_step(otherwise) if isinstance(otherwise, dict) else None,
        checks=tuple(
            Condition(str(c["when"]), float(c["points"]), float(c.get("otherwise", 0)), str(c["rule"]))
            for c in data.get("checks", ())
        ),
        numerator=str(data.get("numerator", "")),
        denominator=str(data.get("denominator", "")),
        full_at=float(data.get("full_at", 1.0)),
        zero_at=float(data.get("zero_at", 0.0)),
        if_no_denominator=float(data.get("if_no_denominator", 0.0)),
        kinds=tuple(str(k) for k in data.get("kinds", ())),
        may_be_left_out=bool(data.get("may_be_left_out", False)),
        if_no_new_content=(
            None if data.get("if_no_new_content") is None else float(data["if_no_new_content"])
        ),
    )


def _annual(data: dict[str, Any] | None) -> AnnualRule | None:
    if data is None:
        return None
    return AnnualRule(
        report_weight=float(data["report_weight"]),
        record_weight=float(data["record_weight"]),
        period_points=tuple((str(UnitStatus(k)), float(v)) for k, v in data["period_points"].items()),
        rule=str(data["rule"]),
    )


def _checks(path: Path) -> Checks:
    """schemas/checks.toml; without the file, the defaults of pipeline.core.schema.Checks."""
    if not path.exists():
        return Checks()
    data = _read_toml(path)
    o = data.get("outliers", {})
    d = OutlierSettings()
    return Checks(
        outliers=OutlierSettings(
            offset=float(o.get("offset", d.offset)),
            min_factor=float(o.get("min_factor", d.min_factor)),
            spread_multiplier=float(o.get("spread_multiplier", d.spread_multiplier)),
            peer_min_factor=float(o.get("peer_min_factor", d.peer_min_factor)),
            peer_min_count=int(o.get("peer_min_count", d.peer_min_count)),
        ),
        unchanged_ignore=tuple(
            str(k) for k in data.get("unchanged", {}).get("ignore", Checks().unchanged_ignore)
        ),
    )


def _rubric(path: Path) -> Rubric:
    data = _read_toml(path)
    return Rubric(
        name=str(data.get("name", "")),
        total=float(data.get("total", 100)),
        criteria=tuple(_criterion(c) for c in data["criteria"]),
        bands=tuple(Band(str(b["name"]), float(b["min"]), str(b.get("color", ""))) for b in data["bands"]),
        caps=tuple(
            Cap(UnitStatus(c["when"]), str(c["max_band"]), str(c["rule"])) for c in data.get("caps", ())
        ),
        statuses=tuple((UnitStatus(k), str(v)) for k, v in data.get("statuses", {}).items()),
        annual=_annual(data.get("annual")),
    )


def _template(path: Path) -> TemplateSettings:
    data = _read_toml(path)
    return TemplateSettings(
        id=str(data["id"]),
        version=str(data["version"]),
        file_name=str(data["file_name"]),
        title=str(data["title"]),
        agency=str(data.get("agency", "UBND TỈNH BÌNH ĐỊNH")),
        receiver=str(data.get("receiver", "Sở Nội vụ")),
        meta_sheet=str(data["meta_sheet"]),
        instructions_sheet=str(data["instructions_sheet"]),
        unit_list_max=int(data.get("unit_list_max", 1000)),
        instructions=tuple(str(line) for line in data.get("instructions", ())),
        tasks=tuple((str(k), str(v)) for k, v in data.get("tasks", {}).items()),
        place=str(data.get("place", "Bình Định")),
    )


def _check(schema: Schema) -> None:
    keys = [f.key for f in schema.fields]
    if len(keys) != len(set(keys)):
        raise SchemaError("schemas/form.csv: khóa (key) bị trùng")
    cells = [(f.sheet, f.cell) for f in schema.fields]
    if len(cells) != len(set(cells)):
        raise SchemaError("schemas/form.csv: hai chỉ tiêu dùng chung một ô")
    _check_registry(schema.registry)
    bands = [b.name for b in schema.rubric.bands]
    for cap in schema.rubric.caps:
        if cap.max_band not in bands:
            raise SchemaError(f"schemas/rubric.toml: mức trần {cap.max_band!r} không phải một mức xếp loại")


def load(directory: Path | str | None = None) -> Schema:
    """The schema of `directory` (default: the project's schemas/)."""
    d = Path(directory) if directory is not None else DEFAULT_DIR
    if not d.is_dir():
        raise SchemaError(f"Không tìm thấy thư mục cấu hình {d}")
    registry = _load(d / "units.csv", _units)
    schema = Schema(
        directory=d,
        # The units in force now (template, check); a run takes the registry `at` its deadline.
        units=tuple(u for u in registry if u.valid_to is None and u.reports),
        calendar=_load(d / "calendar.toml", _calendar),
        fields=_load(d / "form.csv", _fields),
        rubric=_load(d / "rubric.toml", _rubric),
        template=_load(d / "template.toml", _template),
        # The issue catalogue belongs to the program, not the province: a configuration folder
        # without its own codes.csv uses the default one.
        codes=_load(d / "codes.csv" if (d / "codes.csv").is_file() else DEFAULT_DIR / "codes.csv", _codes),
        registry=registry,
        registry_digest=_digest(d / "units.csv"),
        checks=_load(d / "checks.toml", _checks),
        papers=_load(d / "template.toml", _papers),
        inspection=_load(d / "rubric.toml", _inspection),
    )
    _check(schema)
    return schema
