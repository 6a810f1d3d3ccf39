"""The breakdown table: one row per key of the grouping, sorted by the metric."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from ..fmt import METRIC_TITLES, compact, metric_value, money, percent
from ..model import METRICS, QueryResult


class BreakdownTable(DataTable):
    """Rows keyed by their grouping key, so focus and export can name them."""

    DEFAULT_CSS = "BreakdownTable { height: 1fr; }"

    def __init__(self, **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.keys: list[str] = []

    def show(self, result: QueryResult) -> None:
        metric = result.spec.metric
        others = [m for m in METRICS if m != metric]
        selected = self.selected_key()
        with self.app.batch_update():
            self.clear(columns=True)
            self.add_column(result.spec.group_by.capitalize(), key="key")
            self.add_column(METRIC_TITLES[metric], key="metric")
            self.add_column("Share", key="share")
            for m in others:
                self.add_column(METRIC_TITLES[m], key=m)
            self.add_column("Context", key="context")
            self.keys = []
            for row in result.rows:
                t = row.totals
                input_tokens = t.prompt_tokens + t.cached_input_tokens
                context = percent(t.context_tokens / input_tokens) if input_tokens else "–"
                key_label = f"{row.key} *" if t.unpriced_requests else row.key
                cells = [metric_value(metric, t.metric(metric)), percent(row.share),
                         *(metric_value(m, t.metric(m)) for m in others), context]
                self.add_row(key_label, *(Text(c, justify="right") for c in cells), key=row.key)
                self.keys.append(row.key)
            if selected in self.keys:
                self.move_cursor(row=self.keys.index(selected))

    def selected_key(self) -> str | None:
        if not self.keys or self.cursor_row is None or not 0 <= self.cursor_row < len(self.keys):
            return None
        return self.keys[self.cursor_row]


def totals_line(result: QueryResult) -> str:
    t = result.totals
    line = f"Total {money(t.cost_usd)} · {compact(t.requests)} req · {compact(t.tokens)} tokens"
    if t.unpriced_requests:
        line += f" · {compact(t.unpriced_requests)} unpriced*"
    return line
