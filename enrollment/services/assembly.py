"""Every use case of the enrollment domain over one store, built by the composition root."""

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
