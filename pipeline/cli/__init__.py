"""The command line (`python -m pipeline …`, or `dvcq …` once installed): parses arguments,
calls the library, prints Vietnamese results."""

from pipeline.cli.commands import main

__all__ = ["main"]
