"""TCVN3 (ABC) and VNI text: the tables, detection, and real workbooks with legacy fonts."""

from __future__ import annotations

import shutil
import subprocess
import unicodedata
from datetime import datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from openpyxl.styles import Font

from pipeline.authoring.sample import SampleManifest
from pipeline.check import check_file
from pipeline.core.deadlines import parse_period
from pipeline.core.schema import Schema
from pipeline.ooxml.edit import fill_workbook, save_workbook
from pipeline.reading import legacy_fonts as lf
from tests.conftest import AS_OF, soffice

LOWER = "aàảãáạăằẳẵắặâầẩẫấậeèẻẽéẹêềểễếệiìỉĩíịoòỏõóọôồổỗốộơờởỡớợuùủũúụưừửữứựyỳỷỹýỵđ"
UPPER = LOWER.upper()

PHRASES = {
    # Unicode: (TCVN3, VNI)
    "Báo cáo": ("B¸o c¸o", "Baùo caùo"),
    "Cộng hòa xã hội chủ nghĩa Việt Nam": (
        "Céng hßa x· héi chñ nghÜa ViÖt Nam",
        "Coäng hoøa xaõ hoäi chuû nghóa Vieät Nam",
    ),
    "Độc lập - Tự do - Hạnh phúc": ("§éc lËp - Tù do - H¹nh phóc", "Ñoäc laäp - Töï do - Haïnh phuùc"),
    "Uỷ ban nhân dân tỉnh Bình Định": ("Uû ban nh©n d©n tØnh B×nh §Þnh", "Uyû ban nhaân daân tænh Bình Ñònh"),
    "người dân được hướng dẫn": ("ng\u00adêi d©n ®\u00adîc h\u00adíng dÉn", "ngöôøi daân ñöôïc höôùng daãn"),
}


def _encode(text: str, table: dict[str, str]) -> str:
    """Unicode → legacy, the inverse of a decoding table (longest legacy form wins)."""
    inverse: dict[str, str] = {}
    for legacy, letter in sorted(table.items(), key=lambda kv: len(kv[0])):
        inverse.setdefault(letter, legacy)
    return "".join(inverse.get(ch, ch) for ch in unicodedata.normalize("NFC", text))


def test_tcvn3_table_covers_every_lower_case_letter() -> None:
    encoded = _encode(LOWER, lf.TCVN3)
    assert all(not lf._UNICODE_VI.search(ch) for ch in encoded)
    assert lf.tcvn3_to_unicode(encoded) == LOWER
    assert lf.to_unicode(encoded, "tcvn3", ".VnTimeH") == UPPER  # the capitals font
    assert lf.tcvn3_to_unicode("¡¢£¤¥¦§") == "ĂÂÊÔƠƯĐ"


def test_vni_table_covers_every_letter() -> None:
    for text in (LOWER, UPPER):
        encoded = _encode(text, lf.VNI)
        assert all(ord(ch) < 0x100 for ch in encoded), encoded
        assert lf.vni_to_unicode(encoded) == text


@pytest.mark.parametrize("unicode_text", sorted(PHRASES))
def test_known_phrases(unicode_text: str) -> None:
    tcvn3, vni = PHRASES[unicode_text]
    assert lf.detect(tcvn3) == "tcvn3"
    assert lf.to_unicode(tcvn3, "tcvn3") == unicodedata.normalize("NFC", unicode_text)
    assert lf.detect(vni) == "vni"
    assert lf.to_unicode(vni, "vni") == unicodedata.normalize("NFC", unicode_text)
    assert lf.detect(tcvn3, ".VnTime") == "tcvn3"
    assert lf.detect(vni, "VNI-Times") == "vni"


def test_capitals_typed_in_tcvn3() -> None:
    assert lf.to_unicode("B¸O C¸O KÕT QU¶", "tcvn3") == "BÁO CÁO KẾT QUẢ"
    assert lf.to_unicode("b¸o c¸o", "tcvn3", ".VnTimeH") == "BÁO CÁO"


def test_unicode_text_is_never_converted(schema: Schema, sample: SampleManifest) -> None:
    texts = [f.label for f in schema.fields] + [u.name for u in schema.units]
    texts += [a for u in schema.units for a in u.aliases]
    texts += ["Hoà Bình", "Báo cáo", "Không", "Có", "Quý I", "Tốt", "Sở Y tế", "Khá", "Café", "São Tomé"]
    for unit in sample.units.values():
        for f in unit.files:
            texts += [v for v in f.values.values() if isinstance(v, str)]
    for text in texts:
        assert lf.detect(text) == "", text
        assert lf.detect(text, ".VnTime") == "", text
        assert lf.detect(text, "VNI-Times") == "", text


def test_font_decides_when_the_content_is_ambiguous() -> None:
    assert lf.detect("Tö do") != "vni"
    assert lf.detect("Tö do", "VNI-Times") == "vni"
    assert lf.to_unicode("Tö do", "vni") == "Tư do"
    assert lf.legacy_font(".VnTimeH") == "tcvn3"
    assert lf.legacy_font("VNI-Helve") == "vni"
    assert lf.legacy_font("Times New Roman") == ""


# --- real workbooks -------------------------------------------------------------------------------


def _legacy_workbook(schema: Schema, sample: SampleManifest, template: Path, target: Path) -> dict[str, Any]:
    """A filled template with TCVN3 and VNI text, the legacy fonts set on the cells by openpyxl."""
    values = dict(next(u for u in sample.units.values() if u.code == "STP").files[-1].values)
    values["unit_code"] = "Së T\u00ad ph¸p"  # typed in TCVN3: Sở Tư pháp
    values["n1_results"] = "Céng hßa x· héi chñ nghÜa ViÖt Nam"
    values["n2_results"] = "Coäng hoøa xaõ hoäi chuû nghóa Vieät Nam"
    values["n3_results"] = "Tö do"  # VNI, told apart by the font only
    values["n4_results"] = "B¸o c¸o ®· ®\u00adîc hoµn thµnh"  # TCVN3 in a Unicode font: content only
    fill_workbook(template, values, target)
    wb = openpyxl.load_workbook(target)
    fonts = {
        "unit_code": ".VnTime",
        "n1_results": ".VnTime",
        "n2_results": "VNI-Times",
        "n3_results": "VNI-Times",
    }
    for key, font in fonts.items():
        f = schema.field_by_key[key]
        wb[f.sheet][f.cell].font = Font(name=font, size=12)
    save_workbook(wb, target)
    return values


EXPECTED = {
    "unit_code": ("Sở Tư pháp", "tcvn3"),
    "n2_results": ("Cộng hòa xã hội chủ nghĩa Việt Nam", "vni"),
    "n3_results": ("Tư do", "vni"),
    "n4_results": ("Báo cáo đã được hoàn thành", "tcvn3"),
}


def _check(schema: Schema, path: Path) -> Any:
    return check_file(schema, path, parse_period("2023-Q1", schema.calendar), datetime.fromisoformat(AS_OF))


def test_xlsx_with_legacy_fonts(
    schema: Schema, sample: SampleManifest, template: Path, tmp_path: Path
) -> None:
    path = tmp_path / "bao-cao-tcvn3.xlsx"
    _legacy_workbook(schema, sample, template, path)
    checked = _check(schema, path)
    sub = checked.submission
    assert sub.unit == "STP"  # identified after conversion
    assert checked.verdict.accepted
    for key, (text, _) in EXPECTED.items():
        if key != "unit_code":
            assert sub.values[key] == text, key
    assert sub.values["n1_results"] == "Cộng hòa xã hội chủ nghĩa Việt Nam"
    warnings = {(i.sheet, i.cell): i for i in sub.issues if i.code == "legacy-encoding"}
    expected_cells = {
        (schema.field_by_key[k].sheet, schema.field_by_key[k].cell) for k in [*EXPECTED, "n1_results"]
    }
    assert set(warnings) == expected_cells
    assert all(i.severity == "warning" and i.unit == "STP" for i in warnings.values())
    f = schema.field_by_key["n2_results"]
    assert "VNI-Times" in warnings[(f.sheet, f.cell)].message
    assert f.label in warnings[(f.sheet, f.cell)].message


def test_legacy_text_saved_by_libreoffice(
    schema: Schema, sample: SampleManifest, template: Path, tmp_path: Path
) -> None:
    """LibreOffice keeps the font names in .xlsx; an .ods is judged by the content alone."""
    exe = soffice()
    source = tmp_path / "src" / "bao-cao.xlsx"
    source.parent.mkdir()
    _legacy_workbook(schema, sample, template, source)
    out = tmp_path / "conv"
    profile = f"-env:UserInstallation={(tmp_path / 'lo').as_uri()}"
    for target in ("xlsx:Calc MS Excel 2007 XML", "ods"):
        subprocess.run(
            [exe, profile, "--headless", "--convert-to", target, "--outdir", str(out), str(source)],
            capture_output=True,
            timeout=180,
            check=False,
        )
    xlsx, ods = out / "bao-cao.xlsx", out / "bao-cao.ods"
    assert xlsx.is_file() and ods.is_file()
    shutil.copy(xlsx, tmp_path / "lo.xlsx")
    sub = _check(schema, tmp_path / "lo.xlsx").submission
    assert sub.unit == "STP"
    for key, (text, _) in EXPECTED.items():
        if key != "unit_code":
            assert sub.values[key] == text, key
    sub = _check(schema, ods).submission
    assert sub.unit == "STP"
    assert sub.values["n2_results"] == EXPECTED["n2_results"][0]
    assert sub.values["n4_results"] == EXPECTED["n4_results"][0]
    assert sub.values["n3_results"] != "Tư do"  # no font in .ods: the content alone reads it otherwise


def test_text_mixing_unicode_and_legacy_is_left_as_typed() -> None:
    assert lf.detect("Céng hßa x· héi; Trong quý I năm 2023, Sở Tư pháp") == ""


def test_cheap_when_no_legacy_font(sample: SampleManifest, schema: Schema) -> None:
    """A Unicode file: the fonts are never looked up at the cells."""
    from pipeline.reading.workbook import read_workbook

    path = next(p for p in sample.out_dir.iterdir() if p.suffix == ".xlsx")
    read = read_workbook(path, "xlsx", schema)
    assert lf.convert_read(path, "xlsx", read) == []
    refs = {c.sheet: {c.cell} for c in read.cells.values()}
    assert lf.cell_fonts(path, refs) == {}
