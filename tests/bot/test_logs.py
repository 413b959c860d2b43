"""Structured logs: JSON lines, link tokens redacted."""

from __future__ import annotations

import io
import json
import logging
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.logs import JsonFormatter, configure_logging, redact_path


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


@settings(max_examples=200)
@given(st.floats(min_value=0, max_value=4e9, allow_nan=False))
def test_json_timestamp_is_iso_8601_utc_to_the_millisecond(created: float) -> None:
    """The once-a-second cache gives what datetime gives, rounding included."""
    formatter = JsonFormatter()
    formatter.timestamp(created - 1)  # a cached second before
    expected = datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")
    assert formatter.timestamp(created) == expected
