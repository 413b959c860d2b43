"""Wiring: from Settings to a running store, CA and the enrollment use cases."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, replace

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.database import (
    SchemaOutOfDate,
    current_revision,
    head_revision,
    refuse_unknown,
    upgrade_async,
)
from bot.datadir import ca_directory, load_pepper, prepare_data_dir, require_data
from bot.lean import enrollment_config
from bot.settings import Settings
from enrollment.ca.authority import IssuingCA, load_or_create_local_ca
from enrollment.db import create_engine
from enrollment.pg import close_lean_postgres
from enrollment.services import Services, open_services
from enrollment.writer import close_writer
from usbkey.pkcs11.errors import (
    NoToken,
    PinIncorrect,
    PinLocked,
    SeveralTokens,
    TokenError,
    TokenNotFound,
    WrongModule,
)

log = logging.getLogger(__name__)


class CannotListen(RuntimeError):
    """``certdesk serve`` cannot listen where it should (the port is taken); the message says
    what to do."""


class CaUnavailable(RuntimeError):
    """The issuing CA cannot start (its HSM key is unusable); the message names the setting."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Runtime:
    settings: Settings
    engine: AsyncEngine
    ca: IssuingCA
    services: Services


async def prepare_schema(settings: Settings, engine: AsyncEngine) -> None:
    """Embedded SQLite migrates itself (when it is not at the newest revision yet); a shared
    database must be migrated by `db upgrade`."""
    current = await current_revision(engine)
    refuse_unknown(current)
    if settings.is_embedded_sqlite:
        if current != head_revision():
            await upgrade_async(settings.database_url)
        return
    if current != head_revision():
        raise SchemaOutOfDate(
            f"The database schema is at {current or 'nothing'}, this certdesk needs "
            f"{head_revision()}: run `certdesk db upgrade` first (the Procfile's release step)."
        )


@asynccontextmanager
async def open_runtime(settings: Settings, *, create: bool = True) -> AsyncIterator[Runtime]:
    """The store, the CA and the use cases. ``create=False`` (every command but ``serve``
    and ``init``) refuses, with :class:`bot.datadir.DataDirMissing`, to create a CA, an
    embedded database or a secret key that is not there yet."""
    if not create:
        require_data(settings)
    prepare_data_dir(settings.data_dir, database_url=settings.database_url)
    engine = create_engine(settings.database_url)
    stack = AsyncExitStack()
    try:
        await prepare_schema(settings, engine)
        ca = with_access_urls(await stack.enter_async_context(open_ca(settings)), settings)
        services = open_services(
            engine=engine,
            ca=ca,
            pepper=load_pepper(settings),
            config=enrollment_config(settings),
        )
        yield Runtime(settings=settings, engine=engine, ca=ca, services=services)
    finally:
        await stack.aclose()  # closes the HSM session, if any
        close_writer(engine)  # the SQLite writer's and reader's own connections
        await close_lean_postgres(engine)  # PostgreSQL's hot-path pool
        await engine.dispose()


def with_access_urls(ca: IssuingCA, settings: Settings) -> IssuingCA:
    """The CA whose certificates name the OCSP responder and the issuing CA's DER
    certificate in their Authority Information Access."""
    return replace(
        ca, ocsp_url=f"{settings.public_url}/ocsp", ca_issuers_url=f"{settings.public_url}/ca.cer"
    )


@asynccontextmanager
async def open_ca(settings: Settings) -> AsyncIterator[IssuingCA]:
    """The local file-key CA, or the CA whose key is on the HSM (session open while in use)."""
    crl_url = f"{settings.public_url}/crl"
    if not settings.ca_pkcs11_module:
        yield await asyncio.to_thread(
            load_or_create_local_ca,
            ca_directory(settings),
            key_type=settings.ca_key_type,
            organization=settings.ca_organization,
            crl_url=crl_url,
        )
        return
    assert settings.ca_pkcs11_pin is not None  # Settings refuses a module without a PIN
    from enrollment.ca.hsm import HsmConfig, load_or_create_hsm_ca, open_hsm_key  # PKCS#11

    config = HsmConfig(
        module=settings.ca_pkcs11_module,
        token_label=settings.ca_pkcs11_token_label,
        key_label=settings.ca_pkcs11_key_label,
        pin=settings.ca_pkcs11_pin.get_secret_value(),
        key_type=settings.ca_key_type,
    )
    try:
        key = await asyncio.to_thread(open_hsm_key, config)
    except TokenError as exc:
        raise CaUnavailable(hsm_problem(exc, settings)) from None
    try:
        try:
            ca = await asyncio.to_thread(
                load_or_create_hsm_ca,
                ca_directory(settings),
                key=key,
                key_type=settings.ca_key_type,
                organization=settings.ca_organization,
                crl_url=crl_url,
            )
        except TokenError as exc:
            raise CaUnavailable(hsm_problem(exc, settings)) from None
        log.info("issuing CA key on the HSM", extra={"key_label": config.key_label})
        yield ca
    finally:
        await asyncio.to_thread(key.close)


def hsm_problem(error: TokenError, settings: Settings) -> str:
    """What is wrong with the HSM settings, named by their environment variables."""
    module = settings.ca_pkcs11_module
    if isinstance(error, WrongModule):
        return (
            f"CERTDESK_CA_PKCS11_MODULE={module} cannot be loaded as a PKCS#11 module: "
            f"{error.reason}. Set it to the HSM's PKCS#11 library."
        )
    if isinstance(error, NoToken):
        return (
            f"no initialised token is present behind CERTDESK_CA_PKCS11_MODULE={module}: check "
            "that the HSM is reachable and its token initialised."
        )
    if isinstance(error, TokenNotFound):
        return (
            f"no token labelled {settings.ca_pkcs11_token_label!r} is present behind "
            f"CERTDESK_CA_PKCS11_MODULE={module}: check CERTDESK_CA_PKCS11_TOKEN_LABEL."
        )
    if isinstance(error, SeveralTokens):
        return (
            f"several tokens are present behind CERTDESK_CA_PKCS11_MODULE={module}: set "
            "CERTDESK_CA_PKCS11_TOKEN_LABEL to the CA token's label."
        )
    if isinstance(error, PinIncorrect):
        return (
            "CERTDESK_CA_PKCS11_PIN is wrong for the HSM token. Fix it before starting again: "
            "the token locks after a few wrong PINs."
        )
    if isinstance(error, PinLocked):
        return (
            "the HSM token's user PIN is locked; its security officer must unlock it before "
            "certdesk can start."
        )
    return f"the issuing CA's HSM key cannot be used: {error.message}"
