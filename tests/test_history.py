"""The request history (`query.run_history`, `spend records`): the records behind a view or a
row, their keyset pages, scope rules, and how each record was attributed and priced."""

from __future__ import annotations

import copy
import importlib.metadata
import json
import random
from contextlib import ExitStack
from datetime import date, datetime

import pytest
from click.testing import CliRunner

from usage_tui import query
from usage_tui.cli import cli
from usage_tui.directory import parse_directory
from usage_tui.history import Explainer
from usage_tui.model import GROUPINGS, NANO, QuerySpec, Totals
from usage_tui.query import (
    HISTORY_PAGE_MAX,
    QueryError,
    ScopeError,
    history_sql,
    iter_history,
    plan_query,
    run_history,
    run_query,
)
from usage_tui.store import Store

from . import reference
from .conftest import DIRECTORY, ENGINES, location, pg_schema, write

D = date.fromisoformat
# Europe/Berlin leaves summer time on Sunday 2026-10-25 at 03:00 CEST (01:00 UTC): that day has
# 25 hours, local midnight is 22:00Z before it and 23:00Z after it.
SINCE, UNTIL = D("2026-10-25"), D("2026-11-01")
EDGE_INSTANTS = [
    "2026-10-24T21:59:59Z",  # Oct 24 23:59:59 CEST: outside
    "2026-10-24T22:00:00Z",  # Oct 25 00:00 CEST: the first instant inside
    "2026-10-25T00:30:00Z",  # 02:30 CEST, the first pass of the repeated hour
    "2026-10-25T01:30:00Z",  # 02:30 CET, the second pass
    "2026-10-25T22:59:59Z",  # Oct 25 23:59:59 CET
    "2026-10-25T23:00:00Z",  # Oct 26 00:00 CET
    "2026-11-01T22:59:59Z",  # Nov 1 23:59:59 CET: the last instant inside
    "2026-11-01T23:00:00Z",  # Nov 2 00:00 CET: outside
]


def dataset(n: int = 400, seed: int = 16) -> list[dict]:
    """Records over every attribution path (user, key owner, agent manager, none), every price
    path the reference can price (logged, override, unpriced), around the DST change and the
    range's edges, with a few ids written twice (the last one wins)."""
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        ts = EDGE_INSTANTS[i % len(EDGE_INSTANTS)] if i < 3 * len(EDGE_INSTANTS) else (
            f"2026-10-{rnd.randint(23, 31):02d}T{rnd.randint(0, 23):02d}:{rnd.randint(0, 59):02d}:00Z"
            if rnd.random() < 0.7 else f"2026-11-0{rnd.randint(1, 3)}T{rnd.randint(0, 23):02d}:15:00Z")
        provider, model = rnd.choice([("internal", "llama"), ("openai", "gpt-4o"), ("acme", "mystery")])
        rec = {"id": f"r{i:04d}" if rnd.random() > 0.05 else f"r{rnd.randint(100, 120):04d}", "ts": ts,
               "provider": provider, "model": model,
               "prompt_tokens": rnd.randint(0, 5000), "completion_tokens": rnd.randint(0, 2000),
               "cached_input_tokens": rnd.randint(0, 1000), "requests": rnd.randint(1, 3)}
        rec["context_tokens"] = rnd.randint(0, rec["prompt_tokens"] + rec["cached_input_tokens"])
        if provider == "openai":
            rec["cost_usd"] = round(rnd.uniform(0, 2), 6)  # logged: the reference can price it
        for field, choices in (("user", ["alice", "bob", "carol", "dave", "zed"]), ("key", ["k_bob", "k_team", "k_orphan", "k_gone"]),
                               ("agent", ["bot", "stray"]), ("team", ["platform", "research", "web"]),
                               ("verdict", ["allow", "block", "redact"])):
            if rnd.random() < 0.4:
                rec[field] = rnd.choice(choices)
        out.append(rec)
    return out


def totals_of(records) -> Totals:
    t = Totals()
    for r in records:
        t.add(Totals(cost_nano=r.cost_nano or 0, requests=r.requests, prompt_tokens=r.prompt_tokens,
                     completion_tokens=r.completion_tokens, cached_input_tokens=r.cached_input_tokens,
                     context_tokens=r.context_tokens, unpriced_requests=0 if r.cost_nano is not None else r.requests))
    return t


@pytest.fixture(scope="module", params=ENGINES)
def dst_store(request, tmp_path_factory):
    """Built once for the module per engine: the tests only read it."""
    with ExitStack() as stack:
        if request.param == "sqlite":
            store = Store(tmp_path_factory.mktemp("history") / "usage.db")
        else:
            from usage_tui.store.postgres import PostgresStore

            store = PostgresStore(stack.enter_context(pg_schema("history"))[1])
        store.load_directory(copy.deepcopy(DIRECTORY))
        records = dataset()
        write(store, *records)
        yield store, records
        store.close()


@pytest.fixture
def store(engine_store):
    """The tests here that take `store` run on SQLite and on PostgreSQL, with the same answers."""
    return engine_store


VIEWS = [("alice", "org", None), ("alice", "personal", None), ("carol", "team", "platform"),
         ("bob", "personal", None)]


@pytest.mark.parametrize("group_by", GROUPINGS)
@pytest.mark.parametrize(("viewer", "scope", "team"), VIEWS)
def test_the_history_of_every_row_sums_to_the_row(dst_store, group_by, viewer, scope, team):
    """For every grouping, across the DST change: the records of each row add up to the row's
    figures in run_query (the rollups) and in the independent reference."""
    store, records = dst_store
    spec = QuerySpec(viewer=viewer, scope=scope, team=team, group_by=group_by, since=SINCE, until=UNTIL,
                     tz="Europe/Berlin")
    result = run_query(store, spec)
    expected = reference.summary(records, DIRECTORY, viewer=viewer, scope=scope, team=team, group_by=group_by,
                                 since=SINCE, until=UNTIL, tz="Europe/Berlin")
    assert [r.key for r in result.rows] == [r["key"] for r in expected["rows"]]
    assert result.rows, "the view must hold rows for the test to mean anything"
    for row, want in zip(result.rows, expected["rows"], strict=True):
        history = list(iter_history(store, QuerySpec(**{**vars(spec), "focus": row.key}), page_size=37))
        got = totals_of(history)
        assert got == row.totals, row.key
        assert got.as_dict() == pytest.approx({k: v for k, v in want.items() if k not in ("key", "share")},
                                              abs=1e-6), row.key
        assert len({r.id for r in history}) == len(history)  # each record once
    whole = totals_of(iter_history(store, spec))
    assert whole == result.totals


def test_edges_of_the_range_in_the_reporting_zone(dst_store):
    store, _ = dst_store
    spec = QuerySpec(viewer="alice", scope="org", since=SINCE, until=UNTIL, tz="Europe/Berlin")
    ts = {r.ts_us for r in iter_history(store, spec)}
    us = {s: int(datetime.fromisoformat(s).timestamp()) * 1_000_000 for s in EDGE_INSTANTS}
    inside = [s for s in EDGE_INSTANTS if us[s] in ts]
    assert inside == EDGE_INSTANTS[1:-1]  # the first and the last are the local days outside


def test_pages_are_keyset_and_ordered(dst_store):
    store, _ = dst_store
    spec = QuerySpec(viewer="alice", scope="org", since=SINCE, until=UNTIL, tz="Europe/Berlin")
    for order, key in (("time", lambda r: (r.ts_us, r.id)), ("cost", lambda r: (r.cost_nano if r.cost_nano is not None else -1, r.id))):
        one = run_history(store, spec, order=order, limit=HISTORY_PAGE_MAX).records
        assert one == sorted(one, key=key, reverse=True)
        paged = list(iter_history(store, spec, order=order, page_size=7))
        assert paged == one
    by_cost = run_history(store, spec, order="cost", limit=HISTORY_PAGE_MAX).records
    assert by_cost[-1].cost_nano is None and by_cost[0].cost_nano is not None  # unpriced last


def test_org_history_by_time_is_every_record_of_the_range_newest_first(dst_store):
    """The org's history by time walks the (ts_us) index: the same records, in the same order,
    as sorting the range's records by (time, id) here, in pages of any size."""
    store, _ = dst_store
    spec = QuerySpec(viewer="alice", scope="org", since=SINCE, until=UNTIL, tz="Europe/Berlin")
    plan = plan_query(spec, store.directory())
    lo, hi = plan.edges_us[0], plan.edges_us[-1]
    rows = store.conn.execute("SELECT id, ts_us, team FROM records").fetchall()
    expected = sorted(((ts, rid) for rid, ts, _ in rows if lo <= ts < hi), reverse=True)
    assert len({ts for ts, _ in expected}) < len(expected)  # ties in time: broken by id
    for size in (1, 7, 1000):
        assert [(r.ts_us, r.id) for r in iter_history(store, spec, page_size=size)] == expected


def test_history_by_time_reads_a_time_index_not_every_record(dst_store):
    if not isinstance(dst_store[0], Store):
        pytest.skip("SQLite's query plan and statement trace")
    store, _ = dst_store
    directory = store.directory()
    for scope, team, focus, group_by, index in (
            ("org", None, None, "model", "records_ts"), ("org", None, "llama", "model", "records_ts"),
            ("org", None, "bob", "user", "records_user_ts"), ("org", None, "web", "team", "records_team_ts"),
            ("team", "platform", None, "model", "records_team_ts"), ("personal", None, "llama", "model", "records_user_ts")):
        spec = QuerySpec(viewer="alice", scope=scope, team=team, since=SINCE, until=UNTIL, group_by=group_by,
                         focus=focus)
        for after in (None, (1, "x")):
            sql, params = history_sql(plan_query(spec, directory), after=after)
            steps = [row[-1] for row in store.conn.execute(f"EXPLAIN QUERY PLAN {sql}", params)]
            reads = [step for step in steps if step.startswith(("SCAN r", "SEARCH r"))]
            assert len(reads) == 1 and f"SEARCH r USING INDEX {index} " in reads[0], (scope, focus, steps)
            assert not any("TEMP B-TREE FOR ORDER BY" in step for step in steps), steps  # walked in order


def test_a_rare_org_row_scans_its_range_instead_of_walking_the_time_index(dst_store, monkeypatch):
    if not isinstance(dst_store[0], Store):
        pytest.skip("SQLite's query plan and statement trace")
    """A row with few records in the range would make the (ts_us) walk look up nearly every
    record of it at random: below HISTORY_WALK_MIN_SHARE of the range's requests its pages scan
    instead, with the same records in the same order."""
    store, _ = dst_store
    spec = QuerySpec(viewer="alice", scope="org", since=SINCE, until=UNTIL, group_by="model", focus="mystery")
    plan = plan_query(spec, store.directory())
    lo, hi = plan.edges_us[0], plan.edges_us[-1]
    expected = sorted(((ts, rid) for rid, ts in store.conn.execute("SELECT id, ts_us FROM records WHERE model = 'mystery'")
                       if lo <= ts < hi), reverse=True)
    share = sum(1 for _ in expected) / sum(1 for (ts,) in store.conn.execute("SELECT ts_us FROM records") if lo <= ts < hi)
    assert 0.2 < share < 0.5  # about a third of the records (requests 1-3 each: about a third of them too)
    for min_share, walked in ((0.1, True), (0.6, False)):
        monkeypatch.setattr(query, "HISTORY_WALK_MIN_SHARE", min_share)
        ran: list[str] = []
        store.conn.set_trace_callback(ran.append)
        got = [(r.ts_us, r.id) for r in iter_history(store, spec, page_size=7)]
        store.conn.set_trace_callback(None)
        assert got == expected
        pages = [sql for sql in ran if sql.startswith("SELECT r.id")]
        assert pages and all(("+r.ts_us" not in sql) == walked for sql in pages), min_share


def test_last_page_says_there_is_no_more(dst_store):
    store, _ = dst_store
    spec = QuerySpec(viewer="alice", scope="org", since=SINCE, until=UNTIL, tz="Europe/Berlin")
    n = len(list(iter_history(store, spec)))
    page = run_history(store, spec, limit=n)
    assert page.after is not None  # a full page may have a successor…
    assert run_history(store, spec, after=page.after, limit=5).records == []
    assert run_history(store, spec, limit=n - 1).after == (page.records[-2].ts_us, page.records[-2].id)


def test_search_matches_id_model_and_user_case_insensitively(store):
    write(store,
          {"id": "Alpha-1", "ts": "2026-11-20T09:00:00Z", "provider": "openai", "model": "gpt-4o", "user": "bob"},
          {"id": "beta-2", "ts": "2026-11-20T10:00:00Z", "provider": "openai", "model": "GPT-mini", "user": "carol"},
          {"id": "gamma-3", "ts": "2026-11-20T11:00:00Z", "provider": "acme", "model": "x", "user": "Alphonse"})
    spec = QuerySpec(viewer="alice", scope="org", since=D("2026-11-20"), until=D("2026-11-20"), tz="UTC")
    ids = lambda s: [r.id for r in run_history(store, spec, search=s).records]  # noqa: E731
    assert ids("ALPH") == ["gamma-3", "Alpha-1"]  # user Alphonse, id Alpha-1; newest first
    assert ids("gpt") == ["beta-2", "Alpha-1"]
    assert ids("carol") == ["beta-2"]
    assert ids("%") == []  # no LIKE wildcards: a plain substring
    assert ids("") == ["gamma-3", "beta-2", "Alpha-1"]


@pytest.mark.parametrize("value", ["X'; DROP TABLE records; --", "%_A", "K\"ey"])
def test_history_sql_binds_every_value(value):
    directory = parse_directory(DIRECTORY)
    spec = QuerySpec(viewer=value, scope="personal", group_by="key", focus=value, since=SINCE, until=UNTIL)
    sql, params = history_sql(plan_query(spec, directory), search=value, after=(5, value))
    assert value not in sql and value.lower() not in sql
    # viewer, focus and the cursor's id as given; the search lowered, once per column it matches
    assert params.count(value) == 3 and params.count(value.lower()) == 3


@pytest.mark.parametrize(("viewer", "scope", "team"), [("bob", "org", None), ("bob", "team", "platform"),
                                                        ("carol", "team", "research"), ("stranger", "org", None)])
def test_a_scope_you_may_not_see_is_refused_with_no_row(dst_store, viewer, scope, team, monkeypatch):
    store, _ = dst_store
    ran = []
    execute = store.execute
    monkeypatch.setattr(store, "execute", lambda sql, params=(): ran.append(sql) or execute(sql, params))
    with pytest.raises(ScopeError):
        run_history(store, QuerySpec(viewer=viewer, scope=scope, team=team, since=SINCE, until=UNTIL))
    assert not [s for s in ran if "FROM records" in s]  # refused before any record is read
    run_history(store, QuerySpec(viewer="alice", scope="org", since=SINCE, until=UNTIL))
    assert [s for s in ran if "FROM records" in s]  # (an allowed one is read through store.execute)


@pytest.mark.parametrize(("kwargs", "message"), [({"order": "size"}, "unknown order"), ({"limit": 0}, "limit"),
                                                  ({"limit": HISTORY_PAGE_MAX + 1}, "limit"),
                                                  ({"search": "x" * 257}, "longer than 256")])
def test_bad_history_arguments(store, kwargs, message):
    with pytest.raises(QueryError, match=message):
        run_history(store, QuerySpec(viewer="alice"), **kwargs)


# -- how a record was attributed and priced -------------------------------------------------------
EXPLAIN_RECORDS = [
    {"id": "e1", "ts": "2026-11-20T09:00:00Z", "provider": "openai", "model": "gpt-4o", "user": "alice",
     "prompt_tokens": 1000, "cost_usd": 0.25},
    {"id": "e2", "ts": "2026-11-20T09:01:00Z", "provider": "internal", "model": "llama", "key": "k_bob",
     "prompt_tokens": 1000},
    {"id": "e3", "ts": "2026-11-20T09:02:00Z", "provider": "internal", "model": "llama", "key": "k_team",
     "prompt_tokens": 1000},
    {"id": "e4", "ts": "2026-11-20T09:03:00Z", "provider": "acme", "model": "secret-v1", "agent": "bot"},
    {"id": "e5", "ts": "2026-11-20T09:04:00Z", "provider": "acme", "model": "secret-v1", "key": "k_orphan",
     "agent": "stray"},
    {"id": "e6", "ts": "2026-11-20T09:05:00Z", "provider": "acme", "model": "secret-v1", "key": "k_gone",
     "team": "research"},
    {"id": "e7", "ts": "2026-11-20T09:06:00Z", "provider": "openai", "model": "gpt-4o", "user": "bob",
     "prompt_tokens": 1_000_000, "cached_input_tokens": 1_000_000, "completion_tokens": 1_000_000},
]


@pytest.fixture
def explained(store):
    write(store, *EXPLAIN_RECORDS)
    spec = QuerySpec(viewer="alice", scope="org", since=D("2026-11-20"), until=D("2026-11-20"))
    explainer = Explainer(store.directory(), store.pricer())
    return {r.id: (explainer.attribution(r), explainer.price_source(r), r) for r in iter_history(store, spec)}


def test_attribution_in_words(explained):
    assert explained["e1"][0] == "user alice (the request's identity); team platform, primary team of alice"
    assert explained["e2"][0] == "user bob, via key k_bob (owner bob); team platform, primary team of bob"
    assert explained["e3"][0] == "user carol, via key k_team (owner carol); team research, via key k_team"
    assert explained["e4"][0] == "user dave, via agent bot (manager dave); no team"
    assert explained["e5"][0] == ("unattributed (no user, key k_orphan has no owner, agent stray has no manager); "
                                  "team platform, via key k_orphan")
    assert explained["e6"][0] == ("unattributed (no user, key k_gone is not in the directory, no agent); "
                                  "team research (named by the request)")


def test_price_source_in_words(explained):
    assert explained["e1"][1] == "logged by the gateway"
    # conftest's override: $2 in, $4 out, $1 cached per million
    assert explained["e2"][1] == "override internal/llama: $2.00/M in, $4.00/M out, $1.00/M cached"
    assert explained["e4"][1] == "unpriced: no price for acme/secret-v1"
    # OpenAI's list price for gpt-4o: $2.50 in, $10.00 out, $1.25 cached input per million tokens;
    # 1M of each: 2.50 + 1.25 + 10.00 = $13.75
    version = importlib.metadata.version("genai-prices")
    assert explained["e7"][1] == f"genai-prices {version}: openai/gpt-4o $2.50/M in, $10.00/M out, $1.25/M cached"
    assert explained["e7"][2].cost_nano == 13_750_000_000


# -- spend records ------------------------------------------------------------------------------------
@pytest.fixture
def db(dst_store, monkeypatch):
    store, _ = dst_store
    monkeypatch.setenv("USAGE_TUI_NOW", "2026-11-01T12:00:00Z")
    monkeypatch.delenv("USAGE_TUI_USER", raising=False)
    return location(store)


def cli_run(*args):
    return CliRunner().invoke(cli, ["spend", "records", *args], catch_exceptions=False)


VIEW = ["--since", "2026-10-25", "--until", "2026-11-01", "--tz", "Europe/Berlin"]


def test_records_json_sums_to_the_summary_row(db):
    summary = CliRunner().invoke(cli, ["spend", "summary", "--db", db, "--as", "alice", "--scope", "org",
                                       "--group-by", "user", "--format", "json", *VIEW])
    row = json.loads(summary.output)["rows"][0]
    out = cli_run("--db", db, "--as", "alice", "--scope", "org", "--group-by", "user", "--focus", row["row"],
                  "--limit", "100000", "--format", "json", *VIEW)
    assert out.exit_code == 0, out.output
    doc = json.loads(out.output)
    assert doc["more"] is False and doc["focus"] == row["row"] and doc["tz"] == "Europe/Berlin"
    recs = doc["records"]
    assert sum(r["requests"] for r in recs) == row["requests"]
    assert sum(r["tokens"] for r in recs) == row["tokens"]
    assert sum(round((r["cost_usd"] or 0) * NANO) for r in recs) == round(row["cost_usd"] * NANO)
    assert {r["user"] for r in recs} == {None if row["row"] == "(unattributed)" else row["row"]}
    first = recs[0]
    assert set(first) >= {"id", "ts", "local_time", "model", "attribution", "price_source", "source", "metadata",
                          "prompt_tokens", "cached_input_tokens", "completion_tokens", "context_tokens", "status"}


def test_records_limit_order_and_jsonl(db):
    out = cli_run("--db", db, "--as", "alice", "--scope", "org", "--order", "cost", "--limit", "5",
                  "--format", "jsonl", *VIEW)
    lines = [json.loads(line) for line in out.output.splitlines()]
    assert len(lines) == 5
    costs = [r["cost_usd"] for r in lines]
    assert costs == sorted(costs, reverse=True)
    table = cli_run("--db", db, "--as", "alice", "--scope", "org", "--limit", "3", *VIEW)
    assert table.exit_code == 0
    assert table.output.splitlines()[2].split() == ["TIME", "MODEL", "USER", "PROMPT", "CACHED", "COMPL", "CTX",
                                                    "REQ", "COST", "STATUS", "VERDICT", "ID"]
    assert table.output.rstrip().endswith("First 3 records; more with --limit.")
    csv_out = cli_run("--db", db, "--as", "alice", "--scope", "org", "--limit", "2", "--format", "csv", *VIEW)
    assert csv_out.output.splitlines()[0].startswith("id,ts,local_time,provider,model,user,team")
    assert len(csv_out.output.splitlines()) == 3


@pytest.mark.parametrize(("args", "code", "message"), [
    (["--as", "bob", "--scope", "org"], 3, "may not view the org scope"),
    (["--as", "bob", "--scope", "team", "--team", "platform"], 3, "may not view team"),
    (["--as", "alice", "--order", "size"], 2, "--order"),
    (["--as", "alice", "--limit", "0"], 2, "--limit"),
    (["--as", "alice", "--since", "2026-13-01"], 2, "not a valid date"),
    (["--as", "alice", "--scope", "org", "--focus", "gpt-4oo", *VIEW], 2, "no model 'gpt-4oo' in this view"),
    (["--as", "alice", "--scope", "org", "--team", "platform"], 2, "--team platform goes with --scope team"),
])
def test_records_errors_are_one_line_with_the_summary_exit_codes(db, args, code, message):
    out = CliRunner().invoke(cli, ["spend", "records", "--db", db, *args])
    assert out.exit_code == code
    assert out.output.startswith("usage-tui: error:") and out.output.count("\n") == 1
    assert message in out.output


def test_source_file_and_line_and_how_it_was_billed(store, tmp_path):
    """An imported record names its file and line (schema 4); a batch request at an override
    price says it paid half."""
    import dataclasses
    from zoneinfo import ZoneInfo

    from usage_tui.history import detail_rows, source_text
    from usage_tui.ingest import import_path
    from usage_tui.ingest.native import to_record

    path = tmp_path / "gw.jsonl"
    path.write_text("\n".join([
        json.dumps({"id": "a", "ts": "2026-11-20T10:00:00Z", "provider": "openai", "model": "gpt-4o",
                    "user": "alice", "cost_usd": 0.1}),  # line 1
        "",  # line 2: blank
        json.dumps({"id": "b", "ts": "2026-11-20T11:00:00Z", "provider": "openai", "model": "gpt-4o",
                    "user": "alice", "cost_usd": 0.2}),  # line 3
    ]) + "\n")
    import_path(store, str(path))
    batch = dataclasses.replace(to_record({"id": "c", "ts": "2026-11-20T12:00:00Z", "provider": "internal",
                                           "model": "llama", "user": "alice", "prompt_tokens": 1_000_000}),
                                batch=True)
    store.write_batch([batch], None)
    spec = QuerySpec(viewer="alice", since=D("2026-11-20"), until=D("2026-11-20"), tz="UTC")
    records = {r.id: r for r in iter_history(store, spec)}
    assert source_text(records["a"]) == f"{path.resolve()} line 1 (native)"
    assert source_text(records["b"]) == f"{path.resolve()} line 3 (native)"
    c = records["c"]
    assert c.batch is True
    explainer = Explainer(store.directory(), store.pricer())
    # conftest's override: $2/M in; 1M prompt tokens = $2.00, half for a batch = $1.00
    assert c.cost_nano == 1 * NANO
    assert explainer.price_source(c) == ("override internal/llama: $2.00/M in, $4.00/M out, $1.00/M cached; "
                                         "batch: 50% of that")
    rows = dict(detail_rows(c, ZoneInfo("UTC"), "", explainer.price_source(c)))
    assert rows["Billed as"] == "batch API"
    assert explainer.as_json(c, ZoneInfo("UTC"))["batch"] is True


def test_records_team_alone_means_the_team_scope(db):
    out = cli_run("--db", db, "--as", "carol", "--team", "platform", "--limit", "1", "--format", "json", *VIEW)
    assert out.exit_code == 0, out.output
    doc = json.loads(out.output)
    assert doc["scope"] == {"kind": "team", "team": "platform"}
    assert all(r["team"] == "platform" for r in doc["records"])
