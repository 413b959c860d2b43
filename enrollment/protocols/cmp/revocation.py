"""A CMP revocation request (``rr``, RFC 4210 section 5.3.9, profiled by RFC 9483 section 4.2):
which certificate, for which reason. Pure.

The request names the certificate by issuer and serial number in ``certDetails``; the reason is
the CRLReason extension in ``crlEntryDetails`` (``openssl cmp -revreason``), absent meaning
``unspecified``. A holder may give the reasons RA staff may (see ``enrollment/ca/crl.py``);
the CA-level ones (cACompromise, certificateHold, removeFromCRL, aACompromise) are refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cryptography import x509
from pyasn1.codec.der import decoder as der_decoder
from pyasn1.codec.der import encoder as der_encoder
from pyasn1_alt_modules import rfc5280

from enrollment.protocols.cmp.errors import CmpError, FailInfo, well_formed
from enrollment.protocols.cmp.parsing import CmpRequest

REASON_CODE = "2.5.29.21"
# CRLReason values (RFC 5280 section 5.3.1) a holder may give, by their code.
HOLDER_REASONS: dict[int, x509.ReasonFlags] = {
    0: x509.ReasonFlags.unspecified,
    1: x509.ReasonFlags.key_compromise,
    3: x509.ReasonFlags.affiliation_changed,
    4: x509.ReasonFlags.superseded,
    5: x509.ReasonFlags.cessation_of_operation,
    9: x509.ReasonFlags.privilege_withdrawn,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class RevocationRequest:
    """The one certificate an ``rr`` asks to revoke, and why."""

    serial: int
    issuer_der: bytes | None  # the DER of the issuer Name, if given
    reason: x509.ReasonFlags

    def names(self, certificate: x509.Certificate) -> bool:
        """Whether the request names exactly ``certificate`` (serial, and issuer if given)."""
        if self.serial != certificate.serial_number:
            return False
        return self.issuer_der is None or self.issuer_der == certificate.issuer.public_bytes()


def revocation_request(request: CmpRequest) -> RevocationRequest:
    """The single RevDetails of an ``rr``, or :class:`CmpError` saying what is wrong."""
    with well_formed("revocation request"):
        return _revocation_request(request)


def _revocation_request(request: CmpRequest) -> RevocationRequest:
    if request.body_type != "rr":
        raise CmpError(FailInfo.BAD_REQUEST, f"A {request.body_type} is not a revocation request.")
    details = request.body
    if len(details) != 1:
        raise CmpError(
            FailInfo.BAD_REQUEST,
            "Send exactly one certificate per revocation request (RFC 9483 section 4.2).",
        )
    template = details[0]["certDetails"]
    if not template["serialNumber"].isValue:
        raise CmpError(
            FailInfo.BAD_CERT_TEMPLATE,
            "The revocation request names no serial number: run openssl cmp -cmd rr with "
            "-oldcert CERTIFICATE.pem.",
        )
    issuer = None
    if template["issuer"].isValue:
        issuer = bytes(der_encoder.encode(template["issuer"]["rdnSequence"]))
    return RevocationRequest(
        serial=int(template["serialNumber"]),
        issuer_der=issuer,
        reason=_reason(details[0]["crlEntryDetails"]),
    )


def _reason(extensions: Any) -> x509.ReasonFlags:
    if not extensions.isValue:
        return x509.ReasonFlags.unspecified
    for extension in extensions:
        if str(extension["extnID"]) != REASON_CODE:
            continue
        value, rest = der_decoder.decode(
            bytes(extension["extnValue"]), asn1Spec=rfc5280.CRLReason()
        )
        if rest:
            raise CmpError(FailInfo.BAD_DATA_FORMAT, "The CRLReason is malformed.")
        code = int(value)
        if code not in HOLDER_REASONS:
            allowed = ", ".join(f"{c} ({r.value})" for c, r in HOLDER_REASONS.items())
            raise CmpError(
                FailInfo.BAD_REQUEST,
                f"Revocation reason {code} can only be set by the CA. Use -revreason with one "
                f"of: {allowed}.",
            )
        return HOLDER_REASONS[code]
    return x509.ReasonFlags.unspecified
