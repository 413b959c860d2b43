"""The enrollment domain's use cases, one module each, over one shared store.

- :mod:`.ra`: RA operations (create, new link, unlock, audit)
- :mod:`.links`: redeeming a one-time enrollment link
- :mod:`.by_reference`: redemption by reference number (EST, CMP's derived code)
- :mod:`.renewal`: renewal links; :mod:`.key_renewal`: renewal by proof of the current key
  (`certdesk token renew`, CMP kur)
- :mod:`.revocation`: revocation and the CRL

:func:`open_services` (:mod:`.assembly`) builds them all; each caller is handed only the ones it
uses. It loads the store and SQLAlchemy when first named here: creating an enrollment
(:mod:`.creation`, ``EnrollmentCreate``) and the configuration need neither.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from enrollment.services.config import EnrollmentConfig
from enrollment.services.creation import EnrollmentCreate

if TYPE_CHECKING:
    from enrollment.services.assembly import Services, open_services


def __getattr__(name: str) -> Any:
    if name in ("Services", "open_services"):
        from enrollment.services import assembly

        return getattr(assembly, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["EnrollmentConfig", "EnrollmentCreate", "Services", "open_services"]
