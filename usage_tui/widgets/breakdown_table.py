"""The breakdown table: one row per key of the grouping, sorted by the metric, with totals."""

from __future__ import annotations

import csv
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from ..fmt import compact, metric_value, money, percent
from ..model import METRICS, QueryResult, Row

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


def row_cells(row: Row, metric: str, focus: str | None, colors: dict[str, str],
              key_width: int | None = None) -> list[Text]:
    t = row.totals
    label = Text(no_wrap=True, overflow="ellipsis")
    if row.key == focus:
        label.append(FOCUS_MARK, style=f"bold {colors.get('accent', '')}")
    key = row.key
    if key_width is not None:
        room = key_width - len(label) - (len(UNPRICED_MARK) if t.unpriced_requests else 0)
        if len(key) > room:
            key = key[: max(1, room - 1)] + "…"
    label.append(key, style="bold" if row.key == focus else "")
    if t.unpriced_requests:
        label.append(UNPRICED_MARK, style=f"bold {colors.get('warning', '')}")
    others = [m for m in METRICS if m != metric]
    return [
        label,
        Text(metric_value(metric, t.metric(metric)), justify="right", style="bold"),
        Text(percent(row.share), justify="right"),
        *(Text(metric_value(m, t.metric(m)), justify="right") for m in others),
        Text(context_share(row), justify="right"),
    ]


BLOCKS = " ▏▎▍▌▋▊▉█"


def share_bar(share: float, width: int) -> str:
    """A bar of `width` cells filled to `share`, in eighths of a cell."""
    eighths = round(max(0.0, min(1.0, share)) * width * 8)
    full, part = divmod(eighths, 8)
    return ("█" * full + (BLOCKS[part] if part else "")).ljust(width)


def totals_line(result: QueryResult) -> str:
    """Totals of the whole view (search and focus never change them)."""
    t = result.totals
    line = f"Total {money(t.cost_usd)} · {compact(t.requests)} req · {compact(t.tokens)} tok"
    if t.unpriced_requests:
        line += f" · * {compact(t.unpriced_requests)} unpriced"
    return line


def export_csv(result: QueryResult, directory: Path) -> Path:
    """Write the table's rows as `spend summary --format csv` does; never overwrite a file."""
    spec = result.spec
    scope = f"team-{spec.team}" if spec.scope == "team" else spec.scope
    stem = f"usage-{scope}-{spec.group_by}-{result.since}-{result.until}"
    path = directory / f"{stem}.csv"
    n = 1
    while path.exists():
        n += 1
        path = directory / f"{stem}-{n}.csv"
    with open(path, "x", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(CSV_HEADER)
        for row in result.as_json()["rows"]:
            writer.writerow([row[h] for h in CSV_HEADER])
    return path.resolve()


HEADERS = {"cost": "Cost", "requests": "Requests", "tokens": "Tokens", "share": "Share",
           "context": "Context"}
# Used when the full headers would squeeze the key column (80 columns with the sidebar).
SHORT_HEADERS = {**HEADERS, "requests": "Reqs", "context": "Ctx"}


class BreakdownTable(DataTable):
    """Rows keyed by their grouping key, so the cursor, focus and export can name them.

    Updated in place: a refresh that keeps the rows' order only rewrites changed cells. The
    key column gets the room the numbers leave, and long keys end in `…` when it is short.
    """

    BINDINGS = [
        Binding("enter", "select_cursor", "Focus", id="table.focus_row",
                tooltip="Focus the graph on the selected row"),
    ]

    def __init__(self, **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.keys: list[str] = []
        self._layout: tuple | None = None
        self._shown: tuple[QueryResult, str | None] | None = None

    def show(self, result: QueryResult, focus: str | None) -> None:
        self._shown = (result, focus)
        metric, group_by = result.spec.metric, result.spec.group_by
        names = [metric, "share", *(m for m in METRICS if m != metric), "context"]
        selected = self.selected_key()
        theme = self.app.theme_variables
        colors = {"accent": theme.get("accent", ""), "warning": theme.get("warning", "")}
        numbers = [row_cells(row, metric, focus, colors)[1:] for row in result.rows]
        headers, key_width, bar_width = self._fit(group_by, names, result, numbers)
        with self.app.batch_update():
            layout = (metric, group_by, tuple(headers), bar_width)
            if self._layout != layout:
                self.clear(columns=True)
                self.add_column(group_by.capitalize(), key="key")
                for name, header in zip(names, headers, strict=True):
                    self.add_column(Text(header, justify="right"), key="metric" if name == metric else name)
                    if name == "share" and bar_width:
                        self.add_column("", key="bar", width=bar_width)
                self._layout = layout
                self.keys = []
            rows = []
            for row in result.rows:
                cells = row_cells(row, metric, focus, colors, key_width)
                if bar_width:
                    cells.insert(3, Text(share_bar(row.share, bar_width), style=colors["accent"]))
                rows.append((row.key, cells))
            keys = [key for key, _ in rows]
            if keys == self.keys:
                columns = [c.key for c in self.ordered_columns]
                for key, cells in rows:
                    for column, cell in zip(columns, cells, strict=True):
                        if self.get_cell(key, column) != cell:
                            self.update_cell(key, column, cell, update_width=True)
            else:  # other rows or another order: re-add the rows, keep the columns
                self.clear()
                for key, cells in rows:
                    self.add_row(*cells, key=key)
                self.keys = keys
            if selected in self.keys:
                self.move_cursor(row=self.keys.index(selected), animate=False)
            elif self.keys:
                self.move_cursor(row=0, animate=False)

    def _fit(self, group_by: str, names: list[str], result: QueryResult,
             numbers: list[list[Text]]) -> tuple[list[str], int | None, int]:
        """Headers, the key column's width (None: as wide as the keys) and the share bar's
        width (0: no bar) for the width the table has now."""
        width = self.size.width - 1  # room for the vertical scrollbar
        pad = 2 * self.cell_padding
        longest_key = max([len(group_by), *(len(r.key) + len(FOCUS_MARK) + len(UNPRICED_MARK)
                                            for r in result.rows)])
        for table in (HEADERS, SHORT_HEADERS):
            headers = [HEADERS[names[0]], *(table[n] for n in names[1:])]  # the metric's own stays whole
            columns = [max([len(h), *(len(row[i]) for row in numbers)]) + pad for i, h in enumerate(headers)]
            room = width - sum(columns) - pad
            if room >= longest_key or width <= 0:
                spare = room - longest_key - pad
                # A wide terminal gets a share bar: the rows' weights at a glance.
                return headers, None, min(30, spare) if spare >= 12 and numbers else 0
        return headers, max(8, room), 0

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


class BreakdownPanel(Vertical):
    """The table in a titled frame: row count in the title, totals in the subtitle, and a
    compact empty state under the column headers when the view has no usage."""

    DEFAULT_CSS = """
    BreakdownPanel { height: 1fr; }
    BreakdownPanel > BreakdownTable { height: 1fr; }
    BreakdownPanel > #table-empty { display: none; height: auto; padding: 0 1; color: $text-muted; }
    BreakdownPanel.-empty > BreakdownTable { height: 1; }  /* the headers only */
    BreakdownPanel.-empty > #table-empty { display: block; }
    """

    empty_message: str | None = None

    def compose(self) -> ComposeResult:
        yield BreakdownTable(id="table")
        yield Static(id="table-empty")

    @property
    def table(self) -> BreakdownTable:
        return self.query_one(BreakdownTable)

    def show(self, result: QueryResult, focus: str | None, empty_message: str | None) -> None:
        spec = result.spec
        self.table.show(result, focus)
        count = len(result.rows)
        title = f"By {spec.group_by} · {count} row{'s' if count != 1 else ''}"
        if spec.search:
            title += f" matching “{spec.search}”"
        self.border_title = title
        self.border_subtitle = totals_line(result)
        self.empty_message = empty_message
        self.set_class(empty_message is not None, "-empty")
        self.query_one("#table-empty", Static).update(empty_message or "")
