"""The pricing memo (issue 28, usage_tui/pricing.py): each model price is read once into exact
per-token coefficients per tier segment, and a record's cost is integer arithmetic on them.
Checked against genai-prices' own `calc_price`, called here per record as the reference: every
model of every provider genai-prices knows, at dates across its price history, with counts on
both sides of each tier start, cache reads and writes (5-minute and 1-hour) and none: the same
nano-dollars exactly (round(float(total_price) * 1e9))."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from genai_prices import Usage, calc_price, data
from genai_prices.types import TieredPrices

from usage_tui import pricing
from usage_tui.model import Record
from usage_tui.pricing import Pricer

NANO = 1_000_000_000
DATES = [datetime(2024, 3, 1, 12, tzinfo=UTC), datetime(2025, 6, 15, 12, tzinfo=UTC),
         datetime(2026, 11, 20, 12, tzinfo=UTC)]  # noon: the Pricer resolves a day's price at noon UTC


def _tier_starts(provider, model) -> list[int]:
    try:
        price = calc_price(Usage(input_tokens=0), model_ref=model, provider_id=provider).model_price
    except LookupError:
        return []
    return sorted({t.start for v in vars(price).values() if isinstance(v, TieredPrices) for t in v.tiers})


def _counts(rng: random.Random, starts: list[int]) -> tuple[int, int, int, int, int]:
    """(uncached, cache read, cache write, 1-hour part, output), the total input often right at
    a tier start (on either side) when the model has tiers."""
    total = rng.choice([0, 1, rng.randrange(1, 5_000), rng.randrange(1, 2_000_000),
                        *(s + d for s in starts for d in (-1, 0, 1, 2))])
    read = rng.choice([0, total // 2, rng.randint(0, total)])
    write = rng.choice([0, rng.randint(0, total - read)])
    write_1h = rng.choice([0, 0, write, rng.randint(0, write)])
    return total - read - write, read, write, write_1h, rng.choice([0, 1, rng.randrange(0, 100_000)])


def _reference(provider, model, when, counts) -> int | None:
    uncached, read, write, write_1h, output = counts
    try:
        price = calc_price(Usage(input_tokens=uncached + read + write, cache_read_tokens=read,
                                 cache_write_tokens=write, cache_write_1h_tokens=write_1h or None,
                                 output_tokens=output),
                           model_ref=model, provider_id=provider, genai_request_timestamp=when)
    except LookupError:
        return None
    return round(float(price.total_price) * NANO)


def _record(provider, model, when, counts) -> Record:
    uncached, read, write, write_1h, output = counts
    return Record(id="r", ts_us=int(when.timestamp()) * 1_000_000, provider=provider, model=model,
                  prompt_tokens=uncached + write, cached_input_tokens=read, completion_tokens=output,
                  cache_write_tokens=write, cache_write_1h_tokens=write_1h)


@pytest.mark.parametrize("provider", [p.id for p in data.providers])
def test_every_model_costs_what_calc_price_says_to_the_nano_dollar(provider):
    rng = random.Random(provider)
    pricer = Pricer()
    checked = 0
    for model in next(p for p in data.providers if p.id == provider).models:
        starts = _tier_starts(provider, model.id)
        for when in DATES:
            for _ in range(6):
                counts = _counts(rng, starts)
                expected = _reference(provider, model.id, when, counts)
                got = pricer.cost_nano(_record(provider, model.id, when, counts))
                assert got == expected, (provider, model.id, when, counts)
                checked += expected is not None
    if provider in ("anthropic", "openai", "google", "mistral", "deepseek", "groq", "aws", "azure"):
        assert checked > 0  # (some providers' models are found only under other names: None both ways)


def test_tiered_sonnet_by_hand():
    """claude-sonnet-4-5 per Mtok: $3 input, $0.30 read, $3.75 write, $6 1-hour write, $15 out; past
    200,000 input tokens in all: $6, $0.60, $7.50, $12, $22.50."""
    when = DATES[2]
    below = _record("anthropic", "claude-sonnet-4-5", when, (100_000, 90_000, 10_000, 4_000, 1_000))
    # 100k x 3 + 90k x 0.3 + 6k x 3.75 + 4k x 6 + 1k x 15 = 300,000 + 27,000 + 22,500 + 24,000 + 15,000 µ$
    assert Pricer().cost_nano(below) == 388_500_000
    above = _record("anthropic", "claude-sonnet-4-5", when, (100_001, 90_000, 10_000, 4_000, 1_000))
    # 100,001 x 6 + 90k x 0.6 + 6k x 7.5 + 4k x 12 + 1k x 22.5 = 600,006 + 54,000 + 45,000 + 48,000 + 22,500 µ$
    assert Pricer().cost_nano(above) == 769_506_000


def test_the_bulk_path_never_calls_calc_price_per_record(monkeypatch):
    """10,000 records of 5 models over 10 days: genai-prices is asked once per model whose price
    has no history (all 5: one price each, and their dated variants are not asked for), and the
    probes once per model price, never per record."""
    calls = []
    real = pricing.calc_price
    monkeypatch.setattr(pricing, "calc_price", lambda *a, **k: calls.append(1) or real(*a, **k))
    probes = []
    real_probe = pricing._probe
    monkeypatch.setattr(pricing, "_probe", lambda *a: probes.append(1) or real_probe(*a))
    pricing._PROBED.clear()
    rng = random.Random(7)
    models = ["claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-1", "claude-3-5-haiku-latest", "claude-sonnet-4-0"]
    pricer = Pricer()
    for i in range(10_000):
        when = datetime(2026, 11, 1 + (i // 5) % 10, 12, tzinfo=UTC)
        pricer.cost_nano(_record("anthropic", models[i % 5], when, _counts(rng, [200_000])))
    assert len(calls) == 5
    assert len(probes) <= 5 * 2  # one per tier segment of each model price (sonnet-4-5: 2)


def test_a_price_with_history_is_resolved_per_day_and_one_without_it_once(monkeypatch):
    """claude-opus-4-6 has a price from 2026-03-13 on (genai-prices' data); claude-opus-4-1 has one
    price. 20 days either side of the change: each day of opus-4-6 asks genai-prices and costs
    what calc_price says for that day, the two sides differ; opus-4-1 asks once."""
    calls = []
    real = pricing.calc_price
    monkeypatch.setattr(pricing, "calc_price", lambda *a, **k: calls.append(k["model_ref"]) or real(*a, **k))
    pricer = Pricer()
    counts = (1_000_000, 0, 0, 0, 100_000)
    costs = {}
    for day in range(-20, 20):
        when = datetime(2026, 3, 13, 12, tzinfo=UTC) + timedelta(days=day)
        for model in ("claude-opus-4-6", "claude-opus-4-1"):
            got = pricer.cost_nano(_record("anthropic", model, when, counts))
            assert got == _reference("anthropic", model, when, counts)  # (genai-prices' own, not counted)
            costs[model, day >= 0] = got
    assert calls.count("claude-opus-4-6") == 40 and calls.count("claude-opus-4-1") == 1
    assert costs["claude-opus-4-6", False] != costs["claude-opus-4-6", True]
