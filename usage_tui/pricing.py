"""Prices (§2.1 Cost): a logged cost wins, then a directory override, then genai-prices.

genai-prices resolves the model (aliases, providers, price history) and holds the rates. Its
per-call `calc_price` costs ~60 µs (Decimal arithmetic and model matching), which would
dominate an import of millions of records, so we resolve each (provider, model, day) once
and apply the resolved rates in floats. Rates genai-prices applies in ways we don't mirror
(per-request fees, a missing cache rate) go through its own `ModelPrice.calc_price`.
tests/test_pricing.py checks the fast path against `calc_price` across models.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from genai_prices import Usage, calc_price
from genai_prices.types import TieredPrices

from .directory import Price
from .model import NANO, Record

_FAST_KEYS = ("input_mtok", "cache_read_mtok", "cache_write_mtok", "output_mtok")
_DAY_US = 86_400_000_000


def _rate(price: Decimal | TieredPrices | None, total_input: int) -> float:
    if price is None:
        return 0.0
    if isinstance(price, TieredPrices):
        applicable = price.base
        for tier in reversed(price.tiers):
            if total_input > tier.start:  # same cliff rule as genai-prices
                applicable = tier.price
                break
        return float(applicable)
    return float(price)


class _Resolved:
    """A genai-prices ModelPrice with a float fast path where it is linear in our four counts."""

    __slots__ = ("model_price", "prices", "fast_ok", "flat", "has_read", "has_write")

    def __init__(self, model_price: Any) -> None:
        self.model_price = model_price
        self.prices = {k: getattr(model_price, k, None) for k in _FAST_KEYS}
        extra = {k for k, v in model_price.__dict__.items() if v is not None and not k.startswith("_")}
        # requests_kcount charges per request: leave those models to genai-prices itself.
        self.fast_ok = "requests_kcount" not in extra and self.prices["input_mtok"] is not None
        # Without tiers the four rates are constants: converted to floats once, not per record.
        tiered = any(isinstance(v, TieredPrices) for v in self.prices.values())
        self.flat = None if tiered else tuple(_rate(self.prices[k], 0) for k in _FAST_KEYS)
        self.has_read = self.prices["cache_read_mtok"] is not None
        self.has_write = self.prices["cache_write_mtok"] is not None

    def cost_usd(self, uncached: int, cache_read: int, cache_write: int, output: int) -> float:
        total_input = uncached + cache_read + cache_write
        if self.fast_ok and (cache_read == 0 or self.has_read) and (cache_write == 0 or self.has_write):
            r_in, r_read, r_write, r_out = self.flat or [_rate(self.prices[k], total_input) for k in _FAST_KEYS]
            return (uncached * r_in + cache_read * r_read + cache_write * r_write + output * r_out) / 1_000_000
        usage = Usage(input_tokens=total_input, cache_read_tokens=cache_read,
                      cache_write_tokens=cache_write, output_tokens=output)
        return float(self.model_price.calc_price(usage)["total_price"])


class Pricer:
    """Prices records. `cost_nano(record)` returns integer nano-dollars, or None if unpriced."""

    def __init__(self, overrides: Iterable[Price] = ()) -> None:
        self.overrides = {(p.provider, p.model): p for p in overrides}
        self._cache: dict[tuple[str, str, int], _Resolved | None] = {}

    def _resolve(self, provider: str, model: str, ts_us: int) -> _Resolved | None:
        day = ts_us // _DAY_US
        key = (provider, model, day)
        found = self._cache.get(key, self)  # self: not resolved yet (None is "no price")
        if found is not self:
            return found
        when = datetime.fromtimestamp(day * 86_400 + 43_200, UTC)
        try:
            price = calc_price(Usage(input_tokens=0), model_ref=model, provider_id=provider,
                               genai_request_timestamp=when)
            resolved = _Resolved(price.model_price)
        except LookupError:
            resolved = None
        self._cache[key] = resolved
        return resolved

    def cost_usd(self, r: Record) -> float | None:
        """The cost of a record without a logged cost, or None when no price is known."""
        cached = r.cached_input_tokens
        override = self.overrides.get((r.provider, r.model))
        if override is not None:
            return (
                r.prompt_tokens * override.input_per_mtok
                + cached * override.cached_input_per_mtok
                + r.completion_tokens * override.output_per_mtok
            ) / 1_000_000
        resolved = self._resolve(r.provider, r.model, r.ts_us)
        if resolved is None:
            return None
        # prompt_tokens are uncached input; cache writes (Claude Code) are a part of them.
        write = min(r.cache_write_tokens, r.prompt_tokens)
        return resolved.cost_usd(r.prompt_tokens - write, cached, write, r.completion_tokens)

    def cost_nano(self, r: Record) -> int | None:
        if r.cost_usd is not None:
            return round(r.cost_usd * NANO)
        usd = self.cost_usd(r)
        return None if usd is None else round(usd * NANO)
