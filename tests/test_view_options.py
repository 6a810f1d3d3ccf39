"""The view options are written once (usage_tui/view_options.py): `spend summary` and `spend
records` take the same definitions, and their click options are built from them."""

from __future__ import annotations

import click

from usage_tui import view_options
from usage_tui.cli import cli

SUMMARY = cli.commands["spend"].commands["summary"]
RECORDS = cli.commands["spend"].commands["records"]
# What is not a view option: how to print, which store, who asks.
NOT_VIEW = {"fmt", "db", "as_user", "help"}


def params(command: click.Command) -> dict[str, click.Option]:
    return {p.name: p for p in command.params if p.name not in NOT_VIEW}


def definition(option: click.Option) -> dict:
    """What an option is, as the command line sees it (name, flag, type, choices, default, help)."""
    info = option.to_info_dict()
    return {k: info[k] for k in ("name", "opts", "type", "default", "help", "required", "multiple")}


def test_summary_and_records_take_the_same_definitions():
    summary, records = params(SUMMARY), params(RECORDS)
    shared = set(summary) & set(records)
    assert shared == {"scope", "team", "group_by", "since", "until", "search", "focus", "tz"}
    for name in shared:
        a, b = definition(summary[name]), definition(records[name])
        if name in ("search", "focus"):  # rows there, records here: only the words differ
            assert a["help"] != b["help"]
            a.pop("help"), b.pop("help")
        assert a == b, name


def test_every_view_option_of_both_commands_comes_from_the_definitions():
    for command, declared in ((SUMMARY, view_options.SUMMARY), (RECORDS, view_options.RECORDS)):
        got = params(command)
        assert list(got) == [o.name for o in declared] + ["tz"]  # in the help's order, --tz last
        for d in (*declared, view_options.TZ):
            option = got[d.name]
            assert option.opts == [d.flag] and option.help == d.help and option.default == d.default
            if d.choices is not None:
                assert tuple(option.type.choices) == d.choices


def test_the_definitions_say_what_the_command_line_takes():
    """Written out by hand: the names and choices an agent or script passes."""
    o = view_options
    assert (o.SCOPE.flag, o.SCOPE.choices, o.SCOPE.default) == ("--scope", ("personal", "team", "org"), None)
    assert (o.GROUP_BY.flag, o.GROUP_BY.default) == ("--group-by", "model")
    assert o.GROUP_BY.choices == ("provider", "model", "user", "team", "agent", "key", "verdict")
    assert (o.METRIC.choices, o.METRIC.default) == (("cost", "requests", "tokens"), "cost")
    assert (o.GRANULARITY.choices, o.GRANULARITY.default) == (("daily", "weekly"), "daily")
    assert (o.ORDER.choices, o.ORDER.default) == (("time", "cost"), "time")
    assert (o.LIMIT.type, o.LIMIT.min, o.LIMIT.max, o.LIMIT.default) == (int, 1, 1_000_000, 50)
    limit = params(RECORDS)["limit"].type
    assert isinstance(limit, click.IntRange) and (limit.min, limit.max) == (1, 1_000_000)
