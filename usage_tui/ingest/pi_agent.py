"""pi coding agent sessions (`${PI_CODING_AGENT_DIR:-~/.pi/agent}/sessions/--<cwd>--/<time>_<uuid>.jsonl`):
a `{"type": "session", "id", "cwd", ...}` header, then entries. Each `type: "message"` entry
whose `message` is an assistant's with `usage` is one record.

Shapes from badlogic/pi-mono packages/coding-agent/src/core/session-manager.ts and
packages/ai/src/types.ts (`Usage`) @ 83378aad7e74a0e2bb8f37c007a9685fb4609d8a; rules from
ryoppippi/ccusage rust/crates/ccusage/src/adapter/pi/parser.rs @ 5816e640e8824986f33427203da164b01394a161.

- pi normalizes every provider into its `Usage`: `input` is uncached, `cacheRead` and
  `cacheWrite` stand apart, `output` includes reasoning. prompt = input + cacheWrite, cached
  input = cacheRead, completion = output (+ any part of `totalTokens` the others do not explain).
- `usage.cost.total` is pi's own price of the message, kept when > 0; pi writes 0 for a model it
  has no price for, and that message is priced here (or counted unpriced). ccusage shows the 0.
- A branch (`createBranchedSession`) is a new file whose header names its parent's file
  (`parentSession`; v1: `branchedFrom`) and that copies the entries on its path unchanged, all
  stamped before the branch's header. Those copies are skipped while the parent's file is there
  (the original is the record, with its own session); and the id is made of the message itself
  (`message.timestamp`, provider, model and the four counts), not of the file, so a copy read
  alone is still the same record. ccusage counts every copy again.
- Time: the entry's `timestamp` (ISO, UTC), else the message's (epoch ms). Provider and model:
  the message's, else the last `model_change` (or a v1 header's `provider`/`modelId`).
Known upstream miscounts we cannot see afterwards: pi counts cached tokens twice for Google
models (google.ts sets input to promptTokenCount, cache included) and reasoning twice for
OpenAI-compatible chat completions (openai-completions.ts adds it to completion_tokens).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from ..model import Record, Reject, excerpt
from ._agent import agent_record, content_id, count, epoch_ms, logged_cost, table, text
from ._common import first_objects
from .native import BadRecord, json_lines, parse_ts

NAME = "pi"
_NAMES = {"ts": "timestamp", "provider": "message.provider", "model": "message.model",
          "cost_usd": "message.usage.cost.total"}


def _is_header(value: Any) -> bool:
    return isinstance(value, dict) and value.get("type") == "session" and "id" in value and "cwd" in value


def detect(head: str) -> bool:
    return any(_is_header(obj) for obj in first_objects(head, 2))


class _Session:
    def __init__(self, source: str, owner: str | None) -> None:
        self.owner = owner
        stem = Path(source).stem
        self.meta: dict[str, Any] = {"session": stem.split("_", 1)[-1]}
        self.provider: str | None = None
        self.model: str | None = None
        self.folder = Path(source).parent
        self.branched: int | None = None  # a branch's creation time (µs), when its parent's file is here

    def _exists(self, parent: str) -> bool:
        """Whether the parent session's file is here: where pi wrote it, or beside this one
        (the sessions folder copied or moved elsewhere)."""
        try:
            return Path(parent).is_file() or (self.folder / Path(parent).name).is_file()
        except (OSError, ValueError):
            return False

    def line(self, obj: Any) -> Record | None:
        if not isinstance(obj, dict):
            raise BadRecord("not a JSON object")
        kind = obj.get("type")
        if kind == "session":
            self.meta = {"session": text(obj.get("id"), "id") or self.meta["session"], "cwd": obj.get("cwd")}
            self._model(obj.get("provider"), obj.get("modelId"))  # a v1 header's
            parent = obj.get("parentSession") or obj.get("branchedFrom")  # v3 / v1 branches
            if isinstance(parent, str) and self._exists(parent):
                self.branched = parse_ts(obj.get("timestamp"), "timestamp")
            return None
        if kind == "model_change":
            self._model(obj.get("provider"), obj.get("modelId"))
            return None
        if kind not in ("message", None):
            return None
        message = obj.get("message")
        if not isinstance(message, dict) or message.get("role") != "assistant" or message.get("usage") is None:
            return None
        if self.branched is not None and isinstance(obj.get("timestamp"), str) \
                and parse_ts(obj["timestamp"], "timestamp") < self.branched:
            return None  # copied from the parent session's file, which is here: that copy is the record
        usage = table(message, "usage", "message.usage")
        inp, out = count(usage, "input", "usage.input"), count(usage, "output", "usage.output")
        read, write = count(usage, "cacheRead", "usage.cacheRead"), count(usage, "cacheWrite", "usage.cacheWrite")
        total = count(usage, "totalTokens", "usage.totalTokens")
        extra = max(0, total - (inp + out + read + write))
        if not (inp or out or read or write or extra):
            return None
        provider = text(message.get("provider"), "message.provider") or self.provider
        model = text(message.get("model"), "message.model") or self.model
        cost = table(usage, "cost", "usage.cost")
        sent = message.get("timestamp")
        ts = obj.get("timestamp")
        if ts in (None, ""):
            if sent is None:
                raise BadRecord("missing required field `timestamp`")
            ts = epoch_ms(sent, "message.timestamp")
        return agent_record(
            rid=content_id("pi", sent if sent is not None else ts, provider, model, inp, out, read, write),
            ts=ts, provider=provider, model=model, owner=self.owner, prompt=inp + write, cached=read,
            completion=out + extra, cache_write=write, cost=logged_cost(cost.get("total"), "usage.cost.total"),
            names=_NAMES,
            metadata={"total_tokens": total or None, "api": message.get("api"), "stop_reason": message.get("stopReason"),
                      "entry": obj.get("id"), **self.meta})

    def _model(self, provider: Any, model: Any) -> None:
        if isinstance(provider, str) and provider:
            self.provider = provider
        if isinstance(model, str) and model:
            self.model = model


def parse(stream: TextIO, source: str, head: str = "", user: str | None = None, viewer: str | None = None,
          **_: Any) -> Iterator[Record | Reject]:
    session = _Session(source, user or viewer)
    for number, raw, obj in json_lines(stream):
        try:
            if isinstance(obj, BadRecord):
                raise obj
            record = session.line(obj)
        except BadRecord as exc:
            yield Reject(source, number, str(exc), raw)
            continue
        if record is not None:
            record.source_line, record.raw = number, excerpt(raw)
            yield record
