"""Gemini CLI chats (`~/.gemini/tmp/<project>/chats/session-<UTC time>-<id>.jsonl`, a subagent's
in `chats/<parent session>/<session>.jsonl`, and legacy `session-*.json` documents). The first
line of a JSON-lines chat is the session's `{sessionId, projectHash, startTime, ...}`; then
message records, `{"$set": ...}` updates and `{"$rewindTo": ...}` marks. Each `type: "gemini"`
message with `tokens` is one record.

Shapes from google-gemini/gemini-cli packages/core/src/services/chatRecording{Service,Types}.ts
@ 5411f113cafae26161b4969b0237b8e1e024e2c2; rules from ryoppippi/ccusage
rust/crates/ccusage/src/adapter/gemini/{loader,parser}.rs @ 5816e640e8824986f33427203da164b01394a161.

- Gemini CLI appends a whole message again each time it changes (tokens arrive, tool calls are
  updated): the last line of an id wins.
- The id is `gemini:<sessionId>:<message id>`. Resuming a legacy `.json` chat copies every
  message into a `.jsonl` beside it and keeps the `.json`: the copies are the same records
  (ccusage counts them twice).
- Tokens are the API's usage metadata: `input` (promptTokenCount) includes `cached`
  (cachedContentTokenCount) when `total` = input + output + thoughts + tool (ccusage's test);
  else cached is apart. prompt = uncached input + `tool` (toolUsePromptTokenCount), cached input
  = `cached`, completion = `output` + `thoughts` (+ any part of `total` the others do not
  explain); `thoughts` is kept as `reasoning_tokens`.
- `$rewindTo` does not undo spend: rewound messages' API calls happened, and stay counted.
- The model is the message's, else the last one seen in the file; a message with tokens and no
  model anywhere is a reject (ccusage drops it). The provider is `google` (Vertex AI is not
  recorded apart).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from ..model import Record, Reject, excerpt
from ._agent import agent_record, count, table, text
from ._common import first_objects, is_json_lines, whole_document
from .native import BadRecord, dumped, json_lines, parse_json

NAME = "gemini"
_NAMES = {"ts": "timestamp", "model": "model", "id": "sessionId and id"}


def _is_session(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("sessionId"), str) and "projectHash" in value


def detect(head: str) -> bool:
    if not is_json_lines(head):
        # a legacy document too long for the head still opens with its session (JSON.stringify, 2)
        return _is_session(whole_document(head)) or (head.lstrip().startswith('{\n  "sessionId": "')
                                                      and '"projectHash": ' in head)
    return any(_is_session(obj) for obj in first_objects(head, 2))


def tokens_of(tokens: dict[str, Any]) -> tuple[int, int, int, int, int, int]:
    """(prompt, cached, completion, thoughts, tool, total) from a TokensSummary."""
    inp, out = count(tokens, "input", "tokens.input"), count(tokens, "output", "tokens.output")
    cached, thoughts = count(tokens, "cached", "tokens.cached"), count(tokens, "thoughts", "tokens.thoughts")
    tool, total = count(tokens, "tool", "tokens.tool"), count(tokens, "total", "tokens.total")
    inclusive = inp + out + thoughts + tool
    uncached = inp
    if cached and total == inclusive and total != inclusive + cached:  # cached is inside input
        uncached = inp - min(inp, cached)
    prompt = uncached + tool
    extra = max(0, total - (prompt + cached + out + thoughts)) if total else 0
    return prompt, cached, out + thoughts + extra, thoughts, tool, total


class _Chat:
    def __init__(self, source: str, owner: str | None) -> None:
        self.source, self.owner = source, owner
        self.session = Path(source).stem
        self.meta: dict[str, Any] = {}
        self.model: str | None = None

    def line(self, obj: Any) -> Record | None:
        if not isinstance(obj, dict):
            raise BadRecord("not a JSON object")
        if _is_session(obj):
            self.session = obj["sessionId"]
            self.meta = {"project": obj.get("projectHash"), "kind": obj.get("kind")}
            return None
        update = obj.get("$set")
        if isinstance(update, dict) and isinstance(update.get("sessionId"), str):
            self.session = update["sessionId"]
        if obj.get("type") != "gemini":
            return None
        model = text(obj.get("model"), "model")
        if model:
            self.model = model
        if obj.get("tokens") is None:  # recorded before its usage arrived: the usage comes later
            return None
        prompt, cached, completion, thoughts, tool, total = tokens_of(table(obj, "tokens", "tokens"))
        if not (prompt or cached or completion):
            return None
        if not self.model:
            raise BadRecord("no `model` on this message or any before it")
        message_id = text(obj.get("id"), "id")
        if message_id is None:
            raise BadRecord("missing required field `id`")
        return agent_record(
            rid=f"gemini:{self.session}:{message_id}", ts=obj.get("timestamp"), provider="google", model=self.model,
            owner=self.owner, prompt=prompt, cached=cached, completion=completion, names=_NAMES,
            metadata={"reasoning_tokens": thoughts, "tool_tokens": tool, "total_tokens": total,
                      "session": self.session, **self.meta})


def _document(stream: TextIO) -> Iterator[tuple[int, str, Any, str]]:
    """A legacy chat document as (1, raw, value, where) items: the session, then each message."""
    raw = stream.read()
    doc = parse_json(raw)
    if not isinstance(doc, dict):
        yield 1, raw, doc if isinstance(doc, BadRecord) else BadRecord("not a Gemini CLI chat (not a JSON object)"), ""
        return
    yield 1, "", {k: v for k, v in doc.items() if k != "messages"}, ""
    messages = doc.get("messages")
    if not isinstance(messages, list):
        yield 1, "", BadRecord(f"`messages` must be a list, got {dumped(messages, 100)}"), ""
        return
    for i, message in enumerate(messages):
        yield 1, dumped(message), message, f"messages[{i}]: "


def parse(stream: TextIO, source: str, head: str = "", user: str | None = None, viewer: str | None = None,
          **_: Any) -> Iterator[Record | Reject]:
    chat = _Chat(source, user or viewer)
    # The last line of each message id wins; held until the end (a chat is one session's file).
    latest: dict[str, Record] = {}
    items = ((n, raw, obj, "") for n, raw, obj in json_lines(stream)) if is_json_lines(head) else _document(stream)
    for number, raw, obj, where in items:
        try:
            if isinstance(obj, BadRecord):
                raise obj
            record = chat.line(obj)
        except BadRecord as exc:
            yield Reject(source, number, f"{where}{exc}", raw)
            continue
        if record is not None:
            record.source_line, record.raw = number, excerpt(raw)
            latest.pop(record.id, None)
            latest[record.id] = record
    yield from latest.values()
