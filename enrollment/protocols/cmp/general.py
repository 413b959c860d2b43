"""CMP general messages (``genm`` / ``genp``, RFC 4210 section 5.3.19, profiled by RFC 9483
section 4.3): what the client asks for, and the answers. Pure.

Answered info types:

- ``id-it-caCerts``: the issuing CA and the root (RFC 9483 4.3.1);
- ``id-it-rootCaCert`` -> ``id-it-rootCaKeyUpdate`` without a value: certdesk's root key is
  never updated in place, so there is no update to give (RFC 9483 4.3.2);
- ``id-it-certReqTemplate``: an empty certificate template (the subject and extensions come
  from the enrollment record, whatever a request says) and, as ``keySpec``, the key types
  certdesk's CSR policy accepts for every profile: EC P-256, EC P-384, Ed25519 and RSA from
  2048 bits, one control each (RFC 9483 4.3.3);
- ``id-it-crlStatusList`` -> ``id-it-crls`` with the current CRL, or without a value when the
  client's CRL is as new (RFC 9483 4.3.4); and RFC 4210's ``id-it-currentCRL``;
- ``id-it-signKeyPairTypes``: the signature key algorithms accepted (RFC 4210 5.3.19.1).

Any other info type is left out of the answer, so a request for only unknown ones gets an
empty ``genp`` (RFC 4210 5.3.19).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pyasn1.codec.der import decoder as der_decoder
from pyasn1.codec.der import encoder as der_encoder
from pyasn1.type import univ
from pyasn1_alt_modules import rfc5280, rfc9480

from enrollment.protocols.cmp.errors import CmpError, FailInfo, sequence, well_formed
from enrollment.protocols.cmp.parsing import CmpRequest

CA_CERTS = str(rfc9480.id_it_caCerts)
ROOT_CA_CERT = str(rfc9480.id_it_rootCaCert)
ROOT_CA_KEY_UPDATE = str(rfc9480.id_it_rootCaKeyUpdate)
CERT_REQ_TEMPLATE = str(rfc9480.id_it_certReqTemplate)
CRL_STATUS_LIST = str(rfc9480.id_it_crlStatusList)
CRLS = str(rfc9480.id_it_crls)
CURRENT_CRL = str(rfc9480.id_it_currentCRL)
SIGN_KEY_PAIR_TYPES = str(rfc9480.id_it_signKeyPairTypes)
# What needs the database (the current CRL); the rest is known without it.
NEEDS_CRL = frozenset({CRL_STATUS_LIST, CURRENT_CRL})

_EC_PUBLIC_KEY = "1.2.840.10045.2.1"
_CURVES = ("1.2.840.10045.3.1.7", "1.3.132.0.34")  # P-256, P-384
_ED25519 = "1.3.101.112"
_RSA = "1.2.840.113549.1.1.1"
MIN_RSA_BITS = 2048


@dataclass(frozen=True, slots=True, kw_only=True)
class InfoRequest:
    """One InfoTypeAndValue of a genm: its type, and its value's DER if any."""

    info_type: str
    value: bytes | None


def info_requests(request: CmpRequest) -> list[InfoRequest]:
    """The info types a genm asks for (RFC 9483: usually exactly one)."""
    with well_formed("general message"):
        if request.body_type != "genm":
            raise CmpError(FailInfo.BAD_REQUEST, f"A {request.body_type} is not a genm.")
        return [
            InfoRequest(
                info_type=str(item["infoType"]),
                value=bytes(item["infoValue"]) if item["infoValue"].isValue else None,
            )
            for item in request.body
        ]


def needs_crl(requests: list[InfoRequest]) -> bool:
    return any(item.info_type in NEEDS_CRL for item in requests)


def answers(
    requests: list[InfoRequest], *, chain: tuple[x509.Certificate, ...], crl: bytes | None
) -> list[tuple[str, bytes | None]]:
    """The genp's (infoType, infoValue DER or None) for ``requests``; unknown types left out.
    ``crl`` is the current CRL's DER (needed only when :func:`needs_crl`)."""
    with well_formed("general message"):
        result: list[tuple[str, bytes | None]] = []
        for item in requests:
            answer = _answer(item, chain=chain, crl=crl)
            if answer is not None:
                result.append(answer)
        return result


def _answer(
    item: InfoRequest, *, chain: tuple[x509.Certificate, ...], crl: bytes | None
) -> tuple[str, bytes | None] | None:
    kind = item.info_type
    if kind == CA_CERTS:
        return CA_CERTS, sequence(b"".join(_der(c) for c in chain))
    if kind == ROOT_CA_CERT:
        return ROOT_CA_KEY_UPDATE, None
    if kind == CERT_REQ_TEMPLATE:
        return CERT_REQ_TEMPLATE, _cert_req_template()
    if kind == SIGN_KEY_PAIR_TYPES:
        return SIGN_KEY_PAIR_TYPES, sequence(b"".join(_key_algorithms()))
    if kind == CURRENT_CRL and crl is not None:
        return CURRENT_CRL, crl
    if kind == CRL_STATUS_LIST and crl is not None:
        if item.value is not None and _client_crl_current(item.value, crl):
            return CRLS, None
        return CRLS, sequence(crl)
    return None


def _der(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.DER)


def _algorithm(oid: str, parameters: bytes | None = None) -> bytes:
    algorithm = rfc5280.AlgorithmIdentifier()
    algorithm["algorithm"] = univ.ObjectIdentifier(oid)
    if parameters is not None:
        algorithm["parameters"] = parameters
    return bytes(der_encoder.encode(algorithm))


def _key_algorithms() -> list[bytes]:
    """EC P-256 and P-384, Ed25519, RSA: the keys enrollment/ca/csr.py accepts."""
    curves = [
        _algorithm(_EC_PUBLIC_KEY, der_encoder.encode(univ.ObjectIdentifier(c))) for c in _CURVES
    ]
    return [*curves, _algorithm(_ED25519), _algorithm(_RSA, der_encoder.encode(univ.Null("")))]


def _cert_req_template() -> bytes:
    content = rfc9480.CertReqTemplateContent()
    content["certTemplate"] = rfc9480.CertTemplate()
    controls = content["keySpec"]
    for algorithm in _key_algorithms()[:-1]:
        control = controls.componentType.clone()
        control["type"] = rfc9480.id_regCtrl_algId
        control["value"] = algorithm
        controls.append(control)
    rsa = controls.componentType.clone()
    rsa["type"] = rfc9480.id_regCtrl_rsaKeyLen
    rsa["value"] = der_encoder.encode(univ.Integer(MIN_RSA_BITS))
    controls.append(rsa)
    return bytes(der_encoder.encode(content))


def _client_crl_current(value: bytes, crl: bytes) -> bool:
    """Whether every CRLStatus the client sent has a thisUpdate at least the current CRL's."""
    statuses, rest = der_decoder.decode(value, asn1Spec=rfc9480.CRLStatusListValue())
    if rest:
        raise CmpError(FailInfo.BAD_DATA_FORMAT, "The crlStatusList is malformed.")
    current = x509.load_der_x509_crl(crl).last_update_utc
    seen = []
    for status in statuses:
        if not status["thisUpdate"].isValue:
            return False
        time = status["thisUpdate"].getComponent().asDateTime
        seen.append(time if time.tzinfo else time.replace(tzinfo=UTC))
    return bool(seen) and all(time >= current for time in seen)
