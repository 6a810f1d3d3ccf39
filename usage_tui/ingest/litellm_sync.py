"""`sync litellm`: LiteLLM's "LiteLLM_SpendLogs" table → the store, incrementally.

Position: the last row read in ("startTime", request_id) order, kept in the store's cursors
table (under the DSN without its password) and committed with the records of the page that
moved it, so a sync killed at any point goes on where its last commit left it.

Why an overlap window: LiteLLM does not write a row when its request starts. The proxy queues
spend logs and writes them in batches (every 10–60 s), and a row's startTime is when the
request began, so a row can be committed after rows with later startTimes were read: behind the
position. Each pass first looks again at the window behind the position (`overlap`, 10 minutes
by default), reading only request_id and startTime (from the table's composite index), and
fetches the rows it has not seen. A row committed more than `overlap` after its startTime is
missed; a longer --overlap covers slower writers.

Rows are mapped by the LiteLLM importer's own functions (ingest/litellm.py): keys, users, teams,
failures and cache tokens exactly as `import` maps an export of the same table. Records are
keyed by request_id: read twice (the window, a rerun), a row is written as unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ..model import Record, Reject
from ..store import Batch, UsageStore
from ..store.litellm_spendlogs import SpendLogs
from . import not_text
from .litellm import _record as spend_log_record
from .native import BadRecord, dumped

CURSOR_PREFIX = "sync:litellm:"
PAGE_ROWS = 5_000  # rows per read and per transaction: ~2 MB of rows, one commit a page
SOURCE_FORMAT = "litellm-db"


@dataclass(frozen=True)
class Position:
    start: datetime  # naive UTC, as LiteLLM's TIMESTAMP(3) holds it
    request_id: str
    since: datetime | None = None  # the first run's --since: the overlap never looks before it

    def dumps(self) -> str:
        value = {"startTime": self.start.isoformat(), "request_id": self.request_id}
        if self.since is not None:
            value["since"] = self.since.isoformat()
        return json.dumps(value)

    @classmethod
    def loads(cls, text: str) -> Position | None:
        try:
            value = json.loads(text)
            since = datetime.fromisoformat(value["since"]) if value.get("since") else None
            return cls(datetime.fromisoformat(value["startTime"]), str(value["request_id"]), since)
        except (ValueError, KeyError, TypeError, AttributeError):
            return None  # not a position of ours (hand-edited): read from --since again, ids dedupe


@dataclass
class SyncTotals:
    rows: int = 0
    imported: int = 0
    replaced: int = 0
    unchanged: int = 0
    rejected: int = 0

    def add(self, other: SyncTotals) -> None:
        for name in ("rows", "imported", "replaced", "unchanged", "rejected"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def line(self) -> str:
        return (f"read {self.rows} rows: imported {self.imported}, replaced {self.replaced}, "
                f"unchanged {self.unchanged}, rejected {self.rejected}")


def to_record(row: dict[str, Any]) -> Record:
    """One row as the LiteLLM importer reads it (its timestamp as ISO text, naive: UTC)."""
    start = row.get("startTime")
    if isinstance(start, datetime):
        row = {**row, "startTime": start.isoformat()}
    return spend_log_record(row)


class SpendLogSync:
    """One LiteLLM database into one store. `run_once` reads what is new and commits it."""

    def __init__(self, store: UsageStore, logs: SpendLogs, *, overlap: timedelta, since: datetime | None = None,
                 page_rows: int = PAGE_ROWS) -> None:
        self.store, self.logs = store, logs
        self.overlap, self.since, self.page_rows = overlap, since, page_rows
        self.name = CURSOR_PREFIX + logs.source.shown
        saved = store.cursor(self.name)
        self.position = Position.loads(saved) if saved else None
        # request ids read in the overlap window by this process (id → startTime): what the
        # next look at the window need not fetch again
        self.seen: dict[str, datetime] = {}
        self._source_id: int | None = None
        self.total = SyncTotals()  # of every page committed by this syncer (a pass cut short included)

    def run_once(self, on_page: Callable[[SyncTotals], None] | None = None) -> SyncTotals:
        totals = SyncTotals()
        if self.position is not None:
            totals.add(self._window())
        pos = self.position
        # The next page is read while this one is mapped and written: the database's work and
        # ours overlap (the page's last row is the next page's start, known once it is read).
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="usage-tui-sync-read") as reader:
            rows = self._page_after(pos)
            while rows:
                last = rows[-1]
                moved = Position(last["startTime"], last["request_id"], pos.since if pos else self.since)
                following = reader.submit(self._page_after, moved) if len(rows) == self.page_rows else None
                try:
                    totals.add(self._write(rows, moved))
                finally:
                    rows = following.result() if following is not None else []
                pos = moved
                if on_page is not None:
                    on_page(totals)
        self._forget_old()
        self.store.refresh_rollups()
        return totals

    def _page_after(self, pos: Position | None) -> list[dict[str, Any]]:
        if pos is None:
            return self.logs.page_after(self.since, None, self.page_rows)
        return self.logs.page_after(pos.start, pos.request_id, self.page_rows)

    def _window(self) -> SyncTotals:
        """Rows behind the position, committed since it was read (see the module's docstring)."""
        pos = self.position
        assert pos is not None
        low = pos.start - self.overlap
        if pos.since is not None:
            low = max(low, pos.since)
        behind = self.logs.ids_between(low, pos.start, pos.request_id)
        fresh = [r["request_id"] for r in behind if r["request_id"] not in self.seen]
        totals = SyncTotals()
        for start in range(0, len(fresh), self.page_rows):
            rows = self.logs.rows_by_id(fresh[start:start + self.page_rows])
            totals.add(self._write(rows, None))
        return totals

    def _write(self, rows: list[dict[str, Any]], moved_to: Position | None) -> SyncTotals:
        records: list[Record] = []
        rejects: list[Reject] = []
        for row in rows:
            self.seen[row["request_id"]] = row["startTime"]
            try:
                record = to_record(row)
            except BadRecord as exc:
                rejects.append(Reject(self.logs.source.shown, 0, f'request_id "{row["request_id"]}": {exc}',
                                      dumped({k: str(v) if isinstance(v, datetime) else v for k, v in row.items()})))
                continue
            problem = not_text(record)
            if problem is not None:
                rejects.append(Reject(self.logs.source.shown, 0, f'request_id "{row["request_id"]}": {problem}',
                                      dumped({k: str(v) for k, v in row.items()})))
                continue
            records.append(record)
        if self._source_id is None:
            self._source_id = self.store.source_id(SOURCE_FORMAT, self.logs.source.shown)
        cursors = {self.name: moved_to.dumps()} if moved_to is not None else None
        (result,) = self.store.write_batches([Batch(records, rejects, self._source_id)], cursors=cursors)
        if moved_to is not None:
            self.position = moved_to
        page = SyncTotals(len(rows), result.imported, result.replaced, result.unchanged, len(rejects))
        self.total.add(page)
        return page

    def _forget_old(self) -> None:
        if self.position is None:
            return
        horizon = self.position.start - self.overlap
        self.seen = {rid: ts for rid, ts in self.seen.items() if ts >= horizon}
