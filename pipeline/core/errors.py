"""The one error hierarchy: what stops a run (bad data never does: it becomes an Issue).

Every exception the program raises on purpose is a PipelineError carrying a Vietnamese
message for the officer; the command line catches this base class alone. Three families say
whose move it is:

- InputError: something the officer gave must be corrected (the schema folder, receipts.csv,
  the inbox folder, a period or a time on the command line);
- FileError: a file the program must read or write cannot be (the ledger, an output held open
  by Excel, a read-only folder);
- MachineError: this computer cannot do the work right now (another run holds the outbox, a
  worker process cannot start).
"""

from __future__ import annotations


class PipelineError(Exception):
    """The run cannot continue; str(error) is the Vietnamese message for the officer."""


class InputError(PipelineError):
    """Something the officer supplied must be corrected before the run can continue."""


class FileError(PipelineError):
    """A file the program needs cannot be read or written."""


class MachineError(PipelineError):
    """This computer cannot do the work now (lock held, processes cannot start)."""


class SchemaError(InputError):
    """The schema folder is missing or inconsistent."""


class PeriodError(InputError, ValueError):
    """A reporting period written wrongly ("2023-Q5")."""
