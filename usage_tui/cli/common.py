"""What every command shares: the store option and opening the store, who asks, one-line
errors with the documented exit codes, and the click options built from the view options."""

from __future__ import annotations

import functools
import os
import sqlite3
import sys
from pathlib import Path

import click
from platformdirs import user_data_dir

from .. import clock
from ..directory import DirectoryError
from ..identity import Identity, resolve_identity
from ..query import QueryError, ScopeError, check_named_viewer
from ..store import (
    Store,
    StoreError,
    StorePermissionError,
    UsageStore,
    is_dsn,
    wait_words,
    write_access_problem,
)
from ..store import open_store as open_engine
from ..store import sqlite as store_module
from ..view_options import TZ, ViewOption

EXIT_USAGE = 2
EXIT_SCOPE = 3


def default_db() -> Path | str:
    env = os.environ.get("USAGE_TUI_DB")
    if env:
        return env if is_dsn(env) else Path(env)
    return Path(user_data_dir("usage-tui", appauthor=False)) / "usage.db"


def store_exists(db: Path | str) -> bool:
    """Whether there is a store to open: an SQLite file; a server is asked when opened."""
    return is_dsn(db) or Path(db).exists()


class StoreLocation(click.ParamType):
    """--db: an SQLite file (a Path) or a PostgreSQL DSN (`postgresql://…`, kept as text: a
    Path would fold its `//`)."""

    name = "path|dsn"

    def convert(self, value, param, ctx):
        if isinstance(value, Path) or is_dsn(value):
            return value
        return click.Path(dir_okay=False, path_type=Path).convert(value, param, ctx)


def fail(message: str, code: int = EXIT_USAGE) -> None:
    click.echo(f"usage-tui: error: {message}", err=True)
    sys.exit(code)


def notice(message: str) -> None:
    """A line for the user on stderr that is not an error (stdout stays the command's answer)."""
    click.echo(f"usage-tui: {message}", err=True)


# -- shared options (as sqlite-utils does: every command takes them after its name) ------------
def db_option(f):
    return click.option("--db", "db", type=StoreLocation(), default=None,
                        help="Usage store: an SQLite file, or a PostgreSQL server as postgresql://… "
                             "(default: $USAGE_TUI_DB, else the user data directory).")(f)


def viewer_option(f):
    return click.option("--as", "as_user", metavar="USER", default=None,
                        help="Act as USER (also $USAGE_TUI_USER): org admins and the store's owner only "
                             "(default: the directory user of your OS login).")(f)


def click_option(option: ViewOption):
    """The click option of a view option (usage_tui/view_options.py): `--group-by` for group_by,
    with its choices or bounds, default, metavar and help."""
    if option.choices is not None:
        kind = click.Choice(option.choices)
    elif option.type is int:
        kind = click.IntRange(option.min, option.max)
    else:
        kind = None
    extra = {"metavar": option.metavar} if option.metavar else {}
    if option.type is bool:
        return click.option(option.flag, option.name, is_flag=True, default=bool(option.default), help=option.help)
    if option.show_default:
        extra["show_default"] = True
    return click.option(option.flag, option.name, type=kind, default=option.default, help=option.help, **extra)


def view_options(options: tuple[ViewOption, ...]):
    """Every option of `options`, listed in the help in that order."""
    def decorate(f):
        for option in reversed(options):
            f = click_option(option)(f)
        return f
    return decorate


tz_option = click_option(TZ)


def open_store(db: Path | str | None, *, create: bool = False, readonly: bool = False) -> UsageStore:
    """The store, read-only when asked (readonly=True) or when this user cannot write it (a
    store shared with a group for reading, docs/who-sees-what.md; a read-only folder or
    mount): commands that write say so with `require_writable` once they know who asks. A
    store to create must be writable here. On PostgreSQL the server decides who may write."""
    path = db or default_db()
    try:
        if is_dsn(path):
            return open_engine(path, create=create, for_reading=readonly, on_upgrade=notice)
        if readonly or (not create and path.exists() and write_access_problem(Path(path))):
            return Store.for_reading(path, on_upgrade=notice)
        problem = write_access_problem(Path(path))
        if problem:
            fail(f"cannot write to the store: {problem}")
        return Store(path, create=create, on_upgrade=notice)
    except StoreError as exc:  # a role refused by the server is a scope matter (exit 3)
        fail(str(exc), EXIT_SCOPE if isinstance(exc, StorePermissionError) else EXIT_USAGE)


def require_writable(store: UsageStore) -> None:
    """Exit 2 naming the missing permission when a command that writes got a read-only store."""
    if store.readonly:
        fail(f"cannot write to the store: {write_access_problem(store.path) or f'{store.path}: opened read-only'}")


def require_full_view(store: UsageStore, identity: Identity, action: str) -> None:
    """On the central store, row-level security hides other people's spend and budgets from a
    member's role: a decision about someone else made from what it sees would say "allowed"
    (fail open). Such decisions need the owner role or an org admin's (exit 3 otherwise)."""
    if getattr(store, "row_security", False) and not identity.may_administer:
        raise ScopeError(f"{identity.viewer} may not {action} on the central store: row-level security hides "
                         "others' usage from this role (connect as the store's owner role or an org admin)")


def identity_of(store: UsageStore, as_user: str | None) -> Identity:
    """Who runs the command (§2.4): a refused impersonation is a ScopeError (exit 3); an allowed
    one naming a user the directory does not know is a typo (exit 2, naming the closest users),
    never an empty report."""
    identity = resolve_identity(store.directory(), store.path, as_user, **store.identity_facts())
    if identity.impersonating:
        check_named_viewer(store.directory(), identity.viewer, "--as" if as_user else "USAGE_TUI_USER")
    return identity


def handles_errors(f):
    """One clear line and the documented exit code instead of a traceback."""

    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        try:
            return f(*args, **kwargs)
        except (ScopeError, StorePermissionError) as exc:
            fail(str(exc), EXIT_SCOPE)
        except (QueryError, StoreError, DirectoryError, clock.ClockError) as exc:
            fail(str(exc))
        except sqlite3.Error as exc:
            if isinstance(exc, sqlite3.OperationalError) and ("locked" in str(exc) or "busy" in str(exc)):
                # the wait every store of this command had (open_store leaves it at the default)
                waited = wait_words(store_module.BUSY_TIMEOUT_MS)
                fail(f"the store is busy: another process has been writing to it for over {waited} "
                     f"({exc}); batches already committed are kept, try again when it is done")
            fail(f"the store could not be used: {exc}")

    return wrapper


def _usage_error(exc: click.UsageError) -> None:
    if isinstance(exc, click.exceptions.NoArgsIsHelpError):
        raise exc  # a group named without its command: click shows the group's help
    hint = f" (see {exc.ctx.command_path} --help)" if exc.ctx is not None else ""
    fail(f"{exc.format_message()}{hint}")


class OneLineErrorsGroup(click.Group):
    """Usage errors as one line on stderr and exit 2, like every other error (§3), instead of
    click's block of usage, hint and message. Only the top group needs it: the commands below
    are parsed inside its invoke."""

    def make_context(self, info_name, args, parent=None, **extra):
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as exc:
            _usage_error(exc)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            _usage_error(exc)


def _defaults_for(command: click.Command, values: dict) -> dict:
    """A click default_map giving every command below `command` these option values, where it
    has the option (so `usage-tui --db X spend summary` uses X, as `spend summary --db X` does)."""
    names = {p.name for p in command.params}
    found: dict = {k: v for k, v in values.items() if k in names}
    for name, sub in getattr(command, "commands", {}).items():
        found[name] = _defaults_for(sub, values)
    return found
