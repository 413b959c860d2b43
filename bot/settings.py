"""The one place certdesk reads its configuration (environment variables and a `.env` file)."""

from __future__ import annotations

import re
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

MIN_SECRET_KEY = 32
MIN_ACCESS_TOKEN = 16
SERVED_URL_FILE = "served-url"
"""Where `certdesk serve` records the URL it bound, in the data directory."""


class Settings(BaseSettings):
    """certdesk's settings. Every field has a safe embedded default.

    >>> Settings(data_dir=Path("/tmp/x")).database_url
    'sqlite+aiosqlite:////tmp/x/certdesk.db'
    """

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
        populate_by_name=True,
    )

    data_dir: Path = Field(default=Path("./var"), validation_alias="CERTDESK_DATA_DIR")
    database_url_: str | None = Field(default=None, validation_alias="CERTDESK_DATABASE_URL")
    # Unset: the URL `certdesk serve` bound, as it recorded it in the data directory
    # (SERVED_URL_FILE), else http://127.0.0.1:$PORT. See the `public_url` property.
    public_url_: str | None = Field(
        default=None, validation_alias=AliasChoices("CERTDESK_PUBLIC_URL", "public_url")
    )
    port: int = Field(default=8080, validation_alias="PORT", ge=1, le=65535)
    secret_key: SecretStr | None = Field(default=None, validation_alias="CERTDESK_SECRET_KEY")

    slack_bot_token: SecretStr | None = Field(default=None, validation_alias="SLACK_BOT_TOKEN")
    slack_signing_secret: SecretStr | None = Field(
        default=None, validation_alias="SLACK_SIGNING_SECRET"
    )
    slack_app_token: SecretStr | None = Field(default=None, validation_alias="SLACK_APP_TOKEN")
    slack_api_url: str | None = Field(default=None, validation_alias="SLACK_API_URL")
    ra_staff: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(), validation_alias="CERTDESK_RA_STAFF"
    )
    ra_channel: str | None = Field(default=None, validation_alias="CERTDESK_RA_CHANNEL")
    code_delivery: Literal["slack", "out-of-band"] = Field(
        default="slack", validation_alias="CERTDESK_CODE_DELIVERY"
    )
    # How long a process holds a Slack inbox row it handles before another may take it over.
    slack_inbox_lease_seconds: float = Field(
        default=60.0, validation_alias="CERTDESK_SLACK_INBOX_LEASE_SECONDS", ge=1, le=3600
    )

    ca_key_type: Literal["ec-p256", "ec-p384", "rsa-2048", "rsa-3072", "rsa-4096"] = Field(
        default="ec-p256", validation_alias="CERTDESK_CA_KEY_TYPE"
    )
    ca_organization: str = Field(default="certdesk Local CA", validation_alias="CERTDESK_CA_ORG")
    # The issuing CA's key on a PKCS#11 HSM instead of a file (see enrollment/hsm.py).
    ca_pkcs11_module: str | None = Field(default=None, validation_alias="CERTDESK_CA_PKCS11_MODULE")
    ca_pkcs11_token_label: str | None = Field(
        default=None, validation_alias="CERTDESK_CA_PKCS11_TOKEN_LABEL"
    )
    ca_pkcs11_key_label: str = Field(
        default="certdesk issuing CA", validation_alias="CERTDESK_CA_PKCS11_KEY_LABEL"
    )
    ca_pkcs11_pin: SecretStr | None = Field(default=None, validation_alias="CERTDESK_CA_PKCS11_PIN")
    possession_renewal_days: int = Field(
        default=0, validation_alias="CERTDESK_POSSESSION_RENEWAL_DAYS", ge=0, le=3650
    )
    link_ttl_hours: int = Field(default=72, validation_alias="CERTDESK_LINK_TTL_HOURS", ge=1)
    max_failed_attempts: int = Field(
        default=5, validation_alias="CERTDESK_MAX_FAILED_ATTEMPTS", ge=1, le=100
    )
    # Where scripts/build-client's wheel and sdist of the USB-key client are offered from.
    client_dir: Path | None = Field(default=None, validation_alias="CERTDESK_CLIENT_DIR")
    log_level: str = Field(default="INFO", validation_alias="CERTDESK_LOG_LEVEL")
    log_format: Literal["auto", "json", "text"] = Field(
        default="auto", validation_alias="CERTDESK_LOG_FORMAT"
    )

    reminder_days: Annotated[tuple[int, ...], NoDecode] = Field(
        default=(30, 14, 7, 1), validation_alias="CERTDESK_REMINDER_DAYS"
    )
    reminder_interval_minutes: int = Field(
        default=15, validation_alias="CERTDESK_REMINDER_INTERVAL_MINUTES", ge=1, le=1440
    )
    reminder_expired_notice_days: int = Field(
        default=30, validation_alias="CERTDESK_REMINDER_EXPIRED_NOTICE_DAYS", ge=0, le=365
    )
    serve_reminders: bool = Field(default=True, validation_alias="CERTDESK_SERVE_REMINDERS")

    # An RA's own knowledge entries, beside (or replacing) the shipped ones; a running server
    # rereads them within CERTDESK_KNOWLEDGE_RELOAD_SECONDS, or at once on SIGHUP.
    knowledge_dir: Path | None = Field(default=None, validation_alias="CERTDESK_KNOWLEDGE_DIR")
    knowledge_reload_seconds: int = Field(
        default=30, validation_alias="CERTDESK_KNOWLEDGE_RELOAD_SECONDS", ge=1, le=3600
    )

    # Who may read /metrics: unset = anyone; a bearer token and/or networks (either suffices).
    metrics_token: SecretStr | None = Field(default=None, validation_alias="CERTDESK_METRICS_TOKEN")
    metrics_allow: Annotated[tuple[IPv4Network | IPv6Network, ...], NoDecode] = Field(
        default=(), validation_alias="CERTDESK_METRICS_ALLOW"
    )
    # Who may read operator views (the local outbox at /chat/reminders) from elsewhere than
    # the machine itself.
    operator_token: SecretStr | None = Field(
        default=None, validation_alias="CERTDESK_OPERATOR_TOKEN"
    )

    # E-mail (bot/mail/): unset SMTP URL = mails go to the outbox under the data directory.
    smtp_url: SecretStr | None = Field(default=None, validation_alias="CERTDESK_SMTP_URL")
    mail_from: str | None = Field(default=None, validation_alias="CERTDESK_MAIL_FROM")
    mail_code: Literal["operator", "separate"] = Field(
        default="operator", validation_alias="CERTDESK_MAIL_CODE"
    )
    mail_code_delay_minutes: int = Field(
        default=5, validation_alias="CERTDESK_MAIL_CODE_DELAY_MINUTES", ge=0, le=1440
    )

    @field_validator("smtp_url")
    @classmethod
    def _check_smtp_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            from bot.mail.smtp import parse_smtp_url  # standard library only

            parse_smtp_url(value.get_secret_value())  # a ValueError names what is wrong
        return value

    @field_validator("mail_from")
    @classmethod
    def _check_mail_from(cls, value: str | None) -> str | None:
        from email.headerregistry import Address
        from email.utils import parseaddr

        if value is None or not value.strip():
            return None
        _name, address = parseaddr(value)
        try:
            Address(addr_spec=address)
        except (ValueError, IndexError):
            address = ""
        if "@" not in address or any(c in value for c in "\r\n"):
            raise ValueError(
                "CERTDESK_MAIL_FROM must be an e-mail address, e.g. certdesk@example.com or "
                "'certdesk <certdesk@example.com>'"
            )
        return value.strip()

    # certdesk's own TLS (see bot/tls.py): unset = plain HTTP behind a TLS-terminating proxy.
    tls: Literal["auto"] | None = Field(default=None, validation_alias="CERTDESK_TLS")
    tls_cert: Path | None = Field(default=None, validation_alias="CERTDESK_TLS_CERT")
    tls_key: Path | None = Field(default=None, validation_alias="CERTDESK_TLS_KEY")
    # Behind a TLS-terminating proxy: the proxies whose client-certificate header is believed.
    trusted_proxy: Annotated[tuple[IPv4Network | IPv6Network, ...], NoDecode] = Field(
        default=(), validation_alias="CERTDESK_TRUSTED_PROXY"
    )
    client_cert_header: str | None = Field(
        default=None, validation_alias="CERTDESK_CLIENT_CERT_HEADER"
    )

    @field_validator("tls", "tls_cert", "tls_key", "client_cert_header", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().lower() in ("", "off"):
            return None
        return value

    @field_validator("trusted_proxy", mode="before")
    @classmethod
    def _parse_proxies(cls, value: object) -> object:
        return _ip_networks(value, "CERTDESK_TRUSTED_PROXY", example="10.0.0.5,10.0.1.0/28")

    @model_validator(mode="after")
    def _check_tls(self) -> Settings:
        if self.tls == "auto" and (self.tls_cert or self.tls_key):
            raise ValueError(
                "CERTDESK_TLS=auto makes certdesk's own server certificate: unset "
                "CERTDESK_TLS_CERT and CERTDESK_TLS_KEY, or unset CERTDESK_TLS to use them"
            )
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError(
                "CERTDESK_TLS_CERT and CERTDESK_TLS_KEY go together: set both (the PEM chain "
                "and its private key) or neither"
            )
        for name, path in (
            ("CERTDESK_TLS_CERT", self.tls_cert),
            ("CERTDESK_TLS_KEY", self.tls_key),
        ):
            if path is not None and not path.is_file():
                raise ValueError(f"{name}={path} is not a readable file: fix the path")
        if self.tls_enabled and not self.public_url.startswith("https://"):
            raise ValueError(
                "certdesk terminates TLS (CERTDESK_TLS or CERTDESK_TLS_CERT is set), so "
                f"CERTDESK_PUBLIC_URL must start with https://, got {self.public_url!r}"
            )
        if bool(self.trusted_proxy) != (self.client_cert_header is not None):
            raise ValueError(
                "CERTDESK_TRUSTED_PROXY and CERTDESK_CLIENT_CERT_HEADER go together: name the "
                "proxy's address and the header it sets the verified client certificate in, "
                "or neither"
            )
        if self.client_cert_header is not None and not re.fullmatch(
            r"[A-Za-z0-9-]{1,64}", self.client_cert_header
        ):
            raise ValueError(
                "CERTDESK_CLIENT_CERT_HEADER must be an HTTP header name (letters, digits, "
                f"dashes), e.g. X-Client-Cert; got {self.client_cert_header!r}"
            )
        return self

    @property
    def tls_enabled(self) -> bool:
        return self.tls == "auto" or self.tls_cert is not None

    @field_validator("secret_key")
    @classmethod
    def _check_secret_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().encode()) < MIN_SECRET_KEY:
            raise ValueError(
                f"CERTDESK_SECRET_KEY must be at least {MIN_SECRET_KEY} characters long: set it "
                "to a random value, e.g. the output of "
                "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
            )
        return value

    @field_validator("smtp_url", "metrics_token", "operator_token", "knowledge_dir", mode="before")
    @classmethod
    def _blank_value_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("metrics_token", "operator_token")
    @classmethod
    def _check_token(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_ACCESS_TOKEN:
            name = f"CERTDESK_{str(info.field_name).upper()}"
            raise ValueError(
                f"{name} must be at least {MIN_ACCESS_TOKEN} characters long: set it to a "
                "random value, or unset it"
            )
        return value

    @field_validator("metrics_allow", mode="before")
    @classmethod
    def _parse_networks(cls, value: object) -> object:
        return _ip_networks(value, "CERTDESK_METRICS_ALLOW", example="127.0.0.1,10.0.0.0/8")

    @field_validator("ra_staff", mode="before")
    @classmethod
    def _split_staff(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part for part in value.replace(",", " ").split() if part)
        return value

    @field_validator("reminder_days", mode="before")
    @classmethod
    def _parse_reminder_days(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        parts = value.replace(",", " ").split()
        if not parts or not all(part.isdigit() for part in parts):
            raise ValueError(
                "CERTDESK_REMINDER_DAYS must be whole numbers of days before expiry, separated "
                f"by commas, e.g. 30,14,7,1; got {value!r}"
            )
        return tuple(int(part) for part in parts)

    @field_validator("reminder_days")
    @classmethod
    def _check_reminder_days(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if not value or any(not 1 <= days <= 3650 for days in value):
            raise ValueError(
                f"CERTDESK_REMINDER_DAYS must list 1 to 3650 days before expiry, got {value}"
            )
        if len(set(value)) != len(value):
            raise ValueError(f"CERTDESK_REMINDER_DAYS lists a day twice: {value}")
        return tuple(sorted(value, reverse=True))

    @field_validator("public_url_")
    @classmethod
    def _check_public_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return _http_url(value, "CERTDESK_PUBLIC_URL")

    @field_validator("slack_api_url")
    @classmethod
    def _check_slack_api_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        return _http_url(value, "SLACK_API_URL") + "/"

    @model_validator(mode="after")
    def _check_slack(self) -> Settings:
        only_one = (self.slack_bot_token is None) != (self.slack_signing_secret is None)
        socket_mode = self.slack_app_token is not None and self.slack_bot_token is not None
        if only_one and not socket_mode:
            raise ValueError(
                "Slack needs both SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET "
                "(or SLACK_BOT_TOKEN and SLACK_APP_TOKEN for Socket Mode); only one is set"
            )
        return self

    @model_validator(mode="after")
    def _check_hsm(self) -> Settings:
        if self.ca_pkcs11_module is not None and not self.ca_pkcs11_module.strip():
            raise ValueError("CERTDESK_CA_PKCS11_MODULE is set but empty")
        if self.ca_pkcs11_module and self.ca_pkcs11_pin is None:
            raise ValueError(
                "CERTDESK_CA_PKCS11_MODULE is set, so CERTDESK_CA_PKCS11_PIN (the HSM user PIN) "
                "must be set too"
            )
        return self

    @property
    def database_url(self) -> str:
        return (
            self.database_url_ or f"sqlite+aiosqlite:///{self.data_dir.resolve() / 'certdesk.db'}"
        )

    @property
    def client_directory(self) -> Path:
        """The USB-key client's builds offered at /downloads/ (default: ``clients/``)."""
        return self.client_dir or self.data_dir / "clients"

    @property
    def public_url(self) -> str:
        """The base of one-time links and of the CRL URL: CERTDESK_PUBLIC_URL when set; else
        the URL the last `certdesk serve` on this data directory bound (it records it in
        ``served-url``), so a command run beside a server started with ``--port`` prints
        links that server answers; else ``http://127.0.0.1:$PORT``."""
        if self.public_url_:
            return self.public_url_
        try:
            recorded = (self.data_dir / SERVED_URL_FILE).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            recorded = ""
        if recorded.startswith(("http://", "https://")):
            return recorded.rstrip("/")
        return f"http://127.0.0.1:{self.port}"

    @property
    def public_url_is_set(self) -> bool:
        """Whether CERTDESK_PUBLIC_URL (or an explicit value) names the public URL."""
        return bool(self.public_url_)

    @property
    def cache_dir(self) -> Path:
        """What later processes reuse: the knowledge base's parsed entries, index, fitted
        classifier, examples' sentence vectors and the embedding model's tables."""
        return self.data_dir / "cache"

    @property
    def slack_enabled(self) -> bool:
        return self.slack_bot_token is not None

    @property
    def slack_socket_mode(self) -> bool:
        return self.slack_enabled and self.slack_app_token is not None

    @property
    def mail_sender(self) -> str:
        """``CERTDESK_MAIL_FROM``, else certdesk at the public URL's host."""
        if self.mail_from:
            return self.mail_from
        from urllib.parse import urlsplit

        return f"certdesk@{urlsplit(self.public_url).hostname or 'localhost'}"

    @property
    def is_embedded_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def _ip_networks(value: object, variable: str, *, example: str) -> object:
    """A list of IP addresses or networks, separated by commas or spaces, as networks."""
    if not isinstance(value, str):
        return value
    networks = []
    for part in value.replace(",", " ").split():
        try:
            networks.append(ip_network(part, strict=False))
        except ValueError:
            raise ValueError(
                f"{variable} must list IP addresses or networks separated by commas, e.g. "
                f"{example}; {part!r} is neither"
            ) from None
    return tuple(networks)


def _http_url(value: str, variable: str) -> str:
    """``value`` without a trailing slash, once it is known to be an http(s) URL."""
    if not value.startswith(("http://", "https://")):
        raise ValueError(f"{variable} must start with http:// or https://, got {value!r}")
    return value.rstrip("/")
