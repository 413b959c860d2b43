"""The issuing CA: a file-key local CA created on first start (or an HSM key, see hsm.py).

Certificates are built only through ``x509.CertificateBuilder``. The CA's private key is any
object implementing cryptography's private-key interface, so an HSM-backed key whose ``sign()``
calls the token serves the same code as a key loaded from a file.
"""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    CertificateIssuerPublicKeyTypes,
)
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from common.time import utcnow
from enrollment.ca.profiles import Profile
from enrollment.files import exclusive_lock, replace_file

KeyType = Literal["ec-p256", "ec-p384", "rsa-2048", "rsa-3072", "rsa-4096"]

ROOT_VALIDITY = timedelta(days=20 * 365)
ISSUING_VALIDITY = timedelta(days=10 * 365)
BACKDATE = timedelta(minutes=5)
CREATE_LOCK = ".create.lock"  # held while a local CA is written; never removed, never backed up


def generate_private_key(key_type: KeyType) -> CertificateIssuerPrivateKeyTypes:
    """Generate a key. CPU-heavy for RSA: call it off the event loop."""
    if key_type == "ec-p256":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "ec-p384":
        return ec.generate_private_key(ec.SECP384R1())
    bits = int(key_type.removeprefix("rsa-"))
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def signature_hash(
    key: CertificateIssuerPrivateKeyTypes,
) -> hashes.SHA256 | hashes.SHA384 | None:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return None
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size >= 384:
        return hashes.SHA384()
    return hashes.SHA256()


def random_serial() -> int:
    """A positive 159-bit serial: unpredictable, and at most 20 octets as RFC 5280 asks."""
    return secrets.randbits(159) | (1 << 158)


def build_subject(*, cn: str, ous: tuple[str, ...] | list[str] = (), o: str | None) -> x509.Name:
    """The subject, in RDN sequence order: O, each OU in the given order, CN."""
    rdns: list[x509.NameAttribute[str]] = []
    if o:
        rdns.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, o))
    rdns.extend(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou) for ou in ous)
    rdns.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(rdns)


@dataclass(frozen=True, slots=True, kw_only=True)
class IssuingCA:
    """An issuing CA: its certificate, its key (file or HSM) and the chain up to the root."""

    certificate: x509.Certificate
    private_key: CertificateIssuerPrivateKeyTypes
    root: x509.Certificate
    crl_url: str | None = None
    # Authority Information Access of issued certificates (RFC 5280 4.2.2.1): the OCSP
    # responder and where the issuing CA's certificate is (one DER certificate, /ca.cer).
    ocsp_url: str | None = None
    ca_issuers_url: str | None = None
    # Made once: every issuance's response carries the chain, its row the issuer's name.
    _chain_pem: bytes = field(init=False, repr=False, compare=False)
    _issuer_text: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        chain = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in self.chain)
        object.__setattr__(self, "_chain_pem", chain)
        object.__setattr__(self, "_issuer_text", self.certificate.subject.rfc4514_string())

    @property
    def chain(self) -> tuple[x509.Certificate, ...]:
        return (self.certificate, self.root)

    def chain_pem(self) -> bytes:
        return self._chain_pem

    @property
    def issuer_text(self) -> str:
        """The issuer of every certificate it signs, as RFC 4514 text (the certificate row's)."""
        return self._issuer_text

    def issue(
        self,
        *,
        public_key: CertificateIssuerPublicKeyTypes,
        subject: x509.Name,
        profile: Profile,
        email: str | None = None,
        now: datetime | None = None,
    ) -> x509.Certificate:
        """Sign an end-entity certificate. Blocking (may call an HSM): run it in a thread."""
        now = now or utcnow()
        not_after = min(now + profile.validity, self.certificate.not_valid_after_utc)
        is_rsa = isinstance(public_key, rsa.RSAPublicKey)
        builder = (
            _builder(
                subject=subject,
                issuer=self.certificate.subject,
                public_key=public_key,
                not_before=now - BACKDATE,
                not_after=not_after,
                ca=False,
                key_encipherment=is_rsa,
            )
            .add_extension(
                x509.ExtendedKeyUsage(
                    [x509.ObjectIdentifier(dotted) for dotted in profile.extended_key_usages]
                ),
                critical=False,
            )
            .add_extension(self._authority_key_identifier(), critical=False)
        )
        if email:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.RFC822Name(email)]), critical=False
            )
        if self.crl_url:
            builder = builder.add_extension(
                x509.CRLDistributionPoints(
                    [
                        x509.DistributionPoint(
                            full_name=[x509.UniformResourceIdentifier(self.crl_url)],
                            relative_name=None,
                            reasons=None,
                            crl_issuer=None,
                        )
                    ]
                ),
                critical=False,
            )
        access = self._authority_information_access()
        if access is not None:
            builder = builder.add_extension(access, critical=False)
        return builder.sign(self.private_key, signature_hash(self.private_key))

    def issue_ocsp_signer(
        self,
        *,
        public_key: CertificateIssuerPublicKeyTypes,
        validity: timedelta,
        now: datetime | None = None,
    ) -> x509.Certificate:
        """The delegated OCSP responder's certificate (RFC 6960 4.2.2.2): issued by this CA,
        ``id-kp-OCSPSigning`` only, and ``id-pkix-ocsp-nocheck`` so relying parties do not ask
        about the responder itself. Blocking (may call an HSM): run it in a thread."""
        now = now or utcnow()
        organization = self.certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
        rdns = [*organization, x509.NameAttribute(NameOID.COMMON_NAME, "certdesk OCSP responder")]
        return (
            _builder(
                subject=x509.Name(rdns),
                issuer=self.certificate.subject,
                public_key=public_key,
                not_before=now - BACKDATE,
                not_after=min(now + validity, self.certificate.not_valid_after_utc),
                ca=False,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), critical=True)
            .add_extension(x509.OCSPNoCheck(), critical=False)
            .add_extension(self._authority_key_identifier(), critical=False)
            .sign(self.private_key, signature_hash(self.private_key))
        )

    def _authority_information_access(self) -> x509.AuthorityInformationAccess | None:
        descriptions = [
            x509.AccessDescription(method, x509.UniformResourceIdentifier(url))
            for method, url in (
                (AuthorityInformationAccessOID.OCSP, self.ocsp_url),
                (AuthorityInformationAccessOID.CA_ISSUERS, self.ca_issuers_url),
            )
            if url
        ]
        return x509.AuthorityInformationAccess(descriptions) if descriptions else None

    def _authority_key_identifier(self) -> x509.AuthorityKeyIdentifier:
        ski = self.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
        return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski.value)


def _ca_certificate(
    *,
    subject: x509.Name,
    issuer: x509.Name,
    public_key: CertificateIssuerPublicKeyTypes,
    signing_key: CertificateIssuerPrivateKeyTypes,
    issuer_public_key: CertificateIssuerPublicKeyTypes,
    path_length: int | None,
    validity: timedelta,
    now: datetime,
) -> x509.Certificate:
    return (
        _builder(
            subject=subject,
            issuer=issuer,
            public_key=public_key,
            not_before=now - BACKDATE,
            not_after=now + validity,
            ca=True,
            path_length=path_length,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public_key), critical=False
        )
        .sign(signing_key, signature_hash(signing_key))
    )


def _builder(
    *,
    subject: x509.Name,
    issuer: x509.Name,
    public_key: CertificateIssuerPublicKeyTypes,
    not_before: datetime,
    not_after: datetime,
    ca: bool,
    path_length: int | None = None,
    key_encipherment: bool = False,
) -> x509.CertificateBuilder:
    """What every certdesk certificate has: names, key, a random serial, validity, basic
    constraints, key usage (signing; certificates and CRLs for a CA) and subject key id."""
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(random_serial())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=key_encipherment,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def create_ca_pair(
    *, key_type: KeyType, organization: str, now: datetime | None = None
) -> tuple[
    x509.Certificate,
    CertificateIssuerPrivateKeyTypes,
    x509.Certificate,
    CertificateIssuerPrivateKeyTypes,
]:
    """A new root CA and an issuing CA below it. Blocking: run it in a thread."""
    issuing_key = generate_private_key(key_type)
    root, root_key, issuing = create_root_for(
        issuing_key.public_key(), key_type=key_type, organization=organization, now=now
    )
    return root, root_key, issuing, issuing_key


def create_root_for(
    issuing_public_key: CertificateIssuerPublicKeyTypes,
    *,
    key_type: KeyType,
    organization: str,
    now: datetime | None = None,
) -> tuple[x509.Certificate, CertificateIssuerPrivateKeyTypes, x509.Certificate]:
    """A new root CA and the issuing CA certificate for a key kept elsewhere (an HSM). Blocking."""
    now = now or utcnow()
    root_key = generate_private_key(key_type)
    org = x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization)
    root_name = x509.Name([org, x509.NameAttribute(NameOID.COMMON_NAME, f"{organization} Root CA")])
    issuing_name = x509.Name(
        [org, x509.NameAttribute(NameOID.COMMON_NAME, f"{organization} Issuing CA")]
    )
    root = _ca_certificate(
        subject=root_name,
        issuer=root_name,
        public_key=root_key.public_key(),
        signing_key=root_key,
        issuer_public_key=root_key.public_key(),
        path_length=1,
        validity=ROOT_VALIDITY,
        now=now,
    )
    issuing = _ca_certificate(
        subject=issuing_name,
        issuer=root_name,
        public_key=issuing_public_key,
        signing_key=root_key,
        issuer_public_key=root_key.public_key(),
        path_length=0,
        validity=ISSUING_VALIDITY,
        now=now,
    )
    return root, root_key, issuing


def _key_pem(key: CertificateIssuerPrivateKeyTypes) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_or_create_local_ca(
    directory: Path, *, key_type: KeyType, organization: str, crl_url: str | None
) -> IssuingCA:
    """Load the local CA from ``directory``, creating it on first use. Blocking.

    Files: ``root.pem``, ``issuing.pem`` (0644) and ``issuing.key`` (0600). The root key is
    written too (``root.key``, 0600) so an operator can re-issue the issuing CA; move it
    offline in production.
    """

    def create() -> NewCA:
        root, root_key, issuing, issuing_key = create_ca_pair(
            key_type=key_type, organization=organization
        )
        return NewCA(root=root, root_key=root_key, issuing=issuing, issuing_key=issuing_key)

    create_ca_once(directory, create)
    return load_local_ca(directory, crl_url=crl_url)


@dataclass(frozen=True)
class NewCA:
    """A CA just created, to be written: its issuing key is ``None`` when it lives on an HSM."""

    root: x509.Certificate
    root_key: CertificateIssuerPrivateKeyTypes
    issuing: x509.Certificate
    issuing_key: CertificateIssuerPrivateKeyTypes | None


def create_ca_once(directory: Path, create: Callable[[], NewCA]) -> None:
    """Write the CA that ``create`` makes into ``directory`` unless one is there. Blocking.

    One creator at a time, in any process (an ``flock`` on ``.create.lock``): the others wait
    and then find its CA. Each file is written whole, ``issuing.pem`` last, so its presence
    means the CA is complete; files left by a creator that died part-way are written over."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    issuing_pem = directory / "issuing.pem"
    if issuing_pem.exists():
        return
    with exclusive_lock(directory / CREATE_LOCK):
        if issuing_pem.exists():
            return  # created by the process we waited for
        new = create()
        replace_file(directory / "root.key", _key_pem(new.root_key), mode=0o600)
        if new.issuing_key is not None:
            replace_file(directory / "issuing.key", _key_pem(new.issuing_key), mode=0o600)
        replace_file(directory / "root.pem", _cert_pem(new.root), mode=0o644)
        replace_file(issuing_pem, _cert_pem(new.issuing), mode=0o644)


def _cert_pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def load_local_ca(directory: Path, *, crl_url: str | None) -> IssuingCA:
    key = serialization.load_pem_private_key((directory / "issuing.key").read_bytes(), None)
    if not isinstance(
        key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
    ):
        raise ValueError(f"{directory / 'issuing.key'}: unsupported CA key type")
    return IssuingCA(
        certificate=x509.load_pem_x509_certificate((directory / "issuing.pem").read_bytes()),
        private_key=key,
        root=x509.load_pem_x509_certificate((directory / "root.pem").read_bytes()),
        crl_url=crl_url,
    )


def issue_tls_server(
    ca: IssuingCA,
    *,
    public_key: CertificateIssuerPublicKeyTypes,
    host: str,
    validity: timedelta,
    now: datetime | None = None,
) -> x509.Certificate:
    """certdesk's own TLS server certificate (``CERTDESK_TLS=auto``) for ``host``, a DNS name or
    an IP address: serverAuth, the host as its only subject alternative name. Not recorded as a
    holder's certificate. Blocking (may call an HSM): run it in a thread."""
    now = now or utcnow()
    try:
        name: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        name = x509.DNSName(host)
    return (
        _builder(
            subject=x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]),
            issuer=ca.certificate.subject,
            public_key=public_key,
            not_before=now - BACKDATE,
            not_after=min(now + validity, ca.certificate.not_valid_after_utc),
            ca=False,
            key_encipherment=isinstance(public_key, rsa.RSAPublicKey),
        )
        .add_extension(x509.SubjectAlternativeName([name]), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(ca._authority_key_identifier(), critical=False)
        .sign(ca.private_key, signature_hash(ca.private_key))
    )
