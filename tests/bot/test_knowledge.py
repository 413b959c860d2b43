"""bot.knowledge wires in the knowledge room (faq/) where installed, with fallbacks without it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from bot.escalation import MemoryUnansweredLog
from bot.knowledge import SinkUnansweredLog, certificate_reader, load_knowledge, unanswered_log
from bot.runtime import Runtime
from enrollment.service import EnrollmentCreate
from tests.support.pki import make_csr, openssl

HAS_FAQ = importlib.util.find_spec("faq.knowledge") is not None
needs_faq = pytest.mark.skipif(not HAS_FAQ, reason="the knowledge room (faq/) is not installed")
without_faq = pytest.mark.skipif(HAS_FAQ, reason="the knowledge room (faq/) is installed")


@without_faq
async def test_without_faq_questions_go_to_staff_and_files_are_not_read(runtime: Runtime) -> None:
    assert load_knowledge() is None
    assert certificate_reader() is None
    assert isinstance(unanswered_log(runtime.engine), MemoryUnansweredLog)


@needs_faq
def test_with_faq_the_knowledge_base_answers() -> None:
    knowledge = load_knowledge()
    assert knowledge is not None
    answer = knowledge.ask("how do I find the CN of my certificate", language="en")
    assert answer.id == "find-cn-ou-o"
    assert knowledge.entries["renewal"].answer("zh")


@needs_faq
async def test_with_faq_files_are_read(runtime: Runtime, tmp_path: Path) -> None:
    reader = certificate_reader()
    assert reader is not None
    service = runtime.service
    created = await service.create_enrollment(
        EnrollmentCreate(cn="Holder", ous=["Branch 01", "RA Shanghai"], o="Acme Bank"),
        actor="test",
    )
    key, csr = make_csr(tmp_path)
    issued = await service.redeem_enrollment_link(
        created.link.token,
        reference_number=created.reference_number,
        authorization_code=created.authorization_code,
        csr=csr,
    )
    [found] = reader(issued.certificate_pem().encode()).certificates
    assert (found.cn, found.ous, found.o) == ("Holder", ("Branch 01", "RA Shanghai"), "Acme Bank")
    assert reader(b"not a certificate").certificates == ()
    (tmp_path / "cert.pem").write_text(issued.certificate_pem())
    p12 = openssl(
        "pkcs12", "-export", "-inkey", str(key), "-in", str(tmp_path / "cert.pem"),
        "-passout", "pass:secret",
    )  # fmt: skip
    assert p12.returncode == 0, p12.stderr
    assert reader(p12.stdout).has_private_key


@needs_faq
async def test_with_faq_unanswered_questions_are_stored(runtime: Runtime) -> None:
    log = unanswered_log(runtime.engine)
    assert isinstance(log, SinkUnansweredLog)
    await log.record("x" * 5000, lang="en", best_id=None, score=1.7, source="slack")
    await log.record("   ", lang="en", best_id=None, score=0.1, source="slack")
    [kept] = await log.pending()
    assert len(kept.question) == 1000
