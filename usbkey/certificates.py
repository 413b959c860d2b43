"""What a record holding a certificate says about it: the serial as certdesk writes it (lower-case
hex, as in the database, the API and the links), the moment it expires (aware UTC), and its
extensions."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, TypeVar

from cryptography import x509

E = TypeVar("E", bound=x509.ExtensionType)


class HasExtensions(Protocol):
    """A certificate, an OCSP request or an OCSP response."""

    @property
    def extensions(self) -> x509.Extensions: ...


def extension(holder: HasExtensions, kind: type[E]) -> E | None:
    """The value of ``holder``'s ``kind`` extension; None when it has none, or when its
    extensions cannot be read: one appears twice, or a name is of a type cryptography does not
    read (x400Address, ediPartyName), neither a ValueError. Every use reads None as "not shown":
    no OCSP address, no nonce, no OCSP signing, not a CA, no CRL point, no key identifier."""
    try:
        return holder.extensions.get_extension_for_class(kind).value
    except (x509.ExtensionNotFound, x509.DuplicateExtension, x509.UnsupportedGeneralNameType):
        return None


def serial_hex(certificate: x509.Certificate) -> str:
    """The certificate's serial number as certdesk writes it everywhere: lower-case hex."""
    return format(certificate.serial_number, "x")


class HoldsCertificate:
    """Mixin for a record with a ``certificate`` field: its ``serial`` and ``not_after``."""

    __slots__ = ()
    certificate: x509.Certificate

    @property
    def serial(self) -> str:
        return serial_hex(self.certificate)

    @property
    def not_after(self) -> datetime:
        return self.certificate.not_valid_after_utc
