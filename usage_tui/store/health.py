"""Whether a store holds what serve's answers read (its /healthz): the schema version this
usage-tui knows, and each of its tables. A read that succeeds is not enough: a store whose
budget_overrides table is gone still answers `PRAGMA user_version`, then refuses every check."""

from __future__ import annotations

from . import POSTGRES, ROLLUP_TABLES, SCHEMA_VERSION

TABLES = ("meta", "sources", "records", "rejects", "dir_users", "dir_keys", "dir_agents", "budget_overrides",
          *ROLLUP_TABLES)
POSTGRES_TABLES = ("dir_team_admins", "dir_budgets", "granted_roles")  # what row-level security reads


def schema_problem(store) -> str | None:
    """What is wrong with the store's schema, in one line (None: nothing). Run it inside a read
    snapshot (store.reading): on PostgreSQL the first failed statement ends it."""
    version = store.schema_version()
    if version != SCHEMA_VERSION:
        return f"{store.path}: schema {version}, where this usage-tui reads schema {SCHEMA_VERSION}"
    tables = TABLES + (POSTGRES_TABLES if store.dialect == POSTGRES else ())
    for table in tables:
        try:  # a name from the lists above, never a value
            store.execute(f"SELECT 1 FROM {table} LIMIT 0").fetchall()
        except Exception as exc:
            return f"{store.path}: table {table} is missing or unreadable ({str(exc).strip().splitlines()[0]})"
    return None
