"""The file import's fast path: records in, counts out, with the staging inside the store.

    with store.bulk_import(on_written=count) as bulk:   # count(result, position) per batch written
        bulk.add(records, source_id, position)          # staged (this thread), written when enough
        bulk.reject(rejects)                            # written with the next batch, or alone
        bulk.end_file()                                 # a file's end: its records stay staged
        bulk.flush(position, cursors={...})             # write what is staged
        bulk.settle()                                   # wait for the batch being written
        bulk.finish()                                   # roll up the rest (the import succeeded)
        bulk.complete()                                 # the last three: an import's end

Three threads: the caller's parses and stages (the Python work: values, fingerprints, prices);
a writer thread (its own connection) runs each batch's SQL meanwhile, one batch at a time, so
a failed batch stops the import before any later one commits; a roll-up thread sums what was
appended every ROLLUP_EVERY records. Records in any order (merged exports) would make every
batch touch pages all over the rollups and time indexes: the staged rows of SORT_WINDOW_BATCHES
batches are sorted by time before they are cut into batches (1M shuffled realistic records: see
bench/RESULTS.md). The last line of an id in the window wins, as within a batch; each batch is
still one transaction. Files end without a write (`end_file`): a folder of many small files (a
Claude Code folder: ~1,900 files of ~10 requests) is written in full batches, not one small
transaction a file; a later file's record whose id an earlier file staged writes the earlier
ones first, so that the counts are those of writing the files one after another. An import
that at least doubles the store drops the records' time indexes while it appends and builds
them once at its end, or when it stops for any reason (`_defer_time_indexes`; a killed one's
are built by the next import).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from ..model import Record, Reject

if TYPE_CHECKING:
    from .base import BaseStore, BatchResult

BATCH_SIZE = 10_000  # records per transaction: 20k gained ~7% speed for +80 MB RSS at 1M
SORT_WINDOW_BATCHES = 4  # batches' worth of staged rows sorted by time before they are written
# Records appended between two roll-ups during an import. A third thread (its own connection)
# sums them while this one parses and the writer appends (SQLite releases the GIL), then adds the
# sums in one short transaction between two batches: parsing is the slowest of the three, so the
# roll-up mostly costs no time. Each roll-up passes over the rollup tables once: fewer, larger
# ones cost less at 10M records.
ROLLUP_EVERY = 500_000
# After each SQLite call the writer needs the GIL back, and waits for the parsing thread to be
# told to give it up: a switch interval of 0.1 ms instead of 5 ms cut those waits, and a
# 200k-record import from 7.9 to 6.2 s. Restored afterwards (it is process-wide).
IMPORT_SWITCH_INTERVAL_S = 0.0001
_ROW_TIME = itemgetter(1)  # a staged row's ts_us
# Rejects waiting for a batch are written on their own once there are this many: a file of
# junk has no batch to go with (300k bad lines held 462 MB until the end).
REJECTS_PER_WRITE = 1_000

Written = Callable[["BatchResult", Any], None]


class _RollUps:
    """Rolls up what an import appended, every ROLLUP_EVERY records, on its own thread (and
    connection), one roll-up at a time; its errors surface at the next one or at the end."""

    def __init__(self, store: BaseStore, roller: ThreadPoolExecutor) -> None:
        self.store, self.roller = store, roller
        self.appended = 0
        self.running: Future | None = None

    def appended_batch(self, records: int) -> None:
        self.appended += records
        if self.appended >= ROLLUP_EVERY and (self.running is None or self.running.done()):
            self.finish()
            self.appended = 0
            self.running = self.roller.submit(self.store.refresh_rollups)

    def complete(self) -> None:
        """Write what is staged and roll everything up (an import's end, or a stop that keeps
        what the files before it staged)."""
        self.flush()
        self.settle()
        self.finish()

    def finish(self) -> None:
        running, self.running = self.running, None
        if running is not None:
            running.result()

    def close(self) -> None:
        if self.running is not None:
            self.running.exception()  # wait; the error (if any) was not this one's to raise
        self.roller.submit(self.store.close).result()


class BulkImport:
    """See the module's docstring. `on_written(result, position)` is called on the caller's
    thread for each counted batch once it committed, with the position given when it was
    staged (a file offset for a progress bar, or anything)."""

    def __init__(self, store: BaseStore, *, batch_size: int = BATCH_SIZE, on_written: Written | None = None) -> None:
        self.store = store
        self.batch_size = batch_size
        self.on_written = on_written
        self._window: dict[str, tuple] = {}
        # ids staged by the files ended since the last write, and by the file being read
        self._ended_ids: set[str] = set()
        self._file_ids: list[str] = []
        self._rejects: list[Reject] = []
        self._pending: list[tuple[Future, Any, bool]] = []  # (write, position, whether it counts)
        self._appended = 0  # records written (or being written) by this import
        self._indexes_deferred = False
        self._deferring: Future | None = None  # the store deciding whether to drop its time indexes

    def __enter__(self) -> BulkImport:
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(IMPORT_SWITCH_INTERVAL_S)
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="usage-tui-import")
        self._roll = _RollUps(self.store, ThreadPoolExecutor(max_workers=1, thread_name_prefix="usage-tui-rollup"))
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            try:
                try:
                    self._roll.close()
                finally:  # stopped before finish(): not left without them (nothing to do after it)
                    self._writer.submit(self.store._restore_time_indexes).result()
            finally:
                self._writer.submit(self.store.close).result()  # the writer thread's connection
        finally:
            self._writer.shutdown()
            self._roll.roller.shutdown()
            sys.setswitchinterval(self._switch_interval)

    def add(self, records: Iterable[Record], source_id: int | None, position: Any = None) -> None:
        """Stage `records` (the later line of an id wins); a full window is written. A record
        whose id an earlier file staged writes what is staged first (the earlier file's version
        is imported, this one replaces it, as when each file was written at its end)."""
        records = records if isinstance(records, Sequence) else list(records)
        if self._ended_ids and not self._ended_ids.isdisjoint(r.id for r in records):
            self.flush(position)
        self._file_ids.extend(r.id for r in records)
        self.store._stage_rows(records, source_id, self._window)
        if len(self._window) >= self.batch_size * SORT_WINDOW_BATCHES:
            self.flush(position)

    def add_uncounted(self, records: Sequence[Record], source_id: int | None, position: Any = None) -> None:
        """Write `records` again without counting them (written earlier in this import), after
        what is staged (an earlier line of the same id may be there). When every one of them is
        still staged (an earlier file's line, not written yet: a Claude Code subagent's message
        is in its own file and in its session's), they take its place there (the later wins, as
        when written after it) and are counted once, when written."""
        records = records if isinstance(records, Sequence) else list(records)
        if all(r.id in self._window for r in records):
            self.store._stage_rows(records, source_id, self._window)
            return
        self.flush(position)
        self._submit(self.store._stage(records, source_id), [], None, position, counts=False)

    def reject(self, rejects: Iterable[Reject]) -> None:
        """Keep `rejects`: written with the next batch, or on their own when REJECTS_PER_WRITE
        are waiting."""
        self._rejects.extend(rejects)
        if len(self._rejects) >= REJECTS_PER_WRITE:
            self.settle()
            self._pending.append((self._writer.submit(self.store._write, [], self._rejects), None, False))
            self._rejects = []

    def end_file(self) -> None:
        """A file's records are all staged: they are written with the next full window or at the
        import's end (`flush`), after which a record of another file with one of their ids
        replaces theirs."""
        self._ended_ids.update(self._file_ids)
        self._file_ids = []

    def flush(self, position: Any = None, cursors: Mapping[str, str] | None = None) -> None:
        """Write what is staged, sorted by time, in batches; the rejects kept so far go with the
        first, `cursors` with the last (committed with the records they cover)."""
        rows = sorted(self._window.values(), key=_ROW_TIME)
        self._window.clear()
        self._ended_ids.clear()
        self._file_ids = []
        if not rows and not self._rejects and not cursors:
            return
        starts = range(0, max(len(rows), 1), self.batch_size)
        for start in starts:
            staged = self.store._staged_batch(rows[start:start + self.batch_size])
            self.settle()
            self._submit(staged, self._rejects, cursors if start == starts[-1] else None, position, counts=True)
            self._rejects = []
            self._roll.appended_batch(staged.rows)
            self._appended += staged.rows
            self._maybe_defer_indexes()

    def _maybe_defer_indexes(self) -> None:
        """Ask the store, on the writer thread after the batch just submitted, whether to drop
        its time indexes for the rest of this import; its answer is read at a later batch
        without waiting (waiting would stop this thread's overlap with the writer)."""
        if self._indexes_deferred:
            return
        if self._deferring is not None:
            if not self._deferring.done():
                return
            deferring, self._deferring = self._deferring, None
            self._indexes_deferred = deferring.result()
            if self._indexes_deferred:
                return
        self._deferring = self._writer.submit(self.store._defer_time_indexes, self._appended)

    def _submit(self, staged, rejects: list[Reject], cursors: Mapping[str, str] | None, position: Any,
                counts: bool) -> None:
        write = self._writer.submit(self.store._write, [staged], rejects, cursors)
        self._pending.append((write, position, counts))

    def settle(self) -> None:
        """Wait for the batch being written; its errors surface here."""
        while self._pending:
            future, position, counts = self._pending.pop()
            results = future.result()
            if counts and self.on_written is not None:
                self.on_written(results[0], position)

    def complete(self) -> None:
        """Write what is staged and roll everything up (an import's end, or a stop that keeps
        what the files before it staged)."""
        self.flush()
        self.settle()
        self.finish()

    def finish(self) -> None:
        """Roll up what is left (the import's end, or what committed before its error): sorted
        by the rollups' keys. An interrupted import leaves them to the next one."""
        self._roll.finish()
        self._writer.submit(self.store.refresh_rollups).result()
        self._writer.submit(self.store._restore_time_indexes).result()
