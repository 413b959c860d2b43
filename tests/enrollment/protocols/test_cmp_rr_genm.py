"""CMP revocation (rr) and general messages (genm): the real `certdesk serve` with the real
`openssl cmp` as the client, plus hand-built genm for the info types openssl 3.0 cannot name."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from pyasn1.codec.der import decoder, encoder
from pyasn1.type import univ, useful
from pyasn1_alt_modules import rfc5280, rfc9480

from enrollment.models import AuditEvent
from enrollment.protocols import cmp
from enrollment.protocols.cmp import CmpError, FailInfo, general
from tests.enrollment.protocols.test_cmp import (
    SECRET,
    Desk,
    new_key,
    post_raw,
    refusal,
    self_signed,
    start_desk,
)
from tests.support import cmp_messages
from tests.support.store import certificate_row


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    """One real server on embedded SQLite for this module."""
    yield from start_desk(tmp_path_factory.mktemp("cmp-rr-desk"), None)


def enrolled(desk: Desk, directory: Path, cn: str = "RR Holder") -> x509.Certificate:
    directory.mkdir(exist_ok=True)
    result = desk.enroll(desk.issue(cn), directory)
    assert result.returncode == 0, result.output
    return x509.load_pem_x509_certificate((directory / "cert.pem").read_bytes())


def rr(desk: Desk, directory: Path, cert: Path, key: Path, old: Path, *extra: str) -> str:
    result = desk.openssl_cmp(
        "-cmd", "rr", "-trusted", str(directory / "root.pem"),
        "-untrusted", str(directory / "chain.pem"),
        "-cert", str(cert), "-key", str(key), "-oldcert", str(old), *extra,
    )  # fmt: skip
    assert result.returncode == 0, result.output
    return result.output


def crl_serials(desk: Desk) -> set[int]:
    with urllib.request.urlopen(f"{desk.server.url}/crl", timeout=10) as response:  # noqa: S310
        crl = x509.load_der_x509_crl(response.read())
    return {entry.serial_number for entry in crl}


def test_cmp_rr_revokes_an_ir_certificate_with_its_reason_audited_and_in_the_crl(
    desk: Desk, tmp_path: Path
) -> None:
    cert = enrolled(desk, tmp_path)
    serial = format(cert.serial_number, "x")
    assert cert.serial_number not in crl_serials(desk)
    path, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    output = rr(desk, tmp_path, path, key, path, "-revreason", "1")
    assert "received RP" in output
    record = desk.call(lambda r: certificate_row(r.engine, serial))
    assert (record.status, record.revocation_reason) == ("revoked", "keyCompromise")
    assert cert.serial_number in crl_serials(desk)

    async def audited(runtime: object) -> list[AuditEvent]:
        from sqlmodel import col, select

        from enrollment.db import session_factory

        async with session_factory(runtime.engine)() as session:  # type: ignore[attr-defined]
            rows = await session.execute(select(AuditEvent).where(col(AuditEvent.target) == serial))
            return list(rows.scalars())

    events = [e for e in desk.call(audited) if e.action == "certificate.revoke"]
    assert [(e.actor, e.detail["reason"]) for e in events] == [("cmp:rr", "keyCompromise")]


def test_cmp_rr_already_revoked_gets_cert_revoked(desk: Desk, tmp_path: Path) -> None:
    enrolled(desk, tmp_path)
    path, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    rr(desk, tmp_path, path, key, path)
    again = refusal(
        desk.openssl_cmp(
            "-cmd", "rr", "-trusted", str(tmp_path / "root.pem"),
            "-untrusted", str(tmp_path / "chain.pem"),
            "-cert", str(path), "-key", str(key), "-oldcert", str(path),
        )
    )  # fmt: skip
    assert "certRevoked" in again
    assert "already revoked" in again


def test_cmp_rr_signed_by_another_certificate_refused_not_authorized(
    desk: Desk, tmp_path: Path
) -> None:
    """Another holder's valid certificate and key cannot revoke a certificate: notAuthorized,
    and the victim stays active."""
    victim = enrolled(desk, tmp_path / "victim", "Victim")
    enrolled(desk, tmp_path / "other", "Other Holder")
    other = tmp_path / "other"
    output = refusal(
        desk.openssl_cmp(
            "-cmd", "rr", "-trusted", str(other / "root.pem"),
            "-untrusted", str(other / "chain.pem"),
            "-cert", str(other / "cert.pem"), "-key", str(other / "key.pem"),
            "-oldcert", str(tmp_path / "victim" / "cert.pem"),
        )
    )  # fmt: skip
    assert "notAuthorized" in output
    assert "signed by another certificate" in output
    record = desk.call(lambda r: certificate_row(r.engine, format(victim.serial_number, "x")))
    assert record.status == "active"


def test_cmp_rr_with_mac_refused_and_changes_nothing(desk: Desk, tmp_path: Path) -> None:
    created = desk.issue()
    assert desk.enroll(created, tmp_path).returncode == 0
    common = ["-ref", created["reference_number"],
              "-secret", f"pass:{created['authorization_code']}"]  # fmt: skip
    output = refusal(
        desk.openssl_cmp("-cmd", "rr", *common, "-oldcert", str(tmp_path / "cert.pem"))
    )
    assert "notAuthorized" in output
    assert "certdesk ra revoke" in output
    cert = x509.load_pem_x509_certificate((tmp_path / "cert.pem").read_bytes())
    record = desk.call(lambda r: certificate_row(r.engine, format(cert.serial_number, "x")))
    assert record.status == "active"


def test_cmp_rr_signature_by_a_key_not_of_the_carried_certificate_is_bad_message_check(
    desk: Desk, tmp_path: Path
) -> None:
    """A request whose signature does not verify with the certificate it carries (here: signed
    by a stranger's key) is badMessageCheck, and revokes nothing."""
    cert = enrolled(desk, tmp_path)
    body = rfc9480.PKIBody()
    details = body["rr"].componentType.clone()
    details["certDetails"]["serialNumber"] = cert.serial_number
    body["rr"].append(details)
    message = cmp_messages.request(body, secret=None, signer=new_key(), extra_certs=(cert,))
    status, answer, _ = post_raw(f"{desk.server.url}/.well-known/cmp", message, cmp.CONTENT_TYPE)
    assert status == 200
    assert cmp_messages.status_text(answer)[2] == [FailInfo.BAD_MESSAGE_CHECK]
    record = desk.call(lambda r: certificate_row(r.engine, format(cert.serial_number, "x")))
    assert record.status == "active"


def test_cmp_genm_with_openssl_answers_each_info_type(desk: Desk, tmp_path: Path) -> None:
    """openssl cmp -cmd genm, MAC-protected (-ref/-secret) and signed (-cert/-key)."""
    created = desk.issue()
    assert desk.enroll(created, tmp_path).returncode == 0
    mac = ["-ref", created["reference_number"], "-secret", f"pass:{created['authorization_code']}"]
    for info_type in ("caCerts", "certReqTemplate", "currentCRL", "signKeyPairTypes"):
        result = desk.openssl_cmp("-cmd", "genm", *mac, "-infotype", info_type)
        assert result.returncode == 0, result.output
        assert f"genp contains ITAV of type: id-it-{info_type}" in result.output
    signed = desk.openssl_cmp(
        "-cmd", "genm", "-trusted", str(tmp_path / "root.pem"),
        "-untrusted", str(tmp_path / "chain.pem"),
        "-cert", str(tmp_path / "cert.pem"), "-key", str(tmp_path / "key.pem"),
        "-infotype", "caCerts",
    )  # fmt: skip
    assert signed.returncode == 0, signed.output
    assert "genp contains ITAV of type: id-it-caCerts" in signed.output
    wrong = refusal(
        desk.openssl_cmp("-cmd", "genm", *mac[:2], "-secret", "pass:WRNG-WRNG-WRNG-WRNG",
                         "-infotype", "caCerts")
    )  # fmt: skip
    assert "badMessageCheck" in wrong


def genm(*items: tuple[str, bytes | None], secret: bytes | None = None, **options: Any) -> bytes:
    body = rfc9480.PKIBody()
    for info_type, value in items:
        info = rfc9480.InfoTypeAndValue()
        info["infoType"] = univ.ObjectIdentifier(info_type)
        if value is not None:
            info["infoValue"] = value
        body["genm"].append(info)
    return cmp_messages.request(body, secret=secret, **options)


def genp(answer: bytes) -> dict[str, bytes | None]:
    message, _ = decoder.decode(answer, asn1Spec=rfc9480.PKIMessage())
    assert message["body"].getName() == "genp", message["body"].getName()
    return {
        str(item["infoType"]): bytes(item["infoValue"]) if item["infoValue"].isValue else None
        for item in message["body"]["genp"]
    }


def post_genm(desk: Desk, message: bytes) -> dict[str, bytes | None]:
    status, answer, _ = post_raw(f"{desk.server.url}/.well-known/cmp", message, cmp.CONTENT_TYPE)
    assert status == 200
    return genp(answer)


def test_cmp_genm_anonymous_ca_certs_are_the_served_chain(desk: Desk) -> None:
    """An unprotected genm is answered (unprotected): the CA certificates are public."""
    answer = post_genm(desk, genm((general.CA_CERTS, None)))
    value = answer[general.CA_CERTS]
    assert value is not None
    certs, _ = decoder.decode(value, asn1Spec=rfc9480.CaCertsValue())
    got = [x509.load_der_x509_certificate(encoder.encode(c)) for c in certs]
    with urllib.request.urlopen(f"{desk.server.url}/ca.pem", timeout=10) as response:  # noqa: S310
        served = x509.load_pem_x509_certificates(response.read())
    assert got == served


def test_cmp_genm_root_key_update_answers_without_an_update(desk: Desk) -> None:
    answer = post_genm(desk, genm((general.ROOT_CA_CERT, None)))
    assert answer == {general.ROOT_CA_KEY_UPDATE: None}


def test_cmp_genm_cert_req_template_lists_the_accepted_key_types(desk: Desk) -> None:
    answer = post_genm(desk, genm((general.CERT_REQ_TEMPLATE, None)))
    value = answer[general.CERT_REQ_TEMPLATE]
    assert value is not None
    content, _ = decoder.decode(value, asn1Spec=rfc9480.CertReqTemplateContent())
    algorithms, rsa_bits = [], []
    for control in content["keySpec"]:
        if control["type"] == rfc9480.id_regCtrl_algId:
            algorithm, _ = decoder.decode(
                bytes(control["value"]), asn1Spec=rfc5280.AlgorithmIdentifier()
            )
            parameters = algorithm["parameters"]
            curve = str(decoder.decode(bytes(parameters))[0]) if parameters.isValue else None
            algorithms.append((str(algorithm["algorithm"]), curve))
        else:
            assert control["type"] == rfc9480.id_regCtrl_rsaKeyLen
            rsa_bits.append(int(decoder.decode(bytes(control["value"]))[0]))
    assert algorithms == [
        ("1.2.840.10045.2.1", "1.2.840.10045.3.1.7"),
        ("1.2.840.10045.2.1", "1.3.132.0.34"),
        ("1.3.101.112", None),
    ]
    assert rsa_bits == [2048]


def test_cmp_genm_crl_status_list_gives_the_current_crl_then_nothing_new(desk: Desk) -> None:
    with urllib.request.urlopen(f"{desk.server.url}/crl", timeout=10) as response:  # noqa: S310
        current = x509.load_der_x509_crl(response.read())
    status = rfc9480.CRLStatus()
    status["source"]["issuer"].append(
        decoder.decode(
            encoder.encode(_directory_name(current.issuer)), asn1Spec=rfc5280.GeneralName()
        )[0]
    )
    statuses = rfc9480.CRLStatusListValue()
    statuses.append(status)
    first = post_genm(desk, genm((general.CRL_STATUS_LIST, encoder.encode(statuses))))
    value = first[general.CRLS]
    assert value is not None
    crls, _ = decoder.decode(
        value, asn1Spec=univ.SequenceOf(componentType=rfc5280.CertificateList())
    )
    got = x509.load_der_x509_crl(encoder.encode(crls[0]))
    assert got.issuer == current.issuer
    assert got.last_update_utc >= current.last_update_utc

    status["thisUpdate"]["generalTime"] = useful.GeneralizedTime.fromDateTime(got.last_update_utc)
    statuses = rfc9480.CRLStatusListValue()
    statuses.append(status)
    second = post_genm(desk, genm((general.CRL_STATUS_LIST, encoder.encode(statuses))))
    assert second == {general.CRLS: None}


def _directory_name(name: x509.Name) -> rfc5280.GeneralName:
    decoded, _ = decoder.decode(name.public_bytes(), asn1Spec=rfc5280.Name())
    general_name = rfc5280.GeneralName()
    general_name["directoryName"]["rdnSequence"] = decoded["rdnSequence"]
    return general_name


def test_cmp_genm_unknown_info_type_gets_an_empty_genp(desk: Desk) -> None:
    assert post_genm(desk, genm(("1.3.6.1.5.5.7.4.99", None))) == {}


def test_cmp_genm_wrong_code_refused_with_bad_message_check(desk: Desk) -> None:
    created = desk.issue()
    reference = created["reference_number"].encode()
    message = genm((general.CA_CERTS, None), secret=SECRET, reference=reference)
    status, answer, _ = post_raw(f"{desk.server.url}/.well-known/cmp", message, cmp.CONTENT_TYPE)
    assert status == 200
    assert cmp_messages.status_text(answer)[2] == [FailInfo.BAD_MESSAGE_CHECK]


def test_cmp_genm_signed_by_a_foreign_certificate_refused(desk: Desk) -> None:
    foreign, key = self_signed("Not Ours")
    message = genm((general.CA_CERTS, None), signer=key, extra_certs=(foreign,))
    status, answer, _ = post_raw(f"{desk.server.url}/.well-known/cmp", message, cmp.CONTENT_TYPE)
    assert status == 200
    assert cmp_messages.status_text(answer)[2] == [FailInfo.SIGNER_NOT_TRUSTED]


def a_crl() -> bytes:
    ca, key = self_signed("Fuzz CA")
    now = datetime.now(UTC).replace(microsecond=0)
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.subject)
        .last_update(now)
        .next_update(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return crl.public_bytes(Encoding.DER)


def rr_message() -> bytes:
    body = rfc9480.PKIBody()
    details = body["rr"].componentType.clone()
    details["certDetails"]["serialNumber"] = 12345
    reason = rfc5280.Extension()
    reason["extnID"] = univ.ObjectIdentifier("2.5.29.21")
    reason["extnValue"] = encoder.encode(rfc5280.CRLReason(1))
    details["crlEntryDetails"].append(reason)
    body["rr"].append(details)
    return cmp_messages.request(body, secret=SECRET)


@pytest.mark.parametrize("flip", [0x01, 0xFF])
def test_rr_and_genm_mutations_raise_only_cmp_errors(flip: int) -> None:
    """Every single-byte corruption of a valid rr or genm is a CmpError, never a crash."""
    statuses = rfc9480.CRLStatusListValue()
    status = rfc9480.CRLStatus()
    status["source"]["issuer"].append(_directory_name(x509.Name.from_rfc4514_string("CN=x")))
    status["thisUpdate"]["generalTime"] = useful.GeneralizedTime.fromDateTime(
        datetime.now(UTC).replace(microsecond=0)
    )
    statuses.append(status)
    crl = a_crl()
    valid_genm = genm((general.CRL_STATUS_LIST, encoder.encode(statuses)), secret=SECRET)
    assert cmp.revocation_request(cmp.parse(rr_message())).reason == x509.ReasonFlags.key_compromise
    for valid in (rr_message(), valid_genm):
        for position in range(len(valid)):
            mutated = bytearray(valid)
            mutated[position] ^= flip
            try:
                request = cmp.parse(bytes(mutated))
                if request.body_type == "rr":
                    cmp.revocation_request(request)
                else:
                    cmp.general_answers(cmp.info_requests(request), chain=(), crl=crl)
            except CmpError:
                pass


def test_rr_ca_level_reason_refused() -> None:
    body = rfc9480.PKIBody()
    details = body["rr"].componentType.clone()
    details["certDetails"]["serialNumber"] = 1
    reason = rfc5280.Extension()
    reason["extnID"] = univ.ObjectIdentifier("2.5.29.21")
    reason["extnValue"] = encoder.encode(rfc5280.CRLReason(2))  # cACompromise
    details["crlEntryDetails"].append(reason)
    body["rr"].append(details)
    with pytest.raises(CmpError) as caught:
        cmp.revocation_request(cmp.parse(cmp_messages.request(body, secret=SECRET)))
    assert caught.value.fail_info == FailInfo.BAD_REQUEST
    assert "-revreason" in caught.value.text
