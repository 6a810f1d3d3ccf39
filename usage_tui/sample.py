"""The demo store: a realistic organization with a month of usage, dated relative to now.

Deterministic for a seed and a pinned now (USAGE_TUI_NOW). Records are native records, so
the demo goes through the same validation, attribution, pricing and rollups as real data.
"""

from __future__ import annotations

import random
import tomllib
from collections.abc import Iterator
from datetime import datetime, timedelta
from importlib import resources
from zoneinfo import ZoneInfo

from . import clock, identity
from .model import Record

# (provider, model, weight, typical prompt tokens). `acme-finetune-v2` has no price anywhere:
# the demo shows how unpriced requests are counted instead of silently costing $0.
MODELS = [
    ("openai", "gpt-4o", 18, 2_400),
    ("openai", "gpt-4o-mini", 26, 1_500),
    ("openai", "o3", 4, 6_000),
    ("anthropic", "claude-sonnet-4-5", 16, 5_000),
    ("anthropic", "claude-3-5-haiku-latest", 10, 1_800),
    ("google", "gemini-2.5-flash", 12, 3_000),
    ("internal", "llama-70b", 9, 2_000),
    ("internal", "acme-finetune-v2", 5, 1_200),
]
VERDICTS = [("allow", 90), ("redact", 7), ("block", 3)]
STATUSES = [(200, 95), (429, 2), (500, 2), (400, 1)]


def demo_directory_text() -> str:
    return resources.files("usage_tui").joinpath("demo/directory.toml").read_text()


def demo_directory(login: str | None = None) -> dict:
    """The demo directory, with alice's login set to `login` (default: the OS login of the
    process's uid), so that whoever builds the demo is its org admin."""
    doc = tomllib.loads(demo_directory_text())
    login = login or identity.os_login()
    for user in doc["users"]:
        if user["login"] == login and user["id"] != "alice":
            user["login"] = f"{login}-demo"  # keep logins unique
    for user in doc["users"]:
        if user["id"] == "alice":
            user["login"] = login
    return doc


def as_loaded_on(store, doc: dict) -> tuple[dict, str | None]:
    """What `directory load` loads: `doc`, or, when it is the demo directory as shipped
    (sample_data/directory.toml) and the store is a demo store, the demo directory as `sample`
    loads it, with alice's login the loader's (the README's tour loads it after `sample`: as
    written, it would give alice back the login `alice` and leave you nobody). The second
    value says so, for the user, or is None."""
    if store.get_meta("demo") != "1" or doc != tomllib.loads(demo_directory_text()):
        return doc, None
    mapped = demo_directory(store.identity_facts().get("login"))
    login = next(u["login"] for u in mapped["users"] if u["id"] == "alice")
    return mapped, (f"the demo directory on the demo store: alice's login stays {login} (yours), "
                    "as `usage-tui sample` set it")


def _weighted(rng: random.Random, pairs):
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


def generate(events: int = 20_000, days: int = 30, seed: int = 42, now: datetime | None = None) -> Iterator[Record]:
    """Yield `events` demo records spread over the `days` calendar days ending now (in the
    org's zone, so the default 30-day view is full), plus a burst that
    puts bob over his weekly budget so the 429 state is visible."""
    rng = random.Random(seed)
    now = now or clock.now()
    doc = tomllib.loads(demo_directory_text())
    tz = ZoneInfo(doc["org"]["timezone"])
    users = [u["id"] for u in doc["users"]]
    user_weights = [rng.uniform(0.3, 3.0) for _ in users]
    keys = [k["id"] for k in doc["keys"]]
    agents = [a["id"] for a in doc["agents"]]
    teams = [t["id"] for t in doc["teams"]]
    end_us = int(now.timestamp() * 1_000_000)
    # From the first midnight of the `days` calendar days ending today (the default view) to now.
    first_day = now.astimezone(tz).date() - timedelta(days=days - 1)
    start = datetime.combine(first_day, datetime.min.time(), tzinfo=tz)
    span_us = end_us - int(start.timestamp() * 1_000_000)
    model_choices = [(m, m[2]) for m in MODELS]
    for i in range(events):
        # Working hours are busier; weekends quieter (by rejection sampling on local time).
        while True:
            ts_us = end_us - rng.randrange(span_us)
            local = datetime.fromtimestamp(ts_us / 1e6, tz)
            weight = (1.0 if 8 <= local.hour < 19 else 0.25) * (0.35 if local.weekday() >= 5 else 1.0)
            if rng.random() < weight:
                break
        provider, model, _, typical = _weighted(rng, model_choices)
        how = rng.random()
        user = key = agent = team = None
        if how < 0.62:
            user = rng.choices(users, weights=user_weights)[0]
        elif how < 0.82:
            key = rng.choice(keys)
        elif how < 0.97:
            agent = rng.choice(agents)
        # else: unattributed traffic (no identity at all)
        if rng.random() < 0.1:
            team = rng.choice(teams)
        prompt_total = max(1, int(rng.lognormvariate(0, 0.8) * typical))
        cached = int(prompt_total * rng.choice([0, 0, 0.2, 0.5, 0.8])) if provider != "internal" else 0
        prompt = prompt_total - cached
        completion = max(1, int(rng.lognormvariate(0, 0.9) * typical * 0.25))
        context = int((prompt + cached) * rng.choice([0, 0, 0.1, 0.3, 0.6]))
        status = _weighted(rng, STATUSES)
        yield Record(
            id=f"demo-{seed}-{i:08d}", ts_us=ts_us, provider=provider, model=model,
            user=user, key=key, agent=agent, team=team,
            prompt_tokens=prompt, completion_tokens=completion if status == 200 else 0,
            cached_input_tokens=cached, context_tokens=context, status=status,
            verdict=_weighted(rng, VERDICTS),
            metadata={"route": rng.choice(["/v1/chat/completions", "/v1/messages", "/v1/responses"])},
        )
    # bob's burst: logged costs worth $62 within the last hour (and within today, hence this
    # week), so he is over his $50 weekly budget.
    today_start = datetime.combine(now.astimezone(tz).date(), datetime.min.time(), tzinfo=tz)
    window_us = min(3_600_000_000, end_us - int(today_start.timestamp() * 1_000_000))
    for j in range(31):
        yield Record(
            id=f"demo-{seed}-bob-burst-{j:03d}", ts_us=end_us - 1 - rng.randrange(max(1, window_us)),
            provider="anthropic", model="claude-sonnet-4-5", user="bob",
            prompt_tokens=150_000, completion_tokens=8_000, cached_input_tokens=20_000,
            context_tokens=40_000, cost_usd=2.0, verdict="allow",
            metadata={"route": "/v1/messages", "note": "long-context refactor"},
        )

