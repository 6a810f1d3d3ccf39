"""serve's connections send small writes at once (TCP_NODELAY), as asyncio's own sockets do.

asyncio turns Nagle's algorithm off on the TCP connections it accepts, but only when the
listening socket says it is TCP (proto IPPROTO_TCP); serve binds its own socket before uvicorn
starts (cli/serve.py, listening_socket), and one made with proto 0 left Nagle on. uvicorn writes
a response's head and body separately, so on a kept-alive connection the body waited for the
client's delayed ACK: every budget check took ~40 ms (bench/live.py measured 44 ms p50 for a
check that takes 2.6 ms on a new connection). The test failed before the fix.
"""

from __future__ import annotations

import asyncio
import socket

from usage_tui.cli.serve import listening_socket


async def test_accepted_connections_have_nagle_off():
    sock = listening_socket("127.0.0.1", 0)
    loop = asyncio.get_running_loop()
    nodelay: asyncio.Future[int] = loop.create_future()

    class Probe(asyncio.Protocol):
        def connection_made(self, transport):
            nodelay.set_result(transport.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            transport.close()

    server = await loop.create_server(Probe, sock=sock)
    try:
        _, writer = await asyncio.open_connection(*sock.getsockname()[:2])
        assert await asyncio.wait_for(nodelay, 10) != 0
        writer.close()
    finally:
        server.close()
