"""Issue 25, native records: every field listed in `import --help`, token counts under names
the format does not know are rejects (never a silent 0), and a timestamp without an offset is UTC
whatever the org's zone."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from click.testing import CliRunner

from usage_tui.cli import cli
from usage_tui.ingest import import_path

# The issue's line, as a new user wrote it.
ISSUE_LINE = {"id": "n-3b", "ts": "2026-12-06T12:00:00Z", "provider": "openai", "model": "gpt-4o-mini",
              "user": "alice", "input_tokens": 500, "output_tokens": 100}


def _import(store, tmp_path, lines, name="x.jsonl"):
    path = tmp_path / name
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    rejects = []
    summary = import_path(store, str(path), on_reject=rejects.append)
    return summary, [(r.line, r.reason) for r in rejects]


def _ids(store):
    return sorted(r[0] for r in store.conn.execute("SELECT id FROM records"))


def test_the_issues_line_is_a_reject_naming_the_field_and_the_native_names(store, tmp_path):
    summary, rejects = _import(store, tmp_path, [ISSUE_LINE])
    assert (summary.imported, summary.rejected) == (0, 1)
    (line, reason), = rejects
    assert line == 1
    assert "`input_tokens` is not a native field" in reason and "`prompt_tokens`" in reason
    assert "completion_tokens" in reason and _ids(store) == []


def test_any_tokens_name_on_a_line_without_native_token_fields_is_a_reject(store, tmp_path):
    base = {k: v for k, v in ISSUE_LINE.items() if "tokens" not in k}
    lines = [{**base, "id": "a", "tokens_in": 7},  # an unknown name: no native token field at all
             {**base, "id": "b", "prompt_tokens": 500, "output_tokens": 100},  # completions misnamed
             {**base, "id": "c", "prompt_tokens": 500, "completion_tokens": 100, "reasoning_tokens": 40},
             {**base, "id": "d", "prompt_tokens": 500, "completion_tokens": 100, "output_tokens": 100},
             {**base, "id": "e", "tokens_note": "n/a"}]  # not a count: kept as metadata
    summary, rejects = _import(store, tmp_path, lines)
    assert (summary.imported, summary.rejected) == (3, 2)
    assert rejects[0][0] == 1 and "`tokens_in` is not a native field" in rejects[0][1]
    assert "its tokens would import as 0" in rejects[0][1]
    assert rejects[1][0] == 2 and "`output_tokens` is not a native field: token counts go in " \
        "`completion_tokens`" in rejects[1][1]
    assert _ids(store) == ["c", "d", "e"]
    (meta,) = store.conn.execute("SELECT metadata FROM records WHERE id = 'c'").fetchone()
    assert json.loads(meta) == {"reasoning_tokens": 40}
    (tokens,) = store.conn.execute("SELECT prompt_tokens + completion_tokens FROM records WHERE id = 'c'").fetchone()
    assert tokens == 600


def test_a_csv_column_named_input_tokens_is_a_reject(store, tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("id,ts,provider,model,input_tokens,output_tokens\n"
                    "r1,2026-12-06T12:00:00Z,openai,gpt-4o-mini,500,100\n")
    rejects = []
    summary = import_path(store, str(path), on_reject=rejects.append)
    assert (summary.imported, summary.rejected) == (0, 1)
    assert rejects[0].line == 2 and "`input_tokens` is not a native field" in rejects[0].reason


def test_import_help_lists_every_native_field_with_its_unit():
    out = CliRunner().invoke(cli, ["import", "--help"], terminal_width=200).output
    fields = {"id": "text, required", "ts": "ISO 8601, required", "provider": "text, required",
              "model": "text, required", "user": "text", "key": "text", "agent": "text", "team": "text",
              "prompt_tokens": "tokens", "completion_tokens": "tokens", "cached_input_tokens": "tokens",
              "context_tokens": "tokens", "requests": "count, default 1", "cost_usd": "US dollars",
              "status": "HTTP status, default 200", "verdict": "text"}
    listed = {line.split()[0]: line for line in out.splitlines() if line.startswith("    ") and line.split()}
    for name, unit in fields.items():
        assert name in listed and listed[name].rstrip().endswith(f"[{unit}]"), name
    assert "without an offset it is UTC" in listed["ts"]


def test_a_timestamp_without_an_offset_is_utc_not_the_orgs_zone(store, tmp_path, monkeypatch):
    # The org is in Europe/Berlin (UTC+1 in December): 23:30 without an offset is 23:30 UTC,
    # which is 00:30 on the 7th in Berlin; read as Berlin time it would be 22:30 UTC on the 6th.
    assert store.directory().timezone == "Europe/Berlin"
    line = {"id": "naive", "ts": "2026-12-06T23:30:00", "provider": "openai", "model": "gpt-4o-mini",
            "user": "alice", "prompt_tokens": 10}
    _import(store, tmp_path, [line])
    (ts_us,) = store.conn.execute("SELECT ts_us FROM records").fetchone()
    assert ts_us == int(datetime(2026, 12, 6, 23, 30, tzinfo=UTC).timestamp()) * 1_000_000
    monkeypatch.setenv("USAGE_TUI_NOW", "2026-12-08T12:00:00Z")
    result = CliRunner().invoke(cli, ["spend", "summary", "--db", str(tmp_path / "usage.db"), "--as", "alice",
                                      "--metric", "tokens", "--since", "2026-12-07", "--until", "2026-12-07",
                                      "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["totals"]["tokens"] == 10  # on the 7th in the org's zone
