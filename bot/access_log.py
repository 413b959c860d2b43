"""aiohttp's access log for ``certdesk serve``: one structured record a request at INFO, link
tokens redacted from the path.

Built to be cheap, as it runs once per request (OCSP answers thousands a second): the path is
redacted once, and the record is made and handed to the handlers directly, without the
``Logger.info`` path's search of the call stack for a caller (an access record has none worth
naming). Operators filter it by logger name (``aiohttp.access``) as before.
"""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from bot.logs import redact_path

ACCESS_FORMAT = "%s %s %s"


class AccessLogger(AbstractAccessLogger):
    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        logger = self.logger
        if not logger.isEnabledFor(logging.INFO):
            return
        method, path, status = request.method, redact_path(request.path), response.status
        record = logger.makeRecord(
            logger.name,
            logging.INFO,
            "",
            0,
            ACCESS_FORMAT,
            (method, path, status),
            None,
            extra={
                "method": method,
                "path": path,
                "status": status,
                "duration_ms": round(time * 1000, 2),
            },
        )
        logger.handle(record)
