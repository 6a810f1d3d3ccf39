"""The trend graph: the series of the current view, or of the focused row (textual-plotext)."""

from __future__ import annotations

import math

from rich.text import Text
from textual.app import RenderResult
from textual_plotext import PlotextPlot

from .. import clock
from ..fmt import compact
from ..model import QueryResult
from ..query import zone
from ..view_state import graph_title, result_span

EMPTY_GRAPH = ("No attributed usage in this view.\n"
               "Broaden the date range (d), change the scope (1 2 3),\n"
               "or import data: usage-tui import FILE")


def nice_ticks(top: float, count: int) -> list[float]:
    """About `count` round tick values from 0 to at least `top` (steps of 1, 2, 2.5 or 5 × 10^n)."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / max(1, count - 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    return [i * step for i in range(math.ceil(top / step - 1e-9) + 1)]


def axis_label(metric: str, value: float, step: float) -> str:
    """Units on the axis: $ for cost, `req` and `tok` with k/M for counts."""
    if metric == "cost":
        if value == 0:
            return "$0"
        if value >= 1000:
            return "$" + compact(value)
        decimals = 0 if step >= 1 else 1 if step >= 0.1 else 2 if step >= 0.01 else 4
        return f"${value:,.{decimals}f}"
    unit = " req" if metric == "requests" else " tok"
    if value == 0:
        return "0" + unit
    if value < 1000:
        return f"{value:,.{0 if step >= 1 else 1}f}{unit}"
    return compact(value) + unit


def date_label(day, span_days: int) -> str:
    return day.strftime("%b %d") if span_days < 300 else day.strftime("%b %Y")


class TrendPlot(PlotextPlot):
    """Replots as clear → plot → refresh(); the query ran in a worker, so this only draws.

    With nothing to draw it renders a compact empty-state message instead of the axes.
    """

    DEFAULT_CSS = """
    TrendPlot { height: 1fr; min-height: 6; }
    TrendPlot.-empty { content-align: center middle; text-align: center; color: $text-muted; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.title = ""
        self.message: str | None = None
        self._result: QueryResult | None = None
        self._version = 0
        self._built: tuple[tuple, RenderResult] | None = None

    def _titles(self, title: str, subtitle: str) -> None:
        self.title = title
        self.border_title = title
        self.border_subtitle = subtitle

    def show_view(self, result: QueryResult) -> None:
        """The view's series under its title, with the range, zone and time it was read; or why
        there is nothing to draw."""
        title = graph_title(result.spec)
        now = clock.now().astimezone(zone(result.tz))
        subtitle = f"{result_span(result)} ({result.tz}) · {now:%H:%M:%S}"
        if result.totals.requests == 0:
            self.show_empty(title, EMPTY_GRAPH, subtitle)
        else:
            self.show(result, title, subtitle)

    def show(self, result: QueryResult, title: str, subtitle: str = "") -> None:
        self._titles(title, subtitle)
        self._result = result
        self.message = None
        self.remove_class("-empty")
        self._draw()

    def show_empty(self, title: str, message: str, subtitle: str = "") -> None:
        self._titles(title, subtitle)
        self._result = None
        self.message = message
        self.add_class("-empty")
        self.plt.clear_data()
        self.refresh()

    def on_resize(self) -> None:
        # Tick density depends on the width; the data is cached, so this is cheap.
        if self._result is not None:
            self._draw()

    def _draw(self) -> None:
        result = self._result
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        if result is None:
            self.refresh()
            return
        metric = result.spec.metric
        values = [float(p.value) for p in result.series]
        x = list(range(1, len(values) + 1))
        span = (result.until - result.since).days + 1
        labels = [date_label(p.bucket, span) for p in result.series]
        if len(values) <= 16:
            plt.bar(x, values, width=0.5 if len(values) > 1 else 0.2, marker="sd")
        else:
            # hd quarter blocks filled: an area chart at a third of braille's build time
            plt.plot(x, values, marker="hd", fillx=True)
        # Dates as preformatted strings, spaced so that they never run into each other.
        width = max(20, self.size.width or 60)
        per_label = 9
        step = max(1, math.ceil(len(x) / max(1, (width - 8) // per_label)))
        plt.xticks(x[::step], labels[::step])
        plt.xlim(0.5, len(x) + 0.5)
        height = self.size.height or 10
        ticks = nice_ticks(max(values, default=0), 5 if height >= 12 else 4)
        tick_step = ticks[1] - ticks[0]
        plt.yticks(ticks, [axis_label(metric, t, tick_step) for t in ticks])
        plt.ylim(0, ticks[-1])
        plt.title("")
        self._version += 1
        self.refresh()

    def render(self) -> RenderResult:
        if self.message is not None:
            return Text(self.message, style="italic")
        # plotext builds the whole figure on every render; build once per data, size and theme
        key = (self._version, self.size, self.app.theme)
        if self._built is None or self._built[0] != key:
            self._built = (key, super().render())
        return self._built[1]
