"""The enrollment and renewal pages: server-rendered HTML, one script from our own origin.

The pages never see a secret the user types: the script posts to the JSON API. Errors on a
page (unknown, expired, used or locked links …) become an HTML page that says what happened and
what to do next, in the language the reader asked for.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path

from aiohttp import web

from common.errors import CertdeskError
from common.language import LANGUAGE_NAMES, LANGUAGES, Lang, negotiate
from common.links import link_url
from enrollment.ca.profiles import get_profile
from enrollment.errors import EnrollmentLocked, EnrollmentNotPending, PageNotFound
from enrollment.models import (
    Certificate,
    CertificateStatus,
    Delivery,
    EnrollmentStatus,
    LinkPurpose,
)
from enrollment.web.api import ENROLLMENT_CONFIG, LINKS, RENEWAL
from enrollment.web.downloads import CLIENT_DOWNLOADS
from enrollment.web.html import AttrValue, Markup, element, join, render, rich_text
from enrollment.web.messages import (
    IMPORT_SYSTEMS,
    error_message,
    error_title,
    import_note,
    import_steps,
    script_texts,
    text,
)
from usbkey.pkcs11.models import TOKEN_MODELS

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "require-trusted-types-for 'script'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def page_language(request: web.Request) -> Lang:
    return negotiate(request.headers.get("Accept-Language"), request.query.get("lang"))


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: every response, pages, API, errors and files alike."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if "Cache-Control" not in response.headers:
        static = request.path.startswith("/static/")
        response.headers["Cache-Control"] = "no-cache" if static else "no-store"


def _language_switch(request: web.Request, current: Lang) -> Markup:
    links = []
    for lang in LANGUAGES:
        name = LANGUAGE_NAMES[lang]
        if lang == current:
            links.append(element("strong", {"lang": lang, "aria-current": "true"}, name))
        else:
            # A query alone: the same page in ``lang``. Never the request's path, which a
            # crafted address (``//host/``, ``/\host/``) would turn into a link to another site.
            href = f"?lang={lang}"
            links.append(element("a", {"href": href, "hreflang": lang, "lang": lang}, name))
    return Markup(" | ".join(links))


def _html_lang(lang: Lang) -> str:
    return "zh-CN" if lang == "zh" else lang


def _page(
    request: web.Request,
    lang: Lang,
    *,
    title: str,
    content: Markup,
    script: str | None = None,
    status: int = 200,
) -> web.Response:
    scripts = Markup("")
    if script:
        texts = json.dumps(script_texts(lang), ensure_ascii=False).replace("<", "\\u003c")
        scripts = Markup(
            f'<script type="application/json" id="certdesk-texts">{texts}</script>\n'
            f'<script type="module" src="/static/{script}"></script>'
        )
    body = render(
        "base.html",
        translate=lambda key: text(key, lang),
        html_lang=_html_lang(lang),
        title=title,
        language_switch=_language_switch(request, lang),
        content=content,
        scripts=scripts,
    )
    return web.Response(text=body, status=status, content_type="text/html", charset="utf-8")


def error_page(request: web.Request, error: CertdeskError) -> web.Response:
    lang = page_language(request)
    content = render(
        "error.html",
        translate=lambda key: text(key, lang),
        code=error.code,
        title=error_title(error, lang),
        message=rich_text(error_message(error, lang)),
    )
    return _page(
        request, lang, title=error_title(error, lang), content=content, status=error.status
    )


def page_errors(handler: Handler) -> Handler:
    """The pages' error boundary, wrapped around each page handler: a domain error becomes an
    HTML page in the reader's language that says what happened and what to do next."""

    @functools.wraps(handler)
    async def page(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except CertdeskError as exc:
            log.info("page refused", extra={"code": exc.code})
            return error_page(request, exc)

    return page


@web.middleware
async def unrouted_pages(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The root application's one middleware, for requests no route serves: a browser asking
    for a page (``Accept: text/html``) gets the not-found page in its reader's language; any
    other client, and every 404 a handler raises itself, keeps aiohttp's plain answer. The
    API and chat sub-applications answer their unknown paths in their own JSON first."""
    try:
        return await handler(request)
    except web.HTTPNotFound:
        unrouted = isinstance(request.match_info.http_exception, web.HTTPNotFound)
        if not unrouted or "text/html" not in request.headers.get("Accept", ""):
            raise
        return error_page(request, PageNotFound())


def _expires(expires_at: datetime, lang: Lang) -> str:
    return text("enroll.expires", lang, when=f"{expires_at:%Y-%m-%d %H:%M}")


def _radio(name: str, value: str, label: str, hint: str | None, **attrs: AttrValue) -> Markup:
    """A radio button whose accessible name is exactly ``label``; ``hint`` describes it."""
    control_id = f"{name}-{value}"
    hint_id = f"{control_id}-hint"
    control = element(
        "input",
        {
            "type": "radio",
            "name": name,
            "value": value,
            "id": control_id,
            "aria-describedby": hint_id if hint else None,
            **attrs,
        },
    )
    parts: list[object] = [control, " ", element("label", {"for": control_id}, label)]
    if hint:
        parts.append(element("small", {"class": "hint", "id": hint_id}, rich_text(hint)))
    return element("div", {"class": "choice"}, join(parts))


async def _client_url(request: web.Request) -> str:
    """The absolute URL of the USB-key client's wheel, or "" when none is offered."""
    downloads = request.config_dict.get(CLIENT_DOWNLOADS)
    path = await downloads.wheel_path() if downloads is not None else None
    public_url = request.config_dict[ENROLLMENT_CONFIG].public_url.rstrip("/")
    return f"{public_url}{path}" if path else ""


def _keyfile(
    lang: Lang,
    *,
    link: str,
    usb_command: str,
    client_url: str,
    default_key_type: str = "ec-p256",
) -> Markup:
    options = join(
        element(
            "option",
            {
                "value": model.id,
                "data-linux": model.linux,
                "data-windows": model.windows,
                "data-macos": model.macos,
            },
            model.name,
        )
        for model in TOKEN_MODELS
    )
    header = element(
        "tr", {}, join(element("th", {}, h) for h in ("", "Driver", "Linux", "Windows", "macOS"))
    )
    rows = join(
        element(
            "tr",
            {},
            join(
                element("td", {}, value)
                for value in (model.name, model.driver, model.linux, model.windows, model.macos)
            ),
        )
        for model in TOKEN_MODELS
    )
    intro_key = "form.token.intro" if usb_command == "enroll" else "renew.token.intro"
    code_step = (
        element(
            "li",
            {},
            element("p", {}, text("form.token.code", lang)),
            element("pre", {"class": "command"}, element("code", {"id": "token-code"})),
        )
        if usb_command == "enroll"
        else ""
    )
    return render(
        "keyfile.html",
        translate=lambda key: text(key, lang),
        ec_selected=Markup(" selected" if default_key_type != "rsa-2048" else ""),
        rsa_selected=Markup(" selected" if default_key_type == "rsa-2048" else ""),
        token_intro=text(intro_key, lang),
        token_after=text("form.token.after", lang) if usb_command == "enroll" else "",
        token_options=options,
        token_table=join((header, rows)),
        link=link,
        usb_command=usb_command,
        client_url=client_url,
        token_code_step=code_step,
    )


# Macs cannot follow the Keychain steps with a file in the default format: only its note shows.
_STEPS_ONLY_FOR_COMPATIBLE = frozenset({"macos"})


def _import_guides(lang: Lang) -> Markup:
    """One collapsed section per system; the script opens the reader's and fills in the file
    name, and shows the notes about the default format only for such a file."""
    file_name = element("span", {"class": "file-name"})
    guides = []
    for system in IMPORT_SYSTEMS:
        steps = join(
            element("li", {}, rich_text(step, file=file_name))
            for step in import_steps(system, lang)
        )
        only = "compatible" if system in _STEPS_ONLY_FOR_COMPATIBLE else None
        parts: list[object] = [
            element("summary", {}, text(f"import.{system}", lang)),
            element("ol", {"data-format": only}, steps),
        ]
        if (note := import_note(system, lang)) is not None:
            parts.append(
                element("p", {"class": "format-note", "data-format": "modern"}, rich_text(note))
            )
        guides.append(element("details", {"data-system": system}, join(parts)))
    return join(guides)


def _common(lang: Lang) -> dict[str, Markup]:
    translate = lambda key: text(key, lang)  # noqa: E731
    return {
        "envcheck": render("envcheck.html", translate=translate),
        "result": render("result.html", translate=translate, import_guides=_import_guides(lang)),
        "status": render("status.html", translate=translate),
    }


async def enroll_page(request: web.Request) -> web.Response:
    lang = page_language(request)
    token = request.match_info["token"]
    view = await request.config_dict[LINKS].inspect_link(token, purpose=LinkPurpose.ENROLL)
    enrollment = view.enrollment
    assert enrollment is not None
    if enrollment.locked_at is not None:
        raise EnrollmentLocked(enrollment.reference_number)
    if enrollment.status != EnrollmentStatus.PENDING:
        raise EnrollmentNotPending(
            "A certificate has already been issued for this enrollment. To get another one, "
            "ask the certdesk bot in Slack to renew it, or ask RA staff."
        )
    choices = [
        ("browser", "form.browser", True),
        ("token", "form.token", False),
        ("csr", "form.csr", False),
    ]
    if get_profile(enrollment.profile).allow_server_keygen:
        choices.append(("server", "form.server", False))
    options = join(
        _radio("delivery", value, text(key, lang), text(f"{key}.hint", lang), checked=checked)
        for value, key, checked in choices
    )
    link = link_url(request.config_dict[ENROLLMENT_CONFIG].public_url, "enroll", token)
    content = render(
        "enroll.html",
        translate=lambda key: text(key, lang),
        expires=_expires(view.expires_at, lang),
        token=token,
        delivery_options=options,
        keyfile=_keyfile(
            lang, link=link, usb_command="enroll", client_url=await _client_url(request)
        ),
        **_common(lang),
    )
    return _page(
        request, lang, title=text("enroll.title", lang), content=content, script="enroll.js"
    )


def _certificate_label(cert: Certificate, lang: Lang) -> tuple[str, str]:
    label = text(
        "renew.cert",
        lang,
        name=cert.friendly_name or cert.subject_cn,
        serial=cert.serial,
        not_after=f"{cert.not_after:%Y-%m-%d}",
    )
    details = ", ".join(
        (text(f"renew.status.{cert.status}", lang), text(f"renew.delivery.{cert.delivery}", lang))
    )
    return label, details


def _default_key_type(cert: Certificate) -> str:
    return "rsa-2048" if cert.key_type.startswith("RSA") else "ec-p256"


async def renew_page(request: web.Request) -> web.Response:
    lang = page_language(request)
    token = request.match_info["token"]
    view = await request.config_dict[RENEWAL].renewal_view(token)
    title = text("renew.title", lang)
    translate = lambda key: text(key, lang)  # noqa: E731
    if not view.renewable:
        return _page(
            request, lang, title=title, content=render("renew_none.html", translate=translate)
        )
    selected = view.preselected
    if selected not in {c.serial for c in view.renewable}:
        selected = view.renewable[0].serial
    options = []
    for cert in view.certificates:
        label, details = _certificate_label(cert, lang)
        active = cert.status == CertificateStatus.ACTIVE
        # The page renews into browser, CSR, USB key or server key; a key from a protocol
        # client (CMP) is renewed with a CSR from that key, or over the protocol itself.
        delivery = (
            cert.delivery if cert.delivery in set(Delivery) - {Delivery.CMP} else Delivery.CSR
        )
        options.append(
            _radio(
                "serial",
                cert.serial,
                label,
                details,
                checked=cert.serial == selected,
                disabled=not active,
                **{
                    "data-delivery": delivery,
                    "data-key-type": _default_key_type(cert),
                    "data-status": cert.status,
                },
            )
        )
    content = render(
        "renew.html",
        translate=translate,
        expires=_expires(view.expires_at, lang),
        token=token,
        certificate_options=join(options),
        keyfile=_keyfile(lang, link="", usb_command="renew", client_url=await _client_url(request)),
        **_common(lang),
    )
    return _page(request, lang, title=title, content=content, script="renew.js")


def add_routes(app: web.Application) -> None:
    """Register the pages (each behind :func:`page_errors`), their static files and the
    security headers on ``app``."""
    app.router.add_get("/enroll/{token}", page_errors(enroll_page))
    app.router.add_get("/renew/{token}", page_errors(renew_page))
    app.router.add_static("/static", STATIC_DIR, append_version=False)
    app.on_response_prepare.append(security_headers)
