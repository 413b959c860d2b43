"""The enrollment domain's use cases, one module each, over one shared store.

- :mod:`.ra`: RA operations (create, new link, unlock, audit)
- :mod:`.links`: redeeming a one-time enrollment link
- :mod:`.by_reference`: redemption by reference number (EST, CMP's derived code)
- :mod:`.renewal`: renewal links; :mod:`.key_renewal`: renewal by proof of the current key
  (`certdesk token renew`, CMP kur)
- :mod:`.revocation`: revocation and the CRL

:func:`open_services` builds them all; each caller is handed only the ones it uses.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from enrollment.ca.authority import IssuingCA
from enrollment.codes import Pepper
from enrollment.services._store import Store
from enrollment.services.by_reference import ReferenceRedemption
from enrollment.services.config import EnrollmentConfig
from enrollment.services.key_renewal import KeyRenewal
from enrollment.services.links import LinkRedemption
from enrollment.services.ra import EnrollmentCreate, RaOperations
from enrollment.services.renewal import LinkRenewal
from enrollment.services.revocation import Revocation


@dataclass(frozen=True, slots=True, kw_only=True)
class Services:
    """Every use case over one store (for the composition root; handlers take one each)."""

    config: EnrollmentConfig
    ca: IssuingCA
    ra: RaOperations
    links: LinkRedemption
    by_reference: ReferenceRedemption
    renewal: LinkRenewal
    key_renewal: KeyRenewal
    revocation: Revocation


def open_services(
    *, engine: AsyncEngine, ca: IssuingCA, pepper: Pepper, config: EnrollmentConfig
) -> Services:
    store = Store(engine=engine, ca=ca, pepper=pepper, config=config)
    return Services(
        config=config,
        ca=ca,
        ra=RaOperations(store),
        links=LinkRedemption(store),
        by_reference=ReferenceRedemption(store),
        renewal=LinkRenewal(store),
        key_renewal=KeyRenewal(store),
        revocation=Revocation(store),
    )


__all__ = ["EnrollmentConfig", "EnrollmentCreate", "Services", "open_services"]
