"""Who sent a CMP request: the MAC under the enrollment's authorization code (ir/cr/p10cr,
certConf, genm), or the signature of the current certificate's key (kur, rr, genm). Pure."""

from __future__ import annotations

import hmac

from cryptography import x509

from enrollment.protocols.cmp.errors import CmpError, FailInfo, well_formed
from enrollment.protocols.cmp.parsing import CmpRequest
from enrollment.protocols.cmp.protection import signature_valid


def code_spellings(code: str) -> tuple[str, ...]:
    """How a holder may type a code: ``K7QX-3MZP-…`` as printed or without dashes, in capitals.

    Each spelling costs one PasswordBasedMac key derivation, paid before the sender is known,
    so there are only two (lower case is refused like a wrong code)."""
    return (code, code.replace("-", ""))


class MacCheck:
    """Checks a request's PasswordBasedMac against a candidate authorization code.

    Called by the enrollment domain with the code it derived for the reference number (blocking:
    up to two PBM computations, run it in a thread). Remembers the spelling that matched, so the
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
            "This request must be signed with the current certificate's key "
            "(openssl cmp -cert cert.pem -key key.pem).",
        )
    if not request.extra_certs:
        raise CmpError(
            FailInfo.BAD_MESSAGE_CHECK,
            "The signed request carries no certificate in extraCerts; send it with -cert.",
        )
    signer = request.extra_certs[0]
    with well_formed("signer certificate"):
        key = signer.public_key()
    if not signature_valid(key, request.protection_oid, request.protection, request.protected_part):
        raise CmpError(
            FailInfo.BAD_MESSAGE_CHECK,
            "The request's signature does not verify with the certificate it carries.",
        )
    return signer
