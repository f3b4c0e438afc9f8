"""By hand, not collected by pytest: the test Dovecot filled as tests/test_mail_fetch.py fills
it, one fetch into a fresh inbox (twice), a consolidation, and a dry run of `mail send`, all in
a temporary folder; prints what the officer would see.

    .venv/bin/python -m tests.mail_demo
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from pipeline import config
from pipeline.authoring.sample import build_sample_inbox
from pipeline.authoring.template import write_template
from tests.conftest import ROOT
from tests.mailservers import Dovecot, dovecot_folder, make_certificate
from tests.test_mail_fetch import PASSWORD, USER, Mailbox


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="dvcq-mail-demo-"))
    schema = config.load()
    sample = build_sample_inbox(schema, write_template(schema, root / "template"), root / "sample")
    folders = dovecot_folder()
    folder = next(folders)
    cert, key = make_certificate(folder)
    server = Dovecot(folder, USER, PASSWORD, cert, key)
    server.start()
    env = {"DVCQ_MAIL_PASSWORD": PASSWORD, "PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}

    def run(*args: str) -> None:
        print("$ python -m pipeline " + " ".join(a if " " not in a else f'"{a}"' for a in args))
        done = subprocess.run(
            [sys.executable, "-m", "pipeline", *args], cwd=root, env=env, capture_output=True, text=True
        )
        print(done.stdout + done.stderr + f"(exit {done.returncode})\n")

    try:
        Mailbox(sample).fill(server)
        shutil.copytree(ROOT / "schemas", root / "schemas")  # example addresses, one unit without
        path = root / "schemas" / "units.csv"
        rows = list(csv.DictReader(path.open(encoding="utf-8")))
        for r in rows:
            r["email"] = "" if r["code"] == "SGDDT" else f"vanthu.{r['code'].lower()}@example.org"
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        path.write_text(out.getvalue(), encoding="utf-8")
        fetch = ["mail", "fetch", "--server", f"127.0.0.1:{server.imaps_port}", "--user", USER]
        fetch += ["--cafile", str(cert), "--inbox", "inbox", "--outbox", "outbox"]
        run(*fetch)
        print("$ ls inbox\n" + "\n".join(sorted(p.name for p in (root / "inbox").iterdir())) + "\n")
        run(*fetch)
        run(
            "consolidate",
            "--period",
            "2023-Q1",
            "--inbox",
            "inbox",
            "--outbox",
            "outbox",
            "--as-of",
            "2023-04-10T09:00:00+07:00",
        )
        report = json.loads((root / "outbox" / "2023-Q1" / "run.json").read_text(encoding="utf-8"))
        print("run.json files[].received_at of the fetched messages:")
        for f in report["files"]:
            if f["path"].endswith(".eml"):
                print(f"  {f['path']}  {f['received_at']}")
        print()
        run(
            "--schemas",
            "schemas",
            "mail",
            "send",
            "--period",
            "2023-Q1",
            "--outbox",
            "outbox",
            "--from",
            "dvcq@snv.example.org",
        )
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
