"""Structured logs: JSON lines, link tokens redacted."""

from __future__ import annotations

import io
import json
import logging

from bot.logs import configure_logging, redact_path


def test_redact_path_hides_link_tokens() -> None:
    assert redact_path("/enroll/abcDEF-123_x") == "/enroll/<token>"
    assert redact_path("/api/v1/enroll/abc/pkcs12") == "/api/v1/enroll/<token>/pkcs12"
    assert redact_path("/renew/xyz") == "/renew/<token>"
    assert redact_path("/healthz") == "/healthz"


def test_json_lines_when_not_a_terminal() -> None:
    stream = io.StringIO()
    configure_logging(level="INFO", fmt="auto", stream=stream)
    try:
        logging.getLogger("tests.bot.test_logs").info("hello %s", "world", extra={"serial": "ab"})
    finally:
        configure_logging(level="WARNING", fmt="text")
    entry = json.loads(stream.getvalue().strip())
    assert entry["msg"] == "hello world"
    assert entry["serial"] == "ab"
    assert entry["level"] == "info"
