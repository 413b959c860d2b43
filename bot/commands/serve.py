"""``certdesk serve``: one process with every endpoint."""

from __future__ import annotations

import argparse
import errno
import socket
from typing import TYPE_CHECKING

from bot.commands.shared import SubParsers

if TYPE_CHECKING:
    from bot.settings import Settings


def register(sub: SubParsers) -> None:
    parser = sub.add_parser("serve", help="run the web server (Slack, enrollment, local chat)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port (default $PORT or 8080)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from aiohttp import web

    from bot.access_log import AccessLogger
    from bot.app import create_app
    from bot.tls import server_context

    port = args.port if args.port is not None else settings.port
    # Bad TLS files stop certdesk before the port is bound (the auto certificate is loaded
    # at startup, once the CA is open, before the sockets accept).
    tls = server_context(settings)
    # Bound before anything starts, so a busy port stops certdesk before it says it started.
    sockets = listen(args.host, port)
    web.run_app(
        create_app(settings, tls_context=tls),
        sock=sockets,
        ssl_context=tls,
        access_log_class=AccessLogger,
        print=lambda message: None,
        handler_cancellation=True,
    )
    return 0


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
