"""What both engines do alike: staging records in Python (values, fingerprints, prices), the
write path's counting, the directory and its prices, totals and the 64-bit check, meta, sources,
rejects and budget overrides. Its SQL is the shared kind (`?` placeholders, quoted reserved
names; the engine's dialect spells it), run on the engine's connections and transactions.

An engine (sqlite.py, postgres.py) adds its connections (`conn`, `transaction`, `snapshot`),
its schema handling, and the write path's engine-specific steps: filling the stage, taking
replaced records out of the rollups, adding the stage to the records (and rollups).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

from ..directory import Directory, fold_model, parse_directory
from ..model import MAX_RECORD_COST_NANO, NANO, Record, Reject
from ..pricing import Pricer
from .bulk import BATCH_SIZE, BulkImport, Written
from .dialect import Dialect
from .schema import (
    DAY_SUFFIX,
    DELETE_ALL,
    FINGERPRINT_AT,
    MAX_TOTAL,
    SUM_COLUMNS,
    TOTAL_DIM,
    USAGE_TABLES,
    attribution_sql,
    id_hash,
)


class StoreError(Exception):
    """A store that cannot be used: missing, corrupt, or written by a newer version."""


class StorePermissionError(StoreError):
    """The database refused the connected role something (exit 3, like a refused scope)."""


def wait_words(ms: int) -> str:
    """A busy timeout as a person reads it: "10 s", "1.5 s", "100 ms"."""
    return f"{ms / 1000:g} s" if ms >= 1000 else f"{ms} ms"


@dataclass
class BatchResult:
    imported: int = 0
    replaced: int = 0
    unchanged: int = 0


@dataclass
class Batch:
    """One caller's unit of writing (write_batches)."""
    records: Sequence[Record]
    rejects: Sequence[Reject] = ()
    source_id: int | None = None


@dataclass
class StagedBatch:
    """A batch ready for SQL: its rows (one per id) in the engine's chunks (parameters of
    multi-row INSERTs, or rows for COPY), and how many rows."""
    chunks: list[tuple]
    rows: int


def fingerprint(values: tuple) -> int:
    """A stable 63-bit hash of everything a source said about a record (its staged values).
    `repr` of str/int/float/None is stable across runs, unlike `hash()`."""
    return int.from_bytes(hashlib.blake2b(repr(values).encode(), digest_size=8).digest(), "big") >> 1


def record_values(r: Record) -> tuple:
    """What a record says, in the staged columns' order (without the cost, the source, the
    fingerprint and the source line): what its fingerprint is computed from."""
    logged = None if r.cost_usd is None else round(r.cost_usd * NANO)
    return (
        r.id, r.ts_us, r.provider, r.model, r.user, r.key, r.agent, r.team,
        r.prompt_tokens, r.completion_tokens, r.cached_input_tokens, r.context_tokens,
        r.cache_write_tokens, r.requests, logged, r.status, r.verdict,
        json.dumps(r.metadata, sort_keys=True) if r.metadata else None,
        r.cache_write_1h_tokens, r.service_tier, int(r.batch),
    )


def record_fingerprint(r: Record) -> int:
    """The fingerprint a record is stored with: equal means re-importing it changes nothing."""
    return fingerprint(record_values(r))


def priced(pricer: Pricer, record: Record, undone: str = "nothing of this batch was written") -> int | None:
    """The record's cost from its price, refused (StoreError: the batch or the directory load
    is rolled back, with one line) past the per-record bound: a price that makes one request
    cost more than $1,000,000 is a typo, and its nano-dollars might not even fit SQLite."""
    cost = pricer.cost_nano(record)
    if cost is not None and cost > MAX_RECORD_COST_NANO:
        raise StoreError(f'record "{record.id}" would cost ${cost / NANO:,.2f} at the price of '
                         f"{record.provider}/{record.model}, over the per-record bound of "
                         f"${MAX_RECORD_COST_NANO // NANO:,}: check that price; {undone}")
    return cost


# A cursor's name is a key (PostgreSQL's B-tree entries must fit a page); its value, the writer's
# JSON, is bounded like any input.
MAX_CURSOR_NAME_BYTES = 1_000
MAX_CURSOR_VALUE_BYTES = 1 << 20


def _checked_cursors(cursors: Mapping[str, str] | None) -> list[tuple[str, str]]:
    """The cursors to save, refused (StoreError, nothing written) when a name or value is not
    text both engines store alike: empty, too long, or with a NUL character."""
    rows = list((cursors or {}).items())
    for name, value in rows:
        if not isinstance(name, str) or not isinstance(value, str):
            raise StoreError(f"cursor {name!r}: its name and value must be text")
        for what, text, bound in (("name", name, MAX_CURSOR_NAME_BYTES), ("value", value, MAX_CURSOR_VALUE_BYTES)):
            try:
                size = len(text.encode("utf-8"))  # (a lone surrogate is not UTF-8: refused)
            except UnicodeEncodeError:
                size = bound + 1
            if not text or "\x00" in text or size > bound:
                raise StoreError(f"cursor {name[:80]!r}: its {what} must be 1 to {bound:,} bytes of UTF-8 text "
                                 "without NUL characters; nothing was written")
    return rows


def full_message(what: str, column: str = "") -> str:
    shown = {"cost_nano": "cost"}.get(column, column.replace("_", " "))
    return (f"{what} would take the store's total {shown or 'sums'} past what it can add up exactly "
            f"({MAX_TOTAL:,} {'nano-dollars' if column == 'cost_nano' else 'units'}); nothing of it was "
            "written. Such totals are not real usage: check the input, or start a new store.")


# Shared SQL (`?` placeholders; the dialect spells them), constant text only.
_ORG_DAY_TOTALS = f"SELECT {', '.join(SUM_COLUMNS)} FROM roll_org{DAY_SUFFIX} WHERE dim = ?"
_REATTRIBUTE = 'UPDATE records SET "user" = {}, team = {}'.format(*attribution_sql("records"))
_REPRICE_ROWS = ("SELECT id, ts_us, provider, model, prompt_tokens, completion_tokens, cached_input_tokens, "
                 "cache_write_tokens, cache_write_1h_tokens, service_tier, batch FROM records "
                 "WHERE cost_logged_nano IS NULL")
_REJECTS = ("SELECT id, source, line, reason, raw FROM rejects WHERE (CAST(? AS TEXT) IS NULL OR source = ?) "
            "ORDER BY id DESC")


class BaseStore:
    """The engine-independent half of a usage store (see the module's docstring)."""

    dialect: Dialect
    path: Any
    conn: Any  # this thread's connection (the engine's property)
    _MATCH_STAGE: str  # (id, whether its fingerprint is the stored one) of each staged id already stored
    _DROP_UNCHANGED: str  # the staged rows identical to the stored ones leave the stage

    def __init__(self, *, readonly: bool, on_upgrade: Callable[[str], None] | None, busy_timeout_ms: int) -> None:
        self.readonly = readonly
        self.busy_timeout_ms = int(busy_timeout_ms)
        self._on_upgrade = on_upgrade
        self._local = threading.local()
        self._pricer: Pricer | None = None
        self._directory: tuple[str, Directory] | None = None

    # -- what each engine provides ---------------------------------------------------------------
    def transaction(self) -> AbstractContextManager[Any]:
        raise NotImplementedError

    def _chunks(self, rows: Sequence[tuple]) -> list[tuple]:
        raise NotImplementedError

    def _fill_stage(self, conn: Any, batch: StagedBatch) -> None:
        raise NotImplementedError

    def _retract_replaced(self, conn: Any, what: str) -> None:
        """Take the stored versions of the staged records out of the rollups (or pending sums)."""
        raise NotImplementedError

    def _add_stage(self, conn: Any, what: str) -> None:
        """Attribute the staged records and add them to the records (and rollups)."""
        raise NotImplementedError

    def _rebuild_rollups(self, conn: Any) -> None:
        raise NotImplementedError

    def _overflow_refused(self, what: str) -> AbstractContextManager[None]:
        raise NotImplementedError

    def _write_users(self, conn: Any, directory: Directory) -> None:
        raise NotImplementedError

    def _set_costs(self, conn: Any, costs: list[tuple[str, int | None]]) -> None:
        raise NotImplementedError

    def _pending_sums(self, conn: Any) -> list[int]:
        """The sums of the records the rollups do not hold yet (none, unless the engine defers)."""
        return [0] * len(SUM_COLUMNS)

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """The engine's errors as StoreErrors where it has its own (PostgreSQL)."""
        yield

    def refresh_rollups(self) -> int:
        return 0

    def _defer_time_indexes(self, appended: int) -> bool:
        """Drop the records' time indexes while a large import appends (`appended` records so
        far); True when they are (or already were) dropped. An engine that keeps them: False."""
        return False

    def _restore_time_indexes(self) -> None:
        """Build whatever time index is missing (after an import, or a killed one)."""

    # -- shared SQL --------------------------------------------------------------------------------
    def _run(self, conn: Any, sql: str, params: Sequence = ()) -> Any:
        return conn.execute(self.dialect.sql(sql), params)

    def _many(self, conn: Any, sql: str, rows: Sequence[Sequence]) -> None:
        if rows:
            conn.cursor().executemany(self.dialect.sql(sql), rows)

    def execute(self, sql: str, params: Sequence = ()) -> Any:
        """A statement of the SQL both engines share (query.py), on this thread's connection."""
        with self._errors():
            return self._run(self.conn, sql, params)

    def _one(self, sql: str, params: Sequence = ()) -> Any:
        with self._errors():
            return self._run(self.conn, sql, params).fetchone()

    # -- meta, the directory and its prices ------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self._one("SELECT value FROM meta WHERE key = ?", (key,))
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as conn:
            self._set_meta(conn, key, value)

    def _set_meta(self, conn: Any, key: str, value: str) -> None:
        self._run(conn, "INSERT INTO meta (key, value) VALUES (?, ?) "
                        "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, value))

    def directory(self) -> Directory:
        """The loaded directory (an empty one with UTC when none was loaded)."""
        return self._parsed_directory(self.get_meta("directory") or "{}")

    def _parsed_directory(self, raw: str) -> Directory:
        if self._directory is None or self._directory[0] != raw:
            self._directory = (raw, parse_directory(json.loads(raw)))
        return self._directory[1]

    def pricer(self, directory: Directory | None = None) -> Pricer:
        """The prices of `directory` (by default the loaded one, read again)."""
        directory = directory or self.directory()
        if self._pricer is None or self._pricer.overrides != {(p.provider, p.model): p for p in directory.prices}:
            self._pricer = Pricer(directory.prices)
        return self._pricer

    def _may_load(self, directory: Directory) -> None:
        """Refuse a load this connection may not make (PostgreSQL's row-level security)."""

    def _loaded(self, conn: Any, directory: Directory) -> None:
        """What an engine does at the end of a load's transaction (PostgreSQL: grants)."""

    def load_directory(self, doc: dict[str, Any], progress=None) -> int:
        """Replace the directory with `doc` (already validated), re-price and re-attribute every
        record and rebuild the rollups, all in one transaction. Returns the number of records."""
        directory = parse_directory(doc)
        self._may_load(directory)
        pricer = Pricer(directory.prices)
        with self.transaction() as conn:
            # the prices being replaced, read under the write lock: a load that committed while
            # this one waited for it is what these prices replace
            old_prices = self.directory().prices
            self._set_meta(conn, "directory", json.dumps(doc, sort_keys=True, default=str))
            self._write_directory(conn, directory, doc)
            if old_prices != directory.prices:
                self._reprice(conn, pricer)
            self._run(conn, _REATTRIBUTE)
            with self._overflow_refused("re-pricing with these prices"):
                self._rebuild_rollups(conn)
            self._check_totals(conn, "re-pricing with these prices")
            (count,) = self._run(conn, "SELECT count(*) FROM records").fetchone()
            self._loaded(conn, directory)
        self._directory = None
        self._pricer = None
        return count

    def _write_directory(self, conn: Any, directory: Directory, doc: dict[str, Any]) -> None:
        self._write_users(conn, directory)
        self._many(conn, "INSERT INTO dir_keys VALUES (?, ?, ?)", [(k.id, k.owner, k.team) for k in directory.keys.values()])
        self._many(conn, "INSERT INTO dir_agents VALUES (?, ?)", [(a.id, a.manager) for a in directory.agents.values()])
        # A budget the directory names replaces one set with `budget set`.
        self._many(conn, 'DELETE FROM budget_overrides WHERE "user" = ?', [(u,) for u in directory.budgets])

    def _reprice(self, conn: Any, pricer: Pricer) -> None:
        """Recompute the cost of every record without a logged cost (prices changed)."""
        costs = []
        for rid, ts_us, provider, model, p, c, cached, cw, cw_1h, tier, batch in self._run(conn, _REPRICE_ROWS).fetchall():
            rec = Record(rid, ts_us, provider, model, prompt_tokens=p, completion_tokens=c,
                         cached_input_tokens=cached, cache_write_tokens=cw, cache_write_1h_tokens=cw_1h,
                         service_tier=tier, batch=bool(batch))
            costs.append((rid, priced(pricer, rec, "the directory was not loaded")))
        self._set_costs(conn, costs)

    # -- totals ------------------------------------------------------------------------------------
    def totals(self, conn: Any = None) -> dict[str, int | float]:
        """The org's grand totals per summed column, added up in Python (which cannot overflow)
        from the day rollup's totals rows (one row per UTC day with usage) and the sums kept of
        the records not rolled up yet."""
        conn = conn or self.conn
        sums: dict[str, int | float] = dict(zip(SUM_COLUMNS, self._pending_sums(conn), strict=True))
        with self._errors():
            for row in self._run(conn, _ORG_DAY_TOTALS, (TOTAL_DIM,)):
                for name, value in zip(SUM_COLUMNS, row, strict=True):
                    sums[name] += value
        return sums

    def _check_totals(self, conn: Any, what: str) -> None:
        """Refuse (raise, so the transaction rolls back) a write after which a grand total no
        longer fits in a 64-bit integer, or became a REAL (SQLite's `+` does that on overflow)."""
        for name, total in self.totals(conn).items():
            if not isinstance(total, int) or total > MAX_TOTAL:
                raise StoreError(full_message(what, name))

    # -- staging (Python) and writing ---------------------------------------------------------------
    def _stage_rows(self, records: Iterable[Record], source_id: int | None, staged: dict[str, tuple]) -> None:
        """Add `records` to `staged` (id → the stage's row): values, fingerprint, price. The
        counts are of records, not lines: the same id again (a streamed message written once
        per content block) is the same record, the later one wins."""
        directory = self.directory()  # read once: the folding and the prices both need it
        pricer = self.pricer(directory)
        for r in records:
            if directory.model_ids:  # [[models]]: an alias is stored as its model, priced as it
                r = fold_model(directory, r)
            values = record_values(r)
            logged = values[14]
            fp = fingerprint(values)
            previous = staged.get(r.id)
            if previous is not None and previous[FINGERPRINT_AT] == fp:
                continue
            cost = logged if logged is not None else priced(pricer, r)
            # The source line is where the record was read, not what it says: like the
            # source, it is not in the fingerprint (the same record moved is unchanged).
            staged[r.id] = (*values[:15], cost, *values[15:18], source_id, fp, *values[18:], r.source_line, id_hash(r.id))

    def _staged_batch(self, rows: Sequence[tuple]) -> StagedBatch:
        """Staged rows (one per id) as one batch, in the engine's chunks."""
        return StagedBatch(self._chunks(rows), len(rows))

    def _stage(self, records: Sequence[Record], source_id: int | None) -> StagedBatch:
        """The Python half of a write (values, fingerprints, prices, duplicates within the
        batch), writing nothing: an import runs it on its parsing thread so that the writer
        thread, which holds the GIL only between SQL calls, overlaps with it."""
        staged: dict[str, tuple] = {}
        self._stage_rows(records, source_id, staged)
        return self._staged_batch(list(staged.values()))

    def write_batches(self, batches: Sequence[Batch], *, cursors: Mapping[str, str] | None = None) -> list[BatchResult]:
        """Every batch in ONE transaction, committed when this returns (nothing of it when it
        raises): each batch's records by id (new: imported; same id, other content: replaced;
        same fingerprint: unchanged), as if the batches were written one after another (the
        same id in two of them: the later wins, each batch counting what happened to its own),
        their rejects, and `cursors` (name → value), so that a position and the records it
        covers commit together. The group commit of many writers' batches (serve's pushes).
        On SQLite the records are appended above the rollups' mark, not rolled up
        (`refresh_rollups`, by the writer's own policy); every read stays exact meanwhile."""
        staged = [self._stage(b.records, b.source_id) for b in batches]
        return self._write(staged, [j for b in batches for j in b.rejects], cursors)

    def write_batch(self, records: Sequence[Record], source_id: int | None, rejects: Iterable[Reject] = (), *,
                    cursors: Mapping[str, str] | None = None) -> BatchResult:
        """write_batches of one batch, then a roll-up of what is pending: a one-off write leaves
        the rollups holding every record (the CLI's demo, tests)."""
        (result,) = self.write_batches([Batch(records, tuple(rejects), source_id)], cursors=cursors)
        self.refresh_rollups()
        return result

    def bulk_import(self, *, batch_size: int = BATCH_SIZE, on_written: Written | None = None) -> BulkImport:
        """The file import's fast path (store/bulk.py), used as a context manager."""
        return BulkImport(self, batch_size=batch_size, on_written=on_written)

    def _write(self, staged: Sequence[StagedBatch], rejects: Iterable[Reject],
               cursors: Mapping[str, str] | None = None) -> list[BatchResult]:
        saved = _checked_cursors(cursors)
        what = "this batch" if len(staged) == 1 else "these batches"
        with self.transaction() as conn:
            results = [self._append(conn, batch, what) for batch in staged]
            self._check_totals(conn, what)
            self._write_rejects(conn, rejects)
            self._many(conn, "INSERT INTO cursors (name, value) VALUES (?, ?) "
                             "ON CONFLICT (name) DO UPDATE SET value = excluded.value", saved)
        return results

    def cursor(self, name: str) -> str | None:
        """A writer's saved position (None: never saved)."""
        row = self._one("SELECT value FROM cursors WHERE name = ?", (name,))
        return row[0] if row else None

    def cursors(self, prefix: str) -> dict[str, str]:
        """Every saved position whose name starts with `prefix` (e.g. one follower's)."""
        with self._errors():
            return dict(self._run(self.conn, "SELECT name, value FROM cursors WHERE substr(name, 1, ?) = ? "
                                             "ORDER BY name", (len(prefix), prefix)))

    def _append(self, conn: Any, batch: StagedBatch, what: str) -> BatchResult:
        """One staged batch into the records, inside the caller's transaction: new ids are
        imported, known ids with another fingerprint replaced, the same ones left alone."""
        result = BatchResult(imported=batch.rows)
        self._fill_stage(conn, batch)  # keyed by id: matched against the records and pruned by id
        existing = conn.execute(self._MATCH_STAGE).fetchall()
        if existing:
            same = sum(1 for _, eq in existing if eq)
            result.unchanged += same
            result.replaced += len(existing) - same
            result.imported -= len(existing)
            if same:
                conn.execute(self._DROP_UNCHANGED)
            if same < len(existing):
                self._retract_replaced(conn, what)
        self._add_stage(conn, what)
        return result

    def _write_rejects(self, conn: Any, rejects: Iterable[Reject]) -> None:
        self._many(conn, "INSERT INTO rejects (source, line, reason, raw) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                   [(j.source, j.line, j.reason, j.raw) for j in rejects])

    # -- sources, rejects, records, budget overrides ---------------------------------------------
    def source_id(self, fmt: str, path: str) -> int:
        with self.transaction() as conn:  # in turn with this store's other writing threads
            self._run(conn, "INSERT INTO sources (format, path) VALUES (?, ?) ON CONFLICT DO NOTHING", (fmt, path))
            return self._run(conn, "SELECT id FROM sources WHERE format = ? AND path = ?", (fmt, path)).fetchone()[0]

    def rejects(self, source: str | None = None, limit: int | None = None) -> list[dict]:
        """Rejected lines, newest first."""
        with self._errors():
            cur = self._run(self.conn, _REJECTS + (" LIMIT ?" if limit is not None else ""),
                            (source or None, source or None, *([limit] if limit is not None else [])))
            names = [c[0] for c in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur]

    def clear_rejects(self, source: str | None, *, by: Any) -> int:
        """Forget the rejected lines (of one source, or all); returns how many. `by` is who asks
        (an identity.Identity): the lines may hold anyone's usage, so only who may administer
        the store (org admins, its owner) may drop them; anyone else gets StorePermissionError
        whatever front end asked."""
        if not getattr(by, "may_administer", False):
            raise StorePermissionError(f"{getattr(by, 'viewer', 'this user')} may not clear the rejected lines "
                                       "(org admins or the store's owner only)")
        with self.transaction() as conn:
            return self._run(conn, "DELETE FROM rejects WHERE (CAST(? AS TEXT) IS NULL OR source = ?)",
                             (source, source)).rowcount

    def record_count(self) -> int:
        return self._one("SELECT count(*) FROM records")[0]

    def _cleared(self, conn: Any) -> None:
        """What an engine resets with the records (SQLite: the rollups' mark)."""

    def clear_records(self) -> None:
        with self.transaction() as conn:
            for table in USAGE_TABLES:
                conn.execute(DELETE_ALL[table])
            self._cleared(conn)

    def set_budget_override(self, user: str, limit_usd: float, window: str, set_by: str, set_at: str) -> None:
        with self.transaction() as conn:
            self._run(conn, 'INSERT INTO budget_overrides VALUES (?, ?, ?, ?, ?) ON CONFLICT ("user") DO UPDATE SET '
                            'limit_usd = excluded.limit_usd, "window" = excluded."window", set_by = excluded.set_by, '
                            "set_at = excluded.set_at", (user, limit_usd, window, set_by, set_at))

    def budget_overrides(self) -> dict[str, tuple[float, str]]:
        with self._errors():
            return {u: (lim, w) for u, lim, w in
                    self._run(self.conn, 'SELECT "user", limit_usd, "window" FROM budget_overrides')}
