"""A per-client limit on the anonymous chat, in memory: at most ``limit`` messages per client
address in any ``window`` seconds. One process's view only; it bounds what one client can make
the chat store or compute, not a distributed flood (a proxy's own limits do that)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

MESSAGES_PER_MINUTE = 30
MAX_CLIENTS = 10_000


class ClientLimiter:
    """Sliding-window counts per client; the oldest clients are forgotten past ``max_clients``."""

    def __init__(
        self,
        *,
        limit: int = MESSAGES_PER_MINUTE,
        window: float = 60.0,
        max_clients: int = MAX_CLIENTS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window = window
        self.max_clients = max_clients
        self._clock = clock
        self._seen: dict[str, deque[float]] = {}

    def allow(self, client: str) -> bool:
        """Count one message from ``client``; False when it is over the limit (not counted)."""
        now = self._clock()
        times = self._seen.pop(client, None) or deque()
        while times and now - times[0] >= self.window:
            times.popleft()
        allowed = len(times) < self.limit
        if allowed:
            times.append(now)
        self._seen[client] = times  # re-inserted: the dict's order is least recently seen first
        while len(self._seen) > self.max_clients:
            del self._seen[next(iter(self._seen))]
        return allowed
