"""`usage-tui store init` (create or upgrade a store) and `usage-tui sample` (the demo store)."""

from __future__ import annotations

from pathlib import Path

import click

from ..store import UsageStore, is_dsn
from ..store import open_store as open_engine
from .common import (
    db_option,
    default_db,
    fail,
    handles_errors,
    identity_of,
    open_store,
    require_writable,
    store_exists,
)


def build_demo(path: Path | str, *, events: int, days: int, seed: int) -> UsageStore:
    from ..ingest import BATCH_SIZE
    from ..sample import demo_directory, generate

    store = open_engine(path, create=True)
    store.clear_records()
    # whoever builds the demo is its org admin: the OS login, or on PostgreSQL the role
    store.load_directory(demo_directory(store.identity_facts().get("login")))
    batch = []
    for record in generate(events=events, days=days, seed=seed):
        batch.append(record)
        if len(batch) >= BATCH_SIZE:
            store.write_batch(batch, store.source_id("sample", f"seed={seed}"))
            batch.clear()
    store.write_batch(batch, store.source_id("sample", f"seed={seed}"))
    store.set_meta("demo", "1")
    return store


@click.command()
@click.option("--events", default=20_000, show_default=True, type=click.IntRange(0), help="Number of requests.")
@click.option("--days", default=30, show_default=True, type=click.IntRange(1), help="Days of history, ending now.")
@click.option("--seed", default=42, show_default=True, type=int, help="Random seed (same seed + USAGE_TUI_NOW = same store).")
@click.option("--force", is_flag=True, help="Overwrite a store that is not a demo store.")
@db_option
@handles_errors
def sample(events: int, days: int, seed: int, force: bool, db: Path | None) -> None:
    """(Re)build a demo store: a realistic organization with usage dated up to now."""
    path = db or default_db()
    if store_exists(path):
        existing = open_store(path, create=True)
        identity_of(existing, None).require_admin("rebuild the store")
        require_writable(existing)
        if not force and existing.record_count() and existing.get_meta("demo") != "1":
            fail(f"{path} holds imported data; pass --force to replace it with the demo")
        existing.close()
    store = build_demo(path, events=events, days=days, seed=seed)
    viewer = identity_of(store, None).viewer
    click.echo(f"Demo store at {path}: {store.record_count()} records over {days} days. "
               f"You are {viewer} (org admin); try --as bob (member) or --as carol (team admin).")



@click.group("store")
def store_group() -> None:
    """The store itself: an SQLite file, or a central PostgreSQL store."""


@store_group.command("init")
@db_option
@handles_errors
def store_init(db: Path | str | None) -> None:
    """Create the store, or upgrade it to this version's schema; does nothing to a current one
    (safe to run again).

    For PostgreSQL (--db postgresql://…, or $USAGE_TUI_DB; libpq's PG* variables fill in
    what the DSN leaves out), run it as the role that is to own the store: it creates the
    tables in the DSN's schema (its search_path), with row-level security. Then load the
    directory as that role (`usage-tui directory load`), which grants each person's role
    what the policies let them see.
    """
    path = db or default_db()
    existed = store_exists(path) and not is_dsn(path)
    store = open_store(path, create=True)
    created = getattr(store, "created", not existed)
    click.echo(f"{'Created' if created else 'Store is current:'} {store.path} (schema {store.schema_version()}).")
