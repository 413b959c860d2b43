"""bot.knowledge adapts the knowledge room (faq/) to the dialog's protocols."""

from __future__ import annotations

from pathlib import Path

from bot.knowledge import certificate_reader, load_knowledge
from bot.runtime import Runtime
from bot.settings import Settings
from enrollment.services import EnrollmentCreate
from tests.support.pki import make_csr, openssl


def test_knowledge_base_answers_in_both_languages(tmp_path: Path) -> None:
    knowledge = load_knowledge(Settings(data_dir=tmp_path))
    assert knowledge is not None
    assert list((tmp_path / "cache").glob("faq-classifier-*.npz"))  # kept for the next process
    answer = knowledge.ask("how do I find the CN of my certificate", language="en")
    assert answer.id == "find-cn-ou-o"
    assert knowledge.entries["renewal"].answer("zh")


async def test_certificate_reader_reads_pem_and_recognises_pkcs12(
    runtime: Runtime, tmp_path: Path
) -> None:
    reader = certificate_reader()
    assert reader is not None
    services = runtime.services
    created = await services.ra.create_enrollment(
        EnrollmentCreate(cn="Holder", ous=["Branch 01", "RA Shanghai"], o="Acme Bank"),
        actor="test",
    )
    key, csr = make_csr(tmp_path)
    issued = await services.links.redeem_enrollment_link(
        created.link.token,
        reference_number=created.reference_number,
        authorization_code=created.authorization_code,
        csr=csr,
    )
    [found] = reader(issued.certificate_pem().encode()).certificates
    subject = (found.common_name, found.organizational_units, found.organization)
    assert subject == ("Holder", ("Branch 01", "RA Shanghai"), "Acme Bank")
    assert reader(b"not a certificate").certificates == ()
    (tmp_path / "cert.pem").write_text(issued.certificate_pem())
    p12 = openssl(
        "pkcs12", "-export", "-inkey", str(key), "-in", str(tmp_path / "cert.pem"),
        "-passout", "pass:secret",
    )  # fmt: skip
    assert p12.returncode == 0, p12.stderr
    assert reader(p12.stdout).has_private_key
