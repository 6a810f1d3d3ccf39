"""Prices: a logged cost wins, then a directory override, then genai-prices, else unpriced."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from genai_prices import Usage, calc_price
from hypothesis import given, settings
from hypothesis import strategies as st

from usage_tui.directory import Price
from usage_tui.model import Record
from usage_tui.pricing import Pricer

TS = int(datetime(2026, 11, 20, tzinfo=UTC).timestamp() * 1_000_000)


def rec(provider="openai", model="gpt-4o", p=0, c=0, cached=0, cost=None, write=0):
    return Record("x", TS, provider, model, prompt_tokens=p, completion_tokens=c,
                  cached_input_tokens=cached, cost_usd=cost, cache_write_tokens=write)


def test_logged_cost_wins_over_everything():
    pricer = Pricer([Price("openai", "gpt-4o", 100, 100, 100)])
    assert pricer.cost_nano(rec(p=1000, cost=0.5)) == 500_000_000


def test_override_with_cached_rate():
    pricer = Pricer([Price("internal", "llama-70b", 0.6, 0.8, 0.3)])
    # 1M uncached × 0.6 + 2M cached × 0.3 + 0.5M output × 0.8 = 0.6 + 0.6 + 0.4 = $1.60
    assert pricer.cost_nano(rec("internal", "llama-70b", p=1_000_000, cached=2_000_000, c=500_000)) == 1_600_000_000


def test_override_cache_write_price_defaults_to_the_input_price():
    # 1,000 prompt tokens of which 600 are cache writes, all at the $2 input price: $0.002
    assert Pricer([Price("internal", "llama", 2, 4, 1)]).cost_nano(rec("internal", "llama", p=1000, write=600)) \
        == 2_000_000


def test_override_cache_write_price():
    # ccusage prices OpenCode's github-copilot claude-sonnet-4.5 message (snapshot test of
    # adapter/opencode/parser.rs) at 0.125 input, 0.25 output, 0.0625 read and 1.25 × 0.125 =
    # 0.15625 write, per token: 100 × 0.125 + 10 × 0.25 + 50 × 0.0625 + 25 × 0.15625 = 22.03125 $.
    # Per million tokens those rates are 125,000 / 250,000 / 62,500 / 156,250.
    pricer = Pricer([Price("github-copilot", "claude-sonnet-4.5", 125_000, 250_000, 62_500, 156_250)])
    record = rec("github-copilot", "claude-sonnet-4.5", p=125, cached=50, c=10, write=25)
    assert pricer.cost_nano(record) == 22_031_250_000
    # a batch request pays half of it, writes included
    record.batch = True
    assert pricer.cost_nano(record) == 11_015_625_000


def test_genai_prices_gpt_4o_by_hand():
    # gpt-4o: $2.50 / Mtok input, $1.25 / Mtok cached input, $10 / Mtok output.
    # 1,000 uncached × 2.5 + 400 cached × 1.25 + 300 output × 10 = 2500 + 500 + 3000 = 6000 µ$ = $0.006
    assert Pricer().cost_nano(rec(p=1000, cached=400, c=300)) == 6_000_000


def test_unpriced_model_is_none_not_zero():
    assert Pricer().cost_nano(rec("acme", "secret-model", p=1000)) is None


def test_claude_code_cache_writes_are_priced_as_cache_writes():
    # claude-sonnet-4-5: input $3, cache write $3.75, cache read $0.30, output $15 per Mtok.
    # prompt 1,000 of which 600 are cache writes: 400 × 3 + 600 × 3.75 + 2,000 cached × 0.3 + 100 × 15
    # = 1200 + 2250 + 600 + 1500 = 5550 µ$
    cost = Pricer().cost_nano(rec("anthropic", "claude-sonnet-4-5", p=1000, cached=2000, c=100, write=600))
    assert cost == 5_550_000


MODELS = [("openai", "gpt-4o"), ("openai", "gpt-4o-mini"), ("openai", "o3"), ("anthropic", "claude-sonnet-4-5"),
          ("anthropic", "claude-3-5-haiku-latest"), ("google", "gemini-2.5-flash"), ("google", "gemini-2.5-pro"),
          ("mistral", "mistral-large-latest")]


@settings(max_examples=200, deadline=None)
@given(model=st.sampled_from(MODELS), p=st.integers(0, 400_000), cached=st.integers(0, 400_000),
       c=st.integers(0, 100_000), write_share=st.floats(0, 1))
def test_fast_path_equals_genai_prices_calc_price(model, p, cached, c, write_share):
    provider, name = model
    write = int(p * write_share) if provider == "anthropic" else 0
    expected = calc_price(Usage(input_tokens=p + cached, cache_read_tokens=cached, cache_write_tokens=write,
                                output_tokens=c), model_ref=name, provider_id=provider,
                          genai_request_timestamp=datetime(2026, 11, 20, 12, tzinfo=UTC)).total_price
    got = Pricer().cost_nano(rec(provider, name, p=p, cached=cached, c=c, write=write))
    assert got == pytest.approx(float(expected) * 1e9, abs=2)
