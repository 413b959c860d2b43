"""Revocation reasons, serial numbers and CRL building (pure functions)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography import x509

from common.time import utcnow
from enrollment.ca.authority import IssuingCA, create_ca_pair
from enrollment.ca.crl import (
    RevokedEntry,
    build_crl,
    normalize_serial,
    parse_reason,
)
from enrollment.errors import RevocationReasonInvalid
from enrollment.kinds import REASON_NAMES, RevocationReason


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("keyCompromise", x509.ReasonFlags.key_compromise),
        ("key-compromise", x509.ReasonFlags.key_compromise),
        ("KEY_COMPROMISE", x509.ReasonFlags.key_compromise),
        ("superseded", x509.ReasonFlags.superseded),
        ("cessation of operation", x509.ReasonFlags.cessation_of_operation),
    ],
)
def test_parse_reason_accepts_spellings(typed: str, reason: x509.ReasonFlags) -> None:
    assert parse_reason(typed) is reason


@pytest.mark.parametrize("typed", ["", "cACompromise", "certificateHold", "removeFromCRL", "x"])
def test_parse_reason_refuses_ca_and_hold_reasons(typed: str) -> None:
    with pytest.raises(RevocationReasonInvalid, match="Use one of"):
        parse_reason(typed)


def test_pure_reason_names_are_cryptographys() -> None:
    """enrollment.kinds spells the reasons without cryptography; each is a ReasonFlags value."""
    assert [reason.value for reason in RevocationReason] == list(REASON_NAMES)
    assert {x509.ReasonFlags(reason.value) for reason in RevocationReason} == {
        x509.ReasonFlags.unspecified,
        x509.ReasonFlags.key_compromise,
        x509.ReasonFlags.affiliation_changed,
        x509.ReasonFlags.superseded,
        x509.ReasonFlags.cessation_of_operation,
        x509.ReasonFlags.privilege_withdrawn,
    }


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("0A:1B:2c", "a1b2c"),
        ("serial=00FF", "ff"),
        ("0x7f", "7f"),
        (" abc ", "abc"),
        ("xyz", ""),
        ("0", ""),
        ("", ""),
    ],
)
def test_normalize_serial_cleans_tool_output(typed: str, stored: str) -> None:
    assert normalize_serial(typed) == stored


def test_build_crl_omits_unspecified_reason_and_signs() -> None:
    root, _, issuing, key = create_ca_pair(key_type="ec-p256", organization="Test")
    ca = IssuingCA(certificate=issuing, private_key=key, root=root)
    now = utcnow().replace(microsecond=0)
    crl = build_crl(
        ca=ca,
        number=7,
        revoked=[
            RevokedEntry(serial="1f", revoked_at=now, reason="unspecified"),
            RevokedEntry(serial="2e", revoked_at=now, reason="privilegeWithdrawn"),
        ],
        this_update=now,
        next_update=now + timedelta(days=7),
    )
    assert crl.is_signature_valid(issuing.public_key())
    assert crl.issuer == issuing.subject
    plain = crl.get_revoked_certificate_by_serial_number(0x1F)
    assert plain is not None
    assert len(plain.extensions) == 0
    withdrawn = crl.get_revoked_certificate_by_serial_number(0x2E)
    assert withdrawn is not None
    assert withdrawn.extensions.get_extension_for_class(x509.CRLReason).value.reason == (
        x509.ReasonFlags.privilege_withdrawn
    )
    with pytest.raises(ValueError, match="next_update"):
        build_crl(ca=ca, number=8, revoked=[], this_update=now, next_update=now)
