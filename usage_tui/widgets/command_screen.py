"""The `c` dialog: the CLI command for the view on screen, copied to the clipboard.

The copy is Textual's App.copy_to_clipboard: an OSC 52 sequence, which most terminals (and
tmux with set-clipboard on) turn into a clipboard write, over SSH too; some (macOS Terminal)
ignore it, so the command is always shown whole, selectable, to copy by hand."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from ..view_command import ViewCommand


class CommandScreen(ModalScreen[None]):
    """Shows `command` (wrapped, never cut) and copies it when it opens; any of escape, enter,
    c or q closes it."""

    DEFAULT_CSS = """
    CommandScreen { align: center middle; }
    CommandScreen > #dialog {
        width: 90%; max-width: 110; height: auto; border: round $accent; background: $surface; padding: 0 1;
    }
    CommandScreen #command { margin: 1 0; color: $text; text-style: bold; }
    CommandScreen #command-mcp { margin: 0 0 1 0; color: $text; }
    CommandScreen #command-hint { color: $text-muted; }
    """

    BINDINGS = [
        Binding("escape", "dismiss", "Close", id="command.close"),
        Binding("enter", "dismiss", "Close", show=False),
        Binding("c", "dismiss", "Close", show=False),
        Binding("q", "dismiss", "Close", show=False),
    ]

    def __init__(self, command: ViewCommand) -> None:
        super().__init__()
        self.command = command.shell
        self.mcp = command.mcp_text

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("The command for this view (spend summary; add --format json, csv or --by-period):")
            yield Static(self.command, id="command", markup=False)
            yield Label("For an agent (usage-tui mcp), the same view:")
            yield Static(self.mcp, id="command-mcp", markup=False)
            yield Label("The command is copied to the clipboard where the terminal allows it (OSC 52). "
                        "Escape closes.", id="command-hint")

    def on_mount(self) -> None:
        self.app.copy_to_clipboard(self.command)

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
