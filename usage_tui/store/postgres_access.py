"""Who may do what on the central store: the connected role (its login, whether it owns the
store), the refusals worded for a person, and the grants `directory load` maintains for the
directory's logins. The row-level security policies themselves are schema.py's.
"""

from __future__ import annotations

import re
from typing import Any

import psycopg
from psycopg import errors, sql

from ..directory import Directory
from .base import StoreError, StorePermissionError


def display_dsn(dsn: str) -> str:
    """The DSN for messages: without its password."""
    return re.sub(r"(password\s*=\s*)\S+", r"\1***", re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", dsn))


def describe(exc: psycopg.Error, where: str) -> StoreError:
    """A psycopg error as one line: a refused permission is a StorePermissionError (exit 3)."""
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if isinstance(exc, errors.InsufficientPrivilege):
        return StorePermissionError(f"{where}: the database refused: {text} (ask the store's owner for access)")
    if isinstance(exc, psycopg.OperationalError) and not isinstance(exc, errors.QueryCanceled):
        return StoreError(f"{where}: cannot use the PostgreSQL server: {text}{_first_steps(text)}")
    return StoreError(f"{where}: {text}")


def _first_steps(text: str) -> str:
    """What to do about a role or database that does not exist yet (docs/central-store.md)."""
    if role := re.search(r'role "([^"]+)" does not exist', text):
        return (f" (a superuser creates it: `createuser {role[1]}`, or CREATE ROLE {quoted_name(role[1])} LOGIN; "
                "each person's role is named as their login in the directory)")
    if db := re.search(r'database "([^"]+)" does not exist', text):
        return f" (create it owned by the store's owner role: `createdb -O OWNER {db[1]}`)"
    return ""


def quoted_name(name: str) -> str:
    """`name` as SQL writes an identifier (quoted when it must be)."""
    return name if re.fullmatch(r"[a-z_][a-z0-9_]*", name) else '"' + name.replace('"', '""') + '"'


def write_refused(where: str, role: str) -> StorePermissionError:
    """A write (import, directory load, budget set) by a role that may only read."""
    return StorePermissionError(
        f"{where}: role {role} may not write to this store: only the store's owner role and org admins' roles "
        "import, load the directory or set budgets (a member reads their own usage; ask an org admin to import "
        "it, or to make you one in the directory)")


# Whether the connected role sees every row: the store's owner, a superuser or a BYPASSRLS role,
# or an org admin by the directory as it is now.
_SEES_EVERYTHING = ("pg_get_userbyid(c.relowner) = current_user OR r.rolsuper OR r.rolbypassrls "
                    "OR usage_tui_is_org_admin(current_user::text)")
_ROLE_FACTS = "FROM pg_class c, pg_roles r WHERE c.oid = 'records'::regclass AND r.rolname = current_user"


class RowSecurity:
    """The role half of the PostgreSQL store (postgres.PostgresStore), on its connections."""

    conn: psycopg.Connection
    path: str
    notices: list[str]
    _errors: Any

    def identity_facts(self) -> dict[str, Any]:
        """Who is connected: the database role is the login (the server authenticated it), and
        the store's owner is the role owning its tables (or a superuser: both bypass row-level
        security and may read everything)."""
        with self._errors():
            login, owner = self.conn.execute(
                "SELECT current_user::text, pg_get_userbyid(c.relowner) = current_user "
                "OR (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) "
                "FROM pg_class c WHERE c.oid = 'records'::regclass").fetchone()
        return {"login": login, "owner": bool(owner)}

    def sees_everything(self) -> bool:
        """Whether row-level security hides nothing from the connected role: the owner, a
        superuser or a BYPASSRLS role, or an org admin by the directory as it is now. A decision
        about someone else made by a role that does not would read "no spend, no budget" and
        allow (serve checks this in each answer's snapshot: a role demoted while serve runs
        gets 503s, never 200s)."""
        with self._errors():
            (yes,) = self.conn.execute(f"SELECT {_SEES_EVERYTHING} {_ROLE_FACTS}").fetchone()
        return bool(yes)

    def decision_stamp(self) -> tuple[bool, tuple[int, int]]:
        """sees_everything() and data_version() in one statement (one round trip, one snapshot):
        all a budget answer from memory reads (budget_cache.py)."""
        with self._errors():
            yes, version = self.conn.execute(
                f"SELECT {_SEES_EVERYTHING}, (SELECT value FROM meta WHERE key = 'data_version') {_ROLE_FACTS}"
            ).fetchone()
        return bool(yes), (0, int(version) if version else 0)  # as PostgresStore.data_version

    def _creation_refused(self, refused: StoreError) -> StoreError:
        """Why the store's tables could not be created, said for the one creating it (the
        owner-to-be, whom "ask the store's owner" would send in a circle), or `refused` as it is."""
        with self._errors():
            role, schema, database, db_owner, may_create = self.conn.execute(
                "SELECT current_user::text, current_schema()::text, current_database()::text, "
                "pg_get_userbyid(d.datdba)::text, has_schema_privilege(current_schema(), 'CREATE') "
                "FROM pg_database d WHERE d.datname = current_database()").fetchone()
        if schema is None:
            return StorePermissionError(
                f"{self.path}: role {role} has no schema to create the store in (the search_path names none that "
                f"exists): create one it owns, `CREATE SCHEMA usage AUTHORIZATION {quoted_name(role)}`, and name it "
                "in --db with ?options=-csearch_path%3Dusage")
        if may_create:
            return refused
        if schema == "public":
            return StorePermissionError(
                f"{self.path}: role {role} may not create the store's tables in schema public of database {database}, "
                f"which belongs to {db_owner} (since PostgreSQL 15 only a database's owner creates tables in its "
                f"public schema): make {role} its owner, ALTER DATABASE {quoted_name(database)} OWNER TO "
                f"{quoted_name(role)} (as {db_owner} or a superuser), or create the store's database owned by it "
                f"from the start, `createdb -O {role} NAME`; then run this again")
        return StorePermissionError(
            f"{self.path}: role {role} may not create the store's tables in schema {schema}: make it the schema's "
            f"owner (ALTER SCHEMA {quoted_name(schema)} OWNER TO {quoted_name(role)}, as its owner or a superuser), "
            "then run this again")

    def _refuse_hidden_schema(self) -> None:
        """A schema on the search_path that exists but this role may not use looks like no
        store at all (PostgreSQL hides it): say what it is, a missing permission (exit 3)."""
        role, hidden = self.conn.execute(
            "SELECT current_user::text, array_agg(nspname::text ORDER BY nspname) FILTER "
            "(WHERE NOT has_schema_privilege(oid, 'USAGE')) FROM pg_namespace "
            "WHERE nspname = ANY(string_to_array(replace(current_setting('search_path'), ' ', ''), ','))"
        ).fetchone()
        if hidden:
            raise StorePermissionError(
                f"{self.path}: role {role} may not use schema {', '.join(hidden)} (no USAGE privilege): the "
                "store's owner grants it to the directory's logins with `usage-tui directory load`")

    def _may_load(self, directory: Directory) -> None:
        facts = self.identity_facts()
        if not facts["owner"]:
            # An org admin's load goes through the policies, which read dir_users as it is being
            # written: it must leave them an org admin (else its later rows would be refused).
            me = directory.user_by_login(facts["login"])
            if me is None or not directory.is_org_admin(me.id):
                raise StorePermissionError(f"{self.path}: role {facts['login']} would not be an org admin in this "
                                           "directory: only the store's owner role may load it")
        self.notices = []

    def _loaded(self, conn: psycopg.Connection, directory: Directory) -> None:
        self.notices = self._maintain_grants(conn, directory)

    def _maintain_grants(self, conn: psycopg.Connection, directory: Directory) -> list[str]:
        """Give each directory login's role what the policies let it see: USAGE on the schema
        and SELECT on its tables (row-level security narrows the rows); org admins' roles also
        write. Roles granted before and no longer listed (or no longer admins) lose it. Only
        the owner may grant: anyone else's load says so. Returns lines for the user."""
        if not self.identity_facts()["owner"]:
            return ["grants unchanged: only the store's owner role maintains them (run `usage-tui "
                    "directory load` as that role to give new logins access)"]
        schema = sql.Identifier(conn.execute("SELECT current_schema()").fetchone()[0])
        wanted = {u.login: directory.is_org_admin(u.id) for u in directory.users.values() if u.login}
        me = conn.execute("SELECT current_user::text").fetchone()[0]
        wanted.pop(me, None)
        roles = {r for (r,) in conn.execute("SELECT rolname::text FROM pg_roles WHERE rolname = ANY(%s)",
                                            (list(wanted),))}
        granted = dict(conn.execute("SELECT role, org_admin FROM granted_roles").fetchall())
        writes = sql.SQL("GRANT INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {s} TO {r}; "
                         "GRANT USAGE ON ALL SEQUENCES IN SCHEMA {s} TO {r}")
        unwrites = sql.SQL("REVOKE INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {s} FROM {r}; "
                           "REVOKE USAGE ON ALL SEQUENCES IN SCHEMA {s} FROM {r}")
        for role in granted:
            if role not in roles and conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
                conn.execute(sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA {s} FROM {r}; REVOKE ALL ON ALL "
                                     "SEQUENCES IN SCHEMA {s} FROM {r}; REVOKE USAGE ON SCHEMA {s} FROM {r}")
                             .format(s=schema, r=sql.Identifier(role)))
        for role in sorted(roles):
            r = sql.Identifier(role)
            conn.execute(sql.SQL("GRANT USAGE ON SCHEMA {s} TO {r}; GRANT SELECT ON ALL TABLES IN SCHEMA {s} TO {r}")
                         .format(s=schema, r=r))
            conn.execute((writes if wanted[role] else unwrites).format(s=schema, r=r))
        conn.execute("DELETE FROM granted_roles")
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO granted_roles VALUES (%s, %s)", [(r, wanted[r]) for r in sorted(roles)])
        missing = sorted(set(wanted) - roles)
        if not missing:
            return []
        return [f"no database role for the login{'s' if len(missing) > 1 else ''} {', '.join(missing)}: "
                "create it (CREATE ROLE … LOGIN) and load the directory again to grant it access"]
