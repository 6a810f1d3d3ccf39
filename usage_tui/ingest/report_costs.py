"""How a provider's cost report and its usage report combine: counted once, whichever came first.

The usage report carries tokens, requests and keys (so users); the cost report the dollars the
provider bills. For each UTC day, each cost row of token costs is matched to the usage records
of its day with its team (workspace or project, through the directory) and model (a row without
a model matches every model of its team). Its dollars are then shared among those usage records
in proportion to their priced cost (their tokens, where none is priced), to the nano-dollar, and
the cost row itself keeps $0 (its amount stays in `report_cost_usd`). A cost row that matches no
usage (web search, code execution, a model or team without usage records) keeps its dollars.
A usage record that no cost row matches keeps its priced cost. So a day's total is the cost
report's total plus the priced usage it does not cover, with either report imported first or
alone, and again after either is imported again.

This runs after each import or sync of a report, over the days it touched, reading both reports'
records of those days back (store/reports.py) and rewriting those whose dollars change."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from ..model import NANO, Record
from ..store.reports import report_records
from ._reports import COST_IN_REPORT

# provider → (id prefix of its usage records, of its cost records)
PREFIXES = {"anthropic": ("anthropic-usage:", "anthropic-cost:"), "openai": ("openai:", "openai-cost:")}
_DAY_US = 86_400_000_000
_NOT_TOKENS = ("web_search", "code_execution")  # Anthropic cost_type of costs usage rows do not carry
ALL_MODELS = "(all models)"


def id_ranges(provider: str, first_day: int, end_day: int) -> list[tuple[str, str]]:
    """The id ranges of `provider`'s report records in [first_day, end_day): ids start with the
    bucket's UTC start (`anthropic-usage:2025-08-01T00:00:…`; OpenAI usage: `openai:<Unix
    seconds>:…`, ten digits from 2001 to 2286, so their text order is their time order)."""
    ranges = []
    for prefix in PREFIXES[provider]:
        if prefix == "openai:":
            ranges.append((f"{prefix}{first_day * 86_400}", f"{prefix}{end_day * 86_400}"))
        else:
            ranges.append((f"{prefix}{day_text(first_day)}", f"{prefix}{day_text(end_day)}"))
    return ranges


def report_provider(record: Record) -> str | None:
    """The provider whose reports a record is of, or None (any other record)."""
    prefixes = PREFIXES.get(record.provider)
    return record.provider if prefixes and record.id.startswith(prefixes) else None


def _shares(total: int, weights: list[int]) -> list[int]:
    """`total` split in proportion to `weights` (equal parts when they are all 0), the parts
    summing to `total` exactly (largest remainders)."""
    if not any(weights):
        weights = [1] * len(weights)
    whole = sum(weights)
    parts = [total * w // whole for w in weights]
    order = sorted(range(len(weights)), key=lambda i: (-(total * weights[i] % whole), i))
    for i in order[: total - sum(parts)]:
        parts[i] += 1
    return parts


def _is_cost(record: Record, provider: str) -> bool:
    return record.id.startswith(PREFIXES[provider][1])


def combined(store: Any, provider: str, incoming: list[tuple[Record, int | None]]
             ) -> tuple[list[tuple[Record, int | None]], list[tuple[Record, int | None]]]:
    """`incoming` records of `provider`'s reports (with their source ids) with their dollars
    shared as above, against the records of their UTC days already in the store; and the stored
    records whose dollars change (to write again)."""
    if not incoming:
        return [], []
    days = {r.ts_us // _DAY_US for r, _ in incoming}
    new_ids = {r.id for r, _ in incoming}
    first, end = min(days), max(days) + 1
    stored = [(r, s) for r, s in report_records(store, provider, id_ranges(provider, first, end),
                                                (first * _DAY_US, end * _DAY_US))
              if r.ts_us // _DAY_US in days and r.id not in new_ids]
    pricer = store.pricer()
    by_day: dict[int, list[tuple[Record, int | None]]] = defaultdict(list)
    for record, source in stored + incoming:
        by_day[record.ts_us // _DAY_US].append((record, source))
    final: dict[str, Record] = {}
    priced: dict[str, int] = {}  # usage id → its priced cost, computed once

    def weight(u: Record) -> int:
        if u.id not in priced:
            priced[u.id] = pricer.cost_nano(replace(u, cost_usd=None)) or 0
        return priced[u.id]

    for entries in by_day.values():
        usage = [(r, s) for r, s in entries if not _is_cost(r, provider)]
        costs = [(r, s) for r, s in entries if _is_cost(r, provider)]
        share: dict[str, int] = {}  # usage id → nano-dollars from cost rows
        covered: dict[str, int] = {}  # cost id → how many usage records share it
        by_group: dict[tuple, list[Record]] = defaultdict(list)  # (team, model) and (team, ALL_MODELS)
        for u, _source in usage:
            by_group[u.team, u.model].append(u)
            by_group[u.team, ALL_MODELS].append(u)
        for cost, _source in costs:
            if cost.metadata.get("cost_type") in _NOT_TOKENS:
                continue
            matched = by_group.get((cost.team, cost.model))
            if not matched:
                continue
            amount = round(float(cost.metadata.get("report_cost_usd", 0)) * NANO)
            weights = [weight(u) for u in matched]
            if not any(weights):
                weights = [u.tokens for u in matched]
            for u, part in zip(matched, _shares(amount, weights), strict=True):
                share[u.id] = share.get(u.id, 0) + part
            covered[cost.id] = len(matched)
        for u, _source in usage:
            was_shared = u.metadata.get("cost") == COST_IN_REPORT
            new = u
            if u.id in share:
                meta = {**u.metadata, "cost": COST_IN_REPORT}
                new = replace(u, cost_usd=share[u.id] / NANO, metadata=meta)
            elif was_shared:  # its cost row is gone or moved: priced again
                meta = {k: v for k, v in u.metadata.items() if k != "cost"}
                new = replace(u, cost_usd=None, metadata=meta)
            final[u.id] = new
        for c, _source in costs:
            reported = float(c.metadata.get("report_cost_usd", 0))
            meta = {k: v for k, v in c.metadata.items() if k != "shared_by"}
            if c.id in covered:
                meta["shared_by"] = covered[c.id]
            final[c.id] = replace(c, cost_usd=0.0 if c.id in covered else reported, metadata=meta,
                                  requests=0 if c.id in covered else 1)  # _reports.COST_ROW_REQUESTS
    written = [(final[r.id], source) for r, source in incoming]
    changed = [(final[r.id], source) for r, source in stored
               if (final[r.id].cost_usd, final[r.id].metadata) != (r.cost_usd, r.metadata)]
    return written, changed


def day_number(ts_us: int) -> int:
    return ts_us // _DAY_US


def day_text(day: int) -> str:
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=day)).date().isoformat()
