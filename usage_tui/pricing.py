"""Prices (§2.1 Cost): a logged cost wins, then a directory override, then genai-prices.

genai-prices resolves the model (aliases, providers, price history) and holds the rates. Its
per-call `calc_price` costs ~60 µs (Decimal arithmetic and model matching), which would
dominate an import of millions of records, so we resolve each (provider, model, day) once
and apply the resolved rates in floats. Rates genai-prices applies in ways we don't mirror
(per-request fees, a missing cache rate) go through its own `ModelPrice.calc_price`.
tests/test_pricing.py checks the fast path against `calc_price` across models.

How a request was processed changes its price, and genai-prices knows how: a service tier
(`flex`, `priority`, ...) and the batch API are its price variants (`service_tier`, and
`processing: batch`), applied where it has one for the model at that date. A tier it has no
variant for costs the standard price. The batch API costs half the standard price (OpenAI's
and Anthropic's published batch discount): where genai-prices has no batch variant for the
model, the standard price is halved. 1-hour cache writes have their own rate in genai-prices
(`cache_write_1h_mtok`, 2x input for Anthropic; 5-minute writes are 1.25x). A `[[prices]]`
override prices every cache write (5-minute and 1-hour alike) at its `cache_write_per_mtok`,
which defaults to its input price.
"""

from __future__ import annotations

import functools
import importlib.metadata
import math
from bisect import bisect_left
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

from genai_prices import Usage, calc_price
from genai_prices.types import ModelInfo, ModelPrice, TieredPrices

from .directory import Price
from .model import NANO, HistoryRecord, Record

_FAST_KEYS = ("input_mtok", "cache_read_mtok", "cache_write_mtok", "cache_write_1h_mtok", "output_mtok")
BATCH_DISCOUNT = 0.5  # the batch APIs' price, where genai-prices has no batch variant of its own
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


class _Segment:
    """A model price's cost over one tier segment of total input T, as exact integers over a
    common denominator: cost = (k + u*T + read*r + write*w + write_1h*h + out*o) / den, where
    w is every cache write and h the 1-hour part of it (`write_1h` and `write` apply when h > 0:
    genai-prices is told of 1-hour writes only then, as cost_usd has always asked it)."""

    __slots__ = ("k", "u", "read", "write", "write_b", "write_1h", "out", "den")

    def __init__(self, values: dict[str, Fraction]) -> None:
        den = math.lcm(*(v.denominator for v in values.values()))
        for name, value in values.items():
            setattr(self, name, value.numerator * (den // value.denominator))
        self.den = den


class _Resolved:
    """A genai-prices ModelPrice, precomputed: for each tier segment of the total input, the exact
    cost per token of each of our counts, read off `ModelPrice.calc_price` itself (a few probes,
    once per model price, not per record). Costs come out exactly as calc_price's (its Decimal
    total converted to a float): integer sums, one correctly rounded division. Tiered models,
    models without a cache-read or cache-write rate (genai-prices then prices those tokens as the
    input they are part of) and per-request fees are all covered by the probes."""

    __slots__ = ("model_price", "model_id", "prices", "has_read", "has_write", "has_write_1h", "factor",
                 "starts", "segments")

    def __init__(self, model_price: Any, factor: float = 1.0, model_id: str | None = None) -> None:
        self.model_price = model_price
        self.factor = factor  # BATCH_DISCOUNT for a batch request genai-prices has no variant for
        self.model_id = model_id
        self.prices = {k: getattr(model_price, k, None) for k in _FAST_KEYS}
        self.has_read = self.prices["cache_read_mtok"] is not None
        self.has_write = self.prices["cache_write_mtok"] is not None
        self.has_write_1h = self.prices["cache_write_1h_mtok"] is not None
        self.starts, self.segments = _segments(model_price)

    def cost_usd(self, uncached: int, cache_read: int, cache_write: int, output: int, write_1h: int = 0) -> float:
        """`write_1h` is the part of `cache_write` written for an hour."""
        total = uncached + cache_read + cache_write
        starts = self.starts
        s = self.segments[bisect_left(starts, total) if starts else 0]  # tier n applies when total > start n
        if s is None:  # a segment the probes could not read (none in genai-prices' data so far)
            usd = float(self.model_price.calc_price(_usage(uncached, cache_read, cache_write, write_1h, output))
                        ["total_price"])
        elif write_1h:
            usd = (s.k + s.u * total + s.read * cache_read + s.write_b * cache_write + s.write_1h * write_1h
                   + s.out * output) / s.den
        else:
            usd = (s.k + s.u * total + s.read * cache_read + s.write * cache_write + s.out * output) / s.den
        return usd * self.factor if self.factor != 1.0 else usd


def _usage(uncached: int, read: int, write: int, write_1h: int, output: int) -> Usage:
    return Usage(input_tokens=uncached + read + write, cache_read_tokens=read, cache_write_tokens=write,
                 cache_write_1h_tokens=write_1h or None, output_tokens=output)


_PROBED: dict[int, tuple[Any, list[int], list[_Segment | None]]] = {}  # id(model price) -> (it, segments)


def _segments(model_price: Any) -> tuple[list[int], list[_Segment | None]]:
    """The tier starts of a model price and its cost in each segment between them, memoised per
    ModelPrice (genai-prices keeps one per price period: days of the same price share it)."""
    known = _PROBED.get(id(model_price))
    if known is not None and known[0] is model_price:
        return known[1], known[2]
    starts = sorted({t.start for v in vars(model_price).values() if isinstance(v, TieredPrices) for t in v.tiers})
    bounds = [-1, *starts]
    segments: list[_Segment | None] = []
    for n, start in enumerate(bounds):
        low = start + 1
        high = bounds[n + 1] if n + 1 < len(bounds) else low + 1_000_000
        total = high - high % 2  # even, for a half-and-half probe of 1-hour writes
        segments.append(_probe(model_price, low, total) if low < total else None)
    _PROBED[id(model_price)] = (model_price, starts, segments)
    return starts, segments


def _probe(model_price: Any, low: int, total: int) -> _Segment | None:
    """The cost's coefficients on a segment, from calc_price at a few points of it (linear there:
    genai-prices subtracts the more specific counts from the ones they are part of, and each
    price is constant within a tier)."""
    def cost(uncached: int = 0, read: int = 0, write: int = 0, write_1h: int = 0, output: int = 0) -> Fraction:
        return Fraction(model_price.calc_price(_usage(uncached, read, write, write_1h, output))["total_price"])

    try:
        t = total
        base, base_low = cost(uncached=t), cost(uncached=low)
        per_input = (base - base_low) / (t - low)
        all_1h, half_1h = cost(write=t, write_1h=t), cost(write=t, write_1h=t // 2)
        write_1h = 2 * (all_1h - half_1h) / t
        return _Segment({"k": base - per_input * t, "u": per_input, "read": (cost(read=t) - base) / t,
                         "write": (cost(write=t) - base) / t, "write_b": (all_1h - base) / t - write_1h,
                         "write_1h": write_1h, "out": (cost(uncached=t, output=t) - base) / t})
    except (ValueError, ArithmeticError):
        return None


class Pricer:
    """Prices records. `cost_nano(record)` returns integer nano-dollars, or None if unpriced."""

    def __init__(self, overrides: Iterable[Price] = ()) -> None:
        self.overrides = {(p.provider, p.model): p for p in overrides}
        self._cache: dict[tuple[str, str, int, str | None, bool], _Resolved | None] = {}
        # (provider, model, tier, batch) of a model whose price has no history: any day's price
        # (a Claude Code folder spans ~120 days a model: 568 calc_price calls, 5 with this)
        self._timeless: dict[tuple[str, str, str | None, bool], _Resolved] = {}

    def _resolve(self, provider: str, model: str, ts_us: int, tier: str | None = None,
                 batch: bool = False) -> _Resolved | None:
        day = ts_us // _DAY_US
        key = (provider, model, day, tier, batch)
        found = self._cache.get(key, self)  # self: not resolved yet (None is "no price")
        if found is not self:
            return found
        found = self._timeless.get((provider, model, tier, batch))
        if found is not None:
            return found
        when = datetime.fromtimestamp(day * 86_400 + 43_200, UTC)
        context = {**({"service_tier": tier} if tier else {}), **({"processing": "batch"} if batch else {})}
        try:
            price = calc_price(Usage(input_tokens=0), model_ref=model, provider_id=provider,
                               genai_request_timestamp=when, price_context=context or None)
            factor = BATCH_DISCOUNT if batch and not _has_variant(price, "processing", "batch", when) else 1.0
            resolved = _Resolved(price.model_price, factor, price.model.id)
            if _timeless(price.model, bool(context)):
                self._timeless[(provider, model, tier, batch)] = resolved
        except LookupError:
            resolved = None
        self._cache[key] = resolved
        return resolved

    def cost_usd(self, r: Record) -> float | None:
        """The cost of a record without a logged cost, or None when no price is known."""
        cached = r.cached_input_tokens
        override = self.overrides.get((r.provider, r.model))
        if override is not None:  # the org's own standard price: a batch request pays half
            usd = (r.prompt_tokens * override.input_per_mtok
                   + cached * override.cached_input_per_mtok
                   + r.completion_tokens * override.output_per_mtok)
            write_rate = override.cache_write_per_mtok
            if write_rate is not None and write_rate != override.input_per_mtok and r.cache_write_tokens:
                # cache writes are inside prompt_tokens: their price replaces the input price
                usd += min(r.cache_write_tokens, r.prompt_tokens) * (write_rate - override.input_per_mtok)
            return usd / 1_000_000 * (BATCH_DISCOUNT if r.batch else 1.0)
        resolved = self._resolve(r.provider, r.model, r.ts_us, r.service_tier, r.batch)
        if resolved is None:
            return None
        # prompt_tokens are uncached input; cache writes (Claude Code) are a part of them, and
        # 1-hour writes a part of those.
        write = min(r.cache_write_tokens, r.prompt_tokens)
        return resolved.cost_usd(r.prompt_tokens - write, cached, write, r.completion_tokens,
                                 min(r.cache_write_1h_tokens, write))

    def cost_nano(self, r: Record) -> int | None:
        if r.cost_usd is not None:
            return round(r.cost_usd * NANO)
        usd = self.cost_usd(r)
        return None if usd is None else round(usd * NANO)

    def describe(self, r: HistoryRecord) -> str:
        """How a stored record was priced, in words (the request history's "priced" line):
        logged by the gateway, a directory override, genai-prices with the rates it applied,
        or unpriced. Rates are per million tokens."""
        if r.cost_logged_nano is not None:
            return "logged by the gateway"
        name = f"{r.provider}/{r.model}"
        if r.cost_nano is None:
            return f"unpriced: no price for {name}"
        override = self.overrides.get((r.provider, r.model))
        billed = ", ".join(([f"service tier {r.service_tier}"] if r.service_tier else []) + (["batch"] if r.batch else []))
        if override is not None:
            text = f"override {name}: {_per_m(override.input_per_mtok)} in, {_per_m(override.output_per_mtok)} out"
            if override.cached_input_per_mtok != override.input_per_mtok:
                text += f", {_per_m(override.cached_input_per_mtok)} cached"
            write = override.cache_write_per_mtok
            if r.cache_write_tokens and write is not None and write != override.input_per_mtok:
                text += f", {_per_m(write)} cache write"
            return text + (f"; batch: {BATCH_DISCOUNT:.0%} of that" if r.batch else "")
        resolved = self._resolve(r.provider, r.model, r.ts_us, r.service_tier, r.batch)
        if resolved is None:  # priced when imported, by a price table that no longer has it
            return f"genai-prices (when imported); {GENAI_PRICES_VERSION} has no price for {name}"
        total_input = r.prompt_tokens + r.cached_input_tokens
        rate = {k: _rate(v, total_input) for k, v in resolved.prices.items()}
        model = resolved.model_id if resolved.model_id and resolved.model_id != r.model else None
        text = (f"{GENAI_PRICES_VERSION}: {name}{f' (as {model})' if model else ''} "
                f"{_per_m(rate['input_mtok'])} in, {_per_m(rate['output_mtok'])} out")
        if resolved.has_read:
            text += f", {_per_m(rate['cache_read_mtok'])} cached"
        if r.cache_write_tokens and resolved.has_write:
            text += f", {_per_m(rate['cache_write_mtok'])} cache write"
        if r.cache_write_1h_tokens and resolved.has_write_1h:
            text += f", {_per_m(rate['cache_write_1h_mtok'])} 1-hour cache write"
        if billed:  # the rates above are the variant's; a batch without one is half of them
            text += f" ({billed}" + (f": {resolved.factor:.0%} of these rates" if resolved.factor != 1.0 else "") + ")"
        return text


def _timeless(model: ModelInfo, variants: bool) -> bool:
    """Whether genai-prices prices `model` alike on every day: one price, and where a tier or the
    batch API asks for a variant (`variants`), no dated condition on any of them either
    (ModelInfo.get_prices and _has_variant read the request's time only there)."""
    return isinstance(model.prices, ModelPrice) and (
        not variants or all(v.constraint is None for v in model.price_variants or ()))


def _has_variant(price: Any, key: str, value: str, when: datetime) -> bool:
    """Whether genai-prices priced `price` with a variant for `key = value` (it applies a
    model's variants only when the model is the provider's own, and only from its start)."""
    if not any(m is price.model for m in price.provider.models):
        return False
    # A variant that sets no price (genai-prices lists some) is no batch price either.
    return any(v.when.get(key) == value and (v.constraint is None or v.constraint.active(when))
               and any(p is not None for p in vars(v.prices).values())
               for v in price.model.price_variants or ())


@functools.lru_cache(maxsize=4096)
def provider_of(model: str) -> str | None:
    """The provider genai-prices says serves `model` (e.g. `claude-haiku-4-5` → anthropic), or
    None when it knows no such model. For sources that log a model without its provider."""
    try:
        return calc_price(Usage(input_tokens=0), model_ref=model).provider.id
    except LookupError:
        return None


def _genai_prices_version() -> str:
    try:
        return f"genai-prices {importlib.metadata.version('genai-prices')}"
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - a dependency
        return "genai-prices"


GENAI_PRICES_VERSION = _genai_prices_version()


def _per_m(usd_per_mtok: float) -> str:
    """$0.60/M, $15.00/M, $0.075/M: cents always, more digits only when the rate has them."""
    text = f"{usd_per_mtok:.6f}".rstrip("0")
    whole, _, frac = text.partition(".")
    return f"${whole}.{frac.ljust(2, '0')}/M"
