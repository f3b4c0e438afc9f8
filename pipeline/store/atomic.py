"""Atomic file writes: a reader sees the old file or the new one, never half of one."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

from pipeline.core.errors import FileError
from pipeline.runtime import faults


class OutputError(FileError):
    """An output file could not be written; the message is Vietnamese, for the officer."""


def _locked_message(path: Path) -> str:
    return (
        f'Không ghi được tệp "{path}" (tệp đang mở trong Excel hoặc thư mục chỉ đọc). Đóng tệp rồi chạy lại.'
    )


def _os_message(path: Path, exc: OSError) -> str:
    return f'Không ghi được tệp "{path}": {exc.strerror or exc}.'


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable where the platform allows it (not on Windows)."""
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_atomic(path: Path, produce: Callable[[IO[bytes]], None]) -> None:
    """Let `produce` write into a temporary file beside `path`, then put it in place.

    If `produce` raises, the temporary file is removed, any previous `path` is left intact and
    the exception propagates. If the file system refuses, OutputError says so in Vietnamese.
    """
    path = Path(path)
    folder = path.parent
    fd, tmp = _temporary(path)
    try:
        with os.fdopen(fd, "wb") as fh:
            _set_mode(fh.fileno(), path)
            produce(fh)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        # The producer failed (or the disk did): nothing replaces the previous file.
        _remove(tmp)
        raise
    faults.checkpoint(f"before-replace:{path.name}")
    try:
        os.replace(tmp, path)
    except PermissionError as exc:
        _remove(tmp)
        raise OutputError(_locked_message(path)) from exc
    except OSError as exc:
        _remove(tmp)
        raise OutputError(_os_message(path, exc)) from exc
    _fsync_dir(folder)


def make_folder(folder: Path) -> None:
    """An output folder (and its parents), or OutputError saying why it cannot be made."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(
            f'Không tạo được thư mục "{folder}" ({exc.strerror or exc}). '
            "Kiểm tra quyền ghi vào thư mục kết quả rồi chạy lại."
        ) from exc


def check_replaceable(path: Path) -> None:
    """OutputError now if `path` could not be replaced later (open in Excel, a folder, read-only).

    Called for every output before any is written, so that a run which cannot replace one
    output replaces none of them.
    """
    path = Path(path)
    try:
        st = os.stat(path)  # one stat and one open: a national run checks ~2,000 outputs
    except (FileNotFoundError, NotADirectoryError):
        if not os.access(path.parent, os.W_OK):
            raise OutputError(_locked_message(path)) from None
        return
    except OSError as exc:
        raise OutputError(_os_message(path, exc)) from exc
    if not stat.S_ISREG(st.st_mode):
        raise OutputError(
            f'Không ghi được tệp "{path}": đã có một thư mục trùng tên. Đổi tên thư mục đó rồi chạy lại.'
        )
    try:
        # Excel on Windows holds its files open without sharing: opening for writing fails.
        os.close(os.open(path, os.O_RDWR | getattr(os, "O_BINARY", 0)))
    except PermissionError as exc:
        raise OutputError(_locked_message(path)) from exc
    except OSError as exc:
        raise OutputError(_os_message(path, exc)) from exc


def write_bytes_atomic(path: Path, data: bytes) -> None:
    def produce(fh: IO[bytes]) -> None:
        fh.write(data)

    write_atomic(path, produce)


def _set_mode(fd: int, path: Path) -> None:
    """mkstemp makes a private file: give the output the previous file's mode, or rw-r--r--."""
    if os.name != "posix":
        return
    try:
        mode = path.stat().st_mode & 0o777
    except OSError:
        mode = 0o644
    os.fchmod(fd, mode)


def _remove(tmp: Path) -> None:
    with contextlib.suppress(OSError):
        tmp.unlink()


class AtomicBatch:
    """Many files written as write_bytes_atomic writes one, for a fraction of the wall time.

    Files are kept in memory until `flush_at` of them are pending (or `commit`); then each goes
    to a temporary file beside its target, written and fsynced by a pool of threads (concurrent
    fsyncs share the disk's flushes: docs/performance.md), while the caller waits (threads writing while the caller
    computes would fight it for the GIL). `commit` puts every file in place in the order added
    and syncs each folder once. On any failure no temporary file is left behind, and targets
    not yet replaced keep their previous content.
    """

    def __init__(self, threads: int = 32, flush_at: int = 1000) -> None:
        self._threads = threads
        self._flush_at = flush_at
        self._waiting: list[tuple[Path, bytes]] = []
        self._written: list[tuple[Path, Path]] = []  # (target, temporary file)

    def add(self, path: Path, data: bytes) -> None:
        self._waiting.append((Path(path), data))
        if len(self._waiting) >= self._flush_at:
            self._flush()

    def _flush(self) -> None:
        from concurrent.futures import ThreadPoolExecutor

        waiting, self._waiting = self._waiting, []
        if not waiting:
            return
        with ThreadPoolExecutor(min(self._threads, len(waiting)), thread_name_prefix="atomic-write") as pool:
            futures = [(path, pool.submit(_write_temporary, path, data)) for path, data in waiting]
        failure: BaseException | None = None
        for path, future in futures:
            try:
                self._written.append((path, future.result()))
            except BaseException as exc:  # the first failure is reported, every temporary removed
                failure = failure or exc
        if failure is not None:
            self.abort()
            raise failure

    def commit(self) -> None:
        try:
            self._flush()
        except BaseException:
            self.abort()
            raise
        written, self._written = self._written, []
        for n, (path, tmp) in enumerate(written):
            faults.checkpoint(f"before-replace:{path.name}")
            try:
                os.replace(tmp, path)
            except OSError as exc:
                for _, left in written[n:]:
                    _remove(left)
                if isinstance(exc, PermissionError):
                    raise OutputError(_locked_message(path)) from exc
                raise OutputError(_os_message(path, exc)) from exc
        for folder in sorted({path.parent for path, _ in written}):
            _fsync_dir(folder)

    def abort(self) -> None:
        """Drop every file not yet committed (their temporary files removed)."""
        self._waiting = []
        for _, tmp in self._written:
            _remove(tmp)
        self._written = []

    def __enter__(self) -> AtomicBatch:
        return self

    def __exit__(self, kind: object, value: object, tb: object) -> None:
        if kind is not None:
            self.abort()


def _temporary(path: Path) -> tuple[int, Path]:
    """A new hidden temporary file beside `path` (`.name.xxxx.tmp`, swept by a later run)."""
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except PermissionError as exc:
        raise OutputError(_locked_message(path)) from exc
    except OSError as exc:
        raise OutputError(_os_message(path, exc)) from exc
    return fd, Path(tmp_name)


def _write_temporary(path: Path, data: bytes) -> Path:
    """`data` in a durable temporary file beside `path` (mode as write_atomic gives it)."""
    fd, tmp = _temporary(path)
    try:
        with os.fdopen(fd, "wb") as fh:
            _set_mode(fh.fileno(), path)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        _remove(tmp)
        raise OutputError(_os_message(path, exc)) from exc
    except BaseException:
        _remove(tmp)
        raise
    return tmp
