"""Amp threads (`~/.local/share/amp/threads/T-<uuid>.json`): one JSON document per thread,
rewritten whole as the thread grows, so it is read whole each time (never tailed).

Amp's source is not public: shapes and rules are ryoppippi/ccusage's
rust/crates/ccusage/src/adapter/amp/parser.rs and src/main.rs tests @
5816e640e8824986f33427203da164b01394a161, and apps/amp/src/data-loader.ts @
528051512c9f046a5d5bded28a596e6b9b8fd2a6.

- When the thread has `usageLedger.events`, each event is one record, and the messages' usage
  is not read again: `tokens.input`/`.output`, with the cache counts of the assistant message
  `toMessageId` names. Else each assistant message's `usage` is one record.
- Anthropic semantics (`totalInputTokens` = input + cache writes + cache reads in every thread
  seen): prompt = input + cacheCreationInputTokens, cached input = cacheReadInputTokens,
  completion = output (+ any part of a `total` the others do not explain).
- The id is `amp:<thread id>:<event id>` (or `:m<messageId>`): a rewritten thread read again
  replaces its records, never adds to them.
- `credits` are Amp's billing unit, not dollars: kept in the metadata, never as a cost; the
  tokens are priced. Amp records no provider: it is the one genai-prices knows for the model
  (`claude-*` → anthropic), else `unknown` (and the record unpriced).
- A record without a timestamp is a reject naming the field (no guess from the thread's
  `created`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, TextIO

from ..model import Record, Reject, excerpt
from ..pricing import provider_of
from ._agent import agent_record, count, table, text
from ._common import whole_document
from .native import BadRecord, dumped, parse_json

NAME = "amp"
_OPENING = re.compile(r'\A\s*\{\s*"v"\s*:\s*\d+\s*,\s*"id"\s*:\s*"T-')


def _is_thread(value: Any) -> bool:
    return (isinstance(value, dict) and isinstance(value.get("id"), str)
            and (value["id"].startswith("T-") or type(value.get("v")) is int)
            and (isinstance(value.get("messages"), list) or isinstance(value.get("usageLedger"), dict)))


def detect(head: str) -> bool:
    # a thread longer than the head still opens with its version and id
    return _is_thread(whole_document(head)) or bool(_OPENING.match(head))


def provider_for(model: str) -> str:
    return provider_of(model) or "unknown"


def _record(thread: dict[str, Any], rid: str, ts: Any, model: Any, inp: int, out: int, total: int,
            cache: dict[str, Any], credits: Any, operation: Any, owner: str | None) -> Record | None:
    write = count(cache, "cacheCreationInputTokens", "cacheCreationInputTokens")
    read = count(cache, "cacheReadInputTokens", "cacheReadInputTokens")
    extra = max(0, total - (inp + out + write + read))
    if not (inp or out or write or read or extra):
        return None
    if ts in (None, ""):
        raise BadRecord("missing required field `timestamp`")
    model = text(model, "model")
    if model is None:
        raise BadRecord("missing required field `model`")
    return agent_record(
        rid=rid, ts=ts, provider=provider_for(model), model=model, owner=owner, prompt=inp + write, cached=read,
        completion=out + extra, cache_write=write, names={"ts": "timestamp"},
        metadata={"credits": credits if isinstance(credits, int | float) and not isinstance(credits, bool) else None,
                  "operation": operation, "thread": thread.get("id"), "title": thread.get("title"),
                  "total_tokens": total or None})


def _cache_counts(usage_of: dict[Any, dict[str, Any]], message_id: Any) -> dict[str, Any]:
    """The usage of the assistant message an event names (for its cache counts), or none."""
    return usage_of.get(message_id, {}) if isinstance(message_id, int | str) else {}


def _items(thread: dict[str, Any], owner: str | None) -> Iterator[tuple[str, Record | BadRecord | None]]:
    """(raw, record) per usage event of a thread; a bad one is a BadRecord naming where it is."""
    listed = thread.get("messages")
    # A thread whose `messages` is not a list has no usage in it (its ledger may still have some).
    messages = [m for m in listed if isinstance(m, dict) and m.get("role") == "assistant"] \
        if isinstance(listed, list) else []
    ledger = thread.get("usageLedger")
    events = ledger.get("events") if isinstance(ledger, dict) else None
    if isinstance(events, list):
        usage_of = {m.get("messageId"): m.get("usage") for m in messages
                    if isinstance(m.get("usage"), dict) and isinstance(m.get("messageId"), int | str)}
        for i, event in enumerate(events):
            try:
                if not isinstance(event, dict):
                    raise BadRecord("not an object")
                tokens = table(event, "tokens", "tokens")
                event_id = event.get("id")
                if not isinstance(event_id, str | int) or isinstance(event_id, bool) or event_id == "":
                    raise BadRecord("missing required field `id`")
                yield dumped(event), _record(
                    thread, f"amp:{thread['id']}:{event_id}", event.get("timestamp"), event.get("model"),
                    count(tokens, "input", "tokens.input"), count(tokens, "output", "tokens.output"),
                    count(tokens, "total", "tokens.total"), _cache_counts(usage_of, event.get("toMessageId")),
                    event.get("credits"), event.get("operationType"), owner)
            except BadRecord as exc:
                yield dumped(event), BadRecord(f"usageLedger.events[{i}]: {exc}")
        return
    for i, message in enumerate(messages):
        if message.get("usage") is None:
            continue
        number = message.get("messageId", i)
        try:
            usage = table(message, "usage", "usage")
            yield dumped(usage), _record(
                thread, f"amp:{thread['id']}:m{number}", usage.get("timestamp") or message.get("timestamp"),
                usage.get("model") or message.get("model"), count(usage, "inputTokens", "usage.inputTokens"),
                count(usage, "outputTokens", "usage.outputTokens"), count(usage, "totalTokens", "usage.totalTokens"),
                usage, usage.get("credits"), None, owner)
        except BadRecord as exc:
            yield dumped(message.get("usage")), BadRecord(f"messages (messageId {dumped(number, 40)}): {exc}")


def parse(stream: TextIO, source: str, head: str = "", user: str | None = None, viewer: str | None = None,
          **_: Any) -> Iterator[Record | Reject]:
    raw = stream.read()
    thread = parse_json(raw)
    if isinstance(thread, BadRecord):
        yield Reject(source, 1, str(thread), raw)
        return
    if not _is_thread(thread):
        yield Reject(source, 1, 'not an Amp thread (an object with an `id` "T-..." and `messages`)', raw)
        return
    # A thread is one document: its events have no line of their own (each reject says where).
    for text_of, record in _items(thread, user or viewer):
        if isinstance(record, BadRecord):
            yield Reject(source, 1, str(record), text_of)
        elif record is not None:
            record.source_line, record.raw = 1, excerpt(text_of)
            yield record
