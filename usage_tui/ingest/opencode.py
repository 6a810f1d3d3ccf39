"""OpenCode (`${XDG_DATA_HOME:-~/.local/share}/opencode/`): its SQLite database `opencode.db`
(`opencode-<channel>.db` for other release channels), table `message`, whose `data` column is the
message as JSON without its `id` and `sessionID`; and the legacy per-message files of versions
before the database, `storage/message/<sessionID>/<messageID>.json`, which the migration to the
database copies and leaves in place. Each assistant message with tokens is one record.

Shapes from anomalyco/opencode packages/opencode/src/session/session.sql.ts @ 063e830 (tables),
message-v2.ts @ 007a940 (`Assistant`), storage/json-migration.ts @ 062aa8c (legacy layout);
rules from ryoppippi/ccusage rust/crates/ccusage/src/adapter/opencode/{loader,parser}.rs and
src/utils.rs @ 5816e640e8824986f33427203da164b01394a161.

The database is another program's file, read here with `sqlite3` (not through our store, whose
SQL is about our own schema): opened read-only (`mode=ro`, so OpenCode's own write-ahead log is
read too, which `immutable=1` would miss), one SELECT without values, and nothing written.
The `session` table's token roll-ups and the `part` table's `step-finish` counts repeat the
messages' numbers: only `message` is read.

Mapping: `tokens.input` is uncached input, `tokens.cache.read`/`.write` stand apart
(Anthropic-shaped): prompt = input + cache writes, cached input = cache reads. Reasoning is
apart from output in current rows and inside it in old OpenAI rows; `tokens.total`, when
written, tells which: completion = output + whatever of `total` the other parts do not explain
(ccusage's rule), else output; the raw `reasoning` is kept in the metadata. `cost` is kept only
when > 0: OpenCode logs 0 for subscription and free providers, and such a message is priced
here (or counted unpriced). The id is `opencode:<message id>`: a message in both the database
and a legacy file is one record, the database's (a legacy file whose id the database beside it
holds is skipped, whatever the order of reading). `Session.fork` copies a session's messages
under new ids with their times and tokens: in one database, a second message with the same
created and completed times, provider, model, tokens and cost is such a copy and skipped
(ccusage counts it again).
"""

from __future__ import annotations

import functools
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote

from ..model import Record, Reject, excerpt
from ._agent import agent_record, content_id, count, epoch_ms, logged_cost, table, text
from ._common import whole_document
from .native import BadRecord, parse_json

NAME = "opencode"
# What _head gives detection for an SQLite file that has OpenCode's `message` table.
DATABASE_HEAD = "SQLite database: OpenCode's message table"
_NAMES = {"ts": "time.created", "provider": "providerID", "model": "modelID", "cost_usd": "cost"}
_MESSAGE_COLUMNS = frozenset(("id", "session_id", "data"))


def _connect(path: str) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{quote(os.path.abspath(path))}?mode=ro", uri=True)


def database_head(path: Any) -> str | None:
    """DATABASE_HEAD when `path` is an SQLite database with OpenCode's `message` table, else None
    (another database, or one that cannot be read: the caller treats it as binary data)."""
    if not isinstance(path, str):  # a pipe: a database is read by path
        return None
    try:
        conn = _connect(path)
        try:
            columns = {row[1] for row in conn.execute("PRAGMA table_info(message)")}
        finally:
            conn.close()
    except sqlite3.Error:
        return None
    return DATABASE_HEAD if _MESSAGE_COLUMNS <= columns else None


def _is_message(value: Any) -> bool:
    return (isinstance(value, dict) and isinstance(value.get("id"), str) and isinstance(value.get("sessionID"), str)
            and value.get("role") in ("user", "assistant"))


def detect(head: str) -> bool:
    """The database (through DATABASE_HEAD), or a legacy message file."""
    return head == DATABASE_HEAD or _is_message(whole_document(head))


def record(message_id: str, session_id: str | None, data: Any, owner: str | None) -> Record | None:
    """A message (`data`) → a record; None for a message without usage (a user's, or an
    assistant's that spent nothing)."""
    if not isinstance(data, dict):
        raise BadRecord("not a JSON object")
    if data.get("role") != "assistant" or data.get("tokens") is None:
        return None
    tokens = table(data, "tokens", "tokens")
    cache = table(tokens, "cache", "tokens.cache")
    inp, out = count(tokens, "input", "tokens.input"), count(tokens, "output", "tokens.output")
    read, write = count(cache, "read", "tokens.cache.read"), count(cache, "write", "tokens.cache.write")
    reasoning, total = count(tokens, "reasoning", "tokens.reasoning"), count(tokens, "total", "tokens.total")
    extra = max(0, total - (inp + out + read + write))  # reasoning written apart from output
    if not (inp or out or read or write or extra):
        return None
    created = table(data, "time", "time").get("created")
    if created is None:
        raise BadRecord("missing required field `time.created`")
    error = data.get("error")
    return agent_record(
        rid=f"opencode:{message_id}", ts=epoch_ms(created, "time.created"), provider=data.get("providerID"),
        model=data.get("modelID"), owner=owner, prompt=inp + write, cached=read, completion=out + extra,
        cache_write=write, cost=logged_cost(data.get("cost"), "cost"), names=_NAMES,
        metadata={"reasoning_tokens": reasoning, "total_tokens": total or None,
                  "session": text(session_id, "sessionID"), "mode": data.get("mode"),
                  "cwd": data["path"].get("cwd") if isinstance(data.get("path"), dict) else None,
                  "finish": data.get("finish"),
                  "error": error.get("name") if isinstance(error, dict) else None})


def fork_key(data: dict[str, Any]) -> str:
    """What a `Session.fork` copy keeps of its original (everything but ids)."""
    time = data.get("time") if isinstance(data.get("time"), dict) else {}
    return content_id("opencode-copy", time.get("created"), time.get("completed"), data.get("providerID"),
                      data.get("modelID"), data.get("tokens"), data.get("cost"))


def _database(source: str, owner: str | None) -> Iterator[Record | Reject]:
    try:
        conn = _connect(source)
    except sqlite3.Error as exc:
        yield Reject(source, 0, f"cannot read the database: {exc}", "")
        return
    seen: set[str] = set()
    try:
        # In creation order: an original comes before its fork copies (newer ids, same times).
        rows = conn.execute("SELECT id, session_id, data FROM message ORDER BY time_created, id")
        for number, (message_id, session_id, data) in enumerate(rows, 1):
            raw = f"message {message_id}: {data}" if isinstance(data, str) else f"message {message_id}"
            try:
                if not isinstance(message_id, str) or not message_id:
                    raise BadRecord("missing `id`")
                value = parse_json(data) if isinstance(data, str) else BadRecord("`data` is not JSON text")
                if isinstance(value, BadRecord):
                    raise value
                item = record(message_id, session_id, value, owner)
                if item is None:
                    continue
                key = fork_key(value)
                if key in seen:
                    continue
                seen.add(key)
            except BadRecord as exc:
                yield Reject(source, number, f"message {message_id}: {exc}", raw)
                continue
            item.source_line, item.raw = number, excerpt(raw)
            yield item
    except sqlite3.Error as exc:
        yield Reject(source, 0, f"cannot read the database: {exc}", "")
    finally:
        conn.close()


def _data_dir(source: str) -> Path | None:
    """`<data>` of a legacy `<data>/storage/message/<session>/<message>.json`."""
    path = Path(source)
    parents = path.parents
    if len(parents) > 3 and parents[1].name == "message" and parents[2].name == "storage":
        return parents[3]
    return None


@functools.lru_cache(maxsize=4)
def _database_ids(path: str, _mtime_ns: int, _size: int) -> frozenset[str]:
    """The message ids of a database (cached while the file is unchanged)."""
    try:
        conn = _connect(path)
        try:
            return frozenset(row[0] for row in conn.execute("SELECT id FROM message"))
        finally:
            conn.close()
    except sqlite3.Error:
        return frozenset()


def in_database(source: str, message_id: str) -> bool:
    """Whether a database beside a legacy message file holds that message (it wins)."""
    data = _data_dir(source)
    if data is None:
        return False
    for db in sorted(data.glob("opencode*.db")):
        try:
            stat = db.stat()
        except OSError:
            continue
        if message_id in _database_ids(str(db), stat.st_mtime_ns, stat.st_size):
            return True
    return False


def parse(stream: TextIO, source: str, head: str = "", user: str | None = None, viewer: str | None = None,
          **_: Any) -> Iterator[Record | Reject]:
    owner = user or viewer
    if head == DATABASE_HEAD:
        yield from _database(source, owner)
        return
    # A legacy message file: one JSON document (read whole; it is one message).
    raw = stream.read()
    value = parse_json(raw)
    try:
        if isinstance(value, BadRecord):
            raise value
        if not isinstance(value, dict):
            raise BadRecord("not a JSON object")
        message_id = text(value.get("id"), "id") or Path(source).stem
        if in_database(source, message_id):
            return  # the database's copy is the record
        item = record(message_id, value.get("sessionID") or Path(source).parent.name, value, owner)
    except BadRecord as exc:
        yield Reject(source, 1, str(exc), raw)
        return
    if item is not None:
        item.source_line, item.raw = 1, excerpt(raw)
        yield item
