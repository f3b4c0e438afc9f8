"""Validation of one submission: identification, then every input's type and presence.

Ranges and cross-field rules run afterwards over all submissions at once, as the
expectation suite (pipeline.expectations). Nothing here raises for bad data.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from functools import cache, lru_cache

from pipeline.core.deadlines import ReportingPeriod, period_name
from pipeline.core.issues import Issue, make_issue
from pipeline.core.model import InboxFile, Located, Submission, Value
from pipeline.core.registry import match_ceased, match_unit, units_named_in
from pipeline.core.schema import Field, Schema, Unit
from pipeline.core.statuses import FileStatus
from pipeline.core.vietnamese import fold, format_number, nfc, parse_number
from pipeline.reading.workbook import CellValue, RawCell, WorkbookRead

_ID_KEYS = ("unit_code", "period", "year")  # identification: checked by _identify
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_DATE_TEXT = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$")


def _blank(v: CellValue) -> bool:
    return v is None or (isinstance(v, str) and not v.strip())


def _show(v: CellValue) -> str:
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, (int, float)):
        return format_number(v)
    if isinstance(v, (date, datetime)):
        return v.strftime("%d/%m/%Y")
    return str(v)


class _Checker:
    def __init__(self, schema: Schema, file: InboxFile, read: WorkbookRead) -> None:
        self.schema = schema
        self.file = file
        self.read = read
        self.issues: list[Issue] = []
        self.unit_code = ""

    def add(self, code: str, key: str = "", cell: RawCell | None = None, **params: str) -> None:
        self.issues.append(
            make_issue(
                self.schema,
                code,
                file=self.file.name,
                sheet=cell.sheet if cell else "",
                cell=cell.cell if cell else "",
                unit=self.unit_code,
                key=key,
                **params,
            )
        )

    # --- typed parsing --------------------------------------------------------------

    def number(self, f: Field, c: RawCell) -> Value:
        v = c.value
        value: float
        if type(v) is float or type(v) is int:  # what calamine gives for a number: the usual case
            value = float(v)
        elif isinstance(v, (bool, date, datetime)):
            self.add("value-not-number", f.key, c, value=_show(v))
            return None
        elif isinstance(v, (int, float)):
            value = float(v)
        else:
            parsed = parse_number(str(v))
            if parsed.value is None:
                code = "value-ambiguous" if parsed.problem == "ambiguous" else "value-not-number"
                self.add(code, f.key, c, value=str(v))
                return None
            value = parsed.value
        if f.type == "integer":
            if not value.is_integer():
                self.add("value-not-integer", f.key, c, value=format_number(value))
                return None
            return int(value)
        return value

    def day(self, f: Field, c: RawCell) -> Value:
        v = c.value
        if isinstance(v, datetime):
            return v.date()
        if isinstance(v, date):
            return v
        m = _DATE_TEXT.match(str(v).strip())
        if m:
            try:
                return date(int(m.group(3)), int(m.group(2)), int(m.group(1)))
            except ValueError:
                pass
        self.add("value-not-date", f.key, c, value=_show(v))
        return None

    def text(self, f: Field, c: RawCell) -> Value:
        v = c.value
        s = nfc(_show(v)).strip() if not isinstance(v, str) else nfc(v).strip()
        if f.type == "email" and not _EMAIL.match(s):
            self.add("value-bad-email", f.key, c, value=s)
        if f.type == "phone":
            digits = re.sub(r"[\s.()\-]", "", s).removeprefix("+84")
            if not digits.isdigit() or not 8 <= len(digits) <= 11:
                self.add("value-bad-phone", f.key, c, value=s)
        return s


@cache
def _period_spellings(schema: Schema) -> dict[str, str]:
    """Folded code, name or alias → period code (a spelling shared by two periods: the later one)."""
    spellings: dict[str, str] = {}
    for p in schema.calendar.periods:
        for s in (p.code, p.name, *p.aliases):
            spellings[fold(s)] = p.code
    return spellings


_APPLICABLE: dict[tuple[Schema, str | None, str], frozenset[str]] = {}


def _applicable(schema: Schema, unit: Unit | None, period_code: str) -> frozenset[str]:
    """Keys of the inputs (identification aside) that apply to this unit and period.

    Field.applies looks at the unit's kind only: one answer per kind, kept for the process.
    """
    key = (schema, unit.kind if unit is not None else None, period_code)
    found = _APPLICABLE.get(key)
    if found is None:
        found = frozenset(
            f.key for f in schema.fields if f.key not in _ID_KEYS and f.applies(unit, period_code)
        )
        if len(_APPLICABLE) > 64:
            _APPLICABLE.clear()
        _APPLICABLE[key] = found
    return found


def _ceased(ch: _Checker, period: ReportingPeriod) -> bool:
    """A report from a unit that no longer exists on the period's deadline (an old code, an
    old template): rejected with its successors named. True when it is one."""
    unit_cell = ch.read.cells.get("unit_code")
    if unit_cell is None or _blank(unit_cell.value):
        return False
    gone = match_ceased(ch.schema, _show(unit_cell.value), ch.schema.registry_date or period.deadline)
    if gone is None:
        return False
    unit, became = gone
    assert unit.valid_to is not None  # a ceased unit has its last day
    ch.add(
        "unit-ceased", "unit_code", unit_cell,
        value=_show(unit_cell.value),
        date=(unit.valid_to + timedelta(days=1)).strftime("%d/%m/%Y"),
        detail="; ".join(f"{u.code} - {u.name}" for u in became) or "(chưa ghi đơn vị kế tiếp)",
    )  # fmt: skip
    return True


@lru_cache(maxsize=4096)
def _located(sheet: str, cell: str) -> Located:
    """One Located per place, shared by every submission that has an input there (frozen)."""
    return Located(sheet, cell)


def _identify(ch: _Checker, sub: Submission, period: ReportingPeriod) -> bool:
    """Template, unit, period and year; False when the file cannot be this period's report."""
    schema, read = ch.schema, ch.read
    expected = f"{schema.template_id} phiên bản {schema.template_version}"
    if read.fingerprint_id != schema.template_id:
        if read.fingerprint_id is None or not _ceased(ch, period):  # an old template of a ceased unit: say so
            ch.add("template-unknown", expected=expected)
        return False
    sub.template_version = read.fingerprint_version
    if read.fingerprint_version != schema.template_version:
        if _ceased(ch, period):
            return False
        ch.add("template-outdated", value=str(read.fingerprint_version), expected=schema.template_version)
        return False
    for key in read.missing:
        ch.add("field-missing", key)

    unit_cell = read.cells.get("unit_code")
    if unit_cell is not None:
        if _blank(unit_cell.value):
            ch.add("unit-missing", "unit_code", unit_cell)
        else:
            shown = _show(unit_cell.value)
            m = match_unit(schema, shown)
            if m.unit is None and m.ambiguous:
                names = "; ".join(f"{u.code} - {u.name}" for u in m.candidates)
                ch.add("unit-ambiguous", "unit_code", unit_cell, value=shown, detail=names)
            elif m.unit is None:
                if not _ceased(ch, period):
                    ch.add("unit-unknown", "unit_code", unit_cell, value=shown)
            else:
                sub.unit = ch.unit_code = m.unit.code
                named = units_named_in(schema, ch.file.name.rsplit("/", 1)[-1])
                if len(named) == 1 and named[0].code != m.unit.code:
                    ch.add(
                        "unit-conflict", "unit_code", unit_cell,
                        value=f"{m.unit.code} - {m.unit.name}",
                        expected=f"{named[0].code} - {named[0].name}",
                        detail="tên tệp",
                    )  # fmt: skip

    period_cell = read.cells.get("period")
    if period_cell is not None:
        if _blank(period_cell.value):
            ch.add("period-missing", "period", period_cell)
        else:
            sub.period = _period_spellings(schema).get(fold(_show(period_cell.value)))
            if sub.period is None:
                ch.add("period-invalid", "period", period_cell, value=_show(period_cell.value))

    year_cell = read.cells.get("year")
    if year_cell is not None and not _blank(year_cell.value):
        y = ch.number(schema.field_by_key["year"], year_cell)
        sub.year = int(y) if isinstance(y, int) else None
    elif year_cell is not None:
        ch.add("value-required", "year", year_cell)

    if (
        sub.period is not None
        and sub.year is not None
        and (sub.period, sub.year)
        != (
            period.period.code,
            period.year,
        )
    ):
        found = period_name(schema.calendar.period(sub.period).name, sub.year)
        where = period_cell or year_cell
        ch.add("period-other", "period", where, value=found, expected=period.name_vi)
        return False
    return True


def validate(schema: Schema, file: InboxFile, read: WorkbookRead, period: ReportingPeriod) -> Submission:
    """A Submission with parsed values and issues; status is provisional (merge decides)."""
    ch = _Checker(schema, file, read)
    sub = Submission(file=file)
    sub.cells = {k: _located(c.sheet, c.cell) for k, c in read.cells.items()}
    if not _identify(ch, sub, period):
        sub.issues = ch.issues
        if any(i.code == "period-other" for i in ch.issues):
            sub.status = FileStatus.IGNORED  # another period's report: accounted for, not judged here
        return sub
    unit = schema.unit_by_code.get(sub.unit or "")
    applicable = _applicable(schema, unit, period.period.code)
    # A blank cell may hold a formula that was never computed; only where the value is used.
    uncached = read.check_formulas(applicable)
    for f in schema.fields:
        c = read.cells.get(f.key)
        if c is None or f.key in _ID_KEYS:
            continue
        if f.key in uncached:
            ch.add("formula-no-value", f.key, c)
            sub.values[f.key] = None
            continue
        v = c.value
        blank = v is None or (isinstance(v, str) and not v.strip())
        if f.key not in applicable:
            if not blank:
                ch.add("value-not-applicable", f.key, c, value=_show(v))
            continue
        if blank and f.group == "explanation":
            continue  # nothing to explain: as absent as in a template made before these cells
        if blank:
            if f.requirement == "required":
                ch.add("value-required", f.key, c)
            elif f.requirement == "expected":
                ch.add("value-not-reported", f.key, c)
            sub.values[f.key] = None
            continue
        if f.numeric:
            sub.values[f.key] = ch.number(f, c)
        elif f.type == "date":
            sub.values[f.key] = ch.day(f, c)
        else:
            sub.values[f.key] = ch.text(f, c)
    sub.issues = ch.issues
    return sub
