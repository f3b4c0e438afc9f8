from __future__ import annotations

import pytest

from pipeline import config
from pipeline.core.registry import match_unit, units_named_in
from pipeline.core.vietnamese import fold, format_number, parse_number, strip_prefixes


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("12", 12.0),
        ("1.234", 1234.0),
        ("1.234.567", 1234567.0),
        ("12,5", 12.5),
        ("1.234,5", 1234.5),
        ("12,5%", 0.125),
        ("\u00a01.000\u00a0", 1000.0),
        ("-3", -3.0),
    ],
)
def test_vi_numbers(text: str, value: float) -> None:
    assert parse_number(text).value == pytest.approx(value)


@pytest.mark.parametrize("text", ["1.5", "1,234", "1,234.5", "1.23"])
def test_ambiguous_numbers_are_never_guessed(text: str) -> None:
    parsed = parse_number(text)
    assert parsed.value is None
    assert parsed.problem == "ambiguous"


@pytest.mark.parametrize("text", ["mười hai", "12 người", "", "abc"])
def test_text_is_not_a_number(text: str) -> None:
    assert parse_number(text).problem == "not-number"


def test_format_number() -> None:
    assert format_number(1234567) == "1.234.567"
    assert format_number(12.5) == "12,5"


def test_fold_is_tolerant_of_tone_placement_and_composition() -> None:
    assert fold("Hoà") == fold("Hòa") == fold("Hoa\u0300") == "hoa"
    assert fold("Uỷ ban") == fold("Ủy ban")
    assert fold("Đ") == "d"


def test_fold_drops_every_combining_mark_and_strip_prefixes_every_prefix() -> None:
    # Marks outside the Vietnamese block (enclosing, Cyrillic titlo) go too; the grapheme
    # joiner U+034F is not a mark: as punctuation, it becomes a space.
    assert fold("Sở\u20dd Nội\u0483 vụ") == "so noi vu"
    assert fold("Tây\u034fSơn") == "tay son"
    assert fold("Ωmega\u0301 & Co.") == "mega va co"  # letters of other scripts are not kept
    assert strip_prefixes("ubnd huyen tp tay son") == "tay son"
    assert strip_prefixes("uy ban nhan dan thi xa an nhon") == "an nhon"
    assert strip_prefixes("huyen") == "huyen" and strip_prefixes("tpx y") == "tpx y"


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("SNV", "SNV"),
        ("snv", "SNV"),
        ("540", "540"),
        (540.0, "540"),
        ("Sở NN&PTNT", "SNNPTNT"),
        ("UBND huyện Tuy Phước", "550"),
        ("TX. An Nhơn", "549"),
        ("Uỷ ban nhân dân thị xã Hoài Nhơn", "543"),
        ("Ủy ban nhân dân thị xã Hoài Nhơn", "543"),
        ("SYT - Sở Y tế", "SYT"),
    ],
)
def test_unit_matching(text: object, code: str) -> None:
    s = config.load()
    m = match_unit(s, str(text))
    assert m.unit is not None and m.unit.code == code


def test_unknown_unit() -> None:
    m = match_unit(config.load(), "Sở Không Tồn Tại")
    assert m.unit is None and not m.ambiguous


def test_units_named_in_file_names() -> None:
    s = config.load()
    assert [u.code for u in units_named_in(s, "Báo cáo DVCQ Quý I - Sở Y tế.xlsx")] == ["SYT"]
    assert [u.code for u in units_named_in(s, "BC UBND TX Hoài Nhơn quy 1.xlsx")] == ["543"]
    assert [u.code for u in units_named_in(s, "Báo cáo.xlsx")] == []
