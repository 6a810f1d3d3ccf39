"""Waiting for another process to change the store (the TUI's live refresh, §4).

    watch = watch_changes(store)   # in the thread that will wait
    watch.wait(timeout) -> bool    # True: the store changed since the last wait (or the start)
    watch.wake()                   # from any thread: the current (or next) wait returns False now
    watch.close()

The central store is told: every write transaction NOTIFYs `usage_tui_changes` at commit
(postgres.py), so the watch LISTENs on a connection of its own and wakes up when a commit
lands. A notification is only a hint: any role may send one (`pg_notify` needs no privilege),
so the watch then reads the store's change counter (meta `data_version`, bumped by every write
transaction) and reports a change only when it moved: a forged one costs that one read, not a
re-query of every open TUI. The SQLite file cannot tell anyone: its watch reads
`PRAGMA data_version` (store.data_version) once per `timeout`, on the waiting thread's
connection (values from different connections are not comparable).
"""

from __future__ import annotations

import json
import os
import select
import threading
import time
from typing import Protocol


class ChangeWatch(Protocol):
    def wait(self, timeout: float) -> bool: ...
    def wake(self) -> None: ...
    def close(self) -> None: ...


def watch_changes(store) -> ChangeWatch:
    """The watch that fits the store's engine; SQLite's takes its first reading now."""
    if getattr(store, "dsn", None):
        return NotifiedChanges(store)
    return PolledChanges(store)


class PolledChanges:
    """SQLite: the store's data_version, read on this thread every `timeout` seconds."""

    def __init__(self, store) -> None:
        self._store = store
        self._woken = threading.Event()
        self._seen = store.data_version()

    def wait(self, timeout: float) -> bool:
        if self._woken.wait(timeout):
            self._woken.clear()
            return False
        now = self._store.data_version()
        changed, self._seen = now != self._seen, now
        return changed

    def wake(self) -> None:
        self._woken.set()

    def close(self) -> None:
        self._woken.set()


class NotifiedChanges:
    """PostgreSQL: LISTEN on a dedicated autocommit connection; a notification for this store's
    schema (the channel is the database's: stores in other schemas notify on it too) that comes
    with a new data_version is a change.

    The wait blocks in select() on the connection's socket and a pipe of our own, so that wake()
    ends it at once (the app is closing) rather than after `timeout`; psycopg's
    `notifies(timeout=0)` then reads what arrived."""

    def __init__(self, store) -> None:
        import psycopg
        from psycopg import sql

        from .postgres import NOTIFY_CHANNEL, describe

        self._path = store.path
        try:
            self._conn = psycopg.connect(store.dsn, autocommit=True, application_name="usage-tui live refresh")
            self._schema = self._conn.execute("SELECT current_schema()").fetchone()[0]
            self._conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(NOTIFY_CHANNEL)))
            self._version = self._data_version()  # after LISTEN: a commit from now on is heard
        except psycopg.Error as exc:
            raise describe(exc, store.path) from None
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)

    def _ours(self, payload: str) -> bool:
        try:
            return json.loads(payload).get("schema") == self._schema
        except (ValueError, AttributeError):
            return False  # someone else's message on the channel

    def _data_version(self) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key = 'data_version'").fetchone()
        return row[0] if row else None

    def _received(self) -> bool:
        """Whether what the server has sent so far holds a notification for this store, and the
        store's data_version moved since the last one (the notification's own payload is not
        believed: anyone can send it)."""
        if not any([self._ours(note.payload) for note in self._conn.notifies(timeout=0)]):
            return False
        version = self._data_version()
        changed, self._version = version != self._version, version
        return changed

    def wait(self, timeout: float) -> bool:
        import psycopg

        from .postgres import describe

        deadline = time.monotonic() + timeout
        try:
            while True:
                if self._received():
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                ready, _, _ = select.select([self._conn.fileno(), self._wake_read], [], [], left)
                if self._wake_read in ready:
                    while os.read(self._wake_read, 64):
                        pass
                    return False
        except BlockingIOError:
            return False  # the pipe drained
        except psycopg.Error as exc:
            raise describe(exc, self._path) from None

    def wake(self) -> None:
        try:
            os.write(self._wake_write, b"!")
        except OSError:
            pass  # already closed

    def close(self) -> None:
        self._conn.close()
        for fd in (self._wake_read, self._wake_write):
            try:
                os.close(fd)
            except OSError:
                pass
