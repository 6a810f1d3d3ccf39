"""Directory validation (§2.2): one clear error naming the entry, and nothing changes."""

from __future__ import annotations

import copy

import pytest

from usage_tui.directory import DirectoryError, check_known_names, load_directory_file, parse_directory

from .conftest import DIRECTORY


def broken(path: list, value):
    doc = copy.deepcopy(DIRECTORY)
    target = doc
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return doc


@pytest.mark.parametrize("path, value, message", [
    (["keys", 0, "owner"], "zed", 'keys[0] ("k_bob"): owner "zed" is not a user'),
    (["agents", 0, "manager"], "zed", 'agents[0] ("bot"): manager "zed" is not a user'),
    (["budgets", 0, "user"], "zed", 'budgets[0] ("zed"): user "zed" is not a user'),
    (["teams", 0, "admins"], ["zed"], 'teams ("platform"): admin "zed" is not a user'),
    (["users", 0, "teams"], ["nope"], 'users[0] ("alice"): team "nope" is not a team'),
    (["users", 1, "role"], "boss", 'users[1] ("bob"): role "boss" is not one of org_admin, member'),
    (["budgets", 0, "window"], "hourly", 'budgets[0] ("bob"): window "hourly" is not one of daily, weekly, monthly'),
    (["budgets", 0, "limit_usd"], -1, 'budgets[0] ("bob"): `limit_usd` must be a number >= 0'),
    (["keys", 1, "team"], "ghost", 'keys[1] ("k_team"): team "ghost" is not a team'),
    (["org", "timezone"], "Mars/Olympus", '[org]: unknown time zone "Mars/Olympus"'),
    (["prices", 0, "output_per_mtok"], "cheap", '`output_per_mtok` must be a number >= 0'),
])
def test_invalid_entries_are_named(path, value, message):
    with pytest.raises(DirectoryError) as err:
        parse_directory(broken(path, value))
    assert message in str(err.value)


def test_duplicate_ids_are_refused():
    doc = copy.deepcopy(DIRECTORY)
    doc["users"].append({"id": "bob", "role": "member"})
    with pytest.raises(DirectoryError, match='duplicate id "bob"'):
        parse_directory(doc)


def test_cached_price_defaults_to_input_price():
    doc = copy.deepcopy(DIRECTORY)
    del doc["prices"][0]["cached_input_per_mtok"]
    assert parse_directory(doc).prices[0].cached_input_per_mtok == 2.0


def test_cache_write_price_defaults_to_input_price_and_is_validated():
    doc = copy.deepcopy(DIRECTORY)
    assert parse_directory(doc).prices[0].cache_write_per_mtok == 2.0  # the input price
    doc["prices"][0]["cache_write_per_mtok"] = 2.5
    check_known_names(doc)  # a known key
    assert parse_directory(doc).prices[0].cache_write_per_mtok == 2.5
    doc["prices"][0]["cache_write_per_mtok"] = -1
    with pytest.raises(DirectoryError, match=r'prices\[0\] \("internal/llama"\): `cache_write_per_mtok` must be '
                                             r"a number >= 0"):
        parse_directory(doc)


def test_primary_team_and_visibility():
    d = parse_directory(DIRECTORY)
    assert d.users["carol"].primary_team == "research"
    assert d.teams_visible_to("alice") == ["platform", "research"]  # org admin: all
    assert d.teams_visible_to("carol") == ["platform"]  # admin of platform only
    assert d.teams_visible_to("bob") == []


def test_file_errors_name_the_file(tmp_path):
    bad = tmp_path / "dir.toml"
    bad.write_text("[org\nid = 1")
    with pytest.raises(DirectoryError, match=f"{bad}: not valid TOML"):
        load_directory_file(bad)
    with pytest.raises(DirectoryError, match="No such file"):
        load_directory_file(tmp_path / "missing.toml")


def test_sample_directory_file_is_valid():
    d = load_directory_file("sample_data/directory.toml")
    assert len(d.users) == 25 and len(d.teams) == 4
    assert d.timezone == "Europe/Berlin"
