"""A view's figures per period and row (`spend summary --by-period`): the rows × buckets grid
that the table (a pivot) and the long formats (CSV, JSON lines) print.

Each period's rows are read as the view's rows are (query.rows_sql: the rollups, and the
records for what they do not cover), one statement per period that the store's data reaches,
in the same read snapshot as the view itself, so the cells of a row add up to that row's
figures. The records alone (`force_records`, grouped by bucket and row key in one statement)
give the same cells: the reference the tests compare with. Every value is bound.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, replace
from datetime import date

from .json_docs import is_partial
from .model import GROUPINGS, QueryResult, QuerySpec, Totals, missing_key_label
from .query import (
    _TOTAL_SELECT,
    QueryError,
    _bucket_case,
    _case_params,
    _piece_select,
    _records_where,
    _totals,
    check_scope,
    cover,
    data_buckets,
    execute,
    plan_query,
    rows_sql,
    series_day_pieces,
)
from .store import DAY_SUFFIX, DAY_US, DIM_COLUMNS, ROLLUPS, SUM_COLUMNS, UsageStore, quoted

# Cells of one grid, at most: 1,000 rows over 1,000 weeks; more is refused (narrow the view).
MAX_CELLS = 1_000_000


@dataclass(frozen=True)
class Cell:
    period: date
    partial: bool
    row: str
    totals: Totals


def run_by_period(store: UsageStore, spec: QuerySpec, *, require_focus: bool = True,
                  force_records: bool = False) -> tuple[QueryResult, list[Cell]]:
    """The view (as run_query answers it) and its period × row cells, periods in order and
    within a period the table's row order; every row has every period (zeros included). With
    --focus only the focused row. Raises QueryError, ScopeError."""

    def view() -> tuple[QueryResult, list[Cell]]:
        directory = store.directory()
        check_scope(directory, spec)
        result = execute(store, plan_query(spec, directory), require_focus=require_focus)
        rows = [r.key for r in result.rows]
        if spec.focus is not None:
            rows = [spec.focus]
        plan = plan_query(spec, directory, force_records=force_records)
        if len(plan.labels) * len(rows) > MAX_CELLS:
            raise QueryError(f"{len(rows):,} rows × {len(plan.labels):,} periods is more than {MAX_CELLS:,} cells: "
                             "narrow the range, use --granularity weekly, --search or --focus")
        found: dict[tuple[int, str], Totals] = {}
        lo, hi = data_buckets(plan.edges_us, store.data_span())
        missing = missing_key_label(spec.group_by)
        if lo < hi and rows:
            if plan.use_rollups:
                plan = replace(plan, rolled_through=store.pending_rollups())
                sub = replace(plan, labels=plan.labels[lo:hi], edges_us=plan.edges_us[lo:hi + 1])
                for (slot, key), sums in _cells_from_rollups(store, sub).items():
                    if sums[0]:  # rollup slices emptied by replacements have no requests
                        found[(lo + slot, key or missing)] = Totals(**dict(zip(SUM_COLUMNS, sums, strict=True)))
            else:
                sub = replace(plan, labels=plan.labels[lo:hi], edges_us=plan.edges_us[lo:hi + 1])
                sql, params = _cells_sql(sub, spec.focus)
                for slot, key, *values in store.execute(sql, params):
                    found[(lo + slot, key or missing)] = _totals(values)
        return result, [Cell(label, is_partial(label, spec.granularity, plan.since, plan.until), row,
                             found.get((i, row), Totals()))
                        for i, label in enumerate(plan.labels) for row in rows]

    return store.reading(view)


def _cells_from_rollups(store: UsageStore, plan) -> dict[tuple[int, str], list[int]]:
    """{(bucket, row key): the 7 sums} from the rollups. As query._series_by_days does for the
    series: each bucket edge moves to the nearest UTC midnight, whole days come from the day
    table (a row per day and key), and the span between an edge and its midnight (an hour or
    two in Berlin) is read as a view's rows are (rows_sql) and moved from the bucket its
    midnight put it in to its own; records not rolled up yet come from the records. Where that
    does not apply (buckets shorter than the spans, days before 1970), each bucket is one
    rows_sql."""
    acc: dict[tuple[int, str], list[int]] = {}
    spec = plan.spec
    dim = GROUPINGS.index(spec.group_by)

    def add(slot: int, key: str, values, sign: int = 1) -> None:
        sums = acc.setdefault((slot, key), [0] * len(SUM_COLUMNS))
        for n, v in enumerate(values):
            sums[n] += sign * (v or 0)

    def rows_in(start: int, end: int):
        """Per row key over [start, end): the rollups, and the rolled-up records at the edges
        (the records not rolled up yet are read once, below)."""
        parts, params = [], []
        for piece in cover(spec.scope, start, end):
            sql, values = _piece_select(spec.scope, plan.scope_value, dim, piece, None, "key", True,
                                        plan.rolled_through)
            parts.append(sql)
            params += values
        if not parts:
            return []
        return store.execute(f"SELECT lead, {_TOTAL_SELECT} FROM ({' UNION ALL '.join(parts)}) AS pieces "
                             "GROUP BY lead", params)

    pieces = series_day_pieces(plan)
    if pieces is None:
        for i in range(len(plan.labels)):
            sql, params = rows_sql(replace(plan, labels=plan.labels[i:i + 1], edges_us=plan.edges_us[i:i + 2]))
            for key, *values in store.execute(sql, params):
                add(i, key, values)
        return acc
    edges, midnights, ranges = pieces
    table, scope_col = ROLLUPS[spec.scope]
    clauses, params = ["dim = ?", "bucket >= ?", "bucket < ?"], [dim, midnights[0] // DAY_US, midnights[-1] // DAY_US]
    if scope_col:
        clauses.insert(0, f"{quoted(scope_col)} = ?")
        params.insert(0, plan.scope_value)
    day_sql = f"SELECT bucket, key, {', '.join(SUM_COLUMNS)} FROM {table}{DAY_SUFFIX} WHERE {' AND '.join(clauses)}"
    for day, key, *values in store.execute(day_sql, params):
        add(bisect_right(midnights, day * DAY_US) - 1, key, values)
    for start, end in ranges:  # the spans between edges and their midnights
        for key, *values in rows_in(start, end):
            if midnights[0] <= start < midnights[-1]:  # out of the bucket its day was counted in
                add(bisect_right(midnights, start) - 1, key, values, -1)
            if edges[0] <= start < edges[-1]:  # into its own
                add(bisect_right(edges, start) - 1, key, values)
    if plan.rolled_through is not None:  # records not rolled up yet, from the records
        sql, params = _cells_sql(plan, None, pending=True)
        for slot, key, *values in store.execute(sql, params):
            add(slot, key, values)
    return acc


def _cells_sql(plan, focus: str | None, pending: bool = False) -> tuple[str, list]:
    """(bucket index, row key, the 7 sums) per bucket and row key of the plan's records (with
    `pending`, only those the rollups do not hold yet)."""
    column = f"COALESCE({quoted(DIM_COLUMNS[plan.spec.group_by])}, '')"
    where, params = _records_where(plan, pending)
    if focus is not None:
        where += f" AND {column} = ?"
        params.append(plan.focus_key)
    inner = list(plan.edges_us[1:-1])
    totals = ("SUM(requests), SUM(prompt_tokens), SUM(completion_tokens), SUM(cached_input_tokens), "
              "SUM(context_tokens), SUM(COALESCE(cost_nano, 0)), "
              "SUM(CASE WHEN cost_nano IS NULL THEN requests ELSE 0 END)")
    sql = f"SELECT {_bucket_case('ts_us', len(inner))} AS b, {column} AS k, {totals} {where} GROUP BY b, k"
    return sql, _case_params(inner) + params
