"""One error root: every room's errors hang under common.errors.CertdeskError."""

from __future__ import annotations

import collections
import importlib

import pytest

from common.errors import CertdeskError
from enrollment.errors import LinkExpired
from enrollment.possession import PossessionNotProven
from faq.errors import EntryInvalid, FaqError, NotACertificate
from scheduler.errors import DeliveryError
from usbkey.pkcs11.errors import TokenError


def test_every_room_errors_under_the_one_root() -> None:
    for cls in (LinkExpired, PossessionNotProven, FaqError, DeliveryError, TokenError):
        assert issubclass(cls, CertdeskError), cls


def test_faq_errors_keep_their_codes_and_messages() -> None:
    invalid = EntryInvalid("renewal.toml", "no title")
    assert (invalid.code, invalid.message) == (
        "entry_invalid",
        "knowledge entry renewal.toml: no title",
    )
    assert str(invalid) == invalid.message
    assert NotACertificate("empty").code == "not_a_certificate"
    assert FaqError("x").code == "faq_error"
    assert invalid.to_json() == {"error": {"code": "entry_invalid", "message": invalid.message}}


def test_delivery_error_keeps_its_code_status_and_permanence() -> None:
    error = DeliveryError("no such user", permanent=True)
    assert (error.code, error.status, error.permanent) == ("delivery_failed", 502, True)


def test_fixed_text_error_uses_its_class_message_unless_given_one() -> None:
    """An error that takes no parameters raises with the text its class declares."""
    assert str(LinkExpired()) == LinkExpired.message
    assert LinkExpired().to_json()["error"]["message"] == LinkExpired.message
    assert LinkExpired("other").message == "other"


def test_error_without_any_message_is_refused_at_construction() -> None:
    with pytest.raises(TypeError, match="CertdeskError needs a message"):
        CertdeskError()


def test_class_header_declares_code_and_status_and_subclasses_inherit_them() -> None:
    """``class X(Base, code=…, status=…)`` sets both; a subclass naming neither inherits them."""

    class Gone(CertdeskError, code="thing_gone", status=410): ...

    class GoneForGood(Gone): ...

    assert (Gone.code, Gone.status) == ("thing_gone", 410)
    assert (GoneForGood.code, GoneForGood.status) == ("thing_gone", 410)
    assert Gone("it went").to_json() == {"error": {"code": "thing_gone", "message": "it went"}}
    assert (LinkExpired.code, LinkExpired.status) == ("link_expired", 410)


def test_class_header_with_a_bad_code_or_status_is_refused_at_definition() -> None:
    with pytest.raises(TypeError, match="code 'Thing Gone' is not lower_snake_case"):

        class BadCode(CertdeskError, code="Thing Gone"): ...

    with pytest.raises(TypeError, match="status 200 is not an HTTP error status"):

        class BadStatus(CertdeskError, code="thing_gone", status=200): ...


ERROR_MODULES = (
    "enrollment.errors",
    "enrollment.possession",
    "enrollment.ratelimit",
    "enrollment.web.downloads",
    "enrollment.ca.hsm",
    "usbkey.pkcs11.errors",
    "faq.errors",
    "scheduler.errors",
    "bot.teaching",
    "bot.backup",
    "bot.datadir",
    "bot.commands.ra_csv",
)


def test_no_two_error_classes_declare_the_same_code() -> None:
    """``error.code`` names one error: a header that copies another class's code is caught."""
    declared: dict[str, list[str]] = collections.defaultdict(list)
    pending = [CertdeskError]
    for name in ERROR_MODULES:
        importlib.import_module(name)
    while pending:
        cls = pending.pop()
        pending += cls.__subclasses__()
        if "code" in vars(cls) and not cls.__module__.startswith("tests."):
            declared[cls.code].append(cls.__qualname__)
    assert len(declared) > 50
    assert {code: names for code, names in declared.items() if len(names) > 1} == {}
