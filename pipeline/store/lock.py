"""One run at a time per outbox: an exclusive lock on outbox/.pipeline.lock.

The lock is an operating-system lock on an open file (fcntl.flock on Linux and macOS,
msvcrt.locking on Windows), so it is released by the system when the process ends in any
way, SIGKILL and power loss included: there is no stale lock to clean up. A second run on
the same outbox does not wait; it stops at once with a Vietnamese message (exit code 1).
The file itself stays in the outbox and holds the pid and start time of the last run.
"""

from __future__ import annotations

import os
import sys
from datetime import datetime
from pathlib import Path
from types import TracebackType

from pipeline.core.errors import MachineError

FILE_NAME = ".pipeline.lock"


class LockError(MachineError):
    """Another run holds the outbox: this one cannot continue."""


class RunLock:
    def __init__(self, outbox: Path) -> None:
        self.path = Path(outbox) / FILE_NAME
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise LockError(
                f'Không tạo được tệp khóa "{self.path}" ({exc.strerror or exc}). '
                "Kiểm tra quyền ghi vào thư mục kết quả rồi chạy lại."
            ) from exc
        try:
            _lock(fd)
        except OSError as exc:
            holder = _read_holder(fd)
            os.close(fd)
            raise LockError(
                f'Một lần tổng hợp khác đang chạy với thư mục kết quả "{self.path.parent}"{holder}. '
                "Đợi lần chạy đó kết thúc rồi chạy lại."
            ) from exc
        self._fd = fd
        stamp = f"{os.getpid()} {datetime.now().astimezone().isoformat(timespec='seconds')}\n"
        try:
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, stamp.encode())
        except OSError:
            pass  # the lock holds without the note
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._fd is not None:
            try:
                _unlock(self._fd)
            finally:
                os.close(self._fd)
                self._fd = None


def _read_holder(fd: int) -> str:
    try:
        text = os.read(fd, 200).decode("utf-8", "replace").split()
    except OSError:
        return ""
    if len(text) >= 2:
        return f" (tiến trình {text[0]}, bắt đầu lúc {text[1]})"
    return ""


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _lock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)
