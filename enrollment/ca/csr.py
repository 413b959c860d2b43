"""CSR parsing and policy: may this request be issued? Pure functions, no I/O."""

from __future__ import annotations

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPublicKeyTypes

from enrollment.errors import CsrMalformed, CsrSignatureInvalid, KeyNotAllowed

MAX_CSR_BYTES = 32 * 1024
MIN_RSA_BITS = 2048
MAX_RSA_BITS = 8192
ALLOWED_CURVES = {"secp256r1": "P-256", "secp384r1": "P-384"}

AllowedPublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey


def parse_csr(data: str | bytes) -> x509.CertificateSigningRequest:
    """Parse a PEM or DER CSR, or raise CsrMalformed saying what was wrong."""
    raw = data.encode() if isinstance(data, str) else data
    if not raw.strip():
        raise CsrMalformed("The CSR is empty. Paste the whole PEM block, BEGIN and END lines too.")
    if len(raw) > MAX_CSR_BYTES:
        raise CsrMalformed(f"The CSR is larger than {MAX_CSR_BYTES // 1024} KiB; that is no CSR.")
    try:
        if b"-----BEGIN" in raw:
            if b"CERTIFICATE REQUEST-----" not in raw:
                raise CsrMalformed(
                    "This PEM block is not a certificate request: expected "
                    "'-----BEGIN CERTIFICATE REQUEST-----'."
                )
            return x509.load_pem_x509_csr(raw.strip())
        return x509.load_der_x509_csr(raw)
    except CsrMalformed:
        raise
    except (ValueError, x509.InvalidVersion) as exc:
        raise CsrMalformed(
            "The CSR could not be read as PEM or DER PKCS#10 "
            f"({exc}). Create it again, e.g. with `openssl req -new`."
        ) from None


def key_description(key: object) -> str:
    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA-{key.key_size}"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return ALLOWED_CURVES.get(key.curve.name, f"EC {key.curve.name}")
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519"
    return type(key).__name__


def check_public_key(key: object) -> AllowedPublicKey:
    """Allowed keys: RSA 2048..8192 bits, EC P-256 / P-384, Ed25519."""
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise KeyNotAllowed(
                f"The CSR's key is RSA-{key.key_size}, which is too weak. Use RSA with at least "
                f"{MIN_RSA_BITS} bits, EC P-256 / P-384, or Ed25519."
            )
        if key.key_size > MAX_RSA_BITS:
            raise KeyNotAllowed(f"RSA keys above {MAX_RSA_BITS} bits are not accepted.")
        if key.public_numbers().e != 65537:
            raise KeyNotAllowed("RSA keys must use the public exponent 65537.")
        return key
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in ALLOWED_CURVES:
            raise KeyNotAllowed(
                f"The CSR's key uses the curve {key.curve.name}, which is not accepted. "
                "Use P-256 or P-384."
            )
        return key
    if isinstance(key, ed25519.Ed25519PublicKey):
        return key
    raise KeyNotAllowed(
        f"The CSR's key type ({key_description(key)}) is not accepted. "
        "Use RSA (2048 bits or more), EC P-256 / P-384, or Ed25519."
    )


def validated_public_key(data: str | bytes) -> CertificateIssuerPublicKeyTypes:
    """Parse a CSR, check its self-signature and key; return the key to certify.

    The CSR's subject and extensions are ignored on purpose: the certificate's content comes
    from the enrollment record and the profile.
    """
    csr = parse_csr(data)
    try:
        key = csr.public_key()
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:  # e.g. an unknown curve
        raise KeyNotAllowed(
            f"The CSR's public key could not be read ({exc}). Use RSA (2048 bits or more), "
            "EC P-256 / P-384, or Ed25519."
        ) from None
    checked = check_public_key(key)
    try:
        valid = csr.is_signature_valid
    except (ValueError, TypeError, NotImplementedError, UnsupportedAlgorithm):
        valid = False
    if not valid:
        raise CsrSignatureInvalid(
            "The CSR's self-signature is not valid, so it does not prove possession of the key. "
            "Create a new CSR with the same tool; do not edit it by hand."
        )
    return checked
