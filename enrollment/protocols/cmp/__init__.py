"""CMP (RFC 4210, profiled by RFC 9483): the pure message codec, and its HTTP handler.

The codec is pure functions over bytes, no I/O, no database, one module per role:
:mod:`.parsing` (the request, its certificate request and POPO, its confirmations),
:mod:`.protection` (PasswordBasedMac and signatures), :mod:`.authentication` (the sender's
proof), :mod:`.responses` (the answers) and
:mod:`.errors` (refusals, DER cutting); this package exports what the handler uses.
:mod:`.http` feeds a request's body to :func:`parse`, asks the enrollment domain to
authenticate the sender with :class:`MacCheck`, and encodes the answer with :class:`Responder`.

What is supported:

- bodies ``ir``, ``cr``, ``p10cr`` (one request each, as RFC 9483 asks), ``kur``, ``certConf``,
  ``rr`` (:mod:`.revocation`: signed with the key of the certificate it revokes) and ``genm``
  (:mod:`.general`: CA certificates, root key update, certificate request template, CRL);
  every other body type is answered with an error message;
- MAC protection with PasswordBasedMac (RFC 4210 section 5.1.3.1: OWF SHA-256/384/512, MAC
  HMAC-SHA1/256/384/512, as ``openssl cmp -secret`` sends), and signature protection (ECDSA,
  RSA PKCS#1 v1.5, Ed25519) for ``kur``;
- POPO by signature (over the DER of ``certReq``); ``raVerified`` and the encryption-based
  methods are refused.
"""

from enrollment.protocols.cmp.authentication import MacCheck, verify_signature_protection
from enrollment.protocols.cmp.errors import (
    CONTENT_TYPE,
    MAX_LIST_ELEMENTS,
    MAX_MESSAGE_BYTES,
    CmpError,
    FailInfo,
)
from enrollment.protocols.cmp.general import InfoRequest, info_requests, needs_crl
from enrollment.protocols.cmp.general import answers as general_answers
from enrollment.protocols.cmp.parsing import (
    CertConfirmation,
    CertRequest,
    CmpRequest,
    cert_hash,
    cert_request,
    check_message_time,
    confirmations,
    parse,
)
from enrollment.protocols.cmp.protection import MAX_PBM_ITERATIONS, PbmParameters, Protection
from enrollment.protocols.cmp.responses import Responder
from enrollment.protocols.cmp.revocation import RevocationRequest, revocation_request

__all__ = [
    "CONTENT_TYPE",
    "MAX_LIST_ELEMENTS",
    "MAX_MESSAGE_BYTES",
    "MAX_PBM_ITERATIONS",
    "CertConfirmation",
    "CertRequest",
    "CmpError",
    "CmpRequest",
    "FailInfo",
    "InfoRequest",
    "MacCheck",
    "PbmParameters",
    "Protection",
    "Responder",
    "RevocationRequest",
    "cert_hash",
    "cert_request",
    "check_message_time",
    "confirmations",
    "general_answers",
    "info_requests",
    "needs_crl",
    "parse",
    "revocation_request",
    "verify_signature_protection",
]
