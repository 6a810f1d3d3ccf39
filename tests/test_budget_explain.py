"""Issue 26: `budget explain [USER]`: why a user is over budget or not and when they can retry,
from one snapshot, with the scope rules of `budget status`. Figures worked out by hand."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from usage_tui.budget_explain import explain
from usage_tui.cli import cli

from .conftest import location, write

NOW = "2026-11-24T12:00:00Z"  # a Tuesday; bob's $10 weekly window is [Nov 22 23:00Z, Nov 29 23:00Z)


@pytest.fixture
def spent(engine_store, monkeypatch):
    write(engine_store,
          {"id": "before", "ts": "2026-11-22T22:00:00Z", "provider": "p", "model": "big", "user": "bob", "cost_usd": 50.0},
          {"id": "a", "ts": "2026-11-23T08:00:00Z", "provider": "p", "model": "big", "user": "bob", "cost_usd": 3.0},
          {"id": "b", "ts": "2026-11-23T09:00:00Z", "provider": "p", "model": "big", "user": "bob", "cost_usd": 2.5},
          {"id": "c", "ts": "2026-11-24T10:00:00Z", "provider": "p", "model": "small", "key": "k_bob", "cost_usd": 0.5},
          {"id": "u", "ts": "2026-11-24T10:30:00Z", "provider": "acme", "model": "mystery", "user": "bob",
           "requests": 2},
          {"id": "after", "ts": "2026-11-30T00:00:00Z", "provider": "p", "model": "big", "user": "bob", "cost_usd": 70.0},
          {"id": "other", "ts": "2026-11-24T10:00:00Z", "provider": "p", "model": "big", "user": "alice", "cost_usd": 9.0})
    monkeypatch.setenv("USAGE_TUI_NOW", NOW)
    monkeypatch.delenv("USAGE_TUI_USER", raising=False)
    monkeypatch.delenv("USAGE_TUI_DB", raising=False)
    return engine_store


def run(*args):
    return CliRunner().invoke(cli, list(args))


def test_within_budget_runs_out_at_the_burn_rate(spent):
    doc = explain(spent, "bob", datetime(2026, 11, 24, 12, tzinfo=UTC))
    # a + b + c = $6 in the 37 hours since the window opened: 6 / 37 × 24 = $3.8919 a day; the $4
    # left last 4 / (6 / 37 h) = 24 h 40 min: Nov 25 12:40Z = 13:40 in Berlin, before the reset
    assert (doc["spent_usd"], doc["remaining_usd"], doc["over"], doc["retry_after_s"]) == (6.0, 4.0, False, None)
    assert doc["burn_rate_usd_per_day"] == pytest.approx(6 / 37 * 24)
    assert doc["runs_out_at"] == "2026-11-25T13:40:00+01:00"
    assert doc["resets_in_s"] == 5 * 86_400 + 11 * 3_600
    assert (doc["window_start"], doc["window_end"]) == ("2026-11-23T00:00:00+01:00", "2026-11-30T00:00:00+01:00")
    assert doc["unpriced_requests"] == 2 and doc["reached_limit"] is None
    assert [(m["row"], m["cost_usd"], m["requests"]) for m in doc["top_models"]] == [
        ("big", 5.5, 2), ("small", 0.5, 1), ("mystery", 0.0, 2)]
    assert sum(m["cost_usd"] for m in doc["top_models"]) == doc["spent_usd"]
    assert [(r["id"], r["cost_usd"], r["unpriced_requests"]) for r in doc["top_requests"]] == [
        ("a", 3.0, 0), ("b", 2.5, 0), ("c", 0.5, 0), ("u", 0.0, 2)]
    assert doc["schema"] == "usage-tui/budget-explain/1"


def test_over_budget_says_when_to_retry(spent):
    write(spent, {"id": "d", "ts": "2026-11-24T11:00:00Z", "provider": "p", "model": "small", "user": "bob",
                  "cost_usd": 4.0},
          {"id": "e", "ts": "2026-11-24T11:30:00Z", "provider": "p", "model": "small", "user": "bob",
           "cost_usd": 1.0})  # after the limit was reached: refused at a gateway, but counted here
    result = run("budget", "explain", "bob", "--db", location(spent), "--as", "alice", "--format", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    # $11 ≥ the $10 limit: over until Nov 30 00:00 Berlin, 471,600 s after now
    assert (doc["spent_usd"], doc["over"], doc["retry_after_s"], doc["runs_out_at"]) == (11.0, True, 471_600, None)
    assert [(m["row"], m["cost_usd"]) for m in doc["top_models"][:2]] == [("big", 5.5), ("small", 5.5)]
    # a $3 + b $2.50 + c $0.50 = $6 before d; d's $4 makes $10: d reached the limit (12:00 in
    # Berlin), not e, the newest
    assert doc["reached_limit"] == {"id": "d", "local_time": "2026-11-24T12:00:00+01:00", "model": "small",
                                    "cost_usd": 4.0}
    text = run("budget", "explain", "bob", "--db", location(spent), "--as", "alice").output.splitlines()
    assert text[0] == ("bob is over budget: $11.00 spent of $10.00 in the weekly window 2026-11-23 00:00 – "
                       "2026-11-30 00:00 (Europe/Berlin).")
    assert text[1] == ("Requests are refused (429) until the window resets at 2026-11-30 00:00: "
                       "Retry-After 471600s (5d 11:00:00).")
    assert text[2] == "The limit was reached at 2026-11-24 12:00 by request d (small, $4.00)."
    models = text.index("Models that spent most of this window:")
    assert [line.split() for line in text[models + 1:models + 4]] == [
        ["big", "$5.50", "50.0%", "2", "requests"], ["small", "$5.50", "50.0%", "3", "requests"],
        ["mystery", "$0.00", "0.0%", "2", "requests"]]


def test_scope_rules_of_budget_status(spent):
    db = location(spent)
    own = run("budget", "explain", "--db", db, "--as", "bob")
    assert own.exit_code == 0 and own.output.startswith("bob is within budget: $6.00 spent of $10.00 ($4.00 left)")
    refused = run("budget", "explain", "alice", "--db", db, "--as", "bob")
    assert refused.exit_code == 3
    assert refused.stderr == ("usage-tui: error: bob may not read alice's budget (your own only; org admins and "
                              "the store's owner see all)\n")
    unknown = run("budget", "explain", "zed", "--db", db, "--as", "alice")
    assert (unknown.exit_code, unknown.stderr) == (2, 'usage-tui: error: unknown user "zed" (not in the directory, '
                                                      'no budget)\n')
    none = run("budget", "explain", "carol", "--db", db, "--as", "alice", "--format", "json")
    doc = json.loads(none.output)
    assert (doc["limit_usd"], doc["over"], doc["top_models"]) == (None, False, [])


def test_counts_read_as_english():
    """'1 request', not '1 requests' (issue 30's grammar rule, in budget explain's text too)."""
    from usage_tui.fmt import requests_text, unpriced_note

    assert [requests_text(n) for n in (0, 1, 2, 1234)] == ["0 requests", "1 request", "2 requests", "1,234 requests"]
    assert unpriced_note(1) == "1 request is unpriced"
