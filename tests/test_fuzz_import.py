"""Property tests (issue 13): random bytes and random JSON fed to every importer and to
`directory load`. No exception escapes, every well-formed line still imports, and the exit
code is 0 (all good), 1 (some lines rejected) or 2 (input refused whole), as documented.

Example counts are modest so that the file runs in CI in well under a minute."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from usage_tui.cli import cli
from usage_tui.ingest import ImportFatal, import_path
from usage_tui.store import Store

FORMATS = ("auto", "native", "litellm", "openai", "claude-code")
# USAGE_TUI_FUZZ_EXAMPLES=2000 for a longer hunt on a developer's machine.
EXAMPLES = int(os.environ.get("USAGE_TUI_FUZZ_EXAMPLES", "40"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Field names every importer looks at, so that random objects reach past the first checks.
FIELDS = ["id", "ts", "provider", "model", "user", "key", "agent", "team", "prompt_tokens", "completion_tokens",
          "cached_input_tokens", "context_tokens", "requests", "cost_usd", "status", "verdict",
          "request_id", "startTime", "spend", "custom_llm_provider", "metadata", "usage_object",
          "object", "data", "results", "start_time", "num_model_requests", "input_tokens", "output_tokens",
          "input_cached_tokens", "type", "message", "usage", "sessionId", "uuid", "timestamp", "requestId"]
SCALARS = (st.none() | st.booleans() | st.integers(min_value=-(10**30), max_value=10**30)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20)
           | st.sampled_from(["2026-11-20T10:00:00Z", "9999-12-31T23:59:59-05:00", "page", "bucket", "assistant",
                              "openai/gpt-4o", "organization.usage.completions.result", "\ud800", "\x00"]))
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), inner, max_size=6),
                    max_leaves=20)
JUNK_BYTES = st.binary(max_size=200).map(lambda b: b.replace(b"\n", b" ").replace(b"\r", b" "))


def json_line(value) -> bytes:
    return json.dumps(value).encode()  # NaN and lone surrogates included: json writes them


def good_line(i: int) -> bytes:
    return json_line({"id": f"good-{i}", "ts": "2026-11-20T10:00:00Z", "provider": "openai", "model": "gpt-4o",
                      "user": "alice", "prompt_tokens": abs(i), "cost_usd": 0.5})


def import_into_new_store(data: bytes, fmt: str, folder: Path):
    path = folder / "input.jsonl"
    path.write_bytes(data)
    store = Store(folder / "usage.db")
    try:
        return store, import_path(store, str(path), fmt)
    except ImportFatal:
        return store, None


@FUZZ
@given(st.lists(st.one_of(JUNK_BYTES, JSON.map(json_line)), min_size=1, max_size=8),
       st.sampled_from(FORMATS), st.booleans())
def test_no_input_crashes_any_importer(items, fmt, as_document):
    """Random JSON values and random bytes, as JSON lines or as one JSON array: each importer
    imports, rejects, or refuses the input whole (ImportFatal); nothing else escapes."""
    data = (b"[" + b",".join(items) + b"]") if as_document else b"\n".join(items) + b"\n"
    with tempfile.TemporaryDirectory() as folder:
        store, summary = import_into_new_store(data, fmt, Path(folder))
        if summary is not None:
            stored = store.conn.execute("SELECT count(*) FROM records").fetchone()[0]
            assert stored <= summary.imported + summary.replaced
        store.close()


@FUZZ
@given(st.lists(st.one_of(st.integers(0, 10**6).map(good_line), JUNK_BYTES, JSON.map(json_line)),
                min_size=1, max_size=12))
def test_every_well_formed_line_still_imports(items):
    """Good native records between junk lines: every good one is stored, every other line is
    at most one reject (a blank line is none)."""
    lines = [good_line(-1), *items]  # a good first line: the file is text from its start
    goods = {json.loads(line)["id"] for line in lines if line.startswith(b'{"id": "good-')}
    with tempfile.TemporaryDirectory() as folder:
        store, summary = import_into_new_store(b"\n".join(lines) + b"\n", "native", Path(folder))
        assert summary is not None
        ids = {row[0] for row in store.conn.execute("SELECT id FROM records")}
        assert goods <= ids
        assert summary.rejected <= len(lines) - len(goods)
        store.close()


@settings(max_examples=max(10, EXAMPLES * 5 // 8), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(st.integers(0, 10**6).map(good_line), JUNK_BYTES, JSON.map(json_line)),
                max_size=6), st.sampled_from(FORMATS), st.booleans())
def test_the_import_exit_code_is_0_1_or_2_as_documented(items, fmt, good_first):
    data = b"\n".join(([good_line(-1)] if good_first else []) + items) + b"\n"
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "input.jsonl"
        path.write_bytes(data)
        result = CliRunner().invoke(cli, ["import", str(path), "--format", fmt, "--db", str(Path(folder) / "u.db")],
                                    catch_exceptions=False)
        assert result.exit_code in (0, 1, 2)
        if result.exit_code == 2:
            assert result.stdout == "" and result.stderr.startswith("usage-tui: error: ")
            assert len(result.stderr.splitlines()) == 1
        else:
            last = result.stdout.splitlines()[-1]
            rejected = int(last.rsplit("rejected ", 1)[1])
            assert (rejected > 0) == (result.exit_code == 1)


# -- directory load -----------------------------------------------------------------------------------

TABLES = ["org", "teams", "users", "keys", "agents", "budgets", "prices", "budget", "user"]
KEYS = ["id", "name", "login", "role", "teams", "admins", "owner", "team", "manager", "user", "limit_usd",
        "window", "provider", "model", "input_per_mtok", "output_per_mtok", "cached_input_per_mtok", "cache_write_per_mtok",
        "timezone", "rol"]
TOML_VALUES = st.one_of(
    st.text(max_size=12).map(json.dumps),  # a TOML basic string (json escapes are TOML escapes, mostly)
    st.integers(-(10**20), 10**20).map(str), st.sampled_from(["inf", "nan", "-0.0", "1e400", "true", "[]",
                                                              '["platform"]', '"org_admin"', '"weekly"',
                                                              '"Europe/Berlin"', "[[[[1]]]]"]))


@st.composite
def toml_texts(draw) -> bytes:
    parts = []
    for _ in range(draw(st.integers(0, 5))):
        table = draw(st.sampled_from(TABLES))
        header = f"[{table}]" if table == "org" else f"[[{table}]]"
        pairs = draw(st.lists(st.tuples(st.sampled_from(KEYS), TOML_VALUES), max_size=5, unique_by=lambda p: p[0]))
        parts.append(header + "\n" + "".join(f"{k} = {v}\n" for k, v in pairs))
    return "\n".join(parts).encode()


@FUZZ
@given(st.one_of(toml_texts(), st.binary(max_size=300)))
def test_directory_load_takes_any_file_or_says_why_not_in_one_line(data):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "directory.toml"
        path.write_bytes(data)
        result = CliRunner().invoke(cli, ["directory", "load", str(path), "--db", str(Path(folder) / "u.db")],
                                    catch_exceptions=False)
        assert result.exit_code in (0, 2)
        if result.exit_code == 2:
            assert result.stderr.startswith("usage-tui: error: ") and len(result.stderr.splitlines()) == 1
        else:
            assert result.stdout.startswith("Loaded ")
