"""The Textual App: wiring only. Every number comes from query.run_query, as in `spend summary`."""

from __future__ import annotations

import csv
import threading
from collections.abc import Iterable
from dataclasses import replace
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Static
from textual.worker import get_current_worker

from . import clock
from .budget import BudgetStatus, budget_status
from .directory import Directory
from .fmt import GRANULARITY_WORDS, METRIC_TITLES
from .model import GRANULARITIES, GROUPINGS, METRICS, QueryResult, QuerySpec
from .query import QueryError, ScopeError, check_scope, plan_query, resolve_viewer, run_query
from .store import Store, StoreError
from .widgets.breakdown_table import BreakdownTable, totals_line
from .widgets.budget_panel import BudgetPanel
from .widgets.date_range_screen import DateRangeScreen
from .widgets.help_screen import HelpScreen
from .widgets.sidebar import Sidebar, scope_label
from .widgets.trend_plot import TrendPlot

EMPTY = ("No attributed usage in this view. Broaden the date range (d), change the scope (1 2 3), "
         "or import data (usage-tui import FILE).")
SLOW_QUERY_S = 0.15  # show a loading indicator only past this
POLL_S = 2.0


def _next(options: Iterable[str], current: str) -> str:
    options = list(options)
    return options[(options.index(current) + 1) % len(options)]


def graph_title(spec: QuerySpec) -> str:
    what = f"{spec.group_by} {spec.focus}" if spec.focus else scope_label(spec)
    return f"{METRIC_TITLES[spec.metric]} per {GRANULARITY_WORDS[spec.granularity]} — {what}"


class QueryFinished(Message):
    def __init__(self, result: QueryResult, budget: BudgetStatus | None) -> None:
        super().__init__()
        self.result = result
        self.budget = budget


class QueryFailed(Message):
    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error


class StoreChanged(Message):
    """Another process committed to the store."""


class UsageApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "usage-tui"

    BINDINGS = [
        Binding("1", "scope('personal')", "Personal", id="scope.personal"),
        Binding("2", "scope('team')", "Team", id="scope.team"),
        Binding("3", "scope('org')", "Org", id="scope.org"),
        Binding("t", "next_team", "Next team", id="team.next"),
        Binding("m", "next_metric", "Metric", id="metric.next"),
        Binding("g", "next_grouping", "Group by", id="grouping.next"),
        Binding("w", "toggle_granularity", "Day/week", id="granularity.toggle"),
        Binding("d", "date_range", "Dates", id="range.pick"),
        Binding("slash", "search", "Search", key_display="/", id="search.focus"),
        Binding("escape", "clear_focus", "Clear focus", id="focus.clear"),
        Binding("e", "export", "Export CSV", id="table.export"),
        Binding("r", "refresh", "Refresh", id="view.refresh"),
        Binding("question_mark", "help", "Help", key_display="?", id="help.show"),
        Binding("q", "quit", "Quit", id="app.quit"),
    ]
    # The table's own enter binding focuses the graph on the selected row (RowSelected below).

    def __init__(self, store: Store, viewer: str, export_dir: Path | None = None) -> None:
        super().__init__()
        self.store = store
        self.directory: Directory = store.directory()
        self.viewer = viewer
        self.spec = QuerySpec(viewer=viewer)
        self.result: QueryResult | None = None
        self.export_dir = export_dir or Path.cwd()
        self._db_lock = threading.Lock()  # one shared connection: one query at a time
        self._data_version: int | None = None
        self._loading_timer = None

    # -- layout --------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal():
            yield Sidebar(id="sidebar")
            with Vertical(id="main"):
                yield TrendPlot(id="plot")
                yield Static(EMPTY, id="plot-empty", classes="empty")
                yield Static("", id="totals")
                yield BreakdownTable(id="table")
                yield Static(EMPTY, id="table-empty", classes="empty")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"{self.directory.org_name} · you are {self.viewer}"
        self.query_one(BreakdownTable).focus()
        self.refresh_view()
        self.set_interval(POLL_S, self.poll_store)

    # -- data ---------------------------------------------------------------------------------
    def refresh_view(self) -> None:
        plan = plan_query(self.spec, self.directory)
        self.query_one(Sidebar).show(self.spec, plan.since, plan.until, self.visible_teams())
        if self._loading_timer is not None:
            self._loading_timer.stop()
        self._loading_timer = self.set_timer(SLOW_QUERY_S, self._show_loading)
        self.run_view(self.spec)

    def _show_loading(self) -> None:
        self.query_one(BreakdownTable).loading = True

    @work(thread=True, exclusive=True, group="query", name="query")
    def run_view(self, spec: QuerySpec) -> None:
        worker = get_current_worker()
        try:
            with self._db_lock:
                if worker.is_cancelled:
                    return
                result = run_query(self.store, spec)
                budget = budget_status(self.store, self.viewer)
                # what this answer has seen: a later commit by another process refreshes the view
                self._data_version = self.store.data_version()
        except (QueryError, ScopeError, StoreError) as exc:
            self.post_message(QueryFailed(exc))
            return
        if not worker.is_cancelled:
            self.post_message(QueryFinished(result, budget))

    @on(QueryFinished)
    def show_result(self, message: QueryFinished) -> None:
        if message.result.spec != self.spec:
            return  # an answer to a view the user already left
        if self._loading_timer is not None:
            self._loading_timer.stop()
        self.result = result = message.result
        empty = not result.rows and result.totals.requests == 0
        table = self.query_one(BreakdownTable)
        table.loading = False
        plot = self.query_one(TrendPlot)
        plot.display = table.display = not empty
        self.query_one("#plot-empty").display = self.query_one("#table-empty").display = empty
        if not empty:
            plot.show(result, graph_title(result.spec))
            table.show(result)
        totals = self.query_one("#totals", Static)
        totals.display = not empty
        totals.update(totals_line(result))
        self.query_one("#plot-empty").border_title = graph_title(result.spec)
        self.query_one(BudgetPanel).update_status(message.budget)

    @on(QueryFailed)
    def show_error(self, message: QueryFailed) -> None:
        # Worker errors land here, in one place.
        self.query_one(BreakdownTable).loading = False
        self.notify(str(message.error), title="Query failed", severity="error")

    def poll_store(self) -> None:
        self.check_store_version()

    @work(thread=True, exclusive=True, group="poll", name="poll")
    def check_store_version(self) -> None:
        with self._db_lock:
            version = self.store.data_version()
            changed = self._data_version is not None and version != self._data_version
            if changed:
                self._data_version = version
            directory = self.store.directory() if changed else None
        if changed:
            self.directory = directory
            self.post_message(StoreChanged())

    @on(StoreChanged)
    def store_changed(self) -> None:
        self.refresh_view()

    @on(BudgetPanel.WindowEnded)
    def budget_window_ended(self) -> None:
        self.refresh_view()

    # -- view changes --------------------------------------------------------------------------
    def visible_teams(self) -> list[str]:
        return self.directory.teams_visible_to(self.viewer)

    def change(self, **fields) -> None:
        """Apply a change to the view, unless the viewer may not see the result."""
        spec = replace(self.spec, **fields)
        try:
            check_scope(self.directory, spec)
        except (ScopeError, QueryError) as exc:
            self.notify(str(exc), title="Not allowed", severity="warning")
            return
        self.spec = spec
        self.refresh_view()

    def action_scope(self, scope: str) -> None:
        team = self.spec.team
        if scope == "team" and team is None:
            teams = self.visible_teams()
            team = teams[0] if teams else None
            if team is None:
                self.notify(f"{self.viewer} may not view any team's scope (team admins and org admins only)",
                            title="Not allowed", severity="warning")
                return
        self.change(scope=scope, team=team if scope == "team" else self.spec.team, focus=None)

    def action_next_team(self) -> None:
        teams = self.visible_teams()
        if not teams:
            self.notify("No team you may view", severity="warning")
            return
        current = self.spec.team if self.spec.team in teams else teams[-1]
        self.change(scope="team", team=_next(teams, current), focus=None)

    def action_next_metric(self) -> None:
        self.change(metric=_next(METRICS, self.spec.metric))

    def action_next_grouping(self) -> None:
        self.change(group_by=_next(GROUPINGS, self.spec.group_by), focus=None)

    def action_toggle_granularity(self) -> None:
        self.change(granularity=_next(GRANULARITIES, self.spec.granularity))

    def today(self) -> date:
        return clock.today(ZoneInfo(self.spec.tz or self.directory.timezone))

    def action_date_range(self) -> None:
        plan = plan_query(self.spec, self.directory)

        def picked(value: tuple[date, date] | None) -> None:
            if value is not None:
                self.change(since=value[0], until=value[1])

        self.push_screen(DateRangeScreen(self.today(), plan.since, plan.until), picked)

    def action_search(self) -> None:
        self.query_one("#search", Input).focus()

    @on(Input.Changed, "#search")
    def search_changed(self, event: Input.Changed) -> None:
        self.change(search=event.value.strip() or None)

    @on(Input.Submitted, "#search")
    def search_done(self) -> None:
        self.query_one(BreakdownTable).focus()

    @on(DataTable.RowSelected)
    def focus_row(self, event: DataTable.RowSelected) -> None:
        key = event.row_key.value
        if key is not None:
            self.change(focus=key)

    def action_clear_focus(self) -> None:
        if self.focused is self.query_one("#search", Input):
            self.query_one(BreakdownTable).focus()
            return
        if self.spec.focus is not None:
            self.change(focus=None)

    def action_refresh(self) -> None:
        self.refresh_view()

    def action_export(self) -> None:
        if self.result is None:
            return
        spec = self.result.spec
        name = f"usage-{spec.scope}-{spec.group_by}-{self.result.since}-{self.result.until}.csv"
        path = self.export_dir / name
        rows = self.result.as_json()["rows"]
        header = ["key", "cost_usd", "requests", "tokens", "prompt_tokens", "completion_tokens",
                  "cached_input_tokens", "context_tokens", "unpriced_requests", "share"]
        try:
            with path.open("w", newline="") as f:
                writer = csv.writer(f)
                writer.writerow(header)
                writer.writerows([row[h] for h in header] for row in rows)
        except OSError as exc:
            self.notify(f"Could not write {path}: {exc.strerror}", severity="error")
            return
        self.notify(f"Wrote {len(rows)} rows to {path}", title="Exported")

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.BINDINGS))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for b in self.BINDINGS:
            if b.action.startswith(("quit", "help")):
                continue
            yield SystemCommand(f"{b.description} ({b.key_display or b.key})", b.description,
                                lambda action=b.action: self.run_action(action))


def create_app(db_path: str | Path, viewer: str | None = None, export_dir: Path | None = None) -> UsageApp:
    """The factory the CLI and the tests share."""
    store = Store(db_path, create=False, per_thread=False)
    return UsageApp(store, resolve_viewer(store.directory(), viewer), export_dir=export_dir)


def run_app(db_path: str | Path, as_user: str | None = None) -> None:
    create_app(db_path, as_user).run()

