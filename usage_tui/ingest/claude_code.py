"""Claude Code session logs (~/.claude/projects/**/*.jsonl): each assistant message with usage is
a record; other lines (user turns, summaries, tool results) are skipped, not rejected."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, TextIO

from ..model import Record, Reject
from ._common import as_int, first_objects
from .native import BadRecord, json_lines, to_record

NAME = "claude-code"
_META_FIELDS = ("sessionId", "cwd", "gitBranch", "version")


def detect(head: str) -> bool:
    for obj in first_objects(head):
        if isinstance(obj, dict) and (("sessionId" in obj and "type" in obj)
                                      or (obj.get("type") == "summary" and "leafUuid" in obj)):
            return True
    return False


def to_native(line: dict[str, Any], user: str | None) -> dict[str, Any] | None:
    """An assistant line → a native record dict; None for lines that are not usage."""
    message = line.get("message")
    if line.get("type") != "assistant" or not isinstance(message, dict) or not isinstance(message.get("usage"), dict):
        return None
    if message.get("model") == "<synthetic>":  # written by Claude Code itself, not an API call
        return None
    usage = message["usage"]
    writes = as_int(usage.get("cache_creation_input_tokens"), "cache_creation_input_tokens")
    native = {
        "id": f"{message.get('id')}:{line.get('requestId', '')}" if message.get("id") else None,
        "ts": line.get("timestamp"), "provider": "anthropic", "model": message.get("model"), "user": user,
        # Anthropic counts cache reads apart from input; cache writes are input, priced as writes.
        "prompt_tokens": as_int(usage.get("input_tokens"), "input_tokens") + writes,
        "cached_input_tokens": as_int(usage.get("cache_read_input_tokens"), "cache_read_input_tokens"),
        "completion_tokens": as_int(usage.get("output_tokens"), "output_tokens"),
        "cost_usd": line.get("costUSD"),
        **{f: line[f] for f in _META_FIELDS if line.get(f) is not None},
    }
    return {k: v for k, v in native.items() if v is not None} | {"_cache_writes": writes}


def parse(stream: TextIO, source: str, head: str = "", user: str | None = None, viewer: str | None = None,
          **_: Any) -> Iterator[Record | Reject]:
    owner = user or viewer
    for number, raw, obj in json_lines(stream):
        try:
            if isinstance(obj, BadRecord):
                raise obj
            native = to_native(obj, owner) if isinstance(obj, dict) else None
            if native is None:
                continue  # user turns, summaries, tool results: not usage
            writes = native.pop("_cache_writes")
            record = to_record(native)
            record.cache_write_tokens = writes
            yield record
        except BadRecord as exc:
            yield Reject(source, number, str(exc), raw)
