"""CMP answers: the certificate (ip/cp/kup), the revocation answer (rp), the general answer
(genp), the rejection and the pkiConf, protected like the request. Pure."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pyasn1.codec.der import decoder as der_decoder
from pyasn1.codec.der import encoder as der_encoder
from pyasn1.error import PyAsn1Error
from pyasn1.type import char, univ, useful
from pyasn1_alt_modules import rfc4210, rfc5280, rfc9480

from enrollment.protocols.cmp.errors import IMPLICIT_CONFIRM, NONCE_BYTES, REQUEST_BODIES, FailInfo
from enrollment.protocols.cmp.parsing import CmpRequest
from enrollment.protocols.cmp.protection import PbmParameters, Protection, sign, signature_oid


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
        if request is not None and request.body_type == "rr":
            body["rp"]["status"].append(status)  # RFC 9483 4.2: a negative rp
        elif request is not None and request.body_type in REQUEST_BODIES:
            rep = body[REQUEST_BODIES[request.body_type]]
            response = rfc9480.CertResponse()
            response["certReqId"] = _first_cert_req_id(request)
            response["status"] = status
            rep["response"].append(response)
        else:
            error = body["error"]
            error["pKIStatusInfo"] = status
        return self._encode(request, body, protection=protection)

    def revoked(self, request: CmpRequest, *, protection: Protection) -> bytes:
        """rp: the certificate is revoked (RFC 9483 section 4.2, status only)."""
        body = rfc9480.PKIBody()
        body["rp"]["status"].append(_status_info(0, None, None))
        return self._encode(request, body, protection=protection)

    def general(
        self,
        request: CmpRequest,
        items: Sequence[tuple[str, bytes | None]],
        *,
        protection: Protection | None,
    ) -> bytes:
        """genp with ``items`` (infoType OID, infoValue DER or None); may be empty."""
        body = rfc9480.PKIBody()
        content = body["genp"]
        for info_type, value in items:
            info = rfc9480.InfoTypeAndValue()
            info["infoType"] = univ.ObjectIdentifier(info_type)
            if value is not None:
                info["infoValue"] = value
            content.append(info)
        return self._encode(request, body, protection=protection)

    def pki_conf(self, request: CmpRequest, *, protection: Protection) -> bytes:
        body = rfc9480.PKIBody()
        body["pkiconf"] = body["pkiconf"].clone(univ.Null(""))
        return self._encode(request, body, protection=protection)

    def _encode(
        self,
        request: CmpRequest | None,
        body: Any,
        *,
        protection: Protection | None,
        sender_nonce: bytes | None = None,
        implicit_confirm: bool = False,
        extra: Sequence[x509.Certificate] = (),
    ) -> bytes:
        """The PKIMessage around ``body``: header (a fresh senderNonce unless given),
        protection, extraCerts."""
        if sender_nonce is None:
            sender_nonce = secrets.token_bytes(NONCE_BYTES)
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
                signature_oid(protection.signer)
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
            signature = sign(protection.signer, protected_der)
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


def _subject_key_id(certificate: x509.Certificate) -> bytes | None:
    try:
        ext = certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    except x509.ExtensionNotFound:
        return None
    return ext.value.digest
