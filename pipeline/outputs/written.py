"""Output files written only when they change: the letters and the feedback to units.

A national run writes a few thousand of them; a rerun after one more file changes a handful.
Each file is remembered in the cache store (table `outputs`) with the key of its inputs and its
sha256, size and modification time as written. A file whose key is unchanged and which is still
on disk as written (same size and time, or else same bytes) is not built or written again; a
deleted or hand-edited one is. New files go through one AtomicBatch: each is complete on disk
before it replaces the old one.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from pipeline.store.atomic import AtomicBatch, OutputError
from pipeline.store.cache import Cache, Written


class WrittenFiles:
    """The files of some folders of outputs (`folders`: paths relative to the outbox, each
    ending in "/") for one run."""

    def __init__(self, outbox: Path, cache: Cache | None, folders: tuple[str, ...]) -> None:
        self.outbox = outbox
        self.cache = cache
        self.previous: dict[str, Written] = {}
        if cache is not None:
            for folder in folders:
                self.previous.update(cache.written(folder))
        self.now: dict[str, Written] = {}
        self._batch = AtomicBatch()
        self._new: list[str] = []

    def unchanged(self, rel: str, key: str) -> bool:
        """Whether the file `rel` was written for `key` and is still on disk as written."""
        entry = self.previous.get(rel)
        if entry is None or entry[0] != key:
            return False
        path = self.outbox / rel
        try:
            st = os.stat(path)
            if st.st_size != entry[2]:
                return False
            if st.st_mtime_ns != entry[3] and hashlib.sha256(path.read_bytes()).hexdigest() != entry[1]:
                return False
        except OSError:
            return False
        self.now[rel] = (key, entry[1], st.st_size, st.st_mtime_ns)
        return True

    def write(self, rel: str, key: str, data: bytes) -> None:
        """`data` becomes the file `rel` when the batch is committed."""
        self._batch.add(self.outbox / rel, data)
        self.now[rel] = (key, hashlib.sha256(data).hexdigest(), len(data), 0)
        self._new.append(rel)

    def commit(self) -> None:
        """Put the new files in place, then remember every file of the folder for the next run."""
        self._batch.commit()
        for rel in self._new:
            key, sha, size, _ = self.now[rel]
            try:
                self.now[rel] = (key, sha, size, os.stat(self.outbox / rel).st_mtime_ns)
            except OSError:
                del self.now[rel]
        if self.cache is not None:
            changed = {rel: e for rel, e in self.now.items() if self.previous.get(rel) != e}
            gone = [rel for rel in self.previous if rel not in self.now]
            self.cache.record_written(changed, gone)

    def abort(self) -> None:
        self._batch.abort()


def remove_stale(
    folder: Path, keep: set[str], pattern: re.Pattern[str], what: str, archive: str = ""
) -> None:
    """Remove the files of an earlier run in `folder` (names matching `pattern`) that this run
    did not write (`keep`: the names it wrote); `what` names such a file in the message. With
    `archive`, a file is moved into that subfolder of `folder` instead of being deleted."""
    if not folder.is_dir():
        return
    for path in sorted(folder.iterdir()):
        if path.is_file() and pattern.match(path.name) and path.name not in keep:
            try:
                if archive:
                    (folder / archive).mkdir(exist_ok=True)
                    path.replace(folder / archive / path.name)
                else:
                    path.unlink()
            except OSError as exc:
                raise OutputError(f'Không xóa được {what} "{path}": {exc.strerror or exc}.') from exc
