"""The ceiling for the Slack benchmark: a bare slack-bolt AsyncApp with a no-op listener,
behind bolt's own aiohttp adapter (signature checked, nothing stored).

    python benchmarks/slack/bare_bolt.py PORT SIGNING_SECRET
"""

from __future__ import annotations

import sys

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult


def main() -> None:
    port, secret = int(sys.argv[1]), sys.argv[2]

    async def authorize(**_: object) -> AuthorizeResult:
        # What certdesk's single-workspace token gives, without calling auth.test.
        return AuthorizeResult(
            enterprise_id=None,
            team_id="T1",
            bot_token="xoxb-bench",  # noqa: S106 -- a placeholder, never sent
            bot_user_id="UBOT",
        )

    bolt = AsyncApp(signing_secret=secret, authorize=authorize)

    @bolt.event("app_mention")
    async def noop() -> None:
        return None

    async def events(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await bolt.async_dispatch(await to_bolt_request(request)))

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/slack/events", events)
    app.router.add_get("/healthz", healthz)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


if __name__ == "__main__":
    main()
