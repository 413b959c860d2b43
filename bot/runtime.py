"""Wiring: from Settings to a running store, CA and enrollment service."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.database import current_revision, head_revision, upgrade_async
from bot.settings import Settings
from enrollment.ca import IssuingCA, load_or_create_local_ca
from enrollment.codes import Pepper
from enrollment.db import create_engine
from enrollment.service import EnrollmentConfig, EnrollmentService

log = logging.getLogger(__name__)


class SchemaOutOfDate(RuntimeError):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class Runtime:
    settings: Settings
    engine: AsyncEngine
    ca: IssuingCA
    service: EnrollmentService


def load_pepper(settings: Settings) -> Pepper:
    """CERTDESK_SECRET_KEY if set (several processes must share it), else a key file."""
    if settings.secret_key is not None:
        key = settings.secret_key.get_secret_value().encode()
        if len(key) < 32:
            raise ValueError("CERTDESK_SECRET_KEY must be at least 32 characters long")
        return Pepper(key)
    path = settings.data_dir / "secret.key"
    if not path.exists():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "wb") as handle:
                handle.write(secrets.token_bytes(32))
    return Pepper(path.read_bytes())


async def prepare_schema(settings: Settings, engine: AsyncEngine) -> None:
    """Embedded SQLite migrates itself; a shared database must be migrated by `db upgrade`."""
    if settings.is_embedded_sqlite:
        await upgrade_async(settings.database_url)
        return
    current = await current_revision(engine)
    if current != head_revision():
        raise SchemaOutOfDate(
            f"The database schema is at {current or 'nothing'}, this certdesk needs "
            f"{head_revision()}: run `certdesk db upgrade` first (the Procfile's release step)."
        )


@asynccontextmanager
async def open_runtime(settings: Settings) -> AsyncIterator[Runtime]:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = create_engine(settings.database_url)
    try:
        await prepare_schema(settings, engine)
        ca = await asyncio.to_thread(
            load_or_create_local_ca,
            Path(settings.data_dir) / "ca",
            key_type=settings.ca_key_type,
            organization=settings.ca_organization,
            crl_url=f"{settings.public_url}/crl",
        )
        service = EnrollmentService(
            engine=engine,
            ca=ca,
            pepper=load_pepper(settings),
            config=EnrollmentConfig(
                public_url=settings.public_url,
                link_ttl=timedelta(hours=settings.link_ttl_hours),
                max_failed_attempts=settings.max_failed_attempts,
            ),
        )
        yield Runtime(settings=settings, engine=engine, ca=ca, service=service)
    finally:
        await engine.dispose()
