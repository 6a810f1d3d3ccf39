"""Issue 26: `rejects --format json|jsonl` and `rejects --clear [SOURCE]`, refused below the
CLI (the store) for anyone but org admins and the store's owner."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from usage_tui.cli import cli
from usage_tui.identity import Identity
from usage_tui.model import Reject
from usage_tui.store import StorePermissionError

from .conftest import location

LINES = (Reject("a.jsonl", 2, "malformed JSON", "not json"), Reject("a.jsonl", 5, "missing required field `ts`", "{}"),
         Reject("b.csv", 3, "bad number", "x,y"))


@pytest.fixture
def db(engine_store, monkeypatch):
    engine_store.write_batch([], None, LINES)
    monkeypatch.delenv("USAGE_TUI_USER", raising=False)
    monkeypatch.delenv("USAGE_TUI_DB", raising=False)
    return engine_store


def run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_rejects_as_json_lines_and_one_document(db):
    where = location(db)
    lines = run("rejects", "--db", where, "--as", "alice", "--format", "jsonl").output.splitlines()
    # newest first: the order they were written, reversed
    assert [json.loads(line) for line in lines] == [
        {"schema": "usage-tui/reject/1", "source": "b.csv", "line": 3, "reason": "bad number", "raw": "x,y"},
        {"schema": "usage-tui/reject/1", "source": "a.jsonl", "line": 5, "reason": "missing required field `ts`",
         "raw": "{}"},
        {"schema": "usage-tui/reject/1", "source": "a.jsonl", "line": 2, "reason": "malformed JSON", "raw": "not json"}]
    doc = json.loads(run("rejects", "--db", where, "--as", "alice", "--format", "json", "--limit", "2",
                         "--source", "a.jsonl").output)
    assert doc == {"schema": "usage-tui/rejects/1", "more": False, "rejects": [
        {"source": "a.jsonl", "line": 5, "reason": "missing required field `ts`", "raw": "{}"},
        {"source": "a.jsonl", "line": 2, "reason": "malformed JSON", "raw": "not json"}]}
    assert json.loads(run("rejects", "--db", where, "--as", "alice", "--format", "json", "--limit", "1").output)["more"]


def test_clear_one_source_then_all(db):
    where = location(db)
    one = run("rejects", "--db", where, "--as", "alice", "--clear", "a.jsonl")
    assert (one.exit_code, one.output) == (0, "Cleared 2 rejected lines of a.jsonl.\n")
    assert [r["source"] for r in db.rejects()] == ["b.csv"]
    every = run("rejects", "--db", where, "--as", "alice", "--clear")
    assert (every.exit_code, every.output) == (0, "Cleared 1 rejected line.\n")
    assert db.rejects() == []


def test_a_member_may_not_clear_and_nothing_is_lost(db):
    refused = CliRunner().invoke(cli, ["rejects", "--db", location(db), "--as", "bob", "--clear"])
    assert refused.exit_code == 3
    assert refused.stderr == ("usage-tui: error: bob may not clear the rejected lines (org admins or the "
                              "store's owner only)\n")
    assert len(db.rejects()) == 3


def test_the_store_refuses_a_member_whatever_front_end_asks(db):
    member = Identity(viewer="bob", login="bob", impersonating=False, owner=False, org_admin=False)
    with pytest.raises(StorePermissionError, match="bob may not clear the rejected lines"):
        db.clear_rejects(None, by=member)
    with pytest.raises(StorePermissionError):
        db.clear_rejects("a.jsonl", by=None)  # nobody established: refused
    assert len(db.rejects()) == 3
    owner = Identity(viewer="root", login="root", impersonating=False, owner=True, org_admin=False)
    assert db.clear_rejects("b.csv", by=owner) == 1 and len(db.rejects()) == 2


def test_limit_is_bounded(db):
    result = CliRunner().invoke(cli, ["rejects", "--db", location(db), "--as", "alice", "--limit", "1000001"])
    assert result.exit_code == 2
    assert "1000001 is not in the range 1<=x<=1000000" in result.stderr
