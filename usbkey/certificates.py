"""What a record holding a certificate says about it: the serial as certdesk writes it (lower-case
hex, as in the database, the API and the links), the moment it expires (aware UTC), and its
extensions."""

from __future__ import annotations

from datetime import datetime
from typing import TypeVar

from cryptography import x509

E = TypeVar("E", bound=x509.ExtensionType)


def extension(extensions: x509.Extensions, kind: type[E]) -> E | None:
    """The value of the ``kind`` extension among ``extensions``, None when there is none."""
    try:
        return extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
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
