"""SQLite's rollups, deferred (schema 7): the statements that add records to every rollup table,
the mark in meta through which the rollups hold the records (ROLLED_UP_THROUGH), the sums kept
of the records above it (PENDING_SUMS), and the roll-up steps (`refresh_rollups`).

A batch appends its records without rolling them up: rolling up each batch upserted ~24 rollup
rows a record at places all over the tables on a real organization's data (high cardinality,
any order): 1M shuffled realistic records took 856 s, 24x a plain load. Reads stay exact
meanwhile: whatever is above the mark is read from the records (`pending_rollups`).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from ..model import GROUPINGS
from .base import StoreError, full_message
from .schema import (
    BLOCK_DAYS,
    BLOCK_SUFFIX,
    DAY_SUFFIX,
    DAY_US,
    DELETE_ALL,
    DIM_COLUMNS,
    FINE,
    PENDING_SUMS,
    QUARTER_US,
    ROLLED_UP_THROUGH,
    ROLLUP_TABLES,
    ROLLUPS,
    SUM_COLUMNS,
    TOTAL_DIM,
)

# A roll-up's cache (its sorts spill to temp files past it): it runs beside the import's writer.
ROLLUP_CACHE_KIB = -8192
_ROLLUP_CACHE_PRAGMA = f"PRAGMA cache_size={int(ROLLUP_CACHE_KIB)}"

# The signed sums of a set of records `r`, named as the rollup columns.
_SUM_SELECT = (
    "? * SUM(r.requests) AS requests, ? * SUM(r.prompt_tokens) AS prompt_tokens, "
    "? * SUM(r.completion_tokens) AS completion_tokens, ? * SUM(r.cached_input_tokens) AS cached_input_tokens, "
    "? * SUM(r.context_tokens) AS context_tokens, ? * SUM(COALESCE(r.cost_nano, 0)) AS cost_nano, "
    "? * SUM(CASE WHEN r.cost_nano IS NULL THEN r.requests ELSE 0 END) AS unpriced_requests"
)
_SUM_UPDATE = ", ".join(f"{c} = {c} + excluded.{c}" for c in SUM_COLUMNS)
_AGG_DIMS = ", ".join(f"r.{c} AS {c}" for c in ("user", "team", "provider", "model", "agent", "key", "verdict"))
_AGG_SUMS = ", ".join(f"SUM(r.{c})" for c in SUM_COLUMNS)
_AGG_SUMS_NAMED = ", ".join(f"SUM(r.{c}) AS {c}" for c in SUM_COLUMNS)


_TOP_ROWID = "SELECT COALESCE(MAX(rowid), 0) FROM records"  # 0 for no record
# How many records match a condition on `r`, and their 7 sums (the sums kept of pending records).
_RECORD_SUMS = ("SELECT count(*), SUM(r.requests), SUM(r.prompt_tokens), SUM(r.completion_tokens), "
                "SUM(r.cached_input_tokens), SUM(r.context_tokens), SUM(COALESCE(r.cost_nano, 0)), "
                "SUM(CASE WHEN r.cost_nano IS NULL THEN r.requests ELSE 0 END) FROM {} r WHERE {}")
# Records summed per roll-up step (one short transaction each): a bound on the temp tables' size.
REFRESH_ROWS = 1_000_000


def _agg_statement(source: str, where: str) -> str:
    """The records of `source` matching `where` (constant SQL on `r`), summed per quarter-hour
    and every dimension into temp.agg; the 7 `?` are the sign (+1 adds, -1 subtracts)."""
    return (f"CREATE TEMP TABLE agg AS SELECT r.ts_us / {QUARTER_US} AS bucket, {_AGG_DIMS}, {_SUM_SELECT} "
            f"FROM {source} r WHERE {where} GROUP BY {', '.join(str(i) for i in range(1, 9))}")


def _fan_out_statements() -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """temp.agg → every rollup table, added to what is there, in three parts: summing the
    deltas (temp tables only: a reader may run them, beside the writer), adding them to the
    rollup tables (the write), and dropping the temp tables.

    Each scope's finest delta (the users' days, the teams' hours, the org's quarter-hours) is
    summed from temp.agg once per grouping; its totals from its verdict grouping (every record
    has one verdict key, '' when none) and a scope's own grouping (a user's rows by user, a
    team's by team) from its totals, whose only key is the scope's: those re-read a delta, not
    every record. Its day delta is summed from the finest, its 32-day block from its day.
    (Schema 6 crossed temp.agg with the 8 groupings into one table of ~8 rows per record, then
    re-sorted it for each scope: 1M shuffled realistic records took 38 s of fan-out, see
    bench/RESULTS.md.) A GROUP BY yields its rows in key order, which the temp table keeps
    (rowid order), so each upsert walks its table's B-tree in order without sorting again."""
    statements: list[str] = []  # the deltas' sums
    adds: list[str] = []
    deltas = []
    verdict_dim = GROUPINGS.index("verdict")
    for scope, (table, scope_col) in ROLLUPS.items():
        suffix, grain_us = FINE.get(scope, (DAY_SUFFIX, DAY_US))
        per = grain_us // QUARTER_US
        scope_insert = f"{scope_col}, " if scope_col else ""
        scope_select = f"COALESCE(r.{scope_col}, ''), " if scope_col else ""
        bucket = "r.bucket" if per == 1 else f"r.bucket / {per}"
        finest = f"d{table}{suffix}"
        deltas.append(finest)
        statements += [f"DROP TABLE IF EXISTS temp.{finest}",
                       f"CREATE TEMP TABLE {finest} ({scope_insert}dim, bucket, key, {', '.join(SUM_COLUMNS)})"]
        own = GROUPINGS.index(scope_col) if scope_col else None
        for dim in range(TOTAL_DIM):
            if dim == own:
                continue
            statements.append(
                f"INSERT INTO temp.{finest} SELECT {scope_select}{dim}, {bucket}, "
                f"COALESCE(r.{DIM_COLUMNS[GROUPINGS[dim]]}, ''), {_AGG_SUMS} FROM temp.agg r "
                f"GROUP BY {'1, ' if scope_col else ''}{3 if scope_col else 2}, {4 if scope_col else 3}")
        statements.append(
            f"INSERT INTO temp.{finest} SELECT {scope_insert}{TOTAL_DIM}, bucket, '', {_AGG_SUMS} "
            f"FROM temp.{finest} r WHERE dim = {verdict_dim} GROUP BY {scope_insert}bucket")
        if scope_col:
            statements.append(
                f"INSERT INTO temp.{finest} SELECT {scope_col}, {own}, bucket, {scope_col}, "
                f"{', '.join(SUM_COLUMNS)} FROM temp.{finest} WHERE dim = {TOTAL_DIM}")
        group = "1, 2, 3, 4" if scope_col else "1, 2, 3"
        chain_ = [(DAY_SUFFIX, f"temp.{finest}", DAY_US // grain_us)] if scope in FINE else []
        chain_.append((BLOCK_SUFFIX, f"temp.d{table}{DAY_SUFFIX}", BLOCK_DAYS))
        for level, source, coarser in chain_:
            delta = f"d{table}{level}"
            deltas.append(delta)
            statements += [
                f"DROP TABLE IF EXISTS temp.{delta}",
                f"CREATE TEMP TABLE {delta} AS SELECT {'r.' + scope_col + ' AS ' + scope_col + ', ' if scope_col else ''}"
                f"r.dim AS dim, r.bucket / {coarser} AS bucket, r.key AS key, {_AGG_SUMS_NAMED} FROM {source} r "
                f"GROUP BY {group}",
            ]
        adds += [f"INSERT INTO {table}{level} ({scope_insert}dim, bucket, key, {', '.join(SUM_COLUMNS)}) "
                 f"SELECT {scope_insert}dim, bucket, key, {', '.join(SUM_COLUMNS)} FROM temp.d{table}{level} "
                 f"WHERE true ON CONFLICT DO UPDATE SET {_SUM_UPDATE}"
                 for level in (suffix, *(level for level, _, _ in chain_))]
    return tuple(statements), tuple(adds), tuple(f"DROP TABLE IF EXISTS temp.{d}" for d in deltas)


_FAN_OUT_DELTAS, _FAN_OUT_APPLY, _FAN_OUT_DROP = _fan_out_statements()
_FAN_OUT = (*_FAN_OUT_DELTAS, *_FAN_OUT_APPLY, *_FAN_OUT_DROP)
# The rollup rebuild as one SQL script (no parameters: sign 1), for migrations.
_REBUILD_SCRIPT = "; ".join([*(DELETE_ALL[t] for t in ROLLUP_TABLES), _agg_statement("records", "1")
                             .replace("?", "1"), *_FAN_OUT, "DROP TABLE temp.agg"])


@contextmanager
def _overflow_refused(what: str) -> Iterator[None]:
    """SQLite's SUM raises on a 64-bit overflow: the same refusal as _check_totals."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        if "integer overflow" in str(exc):
            raise StoreError(full_message(what)) from None
        raise



class DeferredRollups:
    """The rollup half of the SQLite store (sqlite.Store), on the store's connections."""

    conn: sqlite3.Connection
    _CACHE_PRAGMA: str  # the connection's own cache size, restored after a roll-up
    snapshot: Any
    transaction: Any
    _set_meta: Any

    def pending_rollups(self) -> int | None:
        """None when the rollups hold every record (always, outside an import); else the rowid
        through which they do: the records above it (the batches of an import still running, or
        of one that was killed) are read from the records table, so every answer stays exact."""
        through = self._rolled_up_through(self.conn)
        return through if self.conn.execute(_TOP_ROWID).fetchone()[0] > through else None

    def _rolled_up_through(self, conn: sqlite3.Connection) -> int:
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (ROLLED_UP_THROUGH,)).fetchone()
        return int(row[0]) if row else 0

    def _pending_sums(self, conn: sqlite3.Connection) -> list[int]:
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (PENDING_SUMS,)).fetchone()
        return json.loads(row[0]) if row else [0] * len(SUM_COLUMNS)

    def _set_rolled_up(self, conn: sqlite3.Connection, through: int, pending: Sequence[int]) -> None:
        self._set_meta(conn, ROLLED_UP_THROUGH, str(through))
        if any(pending):
            self._set_meta(conn, PENDING_SUMS, json.dumps(list(pending)))
        else:
            conn.execute("DELETE FROM meta WHERE key = ?", (PENDING_SUMS,))

    def _apply_rollups(self, conn: sqlite3.Connection, sign: int, where: str, source: str = "records",
                       params: Sequence = ()) -> None:
        """Add (sign=1) or subtract (sign=-1) the records matching `where` (a constant SQL
        condition on `r`, its values bound from `params`) to every rollup table. `source` is
        the table holding them: the records, or the attributed stage of a batch.

        The records are first summed once per (bucket, every dimension) into a small temp
        table, then once per (grouping, bucket, user, team, row key) into another; the 3 scopes
        × 2 granularities are read from that, not from the records."""
        conn.execute("DROP TABLE IF EXISTS temp.agg")
        conn.execute(_agg_statement(source, where), ((sign,) * len(SUM_COLUMNS)) + tuple(params))
        for statement in _FAN_OUT:
            conn.execute(statement)
        conn.execute("DROP TABLE temp.agg")

    def _rebuild_rollups(self, conn: sqlite3.Connection) -> None:
        for table in ROLLUP_TABLES:
            conn.execute(DELETE_ALL[table])
        self._apply_rollups(conn, 1, "1")
        self._set_rolled_up(conn, conn.execute(_TOP_ROWID).fetchone()[0], ())

    def refresh_rollups(self) -> int:
        """Roll up the records appended before this call (an import's, or what a killed import
        committed), REFRESH_ROWS at a time: each step sums its records in a read snapshot, then
        adds the sums to the rollups in one short transaction that moves the mark, so a crash
        loses no step already done, and an import's writer may append meanwhile (its batches
        wait only for the short part). Returns how many records were rolled up. The records of a
        step are summed once, sorted, so the rollups are written in key order whatever order the
        records came in."""
        done = 0
        # The step's GROUP BYs sort up to REFRESH_ROWS records: in temp files, not in memory
        # (changing temp_store drops temp tables: the stage is created again when needed).
        self.conn.execute("PRAGMA temp_store=FILE")
        self.conn.execute(_ROLLUP_CACHE_PRAGMA)
        try:
            target = self.conn.execute(_TOP_ROWID).fetchone()[0]
            while True:
                step = self._sum_pending(target)
                if step is None:
                    return done
                done += step[2] if self._add_pending(*step) else 0
        finally:
            self.conn.execute("PRAGMA temp_store=MEMORY")
            self.conn.execute(self._CACHE_PRAGMA)

    def _sum_pending(self, target: int) -> tuple[int, int, int, list[int]] | None:
        """In one read snapshot: the deltas of the records above the mark, up to REFRESH_ROWS of
        them and not past rowid `target`, into this connection's temp tables. Returns (mark,
        end rowid, how many records, their sums), or None when none is left."""
        with self.snapshot() as conn:
            through = self._rolled_up_through(conn)
            end = min(target, through + REFRESH_ROWS)
            if end <= through:
                return None
            step = "r.rowid > ? AND r.rowid <= ?"
            count, *sums = conn.execute(_RECORD_SUMS.format("records", step), (through, end)).fetchone()
            conn.execute("DROP TABLE IF EXISTS temp.agg")
            with _overflow_refused("rolling up the imported records"):
                conn.execute(_agg_statement("records", step), (1,) * len(SUM_COLUMNS) + (through, end))
                for statement in _FAN_OUT_DELTAS:
                    conn.execute(statement)
        return through, end, count, [v or 0 for v in sums]

    def _add_pending(self, through: int, end: int, count: int, sums: list[int]) -> bool:
        """Add the deltas `_sum_pending` left in the temp tables to the rollups and move the
        mark, unless the records they were summed from changed meanwhile (another refresh moved
        the mark, or a batch replaced one of them: a new version is appended above): then
        nothing is written and False is returned (the next step sums them again)."""
        try:
            with self.transaction() as conn:
                now = conn.execute("SELECT count(*) FROM records WHERE rowid > ? AND rowid <= ?",
                                   (through, end)).fetchone()[0]
                if self._rolled_up_through(conn) != through or now != count:
                    return False
                with _overflow_refused("rolling up the imported records"):
                    for statement in _FAN_OUT_APPLY:
                        conn.execute(statement)
                pending = [p - v for p, v in zip(self._pending_sums(conn), sums, strict=True)]
                self._set_rolled_up(conn, end, pending)
                return True
        finally:
            for statement in (*_FAN_OUT_DROP, "DROP TABLE IF EXISTS temp.agg"):
                self.conn.execute(statement)
