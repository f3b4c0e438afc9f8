"""The plausibility checks (outliers, reports with nothing new) alone, at national scale: CPU
seconds of pipeline.store.plausibility.check over synthetic units, with a history (9M: two
earlier periods of the year and last year's) and without one (Q1 of a first year: peers).

    python -m bench.plausibility --units 10000

Nothing is written. The figures are random but consistent over the year, so that few are flagged
(the usual case the check is tuned for).
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import time
from datetime import datetime
from pathlib import Path


def main() -> None:
    from pipeline import config
    from pipeline.core.deadlines import parse_period
    from pipeline.core.model import InboxFile, Submission, UnitResult
    from pipeline.core.schema import Unit
    from pipeline.core.statuses import FileStatus, UnitStatus
    from pipeline.store import plausibility
    from pipeline.store.history import Accepted
    from pipeline.store.ledger import VersionRow

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=10000)
    n = parser.parse_args().units
    schema = config.load()
    rng = random.Random(1)
    keys = [f.key for f in schema.indicators if f.numeric]
    units: list[UnitResult] = []
    accepted: Accepted = {}
    for i in range(n):
        unit = Unit(f"U{i}", f"Đơn vị {i}", "district" if i % 3 else "department", 12 if i % 3 else None, ())
        base = {k: rng.randint(300, 2000) for k in keys}
        sub = Submission(file=InboxFile("a.xlsx", Path("a.xlsx"), f"{i:064d}", 1), status=FileStatus.ACCEPTED)
        sub.values = {k: v * 3 for k, v in base.items()}
        units.append(UnitResult(unit=unit, status=UnitStatus.ON_TIME, submission=sub))
        accepted[unit.code] = {
            pid: VersionRow(
                "x", pid, unit.code, "a.xlsx", datetime(2023, 1, 1), True, "accepted",
                {k: int(v * order * (0.9 if pid.startswith("2022") else 1)) for k, v in base.items()},
            )
            for pid, order in (("2023-Q1", 1), ("2023-H1", 2), ("2022-H1", 2), ("2022-9M", 3))
        }  # fmt: skip
    big = dataclasses.replace(schema, units=tuple(u.unit for u in units))
    for label, period_id, history in (
        ("with history (9M)", "2023-9M", accepted),
        ("peers (Q1)", "2023-Q1", {}),
    ):
        for u in units:
            assert u.submission is not None
            u.submission.issues.clear()
        start = time.process_time()
        plausibility.check(big, parse_period(period_id, schema.calendar), units, history)
        flagged = sum(len(u.submission.issues) for u in units if u.submission is not None)
        print(f"{label}: {time.process_time() - start:.2f} s CPU for {n} units, {flagged} issues")


if __name__ == "__main__":
    main()
