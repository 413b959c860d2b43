"""cryptography private keys whose ``sign()`` calls a PKCS#11 token.

cryptography's builders (``CertificateBuilder``, ``CertificateRevocationListBuilder``,
``CertificateSigningRequestBuilder``) hand the bytes to be signed to the key's Python ``sign()``
method, so a subclass of ``EllipticCurvePrivateKey`` / ``RSAPrivateKey`` that forwards to the
token serves the same builder code as a key loaded from a file. That the installed cryptography
really does so is checked by ``tests/enrollment/test_pkcs11_keys.py`` against SoftHSM, not
assumed.

The token does the private-key operation only: hashing happens here, then ``CKM_ECDSA`` (the raw
``r‖s`` it returns is DER-encoded as X.509 wants) or ``CKM_RSA_PKCS`` over a DigestInfo. These
two mechanisms are the ones virtually every token and HSM offers; the combined ``*_SHA256``
mechanisms are not.

PKCS#11 calls block, and a python-pkcs11 session must not be used by two threads at once: every
call into the token takes the ``lock`` given at construction (one lock per session).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Generic, NoReturn, Protocol, Self, TypeVar, cast

import pkcs11
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import _serialization, hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.padding import AsymmetricPadding, PKCS1v15
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, encode_dss_signature
from cryptography.utils import Buffer
from pkcs11 import Attribute, KeyType, Mechanism

if TYPE_CHECKING:  # NoDigestInfo is new in cryptography 45; only the type is needed
    from cryptography.hazmat.primitives.asymmetric.utils import NoDigestInfo

# DER of DigestInfo's algorithm identifier and the OCTET STRING header, per hash (RFC 8017 9.2).
_DIGEST_INFO_PREFIX: dict[str, bytes] = {
    "sha256": bytes.fromhex("3031300d060960864801650304020105000420"),
    "sha384": bytes.fromhex("3041300d060960864801650304020205000430"),
    "sha512": bytes.fromhex("3051300d060960864801650304020305000440"),
}
# DER-encoded OIDs of the named curves, as tokens keep them in CKA_EC_PARAMS.
CURVE_PARAMS: dict[str, bytes] = {
    "secp256r1": bytes.fromhex("06082a8648ce3d030107"),
    "secp384r1": bytes.fromhex("06052b81040022"),
}
_CURVES: dict[bytes, ec.EllipticCurve] = {
    CURVE_PARAMS["secp256r1"]: ec.SECP256R1(),
    CURVE_PARAMS["secp384r1"]: ec.SECP384R1(),
}

TokenPublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey


class _Signer(Protocol):
    def sign(self, data: bytes, *, mechanism: Mechanism) -> bytes: ...


def _token_sign(key: pkcs11.PrivateKey, data: bytes, mechanism: Mechanism) -> bytes:
    return bytes(cast(_Signer, key).sign(data, mechanism=mechanism))


def _digest(data: Buffer, algorithm: hashes.HashAlgorithm | Prehashed) -> bytes:
    if not isinstance(algorithm, hashes.HashAlgorithm):
        raise UnsupportedAlgorithm("a token key signs whole messages, not prehashed digests")
    digest = hashes.Hash(algorithm)
    digest.update(bytes(data))
    return digest.finalize()


def _no_export() -> NoReturn:
    raise UnsupportedAlgorithm("this private key lives on a PKCS#11 token and cannot be exported")


def _unwrap_ec_point(value: bytes, curve: ec.EllipticCurve) -> bytes:
    """CKA_EC_POINT is a DER OCTET STRING per the standard; some tokens give the raw point."""
    raw_length = 1 + 2 * ((curve.key_size + 7) // 8)
    if len(value) == raw_length:
        return value
    if len(value) == raw_length + 2 and value[0] == 0x04 and value[1] == raw_length:
        return value[2:]
    raise ValueError(f"unexpected CKA_EC_POINT of {len(value)} bytes")


def public_key_of(key: pkcs11.PublicKey | pkcs11.PrivateKey) -> TokenPublicKey:
    """The cryptography public key of a token key pair (read from its public key object)."""
    if key.key_type == KeyType.EC:
        params = bytes(key[Attribute.EC_PARAMS])
        curve = _CURVES.get(params)
        if curve is None:
            raise ValueError(f"unsupported curve (CKA_EC_PARAMS {params.hex()})")
        point = _unwrap_ec_point(bytes(key[Attribute.EC_POINT]), curve)
        return ec.EllipticCurvePublicKey.from_encoded_point(curve, point)
    if key.key_type == KeyType.RSA:
        modulus = int.from_bytes(bytes(key[Attribute.MODULUS]), "big")
        exponent = int.from_bytes(bytes(key[Attribute.PUBLIC_EXPONENT]), "big")
        return rsa.RSAPublicNumbers(exponent, modulus).public_key()
    raise ValueError(f"unsupported key type {key.key_type!r}")


_Public = TypeVar("_Public", ec.EllipticCurvePublicKey, rsa.RSAPublicKey)


class _KeptOnToken(Generic[_Public]):
    """What both token keys share: the token key, its public half and the session's lock;
    signing through the token; nothing leaves the token, and a copy is the same key."""

    def __init__(
        self, key: pkcs11.PrivateKey, public_key: _Public, *, lock: threading.Lock
    ) -> None:
        self._key = key
        self._public_key: _Public = public_key
        self._lock = lock

    def _sign_on_token(self, data: bytes, mechanism: Mechanism) -> bytes:
        with self._lock:
            return _token_sign(self._key, data, mechanism)

    def public_key(self) -> _Public:
        return self._public_key

    @property
    def key_size(self) -> int:
        return self._public_key.key_size

    def private_bytes(
        self,
        encoding: _serialization.Encoding,
        format: _serialization.PrivateFormat,
        encryption_algorithm: _serialization.KeySerializationEncryption,
    ) -> bytes:
        _no_export()

    def __copy__(self) -> Self:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Self:
        return self


class TokenECPrivateKey(_KeptOnToken[ec.EllipticCurvePublicKey], ec.EllipticCurvePrivateKey):
    """An EC private key on a token: signs through ``CKM_ECDSA``; cannot be exported."""

    def sign(self, data: Buffer, signature_algorithm: ec.EllipticCurveSignatureAlgorithm) -> bytes:
        if not isinstance(signature_algorithm, ec.ECDSA):
            raise UnsupportedAlgorithm("only ECDSA signatures are supported")
        digest = _digest(data, signature_algorithm.algorithm)
        raw = self._sign_on_token(digest, Mechanism.ECDSA)
        half = len(raw) // 2
        return encode_dss_signature(
            int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big")
        )

    @property
    def curve(self) -> ec.EllipticCurve:
        return self._public_key.curve

    def exchange(self, algorithm: ec.ECDH, peer_public_key: ec.EllipticCurvePublicKey) -> bytes:
        raise UnsupportedAlgorithm("this token key is for signing only")

    def private_numbers(self) -> ec.EllipticCurvePrivateNumbers:
        _no_export()

    def __repr__(self) -> str:
        return f"<TokenECPrivateKey {self.curve.name} on a PKCS#11 token>"


class TokenRSAPrivateKey(_KeptOnToken[rsa.RSAPublicKey], rsa.RSAPrivateKey):
    """An RSA private key on a token: PKCS#1 v1.5 signatures through ``CKM_RSA_PKCS``."""

    def sign(
        self,
        data: Buffer,
        padding: AsymmetricPadding,
        algorithm: hashes.HashAlgorithm | Prehashed | NoDigestInfo,
    ) -> bytes:
        if not isinstance(padding, PKCS1v15):
            raise UnsupportedAlgorithm("only PKCS#1 v1.5 signatures are supported on the token")
        if not isinstance(algorithm, hashes.HashAlgorithm):
            raise UnsupportedAlgorithm("a token key signs whole messages with a DigestInfo")
        prefix = _DIGEST_INFO_PREFIX.get(algorithm.name)
        if prefix is None:
            raise UnsupportedAlgorithm(f"hash {algorithm.name} is not supported on the token")
        digest_info = prefix + _digest(data, algorithm)
        return self._sign_on_token(digest_info, Mechanism.RSA_PKCS)

    def decrypt(self, ciphertext: bytes, padding: AsymmetricPadding) -> bytes:
        raise UnsupportedAlgorithm("this token key is used for signing here")

    def private_numbers(self) -> rsa.RSAPrivateNumbers:
        _no_export()

    def __repr__(self) -> str:
        return f"<TokenRSAPrivateKey RSA-{self.key_size} on a PKCS#11 token>"


def token_private_key(
    key: pkcs11.PrivateKey, public_key: TokenPublicKey, *, lock: threading.Lock
) -> TokenECPrivateKey | TokenRSAPrivateKey:
    """The cryptography view of a token private key whose public half is ``public_key``."""
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return TokenECPrivateKey(key, public_key, lock=lock)
    return TokenRSAPrivateKey(key, public_key, lock=lock)
