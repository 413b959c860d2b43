"""``certdesk serve``: one process with every endpoint."""

from __future__ import annotations

import argparse
import errno
import gc
import socket
from typing import TYPE_CHECKING

from bot.commands.shared import SubParsers, command

if TYPE_CHECKING:
    import ssl

    from aiohttp import web

    from bot.settings import Settings


def register(sub: SubParsers) -> None:
    parser = command(sub, "serve", run)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port (default $PORT or 8080)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """run the web server (Slack, enrollment, local chat)

    Run every endpoint in one process. Unless CERTDESK_PUBLIC_URL is set, links and the CRL URL use
    the address and port bound here, which serve records in the data directory (served-url) for the
    commands run beside it.
    """
    from aiohttp import web

    from bot.access_log import AccessLogger
    from bot.datadir import prepare_data_dir, record_served_url
    from bot.tls import server_context

    port = args.port if args.port is not None else settings.port
    # Bad TLS files stop certdesk before the port is bound (the auto certificate is loaded
    # at startup, once the CA is open, before the sockets accept).
    tls = server_context(settings)
    # Bound before anything starts, so a busy port stops certdesk before it says it started.
    sockets = listen(args.host, port)
    bound = bound_url(args.host, sockets[0].getsockname()[1])
    if not settings.public_url_is_set:
        settings = settings.model_copy(update={"public_url_": bound})
    prepare_data_dir(settings.data_dir, database_url=settings.database_url)
    record_served_url(settings.data_dir, settings.public_url)
    web.run_app(
        serving_app(settings, tls),
        sock=sockets,
        ssl_context=tls,
        access_log_class=AccessLogger,
        print=lambda message: None,
        handler_cancellation=True,
    )
    return 0


def serving_app(settings: Settings, tls: ssl.SSLContext | None) -> web.Application:
    """The application serve runs: :func:`bot.app.create_app`, whose start-up ends with the
    heap it built settled (:func:`settle_heap`)."""
    from bot.app import create_app

    app = create_app(settings, tls_context=tls)
    app.on_startup.append(settle_heap)  # after every cleanup context has started
    return app


async def settle_heap(_app: web.Application) -> None:
    """Collect once, then move everything start-up left alive (modules, the knowledge base,
    the CA, the routes: hundreds of thousands of objects) out of the garbage collector's
    reach, so its full passes during a burst walk only what requests made since."""
    gc.collect()
    gc.freeze()


WILDCARDS = ("", "0.0.0.0", "::")  # noqa: S104 (recognised, not bound here)


def bound_url(host: str, port: int) -> str:
    """The ``http://host:port`` of what serve bound: the default CERTDESK_PUBLIC_URL. A
    wildcard address is reached as 127.0.0.1 (set CERTDESK_PUBLIC_URL for other machines)."""
    if host in WILDCARDS:
        host = "127.0.0.1"
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def listen(host: str, port: int) -> list[socket.socket]:
    """Sockets bound to every address of ``host`` at ``port``; :class:`CannotListen` when one
    cannot be bound (the port is taken, the address is not this machine's…)."""
    from bot.runtime import CannotListen

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise CannotListen(
            f"cannot listen on {host!r}: {exc.strerror}; give --host an address of this machine"
        ) from None
    sockets: list[socket.socket] = []
    seen: set[object] = set()
    try:
        for family, kind, proto, _name, address in infos:
            if address in seen:
                continue
            seen.add(address)
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
    except OSError as exc:
        for sock in sockets:
            sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise CannotListen(
                f"port {port} on {host} is already in use: stop the process that holds it, or "
                "choose another port with PORT or --port"
            ) from None
        raise CannotListen(
            f"cannot listen on {host} port {port}: {exc.strerror}; choose another address "
            "with --host or another port with PORT or --port"
        ) from None
    return sockets
