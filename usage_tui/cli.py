"""The command line: a thin click layer over store, ingest, query and budget (§3)."""

from __future__ import annotations

import csv
import functools
import json
import os
import sqlite3
import sys
import textwrap
from pathlib import Path

import click
from platformdirs import user_data_dir

from . import clock
from .directory import DirectoryError, read_directory_doc
from .fmt import GRANULARITY_WORDS, METRIC_TITLES, compact, metric_value, money, percent, record_money
from .identity import Identity, OwnUsageOnly, resolve_identity
from .model import (
    FORMAT_NAMES,
    GRANULARITIES,
    GROUPINGS,
    HISTORY_ORDERS,
    MAX_LIMIT_USD,
    METRICS,
    REJECT_EXCERPT_CHARS,
    SCOPES,
    WINDOWS,
    QuerySpec,
    bounded_usd,
    excerpt,
)
from .query import QueryError, ScopeError, check_named_viewer, parse_date, run_query
from .store import (
    Store,
    StoreError,
    StorePermissionError,
    UsageStore,
    is_dsn,
    wait_words,
    write_access_problem,
)
from .store import open_store as open_engine
from .store import sqlite as store_module

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


def tz_option(f):
    return click.option("--tz", metavar="ZONE", default=None,
                        help="IANA time zone for days and weeks (default: the org's).")(f)


def open_store(db: Path | str | None, *, create: bool = False, readonly: bool = False) -> UsageStore:
    """The store, read-only when asked (readonly=True) or when this user cannot write it (a
    store shared with a group for reading, README "Who sees what"; a read-only folder or
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
            store = build_demo(path, events=20_000, days=30, seed=42)
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
        from .app import run_app
    except ImportError:  # pragma: no cover - the TUI ships with the package
        click.echo(ctx.get_help())
        return
    run_app(store, viewer)


# -- sample ---------------------------------------------------------------------------------------
def build_demo(path: Path | str, *, events: int, days: int, seed: int) -> UsageStore:
    from .ingest import BATCH_SIZE
    from .sample import demo_directory, generate

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


@cli.command()
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


# -- import ---------------------------------------------------------------------------------------
@cli.command("import")
@click.argument("path", metavar="FILE|DIR|-", required=False)
@click.option("--local", is_flag=True, help="Instead of PATH: every local coding agent's sessions (Claude Code, "
              "Codex, OpenCode, Gemini CLI, pi, Amp) from their default folders.")
@click.option("--format", "fmt", type=click.Choice(FORMAT_NAMES), default="auto", show_default=True,
              help="Input format; auto detects it from the content.")
@click.option("--user", metavar="U", default=None, help="User for records that name none.")
@click.option("--team", metavar="T", default=None, help="Team for records that name none.")
@db_option
@viewer_option
@handles_errors
def import_(path: str | None, local: bool, fmt: str, user: str | None, team: str | None, db: Path | None,
            as_user: str | None) -> None:
    """Import usage records from a file, a folder (recursively) or stdin (-).

    Bad lines are reported as FILE:LINE: reason and kept in the store's rejects table; the
    good lines still import. Exit 0 when every line was good, 1 when some were rejected,
    2 when the input could not be read at all. A member (not an org admin, not the store's
    owner) only adds their own usage: records of others, and replacements, are rejects.
    `--local` finds every local coding agent's sessions and imports them, a line per agent
    (exit 2 when none is found).
    """
    from .ingest import ImportFatal, import_path

    if (path is None) == (not local) or (local and fmt != "auto"):
        fail("import takes a FILE|DIR|- or --local (which detects each agent's format), not both, not neither")
    store = open_store(db, create=True)
    identity = identity_of(store, as_user)
    guard = None
    if not identity.may_administer:  # a member imports only their own usage (§2.4)
        if user is not None and user != identity.viewer:
            raise ScopeError(f"{identity.viewer} may not import usage attributed to {user}")
        guard = OwnUsageOnly(identity.viewer, store.directory())
        if team is not None and team not in guard.teams():
            raise ScopeError(f'{identity.viewer} may not import usage charged to team "{team}": only their own teams')
    if local:
        from .ingest import local as local_agents
        try:
            sys.exit(local_agents.run(store, out=click.echo, err=lambda text: click.echo(text, err=True), user=user,
                                      team=team, viewer=identity.viewer, guard=guard))
        except ImportFatal as exc:
            fail(str(exc))
    show_progress = sys.stderr.isatty() and path != "-"
    bar = None
    last = [0]

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if not show_progress or total < 1_000_000:
            return
        if bar is None:
            bar = click.progressbar(length=total, label="Importing", file=sys.stderr, show_eta=True)
            bar.__enter__()
        bar.update(done - last[0])
        last[0] = done

    def reject(j) -> None:
        click.echo(f"{j.source}:{j.line}: {j.reason}", err=True)

    try:
        summary = import_path(store, path, fmt, user=user, team=team,
                              viewer=identity.viewer, guard=guard,
                              on_reject=reject, on_progress=progress)
    except ImportFatal as exc:
        fail(str(exc))
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    for skipped in summary.skipped:
        click.echo(f"{skipped}: skipped (not a recognised usage file)", err=True)
    click.echo(summary.line())
    sys.exit(1 if summary.rejected else 0)


@cli.command()
@click.option("--source", metavar="FILE", default=None, help="Only lines rejected from FILE.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1), help="How many to show.")
@db_option
@viewer_option
@handles_errors
def rejects(source: str | None, limit: int, db: Path | None, as_user: str | None) -> None:
    """List rejected lines, newest first, as FILE:LINE: reason and the raw text (org admins
    and the store's owner: the lines may hold anyone's usage). An import keeps the first
    10,000 rejected lines of a file, then one saying how many more were not kept."""
    store = open_store(db)
    identity_of(store, as_user).require_admin("read the rejected lines")
    rows = store.rejects(source, limit)
    if not rows:
        click.echo("No rejected lines.")
    for row in rows:
        raw = row["raw"]  # bounded here too: older versions kept whole lines (what fits the
        if len(raw) > REJECT_EXCERPT_CHARS + 80:  # excerpt and its length note is shown as is)
            raw = excerpt(raw)
        click.echo(f"{row['source']}:{row['line']}: {row['reason']}\n    {raw}")


# -- store --------------------------------------------------------------------------------------------
@cli.group("store")
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


# -- directory ------------------------------------------------------------------------------------
@cli.group()
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
    from .sample import as_loaded_on

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


# -- spend ------------------------------------------------------------------------------------------
@cli.group()
def spend() -> None:
    """Headless reports: the same queries as the TUI."""


def _date_option(name: str, help_text: str):
    return click.option(name, metavar="DATE", default=None, help=help_text)


# The view options `spend summary` and `spend records` share (same names, same defaults).
def scope_option(f):
    return click.option("--scope", type=click.Choice(SCOPES), default=None,
                        help="Whose usage: yours, a team's, or the whole org's.  [default: personal, or team with --team]")(f)


def team_option(f):
    return click.option("--team", metavar="T", default=None, help="Team for --scope team (--team alone implies it).")(f)


def group_by_option(f):
    return click.option("--group-by", type=click.Choice(GROUPINGS), default="model", show_default=True,
                        help="Rows of the table (the grouping --focus names a row of).")(f)


def dates_options(f):
    f = _date_option("--until", "Last day, inclusive (default: today).")(f)
    return _date_option("--since", "First day, inclusive (default: 29 days before --until).")(f)


@spend.command("summary")
@scope_option
@team_option
@click.option("--metric", type=click.Choice(METRICS), default="cost", show_default=True, help="What to measure.")
@group_by_option
@click.option("--granularity", type=click.Choice(GRANULARITIES), default="daily", show_default=True,
              help="Series buckets: calendar days or ISO weeks.")
@dates_options
@click.option("--search", metavar="TEXT", default=None, help="Only rows whose key contains TEXT.")
@click.option("--focus", metavar="KEY", default=None, help="Series of one row only.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
@db_option
@viewer_option
@tz_option
@handles_errors
def spend_summary(scope, team, metric, group_by, granularity, since, until, search, focus, fmt,
                  db, as_user, tz) -> None:
    """Totals, the daily or weekly series, and rows grouped by one dimension."""
    scope = summary_scope(scope, team)
    store = open_store(db, readonly=True)
    spec = QuerySpec(
        viewer=identity_of(store, as_user).viewer, scope=scope, team=team, metric=metric,
        group_by=group_by, granularity=granularity,
        since=parse_date(since, "--since") if since else None,
        until=parse_date(until, "--until") if until else None,
        tz=tz, search=search, focus=focus,
    )
    result = run_query(store, spec, require_focus=True)
    if fmt == "json":
        click.echo(json.dumps(result.as_json(), indent=2))
    elif fmt == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        header = ["key", "cost_usd", "requests", "tokens", "prompt_tokens", "completion_tokens",
                  "cached_input_tokens", "context_tokens", "unpriced_requests", "share"]
        writer.writerow(header)
        for row in result.as_json()["rows"]:
            writer.writerow([row[h] for h in header])
    else:
        click.echo(render_table(result))


def summary_scope(scope: str | None, team: str | None) -> str:
    """--team alone means the team scope; --team with another scope is a contradiction."""
    if team is not None and scope not in (None, "team"):
        raise QueryError(f"--team {team} goes with --scope team, not --scope {scope}")
    return scope or ("team" if team is not None else "personal")


def render_table(result) -> str:
    spec = result.spec
    who = {"personal": f"personal ({spec.viewer})", "team": f"team {spec.team}", "org": "org"}[spec.scope]
    if spec.focus:  # as the TUI's graph title names it (DESIGN §4)
        who = f"{spec.group_by} {spec.focus}"
    title = f"{METRIC_TITLES[spec.metric]} per {GRANULARITY_WORDS[spec.granularity]} — {who}"
    t = result.totals
    lines = [
        f"{title} · {result.since} … {result.until} ({result.tz})",
        f"Total: {money(t.cost_usd)} · {t.requests:,} requests · {compact(t.tokens)} tokens "
        f"(prompt {compact(t.prompt_tokens)}, completion {compact(t.completion_tokens)}, "
        f"cached {compact(t.cached_input_tokens)}; context {compact(t.context_tokens)})",
        "",
    ]
    if not result.rows and result.totals.requests and spec.search:  # rows exist, none match
        lines.append(f"No rows match “{spec.search}” ({result.rows_in_view:,} "
                     f"row{'s' if result.rows_in_view != 1 else ''} in this view).")
    elif not result.rows:
        lines.append("No attributed usage in this view: broaden the date range (--since), change the "
                     "scope (--scope), or import data (usage-tui import).")
    else:
        key_width = max(len(spec.group_by), *(len(r.key) for r in result.rows))
        others = [m for m in METRICS if m != spec.metric]  # the metric first, then the other two
        lines.append(f"{spec.group_by.upper():<{key_width}}  {METRIC_TITLES[spec.metric].upper():>10}  {'SHARE':>6}  "
                     + "  ".join(f"{METRIC_TITLES[m].upper():>10}" for m in others))
        for r in result.rows:
            flag = " *" if r.totals.unpriced_requests else ""
            lines.append(f"{r.key:<{key_width}}  {metric_value(spec.metric, r.totals.metric(spec.metric)):>10}  "
                         f"{percent(r.share):>6}  "
                         + "  ".join(f"{metric_value(m, r.totals.metric(m)):>10}" for m in others) + flag)
    if t.unpriced_requests:
        lines.append("")
        lines.append(f"* {t.unpriced_requests:,} requests are unpriced (no price for their model): "
                     "costs shown leave them out. Add a [[prices]] entry to the directory.")
    return "\n".join(lines)


RECORDS_LIMIT_MAX = 1_000_000  # records one `spend records` prints, at most
RECORD_CSV_FIELDS = ["id", "ts", "local_time", "provider", "model", "user", "team", "request_user", "request_team",
                     "key", "agent", "prompt_tokens", "cached_input_tokens", "completion_tokens", "context_tokens",
                     "cache_write_tokens", "tokens", "requests", "cost_usd", "cost_logged_usd", "status", "verdict",
                     "attribution", "price_source", "source", "metadata"]


@spend.command("records")
@scope_option
@team_option
@group_by_option
@dates_options
@click.option("--search", metavar="TEXT", default=None,
              help="Only records whose id, model or user contains TEXT (case-insensitive).")
@click.option("--focus", metavar="KEY", default=None,
              help="Only the records of one row of --group-by (as `spend summary` names it).")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, RECORDS_LIMIT_MAX),
              help="How many records.")
@click.option("--order", type=click.Choice(HISTORY_ORDERS), default="time", show_default=True,
              help="Newest first, or costliest first.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv", "jsonl"]), default="table",
              show_default=True, help="json and jsonl carry every field, the attribution and the price source.")
@db_option
@viewer_option
@tz_option
@handles_errors
def spend_records(scope, team, group_by, since, until, search, focus, limit, order, fmt, db, as_user, tz) -> None:
    """The requests behind a view or one of its rows: newest (or costliest) first, with how
    each was attributed and priced. Same view options, scope rules and exit codes as
    `spend summary`; the records of a row add up to that row's figures there."""
    from zoneinfo import ZoneInfo

    from .history import Explainer
    from .query import check_scope, iter_history, plan_query

    scope = summary_scope(scope, team)
    store = open_store(db, readonly=True)
    directory_ = store.directory()
    spec = QuerySpec(
        viewer=identity_of(store, as_user).viewer, scope=scope, team=team, group_by=group_by,
        since=parse_date(since, "--since") if since else None,
        until=parse_date(until, "--until") if until else None, tz=tz, focus=focus,
    )
    check_scope(directory_, spec)  # refused before a line is printed (pages check it again)
    if focus is not None:  # a row that is not in the view is a typo, as in `spend summary` (exit 2)
        run_query(store, spec, require_focus=True)
    plan = plan_query(spec, directory_)  # the range and zone, as the summary reads them
    # Streamed, a page at a time, in every format: --limit 1000000 never holds a million
    # records in memory. One more than asked for says whether there are more.
    fetched = iter_history(store, spec, order=order, search=search, limit=limit + 1)
    more = False

    def records():
        nonlocal more
        for n, r in enumerate(fetched):
            if n == limit:
                more = True
                return
            yield r

    explainer = Explainer(directory_, store.pricer())
    zone_ = ZoneInfo(plan.tz)
    if fmt == "jsonl":
        for r in records():
            click.echo(json.dumps(explainer.as_json(r, zone_)))
    elif fmt == "json":
        scope_json: dict = {"kind": scope, **({"team": team} if scope == "team" else {})}
        head = {"viewer": spec.viewer, "scope": scope_json, "group_by": group_by, "focus": focus,
                "since": plan.since.isoformat(), "until": plan.until.isoformat(), "tz": plan.tz,
                "search": search, "order": order, "limit": limit}
        click.echo(json.dumps(head, indent=2)[:-2] + ',\n  "records": [', nl=False)
        for n, r in enumerate(records()):
            doc = textwrap.indent(json.dumps(explainer.as_json(r, zone_), indent=2), "    ")
            click.echo(("," if n else "") + "\n" + doc, nl=False)
        click.echo(f'\n  ],\n  "more": {json.dumps(more)}\n}}')
    elif fmt == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(RECORD_CSV_FIELDS)
        for r in records():
            doc = explainer.as_json(r, zone_)
            doc["source"] = "" if doc["source"] is None else doc["source"]["path"]
            doc["metadata"] = json.dumps(doc["metadata"], sort_keys=True) if doc["metadata"] else ""
            writer.writerow(["" if doc[k] is None else doc[k] for k in RECORD_CSV_FIELDS])
    else:
        for line in render_records(spec, plan, records(), zone_):
            click.echo(line)
        if more:
            click.echo(f"\nFirst {limit:,} records; more with --limit.")


RECORDS_WIDTH_ROWS = 1000  # rows the table's column widths are measured on; the rest stream


def render_records(spec: QuerySpec, plan, rows, tz):
    """The table's lines, as the records arrive: widths from the first RECORDS_WIDTH_ROWS."""
    from itertools import chain, islice

    from .history import record_time

    who = {"personal": f"personal ({spec.viewer})", "team": f"team {spec.team}", "org": "org"}[spec.scope]
    if spec.focus is not None:
        who += f", {spec.group_by} {spec.focus}"
    yield f"Records — {who} · {plan.since} … {plan.until} ({plan.tz})"
    yield ""

    def cells(r) -> tuple[str, ...]:
        return (f"{record_time(r, tz):%Y-%m-%d %H:%M:%S}", r.model, r.user or "(unattributed)",
                f"{r.prompt_tokens:,}", f"{r.cached_input_tokens:,}", f"{r.completion_tokens:,}",
                f"{r.context_tokens:,}", f"{r.requests:,}", record_money(r.cost_usd), str(r.status),
                r.verdict or "", r.id)

    rows = iter(rows)
    first = [cells(r) for r in islice(rows, RECORDS_WIDTH_ROWS)]
    if not first:
        yield ("No records in this view: broaden the date range (--since), change the scope "
               "(--scope), or check --focus / --search.")
        return
    header = ("TIME", "MODEL", "USER", "PROMPT", "CACHED", "COMPL", "CTX", "REQ", "COST", "STATUS", "VERDICT", "ID")
    widths = [max(len(row[i]) for row in (header, *first)) for i in range(len(header))]
    right = {3, 4, 5, 6, 7, 8}
    for row in chain([header], first, (cells(r) for r in rows)):
        yield "  ".join(c.rjust(w) if i in right else c.ljust(w)
                        for i, (c, w) in enumerate(zip(row, widths, strict=True))).rstrip()


def main() -> None:  # pragma: no cover
    cli()


# -- budgets ----------------------------------------------------------------------------------------
EXIT_OVER_BUDGET = 75  # EX_TEMPFAIL: try again later


@cli.group()
def budget() -> None:
    """Per-user budgets: status, set, and the gateway check (429 + Retry-After).

    Windows are calendar days, ISO weeks (from Monday) or months in the org's time zone; a
    user is over budget when their attributed cost in the current window is at or above the
    limit. A user without a budget is never over.
    """


def _duration(seconds: int) -> str:
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{days}d {hours:02d}:{minutes:02d}:{secs:02d}" if days else f"{hours:02d}:{minutes:02d}:{secs:02d}"


def _budget_state(s) -> str:
    if s.over:
        return f"429, Retry-After {s.retry_after_s}s ({_duration(s.retry_after_s)})"
    runs_out = s.projected_exhaustion
    return f"ok, runs out {runs_out:%Y-%m-%d %H:%M}" if runs_out else "ok"


def budget_table(statuses, tz: str) -> str:
    """One row per user; times are local to the org's zone, named in the header."""
    header = ("USER", "WINDOW", "SPENT", "LIMIT", "LEFT", "BURN/DAY", f"RESETS ({tz})", "STATUS")
    rows = [(s.user, s.window, money(s.spent_usd), money(s.limit_usd), money(s.remaining_usd),
             money(s.burn_rate_usd_per_day), f"{s.window_end:%Y-%m-%d %H:%M}", _budget_state(s))
            for s in statuses]
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header) - 1)]
    right = {2, 3, 4, 5}  # money columns
    lines = []
    for r in (header, *rows):
        cells = [f"{c:>{w}}" if i in right else f"{c:<{w}}" for i, (c, w) in enumerate(zip(r, widths, strict=False))]
        lines.append("  ".join([*cells, r[-1]]))
    return "\n".join(lines)


@budget.command("status")
@click.argument("user", required=False)
@click.option("--all", "all_users", is_flag=True, help="Every user with a budget (org admins only).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True,
              help="table for people; json: the status object (a list with --all).")
@db_option
@viewer_option
@handles_errors
def budget_status_cmd(user: str | None, all_users: bool, fmt: str, db: Path | None, as_user: str | None) -> None:
    """Spent / limit in the current window for USER (default: you).

    Members may read only their own budget (exit 3 otherwise); org admins and the store's
    owner (who set budgets) anyone's, and everyone's with --all. A user without a budget gets one line saying so (JSON: the same
    keys, null where there is nothing to say, "over": false) and exit 0; a user the directory
    does not know and who has no budget is an error (exit 2).
    """
    from .budget import budget_status, no_budget_json, users_with_budgets

    store = open_store(db, readonly=True)
    directory_ = store.directory()
    identity = identity_of(store, as_user)
    viewer = identity.viewer
    admin = identity.may_administer  # who may set budgets may read them
    if all_users:
        if user:
            fail("give USER or --all, not both")
        if not admin:
            raise ScopeError(f"{viewer} may not list every budget (org admins or the store's owner only)")
        statuses = [s for s in (budget_status(store, u) for u in users_with_budgets(store)) if s is not None]
        if fmt == "json":
            click.echo(json.dumps([s.as_json() for s in statuses], indent=2))
        else:
            click.echo(budget_table(statuses, directory_.timezone) if statuses else "No budgets set.")
        return
    user = user or viewer
    if user != viewer and not admin:  # refused before anything about USER is looked up
        raise ScopeError(f"{viewer} may not read {user}'s budget (your own only; org admins and the store's "
                         "owner see all)")
    status = budget_status(store, user)
    if status is None:
        if user != viewer and user not in directory_.users:
            fail(f'unknown user "{user}" (not in the directory, no budget)')
        if fmt == "json":
            click.echo(json.dumps(no_budget_json(user), indent=2))
        else:
            click.echo(f"{user} has no budget (never over).")
        return
    if fmt == "json":
        click.echo(json.dumps(status.as_json(), indent=2))
    else:
        click.echo(budget_table([status], directory_.timezone))


class LimitUsd(click.ParamType):
    """A budget limit: a finite number of USD, 0 to MAX_LIMIT_USD. click's FloatRange takes
    inf and nan (and 1e400, which float() reads as inf); a limit nobody can compare against
    must be refused here, not crash `budget check` later."""

    name = "usd"

    def convert(self, value, param, ctx):
        if isinstance(value, float):
            number = value
        else:
            try:
                number = float(value)
            except ValueError:
                self.fail(f"{value!r} is not a number", param, ctx)
        problem = bounded_usd(number, MAX_LIMIT_USD)
        if problem:
            self.fail(f"{problem.replace(' got inf', f' got {value}')}", param, ctx)
        return number


@budget.command("set")
@click.argument("user")
@click.option("--limit-usd", type=LimitUsd(), required=True,
              help="Limit in USD per window (0 blocks every request; at most 1,000,000,000).")
@click.option("--window", type=click.Choice(WINDOWS), required=True,
              help="Calendar window in the org's time zone (weekly starts on Monday).")
@db_option
@viewer_option
@handles_errors
def budget_set(user: str, limit_usd: float, window: str, db: Path | None, as_user: str | None) -> None:
    """Set USER's budget (org admins only, exit 3 otherwise).

    Recorded in the store and kept when the directory is loaded again, unless the directory
    names a budget for USER (then the directory's wins). USER must be in the directory.
    """
    store = open_store(db)
    directory_ = store.directory()
    identity = identity_of(store, as_user)
    identity.require_admin("set budgets")
    require_writable(store)
    viewer = identity.viewer
    if user not in directory_.users:  # a typo would otherwise limit nobody, silently
        fail(f'unknown user "{user}" (budgets are for users in the directory)')
    store.set_budget_override(user, limit_usd, window, viewer, clock.now().isoformat())
    click.echo(f"Budget for {user}: {money(limit_usd)} {window}.")


@budget.command("check")
@click.argument("user")
@db_option
@handles_errors
def budget_check(user: str, db: Path | None) -> None:
    """For gateways: is USER allowed now?

    Prints `200 OK` (exit 0), or `429 Too Many Requests` and `Retry-After: N` (N whole
    seconds until the window ends, rounded up) and exits 75. Anyone may ask: the answer says
    only allowed or not, and a user without a budget is never over: 200 OK. Who may learn
    who exists (org admins and the store's owner) gets exit 2 for a user the directory does
    not know; anyone else gets the no-budget answer, as /v1/budget/check without the admin
    token does. An unusable store is exit 2, which a gateway must treat as a refusal.
    """
    from .budget import budget_status

    store = open_store(db, readonly=True)
    identity = identity_of(store, None)
    may_enumerate = identity.may_administer
    if user != identity.viewer:
        require_full_view(store, identity, f"check {user}'s budget")
    status = budget_status(store, user)
    if status is None and may_enumerate and user not in store.directory().users:
        fail(f'unknown user "{user}" (not in the directory, no budget)')
    if status is None or not status.over:
        click.echo("200 OK")
        return
    click.echo("429 Too Many Requests")
    click.echo(f"Retry-After: {status.retry_after_s}")
    sys.exit(EXIT_OVER_BUDGET)


# -- serve ------------------------------------------------------------------------------------------
SERVE_TOKEN_ENV = "USAGE_TUI_SERVE_TOKEN"


def read_token(token_file: Path | None) -> str | None:
    """The admin token: the first line of --token-file, else $USAGE_TUI_SERVE_TOKEN, else None."""
    if token_file is not None:
        try:
            text = token_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            fail(f"--token-file {token_file}: {getattr(exc, 'strerror', None) or exc}")
        if not text:
            fail(f"--token-file {token_file}: the file is empty")
        return text.splitlines()[0].strip()
    return os.environ.get(SERVE_TOKEN_ENV, "").strip() or None


def listening_socket(host: str, port: int):
    """Bind before saying anything, so that a port in use is one error line (exit 2)."""
    import socket

    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        sock = socket.socket(family, socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        fail(f"cannot listen on {host}:{port}: {getattr(exc, 'strerror', None) or exc}")
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    return sock


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8787, show_default=True, type=click.IntRange(0, 65535),
              help="TCP port (0: any free port, named in the first line on stderr).")
@click.option("--token-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help=f"File holding the admin token (default: ${SERVE_TOKEN_ENV}); with it, "
                   "/v1/budget/check answers the full status JSON.")
@click.option("--allow-unknown-keys", is_flag=True,
              help="/v1/budget/auth allows requests without a gateway key or with an unknown one (default: 403).")
@click.option("--trust-user-header", is_flag=True,
              help="/v1/budget/auth takes the user from X-User: only behind a proxy that authenticates "
                   "users and sets that header itself.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Worker processes sharing the port (uvicorn's); each reads the store itself, so "
                   "every worker, and every serve process on the same store, gives the same answers.")
@click.option("--header-timeout", default=10.0, show_default=True, type=click.FloatRange(0.1, 3600), metavar="SECONDS",
              help="A connection whose request headers have not all arrived by then is closed (slow clients).")
@db_option
@handles_errors
def serve(host: str, port: int, token_file: Path | None, allow_unknown_keys: bool, trust_user_header: bool,
          workers: int, header_timeout: float, db: Path | None) -> None:
    """HTTP budget checks for gateways (starlette on uvicorn).

    GET /v1/budget/check?user=U answers 200 or 429 + Retry-After with the decision only
    ({user, over, retry_after_s, window_end}; an unknown user gets the no-budget answer), or,
    with Authorization: Bearer <admin token>, the status JSON (404 for an unknown user).
    /v1/budget/auth (any method) decides by the gateway key of the original request
    (Authorization: Bearer KEY or x-api-key; the key or its SHA-256 hex digest is a directory
    key id): 204, 403 + Retry-After when its owner is over budget, 403 for no or an unknown
    key. GET /healthz. The store is opened read-only and checks keep answering while imports run.
    With --workers N, N processes answer on one port (nothing is cached, so they all agree).
    """
    import uvicorn

    from .server import WORKER_APP, WORKER_CONFIG_ENV, create_server_app, worker_config
    from .server_limits import ServeConfig
    from .store.postgres import display_dsn

    path = db or default_db()
    token = read_token(token_file)
    store = open_store(path, readonly=True)  # fail now, with one line, if the store is unusable
    require_full_view(store, identity_of(store, None), "serve budget checks")
    store.close()
    sock = listening_socket(host, port)
    bound = sock.getsockname()[1]
    click.echo(f"Serving budget checks for {display_dsn(path) if is_dsn(path) else path} on http://{host}:{bound}/v1/budget/check?user=USER"
               f" (admin token: {'yes' if token else 'no'}"
               f"{f', {workers} workers' if workers > 1 else ''})", err=True)
    if workers == 1:
        app = create_server_app(path, token=token, allow_unknown_keys=allow_unknown_keys,
                                trust_user_header=trust_user_header)
        uvicorn.Server(ServeConfig(app, header_timeout=header_timeout)).run(sockets=[sock])
        return
    from uvicorn.supervisors import Multiprocess

    # The workers are spawned (fresh interpreters that inherit this environment) and build their
    # app from WORKER_APP; they all accept on the socket bound above.
    os.environ[WORKER_CONFIG_ENV] = worker_config(path, token=token, allow_unknown_keys=allow_unknown_keys,
                                                  trust_user_header=trust_user_header)
    config = ServeConfig(WORKER_APP, factory=True, workers=workers, header_timeout=header_timeout)
    Multiprocess(config, sockets=[sock]).run()
