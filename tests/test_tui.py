"""Pilot tests of the TUI: every key of architecture §4, the state it leaves, the table and the plot title.

Numbers are checked two ways: against an independent computation from the records the test
wrote (tests/reference.py), and against `run_query` / `spend summary` for the same view, so
the screen and the CLI cannot disagree. `demo_db` (conftest) is a private copy of the demo store,
which is built once per session.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, date, datetime

import pytest
from click.testing import CliRunner

from usage_tui import app as app_module
from usage_tui.app import UsageApp, create_app
from usage_tui.cli import cli
from usage_tui.fmt import compact, metric_value, percent, record_money
from usage_tui.ingest.native import to_record
from usage_tui.model import GROUPINGS, METRICS, QuerySpec
from usage_tui.query import run_query
from usage_tui.store import Store
from usage_tui.view_state import Filters
from usage_tui.widgets.breakdown_panel import BreakdownPanel
from usage_tui.widgets.breakdown_table import BreakdownTable
from usage_tui.widgets.search_input import SearchInput
from usage_tui.widgets.trend_plot import TrendPlot

from . import reference
from .conftest import DIRECTORY

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)  # Tuesday; Berlin's today is 2026-11-24
TODAY = date(2026, 11, 24)
DEFAULT_SINCE = date(2026, 10, 26)  # the 30 days ending today

# A small hand-written store over tests/conftest.py's directory: attribution by user, key and
# agent, a logged cost, an override price, an unpriced model, one record outside the range,
# one unattributed.
RECORDS = [
    {"id": "r1", "ts": "2026-11-20T09:00:00Z", "provider": "internal", "model": "llama", "user": "alice",
     "prompt_tokens": 1000, "completion_tokens": 500, "cached_input_tokens": 200, "context_tokens": 300},
    {"id": "r2", "ts": "2026-11-21T10:00:00Z", "provider": "openai", "model": "gpt-4o", "user": "alice",
     "prompt_tokens": 2000, "completion_tokens": 100, "cost_usd": 0.25, "verdict": "allow"},
    {"id": "r3", "ts": "2026-11-23T23:30:00Z", "provider": "openai", "model": "gpt-4o", "key": "k_bob",
     "prompt_tokens": 500, "completion_tokens": 50, "cost_usd": 0.5},
    {"id": "r4", "ts": "2026-11-22T08:00:00Z", "provider": "acme", "model": "mystery-1", "user": "alice",
     "prompt_tokens": 700, "completion_tokens": 70, "requests": 3, "verdict": "redact"},
    {"id": "r5", "ts": "2026-09-01T08:00:00Z", "provider": "internal", "model": "llama", "user": "alice",
     "prompt_tokens": 999, "completion_tokens": 999},
    {"id": "r6", "ts": "2026-11-02T12:00:00Z", "provider": "internal", "model": "llama", "agent": "bot",
     "prompt_tokens": 4000, "completion_tokens": 1000, "context_tokens": 1000},
    {"id": "r7", "ts": "2026-11-10T12:00:00Z", "provider": "openai", "model": "gpt-4o", "cost_usd": 1.0,
     "prompt_tokens": 10, "completion_tokens": 10},
    {"id": "r8", "ts": "2026-11-24T10:00:00Z", "provider": "internal", "model": "llama", "user": "bob",
     "team": "research", "prompt_tokens": 3000, "completion_tokens": 3000},
]


@pytest.fixture
def small_db(tmp_path, monkeypatch, directory_doc):
    monkeypatch.setenv("USAGE_TUI_NOW", NOW.isoformat())
    path = tmp_path / "small.db"
    store = Store(path)
    store.load_directory(directory_doc)
    store.write_batch([to_record(r) for r in RECORDS], None)
    store.close()
    return path


def make_app(db, viewer, **kwargs) -> UsageApp:
    kwargs.setdefault("poll_interval", None)  # live refresh has its own test
    return create_app(db, viewer, **kwargs)


async def settle(pilot, timeout: float = 10.0) -> None:
    """Wait until the screen shows the last view asked for."""
    app = pilot.app
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await pilot.pause(0.01)
        busy = [w for w in app.workers if w.group in ("query", "budget", "export") and w.is_running]
        # Keys typed into the search box reach the view through Input.Changed and a debounce
        # timer; on a loaded machine `settled` can be read before that timer is even set.
        boxes = app.query(SearchInput)
        typed = boxes.first().value.strip() if boxes else app.filters.search
        if app.settled and not busy and typed == app.filters.search:
            await pilot.pause()
            return
    raise AssertionError("the view did not settle")


def table_texts(app: UsageApp) -> list[list[str]]:
    return app.query_one(BreakdownTable).cell_texts()


def shown_columns(app: UsageApp, cells: list[list[str]], metric: str) -> list[list[str]]:
    """`cells` (every column, as expected_cells gives them) cut to the columns the table shows:
    at 80 columns Share, then the other metrics, make room for the names."""
    others = [m for m in METRICS if m != metric]
    index = {metric: 1, "share": 2, others[0]: 3, others[1]: 4, "context": 5, "per_request": 6, "prompt": 7,
             "cached": 8, "completion": 9, "unpriced": 10}
    columns = [0, *(index[n] for n in app.query_one(BreakdownTable).names)]
    return [[row[i] for i in columns] for row in cells]


def expected_cells(rows: list[dict], metric: str, focus: str | None = None) -> list[list[str]]:
    """The table as it must read, from plain row dicts (reference.summary or --format json)."""
    field = {"cost": "cost_usd", "requests": "requests", "tokens": "tokens"}
    out = []
    for r in rows:
        label = ("● " if r["key"] == focus else "") + r["key"] + (" *" if r["unpriced_requests"] else "")
        inputs = r["prompt_tokens"] + r["cached_input_tokens"]
        context = percent(r["context_tokens"] / inputs) if inputs else "–"

        def value(m: str, r: dict = r) -> str:  # a row none of whose requests has a price: `—`, not $0.00
            if m == "cost" and r["requests"] and r["unpriced_requests"] == r["requests"]:
                return "—"
            return metric_value(m, r[field[m]])

        priced = r["requests"] - r["unpriced_requests"]  # cost per request: of the priced ones
        per_request = record_money(r["cost_usd"] / priced) if priced else "—"
        out.append([label, value(metric), percent(r["share"]),
                    *(value(m) for m in METRICS if m != metric), context, per_request,
                    *(compact(r[f]) for f in ("prompt_tokens", "cached_input_tokens", "completion_tokens",
                                              "unpriced_requests"))])
    return out


def query(db, **spec) -> dict:
    store = Store(db)
    try:
        return run_query(store, QuerySpec(**spec)).as_json()
    finally:
        store.close()


def assert_table(app: UsageApp, rows: list[dict], metric: str, focus: str | None = None) -> None:
    """The table reads as `rows` say; at 80 columns a long key may end in `…` (the row's
    key is still the full one)."""
    shown = table_texts(app)
    expected = shown_columns(app, expected_cells(rows, metric, focus), metric)
    assert app.query_one(BreakdownTable).keys == [r["key"] for r in rows]
    assert len(shown) == len(expected)
    for got, want in zip(shown, expected, strict=True):
        assert got[1:] == want[1:], (got, want)
        label, full = got[0], want[0]
        if label != full:  # cut at the end, or in the middle; the marks stay whole
            assert "…" in label, (label, full)
            head, tail = label.split("…")
            assert full.startswith(head) and (full.endswith(tail) or full.endswith(" *") and tail == " *"), (label, full)


def screen_matches_query(app: UsageApp, db) -> None:
    """The table shows exactly what run_query answers for the same view."""
    spec = app.result.spec
    expected = query(db, **vars(spec))
    assert app.result.as_json() == expected
    assert_table(app, expected["rows"], spec.metric, spec.focus)


def plot_title(app: UsageApp) -> str:
    return app.query_one(TrendPlot).title


def notices(app: UsageApp) -> list[str]:
    return [f"{n.title}: {n.message}" for n in app._notifications]


# -- opening ----------------------------------------------------------------------------------------
async def test_opens_with_the_spend_summary_defaults_and_independent_numbers(small_db):
    app = make_app(small_db, "alice")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.filters == Filters()
        assert app.result.spec == QuerySpec(viewer="alice")
        assert (app.result.since, app.result.until) == (DEFAULT_SINCE, TODAY)
        table = app.query_one(BreakdownTable)
        assert app.focused is table and table.cursor_row == 0
        assert plot_title(app) == "Cost per day — personal (alice)"
        expected = reference.summary(RECORDS, DIRECTORY, viewer="alice", since=DEFAULT_SINCE, until=TODAY,
                                     tz="Europe/Berlin")
        assert table_texts(app) == shown_columns(app, expected_cells(expected["rows"], "cost"), "cost")  # short keys: no `…`
        assert app.query_one(BreakdownTable).names == ["cost", "share", "requests", "tokens", "context"]
        assert [r[0] for r in table_texts(app)] == ["gpt-4o", "llama", "mystery-1 *"]
        reference.assert_matches(app.result.as_json(), expected)
        panel = app.query_one(BreakdownPanel)
        assert panel.border_title == "By model · 3 rows"
        assert panel.border_subtitle.startswith("Total $0.25")
        assert "* 3 unpriced" in panel.border_subtitle  # mystery-1 has no price: not silently $0


def screen_matches_reference(app: UsageApp) -> None:
    """The view on the screen, worked out independently (tests/reference.py) from RECORDS: the
    numbers, the series and the table's cells."""
    spec = app.result.spec
    expected = reference.summary(RECORDS, DIRECTORY, viewer=spec.viewer, scope=spec.scope, team=spec.team,
                                 metric=spec.metric, group_by=spec.group_by, granularity=spec.granularity,
                                 since=app.result.since, until=app.result.until, tz="Europe/Berlin",
                                 search=spec.search, focus=spec.focus)
    reference.assert_matches(app.result.as_json(), expected)
    assert_table(app, expected["rows"], spec.metric, spec.focus)


async def test_every_view_the_demo_tests_cover_matches_the_reference_on_a_small_store(small_db):
    """The demo-store tests check the screen against run_query (agreement); here each of their
    views (scopes, teams, focus, every grouping and metric, weekly, search) is checked against
    the independent reference instead, on RECORDS."""
    app = make_app(small_db, "alice")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen_matches_reference(app)
        await pilot.press("3")  # org
        await settle(pilot)
        assert app.result.spec.scope == "org"
        screen_matches_reference(app)
        # model rows by cost: gpt-4o $1.75 (r2 0.25 + r3 0.5 + r7 1.0), llama, mystery-1
        assert app.query_one(BreakdownTable).keys == ["gpt-4o", "llama", "mystery-1"]
        for group in (*GROUPINGS[2:], *GROUPINGS[:2]):  # user, team, agent, key, verdict, provider, model
            await pilot.press("g")
            await settle(pilot)
            assert app.result.spec.group_by == group
            screen_matches_reference(app)
        await pilot.press("down", "enter")  # focus llama: the graph narrows, the table does not
        await settle(pilot)
        assert app.result.spec.focus == "llama"
        screen_matches_reference(app)
        for metric in ("requests", "tokens"):
            await pilot.press("m")
            await settle(pilot)
            assert app.result.spec.metric == metric
            screen_matches_reference(app)
        await pilot.press("escape", "w")  # unfocus, weekly
        await settle(pilot)
        assert (app.result.spec.focus, app.result.spec.granularity) == (None, "weekly")
        screen_matches_reference(app)
        await pilot.press("slash", "l", "l", "enter")  # search "ll": llama only
        await settle(pilot)
        assert app.result.spec.search == "ll" and app.query_one(BreakdownTable).keys == ["llama"]
        screen_matches_reference(app)
        await pilot.press("escape", "2")  # alice's team, platform
        await settle(pilot)
        assert (app.result.spec.scope, app.result.spec.team) == ("team", "platform")
        screen_matches_reference(app)
        await pilot.press("t")  # research
        await settle(pilot)
        assert app.result.spec.team == "research"
        screen_matches_reference(app)


@pytest.mark.parametrize("viewer, keys, scope", [
    ("bob", ("3",), "personal"),  # a member (r3 by his key, and r8), then refused the org: still his own
    ("carol", ("2",), "team"),  # the admin of platform
    ("dave", (), "personal"),  # r6 by his agent
])
async def test_members_and_team_admins_views_match_the_reference(small_db, viewer, keys, scope):
    app = make_app(small_db, viewer)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen_matches_reference(app)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)
        assert app.result.spec.scope == scope
        assert app.result.totals.requests > 0  # a view with something in it
        screen_matches_reference(app)


async def test_screen_equals_spend_summary_json(demo_db):
    app = make_app(demo_db, "alice")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        out = CliRunner().invoke(cli, ["spend", "summary", "--db", str(demo_db), "--as", "alice",
                                       "--format", "json"])
        assert out.exit_code == 0, out.output
        import json

        from usage_tui.json_docs import summary_doc

        assert summary_doc(app.result) == json.loads(out.output)
        assert_table(app, [{**r, "key": r["row"]} for r in json.loads(out.output)["rows"]], "cost")


# -- m, g, w ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("key, field, value, title", [
    ("m", "metric", "requests", "Requests per day — personal (alice)"),
    ("g", "group_by", "user", "Cost per day — personal (alice)"),
    ("w", "granularity", "weekly", "Cost per week — personal (alice)"),
])
async def test_cycling_keys(small_db, key, field, value, title):
    app = make_app(small_db, "alice")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press(key)
        await settle(pilot)
        assert getattr(app.filters, field) == value
        assert plot_title(app) == title
        screen_matches_query(app, small_db)
        spec = vars(app.result.spec)
        expected = reference.summary(RECORDS, DIRECTORY, viewer="alice", since=DEFAULT_SINCE, until=TODAY,
                                     tz="Europe/Berlin", metric=spec["metric"], group_by=spec["group_by"],
                                     granularity=spec["granularity"])
        reference.assert_matches(app.result.as_json(), expected)


async def test_metric_grouping_and_granularity_cycles_wrap(demo_db):
    app = make_app(demo_db, "alice")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        for metric in ("requests", "tokens", "cost"):
            await pilot.press("m")
            await settle(pilot)
            assert app.filters.metric == metric
            assert app.query_one(BreakdownTable).columns["metric"].label.plain == metric.capitalize()
        for group in (*GROUPINGS[2:], *GROUPINGS[:2]):
            await pilot.press("g")
            await settle(pilot)
            assert app.filters.group_by == group
            screen_matches_query(app, demo_db)
        for granularity in ("weekly", "daily"):
            await pilot.press("w")
            await settle(pilot)
            assert app.filters.granularity == granularity
        assert len(app.result.series) == 30


async def test_keys_pressed_before_an_answer_build_on_each_other(demo_db, monkeypatch):
    """A newer request supersedes an older one; keys build on the view asked for last."""
    calls = []
    release, stale_done = threading.Event(), threading.Event()

    def slow_query(store, spec, **kw):
        calls.append(spec.metric)
        if len(calls) == 2:  # the first m's answer comes back last: held until the test lets it go
            release.wait(10)
        try:
            return run_query(store, spec, **kw)
        finally:
            if len(calls) >= 2 and spec.metric == "requests":
                stale_done.set()

    monkeypatch.setattr(app_module, "run_query", slow_query)
    app = make_app(demo_db, "alice")
    async with app.run_test(size=(80, 24)) as pilot:
        try:
            await settle(pilot)
            await pilot.press("m", "m")
            await settle(pilot)
            assert calls == ["cost", "requests", "tokens"]
            assert app.filters.metric == "tokens" and app.result.spec.metric == "tokens"
            release.set()  # the stale answer for "requests" arrives now, and is ignored
            assert stale_done.wait(10)
            await pilot.pause(0.05)
            assert app.result.spec.metric == "tokens"
            assert plot_title(app) == "Tokens per day — personal (alice)"
        finally:
            release.set()


# -- scopes, teams, focus -----------------------------------------------------------------------------
async def test_scopes_teams_and_focus_as_org_admin(demo_db):
    app = make_app(demo_db, "alice")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("3")
        await settle(pilot)
        assert app.filters.scope == "org"
        assert plot_title(app) == "Cost per day — org"
        screen_matches_query(app, demo_db)
        org = query(demo_db, viewer="alice", scope="org")
        second = org["rows"][1]["key"]
        await pilot.press("down", "enter")
        await settle(pilot)
        assert app.filters.focus == second
        assert plot_title(app) == f"Cost per day — model {second}"
        assert table_texts(app)[1][0].startswith("● ")
        assert app.query_one(BreakdownTable).keys[1] == second
        assert app.query_one(BreakdownTable).cursor_row == 1
        focused = query(demo_db, viewer="alice", scope="org", focus=second)
        assert [p.value for p in app.result.series] == [p["value"] for p in focused["series"]]
        assert app.result.totals.as_dict() == org["totals"]  # focus narrows the graph only
        await pilot.press("escape")
        await settle(pilot)
        assert app.filters.focus is None and plot_title(app) == "Cost per day — org"
        await pilot.press("2")
        await settle(pilot)
        assert (app.filters.scope, app.filters.team) == ("team", "platform")  # alice's own team
        assert plot_title(app) == "Cost per day — team platform"
        screen_matches_query(app, demo_db)
        for team in ("research", "support", "data", "platform"):
            await pilot.press("t")
            await settle(pilot)
            assert (app.filters.scope, app.filters.team) == ("team", team)
            assert app.query_one("#team").value == team
        await pilot.press("1")
        await settle(pilot)
        assert app.filters.scope == "personal"
        assert plot_title(app) == "Cost per day — personal (alice)"
        assert app.query_one("#scope").value == "personal"


async def test_grouping_change_clears_the_focus(demo_db):
    app = make_app(demo_db, "alice")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert app.filters.focus is not None
        await pilot.press("m")  # other filters keep it
        await settle(pilot)
        assert app.filters.focus is not None and plot_title(app).startswith("Requests per day — model ")
        await pilot.press("g")
        await settle(pilot)
        assert app.filters.focus is None


async def test_member_pressing_3_still_sees_only_their_own_usage(demo_db):
    app = make_app(demo_db, "bob")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        before = app.result
        mine = query(demo_db, viewer="bob")
        for key in ("3", "2", "t"):
            await pilot.press(key)
            await settle(pilot)
            assert app.filters.scope == "personal" and app.pending.scope == "personal"
            assert app.result is before
            assert app.result.as_json() == mine
            assert_table(app, mine["rows"], "cost")
            assert plot_title(app) == "Cost per day — personal (bob)"
            assert app.query_one("#scope").value == "personal"  # the sidebar is put back too
        said = notices(app)
        assert any("Scope refused" in n and "may not view the org scope" in n for n in said)
        assert any("may not view team" in n for n in said)  # 2: bob's team, which he does not administer
        assert any("may not view any team" in n for n in said)  # t


async def test_team_admin_sees_their_team_only(demo_db):
    app = make_app(demo_db, "carol")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("2")
        await settle(pilot)
        assert (app.filters.scope, app.filters.team) == ("team", "platform")
        await pilot.press("t")  # platform is the only team she may view
        await settle(pilot)
        assert app.filters.team == "platform"
        await pilot.press("3")
        await settle(pilot)
        assert app.filters.scope == "team"
        assert any("may not view the org scope" in n for n in notices(app))
        screen_matches_query(app, demo_db)


