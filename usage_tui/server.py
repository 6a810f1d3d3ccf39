"""The HTTP budget endpoint for gateways (§5), on starlette + uvicorn.

The store is opened read-only (one SQLite connection per worker thread): checks keep answering
while another process imports, thanks to WAL.
"""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .budget import budget_status
from .store import Store


def create_server_app(db_path: str | Path) -> Starlette:
    store = Store(db_path, readonly=True)

    def check(user: str) -> tuple[int, dict, dict]:
        status = budget_status(store, user)
        if status is None:
            if user not in store.directory().users:
                return 404, {"error": f"unknown user {user!r}"}, {}
            return 200, {"user": user, "limit_usd": None, "over": False, "retry_after_s": None}, {}
        if status.over:
            return 429, status.as_json(), {"Retry-After": str(status.retry_after_s)}
        return 200, status.as_json(), {}

    async def budget_check(request: Request) -> JSONResponse:
        user = request.query_params.get("user", "").strip()
        if not user:
            return JSONResponse({"error": "missing query parameter: user"}, status_code=400)
        code, body, headers = await run_in_threadpool(check, user)
        return JSONResponse(body, status_code=code, headers=headers)

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    return Starlette(routes=[Route("/v1/budget/check", budget_check), Route("/healthz", healthz)])
