"""The filter sidebar: scope, team, metric, grouping, granularity, dates, row search, budget.

Each filter is a compact one-line Select, so the whole sidebar fits 80×24; the app's keys
change the same filters, and `Sidebar.show` mirrors them back without echoing messages.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import Input, Label, Select, Static

from ..fmt import METRIC_TITLES
from ..model import GROUPINGS, METRICS, QuerySpec
from .budget_panel import BudgetPanel
from .date_range_screen import CUSTOM, PRESETS, DateRange
from .in_order_input import InOrderInput

SCOPE_LABELS = {"personal": "Personal", "team": "Team", "org": "Org"}
GROUPING_LABELS = {g: g.capitalize() for g in GROUPINGS}
GRANULARITY_LABELS = {"daily": "Daily", "weekly": "Weekly"}
DATE_LABELS = PRESETS  # each fits the 80-column sidebar; the line under them gives the dates


@dataclass(frozen=True)
class Filters:
    """Everything the sidebar (and the keys) choose; with the viewer and today it is a QuerySpec."""

    scope: str = "personal"
    team: str | None = None
    metric: str = "cost"
    group_by: str = "model"
    granularity: str = "daily"
    dates: DateRange = field(default_factory=DateRange)
    search: str = ""
    focus: str | None = None

    def spec(self, viewer: str, today: date) -> QuerySpec:
        since, until = self.dates.resolve(today)
        return QuerySpec(
            viewer=viewer, scope=self.scope, team=self.team if self.scope == "team" else None,
            metric=self.metric, group_by=self.group_by, granularity=self.granularity,
            since=since, until=until, search=self.search or None, focus=self.focus,
        )

    def with_(self, **changes) -> Filters:
        return replace(self, **changes)


class SearchInput(InOrderInput):
    """Filters the table as you type; enter keeps the search, escape clears it. Both hand the
    keyboard back to the table at once: priority bindings run when the app first sees the key,
    so keys typed right behind them already go to the table."""

    BINDINGS = [
        Binding("enter", "app.leave_search('keep')", "Done", id="search.done", priority=True),
        Binding("escape", "app.leave_search('clear')", "Clear search", id="search.clear", priority=True),
    ]


class Sidebar(VerticalScroll, can_focus=False):
    class FilterChanged(Message):
        """The user picked a value in one of the filter selects."""

        def __init__(self, name: str, value: str) -> None:
            super().__init__()
            self.name = name
            self.value = value

    class SearchChanged(Message):
        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    _teams: list[str] | None = None

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

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        if event.value is not Select.NULL and event.select.id:
            self.post_message(self.FilterChanged(event.select.id, str(event.value)))

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.post_message(self.SearchChanged(event.value))

    def show(self, filters: Filters, *, viewer: str, teams: list[str], span: str) -> None:
        """Mirror the filters of the view; never posts FilterChanged or SearchChanged. The search
        box is left alone: every search comes from it, and writing the view's search back while
        keys typed ahead were still on their way to it lost some and misplaced others ("gpt"
        became "gtp")."""
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

