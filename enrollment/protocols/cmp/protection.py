"""CMP message protection: PasswordBasedMac (the authorization code as the shared secret) and
signatures (kur, and the CA's answers). Pure."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from pyasn1.codec.der import decoder as der_decoder
from pyasn1.codec.der import encoder as der_encoder
from pyasn1.error import PyAsn1Error
from pyasn1.type import univ
from pyasn1_alt_modules import rfc4210, rfc5280

from enrollment.protocols.cmp.errors import CmpError, FailInfo

MIN_PBM_ITERATIONS = 100
# Each iteration is one hash of the one-way function, paid by the server before it knows who
# asks: 10,000 is about 10 ms per spelling of the code (openssl cmp sends 500).
MAX_PBM_ITERATIONS = 10_000
MAX_SALT_BYTES = 64
PASSWORD_BASED_MAC = univ.ObjectIdentifier("1.2.840.113533.7.66.13")
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
        # The constructor bound once (hashlib.new by name costs twice as much per iteration);
        # no C primitive iterates a plain hash (PBKDF2 is HMAC-based, not PBM).
        owf = getattr(hashlib, self.owf)
        key = secret + self.salt
        for _ in range(self.iterations):
            key = owf(key).digest()
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


def pbm_parameters(algorithm: Any) -> PbmParameters:
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
    if iterations > MAX_PBM_ITERATIONS:
        raise CmpError(
            FailInfo.BAD_MESSAGE_CHECK,
            f"The PasswordBasedMac iteration count {iterations} is over certdesk's limit of "
            f"{MAX_PBM_ITERATIONS}: use {MIN_PBM_ITERATIONS} to {MAX_PBM_ITERATIONS} iterations "
            "(openssl cmp's default, 500, fits).",
        )
    if iterations < MIN_PBM_ITERATIONS:
        raise CmpError(
            FailInfo.BAD_ALG,
            f"The PasswordBasedMac iteration count {iterations} is under {MIN_PBM_ITERATIONS}: "
            f"use {MIN_PBM_ITERATIONS} to {MAX_PBM_ITERATIONS} iterations.",
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


def signature_valid(key: PublicKeyTypes, oid: str, signature: bytes, data: bytes) -> bool:
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


@dataclass(frozen=True, slots=True, kw_only=True)
class Protection:
    """How to protect an answer: a MAC with the client's secret, or a signature."""

    secret: bytes | None = None
    pbm: PbmParameters | None = None
    signer: Any = None  # a private key implementing cryptography's sign()
    signer_chain: tuple[x509.Certificate, ...] = ()

    def __repr__(self) -> str:
        return "Protection(<hidden>)"


def signature_oid(key: Any) -> str:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return "1.2.840.10045.4.3.3" if key.curve.key_size >= 384 else "1.2.840.10045.4.3.2"
    if isinstance(key, rsa.RSAPrivateKey):
        return "1.2.840.113549.1.1.11"
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "1.3.101.112"
    raise TypeError(f"cannot sign CMP messages with {type(key).__name__}")


def sign(key: Any, data: bytes) -> bytes:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        algorithm = hashes.SHA384() if key.curve.key_size >= 384 else hashes.SHA256()
        return key.sign(data, ec.ECDSA(algorithm))
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(data)
    raise TypeError(f"cannot sign CMP messages with {type(key).__name__}")
