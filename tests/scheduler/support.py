"""Helpers for reminder tests: certificate rows without a CA, and a notifier that records."""

from __future__ import annotations

import asyncio
import itertools
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select

from bot.database import upgrade_async
from common.time import utcnow
from enrollment.db import create_engine, session_factory
from enrollment.models import Certificate
from scheduler.errors import DeliveryError
from scheduler.models import ReminderSent
from scheduler.policy import Reminder
from tests.support.processes import ROOT

_serials = itertools.count(0x1000)
CLI_TIMEOUT = 120.0


@asynccontextmanager
async def migrated_engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on ``database_url`` after applying every migration."""
    await upgrade_async(database_url)
    engine = create_engine(database_url)
    try:
        yield engine
    finally:
        await engine.dispose()


async def add_certificates(
    engine: AsyncEngine,
    count: int = 1,
    *,
    expires_in: timedelta,
    lifetime: timedelta = timedelta(days=365),
    status: str = "active",
    owner_slack_user: str | None = "U0001",
    superseded_by: str | None = None,
    now: datetime | None = None,
) -> list[Certificate]:
    """``count`` certificate rows expiring ``expires_in`` from ``now`` (default: the clock)."""
    not_after = (now or utcnow()) + expires_in
    rows = []
    for _ in range(count):
        serial = format(next(_serials), "x")
        rows.append(
            Certificate(
                serial=serial,
                subject=f"CN=Holder {serial}",
                issuer="CN=certdesk Test CA",
                subject_cn=f"Holder {serial}",
                not_before=not_after - lifetime,
                not_after=not_after,
                fingerprint_sha256=serial.rjust(64, "0"),
                pem="-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n",
                key_type="ec-p256",
                owner_slack_user=owner_slack_user,
                status=status,
                superseded_by=superseded_by,
            )
        )
    async with session_factory(engine)() as session, session.begin():
        session.add_all(rows)
    return rows


async def reminder_rows(engine: AsyncEngine) -> list[ReminderSent]:
    async with session_factory(engine)() as session:
        query = select(ReminderSent).order_by(
            col(ReminderSent.certificate_id), col(ReminderSent.threshold_days)
        )
        return list((await session.execute(query)).scalars().all())


@dataclass
class RecordingNotifier:
    """Records every reminder it is given; ``script`` decides what each delivery does."""

    channel: str = "test"
    delay: float = 0.0
    script: Callable[[Reminder], None] | None = None
    delivered: list[Reminder] = field(default_factory=list)
    attempts: list[Reminder] = field(default_factory=list)
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def notify(self, reminder: Reminder) -> None:
        self.attempts.append(reminder)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.script is not None:
            self.script(reminder)
        self.delivered.append(reminder)
        async with self._changed:
            self._changed.notify_all()

    async def wait_delivered(self, count: int) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: len(self.delivered) >= count)


def fail_first(times: int, *, permanent: bool = False) -> Callable[[Reminder], None]:
    """A script that fails the first ``times`` deliveries."""
    calls = itertools.count()

    def script(_reminder: Reminder) -> None:
        if next(calls) < times:
            raise DeliveryError("the fake chat service is down", permanent=permanent)

    return script


@dataclass(frozen=True)
class Completed:
    returncode: int
    stdout: str
    stderr: str


async def certdesk(env: dict[str, str], *args: str) -> Completed:
    """Run the real ``certdesk`` CLI without blocking the event loop (a fake server may be
    serving on it)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        *args,
        env=env,
        cwd=env.get("CERTDESK_DATA_DIR", str(ROOT)),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(CLI_TIMEOUT):
            stdout, stderr = await process.communicate()
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return Completed(process.returncode, stdout.decode(), stderr.decode())


async def eventually(check: Callable[[], Awaitable[bool]], *, within: float = 10.0) -> None:
    """Poll ``check`` (e.g. a query on a database another task or process writes) until true."""
    async with asyncio.timeout(within):
        while not await check():  # noqa: ASYNC110 - polling an external store, not a flag
            await asyncio.sleep(0.05)
