"""The writer behind POST /v1/usage (issue 24): group commit, one writer per store.

Many pushes, one transaction: each request hands its parsed records to a bounded queue and
waits; one writer thread takes everything queued (up to GROUP_RECORDS records) and writes it
with `store.write_batches` in ONE transaction, then answers each request with what happened to
its own batch. A gateway pushing 512-record batches from many connections costs one commit per
group, not per request. The answer comes only after the commit: a 200 means it is stored.

When the queue holds more than `queue_records` records (the writer is behind), a request is
refused at once (WriterBusy: 503 + Retry-After) and nothing of it is queued, so what a
gateway was told to retry is never also stored.

One writer per store:
- SQLite allows one writer at a time anyway; several writers would take turns on its lock
  (each waiting up to the busy timeout) and commit smaller groups. So with `serve --workers N`
  the writer runs in the parent process (the one that binds the port and supervises the
  workers): workers parse bodies in parallel and send their records to it over a Unix socket
  in a folder only this user may enter, with a random key (multiprocessing.connection's
  authentication), named in the workers' config. With one worker, the writer is a thread of
  that process. Chosen over a lock file taken by one worker: the parent outlives workers that
  uvicorn restarts, so the writer never moves while pushes are in flight.
- PostgreSQL: each serve process (or worker) has its own group writer; `write_batches` takes the
  store's write lock inside its transaction, so writers on many hosts take turns there.

Roll-ups (SQLite): write_batches appends above the rollups' mark; every read stays exact, but
reads that span the pending records (a budget check reads its user's) read them one by one. A
roll-up thread beside the writer calls refresh_rollups once ROLLUP_RECORDS are pending, or
ROLLUP_SECONDS after the first pending one: off the request path (only its short final step
takes turns with the writer), and not after every group (a step has a fixed cost).
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Client, Connection, Listener
from pathlib import Path
from typing import Any

from .model import Record, Reject
from .store import is_dsn, open_store
from .store.base import Batch, BatchResult

log = logging.getLogger("usage_tui.server")

QUEUE_RECORDS = 100_000  # `serve --push-queue`: records waiting for the writer, at most
GROUP_RECORDS = 20_000  # records in one transaction, at most (a few hundred ms of writing)
ROLLUP_RECORDS = 20_000
ROLLUP_SECONDS = 5.0
RETRY_AFTER_S = 1  # what a 503 tells the gateway; a group commits in well under a second
SOURCE_PATH = "POST /v1/usage"


class WriterBusy(Exception):
    """The queue is full: nothing of this body was queued (503 + Retry-After)."""


class WriterFailed(Exception):
    """The write failed: nothing of this body was stored (503)."""


Done = Callable[[BatchResult | Exception], None]


@dataclass
class _Submission:
    fmt: str
    records: list[Record]
    rejects: list[Reject]
    done: Done


class GroupWriter:
    """The group-commit writer of one store (see the module's docstring)."""

    def __init__(self, db: str | Path, *, queue_records: int = QUEUE_RECORDS) -> None:
        self.db = db
        self.queue_records = queue_records
        self._sqlite = not is_dsn(db)
        self._queue: deque[_Submission] = deque()
        self._queued = 0
        self._cond = threading.Condition()
        self._store: Any = None
        self._stamp: tuple[int, int] | None = None
        self._sources: dict[str, int] = {}
        self._pending = 0  # records appended since the last roll-up (SQLite)
        self._pending_since = 0.0
        self._rollup = threading.Condition()
        threading.Thread(target=self._run, name="push-writer", daemon=True).start()
        if self._sqlite:
            threading.Thread(target=self._roll_up, name="push-rollups", daemon=True).start()

    # -- the request side ------------------------------------------------------------------------
    def submit(self, fmt: str, records: list[Record], rejects: list[Reject], done: Done) -> None:
        """Queue a body's batch; `done` is called from the writer thread with its BatchResult
        (or the exception) once its transaction committed (or failed). WriterBusy: refused,
        nothing queued. A body larger than the whole queue is taken when the queue is empty."""
        with self._cond:
            if self._queue and self._queued + len(records) > self.queue_records:
                raise WriterBusy
            self._queue.append(_Submission(fmt, records, rejects, done))
            self._queued += len(records)
            self._cond.notify()

    def write(self, fmt: str, records: list[Record], rejects: list[Reject]) -> BatchResult:
        """submit, and wait for the commit (for threads that may block)."""
        finished = threading.Event()
        outcome: list[BatchResult | Exception] = []

        def done(result: BatchResult | Exception) -> None:
            outcome.append(result)
            finished.set()

        self.submit(fmt, records, rejects, done)
        finished.wait()
        if isinstance(outcome[0], Exception):
            raise outcome[0]
        return outcome[0]

    # -- the writer thread -----------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue:
                    self._cond.wait()
                group: list[_Submission] = []
                size = 0
                while self._queue and (not group or size + len(self._queue[0].records) <= GROUP_RECORDS):
                    item = self._queue.popleft()
                    group.append(item)
                    size += len(item.records)
                self._queued -= size
            self._write_group(group)

    def _write_group(self, group: list[_Submission]) -> None:
        try:
            results: list[BatchResult | Exception] = list(self._commit(group))
        except Exception as exc:
            if len(group) == 1:
                results = [exc]
            else:  # one body's records must not fail the others': each alone, then
                results = []
                for item in group:
                    try:
                        results.extend(self._commit([item]))
                    except Exception as alone:
                        results.append(alone)
        for item, result in zip(group, results, strict=True):
            if isinstance(result, Exception):
                log.error("push: a batch of %d records was not stored: %s", len(item.records), result)
                result = WriterFailed(f"nothing of this body was stored: {result}")
            try:
                item.done(result)
            except Exception:  # a caller gone (its connection closed) must not stop the writer
                log.exception("push: answering a request failed")

    def _commit(self, group: list[_Submission]) -> list[BatchResult]:
        store = self._current_store()
        batches = [Batch(item.records, item.rejects, self._source_id(store, item.fmt)) for item in group]
        results = store.write_batches(batches)
        if self._sqlite:
            with self._rollup:
                if not self._pending:
                    self._pending_since = time.monotonic()
                self._pending += sum(len(item.records) for item in group)
                if self._pending >= ROLLUP_RECORDS:
                    self._rollup.notify()
        return results

    def _current_store(self) -> Any:
        """The writable store the path names now: a store file replaced under serve (a rename)
        is followed, as the read side follows it (server_store.py)."""
        if self._sqlite:
            try:
                st = os.stat(self.db)
                stamp = (st.st_dev, st.st_ino)
            except OSError:
                stamp = None
            if self._store is not None and stamp != self._stamp:
                self._store.close()
                self._store = None
            self._stamp = stamp
        if self._store is None:
            self._store = open_store(self.db, create=False)
            self._sources = {}
        return self._store

    def _source_id(self, store: Any, fmt: str) -> int:
        if fmt not in self._sources:
            self._sources[fmt] = store.source_id(fmt, SOURCE_PATH)
        return self._sources[fmt]

    # -- the roll-up thread (SQLite) -------------------------------------------------------------
    def _roll_up(self) -> None:
        while True:
            with self._rollup:
                while not (self._pending >= ROLLUP_RECORDS or
                           (self._pending and time.monotonic() - self._pending_since >= ROLLUP_SECONDS)):
                    self._rollup.wait(ROLLUP_SECONDS / 5)
                self._pending = 0
            try:
                store = self._store  # this thread's own connection to it (one per thread)
                if store is not None:
                    store.refresh_rollups()
            except Exception as exc:  # the next round tries again; reads stay exact meanwhile
                log.error("push: rolling up the pushed records failed: %s", exc)


# -- one writer for many worker processes (SQLite with --workers N) ---------------------------------

class WriterService:
    """The parent's side: a GroupWriter, and a Unix socket on which workers hand it batches."""

    def __init__(self, db: str | Path, *, queue_records: int = QUEUE_RECORDS) -> None:
        self.writer = GroupWriter(db, queue_records=queue_records)
        self._folder = tempfile.mkdtemp(prefix="usage-tui-push-")  # mode 0700: only this user
        self.address = os.path.join(self._folder, "writer.sock")
        self.key = secrets.token_bytes(32)
        self._listener = Listener(self.address, family="AF_UNIX", authkey=self.key)
        threading.Thread(target=self._accept, name="push-accept", daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn = self._listener.accept()
            except OSError:
                return  # closed
            except Exception:  # a client that failed authentication: next
                continue
            threading.Thread(target=self._serve, args=(conn,), name="push-conn", daemon=True).start()

    def _serve(self, conn: Connection) -> None:
        with conn:
            while True:
                try:
                    fmt, records, rejects = conn.recv()
                except (EOFError, OSError):
                    return
                try:
                    result = self.writer.write(fmt, records, rejects)
                    reply: tuple = ("ok", result.imported, result.replaced, result.unchanged)
                except WriterBusy:
                    reply = ("busy",)
                except Exception as exc:
                    reply = ("error", str(exc))
                try:
                    conn.send(reply)
                except OSError:
                    return

    def close(self) -> None:
        self._listener.close()
        shutil.rmtree(self._folder, ignore_errors=True)


class RemoteWriter:
    """A worker's side: a pool of connections to the parent's WriterService, one per request
    in flight (a request holds one from sending its batch to the commit's answer)."""

    def __init__(self, address: str, key: bytes) -> None:
        self.address = address
        self.key = key
        self._idle: list[Connection] = []
        self._lock = threading.Lock()

    def write(self, fmt: str, records: list[Record], rejects: list[Reject]) -> BatchResult:
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        try:
            if conn is None:
                conn = Client(self.address, family="AF_UNIX", authkey=self.key)
            conn.send((fmt, records, rejects))
            reply = conn.recv()
        except (OSError, EOFError) as exc:
            if conn is not None:
                conn.close()
            raise WriterFailed(f"nothing of this body was stored: the writer is unreachable ({exc})") from None
        with self._lock:
            self._idle.append(conn)
        if reply[0] == "busy":
            raise WriterBusy
        if reply[0] == "error":
            raise WriterFailed(reply[1])
        return BatchResult(*reply[1:])
