"""The issuing CA's key on a PKCS#11 HSM.

The key is a :class:`~enrollment.pkcs11_keys.TokenECPrivateKey` /
:class:`~usbkey.pkcs11.keys.TokenRSAPrivateKey`: a subclass of cryptography's private-key
interface whose ``sign()`` calls the HSM, so ``IssuingCA.issue`` and ``crl.build_crl`` use the
very same ``CertificateBuilder`` / ``CertificateRevocationListBuilder`` code for a file key and
an HSM key. The installed cryptography passes the bytes to be signed to that Python method
(checked by ``tests/enrollment/test_pkcs11_keys.py``), so no re-signing of TBS bytes and no
hand-assembled DER is needed.

One PKCS#11 session per process, opened at start and closed at shutdown
(:class:`HsmKey` is a context manager; ``bot/runtime.py`` holds it for the runtime's lifetime).
python-pkcs11 sessions are not thread-safe, and signing runs in worker threads
(``asyncio.to_thread``): every signature takes the session's lock, so concurrent issuance is
serialised at the HSM call and nothing else.

First start: if the token has no private key with the configured label, one is generated ON the
HSM (``CKA_SENSITIVE``, not ``CKA_EXTRACTABLE``, sign only), and a root CA (file key, like the
local CA's, under ``$CERTDESK_DATA_DIR/ca-hsm/``) certifies it as the issuing CA. Later starts
check that ``issuing.pem`` still matches the HSM key. Start one process first (or create the key
beforehand, e.g. with ``pkcs11-tool --keypairgen --label …``): two processes starting together
on an empty HSM could each generate a key.
"""

from __future__ import annotations

import threading
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import cast

import pkcs11
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pkcs11 import Attribute, ObjectClass
from pkcs11 import exceptions as p11

from enrollment.ca.authority import IssuingCA, KeyType, NewCA, create_ca_once, create_root_for
from usbkey.pkcs11.errors import (
    TokenError,
    TokenOperationFailed,
)
from usbkey.pkcs11.keys import (
    TokenECPrivateKey,
    TokenRSAPrivateKey,
    public_key_of,
    token_private_key,
)
from usbkey.pkcs11.session import (
    choose_token,
    generate_key_pair,
    open_module,
    open_session,
    private_key_for,
)


class HsmKeyProblem(TokenError, code="hsm_key_problem"): ...


@dataclass(frozen=True, slots=True, kw_only=True)
class HsmConfig:
    module: str
    token_label: str | None
    key_label: str
    pin: str = field(repr=False)
    key_type: KeyType = "ec-p256"


@dataclass(slots=True, kw_only=True)
class HsmKey:
    """An open session on the HSM and the CA key on it (``private_key``, signs on the HSM)."""

    session: pkcs11.Session
    private_key: TokenECPrivateKey | TokenRSAPrivateKey
    lock: threading.Lock
    closed: bool = False

    def close(self) -> None:
        """Close the session (blocking; waits for a signature in progress)."""
        with self.lock:
            if self.closed:
                return
            self.closed = True
            with suppress(p11.PKCS11Error):  # the HSM went away; the process is stopping
                self.session.close()

    def __enter__(self) -> HsmKey:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def open_hsm_key(config: HsmConfig) -> HsmKey:
    """Log in to the HSM and find (or, on first start, generate) the CA key. Blocking.

    Raises the ``token_errors`` for a wrong module, a missing token, a wrong or locked PIN,
    and :class:`HsmKeyProblem` when the label names several keys.
    """
    token = choose_token(open_module(config.module), config.module, config.token_label)
    session = open_session(token, config.pin)
    lock = threading.Lock()
    try:
        key = _find_or_generate(session, config, lock)
    except BaseException:
        session.close()
        raise
    return HsmKey(session=session, private_key=key, lock=lock)


def _find_or_generate(
    session: pkcs11.Session, config: HsmConfig, lock: threading.Lock
) -> TokenECPrivateKey | TokenRSAPrivateKey:
    try:
        found = list(
            session.get_objects(
                {Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.LABEL: config.key_label}
            )
        )
    except p11.PKCS11Error as exc:
        raise TokenOperationFailed("look for the CA key", exc) from None
    if len(found) > 1:
        raise HsmKeyProblem(
            f"The HSM holds {len(found)} private keys labelled {config.key_label!r}; the CA key "
            "must be unique. Remove the extra ones or choose another key label."
        )
    if not found:
        pair = generate_key_pair(
            session, key_type=config.key_type, label=config.key_label, lock=lock
        )
        return pair.private_key
    private = cast(pkcs11.PrivateKey, found[0])
    identifier = bytes(private[Attribute.ID] or b"")
    existing = private_key_for(session, identifier, lock=lock) if identifier else None
    if existing is not None:
        return existing.private_key
    return token_private_key(private, public_key_of(private), lock=lock)


def _spki(certificate: x509.Certificate) -> bytes:
    return certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_or_create_hsm_ca(
    directory: Path,
    *,
    key: HsmKey,
    key_type: KeyType,
    organization: str,
    crl_url: str | None,
) -> IssuingCA:
    """The issuing CA whose key is on the HSM; its certificate is created on first use. Blocking.

    Files in ``directory``: ``root.pem``, ``root.key`` (0600; move it offline in production, as
    for the local CA) and ``issuing.pem``, whose public key must be the HSM key's.
    """
    issuing_path = directory / "issuing.pem"
    public_der = key.private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )

    def create() -> NewCA:
        root, root_key, issuing = create_root_for(
            key.private_key.public_key(), key_type=key_type, organization=organization
        )
        return NewCA(root=root, root_key=root_key, issuing=issuing, issuing_key=None)

    create_ca_once(directory, create)
    issuing = x509.load_pem_x509_certificate(issuing_path.read_bytes())
    if _spki(issuing) != public_der:
        raise HsmKeyProblem(
            f"{issuing_path} certifies another key than the HSM's CA key. Point the settings at "
            "the HSM key this CA was created with, or move the ca-hsm directory away to create "
            "a new CA (every certificate issued so far then chains to the old one)."
        )
    return IssuingCA(
        certificate=issuing,
        private_key=key.private_key,
        root=x509.load_pem_x509_certificate((directory / "root.pem").read_bytes()),
        crl_url=crl_url,
    )
