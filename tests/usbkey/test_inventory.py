"""Which certificate on a token is current: by validity and CKA_ID, never by label alone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from usbkey.inventory import classify, removable, superseded_label

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
KEY = ec.generate_private_key(ec.SECP256R1())


def name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def certificate(cn: str, *, start: datetime, days: int = 365, ca: bool = False) -> x509.Certificate:
    return (
        x509.CertificateBuilder()
        .subject_name(name(cn))
        .issuer_name(name("Issuing CA"))
        .public_key(KEY.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(KEY, hashes.SHA256())
    )


@dataclass(frozen=True)
class Found:
    label: str
    id: bytes
    certificate: x509.Certificate

    @property
    def is_ca(self) -> bool:
        return bool(
            self.certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        )


def states(found: list[Found]) -> list[str]:
    return [entry.state for entry in classify(found, NOW)]


def test_the_newest_of_one_holder_is_current_and_the_older_superseded() -> None:
    """A token written before in-place renewal: same label, same subject."""
    old = Found("Holder", b"\x01", certificate("Holder", start=NOW - timedelta(days=30)))
    new = Found("Holder", b"\x02", certificate("Holder", start=NOW - timedelta(days=1)))
    ca = Found("Issuing CA", b"\x09", certificate("Issuing CA", start=NOW, ca=True))
    assert states([old, new, ca]) == ["superseded", "current", "authority"]
    assert removable(classify([old, new, ca], NOW)) == [old]


def test_a_pair_kept_with_keep_old_is_superseded_even_when_it_is_the_only_one() -> None:
    kept = Found(superseded_label("Holder", "ab12"), b"\x01", certificate("Holder", start=NOW))
    assert kept.label == "Holder (superseded ab12)"
    assert superseded_label(kept.label, "cd34") == "Holder (superseded cd34)"
    assert states([kept]) == ["superseded"]


def test_expired_certificates_are_removable_but_not_a_ca() -> None:
    expired = Found("Old", b"\x01", certificate("Old", start=NOW - timedelta(days=400)))
    old_ca = Found("CA", b"\x02", certificate("CA", start=NOW - timedelta(days=400), ca=True))
    classified = classify([expired, old_ca], NOW)
    assert [c.state for c in classified] == ["expired", "authority"]
    assert removable(classified) == [expired]


def test_different_holders_on_one_token_are_each_current() -> None:
    one = Found("Same label", b"\x01", certificate("One", start=NOW - timedelta(days=3)))
    two = Found("Same label", b"\x02", certificate("Two", start=NOW - timedelta(days=1)))
    assert states([one, two]) == ["current", "current"]


def test_a_pair_sharing_its_id_with_a_current_certificate_is_never_removed() -> None:
    current = Found("Holder", b"\x01", certificate("Holder", start=NOW - timedelta(days=1)))
    older = Found("Holder", b"\x01", certificate("Holder", start=NOW - timedelta(days=9)))
    classified = classify([current, older], NOW)
    assert [c.state for c in classified] == ["current", "superseded"]
    assert removable(classified) == []
