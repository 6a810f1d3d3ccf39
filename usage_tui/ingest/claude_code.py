"""Claude Code session logs (~/.claude/projects/**/*.jsonl): each assistant message with usage is
a record; other lines (user turns, summaries, snapshots, tool results) are skipped, not rejected.

A subagent's messages are in its own file (`<session>/subagents/agent-*.jsonl`), and are also
relayed into the parent session as `type: "progress"` lines (`data.type: "agent_progress"`)
whose `data.message` is the subagent's own transcript line. When the subagent's file is gone
the progress lines are the only record of that spend, so they are read too; the record id
is the same `message.id:requestId` either way (the key ccusage deduplicates by), so a message
seen in both places is one record. (ccusage's daily report reads them the same way: its
DailyAgentProgressEntry takes data.message's timestamp, message, costUSD and requestId.)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, TextIO

from ..model import Record, Reject, excerpt
from ._common import as_int, first_objects, is_json_lines, source_names
from .native import BadRecord, json_lines, parse_ts, to_record

NAME = "claude-code"
_META_FIELDS = ("sessionId", "cwd", "gitBranch", "version")
_CONVERSATION_TYPES = ("user", "assistant", "system", "progress")
_NAMES = {"id": "message.id", "ts": "timestamp", "model": "message.model", "cost_usd": "costUSD"}


def _is_log_line(obj: Any) -> bool:
    if not isinstance(obj, dict):
        return False
    kind = obj.get("type")
    if kind == "summary":
        return "leafUuid" in obj
    if kind == "file-history-snapshot":
        return "messageId" in obj
    if kind == "queue-operation":
        return "sessionId" in obj
    return kind in _CONVERSATION_TYPES and "sessionId" in obj and "uuid" in obj


def detect(head: str) -> bool:
    # A log opens like a log line: known without parsing the head's lines (~1,900 files a folder),
    # and also when its first line is longer than the head (a long pasted prompt).
    opening = head.lstrip()[:2000]
    if opening.startswith('{"parentUuid":') and '"sessionId":' in opening:
        return True
    return any(_is_log_line(obj) for obj in first_objects(head))


def usage_line(line: Any) -> Any:
    """The transcript line carrying an API response: the line itself, or for a subagent's
    progress line the subagent's line inside it (`data.message`), with the parent line's
    timestamp and session fields where the inner line has none."""
    if not isinstance(line, dict) or line.get("type") != "progress":
        return line
    data = line.get("data")
    inner = data.get("message") if isinstance(data, dict) else None
    if not isinstance(inner, dict):
        return None
    return {**{k: line.get(k) for k in ("timestamp", *_META_FIELDS)},
            **{k: v for k, v in inner.items() if v is not None}}


def cache_writes(usage: dict[str, Any]) -> tuple[int, int]:
    """(all cache-write tokens, the 1-hour ones). The total is `cache_creation_input_tokens`
    (the sum of the split when only the split is given); the `cache_creation` split says how many
    of them are 1-hour writes, the rest being 5-minute ones (a missing or empty split: all). A
    split whose parts exceed the total contradicts it: which to bill is a guess, so a reject."""
    split = usage.get("cache_creation")
    if split is not None and not isinstance(split, dict):
        raise BadRecord("`cache_creation` is not an object")
    split = split or {}
    five_minute = _count(split, "ephemeral_5m_input_tokens")
    one_hour = _count(split, "ephemeral_1h_input_tokens")
    if usage.get("cache_creation_input_tokens") is None:
        return five_minute + one_hour, one_hour
    total = _count(usage, "cache_creation_input_tokens")
    if five_minute + one_hour > total:
        raise BadRecord(f"`cache_creation` parts ({five_minute:,} 5-minute + {one_hour:,} 1-hour) exceed "
                        f"`cache_creation_input_tokens` ({total:,})")
    return total, one_hour


def to_native(line: dict[str, Any], user: str | None) -> dict[str, Any] | None:
    """An assistant line → a native record dict; None for lines that are not API usage."""
    message = line.get("message")
    if line.get("type") != "assistant" or not isinstance(message, dict):
        return None
    if not isinstance(message.get("usage"), dict):
        return None
    if message.get("model") == "<synthetic>":  # written by Claude Code itself, not an API call
        return None
    if not message.get("id") or not isinstance(message["id"], str):
        raise BadRecord("missing required field `message.id`")
    if line.get("timestamp") in (None, ""):
        raise BadRecord("missing required field `timestamp`")
    parse_ts(line["timestamp"], "timestamp")
    usage = message["usage"]
    request = line.get("requestId")
    native = {
        # Streaming writes one message several times under one id: the last line wins.
        "id": f"{message['id']}:{request}" if request else message["id"],
        "ts": line["timestamp"], "provider": "anthropic", "model": message.get("model"), "user": user,
        # Anthropic counts cache reads apart from input, and cache writes as input.
        "prompt_tokens": _count(usage, "input_tokens") + cache_writes(usage)[0],
        "cached_input_tokens": _count(usage, "cache_read_input_tokens"),
        "completion_tokens": _count(usage, "output_tokens"),
        "cost_usd": line.get("costUSD"),
        **{f: line.get(f) for f in _META_FIELDS},
    }
    return {k: v for k, v in native.items() if v is not None}


def _count(usage: dict[str, Any], name: str) -> int:
    # Checked one by one: a negative count would hide in the sum of input and cache writes.
    count = as_int(usage.get(name), name)
    if count < 0:
        raise BadRecord(f"`{name}` must be >= 0, got {count}")
    return count


def _record(line: Any, user: str | None) -> Record | None:
    if not isinstance(line, dict):
        raise BadRecord("not a JSON object")
    line = usage_line(line)
    if line is None:
        return None
    native = to_native(line, user)
    if native is None:
        return None
    try:
        record = to_record(native)
    except BadRecord as exc:
        raise source_names(exc, _NAMES) from None
    # part of prompt_tokens, priced as cache writes rather than as plain input
    record.cache_write_tokens, record.cache_write_1h_tokens = cache_writes(line["message"]["usage"])
    return record


def parse(stream: TextIO, source: str, head: str = "", user: str | None = None, viewer: str | None = None,
          **_: Any) -> Iterator[Record | Reject]:
    # A folder import also hands over the .json files next to the logs (sessions-index.json):
    # whole JSON documents are not session logs.
    if not source.endswith(".jsonl") and not is_json_lines(head):
        return
    owner = user or viewer
    # A streamed message is written as consecutive lines of one id (one per content block), the
    # last one complete: only that one is passed on, so the copies are never counted, not even
    # when a batch boundary falls between them.
    pending: Record | None = None
    for number, raw, obj in json_lines(stream):
        try:
            if isinstance(obj, BadRecord):
                raise obj
            record = _record(obj, owner)
        except BadRecord as exc:
            yield Reject(source, number, str(exc), raw)
            continue
        if record is not None:
            record.source_line, record.raw = number, excerpt(raw)
            if pending is not None and pending.id != record.id:
                yield pending
            pending = record
    if pending is not None:
        yield pending
