"""How the enrollment domain is configured (built once, by the composition root)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True, slots=True, kw_only=True)
class EnrollmentConfig:
    public_url: str
    link_ttl: timedelta = timedelta(hours=72)
    max_failed_attempts: int = 5
    crl_validity: timedelta = timedelta(days=7)
    crl_refresh: timedelta = timedelta(days=1)
    # Renewal by possession (`certdesk token renew`) only this close to expiry; None: any time.
    possession_renewal_window: timedelta | None = None

    def __post_init__(self) -> None:
        if self.max_failed_attempts < 1:
            raise ValueError("max_failed_attempts must be at least 1")
        if self.link_ttl <= timedelta(0):
            raise ValueError("link_ttl must be positive")
        window = self.possession_renewal_window
        if window is not None and window <= timedelta(0):
            raise ValueError("possession_renewal_window must be positive (or None)")
        if not timedelta(0) < self.crl_refresh < self.crl_validity:
            raise ValueError("crl_refresh must be positive and shorter than crl_validity")
