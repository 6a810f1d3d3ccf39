"""The compiled fast path of the native JSONL importer (native.py): the same records and rejects,
decoded from the file's bytes by msgspec into a Struct of the record's own fields.

A line takes the fast path only when it is plain: ASCII, no backslash escape, no field but the
record's own and a `metadata` that names no tokens (any other field, kept as metadata or refused,
is the validator's), every value of its type and in range. Any other line goes to native.py's
validator exactly as the slow path reads it, so rejects keep their FILE:LINE and reason
(tests/test_fast_path.py compares both paths on the bad-input and fuzz cases). CSV is read
by native.py itself.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterator
from typing import Any, BinaryIO

import msgspec

from ..model import Record, Reject, excerpt
from . import native
from .native import (
    MAX_COST_USD,
    MAX_COUNT,
    MAX_JSON_DEPTH,
    BadRecord,
    parse_json,
    parse_ts,
    text_problem,
    too_deep,
)

CHUNK = 1024 * 1024  # bytes read at a time: 8 MB pieces cost 22 MB more peak RSS in a 200k import
_BOM = b"\xef\xbb\xbf"
SLOW = object()  # a line for the validator


class _Native(msgspec.Struct, forbid_unknown_fields=True):
    id: str | None = None
    ts: str | None = None
    provider: str | None = None
    model: str | None = None
    user: str | None = None
    key: str | None = None
    agent: str | None = None
    team: str | None = None
    verdict: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached_input_tokens: int | None = None
    context_tokens: int | None = None
    requests: int | None = None
    cost_usd: float | None = None
    status: int | None = None
    # The one field of its own a line may have here: gateways' `metadata`, kept as the record's
    # metadata (§2.1: any other field is kept). It goes to the validator if it names tokens.
    metadata: msgspec.Raw = msgspec.Raw()


# A field native.py no longer knows would be metadata or a reject there, and a `metadata` it
# knew would be validated: then no fast path.
ENABLED = ("metadata" not in native.KNOWN_FIELDS
           and frozenset(_Native.__struct_fields__) - {"metadata"} <= native.KNOWN_FIELDS)
_DECODER = msgspec.json.Decoder(_Native)
_ANY = msgspec.json.Decoder()


def chunks(raw: BinaryIO) -> Iterator[bytes]:
    """The file in pieces of about CHUNK bytes ending at a line's end (the last one wherever
    the file ends), without the UTF-8 BOM the text path (utf-8-sig) drops. A read that fails
    (gzip data cut short) first hands on the whole lines read before it, as the text path does."""
    rest = b""
    first = True
    while True:
        parts = [rest] if rest else []
        size = len(rest)
        goal = size + CHUNK
        try:
            while size < goal:  # read1: what one read of the file gives, kept if the next fails
                data = raw.read1(goal - size) if hasattr(raw, "read1") else raw.read(goal - size)
                if not data:
                    break
                parts.append(data)
                size += len(data)
        except Exception:
            whole = b"".join(parts)
            cut = whole.rfind(b"\n") + 1
            if cut:
                yield whole[len(_BOM):cut] if first and whole.startswith(_BOM) else whole[:cut]
            raise
        data = b"".join(parts)
        if first:
            first = False
            if data.startswith(_BOM):
                data = data[len(_BOM):]
        if size == len(rest):  # the end of the file
            if data:
                yield data
            return
        cut = data.rfind(b"\n") + 1
        if cut == 0:
            rest = data
            continue
        rest = data[cut:]
        yield data[:cut]


def text_lines(chunk: bytes) -> list[str]:
    """A piece's lines as the text path reads them: surrogateescape, and universal newlines
    (a lone \\r ends a line too), without their line ends."""
    text = chunk.decode("utf-8", "surrogateescape")
    return [line.rstrip("\r\n") for line in io.StringIO(text, newline="")]


def validated(number: int, raw: str) -> Iterator[tuple[int, str, Any]]:
    """native.json_lines for one line; called where the slow path calls json_lines, so that
    json.loads runs at the same stack depth (its recursion limit depends on it)."""
    if raw.strip():
        problem = text_problem(raw)
        yield number, raw, BadRecord(problem) if problem else parse_json(raw)


def _opt(value: str | None) -> str | None:
    return value if value else None


def _record(line: _Native) -> Record | object:
    rid, ts, provider, model = line.id, line.ts, line.provider, line.model
    if not rid or len(rid) > 256 or not ts or not provider or not model:
        return SLOW
    prompt = line.prompt_tokens or 0
    completion = line.completion_tokens or 0
    cached = line.cached_input_tokens or 0
    context = line.context_tokens or 0
    requests = 1 if line.requests is None else line.requests
    status = 200 if line.status is None else line.status
    cost = line.cost_usd
    if not (0 <= prompt <= MAX_COUNT and 0 <= completion <= MAX_COUNT and 0 <= cached <= MAX_COUNT
            and 0 <= context <= prompt + cached and 1 <= requests <= MAX_COUNT and 100 <= status <= 599):
        return SLOW
    if cost is not None and not (math.isfinite(cost) and 0 <= cost <= MAX_COST_USD):
        return SLOW
    metadata = {}
    if line.metadata:
        raw = bytes(line.metadata)
        if b"tokens" in raw:  # token counts where the format has none: the validator's to judge
            return SLOW
        try:  # what the slow path's json.loads keeps, exactly: ASCII without escapes, and too short
            # for an integer past json's 4,300 digits (a float out of range is msgspec's error)
            value = _ANY.decode(raw) if len(raw) < 4_300 else json.loads(raw)
        except (msgspec.DecodeError, RecursionError, ValueError):
            return SLOW
        if (type(value) is dict or type(value) is list) and too_deep(value, MAX_JSON_DEPTH - 1):
            return SLOW
        metadata = {"metadata": value}
    try:
        ts_us = parse_ts(ts)
    except BadRecord:
        return SLOW
    return Record(id=rid, ts_us=ts_us, provider=provider, model=model, user=_opt(line.user), key=_opt(line.key),
                  agent=_opt(line.agent), team=_opt(line.team), prompt_tokens=prompt, completion_tokens=completion,
                  cached_input_tokens=cached, context_tokens=context, requests=requests, cost_usd=cost,
                  status=status, verdict=_opt(line.verdict), metadata=metadata)


def _decoded(line: bytes) -> Record | object:
    """The record of a non-empty line, or SLOW."""
    if not line.isascii() or b"\\" in line:  # escapes and non-ASCII text: the validator's
        return SLOW
    try:
        return _record(_DECODER.decode(line))
    except (msgspec.DecodeError, RecursionError):  # malformed, a field unknown here, a value not of
        return SLOW  # its type, a `metadata` nested past msgspec's limit (json.loads then decides)


def _lines(chunk: bytes, first: int, count: list[int]) -> Iterator[tuple[int, Any, bytes | str]]:
    """(line number, record or SLOW, line) of each non-empty line of a piece, one at a time (a
    piece's worth of records held at once made the garbage collector's passes cost more than
    the decoding saved). `count` gets the number of lines of the piece."""
    if b"\r" in chunk:  # text mode ends a line at a lone \r too: the validator reads this piece
        texts = text_lines(chunk)
        count[0] = len(texts)
        for number, text in enumerate(texts, first):
            yield number, SLOW, text
        return
    find, size = chunk.find, len(chunk)
    start, number = 0, first
    while start < size:
        end = find(b"\n", start)
        if end < 0:
            end = size
        if end > start:
            line = chunk[start:end]
            yield number, _decoded(line), line
        number += 1
        start = end + 1
    count[0] = number - first


def parse_bytes(raw: BinaryIO, source: str, head: str = "", **_: Any) -> Iterator[Record | Reject]:
    """native.parse, from the bytes of the file."""
    if not ENABLED or native.looks_like_csv(head):  # (as _parse_open would: no frame between)
        stream = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="surrogateescape", newline="")
        try:
            yield from native.parse(stream, source, head=head)
        finally:
            stream.detach()
        return
    number = 0
    count = [0]
    for chunk in chunks(raw):
        for n, item, line in _lines(chunk, number + 1, count):
            text = line if type(line) is str else line.decode("utf-8", "surrogateescape")
            if item is SLOW:
                for n2, text2, obj in validated(n, text):
                    try:
                        if isinstance(obj, BadRecord):
                            raise obj
                        record = native.to_record(obj)
                    except BadRecord as exc:
                        yield Reject(source, n2, str(exc), text2)
                        continue
                    record.source_line, record.raw = n2, excerpt(text2)
                    yield record
                continue
            item.source_line, item.raw = n, excerpt(text)
            yield item
        number += count[0]
