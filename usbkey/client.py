"""The USB-key client behind ``certdesk token`` and ``certdesk-usbkey``: enroll, renew in place,
list, clean. Blocking.

``enroll``: a key pair is generated on the token, a CSR signed on the token is posted to
``POST /api/v1/enroll/{token}`` with ``"delivery": "token"``, and the certificate (plus the CA
chain) is written next to the key with the same CKA_ID and label.

``renew``: there is no link. The client asks ``POST /api/v1/renew-challenge`` for a one-time
challenge for the current certificate on the token (``inventory.py`` says which one is current;
a pair is named by its CKA_ID, never by its label), makes a NEW key pair on the token, and posts
the certificate, the new CSR and the CURRENT key's signature over both and the challenge
(``possession.py``) to ``POST /api/v1/renew``. The new certificate gets the old one's label.
Once it is stored and read back, the old certificate and key are deleted from the token (real
tokens have little room, and software that picks by label would pair the old key with the new
certificate); ``keep_old`` keeps them under :func:`inventory.superseded_label` instead. The
server is the one named in the certificate's CRL distribution point (``$CERTDESK_PUBLIC_URL/crl``)
unless ``server`` is given.

``clean``: deletes expired and superseded pairs (certificate and keys by CKA_ID).

State on the token stays consistent on failure: a key pair made for a request the server
refused (an API error) or that never left this machine is deleted again. If the request may
have reached the server (a timeout or a reset connection), the key pair is kept with the label
``certdesk pending``: the certificate may have been issued for it. The old pair is removed only
after the new certificate has been read back from the token.
"""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import unquote, urlsplit

import pkcs11
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from common import links
from common.links import FRIENDLY_NAME_HEADER, Link
from usbkey import revocation
from usbkey.certificates import HoldsCertificate, extension
from usbkey.inventory import State, classify, removable, superseded_label
from usbkey.pkcs11.errors import (
    LinkMalformed,
    NoCertificateToRenew,
    ServerRefused,
    ServerUnreachable,
    SeveralCertificates,
    TokenOperationFailed,
)
from usbkey.pkcs11.key_types import TokenKeyType
from usbkey.pkcs11.session import (
    PENDING_LABEL,
    CertificateOnToken,
    TokenInfo,
    TokenKeyPair,
    authority_id,
    certificate_with_id,
    certificates_on,
    choose_token,
    delete_key_pair,
    delete_pair_and_certificate,
    generate_key_pair,
    list_tokens,
    logged_in,
    open_module,
    private_key_for,
    reading,
    relabel,
    relabel_objects,
    store_certificate,
)
from usbkey.possession import renewal_message, sign_renewal

if TYPE_CHECKING:
    from pkcs11._pkcs11 import lib as Pkcs11Library

TIMEOUT_SECONDS = 60

Step = Literal["generating", "sending", "storing", "checking"]
Progress = Callable[[Step], None]


def _silent(step: Step) -> None:
    pass


# -- the link and the API ----------------------------------------------------------------------


def parse_link(link: str) -> Link:
    """``https://host[/prefix]/enroll/{token}`` -> where the API is and the link's token."""
    parsed = links.parse_link(link)
    if parsed is None or parsed.kind != "enroll":
        raise LinkMalformed(link)
    return parsed


def post_json(
    url: str, body: dict[str, Any], *, lang: str = "en"
) -> tuple[dict[str, Any], dict[str, str]]:
    """POST ``body`` as JSON; the answer's JSON and headers, or ServerRefused/ServerUnreachable.

    ServerUnreachable carries ``sent``: False when the request cannot have reached the server.
    """
    if urlsplit(url).scheme not in ("http", "https"):
        raise ServerUnreachable(url, "only http and https URLs are used")
    request = urllib.request.Request(  # noqa: S310 (scheme checked above)
        url,
        data=json.dumps(body).encode(),
        headers={
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Accept-Language": lang,
        },
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
            payload = response.read()
            headers = {key.lower(): value for key, value in response.headers.items()}
    except urllib.error.HTTPError as exc:
        raise _refusal(exc) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        sent = not isinstance(reason, ConnectionRefusedError | socket.gaierror)
        raise ServerUnreachable(url, str(reason), sent=sent) from None
    try:
        data = json.loads(payload)
    except ValueError:
        raise ServerRefused(
            code="bad_response", message=f"{url} did not answer with JSON.", status=502
        ) from None
    if not isinstance(data, dict):
        raise ServerRefused(code="bad_response", message=f"{url} answered oddly.", status=502)
    return data, headers


def _refusal(exc: urllib.error.HTTPError) -> ServerRefused:
    """The API's ``{"error": {"code", "message"}}``, kept verbatim."""
    try:
        error = json.loads(exc.read())["error"]
        return ServerRefused(
            code=str(error["code"]), message=str(error["message"]), status=exc.code
        )
    except (ValueError, KeyError, TypeError):
        return ServerRefused(
            code=f"http_{exc.code}", message=f"HTTP {exc.code} {exc.reason}", status=exc.code
        )


# -- results -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredCertificate(HoldsCertificate):
    """What ``enroll`` and ``renew`` wrote to the token."""

    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    label: str
    key_id: bytes
    token_label: str
    replaces: str | None = None
    kept_old: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenInventory:
    info: TokenInfo
    certificates: tuple[tuple[CertificateOnToken, State], ...]
    """Each certificate with its state (``inventory.classify``)."""
    revocations: dict[int, revocation.Revocation]
    """What the CA's OCSP responder says of each current certificate, by serial number (none
    when not asked)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Cleaned:
    token_label: str
    removed: tuple[CertificateOnToken, ...]


# -- the commands ------------------------------------------------------------------------------


def select_token(module: str, token_label: str | None) -> pkcs11.Token:
    """Load ``module`` and pick the token: fails early, before anything is asked."""
    return choose_token(open_module(module), module, token_label)


def _classified(found: list[CertificateOnToken]) -> tuple[tuple[CertificateOnToken, State], ...]:
    by_id = {id(item): item for item in found}
    return tuple(
        (by_id[id(entry.item)], entry.state) for entry in classify(found, datetime.now(UTC))
    )


def inventory(
    module: str, *, check_revocation: bool = False, progress: Progress = _silent
) -> list[TokenInventory]:
    """Every initialised token behind ``module`` and the certificates on it, with their state;
    ``check_revocation``: with what the CA's OCSP responder says of each current one."""
    library: Pkcs11Library = open_module(module)
    result = []
    for token, info in list_tokens(library):
        with reading(token) as session:
            found = certificates_on(session)
        certificates = _classified(found)
        revocations = _revocations(certificates, progress) if check_revocation else {}
        result.append(TokenInventory(info=info, certificates=certificates, revocations=revocations))
    return result


def _revocations(
    certificates: tuple[tuple[CertificateOnToken, State], ...], progress: Progress
) -> dict[int, revocation.Revocation]:
    """Each current certificate's revocation, asked with the CA chain stored on the token."""
    authorities = [found.certificate for found, state in certificates if state == "authority"]
    now = datetime.now(UTC)
    checked: dict[int, revocation.Revocation] = {}
    for found, state in certificates:
        if state != "current":
            continue
        serial = found.certificate.serial_number
        issuer = revocation.issuer_of(found.certificate, authorities)
        if issuer is None:
            checked[serial] = revocation.not_checked("no_issuer")
            continue
        progress("checking")
        checked[serial] = revocation.check(found.certificate, issuer, now=now)
    return checked


def _csr(pair: TokenKeyPair, common_name: str) -> x509.CertificateSigningRequest:
    """A CSR signed on the token (the server takes the subject from its records, not from here)."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64])])
    return (
        x509.CertificateSigningRequestBuilder()
        .subject_name(subject)
        .sign(pair.private_key, _hash(pair))
    )


def _hash(pair: TokenKeyPair) -> hashes.SHA256 | hashes.SHA384:
    key = pair.public_key
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.key_size >= 384:
        return hashes.SHA384()
    return hashes.SHA256()


def _pem(item: x509.Certificate | x509.CertificateSigningRequest) -> str:
    return item.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _issued(
    body: dict[str, Any], pair: TokenKeyPair
) -> tuple[x509.Certificate, list[x509.Certificate]]:
    try:
        certificate = x509.load_pem_x509_certificate(str(body["certificate"]).encode())
        chain = (
            x509.load_pem_x509_certificates(str(body.get("chain") or "").encode())
            if body.get("chain")
            else []
        )
    except (KeyError, ValueError):
        raise ServerRefused(
            code="bad_response",
            message="The server's answer holds no readable certificate.",
            status=502,
        ) from None
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if certificate.public_key().public_bytes(der, spki) != pair.public_key.public_bytes(der, spki):
        raise ServerRefused(
            code="bad_response",
            message="The server returned a certificate for another key; nothing was stored.",
            status=502,
        )
    return certificate, chain


def _store(
    session: pkcs11.Session,
    *,
    pair: TokenKeyPair,
    certificate: x509.Certificate,
    chain: list[x509.Certificate],
    label: str,
) -> None:
    """Write the certificate next to its key and the chain beside them, then read it back."""
    relabel(pair, label)
    store_certificate(session, certificate, label=label, identifier=pair.id)
    for authority in chain:
        names = authority.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        store_certificate(
            session,
            authority,
            label=str(names[0].value) if names else "CA",
            identifier=authority_id(authority),
        )
    if certificate_with_id(session, pair.id) != certificate:
        raise TokenOperationFailed(
            "keep the new certificate", RuntimeError("it could not be read back")
        )


def _post_with_new_key(
    session: pkcs11.Session,
    pair: TokenKeyPair,
    url: str,
    body: Callable[[], dict[str, Any]],
    *,
    lang: str,
) -> tuple[dict[str, Any], dict[str, str]]:
    """Post a request for ``pair``; delete the pair unless the server may have certified it."""
    try:
        return post_json(url, body(), lang=lang)
    except ServerUnreachable as exc:
        if not exc.sent:
            delete_key_pair(session, pair.id)
            raise
        exc.message += (
            f" The request may have reached the server, so the new key pair stays on the USB "
            f"key (label {PENDING_LABEL!r}, ID {pair.id.hex()}) in case a certificate was "
            "issued for it. Ask the certdesk bot in Slack for your certificates before trying "
            "again."
        )
        exc.args = (exc.message,)
        exc.pending_key_id = pair.id.hex()
        raise
    except BaseException:
        delete_key_pair(session, pair.id)
        raise


def enroll(
    *,
    token: pkcs11.Token,
    link: str,
    pin: str,
    reference_number: str,
    authorization_code: str,
    key_type: TokenKeyType = "ec-p256",
    progress: Progress = _silent,
    lang: str = "en",
) -> StoredCertificate:
    """Redeem ``link``: key pair on ``token``, certificate and CA chain stored next to it."""
    parsed = parse_link(link)
    with logged_in(token, pin) as session:
        progress("generating")
        pair = generate_key_pair(session, key_type=key_type)
        progress("sending")
        body, headers = _post_with_new_key(
            session,
            pair,
            parsed.api_url,
            lambda: {
                "reference_number": reference_number,
                "authorization_code": authorization_code,
                "csr": _pem(_csr(pair, "certdesk token enrollment")),
                "delivery": "token",
            },
            lang=lang,
        )
        certificate, chain = _issued(body, pair)
        progress("storing")
        label = unquote(headers.get(FRIENDLY_NAME_HEADER.lower(), "")) or _common_name(certificate)
        _store(session, pair=pair, certificate=certificate, chain=chain, label=label)
    return StoredCertificate(
        certificate=certificate,
        chain=tuple(chain),
        label=label,
        key_id=pair.id,
        token_label=token.label,
    )


def _common_name(certificate: x509.Certificate) -> str:
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else "certdesk"


def _key_type_of(key: x509.Certificate) -> TokenKeyType:
    public = key.public_key()
    if isinstance(public, ec.EllipticCurvePublicKey):
        return "ec-p384" if public.curve.key_size >= 384 else "ec-p256"
    if isinstance(public, rsa.RSAPublicKey) and public.key_size >= 3072:
        return "rsa-3072"
    return "rsa-2048"


def server_of(certificate: x509.Certificate) -> str | None:
    """certdesk's URL from the certificate's CRL distribution point (``…/crl``)."""
    for point in extension(certificate, x509.CRLDistributionPoints) or []:
        for name in point.full_name or []:
            if isinstance(name, x509.UniformResourceIdentifier) and name.value.endswith("/crl"):
                return name.value.removesuffix("/crl")
    return None


def renewable(
    session: pkcs11.Session, *, label: str | None, token_label: str
) -> tuple[CertificateOnToken, TokenKeyPair]:
    """The current certificate (``inventory.classify``) and its key pair, found by CKA_ID."""
    now = datetime.now(UTC)
    candidates: list[tuple[CertificateOnToken, TokenKeyPair]] = []
    for found, state in _classified(certificates_on(session)):
        if state != "current" or not found.id or found.certificate.not_valid_before_utc > now:
            continue
        if label is not None and found.label != label:
            continue
        pair = private_key_for(session, found.id)
        if pair is not None:
            candidates.append((found, pair))
    if not candidates:
        detail = f" labelled {label!r}" if label is not None else ""
        raise NoCertificateToRenew(token_label, detail)
    if len(candidates) > 1:
        raise SeveralCertificates(sorted(found.label for found, _ in candidates))
    return candidates[0]


def renew(
    *,
    token: pkcs11.Token,
    pin: str,
    label: str | None = None,
    server: str | None = None,
    key_type: TokenKeyType | None = None,
    keep_old: bool = False,
    progress: Progress = _silent,
    lang: str = "en",
) -> StoredCertificate:
    """Renew the certificate on ``token`` in place, proving possession of its current key."""
    with logged_in(token, pin) as session:
        current, current_pair = renewable(session, label=label, token_label=token.label)
        base = (server or server_of(current.certificate) or "").rstrip("/")
        if not base:
            raise NoCertificateToRenew(
                token.label, " that names its certdesk server (pass --server URL)"
            )
        certificate_pem = _pem(current.certificate)
        challenge, _ = post_json(
            f"{base}/api/v1/renew-challenge", {"certificate": certificate_pem}, lang=lang
        )
        progress("generating")
        pair = generate_key_pair(session, key_type=key_type or _key_type_of(current.certificate))

        def body() -> dict[str, Any]:
            csr = _csr(pair, current.common_name)
            csr_der = csr.public_bytes(serialization.Encoding.DER)
            message = renewal_message(
                challenge=str(challenge["challenge"]),
                certificate=current.certificate,
                csr_der=csr_der,
            )
            return {
                "certificate": certificate_pem,
                "csr": _pem(csr),
                "challenge": str(challenge["challenge"]),
                "signature": sign_renewal(current_pair.private_key, message),
            }

        progress("sending")
        answer, _ = _post_with_new_key(session, pair, f"{base}/api/v1/renew", body, lang=lang)
        certificate, chain = _issued(answer, pair)
        progress("storing")
        _store(session, pair=pair, certificate=certificate, chain=chain, label=current.label)
        if keep_old:
            relabel_objects(session, current.id, superseded_label(current.label, current.serial))
        else:
            delete_pair_and_certificate(session, current.id)
    return StoredCertificate(
        certificate=certificate,
        chain=tuple(chain),
        label=current.label,
        key_id=pair.id,
        token_label=token.label,
        replaces=current.serial,
        kept_old=keep_old,
    )


def cleanable(token: pkcs11.Token) -> list[CertificateOnToken]:
    """The expired and superseded pairs on ``token`` (read without the PIN)."""
    with reading(token) as session:
        found = certificates_on(session)
    return _removable(found)


def _removable(found: list[CertificateOnToken]) -> list[CertificateOnToken]:
    chosen = {id(item) for item in removable(classify(found, datetime.now(UTC)))}
    return [item for item in found if id(item) in chosen]


def clean(*, token: pkcs11.Token, pin: str, confirmed: set[bytes]) -> Cleaned:
    """Delete the expired and superseded pairs whose CKA_ID the holder ``confirmed``."""
    with logged_in(token, pin) as session:
        doomed = [item for item in _removable(certificates_on(session)) if item.id in confirmed]
        for item in doomed:
            delete_pair_and_certificate(session, item.id)
    return Cleaned(token_label=token.label, removed=tuple(doomed))
