"""Whether a store holds what serve's answers read (its /healthz): the schema version this
usage-tui knows, and each of its tables. A read that succeeds is not enough: a store whose
budget_overrides table is gone still answers `PRAGMA user_version`, then refuses every check."""

from __future__ import annotations

from .dialect import POSTGRES
from .schema import (
    BUDGET_OVERRIDES,
    CURSORS,
    DIR_AGENTS,
    DIR_BUDGETS,
    DIR_KEYS,
    DIR_TEAM_ADMINS,
    DIR_USERS,
    GRANTED_ROLES,
    META,
    RECORDS,
    REJECTS,
    ROLLUP_TABLES,
    SCHEMA_VERSION,
    SOURCES,
)

TABLES = (*(t.name for t in (META, SOURCES, RECORDS, REJECTS, DIR_USERS, DIR_KEYS, DIR_AGENTS, BUDGET_OVERRIDES,
                             CURSORS)), *ROLLUP_TABLES)
POSTGRES_TABLES = tuple(t.name for t in (DIR_TEAM_ADMINS, DIR_BUDGETS, GRANTED_ROLES))  # row-level security's


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
