"""Anthropic's admin reports, saved as files: pages of GET /v1/organizations/usage_report/messages
and of GET /v1/organizations/cost_report (`{"data": [buckets], "has_more", "next_page"}`: one page,
a JSON array of pages, JSON lines of pages, or the buckets alone). A bucket is
`{"starting_at", "ending_at", "results": [...]}`, one result per group of its `group_by[]`.

Shapes from Anthropic's Admin API reference, "Get Messages Usage Report" and "Get Cost Report"
(as mirrored in gpambrozio/ClaudeDocs docs-md/api/api/admin/usage_report/retrieve_messages.md
and cost_report/retrieve.md @ 003df0d346475e22773f0c70440a9e97684fc8e8).

Usage rows, with the Claude Code importer's meaning of tokens: prompt = `uncached_input_tokens`
+ `cache_creation.ephemeral_5m_input_tokens` + `.ephemeral_1h_input_tokens` (cache writes are
input, priced as writes: 1-hour ones at their own rate), cached input = `cache_read_input_tokens`,
completion = `output_tokens`. `server_tool_use.web_search_requests`, `workspace_id`,
`context_window` and `service_tier` are kept (`batch` is the batch API; another tier is priced as
that tier). The report has no request count: each row counts as one request (REQUESTS_NOT_REPORTED).

Cost rows: `amount` is a decimal string in cents ("123.45" USD is $1.2345) and `currency` is USD
(another is a reject). A cost row is a record with dollars and no tokens or requests; where
usage rows of its day and group are in the store, its dollars are shared among them
(report_costs.py), so that a usage report and a cost report of one period are counted once.
`workspace_id` goes to a team through the directory (`[[teams]] provider_ids`), `api_key_id` is
the record's key (a directory `[[keys]]` id gives its owner and team)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, TextIO

from ..directory import Directory
from ..model import Record, Reject
from ._common import head_values
from ._reports import (
    REQUESTS_NOT_REPORTED,
    amount_usd,
    cost_record,
    count,
    optional_text,
    parse_pages,
    record_id,
    team_for,
)
from .native import BadRecord, parse_ts, shown

NAME = "anthropic"
PROVIDER = "anthropic"
USAGE, COST = "anthropic-usage", "anthropic-cost"
_USAGE_KEYS = ("uncached_input_tokens", "cache_read_input_tokens", "cache_creation", "output_tokens")
_HEAD = re.compile(r'"starting_at"\s*:')
_HEAD_RESULT = re.compile(r'"(uncached_input_tokens|cache_read_input_tokens|amount)"\s*:')


def _is_bucket(value: Any) -> bool:
    return isinstance(value, dict) and "starting_at" in value and isinstance(value.get("results"), list)


def _buckets(value: Any) -> list | None:
    """A page's buckets, or a bucket alone as a list of one; None when it is neither."""
    if _is_bucket(value):
        return [value]
    if isinstance(value, dict) and isinstance(value.get("data"), list) and ("has_more" in value or "next_page" in value):
        return value["data"]
    return None


def _is_result(value: Any) -> bool:
    return isinstance(value, dict) and ("amount" in value or any(k in value for k in _USAGE_KEYS))


def detect(head: str) -> bool:
    """Pages (or buckets) whose buckets start `starting_at` and whose results are usage or cost
    rows; a page too long for the head by its opening."""
    values = head_values(head)
    pages = [b for b in map(_buckets, values) if b is not None]
    if pages:
        buckets = [b for page in pages for b in page]
        return (all(_is_bucket(b) for b in buckets) and any(b["results"] for b in buckets)
                and all(_is_result(r) for b in buckets for r in b["results"]))
    return not values and bool(_HEAD.search(head)) and bool(_HEAD_RESULT.search(head))


def _usage(start_us: int, width: Any, row: dict, directory: Directory | None) -> Record | None:
    cache = row.get("cache_creation")
    if cache is not None and not isinstance(cache, dict):
        raise BadRecord(f"`cache_creation` must be an object, got {shown(cache)}")
    tool = row.get("server_tool_use")
    if tool is not None and not isinstance(tool, dict):
        raise BadRecord(f"`server_tool_use` must be an object, got {shown(tool)}")
    uncached = count(row.get("uncached_input_tokens"), "uncached_input_tokens")
    five = count((cache or {}).get("ephemeral_5m_input_tokens"), "cache_creation.ephemeral_5m_input_tokens")
    hour = count((cache or {}).get("ephemeral_1h_input_tokens"), "cache_creation.ephemeral_1h_input_tokens")
    read = count(row.get("cache_read_input_tokens"), "cache_read_input_tokens")
    output = count(row.get("output_tokens"), "output_tokens")
    searches = count((tool or {}).get("web_search_requests"), "server_tool_use.web_search_requests")
    model = optional_text(row.get("model"), "model")
    key = optional_text(row.get("api_key_id"), "api_key_id")
    workspace = optional_text(row.get("workspace_id"), "workspace_id")
    tier = optional_text(row.get("service_tier"), "service_tier", 64)
    window = optional_text(row.get("context_window"), "context_window", 64)
    if not (uncached or five or hour or read or output or searches):
        return None  # a group with nothing in this bucket
    return Record(
        id=record_id(USAGE, start_us, [width, key, workspace, model, tier, window]), ts_us=start_us,
        provider=PROVIDER, model=model or "unknown", key=key, team=team_for(directory, workspace),
        prompt_tokens=uncached + five + hour, cached_input_tokens=read, completion_tokens=output, requests=1,
        cache_write_tokens=five + hour, cache_write_1h_tokens=hour,
        service_tier=None if tier in (None, "standard", "batch") else tier, batch=tier == "batch",
        metadata={k: v for k, v in (("workspace_id", workspace), ("service_tier", tier), ("context_window", window),
                                    ("web_search_requests", searches or None),
                                    ("requests", REQUESTS_NOT_REPORTED)) if v is not None})


def _cost(start_us: int, width: Any, row: dict, directory: Directory | None) -> Record:
    currency = row.get("currency")
    if currency not in (None, "USD"):
        raise BadRecord(f"`currency` must be USD, got {shown(currency)}")
    usd = amount_usd(row.get("amount"), "amount", cents=True)
    text = {name: optional_text(row.get(name), name) for name in
            ("workspace_id", "description", "model", "cost_type", "token_type", "service_tier", "context_window",
             "inference_geo", "speed")}
    group = sorted((k, v) for k, v in row.items() if k not in ("amount", "currency"))
    return cost_record(record_id(COST, start_us, [width, group]), start_us, PROVIDER,
                       text["model"] or text["cost_type"] or "(all models)", team_for(directory, text["workspace_id"]),
                       None, usd, text)


def _bucket_records(bucket: Any, directory: Directory | None) -> Iterator[Record | tuple[str, BadRecord, Any]]:
    if not _is_bucket(bucket):
        yield "", BadRecord('not a report bucket (expected {"starting_at", "ending_at", "results": [...]})'), bucket
        return
    try:
        start_us = parse_ts(bucket["starting_at"], "starting_at")
    except BadRecord as exc:
        yield "", exc, bucket
        return
    width = bucket.get("ending_at")
    for r, row in enumerate(bucket["results"], 1):
        try:
            if not isinstance(row, dict):
                raise BadRecord("not a result object")
            record = _cost(start_us, width, row, directory) if "amount" in row else _usage(start_us, width, row, directory)
        except BadRecord as exc:
            yield f"result {r}: ", exc, row
            continue
        if record is not None:
            yield record


def parse(stream: TextIO, source: str, head: str = "", directory: Directory | None = None,
          **_: Any) -> Iterator[Record | Reject]:
    yield from parse_pages(stream, source, head, directory, buckets_of=_buckets,
                           is_page=lambda value: not _is_bucket(value), bucket_items=_bucket_records,
                           not_a_page='not a report page (expected {"data": [...], "has_more", "next_page"}, '
                                      'or a bucket)')
