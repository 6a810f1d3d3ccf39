"""Importers of other tools' formats: the sample files import to totals computed by hand from
the mappings of issue 6, with --format and auto-detected, twice without double counting."""

from __future__ import annotations

import json
from datetime import date

import pytest

from usage_tui.ingest import detect_format, import_path
from usage_tui.model import QuerySpec
from usage_tui.query import run_query
from usage_tui.sample import demo_directory

SAMPLES = {
    # (path, format): (requests, prompt, cached, completion, cost_usd, unpriced_requests)
    ("sample_data/litellm_spendlogs.json", "litellm"):
        # prompt (1500-600) + (5000-2000) + 120; cached 600 + 2000; completion 350 + 600 + 0;
        # spend 0.004125 + 0.0213 + 0.0
        (3, 4020, 2600, 950, 0.025425, 0),
    ("sample_data/litellm_spendlogs.csv", "litellm"):
        # prompt (1200-200) + 3000; cached 200; completion 200 + 300; spend 0.0031 + 0.0102
        (2, 4000, 200, 500, 0.0133, 0),
    ("sample_data/openai_usage_completions.json", "openai"):
        # results with requests: 20 + 2 + 5; prompt (12000-4000) + 800 + (5000-1000);
        # cached 4000 + 1000; completion 3000 + 100 + 1000. Cost from prices:
        # gpt-4o-mini 8000×0.15 + 4000×0.075 + 3000×0.60 = 3300 µ$;
        # gpt-4o 4000×2.50 + 1000×1.25 + 1000×10 = 21250 µ$; model "unknown": 2 unpriced requests
        (27, 12800, 5000, 4100, 0.02455, 2),
    ("sample_data/claude-code/projects", "claude-code"):
        # msg_01AAA (last of its two lines): prompt 4 + 2000 writes, cached 10000, output 250,
        # priced 4×3 + 2000×3.75 + 10000×0.30 + 250×15 = 14262 µ$;
        # msg_01BBB: prompt 10 + 500, cached 12000, output 400, costUSD 0.0123; <synthetic> skipped
        (2, 2514, 22000, 650, 0.026562, 0),
}


def totals(store):
    spec = QuerySpec(viewer="alice", scope="org", since=date(2026, 11, 1), until=date(2026, 11, 30), tz="UTC")
    t = run_query(store, spec).totals
    return (t.requests, t.prompt_tokens, t.cached_input_tokens, t.completion_tokens,
            round(t.cost_usd, 9), t.unpriced_requests)


@pytest.mark.parametrize("path, fmt", list(SAMPLES))
@pytest.mark.parametrize("named", [True, False], ids=["--format", "auto"])
def test_sample_imports_to_hand_computed_totals_twice(store, path, fmt, named):
    first = import_path(store, path, fmt if named else "auto", viewer="alice")
    assert first.rejected == 0 and first.files == 1
    expected = SAMPLES[(path, fmt)]
    assert totals(store) == pytest.approx(expected)
    second = import_path(store, path, fmt if named else "auto", viewer="alice")
    assert (second.imported, second.replaced, second.rejected) == (0, 0, 0)
    assert totals(store) == pytest.approx(expected)
    assert store.conn.execute("SELECT DISTINCT s.format FROM records r JOIN sources s ON s.id = r.source_id"
                              ).fetchall() == [(fmt,)]


@pytest.mark.parametrize("path, fmt", [(p, f) for p, f in SAMPLES if not p.endswith("projects")])
def test_detection(path, fmt):
    with open(path) as f:
        assert detect_format(f.read(65536)) == fmt


def test_litellm_mapping_details(store):
    store.load_directory(demo_directory(login="alice"))  # its keys, agents and teams
    import_path(store, "sample_data/litellm_spendlogs.json", "litellm")
    rows = {r[0]: r[1:] for r in store.conn.execute(
        "SELECT id, provider, model, user, team, agent, status, metadata FROM records")}
    assert rows["chatcmpl-9f1c2d3e-0001"][:6] == ("openai", "gpt-4o", "alice", "platform", None, 200)
    # empty strings are absent: user from the key's owner, team from bob's primary team
    assert rows["chatcmpl-9f1c2d3e-0002"][:5] == ("anthropic", "claude-sonnet-4-5", "bob", "platform", None)
    assert rows["chatcmpl-9f1c2d3e-0003"][:6] == ("gemini", "gemini-2.5-flash", "erin", "research",
                                                   "paper-digest", 500)
    assert json.loads(rows["chatcmpl-9f1c2d3e-0001"][6]) == {
        "call_type": "acompletion", "end_user": "customer-42", "model_group": "gpt-4o",
        "request_tags": ["checkout", "prod"], "session_id": "sess-a1"}


def test_litellm_jsonl_bad_lines(store, tmp_path):
    good = {"request_id": "r1", "startTime": "2026-11-20T10:00:00", "model": "openai/gpt-4o", "spend": 0.5,
            "prompt_tokens": 10, "completion_tokens": 5}
    path = tmp_path / "spend.jsonl"
    path.write_text("\n".join([json.dumps(good), "{oops", json.dumps({**good, "request_id": "r2",
                                                                       "prompt_tokens": "many"}),
                               json.dumps({**good, "request_id": "r3", "metadata": {
                                   "usage_object": {"cache_read_input_tokens": 11}}})]) + "\n")
    seen = []
    summary = import_path(store, str(path), "auto", on_reject=seen.append)
    assert (summary.imported, summary.rejected) == (1, 3)
    assert [(j.line, j.reason.split(":")[0]) for j in seen] == [
        (2, "malformed JSON"), (3, '`prompt_tokens` must be an integer, got "many"'),
        (4, "cached tokens (11) exceed prompt_tokens (10)")]


def test_openai_ids_are_stable_and_reimport_replaces(store, tmp_path):
    page = json.load(open("sample_data/openai_usage_completions.json"))
    import_path(store, "sample_data/openai_usage_completions.json", "openai")
    page["data"][0]["results"][0]["output_tokens"] = 3500  # the provider revised the bucket
    path = tmp_path / "usage.jsonl"
    path.write_text(json.dumps(page) + "\n")  # JSON lines of pages this time
    summary = import_path(store, str(path), "openai")
    assert (summary.imported, summary.replaced, summary.unchanged) == (0, 1, 2)
    assert totals(store)[3] == 4100 + 500


def test_openai_array_of_pages(store, tmp_path):
    page = json.load(open("sample_data/openai_usage_completions.json"))
    path = tmp_path / "pages.json"
    path.write_text(json.dumps([page, {"object": "page", "data": [], "has_more": False}], indent=1))
    assert import_path(store, str(path), "auto").imported == 3


def test_claude_code_lines(store, tmp_path):
    folder = tmp_path / "projects" / "p"
    folder.mkdir(parents=True)
    lines = open("sample_data/claude-code/projects/-home-alice-src-shop/"
                 "5b1e0c3a-7d2f-4c1e-9a8b-2f3e4d5c6b7a.jsonl").read().splitlines()
    (folder / "s.jsonl").write_text("\n".join(lines[:3] + ["{broken"] + lines[3:]) + "\n")
    seen = []
    summary = import_path(store, str(tmp_path / "projects"), "claude-code", user="bob", on_reject=seen.append)
    assert (summary.imported, summary.replaced, summary.rejected) == (2, 1, 1)
    assert [(j.line, j.reason) for j in seen] == [(4, "malformed JSON: Expecting property name enclosed in "
                                                      "double quotes")]
    assert {r[0] for r in store.conn.execute("SELECT user FROM records")} == {"bob"}
    meta = json.loads(store.conn.execute("SELECT metadata FROM records LIMIT 1").fetchone()[0])
    assert set(meta) == {"sessionId", "cwd", "gitBranch", "version"}
