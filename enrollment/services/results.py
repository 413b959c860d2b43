"""What several use cases take and return: a new link, the key material of a request, an
issued certificate, a PKCS#12 package, the optional facts of an audit row."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypedDict

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from enrollment.ca.authority import KeyType
from enrollment.ca.pkcs12 import (
    Pkcs12Format,
    check_password,
    p12_filename,
    parse_format,
    parse_key_type,
)
from enrollment.errors import RequestInvalid
from enrollment.models import Delivery
from enrollment.services.creation import NewLink as NewLink
from usbkey.certificates import HoldsCertificate


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerKey:
    """Ask the server to generate the key and return it once, inside a PKCS#12 file."""

    password: str
    key_type: KeyType = "ec-p256"
    file_format: Pkcs12Format = "modern"

    def __post_init__(self) -> None:
        check_password(self.password)
        parse_key_type(self.key_type)
        parse_format(self.file_format)

    def __repr__(self) -> str:
        return (
            f"ServerKey(password=<hidden>, key_type={self.key_type!r}, "
            f"file_format={self.file_format!r})"
        )


CSR_DELIVERIES = (Delivery.BROWSER, Delivery.CSR, Delivery.TOKEN)


def csr_delivery(value: str) -> Delivery:
    """The delivery a CSR-based request may claim: browser, csr or token."""
    try:
        delivery = Delivery(value)
    except ValueError:
        delivery = None
    if delivery not in CSR_DELIVERIES:
        allowed = ", ".join(d.value for d in CSR_DELIVERIES)
        raise RequestInvalid(f"The delivery {value!r} is not one of: {allowed}.")
    return delivery


@dataclass(frozen=True, slots=True, kw_only=True)
class IssuedCertificate(HoldsCertificate):
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    friendly_name: str | None = None
    delivery: Delivery = Delivery.CSR
    replaces: str | None = None
    # The PEM texts, made with the signature (in its worker thread) unless given.
    certificate_text: str = ""
    chain_text: str = ""

    def __post_init__(self) -> None:
        if not self.certificate_text:
            text = self.certificate.public_bytes(serialization.Encoding.PEM).decode()
            object.__setattr__(self, "certificate_text", text)
        if not self.chain_text:
            chain = "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in self.chain)
            object.__setattr__(self, "chain_text", chain)

    def certificate_pem(self) -> str:
        return self.certificate_text

    def chain_pem(self) -> str:
        return self.chain_text


@dataclass(frozen=True, slots=True, kw_only=True)
class Pkcs12Package:
    """A server-generated key and its certificate, encrypted; the only copy of the key."""

    data: bytes
    issued: IssuedCertificate

    @classmethod
    def of(cls, redeemed: tuple[IssuedCertificate, bytes | None]) -> Pkcs12Package:
        """The package a redemption with a server key returns beside its certificate."""
        issued, data = redeemed
        assert data is not None
        return cls(data=data, issued=issued)

    def __repr__(self) -> str:
        return f"Pkcs12Package(<{len(self.data)} bytes>, serial={self.issued.serial})"

    @property
    def filename(self) -> str:
        return p12_filename(self.issued.friendly_name)


@dataclass(frozen=True, slots=True, kw_only=True)
class ProvenKey:
    """A public key whose possession the protocol has already proven (CMP's POPO signature)."""

    public_key: PublicKeyTypes


KeyMaterial = str | bytes | ServerKey | ProvenKey


class AuditFacts(TypedDict, total=False):
    """What an audit row may add to who did what; left out, the audit row's defaults
    (no target, outcome ``ok``, no detail)."""

    target: str | None
    outcome: str
    detail: dict[str, Any]
