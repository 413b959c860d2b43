"""A USB key (PKCS#11 token) as the ``certdesk token`` client uses it. Blocking, synchronous.

Thin over python-pkcs11: load the module, pick the token, log in, make a key pair that never
leaves the token, store certificates next to it, list what is there. Every PKCS#11 error is
turned into one of ``token_errors.py``'s, so the command line can say what to do next.

Objects written to the token follow the usual convention that other software (Windows and
macOS smart-card stacks, OpenSC, browsers via p11-kit) relies on: a key pair and its
certificate share ``CKA_ID`` (here the certificate's subject key identifier, SHA-1 of the public
key) and ``CKA_LABEL``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import pkcs11
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from pkcs11 import Attribute, CertificateType, KeyType, MechanismFlag, ObjectClass, TokenFlag
from pkcs11 import exceptions as p11
from pkcs11.util.ec import encode_named_curve_parameters

if TYPE_CHECKING:
    from pkcs11._pkcs11 import lib as Pkcs11Library

from common.der import serial_not_positive
from usbkey.certificates import HoldsCertificate, extension
from usbkey.pkcs11.errors import (
    NoToken,
    PinIncorrect,
    PinLocked,
    SeveralTokens,
    TokenNotFound,
    TokenOperationFailed,
    WrongModule,
)
from usbkey.pkcs11.key_types import TokenKeyType
from usbkey.pkcs11.keys import (
    TokenECPrivateKey,
    TokenPublicKey,
    TokenRSAPrivateKey,
    public_key_of,
    token_private_key,
)

PENDING_LABEL = "certdesk pending"  # a key pair whose certificate has not arrived (yet)


def open_module(path: str) -> Pkcs11Library:
    """Load a PKCS#11 module, or raise :class:`WrongModule` saying why it is not one."""
    if not os.path.exists(path):
        raise WrongModule(path, "the file does not exist")
    if not os.path.isfile(path):
        raise WrongModule(path, "it is not a file")
    try:
        # python-pkcs11 keeps one initialised instance per module path and process.
        return pkcs11.lib(os.path.realpath(path))
    except p11.PKCS11Error as exc:
        reason = str(exc).split(": ")[-1] or type(exc).__name__
        if "C_GetFunctionList" in str(exc):
            reason = "it is a shared library but not a PKCS#11 module (no C_GetFunctionList)"
        raise WrongModule(path, reason) from None


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenInfo:
    slot_id: int
    label: str
    manufacturer: str
    model: str
    serial: str


def _info(token: pkcs11.Token) -> TokenInfo:
    serial = token.serial
    return TokenInfo(
        slot_id=token.slot.slot_id,
        label=token.label,
        manufacturer=token.manufacturer_id,
        model=token.model,
        serial=serial.decode("ascii", "replace").strip() if isinstance(serial, bytes) else serial,
    )


def _initialised_tokens(library: Pkcs11Library) -> list[pkcs11.Token]:
    try:
        slots = library.get_slots(token_present=True)
        tokens = [slot.get_token() for slot in slots]
    except p11.PKCS11Error as exc:
        raise TokenOperationFailed("list its slots", exc) from None
    return [t for t in tokens if TokenFlag.TOKEN_INITIALIZED in t.flags]


def list_tokens(library: Pkcs11Library) -> list[tuple[pkcs11.Token, TokenInfo]]:
    return [(token, _info(token)) for token in _initialised_tokens(library)]


def choose_token(library: Pkcs11Library, module: str, label: str | None) -> pkcs11.Token:
    """The one token to use: the one with ``label``, or the only one present."""
    tokens = _initialised_tokens(library)
    if label is not None:
        matching = [t for t in tokens if t.label == label]
        if not matching:
            raise TokenNotFound(label, [t.label for t in tokens])
        if len(matching) > 1:
            raise SeveralTokens([f"{t.label} (slot {t.slot.slot_id})" for t in matching])
        return matching[0]
    if not tokens:
        raise NoToken(module)
    if len(tokens) > 1:
        raise SeveralTokens(sorted(t.label for t in tokens))
    return tokens[0]


def open_session(token: pkcs11.Token, pin: str) -> pkcs11.Session:
    """A read/write session logged in as the user; wrong and locked PINs raise clearly.
    The caller closes it (or uses :func:`logged_in`)."""
    try:
        return token.open(rw=True, user_pin=pin)
    except p11.PinIncorrect:
        raise PinIncorrect() from None
    except p11.PinLocked:
        raise PinLocked() from None
    except (p11.PinInvalid, p11.PinLenRange):
        raise PinIncorrect() from None
    except p11.PKCS11Error as exc:
        raise TokenOperationFailed("open a session", exc) from None


@contextmanager
def logged_in(token: pkcs11.Token, pin: str) -> Iterator[pkcs11.Session]:
    """:func:`open_session` as a context manager that closes the session."""
    session = open_session(token, pin)
    try:
        yield session
    finally:
        with suppress(p11.PKCS11Error):  # the token was unplugged meanwhile
            session.close()


@contextmanager
def reading(token: pkcs11.Token) -> Iterator[pkcs11.Session]:
    """A read-only public session (certificates are public objects: no PIN needed)."""
    try:
        session = token.open()
    except p11.PKCS11Error as exc:
        raise TokenOperationFailed("open a session", exc) from None
    try:
        yield session
    finally:
        with suppress(p11.PKCS11Error):
            session.close()


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenKeyPair:
    """A key pair on the token and its cryptography view (which signs on the token)."""

    id: bytes
    label: str
    public_key: TokenPublicKey
    private_key: TokenECPrivateKey | TokenRSAPrivateKey
    handles: tuple[pkcs11.Object, ...]


def key_id(public_key: TokenPublicKey) -> bytes:
    """CKA_ID: the subject key identifier the certificate will carry (SHA-1 of the key)."""
    return x509.SubjectKeyIdentifier.from_public_key(public_key).digest


def generate_key_pair(
    session: pkcs11.Session,
    *,
    key_type: TokenKeyType = "ec-p256",
    label: str = PENDING_LABEL,
    lock: threading.Lock | None = None,
) -> TokenKeyPair:
    """A new key pair stored on the token: private, sensitive, never extractable, sign only.

    ``lock`` guards the session's signing calls (give the session's lock when it is shared).
    """
    private_template: dict[Attribute, Any] = {
        Attribute.TOKEN: True,
        Attribute.PRIVATE: True,
        Attribute.SENSITIVE: True,
        Attribute.EXTRACTABLE: False,
    }
    public_template: dict[Attribute, Any] = {Attribute.TOKEN: True}
    capabilities = MechanismFlag.SIGN | MechanismFlag.VERIFY
    try:
        if key_type.startswith("ec-"):
            curve = "secp256r1" if key_type == "ec-p256" else "secp384r1"
            params = session.create_domain_parameters(
                KeyType.EC,
                {Attribute.EC_PARAMS: encode_named_curve_parameters(curve)},
                local=True,
            )
            public, private = params.generate_keypair(
                store=True,
                label=label,
                capabilities=capabilities,
                public_template=public_template,
                private_template=private_template,
            )
        else:
            public, private = session.generate_keypair(
                KeyType.RSA,
                int(key_type.removeprefix("rsa-")),
                store=True,
                label=label,
                capabilities=capabilities,
                public_template={**public_template, Attribute.PUBLIC_EXPONENT: b"\x01\x00\x01"},
                private_template=private_template,
            )
        public_key = public_key_of(public)
        identifier = key_id(public_key)
        public[Attribute.ID] = identifier
        private[Attribute.ID] = identifier
    except p11.PKCS11Error as exc:
        raise TokenOperationFailed(f"generate a {key_type} key pair", exc) from None
    return TokenKeyPair(
        id=identifier,
        label=label,
        public_key=public_key,
        private_key=token_private_key(private, public_key, lock=lock or threading.Lock()),
        handles=(public, private),
    )


def private_key_for(
    session: pkcs11.Session, identifier: bytes, *, lock: threading.Lock | None = None
) -> TokenKeyPair | None:
    """The key pair with CKA_ID ``identifier`` (the private key needs a logged-in session)."""
    try:
        privates = list(
            session.get_objects(
                {Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.ID: identifier}
            )
        )
        publics = list(
            session.get_objects({Attribute.CLASS: ObjectClass.PUBLIC_KEY, Attribute.ID: identifier})
        )
    except p11.PKCS11Error as exc:
        raise TokenOperationFailed("find a key", exc) from None
    if not privates:
        return None
    private = cast(pkcs11.PrivateKey, privates[0])
    public = cast(pkcs11.PublicKey, publics[0]) if publics else None
    public_key = public_key_of(public or private)
    return TokenKeyPair(
        id=identifier,
        label=str(private[Attribute.LABEL]),
        public_key=public_key,
        private_key=token_private_key(private, public_key, lock=lock or threading.Lock()),
        handles=(public, private) if public is not None else (private,),
    )


def relabel(pair: TokenKeyPair, label: str) -> None:
    """Give the key pair its final label (the certificate's friendly name)."""
    try:
        for handle in pair.handles:
            handle[Attribute.LABEL] = label
    except p11.PKCS11Error:
        pass  # CKA_LABEL is read-only on this token: the key keeps the pending label


def delete_key_pair(session: pkcs11.Session, identifier: bytes) -> None:
    """Destroy the key pair (and nothing else) with CKA_ID ``identifier``."""
    try:
        for object_class in (ObjectClass.PRIVATE_KEY, ObjectClass.PUBLIC_KEY):
            for obj in list(
                session.get_objects({Attribute.CLASS: object_class, Attribute.ID: identifier})
            ):
                obj.destroy()
    except p11.PKCS11Error as exc:
        raise TokenOperationFailed("delete a key pair", exc) from None


def delete_pair_and_certificate(session: pkcs11.Session, identifier: bytes) -> None:
    """Destroy the certificate(s), private key and public key with CKA_ID ``identifier``."""
    try:
        for obj in list(
            session.get_objects(
                {Attribute.CLASS: ObjectClass.CERTIFICATE, Attribute.ID: identifier}
            )
        ):
            obj.destroy()
    except p11.PKCS11Error as exc:
        raise TokenOperationFailed("delete an old certificate", exc) from None
    delete_key_pair(session, identifier)


def relabel_objects(session: pkcs11.Session, identifier: bytes, label: str) -> None:
    """Give every object with CKA_ID ``identifier`` (certificate and key pair) ``label``."""
    try:
        for object_class in (
            ObjectClass.CERTIFICATE,
            ObjectClass.PRIVATE_KEY,
            ObjectClass.PUBLIC_KEY,
        ):
            for obj in list(
                session.get_objects({Attribute.CLASS: object_class, Attribute.ID: identifier})
            ):
                obj[Attribute.LABEL] = label
    except p11.PKCS11Error as exc:
        raise TokenOperationFailed("relabel the old certificate", exc) from None


def certificate_with_id(session: pkcs11.Session, identifier: bytes) -> x509.Certificate | None:
    """The certificate stored with CKA_ID ``identifier``, read back from the token."""
    for found in certificates_on(session):
        if found.id == identifier:
            return found.certificate
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class CertificateOnToken(HoldsCertificate):
    label: str
    id: bytes
    certificate: x509.Certificate

    @property
    def common_name(self) -> str:
        names = self.certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        return str(names[0].value) if names else self.certificate.subject.rfc4514_string()

    @property
    def is_ca(self) -> bool:
        constraints = extension(self.certificate, x509.BasicConstraints)
        return constraints is not None and constraints.ca


def certificates_on(session: pkcs11.Session) -> list[CertificateOnToken]:
    """Every X.509 certificate object on the token (unreadable ones are skipped)."""
    found: list[CertificateOnToken] = []
    try:
        objects = list(
            session.get_objects(
                {
                    Attribute.CLASS: ObjectClass.CERTIFICATE,
                    Attribute.CERTIFICATE_TYPE: CertificateType.X_509,
                }
            )
        )
        for obj in objects:
            attributes = obj.get_attributes([Attribute.VALUE, Attribute.LABEL, Attribute.ID])
            der = bytes(attributes[Attribute.VALUE])
            if serial_not_positive(der):  # RFC 5280 forbids it; cryptography warns (then refuses)
                continue
            try:
                certificate = x509.load_der_x509_certificate(der)
            except (ValueError, x509.InvalidVersion):
                continue
            found.append(
                CertificateOnToken(
                    label=str(attributes.get(Attribute.LABEL) or ""),
                    id=bytes(attributes.get(Attribute.ID) or b""),
                    certificate=certificate,
                )
            )
    except p11.PKCS11Error as exc:
        raise TokenOperationFailed("read its certificates", exc) from None
    return found


def _der_integer(value: int) -> bytes:
    body = value.to_bytes(value.bit_length() // 8 + 1, "big")
    if len(body) < 0x80:
        return bytes([0x02, len(body)]) + body
    length = len(body).to_bytes((len(body).bit_length() + 7) // 8, "big")
    return bytes([0x02, 0x80 | len(length)]) + length + body


def store_certificate(
    session: pkcs11.Session,
    certificate: x509.Certificate,
    *,
    label: str,
    identifier: bytes,
) -> None:
    """Write ``certificate`` to the token, unless the very same certificate is already there."""
    der = certificate.public_bytes(serialization.Encoding.DER)
    fingerprint = certificate.fingerprint(hashes.SHA256())
    if any(
        c.certificate.fingerprint(hashes.SHA256()) == fingerprint for c in certificates_on(session)
    ):
        return
    template: dict[Attribute, Any] = {
        Attribute.CLASS: ObjectClass.CERTIFICATE,
        Attribute.CERTIFICATE_TYPE: CertificateType.X_509,
        Attribute.TOKEN: True,
        Attribute.PRIVATE: False,
        Attribute.LABEL: label,
        Attribute.ID: identifier,
        Attribute.SUBJECT: certificate.subject.public_bytes(),
        Attribute.ISSUER: certificate.issuer.public_bytes(),
        Attribute.SERIAL_NUMBER: _der_integer(certificate.serial_number),
        Attribute.VALUE: der,
    }
    try:
        session.create_object(template)
    except p11.PKCS11Error as exc:
        raise TokenOperationFailed("store the certificate", exc) from None


def authority_id(certificate: x509.Certificate) -> bytes:
    identifier = extension(certificate, x509.SubjectKeyIdentifier)
    if identifier is not None:
        return identifier.digest
    return certificate.fingerprint(hashes.SHA1())  # noqa: S303 (an identifier, not security)
