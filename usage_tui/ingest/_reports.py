"""Helpers shared by the providers' admin reports (Anthropic's usage and cost reports, OpenAI's
costs): stable record ids, the workspace or project → team mapping, and the cost records.

A report bucket is an aggregate: one record per bucket and group. Record ids start with the
provider, the report and the bucket's UTC start (`anthropic-usage:2025-08-01T00:00:…`), so that
a re-import replaces, and the records of a report and day are found again (report_costs.py)."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, TextIO

from ..directory import Directory
from ..model import MAX_RECORD_COST_USD, Record, Reject, excerpt
from ._common import is_json_lines, json_values
from .native import BadRecord, shown

# What a report's bucket yields: a record, or (where inside the bucket, the error, the bad value).
BucketItems = Callable[[Any, "Directory | None"], Iterator["Record | tuple[str, BadRecord, Any]"]]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Anthropic's usage report has no request count: each of its rows (a bucket and group) counts
# as one request, and the record says so (docs/importing.md).
REQUESTS_NOT_REPORTED = "not reported: 1 per report row"
COST_IN_REPORT = "the cost report's, shared by priced cost (docs/importing.md)"


def when(ts_us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=ts_us)


def record_id(kind: str, ts_us: int, parts: list[Any]) -> str:
    """`<kind>:<UTC start to the minute>:<hash of the bucket's width and group>`."""
    digest = hashlib.blake2b(json.dumps(parts, default=str).encode(), digest_size=10).hexdigest()
    return f"{kind}:{when(ts_us):%Y-%m-%dT%H:%M}:{digest}"


def team_for(directory: Directory | None, provider_id: Any) -> str | None:
    """The directory team whose `provider_ids` name this workspace or project, else the id as the
    report says it (a team of that name: visible in the views until the directory maps it)."""
    if not isinstance(provider_id, str) or not provider_id:
        return None
    mapped = directory.team_of_provider_id(provider_id) if directory is not None else None
    return mapped or provider_id


def optional_text(value: Any, name: str, limit: int = 256) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise BadRecord(f"`{name}` must be text of at most {limit} characters, got {shown(value)}")
    return value


def count(value: Any, name: str) -> int:
    """A token or request count: a JSON integer >= 0 (absent is 0)."""
    if value is None:
        return 0
    if type(value) is not int or value < 0 or value > 10**12:
        raise BadRecord(f"`{name}` must be an integer 0 to 10^12, got {shown(value)}")
    return value


def amount_usd(value: Any, name: str, cents: bool) -> float:
    """A cost: a decimal string or a number, in cents or dollars; >= 0, finite, bounded."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise BadRecord(f"`{name}` must be a decimal number, got {shown(value)}")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise BadRecord(f"`{name}` must be a decimal number, got {shown(value)}") from None
    if not number.is_finite() or number < 0:
        raise BadRecord(f"`{name}` must be a finite amount >= 0, got {shown(value)}")
    usd = float(number / 100 if cents else number)
    if not math.isfinite(usd) or usd > MAX_RECORD_COST_USD:
        raise BadRecord(f"`{name}` must be at most ${MAX_RECORD_COST_USD:,} a row, got {shown(value)}")
    return usd


# A cost row is not a request, but the views list only rows with requests (a row of none is a
# slice emptied by replacements, query.execute): a cost row that keeps its dollars counts as one
# request, so that its dollars show in every view; one whose dollars went to usage records
# counts none (it then holds nothing). The record says so.
COST_ROW_REQUESTS = "not a request: a cost row counts as 1 while it keeps its dollars"


def cost_record(rid: str, ts_us: int, provider: str, model: str, team: str | None, key: str | None,
                usd: float, metadata: dict[str, Any]) -> Record:
    """A row of a cost report: its dollars, no tokens. Its dollars move onto the usage records of
    its day and group where there are any (report_costs.py); the amount as reported stays in
    `report_cost_usd`."""
    meta = {k: v for k, v in metadata.items() if v is not None}
    meta["report_cost_usd"] = usd
    meta["requests"] = COST_ROW_REQUESTS
    return Record(id=rid, ts_us=ts_us, provider=provider, model=model, team=team, key=key, requests=1,
                  cost_usd=usd, metadata=meta)


def parse_pages(stream: TextIO, source: str, head: str, directory: Directory | None, *,
                buckets_of: Callable[[Any], list | None], is_page: Callable[[Any], bool],
                bucket_items: BucketItems, not_a_page: str) -> Iterator[Record | Reject]:
    """A report saved as pages (one document, a JSON array or JSON lines of pages) or as its
    buckets alone: each bucket's records, and each bad part a reject saying where it is
    (`page N: bucket B: result R: reason`)."""
    lines = is_json_lines(head)
    for number, raw, value in json_values(stream, head):
        if isinstance(value, BadRecord):
            yield Reject(source, number, str(value), raw)
            continue
        where = "" if lines else f"page {number}: "
        buckets = buckets_of(value)
        if buckets is None:
            yield Reject(source, number, where + not_a_page, raw)
            continue
        shown_raw = excerpt(raw)
        page = is_page(value)
        for b, bucket in enumerate(buckets, 1):
            for item in bucket_items(bucket, directory):
                if isinstance(item, Record):
                    item.source_line = number if lines else None
                    item.raw = shown_raw
                    yield item
                else:
                    part, exc, what = item
                    inside = f"bucket {b}: " if page else ""
                    yield Reject(source, number, f"{where}{inside}{part}{exc}", json.dumps(what)[:2000])

