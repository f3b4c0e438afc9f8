"""Issues in the words of a paper for leaders and units: the form's item named, no cell address,
no sheet!cell, no catalogue code, no hash.

Cell addresses and codes stay in the officer's technical sheets and in the feedback workbooks,
where the unit clicks through to the cell; letters, e-mails, the report and the summary quote
an issue through `plain_issue`.
"""

from __future__ import annotations

import re
from datetime import date

from pipeline.core.issues import Issue
from pipeline.core.schema import Schema
from pipeline.core.vietnamese import format_date

# "(D15)", "(Số liệu!D15)": a cell quoted beside a label in a rule's figures.
_QUOTED_CELL = re.compile(r"\s*\((?:[^()!]{1,40}!)?\$?[A-Z]{1,3}\$?\d{1,7}\)")
_DOTS = re.compile(r"\.{2}(?!\.)")  # ".." but not an ellipsis "..."
_SPACES = re.compile(r"\s{2,}")


def _label(issue: Issue, schema: Schema) -> str:
    field = schema.field_by_key.get(issue.key)
    if field is None:
        field = next((f for f in schema.fields if f.sheet == issue.sheet and f.cell == issue.cell), None)
    return field.label if field is not None else ""


def plain_issue(issue: Issue, schema: Schema) -> str:
    """The issue's message with its cell replaced by the form's item ('mục "Số kế hoạch…"'),
    every other cell address and input key removed, and one full stop at the end."""
    text = issue.message
    if issue.sheet and issue.cell:
        label = _label(issue, schema)
        for cell_word, item_word in (("Ô", "Mục"), ("ô", "mục")):
            ref = f"{cell_word} {issue.sheet}!{issue.cell}"
            text = text.replace(f'{ref} "', f'{item_word} "')
            text = text.replace(ref, f'{item_word} "{label}"' if label else item_word)
        text = text.replace(f"{issue.sheet}!{issue.cell}", f'"{label}"' if label else "")
    for sheet in {f.sheet for f in schema.fields}:  # another cell of the form named in the text
        text = re.sub(rf"([Ôô]) {re.escape(sheet)}!\$?[A-Z]{{1,3}}\$?\d{{1,7}}", _item_word, text)
    text = _QUOTED_CELL.sub("", text)
    if issue.key:
        text = text.replace(f" ({issue.key})", "")
    text = _SPACES.sub(" ", _DOTS.sub(".", text)).strip()
    return text if text.endswith((".", "!", "?", "…")) else text + "."


def _item_word(m: re.Match[str]) -> str:
    return "Mục" if m.group(1) == "Ô" else "mục"


def grace_sentence(grace: date, today: date) -> str:
    """What the fairness policy means for a report sent on time and rejected."""
    if grace >= today:
        return (
            "Báo cáo đã gửi trong hạn: nếu bản hoàn thiện được gửi lại chậm nhất ngày "
            f"{format_date(grace)}, báo cáo được tính là đúng hạn (gửi lại trong hạn)."
        )
    return (
        f"Báo cáo đã gửi trong hạn nhưng thời hạn gửi lại để được tính đúng hạn (ngày {format_date(grace)}) "
        "đã qua: bản hoàn thiện được tính theo thời điểm Sở Nội vụ nhận được."
    )
