"""Counting events per key in a sliding window, in memory. Pure (the clock is a parameter).

Used where a stranger can make certdesk do work or count a failure without holding any secret:
renewal challenges per client address, wrong credentials on the protocol paths (EST, CMP) per
source address and per reference number. The counts live in this process only: they start
from zero when it restarts, and each of several processes counts on its own, so a limit of
``n`` allows up to ``n`` times the number of processes. They slow a stranger down; they are not
where a secret is protected (codes have 79 bits, challenges are keyed MACs).
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from datetime import timedelta

from common.errors import CertdeskError


class RateLimited(CertdeskError, code="rate_limited", status=429):
    """Too many requests of one kind from one client: 429, answered with ``Retry-After``."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class WindowLimiter:
    """At most ``limit`` events per key in any ``window``; a bounded number of keys.

    :meth:`retry_after` says whether a key is over its limit (and for how many seconds);
    :meth:`hit` records one event. Keys whose events have all left the window are forgotten;
    past ``max_keys`` keys, the oldest key is dropped (a flood of keys costs bounded memory and
    at worst forgets some counts).
    """

    def __init__(
        self,
        *,
        limit: int,
        window: timedelta,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        if window <= timedelta(0):
            raise ValueError("window must be positive")
        self.limit = limit
        self.window = window.total_seconds()
        self._max_keys = max_keys
        self._clock = clock
        self._events: dict[str, deque[float]] = {}

    def _recent(self, key: str, now: float) -> deque[float] | None:
        events = self._events.get(key)
        if events is None:
            return None
        while events and events[0] <= now - self.window:
            events.popleft()
        if not events:
            del self._events[key]
            return None
        return events

    def retry_after(self, key: str) -> int | None:
        """Whole seconds until ``key`` may have another event, or None if it may now."""
        now = self._clock()
        events = self._recent(key, now)
        if events is None or len(events) < self.limit:
            return None
        return max(1, math.ceil(events[-self.limit] + self.window - now))

    def hit(self, key: str) -> None:
        """Record one event for ``key``."""
        now = self._clock()
        events = self._recent(key, now)
        if events is None:
            if len(self._events) >= self._max_keys:
                del self._events[next(iter(self._events))]
            events = self._events[key] = deque(maxlen=self.limit)
        events.append(now)
