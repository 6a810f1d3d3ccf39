"""Property tests for the coding agents' readers (issue 25): each fixture of tests/data/agents
with random values put in place of some of its values (so that they reach the fields each reader
looks at, deep inside), read as the agent's format and as auto. No exception escapes the import
(it imports, rejects or refuses the input whole), and what is stored is bounded by what it says."""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from usage_tui.ingest import ImportFatal, import_path
from usage_tui.store import Store

AGENTS = Path(__file__).resolve().parent / "data" / "agents"
EXAMPLES = int(os.environ.get("USAGE_TUI_FUZZ_EXAMPLES", "40"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

TEXT_FIXTURES = {  # (format, file): one of each shape a reader takes
    "codex": "codex/subagent-home/sessions/2026-05-12T08-03-00-subagent.jsonl",
    "gemini": "gemini/tmp/project-a/chats/session-2026-05-17T11-07-5c0ffee0.jsonl",
    "pi": "pi/sessions/--home-dev-shop--/2026-04-22T01-02-00-000Z_7d3f0c1e-5b2a-4c8d-9e6f-0a1b2c3d4e5f.jsonl",
    "amp": "amp/threads/T-test-thread-123.json",
    "opencode": "opencode/data/storage/message/ses_json/msg_json.json",
}
SCALARS = (st.none() | st.booleans() | st.integers(min_value=-(10**30), max_value=10**30)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12)
           | st.sampled_from(["2026-11-20T10:00:00Z", "9999-12-31T23:59:59-05:00", "", "\ud800", "\x00", "T-x",
                              "token_count", "gemini", "assistant", "session"])
           | st.lists(st.integers(0, 3), max_size=2) | st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


def leaves(value, path=()):
    """Every (path) to a value inside `value`, containers included."""
    yield path
    if isinstance(value, dict):
        for k, v in value.items():
            yield from leaves(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from leaves(v, (*path, i))


def replaced(value, path, new):
    if not path:
        return new
    head, rest = path[0], path[1:]
    copy = list(value) if isinstance(value, list) else dict(value)
    copy[head] = replaced(value[head], rest, new)
    return copy


@st.composite
def mutated(draw, values: list):
    """`values` (parsed lines or one document) with up to 4 values replaced by random ones."""
    values = list(values)
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(values) - 1))
        path = draw(st.sampled_from(list(leaves(values[i]))))
        values[i] = replaced(values[i], path, draw(SCALARS))
    return values


def parsed(fmt: str) -> tuple[list, bool]:
    text = (AGENTS / TEXT_FIXTURES[fmt]).read_text()
    if TEXT_FIXTURES[fmt].endswith(".jsonl"):
        return [json.loads(line) for line in text.splitlines()], True
    return [json.loads(text)], False


def import_quietly(store: Store, path: str, fmt: str):
    try:
        return import_path(store, path, fmt, viewer="fuzz")
    except ImportFatal:
        return None


@FUZZ
@given(st.data(), st.sampled_from(sorted(TEXT_FIXTURES)), st.booleans())
def test_no_mutated_session_crashes_its_reader(data, fmt, auto):
    values, lines = parsed(fmt)
    values = data.draw(mutated(values))
    text = "".join(json.dumps(v) + "\n" for v in values) if lines else json.dumps(values[0], indent=2)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / Path(TEXT_FIXTURES[fmt]).name
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        store = Store(Path(folder) / "usage.db")
        summary = import_quietly(store, str(path), "auto" if auto else fmt)
        if summary is not None:
            stored = store.conn.execute("SELECT count(*) FROM records").fetchone()[0]
            assert stored <= summary.imported + summary.replaced
        store.close()


@FUZZ
@given(st.data())
def test_no_mutated_opencode_row_crashes_the_database_reader(data):
    source = sqlite3.connect(AGENTS / "opencode/fork-data/opencode.db")
    rows = source.execute("SELECT id, session_id, time_created, time_updated, data FROM message").fetchall()
    schema = [sql for (sql,) in source.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL")]
    source.close()
    values = data.draw(mutated([json.loads(r[4]) for r in rows]))
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "opencode.db"
        conn = sqlite3.connect(db)
        for sql in schema:
            conn.execute(sql)
        conn.executemany("INSERT INTO message VALUES (?, ?, ?, ?, ?)",
                         [(*r[:4], json.dumps(v).encode("utf-8", "surrogatepass").decode("utf-8", "replace"))
                          for r, v in zip(rows, values, strict=True)])
        conn.commit()
        conn.close()
        store = Store(Path(folder) / "usage.db")
        summary = import_quietly(store, str(db), "opencode")
        assert summary is not None  # the database is OpenCode's: rows are records or rejects
        assert summary.imported + summary.rejected <= len(rows)
        store.close()
