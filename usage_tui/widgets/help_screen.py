"""`?`: every binding with what it does."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close help", id="help.close")]

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Vertical { width: 64; max-width: 100%; height: auto; max-height: 100%;
        border: round $accent; padding: 0 1; background: $surface; }
    """

    def __init__(self, bindings: list[Binding]) -> None:
        super().__init__()
        self.bindings_to_show = bindings

    def compose(self) -> ComposeResult:
        lines = ["[b]usage-tui keys[/b]", ""]
        for b in self.bindings_to_show:
            keys = b.key_display or b.key.replace("question_mark", "?").replace("slash", "/")
            lines.append(f"[b]{keys:>9}[/b]  {b.description}")
        lines += ["", "In the table: ↑ ↓ PgUp PgDn move; enter focuses the graph on the row.",
                  "Press escape or ? to close."]
        with Vertical():
            yield Static("\n".join(lines))
