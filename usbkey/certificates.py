"""What a record holding a certificate says about it: the serial as certdesk writes it (lower-case
hex, as in the database, the API and the links) and the moment it expires (aware UTC)."""

from __future__ import annotations

from datetime import datetime

from cryptography import x509


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
