"""LiteLLM proxy spend logs: rows of the `LiteLLM_SpendLogs` table, as the proxy's /spend/logs
answers (a JSON array), as pages of /spend/logs/v2 or /spend/logs/ui
(`{"data": [rows], "total", "page", "page_size", "total_pages"}`, one page, a JSON array of
pages or JSON lines of pages), as JSON lines, or as CSV with the table's column names
(psql \\copy).

What LiteLLM writes (litellm/proxy/spend_tracking/spend_tracking_utils.py, get_logging_payload):
`custom_llm_provider` is often empty (the column's default, failure rows of requests refused
before routing, older proxies), so the provider is inferred; `spend` is the response cost,
0 when LiteLLM could not price the call; `status` is success/failure, with the failure's
`metadata.error_information.error_code` (the HTTP status, as text)."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from typing import Any, TextIO

from ..model import Record, Reject, csv_text, excerpt
from ..pricing import provider_of
from ._common import as_int, as_json_value, head_values, is_json_lines, json_values, present, source_names
from .native import BadRecord, csv_rows, dumped, parse_ts, row_excerpt, to_record

NAME = "litellm"
_SIGNATURE = ("request_id", "startTime")
_HEAD_SIGNATURE = [re.compile(rf'"{name}"\s*:') for name in _SIGNATURE]
_META_FIELDS = ("end_user", "request_tags", "session_id", "call_type", "model_group")
_FAILED = 500  # a failure row whose error code is no HTTP status
_PAGE_KEYS = ("data", "total_pages")
# An empty page has no rows to show what it is: all of the endpoints' page fields must be there.
_EMPTY_PAGE_KEYS = {"data", "total", "page", "page_size", "total_pages"}
_EMPTY_PAGE_PATTERN = {name: re.compile(rf'"{name}"\s*:') for name in _EMPTY_PAGE_KEYS}
# Native field names in validation messages, as this table calls them.
_NAMES = {"id": "request_id", "ts": "startTime", "cost_usd": "spend", "key": "api_key", "team": "team_id",
          "agent": "agent_id"}


# -- LiteLLM ------------------------------------------------------------------------------------

def _csv_header(head: str) -> list[str] | None:
    text = head.lstrip()
    if not text or text[0] in "[{":
        return None
    try:
        return [c.strip() for c in next(csv.reader([text.splitlines()[0]]), [])]
    except csv.Error:  # e.g. a first "cell" over the csv field limit: no header we know
        return []


def _is_page(value: Any) -> bool:
    """A page of /spend/logs/v2 or /spend/logs/ui: `{"data": [rows], "total_pages": N, ...}`."""
    return isinstance(value, dict) and all(k in value for k in _PAGE_KEYS) and isinstance(value["data"], list)


def _is_row(value: Any) -> bool:
    return isinstance(value, dict) and all(name in value for name in _SIGNATURE)


def detect(head: str) -> bool:
    header = _csv_header(head)
    if header is not None:
        return all(name in header for name in _SIGNATURE)
    # A row's or a page's keys are in the head's text: a head without them (another tool's log,
    # whose 20 first lines are up to 64 KiB of JSON) is not parsed at all.
    if not (all(pattern.search(head) for pattern in _HEAD_SIGNATURE)
            or all(_EMPTY_PAGE_PATTERN[k].search(head) for k in _EMPTY_PAGE_KEYS)):
        return False
    values = head_values(head)
    if values:
        return any(_is_row(v) or (_is_page(v) and (any(_is_row(r) for r in v["data"][:20])
                                                   or (not v["data"] and _EMPTY_PAGE_KEYS <= v.keys())))
                   for v in values)
    # no whole row fits in the head (prompts stored in the log): its first keys still show
    return all(pattern.search(head) for pattern in _HEAD_SIGNATURE)


def _cache_tokens(metadata: Any) -> tuple[int, int]:
    """(cache reads, cache writes) from `metadata.usage_object`, LiteLLM's copy of the
    provider's usage: reads in `prompt_tokens_details.cached_tokens` (OpenAI's name) or
    `cache_read_input_tokens` (Anthropic's), writes in `cache_creation_input_tokens`."""
    usage = metadata.get("usage_object") if isinstance(metadata, dict) else None
    if not isinstance(usage, dict):
        return 0, 0
    details = usage.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    if cached is None:
        cached = usage.get("cache_read_input_tokens")
    writes = _count(usage.get("cache_creation_input_tokens"), "metadata.usage_object.cache_creation_input_tokens")
    return _count(cached, "metadata.usage_object cached tokens"), writes


def _count(value: Any, name: str) -> int:
    """A token count: an integer >= 0. Checked before counts are compared or subtracted, so
    that a negative one is reported as itself, not as a comparison it made fail."""
    count = as_int(value, name)
    if count < 0:
        raise BadRecord(f"`{name}` must be >= 0, got {count}")
    return count


def _provider_model(row: dict[str, Any]) -> tuple[str, str]:
    """Provider: `custom_llm_provider`, else the `model`'s provider/ prefix, else the provider
    genai-prices knows for the model, else `unknown` (a row is never lost for lacking one).
    Model: `model`, else `model_group` (the name the caller asked for), else `unknown`."""
    model = present(row.get("model")) or present(row.get("model_group")) or "unknown"
    if not isinstance(model, str):
        raise BadRecord(f"`model` must be a string, got {json.dumps(model)}")
    provider = present(row.get("custom_llm_provider"))
    if provider is not None and not isinstance(provider, str):
        raise BadRecord(f"`custom_llm_provider` must be a string, got {json.dumps(provider)}")
    prefix, slash, rest = model.partition("/")
    if slash and rest and (provider is None or provider == prefix):
        return prefix, rest
    return provider or provider_of(model) or "unknown", model


def _status(row: dict[str, Any], metadata: Any) -> int:
    """A failure's status is its error code when that is an HTTP status, else 500. Rows of
    proxies older than the `status` column say it in `metadata.status` only. An error code of
    400-599 in `metadata.error_information` is a failure with that status even where the row
    does not say `failure` (rows seen with a 429 there and no status at all: stored as 200,
    they counted a refused request as served)."""
    meta = metadata if isinstance(metadata, dict) else {}
    info = meta.get("error_information")
    code = info.get("error_code") if isinstance(info, dict) else None
    if isinstance(code, str) and code.strip().isdigit():
        code = int(code.strip())
    code = code if type(code) is int and 100 <= code <= 599 else None
    if (present(row.get("status")) or meta.get("status")) != "failure":
        return code if code is not None and code >= 400 else 200
    return code if code is not None else _FAILED


def _logged_cost(row: dict[str, Any], status: int, tokens: int) -> Any:
    """The logged spend; None (price it) when LiteLLM logged 0 for a successful call with
    tokens, which means it could not price it, not that it was free. A cache hit (answered
    from LiteLLM's cache, no provider call) and a failure keep their 0."""
    spend = _spend(present(row.get("spend")))
    cache_hit = str(row.get("cache_hit")).lower() == "true"
    if spend == 0 and status < 400 and tokens > 0 and not cache_hit:
        return None
    return spend


def _spend(value: Any) -> Any:
    if isinstance(value, str):  # CSV
        try:
            return float(value)
        except ValueError:
            raise BadRecord(f"`spend` must be a number, got {json.dumps(value)}") from None
    return value


def _tags(value: Any) -> Any:
    try:
        return as_json_value(value, "request_tags")
    except BadRecord:
        return value  # kept as written: a tag list is not worth rejecting the row


def to_native(row: dict[str, Any]) -> dict[str, Any]:
    """One SpendLogs row → a native record dict, absent values left out."""
    if present(row.get("request_id")) is None:
        raise BadRecord("missing required field `request_id`")
    start = present(row.get("startTime"))
    if start is None:
        raise BadRecord("missing required field `startTime`")
    parse_ts(start, "startTime")
    provider, model = _provider_model(row)
    metadata = as_json_value(row.get("metadata"), "metadata")
    cached, writes = _cache_tokens(metadata)
    prompt = _count(row.get("prompt_tokens"), "prompt_tokens")
    if cached > prompt:  # LiteLLM counts cached tokens inside prompt_tokens (§2.1 Tokens)
        raise BadRecord(f"cached tokens ({cached}) exceed `prompt_tokens` ({prompt})")
    completion = _count(row.get("completion_tokens"), "completion_tokens")
    status = _status(row, metadata)
    extra = {name: _tags(row.get(name)) if name == "request_tags" else present(row.get(name))
             for name in _META_FIELDS}
    native = {
        "id": row["request_id"], "ts": start, "provider": provider, "model": model,
        "user": present(row.get("user")), "key": present(row.get("api_key")),
        "team": present(row.get("team_id")), "agent": present(row.get("agent_id")),
        "prompt_tokens": prompt - cached, "cached_input_tokens": cached, "completion_tokens": completion,
        "cost_usd": _logged_cost(row, status, prompt + completion), "status": status,
        **{k: v for k, v in extra.items() if v not in ([], {})},
    }
    native = {k: v for k, v in native.items() if v is not None}
    # Anthropic's cache writes are inside LiteLLM's prompt_tokens, with the reads: a count
    # beyond what is left of them is not believed past that (it only moves tokens between rates).
    native["cache_write_tokens"] = min(writes, max(prompt - cached, 0))
    return native


def _record(row: Any) -> Record:
    if not isinstance(row, dict):
        raise BadRecord("not a JSON object")
    native = to_native(row)
    writes = native.pop("cache_write_tokens")
    try:
        record = to_record(native)
    except BadRecord as exc:
        raise source_names(exc, _NAMES) from None
    record.cache_write_tokens = writes
    return record


def _parse_csv(stream: TextIO, source: str) -> Iterator[Record | Reject]:
    rows = csv_rows(stream)  # the shared reader: a refused or non-text row is one reject
    first = next(rows, None)
    header = [h.strip() for h in first[2]] if first and not isinstance(first[2], BadRecord) else []
    for start, _end, row in rows:  # a quoted cell may span lines: report the first
        if isinstance(row, BadRecord):
            yield Reject(source, start, str(row), "")
            continue
        if not any(c.strip() for c in row):
            continue
        if len(row) != len(header):
            yield Reject(source, start, f"expected {len(header)} columns, found {len(row)}", csv_text(row))
            continue
        try:
            record = _record(dict(zip(header, row, strict=True)))
        except BadRecord as exc:
            yield Reject(source, start, str(exc), csv_text(row))
            continue
        record.source_line, record.raw = start, row_excerpt(row)
        yield record


def parse(stream: TextIO, source: str, head: str = "", **_: Any) -> Iterator[Record | Reject]:
    if _csv_header(head) is not None:
        yield from _parse_csv(stream, source)
        return
    # In a JSON array the number is the element's position, and the reason says so.
    lines = is_json_lines(head)
    where = "" if lines else "element {}: "
    for number, raw, value in json_values(stream, head):
        if isinstance(value, BadRecord):  # malformed JSON: a line, or the whole document
            yield Reject(source, number, str(value), raw)
            continue
        # A page of rows: each row is a record, and a bad one says which it was.
        rows = [(f"row {i}: ", row, dumped(row)) for i, row in enumerate(value["data"], 1)] \
            if _is_page(value) else [("", value, raw)]
        for inside, row, row_raw in rows:
            try:
                record = _record(row)
            except BadRecord as exc:
                yield Reject(source, number, where.format(number) + inside + str(exc), row_raw)
                continue
            record.source_line = number if lines else None  # an element's line is not known
            record.raw = excerpt(row_raw)
            yield record
