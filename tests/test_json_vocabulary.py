"""Issue 26: one JSON vocabulary for scripts and agents (`row` apart from the gateway `key`,
unpriced as cost 0 + unpriced_requests everywhere, a `schema` on every document, partial
periods), and the period × row output of `spend summary --by-period`.

Expected values are worked out by hand from the six records below (Europe/Berlin, the
small test directory: bob is in platform, r3 and carol's key k_team charge research)."""

from __future__ import annotations

import csv
import io
import json

import pytest
from click.testing import CliRunner

from usage_tui.cli import cli

from .conftest import location, write

RECORDS = (
    # before --since (Tue Nov 3): in the first week, but outside the range
    {"id": "r1", "ts": "2026-11-03T10:00:00Z", "provider": "openai", "model": "gpt-x", "user": "alice",
     "prompt_tokens": 100, "completion_tokens": 10, "cost_usd": 1.0},
    {"id": "r2", "ts": "2026-11-10T10:00:00Z", "provider": "openai", "model": "gpt-x", "user": "bob",
     "prompt_tokens": 200, "cost_usd": 2.0},
    # unpriced: no logged cost, no price for acme/mystery; 3 requests
    {"id": "r3", "ts": "2026-11-10T11:00:00Z", "provider": "acme", "model": "mystery", "user": "carol",
     "team": "research", "prompt_tokens": 50, "requests": 3},
    {"id": "r4", "ts": "2026-11-23T10:00:00Z", "provider": "openai", "model": "gpt-x", "key": "k_team",
     "prompt_tokens": 40, "completion_tokens": 5, "cost_usd": 0.5},
    # after --until (Tue Nov 24, Berlin)
    {"id": "r5", "ts": "2026-11-25T10:00:00Z", "provider": "openai", "model": "gpt-x", "user": "bob",
     "prompt_tokens": 7, "cost_usd": 100.0},
    {"id": "r6", "ts": "2026-11-23T10:00:00Z", "provider": "openai", "model": "gpt-x", "user": "bob", "cost_usd": 12.0},
)
VIEW = ["--scope", "org", "--group-by", "team", "--granularity", "weekly", "--since", "2026-11-04",
        "--until", "2026-11-24"]


@pytest.fixture
def db(engine_store, monkeypatch):
    write(engine_store, *RECORDS)
    monkeypatch.setenv("USAGE_TUI_NOW", "2026-11-24T12:00:00Z")
    monkeypatch.setenv("USAGE_TUI_USER", "alice")  # org admin
    monkeypatch.delenv("USAGE_TUI_DB", raising=False)
    return location(engine_store)


def run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_summary_rows_are_named_row_and_weeks_cut_by_the_range_are_partial(db):
    result = run("spend", "summary", "--db", db, *VIEW, "--metric", "tokens", "--format", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["schema"] == "usage-tui/spend-summary/1"
    # platform: r2 200 + r6 0 tokens; research: r3 50 + r4 45
    assert [(r["row"], r["tokens"], r["unpriced_requests"]) for r in doc["rows"]] == [
        ("platform", 200, 0), ("research", 95, 3)]
    assert all("key" not in r for r in doc["rows"])
    # Nov 4 (Wed) … Nov 24 (Tue): the weeks of Nov 2 and Nov 23 are cut by the range
    assert [(p["period"], p["partial"], p["value"]) for p in doc["series"]] == [
        ("2026-11-02", True, 0), ("2026-11-09", False, 250), ("2026-11-16", False, 0), ("2026-11-23", True, 45)]
    # priced cost only: 2 + 0.5 + 12; unpriced: r3's 3 requests
    assert (doc["totals"]["cost_usd"], doc["totals"]["unpriced_requests"]) == (14.5, 3)


def test_tokens_by_team_per_week_as_csv_is_one_command(db):
    result = run("spend", "summary", "--db", db, *VIEW, "--metric", "tokens", "--by-period", "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert list(rows[0])[:6] == ["period", "partial", "row", "cost_usd", "requests", "tokens"]
    got = [(r["period"], r["partial"], r["row"], r["tokens"], r["requests"], r["unpriced_requests"]) for r in rows]
    assert got == [
        ("2026-11-02", "true", "platform", "0", "0", "0"), ("2026-11-02", "true", "research", "0", "0", "0"),
        ("2026-11-09", "false", "platform", "200", "1", "0"), ("2026-11-09", "false", "research", "50", "3", "3"),
        ("2026-11-16", "false", "platform", "0", "0", "0"), ("2026-11-16", "false", "research", "0", "0", "0"),
        ("2026-11-23", "true", "platform", "0", "1", "0"), ("2026-11-23", "true", "research", "45", "1", "0"),
    ]
    assert [float(r["cost_usd"]) for r in rows if r["row"] == "platform"] == [0.0, 2.0, 0.0, 12.0]


def test_by_period_jsonl_and_json_carry_the_same_cells(db):
    lines = run("spend", "summary", "--db", db, *VIEW, "--by-period", "--format", "jsonl").output.splitlines()
    cells = [json.loads(line) for line in lines]
    assert {c["schema"] for c in cells} == {"usage-tui/spend-period-row/1"}
    doc = json.loads(run("spend", "summary", "--db", db, *VIEW, "--by-period", "--format", "json").output)
    assert doc["periods"] == [{k: v for k, v in c.items() if k != "schema"} for c in cells]
    # each row's cells add up to the row (cost: platform 2 + 12; the default metric orders the rows)
    assert [(r["row"], r["cost_usd"]) for r in doc["rows"]] == [("platform", 14.0), ("research", 0.5)]
    for row in doc["rows"]:
        mine = [c for c in cells if c["row"] == row["row"]]
        assert sum(c["cost_usd"] for c in mine) == row["cost_usd"]
        assert sum(c["requests"] for c in mine) == row["requests"]
    rows = [json.loads(line) for line in run("spend", "summary", "--db", db, *VIEW, "--format", "jsonl").output.splitlines()]
    assert [(r["schema"], r["row"], r["requests"]) for r in rows] == [
        ("usage-tui/spend-summary-row/1", "platform", 2), ("usage-tui/spend-summary-row/1", "research", 4)]


def test_the_pivot_table_marks_partial_weeks(db):
    result = run("spend", "summary", "--db", db, *VIEW, "--metric", "tokens", "--by-period")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    header = next(line for line in lines if line.startswith("TEAM"))
    assert header.split() == ["TEAM", "~2026-11-02", "2026-11-09", "2026-11-16", "~2026-11-23", "TOTAL"]
    assert next(line for line in lines if line.startswith("research")).split() == ["research", "0", "50", "0", "45", "95"]
    assert lines[-1].startswith("~ partial week")


def test_by_period_is_bounded(db, monkeypatch):
    from usage_tui import query_periods
    monkeypatch.setattr(query_periods, "MAX_CELLS", 7)  # 2 rows × 4 weeks = 8 cells
    result = CliRunner().invoke(cli, ["spend", "summary", "--db", db, *VIEW, "--by-period", "--format", "csv"])
    assert result.exit_code == 2
    assert result.stderr.startswith("usage-tui: error: 2 rows × 4 periods is more than 7 cells")


def test_records_spell_unpriced_as_the_summaries_do(db):
    """An unpriced record is cost_usd 0 with unpriced_requests = its requests: a plain sum()
    over the records equals the summary row (the issue's crash was a sum over nulls)."""
    out = run("spend", "records", "--db", db, *[v for v in VIEW if v not in ("--granularity", "weekly")],
              "--focus", "research", "--format", "json")
    assert out.exit_code == 0, out.output
    doc = json.loads(out.output)
    assert doc["schema"] == "usage-tui/spend-records/1"
    recs = {r["id"]: r for r in doc["records"]}
    assert set(recs) == {"r3", "r4"}
    assert (recs["r3"]["cost_usd"], recs["r3"]["unpriced_requests"]) == (0.0, 3)
    assert (recs["r4"]["cost_usd"], recs["r4"]["unpriced_requests"], recs["r4"]["key"]) == (0.5, 0, "k_team")
    assert sum(r["cost_usd"] for r in doc["records"]) == 0.5
    assert {r["schema"] for r in doc["records"]} == {"usage-tui/spend-record/1"}
    csv_out = run("spend", "records", "--db", db, "--scope", "org", "--since", "2026-11-10", "--until", "2026-11-10",
                  "--search", "r3", "--format", "csv").output
    [row] = csv.DictReader(io.StringIO(csv_out))
    assert (row["cost_usd"], row["unpriced_requests"]) == ("0.0", "3")


def test_budget_documents_carry_a_schema_and_check_answers_in_json(db):
    # bob: $12 (r6) of his $10 weekly budget; the week ends Mon Nov 30 00:00 Berlin = Nov 29 23:00Z,
    # 5 days 11 hours after now (Nov 24 12:00Z) = 471,600 s
    check = run("budget", "check", "bob", "--db", db, "--format", "json")
    assert check.exit_code == 75
    assert json.loads(check.output) == {"schema": "usage-tui/budget-check/1", "user": "bob", "allowed": False,
                                        "over": True, "retry_after_s": 471600,
                                        "window_end": "2026-11-30T00:00:00+01:00"}
    fine = run("budget", "check", "carol", "--db", db, "--format", "json")
    assert fine.exit_code == 0
    assert json.loads(fine.output) == {"schema": "usage-tui/budget-check/1", "user": "carol", "allowed": True,
                                       "over": False, "retry_after_s": None, "window_end": None}
    every = json.loads(run("budget", "status", "--all", "--db", db, "--format", "json").output)
    assert every["schema"] == "usage-tui/budget-statuses/1" and [s["user"] for s in every["budgets"]] == ["bob"]


@pytest.mark.parametrize("tz", ["Europe/Berlin", "Asia/Kathmandu"])  # +05:45: no edge on the hour grid
@pytest.mark.parametrize(("scope", "team"), [("org", None), ("team", "platform"), ("personal", None)])
def test_period_cells_from_the_rollups_equal_the_records(demo_db, scope, team, tz):
    """The cells are read as the view's rows are (rollups, records at the edges); the records
    alone, grouped by bucket and key in one statement, are the reference."""
    from datetime import date

    from usage_tui.model import QuerySpec
    from usage_tui.query_periods import run_by_period
    from usage_tui.store import Store

    store = Store.for_reading(demo_db)
    for granularity, group_by in (("weekly", "user"), ("daily", "model")):
        spec = QuerySpec(viewer="alice", scope=scope, team=team, group_by=group_by, granularity=granularity,
                         since=date(2026, 10, 29), until=date(2026, 11, 24), tz=tz)
        result, cells = run_by_period(store, spec)
        _, reference = run_by_period(store, spec, force_records=True)
        assert cells == reference
        assert sum(c.totals.requests for c in cells) == result.totals.requests > 0


def test_period_cells_count_records_not_rolled_up_yet_once(engine_store, monkeypatch):
    """Records appended by an import still running (not in the rollups yet) are in the cells
    once, at every edge: compared with the records alone and with hand-made sums."""
    from datetime import date

    from usage_tui.model import QuerySpec
    from usage_tui.query_periods import run_by_period

    from .conftest import append

    write(engine_store, *RECORDS)
    # pending: one inside a week, one in the sliver between Berlin's midnight and UTC's (Nov 22 23:30Z
    # is Mon Nov 23 00:30 in Berlin: the week of Nov 23)
    append(engine_store, {"id": "p1", "ts": "2026-11-11T10:00:00Z", "provider": "openai", "model": "gpt-x",
                          "user": "bob", "prompt_tokens": 1000},
           {"id": "p2", "ts": "2026-11-22T23:30:00Z", "provider": "openai", "model": "gpt-x", "user": "bob",
            "prompt_tokens": 3000})
    if getattr(engine_store, "dsn", None) is None:  # SQLite rolls them up when the import ends
        assert engine_store.pending_rollups() is not None
    spec = QuerySpec(viewer="alice", scope="org", group_by="team", granularity="weekly", metric="tokens",
                     since=date(2026, 11, 4), until=date(2026, 11, 24), tz="Europe/Berlin")
    _, cells = run_by_period(engine_store, spec)
    _, reference = run_by_period(engine_store, spec, force_records=True)
    assert cells == reference
    platform = [(c.period.isoformat(), c.totals.tokens) for c in cells if c.row == "platform"]
    # r2 200 + p1 1,000 in the week of Nov 9; r6 0 + p2 3,000 in the week of Nov 23
    assert platform == [("2026-11-02", 0), ("2026-11-09", 1200), ("2026-11-16", 0), ("2026-11-23", 3000)]
