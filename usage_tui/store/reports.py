"""Reading back the records of the providers' admin reports for a span of time: a cost report
and a usage report of one period share their dollars (ingest/report_costs.py), whichever came
first. One statement, bound values; works on both engines (store.execute)."""

from __future__ import annotations

import json
from typing import Any

from ..model import NANO, Record

_COLUMNS = ("id, ts_us, provider, model, user_raw, key, agent, team_raw, prompt_tokens, completion_tokens, "
            "cached_input_tokens, context_tokens, cache_write_tokens, requests, cost_logged_nano, status, verdict, "
            "metadata, cache_write_1h_tokens, service_tier, batch, source_line, source_id")
# By id ranges, within the records' time span when the caller knows it: since schema 9 no index
# orders SQLite's records by id (they are unique by a hash of it), the (ts_us) index finds the
# days' records without a pass over all of them. Each range also names the provider.
_SQL = f"SELECT {_COLUMNS} FROM records WHERE id >= ? AND id < ? AND provider = ?"
_SQL_IN_SPAN = _SQL + " AND ts_us >= ? AND ts_us < ?"


def report_records(store: Any, provider: str, ranges: list[tuple[str, str]],
                   span_us: tuple[int, int] | None = None) -> list[tuple[Record, int | None]]:
    """The records of `provider` whose ids fall in any of `ranges` ([low, high) of ids), and whose
    time is in `span_us` ([start, end) in µs) when given, each with its source's id, as they were
    written."""
    found = []
    for low, high in ranges:
        sql, params = (_SQL, (low, high, provider)) if span_us is None else (_SQL_IN_SPAN, (low, high, provider, *span_us))
        for (rid, ts_us, prov, model, user, key, agent, team, prompt, completion, cached, context, writes, requests,
             logged, status, verdict, metadata, writes_1h, tier, batch, line, source_id) in store.execute(
                sql, params).fetchall():
            found.append((Record(
                id=rid, ts_us=ts_us, provider=prov, model=model, user=user, key=key, agent=agent, team=team,
                prompt_tokens=prompt, completion_tokens=completion, cached_input_tokens=cached,
                context_tokens=context, requests=requests, cost_usd=None if logged is None else logged / NANO,
                status=status, verdict=verdict, metadata=json.loads(metadata) if metadata else {},
                cache_write_tokens=writes, cache_write_1h_tokens=writes_1h, service_tier=tier, batch=bool(batch),
                source_line=line), source_id))
    return found
