"""Pilot tests: every key of §4, with the table and plot compared to `run_query` for the same view."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime

import pytest

from usage_tui.app import UsageApp, create_app
from usage_tui.budget import budget_status
from usage_tui.model import QuerySpec
from usage_tui.query import run_query
from usage_tui.sample import demo_directory, generate
from usage_tui.store import Store
from usage_tui.widgets.breakdown_table import BreakdownTable
from usage_tui.widgets.budget_panel import BudgetPanel

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


@pytest.fixture
def demo_db(tmp_path, monkeypatch):
    monkeypatch.setenv("USAGE_TUI_NOW", NOW.isoformat())
    path = tmp_path / "demo.db"
    store = Store(path)
    store.load_directory(demo_directory(login="alice"))
    store.write_batch(list(generate(events=3000, seed=3, now=NOW)), None)
    store.close()
    return path


async def settle(pilot, app: UsageApp) -> None:
    """Wait until the worker's answer for the current view is on screen."""
    for _ in range(200):
        await pilot.pause(0.02)
        if app.result is not None and app.result.spec == app.spec and not app.workers:
            return
    raise AssertionError("the view did not refresh")


def table_rows(app: UsageApp) -> list[list[str]]:
    table = app.query_one(BreakdownTable)
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


def expected_keys(app: UsageApp, **changes) -> list[str]:
    spec = QuerySpec(**{**vars(app.spec), **changes}) if changes else app.spec
    return [r.key for r in run_query(Store(app.store.path), spec).rows]


async def test_opens_with_spend_summary_defaults(demo_db):
    app = create_app(demo_db, "alice")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        assert app.spec == QuerySpec(viewer="alice")
        assert app.focused is app.query_one(BreakdownTable)
        assert app.query_one(BreakdownTable).cursor_row == 0
        expected = run_query(Store(demo_db), QuerySpec(viewer="alice"))
        assert [r[0].rstrip(" *") for r in table_rows(app)] == [r.key for r in expected.rows]
        assert app.query_one("#plot").title_text == "Cost per day — personal (alice)"
        assert app.result.totals == expected.totals


@pytest.mark.parametrize("key, field, value", [
    ("m", "metric", "requests"), ("g", "group_by", "user"), ("w", "granularity", "weekly"),
])
async def test_cycling_keys(demo_db, key, field, value):
    app = create_app(demo_db, "alice")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        await pilot.press(key)
        await settle(pilot, app)
        assert getattr(app.spec, field) == value
        assert [r[0].rstrip(" *") for r in table_rows(app)] == expected_keys(app)


async def test_metric_cycle_wraps(demo_db):
    app = create_app(demo_db, "alice")
    async with app.run_test() as pilot:
        for expected in ("requests", "tokens", "cost"):
            await pilot.press("m")
            await settle(pilot, app)
            assert app.spec.metric == expected
        for expected in ("user", "team", "agent", "key", "verdict", "provider", "model"):
            await pilot.press("g")
            await settle(pilot, app)
            assert app.spec.group_by == expected


async def test_scopes_teams_and_focus_as_org_admin(demo_db):
    app = create_app(demo_db, "alice")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot, app)
        await pilot.press("3")
        await settle(pilot, app)
        assert app.spec.scope == "org"
        org = run_query(Store(demo_db), QuerySpec(viewer="alice", scope="org"))
        assert app.result.totals == org.totals
        await pilot.press("down", "enter")
        await settle(pilot, app)
        focused = org.rows[1].key
        assert app.spec.focus == focused
        assert app.query_one("#plot").title_text == f"Cost per day — model {focused}"
        assert app.result.totals == org.totals  # focus narrows the graph only
        await pilot.press("escape")
        await settle(pilot, app)
        assert app.spec.focus is None
        await pilot.press("2")
        await settle(pilot, app)
        assert (app.spec.scope, app.spec.team) == ("team", "data")  # first team alice may view
        await pilot.press("t")
        await settle(pilot, app)
        assert app.spec.team == "platform"
        await pilot.press("1")
        await settle(pilot, app)
        assert app.spec.scope == "personal"


async def test_member_is_refused_wider_scopes(demo_db):
    app = create_app(demo_db, "bob")
    async with app.run_test() as pilot:
        await settle(pilot, app)
        before = app.result
        await pilot.press("3")
        await pilot.pause(0.1)
        assert app.spec.scope == "personal" and app.result is before
        assert any("may not view the org scope" in str(n.message) for n in app._notifications)
        await pilot.press("2")
        await pilot.pause(0.1)
        assert app.spec.scope == "personal"
        assert [r[0].rstrip(" *") for r in table_rows(app)] == expected_keys(app)


async def test_team_admin_sees_own_team_only(demo_db):
    app = create_app(demo_db, "carol")
    async with app.run_test() as pilot:
        await settle(pilot, app)
        await pilot.press("2")
        await settle(pilot, app)
        assert (app.spec.scope, app.spec.team) == ("team", "platform")
        await pilot.press("t")  # platform is her only team: stays
        await settle(pilot, app)
        assert app.spec.team == "platform"


async def test_search_filters_as_you_type(demo_db):
    app = create_app(demo_db, "alice")
    async with app.run_test() as pilot:
        await settle(pilot, app)
        await pilot.press("slash", "g", "p", "t")
        await settle(pilot, app)
        assert app.spec.search == "gpt"
        keys = [r[0].rstrip(" *") for r in table_rows(app)]
        assert keys and all("gpt" in k for k in keys)
        await pilot.press("enter")
        assert app.focused is app.query_one(BreakdownTable)


async def test_date_range_presets_and_custom(demo_db):
    app = create_app(demo_db, "alice")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        await pilot.press("d", "enter")  # first preset: last 7 days
        await settle(pilot, app)
        assert (app.spec.since, app.spec.until) == (date(2026, 11, 18), date(2026, 11, 24))
        assert len(app.result.series) == 7
        await pilot.press("d", "down", "down", "down", "enter")  # month to date
        await settle(pilot, app)
        assert (app.spec.since, app.spec.until) == (date(2026, 11, 1), date(2026, 11, 24))
        await pilot.press("d", "down", "down", "down", "down", "enter")  # custom
        since = app.screen.query_one("#since")
        since.value = "2026-11-02"
        await pilot.press("enter")
        app.screen.query_one("#until").value = "2026-11-08"
        await pilot.press("enter")
        await settle(pilot, app)
        assert (app.spec.since, app.spec.until) == (date(2026, 11, 2), date(2026, 11, 8))


async def test_empty_state(demo_db):
    app = create_app(demo_db, "stranger")  # not in the directory: personal scope, no usage
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        for widget_id in ("#plot-empty", "#table-empty"):
            widget = app.query_one(widget_id)
            assert widget.display and str(widget.render()).startswith("No attributed usage")
        assert not app.query_one("#table").display


async def test_export_writes_the_table(demo_db, tmp_path):
    app = create_app(demo_db, "alice", export_dir=tmp_path)
    async with app.run_test() as pilot:
        await settle(pilot, app)
        await pilot.press("e")
        await pilot.pause()
        files = list(tmp_path.glob("usage-personal-model-*.csv"))
        assert len(files) == 1
        rows = list(csv.DictReader(files[0].open()))
        assert [r["key"] for r in rows] == expected_keys(app)
        assert any(str(files[0]) in str(n.message) for n in app._notifications)


async def test_help_refresh_palette_and_quit(demo_db):
    app = create_app(demo_db, "alice")
    async with app.run_test() as pilot:
        await settle(pilot, app)
        await pilot.press("question_mark")
        await pilot.pause()
        text = str(app.screen.query_one("Static").render())
        for b in app.BINDINGS:
            assert b.description in text
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("r")
        await settle(pilot, app)
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert app.screen.__class__.__name__ == "CommandPalette"
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0


async def test_every_binding_has_an_id_and_description():
    for b in UsageApp.BINDINGS:
        assert b.id and b.description


async def test_refreshes_when_another_process_writes(demo_db):
    app = create_app(demo_db, "alice")
    async with app.run_test() as pilot:
        await settle(pilot, app)
        before = app.result.totals.requests
        writer = Store(demo_db)
        from usage_tui.ingest.native import to_record
        writer.write_batch([to_record({"id": "live-1", "ts": "2026-11-24T10:00:00Z", "provider": "p",
                                       "model": "m", "user": "alice"})], None)
        for _ in range(100):
            await pilot.pause(0.05)
            if app.result.totals.requests == before + 1:
                break
        assert app.result.totals.requests == before + 1


async def test_budget_panel_counts_down_and_recovers(demo_db, monkeypatch):
    app = create_app(demo_db, "bob")
    async with app.run_test() as pilot:
        await settle(pilot, app)
        panel = app.query_one(BudgetPanel)
        status = budget_status(Store(demo_db), "bob")
        assert status.over
        assert "429 Too Many Requests" in str(panel.render())
        # bob's week ends Monday 2026-11-30 00:00 Berlin: 23:00Z on the 29th
        monkeypatch.setenv("USAGE_TUI_NOW", "2026-11-29T22:59:58Z")
        panel.tick()
        assert "Retry-After 00:00:02" in str(panel.render())
        monkeypatch.setenv("USAGE_TUI_NOW", "2026-11-29T23:00:01Z")
        for _ in range(60):
            await pilot.pause(0.05)
            if "429" not in str(panel.render()) and panel.status.window_start.day == 30:
                break
        rendered = str(panel.render())
        assert "429" not in rendered and "$0.00 / $50.00 weekly" in rendered
