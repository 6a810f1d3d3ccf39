"""The trend graph: one series of the current view (textual-plotext)."""

from __future__ import annotations

from textual_plotext import PlotextPlot

from ..fmt import compact, money
from ..model import QueryResult

UNIT_LABELS = {"cost": "USD", "requests": "requests", "tokens": "tokens"}


def _tick(metric: str, value: float) -> str:
    return money(value) if metric == "cost" else compact(value)


class TrendPlot(PlotextPlot):
    """Replots as clear → plot → refresh(); the heavy work (the query) happened in a worker."""

    DEFAULT_CSS = "TrendPlot { height: 1fr; min-height: 7; }"

    title_text = ""

    def show(self, result: QueryResult, title: str) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        metric = result.spec.metric
        labels = [p.bucket.strftime("%b %d") for p in result.series]
        values = [p.value for p in result.series]
        x = list(range(1, len(values) + 1))
        self.title_text = title
        plt.title(title)
        if len(values) <= 16:
            plt.bar(x, values, width=0.6)
        else:
            plt.plot(x, values, marker="braille")
        # Dates as preformatted strings, and few enough ticks to stay readable in 50 columns.
        step = max(1, len(x) // max(1, (self.size.width or 60) // 12))
        plt.xticks(x[::step], labels[::step])
        top = max(values) if values else 0
        if top > 0:
            ticks = [top * i / 4 for i in range(5)]
            plt.yticks(ticks, [_tick(metric, t) for t in ticks])
            plt.ylim(0, top * 1.05)
        plt.ylabel(UNIT_LABELS[metric])
        self.refresh()
