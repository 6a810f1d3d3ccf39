"""The filter sidebar: what the view shows (the footer and `?` show the keys that change it)."""

from __future__ import annotations

from datetime import date

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Input, Static

from ..model import QuerySpec
from .budget_panel import BudgetPanel

FIELDS = ("Scope", "Team", "Metric", "Group by", "Buckets", "Dates")  # the console's order


def scope_label(spec: QuerySpec) -> str:
    if spec.scope == "personal":
        return f"personal ({spec.viewer})"
    if spec.scope == "team":
        return f"team {spec.team}"
    return "organization"


class Sidebar(VerticalScroll):
    """Fits 80×24 beside the graph; scrolls when the terminal is shorter still."""

    DEFAULT_CSS = """
    Sidebar { width: 30; border-right: vkey $foreground 30%; padding: 0 1; }
    Sidebar .heading { color: $text-muted; margin-top: 1; }
    Sidebar Input { margin: 0; }
    """

    def compose(self) -> ComposeResult:
        yield Static("", id="filters")
        yield Static("Search rows  /", classes="heading", markup=False)
        yield Input(placeholder="type to filter rows", id="search", compact=True)
        yield Static("Budget", classes="heading", markup=False)
        yield BudgetPanel(id="budget")

    def show(self, spec: QuerySpec, since: date, until: date, teams: list[str]) -> None:
        values = {
            "Scope": scope_label(spec),
            "Team": spec.team or ("–" if teams else "– (none to view)"),
            "Metric": spec.metric,
            "Group by": spec.group_by,
            "Buckets": spec.granularity,
            "Dates": f"{since:%b %d} – {until:%b %d}",
        }
        text = Text()
        for label in FIELDS:
            text.append(f"{label:<9}", style="dim")
            text.append(values[label], style="bold")
            text.append("\n")
        text.append(f"{'':9}{(until - since).days + 1} days, {until:%Y}", style="dim")
        self.query_one("#filters", Static).update(text)
