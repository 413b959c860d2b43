"""The memory of parsed OCSP requests (pure): what it keeps, for how many, and what never."""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes

from enrollment.protocols.ocsp.messages import OcspQuery, ParsedRequests


def query(serial: int, nonce: bytes | None = None) -> OcspQuery:
    return OcspQuery(
        serial=serial,
        algorithm=hashes.SHA1(),  # noqa: S303 (RFC 5019's CertID hash)
        issuer_name_hash=b"n" * 20,
        issuer_key_hash=b"k" * 20,
        nonce=nonce,
    )


def test_parsed_requests_keep_requests_without_a_nonce_by_what_arrived() -> None:
    parsed = ParsedRequests()
    plain = query(1)
    parsed.keep("MFEwTzBN", plain)
    parsed.keep(b"\x30\x51", plain)
    assert parsed.get("MFEwTzBN") is plain
    assert parsed.get(b"\x30\x51") is plain
    assert parsed.get("MFEwTzBM") is None


def test_parsed_requests_never_keep_a_nonce() -> None:
    """A nonce must be echoed for each request: its query is read anew every time."""
    parsed = ParsedRequests()
    parsed.keep(b"with-nonce", query(1, nonce=b"\x01" * 16))
    assert parsed.get(b"with-nonce") is None


def test_parsed_requests_hold_at_most_their_size_oldest_leaving_first() -> None:
    parsed = ParsedRequests(size=3)
    for serial in range(5):
        parsed.keep(f"r{serial}", query(serial))
    assert [parsed.get(f"r{serial}") is not None for serial in range(5)] == [
        False,
        False,
        True,
        True,
        True,
    ]
