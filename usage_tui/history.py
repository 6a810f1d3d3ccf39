"""The request history in words and plain values, shared by `spend records` and the TUI's
history screen: how a record was attributed and priced, where it came from, and its JSON.
Headless: no Textual import."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from .directory import Directory, explain_attribution
from .fmt import percent, record_money
from .model import HistoryRecord, nano_to_usd
from .pricing import Pricer

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def record_time(r: HistoryRecord, tz: ZoneInfo) -> datetime:
    """When the request happened, in the reporting zone."""
    return (_EPOCH + timedelta(microseconds=r.ts_us)).astimezone(tz)


def source_text(r: HistoryRecord) -> str:
    """`/data/gw.jsonl (native)`, or `line 12 of …` where the store knows the line."""
    if r.source_path is None:
        return "unknown (written without a source)"
    where = f"{r.source_path} line {r.source_line}" if r.source_line else r.source_path
    return f"{where} ({r.source_format})"


class Explainer:
    """Attribution and price source for records, against one directory and price table."""

    def __init__(self, directory: Directory, pricer: Pricer) -> None:
        self.directory = directory
        self.pricer = pricer

    def attribution(self, r: HistoryRecord) -> str:
        return explain_attribution(self.directory, r)

    def price_source(self, r: HistoryRecord) -> str:
        return self.pricer.describe(r)

    def as_json(self, r: HistoryRecord, tz: ZoneInfo) -> dict[str, Any]:
        """Every stored field, with the attribution and price source (`spend records` JSON)."""
        when = record_time(r, tz)
        return {
            "id": r.id,
            "ts": (_EPOCH + timedelta(microseconds=r.ts_us)).isoformat().replace("+00:00", "Z"),
            "local_time": when.isoformat(),
            "provider": r.provider,
            "model": r.model,
            "user": r.user,
            "team": r.team,
            "request_user": r.user_raw,
            "request_team": r.team_raw,
            "key": r.key,
            "agent": r.agent,
            "prompt_tokens": r.prompt_tokens,
            "cached_input_tokens": r.cached_input_tokens,
            "completion_tokens": r.completion_tokens,
            "context_tokens": r.context_tokens,
            "cache_write_tokens": r.cache_write_tokens,
            "cache_write_1h_tokens": r.cache_write_1h_tokens,
            "tokens": r.tokens,
            "requests": r.requests,
            "cost_usd": r.cost_usd,
            "cost_logged_usd": None if r.cost_logged_nano is None else nano_to_usd(r.cost_logged_nano),
            "status": r.status,
            "verdict": r.verdict,
            "service_tier": r.service_tier,
            "batch": r.batch,
            "attribution": self.attribution(r),
            "price_source": self.price_source(r),
            "source": None if r.source_path is None else {
                "format": r.source_format, "path": r.source_path, "line": r.source_line},
            "metadata": r.metadata,
        }


def detail_rows(r: HistoryRecord, tz: ZoneInfo, attribution: str, price: str) -> list[tuple[str, str]]:
    """The detail of one record as (label, value) lines: every stored field, in words."""
    when = record_time(r, tz)
    share = r.context_share
    rows = [
        ("Id", r.id),
        ("Time", f"{when:%Y-%m-%d %H:%M:%S} {when.tzname()} ({tz.key})"),
        ("Model", f"{r.provider}/{r.model}"),
        ("Status", f"{r.status}" + (f" · verdict {r.verdict}" if r.verdict else "")),
        ("Requests", f"{r.requests:,}"),
        ("", ""),
        ("Tokens", f"{r.tokens:,} = prompt {r.prompt_tokens:,} + cached {r.cached_input_tokens:,} "
                   f"+ completion {r.completion_tokens:,}"),
        ("Context", f"{r.context_tokens:,} of {r.prompt_tokens + r.cached_input_tokens:,} input tokens"
                    + (f" ({percent(share)})" if share is not None else "")),
    ]
    if r.cache_write_tokens:
        rows.append(("Cache write", f"{r.cache_write_tokens:,} of the prompt tokens"
                     + (f", {r.cache_write_1h_tokens:,} of them for 1 hour" if r.cache_write_1h_tokens else "")))
    if r.service_tier or r.batch:
        rows.append(("Billed as", ", ".join(([f"service tier {r.service_tier}"] if r.service_tier else [])
                                            + (["batch API"] if r.batch else []))))
    rows += [
        ("", ""),
        ("Cost", record_money(r.cost_usd) if r.cost_usd is not None else "unpriced (not in any cost total)"),
        ("Priced", price),
        ("Attributed", attribution),
        ("", ""),
        ("Request", ", ".join(f"{k} {v}" for k, v in (("user", r.user_raw), ("team", r.team_raw), ("key", r.key),
                                                       ("agent", r.agent)) if v) or "no user, team, key or agent"),
        ("Source", source_text(r)),
    ]
    if r.cost_logged_nano is not None:
        rows.insert(rows.index(("Priced", price)), ("Logged cost", record_money(nano_to_usd(r.cost_logged_nano))))
    for key, value in sorted(r.metadata.items()):
        rows.append((f"meta {key}"[:24], str(value)))
    return rows
