"""The breakdown table: one row per key of the grouping, sorted by the metric, with totals.

Its keys (enter, esc, e, h) act here: focus the graph on a row, clear the focus, export the
rows, open a row's history (the app routes `table.…` actions to this widget).
"""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import platformdirs
from rich.text import Text
from textual import events
from textual.app import SystemCommand
from textual.binding import Binding
from textual.widgets import DataTable, Input

from ..fmt import UNPRICED, compact, cost_text, fit_middle, metric_value, money, percent, record_money
from ..model import METRICS, QueryResult, Row, Totals
from ..view_state import result_span
from .export_screen import ExportScreen
from .history_screen import HistoryScreen, HistoryView
from .in_order_input import keys_taken, own_binding_ran

if TYPE_CHECKING:
    from ..app import UsageApp

FOCUS_MARK = "● "
UNPRICED_MARK = " *"

# The `spend summary --format csv` columns, so an export and the CLI agree to the digit.
CSV_HEADER = ["key", "cost_usd", "requests", "tokens", "prompt_tokens", "completion_tokens",
              "cached_input_tokens", "context_tokens", "unpriced_requests", "share"]


def context_share(row: Row) -> str:
    """The part of the input tokens injected by context (knowledge, memory)."""
    t = row.totals
    input_tokens = t.prompt_tokens + t.cached_input_tokens
    return percent(t.context_tokens / input_tokens) if input_tokens else "–"


# Columns a wide table adds after Context, in the order they are drawn; EXTRA_PRIORITY is the
# order they are given room in (the token split comes as one).
EXTRAS = ("per_request", "prompt", "cached", "completion", "unpriced")
EXTRA_PRIORITY = (("per_request",), ("unpriced",), ("prompt", "cached", "completion"))
EXTRA_FIELDS = {"prompt": "prompt_tokens", "cached": "cached_input_tokens", "completion": "completion_tokens",
                "unpriced": "unpriced_requests"}


def row_cells(row: Row, metric: str, focus: str | None, colors: dict[str, str],
              label_text: str | None = None) -> dict[str, Text]:
    """Every cell of a row by column name ("key", the metric's name, "share", the other two
    metrics, "context"); `label_text` is the key as it fits its column."""
    t = row.totals
    label = Text(no_wrap=True, overflow="ellipsis")
    if row.key == focus:
        label.append(FOCUS_MARK, style=f"bold {colors.get('accent', '')}")
    label.append(row.key if label_text is None else label_text, style="bold" if row.key == focus else "")
    if t.unpriced_requests:
        label.append(UNPRICED_MARK, style=f"bold {colors.get('warning', '')}")
    cells = {"share": Text(percent(row.share), justify="right")}
    for m in METRICS:
        text = cost_text(t.cost_usd, t.requests, t.unpriced_requests) if m == "cost" else metric_value(m, t.metric(m))
        cells[m] = Text(text, justify="right", style="bold" if m == metric else "")
    cells["key"] = label
    cells["context"] = Text(context_share(row), justify="right")
    priced = t.requests - t.unpriced_requests  # the cost is of these only
    cells["per_request"] = Text(record_money(t.cost_usd / priced) if priced > 0 else UNPRICED, justify="right")
    for name in ("prompt", "cached", "completion", "unpriced"):
        cells[name] = Text(compact(getattr(t, EXTRA_FIELDS[name])), justify="right")
    return cells


def fit_keys(rows: list[Row], focus: str | None, width: int) -> dict[str, str]:
    """Each key as it fits `width` cells with its marks. Cut at the end (`claude-sonne…`), or in
    the middle (`claude-s…250929`) where cutting the end would make two keys read alike."""
    def room(row: Row) -> int:
        return (width - (len(FOCUS_MARK) if row.key == focus else 0)
                - (len(UNPRICED_MARK) if row.totals.unpriced_requests else 0))

    ends = {r.key: (r.key if len(r.key) <= room(r) else r.key[: max(1, room(r) - 1)] + "…") for r in rows}
    seen: dict[str, int] = {}
    for text in ends.values():
        seen[text] = seen.get(text, 0) + 1
    return {key: (fit_middle(key, room(r)) if seen[ends[key]] > 1 else ends[key])
            for r in rows for key in (r.key,)}


BLOCKS = " ▏▎▍▌▋▊▉█"


def share_bar(share: float, width: int) -> str:
    """A bar of `width` cells filled to `share`, in eighths of a cell."""
    eighths = round(max(0.0, min(1.0, share)) * width * 8)
    full, part = divmod(eighths, 8)
    return ("█" * full + (BLOCKS[part] if part else "")).ljust(width)


def totals_line(result: QueryResult, width: int = 1000) -> str:
    """Totals of the whole view (search and focus never change them) in `width` cells: the
    words get shorter before anything is cut. With a search, what the shown rows add up to
    comes first: `3 of 9 rows · $0.45 of $1.60`."""
    t = result.totals
    spec = result.spec
    unpriced = f"* {compact(t.unpriced_requests)} unpriced" if t.unpriced_requests else ""
    if spec.search:
        shown = Totals()
        for row in result.rows:
            shown.add(row.totals)
        of = result.rows_in_view or len(result.rows)
        value = metric_value(spec.metric, shown.metric(spec.metric))
        total = metric_value(spec.metric, t.metric(spec.metric))
        unit = {"cost": "", "requests": " req", "tokens": " tok"}[spec.metric]
        head = f"{len(result.rows)} of {of} rows · {value} of {total}{unit}"
        # the shown rows' unpriced requests: they are what the first figure leaves out
        unpriced = f"* {compact(shown.unpriced_requests)} unpriced" if shown.unpriced_requests else ""
        candidates = [" · ".join(p for p in (head, unpriced) if p), head]
    else:
        figures = f"{money(t.cost_usd)} · {compact(t.requests)} req · {compact(t.tokens)} tok"
        short = unpriced.replace(" unpriced", " unpr.").replace("* ", "*")
        candidates = [" · ".join(p for p in (f"Total {figures}", unpriced) if p),
                      " · ".join(p for p in (figures, unpriced) if p),
                      " · ".join(p for p in (figures, short) if p), figures]
    return next((c for c in candidates if len(c) <= width), candidates[-1])


def default_export_dir() -> Path:
    """Where an export goes unless the user types another folder: the user's downloads folder
    (XDG_DOWNLOAD_DIR, ~/Downloads), else `exports` in the user data folder, else temp. Not the
    current folder: run inside a git checkout, an export landed among its files."""
    downloads = platformdirs.user_downloads_path()
    if downloads.is_dir() and os.access(downloads, os.W_OK | os.X_OK):
        return downloads
    exports = platformdirs.user_data_path("usage-tui") / "exports"
    try:
        exports.mkdir(parents=True, exist_ok=True)
        return exports
    except OSError:
        return Path(tempfile.gettempdir())


FREE_NAME_TRIES = 1000  # usage-…-2.csv … -1000.csv; then the dialog says the name exists


def free_name(path: Path) -> Path:
    """`path`, or the first of `stem-2.csv`, `stem-3.csv`… that does not exist: a second `e`
    offers a name it can write, not one the dialog refuses."""
    for n in range(1, FREE_NAME_TRIES + 1):
        candidate = path if n == 1 else path.with_name(f"{path.stem}-{n}{path.suffix}")
        if not candidate.exists():
            return candidate
    return path


def export_name(result: QueryResult) -> str:
    """`usage-team-platform-model-2026-10-26-2026-11-24.csv`: the view, in the file's name."""
    spec = result.spec
    scope = f"team-{spec.team}" if spec.scope == "team" else spec.scope
    return f"usage-{scope}-{spec.group_by}-{result.since}-{result.until}.csv"


def export_csv(result: QueryResult, path: Path) -> Path:
    """Write the table's rows as `spend summary --format csv` does, the first column named after
    the grouping (`model`, `user`…); never overwrites a file (mode "x")."""
    header = [result.spec.group_by, *CSV_HEADER[1:]]
    with open(path, "x", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        for row in result.as_json()["rows"]:
            writer.writerow([row[h] for h in CSV_HEADER])
    return path.resolve()


HEADERS = {"cost": "Cost", "requests": "Requests", "tokens": "Tokens", "share": "Share",
           "context": "Context", "per_request": "Cost/req", "prompt": "Prompt", "cached": "Cached",
           "completion": "Completion", "unpriced": "Unpriced"}
# Used when the full headers would squeeze the key column (80 columns with the sidebar).
SHORT_HEADERS = {**HEADERS, "requests": "Reqs", "context": "Ctx"}
KEY_MIN = 18  # cells the key column keeps before it is cut: secondary columns go first
# The view-changing actions: refused while a dialog is open, so keys typed there never leak.
VIEW_ACTIONS = {"clear_focus", "export", "history"}


class BreakdownTable(DataTable):
    """Rows keyed by their grouping key, so the cursor, focus and export can name them.

    Updated in place: a refresh that keeps the rows' order only rewrites changed cells. The
    key column gets the room the numbers leave, and long keys end in `…` when it is short.
    """

    BINDINGS = [
        Binding("enter", "select_cursor", "Focus", id="table.focus_row",
                tooltip="Focus the graph on the selected row"),
    ]

    app: UsageApp

    def __init__(self, **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.keys: list[str] = []
        self.names: list[str] = []  # the columns shown after the key, by name
        self._layout: tuple | None = None
        self._shown: tuple[QueryResult, str | None] | None = None

    async def _on_key(self, event: events.Key) -> None:
        if not await own_binding_ran(self, event):  # arrows and enter in the order typed
            await super()._on_key(event)

    def show(self, result: QueryResult, focus: str | None) -> None:
        self._shown = (result, focus)
        metric, group_by = result.spec.metric, result.spec.group_by
        selected = self.selected_key()
        theme = self.app.theme_variables
        colors = {"accent": theme.get("accent", ""), "warning": theme.get("warning", "")}
        full = [row_cells(row, metric, focus, colors) for row in result.rows]
        names, headers, widths, key_width, bar_width = self._fit(result, full)
        labels = fit_keys(result.rows, focus, key_width)
        with self.app.batch_update():
            # Widths are part of the layout: fitted again on every update, both ways (a column
            # auto-sized once only grows, and a wider key or cost pushed Ctx out of sight).
            layout = (metric, group_by, tuple(names), tuple(headers), tuple(widths), key_width, bar_width)
            if self._layout != layout:
                self.clear(columns=True)
                self.add_column(group_by.capitalize(), key="key", width=key_width)
                for name, header, width in zip(names, headers, widths, strict=True):
                    self.add_column(Text(header, justify="right"), key="metric" if name == metric else name,
                                    width=width)
                    if name == "share" and bar_width:
                        self.add_column("", key="bar", width=bar_width)
                self._layout = layout
                self.names = names
                self.keys = []
            rows = []
            for row in result.rows:
                cells = row_cells(row, metric, focus, colors, labels[row.key])
                line = [cells["key"]]
                for name in names:
                    line.append(cells[name])
                    if name == "share" and bar_width:
                        line.append(Text(share_bar(row.share, bar_width), style=colors["accent"]))
                rows.append((row.key, line))
            keys = [key for key, _ in rows]
            if keys == self.keys:
                columns = [c.key for c in self.ordered_columns]
                for key, cells in rows:
                    for column, cell in zip(columns, cells, strict=True):
                        if self.get_cell(key, column) != cell:
                            self.update_cell(key, column, cell)
            else:  # other rows or another order: re-add the rows, keep the columns
                self.clear()
                for key, cells in rows:
                    self.add_row(*cells, key=key)
                self.keys = keys
            if selected in self.keys:
                self.move_cursor(row=self.keys.index(selected), animate=False)
            elif self.keys:
                self.move_cursor(row=0, animate=False)

    def _fit(self, result: QueryResult, cells: list[dict[str, Text]]):
        """(column names, headers, widths, key width, share bar width) for the width the table
        has now. The key column comes first: when the keys do not fit whole, the headers get
        short, then secondary columns go (share, then the other metrics; the metric and Ctx
        stay), and only then are keys cut, to no less than KEY_MIN cells."""
        metric, group_by = result.spec.metric, result.spec.group_by
        others = [m for m in METRICS if m != metric]
        names = [metric, "share", *others, "context"]
        width = self.size.width - 1  # room for the vertical scrollbar
        pad = 2 * self.cell_padding
        longest_key = max([len(group_by), *(len(r.key) + (len(FOCUS_MARK) if r.key == result.spec.focus else 0)
                                            + (len(UNPRICED_MARK) if r.totals.unpriced_requests else 0)
                                            for r in result.rows)])

        def widths_for(shown: list[str], table: dict[str, str]) -> tuple[list[str], list[int]]:
            headers = [HEADERS[n] if n == metric else table[n] for n in shown]  # the metric's own stays whole
            return headers, [max([len(h), *(len(row[n]) for row in cells)]) for n, h in zip(shown, headers, strict=True)]

        def room(ws: list[int]) -> int:
            return width - sum(w + pad for w in ws) - pad

        for table in (HEADERS, SHORT_HEADERS):
            headers, ws = widths_for(names, table)
            if room(ws) >= longest_key or width <= 0:
                if table is HEADERS and width > 0:  # room after the whole names: the extras
                    chosen: set[str] = set()
                    for extra in EXTRA_PRIORITY:
                        wider = names + [n for n in EXTRAS if n in chosen or n in extra]
                        if room(widths_for(wider, HEADERS)[1]) >= longest_key:
                            chosen.update(extra)
                    names = names + [n for n in EXTRAS if n in chosen]
                    headers, ws = widths_for(names, table)
                spare = room(ws) - longest_key - pad
                # A wide terminal gets a share bar: the rows' weights at a glance.
                bar = min(30, spare) if spare >= 12 and cells else 0
                return names, headers, ws, max(longest_key, room(ws) if not bar else longest_key), bar
        shown = list(names)
        for drop in ("share", others[1], others[0]):
            if room(widths_for(shown, SHORT_HEADERS)[1]) >= min(longest_key, KEY_MIN):
                break
            shown.remove(drop)
        headers, ws = widths_for(shown, SHORT_HEADERS)
        return shown, headers, ws, max(8, room(ws)), 0

    def on_resize(self) -> None:
        if self._shown is not None:
            self.show(*self._shown)

    def selected_key(self) -> str | None:
        if not self.keys or not 0 <= self.cursor_row < len(self.keys):
            return None
        return self.keys[self.cursor_row]

    def cell_texts(self) -> list[list[str]]:
        """The table as displayed, row by row."""
        return [[c.plain if isinstance(c, Text) else str(c) for c in self.get_row_at(i)]
                for i in range(self.row_count)]

    # -- actions ---------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in VIEW_ACTIONS and (not self.app.view_keys_on or isinstance(self.app.focused, Input)):
            return False  # a dialog's, or text in a text box (the app's keys have priority)
        if action == "clear_focus":
            return self.app.pending.focus is not None
        return super().check_action(action, parameters)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """enter (or a click) on a row: the graph shows only that row."""
        if event.row_key.value is not None:
            self.app.request_with(focus=event.row_key.value)

    def action_focus_row(self) -> None:
        key = self.selected_key()
        if key is not None:
            self.app.request_with(focus=key)

    def action_clear_focus(self) -> None:
        self.app.request_with(focus=None)

    async def action_export(self) -> None:
        app = self.app
        result = app.result
        if result is None or not result.rows:
            app.notify("Nothing to export: the table has no rows." if result is not None else
                       "Nothing to export yet.", title="Export", severity="warning")
            return
        default = free_name((app.export_dir or default_export_dir()) / export_name(result))

        def written(path: Path | None) -> None:
            if path is not None:
                rows = len(result.rows)
                app.notify(f"{rows} row{'s' if rows != 1 else ''} written to {path}", title="Exported CSV",
                           timeout=8)

        await app.push_screen(ExportScreen(default, len(result.rows), partial(export_csv, result)), written)

    def history_view(self) -> HistoryView | None:
        """The selected row of the view on screen, as a history: same scope, dates and zone."""
        result = self.app.result
        key = self.selected_key()
        if result is None or key is None:
            return None
        row = next((r for r in result.rows if r.key == key), None)
        spec = replace(result.spec, since=result.since, until=result.until, tz=result.tz, focus=key, search=None)
        who = {"personal": "personal", "team": f"team {spec.team}", "org": "org"}[spec.scope]
        title = f"Requests — {spec.group_by} {key} ({who} scope) · {result_span(result)}"
        return HistoryView(spec, result.tz, title, row.totals if row is not None else None)

    async def action_history(self) -> None:
        await keys_taken(self)  # `down h`: the history of the row the cursor moved to
        view = self.history_view()
        if view is None:
            self.app.notify("No row selected: the history is of a row of the table.", severity="warning")
            return
        # Awaited: the app takes the keys typed behind h (`/ bob`) once the history is mounted.
        await self.app.push_screen(HistoryScreen(self.app.store, view))

    def system_commands(self) -> Iterator[SystemCommand]:
        """The command palette's entries for the table (ctrl+p)."""
        yield SystemCommand("Focus the graph on the selected row", "enter in the table", self.action_focus_row)
        yield SystemCommand("History of the selected row", "The requests behind its numbers (h)",
                            self.action_history)
        yield SystemCommand("Clear the focus", "The graph shows the whole scope again (escape)",
                            self.action_clear_focus)
        yield SystemCommand("Export the table as CSV", "Writes a file and says where (e)", self.action_export)
