"""usbkey/revocation.py against an OCSP responder over real HTTP whose answers each test
chooses: an answer counts only when it is about the certificate, carries the nonce, is current
and is signed by the CA or a responder the CA made for OCSP; anything else is "not checked",
with its reason. (The real responder: tests/scenarios/test_usb_key.py.)"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID
from hypothesis import given

from tests.fuzz.mutations import FUZZ, damaged
from tests.support.postgres import free_port
from usbkey.revocation import Revocation, check, issuer_of, judged, responder_url

NOW = datetime.now(UTC).replace(microsecond=0)
Answer = Callable[[ocsp.OCSPRequest], bytes]


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _certificate(
    cn: str,
    key: ec.EllipticCurvePrivateKey,
    *,
    signer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None = None,
    ca: bool = False,
    ocsp_url: str | None = None,
    ocsp_signing: bool = False,
) -> x509.Certificate:
    issuer_name, issuer_key = signer or (_name(cn), key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ocsp_url is not None:
        location = x509.UniformResourceIdentifier(ocsp_url)
        access = x509.AccessDescription(AuthorityInformationAccessOID.OCSP, location)
        builder = builder.add_extension(x509.AuthorityInformationAccess([access]), critical=False)
    if ocsp_signing:
        usage = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING])
        builder = builder.add_extension(usage, critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


@dataclass
class Pki:
    ca_key: ec.EllipticCurvePrivateKey
    ca: x509.Certificate
    leaf: x509.Certificate
    leaf_key: ec.EllipticCurvePrivateKey
    signer_key: ec.EllipticCurvePrivateKey
    signer: x509.Certificate

    def answer(
        self,
        request: ocsp.OCSPRequest,
        *,
        status: ocsp.OCSPCertStatus = ocsp.OCSPCertStatus.GOOD,
        serial: int | None = None,
        nonce: bool = True,
        next_update: datetime | None = None,
        signed_by: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None = None,
    ) -> bytes:
        """A response to ``request``, signed by the delegated responder unless ``signed_by``."""
        certificate, key = signed_by or (self.signer, self.signer_key)
        revoked = status == ocsp.OCSPCertStatus.REVOKED
        builder = (
            ocsp.OCSPResponseBuilder()
            .add_response_by_hash(
                issuer_name_hash=request.issuer_name_hash,
                issuer_key_hash=request.issuer_key_hash,
                serial_number=request.serial_number if serial is None else serial,
                algorithm=request.hash_algorithm,
                cert_status=status,
                this_update=NOW,
                next_update=next_update or NOW + timedelta(hours=1),
                revocation_time=NOW - timedelta(minutes=5) if revoked else None,
                revocation_reason=x509.ReasonFlags.key_compromise if revoked else None,
            )
            .responder_id(ocsp.OCSPResponderEncoding.HASH, certificate)
            .certificates([certificate])
        )
        if nonce:
            sent = request.extensions.get_extension_for_class(x509.OCSPNonce).value
            builder = builder.add_extension(sent, critical=False)
        return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


class Responder:
    """An HTTP server on the loopback interface; ``answer`` makes each response body."""

    def __init__(self) -> None:
        self.answer: Answer = lambda request: b""
        self.status = 200
        responder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                reply = responder.answer(ocsp.load_der_ocsp_request(body))
                self.send_response(responder.status)
                self.send_header("Content-Type", "application/ocsp-response")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/ocsp"


@pytest.fixture(scope="module")
def responder() -> Iterator[Responder]:
    server = Responder()
    thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()
    thread.join(10)


def make_pki(ocsp_url: str | None) -> Pki:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _certificate("Test Issuing CA", ca_key, ca=True)
    issuer = (ca.subject, ca_key)
    leaf_key, signer_key = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )
    leaf = _certificate("Token Holder", leaf_key, signer=issuer, ocsp_url=ocsp_url)
    signer = _certificate("Test OCSP", signer_key, signer=issuer, ocsp_signing=True)
    return Pki(
        ca_key=ca_key, ca=ca, leaf=leaf, leaf_key=leaf_key, signer_key=signer_key, signer=signer
    )


@pytest.fixture
def pki(responder: Responder) -> Pki:
    return make_pki(responder.url)


def asked(responder: Responder, pki: Pki, answer: Answer) -> Revocation:
    responder.answer, responder.status = answer, 200
    return check(pki.leaf, pki.ca, now=NOW)


def test_a_good_answer_from_the_delegated_responder_counts(responder: Responder, pki: Pki) -> None:
    assert asked(responder, pki, pki.answer).status == "good"


def test_a_good_answer_signed_by_the_ca_itself_counts(responder: Responder, pki: Pki) -> None:
    checked = asked(responder, pki, lambda r: pki.answer(r, signed_by=(pki.ca, pki.ca_key)))
    assert checked.status == "good"


def test_a_revoked_answer_gives_when_and_why(responder: Responder, pki: Pki) -> None:
    checked = asked(responder, pki, lambda r: pki.answer(r, status=ocsp.OCSPCertStatus.REVOKED))
    assert checked == Revocation(
        status="revoked", revoked_at=NOW - timedelta(minutes=5), reason="keyCompromise"
    )


def test_an_unknown_answer_is_unknown(responder: Responder, pki: Pki) -> None:
    checked = asked(responder, pki, lambda r: pki.answer(r, status=ocsp.OCSPCertStatus.UNKNOWN))
    assert checked.status == "unknown"


def stranger() -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    return _certificate("Test OCSP", key, ocsp_signing=True), key


def forged(pki: Pki, request: ocsp.OCSPRequest) -> bytes:
    """A good answer whose signed part is swapped for an unknown one's (the same length): the
    responder's certificate is right, its signature is not over what the answer says."""
    good = pki.answer(request)
    unknown = pki.answer(request, status=ocsp.OCSPCertStatus.UNKNOWN)
    good_part = ocsp.load_der_ocsp_response(good).tbs_response_bytes
    unknown_part = ocsp.load_der_ocsp_response(unknown).tbs_response_bytes
    assert len(good_part) == len(unknown_part)
    assert good_part in good
    return good.replace(good_part, unknown_part)


@pytest.mark.parametrize(
    ("damage", "why"),
    [
        (lambda pki, r: pki.answer(r, signed_by=stranger()), "not_signed"),
        (lambda pki, r: forged(pki, r), "not_signed"),
        (lambda pki, r: pki.answer(r, signed_by=(pki.leaf, pki.leaf_key)), "not_signed"),
        (lambda pki, r: pki.answer(r, nonce=False), "no_nonce"),
        (lambda pki, r: pki.answer(r, serial=r.serial_number + 1), "other_certificate"),
        (lambda pki, r: pki.answer(r, next_update=NOW - timedelta(hours=1)), "out_of_date"),
        (lambda pki, r: ocsp.OCSPResponseBuilder.build_unsuccessful(
            ocsp.OCSPResponseStatus.TRY_LATER).public_bytes(serialization.Encoding.DER), "refused"),
        (lambda pki, r: b"<html>not OCSP</html>", "not_ocsp"),
    ],
    ids=["stranger", "forged", "leaf-key", "no-nonce", "serial", "stale", "later", "html"],
)  # fmt: skip
def test_an_answer_that_is_not_proven_is_not_checked(
    responder: Responder, pki: Pki, damage: Callable[[Pki, ocsp.OCSPRequest], bytes], why: str
) -> None:
    """Never "not revoked" on an answer that does not prove it: each says why."""
    checked = asked(responder, pki, lambda request: damage(pki, request))
    assert (checked.status, checked.why) == ("not_checked", why)


def test_a_responder_certificate_without_ocsp_signing_does_not_count(
    responder: Responder, pki: Pki
) -> None:
    """A certificate the CA made for something else cannot speak for the CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    other = _certificate("Test OCSP", key, signer=(pki.ca.subject, pki.ca_key))
    checked = asked(responder, pki, lambda r: pki.answer(r, signed_by=(other, key)))
    assert (checked.status, checked.why) == ("not_checked", "not_signed")


def test_an_http_error_names_the_status(responder: Responder, pki: Pki) -> None:
    responder.answer, responder.status = pki.answer, 503
    checked = check(pki.leaf, pki.ca, now=NOW)
    assert (checked.why, dict(checked.details)) == (
        "http_status",
        {"url": responder.url, "status": "503"},
    )
    responder.status = 200


def test_a_responder_that_is_not_listening_is_not_checked() -> None:
    url = f"http://127.0.0.1:{free_port()}/ocsp"
    pki = make_pki(url)
    checked = check(pki.leaf, pki.ca, now=NOW)
    assert (checked.status, checked.why) == ("not_checked", "unreachable")
    assert dict(checked.details)["url"] == url
    assert "refused" in dict(checked.details)["reason"].lower()


def test_a_certificate_without_an_ocsp_address_is_not_checked() -> None:
    pki = make_pki(None)
    assert responder_url(pki.leaf) is None
    assert check(pki.leaf, pki.ca, now=NOW).why == "no_responder"


def test_the_issuer_is_the_certificate_that_signed_it() -> None:
    pki, other = make_pki(None), make_pki(None)
    assert issuer_of(pki.leaf, [other.ca, pki.signer, pki.ca]) == pki.ca
    assert issuer_of(pki.leaf, [other.ca]) is None  # same name, another key


def _request(pki: Pki) -> ocsp.OCSPRequest:
    return (
        ocsp.OCSPRequestBuilder()
        .add_certificate(pki.leaf, pki.ca, hashes.SHA256())
        .add_extension(x509.OCSPNonce(b"sixteen byte nonce"), critical=False)
        .build()
    )


FUZZ_PKI = make_pki("http://127.0.0.1:9/ocsp")
FUZZ_REQUEST = _request(FUZZ_PKI)
FUZZ_ANSWER = FUZZ_PKI.answer(FUZZ_REQUEST, status=ocsp.OCSPCertStatus.REVOKED)


def _signed_part(body: bytes) -> bytes | None:
    try:
        return ocsp.load_der_ocsp_response(body).tbs_response_bytes
    except ValueError:
        return None


def test_the_fuzzed_answer_is_proof_before_damage() -> None:
    checked = judged(FUZZ_ANSWER, FUZZ_REQUEST, FUZZ_PKI.ca, now=NOW, url="http://x/ocsp")
    assert checked.status == "revoked"


def test_no_flipped_bit_of_an_answer_is_believed() -> None:
    """Every byte of a revoked answer, one at a time, with its low bit flipped: whatever still
    parses is believed only if its signed part is unchanged."""
    believed = []
    for at in range(len(FUZZ_ANSWER)):
        body = bytearray(FUZZ_ANSWER)
        body[at] ^= 0x01
        checked = judged(bytes(body), FUZZ_REQUEST, FUZZ_PKI.ca, now=NOW, url="http://x/ocsp")
        if checked.status != "not_checked" and _signed_part(bytes(body)) != _signed_part(
            FUZZ_ANSWER
        ):
            believed.append((at, checked))
    assert believed == []


@FUZZ
@given(damaged(FUZZ_ANSWER))
def test_a_damaged_answer_is_never_taken_for_proof(body: bytes) -> None:
    """No exception comes out, and only an answer whose signed part is unchanged is believed."""
    checked = judged(body, FUZZ_REQUEST, FUZZ_PKI.ca, now=NOW, url="http://x/ocsp")
    if checked.status != "not_checked":
        assert _signed_part(body) == _signed_part(FUZZ_ANSWER)
