"""Attribution precedence (§2.3), one case per rule."""

from __future__ import annotations

import pytest

from .conftest import write

BASE = {"ts": "2026-11-20T10:00:00Z", "provider": "p", "model": "m"}


@pytest.mark.parametrize("fields, expected", [
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
])
def test_attribution_precedence(store, fields, expected):
    write(store, {**BASE, "id": "a", **fields})
    assert store.conn.execute("SELECT user, team FROM records").fetchone() == expected
