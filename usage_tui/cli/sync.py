"""`usage-tui sync …`: read usage from where it already lives, incrementally, and keep reading
with --follow. One command per source, each in its own module (they register on this group)."""

from __future__ import annotations

import click

from .common import OneLineErrorsGroup


@click.group("sync", cls=OneLineErrorsGroup)
def sync() -> None:
    """Read usage from a gateway's database or a provider's admin API, from where the last run
    stopped (its position is kept in the store)."""
