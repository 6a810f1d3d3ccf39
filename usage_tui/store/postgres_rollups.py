"""PostgreSQL's rollup statements: the SQLite store's (sqlite_rollups.py) in PostgreSQL's spelling.
Every batch adds itself to the rollups in its own transaction (no deferred mark: many writers
on many machines, each seeing only what row-level security lets it see).
"""

from __future__ import annotations

from ..model import GROUPINGS
from .dialect import quoted
from .schema import (
    BLOCK_DAYS,
    BLOCK_SUFFIX,
    DAY_QUARTERS,
    DAY_SUFFIX,
    DIM_COLUMNS,
    FINE,
    QUARTER_US,
    ROLLUPS,
    STAGE,
    SUM_COLUMNS,
    TOTAL_DIM,
    create_table,
)

_TEXT = 'TEXT COLLATE "C"'
_AGG_DIMS = ", ".join(f"r.{quoted(c)} AS {quoted(c)}" for c in ("user", "team", "provider", "model", "agent",
                                                                   "key", "verdict"))
_SIGNED_SUMS = ", ".join(
    f"(%(sign)s * SUM({expr}))::bigint AS {name}" for name, expr in (
        ("requests", "r.requests"), ("prompt_tokens", "r.prompt_tokens"),
        ("completion_tokens", "r.completion_tokens"), ("cached_input_tokens", "r.cached_input_tokens"),
        ("context_tokens", "r.context_tokens"), ("cost_nano", "COALESCE(r.cost_nano, 0)"),
        ("unpriced_requests", "CASE WHEN r.cost_nano IS NULL THEN r.requests ELSE 0 END")))
_AGG_SUMS = ", ".join(f"SUM(r.{c})::bigint" for c in SUM_COLUMNS)


_SUMS_BIGINT = ", ".join(f"{c} BIGINT" for c in SUM_COLUMNS)
# The write path's work tables, created once per connection (not per write: creating and
# dropping tables writes the catalog), emptied at each commit.
TEMP_TABLES = (
    f'CREATE TEMP TABLE IF NOT EXISTS agg (bucket BIGINT, "user" {_TEXT}, team {_TEXT}, provider {_TEXT}, '
    f"model {_TEXT}, agent {_TEXT}, key {_TEXT}, verdict {_TEXT}, {_SUMS_BIGINT}) ON COMMIT DELETE ROWS; "
    f'CREATE TEMP TABLE IF NOT EXISTS fine (dim SMALLINT, bucket BIGINT, "user" {_TEXT}, team {_TEXT}, '
    f"key {_TEXT}, {_SUMS_BIGINT}) ON COMMIT DELETE ROWS; "
    f'CREATE TEMP TABLE IF NOT EXISTS fine_day (dim SMALLINT, bucket BIGINT, "user" {_TEXT}, team {_TEXT}, '
    f"key {_TEXT}, {_SUMS_BIGINT}) ON COMMIT DELETE ROWS; "
    + create_table(STAGE, "postgres", temp=True, if_not_exists=True, tail=" ON COMMIT DELETE ROWS")
)


def agg_statement(source: str, where: str) -> str:
    """The records of `source` matching `where` (constant SQL on `r`) summed per quarter-hour
    and every dimension into pg_temp.agg; %(sign)s is +1 (add) or -1 (subtract)."""
    return (f"INSERT INTO pg_temp.agg SELECT r.ts_us / {QUARTER_US} AS bucket, {_AGG_DIMS}, {_SIGNED_SUMS} "
            f"FROM {source} r WHERE {where} GROUP BY {', '.join(str(i) for i in range(1, 9))}")


def _fan_out_script() -> str:
    """pg_temp.agg → every rollup table, added to what is there (sqlite_rollups.py's
    _fan_out_statements), as one script: one round trip to the server, not 23."""
    statements = []
    for dim in range(TOTAL_DIM + 1):
        key = f"COALESCE(r.{quoted(DIM_COLUMNS[GROUPINGS[dim]])}, '')" if dim < TOTAL_DIM else "''"
        statements.append(
            f"INSERT INTO pg_temp.fine SELECT {dim}, r.bucket, COALESCE(r.\"user\", ''), COALESCE(r.team, ''), "
            f"{key}, {_AGG_SUMS} FROM pg_temp.agg r GROUP BY 2, 3, 4, 5")
    statements.append(f'INSERT INTO pg_temp.fine_day SELECT r.dim, r.bucket / {DAY_QUARTERS}, r."user", r.team, '
                      f"r.key, {_AGG_SUMS} FROM pg_temp.fine r GROUP BY 1, 2, 3, 4, 5")
    for scope, (table, scope_col) in ROLLUPS.items():
        scope_select = f"r.{quoted(scope_col)}, " if scope_col else ""
        scope_insert = f"{quoted(scope_col)}, " if scope_col else ""
        group = "1, 2, 3, 4" if scope_col else "1, 2, 3"
        grains = []
        if scope in FINE:
            suffix, grain_us = FINE[scope]
            grains.append((suffix, "pg_temp.fine", grain_us // QUARTER_US))
        grains += [(DAY_SUFFIX, "pg_temp.fine_day", 1), (BLOCK_SUFFIX, "pg_temp.fine_day", BLOCK_DAYS)]
        for suffix, source, per in grains:
            target = table + suffix
            bucket = "r.bucket" if per == 1 else f"r.bucket / {per}"
            update = ", ".join(f"{c} = {target}.{c} + excluded.{c}" for c in SUM_COLUMNS)
            statements.append(
                f"INSERT INTO {target} ({scope_insert}dim, bucket, key, {', '.join(SUM_COLUMNS)}) "
                f"SELECT {scope_select}r.dim, {bucket}, r.key, {_AGG_SUMS} FROM {source} r GROUP BY {group} "
                f"ON CONFLICT ({scope_insert}dim, bucket, key) DO UPDATE SET {update}")
    # emptied for a second pass in the same transaction (a replacement subtracts, then adds)
    statements += ["DELETE FROM pg_temp.agg", "DELETE FROM pg_temp.fine", "DELETE FROM pg_temp.fine_day"]
    return "; ".join(statements)


FAN_OUT = _fan_out_script()
