"""Reading LiteLLM's own database: the proxy's `"LiteLLM_SpendLogs"` table, read-only, in pages
in ("startTime", request_id) order (the table's own composite index, schema.prisma
`@@index([startTime, request_id])`). The table's shape: tests/data/litellm_spendlogs_ddl.sql
(from LiteLLM's migrations, with their provenance).

Only the columns the LiteLLM importer maps are read (never `messages` or `response`, which hold
prompts), and of `metadata` only what it reads: the provider's usage (`usage_object`, for cache
reads and writes) and a failure's `error_information` and `status`. Columns that an older proxy's
table lacks (`status`, `agent_id`, `session_id`…) are left out of the select: the importer treats
them as absent. Every value is a bound parameter; the table and column names are constants
(quoted as identifiers), the schema a name the user gave (quoted by psycopg's sql.Identifier).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

TABLE = "LiteLLM_SpendLogs"
# (column, what the importer calls it): the row dicts carry the table's own names.
_WANTED = ("request_id", "startTime", "model", "model_group", "custom_llm_provider", "user", "api_key", "team_id",
           "agent_id", "end_user", "spend", "prompt_tokens", "completion_tokens", "status", "cache_hit",
           "request_tags", "session_id", "call_type")
_REQUIRED = ("request_id", "startTime")
# What the importer reads of `metadata` (ingest/litellm.py: _cache_tokens, _status).
_METADATA = ("jsonb_strip_nulls(jsonb_build_object('usage_object', {m}->'usage_object', "
             "'error_information', {m}->'error_information', 'status', {m}->'status'))")
CONNECT_TIMEOUT_S = 10
STATEMENT_TIMEOUT_MS = 120_000  # a page that takes longer is a database in trouble: say so


class SpendLogsError(Exception):
    """LiteLLM's database cannot be read: one line saying why (bad DSN, refused, no table…)."""


@dataclass(frozen=True)
class Source:
    """A LiteLLM database as given on the command line. `shown` is the DSN without its password
    (messages, and the name the store keeps its position under)."""
    conninfo: str
    schema: str | None
    shown: str


def parse_source(dsn: str) -> Source:
    """`postgresql://user:pw@host:port/db[?schema=name&…]`: LiteLLM's DATABASE_URL is a Prisma URL,
    whose `schema` parameter libpq does not know; it names the schema of LiteLLM's tables."""
    parts = urlsplit(dsn.strip())
    if parts.scheme not in ("postgresql", "postgres") or not parts.netloc and not parts.path.strip("/"):
        raise SpendLogsError("--from must be a PostgreSQL URL, postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE "
                             "(LiteLLM's DATABASE_URL)")
    try:
        query = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
        parts.port  # noqa: B018 - a port that is not a number raises here, not at connect time
    except ValueError as exc:
        raise SpendLogsError(f"--from is not a valid PostgreSQL URL: {exc}") from None
    schema = next((v for k, v in query if k == "schema"), None) or None
    rest = [(k, v) for k, v in query if k != "schema"]
    conninfo = urlunsplit(parts._replace(query=urlencode(rest)))
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = (quote(parts.username, safe="") + "@" if parts.username else "") + host
    if parts.port:
        netloc += f":{parts.port}"
    shown_query = urlencode([(k, v) for k, v in query if k != "password"])
    shown = urlunsplit((parts.scheme, netloc, parts.path, shown_query, ""))
    return Source(conninfo, schema, shown)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return re.sub(r"\s+", " ", text[0]) if text else type(exc).__name__


class SpendLogs:
    """A read-only connection to LiteLLM's database and the queries the sync makes."""

    def __init__(self, source: Source) -> None:
        from psycopg import sql

        self.source = source
        self._sql = sql
        self.table = (sql.Identifier(source.schema, TABLE) if source.schema else sql.Identifier(TABLE))
        self.where = f'"{source.schema}"."{TABLE}"' if source.schema else f'"{TABLE}"'
        self.conn = None
        self.reconnect()

    def reconnect(self) -> None:
        """A new connection (the first, or after the server went away: --follow goes on)."""
        import psycopg
        from psycopg.rows import dict_row

        self.close()
        try:
            self.conn = psycopg.connect(self.source.conninfo, connect_timeout=CONNECT_TIMEOUT_S, row_factory=dict_row,
                                        options=f"-c statement_timeout={STATEMENT_TIMEOUT_MS}")
        except psycopg.Error as exc:
            raise SpendLogsError(f"{self.source.shown}: cannot connect ({_first_line(exc)})") from None
        except ValueError as exc:  # a conninfo libpq cannot parse
            raise SpendLogsError(f"--from is not a valid PostgreSQL URL: {_first_line(exc)}") from None
        # Read-only in the database's own terms: a sync can never write to LiteLLM's tables.
        self.conn.read_only = True
        self.conn.autocommit = True  # each query its own snapshot; no transaction left open between polls
        self._select = self._select_list()  # (columns an upgraded proxy added meanwhile, too)

    @property
    def broken(self) -> bool:
        return self.conn is None or self.conn.closed or self.conn.broken

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()

    def _run(self, query: Any, params: Sequence = ()) -> list[dict[str, Any]]:
        import psycopg
        from psycopg import errors

        try:
            return self.conn.execute(query, params).fetchall()
        except errors.UndefinedTable:
            raise SpendLogsError(f"{self.source.shown}: no table {self.where} (is this LiteLLM's database? "
                                 "name its schema as ?schema=NAME, as in LiteLLM's DATABASE_URL)") from None
        except errors.InsufficientPrivilege as exc:
            raise SpendLogsError(f"{self.source.shown}: permission denied reading {self.where} "
                                 f"({_first_line(exc)}); grant this role SELECT on it") from None
        except psycopg.OperationalError as exc:
            raise SpendLogsError(f"{self.source.shown}: {_first_line(exc)}") from None
        except psycopg.Error as exc:
            raise SpendLogsError(f"{self.source.shown}: reading {self.where} failed: {_first_line(exc)}") from None

    def _select_list(self) -> Any:
        sql = self._sql
        present = {r["column_name"]: r["data_type"] for r in self._run(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = coalesce(%s, current_schema()) AND table_name = %s", (self.source.schema, TABLE))}
        if not present:
            self._run(sql.SQL("SELECT 1 FROM {} LIMIT 0").format(self.table))  # the precise error (no table, refused)
            raise SpendLogsError(f"{self.source.shown}: no table {self.where}")
        missing = [c for c in _REQUIRED if c not in present]
        if missing:
            raise SpendLogsError(f"{self.source.shown}: {self.where} has no column {', '.join(missing)}: "
                                 "not LiteLLM's spend logs table")
        fields = [sql.Identifier(c) for c in _WANTED if c in present]
        if present.get("metadata") in ("jsonb", "json"):
            meta = sql.SQL(_METADATA).format(m=sql.SQL("metadata::jsonb"))
            fields.append(sql.SQL("{} AS metadata").format(meta))
        return sql.SQL(", ").join(fields)

    def page_after(self, start: datetime | None, request_id: str | None, limit: int) -> list[dict[str, Any]]:
        """Up to `limit` rows after the position (start, request_id) in ("startTime", request_id)
        order; with no request_id, the rows from `start` on (None: from the first)."""
        sql = self._sql
        if start is None:
            query = sql.SQL('SELECT {} FROM {} ORDER BY "startTime", request_id LIMIT %s')
            params: tuple = (limit,)
        elif request_id is None:
            query = sql.SQL('SELECT {} FROM {} WHERE "startTime" >= %s ORDER BY "startTime", request_id LIMIT %s')
            params = (start, limit)
        else:
            query = sql.SQL('SELECT {} FROM {} WHERE ("startTime", request_id) > (%s, %s) '
                            'ORDER BY "startTime", request_id LIMIT %s')
            params = (start, request_id, limit)
        return self._run(query.format(self._select, self.table), params)

    def ids_between(self, low: datetime, high: datetime, high_id: str) -> list[dict[str, Any]]:
        """request_id and startTime of the rows from `low` up to the position (high, high_id):
        the overlap window, where rows committed late (an older startTime) turn up. Read from the
        composite index alone."""
        query = self._sql.SQL('SELECT request_id, "startTime" FROM {} WHERE "startTime" >= %s '
                              'AND ("startTime", request_id) <= (%s, %s)').format(self.table)
        return self._run(query, (low, high, high_id))

    def rows_by_id(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        if not ids:
            return []
        query = self._sql.SQL("SELECT {} FROM {} WHERE request_id = ANY(%s) "
                              'ORDER BY "startTime", request_id').format(self._select, self.table)
        return self._run(query, (list(ids),))
