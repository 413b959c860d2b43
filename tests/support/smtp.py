"""A real SMTP server for tests: aiosmtpd on a free local port, in its own thread.

``server.messages`` holds every accepted mail, parsed. ``server.answer(address, "550 …")``
makes the server answer RCPT TO for ``address`` with that line (a 4xx or 5xx), and
``server.refusals[address]`` counts how often it did.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class _Handler:
    messages: list[EmailMessage] = field(default_factory=list)
    answers: dict[str, str] = field(default_factory=dict)
    refusals: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        with self.lock:
            answer = self.answers.get(address)
            if answer is not None:
                self.refusals[address] += 1
                return answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = BytesParser(policy=policy.default).parsebytes(envelope.content)
        assert isinstance(message, EmailMessage)
        with self.lock:
            self.messages.append(message)
        return "250 Message accepted"


@dataclass
class SmtpServer:
    host: str
    port: int
    handler: _Handler

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    @property
    def messages(self) -> list[EmailMessage]:
        with self.handler.lock:
            return list(self.handler.messages)

    @property
    def refusals(self) -> Counter[str]:
        return self.handler.refusals

    def answer(self, address: str, line: str | None) -> None:
        with self.handler.lock:
            if line is None:
                self.handler.answers.pop(address, None)
            else:
                self.handler.answers[address] = line

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if str(m["To"]) == address]

    def wait_to(self, address: str, *, within: float = 10.0) -> EmailMessage:
        """The first message to ``address``, once it has arrived (a test bug past ``within``)."""
        deadline = time.monotonic() + within
        while not self.to(address):
            if time.monotonic() > deadline:
                raise AssertionError(f"no mail to {address} arrived")
            time.sleep(0.05)
        return self.to(address)[0]

    def wait_for(self, count: int, *, within: float = 10.0) -> list[EmailMessage]:
        """The messages once there are at least ``count`` (a test bug past ``within``)."""
        deadline = time.monotonic() + within
        while len(self.messages) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} mails, got {len(self.messages)}")
            time.sleep(0.05)
        return self.messages


@contextmanager
def smtp_server() -> Iterator[SmtpServer]:
    handler = _Handler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield SmtpServer(host="127.0.0.1", port=port, handler=handler)
    finally:
        controller.stop()


def body_text(message: EmailMessage) -> str:
    """The plain-text part and the HTML part, together."""
    parts = []
    for part in message.walk():
        if part.get_content_type() in ("text/plain", "text/html"):
            parts.append(part.get_content())
    return "\n".join(parts)
