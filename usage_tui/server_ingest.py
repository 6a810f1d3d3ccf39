"""POST /v1/usage: usage pushed to `serve` (issue 24), the body's half: reading it within a bound,
telling its format from its content, and turning it into records and rejects. Writing is
server_writer.py's (group commit); the route is wired in server.py.

Bodies (docs/live-usage.md): LiteLLM's generic API logger sends StandardLoggingPayload objects
(ingest/litellm_payload.py) as a JSON array, JSON lines, or one object; native records (§2.1,
as `import` reads them) come the same three ways. An item that is not a valid record is a
reject (its position in the body from 0, and why), kept in the store as `import` keeps a bad
line; the good items are stored. A body none of which is JSON is refused whole (400).
"""

from __future__ import annotations

import io
import multiprocessing
import threading
from collections.abc import Collection
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from .ingest.litellm_payload import KeyIds, is_payload, payload_record
from .ingest.native import BadRecord, dumped, json_lines, parse_json, to_record
from .model import Record, Reject, excerpt

MAX_BODY = 16 * 1024 * 1024  # `serve --max-body`: LiteLLM's batches of 512 with prompts fit
# Rejects of one body kept in the store and listed in the answer: the first this many, then one
# saying how many more there were (a body of junk must not fill the store; import keeps 10,000
# of a file). LiteLLM sends 512 items a body, so every reject of a real batch is listed.
KEPT_REJECTS_PER_BODY = 1_000


_RAW_MAX = 1 << 20  # characters of an item's JSON dumped for its reject (then kept as an excerpt)


class BodyTooLarge(Exception):
    """Over --max-body: a 413, the rest of the body not read."""


class NotJson(Exception):
    """A body none of which is JSON: a 400 saying why."""


@dataclass
class Parsed:
    """A body as records and rejects. `fmt`: "litellm" or "native" (the sources row)."""
    fmt: str
    records: list[Record] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)  # as kept in the store (bounded)
    rejected: list[dict[str, Any]] = field(default_factory=list)  # as answered (bounded alike)
    not_kept: int = 0

    def reject(self, index: int, reason: str, raw: str) -> None:
        if len(self.rejected) >= KEPT_REJECTS_PER_BODY:
            self.not_kept += 1
            return
        self.rejected.append({"index": index, "reason": reason})
        # the stored line numbers items from 1, as import numbers a document's elements
        self.rejects.append(Reject(f"push:{self.fmt}", index + 1, reason, excerpt(raw)))

    def finish(self) -> None:
        if self.not_kept:
            self.rejects.append(Reject(f"push:{self.fmt}", 0, f"{self.not_kept:,} more rejected items of this "
                                       f"body were not kept (at most {KEPT_REJECTS_PER_BODY:,} a body)", ""))


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused (BodyTooLarge) as soon as it is known to be over `limit` bytes: by its
    Content-Length before any of it is read, else once what has arrived passes the limit. It
    is never read whole first (a client could send gigabytes)."""
    declared = request.headers.get("content-length", "").strip()
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _items(body: bytes) -> list[tuple[int, str, Any]]:
    """(position from 0, raw text, value or BadRecord) of each item: the elements of one JSON
    array, one JSON object, or each non-blank line of JSON lines. NotJson when nothing is."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        text = None  # read as lines: each line that is not UTF-8 is a reject of its own
    if text is not None:
        if not text.strip():
            raise NotJson("empty body: expected a JSON array, a JSON object, or JSON lines")
        doc = parse_json(text)
        if not isinstance(doc, BadRecord):
            if isinstance(doc, list):
                return [(i, "", item) for i, item in enumerate(doc)]
            if isinstance(doc, dict):
                return [(0, "", doc)]
            raise NotJson(f"expected a JSON array, a JSON object, or JSON lines; got {dumped(doc, 40)}")
        if text.lstrip().startswith("[") or "\n" not in text.strip():
            raise NotJson(str(doc).replace("malformed JSON", "not JSON", 1))
    lines = list(json_lines(io.StringIO(body.decode("utf-8", "surrogateescape"), newline=None)))
    if not any(not isinstance(value, BadRecord) for _, _, value in lines):
        raise NotJson("not JSON: no line of the body is a JSON value")
    return [(i, raw, value) for i, (_, raw, value) in enumerate(lines)]


def _format(items: list[tuple[int, str, Any]]) -> str:
    """LiteLLM's payloads or native records, told by the first items that are JSON objects."""
    objects = [v for _, _, v in items[:20] if isinstance(v, dict)]
    return "litellm" if any(is_payload(v) for v in objects) else "native"


def parse_body(body: bytes, keys: Collection[str], key_ids: KeyIds) -> Parsed:
    """The records and rejects of a body (NotJson: refused whole). `keys`: the directory's keys
    (a LiteLLM payload names its key by hash; the directory's id for it is stored)."""
    items = _items(body)
    parsed = Parsed(_format(items))
    litellm = parsed.fmt == "litellm"
    for index, raw, value in items:
        try:
            if isinstance(value, BadRecord):
                raise value
            record = payload_record(value, keys, key_ids) if litellm else to_record(value)
        except (BadRecord, RecursionError, ValueError, TypeError) as exc:  # never a 500 for one bad item
            reason = str(exc) if isinstance(exc, BadRecord) else f"not a usable record ({type(exc).__name__})"
            # the item as JSON, however it came (an element, a line): a retry of the same item in
            # another of LiteLLM's formats is the same reject, kept once
            parsed.reject(index, reason, raw if isinstance(value, BadRecord) else dumped(value, _RAW_MAX))
            continue
        record.source_line = index + 1
        parsed.records.append(record)
    parsed.finish()
    return parsed


# Bodies up to this size are parsed in the serving process (a few ms); larger ones (LiteLLM's
# batches of 512: ~1 MB, ~50 ms of pure Python) in PARSERS helper processes. A parse holds the
# GIL, and a budget check answered by the same process waits for it (bench/live.py: check p99
# with pushes beside it); a helper process also parses on the other core.
INLINE_BYTES = 64 * 1024
PARSERS = 2
_child_key_ids = KeyIds()  # in a parsing process: built once per directory


def _parse_in_child(body: bytes, keys: frozenset[str]) -> Parsed:
    return parse_body(body, keys, _child_key_ids)


class Parser:
    """parse_body, in this process or in a helper (see INLINE_BYTES). Started on first use."""

    def __init__(self) -> None:
        self._key_ids = KeyIds()
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def parse(self, body: bytes, keys: Collection[str]) -> Parsed:
        if len(body) <= INLINE_BYTES:
            return parse_body(body, keys, self._key_ids)
        with self._lock:
            if self._pool is None:  # spawned, not forked: this process has threads
                self._pool = ProcessPoolExecutor(PARSERS, mp_context=multiprocessing.get_context("spawn"))
            pool = self._pool
        try:
            return pool.submit(_parse_in_child, body, frozenset(keys)).result()
        except BrokenProcessPool:  # a helper died (killed, out of memory): a new pool next time
            with self._lock:
                if self._pool is pool:
                    self._pool = None
            raise RuntimeError("a parsing process died; nothing of this body was stored") from None


def answer(parsed: Parsed, imported: int, replaced: int, unchanged: int) -> dict[str, Any]:
    """The 200's JSON: what the commit did, and each rejected item."""
    out: dict[str, Any] = {"imported": imported, "replaced": replaced, "unchanged": unchanged,
                           "rejected": parsed.rejected}
    if parsed.not_kept:
        out["rejected_not_listed"] = parsed.not_kept
    return out
