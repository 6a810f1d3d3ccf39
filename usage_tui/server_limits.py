"""How `serve` keeps answering when clients hold connections open (slowloris, issue 27).

uvicorn bounds what an incomplete request may make it buffer (`h11_max_incomplete_event_size`)
and the idle time between two requests (`timeout_keep_alive`), but nothing else: its keep-alive
timer starts only after a first response and stops at the first byte of the next request, and
it accepts every connection until the process runs out of file descriptors (then accept() fails,
and no budget check gets in). Its `limit_concurrency` does not help: it answers 503 to the requests of
real clients while the held connections count against it. So serve's protocol is uvicorn's h11
one with three additions:

- an idle timeout before the first request: uvicorn's keep-alive timer, started at connect;
- a header deadline: a request's headers must arrive whole within HEADER_TIMEOUT_S of the
  connection (of its first byte, on a kept-alive connection), else the connection is closed;
  the same holds for a body still trickling in after the answer was sent;
- a cap on connections per process, well below its descriptor limit: past it, the connection that
  has waited longest for its headers is dropped (a real client sends its request at once, so
  the one dropped is a slow one), or the new one when every other is being answered.
"""

from __future__ import annotations

import asyncio
import resource
import weakref
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

HEADER_TIMEOUT_S = 10.0  # `serve --header-timeout`: seconds, not minutes (nginx's default is 60)
IDLE_TIMEOUT_S = 5  # uvicorn's timeout_keep_alive (its default): before and between requests
# nginx forwards the client's headers to /auth (up to 4 x 8 KiB by default): room for them, and
# a bound on what each held connection may make us buffer (4,096 x 64 KiB = 256 MiB at most).
MAX_HEADER_BYTES = 64 * 1024
MAX_CONNECTIONS = 4096  # per process, also when the descriptor limit would allow more
MAX_BACKLOG = 2048  # uvicorn's default
# Descriptors kept for the rest of serve: the store's connections (SQLite: a file, its -wal and
# -shm per worker thread, 40 threads at most), the listening socket, logs, Python's own.
FD_RESERVE = 160
FD_WANTED = 16_384  # what the cap and backlog above use at most, and room to spare


def raise_fd_limit() -> None:
    """Take the descriptors the hard limit allows, up to what the cap can use: a shell's soft
    limit is often 1,024 (a cap of 288) where the hard one is far higher."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = FD_WANTED if hard == resource.RLIM_INFINITY else min(hard, FD_WANTED)
    if soft != resource.RLIM_INFINITY and soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        except (OSError, ValueError):
            pass  # keep the limit there is: the cap follows it


def limits() -> tuple[int, int]:
    """(backlog, cap) for this process's descriptor limit. asyncio accepts up to `backlog`
    connections at each turn of the loop (it is also the kernel's queue), and our protocol sees
    them a turn or two later: the cap leaves room for four such turns, so that accept() never
    runs out of descriptors (it then stops accepting for a second at a time, checks included)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        soft = 1 << 20
    room = soft - min(FD_RESERVE, soft // 4)
    backlog = max(8, min(MAX_BACKLOG, room // 6))
    return backlog, max(8, min(MAX_CONNECTIONS, room - 4 * backlog))


class ServeConfig(uvicorn.Config):
    """uvicorn's Config with serve's protocol and limits (it travels to `--workers` processes
    pickled, so it holds plain values; the cap is computed in each process). The protocol is
    uvicorn's httptools one (a C parser) on uvloop where both are installed (they are serve's
    dependencies): about half the CPU of h11 on asyncio per budget check (bench/RESULTS.md,
    issue 28); h11 otherwise."""

    def __init__(self, app: Any, *, header_timeout: float = HEADER_TIMEOUT_S, **kwargs: Any) -> None:
        raise_fd_limit()  # before the backlog is chosen from it; `--workers` processes inherit it
        fast = GuardedHttpToolsProtocol is not None
        super().__init__(app, http=GuardedHttpToolsProtocol if fast else GuardedH11Protocol,
                         loop="uvloop" if fast and _has("uvloop") else "asyncio", ws="none",
                         timeout_keep_alive=IDLE_TIMEOUT_S, h11_max_incomplete_event_size=MAX_HEADER_BYTES,
                         backlog=limits()[0], log_level="warning", access_log=False, **kwargs)
        self.header_timeout = header_timeout


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


# Per server (uvicorn's ServerState): its connections waiting for a request's headers, oldest
# first (a dict keeps insertion order).
_waiting: weakref.WeakKeyDictionary[ServerState, dict[Any, None]] = weakref.WeakKeyDictionary()


class _Guarded:
    """A header deadline, an idle timeout before the first request and a cap on connections
    (the module's docstring says why), over uvicorn's h11 or httptools protocol: each subclass
    calls request_started() once a request's headers have arrived whole."""

    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    connections: set
    timeout_keep_alive: int
    timeout_keep_alive_task: asyncio.TimerHandle | None

    def __init__(self, config: uvicorn.Config, server_state: ServerState, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None) -> None:
        super().__init__(config, server_state, app_state, _loop)  # type: ignore[call-arg]
        self.header_timeout = getattr(config, "header_timeout", HEADER_TIMEOUT_S)
        self.waiting = _waiting.setdefault(server_state, {})
        self.deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)  # type: ignore[misc]
        self.await_request()
        self.deadline = self.loop.call_later(self.header_timeout, self.too_slow)
        # uvicorn starts this timer only after a response; a connection that never sends a
        # byte would otherwise be held for good
        self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive,
                                                            self.timeout_keep_alive_handler)  # type: ignore[attr-defined]
        if len(self.connections) > limits()[1]:
            oldest = next(iter(self.waiting))  # self at worst: it was just added
            oldest.drop()

    def data_received(self, data: bytes) -> None:
        if self in self.waiting and self.deadline is None:  # the first byte of a next request
            self.deadline = self.loop.call_later(self.header_timeout, self.too_slow)
        super().data_received(data)  # type: ignore[misc]

    def connection_lost(self, exc: Exception | None) -> None:
        self.request_started()
        super().connection_lost(exc)  # type: ignore[misc]

    def await_request(self) -> None:
        self.waiting[self] = None

    def request_started(self) -> None:
        self.waiting.pop(self, None)
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None

    def too_slow(self) -> None:
        self.deadline = None
        if not self.transport.is_closing():
            self.transport.close()

    def drop(self) -> None:
        """Close now, to make room: it counts no more from this moment (uvicorn would forget
        it only when the loop gets to connection_lost)."""
        self.request_started()
        self._unset_keepalive_if_required()  # type: ignore[attr-defined]
        self.connections.discard(self)
        self.transport.abort()


class GuardedH11Protocol(_Guarded, H11Protocol):
    """uvicorn's h11 protocol, guarded (h11 itself bounds an incomplete request's bytes)."""

    def handle_events(self) -> None:
        cycle = self.cycle
        super().handle_events()
        if self.cycle is not cycle:  # a request's headers arrived whole
            self.request_started()

    def on_response_complete(self) -> None:
        self.await_request()  # first: answering pipelined requests (in super) starts the next
        super().on_response_complete()


try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # httptools not installed: h11 it is
    GuardedHttpToolsProtocol = None
else:
    class GuardedHttpToolsProtocol(_Guarded, HttpToolsProtocol):  # type: ignore[no-redef]
        """uvicorn's httptools protocol, guarded, and with h11's bound on an incomplete
        request: the bytes received while a request's headers are not whole (httptools keeps
        a header it has not seen the end of) past MAX_HEADER_BYTES are a 400, and the
        connection is closed. A chunk that ends one request's headers is not counted (its
        headers are whole)."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.header_bytes = 0

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self in self.waiting and not self.transport.is_closing():
                self.header_bytes += len(data)
                if self.header_bytes > MAX_HEADER_BYTES:
                    self.send_400_response("Request headers too large.")

        def await_request(self) -> None:
            super().await_request()
            self.header_bytes = 0

        def on_headers_complete(self) -> None:
            self.request_started()
            super().on_headers_complete()

        def on_response_complete(self) -> None:
            if not self.pipeline:  # (a pipelined request's headers are whole already)
                self.await_request()
            super().on_response_complete()
