"""Numbers formatted for people, shared by the CLI tables and the TUI."""

from __future__ import annotations


def money(usd: float) -> str:
    if usd == 0:
        return "$0.00"
    if abs(usd) < 0.01:
        return f"${usd:.4f}"
    return f"${usd:,.2f}"


UNPRICED = "—"  # the cost of what has no price: not $0.00, which is what cost nothing


def cost_text(cost_usd: float, requests: int, unpriced_requests: int) -> str:
    """A row's cost: `—` when none of its requests has a price (its $0.00 would read as free)."""
    return UNPRICED if requests and unpriced_requests >= requests else money(cost_usd)


def requests_text(n: int) -> str:
    """`1 request`, `2 requests`."""
    return f"{n:,} request" if n == 1 else f"{n:,} requests"


def unpriced_note(n: int) -> str:
    """`1 request is unpriced`, `2 requests are unpriced`."""
    return f"{n:,} request is unpriced" if n == 1 else f"{n:,} requests are unpriced"


def compact(n: float) -> str:
    """12 → 12, 12_345 → 12.3k, 4_500_000 → 4.5M."""
    n = float(n)
    for size, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= size:
            return f"{n / size:.1f}{suffix}"
    return f"{n:,.0f}"


def percent(share: float) -> str:
    return f"{share * 100:.1f}%"


def metric_value(metric: str, value: float) -> str:
    return money(value) if metric == "cost" else compact(value)


METRIC_TITLES = {"cost": "Cost", "requests": "Requests", "tokens": "Tokens"}
GRANULARITY_WORDS = {"daily": "day", "weekly": "week"}


def record_money(usd: float | None) -> str:
    """One request's cost: fractions of a cent matter here ($0.000125), `unpriced` for None."""
    if usd is None:
        return "unpriced"
    if usd == 0 or abs(usd) >= 1:
        return money(usd)
    text = f"{usd:.4g}"  # four significant digits: $0.05717, $0.0312, $0.000125
    if "e" in text:
        text = f"{usd:.9f}".rstrip("0")  # below $0.0001: plain digits, to the nano-dollar
    whole, _, frac = text.partition(".")
    return f"${whole}.{frac.ljust(2, '0')}"


def fit_middle(text: str, width: int) -> str:
    """`claude-sonnet-4-5-20250929` in 14 cells: `claude-…250929`: names that differ at the end
    (dates, versions) stay apart."""
    if len(text) <= width:
        return text
    if width <= 1:
        return "…"[:max(0, width)]
    tail = (width - 1) // 2
    return text[: width - 1 - tail] + "…" + (text[-tail:] if tail else "")
