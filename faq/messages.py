"""Every user-facing text of the knowledge room, in English and Chinese, in one place."""

from __future__ import annotations

from collections.abc import Sequence

from common.language import Lang, Texts, translate
from faq.errors import FaqError, NotACertificate, PasswordRequired, WrongPassword


def did_you_mean(titles: Sequence[str], language: Lang) -> str:
    if language == "zh":
        lines = "\n".join(f"• {title}" for title in titles)
        return f"我不太确定你问的是哪一个。你是想问：\n{lines}"
    lines = "\n".join(f"• {title}" for title in titles)
    return f"I'm not sure which one you mean. Did you mean:\n{lines}"


def not_confident(language: Lang) -> str:
    if language == "zh":
        return "抱歉，这个问题我还不会回答。我可以把你的问题转给 RA 工作人员。"
    return "Sorry, I don't know the answer to that yet. I can pass your question on to RA staff."


def error_message(error: FaqError, language: Lang) -> str:
    """``error``'s message in ``language`` (English is the error's own message)."""
    if language == "en":
        return error.message
    if isinstance(error, NotACertificate):
        return (
            f"这不是证书文件（{_zh_detail(error.detail)}）。"
            "请发送 .cer、.crt、.pem、.der、.p7b 或 .p12 文件。"
        )
    if isinstance(error, PasswordRequired):
        return "这是有密码保护的 PKCS#12（.p12/.pfx）文件：请提供密码后再查看。"
    if isinstance(error, WrongPassword):
        return "密码无法打开这个 PKCS#12（.p12/.pfx）文件。请核对后重试。"
    return error.message


_ZH_DETAILS = {
    "the file is empty": "文件是空的",
    "it is not PEM, DER, PKCS#7 or PKCS#12 certificate data": (
        "不是 PEM、DER、PKCS#7 或 PKCS#12 证书数据"
    ),
    "the PKCS#7 data is damaged": "PKCS#7 数据已损坏",
    "a PEM certificate block is damaged": "PEM 证书内容已损坏",
    "it holds a private key; the certificate is a separate file": "这是私钥文件，证书是另一个文件",
    "it is a certificate request (CSR), not the certificate the CA issued": (
        "这是证书请求（CSR），不是 CA 签发的证书"
    ),
    "it is a certificate revocation list": "这是证书吊销列表（CRL）",
    "the PKCS#12 file holds no certificate": "PKCS#12 文件中没有证书",
    "it holds no certificate": "文件中没有证书",
}


def _zh_detail(detail: str) -> str:
    return _ZH_DETAILS.get(detail, detail)


# Labels of the inspector's text rendering.
_LABELS: Texts = {
    "certificate": {"en": "Certificate {index} of {total}", "zh": "证书 {index} / {total}"},
    "format": {"en": "File format", "zh": "文件格式"},
    "private_key": {
        "en": "The file also holds a private key: keep it secret.",
        "zh": "该文件还包含私钥：请妥善保管，不要外传。",
    },
    "cn": {"en": "CN (name)", "zh": "CN（姓名）"},
    "ou": {"en": "OU {index}", "zh": "OU {index}"},
    "ou_ra_institution": {"en": "OU {index} (RA institution)", "zh": "OU {index}（RA 机构）"},
    "o": {"en": "O (organisation)", "zh": "O（组织）"},
    "none": {"en": "(none)", "zh": "（无）"},
    "friendly_name": {"en": "Friendly name", "zh": "友好名称"},
    "issuer": {"en": "Issuer", "zh": "颁发者"},
    "serial": {"en": "Serial (hex)", "zh": "序列号（十六进制）"},
    "not_before": {"en": "Valid from", "zh": "生效时间"},
    "not_after": {"en": "Valid until", "zh": "到期时间"},
    "days_left": {"en": "{days} days left", "zh": "剩余 {days} 天"},
    "expired": {"en": "expired {days} days ago", "zh": "已过期 {days} 天"},
    "key": {"en": "Key", "zh": "密钥"},
    "sha256": {"en": "SHA-256 fingerprint", "zh": "SHA-256 指纹"},
}


def label(key: str, language: Lang, **values: object) -> str:
    return translate(_LABELS, key, language, **values)
