"""Codex CLI rollouts (`${CODEX_HOME:-~/.codex}/sessions/YYYY/MM/DD/rollout-*.jsonl`, and the same
under `archived_sessions/`): JSON lines `{timestamp, type, payload}`. Each `event_msg` whose
payload is a `token_count` with usage is one record.

Read as ccusage reads them (ryoppippi/ccusage rust/crates/ccusage/src/adapter/codex/{parser,
loader}.rs @ 5816e640e8824986f33427203da164b01394a161):
- usage is `info.last_token_usage`, else the delta of the cumulative `info.total_token_usage`
  since the file's previous total (per field, never below 0); `info: null` is rate limits only;
- `input_tokens` include `cached_input_tokens` (OpenAI's convention) and `output_tokens` include
  `reasoning_output_tokens`: prompt = input − cached, completion = output, the reasoning count is
  kept in the metadata;
- the model is the token_count's own (`model`, `model_name`, `metadata.model`, on the payload or
  its `info`), else the last `turn_context`'s; else `gpt-5`, and `codex-auto-review` is the model
  Codex used for reviews at the event's date; both are marked `model_inferred`;
- the id is made of (timestamp as written, model, input, cached, output, reasoning, total):
  ccusage's event key. So the same event in `sessions/` and `archived_sessions/`, or copied
  verbatim into a branch's file, or imported twice, is one record;
- a subagent's (`source.subagent.thread_spawn`) or fork's (`forked_from_id`) file starts with
  the parent's history replayed with every timestamp rewritten to the second the child was made:
  when its first two usage events share one second, every leading token_count of that second is
  the parent's and skipped (its total still sets the baseline of the next delta). ccusage did
  this for subagents; forks since its PR #1369.
Timestamps inside are UTC; folder and file names are local time and never read.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, TextIO

from ..model import Record, Reject, excerpt
from ._agent import agent_record, content_id, count
from ._common import first_objects
from .native import BadRecord, json_lines, shown

NAME = "codex"
# a tuple, not a set: a line's `type` may be any JSON value (a list is not hashable)
_LINE_TYPES = ("session_meta", "turn_context", "event_msg", "response_item", "compacted")
_FIELDS = ("input_tokens", "cached_input_tokens", "output_tokens", "reasoning_output_tokens", "total_tokens")
FALLBACK_MODEL = "gpt-5"  # builds of early September 2025 wrote no turn_context
# The model behind Codex's `codex-auto-review` label, by the event's UTC date (ccusage's
# codex-auto-review-fallbacks.json @ 5816e64), newest first.
AUTO_REVIEW = (("2026-04-23", "gpt-5.5"), ("2026-03-05", "gpt-5.4"), ("2026-02-05", "gpt-5.3-codex"),
               ("2025-12-11", "gpt-5.2-codex"), ("2025-11-13", "gpt-5.1-codex"), ("2025-09-15", "gpt-5-codex"))
# A subagent's or fork's token counts (and the contexts between them) are held from its first
# usage event until its second shows whether they are a replay; beyond this many held lines it
# is taken as not one (the lines are not held without end).
REPLAY_LOOKAHEAD_LINES = 10_000
_NAMES = {"ts": "timestamp", "model": "turn_context.payload.model"}


def _is_rollout_line(obj: Any) -> bool:
    return (isinstance(obj, dict) and obj.get("type") in _LINE_TYPES and isinstance(obj.get("payload"), dict)
            and "timestamp" in obj)


def detect(head: str) -> bool:
    return any(_is_rollout_line(obj) for obj in first_objects(head))


def timestamp(value: Any) -> str:
    """The line's time as ISO text: as written, or from epoch seconds (milliseconds above 1e10)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value / 1000 if value > 1e10 else value
        try:
            return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        except (OverflowError, OSError, ValueError):
            raise BadRecord(f"`timestamp` is out of range: {shown(value)}") from None
    if value is None or value == "":
        raise BadRecord("missing required field `timestamp`")
    if not isinstance(value, str):
        raise BadRecord(f"`timestamp` must be an ISO 8601 timestamp, got {shown(value)}")
    return value


def model_of(payload: dict[str, Any]) -> str | None:
    """A model named by a payload (or its `info`): `model`, `model_name`, `metadata.model`."""
    for where in (payload, payload.get("info")):
        if not isinstance(where, dict):
            continue
        meta = where.get("metadata")
        for value in (where.get("model"), where.get("model_name"), meta.get("model") if isinstance(meta, dict) else None):
            if isinstance(value, str) and value:
                return value
    return None


def auto_review_model(ts: str) -> str:
    day = ts[:10]
    return next((model for since, model in AUTO_REVIEW if day >= since), FALLBACK_MODEL)


def _usage(value: Any, name: str) -> dict[str, int] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise BadRecord(f"`{name}` must be an object, got {shown(value)}")
    return {f: count(value, f, f"{name}.{f}") for f in _FIELDS}


def _token_info(line: dict[str, Any]) -> dict[str, Any] | None:
    """The `info` of a token_count line, or None for any other line (and for rate limits only)."""
    payload = line["payload"]
    if line.get("type") != "event_msg" or payload.get("type") != "token_count":
        return None
    info = payload.get("info")
    return info if isinstance(info, dict) else None


class _Session:
    """One rollout's state, line by line."""

    def __init__(self, source: str, owner: str | None) -> None:
        self.source, self.owner = source, owner
        self.model: str | None = None
        self.previous: dict[str, int] | None = None  # the last cumulative total
        self.meta: dict[str, Any] = {}
        self.seen_meta = False
        self.replay_candidate = False  # a subagent's or a fork's file
        self.replay_second: str | None = None  # skipping token_counts stamped in this second
        self.provider: str | None = None  # session_meta's model_provider, when Codex writes one

    def context(self, line: dict[str, Any]) -> None:
        payload = line["payload"]
        if line["type"] == "session_meta":
            source = payload.get("source")
            spawned = isinstance(source, dict) and isinstance(source.get("subagent"), dict) \
                and "thread_spawn" in source["subagent"]
            if spawned or payload.get("forked_from_id"):
                self.replay_candidate = True
            if not self.seen_meta:  # a subagent's file holds its parent's session_meta second
                self.seen_meta = True
                self.meta = {"session": payload.get("id"), "cwd": payload.get("cwd"),
                             "cli_version": payload.get("cli_version"), "originator": payload.get("originator"),
                             "forked_from_id": payload.get("forked_from_id")}
                provider = payload.get("model_provider")
                self.provider = provider.lower() if isinstance(provider, str) and provider else None
        elif line["type"] == "turn_context":
            model = model_of(payload)
            if model:
                self.model = model
            if isinstance(payload.get("cwd"), str):
                self.meta["cwd"] = payload["cwd"]

    def event(self, line: dict[str, Any], info: dict[str, Any]) -> Record | None:
        ts = timestamp(line.get("timestamp"))
        total = _usage(info.get("total_token_usage"), "info.total_token_usage")
        last = _usage(info.get("last_token_usage"), "info.last_token_usage")
        if self.replay_second is not None:
            if ts[:19] == self.replay_second:  # the parent's history, replayed: not new spend
                if total:
                    self.previous = total
                return None
            self.replay_second = None
        if last is not None:
            usage = last
        elif total is not None:
            before = self.previous or {}
            usage = {f: max(0, total[f] - before.get(f, 0)) for f in _FIELDS}
        else:
            usage = None
        if total is not None:
            self.previous = total
        explicit = model_of(line["payload"])
        if explicit:
            self.model = explicit
        if usage is None:
            return None
        inp, out, reasoning = usage["input_tokens"], usage["output_tokens"], usage["reasoning_output_tokens"]
        cached = min(usage["cached_input_tokens"], inp)
        if not (inp or usage["cached_input_tokens"] or out or reasoning):
            return None
        model, inferred = self.model, False
        if not model:
            model, inferred = FALLBACK_MODEL, True
        elif model == "codex-auto-review":
            model, inferred = auto_review_model(ts), True
        key = (ts, model, inp, cached, out, reasoning, usage["total_tokens"])
        return agent_record(
            rid=content_id("codex", *key), ts=ts, provider=self.provider or "openai", model=model, owner=self.owner,
            prompt=inp - cached, cached=cached, completion=out, names=_NAMES,
            metadata={"reasoning_tokens": reasoning, "total_tokens": usage["total_tokens"],
                      **self.meta, "model_inferred": True if inferred else None})


def parse(stream: TextIO, source: str, head: str = "", user: str | None = None, viewer: str | None = None,
          **_: Any) -> Iterator[Record | Reject]:
    session = _Session(source, user or viewer)
    held: list[tuple[int, str, Any]] | None = None  # lines from the first usage event, while undecided
    usage_seconds: list[str] = []

    def handle(number: int, raw: str, obj: Any) -> Iterator[Record | Reject]:
        try:
            if isinstance(obj, BadRecord):
                raise obj
            if not isinstance(obj, dict):
                raise BadRecord("not a JSON object")
            if not _is_rollout_line(obj):
                return  # another kind of line (Codex adds new ones): no usage
            info = _token_info(obj)
            if info is None:
                session.context(obj)
                return
            record = session.event(obj, info)
        except BadRecord as exc:
            yield Reject(source, number, str(exc), raw)
            return
        if record is not None:
            record.source_line, record.raw = number, excerpt(raw)
            yield record

    def decide() -> Iterator[Record | Reject]:
        nonlocal held
        if len(usage_seconds) >= 2 and usage_seconds[0] == usage_seconds[1]:
            session.replay_second = usage_seconds[0]
        lines, held = held or [], None
        for item in lines:
            yield from handle(*item)

    for number, raw, obj in json_lines(stream):
        if held is None and session.replay_candidate and not usage_seconds and _usage_second(obj) is not None:
            held = []
        if held is not None:
            if not _changes_state(obj):  # messages, tool calls, bad lines: nothing to wait for
                yield from handle(number, raw, obj)
                continue
            held.append((number, raw, obj))
            second = _usage_second(obj)
            if second is not None:
                usage_seconds.append(second)
            if len(usage_seconds) >= 2 or len(held) > REPLAY_LOOKAHEAD_LINES:
                yield from decide()
            continue
        yield from handle(number, raw, obj)
    if held is not None:
        yield from decide()


def _changes_state(obj: Any) -> bool:
    """Whether a line's place among the token counts matters (a token count, or the session or
    turn context that sets the model); only those are held while a replay is undecided."""
    return _is_rollout_line(obj) and (obj["type"] in ("session_meta", "turn_context")
                                      or obj["payload"].get("type") == "token_count")


def _usage_second(obj: Any) -> str | None:
    """The second (first 19 characters of the timestamp) of a token_count carrying usage."""
    if not isinstance(obj, dict) or not _is_rollout_line(obj):
        return None
    info = _token_info(obj)
    if info is None or not (info.get("last_token_usage") or info.get("total_token_usage")):
        return None
    try:
        return timestamp(obj.get("timestamp"))[:19]
    except BadRecord:
        return None

