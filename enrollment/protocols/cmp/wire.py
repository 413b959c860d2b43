"""CMP messages (RFC 4210, profiled by RFC 9483): parse, check protection and POPO, answer.

Pure functions over bytes: no I/O, no database. The HTTP handler (``cmp_http.py``) feeds a
request's body to :func:`parse`, asks the service to authenticate the sender with
:class:`MacCheck`, and encodes the answer with :class:`Responder`.

What is supported:

- bodies ``ir``, ``cr``, ``p10cr`` (one request each, as RFC 9483 asks), ``kur``, ``certConf``;
  every other body type is answered with an error message;
- MAC protection with PasswordBasedMac (RFC 4210 section 5.1.3.1: OWF SHA-256/384/512, MAC
  HMAC-SHA1/256/384/512, as ``openssl cmp -secret`` sends), and signature protection (ECDSA,
  RSA PKCS#1 v1.5, Ed25519) for ``kur``;
- POPO by signature (over the DER of ``certReq``); ``raVerified`` and the encryption-based
  methods are refused.

Byte-exactness: the protection and the POPO signature cover the sender's own encoding, so those
bytes are cut out of the message (:func:`_children`) instead of being re-encoded.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from pyasn1.codec.der import decoder as der_decoder
from pyasn1.codec.der import encoder as der_encoder
from pyasn1.error import PyAsn1Error
from pyasn1.type import char, univ, useful
from pyasn1_alt_modules import rfc4210, rfc5280, rfc9480

CONTENT_TYPE = "application/pkixcmp"
MAX_MESSAGE_BYTES = 64 * 1024
NONCE_BYTES = 16
MIN_PBM_ITERATIONS = 100
MAX_PBM_ITERATIONS = 100_000
MAX_SALT_BYTES = 64
MESSAGE_TIME_TOLERANCE = timedelta(minutes=10)

PASSWORD_BASED_MAC = univ.ObjectIdentifier("1.2.840.113533.7.66.13")
IMPLICIT_CONFIRM = univ.ObjectIdentifier("1.3.6.1.5.5.7.4.13")

_OWF: dict[str, str] = {
    "2.16.840.1.101.3.4.2.1": "sha256",
    "2.16.840.1.101.3.4.2.2": "sha384",
    "2.16.840.1.101.3.4.2.3": "sha512",
}
_MAC: dict[str, str] = {
    "1.3.6.1.5.5.8.1.2": "sha1",  # hmac-sha1 (RFC 2104 OID), openssl cmp's default
    "1.2.840.113549.2.7": "sha1",  # hmacWithSHA1
    "1.2.840.113549.2.9": "sha256",
    "1.2.840.113549.2.10": "sha384",
    "1.2.840.113549.2.11": "sha512",
}
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
# Signature algorithms: OID -> (key kind, hash name or None for Ed25519).
_SIGNATURES: dict[str, tuple[str, str | None]] = {
    "1.2.840.10045.4.3.2": ("ec", "sha256"),
    "1.2.840.10045.4.3.3": ("ec", "sha384"),
    "1.2.840.10045.4.3.4": ("ec", "sha512"),
    "1.2.840.113549.1.1.11": ("rsa", "sha256"),
    "1.2.840.113549.1.1.12": ("rsa", "sha384"),
    "1.2.840.113549.1.1.13": ("rsa", "sha512"),
    "1.3.101.112": ("ed25519", None),
}

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
def _well_formed(what: str) -> Iterator[None]:
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


# -- DER cutting ------------------------------------------------------------------------------


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


def _children(tlv: bytes) -> list[bytes]:
    """The encoded elements inside a constructed TLV, byte for byte as sent."""
    start, end = _tlv(tlv, 0)
    elements = []
    offset = start
    while offset < end:
        _, element_end = _tlv(tlv, offset)
        elements.append(tlv[offset:element_end])
        offset = element_end
    return elements


def _sequence(contents: bytes) -> bytes:
    length = len(contents)
    if length < 0x80:
        return b"\x30" + bytes([length]) + contents
    size = (length.bit_length() + 7) // 8
    return b"\x30" + bytes([0x80 | size]) + length.to_bytes(size, "big") + contents


# -- password-based MAC -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class PbmParameters:
    """PBMParameter: salt, one-way function, iteration count, MAC (RFC 4210 5.1.3.1)."""

    salt: bytes
    owf: str
    iterations: int
    mac: str
    owf_oid: str = "2.16.840.1.101.3.4.2.1"
    mac_oid: str = "1.3.6.1.5.5.8.1.2"

    def key(self, secret: bytes) -> bytes:
        key = secret + self.salt
        for _ in range(self.iterations):
            key = hashlib.new(self.owf, key).digest()
        return key

    def compute(self, secret: bytes, data: bytes) -> bytes:
        return hmac.new(self.key(secret), data, self.mac).digest()

    def fresh(self) -> PbmParameters:
        """The same algorithms with a new salt: how certdesk protects its answer."""
        return PbmParameters(
            salt=secrets.token_bytes(16),
            owf=self.owf,
            iterations=self.iterations,
            mac=self.mac,
            owf_oid=self.owf_oid,
            mac_oid=self.mac_oid,
        )

    def algorithm(self) -> rfc5280.AlgorithmIdentifier:
        params = rfc4210.PBMParameter()
        params["salt"] = self.salt
        params["owf"]["algorithm"] = univ.ObjectIdentifier(self.owf_oid)
        params["iterationCount"] = self.iterations
        params["mac"]["algorithm"] = univ.ObjectIdentifier(self.mac_oid)
        algorithm = rfc5280.AlgorithmIdentifier()
        algorithm["algorithm"] = PASSWORD_BASED_MAC
        algorithm["parameters"] = der_encoder.encode(params)
        return algorithm


def _pbm_parameters(algorithm: Any) -> PbmParameters:
    oid = str(algorithm["algorithm"])
    if oid != str(PASSWORD_BASED_MAC):
        raise CmpError(
            FailInfo.BAD_ALG,
            f"The message protection {oid} is not supported: certdesk accepts PasswordBasedMac "
            "(openssl cmp -secret) for enrollment and a signature for key update.",
        )
    try:
        params, rest = der_decoder.decode(
            bytes(algorithm["parameters"]), asn1Spec=rfc4210.PBMParameter()
        )
    except (PyAsn1Error, TypeError, ValueError):
        raise CmpError(FailInfo.BAD_DATA_FORMAT, "The PBMParameter is malformed.") from None
    if rest:
        raise CmpError(FailInfo.BAD_DATA_FORMAT, "The PBMParameter is malformed.")
    owf_oid = str(params["owf"]["algorithm"])
    mac_oid = str(params["mac"]["algorithm"])
    iterations = int(params["iterationCount"])
    salt = bytes(params["salt"])
    if owf_oid not in _OWF or mac_oid not in _MAC:
        raise CmpError(
            FailInfo.BAD_ALG,
            "The PasswordBasedMac uses an unsupported algorithm: use SHA-256, SHA-384 or SHA-512 "
            "as the one-way function and HMAC-SHA1/256/384/512 as the MAC (openssl cmp -digest, "
            "-mac).",
        )
    if not MIN_PBM_ITERATIONS <= iterations <= MAX_PBM_ITERATIONS:
        raise CmpError(
            FailInfo.BAD_ALG,
            f"The PasswordBasedMac iteration count {iterations} is outside "
            f"{MIN_PBM_ITERATIONS}..{MAX_PBM_ITERATIONS}.",
        )
    if not 8 <= len(salt) <= MAX_SALT_BYTES:
        raise CmpError(FailInfo.BAD_ALG, "The PasswordBasedMac salt must have 8 to 64 bytes.")
    return PbmParameters(
        salt=salt,
        owf=_OWF[owf_oid],
        iterations=iterations,
        mac=_MAC[mac_oid],
        owf_oid=owf_oid,
        mac_oid=mac_oid,
    )


# -- the parsed request -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CmpRequest:
    """A decoded PKIMessage and the facts certdesk needs from it."""

    message: Any = field(repr=False)
    body_type: str
    pvno: int
    sender_kid: bytes | None
    transaction_id: bytes
    sender_nonce: bytes
    recip_nonce: bytes | None
    message_time: datetime | None
    implicit_confirm: bool
    protection_oid: str | None
    protection: bytes | None = field(repr=False)
    protected_part: bytes = field(repr=False)
    raw_body: bytes = field(repr=False)
    extra_certs: tuple[x509.Certificate, ...] = ()

    @property
    def body(self) -> Any:
        return self.message["body"].getComponent()

    @property
    def reference(self) -> str | None:
        """The senderKID as text (``openssl cmp -ref``): certdesk's reference number."""
        if self.sender_kid is None:
            return None
        try:
            return self.sender_kid.decode("ascii")
        except UnicodeDecodeError:
            return None

    @property
    def mac_protected(self) -> bool:
        return self.protection_oid == str(PASSWORD_BASED_MAC)

    @property
    def mac_parameters(self) -> PbmParameters:
        if self.protection is None or self.protection_oid is None:
            raise CmpError(
                FailInfo.BAD_MESSAGE_CHECK,
                "The request is not protected. Protect it with your authorization code: "
                "openssl cmp -ref REFERENCE -secret pass:AUTHORIZATION-CODE.",
            )
        return _pbm_parameters(self.message["header"]["protectionAlg"])


def parse(data: bytes) -> CmpRequest:
    """Decode a PKIMessage (DER only) or raise :class:`CmpError` saying what is wrong."""
    if not data:
        raise CmpError(FailInfo.BAD_DATA_FORMAT, "The request body is empty.", http_status=400)
    if len(data) > MAX_MESSAGE_BYTES:
        raise CmpError(
            FailInfo.BAD_DATA_FORMAT,
            f"The CMP message is over {MAX_MESSAGE_BYTES // 1024} KiB.",
            http_status=413,
        )
    try:
        message, rest = der_decoder.decode(data, asn1Spec=rfc9480.PKIMessage())
        parts = _children(data)
    except (PyAsn1Error, ValueError, TypeError):
        raise CmpError(
            FailInfo.BAD_DATA_FORMAT,
            "The request is not a DER-encoded CMP PKIMessage.",
            http_status=400,
        ) from None
    if rest or len(parts) < 2:
        raise CmpError(
            FailInfo.BAD_DATA_FORMAT, "Trailing data after the PKIMessage.", http_status=400
        )
    with _well_formed("PKIMessage header"):
        return _request(message, parts)


def _request(message: Any, parts: list[bytes]) -> CmpRequest:
    header = message["header"]
    pvno = int(header["pvno"])
    body_type = message["body"].getName()
    if pvno not in (2, 3):
        raise CmpError(
            FailInfo.UNSUPPORTED_VERSION, f"CMP version {pvno} is not supported; use 2 or 3."
        )
    transaction_id = _octets(header, "transactionID")
    sender_nonce = _octets(header, "senderNonce")
    if transaction_id is None or sender_nonce is None:
        raise CmpError(
            FailInfo.BAD_REQUEST, "The header needs a transactionID and a senderNonce (RFC 9483)."
        )
    general_info = header["generalInfo"]
    implicit = general_info.isValue and any(
        item["infoType"] == IMPLICIT_CONFIRM for item in general_info
    )
    message_time = None
    if header["messageTime"].isValue:
        message_time = header["messageTime"].asDateTime
        if message_time.tzinfo is None:
            message_time = message_time.replace(tzinfo=UTC)
    protection_oid = (
        str(header["protectionAlg"]["algorithm"]) if header["protectionAlg"].isValue else None
    )
    protection = message["protection"].asOctets() if message["protection"].isValue else None
    extra: list[x509.Certificate] = []
    if message["extraCerts"].isValue:
        for cert in message["extraCerts"]:
            try:
                extra.append(x509.load_der_x509_certificate(der_encoder.encode(cert)))
            except (ValueError, PyAsn1Error):
                raise CmpError(
                    FailInfo.BAD_DATA_FORMAT, "An extraCerts entry is malformed."
                ) from None
    return CmpRequest(
        message=message,
        body_type=body_type,
        pvno=pvno,
        sender_kid=_octets(header, "senderKID"),
        transaction_id=transaction_id,
        sender_nonce=sender_nonce,
        recip_nonce=_octets(header, "recipNonce"),
        message_time=message_time,
        implicit_confirm=bool(implicit),
        protection_oid=protection_oid,
        protection=protection,
        protected_part=_sequence(parts[0] + parts[1]),
        raw_body=parts[1],
        extra_certs=tuple(extra),
    )


def _octets(header: Any, name: str) -> bytes | None:
    value = header[name]
    return bytes(value) if value.isValue else None


def check_message_time(request: CmpRequest, now: datetime) -> None:
    """Signature-protected requests must carry a messageTime within the tolerance."""
    if request.message_time is None:
        raise CmpError(FailInfo.BAD_TIME, "The request needs a messageTime.")
    if abs(request.message_time - now) > MESSAGE_TIME_TOLERANCE:
        raise CmpError(
            FailInfo.BAD_TIME,
            "The request's messageTime is more than 10 minutes away from the server's clock; "
            "check the client's clock.",
        )


# -- authentication ---------------------------------------------------------------------------


def code_spellings(code: str) -> tuple[str, ...]:
    """How a holder may type a code: ``K7QX-3MZP-…`` as printed, without dashes, lower case."""
    plain = code.replace("-", "")
    return (code, plain, code.lower(), plain.lower())


class MacCheck:
    """Checks a request's PasswordBasedMac against a candidate authorization code.

    Called by the service with the code it derived for the reference number (blocking: up to
    four PBM computations, run it in a thread). Remembers the spelling that matched, so the
    answer is protected with the very secret the client used.
    """

    def __init__(self, request: CmpRequest) -> None:
        self._request = request
        self._params = request.mac_parameters
        self.secret: bytes | None = None

    def __call__(self, code: str) -> bool:
        protection = self._request.protection or b""
        for spelling in code_spellings(code):
            secret = spelling.encode()
            expected = self._params.compute(secret, self._request.protected_part)
            if hmac.compare_digest(expected, protection):
                self.secret = secret
                return True
        return False


def verify_signature_protection(request: CmpRequest) -> x509.Certificate:
    """The signer certificate (first extraCerts entry) of a signature-protected request."""
    if request.protection is None or request.protection_oid is None:
        raise CmpError(
            FailInfo.BAD_MESSAGE_CHECK,
            "Key update requests must be signed with the current certificate's key "
            "(openssl cmp -cert old.pem -key old.key).",
        )
    if not request.extra_certs:
        raise CmpError(
            FailInfo.BAD_MESSAGE_CHECK,
            "The signed request carries no certificate in extraCerts; send it with -cert.",
        )
    signer = request.extra_certs[0]
    with _well_formed("signer certificate"):
        key = signer.public_key()
    if not _signature_valid(
        key, request.protection_oid, request.protection, request.protected_part
    ):
        raise CmpError(
            FailInfo.BAD_MESSAGE_CHECK,
            "The request's signature does not verify with the certificate it carries.",
        )
    return signer


def _signature_valid(key: PublicKeyTypes, oid: str, signature: bytes, data: bytes) -> bool:
    kind, hash_name = _SIGNATURES.get(oid, ("unknown", None))
    try:
        if kind == "ec" and isinstance(key, ec.EllipticCurvePublicKey) and hash_name:
            key.verify(signature, data, ec.ECDSA(_HASHES[hash_name]()))
        elif kind == "rsa" and isinstance(key, rsa.RSAPublicKey) and hash_name:
            key.verify(signature, data, padding.PKCS1v15(), _HASHES[hash_name]())
        elif kind == "ed25519" and isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, data)
        else:
            raise CmpError(
                FailInfo.BAD_ALG,
                f"The signature algorithm {oid} does not fit the key or is not supported "
                "(ECDSA, RSA PKCS#1 v1.5 with SHA-2, Ed25519).",
            )
    except (InvalidSignature, ValueError, UnsupportedAlgorithm):
        return False
    return True


# -- certificate requests ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CertRequest:
    """One certificate request: its id and either a proven public key (CRMF) or a CSR (DER)."""

    cert_req_id: int
    public_key: PublicKeyTypes | None = None
    csr: bytes | None = None
    old_cert_serial: int | None = None


def cert_request(request: CmpRequest) -> CertRequest:
    """The single request of an ir/cr/kur/p10cr, its proof of possession verified."""
    with _well_formed("certificate request"):
        return _cert_request(request)


def _cert_request(request: CmpRequest) -> CertRequest:
    if request.body_type == "p10cr":
        return CertRequest(cert_req_id=0, csr=_children(request.raw_body)[0])
    if request.body_type not in ("ir", "cr", "kur"):
        raise CmpError(FailInfo.BAD_REQUEST, f"A {request.body_type} is not a certificate request.")
    messages = request.body
    raw_messages = _children(_children(request.raw_body)[0])
    if len(messages) != 1 or len(raw_messages) != 1:
        raise CmpError(
            FailInfo.BAD_REQUEST, "Send exactly one certificate request per message (RFC 9483)."
        )
    message = messages[0]
    raw_cert_req = _children(raw_messages[0])[0]
    cert_req = message["certReq"]
    cert_req_id = int(cert_req["certReqId"])
    template = cert_req["certTemplate"]
    if not template["publicKey"].isValue:
        raise CmpError(
            FailInfo.BAD_CERT_TEMPLATE,
            "The certificate template has no public key; certdesk does not generate keys over "
            "CMP. Use openssl cmp -newkey.",
        )
    spki = _spki_der(raw_cert_req)
    try:
        public_key = serialization.load_der_public_key(spki)
    except (ValueError, UnsupportedAlgorithm):
        raise CmpError(
            FailInfo.BAD_CERT_TEMPLATE, "The template's public key cannot be read."
        ) from None
    _check_popo(message["popo"], public_key, raw_cert_req)
    return CertRequest(
        cert_req_id=cert_req_id,
        public_key=public_key,
        old_cert_serial=_old_cert_serial(cert_req),
    )


def _spki_der(raw_cert_req: bytes) -> bytes:
    """The template's ``publicKey [6]`` re-tagged as the SubjectPublicKeyInfo SEQUENCE it is."""
    template = _children(raw_cert_req)[1]
    for element in _children(template):
        if element[0] == 0xA6:
            return b"\x30" + element[1:]
    raise CmpError(FailInfo.BAD_CERT_TEMPLATE, "The certificate template has no public key.")


def _check_popo(popo: Any, public_key: PublicKeyTypes, raw_cert_req: bytes) -> None:
    if not popo.isValue:
        raise CmpError(FailInfo.BAD_POP, "The request carries no proof of possession.")
    kind = popo.getName()
    if kind == "raVerified":
        raise CmpError(
            FailInfo.BAD_POP,
            "raVerified proof of possession is only accepted from an RA, not from a holder. "
            "Sign the request with the new key (openssl cmp -popo 1, the default).",
        )
    if kind != "signature":
        raise CmpError(
            FailInfo.BAD_POP,
            f"The proof of possession {kind} is not supported; sign the request with the new "
            "key (openssl cmp -popo 1, the default).",
        )
    signing = popo["signature"]
    if signing["poposkInput"].isValue:
        raise CmpError(
            FailInfo.BAD_POP,
            "POPOSigningKeyInput is not supported: put the subject and public key in the "
            "certificate template (openssl cmp -subject …).",
        )
    oid = str(signing["algorithmIdentifier"]["algorithm"])
    if not _signature_valid(public_key, oid, signing["signature"].asOctets(), raw_cert_req):
        raise CmpError(
            FailInfo.BAD_POP,
            "The proof-of-possession signature does not verify with the template's public key.",
        )


def _old_cert_serial(cert_req: Any) -> int | None:
    """The serial in the ``oldCertID`` control of a kur (RFC 4211 6.5), if any."""
    controls = cert_req["controls"]
    if not controls.isValue:
        return None
    for control in controls:
        if str(control["type"]) == "1.3.6.1.5.5.7.5.1.5":
            try:
                cert_id, _ = der_decoder.decode(bytes(control["value"]), asn1Spec=rfc9480.CertId())
            except PyAsn1Error:
                raise CmpError(FailInfo.BAD_DATA_FORMAT, "The oldCertID is malformed.") from None
            return int(cert_id["serialNumber"])
    return None


# -- certificate confirmation -----------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CertConfirmation:
    cert_req_id: int
    cert_hash: bytes
    accepted: bool
    reason: str | None


def confirmations(request: CmpRequest) -> list[CertConfirmation]:
    with _well_formed("certConf"):
        return _confirmations(request)


def _confirmations(request: CmpRequest) -> list[CertConfirmation]:
    if request.body_type != "certConf":
        raise CmpError(FailInfo.BAD_REQUEST, f"A {request.body_type} is not a certConf.")
    result = []
    for status in request.body:
        accepted = True
        reason = None
        if status["statusInfo"].isValue:
            info = status["statusInfo"]
            accepted = int(info["status"]) in (0, 1)
            if info["statusString"].isValue:
                reason = " ".join(str(text) for text in info["statusString"])
        result.append(
            CertConfirmation(
                cert_req_id=int(status["certReqId"]),
                cert_hash=bytes(status["certHash"]),
                accepted=accepted,
                reason=reason,
            )
        )
    return result


def cert_hash(certificate: x509.Certificate) -> bytes:
    """certHash of a certConf (pvno 2): the certificate's signature hash over its DER."""
    algorithm = certificate.signature_hash_algorithm or hashes.SHA512()
    digest = hashes.Hash(algorithm)
    digest.update(certificate.public_bytes(serialization.Encoding.DER))
    return digest.finalize()


# -- answers ----------------------------------------------------------------------------------


def _general_name(name: x509.Name) -> rfc5280.GeneralName:
    decoded, _ = der_decoder.decode(name.public_bytes(), asn1Spec=rfc5280.Name())
    general = rfc5280.GeneralName()
    general["directoryName"]["rdnSequence"] = decoded["rdnSequence"]
    return general


def _cmp_certificate(certificate: x509.Certificate) -> Any:
    decoded, _ = der_decoder.decode(
        certificate.public_bytes(serialization.Encoding.DER), asn1Spec=rfc9480.CMPCertificate()
    )
    return decoded


def _status_info(status: int, text: str | None, fail_info: FailInfo | None) -> Any:
    info = rfc9480.PKIStatusInfo()
    info["status"] = status
    if text:
        info["statusString"].append(char.UTF8String(text))
    if fail_info is not None:
        bits = [0] * (int(fail_info) + 1)
        bits[int(fail_info)] = 1
        info["failInfo"] = rfc4210.PKIFailureInfo(tuple(bits))
    return info


@dataclass(frozen=True, slots=True, kw_only=True)
class Protection:
    """How to protect an answer: a MAC with the client's secret, or a signature."""

    secret: bytes | None = None
    pbm: PbmParameters | None = None
    signer: Any = None  # a private key implementing cryptography's sign()
    signer_chain: tuple[x509.Certificate, ...] = ()

    def __repr__(self) -> str:
        return "Protection(<hidden>)"


@dataclass(frozen=True, slots=True, kw_only=True)
class Responder:
    """Encodes certdesk's answers. ``sender`` is the CA's name; ``chain`` issuing CA, root."""

    sender: x509.Name
    chain: tuple[x509.Certificate, ...]

    def certificate(
        self,
        request: CmpRequest,
        *,
        certificate: x509.Certificate,
        cert_req_id: int,
        sender_nonce: bytes,
        protection: Protection,
    ) -> bytes:
        """ip/cp/kup with the new certificate; the root in caPubs, the chain in extraCerts."""
        body = rfc9480.PKIBody()
        name = REQUEST_BODIES[request.body_type]
        rep = body[name]
        if protection.pbm is not None:
            # caPubs are trusted only under MAC protection (RFC 9483 section 4.1.1).
            rep["caPubs"].append(_cmp_certificate(self.chain[-1]))
        response = rfc9480.CertResponse()
        response["certReqId"] = cert_req_id
        response["status"] = _status_info(0, None, None)
        tagged = response["certifiedKeyPair"]["certOrEncCert"]["certificate"]
        for name, value in _cmp_certificate(certificate).items():
            tagged[name] = value
        rep["response"].append(response)
        return self._encode(
            request,
            body,
            protection=protection,
            sender_nonce=sender_nonce,
            implicit_confirm=request.implicit_confirm,
            extra=self.chain,
        )

    def rejection(
        self,
        request: CmpRequest | None,
        fail_info: FailInfo,
        text: str,
        *,
        protection: Protection | None = None,
    ) -> bytes:
        """A negative answer: ip/cp/kup with status rejection for a certificate request (what
        clients expect), else an error message. Unprotected unless ``protection`` is given."""
        body = rfc9480.PKIBody()
        status = _status_info(2, text, fail_info)
        if request is not None and request.body_type in REQUEST_BODIES:
            rep = body[REQUEST_BODIES[request.body_type]]
            response = rfc9480.CertResponse()
            response["certReqId"] = _first_cert_req_id(request)
            response["status"] = status
            rep["response"].append(response)
        else:
            error = body["error"]
            error["pKIStatusInfo"] = status
        return self._encode(
            request,
            body,
            protection=protection,
            sender_nonce=secrets.token_bytes(NONCE_BYTES),
            implicit_confirm=False,
            extra=(),
        )

    def pki_conf(self, request: CmpRequest, *, protection: Protection) -> bytes:
        body = rfc9480.PKIBody()
        body["pkiconf"] = body["pkiconf"].clone(univ.Null(""))
        return self._encode(
            request,
            body,
            protection=protection,
            sender_nonce=secrets.token_bytes(NONCE_BYTES),
            implicit_confirm=False,
            extra=(),
        )

    def _encode(
        self,
        request: CmpRequest | None,
        body: Any,
        *,
        protection: Protection | None,
        sender_nonce: bytes,
        implicit_confirm: bool,
        extra: Sequence[x509.Certificate],
    ) -> bytes:
        header = rfc9480.PKIHeader()
        header["pvno"] = request.pvno if request is not None else 2
        header["sender"] = _general_name(self.sender)
        if request is not None:
            header["recipient"] = request.message["header"]["sender"]
        else:
            header["recipient"] = _general_name(x509.Name([]))
        now = datetime.now(UTC).replace(microsecond=0)
        header["messageTime"] = header["messageTime"].clone(
            useful.GeneralizedTime.fromDateTime(now)
        )
        pbm: PbmParameters | None = None
        if protection is not None and protection.pbm is not None:
            pbm = protection.pbm.fresh()
            header["protectionAlg"] = _tagged(header["protectionAlg"], pbm.algorithm())
        elif protection is not None and protection.signer is not None:
            header["protectionAlg"]["algorithm"] = univ.ObjectIdentifier(
                _signature_oid(protection.signer)
            )
            ski = _subject_key_id(protection.signer_chain[0])
            if ski is not None:
                header["senderKID"] = header["senderKID"].clone(ski)
        if request is not None:
            if pbm is not None and request.sender_kid is not None:
                header["senderKID"] = header["senderKID"].clone(request.sender_kid)
            header["transactionID"] = header["transactionID"].clone(request.transaction_id)
            header["recipNonce"] = header["recipNonce"].clone(request.sender_nonce)
        header["senderNonce"] = header["senderNonce"].clone(sender_nonce)
        if implicit_confirm:
            info = rfc9480.InfoTypeAndValue()
            info["infoType"] = IMPLICIT_CONFIRM
            info["infoValue"] = der_encoder.encode(univ.Null(""))
            header["generalInfo"].append(info)
        protected = rfc9480.ProtectedPart()
        protected["header"] = header
        protected["body"] = body
        protected_der = der_encoder.encode(protected)
        message = rfc9480.PKIMessage()
        message["header"] = header
        message["body"] = body
        if protection is not None and pbm is not None and protection.secret is not None:
            mac = pbm.compute(protection.secret, protected_der)
            message["protection"] = message["protection"].clone(univ.BitString.fromOctetString(mac))
        elif protection is not None and protection.signer is not None:
            signature = _sign(protection.signer, protected_der)
            message["protection"] = message["protection"].clone(
                univ.BitString.fromOctetString(signature)
            )
            extra = (
                *protection.signer_chain,
                *[c for c in extra if c not in protection.signer_chain],
            )
        for cert in extra:
            message["extraCerts"].append(_cmp_certificate(cert))
        return bytes(der_encoder.encode(message))


def _tagged(template: Any, value: Any) -> Any:
    tagged = template.clone()
    for name in ("algorithm", "parameters"):
        if value[name].isValue:
            tagged[name] = value[name]
    return tagged


def _first_cert_req_id(request: CmpRequest) -> int:
    if request.body_type in ("ir", "cr", "kur"):
        try:
            return int(request.body[0]["certReq"]["certReqId"])
        except (IndexError, PyAsn1Error, TypeError, ValueError):
            return -1
    return -1 if request.body_type != "p10cr" else 0


def _signature_oid(key: Any) -> str:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return "1.2.840.10045.4.3.3" if key.curve.key_size >= 384 else "1.2.840.10045.4.3.2"
    if isinstance(key, rsa.RSAPrivateKey):
        return "1.2.840.113549.1.1.11"
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "1.3.101.112"
    raise TypeError(f"cannot sign CMP messages with {type(key).__name__}")


def _sign(key: Any, data: bytes) -> bytes:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        algorithm = hashes.SHA384() if key.curve.key_size >= 384 else hashes.SHA256()
        return key.sign(data, ec.ECDSA(algorithm))
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(data)
    raise TypeError(f"cannot sign CMP messages with {type(key).__name__}")


def _subject_key_id(certificate: x509.Certificate) -> bytes | None:
    try:
        ext = certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    except x509.ExtensionNotFound:
        return None
    return ext.value.digest
