"""OpenAI organization costs: pages of GET /v1/organization/costs (one page, a JSON array of
pages, JSON lines of pages, or the bucket objects alone, as the cookbook's notebook saves them),
beside the usage pages ingest/openai.py reads. A result is `{"object":
"organization.costs.result", "amount": {"value", "currency"}, "line_item", "project_id"}`; the
value is in dollars (a number, or a decimal string), the currency `usd`.

Shapes from OpenAI's API reference, "Costs object" (organization.costs.result), and the
cookbook's "How to use the Usage API and Cost API" (openai/openai-cookbook
examples/completions_usage_api.ipynb).

Each result is a record with dollars and no tokens or requests. `line_item` ("gpt-4o-2024-08-06,
input") names the model before its comma; `project_id` goes to a team through the directory
(`[[teams]] provider_ids`), as the usage pages' do. Where usage records of its day, project and
model are in the store, its dollars are shared among them (report_costs.py): a usage report and
a cost report of one period are counted once."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, TextIO

from ..directory import Directory
from ..model import Record, Reject
from ._common import head_values
from ._reports import amount_usd, cost_record, optional_text, parse_pages, record_id, team_for
from .native import BadRecord, shown

NAME = "openai-costs"
PROVIDER = "openai"
COST = "openai-cost"
RESULT_OBJECT = "organization.costs.result"
_MAX_START = 253_402_300_799  # 9999-12-31T23:59:59Z
_RESULT = re.compile(r'"object"\s*:\s*"organization\.costs\.result"')


def _buckets(value: Any) -> list | None:
    if isinstance(value, dict) and value.get("object") == "page" and isinstance(value.get("data"), list):
        return value["data"]
    if isinstance(value, dict) and value.get("object") == "bucket" and isinstance(value.get("results"), list):
        return [value]
    return None


def detect(head: str) -> bool:
    values = head_values(head)
    pages = [b for b in map(_buckets, values) if b is not None]
    if pages:
        results = [r for page in pages for b in page if isinstance(b, dict)
                   for r in (b.get("results") or []) if isinstance(r, dict)]
        return bool(results) and all(r.get("object") == RESULT_OBJECT for r in results)
    return not values and bool(_RESULT.search(head))


def model_of(line_item: str | None) -> str | None:
    """The model a line item names ("gpt-4o-2024-08-06, input" → gpt-4o-2024-08-06), or None."""
    if not line_item:
        return None
    return line_item.split(",", 1)[0].strip() or None


def _record(start: int, width: Any, row: Any, directory: Directory | None) -> Record:
    if not isinstance(row, dict) or row.get("object") not in (None, RESULT_OBJECT):
        raise BadRecord(f"not a costs result ({shown(row.get('object') if isinstance(row, dict) else row)})")
    amount = row.get("amount")
    if not isinstance(amount, dict):
        raise BadRecord(f"`amount` must be an object {{value, currency}}, got {shown(amount)}")
    currency = amount.get("currency")
    if not isinstance(currency, str) or currency.lower() != "usd":
        raise BadRecord(f"`amount.currency` must be usd, got {shown(currency)}")
    usd = amount_usd(amount.get("value"), "amount.value", cents=False)
    line_item = optional_text(row.get("line_item"), "line_item")
    project = optional_text(row.get("project_id"), "project_id")
    key = optional_text(row.get("api_key_id"), "api_key_id")
    group = sorted((k, v) for k, v in row.items() if k != "amount")
    return cost_record(record_id(COST, start * 1_000_000, [width, group]), start * 1_000_000, PROVIDER,
                       model_of(line_item) or "(all models)", team_for(directory, project), key, usd,
                       {"line_item": line_item, "project_id": project})


def _bucket(bucket: Any, directory: Directory | None) -> Iterator[Record | tuple[str, BadRecord, Any]]:
    start = bucket.get("start_time") if isinstance(bucket, dict) else None
    if type(start) is not int or not 0 <= start <= _MAX_START:
        yield "", BadRecord(f"`start_time` must be Unix seconds, got {shown(start)}"), bucket
        return
    results = bucket.get("results")
    if not isinstance(results, list):
        yield "", BadRecord(f"`results` must be a list, got {shown(results)}"), bucket
        return
    for r, row in enumerate(results, 1):
        try:
            yield _record(start, bucket.get("end_time"), row, directory)
        except BadRecord as exc:
            yield f"result {r}: ", exc, row


def parse(stream: TextIO, source: str, head: str = "", directory: Directory | None = None,
          **_: Any) -> Iterator[Record | Reject]:
    yield from parse_pages(stream, source, head, directory, buckets_of=_buckets,
                           is_page=lambda value: value.get("object") == "page", bucket_items=_bucket,
                           not_a_page='not a costs page (expected {"object": "page", "data": [...]}, or a bucket)')
