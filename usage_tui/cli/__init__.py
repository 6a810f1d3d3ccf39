"""The command line: a thin click layer over store, ingest, query and budget (§3), one module
per command group; this one is the root group `usage-tui` (also `kt`), which with no command
opens the TUI."""

from __future__ import annotations

from pathlib import Path

import click

from ..query import QueryError, ScopeError
from ..store import StoreError, StorePermissionError
from . import (
    budget,
    directory,
    imports,
    mcp,
    serve,
    spend,
    sync_providers,  # noqa: F401 - registers sync openai/anthropic (issue 25)
)
from . import store as store_commands
from . import sync as sync_commands
from .common import (
    EXIT_SCOPE,
    OneLineErrorsGroup,
    _defaults_for,
    db_option,
    default_db,
    fail,
    identity_of,
    open_store,
    store_exists,
    viewer_option,
)


@click.group(cls=OneLineErrorsGroup, invoke_without_command=True,
             context_settings={"help_option_names": ["-h", "--help"]})
@db_option
@viewer_option
@click.version_option(package_name="usage-tui")
@click.pass_context
def cli(ctx: click.Context, db: Path | None, as_user: str | None) -> None:
    """usage-tui: a keyboard-driven cost explorer for attributed AI usage.

    With no command, opens the TUI (building the demo store on first run). --db and --as given
    here apply to the command that follows too.
    """
    if ctx.invoked_subcommand is not None:
        given = {k: v for k, v in (("db", db), ("as_user", as_user)) if v is not None}
        if given:
            ctx.default_map = {**(ctx.default_map or {}), **_defaults_for(ctx.command, given)}
        return
    path = db or default_db()
    # One store for the whole run: the one that built the demo, or the one that resolved who
    # asks, is the one the TUI reads.
    try:
        if not store_exists(path):
            click.echo(f"No usage store at {path}: building the demo store (usage-tui sample)…", err=True)
            store = store_commands.build_demo(path, events=20_000, days=30, seed=42)
        else:
            store = open_store(path)
        viewer = identity_of(store, as_user).viewer
    except (ScopeError, StorePermissionError) as exc:
        fail(str(exc), EXIT_SCOPE)
    except StoreError as exc:
        fail(str(exc))
    except QueryError as exc:  # --as naming nobody the directory knows
        fail(str(exc))
    try:
        from ..app import run_app
    except ImportError:  # pragma: no cover - the TUI ships with the package
        click.echo(ctx.get_help())
        return
    run_app(store, viewer)


for command in (store_commands.sample, imports.import_, imports.rejects, store_commands.store_group, directory.directory,
                spend.spend, budget.budget, serve.serve, sync_commands.sync, mcp.mcp):
    cli.add_command(command)
from . import sync_litellm  # noqa: E402, F401 (registers `sync litellm` on the sync group)


def main() -> None:  # pragma: no cover
    cli()

