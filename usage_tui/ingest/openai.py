"""OpenAI organization usage: pages of GET /v1/organization/usage/completions (one page object,
a JSON array of pages, or JSON lines of pages). Each result with requests is one record."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, TextIO

from ..model import Record, Reject
from ._common import as_int, documents_in_head, is_single_document, read_documents
from .native import BadRecord, to_record

NAME = "openai"
_GROUP_FIELDS = ("project_id", "user_id", "api_key_id", "model", "batch", "service_tier")


def _is_page(doc: Any) -> bool:
    return isinstance(doc, dict) and doc.get("object") == "page" and isinstance(doc.get("data"), list) and (
        not doc["data"] or any(isinstance(b, dict) and b.get("object") == "bucket" for b in doc["data"]))


def detect(head: str) -> bool:
    if any(_is_page(d) for d in documents_in_head(head)):
        return True
    # a page too long for the head: recognise its opening
    text = head.lstrip()[:400].replace(" ", "").replace("\n", "")
    return '"object":"page"' in text and '"object":"bucket"' in head


def record_id(start_time: int, result: dict) -> str:
    """Stable for a bucket and its group, so a re-import replaces instead of adding."""
    group = json.dumps([start_time, *(result.get(f) for f in _GROUP_FIELDS)], default=str)
    return f"openai:{start_time}:{hashlib.blake2b(group.encode(), digest_size=10).hexdigest()}"


def _records(page: Any) -> Iterator[Record]:
    if not _is_page(page):
        raise BadRecord("not a usage page (expected {\"object\": \"page\", \"data\": [buckets]})")
    for bucket in page["data"]:
        start = bucket.get("start_time")
        if type(start) is not int:
            raise BadRecord(f"bucket `start_time` must be Unix seconds, got {json.dumps(start)}")
        results = bucket.get("results", bucket.get("result", []))
        for result in results:
            requests = as_int(result.get("num_model_requests"), "num_model_requests")
            if requests <= 0:
                continue
            cached = as_int(result.get("input_cached_tokens"), "input_cached_tokens")
            prompt = as_int(result.get("input_tokens"), "input_tokens") - cached  # cached are inside
            extra = {f: result[f] for f in ("batch", "service_tier") if result.get(f) is not None}
            yield to_record({k: v for k, v in {
                "id": record_id(start, result),
                "ts": datetime.fromtimestamp(start, UTC).isoformat(),
                "provider": "openai", "model": result.get("model") or "unknown",
                "user": result.get("user_id"), "key": result.get("api_key_id"), "team": result.get("project_id"),
                "requests": requests, "prompt_tokens": prompt, "cached_input_tokens": cached,
                "completion_tokens": as_int(result.get("output_tokens"), "output_tokens"),
                **extra,
            }.items() if v is not None})


def parse(stream: TextIO, source: str, head: str = "", **_: Any) -> Iterator[Record | Reject]:
    where = "page {}: " if is_single_document(head) else ""
    for number, raw, value in read_documents(stream, head):
        try:
            if isinstance(value, BadRecord):
                raise value
            yield from list(_records(value))  # a bad result rejects its whole page: nothing half-read
        except BadRecord as exc:
            yield Reject(source, number, where.format(number) + str(exc), raw)
