"""The local chat page at ``/``: the same dialog as the Slack bot, in a browser, for when Slack
is not configured (the embedded default), so certdesk can be tried without a workspace.

``GET /`` serves the page, ``/chat/static/*`` its script and style (same origin only: the
Content-Security-Policy allows nothing else), and ``POST /chat/message`` takes
``{"text": "…"}`` or ``{"action": "…", "value": "…"}`` and answers
``{"lang": "en"|"zh", "replies": [{"text": "…", "buttons": [{"action", "label", "value"}]}]}``.
``GET /chat/reminders`` lists the renewal reminders sent while Slack is off (the local outbox),
newest first: ``{"reminders": [{"text", "certificate_serial", "kind", "created_at"}]}``. It is
the operator's view (holders' names and serials): it answers only a request from the machine
itself or one with ``Authorization: Bearer <CERTDESK_OPERATOR_TOKEN>``; the page never links it.
Each client may send :data:`limits.MESSAGES_PER_MINUTE` messages a minute (429 past it).

The page is anonymous: it answers questions, but it cannot know whose certificate is whose, so
it never hands out download or renewal links (those need Slack, where people are known). Its
greeting therefore offers questions to ask, not the Slack menu. The page speaks the language
the browser asks for (Accept-Language, or ``?lang=``), and so does the greeting.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import resources
from string import Template
from typing import Any

from aiohttp import web
from pydantic import SecretStr

from bot import dialog, messages
from bot.access import bearer_matches, is_local, peer_address, refused
from bot.chat.limits import ClientLimiter
from bot.dialog import Act, Button, Knowledge, Reply
from bot.outbox import LocalOutbox
from bot.questions import Questions
from bot.runtime import Runtime
from bot.unanswered import SqlUnansweredLog
from common.errors import CertdeskError
from common.language import Lang, detect_language, negotiate
from enrollment.errors import RequestInvalid, RequestTooLarge
from enrollment.web.body import read_request

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

MAX_BODY_BYTES = 16 * 1024
MAX_TEXT = 2000
STATIC = {
    "chat.js": "application/javascript",
    "chat.css": "text/css",
}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


def _asset(name: str) -> bytes:
    return resources.files("bot.chat").joinpath("static", name).read_bytes()


def secured(response: web.Response) -> web.Response:
    response.headers.update(SECURITY_HEADERS)
    return response


def reply_json(reply: Reply) -> dict[str, Any]:
    return {
        "text": reply.text,
        "buttons": [
            {"action": b.act.value, "label": b.label, "value": b.value} for b in reply.buttons
        ],
    }


# What the greeting offers to ask, when the knowledge base has these entries.
WELCOME_QUESTIONS = ("download-to-browser", "renewal", "find-cn-ou-o")


class LocalChat:
    """The dialog without Slack: knowledge answers, feedback, suggestions; no identity."""

    def __init__(self, *, questions: Questions) -> None:
        self.questions = questions

    def welcome(self, lang: Lang) -> Reply:
        """The greeting, with only what this page can do: questions to ask (no download,
        renewal or "my certificates" buttons, which need to know who is asking)."""
        knowledge = self.questions.knowledge
        entries = knowledge.entries if knowledge is not None else {}
        buttons = tuple(
            Button(Act.SUGGESTION, entries[entry_id].title(lang), entry_id)
            for entry_id in WELCOME_QUESTIONS
            if entry_id in entries
        )
        return Reply(messages.text("local_chat.welcome", lang), buttons)

    async def message(self, text: str, lang: Lang) -> Reply:
        if not text.strip() or dialog.is_greeting(text):
            return self.welcome(lang)
        return await self.questions.answer(text, lang)

    async def action(self, act: Act, value: str, lang: Lang) -> Reply:
        if act is Act.SUGGESTION:
            return self.questions.suggestion(value, lang)
        if act in (Act.HELPFUL, Act.NOT_HELPFUL):
            return await self.questions.feedback(helpful=act is Act.HELPFUL, value=value, lang=lang)
        if act is Act.TALK_TO_RA:
            return Reply(messages.text("local_chat.no_staff", lang))
        if act is Act.HELP:
            return self.welcome(lang)
        return Reply(messages.text("local_chat.no_identity", lang))


@dataclass(frozen=True, slots=True)
class Operator:
    """Who may read the outbox from elsewhere than the machine itself."""

    token: SecretStr | None = None


CHAT = web.AppKey("local_chat", LocalChat)
OUTBOX = web.AppKey("local_outbox", LocalOutbox)
OPERATOR = web.AppKey("chat_operator", Operator)
LIMITER = web.AppKey("chat_limiter", ClientLimiter)
REMINDERS_SHOWN = 20


def page_language(request: web.Request) -> Lang:
    return negotiate(request.headers.get("Accept-Language"), request.query.get("lang"))


async def index(request: web.Request) -> web.Response:
    """The chat page in the reader's language."""
    lang = page_language(request)
    values = {name: html.escape(texts[lang]) for name, texts in messages.LOCAL_CHAT_PAGE.items()}
    page = Template(_asset("index.html").decode()).substitute(
        values, lang=lang, html_lang="zh-CN" if lang == "zh" else "en"
    )
    response = web.Response(text=page, content_type="text/html", charset="utf-8")
    response.headers["Vary"] = "Accept-Language"
    return secured(response)


async def static(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in STATIC:
        raise web.HTTPNotFound()
    response = web.Response(body=_asset(name), content_type=STATIC[name])
    return secured(response)


def error_response(error: CertdeskError) -> web.Response:
    """The chat's JSON error: ``{"error": {"code", "message"}}`` with the error's status."""
    return secured(web.json_response(error.to_json(), status=error.status))


def bad_request(message: str) -> web.Response:
    return error_response(RequestInvalid(message))


@web.middleware
async def chat_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The chat's error boundary, the middleware of the ``/chat/`` sub-application: a domain
    error escaping a chat handler becomes the chat's JSON error, never an enrollment page."""
    try:
        return await handler(request)
    except CertdeskError as exc:
        log.info("chat request refused", extra={"code": exc.code})
        return error_response(exc)


async def message(request: web.Request) -> web.Response:
    if not request.config_dict[LIMITER].allow(peer_address(request) or "unknown"):
        log.info("chat message refused: rate limit", extra={"peer": peer_address(request)})
        return secured(
            refused(
                code="rate_limited",
                message="Too many messages in a minute: wait a minute, then ask again.",
                status=429,
            )
        )
    if request.content_type != "application/json":
        return bad_request("Send JSON (Content-Type: application/json).")
    try:
        body = await read_request(request, limit=MAX_BODY_BYTES)
    except RequestTooLarge:
        return bad_request("The message is too long.")
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return bad_request("The body is not valid JSON.")
    if not isinstance(data, dict):
        return bad_request("The body must be a JSON object.")
    chat = request.config_dict[CHAT]
    text, action, value = data.get("text"), data.get("action"), data.get("value", "")
    hint = data.get("lang")
    accept = request.headers.get("Accept-Language")
    lang = negotiate(accept, hint if isinstance(hint, str) else None)
    if isinstance(text, str):
        if len(text) > MAX_TEXT:
            return bad_request(f"A question can have at most {MAX_TEXT} characters.")
        lang = detect_language(text, fallback=lang)
        reply = await chat.message(text, lang)
    elif isinstance(action, str) and isinstance(value, str):
        try:
            act = Act(action)
        except ValueError:
            return bad_request(f"Unknown action {action!r}.")
        reply = await chat.action(act, value[:MAX_TEXT], lang)
    else:
        return bad_request('Send {"text": "your question"} or {"action": "…", "value": "…"}.')
    return secured(web.json_response({"lang": lang, "replies": [reply_json(reply)]}))


async def reminders(request: web.Request) -> web.Response:
    token = request.config_dict[OPERATOR].token
    if not (is_local(request) or bearer_matches(request, token)):
        log.info("outbox refused", extra={"peer": peer_address(request)})
        return secured(
            refused(
                code="operator_only",
                message=(
                    "The reminders outbox is for the operator: open it on the server itself"
                    + (
                        ", or send Authorization: Bearer <CERTDESK_OPERATOR_TOKEN>."
                        if token
                        else "."
                    )
                ),
                status=401 if token else 403,
            )
        )
    rows = await request.config_dict[OUTBOX].recent(limit=REMINDERS_SHOWN)
    return secured(
        web.json_response(
            {
                "reminders": [
                    {
                        "text": row.text,
                        "certificate_serial": row.certificate_serial,
                        "kind": row.kind,
                        "created_at": row.created_at.isoformat(),
                    }
                    for row in rows
                ]
            }
        )
    )


async def slack_home(request: web.Request) -> web.Response:
    return secured(web.Response(body=_asset("slack.html"), content_type="text/html"))


def add_chat(
    app: web.Application,
    *,
    runtime: web.AppKey[Runtime],
    knowledge: Callable[[], Knowledge | None],
    operator_token: SecretStr | None = None,
) -> None:
    """Serve the local chat at ``/`` (Slack is off)."""

    async def chat_ctx(app: web.Application) -> Any:
        rt = app[runtime]
        questions = Questions(
            knowledge=await asyncio.to_thread(knowledge),
            unanswered=SqlUnansweredLog(rt.engine),
            source="chat",
        )
        app[CHAT] = LocalChat(questions=questions)
        app[OUTBOX] = LocalOutbox(engine=rt.engine)
        yield

    app.cleanup_ctx.append(chat_ctx)
    app.router.add_get("/", index)
    app[OPERATOR] = Operator(operator_token)
    app[LIMITER] = ClientLimiter()
    app.add_subapp("/chat/", chat_app(with_messages=True))


def add_slack_notice(app: web.Application) -> None:
    """With Slack on, ``/`` only says where to find the bot."""
    app.router.add_get("/", slack_home)
    app.add_subapp("/chat/", chat_app(with_messages=False))


def chat_app(*, with_messages: bool) -> web.Application:
    """``/chat/``: the page's files and, with Slack off, its JSON endpoints, behind their own
    error boundary (:func:`chat_errors`)."""
    chat = web.Application(middlewares=[chat_errors])
    chat.router.add_get("/static/{name}", static)
    if with_messages:
        chat.router.add_post("/message", message)
        chat.router.add_get("/reminders", reminders)
    return chat
