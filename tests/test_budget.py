"""Budgets (§5): calendar windows in the org's zone, spend, Retry-After, CLI outputs and exit codes.

Every expected value is worked out by hand in a comment next to it (UTC offsets: Berlin is +01
in winter, +02 in summer; Lord Howe +10:30 / +11; Santiago -04 / -03; Monrovia -00:44:30 until
1972), never copied from the code's output.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from usage_tui.budget import BudgetStatus, budget_status, no_budget_json, retry_after_seconds, window_bounds
from usage_tui.cli import cli
from usage_tui.model import Record
from usage_tui.query import user_cost_nano
from usage_tui.store import Store

from .conftest import DIRECTORY, location, write

BERLIN = ZoneInfo("Europe/Berlin")
NOW = "2026-11-24T12:00:00Z"  # a Tuesday; 13:00 in Berlin


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def us(text: str) -> int:
    return (utc(text) - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


# -- windows ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("window, now, start, end", [
    # month ends: 2026-01-31 23:30 Berlin (22:30Z) is still January, 00:00 on Feb 1 (23:00Z) is not
    ("monthly", "2026-01-31T22:30:00", "2025-12-31T23:00:00", "2026-01-31T23:00:00"),
    ("monthly", "2026-01-31T23:00:00", "2026-01-31T23:00:00", "2026-02-28T23:00:00"),
    # the last microsecond of a day is still that day
    ("daily", "2026-11-24T22:59:59.999999", "2026-11-23T23:00:00", "2026-11-24T23:00:00"),
    # a new year: 2026-12-31T23:30Z is 00:30 on 2027-01-01 in Berlin
    ("monthly", "2026-12-31T23:30:00", "2026-12-31T23:00:00", "2027-01-31T23:00:00"),
    ("weekly", "2026-12-31T23:30:00", "2026-12-27T23:00:00", "2027-01-03T23:00:00"),  # Fri 1st → Mon Dec 28
    # leap day 2028: February has 29 days; Tue Feb 29 is in the week of Mon Feb 28
    ("daily", "2028-02-29T12:00:00", "2028-02-28T23:00:00", "2028-02-29T23:00:00"),
    ("monthly", "2028-02-15T12:00:00", "2028-01-31T23:00:00", "2028-02-29T23:00:00"),
    ("weekly", "2028-02-29T12:00:00", "2028-02-27T23:00:00", "2028-03-05T23:00:00"),
    # 2028-02-29T23:30Z is March 1st in Berlin; March ends in summer time (DST from Sun Mar 26)
    ("monthly", "2028-02-29T23:30:00", "2028-02-29T23:00:00", "2028-03-31T22:00:00"),
    # spring forward 2026-03-29: the day is 23 hours (00:00 CET → 00:00 CEST)
    ("daily", "2026-03-29T12:00:00", "2026-03-28T23:00:00", "2026-03-29T22:00:00"),
    ("weekly", "2026-03-25T12:00:00", "2026-03-22T23:00:00", "2026-03-29T22:00:00"),  # 7 days - 1 hour
    ("monthly", "2026-03-15T12:00:00", "2026-02-28T23:00:00", "2026-03-31T22:00:00"),  # 31 days - 1 hour
    # fall back 2026-10-25: the day is 25 hours
    ("daily", "2026-10-25T12:00:00", "2026-10-24T22:00:00", "2026-10-25T23:00:00"),
    ("weekly", "2026-10-21T10:00:00", "2026-10-18T22:00:00", "2026-10-25T23:00:00"),  # 7 days + 1 hour
    # 02:30 local happens twice on 2026-10-25 (00:30Z and 01:30Z): both are that day
    ("daily", "2026-10-25T00:30:00", "2026-10-24T22:00:00", "2026-10-25T23:00:00"),
    ("daily", "2026-10-25T01:30:00", "2026-10-24T22:00:00", "2026-10-25T23:00:00"),
    # weeks start on Monday: Wednesday 2026-11-25 → Monday 23rd to Monday 30th
    ("weekly", "2026-11-25T10:00:00", "2026-11-22T23:00:00", "2026-11-29T23:00:00"),
    # Sunday 23:59 Berlin is still the old week; Monday 00:00 the new one
    ("weekly", "2026-11-29T22:59:00", "2026-11-22T23:00:00", "2026-11-29T23:00:00"),
    ("weekly", "2026-11-29T23:00:00", "2026-11-29T23:00:00", "2026-12-06T23:00:00"),
])
def test_windows_in_berlin(window, now, start, end):
    s, e = window_bounds(window, utc(now), BERLIN)
    assert (s, e) == (utc(start), utc(end))
    assert s.tzinfo is BERLIN and e.tzinfo is BERLIN  # shown in the org's zone, with its offset


def test_lord_howe_half_hour_dst():
    lh = ZoneInfo("Australia/Lord_Howe")
    # DST starts Sun 2026-10-04 at 02:00 (+10:30 → +11): that day lasts 23.5 hours,
    # from 00:00+10:30 = 2026-10-03T13:30Z to 00:00+11 on the 5th = 2026-10-04T13:00Z.
    s, e = window_bounds("daily", utc("2026-10-04T05:00:00"), lh)
    assert (s, e) == (utc("2026-10-03T13:30:00"), utc("2026-10-04T13:00:00"))
    assert e.timestamp() - s.timestamp() == 23.5 * 3600  # same-zone "-" would be wall time
    # DST ends Sun 2026-04-05 at 02:00 (+11 → +10:30): that day lasts 24.5 hours,
    # from 00:00+11 = 2026-04-04T13:00Z to 00:00+10:30 on the 6th = 2026-04-05T13:30Z.
    s, e = window_bounds("daily", utc("2026-04-05T05:00:00"), lh)
    assert (s, e) == (utc("2026-04-04T13:00:00"), utc("2026-04-05T13:30:00"))
    assert e.timestamp() - s.timestamp() == 24.5 * 3600
    # October 2026 on Lord Howe: Oct 1 00:00+10:30 = Sep 30 13:30Z to Nov 1 00:00+11 = Oct 31 13:00Z
    assert window_bounds("monthly", utc("2026-10-15T00:00:00"), lh) == (utc("2026-09-30T13:30:00"),
                                                                           utc("2026-10-31T13:00:00"))


def test_santiago_midnight_that_does_not_exist():
    scl = ZoneInfo("America/Santiago")
    # DST starts at 00:00 on Sun 2026-09-06 (04:00Z; -04 → -03): local midnight is skipped, the
    # day starts at the transition, 04:00Z, and ends at 00:00-03 on the 7th = 03:00Z (23 hours).
    assert window_bounds("daily", utc("2026-09-06T12:00:00"), scl) == (utc("2026-09-06T04:00:00"),
                                                                          utc("2026-09-07T03:00:00"))
    # DST ends at 00:00 on Sun 2026-04-05 (03:00Z; -03 → -04): Saturday the 4th lasts 25 hours,
    # 00:00-03 = 03:00Z to 00:00-04 on the 5th = 2026-04-05T04:00Z.
    assert window_bounds("daily", utc("2026-04-04T12:00:00"), scl) == (utc("2026-04-04T03:00:00"),
                                                                          utc("2026-04-05T04:00:00"))


def test_unknown_window_is_an_error():
    with pytest.raises(ValueError, match="yearly"):
        window_bounds("yearly", utc(NOW), BERLIN)


def test_naive_now_means_utc():
    # 2026-11-24 23:30 naive = 23:30Z = 00:30 on the 25th in Berlin, whatever the machine's zone
    assert window_bounds("daily", datetime(2026, 11, 24, 23, 30), BERLIN)[0] == utc("2026-11-24T23:00:00")


def test_retry_after_rounds_up():
    end = utc("2026-11-30T00:00:00")
    assert retry_after_seconds(utc("2026-11-29T23:59:58.200000"), end) == 2  # 1.8 s → 2
    assert retry_after_seconds(utc("2026-11-29T23:59:59.999999"), end) == 1  # 1 µs → 1
    assert retry_after_seconds(utc("2026-11-29T23:59:59"), end) == 1  # exactly 1 s
    assert retry_after_seconds(utc("2026-11-29T23:00:00"), end) == 3600
    assert retry_after_seconds(utc("2026-11-29T22:59:59.5"), end) == 3601  # 3600.5 s → 3601
    # 2.2 s → 3: ceil; floor and round would both say 2
    assert retry_after_seconds(utc("2026-11-29T23:59:57.800000"), end) == 3


# -- spend --------------------------------------------------------------------------------------------
@pytest.fixture
def store(engine_store):
    """The tests here that take `store` run on SQLite and on PostgreSQL, with the same answers."""
    return engine_store


@pytest.fixture
def spent(store):
    # bob: $10 weekly (conftest's directory). The week of Mon 2026-11-23 in Berlin is
    # [2026-11-22T23:00Z, 2026-11-29T23:00Z).
    write(store,
          {"id": "before", "ts": "2026-11-22T22:59:59.999999Z", "provider": "p", "model": "m", "user": "bob",
           "cost_usd": 50.0},
          {"id": "in1", "ts": "2026-11-22T23:00:00Z", "provider": "p", "model": "m", "user": "bob", "cost_usd": 6.0},
          {"id": "in2", "ts": "2026-11-24T10:00:00Z", "provider": "p", "model": "m", "key": "k_bob", "cost_usd": 4.0},
          {"id": "unpriced", "ts": "2026-11-24T10:00:00Z", "provider": "acme", "model": "mystery", "user": "bob"},
          {"id": "after", "ts": "2026-11-29T23:00:00Z", "provider": "p", "model": "m", "user": "bob", "cost_usd": 70.0},
          {"id": "other", "ts": "2026-11-24T10:00:00Z", "provider": "p", "model": "m", "user": "alice", "cost_usd": 9.0})
    return store


def test_over_exactly_at_the_limit(spent):
    # in1 $6 + in2 $4 (bob's key) + unpriced $0 = $10 = the limit → over; "before" and "after"
    # are outside the window. Retry-After from Tue 2026-11-24T12:00Z to 2026-11-29T23:00Z =
    # 5 days 11 hours = 5 × 86,400 + 11 × 3,600 = 471,600 s.
    s = budget_status(spent, "bob", utc(NOW))
    assert (s.spent_usd, s.over, s.retry_after_s) == (10.0, True, 471_600)
    assert s.as_json() == {
        "user": "bob", "limit_usd": 10.0, "window": "weekly", "spent_usd": 10.0, "remaining_usd": 0.0,
        "window_start": "2026-11-23T00:00:00+01:00", "window_end": "2026-11-30T00:00:00+01:00",
        "over": True, "retry_after_s": 471_600}
    assert s.projected_exhaustion is None  # already over


def test_just_under_the_limit_is_allowed(spent):
    spent.set_budget_override("bob", 10.000000001, "weekly", "alice", "now")  # 1 nano-dollar more
    s = budget_status(spent, "bob", utc(NOW))
    assert (s.over, s.retry_after_s, s.remaining_usd) == (False, None, 1e-9)


def test_remaining_is_exact(spent):
    # $10.10 - $10.00 = $0.10 exactly (in floats 10.1 - 10.0 would be 0.09999999999999964)
    spent.set_budget_override("bob", 10.1, "weekly", "alice", "now")
    assert budget_status(spent, "bob", utc(NOW)).remaining_usd == 0.1


def test_each_window_counts_its_own_spend(spent):
    # Mon 2026-11-30 00:00 Berlin: only "after" ($70) is in the new week → over again at once
    s = budget_status(spent, "bob", utc("2026-11-29T23:00:00"))
    assert (s.spent_usd, s.over) == (70.0, True)
    s = budget_status(spent, "bob", utc("2026-12-06T23:00:00"))  # the week after: nothing spent
    assert (s.spent_usd, s.over, s.retry_after_s, s.remaining_usd) == (0.0, False, None, 10.0)


def test_no_budget_is_never_over(spent):
    # alice spent $9 this week but has no budget
    assert budget_status(spent, "alice", utc(NOW)) is None
    assert budget_status(spent, "nobody", utc(NOW)) is None
    assert no_budget_json("alice") == {
        "user": "alice", "limit_usd": None, "window": None, "spent_usd": None, "remaining_usd": None,
        "window_start": None, "window_end": None, "over": False, "retry_after_s": None}


def test_burn_rate_and_projection(spent):
    spent.set_budget_override("bob", 40.0, "weekly", "alice", "now")
    s = budget_status(spent, "bob", utc("2026-11-24T23:00:00"))
    # $10 over the first 2 days of the window → $5/day; $30 left → 6 more days, past the window's end
    assert (s.limit_usd, s.over, s.remaining_usd) == (40.0, False, 30.0)
    assert s.burn_rate_usd_per_day == pytest.approx(5.0)
    assert s.projected_exhaustion is None
    spent.set_budget_override("bob", 15.0, "weekly", "alice", "now")
    s = budget_status(spent, "bob", utc("2026-11-24T23:00:00"))
    assert s.projected_exhaustion == utc("2026-11-25T23:00:00")  # $5 left at $5/day → 1 day
    # at the window's very start nothing has elapsed: no rate, no projection
    s = budget_status(spent, "bob", utc("2026-11-22T23:00:00"))
    assert (s.burn_rate_usd_per_day, s.projected_exhaustion) == (0.0, None)


def test_status_built_by_hand_uses_the_clock(monkeypatch):
    # The public constructor without `now` (as the TUI's tests build one): the clock is read.
    monkeypatch.setenv("USAGE_TUI_NOW", "2026-11-24T23:00:00Z")
    s = BudgetStatus("bob", 15.0, "weekly", 10.0, 5.0, utc("2026-11-22T23:00:00"), utc("2026-11-29T23:00:00"),
                     False, None)
    assert s.burn_rate_usd_per_day == pytest.approx(5.0)  # $10 in 2 days


def test_spend_across_utc_days_and_quarter_hours(tmp_path):
    # A store built from Records directly. Daily window in Berlin for 2026-11-24:
    # [2026-11-23T23:00Z, 2026-11-24T23:00Z): it spans two UTC days, so the sum reads the
    # quarter-hour and day rollups; records at both edges and a replaced record check the edges.
    store = Store(tmp_path / "s.db")
    store.load_directory({**DIRECTORY, "budgets": [{"user": "carol", "limit_usd": 5.0, "window": "daily"}]})
    store.write_batch([
        Record("a", us("2026-11-23T22:59:59.999999"), "p", "m", user="carol", cost_usd=100.0),  # day before
        Record("b", us("2026-11-23T23:00:00"), "p", "m", user="carol", cost_usd=1.25),
        Record("c", us("2026-11-24T07:07:07"), "p", "m", user="carol", cost_usd=0.5),
        Record("d", us("2026-11-24T22:59:59.999999"), "p", "m", key="k_team", cost_usd=2.0),  # carol's key
        Record("e", us("2026-11-24T23:00:00"), "p", "m", user="carol", cost_usd=100.0),  # next day
    ], None)
    store.write_batch([Record("c", us("2026-11-24T07:07:07"), "p", "m", user="carol", cost_usd=0.75)], None)
    # 1.25 + 0.75 (c replaced) + 2.0 = $4.00 < $5 → allowed, $1 left
    s = budget_status(store, "carol", utc(NOW))
    assert (s.spent_usd, s.remaining_usd, s.over) == (4.0, 1.0, False)
    # Burn: $4 over the 13 hours since 23:00Z → 4 / 13 × 24 = $7.3846/day; $1 more at that rate
    # takes 13/4 h = 3 h 15 min: 12:00Z + 3:15 = 15:15Z, before the day ends (23:00Z).
    assert s.burn_rate_usd_per_day == pytest.approx(4 / 13 * 24)
    assert s.projected_exhaustion == utc("2026-11-24T15:15:00")
    store.close()


def test_unaligned_edges_read_the_records(store):
    write(store, *({"id": f"q{i}", "ts": ts, "provider": "p", "model": "m", "user": "dave", "cost_usd": cost}
                   for i, (ts, cost) in enumerate([("2026-11-24T10:00:00Z", 1.0), ("2026-11-24T10:07:30Z", 2.0),
                                                   ("2026-11-24T10:14:59.999999Z", 4.0)])))
    # all three share the quarter-hour [10:00, 10:15); from 10:07:30 on: 2 + 4 = $6, from 10:00: $7
    assert user_cost_nano(store, "dave", us("2026-11-24T10:07:30"), us("2026-11-24T10:15:00")) == 6_000_000_000
    assert user_cost_nano(store, "dave", us("2026-11-24T10:00:00"), us("2026-11-24T10:15:00")) == 7_000_000_000
    assert user_cost_nano(store, "dave", us("2026-11-24T10:00:00"), us("2026-11-24T10:14:59.999999")) == 3_000_000_000


def test_a_zone_whose_midnight_is_off_the_quarter_hours(tmp_path):
    # Monrovia was -00:44:30 until 1972: 1971-06-15 starts at 00:44:30Z, off the 15-minute grid,
    # so the spend is summed from the records. 00:44:29Z is still the 14th.
    store = Store(tmp_path / "s.db")
    store.load_directory({"org": {"timezone": "Africa/Monrovia"}, "users": [{"id": "u"}],
                          "budgets": [{"user": "u", "limit_usd": 3.0, "window": "daily"}]})
    store.write_batch([Record("x", us("1971-06-15T00:44:29"), "p", "m", user="u", cost_usd=10.0),
                       Record("y", us("1971-06-15T00:44:30"), "p", "m", user="u", cost_usd=1.0),
                       Record("z", us("1971-06-16T00:44:29.999999"), "p", "m", user="u", cost_usd=2.0),
                       Record("w", us("1971-06-16T00:44:30"), "p", "m", user="u", cost_usd=10.0)], None)
    s = budget_status(store, "u", utc("1971-06-15T12:00:00"))
    # y + z = $3 = the limit → over; Retry-After 12:00Z → 00:44:30Z = 12 h 44 min 30 s = 45,870 s
    assert (s.spent_usd, s.over, s.retry_after_s) == (3.0, True, 45_870)
    assert s.as_json()["window_start"] == "1971-06-15T00:00:00-00:44:30"
    store.close()


# -- where budgets come from ------------------------------------------------------------------------
def test_overrides_vs_directory(spent, directory_doc):
    # bob: directory $10. An override wins while the directory keeps naming the same budget...
    spent.set_budget_override("bob", 25.0, "monthly", "alice", "now")
    assert budget_status(spent, "bob", utc(NOW)).limit_usd == 25.0
    # ...dave has none in the directory: his override is his budget and survives a reload
    spent.set_budget_override("dave", 1.0, "daily", "alice", "now")
    spent.load_directory(directory_doc)  # the directory still names bob's budget: bob's override goes
    assert (budget_status(spent, "bob", utc(NOW)).limit_usd, budget_status(spent, "bob", utc(NOW)).window) == \
        (10.0, "weekly")
    assert budget_status(spent, "dave", utc(NOW)).limit_usd == 1.0
    # a directory that now names dave's budget replaces his override
    directory_doc["budgets"].append({"user": "dave", "limit_usd": 7.0, "window": "monthly"})
    spent.load_directory(directory_doc)
    assert budget_status(spent, "dave", utc(NOW)).limit_usd == 7.0


# -- command line -------------------------------------------------------------------------------------
@pytest.fixture
def cli_db(spent, monkeypatch):
    monkeypatch.setenv("USAGE_TUI_NOW", NOW)
    monkeypatch.delenv("USAGE_TUI_USER", raising=False)
    monkeypatch.delenv("USAGE_TUI_DB", raising=False)
    return location(spent)


def run(*args):
    return CliRunner().invoke(cli, list(args))


BOB_JSON = {
    "user": "bob", "limit_usd": 10.0, "window": "weekly", "spent_usd": 10.0, "remaining_usd": 0.0,
    "window_start": "2026-11-23T00:00:00+01:00", "window_end": "2026-11-30T00:00:00+01:00",
    "over": True, "retry_after_s": 471_600}


def test_check_outputs_and_exit_codes(cli_db):
    over = run("budget", "check", "bob", "--db", cli_db)
    assert (over.exit_code, over.output) == (75, "429 Too Many Requests\nRetry-After: 471600\n")
    ok = run("budget", "check", "alice", "--db", cli_db)  # no budget: never over
    assert (ok.exit_code, ok.output) == (0, "200 OK\n")
    # the store's owner (these tests) may learn who exists: an unknown user is an error; what
    # a member gets for one (the no-budget answer) is in test_trust.py
    unknown = run("budget", "check", "nobody", "--db", cli_db)
    assert (unknown.exit_code, unknown.output) == (
        2, 'usage-tui: error: unknown user "nobody" (not in the directory, no budget)\n')


def test_check_after_the_window_ends(cli_db, monkeypatch):
    # One second before Monday 00:00 Berlin: still 429 with Retry-After 1; at 00:00 a new week
    # holds only "after" ($70 ≥ $10): 429 until the next Monday, 7 × 86,400 = 604,800 s.
    monkeypatch.setenv("USAGE_TUI_NOW", "2026-11-29T22:59:59Z")
    assert run("budget", "check", "bob", "--db", cli_db).output == "429 Too Many Requests\nRetry-After: 1\n"
    # 1.2 s left: a client told 1 s would retry while still over; ceil says 2 (floor or round: 1)
    monkeypatch.setenv("USAGE_TUI_NOW", "2026-11-29T22:59:58.800000Z")
    assert run("budget", "check", "bob", "--db", cli_db).output == "429 Too Many Requests\nRetry-After: 2\n"
    monkeypatch.setenv("USAGE_TUI_NOW", "2026-11-29T23:00:00Z")
    assert run("budget", "check", "bob", "--db", cli_db).output == "429 Too Many Requests\nRetry-After: 604800\n"
    monkeypatch.setenv("USAGE_TUI_NOW", "2026-12-06T23:00:00Z")  # the week after: nothing spent
    assert run("budget", "check", "bob", "--db", cli_db).output == "200 OK\n"


def test_status_json(cli_db):
    mine = run("budget", "status", "--as", "bob", "--format", "json", "--db", cli_db)
    assert mine.exit_code == 0 and json.loads(mine.stdout) == {"schema": "usage-tui/budget-status/1", **BOB_JSON}
    admin = run("budget", "status", "bob", "--as", "alice", "--format", "json", "--db", cli_db)
    assert admin.exit_code == 0 and json.loads(admin.stdout) == {"schema": "usage-tui/budget-status/1", **BOB_JSON}


def test_status_table(cli_db):
    # Burn rate: $10 in the 37 hours from 2026-11-22T23:00Z to 2026-11-24T12:00Z
    # → 10 / 37 × 24 = $6.486… → $6.49 a day.
    result = run("budget", "status", "--as", "bob", "--db", cli_db)
    assert result.exit_code == 0
    assert result.stdout == (
        "USER  WINDOW   SPENT   LIMIT   LEFT  BURN/DAY  RESETS (Europe/Berlin)  STATUS\n"
        "bob   weekly  $10.00  $10.00  $0.00     $6.49  2026-11-30 00:00        "
        "429, Retry-After 471600s (5d 11:00:00)\n")


def test_status_all_for_org_admins(cli_db):
    run("budget", "set", "carol", "--limit-usd", "20", "--window", "monthly", "--as", "alice", "--db", cli_db)
    listing = run("budget", "status", "--all", "--as", "alice", "--format", "json", "--db", cli_db)
    # carol: nothing attributed to her in November; the month is Nov 1 00:00+01 → Dec 1 00:00+01
    assert listing.exit_code == 0 and json.loads(listing.stdout)["budgets"] == [BOB_JSON, {
        "user": "carol", "limit_usd": 20.0, "window": "monthly", "spent_usd": 0.0, "remaining_usd": 20.0,
        "window_start": "2026-11-01T00:00:00+01:00", "window_end": "2026-12-01T00:00:00+01:00",
        "over": False, "retry_after_s": None}]
    table = run("budget", "status", "--all", "--as", "alice", "--db", cli_db)
    assert [line.split()[0] for line in table.stdout.splitlines()] == ["USER", "bob", "carol"]
    assert table.stdout.splitlines()[2].endswith("  ok")  # nothing spent: no run-out date
    both = run("budget", "status", "bob", "--all", "--as", "alice", "--db", cli_db)
    assert both.exit_code == 2


@pytest.mark.parametrize("engine", ["sqlite"])  # the OS login; on PostgreSQL it is the role (test_postgres.py)
def test_status_without_a_budget(cli_db, monkeypatch):
    table = run("budget", "status", "--as", "alice", "--db", cli_db)
    assert (table.exit_code, table.stdout) == (0, "alice has no budget (never over).\n")
    as_json = run("budget", "status", "dave", "--as", "alice", "--format", "json", "--db", cli_db)
    assert as_json.exit_code == 0 and json.loads(as_json.stdout) == {"schema": "usage-tui/budget-status/1", **no_budget_json("dave")}
    # a viewer (the OS login) the directory does not know may still ask about themselves;
    # `--as stranger` is a typo until the directory says otherwise (exit 2, issue 13)
    monkeypatch.setattr("usage_tui.identity.os_login", lambda uid=None: "stranger")
    stranger = run("budget", "status", "--db", cli_db)
    assert (stranger.exit_code, stranger.stdout) == (0, "stranger has no budget (never over).\n")
    unknown = run("budget", "status", "nobody", "--as", "alice", "--db", cli_db)
    assert unknown.exit_code == 2
    assert unknown.stderr == 'usage-tui: error: unknown user "nobody" (not in the directory, no budget)\n'


def test_members_read_only_their_own(cli_db):
    refused = run("budget", "status", "alice", "--as", "bob", "--db", cli_db)
    assert (refused.exit_code, refused.stdout) == (3, "")
    assert refused.stderr == ("usage-tui: error: bob may not read alice's budget "
                              "(your own only; org admins and the store's owner see all)\n")
    # refused alike whether the other user exists or not: nothing leaks
    assert run("budget", "status", "nobody", "--as", "bob", "--db", cli_db).exit_code == 3
    assert run("budget", "status", "--all", "--as", "bob", "--db", cli_db).exit_code == 3
    # a team admin is no org admin
    assert run("budget", "status", "bob", "--as", "carol", "--db", cli_db).exit_code == 3


def test_set_is_for_org_admins(cli_db):
    refused = run("budget", "set", "dave", "--limit-usd", "5", "--window", "daily", "--as", "bob", "--db", cli_db)
    assert (refused.exit_code, refused.stderr) == (3, "usage-tui: error: bob may not set budgets (org admins or the store's owner only)\n")
    done = run("budget", "set", "alice", "--limit-usd", "5", "--window", "daily", "--as", "alice", "--db", cli_db)
    assert (done.exit_code, done.stdout) == (0, "Budget for alice: $5.00 daily.\n")
    # alice spent $9 today (2026-11-24 in Berlin) ≥ $5 → over; the day ends 2026-11-24T23:00Z,
    # 11 hours after 12:00Z = 39,600 s
    check = run("budget", "check", "alice", "--db", cli_db)
    assert (check.exit_code, check.output) == (75, "429 Too Many Requests\nRetry-After: 39600\n")
    assert run("budget", "set", "nobody", "--limit-usd", "5", "--window", "daily", "--as", "alice",
               "--db", cli_db).exit_code == 2
    assert run("budget", "set", "dave", "--limit-usd", "5", "--window", "yearly", "--as", "alice",
               "--db", cli_db).exit_code == 2
    assert run("budget", "set", "dave", "--limit-usd", "-1", "--window", "daily", "--as", "alice",
               "--db", cli_db).exit_code == 2


def test_a_zero_limit_blocks(cli_db):
    run("budget", "set", "dave", "--limit-usd", "0", "--window", "daily", "--as", "alice", "--db", cli_db)
    # $0 spent ≥ $0 → over until the day ends: 39,600 s as above
    assert run("budget", "check", "dave", "--db", cli_db).output == "429 Too Many Requests\nRetry-After: 39600\n"


def test_errors_are_one_line(cli_db, tmp_path, monkeypatch):
    missing = run("budget", "check", "bob", "--db", str(tmp_path / "missing.db"))
    assert missing.exit_code == 2 and missing.stderr.count("\n") == 1 and "Traceback" not in missing.output
    monkeypatch.setenv("USAGE_TUI_NOW", "yesterday")
    bad_now = run("budget", "check", "bob", "--db", cli_db)
    assert bad_now.exit_code == 2 and bad_now.stderr.startswith("usage-tui: error: USAGE_TUI_NOW")


def test_every_budget_command_and_option_has_help():
    import click

    commands = [cli.commands["budget"], *cli.commands["budget"].commands.values(), cli.commands["serve"]]
    for command in commands:
        assert command.help, command.name
        assert run(*(["budget"] if command.name != "budget" and command.name != "serve" else []),
                   command.name, "--help").exit_code == 0
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help, (command.name, param.name)
