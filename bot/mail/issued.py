"""What became of one enrollment ``ra issue`` made: the enrollment, and its link's deliveries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.mail.holders import Delivery
    from enrollment.services.creation import NewEnrollment


@dataclass(frozen=True, slots=True, kw_only=True)
class Issued:
    created: NewEnrollment
    deliveries: Sequence[Delivery]

    @property
    def delivered(self) -> bool:
        return any(d.ok for d in self.deliveries)

    def deliveries_json(self) -> list[dict[str, Any]]:
        return [d.as_dict() for d in self.deliveries]
