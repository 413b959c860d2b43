"""Plain-text rendering of an inspection, for terminals and chat messages."""

from __future__ import annotations

from datetime import datetime

from common.language import Lang
from faq.inspector import CertificateInfo, ContainerFormat, Inspection
from faq.messages import label

_FORMAT_NAMES = {
    ContainerFormat.PEM: "PEM",
    ContainerFormat.DER: "DER",
    ContainerFormat.PKCS7: "PKCS#7",
    ContainerFormat.PKCS12: "PKCS#12",
}


def render_inspection(inspection: Inspection, *, language: Lang = "en") -> str:
    """Every certificate as aligned ``label: value`` lines; the second OU marked RA institution."""
    total = len(inspection.certificates)
    blocks = [f"{label('format', language)}: {_FORMAT_NAMES[inspection.format]}"]
    if inspection.has_private_key:
        blocks.append(label("private_key", language))
    for index, certificate in enumerate(inspection.certificates, start=1):
        heading = label("certificate", language, index=index, total=total)
        blocks.append(f"{heading}\n{_render_certificate(certificate, language)}")
    return "\n\n".join(blocks)


def _render_certificate(info: CertificateInfo, language: Lang) -> str:
    none = label("none", language)
    rows: list[tuple[str, str]] = [(label("cn", language), info.common_name or none)]
    if not info.organizational_units:
        rows.append((label("ou", language, index="").strip(), none))
    for index, unit in enumerate(info.organizational_units, start=1):
        key = "ou_ra_institution" if index == 2 else "ou"
        rows.append((label(key, language, index=index), unit))
    rows.append((label("o", language), info.organization or none))
    if info.friendly_name is not None:
        rows.append((label("friendly_name", language), info.friendly_name))
    if info.expired:
        remaining = label("expired", language, days=-info.days_left)
    else:
        remaining = label("days_left", language, days=info.days_left)
    rows += [
        (label("issuer", language), info.issuer),
        (label("serial", language), info.serial_hex),
        (label("not_before", language), _utc(info.not_before)),
        (label("not_after", language), f"{_utc(info.not_after)} ({remaining})"),
        (label("key", language), _key(info)),
        (label("sha256", language), info.sha256_fingerprint),
    ]
    width = max(_display_width(name) for name, _ in rows)
    return "\n".join(
        f"  {name}{' ' * (width - _display_width(name))}  {value}" for name, value in rows
    )


def _utc(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _key(info: CertificateInfo) -> str:
    parts = [info.key_type]
    if info.key_size is not None and info.key_type in {"RSA", "DSA", "EC"}:
        parts.append(str(info.key_size))
    if info.curve is not None:
        parts.append(f"({info.curve})")
    return " ".join(parts)


def _display_width(value: str) -> int:
    """Terminal columns: CJK characters take two."""
    return sum(
        2 if "\u2e80" <= char <= "\u9fff" or "\uff00" <= char <= "\uffef" else 1 for char in value
    )
