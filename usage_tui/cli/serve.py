"""`usage-tui serve`: the HTTP budget endpoint for gateways (starlette on uvicorn)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from ..store import is_dsn
from .common import db_option, default_db, fail, handles_errors, identity_of, open_store, require_full_view

SERVE_TOKEN_ENV = "USAGE_TUI_SERVE_TOKEN"
INGEST_TOKEN_ENV = "USAGE_TUI_INGEST_TOKEN"
MIB = 1024 * 1024


def read_token(token_file: Path | None, env: str = SERVE_TOKEN_ENV, option: str = "--token-file") -> str | None:
    """A token: the first line of the file `option` names, else $`env`, else None (the admin
    token: --token-file, $USAGE_TUI_SERVE_TOKEN; the ingest token: --ingest-token-file,
    $USAGE_TUI_INGEST_TOKEN)."""
    if token_file is not None:
        try:
            text = token_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            fail(f"{option} {token_file}: {getattr(exc, 'strerror', None) or exc}")
        if not text:
            fail(f"{option} {token_file}: the file is empty")
        return text.splitlines()[0].strip()
    return os.environ.get(env, "").strip() or None


def listening_socket(host: str, port: int):
    """Bind before saying anything, so that a port in use is one error line (exit 2)."""
    import socket

    try:
        family, kind, proto = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][:3]
        # proto IPPROTO_TCP (not 0): asyncio turns Nagle off only on connections accepted from a
        # socket that says it is TCP; with it on, a kept-alive check waited ~40 ms for an ACK
        sock = socket.socket(family, kind, proto)
    except (OSError, UnicodeError) as exc:
        fail(f"cannot listen on {host}:{port}: {getattr(exc, 'strerror', None) or exc}")
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    return sock


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8787, show_default=True, type=click.IntRange(0, 65535),
              help="TCP port (0: any free port, named in the first line on stderr).")
@click.option("--token-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help=f"File holding the admin token (default: ${SERVE_TOKEN_ENV}); with it, "
                   "/v1/budget/check answers the full status JSON.")
@click.option("--allow-unknown-keys", is_flag=True,
              help="/v1/budget/auth allows requests without a gateway key or with an unknown one (default: 403).")
@click.option("--trust-user-header", is_flag=True,
              help="/v1/budget/auth takes the user from X-User: only behind a proxy that authenticates "
                   "users and sets that header itself.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Worker processes sharing the port (uvicorn's); each reads the store itself, so "
                   "every worker, and every serve process on the same store, gives the same answers.")
@click.option("--header-timeout", default=10.0, show_default=True, type=click.FloatRange(0.1, 3600), metavar="SECONDS",
              help="A connection whose request headers have not all arrived by then is closed (slow clients).")
@click.option("--ingest-token-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help=f"File holding the ingest token (default: ${INGEST_TOKEN_ENV}); with it, POST /v1/usage "
                   "takes usage pushed by gateways (LiteLLM's generic API logger, native records). "
                   "Without one that path is a 404.")
@click.option("--max-body", default=16, show_default=True, type=click.IntRange(1, 1024), metavar="MIB",
              help="POST /v1/usage bodies over this many MiB are refused (413).")
@click.option("--push-queue", default=100_000, show_default=True, type=click.IntRange(1, 10_000_000),
              metavar="RECORDS", help="Pushed records waiting for the writer, at most; past it a push is "
                                      "answered 503 + Retry-After and nothing of it is stored.")
@db_option
@handles_errors
def serve(host: str, port: int, token_file: Path | None, allow_unknown_keys: bool, trust_user_header: bool,
          workers: int, header_timeout: float, ingest_token_file: Path | None, max_body: int, push_queue: int,
          db: Path | None) -> None:
    """HTTP budget checks for gateways (starlette on uvicorn).

    GET /v1/budget/check?user=U answers 200 or 429 + Retry-After with the decision only
    ({user, over, retry_after_s, window_end}; an unknown user gets the no-budget answer), or,
    with Authorization: Bearer <admin token>, the status JSON (404 for an unknown user).
    /v1/budget/auth (any method) decides by the gateway key of the original request
    (Authorization: Bearer KEY or x-api-key; the key or its SHA-256 hex digest is a directory
    key id): 204, 403 + Retry-After when its owner is over budget, 403 for no or an unknown
    key. GET /healthz. Checks read the store read-only and keep answering while imports run.
    With --workers N, N processes answer on one port (each answers from the store as it is now, so they all agree).

    With an ingest token, POST /v1/usage (Authorization: Bearer <ingest token>) stores usage
    pushed by gateways, answering {imported, replaced, unchanged, rejected} after the commit; on
    SQLite one writer (serve's own process) writes for every worker (docs/live-usage.md).
    """
    import uvicorn

    from ..server import WORKER_APP, WORKER_CONFIG_ENV, create_server_app, worker_config
    from ..server_limits import ServeConfig
    from ..store.postgres import display_dsn

    path = db or default_db()
    token = read_token(token_file)
    ingest_token = read_token(ingest_token_file, INGEST_TOKEN_ENV, "--ingest-token-file")
    if ingest_token is not None and token is not None and ingest_token == token:
        fail("the ingest token and the admin token must differ (each grants what the other does not)")
    store = open_store(path, readonly=True)  # fail now, with one line, if the store is unusable
    require_full_view(store, identity_of(store, None), "serve budget checks")
    store.close()
    ingest = None
    if ingest_token is not None:
        # the writer needs write access: fail now, with one line, rather than at the first push
        open_store(path, create=False).close()
        ingest = {"token": ingest_token, "max_body": max_body * MIB, "queue_records": push_queue}
    sock = listening_socket(host, port)
    bound = sock.getsockname()[1]
    click.echo(f"Serving budget checks for {display_dsn(path) if is_dsn(path) else path} on http://{host}:{bound}/v1/budget/check?user=USER"
               f" (admin token: {'yes' if token else 'no'}"
               f"{f', {workers} workers' if workers > 1 else ''})", err=True)
    if ingest is not None:
        click.echo(f"Taking pushed usage on http://{host}:{bound}/v1/usage (ingest token: yes)", err=True)
    if workers == 1:
        app = create_server_app(path, token=token, allow_unknown_keys=allow_unknown_keys,
                                trust_user_header=trust_user_header, ingest=ingest)
        uvicorn.Server(ServeConfig(app, header_timeout=header_timeout)).run(sockets=[sock])
        return
    from uvicorn.supervisors import Multiprocess

    # The workers are spawned (fresh interpreters that inherit this environment) and build their
    # app from WORKER_APP; they all accept on the socket bound above.
    service = None
    if ingest is not None and not is_dsn(path):
        # SQLite: one writer for all the workers, in this process (server_writer.py says why)
        from ..server_writer import WriterService

        service = WriterService(path, queue_records=push_queue)
        ingest = {**ingest, "writer_address": service.address, "writer_key": service.key.hex()}
    os.environ[WORKER_CONFIG_ENV] = worker_config(path, token=token, allow_unknown_keys=allow_unknown_keys,
                                                  trust_user_header=trust_user_header, ingest=ingest)
    config = ServeConfig(WORKER_APP, factory=True, workers=workers, header_timeout=header_timeout)
    try:
        Multiprocess(config, sockets=[sock]).run()
    finally:
        if service is not None:
            service.close()
