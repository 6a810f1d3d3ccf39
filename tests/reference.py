"""An independent, deliberately naive implementation of the contract (architecture §2.3-§3), used to
check the query engine. It shares no code with usage_tui: plain Python over the raw input dicts,
one record at a time, with zoneinfo doing the local-time conversion."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo


def attribute(rec: dict, directory: dict) -> tuple[str | None, str | None]:
    keys = {k["id"]: k for k in directory.get("keys", [])}
    agents = {a["id"]: a for a in directory.get("agents", [])}
    users = {u["id"]: u for u in directory.get("users", [])}
    user = rec.get("user")
    if user is None and rec.get("key") in keys:
        user = keys[rec["key"]].get("owner")
    if user is None and rec.get("agent") in agents:
        user = agents[rec["agent"]].get("manager")
    team = rec.get("team")
    if team is None and rec.get("key") in keys:
        team = keys[rec["key"]].get("team")
    if team is None and user in users and users[user].get("teams"):
        team = users[user]["teams"][0]
    return user, team


def cost_of(rec: dict, directory: dict) -> float | None:
    if rec.get("cost_usd") is not None:
        return rec["cost_usd"]
    for p in directory.get("prices", []):
        if (p["provider"], p["model"]) == (rec["provider"], rec["model"]):
            cached_rate = p.get("cached_input_per_mtok", p["input_per_mtok"])
            return (rec.get("prompt_tokens", 0) * p["input_per_mtok"]
                    + rec.get("cached_input_tokens", 0) * cached_rate
                    + rec.get("completion_tokens", 0) * p["output_per_mtok"]) / 1e6
    return None  # the tests only use models without a genai-prices entry here


def local_date(ts: str, tz: ZoneInfo) -> date:
    dt = datetime.fromisoformat(ts)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(tz).date()


def summary(records: list[dict], directory: dict, *, viewer: str, scope: str = "personal", team=None,
            metric="cost", group_by="model", granularity="daily", since: date, until: date,
            tz: str, search=None, focus=None) -> dict:
    zone = ZoneInfo(tz)
    latest: dict[str, dict] = {}
    for rec in records:  # last one wins
        latest[rec["id"]] = rec
    missing = "(unattributed)" if group_by == "user" else "(none)"
    rows: dict[str, dict] = {}
    series_vals: dict[date, float] = {}
    total = _zero()
    if granularity == "daily":
        labels = [since + timedelta(days=i) for i in range((until - since).days + 1)]
    else:
        monday = since - timedelta(days=since.weekday())
        labels = []
        while monday <= until:
            labels.append(monday)
            monday += timedelta(days=7)
    for label in labels:
        series_vals[label] = 0
    for rec in latest.values():
        user, rteam = attribute(rec, directory)
        if scope == "personal" and user != viewer:
            continue
        if scope == "team" and rteam != team:
            continue
        day = local_date(rec["ts"], zone)
        if not since <= day <= until:
            continue
        resolved = {"user": user, "team": rteam, "provider": rec["provider"], "model": rec["model"],
                    "agent": rec.get("agent"), "key": rec.get("key"), "verdict": rec.get("verdict")}
        key = resolved[group_by] or missing
        cost = cost_of(rec, directory)
        contribution = {
            "cost_usd": cost or 0.0,
            "requests": rec.get("requests", 1),
            "prompt_tokens": rec.get("prompt_tokens", 0),
            "completion_tokens": rec.get("completion_tokens", 0),
            "cached_input_tokens": rec.get("cached_input_tokens", 0),
            "context_tokens": rec.get("context_tokens", 0),
            "unpriced_requests": rec.get("requests", 1) if cost is None else 0,
        }
        contribution["tokens"] = (contribution["prompt_tokens"] + contribution["completion_tokens"]
                                  + contribution["cached_input_tokens"])
        _add(total, contribution)
        _add(rows.setdefault(key, _zero()), contribution)
        if focus is None or focus == key:
            label = day if granularity == "daily" else day - timedelta(days=day.weekday())
            series_vals[label] += contribution[_metric_field(metric)]
    field = _metric_field(metric)
    out_rows = []
    for key, vals in rows.items():
        vals = dict(vals)
        vals["share"] = vals[field] / total[field] if total[field] else 0
        out_rows.append({"key": key, **vals})
    if search:
        out_rows = [r for r in out_rows if search.lower() in r["key"].lower()]
    # costs compare at the nano-dollar (1e-9) resolution of the contract's ties
    out_rows.sort(key=lambda r: (-round(r[field] * 1e9), r["key"]))
    return {
        "totals": total,
        "series": [{"bucket": d.isoformat(), "value": series_vals[d]} for d in labels],
        "rows": out_rows,
    }


def _metric_field(metric: str) -> str:
    return {"cost": "cost_usd", "requests": "requests", "tokens": "tokens"}[metric]


def _zero() -> dict:
    return {"cost_usd": 0.0, "requests": 0, "tokens": 0, "prompt_tokens": 0, "completion_tokens": 0,
            "cached_input_tokens": 0, "context_tokens": 0, "unpriced_requests": 0}


def _add(acc: dict, c: dict) -> None:
    for k, v in c.items():
        acc[k] += v


def assert_matches(actual: dict, expected: dict) -> None:
    """Costs to 1e-6, integers exactly, rows and buckets in order."""
    def close(a, b, path):
        if isinstance(b, float) or isinstance(a, float):
            assert abs(a - b) <= 1e-6, f"{path}: {a} != {b}"
        else:
            assert a == b, f"{path}: {a!r} != {b!r}"

    for k, v in expected["totals"].items():
        close(actual["totals"][k], v, f"totals.{k}")
    assert [s["bucket"] for s in actual["series"]] == [s["bucket"] for s in expected["series"]]
    for a, e in zip(actual["series"], expected["series"], strict=True):
        close(a["value"], e["value"], f"series[{e['bucket']}]")
    assert [r["key"] for r in actual["rows"]] == [r["key"] for r in expected["rows"]], "row order"
    for a, e in zip(actual["rows"], expected["rows"], strict=True):
        for k, v in e.items():
            if k != "key":
                close(a[k], v, f"rows[{e['key']}].{k}")
