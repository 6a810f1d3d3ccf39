"""The filter sidebar: scope, team, metric, grouping, granularity, dates, row search, budget.

Each filter is a compact one-line Select, so the whole sidebar fits 80×24. The keys that
change these filters (1 2 3 t m g w d /) are the app's bindings, acted on here (the app routes
`sidebar.…` actions to this widget); `Sidebar.show` mirrors the view back without echoing.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import TYPE_CHECKING

from textual.app import ComposeResult, SystemCommand
from textual.containers import Horizontal, VerticalScroll
from textual.timer import Timer
from textual.widgets import Input, Label, Select, Static

from ..fmt import METRIC_TITLES
from ..model import GRANULARITIES, GROUPINGS, METRICS
from ..view_state import CUSTOM, PRESETS, DateRange, Filters, cycle, result_span, viewer_label
from .budget_panel import BudgetPanel
from .date_range_screen import DateRangeScreen
from .search_input import SearchInput

if TYPE_CHECKING:
    from ..app import UsageApp

SCOPE_LABELS = {"personal": "Personal", "team": "Team", "org": "Org"}
GROUPING_LABELS = {g: g.capitalize() for g in GROUPINGS}
GRANULARITY_LABELS = {"daily": "Daily", "weekly": "Weekly"}
DATE_LABELS = PRESETS  # each fits the 80-column sidebar; the line under them gives the dates
SEARCH_DEBOUNCE_S = 0.12  # typing in the search box re-queries once the keys pause

# The view-changing actions: refused while a dialog is open, so keys typed there never leak.
VIEW_ACTIONS = {"scope", "next_team", "next_metric", "next_grouping", "toggle_granularity", "date_range", "search"}


class Sidebar(VerticalScroll, can_focus=False):
    app: UsageApp
    _teams: list[str] | None = None

    def __init__(self, *, search_debounce_s: float = SEARCH_DEBOUNCE_S, **kwargs) -> None:
        super().__init__(**kwargs)
        self.search_debounce_s = search_debounce_s
        self._search_timer: Timer | None = None

    @property
    def search_pending(self) -> bool:
        """Keys typed in the search box that the view has not asked for yet (the debounce)."""
        return self._search_timer is not None

    def compose(self) -> ComposeResult:
        start = Filters()  # initial values, so that mounting the selects changes nothing
        yield Static(id="viewer")
        yield from self._field("Scope", "scope", [(v, k) for k, v in SCOPE_LABELS.items()], start.scope)
        yield from self._field("Team", "team", [], None)
        yield from self._field("Metric", "metric", [(METRIC_TITLES[m], m) for m in METRICS], start.metric)
        yield from self._field("Rows", "group_by", [(v, k) for k, v in GROUPING_LABELS.items()], start.group_by)
        yield from self._field("Period", "granularity", [(v, k) for k, v in GRANULARITY_LABELS.items()],
                               start.granularity)
        yield from self._field("Dates", "dates", [*((v, k) for k, v in DATE_LABELS.items()), ("Custom…", CUSTOM)],
                               start.dates.preset)
        yield Static(id="span")
        with Horizontal(classes="field"):
            yield Label("Search", classes="field-label")
            yield SearchInput(placeholder="press /", id="search", compact=True)
        yield Static("Budget", classes="heading")
        yield BudgetPanel(id="budget")

    def _field(self, label: str, name: str, options, value: str | None) -> ComposeResult:
        with Horizontal(classes="field"):
            yield Label(label, classes="field-label")
            yield Select(options, id=name, compact=True, allow_blank=value is None, prompt="—",
                         value=Select.NULL if value is None else value, type_to_search=False)

    # -- the view on screen, mirrored ------------------------------------------------------------
    def mirror(self, filters: Filters) -> None:
        """Show `filters` (the view asked for, or on screen) with who is looking and the dates."""
        app = self.app
        who = viewer_label(app.directory, app.viewer) if app.directory else app.viewer
        span = result_span(app.result) if app.result else ""
        if app.result is not None and filters.dates != app.filters.dates:
            span = "…"
        if filters.team is None:
            # The team `2` would open; for a member, the primary team (shown, not selectable).
            filters = filters.with_(team=self.default_team())
        self.show(filters, viewer=who, teams=app.teams, span=span)

    def show(self, filters: Filters, *, viewer: str, teams: list[str], span: str) -> None:
        """Mirror the filters of the view; never acts on the changes it makes. The search box is
        left alone: every search comes from it, and writing the view's search back while keys
        typed ahead were still on their way to it lost some and misplaced others ("gpt" became
        "gtp")."""
        self.query_one("#viewer", Static).update(viewer)
        self._set("scope", filters.scope)
        team_select = self.query_one("#team", Select)
        options = list(teams)
        if filters.team and filters.team not in options:
            options.append(filters.team)
        if self._teams != options:
            self._teams = options
            with team_select.prevent(Select.Changed):
                team_select.set_options([(t, t) for t in options])
        team_select.disabled = not teams  # a member's own team is shown, not offered
        self._set("team", filters.team)
        self._set("metric", filters.metric)
        self._set("group_by", filters.group_by)
        self._set("granularity", filters.granularity)
        self._set("dates", filters.dates.preset)
        self.query_one("#span", Static).update(span)

    def _set(self, name: str, value: str | None) -> None:
        select = self.query_one(f"#{name}", Select)
        wanted = Select.NULL if value is None else value
        if select.value != wanted:
            with select.prevent(Select.Changed):
                select.value = wanted

    # -- the user's choices ----------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in VIEW_ACTIONS and not self.app.view_keys_on:
            return False
        if action in VIEW_ACTIONS and isinstance(self.app.focused, Input):
            return False  # the view's keys (priority keys) are text in a text box
        return super().check_action(action, parameters)

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        if event.value is Select.NULL or not event.select.id:
            return
        name, value, pending = event.select.id, str(event.value), self.app.pending
        current = pending.dates.preset if name == "dates" else getattr(pending, name)
        if value == current and (name != "team" or pending.scope == "team"):
            return  # the sidebar echoing the view, not a choice
        if name == "scope":
            self.action_scope(value)
        elif name == "team":
            self.app.request_with(scope="team", team=value)
        elif name == "group_by":
            self.app.request_with(group_by=value, focus=None)
        elif name in ("metric", "granularity"):
            self.app.request_with(**{name: value})
        elif name == "dates":
            if value == CUSTOM:
                self.action_date_range()
            else:
                self.app.request_with(dates=DateRange(value))

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        if self._search_timer is not None:
            self._search_timer.stop()
        self._search_timer = self.set_timer(self.search_debounce_s, partial(self._search, event.value.strip()))

    def _search(self, text: str) -> None:
        self._search_timer = None
        if text != self.app.pending.search:
            self.app.request_with(search=text)

    def default_team(self) -> str | None:
        """The team scope `2` opens: the one picked before, else the viewer's primary team, else
        the first team the viewer may view. The query layer decides whether it may be seen."""
        app = self.app
        if app.pending.team:
            return app.pending.team
        user = app.directory.users.get(app.viewer) if app.directory else None
        if user is not None and user.primary_team and (user.primary_team in app.teams or not app.teams):
            return user.primary_team
        return app.teams[0] if app.teams else None

    def action_scope(self, scope: str) -> None:
        if scope != "team":
            self.app.request_with(scope=scope)
            return
        team = self.default_team()
        if team is None:
            self.app.notify(f"{self.app.viewer} is in no team and administers none.", title="Scope refused",
                            severity="warning")
            return
        self.app.request_with(scope="team", team=team)

    def action_next_team(self) -> None:
        app = self.app
        if not app.teams:
            app.notify(f"{app.viewer} may not view any team (team admins and org admins only).",
                       title="Scope refused", severity="warning")
            return
        # t always moves on: from another scope too, to the team after the one the sidebar shows.
        current = app.pending.team or self.default_team()
        team = cycle(app.teams, current)
        if len(app.teams) == 1:
            app.notify(f"{team} is the only team {app.viewer} may view.", title="Only one team")
            if app.pending.scope == "team":
                return
        app.request_with(scope="team", team=team)

    def action_next_metric(self) -> None:
        self.app.request_with(metric=cycle(METRICS, self.app.pending.metric))

    def action_next_grouping(self) -> None:
        # A focused row is a key of the old grouping: it means nothing in the new one.
        self.app.request_with(group_by=cycle(GROUPINGS, self.app.pending.group_by), focus=None)

    def action_toggle_granularity(self) -> None:
        self.app.request_with(granularity=cycle(GRANULARITIES, self.app.pending.granularity))

    def action_date_range(self) -> None:
        app = self.app
        if app.result is None:
            return

        def picked(dates: DateRange | None) -> None:
            if dates is not None:
                app.request_with(dates=dates)
            else:
                self.mirror(app.pending)  # undo a "Custom…" picked in the sidebar

        app.push_screen(DateRangeScreen(app.pending.dates, app.result.since, app.result.until), picked)

    def action_set_dates(self, preset: str) -> None:
        self.app.request_with(dates=DateRange(preset))

    def action_search(self) -> None:
        self.screen.set_focus(self.query_one(SearchInput))

    def system_commands(self) -> Iterator[SystemCommand]:
        """The command palette's entries for these filters (ctrl+p)."""
        app = self.app
        for scope, label in SCOPE_LABELS.items():
            yield SystemCommand(f"Scope: {label.lower()}", "Whose usage the view shows (1 2 3)",
                                partial(self.action_scope, scope))
        yield SystemCommand("Next team", "Team scope, next team you may view (t)", self.action_next_team)
        for metric in METRICS:
            yield SystemCommand(f"Metric: {metric}", "What the graph and the table measure (m)",
                                partial(app.request_with, metric=metric))
        for group in GROUPINGS:
            yield SystemCommand(f"Group rows by {group}", "The rows of the table (g)",
                                partial(app.request_with, group_by=group, focus=None))
        for granularity in GRANULARITIES:
            yield SystemCommand(f"Granularity: {granularity}", "Buckets of the graph (w)",
                                partial(app.request_with, granularity=granularity))
        for preset, label in PRESETS.items():
            yield SystemCommand(f"Dates: {label.lower()}", "Date range (d)", partial(self.action_set_dates, preset))
        yield SystemCommand("Dates: custom…", "Pick two dates (d)", self.action_date_range)
        yield SystemCommand("Search rows", "Filter the table as you type (/)", self.action_search)
