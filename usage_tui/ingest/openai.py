"""OpenAI organization usage: pages of GET /v1/organization/usage/completions (one page object,
a JSON array of pages, or JSON lines of pages), or the bucket objects alone: the OpenAI
cookbook's "How to use the Usage API and Cost API" notebook collects every page's `data` into
one list and saves that (`[{"object": "bucket", "start_time": ..., "results": [...]}, ...]`).
Each result with requests is one record; `batch` and `service_tier` are kept on it (they
change its price), `input_cache_write_tokens` are cache writes (inside `input_tokens`, like
`input_cached_tokens`)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, TextIO

from ..model import Record, Reject, excerpt
from ._common import as_int, head_values, is_json_lines, json_values, source_names
from ._reports import team_for
from .native import BadRecord, to_record

NAME = "openai"
RESULT_OBJECT = "organization.usage.completions.result"
_GROUP_FIELDS = ("project_id", "user_id", "api_key_id", "model", "batch", "service_tier")
_NAMES = {"user": "user_id", "key": "api_key_id", "team": "project_id", "requests": "num_model_requests"}
_MAX_START = 253_402_300_799  # 9999-12-31T23:59:59Z
_PAGE = re.compile(r'"object"\s*:\s*"page"')
_BUCKET = re.compile(r'"object"\s*:\s*"bucket"')
_RESULT = re.compile(r'"object"\s*:\s*"(organization\.[\w.]+)"')


def _is_page(value: Any) -> bool:
    return isinstance(value, dict) and value.get("object") == "page" and isinstance(value.get("data"), list)


def _is_bucket(value: Any) -> bool:
    return (isinstance(value, dict) and value.get("object") == "bucket"
            and any(isinstance(value.get(k), list) for k in ("results", "result")))


def _as_page(value: Any) -> dict | None:
    """A page, or a bucket saved without its page (the cookbook's list) as a page of one."""
    if _is_page(value):
        return value
    return {"object": "page", "data": [value]} if _is_bucket(value) else None


def _results(page: dict) -> Iterator[Any]:
    for bucket in page["data"]:
        if isinstance(bucket, dict):
            for key in ("results", "result"):
                if isinstance(bucket.get(key), list):
                    yield from bucket[key]


def detect(head: str) -> bool:
    """Pages of buckets whose results are completions usage (not costs, not embeddings)."""
    if not (_PAGE.search(head) or _BUCKET.search(head)):  # neither a page nor a bucket: nothing to parse
        return False
    pages = [p for p in map(_as_page, head_values(head)) if p is not None]
    if pages:
        kinds = [r.get("object") for p in pages for r in _results(p) if isinstance(r, dict)]
        return any(p["data"] for p in pages) and all(kind in (None, RESULT_OBJECT) for kind in kinds)
    # a page (or a list of buckets) too long for the head: recognise its opening
    opening = bool(_PAGE.search(head)) or head.lstrip().startswith("[")
    return opening and bool(_BUCKET.search(head)) and set(_RESULT.findall(head)) <= {RESULT_OBJECT}


def record_id(start_time: int, result: dict) -> str:
    """Stable for a bucket and its group, so a re-import replaces instead of adding."""
    group = json.dumps([start_time, *(result.get(f) for f in _GROUP_FIELDS)], default=str)
    return f"openai:{start_time}:{hashlib.blake2b(group.encode(), digest_size=10).hexdigest()}"


def _bucket(bucket: Any) -> tuple[int, list]:
    if not isinstance(bucket, dict):
        raise BadRecord("not a bucket object")
    start = bucket.get("start_time")
    if type(start) is not int or not 0 <= start <= _MAX_START:
        raise BadRecord(f"`start_time` must be Unix seconds, got {json.dumps(start)}")
    results = bucket.get("results")
    if results is None:
        results = bucket.get("result", [])
    if not isinstance(results, list):
        raise BadRecord(f"`results` must be a list, got {json.dumps(results)[:80]}")
    return start, results


def _record(start: int, result: Any, directory: Any = None) -> Record | None:
    """One result → a record; None when it holds no requests."""
    if not isinstance(result, dict):
        raise BadRecord("not a result object")
    kind = result.get("object")
    if kind not in (None, RESULT_OBJECT):
        raise BadRecord(f"not a completions usage result ({json.dumps(kind)})")
    requests = as_int(result.get("num_model_requests"), "num_model_requests")
    if requests == 0:
        return None
    total = as_int(result.get("input_tokens"), "input_tokens")
    cached = as_int(result.get("input_cached_tokens"), "input_cached_tokens")
    if cached > total:  # input_tokens include the cached ones (§2.1 Tokens)
        raise BadRecord(f"`input_cached_tokens` ({cached}) exceed `input_tokens` ({total})")
    writes = as_int(result.get("input_cache_write_tokens"), "input_cache_write_tokens")
    if writes > total - cached:  # and the cache writes, which are not cached reads
        raise BadRecord(f"`input_cache_write_tokens` ({writes}) exceed `input_tokens` ({total}) "
                        f"less `input_cached_tokens` ({cached})")
    batch, tier = result.get("batch"), result.get("service_tier")
    if batch not in (None, True, False):
        raise BadRecord(f"`batch` must be true, false or null, got {json.dumps(batch)[:80]}")
    if tier is not None and not (isinstance(tier, str) and 0 < len(tier) <= 64):
        raise BadRecord(f"`service_tier` must be a name, got {json.dumps(tier)[:80]}")
    native = {
        "id": record_id(start, result), "ts": datetime.fromtimestamp(start, UTC).isoformat(),
        "provider": "openai", "model": result.get("model") or "unknown",
        "user": result.get("user_id"), "key": result.get("api_key_id"),
        "team": team_for(directory, result.get("project_id")) if isinstance(result.get("project_id"), str)
        else result.get("project_id"),  # a project the directory maps (issue 25) is its team
        "requests": requests, "prompt_tokens": total - cached, "cached_input_tokens": cached,
        "completion_tokens": as_int(result.get("output_tokens"), "output_tokens"),
    }
    try:
        record = to_record({k: v for k, v in native.items() if v is not None})
    except BadRecord as exc:
        raise source_names(exc, _NAMES) from None
    record.cache_write_tokens, record.batch, record.service_tier = writes, bool(batch), tier
    return record


def _page(page: dict, directory: Any = None) -> Iterator[Record | tuple[str, BadRecord, Any]]:
    """A page's records; a bad bucket or result is (where, error, its JSON) and the rest still
    import."""
    for b, bucket in enumerate(page["data"], 1):
        try:
            start, results = _bucket(bucket)
        except BadRecord as exc:
            yield f"bucket {b}", exc, bucket
            continue
        for r, result in enumerate(results, 1):
            try:
                record = _record(start, result, directory)
            except BadRecord as exc:
                yield f"bucket {b}, result {r}", exc, result
                continue
            if record is not None:
                yield record


def _bucket_records(bucket: dict, number: int, directory: Any = None) -> Iterator[Record | tuple[str, BadRecord, Any]]:
    for item in _page({"data": [bucket]}, directory):
        if isinstance(item, Record):
            yield item
        else:
            inside, exc, part = item
            yield inside.replace("bucket 1", f"bucket {number}", 1), exc, part


def parse(stream: TextIO, source: str, head: str = "", directory: Any = None, **_: Any) -> Iterator[Record | Reject]:
    # In a JSON document the number is the page's position, and the reason says so.
    lines = is_json_lines(head)
    page_word = "" if lines else "page {}: "
    for number, raw, value in json_values(stream, head):
        if isinstance(value, BadRecord):  # malformed JSON: a line, or the whole document
            yield Reject(source, number, str(value), raw)
            continue
        page = _as_page(value)
        if page is None:
            reason = 'not a usage page (expected {"object": "page", "data": [...]}, or a bucket)'
            yield Reject(source, number, page_word.format(number) + reason, raw)
            continue
        # A bucket of the cookbook's list is numbered as the list's element (`bucket N`).
        where = page_word.format(number) if page is value else ""
        shown = excerpt(raw)  # what a record of this page keeps of it, for a later reject
        for item in (_page(value, directory) if page is value else _bucket_records(value, number, directory)):
            if isinstance(item, Record):
                item.source_line = number if lines else None  # a page per line; else unknown
                item.raw = shown
                yield item
            else:
                inside, exc, part = item
                yield Reject(source, number, f"{where}{inside}: {exc}", json.dumps(part)[:2000])
