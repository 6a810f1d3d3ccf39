"""Bad input and edge cases (issue 13): every bad line is one reject and every good line still
imports; numbers, dates and ranges at their limits; typos are refused, never taken silently."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from usage_tui.cli import cli
from usage_tui.ingest import import_path
from usage_tui.store import Store, StoreError

from .conftest import DIRECTORY, append, write

SAMPLES = Path(__file__).resolve().parent.parent / "sample_data"
REJECT_EXCERPT_CHARS = 1024  # the excerpt the rejects keep (usage_tui.model)


def run(*args, **kw):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False, **kw)


def good(i: int, **extra) -> dict:
    return {"id": f"g{i}", "ts": "2026-11-20T10:00:00Z", "provider": "openai", "model": "gpt-4o",
            "user": "alice", "cost_usd": 1.0, **extra}


def lines(*items) -> bytes:
    """JSON lines: dicts are dumped, bytes and str go in as they are."""
    out = []
    for item in items:
        if isinstance(item, dict):
            item = json.dumps(item)
        out.append(item.encode() if isinstance(item, str) else item)
    return b"\n".join(out) + b"\n"


def imported_ids(store) -> list[str]:
    return sorted(r[0] for r in store.conn.execute("SELECT id FROM records"))


# -- import keeps every good line --------------------------------------------------------------------

BAD_LINES = [
    ("[" * 1200 + "]" * 1200, "JSON nested deeper than 64 levels"),  # json raised RecursionError
    # parses, but kept as metadata it would be written out again from a deeper stack
    (json.dumps(good(97, deep=json.loads("[" * 64 + "]" * 64))), "JSON nested deeper than 64 levels (in `deep`)"),
    ('{"id": "x", "prompt_tokens": ' + "9" * 4400 + "}", "malformed JSON: Exceeds the limit (4300 digits)"),
    (b'{"id": "g\xff\xfe", "ts": "2026-11-20T10:00:00Z"}', "not UTF-8 text (at character 10 of the line)"),
    (b'{"id": "x",\x00 "ts": 1}', "NUL byte in the line (not text)"),
    (json.dumps(good(99, user="\ud800")), "`user` is not valid Unicode text"),
    (json.dumps(good(98, ts="9999-12-31T23:00:00-05:00")), "`ts` is after 9999-12-31T23:59:59Z"),
]


@pytest.mark.parametrize(("bad", "reason"), BAD_LINES,
                         ids=["nested-1200", "metadata-nested-65", "int-4400-digits", "not-utf8", "nul", "surrogate",
                              "past-9999"])
def test_a_bad_line_in_the_middle_is_one_reject(store, tmp_path, bad, reason):
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(lines(good(1), good(2), bad, good(3)))
    seen = []
    summary = import_path(store, str(path), on_reject=seen.append)
    assert (summary.imported, summary.rejected) == (3, 1)
    assert imported_ids(store) == ["g1", "g2", "g3"]
    assert seen[0].line == 3 and seen[0].reason.startswith(reason), seen[0].reason


def test_the_nesting_bound_itself(store, tmp_path):
    """64 levels in all (the record, then 63 in a metadata value) import; 65 are a reject."""
    path = tmp_path / "deep.jsonl"
    path.write_text(json.dumps(good(1, deep=json.loads("[" * 63 + "]" * 63))) + "\n"
                    + json.dumps(good(2, deep=json.loads("[" * 64 + "]" * 64))) + "\n")
    seen = []
    summary = import_path(store, str(path), on_reject=seen.append)
    assert (summary.imported, summary.rejected) == (1, 1)
    assert imported_ids(store) == ["g1"] and seen[0].line == 2


def test_bad_bytes_mid_file_are_rejects_with_exit_1_after_many_good_lines(store, tmp_path):
    """20,000 good lines, then one that is not UTF-8 and one with a NUL, then more good ones:
    before, the import ended with exit 2 "not a usage file" after the first 20,000 committed."""
    records = [good(i) for i in range(20_000)]
    path = tmp_path / "big.jsonl"
    path.write_bytes(lines(*records, b'{"id": "\xc3\x28"}', b"\x00\x00\x00", good(20_001)))
    result = run("import", str(path), "--db", str(store.path))
    assert result.exit_code == 1, result.output
    assert result.stdout.strip() == "imported 20001, replaced 0, unchanged 0, rejected 2"
    assert f"{path}:20001: not UTF-8 text" in result.stderr
    assert f"{path}:20002: NUL byte in the line" in result.stderr


@pytest.mark.parametrize("start", [b"\x1f\x8b\x08\x00\x00\x00\x00\x00", b"SQLite format 3\x00",
                                   '{"id": "1"}\n'.encode("utf-16")], ids=["gzip", "sqlite", "utf16"])
def test_a_file_that_is_not_text_from_its_start_is_refused_whole(store, tmp_path, start):
    path = tmp_path / "blob.jsonl"
    path.write_bytes(start + lines(good(1)))
    result = run("import", str(path), "--db", str(store.path))
    assert result.exit_code == 2
    if start.startswith(b"\x1f\x8b"):  # gzip is read since issue 25: this one is cut short after its header
        assert result.stderr.startswith(f"usage-tui: error: {path}: not a readable gzip file (")
        return
    assert result.stderr == f"usage-tui: error: {path}: not a usage file (binary data)\n"


@pytest.mark.parametrize("via_stdin", [False, True])
def test_detection_does_not_depend_on_line_length(store, tmp_path, via_stdin):
    """A native record longer than the 64 KiB head (a long prompt kept as metadata) is found by
    --format auto, from a file and from a pipe."""
    long_line = good(1, prompt="p" * 200_000)
    data = lines(long_line, good(2))
    path = tmp_path / "long.jsonl"
    path.write_bytes(data)
    args = ("import", "-", "--db", str(store.path)) if via_stdin else ("import", str(path), "--db", str(store.path))
    result = run(*args, input=data if via_stdin else None)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "imported 2, replaced 0, unchanged 0, rejected 0"
    (meta,) = store.conn.execute("SELECT metadata FROM records WHERE id = 'g1'").fetchone()
    assert json.loads(meta) == {"prompt": "p" * 200_000}


def test_a_csv_cell_over_the_csv_field_limit_is_one_reject(store, tmp_path):
    path = tmp_path / "usage.csv"
    path.write_text("id,ts,provider,model,user\n"
                    "a,2026-11-20T10:00:00Z,openai,gpt-4o,alice\n"
                    f"b,2026-11-20T10:00:00Z,openai,gpt-4o,{'x' * 200_000}\n"
                    "c,2026-11-20T10:00:00Z,openai,gpt-4o,alice\n")
    seen = []
    summary = import_path(store, str(path), on_reject=seen.append)
    assert (summary.imported, summary.rejected) == (2, 1)
    assert imported_ids(store) == ["a", "c"]
    assert seen[0].line == 3 and seen[0].reason == "not a CSV row: field larger than field limit (131072)"


def test_rejects_keep_and_show_a_bounded_excerpt_and_the_length(store, tmp_path):
    junk = "j" * 3_000_000
    path = tmp_path / "junk.jsonl"
    path.write_text(junk + "\n" + json.dumps(good(1)) + "\n")
    summary = import_path(store, str(path))
    assert (summary.imported, summary.rejected) == (1, 1)
    (raw,) = store.conn.execute("SELECT raw FROM rejects").fetchone()
    expected = "j" * REJECT_EXCERPT_CHARS + "… [3,000,000 characters in all, first 1,024 kept]"
    assert raw == expected
    result = run("rejects", "--db", str(store.path))
    assert result.exit_code == 0
    assert result.output == f"{path}:1: malformed JSON: Expecting value\n    {expected}\n"


def test_rejects_output_is_bounded_for_rows_stored_whole_by_older_versions(store):
    store.conn.execute("INSERT INTO rejects (source, line, reason, raw) VALUES ('old.jsonl', 7, 'bad', ?)",
                       ("k" * 5000,))
    result = run("rejects", "--db", str(store.path))
    expected = "k" * REJECT_EXCERPT_CHARS + "… [5,000 characters in all, first 1,024 kept]"
    assert result.output == f"old.jsonl:7: bad\n    {expected}\n"


def test_write_helper_still_works(store):
    write(store, good(1))
    assert imported_ids(store) == ["g1"]


# -- numbers at the limits ---------------------------------------------------------------------------

MAX_TOTAL = 2**63 - 1  # SQLite's largest integer: the store's totals may reach it, not pass it


def at(i: int, cost: float) -> dict:
    return {"id": f"m{i}", "ts": f"2026-11-{1 + i % 28:02d}T10:00:00Z", "provider": "openai",
            "model": "gpt-4o", "user": "alice", "cost_usd": cost}


def test_the_store_holds_totals_up_to_the_64_bit_bound_exactly_and_refuses_past_it(store, monkeypatch):
    """9,223 records at the per-record maximum ($1,000,000 = 10**15 nano-dollars) and one of
    $372,036.854775807 add up to exactly 2**63 - 1 nano-dollars (9,223 * 10**15 +
    372,036,854,775,807): stored, and every report adds them up exactly. One nano-dollar more
    is refused, and nothing of it is written (before: the import "succeeded", then every
    report failed with `integer overflow`, or the rollups silently became REAL)."""
    write(store, *[at(i, 1e6) for i in range(9_223)], at(9_223, 372_036.854775807))
    monkeypatch.setenv("USAGE_TUI_NOW", "2026-11-30T12:00:00Z")
    out = run("spend", "summary", "--db", str(store.path), "--as", "alice", "--scope", "org",
              "--since", "2026-11-01", "--format", "json")
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["totals"]["requests"] == 9_224
    assert store.totals()["cost_nano"] == MAX_TOTAL
    with pytest.raises(Exception, match="would take the store's total cost past"):
        write(store, at(9_224, 1e-9))
    assert store.totals()["cost_nano"] == MAX_TOTAL
    assert store.conn.execute("SELECT count(*) FROM records").fetchone()[0] == 9_224
    assert store.conn.execute("SELECT count(*) FROM roll_org_quarter WHERE typeof(cost_nano) != 'integer'"
                              ).fetchone()[0] == 0


def test_records_not_rolled_up_yet_count_toward_the_bound(tmp_path):
    """An import's batches are rolled up when it ends: until then their sums are kept beside the
    rollups, and the bound holds for the two together."""
    store = Store(tmp_path / "s.db")
    store.load_directory(DIRECTORY)
    append(store, *[at(i, 1e6) for i in range(9_000)])
    append(store, *[at(i, 1e6) for i in range(9_000, 9_223)], at(9_223, 372_036.854775807))
    assert store.pending_rollups() == 0 and store.totals()["cost_nano"] == MAX_TOTAL
    with pytest.raises(StoreError, match="this batch would take the store's total cost past"):
        append(store, at(9_224, 1e-9))
    # Replacing a pending record with a cheaper one takes its old cost out of the pending sums.
    assert append(store, at(0, 0.5)).replaced == 1
    assert store.totals()["cost_nano"] == MAX_TOTAL - 10**15 + 5 * 10**8
    assert store.refresh_rollups() == 9_224
    assert store.pending_rollups() is None and store.totals()["cost_nano"] == MAX_TOTAL - 10**15 + 5 * 10**8
    assert store.conn.execute("SELECT count(*) FROM roll_org_quarter WHERE typeof(cost_nano) != 'integer'"
                              ).fetchone()[0] == 0


def test_an_import_past_the_bound_is_one_error_line_and_keeps_what_was_committed(store, tmp_path):
    write(store, *[at(i, 1e6) for i in range(9_223)])
    path = tmp_path / "more.jsonl"
    path.write_text(json.dumps(at(50_000, 1e6)) + "\n")
    result = run("import", str(path), "--db", str(store.path))
    assert result.exit_code == 2
    assert result.stderr.startswith("usage-tui: error: this batch would take the store's total cost past")
    assert store.totals()["cost_nano"] == 9_223 * 10**15


def test_a_record_over_the_per_record_cost_bound_is_a_reject(store, tmp_path):
    path = tmp_path / "big.jsonl"
    path.write_text(json.dumps(at(1, 1e6)) + "\n" + json.dumps(at(2, 1_000_000.01)) + "\n")
    seen = []
    summary = import_path(store, str(path), on_reject=seen.append)
    assert (summary.imported, summary.rejected) == (1, 1)
    assert seen[0].reason == "`cost_usd` must be <= 1_000_000, got 1000000.01"


@pytest.mark.parametrize("limit", ["inf", "nan", "1e400", "-inf", "1000000001"])
def test_budget_set_refuses_limits_that_are_not_finite_amounts(store, limit):
    result = run("budget", "set", "bob", f"--limit-usd={limit}", "--window", "weekly",
                 "--db", str(store.path), "--as", "alice")
    assert result.exit_code == 2
    assert result.stderr.startswith("usage-tui: error: Invalid value for '--limit-usd': must be ")
    assert store.budget_overrides() == {}


@pytest.mark.parametrize(("toml", "reason"), [
    ("nan", "must be a finite number, got nan"), ("inf", "must be a finite number, got inf"),
    ("1e400", "must be a finite number, got inf"), ("-inf", "must be a number >= 0"),
    (str(10**400), "must be a finite number, got inf"), ("2e9", "must be <= 1,000,000,000, got 2000000000.0")],
    ids=["nan", "inf", "1e400", "-inf", "10**400", "2e9"])
def test_directory_refuses_budget_limits_that_are_not_finite_amounts(store, tmp_path, toml, reason):
    path = tmp_path / "dir.toml"
    path.write_text('[[users]]\nid = "bob"\n\n[[budgets]]\nuser = "bob"\n'
                    f'limit_usd = {toml}\nwindow = "weekly"\n')
    result = run("directory", "load", str(path), "--db", str(store.path))
    assert result.exit_code == 2
    assert result.stderr == f'usage-tui: error: {path}: budgets[0] ("bob"): `limit_usd` {reason}\n'


def test_a_stored_limit_that_is_not_finite_fails_closed(store, monkeypatch):
    """A store written by an older version may hold inf: no "200 OK", no crash."""
    store.conn.execute("INSERT INTO budget_overrides VALUES ('bob', ?, 'weekly', 'alice', '')", (float("inf"),))
    monkeypatch.setenv("USAGE_TUI_NOW", "2026-11-24T12:00:00Z")
    result = run("budget", "check", "bob", "--db", str(store.path))
    assert result.exit_code == 2 and result.stdout == ""
    assert 'the budget of "bob" in this store is not a usable limit (inf)' in result.stderr


# -- ranges and dates ---------------------------------------------------------------------------------

def spread(store, first: str, days: int, step: int) -> dict:
    """A record every `step` days from `first` at 23:30 UTC (the next day in Berlin), with
    cost = its index in cents; returns {Berlin date: cost in nano-dollars}, computed here."""
    from datetime import date, datetime, timedelta
    from zoneinfo import ZoneInfo

    start = date.fromisoformat(first)
    records, expected = [], {}
    for i, offset in enumerate(range(0, days, step)):
        ts = datetime.combine(start + timedelta(days=offset), datetime.min.time(), ZoneInfo("UTC")) + timedelta(
            hours=23, minutes=30)
        records.append({"id": f"s{i}", "ts": ts.isoformat(), "provider": "openai", "model": f"m{i % 3}",
                        "user": "alice", "cost_usd": (i + 1) / 100})
        day = ts.astimezone(ZoneInfo("Europe/Berlin")).date()
        expected[day] = expected.get(day, 0) + (i + 1) * 10_000_000
    write(store, *records)
    return expected


@pytest.mark.parametrize("granularity", ["daily", "weekly"])
@pytest.mark.parametrize("force_records", [False, True], ids=["rollups", "records"])
def test_three_years_by_day_or_week_answer_every_bucket(store, granularity, force_records):
    """Before: `too many terms in compound SELECT` past ~500 days (one SELECT per day edge)."""
    from datetime import date, timedelta

    from usage_tui.model import QuerySpec
    from usage_tui.query import run_query

    expected = spread(store, "2023-11-01", 1_120, 7)
    spec = QuerySpec(viewer="alice", scope="org", granularity=granularity, since=date(2023, 11, 1),
                     until=date(2026, 11, 24))
    result = run_query(store, spec, force_records=force_records)
    by_bucket: dict = {}
    for day, nano in expected.items():
        if date(2023, 11, 1) <= day <= date(2026, 11, 24):
            key = day if granularity == "daily" else day - timedelta(days=day.weekday())
            by_bucket[key] = by_bucket.get(key, 0) + nano
    got = {p.bucket: round(p.value * 1e9) for p in result.series if p.value}
    assert got == by_bucket
    # 2023-11-01 … 2026-11-24: 1,120 days; ISO weeks from Monday 2023-10-30 to Monday 2026-11-23: 161
    assert len(result.series) == (1_120 if granularity == "daily" else 161)
    assert result.totals.cost_nano == sum(by_bucket.values())


def test_a_range_from_year_1000_by_week_works_and_by_day_is_refused(store, monkeypatch):
    """Before: `too many SQL variables` (one per week edge); daily: 375,000 series points."""
    spread(store, "2026-11-01", 20, 1)
    monkeypatch.setenv("USAGE_TUI_NOW", "2026-11-24T12:00:00Z")
    weekly = run("spend", "summary", "--db", str(store.path), "--as", "alice", "--since", "1000-01-01",
                 "--granularity", "weekly", "--format", "json")
    assert weekly.exit_code == 0, weekly.output
    out = json.loads(weekly.output)
    # 20 records s0..s19 at 1..20 cents, all from 2026-11-02 (Berlin) on: $2.10 in all
    assert out["totals"]["cost_usd"] == pytest.approx(2.10) and sum(p["value"] for p in out["series"]) == \
        pytest.approx(2.10)
    assert out["series"][0]["period"] == "0999-12-30"  # the Monday of 1000-01-01's ISO week
    daily = run("spend", "summary", "--db", str(store.path), "--as", "alice", "--since", "1000-01-01")
    assert daily.exit_code == 2
    assert daily.stderr == ("usage-tui: error: 1000-01-01 … 2026-11-24 is 375,067 days: more than 100,000 days "
                            "in one series; narrow the range or use --granularity weekly\n")


def test_dates_at_the_end_of_year_9999(store, monkeypatch):
    monkeypatch.setenv("USAGE_TUI_NOW", "2026-11-24T12:00:00Z")
    result = run("spend", "summary", "--db", str(store.path), "--as", "alice", "--since", "9999-12-25",
                 "--until", "9999-12-31", "--tz", "Pacific/Kiritimati", "--format", "json")
    assert result.exit_code == 0, result.output
    assert [p["period"] for p in json.loads(result.output)["series"]][-1] == "9999-12-31"


@pytest.mark.parametrize("now", ["9999-12-31T12:00:00Z", "9999-12-31T23:00:00-05:00", "9999-12-01T00:00:00Z"])
@pytest.mark.parametrize("command", [("spend", "summary", "--as", "alice"), ("budget", "status", "bob", "--as", "alice"),
                                     ("budget", "check", "bob")])
def test_a_pinned_now_near_year_10000_is_bad_input(store, monkeypatch, now, command):
    monkeypatch.setenv("USAGE_TUI_NOW", now)
    result = run(*command, "--db", str(store.path))
    assert result.exit_code == 2
    assert result.stderr == (f"usage-tui: error: USAGE_TUI_NOW: {now!r} is outside 1970-01-01 … 9999-11-30 "
                             "(the budget window holding now must end before year 10000)\n")


def test_a_pinned_now_at_the_last_allowed_instant_works(store, monkeypatch):
    monkeypatch.setenv("USAGE_TUI_NOW", "9999-11-30T23:59:59Z")
    result = run("budget", "status", "bob", "--as", "alice", "--db", str(store.path), "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["window_end"] == "9999-12-06T00:00:00+01:00"  # Monday after, Berlin


def test_one_view_is_one_read_snapshot(store, monkeypatch):
    """An import committing between the rows and the series must not show in one and not the
    other (seen 14 times in 36,637 queries during an import)."""
    from datetime import date

    from usage_tui import query
    from usage_tui.model import QuerySpec
    from usage_tui.store import Store

    write(store, good(1, ts="2026-11-20T10:00:00Z"))
    other = Store(store.path)
    original = query.series_day_pieces

    def commit_in_between(*args):
        other.write_batch([query_record(2)], None)  # another connection commits, mid-view
        return original(*args)

    def query_record(i):
        from usage_tui.ingest.native import to_record
        return to_record(good(i, ts="2026-11-21T10:00:00Z"))

    monkeypatch.setattr(query, "series_day_pieces", commit_in_between)  # read after the rows
    spec = QuerySpec(viewer="alice", since=date(2026, 11, 1), until=date(2026, 11, 24))
    result = query.run_query(store, spec)
    assert result.totals.cost_nano == 1_000_000_000  # g1 only: the view's snapshot
    assert sum(p.value for p in result.series) == 1.0
    other.close()


# -- directory files ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "message"), [
    ('[[users]]\nid = "a"\nrol = "org_admin"\n',
     'users[0] ("a"): unknown key `rol` (did you mean `role`?); known: id, login, name, role, teams'),
    ('[[users]]\nid = "a"\n\n[[budget]]\nuser = "a"\nlimit_usd = 5\nwindow = "daily"\n',
     "unknown table [[budget]] (did you mean [[budgets]]?); known: [org], [[teams]], [[users]], [[keys]], "
     "[[agents]], [[budgets]], [[prices]], [[models]]"),
    ('[org]\nid = "acme"\ntimezon = "UTC"\n', "[org]: unknown key `timezon` (did you mean `timezone`?); "
     "known: id, name, timezone"),
    ('[[users]]\nid = "a"\nlogin = "x"\n\n[[users]]\nid = "b"\nlogin = "x"\n',
     'users[1] ("b"): login "x" is already the login of "a" (one login, one user: it says who runs usage-tui)'),
    ("a = " + "[" * 3000 + "]" * 3000 + "\n", "not a directory: arrays or tables nested too deeply"),
], ids=["unknown-key", "unknown-table", "org-key", "duplicate-login", "nesting"])
def test_a_directory_file_with_a_typo_is_one_error_and_changes_nothing(store, tmp_path, text, message):
    path = tmp_path / "dir.toml"
    path.write_text(text)
    before = store.get_meta("directory")
    result = run("directory", "load", str(path), "--db", str(store.path))
    assert result.exit_code == 2
    assert result.stderr == f"usage-tui: error: {path}: {message}\n"
    assert store.get_meta("directory") == before


def test_a_directory_file_that_is_not_utf8_is_one_error(store, tmp_path):
    path = tmp_path / "dir.toml"
    path.write_bytes(b'[[users]]\nid = "a"\nname = "\xff"\n')
    result = run("directory", "load", str(path), "--db", str(store.path))
    assert result.exit_code == 2
    assert result.stderr == f"usage-tui: error: {path}: not UTF-8 text (line 3: invalid start byte)\n"


# -- typos are refused ---------------------------------------------------------------------------------

@pytest.fixture
def db(store, monkeypatch):
    write(store, good(1, model="gpt-4o"), good(2, model="gpt-4o-mini"), good(3, model="claude-3", user="bob"))
    monkeypatch.setenv("USAGE_TUI_NOW", "2026-11-24T12:00:00Z")
    monkeypatch.delenv("USAGE_TUI_USER", raising=False)
    return str(store.path)


def test_an_unknown_team_is_exit_2_naming_the_closest(db):
    result = run("spend", "summary", "--db", db, "--as", "alice", "--scope", "team", "--team", "platfrom")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == 'usage-tui: error: unknown team "platfrom" (closest: platform)\n'
    nothing_close = run("spend", "summary", "--db", db, "--as", "alice", "--scope", "team", "--team", "nosuch")
    assert nothing_close.stderr == 'usage-tui: error: unknown team "nosuch"\n'


def test_a_member_asking_for_an_unknown_team_is_refused_as_for_any_team(db):
    """Nothing about which teams exist leaks to someone who may not see them."""
    result = run("spend", "summary", "--db", db, "--as", "bob", "--team", "platfrom")
    assert result.exit_code == 3
    assert result.stderr == 'usage-tui: error: bob may not view team "platfrom" (its admins and org admins only)\n'


@pytest.mark.parametrize("command", [("spend", "summary"), ("budget", "status")])
def test_an_unknown_viewer_is_exit_2_naming_the_closest(db, command):
    result = run(*command, "--db", db, "--as", "alise")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == 'usage-tui: error: --as: unknown user "alise" (not in the directory; closest: alice)\n'


def test_an_unknown_viewer_in_the_environment_is_exit_2(db, monkeypatch):
    monkeypatch.setenv("USAGE_TUI_USER", "zed")
    result = run("spend", "summary", "--db", db)
    assert result.exit_code == 2
    assert result.stderr == 'usage-tui: error: USAGE_TUI_USER: unknown user "zed" (not in the directory)\n'


def test_the_tui_refuses_an_unknown_viewer(db):
    result = run("--db", db, "--as", "bobb")  # opens the TUI, or says why not
    assert result.exit_code == 2
    assert result.stderr == 'usage-tui: error: --as: unknown user "bobb" (not in the directory; closest: bob)\n'


def test_a_focus_with_no_row_in_the_view_is_exit_2_naming_the_closest_rows(db):
    result = run("spend", "summary", "--db", db, "--as", "alice", "--focus", "gpt-4")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == "usage-tui: error: no model 'gpt-4' in this view (closest: gpt-4o, gpt-4o-mini)\n"
    # a row of the view, even one --search hides, may be focused
    ok = run("spend", "summary", "--db", db, "--as", "alice", "--focus", "gpt-4o", "--search", "mini",
             "--format", "json")
    assert ok.exit_code == 0, ok.output
    assert sum(p["value"] for p in json.loads(ok.output)["series"]) == 1.0  # g1 only: $1


def test_team_alone_implies_the_team_scope(db):
    result = run("spend", "summary", "--db", db, "--as", "alice", "--team", "platform", "--format", "json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["scope"] == {"kind": "team", "team": "platform"}
    # alice's two records and bob's one: all on the platform team (their primary team)
    assert out["totals"]["requests"] == 3


def test_team_with_another_scope_is_exit_2(db):
    result = run("spend", "summary", "--db", db, "--as", "alice", "--scope", "org", "--team", "platform")
    assert result.exit_code == 2
    assert result.stderr == "usage-tui: error: --team platform goes with --scope team, not --scope org\n"


def test_a_search_matching_no_row_says_so_apart_from_an_empty_view(db):
    result = run("spend", "summary", "--db", db, "--as", "alice", "--search", "zzz", "--since", "2026-11-01")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[-1] == "No rows match “zzz” (2 rows in this view)."
    empty = run("spend", "summary", "--db", db, "--as", "dave", "--search", "zzz")
    assert empty.stdout.splitlines()[-1].startswith("No attributed usage in this view")


PRICEY = ('[[users]]\nid = "alice"\n\n[[prices]]\nprovider = "internal"\nmodel = "big"\n'
          'input_per_mtok = 1000000\noutput_per_mtok = 1\n')
HUGE = {"id": "x", "ts": "2026-11-20T10:00:00Z", "provider": "internal", "model": "big", "prompt_tokens": 10**12}


def test_a_price_that_makes_one_record_cost_over_the_bound_refuses_the_import(tmp_path):
    """10**12 tokens at $1,000,000 per million = $10**12 (10**21 nano-dollars, past SQLite's
    integers): before, an OverflowError traceback from the writer thread."""
    db = str(tmp_path / "u.db")
    (tmp_path / "d.toml").write_text(PRICEY)
    assert run("directory", "load", str(tmp_path / "d.toml"), "--db", db).exit_code == 0
    (tmp_path / "x.jsonl").write_text(json.dumps(HUGE) + "\n")
    result = run("import", str(tmp_path / "x.jsonl"), "--db", db)
    assert result.exit_code == 2
    assert result.stderr == ('usage-tui: error: record "x" would cost $1,000,000,000,000.00 at the price of '
                             "internal/big, over the per-record bound of $1,000,000: check that price; "
                             "nothing of this batch was written\n")


def test_a_price_that_makes_a_stored_record_cost_over_the_bound_refuses_the_directory(tmp_path):
    db = str(tmp_path / "u.db")
    (tmp_path / "x.jsonl").write_text(json.dumps(HUGE) + "\n")
    assert run("import", str(tmp_path / "x.jsonl"), "--db", db).exit_code == 0  # unpriced so far
    (tmp_path / "d.toml").write_text(PRICEY)
    result = run("directory", "load", str(tmp_path / "d.toml"), "--db", db)
    assert result.exit_code == 2
    assert result.stderr.endswith("check that price; the directory was not loaded\n")


def test_a_reason_quoting_a_huge_value_is_bounded(store, tmp_path):
    path = tmp_path / "huge.jsonl"
    path.write_text(json.dumps(good(1, ts="2" * 100_000)) + "\n")
    seen = []
    import_path(store, str(path), on_reject=seen.append)
    # the value is quoted as JSON, cut at 200 characters: the quote and 199 digits, then "…"
    assert seen[0].reason == "`ts` must be an ISO 8601 timestamp with a time, got \"" + "2" * 199 + "…"


def test_serve_fails_closed_on_a_stored_limit_that_is_not_finite(store, monkeypatch):
    """Before: 500 with a traceback in the log, which a gateway hook may read as "allow"."""
    from starlette.testclient import TestClient

    from usage_tui.server import create_server_app

    store.conn.execute("INSERT INTO budget_overrides VALUES ('bob', ?, 'weekly', 'alice', '')", (float("inf"),))
    monkeypatch.setenv("USAGE_TUI_NOW", "2026-11-24T12:00:00Z")
    with TestClient(create_server_app(store.path)) as client:
        response = client.get("/v1/budget/check", params={"user": "bob"})
    assert response.status_code == 503
    assert "not a usable limit (inf)" in response.json()["error"]


def _with_a_deep_line(text: str) -> str:
    """`text` (JSON lines) with a copy of its first line whose `metadata` is nested 100,000 levels
    deep inserted as line 2 (the reviewer's repro: a LiteLLM row's metadata nested that deep)."""
    first, *rest = text.splitlines()
    row = json.loads(first)
    row.pop("metadata", None)
    deep = json.dumps(row)[:-1] + ', "metadata": ' + '{"a": ' * 100_000 + "1" + "}" * 100_000 + "}"
    return "\n".join([first, deep, *rest]) + "\n"


def _openai_page_lines() -> str:
    """sample_data's OpenAI usage page, one bucket per page, one page per line."""
    page = json.loads((SAMPLES / "openai_usage_completions.json").read_text())
    return "".join(json.dumps({**page, "data": [bucket]}) + "\n" for bucket in page["data"])


DEEP_CASES = {  # format: (JSON lines of that format, how many records they hold)
    "native": ((SAMPLES / "example.jsonl").read_text(), 5),
    "litellm": ((Path(__file__).parent / "data" / "litellm_12_rows.jsonl").read_text(), 12),
    "openai": (_openai_page_lines(), 3),  # the results with requests (tests/test_import_formats.py)
    "claude-code": ((SAMPLES / "claude-code" / "projects" / "-home-alice-src-shop"
                     / "5b1e0c3a-7d2f-4c1e-9a8b-2f3e4d5c6b7a.jsonl").read_text(), 2),  # msg_01AAA, msg_01BBB
}


@pytest.mark.parametrize("forced", [False, True], ids=["auto", "forced"])
@pytest.mark.parametrize("fmt", list(DEEP_CASES))
def test_json_nested_100000_levels_is_one_reject_in_every_format(store, tmp_path, fmt, forced):
    """Reviewer's repro (RecursionError before issue 13): the deep line is one reject at its line,
    every record of the file still imports, whether the format is detected or forced."""
    text, records = DEEP_CASES[fmt]
    path = tmp_path / "deep.jsonl"
    path.write_text(_with_a_deep_line(text))
    seen = []
    summary = import_path(store, str(path), fmt if forced else "auto", user="alice", on_reject=seen.append)
    assert (summary.imported, summary.rejected) == (records, 1)
    assert [(j.line, j.reason) for j in seen] == [(2, "JSON nested deeper than 64 levels")]
