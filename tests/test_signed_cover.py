"""A view's rows over a long range read whole coarser units and subtract what of them lies
outside the range (query.signed_cover, issue 28): the signed pieces cover exactly the range, and
the answers equal the records-only ones on both engines, in zones off every rollup grain."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from usage_tui.model import QuerySpec
from usage_tui.query import run_query, signed_cover
from usage_tui.store.schema import BLOCK_DAYS, DAY_US, FINE

from .conftest import write

GRAIN = {"block": BLOCK_DAYS * DAY_US, "day": DAY_US}
SPAN = 4 * 365 * DAY_US  # ranges anywhere in 1970-1974 (the arithmetic does not depend on the year)


def covered(scope: str, pieces, t: int) -> int:
    """How many times the signed pieces count the instant t (computed here from each piece's
    own bounds, not from the function's)."""
    total = 0
    for sign, (kind, first, last) in pieces:
        if kind == "records":
            inside = first <= t < last
        else:
            grain = FINE[scope][1] if kind == "fine" else GRAIN[kind]
            inside = first * grain <= t < last * grain
        total += sign * inside
    return total


@given(st.sampled_from(["personal", "team", "org"]), st.integers(0, SPAN), st.integers(0, SPAN),
       st.lists(st.integers(0, SPAN), max_size=20))
def test_signed_pieces_count_every_instant_of_the_range_once_and_nothing_else(scope, a, b, probes):
    start, end = min(a, b), max(a, b)
    pieces = signed_cover(scope, start, end)
    for t in [start - 1, start, end - 1, end, *probes]:
        assert covered(scope, pieces, t) == (1 if start <= t < end else 0), (t, pieces)


def test_a_remainder_over_half_a_unit_is_the_unit_less_the_rest():
    # From 2 days into block 2 to 31 days less an hour into block 4: instead of 30 days, block 3
    # and 30 days, 23 hours and 23 hours (team hours), blocks 2-4 less 2 days at the start, and
    # less day 159 and the last hour of day 158 at the end.
    start = (BLOCK_DAYS * 2 + 2) * DAY_US
    end = (BLOCK_DAYS * 4 + 31) * DAY_US - 3_600_000_000
    assert signed_cover("team", start, end) == [
        (1, ("block", 2, 5)),
        (-1, ("day", 64, 66)),
        (-1, ("day", 159, 160)),
        (-1, ("fine", 158 * 24 + 23, 159 * 24)),
    ]


@pytest.mark.parametrize("tz", ["Asia/Kathmandu", "Europe/Berlin", "America/St_Johns"])
@pytest.mark.parametrize("scope", ["personal", "team", "org"])
@pytest.mark.parametrize("group_by", ["user", "model"])
def test_long_views_equal_the_records_only_answer(engine_store, tz, scope, group_by):
    rng = random.Random(28)
    first = datetime(2026, 3, 1)
    write(engine_store, *({"id": f"r{i}", "ts": (first + timedelta(minutes=rng.randrange(270 * 24 * 60))).isoformat() + "Z",
                          "provider": "openai", "model": rng.choice("abc"), "user": rng.choice(["alice", "bob", "carol"]),
                          "prompt_tokens": rng.randrange(1, 1000), "completion_tokens": rng.randrange(100),
                          "cost_usd": rng.randrange(1, 500) / 100} for i in range(600)))
    for since, until in ((date(2026, 3, 17), date(2026, 11, 13)), (date(2026, 4, 5), date(2026, 9, 2))):
        spec = QuerySpec(viewer="alice", scope=scope, team="platform" if scope == "team" else None, group_by=group_by,
                         metric="cost", granularity="weekly", since=since, until=until, tz=tz)
        fast = run_query(engine_store, spec).as_json()
        assert fast == run_query(engine_store, spec, force_records=True).as_json()
        assert fast["rows"]  # the range holds usage: the comparison is of something
