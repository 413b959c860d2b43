"""The mail outbox: without ``CERTDESK_SMTP_URL`` (or while the server cannot be reached for a
mail that cannot wait), each mail is an ``.eml`` file in ``<data dir>/outbox``, the directory
0700 and each file 0600 like the rest of the data directory. ``certdesk outbox`` lists them;
any mail program opens them. They are never served over HTTP: the files hold one-time links.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from bot.datadir import DIRECTORY_MODE, FILE_MODE
from common.time import utcnow

OUTBOX_DIR = "outbox"
X_REASON = "X-Certdesk-Outbox-Reason"


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboxEntry:
    path: Path
    date: datetime | None
    to: str
    subject: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": str(self.path),
            "date": self.date.isoformat() if self.date else None,
            "to": self.to,
            "subject": self.subject,
            "reason": self.reason,
        }


class MailOutbox:
    """Writes and lists ``.eml`` files; the names sort by the time they were written."""

    def __init__(self, data_dir: Path) -> None:
        self.directory = data_dir / OUTBOX_DIR

    def add(self, message: EmailMessage, *, reason: str) -> Path:
        """Write ``message`` (with why it is here in a header); blocking file I/O, small."""
        directory = self.directory
        if not directory.is_dir():
            directory.mkdir(parents=True, exist_ok=True, mode=DIRECTORY_MODE)
            os.chmod(directory, DIRECTORY_MODE)
        del message[X_REASON]
        message[X_REASON] = reason
        name = f"{utcnow():%Y%m%dT%H%M%S%fZ}-{secrets.token_hex(4)}.eml"
        path = directory / name
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        with os.fdopen(descriptor, "wb") as file:
            file.write(message.as_bytes(policy=policy.SMTP))
            file.flush()
            os.fsync(file.fileno())
        return path

    def entries(self) -> Iterator[OutboxEntry]:
        """The mails in the outbox, oldest first."""
        if not self.directory.is_dir():
            return
        parser = BytesHeaderParser(policy=policy.default)
        for path in sorted(self.directory.glob("*.eml")):
            with path.open("rb") as file:
                headers = parser.parse(file)
            try:
                date = parsedate_to_datetime(str(headers["Date"])) if headers["Date"] else None
            except (TypeError, ValueError):
                date = None
            yield OutboxEntry(
                path=path,
                date=date,
                to=str(headers["To"] or ""),
                subject=str(headers["Subject"] or ""),
                reason=str(headers[X_REASON] or ""),
            )
