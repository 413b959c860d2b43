"""Certificate files shared in a DM: fetched with the bot token from Slack's file host only,
read, and answered with CN, OUs and O."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bot.dialog import FileFindings
from common.time import utcnow
from faq.inspector import CertificateInfo
from tests.bot.conftest import HOLDER, SlackHarness
from tests.support.fake_slack import dm


class RecordingReader:
    """Stands in for the inspector: remembers the bytes, finds one certificate."""

    def __init__(self) -> None:
        self.seen: list[bytes] = []

    def __call__(self, data: bytes) -> FileFindings:
        self.seen.append(data)
        if not data.startswith(b"-----BEGIN CERTIFICATE"):
            return FileFindings()
        return FileFindings(
            certificates=(
                CertificateInfo(
                    common_name="Test Holder 01",
                    organizational_units=("Branch 01", "RA Shanghai"),
                    organization="Acme Bank",
                    subject="CN=Test Holder 01,OU=RA Shanghai,OU=Branch 01,O=Acme Bank",
                    issuer="CN=certdesk Issuing CA",
                    serial_hex="0a1b2c",
                    not_before=utcnow() - timedelta(days=265),
                    not_after=utcnow() + timedelta(days=100),
                    days_left=100,
                    key_type="EC",
                    key_size=256,
                    curve="secp256r1",
                    sha256_fingerprint="00" * 32,
                ),
            )
        )


def shared(file: dict[str, Any], text: str = "") -> dict[str, Any]:
    return dm(HOLDER, text, subtype="file_share", files=[file])


PEM = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


async def test_shared_certificate_is_read_and_answered(slack: SlackHarness) -> None:
    reader = RecordingReader()
    slack.desk.read_certificate_file = reader
    await slack.send.event(shared(slack.fake.add_file("F1", "me.cer", PEM)))
    await slack.idle()
    assert reader.seen == [PEM]
    [download] = slack.fake.calls("file_download")
    assert download.headers["authorization"] == "Bearer xoxb-test"
    [answer] = slack.fake.messages_to(f"D{HOLDER}")
    assert "CN: `Test Holder 01`" in answer.text
    assert "OU2: `RA Shanghai` (RA institution)" in answer.text
    assert "O: `Acme Bank`" in answer.text


async def test_file_on_a_foreign_host_is_not_fetched(slack: SlackHarness) -> None:
    reader = RecordingReader()
    slack.desk.read_certificate_file = reader
    file = slack.fake.add_file("F2", "me.cer", PEM)
    slack.fake._files["F2"]["url_private_download"] = "http://evil.example/steal"
    await slack.send.event(shared(file))
    await slack.idle()
    assert reader.seen == []
    [answer] = slack.fake.messages_to(f"D{HOLDER}")
    assert "could not fetch" in answer.text


async def test_large_file_is_not_fetched(slack: SlackHarness) -> None:
    slack.desk.read_certificate_file = RecordingReader()
    await slack.send.event(shared(slack.fake.add_file("F3", "big.bin", b"x" * 300_000)))
    await slack.idle()
    assert slack.fake.calls("file_download") == []
    assert "too large" in slack.fake.messages_to(f"D{HOLDER}")[0].text


async def test_not_a_certificate(slack: SlackHarness) -> None:
    slack.desk.read_certificate_file = RecordingReader()
    await slack.send.event(shared(slack.fake.add_file("F4", "notes.txt", b"hello")))
    await slack.idle()
    assert "not a certificate" in slack.fake.messages_to(f"D{HOLDER}")[0].text


async def test_unknown_file_id(slack: SlackHarness) -> None:
    slack.desk.read_certificate_file = RecordingReader()
    await slack.send.event(shared({"id": "FNOPE", "name": "gone.cer"}))
    await slack.idle()
    assert "could not fetch *gone.cer*" in slack.fake.messages_to(f"D{HOLDER}")[0].text


async def test_five_megabyte_file_arriving_in_pieces_is_too_large(slack: SlackHarness) -> None:
    """Finding 1: a 5 MB download (chunked, files.info silent on its size) is "too large",
    not cut at the first read and called "not a certificate"."""
    reader = RecordingReader()
    slack.desk.read_certificate_file = reader
    big = slack.fake.add_file("F5", "big.cer", b"x" * 5_000_000, size=0, streamed=True)
    await slack.send.event(shared(big))
    await slack.idle()
    assert reader.seen == []
    [answer] = slack.fake.messages_to(f"D{HOLDER}")
    assert "too large" in answer.text


async def test_redirected_download_is_not_followed(slack: SlackHarness) -> None:
    """Finding 11: the bot token is not carried along a redirect; the holder hears that the
    file could not be fetched."""
    reader = RecordingReader()
    slack.desk.read_certificate_file = reader
    elsewhere = slack.fake.add_file("F7", "other.cer", PEM)
    target = f"{slack.fake.url}/files/{elsewhere['id']}/download/other.cer"
    await slack.send.event(shared(slack.fake.add_file("F6", "me.cer", PEM, redirect_to=target)))
    await slack.idle()
    assert reader.seen == []
    assert [c.params["file"] for c in slack.fake.calls("file_download")] == ["F6"]
    [answer] = slack.fake.messages_to(f"D{HOLDER}")
    assert "could not fetch *me.cer*" in answer.text
