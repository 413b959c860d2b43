"""Time as certdesk counts it: aware UTC, and whole days left until a moment. Pure.

One rule for "days left", used by the reminders, "My certificates", the inspector and the USB-key
client alike: the time left, rounded **up** to whole days. "Expires in 1 day" means less than
24 hours are left (0 < left <= 24 h -> 1); 0 or less means the moment has passed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

DAY = timedelta(days=1)


def utcnow() -> datetime:
    """Now, timezone-aware UTC."""
    return datetime.now(UTC)


def days_left(not_after: datetime, now: datetime) -> int:
    """Whole days from ``now`` until ``not_after``, rounded up (6 days 2 hours -> 7).

    0 or less once ``not_after`` has passed: a certificate has expired exactly when this is <= 0
    (expired 5 hours ago -> 0, 2 days 1 hour ago -> -2).
    """
    return -((now - not_after) // DAY)
