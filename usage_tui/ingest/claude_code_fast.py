"""The compiled fast path of the Claude Code importer (claude_code.py): the same records and
rejects, from the file's bytes, in a fraction of the time.

Message content (prompts, tool output, file contents) is most of a Claude Code folder's bytes
and none of its usage. msgspec decodes each line into Structs naming only the fields a record
uses; it skips the rest without building a Python object for it, and validates the line's JSON
as it goes. Any line it refuses, or whose usage is not plainly in range, goes to the importer's
own validator (claude_code._record) unchanged: its rejects keep their FILE:LINE and reason, and
the test (tests/test_fast_path.py) feeds the bad-input and fuzz cases through both paths.

What the slow path sees and msgspec does not check is checked here first, a chunk at a time:
bytes that are not UTF-8 (one decode of the chunk), `\\r` (text mode splits lines there too)
and nesting near json's recursion limit (msgspec's decoder runs deeper in the stack than the
slow path's json.loads, so it gives up first; the line then goes to json.loads, which decides).
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator
from typing import Any, BinaryIO

import msgspec

from ..model import Record, Reject, excerpt, is_unicode
from . import claude_code
from ._common import is_json_lines
from .native import MAX_COST_USD, MAX_COUNT, BadRecord, parse_ts
from .native_fast import chunks, text_lines, validated

# Extra stack frames under which msgspec decodes: more than json.loads uses between the slow
# path's parse() and its C scanner, so a line nested near the recursion limit fails in msgspec
# first and json.loads, at the slow path's own depth, says whether it is too deep.
_STACK_MARGIN = 16


class _Split(msgspec.Struct, forbid_unknown_fields=True):
    ephemeral_5m_input_tokens: int | None = None
    ephemeral_1h_input_tokens: int | None = None


class _Usage(msgspec.Struct, forbid_unknown_fields=True):
    """Every field Claude Code writes in `usage`; a field unknown here sends the line to the
    validator, which decides what it means."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    cache_creation: _Split | None = None
    service_tier: msgspec.Raw = msgspec.Raw()
    server_tool_use: msgspec.Raw = msgspec.Raw()


class _Message(msgspec.Struct):
    id: str | None = None
    model: str | None = None
    usage: _Usage | None = None


class _Inner(msgspec.Struct):
    """A transcript line: what a record uses of it (content, uuids... are skipped)."""

    type: str | None = None
    timestamp: str | None = None
    requestId: str | None = None  # noqa: N815 - Claude Code's names
    costUSD: float | None = None  # noqa: N815
    sessionId: str | None = None  # noqa: N815
    cwd: str | None = None
    gitBranch: str | None = None  # noqa: N815
    version: str | None = None
    message: _Message | None = None


class _Data(msgspec.Struct):
    message: _Inner | None = None


class _Line(_Inner):
    data: _Data | None = None  # a progress line's relayed subagent line (data.message)


_DECODER = msgspec.json.Decoder(_Line)
_SLOW = object()  # a line for the validator


def _record(line: _Line, owner: str | None) -> Record | None | object:
    """The record of a decoded line, None for a line that is not usage, or _SLOW where the
    validator must look (anything out of the plain case: its error messages are the truth)."""
    kind = line.type
    if kind == "progress":  # claude_code.usage_line: the relayed line, with the parent's time and session
        data = line.data
        inner = data.message if data is not None else None
        if inner is None:
            return None
        kind = inner.type
        if kind != "assistant":
            return None
        timestamp = inner.timestamp if inner.timestamp is not None else line.timestamp
        meta = (inner.sessionId if inner.sessionId is not None else line.sessionId,
                inner.cwd if inner.cwd is not None else line.cwd,
                inner.gitBranch if inner.gitBranch is not None else line.gitBranch,
                inner.version if inner.version is not None else line.version)
        line = inner
    elif kind != "assistant":
        return None
    else:
        timestamp = line.timestamp
        meta = (line.sessionId, line.cwd, line.gitBranch, line.version)
    message = line.message
    if message is None or message.usage is None or message.model == "<synthetic>":
        return None
    model, mid = message.model, message.id
    if not mid or not model or not timestamp:
        return _SLOW
    usage = message.usage
    inp, out = usage.input_tokens or 0, usage.output_tokens or 0
    read = usage.cache_read_input_tokens or 0
    split = usage.cache_creation
    five = (split.ephemeral_5m_input_tokens or 0) if split is not None else 0
    hour = (split.ephemeral_1h_input_tokens or 0) if split is not None else 0
    total = usage.cache_creation_input_tokens
    if total is None:
        total = five + hour
    if (inp < 0 or out < 0 or read < 0 or five < 0 or hour < 0 or total < five + hour
            or inp + total > MAX_COUNT or read > MAX_COUNT or out > MAX_COUNT):
        return _SLOW
    cost = line.costUSD
    if cost is not None and not (math.isfinite(cost) and 0 <= cost <= MAX_COST_USD):
        return _SLOW
    request = line.requestId
    rid = f"{mid}:{request}" if request else mid
    if len(rid) > 256:
        return _SLOW
    try:
        ts_us = parse_ts(timestamp, "timestamp")
    except BadRecord:
        return _SLOW
    metadata = {name: value for name, value in zip(claude_code._META_FIELDS, meta, strict=True) if value is not None}
    return Record(id=rid, ts_us=ts_us, provider="anthropic", model=model, user=owner,
                  prompt_tokens=inp + total, completion_tokens=out, cached_input_tokens=read,
                  cost_usd=cost, metadata=metadata, cache_write_tokens=total, cache_write_1h_tokens=hour)


def _decode_lines(chunk: bytes, first: int, owner: str | None,
                  depth: int = _STACK_MARGIN) -> tuple[list[tuple[int, Any, int, int]], int]:
    """(line number, record or _SLOW, start, end) for the lines of `chunk` that are usage or
    need the validator, and how many lines it has. Lines are decoded where they lie (memoryview
    slices: no copy of the content)."""
    if depth:  # see _STACK_MARGIN
        return _decode_lines(chunk, first, owner, depth - 1)
    out: list = []
    decode = _DECODER.decode
    view = memoryview(chunk)
    find = chunk.find
    size = len(chunk)
    start, number = 0, first
    while start < size:
        end = find(b"\n", start)
        if end < 0:
            end = size
        if end > start:
            try:
                item = _record(decode(view[start:end]), owner)
            except (msgspec.DecodeError, RecursionError):  # (ValidationError is a DecodeError)
                item = _SLOW
            if item is not None:
                out.append((number, item, start, end))
        number += 1
        start = end + 1
    return out, number - first


def _text(line: str | memoryview) -> str:
    return line if type(line) is str else str(line, "utf-8", "surrogateescape")


def _passed_on(record: Record, line: str | memoryview) -> Record:
    """A record the next line did not replace, with the excerpt of its line (made only now:
    the streamed copies before it never need one)."""
    if record.raw is None:
        record.raw = excerpt(_text(line))
    return record


def parse_bytes(raw: BinaryIO, source: str, head: str = "", user: str | None = None, viewer: str | None = None,
                **_: Any) -> Iterator[Record | Reject]:
    """claude_code.parse, from the bytes of the file."""
    if not source.endswith(".jsonl") and not is_json_lines(head):
        return
    owner = user or viewer
    if owner is not None and not is_unicode(owner):  # every record a reject: the validator says so
        stream = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="surrogateescape", newline="")
        try:
            yield from claude_code.parse(stream, source, head=head, user=user, viewer=viewer)
        finally:
            stream.detach()
        return
    owner = owner or None  # (an empty name is no user)
    pending: Record | None = None
    pending_line: str | memoryview = ""  # its excerpt is made when it is passed on (streamed copies are not)
    number = 0
    for chunk in chunks(raw):
        texts: list[str] | None = None
        if b"\r" in chunk:  # text mode ends a line at a lone \r too
            texts = text_lines(chunk)
        elif not chunk.isascii():  # bytes that are not UTF-8 are a reject of their line
            try:
                chunk.decode("utf-8")
            except UnicodeDecodeError:
                texts = text_lines(chunk)
        if texts is not None:
            items: list = [(n, _SLOW, text) for n, text in enumerate(texts, number + 1)]
            number += len(texts)
        else:
            found, count = _decode_lines(chunk, number + 1, owner)
            view = memoryview(chunk)
            items = [(n, item, view[start:end]) for n, item, start, end in found]
            number += count
        for n, item, line in items:
            if item is _SLOW:
                for n2, text2, obj in validated(n, _text(line)):
                    try:
                        if isinstance(obj, BadRecord):
                            raise obj
                        record = claude_code._record(obj, owner)
                    except BadRecord as exc:
                        yield Reject(source, n2, str(exc), text2)
                        continue
                    if record is not None:
                        record.source_line, record.raw = n2, excerpt(text2)
                        if pending is not None and pending.id != record.id:
                            yield _passed_on(pending, pending_line)
                        pending, pending_line = record, text2
                continue
            item.source_line = n
            if pending is not None and pending.id != item.id:
                yield _passed_on(pending, pending_line)
            pending, pending_line = item, line
    if pending is not None:
        yield _passed_on(pending, pending_line)
