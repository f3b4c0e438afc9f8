"""The benchmark behind `make bench`: a generated national-scale inbox, the baselines and the
pipeline (cold and incremental), measured side by side.

    python -m bench.benchmark --n 10000     (make bench N=10000)

The inbox is generated once under build/bench/<n>/ and reused (never in the officer's inbox/
or outbox/). Each measured step runs in
its own process so that peak memory (RSS) is measured per step.
"""

from __future__ import annotations

import argparse
import compileall
import csv
import io
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from pipeline import config
from pipeline.authoring.template import write_template
from pipeline.core.deadlines import parse_period
from pipeline.core.schema import Schema
from pipeline.ooxml.edit import fill_workbook

PERIOD = "2023-Q1"
AS_OF = "2023-04-10T09:00:00+07:00"
ERROR_SHARE = 0.05
NUMBER_BASE = 987_000_000  # sentinels: no real figure in the prototype looks like these

SENTENCES = [
    "Tổ chức quán triệt các văn bản chỉ đạo về công tác dân vận chính quyền đến toàn thể cán bộ, công chức.",
    "Duy trì tiếp nhận, giải quyết hồ sơ thủ tục hành chính qua bộ phận một cửa và dịch vụ công trực tuyến.",
    "Thực hiện nghiêm quy tắc ứng xử, văn hóa công sở; không phát hiện trường hợp nhũng nhiễu.",
    "Người đứng đầu tiếp công dân định kỳ theo lịch, giải quyết kịp thời kiến nghị của Nhân dân.",
    'Đăng ký và triển khai mô hình "Dân vận khéo" gắn với nhiệm vụ chuyên môn của đơn vị.',
    "Phối hợp với Mặt trận Tổ quốc tổ chức giám sát, tiếp thu đầy đủ các kiến nghị sau giám sát.",
    "Xây dựng kế hoạch kiểm tra công tác dân vận chính quyền tại các đơn vị trực thuộc.",
]


BUILD = Path("build") / "bench"


def bench_dir(n: int) -> Path:
    return BUILD / str(n)


def write_bench_schema(n: int, target: Path) -> Path:
    """The default schema with a registry of n units: a bigger registry is data, not code."""
    target.mkdir(parents=True, exist_ok=True)
    for f in config.DEFAULT_DIR.iterdir():
        if f.is_file() and f.name != "units.csv":
            shutil.copy(f, target / f.name)
    with (target / "units.csv").open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["code", "name", "kind", "communes", "aliases"])
        for i in range(1, n + 1):
            district = i % 3 == 0
            name = f"{'Huyện' if district else 'Sở'} Thử nghiệm {i:05d}"
            w.writerow(
                [f"U{i:05d}", name, "district" if district else "department", 15 if district else "", ""]
            )
    return target


def _figures(rng: random.Random, broken: bool) -> dict[str, int]:
    received = rng.randint(50, 3000)
    on_time = int(received * rng.uniform(0.6, 0.95))
    late = rng.randint(0, max(0, (received - on_time) // 3))
    pending = rng.randint(0, received - on_time - late)
    petitions = rng.randint(0, 60)
    competence = rng.randint(0, petitions)
    rec = rng.randint(0, 12)
    planned = rng.randint(0, 6)
    turns = rng.randint(0, 120)
    reviewed = rng.randint(0, 40)
    v = {
        "t1_documents_issued": rng.randint(1, 12),
        "t1_sessions": rng.randint(0, 10),
        "t1_participants": rng.randint(0, 2000),
        "t2_procedures_reviewed": reviewed,
        "t2_procedures_simplified": rng.randint(0, reviewed),
        "t2_dossiers_received": received,
        "t2_dossiers_online": rng.randint(0, received),
        "t2_dossiers_on_time": on_time,
        "t2_dossiers_late": late,
        "t2_dossiers_pending": pending,
        "t2_apologies": rng.randint(0, late),
        "t3_inspections": rng.randint(0, 5),
        "t3_officials_disciplined": rng.randint(0, 2),
        "t3_harassment_cases": rng.randint(0, 1),
        "t4_reception_turns": turns,
        "t4_reception_people": turns + rng.randint(0, 40),
        "t4_head_reception_days": rng.randint(0, 6),
        "t4_petitions_received": petitions,
        "t4_petitions_in_competence": competence,
        "t4_petitions_resolved": rng.randint(0, competence),
        "t4_dialogues": rng.randint(0, 4),
        "t5_models_registered": rng.randint(0, 5),
        "t5_models_recognized": rng.randint(0, 2),
        "t5_exemplars": rng.randint(0, 6),
        "t5_commendations": rng.randint(0, 10),
        "t6_supervisions_hosted": rng.randint(0, 4),
        "t6_recommendations_received": rec,
        "t6_recommendations_addressed": rng.randint(0, rec),
        "t7_inspections_planned": planned,
        "t7_inspections_done": rng.randint(0, planned),
        "t7_units_inspected": rng.randint(0, 8),
    }
    if broken:
        v["t2_dossiers_pending"] = received + 1  # on time + late + pending > received
    return v


class Prototype:
    """A filled template whose inputs hold sentinels, patched per submission at the XML level.

    Filling 10,000 files through openpyxl would cost minutes; patching the few XML members of
    one real filled file costs milliseconds and gives the same bytes a spreadsheet program
    would read.
    """

    def __init__(self, schema: Schema, template: Path, work: Path) -> None:
        self.numeric = [f.key for f in schema.fields if f.numeric and f.key not in ("year", "self_score")]
        self.texts = [f.key for f in schema.fields if f.type in ("text", "unit", "phone", "email")]
        values: dict[str, object] = {
            "period": "Quý I",
            "year": 2023,
            "report_date": datetime(2023, 3, 15).date(),
        }
        values |= {k: NUMBER_BASE + i for i, k in enumerate(self.numeric)}
        values |= {k: f"QQ{k}QQ" for k in self.texts}  # ASCII: openpyxl escapes the rest
        values["self_score"] = 85
        proto = work / "prototype.xlsx"
        fill_workbook(template, values, proto)
        with zipfile.ZipFile(proto) as zf:
            self.members = [(info, zf.read(info)) for info in zf.infolist()]

    def build(self, values: dict[str, object]) -> bytes:
        subs: list[tuple[bytes, bytes]] = []
        for i, k in enumerate(self.numeric):
            v = values.get(k)
            subs.append((f"<v>{NUMBER_BASE + i}</v>".encode(), b"" if v is None else f"<v>{v}</v>".encode()))
        for k in self.texts:
            subs.append((f"QQ{k}QQ".encode(), escape(str(values.get(k, ""))).encode()))
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
            for info, data in self.members:
                if info.filename.startswith("xl/worksheets/") or info.filename == "xl/sharedStrings.xml":
                    for old, new in subs:
                        data = data.replace(old, new)
                zf.writestr(info, data)
        return out.getvalue()


def generate(n: int, root: Path) -> tuple[Path, Path]:
    """build/bench/<n>/{schemas,inbox}; reused when already complete."""
    schemas, inbox = root / "schemas", root / "inbox"
    done = root / "generated.json"
    if done.is_file() and json.loads(done.read_text())["n"] == n:
        return schemas, inbox
    shutil.rmtree(root, ignore_errors=True)
    write_bench_schema(n, schemas)
    schema = config.load(schemas)
    template = write_template(schema, root / "template")
    proto = Prototype(schema, template, root)
    period = parse_period(PERIOD, schema.calendar)
    rng = random.Random(n)
    inbox.mkdir(parents=True)
    receipts = []
    deadline = datetime.combine(period.deadline, datetime.min.time(), period.tz)
    for i, unit in enumerate(schema.units):
        broken = rng.random() < ERROR_SHARE
        values: dict[str, object] = dict(_figures(rng, broken))
        values["unit_code"] = unit.code
        for k in proto.texts:
            if k.startswith("n"):
                values[k] = " ".join(rng.sample(SENTENCES, 2))
        values |= {"report_number": f"{i + 1}/BC", "preparer_name": "Nguyễn Văn An"}
        values |= {"preparer_phone": "0256 3822 000", "preparer_email": "vanthu@binhdinh.gov.vn"}
        name = f"{i // 1000:02d}/Báo cáo Quý I-2023 - {unit.name}.xlsx"
        (inbox / name).parent.mkdir(exist_ok=True)
        (inbox / name).write_bytes(proto.build(values))
        at = deadline - timedelta(days=rng.randint(0, 9), hours=rng.randint(1, 9))
        if rng.random() < 0.05:
            at += timedelta(days=rng.randint(1, 12))
        receipts.append((name, at.isoformat()))
    with (inbox / "receipts.csv").open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["file", "received_at"])
        w.writerows(receipts)
    done.write_text(json.dumps({"n": n}))
    return schemas, inbox


# --- measured steps (each in its own process) ------------------------------------------


def _files(inbox: Path) -> list[Path]:
    return sorted(p for p in inbox.rglob("*.xlsx"))


def step_calamine(inbox: Path) -> int:
    """Baseline: a bare python-calamine read of every cell of every sheet."""
    import python_calamine as pc

    cells = 0
    for p in _files(inbox):
        wb = pc.CalamineWorkbook.from_path(str(p))
        for name in wb.sheet_names:
            cells += sum(len(r) for r in wb.get_sheet_by_name(name).to_python())
    return cells


def step_pandas(inbox: Path) -> int:
    """Baseline: the naive loop, pandas.read_excel (openpyxl) of each file, concatenated."""
    import pandas as pd

    frames = []
    for p in _files(inbox):
        for sheet, df in pd.read_excel(p, sheet_name=None, engine="openpyxl", header=None).items():
            df["__file"], df["__sheet"] = p.name, sheet
            frames.append(df)
    return len(pd.concat(frames, ignore_index=True))


STEPS: dict[str, Callable[[Path], int]] = {"calamine": step_calamine, "pandas": step_pandas}


def _child_rss(argv: list[str]) -> dict[str, float]:
    """Run argv under a tiny wrapper that reports the child's own peak RSS."""
    wrapper = (
        "import resource,subprocess,sys,time;t=time.perf_counter();"
        "r=subprocess.run(sys.argv[1:],capture_output=True,text=True);"
        "d=time.perf_counter()-t;"
        "m=resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss;"
        "sys.stderr.write(r.stderr[-3000:]) if r.returncode else None;"
        "print(f'{d} {m}');sys.exit(r.returncode)"
    )
    proc = subprocess.run([sys.executable, "-c", wrapper, *argv], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"bench step failed: {' '.join(argv)}\n{proc.stderr[-3000:]}")
    seconds, rss = proc.stdout.split()[-2:]
    return {"seconds": round(float(seconds), 2), "peak_rss_mb": round(int(rss) / 1024, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description="Benchmark of the consolidation at national scale.")
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--skip-pandas", action="store_true", help="skip the slow naive baseline")
    args = ap.parse_args()
    n = args.n
    root = bench_dir(n)
    t = time.perf_counter()
    schemas, inbox = generate(n, root)
    print(f"inbox: {inbox} ({n} files; generated or reused in {time.perf_counter() - t:.1f} s)", flush=True)
    # The package's bytecode, as any run writes it on first use: this machine sets
    # PYTHONDONTWRITEBYTECODE, which would have every measured run compile ~50 modules again.
    compileall.compile_dir(Path(__file__).resolve().parents[1] / "pipeline", quiet=1)
    py = sys.executable
    rows: dict[str, dict[str, float]] = {}
    rows["calamine"] = _child_rss([py, "-m", "bench.step", "calamine", str(inbox)])
    if not args.skip_pandas:
        rows["pandas"] = _child_rss([py, "-m", "bench.step", "pandas", str(inbox)])
    out = root / "outbox"
    shutil.rmtree(out, ignore_errors=True)
    run = [py, "-m", "pipeline", "--schemas", str(schemas), "consolidate", "--period", PERIOD,
           "--inbox", str(inbox), "--outbox", str(out), "--as-of", AS_OF]  # fmt: skip
    rows["cold"] = _child_rss(run)
    stages_log = out / ".logs" / f"stages-{PERIOD}.json"
    stages = {"cold": json.loads(stages_log.read_text(encoding="utf-8"))}
    # one more file lands: a late resubmission of the first unit
    extra = inbox / "late-extra.xlsx"
    first = _files(inbox)[0]
    shutil.copy(first, extra)
    with zipfile.ZipFile(extra, "a") as zf:  # different bytes, same figures
        zf.writestr("docProps/custom-bench.txt", str(time.time_ns()))
    try:
        rows["incremental"] = _child_rss(run)
    finally:
        extra.unlink()
    stages["incremental"] = json.loads(stages_log.read_text(encoding="utf-8"))
    steps = {k: {**v, "files_per_s": round(n / v["seconds"], 1)} for k, v in rows.items()}
    table: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "files": n,
        "steps": steps,
    }
    cold = rows["cold"]["seconds"]
    ratios = {
        "cold / calamine (target ≤ 2)": round(cold / rows["calamine"]["seconds"], 2),
        "incremental / cold (target ≤ 0.15)": round(rows["incremental"]["seconds"] / cold, 3),
    }
    if "pandas" in rows:
        ratios["pandas / cold (target ≥ 10)"] = round(rows["pandas"]["seconds"] / cold, 1)
    table["ratios"] = ratios
    table["stages_seconds"] = stages  # where the time goes, from the run's own log
    print(f"\n{'step':<12}{'files':>8}{'seconds':>10}{'files/s':>10}{'peak RSS MB':>13}")
    for k, v in steps.items():
        print(f"{k:<12}{n:>8}{v['seconds']:>10}{v['files_per_s']:>10}{v['peak_rss_mb']:>13}")
    for k, r in ratios.items():
        print(f"{k}: {r}")
    print(f"\n{'stage (seconds, main process)':<56}{'cold':>10}{'incremental':>13}")
    for name in stages["cold"]:
        print(f"{name:<56}{stages['cold'][name]:>10.2f}{stages['incremental'].get(name, 0.0):>13.2f}")
    out_json = BUILD / f"bench-{n}.json"
    out_json.write_text(json.dumps(table, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"\n{out_json}")


if __name__ == "__main__":
    main()
