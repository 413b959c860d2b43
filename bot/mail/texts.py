"""Every mail certdesk sends, in English and Chinese: a subject and paragraphs.

Placeholders are ``{name}``; :mod:`bot.mail.compose` fills them (escaped in the HTML part) and
turns ``{url}`` into a link. No mail that carries a one-time link names the authorization or
verification code, and the mail that carries a code names no link (SECURITY.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from common.language import Lang

MailKind = Literal[
    "enroll_link",
    "renew_link",
    "code",
    "verification_code",
    "reminder",
    "expired",
    "revoked",
    "unlocked",
]

SUBJECTS: Mapping[MailKind, Mapping[Lang, str]] = {
    "enroll_link": {
        "en": "Your certificate download link (reference number {reference})",
        "zh": "您的证书下载链接（参考号 {reference}）",
    },
    "renew_link": {
        "en": "Your certificate renewal link ({cn})",
        "zh": "您的证书更新链接（{cn}）",
    },
    "code": {
        "en": "Your authorization code for reference number {reference}",
        "zh": "参考号 {reference} 的授权码",
    },
    "verification_code": {
        "en": "Your renewal verification code ({cn})",
        "zh": "您的证书更新验证码（{cn}）",
    },
    "reminder": {
        "en": "Your certificate {cn} expires in {days} day(s)",
        "zh": "您的证书 {cn} 将在 {days} 天后到期",
    },
    "expired": {
        "en": "Your certificate {cn} has expired",
        "zh": "您的证书 {cn} 已过期",
    },
    "revoked": {
        "en": "Your certificate {cn} was revoked",
        "zh": "您的证书 {cn} 已被吊销",
    },
    "unlocked": {
        "en": "Your enrollment {reference} is unlocked",
        "zh": "您的申请 {reference} 已解锁",
    },
}

BODIES: Mapping[MailKind, Mapping[Lang, tuple[str, ...]]] = {
    "enroll_link": {
        "en": (
            "Hello {cn},",
            "your registration authority (RA) has prepared a certificate for you. Download it "
            "through this one-time link, which works once and expires on {expires}:",
            "{url}",
            "Your reference number: {reference}",
            "{code_note}",
            "The page checks your browser, makes your key and saves the certificate. If the "
            "link has expired or was used, ask for a new one at {public_url}/link with your "
            "reference number and this e-mail address.",
        ),
        "zh": (
            "{cn}，您好：",
            "您的注册机构（RA）已为您准备好证书。请通过以下一次性链接下载，该链接只能使用一次，"
            "将于 {expires} 失效：",
            "{url}",
            "您的参考号：{reference}",
            "{code_note}",
            "页面会检查您的浏览器、生成密钥并保存证书。如果链接已过期或已使用，请在 "
            "{public_url}/link 输入参考号和本邮箱地址，索取新链接。",
        ),
    },
    "renew_link": {
        "en": (
            "Hello {cn},",
            "here is a one-time link to renew your certificate (serial {serial}). It works "
            "once and expires on {expires}:",
            "{url}",
            "{code_note}",
            "The renewed certificate keeps your name and is saved where the old one was.",
        ),
        "zh": (
            "{cn}，您好：",
            "以下是更新您证书（序列号 {serial}）的一次性链接，只能使用一次，将于 {expires} 失效：",
            "{url}",
            "{code_note}",
            "更新后的证书保留原有名称，并保存在原证书所在位置。",
        ),
    },
    "code": {
        "en": (
            "Hello {cn},",
            "this is the authorization code for your certificate with reference number "
            "{reference}: {secret}",
            "You received the download link in a separate mail. Enter the reference number "
            "and this code on the page the link opens. certdesk never asks for the code by "
            "mail or phone.",
        ),
        "zh": (
            "{cn}，您好：",
            "参考号 {reference} 的证书授权码为：{secret}",
            "下载链接已通过另一封邮件发送给您。请在链接打开的页面输入参考号和此授权码。"
            "certdesk 不会通过邮件或电话向您索取授权码。",
        ),
    },
    "verification_code": {
        "en": (
            "Hello {cn},",
            "this is the verification code for renewing your certificate (serial "
            "{reference}): {secret}",
            "You received the renewal link in a separate mail. Enter this code on the page "
            "the link opens. certdesk never asks for the code by mail or phone.",
        ),
        "zh": (
            "{cn}，您好：",
            "更新证书（序列号 {reference}）的验证码为：{secret}",
            "更新链接已通过另一封邮件发送给您。请在链接打开的页面输入此验证码。"
            "certdesk 不会通过邮件或电话向您索取验证码。",
        ),
    },
    "reminder": {
        "en": (
            "Hello {cn},",
            "your certificate {cn} (serial {serial}) expires on {not_after}, in {days} day(s).",
            "What to do next: renew it before then. Ask your RA staff for a renewal link; it "
            "will reach you by mail.",
        ),
        "zh": (
            "{cn}，您好：",
            "您的证书 {cn}（序列号 {serial}）将于 {not_after} 到期，还剩 {days} 天。",
            "请在到期前更新：向您的 RA 工作人员索取更新链接，链接会通过邮件发送给您。",
        ),
    },
    "expired": {
        "en": (
            "Hello {cn},",
            "your certificate {cn} (serial {serial}) expired on {not_after}.",
            "What to do next: ask your RA staff for a renewal link or, if it can no longer be "
            "renewed, for a new certificate.",
        ),
        "zh": (
            "{cn}，您好：",
            "您的证书 {cn}（序列号 {serial}）已于 {not_after} 过期。",
            "请向您的 RA 工作人员索取更新链接；如已无法更新，请申请新证书。",
        ),
    },
    "revoked": {
        "en": (
            "Hello {cn},",
            "your certificate {cn} (serial {serial}) was revoked ({reason}) and can no "
            "longer be used.",
            "If you did not expect this, or need a new certificate, contact your RA staff.",
        ),
        "zh": (
            "{cn}，您好：",
            "您的证书 {cn}（序列号 {serial}）已被吊销（{reason}），无法再使用。",
            "如非预期，或需要新证书，请联系您的 RA 工作人员。",
        ),
    },
    "unlocked": {
        "en": (
            "Hello {cn},",
            "your enrollment {reference} was locked after too many wrong authorization codes. "
            "RA staff have unlocked it: you can try again with the link and the code you "
            "received.",
        ),
        "zh": (
            "{cn}，您好：",
            "您的申请 {reference} 因多次输入错误授权码而被锁定，RA 工作人员已将其解锁。"
            "您可以使用收到的链接和授权码重新尝试。",
        ),
    },
}

CODE_NOTES: Mapping[str, Mapping[Lang, str]] = {
    "operator": {
        "en": "Your authorization code does not come with this mail: your RA gives it to you "
        "on another channel (in person, by phone or by letter).",
        "zh": "授权码不随本邮件发送：您的 RA 会通过其他渠道（当面、电话或信件）告知您。",
    },
    "separate": {
        "en": "Your authorization code follows in a separate mail in a few minutes.",
        "zh": "授权码将在几分钟后通过另一封邮件发送给您。",
    },
    "renew_operator": {
        "en": "The verification code does not come with this mail: your RA gives it to you on "
        "another channel.",
        "zh": "验证码不随本邮件发送：您的 RA 会通过其他渠道告知您。",
    },
    "renew_separate": {
        "en": "The verification code follows in a separate mail in a few minutes.",
        "zh": "验证码将在几分钟后通过另一封邮件发送给您。",
    },
}

FOOTER: Mapping[Lang, str] = {
    "en": "This mail was sent by certdesk for your registration authority. Do not reply to it.",
    "zh": "本邮件由 certdesk 代您的注册机构发送，请勿直接回复。",
}
