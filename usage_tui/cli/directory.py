"""`usage-tui directory load`: users, teams, keys, agents, budgets and prices from a TOML file."""

from __future__ import annotations

from pathlib import Path

import click

from ..directory import read_directory_doc
from .common import (
    db_option,
    default_db,
    handles_errors,
    identity_of,
    notice,
    open_store,
    require_writable,
    store_exists,
    viewer_option,
)


@click.group()
def directory() -> None:
    """The directory of users, teams, keys, agents, budgets and prices."""


@directory.command("load")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@db_option
@viewer_option
@handles_errors
def directory_load(file: Path, db: Path | None, as_user: str | None) -> None:
    """Load FILE.toml: replaces the directory and re-attributes every stored record (org
    admins and the store's owner)."""
    from ..sample import as_loaded_on

    path = db or default_db()
    store = open_store(path, create=True) if store_exists(path) else None  # a new store is its creator's
    if store is not None:
        identity_of(store, as_user).require_admin("load the directory")
        require_writable(store)
    doc = read_directory_doc(file)  # validates the whole file first; nothing changes on error
    store = store or open_store(path, create=True)
    doc, demo_note = as_loaded_on(store, doc)  # the demo directory keeps you alice (sample.py)
    if demo_note:
        notice(demo_note)
    count = store.load_directory(doc)
    for line in getattr(store, "notices", ()):  # the central store's grants (store/postgres.py)
        notice(line)
    d = store.directory()
    click.echo(f"Loaded {file}: {len(d.users)} users, {len(d.teams)} teams, {len(d.keys)} keys, "
               f"{len(d.agents)} agents, {len(d.budgets)} budgets, {len(d.prices)} prices; "
               f"re-attributed {count} records.")
