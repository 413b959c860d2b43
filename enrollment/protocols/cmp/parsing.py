"""Reading a CMP request (RFC 4210, profiled by RFC 9483): the message, its certificate request
and POPO, its certificate confirmations. Pure: bytes in, checked values out.

Byte-exactness: the protection and the POPO signature cover the sender's own encoding, so those
bytes are cut out of the message (:func:`~enrollment.protocols.cmp.errors.children`) instead of
being re-encoded."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from pyasn1.codec.der import decoder as der_decoder
from pyasn1.codec.der import encoder as der_encoder
from pyasn1.error import PyAsn1Error
from pyasn1_alt_modules import rfc9480

from common.der import serial_not_positive
from enrollment.protocols.cmp.errors import (
    IMPLICIT_CONFIRM,
    MAX_LIST_ELEMENTS,
    MAX_MESSAGE_BYTES,
    MESSAGE_TIME_TOLERANCE,
    CmpError,
    FailInfo,
    children,
    sequence,
    well_formed,
)
from enrollment.protocols.cmp.protection import (
    PASSWORD_BASED_MAC,
    PbmParameters,
    pbm_parameters,
    signature_valid,
)


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
        return pbm_parameters(self.message["header"]["protectionAlg"])


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
        parts = children(data)
        _check_list_sizes(parts)  # before pyasn1 decodes anything
        message, rest = der_decoder.decode(data, asn1Spec=rfc9480.PKIMessage())
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
    with well_formed("PKIMessage header"):
        return _request(message, parts)


# Context-specific constructed tags of the lists a sender could inflate: in the header,
# freeText [7] and generalInfo [8]; in the message, extraCerts [1].
_HEADER_LISTS = {0xA7: "freeText strings", 0xA8: "generalInfo entries"}
_MESSAGE_LISTS = {0xA1: "extraCerts"}


def _check_list_sizes(parts: list[bytes]) -> None:
    """Refuse a message with more than a handful of freeText / generalInfo / extraCerts / body
    elements, by cutting the DER (cheap) before the full decode (not)."""
    if len(parts) < 2:
        return  # refused below as not a PKIMessage
    lists = [(_HEADER_LISTS.get(e[0]), e) for e in children(parts[0])]
    lists += [(_MESSAGE_LISTS.get(e[0]), e) for e in parts[2:]]
    lists.append(("body entries", parts[1]))
    for what, element in lists:
        if what is None:
            continue
        inner = children(element)  # the explicit tag's one SEQUENCE (OF)
        if not inner or inner[0][0] != 0x30:
            continue  # not a list (e.g. pkiconf's NULL): the decoder judges it
        count = len(children(inner[0]))
        if count > MAX_LIST_ELEMENTS:
            raise CmpError(
                FailInfo.BAD_REQUEST,
                f"The CMP message carries {count} {what}; certdesk accepts at most "
                f"{MAX_LIST_ELEMENTS}. Send one request per message, without extra texts.",
                http_status=400,
            )


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
                der = der_encoder.encode(cert)
                if serial_not_positive(der):  # a CmpError, which the except below lets through
                    raise CmpError(
                        FailInfo.BAD_DATA_FORMAT,
                        "An extraCerts entry has a serial number of zero or less, which RFC 5280 "
                        "forbids.",
                    )
                extra.append(x509.load_der_x509_certificate(der))
            except (ValueError, x509.InvalidVersion, PyAsn1Error):
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
        protected_part=sequence(parts[0] + parts[1]),
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


@dataclass(frozen=True, slots=True, kw_only=True)
class CertRequest:
    """One certificate request: its id and either a proven public key (CRMF) or a CSR (DER)."""

    cert_req_id: int
    public_key: PublicKeyTypes | None = None
    csr: bytes | None = None
    old_cert_serial: int | None = None


def cert_request(request: CmpRequest) -> CertRequest:
    """The single request of an ir/cr/kur/p10cr, its proof of possession verified."""
    with well_formed("certificate request"):
        return _cert_request(request)


def _cert_request(request: CmpRequest) -> CertRequest:
    if request.body_type == "p10cr":
        return CertRequest(cert_req_id=0, csr=children(request.raw_body)[0])
    if request.body_type not in ("ir", "cr", "kur"):
        raise CmpError(FailInfo.BAD_REQUEST, f"A {request.body_type} is not a certificate request.")
    messages = request.body
    raw_messages = children(children(request.raw_body)[0])
    if len(messages) != 1 or len(raw_messages) != 1:
        raise CmpError(
            FailInfo.BAD_REQUEST, "Send exactly one certificate request per message (RFC 9483)."
        )
    message = messages[0]
    raw_cert_req = children(raw_messages[0])[0]
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
    template = children(raw_cert_req)[1]
    for element in children(template):
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
    if not signature_valid(public_key, oid, signing["signature"].asOctets(), raw_cert_req):
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


@dataclass(frozen=True, slots=True, kw_only=True)
class CertConfirmation:
    cert_req_id: int
    cert_hash: bytes
    accepted: bool
    reason: str | None


def confirmations(request: CmpRequest) -> list[CertConfirmation]:
    with well_formed("certConf"):
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
