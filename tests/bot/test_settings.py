"""Settings: environment parsing and early, precise configuration errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.settings import Settings


def make(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    for key in (
        "CERTDESK_DATABASE_URL",
        "SLACK_BOT_TOKEN",
        "SLACK_SIGNING_SECRET",
        "SLACK_APP_TOKEN",
        "CERTDESK_RA_STAFF",
        "CERTDESK_PUBLIC_URL",
        "PORT",
    ):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return Settings(_env_file=None)


def test_defaults_are_embedded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    settings = make(monkeypatch, CERTDESK_DATA_DIR=str(tmp_path))
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path}/certdesk.db"
    assert settings.public_url == "http://127.0.0.1:8080"
    assert settings.port == 8080
    assert not settings.slack_enabled


def test_ra_staff_accepts_commas_and_spaces(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make(monkeypatch, CERTDESK_RA_STAFF="U01, U02  S0GROUP")
    assert settings.ra_staff == ("U01", "U02", "S0GROUP")


def test_half_configured_slack_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="SLACK_SIGNING_SECRET"):
        make(monkeypatch, SLACK_BOT_TOKEN="xoxb-1")


def test_database_url_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    url = "postgresql+asyncpg://u@db/certdesk"
    assert make(monkeypatch, CERTDESK_DATABASE_URL=url).database_url == url


def test_public_url_trailing_slash_removed(monkeypatch: pytest.MonkeyPatch) -> None:
    assert make(monkeypatch, CERTDESK_PUBLIC_URL="https://certs.example/").public_url == (
        "https://certs.example"
    )


def test_hsm_module_without_pin_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CERTDESK_CA_PKCS11_PIN", raising=False)
    with pytest.raises(ValidationError, match="CERTDESK_CA_PKCS11_PIN"):
        make(monkeypatch, CERTDESK_CA_PKCS11_MODULE="/usr/lib/softhsm/libsofthsm2.so")


@pytest.mark.parametrize(
    ("variable", "field", "beside"),
    [
        ("CERTDESK_TRUSTED_PROXY", "trusted_proxy", {"CERTDESK_CLIENT_CERT_HEADER": "X-Cert"}),
        ("CERTDESK_METRICS_ALLOW", "metrics_allow", {}),
    ],
)
def test_network_lists_parse_alike_and_name_the_wrong_part(
    monkeypatch: pytest.MonkeyPatch, variable: str, field: str, beside: dict[str, str]
) -> None:
    """Both lists of IP networks take commas or spaces, and a wrong one names the bad part."""
    for name, value in beside.items():
        monkeypatch.setenv(name, value)
    parsed = getattr(make(monkeypatch, **{variable: "10.0.0.5, 10.0.1.0/28 ::1"}), field)
    assert [str(network) for network in parsed] == ["10.0.0.5/32", "10.0.1.0/28", "::1/128"]
    with pytest.raises(ValidationError, match=rf"{variable} must list .* 'nonsense' is neither"):
        make(monkeypatch, **{variable: "10.0.0.5,nonsense"})


@pytest.mark.parametrize(
    ("variable", "field"),
    [
        ("CERTDESK_SMTP_URL", "smtp_url"),
        ("CERTDESK_METRICS_TOKEN", "metrics_token"),
        ("CERTDESK_OPERATOR_TOKEN", "operator_token"),
        ("CERTDESK_KNOWLEDGE_DIR", "knowledge_dir"),
    ],
)
def test_a_blank_value_is_unset(monkeypatch: pytest.MonkeyPatch, variable: str, field: str) -> None:
    assert getattr(make(monkeypatch, **{variable: "  "}), field) is None


def test_slack_api_url_ends_in_one_slash_and_must_be_http(monkeypatch: pytest.MonkeyPatch) -> None:
    assert make(monkeypatch, SLACK_API_URL="http://127.0.0.1:9/api//").slack_api_url == (
        "http://127.0.0.1:9/api/"
    )
    with pytest.raises(ValidationError, match="SLACK_API_URL must start with http"):
        make(monkeypatch, SLACK_API_URL="ftp://slack.example/api/")
