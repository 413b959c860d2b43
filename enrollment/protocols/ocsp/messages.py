"""OCSP messages (RFC 6960, RFC 5019 profile): reading a request, building the answers. Pure.

A request is read into an :class:`OcspQuery` (one certificate, as RFC 5019 2.1.1 asks) or
refused with :class:`OcspRefusal` carrying the unsuccessful status to answer
(``malformedRequest``, ``unauthorized`` for another issuer). Answers are signed with the
delegated signer's key (``enrollment/ca/ocsp_signer.py``): CPU work, call :func:`sign_answer`
off the event loop.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from urllib.parse import unquote

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509 import ocsp

from enrollment.ca.crl import RevokedEntry
from enrollment.ca.ocsp_signer import OcspSigner

MAX_REQUEST_BYTES = 8 * 1024
MAX_NONCE_BYTES = 32  # RFC 8954 2.1
# The CertID hash algorithms answered; the name and key hashes are computed for each.
CERT_ID_HASHES: tuple[hashes.HashAlgorithm, ...] = (
    hashes.SHA1(),  # noqa: S303 (RFC 5019 2.1.1: CertID hashes are SHA-1 by default)
    hashes.SHA256(),
    hashes.SHA384(),
    hashes.SHA512(),
)
MALFORMED = ocsp.OCSPResponseStatus.MALFORMED_REQUEST
UNAUTHORIZED = ocsp.OCSPResponseStatus.UNAUTHORIZED
TRY_LATER = ocsp.OCSPResponseStatus.TRY_LATER


class OcspRefusal(Exception):
    """A request answered with an unsuccessful response status (HTTP 200, RFC 6960 2.3)."""

    def __init__(self, status: ocsp.OCSPResponseStatus, why: str) -> None:
        super().__init__(why)
        self.status = status
        self.why = why


@dataclass(frozen=True, slots=True, kw_only=True)
class OcspQuery:
    """The one certificate a request asks about, as its CertID names it, and its nonce."""

    serial: int
    algorithm: hashes.HashAlgorithm
    issuer_name_hash: bytes
    issuer_key_hash: bytes
    nonce: bytes | None

    @property
    def serial_hex(self) -> str:
        """As certdesk stores serials: lowercase hex without leading zeros."""
        return format(self.serial, "x")


@dataclass(frozen=True, slots=True, kw_only=True)
class SignedAnswer:
    """A signed response and what its HTTP caching headers say, computed once when signed."""

    der: bytes
    this_update: datetime
    next_update: datetime
    etag: str
    last_modified: str  # HTTP dates (RFC 5019 6.2)
    expires: str

    @classmethod
    def of(cls, der: bytes, *, this_update: datetime, next_update: datetime) -> SignedAnswer:
        return cls(
            der=der,
            this_update=this_update,
            next_update=next_update,
            etag='"' + hashlib.sha256(der).hexdigest()[:32] + '"',
            last_modified=format_datetime(this_update, usegmt=True),
            expires=format_datetime(next_update, usegmt=True),
        )


def decode_get_path(raw: str) -> bytes:
    """The DER request of ``GET /ocsp/{request}``: base64 (RFC 6960 A.1, percent-encoded) or
    base64url, padded or not."""
    text = unquote(raw).strip().translate(str.maketrans("-_", "+/"))
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise OcspRefusal(MALFORMED, "the GET path is not base64") from None


def parse_request(der: bytes) -> OcspQuery:
    """The request's one CertID and nonce; :class:`OcspRefusal` (malformedRequest) otherwise."""
    try:
        request = ocsp.load_der_ocsp_request(der)
        algorithm = request.hash_algorithm
        query = OcspQuery(
            serial=request.serial_number,
            algorithm=algorithm,
            issuer_name_hash=request.issuer_name_hash,
            issuer_key_hash=request.issuer_key_hash,
            nonce=_nonce(request),
        )
    except UnsupportedAlgorithm:
        raise OcspRefusal(MALFORMED, "the CertID hash algorithm is not supported") from None
    except ValueError:
        raise OcspRefusal(MALFORMED, "not a DER OCSP request for one certificate") from None
    except x509.DuplicateExtension:  # no ValueError
        raise OcspRefusal(MALFORMED, "an extension of the request appears twice") from None
    if query.nonce is not None and not 1 <= len(query.nonce) <= MAX_NONCE_BYTES:
        raise OcspRefusal(MALFORMED, "the nonce is not 1 to 32 octets")
    return query


class ParsedRequests:
    """:func:`parse_request` with a memory, keyed by what arrived (the GET path or the POST
    body): a relying party asking again about the same certificate sends the same bytes, read
    once. Only requests without a nonce are kept (a nonce makes each request new); at most
    ``size``, the oldest leaving first. Refusals are not kept: they are cheap to repeat."""

    def __init__(self, size: int = 10_000) -> None:
        self._size = size
        self._known: dict[str | bytes, OcspQuery] = {}

    def get(self, key: str | bytes) -> OcspQuery | None:
        return self._known.get(key)

    def keep(self, key: str | bytes, query: OcspQuery) -> None:
        if query.nonce is not None:
            return
        known = self._known
        if len(known) >= self._size:
            del known[next(iter(known))]
        known[key] = query


def _nonce(request: ocsp.OCSPRequest) -> bytes | None:
    try:
        return request.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
    except x509.ExtensionNotFound:
        return None


@dataclass(frozen=True, slots=True)
class IssuerHashes:
    """The issuing CA's CertID hashes (name, key) for each supported algorithm."""

    by_algorithm: dict[str, tuple[bytes, bytes]]

    @classmethod
    def of(cls, certificate: x509.Certificate) -> IssuerHashes:
        name = certificate.subject.public_bytes()
        key = _subject_public_key_bits(certificate)
        return cls(
            {
                algorithm.name: (_digest(algorithm, name), _digest(algorithm, key))
                for algorithm in CERT_ID_HASHES
            }
        )

    def names(self, query: OcspQuery) -> bool:
        return self.by_algorithm.get(query.algorithm.name) == (
            query.issuer_name_hash,
            query.issuer_key_hash,
        )


def _digest(algorithm: hashes.HashAlgorithm, data: bytes) -> bytes:
    digest = hashes.Hash(algorithm)
    digest.update(data)
    return digest.finalize()


def _subject_public_key_bits(certificate: x509.Certificate) -> bytes:
    """The contents of subjectPublicKey's BIT STRING, what CertID's issuerKeyHash hashes."""
    key = certificate.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        return key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
    if isinstance(key, rsa.RSAPublicKey):
        return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    if isinstance(key, ed25519.Ed25519PublicKey):
        return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    raise TypeError(f"unsupported issuing CA key {type(key).__name__}")


def _unsuccessful(status: ocsp.OCSPResponseStatus) -> bytes:
    return ocsp.OCSPResponseBuilder.build_unsuccessful(status).public_bytes(
        serialization.Encoding.DER
    )


# Unsigned and always the same (RFC 6960 4.2.1): built once.
_UNSUCCESSFUL = {status: _unsuccessful(status) for status in (MALFORMED, UNAUTHORIZED, TRY_LATER)}


def unsuccessful(status: ocsp.OCSPResponseStatus) -> bytes:
    return _UNSUCCESSFUL.get(status) or _unsuccessful(status)


def sign_answer(
    query: OcspQuery,
    *,
    issued: bool,
    revoked: RevokedEntry | None,
    signer: OcspSigner,
    this_update: datetime,
    next_update: datetime,
) -> SignedAnswer:
    """A signed basic response: good, revoked (time and reason) or unknown (never issued).

    RFC 5280 5.3.1's rule for CRLs holds here too: "unspecified" is not stated as a reason.
    """
    if revoked is not None:
        status = ocsp.OCSPCertStatus.REVOKED
        reason = (
            None if revoked.reason in (None, "unspecified") else x509.ReasonFlags(revoked.reason)
        )
        revocation_time: datetime | None = revoked.revoked_at.replace(microsecond=0)
    else:
        status = ocsp.OCSPCertStatus.GOOD if issued else ocsp.OCSPCertStatus.UNKNOWN
        reason, revocation_time = None, None
    builder = (
        ocsp.OCSPResponseBuilder()
        .add_response_by_hash(
            issuer_name_hash=query.issuer_name_hash,
            issuer_key_hash=query.issuer_key_hash,
            serial_number=query.serial,
            algorithm=query.algorithm,
            cert_status=status,
            this_update=this_update,
            next_update=next_update,
            revocation_time=revocation_time,
            revocation_reason=reason,
        )
        .responder_id(ocsp.OCSPResponderEncoding.HASH, signer.certificate)
        .certificates([signer.certificate])
    )
    if query.nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(query.nonce), critical=False)
    response = builder.sign(signer.private_key, hashes.SHA256())
    return SignedAnswer.of(
        response.public_bytes(serialization.Encoding.DER),
        this_update=this_update,
        next_update=next_update,
    )
