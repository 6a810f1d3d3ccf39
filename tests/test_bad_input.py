"""Bad input and edge cases (issue 13): every bad line is one reject and every good line still
imports; numbers, dates and ranges at their limits; typos are refused, never taken silently."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from usage_tui.cli import cli
from usage_tui.ingest import import_path

from .conftest import write

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
    ('{"a": ' * 70 + "1" + "}" * 70, "JSON nested deeper than 64 levels"),  # parses, still too deep
    ('{"id": "x", "prompt_tokens": ' + "9" * 4400 + "}", "malformed JSON: Exceeds the limit (4300 digits)"),
    (b'{"id": "g\xff\xfe", "ts": "2026-11-20T10:00:00Z"}', "not UTF-8 text (at character 10 of the line)"),
    (b'{"id": "x",\x00 "ts": 1}', "NUL byte in the line (not text)"),
    (json.dumps(good(99, user="\ud800")), "`user` is not valid Unicode text"),
    (json.dumps(good(98, ts="9999-12-31T23:00:00-05:00")), "`ts` is after 9999-12-31T23:59:59Z"),
]


@pytest.mark.parametrize(("bad", "reason"), BAD_LINES,
                         ids=["nested-1200", "nested-70", "int-4400-digits", "not-utf8", "nul", "surrogate",
                              "past-9999"])
def test_a_bad_line_in_the_middle_is_one_reject(store, tmp_path, bad, reason):
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(lines(good(1), good(2), bad, good(3)))
    seen = []
    summary = import_path(store, str(path), on_reject=seen.append)
    assert (summary.imported, summary.rejected) == (3, 1)
    assert imported_ids(store) == ["g1", "g2", "g3"]
    assert seen[0].line == 3 and seen[0].reason.startswith(reason), seen[0].reason


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
    assert store.conn.execute("SELECT count(*) FROM roll_org WHERE typeof(cost_nano) != 'integer'"
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
