"""Rewrite the golden outputs in tests/golden/2023-Q1/ from the committed fixture inbox.

    .venv/bin/python -m tests.golden.regenerate      (or: .venv/bin/python tests/golden/regenerate.py)

Run it DELIBERATELY, only when an output is meant to change (a new column, a reworded sheet, a
fixture rebuilt by tests/fixtures/make_fixture_inbox.py), then review the diff of the golden
files before committing them. tests/test_golden.py never writes here.

What is written: the consolidated workbook and the feedback workbook of the report with the
planted error (unit 550), as pipeline.run.consolidate makes them over a copy of
tests/fixtures/inbox-2023-Q1/ at AS_OF, in the outbox's own layout (<period>/…).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipeline.core.model import RunResult

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
FIXTURE_INBOX = ROOT / "tests" / "fixtures" / "inbox-2023-Q1"
PERIOD = "2023-Q1"
AS_OF = datetime.fromisoformat("2023-04-10T09:00:00+07:00")
CONSOLIDATED = f"{PERIOD}/tong-hop-{PERIOD}.xlsx"
FEEDBACK_UNIT = "550"  # the report with the planted error (see make_fixture_inbox.PLANTED)


def run_fixture(work: Path) -> tuple[RunResult, Path]:
    """Consolidate a copy of the fixture inbox under `work`; (result, outbox)."""
    from pipeline import config
    from pipeline.core.deadlines import parse_period
    from pipeline.run import consolidate

    inbox, outbox = work / "inbox", work / "outbox"
    shutil.copytree(FIXTURE_INBOX, inbox)  # never run over tests/fixtures itself
    schema = config.load()
    period = parse_period(PERIOD, schema.calendar)
    return consolidate(schema, period, inbox, outbox, AS_OF), outbox


def golden_names(result: RunResult) -> list[str]:
    """The outputs kept as golden files, relative to the outbox."""
    prefix = f"{PERIOD}/feedback/{FEEDBACK_UNIT}-"
    feedback = [rel for rel in result.outputs if rel.startswith(prefix)]
    if len(feedback) != 1:
        raise AssertionError(f"expected one feedback workbook {prefix}*.xlsx, the run wrote {feedback}")
    return [CONSOLIDATED, feedback[0]]


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="dvcq-golden-") as tmp:
        result, outbox = run_fixture(Path(tmp))
        shutil.rmtree(HERE / PERIOD, ignore_errors=True)
        for rel in golden_names(result):
            target = HERE / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(outbox / rel, target)
            print(f"{target.stat().st_size:8d}  {target.relative_to(ROOT)}")


if __name__ == "__main__":  # the guard also keeps the pipeline's spawned workers from re-running it
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    main()
