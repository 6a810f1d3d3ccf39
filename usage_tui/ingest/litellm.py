"""LiteLLM proxy spend logs: rows of the `LiteLLM_SpendLogs` table, as the proxy's /spend/logs
answers (a JSON array), as JSON lines, or as CSV with the table's column names (psql \\copy)."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from typing import Any, TextIO

from ..model import Record, Reject
from ._common import as_int, as_json_value, head_values, is_json_lines, json_values, present, source_names
from .native import BadRecord, _csv_text, parse_ts, to_record

NAME = "litellm"
_SIGNATURE = ("request_id", "startTime")
_HEAD_SIGNATURE = [re.compile(rf'"{name}"\s*:') for name in _SIGNATURE]
_META_FIELDS = ("end_user", "request_tags", "session_id", "call_type", "model_group")
_STATUS = {"success": 200, "failure": 500}
# Native field names in validation messages, as this table calls them.
_NAMES = {"id": "request_id", "ts": "startTime", "cost_usd": "spend", "key": "api_key", "team": "team_id",
          "agent": "agent_id"}


# -- LiteLLM ------------------------------------------------------------------------------------

def _csv_header(head: str) -> list[str] | None:
    text = head.lstrip()
    if not text or text[0] in "[{":
        return None
    return [c.strip() for c in next(csv.reader([text.splitlines()[0]]), [])]


def detect(head: str) -> bool:
    header = _csv_header(head)
    if header is not None:
        return all(name in header for name in _SIGNATURE)
    values = head_values(head)
    if values:
        return any(isinstance(v, dict) and all(name in v for name in _SIGNATURE) for v in values)
    # no whole row fits in the head (prompts stored in the log): its first keys still show
    return all(pattern.search(head) for pattern in _HEAD_SIGNATURE)


def _cached_tokens(metadata: Any) -> int:
    usage = metadata.get("usage_object") if isinstance(metadata, dict) else None
    if not isinstance(usage, dict):
        return 0
    details = usage.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    if cached is None:
        cached = usage.get("cache_read_input_tokens")
    return as_int(cached, "metadata.usage_object cached tokens")


def _provider_model(row: dict[str, Any]) -> tuple[str, str | None]:
    model = present(row.get("model")) or ""
    if not isinstance(model, str):
        raise BadRecord(f"`model` must be a string, got {json.dumps(model)}")
    provider = present(row.get("custom_llm_provider"))
    prefix, slash, rest = model.partition("/")
    if slash and (provider is None or provider == prefix):
        return prefix, rest or None
    if provider is None:
        raise BadRecord("no provider: `custom_llm_provider` is empty and `model` has no provider/ prefix")
    return provider, model or None


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
    cached = _cached_tokens(as_json_value(row.get("metadata"), "metadata"))
    prompt = as_int(row.get("prompt_tokens"), "prompt_tokens")
    if cached > prompt:  # LiteLLM counts cached tokens inside prompt_tokens (§2.1 Tokens)
        raise BadRecord(f"cached tokens ({cached}) exceed `prompt_tokens` ({prompt})")
    status = _STATUS.get(row.get("status"), 200) if isinstance(row.get("status"), str) else 200
    extra = {name: _tags(row.get(name)) if name == "request_tags" else present(row.get(name))
             for name in _META_FIELDS}
    native = {
        "id": row["request_id"], "ts": start, "provider": provider, "model": model,
        "user": present(row.get("user")), "key": present(row.get("api_key")),
        "team": present(row.get("team_id")), "agent": present(row.get("agent_id")),
        "prompt_tokens": prompt - cached, "cached_input_tokens": cached,
        "completion_tokens": as_int(row.get("completion_tokens"), "completion_tokens"),
        "cost_usd": _spend(present(row.get("spend"))), "status": status,
        **{k: v for k, v in extra.items() if v not in ([], {})},
    }
    return {k: v for k, v in native.items() if v is not None}


def _record(row: Any) -> Record:
    if not isinstance(row, dict):
        raise BadRecord("not a JSON object")
    native = to_native(row)
    try:
        return to_record(native)
    except BadRecord as exc:
        raise source_names(exc, _NAMES) from None


def _parse_csv(stream: TextIO, source: str) -> Iterator[Record | Reject]:
    reader = csv.reader(stream)
    header = [h.strip() for h in next(reader, [])]
    end = reader.line_num
    for row in reader:
        start, end = end + 1, reader.line_num  # a quoted cell may span lines: report the first
        if not any(c.strip() for c in row):
            continue
        if len(row) != len(header):
            yield Reject(source, start, f"expected {len(header)} columns, found {len(row)}", _csv_text(row))
            continue
        try:
            record = _record(dict(zip(header, row, strict=True)))
        except BadRecord as exc:
            yield Reject(source, start, str(exc), _csv_text(row))
            continue
        record.source_line = start
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
        try:
            record = _record(value)
        except BadRecord as exc:
            yield Reject(source, number, where.format(number) + str(exc), raw)
            continue
        record.source_line = number if lines else None  # an element's line is not known
        yield record
