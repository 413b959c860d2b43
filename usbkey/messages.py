"""What the USB-key client says to the holder, in English and Chinese (a message table).

``certdesk token`` and ``certdesk-usbkey`` print these; the language follows ``--lang`` or the
system locale. Errors the client raises on purpose are translated by their ``code`` with the
values they carry (``TokenError.params``); the server's refusals come already in the language
asked for (the client sends it as Accept-Language).
"""

from __future__ import annotations

from common.language import Texts

TEXTS: Texts = {
    # -- progress (standard error; --quiet silences it) -------------------------------------
    "step.generating": {
        "en": "generating the key pair on the token (this can take a minute)…",
        "zh": "正在 USB 密钥上生成密钥对（可能需要一分钟）…",
    },
    "step.sending": {"en": "sending the request…", "zh": "正在发送请求…"},
    "step.storing": {"en": "storing the certificate…", "zh": "正在保存证书…"},
    # -- prompts ------------------------------------------------------------------------------
    "prompt.pin": {"en": "PIN of USB key {token!r}: ", "zh": "USB 密钥 {token!r} 的 PIN："},
    "prompt.reference": {"en": "Reference number: ", "zh": "参考号："},
    "prompt.code": {"en": "Authorization code: ", "zh": "授权码："},
    "what.pin": {"en": "PIN", "zh": "PIN"},
    "what.reference": {"en": "reference number", "zh": "参考号"},
    "what.code": {"en": "authorization code", "zh": "授权码"},
    "what.confirmation": {"en": "confirmation", "zh": "确认"},
    "env.empty": {
        "en": "{what} (the environment variable {var} is empty)",
        "zh": "{what}（环境变量 {var} 为空）",
    },
    # -- results ------------------------------------------------------------------------------
    "stored.enrolled": {
        "en": "Certificate stored on the USB key {token!r}.",
        "zh": "证书已保存到 USB 密钥 {token!r}。",
    },
    "stored.renewed": {
        "en": "Certificate renewed on the USB key {token!r}.",
        "zh": "USB 密钥 {token!r} 上的证书已更新。",
    },
    "field.label": {"en": "Label", "zh": "标签"},
    "field.subject": {"en": "Subject", "zh": "主题"},
    "field.serial": {"en": "Serial", "zh": "序列号"},
    "field.valid_until": {"en": "Valid until", "zh": "有效期至"},
    "field.key_id": {"en": "Key ID", "zh": "密钥 ID"},
    "field.replaces": {"en": "Replaces", "zh": "取代"},
    "valid_until": {
        "en": "{when} UTC ({days} days)",
        "zh": "{when} UTC（{days} 天）",
    },
    "replaced.deleted": {
        "en": "{serial} (its certificate and key were deleted from the USB key; the old "
        "certificate is superseded)",
        "zh": "{serial}（旧证书及其密钥已从 USB 密钥上删除；旧证书已被取代）",
    },
    "replaced.kept": {
        "en": "{serial} (kept on the USB key as {label!r} because of --keep-old; remove it with "
        "`token clean`)",
        "zh": "{serial}（因 --keep-old 以 {label!r} 保留在 USB 密钥上；可用 `token clean` 删除）",
    },
    # -- list ---------------------------------------------------------------------------------
    "list.none": {
        "en": "No initialised USB key found through {module}.",
        "zh": "通过 {module} 未找到已初始化的 USB 密钥。",
    },
    "list.token": {
        "en": "Slot {slot}: {label!r} ({manufacturer} {model}, serial {serial})",
        "zh": "插槽 {slot}：{label!r}（{manufacturer} {model}，序列号 {serial}）",
    },
    "list.empty": {"en": "  no certificates", "zh": "  没有证书"},
    "list.certificate": {
        "en": "  {mark} {label!r}: CN={cn}, serial {serial}, valid until {when} UTC ({state})",
        "zh": "  {mark} {label!r}：CN={cn}，序列号 {serial}，有效期至 {when} UTC（{state}）",
    },
    "list.legend": {
        "en": "  (* = the current certificate, the one `renew` renews)",
        "zh": "  （* = 当前证书，即 `renew` 要更新的证书）",
    },
    "state.current": {"en": "current, {days} days left", "zh": "当前，剩余 {days} 天"},
    "state.superseded": {"en": "superseded, {days} days left", "zh": "已被取代，剩余 {days} 天"},
    "state.expired": {"en": "expired", "zh": "已过期"},
    "state.authority": {"en": "CA, {days} days left", "zh": "CA，剩余 {days} 天"},
    # -- clean --------------------------------------------------------------------------------
    "clean.nothing": {
        "en": "Nothing to remove on the USB key {token!r}: no expired or superseded certificate.",
        "zh": "USB 密钥 {token!r} 上没有需要删除的内容：没有已过期或已被取代的证书。",
    },
    "clean.candidate": {
        "en": "  {label!r}: CN={cn}, serial {serial}, valid until {when} UTC ({state})",
        "zh": "  {label!r}：CN={cn}，序列号 {serial}，有效期至 {when} UTC（{state}）",
    },
    "clean.question": {
        "en": "Delete these {count} certificate(s) and their keys from {token!r}? [y/N] ",
        "zh": "要从 {token!r} 删除这 {count} 个证书及其密钥吗？[y/N] ",
    },
    "clean.kept": {"en": "Nothing was deleted.", "zh": "未删除任何内容。"},
    "clean.done": {
        "en": "Deleted {count} certificate(s) and their keys from the USB key {token!r}.",
        "zh": "已从 USB 密钥 {token!r} 删除 {count} 个证书及其密钥。",
    },
    # -- failures -----------------------------------------------------------------------------
    "pending": {
        "en": "",
        "zh": "请求可能已到达服务器，因此新的密钥对保留在 USB 密钥上"
        "（标签 {label!r}，ID {key_id}），以防已为它签发了证书。"
        "重试前请在 Slack 中向 certdesk 机器人查询您的证书。",
    },
    "failed": {"en": "{prog}: {message}", "zh": "{prog}：{message}"},
    "refused": {
        "en": "the server refused ({code}): {message}",
        "zh": "服务器拒绝了请求（{code}）：{message}",
    },
}

ERRORS: Texts = {
    "token_module_unusable": {
        "zh": "{module} 不能用作 PKCS#11 模块：{reason}。请用 --module 指定与您的 USB 密钥型号"
        "对应的模块（安装厂商驱动后即在磁盘上）；选错其他型号的模块是最常见的错误。"
        "已知型号及其模块：\n{known}",
    },
    "token_absent": {
        "zh": "通过 {module} 未找到已初始化的 USB 密钥。请插入密钥（稍等片刻），确认 --module "
        "是该型号的模块，然后重试。已知型号及其模块：\n{known}",
    },
    "token_not_found": {
        "zh": "没有标签为 {label!r} 的 USB 密钥。当前的密钥：{present}。请检查拼写，"
        "或运行 `token list --module …`。",
    },
    "token_ambiguous": {
        "zh": "插入了多个 USB 密钥（{present}）。请用 --token-label 选择一个，或拔下其他密钥。",
    },
    "pin_incorrect": {
        "zh": "USB 密钥的 PIN 不正确。密钥上没有任何改动。重试前请检查大写锁定和键盘布局："
        "多次输错 PIN 后密钥会自行锁定。",
    },
    "pin_locked": {
        "zh": "输错次数过多，USB 密钥的 PIN 已被锁定。只有密钥管理员（持有 SO PIN）才能解锁或"
        "重置：请联系 IT 或 RA 工作人员。密钥上没有任何改动，您的链接仍然有效。",
    },
    "input_missing": {
        "zh": "未提供{what}，且没有可以询问的终端。请用 {option} 提供，"
        "或在终端中运行该命令以便询问。",
    },
    "token_failed": {
        "zh": "USB 密钥拒绝执行操作（{action}）：{name}{detail}。请确认密钥仍插着，且 --module "
        "属于它的型号；如果一直失败，请把这条消息发给 RA 工作人员。",
    },
    "token_no_certificate": {
        "zh": "USB 密钥 {token!r} 上没有带私钥的有效证书{detail}，因此无法就地更新。"
        "过期的证书不能这样更新：请在 Slack 中询问 certdesk 机器人（“更新”）或联系 RA 工作人员。",
    },
    "token_several_certificates": {
        "zh": "USB 密钥上有多个可更新的证书（{listed}）。请用 --label 选择一个。",
    },
    "link_malformed": {
        "zh": "{link!r} 不是 certdesk 下载链接。请从消息中复制完整链接，"
        "形如 https://certdesk.example.com/enroll/…",
    },
    "server_unreachable": {"zh": "{url} 上的 certdesk 没有响应：{reason}。"},
}
