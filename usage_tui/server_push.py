"""The POST /v1/usage route (issue 24): who may push, and the answer after the commit.

It exists only when an ingest token is configured (`serve --ingest-token-file`, or
$USAGE_TUI_INGEST_TOKEN): without one the path is a 404. The request must carry
`Authorization: Bearer <ingest token>`, compared in constant time; anything else is a 401 and
nothing of the body is read or stored. The ingest token grants nothing else (the budget routes
never look at it) and the admin token does not grant ingest (serve refuses the same value for
both).

Answers: 200 {"imported", "replaced", "unchanged", "rejected": [{"index", "reason"}]} once the
transaction holding the body committed; 400 for a body that is not JSON; 413 over --max-body;
503 + Retry-After when the writer is behind (nothing of the body queued), 503 when the write
failed (nothing of it stored).
"""

from __future__ import annotations

import asyncio
import hmac
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .server_ingest import BodyTooLarge, NotJson, Parsed, Parser, answer, read_body
from .server_writer import RETRY_AFTER_S, GroupWriter, RemoteWriter, WriterBusy, WriterFailed
from .store.base import BatchResult

_NO_STORE = {"Cache-Control": "no-store"}


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers={**_NO_STORE, **(headers or {})})


async def _committed(writer: GroupWriter, parsed: Parsed) -> BatchResult:
    """Queue the batch on this process's writer and wait for its commit, off the event loop's
    back (the writer thread settles the future)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future = loop.create_future()

    def settle(result: Any) -> None:
        if not future.done():
            (future.set_exception if isinstance(result, Exception) else future.set_result)(result)

    writer.submit(parsed.fmt, parsed.records, parsed.rejects,
                  lambda result: loop.call_soon_threadsafe(settle, result))
    return await future


def push_route(stores: Any, *, ingest_token: str, max_body: int,
               writer: GroupWriter | RemoteWriter) -> Route:
    """The route; `stores` is serve's ServedStore (the directory's keys are read from it),
    `writer` this process's GroupWriter, or a worker's RemoteWriter to the parent's."""
    expected = ingest_token.encode()
    parser = Parser()

    def authorized(request: Request) -> bool:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        given = value.strip().encode() if scheme.lower() == "bearer" else b""
        return hmac.compare_digest(given, expected)

    def parse(body: bytes) -> Parsed:
        store = stores.current()
        with store.borrowed():
            keys = store.directory().keys
        return parser.parse(body, keys)

    async def push(request: Request) -> Response:
        if len(request.headers.getlist("authorization")) > 1 or not authorized(request):
            return _error(401, "POST /v1/usage needs Authorization: Bearer <ingest token>",
                          {"WWW-Authenticate": "Bearer"})
        try:
            body = await read_body(request, max_body)
        except BodyTooLarge:
            return _error(413, f"the body is over {max_body:,} bytes (serve --max-body): send smaller batches",
                          {"Connection": "close"})
        try:
            parsed = await run_in_threadpool(parse, body)
        except NotJson as exc:
            return _error(400, str(exc))
        except Exception as exc:  # the directory could not be read: nothing was stored
            return _error(503, f"push unavailable: {exc}")
        if not parsed.records and not parsed.rejects:
            return JSONResponse(answer(parsed, 0, 0, 0), headers=_NO_STORE)
        try:
            if isinstance(writer, RemoteWriter):
                result = await run_in_threadpool(writer.write, parsed.fmt, parsed.records, parsed.rejects)
            else:
                result = await _committed(writer, parsed)
        except WriterBusy:
            return _error(503, "the writer is behind: nothing of this body was stored; retry later",
                          {"Retry-After": str(RETRY_AFTER_S)})
        except WriterFailed as exc:
            return _error(503, str(exc))
        return JSONResponse(answer(parsed, result.imported, result.replaced, result.unchanged), headers=_NO_STORE)

    return Route("/v1/usage", push, methods=["POST"])
