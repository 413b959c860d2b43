"""The platform-neutral dialog: answers, buttons and who may get which link."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot import dialog
from bot.dialog import Act, FileFindings, GiveLink, GiveRenewalLink, Reply
from faq.inspector import CertificateInfo
from tests.bot.conftest import NOW, FakeKnowledge, certificate, enrollment


def acts(reply: Reply | object) -> list[Act]:
    assert isinstance(reply, Reply)
    return [b.act for b in reply.buttons]


@pytest.mark.parametrize("text", ["hi", "Hello!", "help", "你好", "帮助", "？"])
def test_is_greeting_recognises_menu_words(text: str) -> None:
    assert dialog.is_greeting(text)


def test_is_greeting_ignores_questions() -> None:
    assert not dialog.is_greeting("help me renew my certificate")


@pytest.mark.parametrize(
    ("text", "act"),
    [("Renew", Act.RENEW), ("renew!", Act.RENEW), ("续期", Act.RENEW), ("下载", Act.DOWNLOAD)],
)
def test_menu_word_acts_like_its_button(text: str, act: Act) -> None:
    assert dialog.menu_word(text) is act


def test_menu_word_ignores_sentences() -> None:
    assert dialog.menu_word("how do I renew my certificate") is None


def test_welcome_offers_the_four_menu_buttons() -> None:
    assert acts(dialog.welcome("en")) == [
        Act.DOWNLOAD,
        Act.RENEW,
        Act.MY_CERTIFICATES,
        Act.TALK_TO_RA,
    ]


def test_answer_confident_offers_next_step_and_feedback() -> None:
    kb = FakeKnowledge()
    reply = dialog.answer("how do I renew", kb.ask("how do I renew"), "en")
    assert reply.text.startswith("Press Renew.")
    assert acts(reply) == [Act.RENEW, Act.HELPFUL, Act.NOT_HELPFUL]
    assert reply.buttons[1].value == "renewal"
    assert reply.buttons[2].value == "how do I renew"


def test_answer_inspect_action_adds_file_hint() -> None:
    kb = FakeKnowledge()
    reply = dialog.answer("what is my cn", kb.ask("what is my cn"), "en")
    assert "share the certificate file" in reply.text
    assert acts(reply) == [Act.HELPFUL, Act.NOT_HELPFUL]


def test_answer_not_sure_offers_suggestions_and_a_human() -> None:
    kb = FakeKnowledge()
    reply = dialog.answer("certificate thing", kb.ask("certificate thing"), "en")
    assert acts(reply) == [Act.SUGGESTION, Act.TALK_TO_RA]
    assert reply.buttons[0].value == "find-cn-ou-o"
    assert reply.buttons[1].value == "certificate thing"


def test_answer_not_confident_offers_ra_staff_with_the_question() -> None:
    kb = FakeKnowledge()
    reply = dialog.answer("weather in Beijing", kb.ask("weather in Beijing"), "en")
    assert acts(reply) == [Act.TALK_TO_RA]
    assert reply.buttons[0].value == "weather in Beijing"
    assert "RA staff" in reply.text


def test_answer_long_question_fits_in_a_button_value() -> None:
    question = "x" * 5000
    reply = dialog.answer(question, FakeKnowledge().ask(question), "en")
    assert len(reply.buttons[0].value) == dialog.BUTTON_VALUE_LIMIT


def test_entry_answer_in_chinese() -> None:
    entry = FakeKnowledge().entries["renewal"]
    reply = dialog.entry_answer(entry, "zh")
    assert reply.text == "点击更新证书。"
    assert acts(reply) == [Act.RENEW, Act.HELPFUL, Act.NOT_HELPFUL]


def test_entry_answer_unknown_offers_human() -> None:
    assert acts(dialog.entry_answer(None, "en")) == [Act.TALK_TO_RA]


def test_feedback_not_helpful_offers_human_with_question() -> None:
    reply = dialog.feedback(False, "my question", "en")
    assert acts(reply) == [Act.TALK_TO_RA]
    assert reply.buttons[0].value == "my question"
    assert acts(dialog.feedback(True, "q", "en")) == []


def test_download_single_pending_gives_link() -> None:
    assert dialog.download(
        [enrollment()], user="U2", has_certificates=False, lang="en"
    ) == GiveLink("1234567890")


def test_download_nothing_pending_without_certificates_offers_human() -> None:
    reply = dialog.download([], user="U2", has_certificates=False, lang="en")
    assert acts(reply) == [Act.TALK_TO_RA]


def test_download_nothing_pending_with_certificates_offers_renewal() -> None:
    reply = dialog.download([], user="U2", has_certificates=True, lang="en")
    assert acts(reply) == [Act.RENEW, Act.MY_CERTIFICATES]


def test_download_several_pending_lets_user_choose() -> None:
    reply = dialog.download(
        [enrollment("1111111111"), enrollment("2222222222")],
        user="U2",
        has_certificates=False,
        lang="en",
    )
    assert isinstance(reply, Reply)
    assert [(b.act, b.value) for b in reply.buttons] == [
        (Act.DOWNLOAD_ENROLLMENT, "1111111111"),
        (Act.DOWNLOAD_ENROLLMENT, "2222222222"),
    ]


def test_download_locked_enrollment_sends_to_ra_staff() -> None:
    reply = dialog.download([enrollment(locked=True)], user="U2", has_certificates=False, lang="en")
    assert isinstance(reply, Reply)
    assert "locked" in reply.text
    assert acts(reply) == [Act.TALK_TO_RA]


@pytest.mark.parametrize("user", ["U3", ""])
def test_download_enrollment_of_someone_else_gives_no_link(user: str) -> None:
    reply = dialog.download_enrollment(enrollment(user="U2"), user=user, lang="en")
    assert isinstance(reply, Reply)
    assert "not yours" in reply.text


def test_download_enrollment_unknown_gives_no_link() -> None:
    assert isinstance(dialog.download_enrollment(None, user="U2", lang="en"), Reply)


def test_download_enrollment_already_issued_suggests_renewal() -> None:
    reply = dialog.download_enrollment(enrollment(status="issued"), user="U2", lang="en")
    assert acts(reply) == [Act.RENEW]


def test_download_link_names_both_destinations() -> None:
    reply = dialog.download_link(
        reference="1234567890", url="http://x/enroll/t", expires_at=NOW, lang="en"
    )
    assert "http://x/enroll/t" in reply.text
    assert "This browser" in reply.text
    assert "certdesk-usbkey enroll http://x/enroll/t --module" in reply.text


def test_renew_single_active_certificate_gives_link() -> None:
    certificates = [certificate("aa"), certificate("bb", status="superseded")]
    assert dialog.renew(certificates, now=NOW, lang="en") == GiveRenewalLink("aa")


def test_renew_several_active_lets_user_choose() -> None:
    reply = dialog.renew([certificate("aa"), certificate("bb")], now=NOW, lang="en")
    assert isinstance(reply, Reply)
    assert [(b.act, b.value) for b in reply.buttons] == [
        (Act.RENEW_CERTIFICATE, "aa"),
        (Act.RENEW_CERTIFICATE, "bb"),
    ]


def test_renew_expired_or_revoked_only_offers_download() -> None:
    certificates = [certificate("aa", days=-1), certificate("bb", status="revoked")]
    assert acts(dialog.renew(certificates, now=NOW, lang="en")) == [Act.DOWNLOAD, Act.TALK_TO_RA]


def test_renew_certificate_of_someone_else_refused() -> None:
    reply = dialog.renew_certificate(certificate(user="U2"), user="U3", now=NOW, lang="en")
    assert isinstance(reply, Reply)
    assert "not yours" in reply.text


def test_renew_certificate_revoked_refused() -> None:
    reply = dialog.renew_certificate(certificate(status="revoked"), user="U2", now=NOW, lang="zh")
    assert isinstance(reply, Reply)
    assert "已吊销" in reply.text


def test_renew_certificate_own_active_gives_link() -> None:
    assert dialog.renew_certificate(
        certificate("aa"), user="U2", now=NOW, lang="en"
    ) == GiveRenewalLink("aa")


def test_my_certificates_lists_status_and_expiry() -> None:
    reply = dialog.my_certificates(
        [certificate("aa", days=30), certificate("bb", days=-3)],
        [enrollment()],
        now=NOW,
        lang="en",
    )
    assert "active, expires 2026-07-01 (in 30 days)" in reply.text
    assert "expired, valid until 2026-05-29" in reply.text
    assert "enrollment 1234567890, waiting for download" in reply.text
    assert acts(reply) == [Act.DOWNLOAD, Act.RENEW]


def test_my_certificates_empty_offers_human() -> None:
    reply = dialog.my_certificates([], [], now=NOW, lang="zh")
    assert "还没有证书" in reply.text


def test_file_reply_lists_cn_ous_and_o_copyably() -> None:
    findings = FileFindings(
        certificates=(
            CertificateInfo(
                common_name="Test Holder 01",
                organizational_units=("Branch 01", "RA Shanghai"),
                organization="Acme Bank",
                subject="CN=Test Holder 01,OU=RA Shanghai,OU=Branch 01,O=Acme Bank",
                issuer="CN=Issuing CA",
                serial_hex="0a1b",
                not_before=NOW - timedelta(days=265),
                not_after=NOW + timedelta(days=10),
                days_left=10,
                key_type="EC",
                key_size=256,
                curve="secp256r1",
                sha256_fingerprint="00" * 32,
            ),
        )
    )
    text = dialog.file_reply("me.cer", findings, "en").text
    assert "CN: `Test Holder 01`" in text
    assert "OU1: `Branch 01`\nOU2: `RA Shanghai` (RA institution)" in text
    assert "O: `Acme Bank`" in text


def test_file_reply_with_private_key_warns() -> None:
    text = dialog.file_reply("me.p12", FileFindings(has_private_key=True), "en").text
    assert "private key" in text
    assert "delete" in text


def test_file_reply_not_a_certificate() -> None:
    assert "not a certificate" in dialog.file_reply("x.txt", FileFindings(), "en").text
