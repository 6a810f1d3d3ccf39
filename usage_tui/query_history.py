"""Request history: the records behind a view or one of its rows, a page at a time (the TUI's
`h` and `spend records`), with the same scope rules as query.run_query. Moved out of query.py
(issue 28) so that no module passes ~500 lines; query.py re-exports these names.
"""

from __future__ import annotations

import json

from .model import HISTORY_ORDERS, HistoryPage, HistoryRecord, QuerySpec
from .query import _INDEXED_FOCUS, Plan, QueryError, Store, check_scope, plan_query, walks_time_index
from .store import DIM_COLUMNS, ROLLUPS, quoted
from .store.dialect import SQLITE, Dialect

HISTORY_PAGE_MAX = 50_000  # records per page, at most (~25 MB of records)
HISTORY_SEARCH_MAX = 256  # characters of a history search
_HISTORY_COLUMNS = (
    'r.id, r.ts_us, r.provider, r.model, r."user", r.team, r.user_raw, r.team_raw, r.key, r.agent, '
    "r.prompt_tokens, r.completion_tokens, r.cached_input_tokens, r.context_tokens, "
    "r.cache_write_tokens, r.requests, r.cost_logged_nano, r.cost_nano, r.status, r.verdict, "
    "r.metadata, r.cache_write_1h_tokens, r.service_tier, r.batch, r.source_line, s.format, s.path"
)
# The sort value of each order; an unpriced record sorts below every priced one by cost.
_HISTORY_SORT = {"time": "r.ts_us", "cost": "COALESCE(r.cost_nano, -1)"}
def history_sql(plan: Plan, *, order: str = "time", search: str | None = None,
                after: tuple[int, str] | None = None, limit: int = 50,
                dialect: Dialect = SQLITE, walk: bool = True) -> tuple[str, list]:
    """One page of the records of the view `plan` (its scope and date range; the focused row
    when it has one), newest or costliest first. Keyset paging: `after` is the (sort value, id)
    of the last record of the previous page, so page 100 costs what page 1 does. `search`
    keeps records whose id, model or user contains it (case-insensitive). By time, a page walks
    a time index newest first: the scope's ((user|team), ts_us), a focused user's or team's, or
    the org's (ts_us); `walk=False` scans the range instead (a rare row: walks_time_index)."""
    spec = plan.spec
    # Not walked (`+`), the time order is a sort of the range's records, not the index's order.
    sort = _HISTORY_SORT[order] if walk else f"+{_HISTORY_SORT[order]}"
    _, scope_col = ROLLUPS[spec.scope]
    # By cost, the range is a filter, never an index walk (`+`): with an index on ts_us, SQLite
    # walked it for the cost order too and visited every record of the range (bench/README.md).
    ts = "r.ts_us" if order == "time" and walk else "+r.ts_us"
    clauses, params = [f"{ts} >= ?", f"{ts} < ?"], [plan.edges_us[0], plan.edges_us[-1]]
    if scope_col:
        clauses.insert(0, f"r.{quoted(scope_col)} = ?")
        params.insert(0, plan.scope_value)
    focus = plan.focus_key
    if focus is not None:  # the row: the same key the rollups group by ('' = missing)
        column = DIM_COLUMNS[spec.group_by]
        # A named user or team as a plain equality, which their time indexes serve.
        clauses.append(f"r.{quoted(column)} = ?" if focus and column in _INDEXED_FOCUS
                       else f"COALESCE(r.{quoted(column)}, '') = ?")
        params.append(focus)
    if search:
        user = "COALESCE(r.\"user\", '')"
        clauses.append(f"({dialect.contains('r.id')} OR {dialect.contains('r.model')} OR {dialect.contains(user)})")
        params += [search.lower()] * 3
    if after is not None:
        if order == "time":  # the same bound as a range on the index (the row value is not one)
            clauses.append(f"{ts} <= ?")
            params.append(after[0])
        clauses.append(f"({sort}, r.id) < (?, ?)")
        params += [after[0], after[1]]
    sql = (f"SELECT {_HISTORY_COLUMNS}, {sort} FROM records r LEFT JOIN sources s ON s.id = r.source_id "
           f"WHERE {' AND '.join(clauses)} ORDER BY {sort} DESC, r.id DESC LIMIT ?")
    return sql, [*params, limit]


def _metadata(text: str | None) -> dict:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {"(unreadable)": text}
    return value if isinstance(value, dict) else {"(value)": value}


def run_history(store: Store, spec: QuerySpec, *, order: str = "time", search: str | None = None,
                after: tuple[int, str] | None = None, limit: int = 50) -> HistoryPage:
    """The requests behind a view (or its focused row), one page. Same scope rules as
    run_query: a refused scope raises ScopeError before any SQL runs."""
    directory = store.directory()
    check_scope(directory, spec)
    if order not in HISTORY_ORDERS:
        raise QueryError(f'unknown order "{order}" (one of {", ".join(HISTORY_ORDERS)})')
    if not 1 <= limit <= HISTORY_PAGE_MAX:
        raise QueryError(f"limit must be 1 to {HISTORY_PAGE_MAX} per page (got {limit})")
    if search is not None and len(search) > HISTORY_SEARCH_MAX:
        raise QueryError(f"search is longer than {HISTORY_SEARCH_MAX} characters")
    plan = plan_query(spec, directory, force_records=True)

    def page() -> list[tuple]:  # the row's share and its page in one snapshot
        walk = order != "time" or walks_time_index(store, plan)
        sql, params = history_sql(plan, order=order, search=search or None, after=after, limit=limit,
                                  dialect=store.dialect, walk=walk)
        return store.execute(sql, params).fetchall()

    records = []
    last = None
    for row in store.reading(page):
        *values, sort_value = row
        values[20] = _metadata(values[20])
        values[23] = bool(values[23])  # batch
        records.append(HistoryRecord(*values))
        last = (sort_value, values[0])
    return HistoryPage(records, last if len(records) == limit else None)


def iter_history(store: Store, spec: QuerySpec, *, order: str = "time", search: str | None = None,
                 limit: int | None = None, page_size: int = 1000):
    """Every record of a history (or the first `limit`), page by page. By cost (no index on
    cost) each page is one scan of the range's records, so pages double in size up to HISTORY_PAGE_MAX:
    a long history takes a few scans, never one per thousand records (765k records at 1M:
    5 min 51 s in pages of 1,000), and memory stays bounded by a page."""
    after = None
    left = limit
    while left is None or left > 0:
        size = page_size if left is None else min(page_size, left)
        page = run_history(store, spec, order=order, search=search, after=after, limit=size)
        yield from page.records
        if left is not None:
            left -= len(page.records)
        if page.after is None:
            return
        after = page.after
        page_size = min(HISTORY_PAGE_MAX, page_size * 2)
