"""Hand-built CMP requests for unit tests (the real client in the other tests is `openssl cmp`).

The PasswordBasedMac is computed here independently of enrollment.cmp (RFC 4210 5.1.3.1), so a
mistake there is not mirrored.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pyasn1.codec.der import decoder, encoder
from pyasn1.type import char, univ, useful
from pyasn1_alt_modules import rfc4210, rfc5280, rfc9480

PBM = "1.2.840.113533.7.66.13"
SHA256 = "2.16.840.1.101.3.4.2.1"
HMAC_SHA1 = "1.3.6.1.5.5.8.1.2"
ECDSA_SHA256 = "1.2.840.10045.4.3.2"
IMPLICIT_CONFIRM = "1.3.6.1.5.5.7.4.13"


def pbm(secret: bytes, salt: bytes, iterations: int, data: bytes) -> bytes:
    key = secret + salt
    for _ in range(iterations):
        key = hashlib.sha256(key).digest()
    return hmac.new(key, data, hashlib.sha1).digest()


def _name(text: str) -> rfc5280.GeneralName:
    decoded, _ = decoder.decode(
        x509.Name.from_rfc4514_string(text).public_bytes(), asn1Spec=rfc5280.Name()
    )
    general = rfc5280.GeneralName()
    general["directoryName"]["rdnSequence"] = decoded["rdnSequence"]
    return general


def cert_request_body(
    key: ec.EllipticCurvePrivateKey,
    *,
    body_type: str = "ir",
    popo: str = "signature",
    popo_key: ec.EllipticCurvePrivateKey | None = None,
) -> rfc9480.PKIBody:
    body = rfc9480.PKIBody()
    messages = body[body_type]
    message = messages.componentType.clone()
    cert_req = message["certReq"]
    cert_req["certReqId"] = 0
    template = cert_req["certTemplate"]
    subject, _ = decoder.decode(
        x509.Name.from_rfc4514_string("CN=Someone Else").public_bytes(), asn1Spec=rfc5280.Name()
    )
    template["subject"]["rdnSequence"] = subject["rdnSequence"]
    spki, _ = decoder.decode(
        key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        asn1Spec=rfc5280.SubjectPublicKeyInfo(),
    )
    template["publicKey"]["algorithm"] = spki["algorithm"]
    template["publicKey"]["subjectPublicKey"] = spki["subjectPublicKey"]
    if popo == "raVerified":
        message["popo"]["raVerified"] = (
            message["popo"].componentType["raVerified"].asn1Object.clone("")
        )
    else:
        signer = popo_key or key
        signature = signer.sign(encoder.encode(cert_req), ec.ECDSA(hashes.SHA256()))
        signing = message["popo"]["signature"]
        signing["algorithmIdentifier"]["algorithm"] = univ.ObjectIdentifier(ECDSA_SHA256)
        signing["signature"] = univ.BitString.fromOctetString(signature)
    messages.append(message)
    return body


def request(
    body: rfc9480.PKIBody,
    *,
    secret: bytes | None,
    reference: bytes = b"1234567890",
    iterations: int = 500,
    implicit_confirm: bool = False,
    transaction_id: bytes | None = None,
    sender_nonce: bytes | None = None,
    recip_nonce: bytes | None = None,
    free_text: tuple[str, ...] = (),
    general_info: int = 0,
    extra_certs: tuple[x509.Certificate, ...] = (),
    signer: ec.EllipticCurvePrivateKey | None = None,
) -> bytes:
    """A PKIMessage around ``body``, MAC-protected with ``secret`` (None: unprotected), or
    signed by ``signer`` (ECDSA-SHA256; its certificate goes first in ``extra_certs``);
    ``free_text`` strings, ``general_info`` more implicitConfirm entries."""
    header = rfc9480.PKIHeader()
    header["pvno"] = 2
    header["sender"] = _name("CN=Someone Else")
    header["recipient"] = _name("CN=certdesk")
    header["messageTime"] = header["messageTime"].clone(
        useful.GeneralizedTime.fromDateTime(datetime.now(UTC).replace(microsecond=0))
    )
    salt = secrets.token_bytes(16)
    if signer is not None:
        header["protectionAlg"]["algorithm"] = univ.ObjectIdentifier(ECDSA_SHA256)
    elif secret is not None:
        params = rfc4210.PBMParameter()
        params["salt"] = salt
        params["owf"]["algorithm"] = univ.ObjectIdentifier(SHA256)
        params["iterationCount"] = iterations
        params["mac"]["algorithm"] = univ.ObjectIdentifier(HMAC_SHA1)
        header["protectionAlg"]["algorithm"] = univ.ObjectIdentifier(PBM)
        header["protectionAlg"]["parameters"] = encoder.encode(params)
    header["senderKID"] = header["senderKID"].clone(reference)
    header["transactionID"] = header["transactionID"].clone(
        transaction_id or secrets.token_bytes(16)
    )
    header["senderNonce"] = header["senderNonce"].clone(sender_nonce or secrets.token_bytes(16))
    if recip_nonce is not None:
        header["recipNonce"] = header["recipNonce"].clone(recip_nonce)
    for _ in range(int(implicit_confirm) + general_info):
        info = rfc9480.InfoTypeAndValue()
        info["infoType"] = univ.ObjectIdentifier(IMPLICIT_CONFIRM)
        info["infoValue"] = encoder.encode(univ.Null(""))
        header["generalInfo"].append(info)
    for text in free_text:
        header["freeText"].append(char.UTF8String(text))
    protected = rfc9480.ProtectedPart()
    protected["header"] = header
    protected["body"] = body
    message = rfc9480.PKIMessage()
    message["header"] = header
    message["body"] = body
    if signer is not None:
        signature = signer.sign(encoder.encode(protected), ec.ECDSA(hashes.SHA256()))
        message["protection"] = message["protection"].clone(
            univ.BitString.fromOctetString(signature)
        )
    elif secret is not None:
        mac = pbm(secret, salt, iterations, encoder.encode(protected))
        message["protection"] = message["protection"].clone(univ.BitString.fromOctetString(mac))
    for cert in extra_certs:
        decoded, _ = decoder.decode(
            cert.public_bytes(serialization.Encoding.DER), asn1Spec=rfc9480.CMPCertificate()
        )
        message["extraCerts"].append(decoded)
    return bytes(encoder.encode(message))


def cert_conf_body(cert_hash: bytes) -> rfc9480.PKIBody:
    """A certConf accepting the certificate whose certHash is ``cert_hash``."""
    body = rfc9480.PKIBody()
    status = rfc9480.CertStatus()
    status["certHash"] = cert_hash
    status["certReqId"] = 0
    body["certConf"].append(status)
    return body


def decode(der: bytes) -> rfc9480.PKIMessage:
    message, rest = decoder.decode(der, asn1Spec=rfc9480.PKIMessage())
    assert rest == b""
    return message


def response_mac_valid(der: bytes, secret: bytes) -> bool:
    """Check a response's PasswordBasedMac the way a client does (independent code)."""
    message = decode(der)
    header = message["header"]
    assert str(header["protectionAlg"]["algorithm"]) == PBM
    params, _ = decoder.decode(
        bytes(header["protectionAlg"]["parameters"]), asn1Spec=rfc4210.PBMParameter()
    )
    protected = rfc9480.ProtectedPart()
    protected["header"] = header
    protected["body"] = message["body"]
    expected = pbm(
        secret,
        bytes(params["salt"]),
        int(params["iterationCount"]),
        encoder.encode(protected),
    )
    return hmac.compare_digest(expected, message["protection"].asOctets())


def status_text(der: bytes) -> tuple[int, str, list[int]]:
    """(status, statusString, set failInfo bits) of an error or rejected certificate answer."""
    message = decode(der)
    body = message["body"]
    kind = body.getName()
    content = body.getComponent()
    if kind == "error":
        info = content["pKIStatusInfo"]
    elif kind == "rp":
        info = content["status"][0]
    else:
        info = content["response"][0]["status"]
    bits = [i for i, bit in enumerate(info["failInfo"]) if bit] if info["failInfo"].isValue else []
    text = " ".join(str(t) for t in info["statusString"]) if info["statusString"].isValue else ""
    return int(info["status"]), text, bits
