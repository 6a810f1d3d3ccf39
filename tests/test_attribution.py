"""Attribution precedence (§2.3), one case per rule: the store's SQL and the Python form."""

from __future__ import annotations

import itertools

import pytest

from usage_tui.directory import attribute, parse_directory
from usage_tui.ingest.native import to_record

from .conftest import DIRECTORY, write

BASE = {"ts": "2026-11-20T10:00:00Z", "provider": "p", "model": "m"}


CASES = [
    ({"user": "alice", "key": "k_bob", "agent": "bot"}, ("alice", "platform")),  # identity wins
    ({"key": "k_bob", "agent": "bot"}, ("bob", "platform")),  # else the key's owner
    ({"agent": "bot"}, ("dave", None)),  # else the agent's manager (dave has no team)
    ({"key": "k_orphan", "agent": "bot"}, ("dave", "platform")),  # key without owner: manager; key's team
    ({"agent": "stray"}, (None, None)),  # agent without manager: unattributed
    ({"key": "k_unknown"}, (None, None)),  # unknown key: unattributed
    ({}, (None, None)),
    ({"user": "zed"}, ("zed", None)),  # identity outside the directory is kept
    ({"user": "bob", "team": "research"}, ("bob", "research")),  # the record's team wins
    ({"user": "bob", "key": "k_team"}, ("bob", "research")),  # else the key's team
    ({"user": "carol"}, ("carol", "research")),  # else the user's primary (first) team
    ({"key": "k_team"}, ("carol", "research")),
]


@pytest.mark.parametrize("fields, expected", CASES)
def test_attribution_precedence(store, fields, expected):
    write(store, {**BASE, "id": "a", **fields})
    assert store.conn.execute("SELECT user, team FROM records").fetchone() == expected


@pytest.mark.parametrize("fields, expected", CASES)
def test_attribution_precedence_in_python(fields, expected):
    """directory.attribute (what issue 28's write path and the member's import guard use): the
    same cases, the same answers as the SQL above."""
    said = {name: fields.get(name) for name in ("user", "team", "key", "agent")}
    found = attribute(parse_directory(DIRECTORY), **said)
    assert (found.user, found.team) == expected


def test_python_and_sql_attribute_every_combination_alike(engine_store):
    """Every combination of a set, unset, unknown or owner-less user, key, agent and team:
    the store's SQL on each engine gives what directory.attribute gives."""
    directory = parse_directory(DIRECTORY)
    combos = list(itertools.product([None, "alice", "zed"], [None, "k_bob", "k_team", "k_orphan", "k_unknown"],
                                    [None, "bot", "stray", "nope"], [None, "research"]))
    records = []
    for i, (user, key, agent, team) in enumerate(combos):
        fields = {"user": user, "key": key, "agent": agent, "team": team}
        records.append(to_record({**BASE, "id": f"c{i}", **{k: v for k, v in fields.items() if v is not None}}))
    engine_store.write_batch(records, None)
    stored = {rid: (u, t) for rid, u, t in engine_store.execute('SELECT id, "user", team FROM records')}
    assert len(stored) == len(combos) == 120
    for i, (user, key, agent, team) in enumerate(combos):
        found = attribute(directory, user=user, team=team, key=key, agent=agent)
        assert stored[f"c{i}"] == (found.user, found.team), (user, key, agent, team)
