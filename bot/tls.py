"""certdesk's own TLS: the server context, the client certificates it asks for, and the server
certificate ``CERTDESK_TLS=auto`` issues from certdesk's CA and renews while running.

- ``CERTDESK_TLS_CERT`` + ``CERTDESK_TLS_KEY``: the operator's PEM chain and key, loaded before
  the port is bound (a bad pair stops ``certdesk serve`` with a message naming the variables).
- ``CERTDESK_TLS=auto``: a P-256 key and a certificate for the public URL's host name (or IP
  address), valid :data:`SERVER_VALIDITY`, kept with its key in one file,
  ``$CERTDESK_DATA_DIR/tls/server.pem`` (0600), and reused across restarts and by the other
  processes on the same data directory (:class:`AutoCertificate`); checked every
  :data:`CHECK_EVERY` and reissued when less than :data:`RENEW_BEFORE` is left. The new chain
  is loaded into the live ``SSLContext``, so new connections get it without a restart.
- Either way, client certificates are requested but optional (``CERT_OPTIONAL``), with
  certdesk's own CA (root and issuing) as the only trust anchors: a holder's certdesk
  certificate can authenticate EST ``simplereenroll`` and ``POST /api/v1/renew``; whether it is
  still current (not revoked, superseded or expired) is the domain's check, per request.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import AsyncIterator
from contextlib import AbstractContextManager, asynccontextmanager, suppress
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from bot.runtime import CannotListen
from bot.settings import Settings
from common.time import utcnow
from enrollment.ca.authority import IssuingCA, issue_tls_server
from enrollment.ca.pairs import read_pair, write_pair
from enrollment.files import exclusive_lock, remove_stale_snapshots, snapshot

log = logging.getLogger(__name__)

SERVER_VALIDITY = timedelta(days=90)
RENEW_BEFORE = timedelta(days=30)
CHECK_EVERY = timedelta(hours=6)


class TlsUnavailable(CannotListen):
    """certdesk's TLS cannot start; the message names the setting to fix."""


def server_context(settings: Settings) -> ssl.SSLContext | None:
    """The listening sockets' TLS context (None: plain HTTP). With ``CERTDESK_TLS_CERT`` the
    chain is loaded here; with ``auto`` it is loaded by :func:`auto_certificate` at startup."""
    if not settings.tls_enabled:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if settings.tls_cert is not None and settings.tls_key is not None:
        try:
            context.load_cert_chain(settings.tls_cert, settings.tls_key)
        except (ssl.SSLError, OSError) as exc:
            raise TlsUnavailable(
                f"CERTDESK_TLS_CERT={settings.tls_cert} and CERTDESK_TLS_KEY={settings.tls_key} "
                f"cannot be used together ({exc.__class__.__name__}): give the PEM certificate "
                "chain (server certificate first) and its unencrypted PEM private key"
            ) from None
    return context


def request_client_certificates(context: ssl.SSLContext, ca: IssuingCA) -> None:
    """Ask TLS clients for a certificate of certdesk's CA, without requiring one."""
    context.verify_mode = ssl.CERT_OPTIONAL
    context.load_verify_locations(cadata=ca.chain_pem().decode())


def tls_host(public_url: str) -> str:
    host = urlsplit(public_url).hostname
    if not host:
        raise TlsUnavailable(
            f"CERTDESK_TLS=auto needs a host name in CERTDESK_PUBLIC_URL={public_url}"
        )
    return host


class AutoCertificate:
    """The ``auto`` server certificate in ``directory``: reused while current, else reissued.

    Key, server certificate and CA chain are one file, ``server.pem`` (0600, written whole or
    not at all, :mod:`enrollment.ca.pairs`), so processes sharing the data directory never
    pair one's key with another's certificate. A renewal holds ``server.pem.lock`` (``flock``):
    of several processes finding the certificate due, one reissues and the others reuse its
    pair. A process loads from its own snapshot of the file (:func:`enrollment.files.snapshot`),
    so a renewal renaming a new pair in while OpenSSL reads (the chain, then the key, in two
    opens) cannot split the pair either.
    """

    FILE = "server.pem"
    LEGACY_FILES = ("server-chain.pem", "server-key.pem")  # before one file held the pair

    def __init__(self, *, ca: IssuingCA, host: str, directory: Path) -> None:
        self._ca = ca
        self._host = host
        self.directory = directory
        self.path = directory / self.FILE
        self.lock_path = directory / f"{self.FILE}.lock"

    def current(self, now: datetime) -> x509.Certificate | None:
        """The stored certificate if it is ours, for the host, and not due for renewal."""
        pair = read_pair(self.path)
        if pair is None:
            return None
        leaf = pair.leaf
        try:
            names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            return None
        if leaf.issuer != self._ca.certificate.subject or self._host not in [
            str(value) for value in names.get_values_for_type(x509.DNSName)
        ] + [str(value) for value in names.get_values_for_type(x509.IPAddress)]:
            return None
        if leaf.not_valid_after_utc - now < RENEW_BEFORE:
            return None
        return leaf

    def issue(self, now: datetime) -> x509.Certificate:
        """A new key and certificate written over the old pair. Blocking; the caller holds the
        lock (:meth:`ensure`, :meth:`renew`)."""
        key = ec.generate_private_key(ec.SECP256R1())
        leaf = issue_tls_server(
            self._ca,
            public_key=key.public_key(),
            host=self._host,
            validity=SERVER_VALIDITY,
            now=now,
        )
        self.directory.mkdir(mode=0o700, exist_ok=True)
        write_pair(self.path, key, (leaf, *self._ca.chain))
        log.info(
            "tls server certificate issued",
            extra={"host": self._host, "not_after": leaf.not_valid_after_utc.isoformat()},
        )
        return leaf

    def ensure(self, now: datetime) -> tuple[x509.Certificate, bool]:
        """(the certificate to serve, whether it is new), under the lock. Blocking."""
        with self._locked():
            leaf = self.current(now)
            new = leaf is None
            if leaf is None:
                leaf = self.issue(now)
            for name in self.LEGACY_FILES:
                with suppress(FileNotFoundError):
                    (self.directory / name).unlink()
        return leaf, new

    def renew(self, now: datetime) -> x509.Certificate:
        """Reissue now, whether due or not, under the lock. Blocking."""
        with self._locked():
            return self.issue(now)

    def _locked(self) -> AbstractContextManager[None]:
        self.directory.mkdir(mode=0o700, exist_ok=True)
        return exclusive_lock(self.lock_path)

    def load_into(self, context: ssl.SSLContext) -> x509.Certificate:
        """Load the stored pair into ``context`` from this process's snapshot of it; returns
        the certificate loaded."""
        with snapshot(self.path) as pinned:
            context.load_cert_chain(pinned)
            pair = read_pair(pinned)
        if pair is None:  # the lock's holder writes only whole, matching pairs
            raise TlsUnavailable(f"{self.path} holds no usable key and certificate")
        return pair.leaf

    def remove_stale_snapshots(self) -> None:
        for path in remove_stale_snapshots(self.path):
            log.info("stale tls snapshot removed", extra={"path": str(path)})


async def refresh(context: ssl.SSLContext, certificate: AutoCertificate) -> x509.Certificate:
    """Reissue the certificate if due (in a thread) and load it into ``context`` (on the loop,
    so no handshake reads the context while it changes)."""
    await asyncio.to_thread(certificate.ensure, utcnow())
    return certificate.load_into(context)


@asynccontextmanager
async def auto_certificate(
    context: ssl.SSLContext, *, ca: IssuingCA, settings: Settings
) -> AsyncIterator[AutoCertificate]:
    """Serve the ``auto`` certificate, and keep renewing it while the server runs."""
    certificate = AutoCertificate(
        ca=ca, host=tls_host(settings.public_url), directory=settings.data_dir / "tls"
    )
    await asyncio.to_thread(certificate.remove_stale_snapshots)
    await refresh(context, certificate)

    async def keep_renewing() -> None:
        while True:
            await asyncio.sleep(CHECK_EVERY.total_seconds())
            try:
                await refresh(context, certificate)
            except Exception:  # keep serving the current certificate; retried next round
                log.exception("tls server certificate renewal failed")

    task = asyncio.create_task(keep_renewing())
    try:
        yield certificate
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
