"""What the CMP modules share: the limits and identifiers, the refusals (PKIFailureInfo and the
error that carries one), and the DER cutting. Pure."""

from __future__ import annotations

import enum
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from cryptography.exceptions import UnsupportedAlgorithm
from pyasn1.error import PyAsn1Error
from pyasn1.type import univ

CONTENT_TYPE = "application/pkixcmp"
# A request is one certificate request with a key (RSA 4096: ~1 KiB) or a certConf, plus the
# signer's certificate and chain for kur: a few KiB. pyasn1 decodes ~0.2 MB/s of tiny elements,
# so the limit also bounds the decoding time (run off the event loop anyway).
MAX_MESSAGE_BYTES = 16 * 1024
# freeText strings, generalInfo entries, extraCerts, body entries: RFC 9483 clients send one or
# two; more is refused before the message is decoded.
MAX_LIST_ELEMENTS = 8
NONCE_BYTES = 16
MESSAGE_TIME_TOLERANCE = timedelta(minutes=10)
IMPLICIT_CONFIRM = univ.ObjectIdentifier("1.3.6.1.5.5.7.4.13")
REQUEST_BODIES = {"ir": "ip", "cr": "cp", "p10cr": "cp", "kur": "kup"}


class FailInfo(enum.IntEnum):
    """PKIFailureInfo bits (RFC 4210 section 5.2.3) that certdesk sends."""

    BAD_ALG = 0
    BAD_MESSAGE_CHECK = 1
    BAD_REQUEST = 2
    BAD_TIME = 3
    BAD_CERT_ID = 4
    BAD_DATA_FORMAT = 5
    INCORRECT_DATA = 7
    BAD_POP = 9
    CERT_REVOKED = 10
    BAD_RECIPIENT_NONCE = 13
    BAD_SENDER_NONCE = 18
    BAD_CERT_TEMPLATE = 19
    SIGNER_NOT_TRUSTED = 20
    UNSUPPORTED_VERSION = 22
    NOT_AUTHORIZED = 23
    SYSTEM_FAILURE = 25
    DUPLICATE_CERT_REQ = 26


class CmpError(Exception):
    """A request certdesk refuses; answered with PKIStatusInfo ``rejection``, ``failInfo`` and
    ``text``. ``http_status`` is 200 for a readable CMP message (RFC 6712 section 3.3), 4xx when
    the HTTP request itself was wrong."""

    def __init__(self, fail_info: FailInfo, text: str, *, http_status: int = 200) -> None:
        super().__init__(text)
        self.fail_info = fail_info
        self.text = text
        self.http_status = http_status


@contextmanager
def well_formed(what: str) -> Iterator[None]:
    """Decodable but oddly shaped content is the sender's error, never a server error."""
    try:
        yield
    except (
        PyAsn1Error,
        ValueError,
        TypeError,
        IndexError,
        KeyError,
        AttributeError,
        UnsupportedAlgorithm,
    ):
        raise CmpError(FailInfo.BAD_DATA_FORMAT, f"The {what} is malformed.") from None


def _tlv(data: bytes, offset: int) -> tuple[int, int]:
    """(start of contents, end) of the TLV at ``offset``; low tag numbers only (CMP's are)."""
    if offset + 2 > len(data) or data[offset] & 0x1F == 0x1F:
        raise ValueError("truncated or high-tag-number TLV")
    length = data[offset + 1]
    start = offset + 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or start + count > len(data):
            raise ValueError("bad DER length")
        length = int.from_bytes(data[start : start + count], "big")
        start += count
    end = start + length
    if end > len(data):
        raise ValueError("DER length beyond the data")
    return start, end


def children(tlv: bytes) -> list[bytes]:
    """The encoded elements inside a constructed TLV, byte for byte as sent."""
    start, end = _tlv(tlv, 0)
    elements = []
    offset = start
    while offset < end:
        _, element_end = _tlv(tlv, offset)
        elements.append(tlv[offset:element_end])
        offset = element_end
    return elements


def sequence(contents: bytes) -> bytes:
    length = len(contents)
    if length < 0x80:
        return b"\x30" + bytes([length]) + contents
    size = (length.bit_length() + 7) // 8
    return b"\x30" + bytes([0x80 | size]) + length.to_bytes(size, "big") + contents
