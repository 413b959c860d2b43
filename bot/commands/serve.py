"""``certdesk serve``: one process with every endpoint."""

from __future__ import annotations

import argparse
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

    port = args.port if args.port is not None else settings.port
    web.run_app(
        create_app(settings),
        host=args.host,
        port=port,
        access_log_class=AccessLogger,
        print=lambda message: None,
        handler_cancellation=True,
    )
    return 0
