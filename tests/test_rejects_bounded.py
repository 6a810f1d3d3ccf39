"""Rejects in bounded memory and bounded room (issue 27): a file of junk had no batch of good
records to carry its rejects, so every one was held until the end (300k bad lines: 462 MB RSS
here) and every one was stored (a 718 MB store). Rejects are now written in batches of their
own, and the store keeps the first KEPT_REJECTS_PER_FILE of a file, then one more saying how
many were not kept; the import still reports and counts every one. Small bounds are patched in."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import usage_tui.ingest as ingest
from usage_tui.cli import cli
from usage_tui.ingest import import_path
from usage_tui.store import bulk


def bad(i: int) -> str:
    return json.dumps({"id": f"b{i}", "ts": "not a time", "provider": "p", "model": "m"})


GOOD = json.dumps({"id": "g1", "ts": "2026-11-20T10:00:00Z", "provider": "p", "model": "m"})
REASON = '`ts` must be an ISO 8601 timestamp with a time, got "not a time"'


@pytest.fixture
def small_bounds(monkeypatch):
    monkeypatch.setattr(bulk, "REJECTS_PER_WRITE", 3)
    monkeypatch.setattr(ingest, "KEPT_REJECTS_PER_FILE", 5)


def test_rejects_reach_the_store_while_the_file_is_read(engine, new_store, tmp_path, small_bounds, monkeypatch):
    """At most REJECTS_PER_WRITE (3) rejects wait in memory, and 3 more are being written: the
    n-th reject finds at least n - 6 in the store (before: none until the file's end, as no
    good record came to carry them)."""
    monkeypatch.setattr(ingest, "KEPT_REJECTS_PER_FILE", 100)
    store = new_store()
    path = tmp_path / "junk.jsonl"
    path.write_text("".join(bad(i) + "\n" for i in range(1, 13)))
    stored_when_seen = []
    summary = import_path(store, str(path), on_reject=lambda r: stored_when_seen.append(len(store.rejects())))
    assert summary.rejected == 12
    assert all(stored >= n - 6 for n, stored in enumerate(stored_when_seen, 1)), stored_when_seen
    assert len(store.rejects()) == 12


def test_only_the_first_rejects_of_a_file_are_kept_and_the_rest_are_counted(engine, new_store, tmp_path,
                                                                            small_bounds):
    store = new_store()
    folder = tmp_path / "logs"
    folder.mkdir()
    (folder / "a.jsonl").write_text("".join(bad(i) + "\n" for i in range(1, 13)) + GOOD + "\n")  # 12 bad
    (folder / "b.jsonl").write_text(bad(1) + "\n" + bad(2) + "\n")  # under the bound: both kept
    seen = []
    summary = import_path(store, str(folder), on_reject=seen.append)
    assert (summary.imported, summary.rejected, summary.not_kept) == (1, 14, 7)
    assert len(seen) == 14  # every one reported
    assert summary.line() == "imported 1, replaced 0, unchanged 0, rejected 14 (7 kept: at most 5 a file)"
    a = str(folder / "a.jsonl")
    assert [(r["line"], r["reason"]) for r in store.rejects(a)] == [
        (6, "7 rejected lines from this one on were not kept: only the first 5 of a file are kept in each import"),
        *((n, REASON) for n in (5, 4, 3, 2, 1))]
    assert store.rejects(a)[0]["raw"] == bad(6)
    assert [r["line"] for r in store.rejects(str(folder / "b.jsonl"))] == [2, 1]


def test_the_cli_says_the_bound(tmp_path, small_bounds, monkeypatch):
    monkeypatch.delenv("USAGE_TUI_DB", raising=False)
    db = str(tmp_path / "usage.db")
    path = tmp_path / "junk.jsonl"
    path.write_text("".join(bad(i) + "\n" for i in range(1, 8)))
    result = CliRunner().invoke(cli, ["import", str(path), "--db", db])
    assert result.exit_code == 1
    assert result.stdout == "imported 0, replaced 0, unchanged 0, rejected 7 (5 kept: at most 5 a file)\n"
    assert result.stderr.count("\n") == 7  # each bad line still reported
    shown = CliRunner().invoke(cli, ["rejects", "--db", db, "--limit", "1"])
    assert shown.stdout == (f"{path}:6: 2 rejected lines from this one on were not kept: only the first 5 of a "
                            f"file are kept in each import\n    {bad(6)}\n")


def test_the_bounds_as_shipped():
    """What the README and `rejects --help` say."""
    assert (bulk.REJECTS_PER_WRITE, ingest.KEPT_REJECTS_PER_FILE) == (1_000, 10_000)
