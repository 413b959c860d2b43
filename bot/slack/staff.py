"""Who is RA staff: ``CERTDESK_RA_STAFF`` lists user IDs (``U…``/``W…``) and/or user-group IDs
(``S…``); a group's members are read with ``usergroups.users.list`` and cached for a minute.
When Slack cannot tell us, the answer is "no" (fail closed)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)

GROUP_TTL_SECONDS = 60.0


class StaffDirectory:
    def __init__(self, members: Iterable[str], *, ttl: float = GROUP_TTL_SECONDS) -> None:
        members = tuple(members)
        self.user_ids = frozenset(m for m in members if not m.startswith("S"))
        self.group_ids = tuple(m for m in members if m.startswith("S"))
        self._ttl = ttl
        self._groups: dict[str, tuple[float, frozenset[str]]] = {}
        self._lock = asyncio.Lock()  # one lookup at a time: concurrent misses share its answer

    async def is_staff(self, client: AsyncWebClient, user_id: str) -> bool:
        if user_id in self.user_ids:
            return True
        for group in self.group_ids:
            if user_id in await self._members(client, group):
                return True
        return False

    async def _members(self, client: AsyncWebClient, group: str) -> frozenset[str]:
        async with self._lock:
            return await self._read_members(client, group)

    async def _read_members(self, client: AsyncWebClient, group: str) -> frozenset[str]:
        cached = self._groups.get(group)
        if cached is not None and time.monotonic() - cached[0] < self._ttl:
            return cached[1]
        try:
            response = await client.usergroups_users_list(usergroup=group)
        except SlackApiError as exc:
            log.error(
                "cannot read the RA staff user group",
                extra={"usergroup": group, "error": exc.response.get("error")},
            )
            return cached[1] if cached is not None else frozenset()
        users = response.get("users") or []
        members = frozenset(u for u in users if isinstance(u, str))
        self._groups[group] = (time.monotonic(), members)
        return members
