"""The Textual app: wiring only.

Keys and the sidebar change `Filters`; a thread worker turns them into a QuerySpec and runs the
one query function (`usage_tui.query.run_query`, the same as `spend summary`), then posts
`QueryFinished`; the widgets draw it. The query layer enforces scopes: a refused view raises
ScopeError in the worker, and the view on screen stays as it was.
"""

from __future__ import annotations

import gc
import os
import sqlite3
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import replace
from functools import partial
from pathlib import Path

from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Input, OptionList, Select
from textual.worker import Worker, WorkerState, get_current_worker

from . import clock
from .budget import BudgetStatus, budget_status
from .directory import Directory
from .fmt import GRANULARITY_WORDS, METRIC_TITLES
from .identity import resolve_identity
from .model import GRANULARITIES, GROUPINGS, METRICS, QueryResult, QuerySpec
from .query import QueryError, ScopeError, run_query, zone
from .store import StoreError, StorePermissionError, UsageStore, open_store
from .store.changes import ChangeWatch, watch_changes
from .widgets.breakdown_table import BreakdownPanel, BreakdownTable, export_csv, export_name
from .widgets.budget_panel import BudgetPanel
from .widgets.date_range_screen import CUSTOM, PRESETS, DateRange, DateRangeScreen, span_label
from .widgets.export_screen import ExportScreen
from .widgets.help_screen import HelpScreen
from .widgets.history_screen import HistoryScreen, HistoryView
from .widgets.record_detail_screen import RecordDetailScreen
from .widgets.sidebar import SCOPE_LABELS, Filters, SearchInput, Sidebar
from .widgets.trend_plot import TrendPlot

POLL_S = 2.0  # live refresh: how often an SQLite store's data_version is read (PostgreSQL notifies)
SLOW_QUERY_S = 0.15  # a query slower than this gets a loading indicator
SEARCH_DEBOUNCE_S = 0.12  # typing in the search box re-queries once the keys pause

EMPTY_GRAPH = ("No attributed usage in this view.\n"
               "Broaden the date range (d), change the scope (1 2 3),\n"
               "or import data: usage-tui import FILE")
EMPTY_TABLE = ("No attributed usage in this view: broaden the date range (d), change the scope "
               "(1 2 3), or import data (usage-tui import FILE).")

# The view-changing actions: refused while a dialog is open, so keys typed there never leak.
VIEW_ACTIONS = {"scope", "next_team", "next_metric", "next_grouping", "toggle_granularity",
                "date_range", "search", "clear_focus", "export", "refresh", "history"}


def cycle(options: Iterable[str], current: str) -> str:
    options = list(options)
    return options[(options.index(current) + 1) % len(options)] if current in options else options[0]


def graph_title(spec: QuerySpec) -> str:
    """`Cost per day — personal (alice)`, `… — team platform`, `… — org`, `… — model gpt-4o`."""
    base = f"{METRIC_TITLES[spec.metric]} per {GRANULARITY_WORDS[spec.granularity]}"
    if spec.focus is not None:
        return f"{base} — {spec.group_by} {spec.focus}"
    who = {"personal": f"personal ({spec.viewer})", "team": f"team {spec.team}", "org": "org"}[spec.scope]
    return f"{base} — {who}"


def viewer_label(directory: Directory, viewer: str) -> str:
    if directory.is_org_admin(viewer):
        role = "org admin"
    elif any(viewer in t.admins for t in directory.teams.values()):
        role = "team admin"
    elif viewer in directory.users:
        role = "member"
    else:
        role = "not in directory"
    return f"{viewer} · {role}"


def default_export_dir() -> Path:
    """The current directory when it is writable (where the user ran the command), else temp."""
    cwd = Path.cwd()
    return cwd if os.access(cwd, os.W_OK) else Path(tempfile.gettempdir())


# -- messages from the workers ------------------------------------------------------------------
class QueryFinished(Message):
    def __init__(self, request: int, filters: Filters, result: QueryResult, directory: Directory) -> None:
        super().__init__()
        self.request = request
        self.filters = filters
        self.result = result
        self.directory = directory


class BudgetLoaded(Message):
    def __init__(self, status: BudgetStatus | None) -> None:
        super().__init__()
        self.status = status


class StoreChanged(Message):
    """Another process committed to the store, or the calendar day changed."""


SCOPE_KEYS = Binding.Group("Scope")


class UsageApp(App):
    """The Usage page: filter sidebar, trend graph, breakdown table."""

    CSS_PATH = "app.tcss"
    TITLE = "usage-tui"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]
    COMMAND_PALETTE_DISPLAY = "^p"

    # The footer shows the keys a newcomer needs first, and only as many as fit 80 columns
    # whole (with the table's `⏎ Focus`): `? Help` leads to every other key, and the command
    # palette (ctrl+p) to every action by name. `?`, `d` and `/` have priority: handled before
    # the key reaches the table, so keys typed right after them land in the dialog or box they
    # open (check_action lets them through to text boxes).
    BINDINGS = [
        Binding("question_mark", "help", "Help", key_display="?", id="help.show", priority=True,
                tooltip="Help: every key, and what the columns mean"),
        Binding("escape", "clear_focus", "Unfocus", id="focus.clear", show=False,
                tooltip="Clear the row focus: the graph shows the whole scope again"),
        Binding("h", "history", "History", id="history.open",
                tooltip="The requests behind the selected row: time, tokens, cost; enter on one explains it"),
        Binding("1", "scope('personal')", "Personal", id="scope.personal", group=SCOPE_KEYS,
                tooltip="Scope: your own usage"),
        Binding("2", "scope('team')", "Team", id="scope.team", group=SCOPE_KEYS,
                tooltip="Scope: the selected team (its admins and org admins)"),
        Binding("3", "scope('org')", "Org", id="scope.org", group=SCOPE_KEYS,
                tooltip="Scope: the whole organization (org admins)"),
        Binding("t", "next_team", "Team", id="team.next", show=False, tooltip="Next team (team scope)"),
        Binding("m", "next_metric", "Metric", id="metric.next", tooltip="Metric: cost → requests → tokens"),
        Binding("g", "next_grouping", "Rows", id="grouping.next",
                tooltip="Group rows by provider → model → user → team → agent → key → verdict"),
        Binding("d", "date_range", "Dates", id="range.pick", priority=True,
                tooltip="Date range: last 7, 30, 90 days, month to date, or custom dates"),
        Binding("slash", "search", "Search", key_display="/", id="search.focus", priority=True,
                tooltip="Search: filter the rows as you type"),
        Binding("w", "toggle_granularity", "Day/wk", id="granularity.toggle", show=False,
                tooltip="Daily ↔ weekly buckets"),
        Binding("e", "export", "Export", id="table.export", show=False,
                tooltip="Export the table to a CSV file (you pick where)"),
        Binding("r", "refresh", "Refresh", id="view.refresh", show=False,
                tooltip="Refresh (the view also follows the store by itself)"),
        Binding("q", "quit", "Quit", id="app.quit",
                tooltip="Quit (on the history and on a record, q goes back, as escape does)"),
        Binding("ctrl+p", "command_palette", "Commands", key_display="^p", id="palette.show",
                tooltip="Command palette: every action by name", show=False),
    ]

    def __init__(self, store: UsageStore, viewer: str, *, poll_interval: float | None = POLL_S,
                 export_dir: Path | None = None) -> None:
        super().__init__()
        self.store = store
        self.viewer = viewer
        self.poll_interval = poll_interval
        self.export_dir = export_dir
        self.filters = Filters()  # the view on screen
        self.pending = self.filters  # the view asked for last (what the next key builds on)
        self.result: QueryResult | None = None
        self.directory: Directory | None = None
        self.teams: list[str] = []
        # key press → repainted table and plot, in seconds (the last ones: a session can be long)
        self.timings: deque[float] = deque(maxlen=1000)
        self._request = 0
        self._applied = 0
        self._started: dict[int, float] = {}
        self._query_worker: Worker | None = None
        self._slow_timer: Timer | None = None
        self._search_timer: Timer | None = None
        self._stopping = threading.Event()
        self._watch: ChangeWatch | None = None  # the store's change watch, made by watch_store
        self._footer_without_focus = True
        self._gc_frozen = False

    # -- layout --------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        with Horizontal(id="body"):
            yield Sidebar(id="sidebar")
            with Vertical(id="main"):
                yield TrendPlot(id="plot")
                yield BreakdownPanel(id="breakdown")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one(BreakdownTable).focus()
        self.request(self.filters)
        self.load_budget()
        if self.poll_interval:
            self.watch_store()

    def on_unmount(self) -> None:
        self._stopping.set()  # lets the watching thread end now, not at its next tick
        if self._watch is not None:
            self._watch.wake()
        if self._gc_frozen:
            gc.unfreeze()  # the objects of this app become collectable again (tests run many)
            self._gc_frozen = False

    @property
    def _widgets_gone(self) -> bool:
        """A worker's answer can arrive after the widgets are gone (the app is closing)."""
        return not self.query(TrendPlot)

    @property
    def settled(self) -> bool:
        """True when the screen shows the last view asked for (nothing queued or in flight)."""
        return self.result is not None and self._applied == self._request and self._search_timer is None

    # -- queries ---------------------------------------------------------------------------------
    def request(self, filters: Filters, *, user: bool = True) -> None:
        """Ask for a view. Keys pressed before it arrives build on it; a newer request supersedes it."""
        self.pending = filters
        self._request += 1
        self._started[self._request] = time.perf_counter()
        self._mirror(filters)
        self._query_worker = self.run_view(self._request, filters)
        if user:
            if self._slow_timer is not None:
                self._slow_timer.stop()
            self._slow_timer = self.set_timer(SLOW_QUERY_S, self._show_loading)

    @work(thread=True, exclusive=True, group="query", exit_on_error=False)
    def run_view(self, request: int, filters: Filters) -> None:
        worker = get_current_worker()
        directory = self.store.directory()
        spec = filters.spec(self.viewer, clock.today(zone(directory.timezone)))
        result = run_query(self.store, spec)
        if not worker.is_cancelled:
            self.post_message(QueryFinished(request, filters, result, directory))

    @work(thread=True, exclusive=True, group="budget", exit_on_error=False)
    def load_budget(self) -> None:
        status = budget_status(self.store, self.viewer)
        if not get_current_worker().is_cancelled:
            self.post_message(BudgetLoaded(status))

    @work(thread=True, exclusive=True, group="poll", exit_on_error=False)
    def watch_store(self) -> None:
        """One long-lived thread waiting for the store to change (the store's watch: LISTEN on
        PostgreSQL, data_version polls on SQLite, read on this thread's connection) or for the
        day to turn (a view's "today" moves), at least every poll_interval."""
        worker = get_current_worker()
        try:
            def today():
                return clock.today(zone(self.store.directory().timezone))

            watch = self._watch = watch_changes(self.store)
            if self._stopping.is_set():
                watch.wake()  # unmounted while the watch was being made
            day = today()
            try:
                while not self._stopping.is_set() and not worker.is_cancelled:
                    changed = watch.wait(self.poll_interval)
                    if self._stopping.is_set():
                        break
                    now = today()
                    if changed or now != day:
                        day = now
                        self.post_message(StoreChanged())
            finally:
                watch.close()
        finally:
            self.store.close()  # this thread's connection

    @on(QueryFinished)
    def show_result(self, message: QueryFinished) -> None:
        if message.request != self._request:
            return  # an answer to a view the user already left
        if self._widgets_gone:
            return
        self._applied = message.request
        self._stop_loading()
        self.filters = message.filters
        self.result = message.result
        self.directory = message.directory
        self.teams = message.directory.teams_visible_to(self.viewer)
        self._draw()
        self.call_after_refresh(self._painted, message.request)

    def _painted(self, request: int) -> None:
        if not self._gc_frozen:
            self._freeze_startup_objects()
        started = self._started.pop(request, None)
        if started is not None:
            self.timings.append(time.perf_counter() - started)
        for stale in [r for r in self._started if r < request]:
            del self._started[stale]

    def _freeze_startup_objects(self) -> None:
        """After the first paint, move what start-up built (Textual, Rich, plotext, styles) out
        of the garbage collector's reach. Each full collection walked all of it: ~56 ms, twice
        in 20 key presses at 1M records, which made the slowest repaints 126-129 ms instead of
        73-83 ms. One collection first, so no start-up garbage is kept for good."""
        gc.collect()
        gc.freeze()
        self._gc_frozen = True

    def _draw(self) -> None:
        result, filters = self.result, self.filters
        assert result is not None
        title = graph_title(result.spec)
        span = span_label(result.since, result.until)
        now = clock.now().astimezone(zone(result.tz))
        subtitle = f"{span} ({result.tz}) · {now:%H:%M:%S}"
        plot = self.query_one(TrendPlot)
        empty = result.totals.requests == 0
        if empty:
            plot.show_empty(title, EMPTY_GRAPH, subtitle)
            table_message = EMPTY_TABLE
        else:
            plot.show(result, title, subtitle)
            table_message = None
            if not result.rows:
                table_message = f"No rows match “{filters.search}”: / edits the search, escape there clears it."
        self.query_one(BreakdownPanel).show(result, filters.focus, table_message)
        self._mirror(filters)
        if (filters.focus is None) != self._footer_without_focus:
            # The footer shows `esc Unfocus` only with a focused row; it recomposes on this call,
            # so only when that changes.
            self._footer_without_focus = filters.focus is None
            self.refresh_bindings()

    def _mirror(self, filters: Filters) -> None:
        directory = self.directory
        who = viewer_label(directory, self.viewer) if directory else self.viewer
        span = span_label(self.result.since, self.result.until) if self.result else ""
        if self.result is not None and filters.dates != self.filters.dates:
            span = "…"
        if filters.team is None:
            # The team `2` would open; for a member, the primary team (shown, not selectable).
            filters = filters.with_(team=self.default_team())
        self.query_one(Sidebar).show(filters, viewer=who, teams=self.teams, span=span)

    def _show_loading(self) -> None:
        self._slow_timer = None
        if self._applied != self._request:
            self.query_one(TrendPlot).loading = True
            self.query_one(BreakdownPanel).loading = True

    def _stop_loading(self) -> None:
        if self._slow_timer is not None:
            self._slow_timer.stop()
            self._slow_timer = None
        self.query_one(TrendPlot).loading = False
        self.query_one(BreakdownPanel).loading = False

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Worker errors, all handled here."""
        if event.state != WorkerState.ERROR:
            return
        worker, error = event.worker, event.worker.error
        if worker.group == "query":
            if worker is not self._query_worker:
                return  # a superseded request: its answer no longer matters
            self._stop_loading()
            self._request += 1  # nothing in flight is current any more
            self._applied = self._request
            self.pending = self.filters  # the view stays as it was
            self._mirror(self.filters)
            if isinstance(error, ScopeError):
                self.notify(f"{error}. Still showing {SCOPE_LABELS[self.filters.scope].lower()} scope.",
                            title="Scope refused", severity="warning")
            elif isinstance(error, (QueryError, clock.ClockError)):
                self.notify(str(error), title="Cannot show this view", severity="error")
            else:
                self.notify(_describe(error), title="Query failed", severity="error", timeout=10)
        elif worker.group == "budget":
            self.notify(_describe(error), title="Budget unavailable", severity="warning")
        elif worker.group == "poll":
            self.notify(f"{_describe(error)}. Press r to refresh by hand.",
                        title="Live refresh stopped", severity="warning")

    @on(BudgetLoaded)
    def show_budget(self, message: BudgetLoaded) -> None:
        if not self._widgets_gone:
            self.query_one(BudgetPanel).update_status(message.status)

    @on(BudgetPanel.WindowEnded)
    def budget_window_ended(self) -> None:
        self.load_budget()

    @on(StoreChanged)
    def store_changed(self) -> None:
        self.request(self.pending, user=False)
        self.load_budget()

    # -- actions ---------------------------------------------------------------------------------
    @property
    def _list_open(self) -> bool:
        """A sidebar filter's list is open (its options have the keyboard)."""
        return isinstance(self.focused, OptionList) and isinstance(self.focused.parent, Select)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # An open list is a small mode, like a dialog: the view keys wait until it closes, which
        # also leaves the footer room for its `esc Dismiss menu` at 80 columns (`q Quit` was cut).
        if action in VIEW_ACTIONS and (self.screen.is_modal or self._list_open):
            return False
        if action in ("search", "date_range", "help") and isinstance(self.focused, Input):
            return False
        if action == "help" and isinstance(self.screen, HelpScreen):
            return False  # `?` there closes it
        if action == "clear_focus":
            return self.pending.focus is not None
        return True

    def default_team(self) -> str | None:
        """The team scope `2` opens: the one picked before, else the viewer's primary team, else
        the first team the viewer may view. The query layer decides whether it may be seen."""
        if self.pending.team:
            return self.pending.team
        user = self.directory.users.get(self.viewer) if self.directory else None
        if user is not None and user.primary_team and (user.primary_team in self.teams or not self.teams):
            return user.primary_team
        return self.teams[0] if self.teams else None

    def action_scope(self, scope: str) -> None:
        if scope != "team":
            self.request(self.pending.with_(scope=scope))
            return
        team = self.default_team()
        if team is None:
            self.notify(f"{self.viewer} is in no team and administers none.", title="Scope refused",
                        severity="warning")
            return
        self.request(self.pending.with_(scope="team", team=team))

    def action_next_team(self) -> None:
        if not self.teams:
            self.notify(f"{self.viewer} may not view any team (team admins and org admins only).",
                        title="Scope refused", severity="warning")
            return
        # t always moves on: from another scope too, to the team after the one the sidebar shows.
        current = self.pending.team or self.default_team()
        team = cycle(self.teams, current)
        if len(self.teams) == 1:
            self.notify(f"{team} is the only team {self.viewer} may view.", title="Only one team")
            if self.pending.scope == "team":
                return
        self.request(self.pending.with_(scope="team", team=team))

    def action_next_metric(self) -> None:
        self.request(self.pending.with_(metric=cycle(METRICS, self.pending.metric)))

    def action_next_grouping(self) -> None:
        # A focused row is a key of the old grouping: it means nothing in the new one.
        self.request(self.pending.with_(group_by=cycle(GROUPINGS, self.pending.group_by), focus=None))

    def action_toggle_granularity(self) -> None:
        self.request(self.pending.with_(granularity=cycle(GRANULARITIES, self.pending.granularity)))

    def action_date_range(self) -> None:
        if self.result is None:
            return

        def picked(dates: DateRange | None) -> None:
            if dates is not None:
                self.request(self.pending.with_(dates=dates))
            else:
                self._mirror(self.pending)  # undo a "Custom…" picked in the sidebar

        self.push_screen(DateRangeScreen(self.pending.dates, self.result.since, self.result.until), picked)

    def action_set_dates(self, preset: str) -> None:
        self.request(self.pending.with_(dates=DateRange(preset)))

    def action_search(self) -> None:
        self.screen.set_focus(self.query_one(SearchInput))

    def action_clear_focus(self) -> None:
        self.request(self.pending.with_(focus=None))

    def action_focus_row(self) -> None:
        key = self.query_one(BreakdownTable).selected_key()
        if key is not None:
            self.request(self.pending.with_(focus=key))

    def action_refresh(self) -> None:
        self.request(self.pending)
        self.load_budget()

    def action_export(self) -> None:
        result = self.result
        if result is None or not result.rows:
            self.notify("Nothing to export: the table has no rows." if result is not None else
                        "Nothing to export yet.", title="Export", severity="warning")
            return
        default = (self.export_dir or default_export_dir()) / export_name(result)

        def written(path: Path | None) -> None:
            if path is not None:
                rows = len(result.rows)
                self.notify(f"{rows} row{'s' if rows != 1 else ''} written to {path}", title="Exported CSV",
                            timeout=8)

        self.push_screen(ExportScreen(default, len(result.rows), partial(export_csv, result)), written)

    def history_view(self) -> HistoryView | None:
        """The selected row of the view on screen, as a history: same scope, dates and zone."""
        result = self.result
        key = self.query_one(BreakdownTable).selected_key()
        if result is None or key is None:
            return None
        row = next((r for r in result.rows if r.key == key), None)
        spec = replace(result.spec, since=result.since, until=result.until, tz=result.tz, focus=key, search=None)
        who = {"personal": "personal", "team": f"team {spec.team}", "org": "org"}[spec.scope]
        title = f"Requests — {spec.group_by} {key} ({who} scope) · {span_label(result.since, result.until)}"
        return HistoryView(spec, result.tz, title, row.totals if row is not None else None)

    def action_history(self) -> None:
        view = self.history_view()
        if view is None:
            self.notify("No row selected: the history is of a row of the table.", severity="warning")
            return
        self.push_screen(HistoryScreen(self.store, view))

    def action_help(self) -> None:
        in_history = isinstance(self.screen, (HistoryScreen, RecordDetailScreen))
        self.push_screen(HelpScreen(HistoryScreen.help_sections() if in_history else self.help_sections()))

    def help_sections(self) -> list[tuple[str, list[tuple[str, str]]]]:
        """Built from BINDINGS, so the help can never miss a key."""
        view: list[tuple[str, str]] = []
        general: list[tuple[str, str]] = []
        for b in self.BINDINGS:
            keys = b.key_display or self.get_key_display(b)
            if b.group is SCOPE_KEYS:
                if b.key == "1":
                    view.append(("1 2 3", "Scope: personal, team, org (refused with a notice if "
                                          "it is not yours to see)"))
            elif b.action.split("(")[0] in ("quit", "help", "command_palette"):
                general.append((keys, b.tooltip or b.description))
            elif b.action != "clear_focus":
                view.append((keys, b.tooltip or b.description))
        table = [("↑ ↓ pgup pgdn", "Move the row cursor"),
                 ("enter", "Focus the graph on the selected row"),
                 ("esc", "Clear the focus: the graph shows the whole scope again")]
        search = [("enter", "Keep the search, back to the table"),
                  ("esc", "Clear the search, back to the table")]
        general[0:0] = [("tab shift+tab", "Move between the table and the filters"),
                        ("enter ↑ ↓", "On a filter: open its list and pick a value (the view keys "
                                      "wait until the list closes)")]
        columns = [("Share", "The row's part of the metric's total (at 80 columns it makes room for "
                             "the names)"),
                   ("Ctx", "Context share: the part of the row's input tokens (prompt + cached) "
                           "injected by context (knowledge, memory)"),
                   ("*", "Some of the row's requests are unpriced (no price for their model): its "
                         "cost leaves them out; the totals line counts them"),
                   ("●", "The focused row: the graph shows only it"),
                   ("…", "A name cut to fit; in the middle when its end tells it apart")]
        return [("View", view), ("Table", table), ("Columns and marks", columns), ("Search box", search),
                ("Anywhere", general)]

    @on(DataTable.RowSelected)
    def row_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.request(self.pending.with_(focus=event.row_key.value))

    @on(Sidebar.FilterChanged)
    def filter_changed(self, event: Sidebar.FilterChanged) -> None:
        current = self.pending.dates.preset if event.name == "dates" else getattr(self.pending, event.name)
        if event.value == current and (event.name != "team" or self.pending.scope == "team"):
            return  # the sidebar echoing the view, not a choice
        if event.name == "scope":
            self.action_scope(event.value)
        elif event.name == "team":
            self.request(self.pending.with_(scope="team", team=event.value))
        elif event.name == "group_by":
            self.request(self.pending.with_(group_by=event.value, focus=None))
        elif event.name in ("metric", "granularity"):
            self.request(self.pending.with_(**{event.name: event.value}))
        elif event.name == "dates":
            if event.value == CUSTOM:
                self.action_date_range()
            else:
                self.request(self.pending.with_(dates=DateRange(event.value)))

    @on(Sidebar.SearchChanged)
    def search_changed(self, event: Sidebar.SearchChanged) -> None:
        if self._search_timer is not None:
            self._search_timer.stop()
        text = event.text.strip()
        self._search_timer = self.set_timer(SEARCH_DEBOUNCE_S, partial(self._search, text))

    def _search(self, text: str) -> None:
        self._search_timer = None
        if text != self.pending.search:
            self.request(self.pending.with_(search=text))

    def action_leave_search(self, how: str) -> None:
        search = self.query_one(SearchInput)
        if how == "clear":
            # Input.Changed: the search is cleared like any edit, once the keys typed into the
            # box before escape are in (they are still on their way to it)
            search.call_later(setattr, search, "value", "")
        self.screen.set_focus(self.query_one(BreakdownTable))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        if screen.is_modal:
            return
        for scope, label in SCOPE_LABELS.items():
            yield SystemCommand(f"Scope: {label.lower()}", "Whose usage the view shows (1 2 3)",
                                partial(self.action_scope, scope))
        yield SystemCommand("Next team", "Team scope, next team you may view (t)", self.action_next_team)
        for metric in METRICS:
            yield SystemCommand(f"Metric: {metric}", "What the graph and the table measure (m)",
                                partial(self.request_with, metric=metric))
        for group in GROUPINGS:
            yield SystemCommand(f"Group rows by {group}", "The rows of the table (g)",
                                partial(self.request_with, group_by=group, focus=None))
        for granularity in GRANULARITIES:
            yield SystemCommand(f"Granularity: {granularity}", "Buckets of the graph (w)",
                                partial(self.request_with, granularity=granularity))
        for preset, label in PRESETS.items():
            yield SystemCommand(f"Dates: {label.lower()}", "Date range (d)", partial(self.action_set_dates, preset))
        yield SystemCommand("Dates: custom…", "Pick two dates (d)", self.action_date_range)
        yield SystemCommand("Search rows", "Filter the table as you type (/)", self.action_search)
        yield SystemCommand("Focus the graph on the selected row", "enter in the table", self.action_focus_row)
        yield SystemCommand("History of the selected row", "The requests behind its numbers (h)",
                            self.action_history)
        yield SystemCommand("Clear the focus", "The graph shows the whole scope again (escape)",
                            self.action_clear_focus)
        yield SystemCommand("Export the table as CSV", "Writes a file and says where (e)", self.action_export)
        yield SystemCommand("Refresh", "Read the store again (r)", self.action_refresh)
        yield SystemCommand("Help: keys", "Every key binding (?)", self.action_help)

    def request_with(self, **changes) -> None:
        self.request(self.pending.with_(**changes))


def _describe(error: BaseException | None) -> str:
    if isinstance(error, (StoreError, QueryError, OSError)):
        return str(error)
    return f"{type(error).__name__}: {error}"


def create_app(db: str | Path | UsageStore, viewer: str | None = None, *, poll_interval: float | None = POLL_S,
               export_dir: Path | None = None) -> UsageApp:
    """The factory the CLI and the tests share: on a path, or on the store the caller already
    opened (the CLI's, so a run opens it once). Raises StoreError for a store that cannot be used."""
    if isinstance(db, str | Path):
        # read-only when this user cannot write the store (another user's file, a group
        # given read access, a read-only mount)
        store = open_store(db, for_reading=True,
                           on_upgrade=lambda line: print(f"usage-tui: {line}", file=sys.stderr))
    else:
        store = db
    if viewer is None:  # the CLI passes the viewer it resolved; anyone else gets the same rules
        viewer = resolve_identity(store.directory(), store.path, **store.identity_facts()).viewer
    return UsageApp(store, viewer, poll_interval=poll_interval, export_dir=export_dir)


def run_app(db: str | Path | UsageStore, as_user: str | None = None) -> None:
    try:
        app = create_app(db, as_user)
    except (ScopeError, StorePermissionError) as exc:  # a login the directory gives to two users, or to another's id
        print(f"usage-tui: error: {exc}", file=sys.stderr)
        sys.exit(3)
    except (StoreError, QueryError, sqlite3.Error) as exc:  # one clear line, never a traceback (§8)
        where = db if isinstance(db, str | Path) else db.path
        print(f"usage-tui: error: {where}: {exc}" if isinstance(exc, sqlite3.Error) else
              f"usage-tui: error: {exc}", file=sys.stderr)
        sys.exit(2)
    app.run()
