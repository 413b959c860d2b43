"""Structured logging: one JSON object a line when stderr is not a terminal.

Link tokens in request paths are redacted from access logs (:mod:`bot.access_log`); secrets are
never passed to a logger in the first place. Imports no aiohttp: every command configures logging.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from common.links import LINK_KINDS

_TOKEN_PATH = re.compile(rf"^(/(?:api/v1/)?(?:{'|'.join(LINK_KINDS)})/)[^/?]+")
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
# One encoder for every record (json.dumps with options builds a new one each call).
_ENCODER = json.JSONEncoder(default=str, ensure_ascii=False)


def redact_path(path: str) -> str:
    """``/enroll/SECRET/x`` -> ``/enroll/<token>/x``: link tokens never reach the logs."""
    return _TOKEN_PATH.sub(r"\1<token>", path)


class JsonFormatter(logging.Formatter):
    _second: int | None = None
    _second_text = ""

    def timestamp(self, created: float) -> str:
        """ISO 8601 UTC to the millisecond; the date and time of day are made once a second
        (a busy server writes thousands of records a second)."""
        second = int(created)
        micros = round((created - second) * 1e6)  # as datetime.fromtimestamp rounds
        if micros >= 1_000_000:
            second, micros = second + 1, micros - 1_000_000
        if second != self._second:
            self._second_text = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
            self._second = second
        return f"{self._second_text}.{micros // 1000:03d}+00:00"

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": self.timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return _ENCODER.encode(entry)


def configure_logging(*, level: str, fmt: str, stream: TextIO | None = None) -> None:
    stream = stream or sys.stderr
    use_json = fmt == "json" or (fmt == "auto" and not stream.isatty())
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        JsonFormatter()
        if use_json
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Their INFO lines are not an operator's: alembic's per-step notes, and APScheduler's two
    # lines a tick for every clock (each pass logs its own outcome); warnings still show.
    for chatty in ("alembic", "apscheduler"):
        logging.getLogger(chatty).setLevel(max(root.level, logging.WARNING))
