"""Every text the bot shows people, in English and Chinese, in one place.

Each function takes the language first and returns Slack ``mrkdwn`` (``*bold*``, ```code```,
``<url|label>``); the local chat page renders the same markup. Keeping both languages side by
side keeps wording and translation consistent. No function here does I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from common.language import Lang

if TYPE_CHECKING:
    from enrollment.queries import EnrollmentView
    from faq.inspector import CertificateInfo


def _t(lang: Lang, en: str, zh: str) -> str:
    return zh if lang == "zh" else en


def when(moment: datetime) -> str:
    """An aware datetime as people read it: ``2027-01-05 14:30 UTC``."""
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def day(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d}"


def mention(user_id: str) -> str:
    return f"<@{user_id}>"


# -- buttons ------------------------------------------------------------------------------


def label_download(lang: Lang) -> str:
    return _t(lang, "Download my certificate", "下载我的证书")


def label_renew(lang: Lang) -> str:
    return _t(lang, "Renew", "更新证书")


def label_my_certificates(lang: Lang) -> str:
    return _t(lang, "My certificates", "我的证书")


def label_talk_to_ra(lang: Lang) -> str:
    return _t(lang, "Talk to RA staff", "联系 RA 工作人员")


def label_helpful(lang: Lang) -> str:
    return _t(lang, "Helpful", "有帮助")


def label_not_helpful(lang: Lang) -> str:
    return _t(lang, "Not helpful", "没有帮助")


def label_resolved(lang: Lang) -> str:
    return _t(lang, "Resolved", "已解决")


def label_renew_certificate(lang: Lang, cn: str, not_after: datetime) -> str:
    return _t(lang, f"Renew {cn} (expires {day(not_after)})", f"更新 {cn}（{day(not_after)} 到期）")


def label_enrollment(lang: Lang, reference: str, cn: str) -> str:
    return _t(lang, f"{cn} · {reference}", f"{cn} · {reference}")


# -- welcome and help ---------------------------------------------------------------------


def welcome(lang: Lang) -> str:
    return _t(
        lang,
        "Hi! I'm *certdesk*, the certificate helpdesk. Ask me anything about downloading, "
        "renewing or reading your certificate — in English or Chinese — or share a certificate "
        "file with me to see its CN, OU and O. Or pick one of these:",
        "你好！我是证书服务台 *certdesk*。关于证书下载、更新或查看证书信息的问题都可以问我"
        "（中文或英文），也可以把证书文件发给我查看 CN、OU 和 O。或者选择：",
    )


def cert_help(lang: Lang) -> str:
    return _t(
        lang,
        "*certdesk commands*\n"
        "• `/cert download` — a fresh one-time link for your certificate that is waiting\n"
        "• `/cert renew` — renew one of your certificates\n"
        "• `/cert status` — your certificates and their expiry dates\n"
        "• `/cert help` — this help\n"
        "You can also write to me in a direct message, or share a certificate file there.",
        "*certdesk 命令*\n"
        "• `/cert download` — 为待下载的证书生成新的一次性链接\n"
        "• `/cert renew` — 更新证书\n"
        "• `/cert status` — 查看我的证书及到期时间\n"
        "• `/cert help` — 显示本帮助\n"
        "也可以直接私信我提问，或在私信中发送证书文件。",
    )


def unknown_cert_command(lang: Lang, word: str) -> str:
    return _t(
        lang,
        f"I don't know `/cert {word}`. Try `/cert help`.",
        f"没有 `/cert {word}` 这个命令，请试试 `/cert help`。",
    )


# -- knowledge answers --------------------------------------------------------------------


def feedback_thanks(lang: Lang) -> str:
    return _t(lang, "Thanks for letting me know!", "谢谢你的反馈！")


def not_helpful(lang: Lang) -> str:
    return _t(
        lang,
        "Sorry that did not help. Shall I pass your question to RA staff?",
        "抱歉没能帮上忙。要把你的问题转给 RA 工作人员吗？",
    )


def did_you_mean(lang: Lang) -> str:
    return _t(lang, "Did you mean one of these?", "你想问的是下面哪一个？")


def not_understood(lang: Lang) -> str:
    return _t(
        lang,
        "I'm not sure I can answer that. I can pass your question to RA staff, who will answer "
        "you here.",
        "这个问题我不太确定怎么回答。我可以把问题转给 RA 工作人员，他们会在这里回复你。",
    )


def share_file_hint(lang: Lang) -> str:
    return _t(
        lang,
        "Tip: share the certificate file (.cer, .crt, .pem, .p7b) with me here and I'll read "
        "it for you.",
        "提示：把证书文件（.cer、.crt、.pem、.p7b）发到这里，我来帮你读取。",
    )


# -- download -----------------------------------------------------------------------------


def no_pending_enrollment(lang: Lang, *, has_certificates: bool) -> str:
    if has_certificates:
        return _t(
            lang,
            "You have no certificate waiting to be downloaded. Your existing certificates are "
            "under *My certificates*; to get a new one for an existing certificate, use *Renew*.",
            "你没有待下载的证书。已有证书可在“我的证书”中查看；如需为现有证书换新，请使用“更新证书”。",
        )
    return _t(
        lang,
        "I can't find a certificate enrollment for you. RA staff create one first; then I send "
        "you the link here. If you expected one, talk to RA staff.",
        "没有找到你的证书申请。需要先由 RA 工作人员为你创建申请，之后我会在这里把下载链接发给你。"
        "如果你应该已有申请，请联系 RA 工作人员。",
    )


def choose_enrollment(lang: Lang) -> str:
    return _t(
        lang,
        "You have several certificates waiting. Which one do you want to download?",
        "你有多个待下载的证书，要下载哪一个？",
    )


def enrollment_locked(lang: Lang, reference: str) -> str:
    return _t(
        lang,
        f"Enrollment *{reference}* is locked after too many wrong authorization codes. RA staff "
        "must unlock it before you can download; press *Talk to RA staff* to ask them.",
        f"申请 *{reference}* 因多次输入错误的授权码已被锁定，需要 RA 工作人员解锁后才能下载。"
        "请点击“联系 RA 工作人员”。",
    )


def not_your_enrollment(lang: Lang) -> str:
    return _t(
        lang,
        "That enrollment is not yours. I give download links only to the person an enrollment "
        "was made for.",
        "这不是你的证书申请。下载链接只发给申请所属的本人。",
    )


def enrollment_not_pending(lang: Lang, reference: str) -> str:
    return _t(
        lang,
        f"Enrollment *{reference}* has already been used to issue a certificate. To get a new "
        "one, use *Renew*.",
        f"申请 *{reference}* 已经签发过证书。如需新证书，请使用“更新证书”。",
    )


def download_link(lang: Lang, *, reference: str, url: str, expires_at: datetime) -> str:
    return _t(
        lang,
        f"Here is a new one-time download link for enrollment *{reference}*:\n{url}\n"
        f"It works once and expires {when(expires_at)}. You need your reference number "
        f"*{reference}* and the authorization code your RA gave you.\n\n"
        "*Where should the certificate go?*\n"
        "• *This browser* — open the link, enter the reference number and authorization code, "
        "choose “This browser”, set a password for the certificate file and press Download. "
        "Nothing to install, no trusted sites.\n"
        "• *USB key* — open the link and choose “USB key”: it shows how to install certdesk's "
        "USB-key client, then plug in the key and run "
        f"`certdesk-usbkey enroll {url} --module <your key's PKCS#11 module>`; the page behind "
        "the link lists the module for each key model (choosing the wrong one is the most "
        "common error).",
        f"这是申请 *{reference}* 的新一次性下载链接：\n{url}\n"
        f"链接只能使用一次，{when(expires_at)} 失效。"
        f"需要参考号 *{reference}* 和 RA 给你的授权码。\n\n"
        "*证书存放到哪里？*\n"
        "• *本浏览器* — 打开链接，输入参考号和授权码，选择“This browser”，为证书文件设置密码后点击"
        "“Download”。无需安装控件，也无需添加受信任站点。\n"
        "• *USB Key* — 打开链接并选择“USB 密钥”，页面会说明如何安装 certdesk 的 USB Key 客户端；"
        "然后插入 USB Key 并运行 "
        f"`certdesk-usbkey enroll {url} --module <USB Key 的 PKCS#11 模块>`；"
        "链接页面列出了各型号 USB Key 对应的模块（选错模块是最常见的错误）。",
    )


# -- renewal ------------------------------------------------------------------------------


def nothing_to_renew(lang: Lang) -> str:
    return _t(
        lang,
        "You have no active certificate to renew. If you are waiting for a new certificate, "
        "use *Download my certificate*.",
        "你没有可以更新的有效证书。如果在等待新证书，请使用“下载我的证书”。",
    )


def choose_certificate(lang: Lang) -> str:
    return _t(lang, "Which certificate do you want to renew?", "要更新哪一张证书？")


def renewal_link(
    lang: Lang, *, cn: str, serial: str, url: str, expires_at: datetime, verification_code: str
) -> str:
    return _t(
        lang,
        f"Here is your renewal link for *{cn}* (serial `{serial}`):\n{url}\n"
        f"Verification code: `{verification_code}`\n"
        f"The link works once and expires {when(expires_at)}. Open it, choose the certificate, "
        "enter the verification code and confirm. The renewed certificate is delivered the way "
        "the old one was (same friendly name), and the old one is then marked superseded.",
        f"这是 *{cn}*（序列号 `{serial}`）的更新链接：\n{url}\n"
        f"验证码：`{verification_code}`\n"
        f"链接只能使用一次，{when(expires_at)} 失效。打开链接，选择证书，输入验证码并确认。"
        "新证书会以与旧证书相同的方式（相同的友好名称）交付，旧证书随后标记为已被替代。",
    )


def not_your_certificate(lang: Lang) -> str:
    return _t(
        lang,
        "That certificate is not yours. I renew only certificates that belong to you.",
        "这不是你的证书。我只能更新属于你本人的证书。",
    )


def certificate_not_active(lang: Lang, serial: str, status: str) -> str:
    return _t(
        lang,
        f"Certificate `{serial}` is {status}; only active certificates can be renewed.",
        f"证书 `{serial}` 的状态是 {status}，只有有效证书才能更新。",
    )


# -- my certificates ----------------------------------------------------------------------


def status_word(lang: Lang, status: str) -> str:
    words = {
        "active": ("active", "有效"),
        "expired": ("expired", "已过期"),
        "superseded": ("superseded", "已被替代"),
        "revoked": ("revoked", "已吊销"),
        "pending": ("waiting for download", "待下载"),
        "locked": ("locked", "已锁定"),
        "issued": ("issued", "已签发"),
        "cancelled": ("cancelled", "已取消"),
    }
    en, zh = words.get(status, (status, status))
    return _t(lang, en, zh)


def certificate_line(
    lang: Lang, *, cn: str, serial: str, status: str, not_after: datetime, days_left: int
) -> str:
    if status == "active" and days_left > 0:
        expiry = _t(
            lang,
            f"expires {day(not_after)} (in {days_left} days)",
            f"{day(not_after)} 到期（还有 {days_left} 天）",
        )
    else:
        expiry = _t(lang, f"valid until {day(not_after)}", f"有效期至 {day(not_after)}")
    return f"• *{cn}* — {status_word(lang, status)}, {expiry} · `{serial}`"


def enrollment_line(lang: Lang, *, cn: str, reference: str, locked: bool) -> str:
    state = status_word(lang, "locked" if locked else "pending")
    return _t(
        lang, f"• *{cn}* — enrollment {reference}, {state}", f"• *{cn}* — 申请 {reference}，{state}"
    )


def my_certificates_header(lang: Lang) -> str:
    return _t(lang, "*Your certificates*", "*你的证书*")


def my_enrollments_header(lang: Lang) -> str:
    return _t(lang, "*Waiting for download*", "*待下载*")


def nothing_yet(lang: Lang) -> str:
    return _t(
        lang,
        "You have no certificates and no enrollment yet. RA staff create an enrollment for you "
        "first.",
        "你还没有证书，也没有证书申请。需要先由 RA 工作人员为你创建申请。",
    )


# -- issuance -----------------------------------------------------------------------------


def issued_dm(
    lang: Lang,
    *,
    cn: str,
    reference: str,
    authorization_code: str | None,
    url: str,
    expires_at: datetime,
    staff_user: str,
) -> str:
    if authorization_code is None:
        code_en = (
            "Your *authorization code* is not sent in Slack: your RA gives it to you separately "
            "(for example by phone or letter)."
        )
        code_zh = "*授权码* 不通过 Slack 发送，RA 会另行提供（例如电话或信件）。"
    else:
        code_en = f"*Authorization code:* `{authorization_code}` (keep it to yourself)"
        code_zh = f"*授权码：* `{authorization_code}`（请勿告诉他人）"
    return _t(
        lang,
        f"{mention(staff_user)} of the RA created a certificate for you (*{cn}*).\n"
        f"*Reference number:* `{reference}`\n{code_en}\n"
        f"*Download link:* {url}\n"
        f"The link works once and expires {when(expires_at)}.\n\n"
        "*What to do next:* open the link in any current browser, enter the reference number "
        "and the authorization code, choose where the certificate should go (this browser or a "
        "USB key) and press Download. If the link expires or is used up, press *Download my "
        "certificate* and I'll send a new one; the reference number and code stay the same.",
        f"RA 工作人员 {mention(staff_user)} 为你创建了证书申请（*{cn}*）。\n"
        f"*参考号：* `{reference}`\n{code_zh}\n"
        f"*下载链接：* {url}\n"
        f"链接只能使用一次，{when(expires_at)} 失效。\n\n"
        "*下一步：* 用任意新版浏览器打开链接，输入参考号和授权码，"
        "选择证书存放位置（本浏览器或 USB Key），"
        "然后点击“Download”。如果链接过期或已使用，点击“下载我的证书”，我会发新链接；参考号和授权码不变。",
    )


# -- RA staff -----------------------------------------------------------------------------


def ra_refused(lang: Lang) -> str:
    return _t(
        lang,
        "Only RA staff can use `/ra`. This attempt has been recorded. If you need a "
        "certificate, use `/cert help`.",
        "只有 RA 工作人员可以使用 `/ra`，本次尝试已被记录。如需证书，请使用 `/cert help`。",
    )


def ra_usage(lang: Lang) -> str:
    return _t(
        lang,
        "*RA commands*\n"
        '• `/ra issue @user cn="Name" ou="Unit" ou="RA institution" o="Org" [email=a@b.c] '
        "[profile=client]` — or `/ra issue` alone for a form\n"
        "• `/ra status REFERENCE` or `/ra status @user`\n"
        "• `/ra resend @user` — a fresh link for their waiting enrollment\n"
        "• `/ra unlock REFERENCE`\n"
        "• `/ra revoke SERIAL [reason]`\n"
        "• `/ra stats`",
        "*RA 命令*\n"
        '• `/ra issue @用户 cn="姓名" ou="部门" ou="RA 机构" o="组织" [email=a@b.c] '
        "[profile=client]` — 或只输入 `/ra issue` 打开表单\n"
        "• `/ra status 参考号` 或 `/ra status @用户`\n"
        "• `/ra resend @用户` — 为待下载的申请重新发送链接\n"
        "• `/ra unlock 参考号`\n"
        "• `/ra revoke 序列号 [原因]`\n"
        "• `/ra stats`",
    )


def ra_invalid(lang: Lang, problem: str) -> str:
    return _t(lang, f"I could not do that: {problem}", f"无法执行：{problem}")


def ra_issue_done(
    lang: Lang, *, reference: str, user: str, out_of_band_code: str | None, dm_sent: bool
) -> str:
    parts = [
        _t(
            lang,
            f"Enrollment *{reference}* created for {mention(user)}.",
            f"已为 {mention(user)} 创建申请 *{reference}*。",
        )
    ]
    if dm_sent:
        parts.append(
            _t(
                lang,
                "I sent them the link, the reference number"
                + (" and the authorization code." if out_of_band_code is None else "."),
                "已私信发送链接和参考号" + ("及授权码。" if out_of_band_code is None else "。"),
            )
        )
    if out_of_band_code is not None:
        parts.append(
            _t(
                lang,
                f"Authorization code for out-of-band delivery: `{out_of_band_code}` — give it "
                "to them by another channel (phone, letter); it is not sent in Slack.",
                f"线下交付的授权码：`{out_of_band_code}` — 请通过其他渠道（电话、信件）交给对方，"
                "它不会通过 Slack 发送。",
            )
        )
    return " ".join(parts)


def ra_dm_failed(lang: Lang, *, user: str, reason: str) -> str:
    return _t(
        lang,
        f"I could not send {mention(user)} a direct message ({reason}). Ask them to open "
        "certdesk in Slack and press *Download my certificate*, or use `/ra resend` later.",
        f"无法私信 {mention(user)}（{reason}）。请让对方在 Slack 中打开 certdesk 并点击"
        "“下载我的证书”，或稍后使用 `/ra resend`。",
    )


def ra_resend_done(lang: Lang, *, user: str, references: Sequence[str]) -> str:
    refs = ", ".join(references)
    return _t(
        lang,
        f"Sent {mention(user)} a fresh link for {refs}.",
        f"已向 {mention(user)} 发送 {refs} 的新链接。",
    )


def ra_resend_nothing(lang: Lang, *, user: str) -> str:
    return _t(
        lang,
        f"{mention(user)} has no enrollment waiting for download.",
        f"{mention(user)} 没有待下载的申请。",
    )


def resend_dm_intro(lang: Lang) -> str:
    return _t(
        lang, "RA staff asked me to send you a fresh link.", "RA 工作人员让我给你发送新链接。"
    )


def ra_unlock_done(lang: Lang, reference: str, *, was_locked: bool) -> str:
    if not was_locked:
        return _t(
            lang,
            f"Enrollment *{reference}* was not locked; its wrong-code count is reset.",
            f"申请 *{reference}* 并未锁定；错误次数已清零。",
        )
    return _t(
        lang,
        f"Enrollment *{reference}* is unlocked; its wrong-code count is reset.",
        f"申请 *{reference}* 已解锁，错误次数已清零。",
    )


def unlocked_dm(lang: Lang, reference: str) -> str:
    return _t(
        lang,
        f"RA staff unlocked your enrollment *{reference}*. You can try again; if your link has "
        "expired, press *Download my certificate*.",
        f"RA 工作人员已解锁你的申请 *{reference}*，可以重试；"
        "如果链接已过期，请点击“下载我的证书”。",
    )


def ra_revoke_done(lang: Lang, serial: str, reason: str) -> str:
    return _t(
        lang,
        f"Certificate `{serial}` is revoked ({reason}); the CRL is updated.",
        f"证书 `{serial}` 已吊销（{reason}），CRL 已更新。",
    )


def revoked_dm(lang: Lang, *, cn: str, serial: str) -> str:
    return _t(
        lang,
        f"RA staff revoked your certificate *{cn}* (serial `{serial}`); it no longer works. "
        "If you need a new one, press *Talk to RA staff*.",
        f"RA 工作人员已吊销你的证书 *{cn}*（序列号 `{serial}`），该证书已失效。"
        "如需新证书，请点击“联系 RA 工作人员”。",
    )


def ra_not_found(lang: Lang, what: str) -> str:
    return _t(lang, f"Nothing found for {what}.", f"没有找到 {what}。")


def ra_status_enrollment(lang: Lang, enrollment: EnrollmentView) -> str:
    cn, ous, o = enrollment.cn, enrollment.ous, enrollment.o
    subject = ", ".join([f"CN={cn}", *(f"OU={ou}" for ou in ous), *([f"O={o}"] if o else [])])
    holder = mention(enrollment.slack_user) if enrollment.slack_user else "—"
    state = status_word(lang, "locked" if enrollment.locked else enrollment.status)
    reference, failed_attempts = enrollment.reference_number, enrollment.failed_attempts
    created_at = enrollment.created_at
    return _t(
        lang,
        f"*Enrollment {reference}*: {state}\nSubject: `{subject}`\nHolder: {holder}\n"
        f"Wrong codes: {failed_attempts} · Created {when(created_at)}",
        f"*申请 {reference}*：{state}\n主题：`{subject}`\n持有人：{holder}\n"
        f"错误次数：{failed_attempts} · 创建于 {when(created_at)}",
    )


def ra_status_user_header(lang: Lang, user: str) -> str:
    return _t(lang, f"*{mention(user)}*", f"*{mention(user)}*")


def ra_stats(
    lang: Lang,
    *,
    pending: int,
    locked: int,
    issued: int,
    active: int,
    expiring: int,
    expiring_days: int,
    revoked: int,
    open_escalations: int,
    unanswered: int,
    mail_failed: int | None = None,
) -> str:
    mail_en = f"\nUndeliverable mails: {mail_failed}" if mail_failed is not None else ""
    mail_zh = f"\n无法投递的邮件：{mail_failed}" if mail_failed is not None else ""
    return _t(
        lang,
        f"*certdesk statistics*\n"
        f"Enrollments: {pending} waiting · {locked} locked · {issued} issued\n"
        f"Certificates: {active} active · {expiring} expiring within {expiring_days} days · "
        f"{revoked} revoked\n"
        f"Open escalations: {open_escalations} · Unanswered questions: {unanswered}{mail_en}",
        f"*certdesk 统计*\n"
        f"申请：{pending} 待下载 · {locked} 已锁定 · {issued} 已签发\n"
        f"证书：{active} 有效 · {expiring} 将在 {expiring_days} 天内到期 · {revoked} 已吊销\n"
        f"待处理的人工咨询：{open_escalations} · 未能回答的问题：{unanswered}{mail_zh}",
    )


def ra_issue_modal_title(lang: Lang) -> str:
    return _t(lang, "Issue a certificate", "签发证书")


def ra_issue_modal_submit(lang: Lang) -> str:
    return _t(lang, "Create", "创建")


def field_holder(lang: Lang) -> str:
    return _t(lang, "Holder (Slack user)", "持有人（Slack 用户）")


def field_cn(lang: Lang) -> str:
    return _t(lang, "Common name (CN)", "通用名称（CN）")


def field_ous(lang: Lang) -> str:
    return _t(
        lang,
        "Organizational units (OU), one per line, in order",
        "组织单位（OU），每行一个，按顺序",
    )


def field_o(lang: Lang) -> str:
    return _t(lang, "Organization (O)", "组织（O）")


def field_email(lang: Lang) -> str:
    return _t(lang, "E-mail", "电子邮件")


def field_profile(lang: Lang) -> str:
    return _t(lang, "Profile", "证书模板")


# -- escalation ---------------------------------------------------------------------------


def escalation_started(lang: Lang) -> str:
    return _t(
        lang,
        "I've passed your question to RA staff. Their answers appear here, and what you write "
        "here goes to them, until they mark it resolved.",
        "已把你的问题转给 RA 工作人员。他们的回复会显示在这里，你在这里发送的消息也会转给他们，"
        "直到他们标记为已解决。",
    )


def escalation_already_open(lang: Lang) -> str:
    return _t(
        lang,
        "You are already talking to RA staff: just write here and I pass it on.",
        "你已经在与 RA 工作人员沟通，直接在这里发消息即可，我会转达。",
    )


def escalation_unavailable(lang: Lang) -> str:
    return _t(
        lang,
        "I can't reach RA staff from here (no RA channel is configured). Please contact your "
        "RA directly.",
        "无法从这里联系 RA 工作人员（未配置 RA 频道），请直接联系你的 RA。",
    )


def escalation_failed(lang: Lang) -> str:
    return _t(
        lang,
        "I could not reach RA staff just now. Please try again in a few minutes.",
        "暂时无法联系 RA 工作人员，请几分钟后再试。",
    )


def escalation_ra_post(*, user: str, question: str) -> str:
    quoted = "\n".join(f"> {line}" for line in (question or "(no question given)").splitlines())
    return (
        f"{mention(user)} needs help / 需要帮助:\n{quoted or '> (no question given)'}\n"
        "Reply in this thread: I pass replies to them and theirs to here. "
        "Press *Resolved* when done. / 请在本帖回复；处理完毕后点击“已解决”。"
    )


def escalation_relay_to_user(lang: Lang, *, staff_user: str, text: str) -> str:
    return _t(
        lang,
        f"*RA staff* ({mention(staff_user)}): {text}",
        f"*RA 工作人员*（{mention(staff_user)}）：{text}",
    )


def escalation_relay_to_thread(*, user: str, text: str) -> str:
    return f"{mention(user)}: {text}"


def escalation_resolved_user(lang: Lang) -> str:
    return _t(
        lang,
        "RA staff marked your question as resolved. Ask me anything any time.",
        "RA 工作人员已将你的问题标记为已解决。有其他问题随时问我。",
    )


def escalation_resolved_thread(*, staff_user: str) -> str:
    return f"Resolved by {mention(staff_user)} / 已由 {mention(staff_user)} 解决."


def escalation_relay_failed(lang: Lang) -> str:
    return _t(
        lang,
        "I could not pass your message on to RA staff. Please try again in a moment.",
        "消息未能转给 RA 工作人员，请稍后再试。",
    )


# -- certificate files --------------------------------------------------------------------


def file_heading(lang: Lang, name: str, count: int) -> str:
    if count == 1:
        return _t(lang, f"*{name}* holds this certificate:", f"*{name}* 中的证书：")
    return _t(lang, f"*{name}* holds {count} certificates:", f"*{name}* 中有 {count} 张证书：")


def file_certificate(lang: Lang, certificate: CertificateInfo) -> str:
    cn, ous, o = certificate.common_name, certificate.organizational_units, certificate.organization
    not_after, days_left = certificate.not_after, certificate.days_left
    lines = [f"CN: `{cn or '—'}`"]
    for index, ou in enumerate(ous, start=1):
        note = _t(lang, " (RA institution)", "（RA 机构）") if index == 2 else ""
        lines.append(f"OU{index}: `{ou}`{note}")
    if not ous:
        lines.append("OU: `—`")
    lines.append(f"O: `{o or '—'}`")
    validity = (
        _t(
            lang,
            f"valid until {day(not_after)} ({days_left} days left)",
            f"有效期至 {day(not_after)}（还剩 {days_left} 天）",
        )
        if days_left > 0
        else _t(lang, f"expired on {day(not_after)}", f"已于 {day(not_after)} 过期")
    )
    issuer, serial = certificate.issuer, certificate.serial_hex
    lines.append(_t(lang, f"Issuer: {issuer}", f"颁发者：{issuer}"))
    lines.append(_t(lang, f"Serial: `{serial}` · {validity}", f"序列号：`{serial}` · {validity}"))
    return "\n".join(lines)


def file_private_key_warning(lang: Lang) -> str:
    return _t(
        lang,
        ":warning: This file contains a *private key*. Never share it in chat: please delete "
        "the message now. To check a certificate, share only the certificate (.cer/.crt/.pem).",
        ":warning: 此文件包含 *私钥*，切勿在聊天中发送，请立即删除该消息。"
        "如需查看证书，只发送证书文件（.cer/.crt/.pem）即可。",
    )


def file_not_certificate(lang: Lang, name: str) -> str:
    return _t(
        lang,
        f"*{name}* is not a certificate I can read. Share a .cer, .crt, .pem, .der or .p7b file.",
        f"*{name}* 不是可识别的证书文件，请发送 .cer、.crt、.pem、.der 或 .p7b 文件。",
    )


def file_too_large(lang: Lang, name: str) -> str:
    return _t(
        lang,
        f"*{name}* is too large to be a certificate file.",
        f"*{name}* 太大了，不像是证书文件。",
    )


def file_unreadable(lang: Lang, name: str) -> str:
    return _t(
        lang,
        f"I could not fetch *{name}* from Slack. Please share it again.",
        f"无法从 Slack 获取 *{name}*，请重新发送。",
    )


def inspector_unavailable(lang: Lang) -> str:
    return _t(
        lang,
        "Reading certificate files is not available on this certdesk yet.",
        "此 certdesk 暂不支持读取证书文件。",
    )


# -- local chat ---------------------------------------------------------------------------


def local_chat_no_identity(lang: Lang) -> str:
    return _t(
        lang,
        "This local chat page doesn't know who you are, so it can't hand out download or renewal "
        "links, or show your certificates. Use the link and codes your RA gave you, or ask the "
        "certdesk bot in Slack once your RA has connected it.",
        "本地聊天页面无法识别你的身份，因此不能发放下载或更新链接，也不能显示你的证书。"
        "请使用 RA 提供的链接和授权码，或在 RA 接入 Slack 后询问 Slack 中的 certdesk 机器人。",
    )


def local_chat_no_staff(lang: Lang) -> str:
    return _t(
        lang,
        "RA staff can't be reached from this local chat page. Please contact your RA directly.",
        "无法通过本地聊天页面联系 RA 工作人员，请直接联系你的 RA。",
    )


def local_chat_welcome(lang: Lang) -> str:
    return _t(
        lang,
        "Hi! I'm *certdesk*, the certificate helpdesk. Ask me anything about downloading, "
        "renewing or reading your certificate, in English or Chinese. To download or renew, "
        "use the link and codes your RA sent you. Or pick a question:",
        "你好！我是证书服务台 *certdesk*。关于证书下载、更新或查看证书信息的问题都可以问我"
        "（中文或英文）。下载或更新证书请使用 RA 发给你的链接和授权码。或者选择一个问题：",
    )


# The local chat page's own texts (bot/chat/static/index.html), by placeholder.
LOCAL_CHAT_PAGE: dict[str, dict[Lang, str]] = {
    "title": {"en": "certdesk — certificate helpdesk", "zh": "certdesk — 证书服务台"},
    "intro": {
        "en": "Ask about downloading, renewing or reading your certificate, in English or Chinese.",
        "zh": "关于证书下载、更新或查看证书信息的问题都可以问我，中文或英文均可。",
    },
    "conversation": {"en": "Conversation", "zh": "对话"},
    "question": {"en": "Your question", "zh": "你的问题"},
    "placeholder": {"en": "How do I find the CN of my certificate?", "zh": "如何查看证书的 CN？"},
    "send": {"en": "Send", "zh": "发送"},
    "noscript": {
        "en": "This page needs JavaScript. You can also ask from a terminal:",
        "zh": "此页面需要 JavaScript。也可以在终端中提问：",
    },
    "unreachable": {
        "en": "certdesk cannot be reached. Is it still running?",
        "zh": "无法连接 certdesk，它是否仍在运行？",
    },
    "failed": {"en": "Something went wrong.", "zh": "出现问题。"},
}


# -- App Home -----------------------------------------------------------------------------


def home_title(lang: Lang) -> str:
    return _t(lang, "certdesk — your certificates", "certdesk — 我的证书")


def home_intro(lang: Lang) -> str:
    return _t(
        lang,
        "Write to me in the *Messages* tab with any question about your certificate.",
        "有任何证书问题，请在“消息”标签页中问我。",
    )


def home_no_certificates(lang: Lang) -> str:
    return _t(lang, "You have no certificates yet.", "你还没有证书。")


def home_staff_header(lang: Lang) -> str:
    return _t(lang, "RA staff", "RA 工作人员")


def home_pending_header(lang: Lang, count: int) -> str:
    return _t(lang, f"*Pending enrollments* ({count})", f"*待下载的申请*（{count}）")


def home_locked_header(lang: Lang, count: int) -> str:
    return _t(lang, f"*Locked enrollments* ({count})", f"*已锁定的申请*（{count}）")


def home_escalations_header(lang: Lang, count: int) -> str:
    return _t(lang, f"*Open escalations* ({count})", f"*待处理的人工咨询*（{count}）")


def home_unanswered_header(lang: Lang, count: int) -> str:
    return _t(lang, f"*Questions I could not answer* ({count})", f"*未能回答的问题*（{count}）")


def home_none(lang: Lang) -> str:
    return _t(lang, "_none_", "_无_")


def home_staff_enrollment_line(
    lang: Lang, *, reference: str, cn: str, user: str | None, created_at: datetime
) -> str:
    holder = mention(user) if user else "—"
    return _t(
        lang,
        f"• `{reference}` {cn} · {holder} · since {day(created_at)}",
        f"• `{reference}` {cn} · {holder} · 自 {day(created_at)}",
    )


def home_escalation_line(lang: Lang, *, user: str, question: str, created_at: datetime) -> str:
    short = question if len(question) <= 120 else question[:117] + "…"
    return f"• {mention(user)} · {day(created_at)} · {short or '—'}"


def home_unanswered_line(
    lang: Lang, *, question: str, count: int, last_asked: datetime, near_miss: str | None
) -> str:
    short = question if len(question) <= 120 else question[:117] + "…"
    near = near_miss or _t(lang, "none", "无")
    return _t(
        lang,
        f"*{count}×* {short}\n_last asked {day(last_asked)} · nearest entry: {near}_",
        f"*{count} 次* {short}\n_最近 {day(last_asked)} · 最接近的条目：{near}_",
    )


def label_teach(lang: Lang) -> str:
    return _t(lang, "Teach…", "教给条目…")


def teach_modal_title(lang: Lang) -> str:
    return _t(lang, "Teach a question", "教会一个问题")


def teach_modal_submit(lang: Lang) -> str:
    return _t(lang, "Teach", "确定")


def teach_modal_question(lang: Lang, question: str) -> str:
    return _t(lang, f"Holders asked: *{question}*", f"持有人问：*{question}*")


def teach_modal_entry(lang: Lang) -> str:
    return _t(lang, "Entry that should answer it", "应回答它的条目")


def teach_gone(lang: Lang) -> str:
    return _t(
        lang,
        "That question was already reviewed; open App Home again for the current list.",
        "这个问题已经处理过了；重新打开 App 主页查看最新列表。",
    )


def taught(lang: Lang, *, question: str, entry_id: str, answered_by: str | None) -> str:
    if answered_by == entry_id:
        return _t(
            lang,
            f"Taught: “{question}” is now answered by *{entry_id}*.",
            f"已教会：“{question}”现在由 *{entry_id}* 回答。",
        )
    now = answered_by or _t(lang, "no entry with confidence", "没有足够把握的条目")
    return _t(
        lang,
        f"Added “{question}” to *{entry_id}*, but it is still answered by {now}: add more "
        "examples like it (certdesk faq check shows collisions).",
        f"已把“{question}”加入 *{entry_id}*，但它仍由 {now} 回答：请补充类似的示例"
        "（certdesk faq check 会列出冲突）。",
    )


# -- Slack API trouble --------------------------------------------------------------------


def slack_error(lang: Lang, error: str) -> str:
    """An explanation of a Slack Web API error code that helps the person who triggered it."""
    known = {
        "not_in_channel": (
            "I'm not a member of that channel: invite me with `/invite @certdesk`.",
            "我不在该频道中，请用 `/invite @certdesk` 邀请我。",
        ),
        "channel_not_found": (
            "that channel does not exist or I can't see it (check CERTDESK_RA_CHANNEL).",
            "频道不存在或我无权查看（请检查 CERTDESK_RA_CHANNEL）。",
        ),
        "user_not_found": ("that Slack user does not exist.", "该 Slack 用户不存在。"),
        "cannot_dm_bot": ("that user is a bot.", "该用户是机器人。"),
        "user_disabled": ("that user's account is deactivated.", "该用户账号已停用。"),
        "ratelimited": (
            "Slack is rate-limiting me; try again in a minute.",
            "Slack 限流，请一分钟后再试。",
        ),
        "missing_scope": (
            "the Slack app lacks a permission; reinstall it from manifest.yml.",
            "Slack 应用缺少权限，请按 manifest.yml 重新安装。",
        ),
    }
    en, zh = known.get(error, (f"Slack answered `{error}`.", f"Slack 返回错误 `{error}`。"))
    return _t(lang, en, zh)
