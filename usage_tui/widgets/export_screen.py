"""The export dialog: where the CSV goes, editable, checked before anything is written."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static
from textual.worker import Worker, WorkerState

from .in_order_input import InOrderInput

PATH_MAX = 4096  # characters of a path typed here


def check_export_path(text: str, default_name: str) -> Path:
    """The file an export may be written to, or ValueError with the reason in words. A folder
    gets the default file name; an existing file is never overwritten."""
    text = text.strip()
    if not text:
        raise ValueError("give a file name")
    if len(text) > PATH_MAX:
        raise ValueError(f"the path is longer than {PATH_MAX} characters")
    path = Path(text).expanduser()
    if path.is_dir():
        path = path / default_name
    if path.exists():
        raise ValueError(f"{path} exists: pick another name (an export never overwrites)")
    folder = path.parent
    if not folder.is_dir():
        raise ValueError(f"no folder {folder}")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"{folder} is not writable: pick another folder")
    return path


class ExportScreen(ModalScreen[Path | None]):
    """Enter checks the path in the box and writes there (a thread worker); the dialog closes
    with the written path, or stays open saying why the file could not be written. Escape
    cancels."""

    DEFAULT_CSS = """
    ExportScreen { align: center middle; }
    ExportScreen > #dialog {
        width: 72; max-width: 100%; height: auto; border: round $accent; background: $surface; padding: 0 1;
    }
    ExportScreen Input { width: 1fr; margin: 1 0 0 0; }
    ExportScreen #export-error { color: $error; height: auto; }
    ExportScreen #export-hint { color: $text-muted; }
    """

    BINDINGS = [
        Binding("enter", "export", "Write", id="export.write", priority=True),
        Binding("escape", "cancel", "Cancel", id="export.cancel"),
    ]

    def __init__(self, default: Path, rows: int, write: Callable[[Path], Path]) -> None:
        super().__init__()
        self.default = default
        self.rows = rows
        self.write = write

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog") as dialog:
            dialog.border_title = "Export the table as CSV"
            yield Label(f"{self.rows} row{'s' if self.rows != 1 else ''}, as `spend summary --format csv` "
                        "writes them, to:")
            yield InOrderInput(str(self.default), id="export-path", compact=True, max_length=PATH_MAX)
            yield Static(id="export-error")
            yield Static("enter writes · esc cancels", id="export-hint")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_changed(self) -> None:
        self.query_one("#export-error", Static).update("")

    def action_export(self) -> None:
        try:
            path = check_export_path(self.query_one(Input).value, self.default.name)
        except ValueError as exc:
            self.query_one("#export-error", Static).update(str(exc))
            return
        self.write_file(path)

    @work(thread=True, exclusive=True, group="export", name="export csv", exit_on_error=False)
    def write_file(self, path: Path) -> None:
        written = self.write(path)
        self.app.call_from_thread(self.dismiss, written)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "export" and event.state == WorkerState.ERROR:
            error = event.worker.error
            reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
            name = getattr(error, "filename", None) or "the file"
            self.query_one("#export-error", Static).update(f"cannot write {name}: {reason}")

    def action_cancel(self) -> None:
        self.dismiss(None)
