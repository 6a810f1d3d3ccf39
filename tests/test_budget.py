"""Budgets (§5): calendar windows in the org's zone, spend, Retry-After, CLI outputs and exit codes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from usage_tui.budget import budget_status, retry_after_seconds, window_bounds
from usage_tui.cli import cli

from .conftest import write

BERLIN = ZoneInfo("Europe/Berlin")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize("window, now, start, end", [
    # month ends: 2026-01-31 23:30 Berlin is still January
    ("monthly", "2026-01-31T22:30:00", "2025-12-31T23:00:00", "2026-01-31T23:00:00"),
    ("monthly", "2026-01-31T23:00:00", "2026-01-31T23:00:00", "2026-02-28T23:00:00"),
    # leap day 2028: February has 29 days
    ("daily", "2028-02-29T12:00:00", "2028-02-28T23:00:00", "2028-02-29T23:00:00"),
    ("monthly", "2028-02-15T12:00:00", "2028-01-31T23:00:00", "2028-02-29T23:00:00"),
    # spring forward 2026-03-29: the day is 23 hours (CET midnight → CEST midnight)
    ("daily", "2026-03-29T12:00:00", "2026-03-28T23:00:00", "2026-03-29T22:00:00"),
    # fall back 2026-10-25: the day is 25 hours
    ("daily", "2026-10-25T12:00:00", "2026-10-24T22:00:00", "2026-10-25T23:00:00"),
    # weeks start on Monday: Wednesday 2026-11-25 → Monday 23rd to Monday 30th
    ("weekly", "2026-11-25T10:00:00", "2026-11-22T23:00:00", "2026-11-29T23:00:00"),
    # a week across the autumn change is 7 days + 1 hour
    ("weekly", "2026-10-21T10:00:00", "2026-10-18T22:00:00", "2026-10-25T23:00:00"),
])
def test_windows_in_berlin(window, now, start, end):
    s, e = window_bounds(window, utc(now), BERLIN)
    assert (s, e) == (utc(start), utc(end))


def test_lord_howe_half_hour_dst():
    # Lord Howe is +10:30 in winter and +11:00 in summer; DST starts 2026-10-04 02:00 local,
    # so that day lasts 23.5 hours: 2026-10-03T13:30Z → 2026-10-04T13:00Z.
    s, e = window_bounds("daily", utc("2026-10-04T05:00:00"), ZoneInfo("Australia/Lord_Howe"))
    assert (s, e) == (utc("2026-10-03T13:30:00"), utc("2026-10-04T13:00:00"))
    assert (e.astimezone(UTC) - s.astimezone(UTC)).total_seconds() == 23.5 * 3600  # same-zone "-" is wall time


def test_retry_after_rounds_up():
    end = utc("2026-11-30T00:00:00")
    assert retry_after_seconds(utc("2026-11-29T23:59:58.200000"), end) == 2  # 1.8 s → 2
    assert retry_after_seconds(utc("2026-11-29T23:00:00"), end) == 3600


@pytest.fixture
def spent(store):
    # bob: $10 weekly. Week of Mon 2026-11-23 in Berlin starts 2026-11-22T23:00Z.
    write(store,
          {"id": "before", "ts": "2026-11-22T22:59:59Z", "provider": "p", "model": "m", "user": "bob", "cost_usd": 50.0},
          {"id": "in1", "ts": "2026-11-22T23:00:00Z", "provider": "p", "model": "m", "user": "bob", "cost_usd": 6.0},
          {"id": "in2", "ts": "2026-11-24T10:00:00Z", "provider": "p", "model": "m", "key": "k_bob", "cost_usd": 4.0},
          {"id": "other", "ts": "2026-11-24T10:00:00Z", "provider": "p", "model": "m", "user": "alice", "cost_usd": 9.0})
    return store


def test_over_exactly_at_the_limit(spent):
    # 6 + 4 (bob's key) = $10 = the limit → over; Retry-After from Tue 2026-11-24T12:00Z to
    # 2026-11-29T23:00Z = 5 days 11 hours = 471,600 s
    s = budget_status(spent, "bob", utc("2026-11-24T12:00:00"))
    assert (s.spent_usd, s.over, s.retry_after_s) == (10.0, True, 471_600)
    assert s.as_json() == {
        "user": "bob", "limit_usd": 10.0, "window": "weekly", "spent_usd": 10.0, "remaining_usd": 0.0,
        "window_start": "2026-11-23T00:00:00+01:00", "window_end": "2026-11-30T00:00:00+01:00",
        "over": True, "retry_after_s": 471_600}


def test_new_window_is_not_over(spent):
    s = budget_status(spent, "bob", utc("2026-11-29T23:00:00"))
    assert (s.spent_usd, s.over, s.retry_after_s) == (0.0, False, None)


def test_no_budget_is_never_over(spent):
    assert budget_status(spent, "alice", utc("2026-11-24T12:00:00")) is None


def test_override_and_burn_rate(spent):
    spent.set_budget_override("bob", 40.0, "weekly", "alice", "now")
    s = budget_status(spent, "bob", utc("2026-11-24T23:00:00"))
    # $10 over the first 2 days of the window → $5/day; $30 left → 6 more days, after the window ends
    assert (s.limit_usd, s.over, s.remaining_usd) == (40.0, False, 30.0)
    assert s.burn_rate_usd_per_day == pytest.approx(5.0)
    assert s.projected_exhaustion is None
    spent.set_budget_override("bob", 15.0, "weekly", "alice", "now")
    s = budget_status(spent, "bob", utc("2026-11-24T23:00:00"))
    assert s.projected_exhaustion == utc("2026-11-25T23:00:00")  # $5 left at $5/day → 1 day


@pytest.fixture
def cli_db(spent, monkeypatch):
    monkeypatch.setenv("USAGE_TUI_NOW", "2026-11-24T12:00:00Z")
    monkeypatch.delenv("USAGE_TUI_USER", raising=False)
    return str(spent.path)


def test_check_outputs_and_exit_codes(cli_db):
    over = CliRunner().invoke(cli, ["budget", "check", "bob", "--db", cli_db])
    assert (over.exit_code, over.output) == (75, "429 Too Many Requests\nRetry-After: 471600\n")
    ok = CliRunner().invoke(cli, ["budget", "check", "alice", "--db", cli_db])
    assert (ok.exit_code, ok.output) == (0, "200 OK\n")


def test_status_json_and_scopes(cli_db):
    mine = CliRunner().invoke(cli, ["budget", "status", "--as", "bob", "--format", "json", "--db", cli_db])
    assert mine.exit_code == 0 and json.loads(mine.output)["spent_usd"] == 10.0
    refused = CliRunner().invoke(cli, ["budget", "status", "alice", "--as", "bob", "--db", cli_db])
    assert refused.exit_code == 3
    listing = CliRunner().invoke(cli, ["budget", "status", "--all", "--as", "bob", "--db", cli_db])
    assert listing.exit_code == 3
    admin = CliRunner().invoke(cli, ["budget", "status", "bob", "--as", "alice", "--db", cli_db])
    assert admin.exit_code == 0 and "OVER — 429, Retry-After 471600s" in admin.output


def test_set_is_for_org_admins(cli_db):
    refused = CliRunner().invoke(cli, ["budget", "set", "dave", "--limit-usd", "5", "--window", "daily",
                                       "--as", "bob", "--db", cli_db])
    assert refused.exit_code == 3
    done = CliRunner().invoke(cli, ["budget", "set", "alice", "--limit-usd", "5", "--window", "daily",
                                    "--as", "alice", "--db", cli_db])
    assert done.exit_code == 0
    # alice spent $9 today (2026-11-24 in Berlin) → over; day ends 2026-11-24T23:00Z, 11 h = 39,600 s
    check = CliRunner().invoke(cli, ["budget", "check", "alice", "--db", cli_db])
    assert (check.exit_code, check.output) == (75, "429 Too Many Requests\nRetry-After: 39600\n")
