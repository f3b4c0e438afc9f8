"""The command line (`python -m pipeline …`, or `dvcq …` once installed): parses arguments,
calls the library, prints Vietnamese results."""

from pipeline.cli import mail as _mail  # noqa: F401  (registers `mail fetch` and `mail send`)
from pipeline.cli.commands import main

__all__ = ["main"]
