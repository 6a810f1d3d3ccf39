"""The store `serve` answers from, followed by its path (issue 27).

A long-running serve must answer from the file its `--db` path names now, not from one it
opened hours ago: a store rebuilt and moved into place (a rename, the atomic way to publish
one) is to be followed; a store renamed away, deleted, emptied or cut short is not to be
answered from at all. SQLite keeps reading an open file whatever becomes of its path, one
connection per thread, so each request (in the thread that answers it) compares the path's
device, inode, size and modification time with those of the file in use, one stat():

- the same: answer from it;
- anything else (another file; or this one truncated, or written over in place, as `cp` does):
  open the path afresh in place of the old store (closed once no request uses it); every
  request from then on answers from what the path names. A writer changes the main file only
  when it checkpoints its WAL (every 64 MiB of it, and when it closes), so this is rare;
- no file, an empty one, or one that does not open as a usable store (cut short, another
  schema): StoreError, which serve answers with a 503 (a refusal for every documented hook),
  and the next request tries again, so serve recovers by itself when a store is back.

Reopening rather than a 503 for a replaced file: publishing a rebuilt store by a rename should
not need a restart of every serve, and the new file is checked as at startup. A PostgreSQL
store has no file: it is answered from as it is.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from .store import StoreError, UsageStore, is_dsn, open_store


class ServedStore:
    def __init__(self, db: str | Path, pool_size: int) -> None:
        """Opens the store now: a store that cannot be opened is an error at startup."""
        self.db = db
        self._pool_size = pool_size
        self._lock = threading.Lock()
        self._follow = not is_dsn(db)
        # (store, stamp of its file), replaced as a whole; None: none usable now
        self._current: tuple[UsageStore, tuple | None] | None = None
        self._current = self._open()

    def current(self) -> UsageStore:
        """The store to answer this request from (raises StoreError: none usable now)."""
        if not self._follow:
            return self._current[0]
        current = self._current
        if current is not None and current[1] == self._stamp():
            return current[0]
        with self._lock:  # one request reopens; the others then find it done
            current = self._current
            if current is not None and current[1] == self._stamp():
                return current[0]
            self._current = None  # the old file is not answered from again
            self._current = self._open()
            return self._current[0]

    def _stamp(self) -> tuple[int, int, int, int]:
        st = self._stat()
        return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns

    def _stat(self) -> os.stat_result:
        try:
            st = os.stat(self.db)
        except FileNotFoundError:
            raise StoreError(f"{self.db}: the store file is gone") from None
        except OSError as exc:
            raise StoreError(f"{self.db}: {exc.strerror or exc}") from None
        if st.st_size == 0:
            raise StoreError(f"{self.db}: the store file is empty")
        return st

    def _open(self) -> tuple[UsageStore, tuple | None]:
        if not self._follow:
            store = open_store(self.db, readonly=True)
            store.use_pool(self._pool_size)
            return store, None
        for _ in range(3):  # a writer's checkpoint may land meanwhile: then once more
            before = self._stamp()
            store = open_store(self.db, readonly=True)
            if self._stamp() == before:
                store.use_pool(self._pool_size)
                return store, before
            store.close()
        raise StoreError(f"{self.db}: the store file keeps changing while it is being opened")
