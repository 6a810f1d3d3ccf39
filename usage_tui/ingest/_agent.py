"""Helpers shared by the readers of local coding agents' sessions (codex, opencode, gemini,
pi_agent, amp; not a format itself): counts, logged costs, epoch times, ids made from a
message's content, and the native record every one of them makes.

What every agent record means (docs/importing.md): `prompt_tokens` is the uncached input
*including* cache writes (as claude_code.py does; the writes are also `cache_write_tokens`, so
they are priced as writes), `cached_input_tokens` the cache reads, `completion_tokens` the
output *including* reasoning. The raw reasoning count and the agent's own total stay in the
metadata (`reasoning_tokens`, `total_tokens`)."""

from __future__ import annotations

import hashlib
import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

from ..model import Record
from ._common import source_names
from .native import MAX_COST_USD, MAX_COUNT, BadRecord, shown, to_record

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z


def count(obj: dict[str, Any], key: str, name: str) -> int:
    """A token count: absent or null is 0; anything but an integer from 0 to 10¹² is a bad line
    whose reason names the field as the agent writes it (`name`)."""
    value = obj.get(key)
    if value is None:
        return 0
    if type(value) is not int:  # bool is an int in Python; 1.5 and "12" are no counts
        raise BadRecord(f"`{name}` must be an integer, got {shown(value)}")
    if value < 0:
        raise BadRecord(f"`{name}` must be >= 0, got {value}")
    if value > MAX_COUNT:
        raise BadRecord(f"`{name}` must be <= {MAX_COUNT:_}, got {value:_}")
    return value


def table(obj: dict[str, Any], key: str, name: str) -> dict[str, Any]:
    """A nested object (`tokens`, `usage`, `cache`); absent or null is an empty one."""
    value = obj.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRecord(f"`{name}` must be an object, got {shown(value)}")
    return value


def logged_cost(value: Any, name: str) -> float | None:
    """A cost the agent logged, in USD. Only a positive one is a cost: OpenCode logs 0 for
    subscription and free providers, pi logs 0 for a model it has no price for. A 0 left as
    absent is priced here (or counted unpriced), never shown as a silent $0."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BadRecord(f"`{name}` must be a number, got {shown(value)}")
    if value < 0:
        raise BadRecord(f"`{name}` must be >= 0, got {value!r}")
    if value > MAX_COST_USD:
        raise BadRecord(f"`{name}` must be <= {MAX_COST_USD:_}, got {value!r}")
    return float(value) if value > 0 else None


def epoch_ms(value: Any, name: str) -> str:
    """Epoch milliseconds (OpenCode's `time.created`, pi's `message.timestamp`) as an ISO time."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BadRecord(f"`{name}` must be epoch milliseconds, got {shown(value)}")
    if not 0 <= value <= _MAX_MS:
        raise BadRecord(f"`{name}` is out of range (epoch milliseconds): {value!r}")
    return (_EPOCH + timedelta(milliseconds=value)).isoformat()


def content_id(prefix: str, *parts: Any) -> str:
    """An id made of what a usage event says, for agents that give it no id of their own (or one
    a copy changes): the same event read from two files, or imported twice, gets the same id,
    and the store's "same id replaces" counts it once."""
    text = json.dumps(parts, separators=(",", ":"), ensure_ascii=False, default=str)
    return f"{prefix}:{hashlib.sha256(text.encode('utf-8', 'surrogatepass')).hexdigest()[:32]}"


def text(value: Any, name: str) -> str | None:
    """An optional string field; anything else is a bad line."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise BadRecord(f"`{name}` must be a string, got {shown(value)}")
    return value


def agent_record(*, rid: str, ts: Any, provider: Any, model: Any, owner: str | None, prompt: int, cached: int,
                 completion: int, cache_write: int = 0, cost: float | None = None,
                 metadata: dict[str, Any] | None = None, names: dict[str, str] | None = None) -> Record:
    """The native record (validated as any native line is: times, bounds, metadata depth); a
    reason names the agent's own fields (`names`: native name → the agent's)."""
    native = {"id": rid, "ts": ts, "provider": provider, "model": model, "user": owner,
              "prompt_tokens": prompt, "cached_input_tokens": cached, "completion_tokens": completion,
              "cost_usd": cost}
    for key, value in (metadata or {}).items():
        if value is not None and value != "" and key not in native:
            native[key] = value
    try:
        record = to_record({k: v for k, v in native.items() if v is not None})
    except BadRecord as exc:
        raise source_names(exc, names or {}) from None
    record.cache_write_tokens = cache_write  # part of prompt_tokens, priced as cache writes
    return record
