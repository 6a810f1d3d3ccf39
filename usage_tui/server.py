"""The HTTP budget endpoint for gateways (§5), on starlette + uvicorn.

    GET /v1/budget/check?user=U   the decision: 200, or 429 + Retry-After; with the admin
                                  token (Authorization: Bearer T) the full status JSON
    ANY /v1/budget/auth           for nginx auth_request / Envoy ext_authz: the caller is the
                                  owner of the gateway key of the original request; 204, or
                                  403 + Retry-After (429 on request)
    GET /healthz                  200 {"ok": true} while the store answers and has the schema
                                  this usage-tui reads (version and tables), else 503
    POST /v1/usage                usage pushed by gateways (LiteLLM's generic API logger, native
                                  records), with the ingest token only (server_push.py)

Who may learn what (README, "Who sees what"): without the admin token, /check says only
allowed or not, and a user the directory does not know gets the answer of a user without a
budget, so nothing can be enumerated. /auth fails closed: no key, an unknown key, two keys, an
identity header given twice, or any error is a refusal (403, or 503 for an internal error),
never an allow.

The store is opened read-only with one SQLite connection per worker thread (checks run in
starlette's thread pool, never on the event loop), so checks keep answering while another
process imports, thanks to WAL. Every answer reads the store's data version as it is, from the
file its path names now (server_store.py: a store replaced is followed, one gone is a 503), and
answers from memory only while nothing was committed since (budget_cache.py): the same answer
as a read of the whole store, without its cost.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import clock
from .budget import BudgetStatus, no_budget_json
from .budget_cache import DEMOTED, BudgetCache, CachedView
from .server_push import push_route
from .server_store import ServedStore
from .server_writer import GroupWriter, RemoteWriter
from .store import StoreError
from .store.health import schema_problem

log = logging.getLogger("usage_tui.server")

# `serve --workers N` hands its settings to the worker processes (uvicorn spawns them and imports
# the app from an import string, so they cannot be given an app object) in this variable, as
# JSON: never on a command line, where any user on the host could read the admin token with `ps`.
WORKER_CONFIG_ENV = "_USAGE_TUI_SERVE_WORKER"
WORKER_APP = "usage_tui.server:worker_app"  # the factory uvicorn's workers call
# Database connections per serve process (the PostgreSQL store's pool; SQLite has none): 4
# workers hold at most 36 (each pool, plus the connection that opened the store), about a third of
# PostgreSQL's default max_connections.
POOL_SIZE = 8

# Answers depend on the moment they are asked: no cache between the gateway and us may keep one.
_NO_STORE = {"Cache-Control": "no-store"}
USER_HEADER = "X-User"  # read only with trust_user_header (a proxy that authenticates users)
API_KEY_HEADER = "x-api-key"
DENY_STATUS_HEADER = "X-Budget-Deny-Status"
_ANY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


class Refused(Exception):
    """/auth cannot tell whose request this is: a 403 saying why."""


class Ambiguous(Refused):
    """The request could be two callers' (two different gateway keys, or an identity header
    given twice): a 403 even with --allow-unknown-keys."""


# Each at most once in a request to /auth: given twice, which one the proxy or the upstream
# honours varies (first, last, or both joined), so whose request it is cannot be told.
IDENTITY_HEADERS = ("Authorization", API_KEY_HEADER, USER_HEADER)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers={**_NO_STORE, **(headers or {})})


def _over_headers(status: BudgetStatus) -> dict[str, str]:
    return {**_NO_STORE, "Retry-After": str(status.retry_after_s)}


def decision_json(user: str, status: BudgetStatus | None) -> dict:
    """What anyone may learn (§5): allowed or not, and until when. A user without a budget and a
    user nobody knows get the same answer, so the endpoint cannot be used to list users."""
    return {"user": user, "over": bool(status and status.over),
            "retry_after_s": status.retry_after_s if status else None,
            "window_end": status.window_end.isoformat() if status else None}


def bearer(request: Request) -> str:
    """The credential of `Authorization: Bearer …` ("" when there is none)."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def gateway_keys(request: Request) -> set[str]:
    """The gateway keys the original request names, as the proxy forwards them: from
    `Authorization: Bearer KEY` and from `x-api-key` (one each, or the same key in both)."""
    return {k for k in (bearer(request), request.headers.get(API_KEY_HEADER, "").strip()) if k}


def gateway_key(request: Request) -> str | None:
    """The one gateway key of the original request (None: none). Two different keys are refused
    (fail closed): which one the upstream would bill is not ours to guess, and picking one let
    an over-budget key pass beside a key that is not."""
    keys = gateway_keys(request)
    if len(keys) > 1:
        raise Ambiguous(f"two different gateway keys (Authorization: Bearer and {API_KEY_HEADER})")
    return next(iter(keys), None)


def create_server_app(db_path: str | Path, *, token: str | None = None, allow_unknown_keys: bool = False,
                      trust_user_header: bool = False, ingest: dict | None = None) -> Starlette:
    """`token`: the admin token that unlocks the full status JSON on /check (None: nobody).
    `ingest`: POST /v1/usage's settings (None: no such route, a 404), see push_settings.
    `allow_unknown_keys`: /auth allows requests without a key or with one the directory does
    not know (else 403). `trust_user_header`: /auth takes the user from X-User, for a proxy that
    authenticates users itself and sets that header (never pass a client's X-User through)."""
    stores = ServedStore(db_path, POOL_SIZE)
    cache = BudgetCache()
    expected = token.encode() if token else None

    def has_admin_token(request: Request) -> bool:
        return expected is not None and hmac.compare_digest(bearer(request).encode(), expected)

    def lookup(view: CachedView, user: str) -> tuple[BudgetStatus | None, bool]:
        """(status, known): known is whether the directory or a budget names the user."""
        status = view.status(user)
        return status, status is not None or user in view.directory.users

    def caller(view: CachedView, request: Request) -> str | None:
        """The user /auth decides for (None: a known key without an owner: no user budget)."""
        for name in IDENTITY_HEADERS:  # first: refused whatever else is sent
            if len(request.headers.getlist(name)) > 1:
                raise Ambiguous(f"{name} header given more than once")
        directory = view.directory
        key = gateway_key(request)  # two different keys are refused whatever else is sent
        if trust_user_header:
            user = request.headers.get(USER_HEADER, "").strip()
            if user:
                if user not in directory.users and view.budget(user) is None:
                    raise Refused(f'unknown user "{user}" in {USER_HEADER}')
                return user
        if key is None:
            raise Refused("no gateway key (Authorization: Bearer KEY or x-api-key)")
        found = directory.keys.get(key) or directory.keys.get(hashlib.sha256(key.encode()).hexdigest())
        if found is None:
            raise Refused("unknown gateway key")
        return found.owner

    def borrowing(fn, *args):
        """`fn(store, *args)` on a pooled connection of the store the path names now, in one
        read snapshot that first establishes that this connection sees everyone's usage: on the
        central store a role demoted while serve runs would otherwise read others' spend and
        budgets as nothing, and allow (fail open)."""
        store = stores.current()

        def answer():
            if not store.sees_everything():
                raise StoreError(DEMOTED)
            return fn(store, *args)

        with store.borrowed():
            return store.reading(answer)

    def deciding(fn, *args):
        """`fn(view, *args)`, `view` holding the budget cache's answers (budget_cache.py: exactly
        the uncached ones, never older than a commit seen, refused when serve's role does not
        see everyone's usage)."""
        return cache.answer(stores.current(), fn, *args)

    async def in_thread(fn, *args, via=None):
        """Run a store read off the event loop. Any failure is a 503 with a JSON error, which
        every documented hook treats as a refusal: an error never allows a request."""
        try:
            return await run_in_threadpool(via or borrowing, fn, *args)
        except Refused:
            raise
        except Exception as exc:
            log.error("budget answer failed: %s", exc)
            return _error(503, f"budget check unavailable: {exc}")

    def single_params(request: Request) -> dict[str, str] | JSONResponse:
        """The query parameters; one given twice is a 400 (?user=bob&user=alice names nobody)."""
        names = [k for k, _ in request.query_params.multi_items()]
        repeated = sorted({k for k in names if names.count(k) > 1})
        if repeated:
            return _error(400, f"query parameter given more than once: {', '.join(repeated)}")
        return dict(request.query_params)

    async def budget_check(request: Request) -> Response:
        params = single_params(request)
        if isinstance(params, Response):
            return params
        user = params.get("user", "").strip()
        if not user:
            return _error(400, "missing query parameter: user")
        found = await in_thread(lookup, user, via=deciding)
        if isinstance(found, Response):
            return found
        status, known = found
        over = status is not None and status.over
        if not has_admin_token(request):
            return JSONResponse(decision_json(user, status), status_code=429 if over else 200,
                                headers=_over_headers(status) if over else _NO_STORE)
        if status is None:
            if not known:
                return _error(404, f'unknown user "{user}" (not in the directory, no budget)')
            return JSONResponse(no_budget_json(user), headers=_NO_STORE)  # never over
        return JSONResponse(status.as_json(), status_code=429 if over else 200,
                            headers=_over_headers(status) if over else _NO_STORE)

    async def budget_auth(request: Request) -> Response:
        """nginx auth_request relays only 2xx (allow) and 401/403 (deny): anything else becomes
        a 500 at the client (a denial too). So: 204 allowed, 403 over budget (nginx's error_page
        turns it into a 429, Retry-After from auth_request_set), 403 without Retry-After for a
        caller nobody knows. X-Budget-Deny-Status: 429 makes the over-budget denial a 429 for
        proxies that relay it as is (Envoy ext_authz)."""

        def decide(view: CachedView) -> BudgetStatus | None:
            user = caller(view, request)
            return view.status(user) if user is not None else None

        try:
            status = await in_thread(decide, via=deciding)
        except Refused as exc:
            if allow_unknown_keys and not isinstance(exc, Ambiguous):
                return Response(status_code=204, headers=_NO_STORE)
            return _error(403, str(exc))
        if isinstance(status, Response):
            return status
        if status is None or not status.over:
            return Response(status_code=204, headers=_NO_STORE)
        deny = 429 if request.headers.get(DENY_STATUS_HEADER, "").strip() == "429" else 403
        return JSONResponse(decision_json(status.user, status), status_code=deny,
                            headers={**_over_headers(status), "X-Budget-Status": "429"})

    def schema_is_whole(store) -> None:
        problem = schema_problem(store)
        if problem:
            raise StoreError(problem)

    async def healthz(request: Request) -> JSONResponse:
        try:
            await run_in_threadpool(borrowing, schema_is_whole)
            clock.now()  # a bad USAGE_TUI_NOW fails every check: not healthy either
        except Exception as exc:
            return JSONResponse({"ok": False, "error": str(exc)}, status_code=503, headers=_NO_STORE)
        return JSONResponse({"ok": True}, headers=_NO_STORE)

    pushes = [push_route(stores, **push_settings(db_path, ingest))] if ingest else []
    return Starlette(routes=[
        *pushes,
        Route("/v1/budget/check", budget_check, methods=["GET"]),
        # nginx's auth subrequest and Envoy's check keep the client's method (POST for an LLM
        # call), and Envoy appends the client's path to its path_prefix.
        Route("/v1/budget/auth", budget_auth, methods=_ANY_METHOD),
        Route("/v1/budget/auth/{rest:path}", budget_auth, methods=_ANY_METHOD),
        Route("/healthz", healthz, methods=["GET"]),
    ])


def push_settings(db: str | Path, ingest: dict) -> dict:
    """push_route's arguments from `ingest` ({"token", "max_body", "queue_records"}, and for a
    worker of an SQLite store the parent writer's "writer_address" and "writer_key" (hex)): the
    writer is this process's own group writer unless the parent runs it (server_writer.py)."""
    if ingest.get("writer_address"):
        writer = RemoteWriter(ingest["writer_address"], bytes.fromhex(ingest["writer_key"]))
    else:
        writer = GroupWriter(db, queue_records=ingest["queue_records"])
    return {"ingest_token": ingest["token"], "max_body": ingest["max_body"], "writer": writer}


def worker_config(db: str | Path, *, token: str | None, allow_unknown_keys: bool,
                  trust_user_header: bool, ingest: dict | None = None) -> str:
    """What `serve --workers N` puts in WORKER_CONFIG_ENV for its workers."""
    return json.dumps({"db": str(db), "token": token, "allow_unknown_keys": allow_unknown_keys,
                       "trust_user_header": trust_user_header, "ingest": ingest})


def worker_app() -> Starlette:
    """The app of one `serve --workers N` worker: create_server_app with the settings the
    parent passed in WORKER_CONFIG_ENV. Without them it refuses to start (a worker must never
    fall back to defaults, e.g. serve without the flags the operator gave)."""
    raw = os.environ.get(WORKER_CONFIG_ENV)
    if not raw:
        raise RuntimeError(f"{WORKER_CONFIG_ENV} is not set: start workers with `usage-tui serve --workers N`")
    config = json.loads(raw)
    return create_server_app(config["db"], token=config["token"],
                             allow_unknown_keys=config["allow_unknown_keys"],
                             trust_user_header=config["trust_user_header"], ingest=config.get("ingest"))
