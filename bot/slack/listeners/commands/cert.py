"""``/cert help|download|renew|status`` for everyone; answers are ephemeral (only the caller
sees them, and the caller is the only person links are made for)."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot import dialog, messages
from bot.dialog import Reply
from bot.slack import blocks
from bot.slack.desk import Desk
from bot.slack.listeners.commands import Answer, answered_privately
from bot.slack.syntax import split_command
from common.language import Lang

ALIASES = {
    "": "help",
    "help": "help",
    "帮助": "help",
    "download": "download",
    "下载": "download",
    "renew": "renew",
    "更新": "renew",
    "续期": "renew",
    "status": "status",
    "状态": "status",
    "list": "status",
}


async def cert_reply(
    desk: Desk, client: AsyncWebClient, user: str, text: str
) -> tuple[Reply, Lang]:
    word, _ = split_command(text)
    lang = await desk.language(client, user)
    if any("\u4e00" <= ch <= "\u9fff" for ch in word):
        lang = "zh"
    match ALIASES.get(word):
        case "help":
            return Reply(messages.text("cert_help", lang), dialog.menu_buttons(lang)), lang
        case "download":
            return await desk.download(user, lang), lang
        case "renew":
            return await desk.renew(user, lang), lang
        case "status":
            return await desk.my_certificates(user, lang), lang
    return Reply(messages.text("unknown_cert_command", lang, word=word)), lang


def register(app: AsyncApp, desk: Desk) -> None:
    @app.command("/cert")
    @answered_privately(desk, name="cert")
    async def cert(client: AsyncWebClient, command: dict[str, Any]) -> Answer:
        reply, lang = await cert_reply(desk, client, command["user_id"], command.get("text") or "")
        return reply.text, blocks.reply_blocks(reply, lang)
