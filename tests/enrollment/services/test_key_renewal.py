"""Renewal by proof of the current key: `certdesk token renew`'s challenge and signature, and
the possession window CMP kur shares."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bot.datadir import load_pepper
from bot.runtime import Runtime
from enrollment.errors import CertificateNotActive, CertificateNotFound, KeyNotAllowed, PolicyError
from enrollment.models import Certificate, CertificateStatus
from enrollment.possession import ChallengeInvalid, PossessionNotProven, TooManyChallenges
from enrollment.services import EnrollmentConfig, EnrollmentCreate, Services, open_services
from enrollment.services.key_renewal import CHALLENGES_PER_CLIENT
from tests.support.store import certificate_row, certificate_view, count_rows
from usbkey.possession import renewal_message, sign_renewal

HOLDER = EnrollmentCreate(cn="Key Holder", ous=["Branch 01"], o="Acme Bank", slack_user="U0KEY")


def csr_for(key: ec.EllipticCurvePrivateKey) -> x509.CertificateSigningRequest:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ignored")])
    return x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())


def pem(item: x509.Certificate | x509.CertificateSigningRequest) -> str:
    return item.public_bytes(serialization.Encoding.PEM).decode()


@dataclass
class OnToken:
    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def serial(self) -> str:
        return format(self.certificate.serial_number, "x")


async def issue(services: Services, delivery: str = "token") -> OnToken:
    key = ec.generate_private_key(ec.SECP256R1())
    created = await services.ra.create_enrollment(HOLDER, actor="test")
    issued = await services.links.redeem_enrollment_link(
        created.link.token,
        reference_number=created.reference_number,
        authorization_code=created.authorization_code,
        csr=pem(csr_for(key)),
        delivery=delivery,
    )
    return OnToken(certificate=issued.certificate, key=key)


async def request(
    services: Services,
    current: OnToken,
    *,
    new_key: ec.EllipticCurvePrivateKey | None = None,
    signer: ec.EllipticCurvePrivateKey | None = None,
    signed_csr: x509.CertificateSigningRequest | None = None,
    challenge: str | None = None,
) -> dict[str, str]:
    """A renewal request as the client builds it; the keyword arguments spoil one part."""
    csr = csr_for(new_key or ec.generate_private_key(ec.SECP256R1()))
    if challenge is None:
        challenge = (
            await services.key_renewal.create_renewal_challenge(pem(current.certificate))
        ).challenge
    message = renewal_message(
        challenge=challenge,
        certificate=current.certificate,
        csr_der=(signed_csr or csr).public_bytes(serialization.Encoding.DER),
    )
    return {
        "certificate": pem(current.certificate),
        "csr": pem(csr),
        "challenge": challenge,
        "signature": sign_renewal(signer or current.key, message),
    }


async def test_renew_by_possession_supersedes_old_certificate_with_same_subject(
    runtime: Runtime,
    services: Services,
) -> None:
    current = await issue(services)
    new_key = ec.generate_private_key(ec.SECP256R1())
    renewed = await services.key_renewal.renew_by_possession(
        **await request(services, current, new_key=new_key)
    )
    assert renewed.replaces == current.serial
    assert renewed.delivery == "token"
    assert renewed.certificate.subject == current.certificate.subject
    assert renewed.certificate.public_key() == new_key.public_key()
    old = await certificate_row(runtime.engine, current.serial)
    assert old.status == CertificateStatus.SUPERSEDED
    assert old.superseded_by == renewed.serial


async def test_renew_by_possession_replayed_request_is_refused(services: Services) -> None:
    """The challenge works once: the renewal supersedes the certificate it is bound to."""
    current = await issue(services)
    body = await request(services, current)
    renewed = await services.key_renewal.renew_by_possession(**body)
    said = (
        f"is superseded by {renewed.serial}; only active certificates can be renewed. "
        f"Certificate {renewed.serial} replaced it: renew that one"
    )
    with pytest.raises(CertificateNotActive, match=said):
        await services.key_renewal.renew_by_possession(**body)


async def test_racing_renewals_by_possession_of_one_certificate_give_one(
    runtime: Runtime, services: Services
) -> None:
    """Six signed renewals of one certificate at once (each its own CSR): one successor, five
    refusals, and the old certificate superseded by that one."""
    current = await issue(services)
    bodies = [await request(services, current) for _ in range(6)]
    results = await asyncio.gather(
        *(services.key_renewal.renew_by_possession(**body) for body in bodies),
        return_exceptions=True,
    )
    renewed = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, CertificateNotActive)]
    assert len(renewed) == 1, results
    assert len(refused) == 5, results
    old = await certificate_row(runtime.engine, current.serial)
    assert old.superseded_by == renewed[0].serial
    assert await count_rows(runtime.engine, Certificate) == 2


async def test_renew_by_possession_signature_of_another_key_is_refused_and_changes_nothing(
    runtime: Runtime,
    services: Services,
) -> None:
    """A stranger's failed try does not use up the holder's challenge."""
    current = await issue(services)
    body = await request(services, current, signer=ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(PossessionNotProven):
        await services.key_renewal.renew_by_possession(**body)
    assert (
        await certificate_view(runtime.engine, current.serial)
    ).status == CertificateStatus.ACTIVE
    fixed = await request(services, current, challenge=body["challenge"])
    renewed = await services.key_renewal.renew_by_possession(**fixed)
    assert renewed.replaces == current.serial


@pytest.mark.parametrize(
    "spoil",
    [
        lambda c: c[:-1] + ("0" if c[-1] != "0" else "1"),  # another MAC
        lambda c: str(int(c.split("-")[0]) - 301) + c[c.index("-") :],  # older than 5 minutes
        lambda c: "x" + c,
        lambda c: "",
        lambda c: "1.2.3",
    ],
)
async def test_renew_by_possession_forged_or_stale_challenge_is_refused(
    services: Services, spoil: Callable[[str], str]
) -> None:
    current = await issue(services)
    good = (await services.key_renewal.create_renewal_challenge(pem(current.certificate))).challenge
    body = await request(services, current, challenge=spoil(good))
    with pytest.raises(ChallengeInvalid):
        await services.key_renewal.renew_by_possession(**body)


async def test_renew_by_possession_signature_over_another_csr_is_refused(
    services: Services,
) -> None:
    """The signature binds the CSR: a swapped-in CSR (an attacker's key) is not certified."""
    current = await issue(services)
    signed = csr_for(ec.generate_private_key(ec.SECP256R1()))
    body = await request(services, current, signed_csr=signed)
    with pytest.raises(PossessionNotProven):
        await services.key_renewal.renew_by_possession(**body)


async def test_renew_by_possession_challenge_of_another_certificate_is_refused(
    services: Services,
) -> None:
    first = await issue(services)
    second = await issue(services)
    challenge = (
        await services.key_renewal.create_renewal_challenge(pem(first.certificate))
    ).challenge
    body = await request(services, second, challenge=challenge)
    with pytest.raises(ChallengeInvalid):
        await services.key_renewal.renew_by_possession(**body)


async def test_renew_by_possession_with_the_current_key_is_refused(
    services: Services,
) -> None:
    current = await issue(services)
    with pytest.raises(KeyNotAllowed, match="new key pair"):
        await services.key_renewal.renew_by_possession(
            **await request(services, current, new_key=current.key)
        )


async def test_renewal_challenge_for_certificate_not_on_a_token_is_refused(
    services: Services,
) -> None:
    current = await issue(services, delivery="browser")
    with pytest.raises(PolicyError, match="not on a USB key"):
        await services.key_renewal.create_renewal_challenge(pem(current.certificate))


async def test_renewal_challenge_for_revoked_or_superseded_certificate_is_refused(
    services: Services,
) -> None:
    revoked = await issue(services)
    await services.revocation.revoke(revoked.serial, reason="keyCompromise", actor="test")
    said = "is revoked; only active certificates can be renewed. A revoked certificate cannot"
    with pytest.raises(CertificateNotActive, match=said):
        await services.key_renewal.create_renewal_challenge(pem(revoked.certificate))
    renewed = await issue(services)
    body = await request(services, renewed)
    await services.key_renewal.renew_by_possession(**body)
    with pytest.raises(CertificateNotActive, match="superseded"):
        await services.key_renewal.create_renewal_challenge(pem(renewed.certificate))


async def test_renewal_challenge_for_foreign_certificate_is_refused(
    services: Services,
) -> None:
    """A certificate with a known serial but other content (not this CA's) gets nothing."""
    current = await issue(services)
    key = ec.generate_private_key(ec.SECP256R1())
    forged = (
        x509.CertificateBuilder()
        .subject_name(current.certificate.subject)
        .issuer_name(current.certificate.issuer)
        .public_key(key.public_key())
        .serial_number(current.certificate.serial_number)
        .not_valid_before(current.certificate.not_valid_before_utc)
        .not_valid_after(current.certificate.not_valid_after_utc)
        .sign(key, hashes.SHA256())
    )
    with pytest.raises(CertificateNotFound):
        await services.key_renewal.create_renewal_challenge(pem(forged))
    with pytest.raises(CertificateNotFound):
        await services.key_renewal.create_renewal_challenge("not a certificate")


async def test_renewal_challenge_stranger_asking_many_does_not_stop_the_holder(
    runtime: Runtime, services: Services
) -> None:
    """Finding 5: challenges are limited per client address, not per certificate, and asking
    stores nothing, so a stranger with the public certificate cannot use up the holder's."""
    current = await issue(services)
    certificate = pem(current.certificate)
    stranger = "203.0.113.9"
    for _ in range(CHALLENGES_PER_CLIENT):  # far more than the 5 once open per certificate
        await services.key_renewal.create_renewal_challenge(certificate, client=stranger)
    with pytest.raises(TooManyChallenges) as limited:
        await services.key_renewal.create_renewal_challenge(certificate, client=stranger)
    assert 0 < limited.value.retry_after <= 300
    assert limited.value.status == 429
    challenge = await services.key_renewal.create_renewal_challenge(
        certificate, client="198.51.100.7"
    )
    renewed = await services.key_renewal.renew_by_possession(
        **await request(services, current, challenge=challenge.challenge)
    )
    assert renewed.replaces == current.serial


async def test_renewal_challenge_outside_renewal_window_is_refused(runtime: Runtime) -> None:
    windowed = open_services(
        engine=runtime.engine,
        ca=runtime.ca,
        pepper=load_pepper(runtime.settings),
        config=EnrollmentConfig(
            public_url=runtime.settings.public_url,
            possession_renewal_window=timedelta(days=30),
        ),
    )
    current = await issue(windowed)
    with pytest.raises(PolicyError, match="can be renewed from"):
        await windowed.key_renewal.create_renewal_challenge(pem(current.certificate))
    # CMP kur proves possession the same way, so the same window applies to it.
    new_key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ignored")]))
        .sign(new_key, hashes.SHA256())
    )
    with pytest.raises(PolicyError, match="can be renewed from"):
        await windowed.key_renewal.renew_by_certificate(current.certificate, key=pem(csr))
    assert (
        await certificate_view(runtime.engine, current.serial)
    ).status == CertificateStatus.ACTIVE


async def test_renewal_challenge_many_asked_for_one_certificate_leave_the_holders_working(
    runtime: Runtime, services: Services
) -> None:
    """Finding 5: asking for a challenge stores nothing; the holder's renewal still works after
    anyone with the public certificate asked for many (once limited to 5 open, then 429)."""
    current = await issue(services)
    challenges = [
        (await services.key_renewal.create_renewal_challenge(pem(current.certificate))).challenge
        for _ in range(10)
    ]
    assert len(set(challenges)) == 10
    renewed = await services.key_renewal.renew_by_possession(
        **await request(services, current, challenge=challenges[0])
    )
    assert renewed.replaces == current.serial
    assert (await certificate_row(runtime.engine, current.serial)).superseded_by == renewed.serial
