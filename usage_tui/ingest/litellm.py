"""LiteLLM proxy spend logs: rows of the `LiteLLM_SpendLogs` table, as the proxy's /spend/logs
answers (a JSON array), as JSON lines, or as CSV with the table's column names (psql \\copy)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from typing import Any, TextIO

from ..model import Record, Reject
from ._common import as_int, as_json_value, documents_in_head, is_single_document, present, read_documents
from .native import BadRecord, looks_like_csv, to_record

NAME = "litellm"
_SIGNATURE = {"request_id", "startTime"}
_META_FIELDS = ("end_user", "request_tags", "session_id", "call_type", "model_group")
_STATUS = {"success": 200, "failure": 500}


def detect(head: str) -> bool:
    if looks_like_csv(head) or head.lstrip().startswith("request_id"):
        header = {c.strip().strip('"') for c in head.lstrip().splitlines()[0].split(",")}
        return _SIGNATURE <= header
    return any(isinstance(d, dict) and _SIGNATURE <= d.keys() for d in documents_in_head(head))


def _cached_tokens(metadata: Any) -> int:
    usage = (metadata or {}).get("usage_object") or {} if isinstance(metadata, dict) else {}
    details = usage.get("prompt_tokens_details") or {}
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    if cached is None:
        cached = usage.get("cache_read_input_tokens")
    return as_int(cached, "metadata.usage_object cached tokens")


def to_native(row: dict[str, Any]) -> dict[str, Any]:
    """One SpendLogs row → a native record dict (validated afterwards by native.to_record)."""
    metadata = as_json_value(row.get("metadata"), "metadata")
    model = present(row.get("model")) or ""
    provider = present(row.get("custom_llm_provider"))
    prefix, slash, rest = model.partition("/")
    if slash and (provider is None or provider == prefix):
        provider, model = prefix, rest
    cached = _cached_tokens(metadata)
    # LiteLLM counts cached tokens inside prompt_tokens (§2.1 Tokens): take them out.
    prompt = as_int(row.get("prompt_tokens"), "prompt_tokens") - cached
    if prompt < 0:
        raise BadRecord(f"cached tokens ({cached}) exceed prompt_tokens ({prompt + cached})")
    status = present(row.get("status"))
    spend = present(row.get("spend"))
    if isinstance(spend, str):
        try:
            spend = float(spend)
        except ValueError:
            raise BadRecord(f"`spend` must be a number, got {json.dumps(spend)}") from None
    ts = present(row.get("startTime"))
    if isinstance(ts, str) and len(ts) > 19 and ts[10] == " " and ts.endswith("+00"):
        ts += ":00"  # psql writes timestamptz as ...+00
    extra = {}
    for name in _META_FIELDS:
        value = as_json_value(row.get(name), name) if name == "request_tags" else present(row.get(name))
        if value not in (None, [], {}):
            extra[name] = value
    return {
        "id": present(row.get("request_id")), "ts": ts, "provider": provider, "model": model or None,
        "user": present(row.get("user")), "key": present(row.get("api_key")),
        "team": present(row.get("team_id")), "agent": present(row.get("agent_id")),
        "prompt_tokens": prompt, "completion_tokens": as_int(row.get("completion_tokens"), "completion_tokens"),
        "cached_input_tokens": cached, "cost_usd": spend,
        "status": _STATUS.get(status, 200) if status is not None else 200,
        **extra,
    }


def _record(row: Any) -> Record:
    if not isinstance(row, dict):
        raise BadRecord("not a JSON object")
    return to_record({k: v for k, v in to_native(row).items() if v is not None})


def parse(stream: TextIO, source: str, head: str = "", **_: Any) -> Iterator[Record | Reject]:
    if looks_like_csv(head) or head.lstrip().startswith("request_id"):
        reader = csv.DictReader(stream)
        for row in reader:
            try:
                yield _record(row)
            except BadRecord as exc:
                yield Reject(source, reader.line_num, str(exc), json.dumps(row))
        return
    # In a JSON array the number is the element's position, and the reason says so.
    where = "element {}: " if is_single_document(head) else ""
    for number, raw, value in read_documents(stream, head):
        try:
            if isinstance(value, BadRecord):
                raise value
            yield _record(value)
        except BadRecord as exc:
            yield Reject(source, number, where.format(number) + str(exc), raw)
