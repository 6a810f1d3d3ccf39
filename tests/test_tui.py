"""Pilot tests of the TUI: every key of DESIGN §4, the state it leaves, the table and the plot title.

Numbers are checked two ways: against an independent computation from the records the test
wrote (tests/reference.py), and against `run_query` / `spend summary` for the same view, so
the screen and the CLI cannot disagree. `demo_db` (conftest) is a private copy of the demo store,
which is built once per session.
"""

from __future__ import annotations

import gc
import threading
import time
from datetime import UTC, date, datetime

import pytest
from click.testing import CliRunner
from textual import events
from textual.widgets import Input

from usage_tui import app as app_module
from usage_tui.app import UsageApp, create_app
from usage_tui.cli import cli
from usage_tui.fmt import metric_value, percent
from usage_tui.ingest.native import to_record
from usage_tui.model import GROUPINGS, METRICS, QuerySpec
from usage_tui.query import run_query
from usage_tui.store import Store, StoreError
from usage_tui.view_state import Filters
from usage_tui.widgets.breakdown_panel import BreakdownPanel
from usage_tui.widgets.breakdown_table import BreakdownTable
from usage_tui.widgets.budget_panel import BudgetPanel
from usage_tui.widgets.date_range_screen import DateRangeScreen
from usage_tui.widgets.export_screen import ExportScreen
from usage_tui.widgets.help_screen import HelpScreen
from usage_tui.widgets.search_input import SearchInput
from usage_tui.widgets.sidebar import Sidebar
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
    index = {metric: 1, "share": 2, others[0]: 3, others[1]: 4, "context": 5}
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
        out.append([label, metric_value(metric, r[field[metric]]), percent(r["share"]),
                    *(metric_value(m, r[field[m]]) for m in METRICS if m != metric), context])
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

        assert app.result.as_json() == json.loads(out.output)
        assert_table(app, json.loads(out.output)["rows"], "cost")


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


# -- search, dates ----------------------------------------------------------------------------------
async def test_search_filters_as_you_type(demo_db):
    app = make_app(demo_db, "alice")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        all_rows = len(table_texts(app))
        await pilot.press("slash")
        assert isinstance(app.focused, SearchInput)
        await pilot.press("g", "p", "t")
        await settle(pilot)
        assert app.filters.search == "gpt"
        keys = app.query_one(BreakdownTable).keys
        assert keys and all("gpt" in k for k in keys) and len(keys) < all_rows
        screen_matches_query(app, demo_db)
        assert "matching “gpt”" in app.query_one(BreakdownPanel).border_title
        await pilot.press("enter")  # keeps the search, back to the table
        assert app.focused is app.query_one(BreakdownTable)
        assert app.filters.search == "gpt"
        await pilot.press("slash", "x", "y", "z")  # focusing the box selects its text: typing replaces it
        await settle(pilot)
        assert app.filters.search == "xyz" and table_texts(app) == []
        assert app.query_one(BreakdownPanel).empty_message.startswith("No rows match “xyz”")
        await pilot.press("escape")  # clears the search, back to the table
        await settle(pilot)
        assert app.filters.search == "" and len(table_texts(app)) == all_rows
        assert app.focused is app.query_one(BreakdownTable)


async def test_keys_typed_right_after_slash_or_d_land_where_they_open(demo_db):
    """Over SSH keys arrive in bursts: `/gpt` must search for "gpt", not group by (g) or switch
    team (t) because the box was not focused yet."""
    app = make_app(demo_db, "alice")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        for key, character in [("slash", "/"), ("g", "g"), ("p", "p"), ("t", "t")]:
            app.post_message(events.Key(key, character))
        await settle(pilot)
        assert app.filters.search == "gpt" and app.filters.group_by == "model" and app.filters.scope == "personal"
        await pilot.press("slash", "d", "question_mark")  # in the box they are text
        assert app.query_one(SearchInput).value == "gpt/d?"
        assert not app.screen.is_modal
        await pilot.press("escape")
        for key, character in [("d", "d"), ("up", None), ("enter", "\r")]:
            app.post_message(events.Key(key, character))
        await settle(pilot)
        assert app.filters.dates.preset == "7d"
        for key, character in [("slash", "/"), ("o", "o"), ("enter", "\r"), ("m", "m"), ("tab", "\t")]:
            app.post_message(events.Key(key, character))  # search, back to the table, m, tab on
        await settle(pilot)
        assert app.filters.search == "o" and app.filters.metric == "requests"
        assert app.focused is app.query_one("#scope")


async def test_date_range_presets_and_custom_dates(small_db):
    app = make_app(small_db, "alice")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("d")
        assert isinstance(app.screen, DateRangeScreen)
        await pilot.press("up", "enter")  # from the current preset (30 days) up to 7 days
        await settle(pilot)
        assert (app.result.since, app.result.until) == (date(2026, 11, 18), TODAY)
        assert len(app.result.series) == 7
        assert app.query_one("#dates").value == "7d"
        expected = reference.summary(RECORDS, DIRECTORY, viewer="alice", since=date(2026, 11, 18), until=TODAY,
                                     tz="Europe/Berlin")
        reference.assert_matches(app.result.as_json(), expected)
        await pilot.press("d", "down", "down", "enter")  # 7 → 30 → 90 days
        await settle(pilot)
        assert (app.result.since, app.result.until) == (date(2026, 8, 27), TODAY)
        assert app.query_one(BreakdownTable).keys[1] == "llama"
        await pilot.press("d", "down", "enter")  # month to date
        await settle(pilot)
        assert (app.result.since, app.result.until) == (date(2026, 11, 1), TODAY)
        await pilot.press("d", "tab")
        since = app.screen.query_one("#since")
        assert app.focused is since
        since.value = "2026-11-21"
        await pilot.press("enter")
        app.screen.query_one("#until").value = "2026-11-22"
        await pilot.press("enter")
        await settle(pilot)
        assert (app.result.since, app.result.until) == (date(2026, 11, 21), date(2026, 11, 22))
        assert app.filters.dates.preset == "custom"
        assert str(app.query_one("#span").render()) == "Nov 21 – Nov 22"
        assert plot_title(app) == "Cost per day — personal (alice)"
        expected = reference.summary(RECORDS, DIRECTORY, viewer="alice", since=date(2026, 11, 21),
                                     until=date(2026, 11, 22), tz="Europe/Berlin")
        reference.assert_matches(app.result.as_json(), expected)


async def test_custom_dates_are_checked_and_escape_cancels(small_db):
    app = make_app(small_db, "alice")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("d", "tab")
        app.screen.query_one("#since").value = "2026-11-30"
        await pilot.press("enter")
        app.screen.query_one("#until").value = "2026-11-01"
        await pilot.press("enter")
        assert isinstance(app.screen, DateRangeScreen)
        assert "after" in str(app.screen.query_one("#range-error").render())
        await pilot.press("1")  # a view key typed in the dialog does not leak to the view
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, DateRangeScreen)
        assert app.filters.dates.preset == "30d" and app.result.since == DEFAULT_SINCE


# -- empty state, export, help, palette, refresh, quit ----------------------------------------------
async def test_empty_state(demo_db):
    app = make_app(demo_db, "stranger")  # not in the directory: personal scope, no usage
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        plot = app.query_one(TrendPlot)
        assert plot.message.startswith("No attributed usage")
        assert "date range" in plot.message and "scope" in plot.message and "import" in plot.message
        assert str(plot.render()).startswith("No attributed usage")
        panel = app.query_one(BreakdownPanel)
        assert panel.empty_message.startswith("No attributed usage")
        assert table_texts(app) == []
        assert app.focused is app.query_one(BreakdownTable)
        assert plot_title(app) == "Cost per day — personal (stranger)"


async def test_export_asks_where_and_writes_the_table_as_spend_summary_csv(demo_db, tmp_path):
    out_dir = tmp_path / "exports"
    out_dir.mkdir()
    app = make_app(demo_db, "alice", export_dir=out_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("g", "e")
        await settle(pilot)
        assert isinstance(app.screen, ExportScreen)
        default = out_dir / "usage-personal-user-2026-10-26-2026-11-24.csv"
        assert app.screen.query_one(Input).value == str(default)
        await pilot.press("enter")
        await settle(pilot)
        files = sorted(out_dir.glob("*.csv"))
        assert files == [default]
        cli_csv = CliRunner().invoke(cli, ["spend", "summary", "--db", str(demo_db), "--as", "alice",
                                           "--group-by", "user", "--format", "csv"])
        head, _, body = cli_csv.output.partition("\n")
        assert head.startswith("key,")
        # the same file, the first column named after the grouping
        assert files[0].read_text() == "user," + head.removeprefix("key,") + "\n" + body
        assert any(str(files[0]) in n for n in notices(app))
        await pilot.press("e", "enter")  # the same path again: refused in the dialog, never overwritten
        assert isinstance(app.screen, ExportScreen)
        assert "exists" in str(app.screen.query_one("#export-error").render())
        box = app.screen.query_one(Input)
        box.value = str(out_dir)  # a folder: the default name in it, which exists
        await pilot.press("enter")
        assert "exists" in str(app.screen.query_one("#export-error").render())
        box.value = str(out_dir / "mine.csv")
        await pilot.pause()
        assert str(app.screen.query_one("#export-error").render()) == ""  # the error goes with its cause
        await pilot.press("enter")
        await settle(pilot)
        assert (out_dir / "mine.csv").read_text() == files[0].read_text()


async def test_export_to_a_folder_you_cannot_write_is_refused_in_the_dialog(demo_db, tmp_path):
    app = make_app(demo_db, "alice", export_dir=tmp_path / "missing")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("e", "enter")
        assert isinstance(app.screen, ExportScreen)
        assert f"no folder {tmp_path / 'missing'}" in str(app.screen.query_one("#export-error").render())
        app.screen.query_one(Input).value = "/sys/usage.csv"  # not writable, even for root
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ExportScreen)  # still open, saying why
        assert str(app.screen.query_one("#export-error").render()) == (
            "cannot write /sys/usage.csv: Permission denied")
        await pilot.press("escape")
        assert not isinstance(app.screen, ExportScreen)
        assert not list(tmp_path.glob("**/*.csv"))


async def test_an_empty_view_is_not_exported(demo_db, tmp_path):
    app = make_app(demo_db, "stranger", export_dir=tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("e")
        await pilot.pause()
        assert not isinstance(app.screen, ExportScreen)
        assert any("Nothing to export: the table has no rows." in n for n in notices(app))
        assert not list(tmp_path.glob("*.csv"))


async def test_help_lists_every_binding(demo_db):
    app = make_app(demo_db, "alice")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = "\n".join(f"{k} {d}" for _, rows in app.screen.sections for k, d in rows)
        for key in ("1 2 3", "t", "m", "g", "w", "d", "/", "enter", "esc", "e", "r", "?", "q", "^p"):
            assert any(line.startswith(f"{key} ") for line in text.splitlines()), key
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("question_mark", "question_mark")  # `?` toggles it
        assert not isinstance(app.screen, HelpScreen)


def test_every_binding_has_an_id_a_description_and_a_section_4_key():
    keys = {b.key for b in UsageApp.BINDINGS} | {b.key for b in BreakdownTable.BINDINGS}
    assert {"1", "2", "3", "t", "m", "g", "w", "d", "slash", "enter", "escape", "e", "r",
            "question_mark", "q", "ctrl+p"} <= keys
    for b in [*UsageApp.BINDINGS, *BreakdownTable.BINDINGS]:
        assert b.id and b.description


async def test_command_palette_runs_the_actions(demo_db):
    app = make_app(demo_db, "alice")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        assert app.screen.__class__.__name__ == "CommandPalette"
        await pilot.press(*"metric: tokens")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await settle(pilot)
        assert app.filters.metric == "tokens"
        titles = {c.title for c in app.get_system_commands(app.screen)}
        for title in ("Scope: org", "Next team", "Group rows by verdict", "Granularity: weekly",
                      "Dates: month to date", "Dates: custom…", "Search rows", "Clear the focus",
                      "Export the table as CSV", "Refresh", "Help: keys"):
            assert title in titles


async def test_refresh_and_quit(demo_db):
    app = make_app(demo_db, "alice")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        first = app.result
        await pilot.press("r")
        await settle(pilot)
        assert app.result is not first and app.result.as_json() == first.as_json()
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0


async def test_sidebar_selects_change_the_view_with_the_keyboard(demo_db):
    app = make_app(demo_db, "alice")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.query_one("#granularity").focus()
        await pilot.press("enter", "down", "enter")
        await settle(pilot)
        assert app.filters.granularity == "weekly"
        assert plot_title(app) == "Cost per week — personal (alice)"
        app.query_one("#scope").focus()
        await pilot.press("enter", "down", "down", "enter")
        await settle(pilot)
        assert app.filters.scope == "org"


# -- workers: live refresh, loading, errors ----------------------------------------------------------
async def test_refreshes_when_another_process_writes(demo_db):
    app = make_app(demo_db, "alice", poll_interval=0.05)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        before = app.result.totals.requests
        writer = Store(demo_db)
        writer.write_batch([to_record({"id": "live-1", "ts": "2026-11-24T10:00:00Z", "provider": "p",
                                       "model": "brand-new", "user": "alice"})], None)
        writer.close()
        for _ in range(200):
            await pilot.pause(0.02)
            if app.result.totals.requests == before + 1 and app.settled:
                break
        assert app.result.totals.requests == before + 1
        assert "brand-new" in app.query_one(BreakdownTable).keys


async def test_answers_arriving_while_the_app_closes_are_dropped(demo_db):
    # A budget or query answer can arrive after the widgets are gone (the app is closing); it
    # must not raise NoMatches. Removing the widgets stands in for the teardown.
    app = make_app(demo_db, "alice")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        result, directory = app.result, app.directory
        await app.query_one(Sidebar).remove()
        await app.query_one(TrendPlot).remove()
        app.post_message(app_module.BudgetLoaded(None))
        app.post_message(app_module.QueryFinished(app._request, app.filters, result, directory))
        await pilot.pause(0.1)
        assert app.return_code is None and app.is_running


async def test_loading_indicator_only_when_slow(demo_db, monkeypatch):
    """No indicator for a quick answer, even later; one for a query still out after slow_query_s,
    never sooner; gone with the answer, the keyboard still on the table. Deterministic on a
    loaded machine: the slow query is held by a gate (released in `finally`, before the app
    closes, so a failure does not wait out the gate), and the indicator's delay is measured
    from the request rather than assumed from how long a key press took."""
    slow = 0.3
    gate = threading.Event()
    gate.set()

    def gated_query(store, spec, **kw):
        assert gate.wait(10)  # a query in flight for as long as the test holds the gate
        return run_query(store, spec, **kw)

    monkeypatch.setattr(app_module, "run_query", gated_query)
    app = make_app(demo_db, "alice", slow_query_s=slow)
    async with app.run_test(size=(80, 24)) as pilot:
        try:
            await settle(pilot)
            plot, panel = app.query_one(TrendPlot), app.query_one(BreakdownPanel)
            shown: list[float] = []  # when the indicator came on
            app.watch(plot, "loading", lambda on: on and shown.append(time.perf_counter()), init=False)
            await pilot.press("m")  # a quick answer: its timer is stopped, no indicator comes later
            await settle(pilot)
            await pilot.pause(slow + 0.1)
            assert not plot.loading and not panel.loading
            shown.clear()  # (on a loaded machine the quick answer may have been slow too)
            gate.clear()  # a slow query
            await pilot.press("m")
            requested = app._started[app._request]
            for _ in range(1000):
                if plot.loading:
                    break
                await pilot.pause(0.01)
            assert plot.loading and panel.loading
            assert shown[0] - requested >= slow  # only once it is slow
            assert app.focused is app.query_one(BreakdownTable)
            gate.set()
            await settle(pilot)
            assert not plot.loading and not panel.loading and app.filters.metric == "tokens"
        finally:
            gate.set()


async def test_worker_errors_are_notices_and_keep_the_view(demo_db, monkeypatch):
    app = make_app(demo_db, "alice")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        before = app.result

        def broken(store, spec, **kw):
            raise StoreError("demo.db: not a usable usage store (disk I/O error)")

        monkeypatch.setattr(app_module, "run_query", broken)
        await pilot.press("m")
        await settle(pilot)
        assert app.result is before and app.filters.metric == "cost" and app.pending.metric == "cost"
        assert any("Query failed" in n and "disk I/O error" in n for n in notices(app))
        assert app.query_one("#metric").value == "cost"


# -- budget --------------------------------------------------------------------------------------------
async def test_budget_panel_is_fed_and_reloaded_when_the_window_ends(demo_db, monkeypatch):
    monkeypatch.setattr(BudgetPanel, "TICK_S", 0.05)  # ticks every 50 ms, not every second
    app = make_app(demo_db, "bob")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        panel = app.query_one(BudgetPanel)
        assert panel.status is not None and panel.status.user == "bob" and panel.status.over
        assert "429" in str(panel.render())
        # bob's weekly window ends Monday 2026-11-30 00:00 in Berlin (23:00Z on the 29th)
        monkeypatch.setenv("USAGE_TUI_NOW", "2026-11-29T23:00:01Z")
        for _ in range(500):
            await pilot.pause(0.02)
            if panel.status.window_start.day == 30:
                break
        assert panel.status.window_start.day == 30 and not panel.status.over
        assert "429" not in str(panel.render())


# -- terminals ---------------------------------------------------------------------------------------
async def test_80x24_shows_every_filter_the_graph_and_the_table(demo_db):
    app = make_app(demo_db, "bob")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen.region
        sidebar = app.query_one(Sidebar)
        for widget_id in ("#scope", "#team", "#metric", "#group_by", "#granularity", "#dates", "#search",
                          "#budget"):
            assert screen.contains_region(app.query_one(widget_id).region), widget_id
        assert sidebar.max_scroll_y == 0
        assert app.query_one(TrendPlot).size.height >= 6
        assert app.query_one(BreakdownTable).size.height >= 8  # header + the 8 model rows
        assert app.query_one(BreakdownTable).max_scroll_x == 0  # no sideways scrolling at 80 columns


def screen_colours(app: UsageApp) -> set[tuple[int, int, int]]:
    """The hues on the whole screen as the terminal receives it: every segment of the compositor's
    strips, after the app's line filters (where Textual applies NO_COLOR). Greys are left out."""
    hues = set()
    for strip in app.screen._compositor.render_strips():
        for segment in strip:
            for colour in (segment.style.color, segment.style.bgcolor) if segment.style else ():
                if colour is not None and not colour.is_default:
                    r, g, b = colour.get_truecolor()
                    if not r == g == b:
                        hues.add((r, g, b))
    return hues


@pytest.mark.parametrize("no_color", [False, True])
async def test_no_color(demo_db, monkeypatch, no_color):
    """bob is over budget: in colour the screen has hues (the check can fail); with NO_COLOR none
    at all, and the over state is still in the words."""
    if no_color:
        monkeypatch.setenv("NO_COLOR", "1")
    else:
        monkeypatch.delenv("NO_COLOR", raising=False)
    app = make_app(demo_db, "bob")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.no_color is no_color
        assert len(table_texts(app)) == 8
        assert "429 Too Many Requests" in str(app.query_one(BudgetPanel).content)
        hues = screen_colours(app)
        if no_color:
            assert hues == set()
        else:
            assert len(hues) > 3


def test_run_app_on_an_unusable_store_says_so_in_one_line(tmp_path, capsys):
    bad = tmp_path / "not-a-store.db"
    bad.write_text("this is not SQLite")
    for path in (tmp_path / "missing.db", bad):
        with pytest.raises(SystemExit) as exit_info:
            app_module.run_app(path, "alice")
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith("usage-tui: error: ") and err.count("\n") == 1 and "Traceback" not in err


async def test_start_up_objects_are_frozen_after_the_first_paint_and_released_on_exit(small_db):
    assert gc.get_freeze_count() == 0
    app = make_app(small_db, "alice")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        frozen = gc.get_freeze_count()
        # Textual's objects and the app's own widgets are among them: many thousands.
        assert frozen > 10_000
        await pilot.press("m")
        await settle(pilot)
        assert gc.get_freeze_count() <= frozen  # frozen once, not at every repaint (freed ones leave)
    assert gc.get_freeze_count() == 0
