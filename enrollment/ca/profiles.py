"""Certificate profiles: what a certificate issued under a profile may be used for."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta


@dataclass(frozen=True, slots=True, kw_only=True)
class Profile:
    name: str
    description: str
    extended_key_usages: tuple[str, ...]  # dotted OIDs
    validity: timedelta = timedelta(days=365)
    allow_server_keygen: bool = False
    requires_email: bool = False
    friendly_name_prefix: str = "certdesk"
    renewal_window: timedelta = field(default=timedelta(days=60))

    def __post_init__(self) -> None:
        if not self.name.isidentifier() and not self.name.replace("-", "_").isidentifier():
            raise ValueError(f"profile name {self.name!r} must be a short identifier")
        if self.validity <= timedelta(0):
            raise ValueError(f"profile {self.name!r}: validity must be positive")


# Extended key usages as dotted strings, so the CLI's help can list profiles without importing
# cryptography; enrollment.ca.authority turns them into ObjectIdentifiers, and a test pins them to
# cryptography's ExtendedKeyUsageOID.
CLIENT_AUTH = "1.3.6.1.5.5.7.3.2"
EMAIL_PROTECTION = "1.3.6.1.5.5.7.3.4"


PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile(
            name="client",
            description="Client authentication (TLS client, VPN, online banking)",
            extended_key_usages=(CLIENT_AUTH,),
        ),
        Profile(
            name="client-keygen",
            description="Client authentication; the server may generate the key (PKCS#12)",
            extended_key_usages=(CLIENT_AUTH,),
            allow_server_keygen=True,
        ),
        Profile(
            name="smime",
            description="Client authentication and signed / encrypted e-mail",
            extended_key_usages=(
                CLIENT_AUTH,
                EMAIL_PROTECTION,
            ),
            requires_email=True,
        ),
    )
}

DEFAULT_PROFILE = "client"


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        known = ", ".join(sorted(PROFILES))
        raise ValueError(f"unknown profile {name!r}; known profiles: {known}") from None
