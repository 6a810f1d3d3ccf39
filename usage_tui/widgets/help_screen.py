"""The help screen: every key binding with what it does."""

from __future__ import annotations

from collections.abc import Callable

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

Sections = list[tuple[str, list[tuple[str, str]]]]
SCOPE_KEYS = Binding.Group("Scope")  # 1 2 3: one line in the help


def view_help(bindings: list[Binding], key_display: Callable[[Binding], str]) -> Sections:
    """The main view's help, built from its bindings, so it can never miss a key."""
    view: list[tuple[str, str]] = []
    general: list[tuple[str, str]] = []
    for b in bindings:
        keys = b.key_display or key_display(b)
        action = b.action.split("(")[0].rsplit(".", 1)[-1]  # `sidebar.scope('org')` is scope
        if b.group is SCOPE_KEYS:
            if b.key == "1":
                view.append(("1 2 3", "Scope: personal, team, org (refused with a notice if "
                                      "it is not yours to see)"))
        elif action in ("quit", "help", "command_palette"):
            general.append((keys, b.tooltip or b.description))
        elif action not in ("clear_focus", "focus_next", "focus_previous"):  # tab: in "Anywhere"
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
               ("—", "A cost no request of the row has a price for (unknown, not $0.00)"),
               ("●", "The focused row: the graph shows only it"),
               ("…", "A name cut to fit; in the middle when its end tells it apart")]
    return [("View", view), ("Table", table), ("Columns and marks", columns), ("Search box", search),
            ("Anywhere", general)]


class HelpScreen(ModalScreen[None]):
    """A scrollable list of (keys, description) sections; escape, ? or q closes it."""

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 64; max-width: 100%; height: auto; max-height: 100%;
        border: round $accent; background: $surface; padding: 0 1;
        scrollbar-size-vertical: 1;
    }
    """

    BINDINGS = [
        Binding("escape,question_mark,q", "close", "Close", id="help.close"),
    ]

    def __init__(self, sections: Sections) -> None:
        super().__init__()
        self.sections = sections

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        for n, (heading, rows) in enumerate(self.sections):
            if n:
                table.add_row("", "")
            table.add_row(f"[dim]{heading}[/]", "")
            for keys, description in rows:
                table.add_row(keys, description)
        with VerticalScroll() as scroll:
            scroll.border_title = "Keys"
            scroll.border_subtitle = "esc to close"
            yield Static(table)

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).focus()

    def action_close(self) -> None:
        self.dismiss(None)
