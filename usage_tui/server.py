"""The HTTP budget endpoint for gateways (§5), on starlette + uvicorn.

    GET /v1/budget/check?user=U   200 + status JSON, or 429 + the same JSON + Retry-After
    GET /v1/budget/auth           for nginx auth_request / Envoy ext_authz: 204, or 403 + Retry-After
    GET /healthz                  200 {"ok": true} while the store answers, else 503

The store is opened read-only with one SQLite connection per worker thread (checks run in
starlette's thread pool, never on the event loop), so checks keep answering while another
process imports, thanks to WAL. Nothing is cached: every answer reads the store as it is.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .budget import BudgetStatus, budget_status, no_budget_json
from .clock import ClockError
from .store import Store, StoreError

log = logging.getLogger("usage_tui.server")

# Answers depend on the moment they are asked: no cache between the gateway and us may keep one.
_NO_STORE = {"Cache-Control": "no-store"}
USER_HEADER = "X-Budget-User"
DENY_STATUS_HEADER = "X-Budget-Deny-Status"
_ANY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=_NO_STORE)


def create_server_app(db_path: str | Path) -> Starlette:
    store = Store(db_path, readonly=True)

    def lookup(user: str) -> tuple[BudgetStatus | None, bool]:
        """(status, known): known is whether the directory or a budget names the user."""
        status = budget_status(store, user)
        return status, status is not None or user in store.directory().users

    async def answer(user: str) -> tuple[BudgetStatus | None, bool] | JSONResponse:
        try:
            return await run_in_threadpool(lookup, user)
        except (StoreError, sqlite3.Error) as exc:  # a store that went away or broke: say so
            log.error("budget check for %r failed: %s", user, exc)
            return _error(503, f"usage store unavailable: {exc}")
        except (ClockError, ValueError) as exc:  # a bad USAGE_TUI_NOW or a bad stored window
            log.error("budget check for %r failed: %s", user, exc)
            return _error(500, str(exc))

    async def budget_check(request: Request) -> Response:
        user = request.query_params.get("user", "").strip()
        if not user:
            return _error(400, "missing query parameter: user")
        found = await answer(user)
        if isinstance(found, Response):
            return found
        status, known = found
        if status is None:
            if not known:
                return _error(404, f'unknown user "{user}" (not in the directory, no budget)')
            return JSONResponse(no_budget_json(user), headers=_NO_STORE)  # never over
        if status.over:
            return JSONResponse(status.as_json(), status_code=429,
                                headers={**_NO_STORE, "Retry-After": str(status.retry_after_s)})
        return JSONResponse(status.as_json(), headers=_NO_STORE)

    async def budget_auth(request: Request) -> Response:
        """nginx auth_request relays only 2xx (allow) and 401/403 (deny): anything else, a 429
        included, becomes a 500. So: 204 allowed, 403 over (nginx's error_page turns it into a
        429, Retry-After from auth_request_set). X-Budget-Deny-Status: 429 makes the denial a
        429 for proxies that relay it as is (Envoy ext_authz). Users without a budget, known
        or not, are allowed, as `budget check` does."""
        user = (request.headers.get(USER_HEADER) or request.query_params.get("user") or "").strip()
        if not user:
            return _error(400, f"missing user: the {USER_HEADER} header or the user query parameter")
        found = await answer(user)
        if isinstance(found, Response):
            return found
        status, _ = found
        if status is None or not status.over:
            return Response(status_code=204, headers=_NO_STORE)
        deny = 429 if request.headers.get(DENY_STATUS_HEADER, "").strip() == "429" else 403
        return JSONResponse(status.as_json(), status_code=deny,
                            headers={**_NO_STORE, "Retry-After": str(status.retry_after_s),
                                     "X-Budget-Status": "429"})

    async def healthz(request: Request) -> JSONResponse:
        try:
            await run_in_threadpool(store.schema_version)
        except (StoreError, sqlite3.Error) as exc:
            return JSONResponse({"ok": False, "error": str(exc)}, status_code=503, headers=_NO_STORE)
        return JSONResponse({"ok": True}, headers=_NO_STORE)

    return Starlette(routes=[
        Route("/v1/budget/check", budget_check, methods=["GET"]),
        # nginx's auth subrequest and Envoy's check keep the client's method (POST for an LLM
        # call), and Envoy appends the client's path to its path_prefix.
        Route("/v1/budget/auth", budget_auth, methods=_ANY_METHOD),
        Route("/v1/budget/auth/{rest:path}", budget_auth, methods=_ANY_METHOD),
        Route("/healthz", healthz, methods=["GET"]),
    ])
