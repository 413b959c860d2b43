"""Headless Chromium against a real server: the enrollment and renewal pages, end to end."""

from __future__ import annotations

import re
from pathlib import Path

from cryptography.hazmat.primitives.serialization import pkcs12
from playwright.sync_api import Page, expect

from bot.runtime import Runtime
from enrollment.services import EnrollmentCreate
from enrollment.services.ra import NewEnrollment
from tests.enrollment.conftest import HOLDER, Issued, enroll_and_issue
from tests.scenarios.conftest import Desk, Watched
from tests.support.p12 import assert_compatible, assert_modern, java_import, nss_import, p12_info
from tests.support.pki import make_csr, openssl, verify
from tests.support.store import certificate_view

PASSWORD = "correct horse battery"
ZHANG_SAN = HOLDER.model_copy(update={"cn": "张三", "slack_user": "U0ZHANG"})


def create(desk: Desk, request: EnrollmentCreate = HOLDER) -> NewEnrollment:
    async def work(runtime: Runtime) -> NewEnrollment:
        return await runtime.services.ra.create_enrollment(request, actor="test")

    created = desk.call(work)
    assert created.link.url.startswith(desk.url)
    return created


def open_form(page: Page, url: str) -> None:
    page.goto(url)
    expect(page.locator("#env-summary")).to_have_text(re.compile(r"\S"))
    expect(page.locator("#certdesk-form")).to_be_visible()


def fill_credentials(page: Page, created: NewEnrollment, code: str | None = None) -> None:
    page.get_by_label("Reference number").fill(created.reference_number)
    page.get_by_label("Authorization code").fill(code or created.authorization_code)


def fill_password(page: Page, password: str = PASSWORD, repeat: str | None = None) -> None:
    page.get_by_label("Password for the certificate file").fill(password)
    page.get_by_label("Repeat password").fill(repeat if repeat is not None else password)


def download(page: Page, button: str, directory: Path) -> Path:
    with page.expect_download(timeout=60_000) as info:
        page.get_by_role("button", name=button).click()
    target = directory / info.value.suggested_filename
    info.value.save_as(target)
    return target


def split_p12(p12: Path, password: str = PASSWORD) -> tuple[Path, Path, str]:
    """Open with `openssl pkcs12` (OpenSSL 3 defaults): (leaf cert, key, full dump)."""
    opened = openssl("pkcs12", "-in", str(p12), "-passin", f"pass:{password}", "-nodes")
    assert opened.returncode == 0, opened.stderr.decode()
    leaf = p12.with_suffix(".crt")
    leaf.write_bytes(
        openssl(
            "pkcs12", "-in", str(p12), "-passin", f"pass:{password}", "-clcerts", "-nokeys"
        ).stdout
    )
    key = p12.with_suffix(".key")
    key.write_bytes(
        openssl(
            "pkcs12", "-in", str(p12), "-passin", f"pass:{password}", "-nocerts", "-nodes"
        ).stdout
    )
    return leaf, key, opened.stdout.decode()


def assert_key_matches(leaf: Path, key: Path) -> None:
    cert_public = openssl("x509", "-in", str(leaf), "-noout", "-pubkey").stdout
    key_public = openssl("pkey", "-in", str(key), "-pubout").stdout
    assert cert_public
    assert cert_public == key_public


def subject_of(leaf: Path) -> str:
    return openssl("x509", "-in", str(leaf), "-noout", "-subject").stdout.decode().strip()


def test_browser_enroll_saves_p12_that_openssl_opens(
    desk: Desk, watched: Watched, tmp_path: Path
) -> None:
    """Acceptance 1: fresh link, labelled fields, "This browser", a password, "Download"."""
    page = watched.page
    created = create(desk)
    open_form(page, created.link.url)
    expect(page.locator("#env-summary")).to_have_text(
        "Your browser is ready. Nothing needs to be installed."
    )
    fill_credentials(page, created)
    page.get_by_label("Where should the certificate go?").get_by_label("This browser").check()
    fill_password(page)
    p12 = download(page, "Download", tmp_path)
    assert p12.suffix == ".p12"
    expect(page.locator("#result-message")).to_contain_text(f"Saved {p12.name}.")
    assert_result_first(page)

    leaf, key, dump = split_p12(p12)
    assert verify(desk.ca_file(tmp_path), leaf).returncode == 0
    assert_key_matches(leaf, key)
    assert f"friendlyName: Test Holder 01 ({created.reference_number})" in dump
    info = openssl("pkcs12", "-in", str(p12), "-passin", f"pass:{PASSWORD}", "-info", "-noout")
    assert b"MAC: sha256, Iteration 100000" in info.stderr
    assert b"Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration 100000" in info.stderr
    assert_modern(p12_info(p12, PASSWORD))
    # The default file on a Mac: Keychain's steps give way to the note that it cannot read it.
    macos = page.locator('#import-steps details[data-system="macos"]')
    macos.locator("summary").click()
    expect(macos.locator("ol")).to_be_hidden()
    expect(macos.locator(".format-note")).to_contain_text("Keychain Access cannot read")
    assert "CN = Test Holder 01" in subject_of(leaf)

    # The private key never left the page: one API call, carrying only a CSR.
    bodies = watched.api_bodies()
    assert len(bodies) == 1
    assert set(bodies[0]) == {"reference_number", "authorization_code", "csr", "delivery"}
    assert bodies[0]["delivery"] == "browser"
    assert "PRIVATE KEY" not in str(bodies[0])
    assert watched.console_errors == []
    # Referrer-Policy: no-referrer keeps the link token out of every follow-up request.
    assert len(watched.all_requests) > 3
    assert [r.url for r in watched.all_requests if r.all_headers().get("referer")] == []

    # The link worked once: opening it again says so.
    page.goto(created.link.url)
    expect(page.get_by_role("heading", level=1)).to_have_text("This link has already been used")


COMPATIBLE = "Compatible with macOS and older Windows"
PRETEND_MAC = """
Object.defineProperty(navigator, "platform", {get: () => "MacIntel"});
Object.defineProperty(navigator, "userAgentData", {get: () => ({platform: "macOS"})});
"""


def assert_result_first(page: Page) -> None:
    """The success message sits above the form, which is switched off (no second Download)."""
    result = page.locator("#result")
    expect(result).to_be_visible()
    expect(result).to_be_focused()
    result_box = result.bounding_box()
    form_box = page.locator("#certdesk-form").bounding_box()
    assert result_box is not None
    assert form_box is not None
    assert result_box["y"] < form_box["y"]
    expect(page.locator("#submit")).to_be_disabled()
    expect(page.get_by_label("Reference number")).to_be_disabled()
    expect(page.locator("#env-check")).to_be_hidden()


def test_browser_compatible_p12_is_3des_and_imports_into_nss_and_java(
    desk: Desk, watched: Watched, tmp_path: Path
) -> None:
    """Acceptance 1: "Compatible with macOS and older Windows" gives a file with 3DES and a
    SHA-1 MAC that pk12util and keytool import; the import steps follow it."""
    page = watched.page
    created = create(desk)
    open_form(page, created.link.url)
    fill_credentials(page, created)
    page.get_by_label("This browser").check()
    compatible = page.get_by_label(COMPATIBLE)
    expect(compatible).not_to_be_checked()  # Chromium here reports Linux
    expect(page.locator("#p12-compatible-hint")).to_contain_text("Triple DES")
    compatible.check()
    fill_password(page)
    p12 = download(page, "Download", tmp_path)
    assert p12.name == f"Test-Holder-01-{created.reference_number}.p12"

    assert_compatible(p12_info(p12, PASSWORD))
    leaf, key, _ = split_p12(p12)
    assert verify(desk.ca_file(tmp_path), leaf).returncode == 0
    assert_key_matches(leaf, key)
    assert "Test Holder 01" in nss_import(p12, PASSWORD, tmp_path)
    assert "PrivateKeyEntry" in java_import(p12, PASSWORD, tmp_path)

    assert_result_first(page)
    expect(page.locator("#result-message")).to_contain_text(f"Saved {p12.name}.")
    expect(page.locator("#result-message")).to_contain_text("Downloads folder")
    steps = page.locator("#import-steps")
    expect(steps.get_by_role("heading")).to_have_text("Import it on your system")
    linux = steps.locator('details[data-system="linux"]')
    expect(linux).to_have_attribute("open", "")  # the reader's system comes open
    expect(linux).to_contain_text(f"choose {p12.name}")
    expect(linux.locator("code")).to_have_text("pk12util -d sql:$HOME/.pki/nssdb -i")
    for system, words in [
        ("windows", "Current User"),
        ("windows", "root CA"),
        ("macos", "“login” keychain"),
        (
            "firefox",
            "Settings → Privacy & Security → View Certificates → Your Certificates → Import",
        ),
        ("java", "keytool -importkeystore"),
    ]:
        guide = steps.locator(f'details[data-system="{system}"]')
        guide.locator("summary").click()
        expect(guide).to_contain_text(words)
    # A compatible file needs no "default format" warnings.
    expect(steps.locator(".format-note")).to_have_count(2)
    for note in steps.locator(".format-note").all():
        expect(note).to_be_hidden()
    assert "`" not in page.locator("main").inner_text()
    assert watched.api_bodies()[0]["delivery"] == "browser"
    assert watched.console_errors == []


def test_browser_mac_gets_compatible_preselected_in_chinese(
    desk: Desk, watched: Watched, tmp_path: Path
) -> None:
    """Acceptance 5: on a Mac the Chinese page preselects the compatible file; a Chinese CN
    gives 张三-<reference>.p12; the import steps come in Chinese."""
    page = watched.page
    page.add_init_script(PRETEND_MAC)
    created = create(desk, ZHANG_SAN)
    page.goto(f"{created.link.url}?lang=zh")
    expect(page.locator("#certdesk-form")).to_be_visible()
    expect(page.get_by_label("兼容 macOS 和旧版 Windows")).to_be_checked()
    expect(page.locator("#p12-compatible-hint")).to_contain_text("三重 DES")
    page.get_by_label("参考号").fill(created.reference_number)
    page.get_by_label("授权码").fill(created.authorization_code)
    page.get_by_label("证书文件的密码").fill(PASSWORD)
    page.get_by_label("再次输入密码").fill(PASSWORD)
    p12 = download(page, "下载", tmp_path)
    assert p12.name == f"张三-{created.reference_number}.p12"
    assert_compatible(p12_info(p12, PASSWORD))

    expect(page.get_by_role("heading", name="您的证书已就绪")).to_be_visible()
    expect(page.locator("#result-message")).to_contain_text(f"已保存 {p12.name}")
    steps = page.locator("#import-steps")
    expect(steps.get_by_role("heading")).to_have_text("在您的系统中导入")
    macos = steps.locator('details[data-system="macos"]')
    expect(macos).to_have_attribute("open", "")
    expect(macos.locator("ol")).to_contain_text(f"双击 {p12.name}")
    expect(macos.locator("ol")).to_contain_text("“登录”钥匙串")
    expect(macos.locator(".format-note")).to_be_hidden()
    firefox = steps.locator('details[data-system="firefox"]')
    firefox.locator("summary").click()
    expect(firefox).to_contain_text("“设置”→“隐私与安全”→“查看证书”→“您的证书”→“导入”")
    expect(page.locator("#submit")).to_be_disabled()
    assert watched.console_errors == []


def test_browser_hints_show_commands_as_code_not_backticks(desk: Desk, watched: Watched) -> None:
    page = watched.page
    created = create(desk)
    open_form(page, created.link.url)
    hint = page.locator("#delivery-csr-hint")
    expect(hint.locator("code")).to_have_text("openssl req -new")
    assert "`" not in hint.inner_text()


def issue_for_renewal(desk: Desk, tmp_path: Path) -> tuple[Issued, str, str]:
    async def work(runtime: Runtime) -> tuple[Issued, str, str]:
        issued = await enroll_and_issue(
            runtime.services, tmp_path, request=ZHANG_SAN, delivery="browser"
        )
        renewal = await runtime.services.renewal.create_renewal_link(issued.serial, actor="test")
        return issued, renewal.link.url, renewal.verification_code

    return desk.call(work)


def test_browser_renewal_saves_new_p12_and_old_shows_superseded(
    desk: Desk, watched: Watched, tmp_path: Path
) -> None:
    """Acceptance 2: same flow for renewal; same subject; old certificate superseded."""
    page = watched.page
    issued, link, code = issue_for_renewal(desk, tmp_path)
    old_subject = (
        openssl("x509", "-noout", "-subject", input=issued.issued.certificate_pem().encode())
        .stdout.decode()
        .strip()
    )
    open_form(page, link)
    certificates = page.get_by_label("Certificate to renew")
    certificates.get_by_label(re.compile(issued.serial)).check()
    page.get_by_label("Verification code").fill(code)
    fill_password(page)
    p12 = download(page, "Confirm renewal", tmp_path)
    assert p12.name == f"张三-{issued.created.reference_number}.p12"

    leaf, key, dump = split_p12(p12)
    assert verify(desk.ca_file(tmp_path), leaf).returncode == 0
    assert_key_matches(leaf, key)
    assert subject_of(leaf) == old_subject
    assert "localKeyID" in dump
    # OpenSSL 3.0 prints a BMPString friendlyName lossily; read it with cryptography instead.
    loaded = pkcs12.load_pkcs12(p12.read_bytes(), PASSWORD.encode())
    assert loaded.key is not None
    assert loaded.cert is not None
    assert issued.issued.friendly_name == "张三 (" + issued.created.reference_number + ")"
    assert loaded.cert.friendly_name == issued.issued.friendly_name.encode()
    new_serial = (
        openssl("x509", "-in", str(leaf), "-noout", "-serial")
        .stdout.decode()
        .strip()
        .removeprefix("serial=")
        .lower()
        .lstrip("0")
    )
    assert new_serial != issued.serial
    expect(page.locator("#result-message")).to_contain_text(
        f"Certificate {issued.serial} is now superseded by {new_serial}."
    )
    expect(page.locator(f'input[value="{issued.serial}"]')).to_be_disabled()

    async def statuses(runtime: Runtime) -> tuple[str, str]:
        old = await certificate_view(runtime.engine, issued.serial)
        new = await certificate_view(runtime.engine, new_serial)
        return old.status, new.status

    assert desk.call(statuses) == ("superseded", "active")
    assert watched.console_errors == []


def test_browser_own_csr_file_returns_pem_chain(
    desk: Desk, watched: Watched, tmp_path: Path
) -> None:
    page = watched.page
    created = create(desk)
    _, csr = make_csr(tmp_path, key="rsa2048")
    csr_file = tmp_path / "request.csr"
    csr_file.write_text(csr)
    open_form(page, created.link.url)
    fill_credentials(page, created)
    page.get_by_label("My own CSR").check()
    page.get_by_label("Or choose a CSR file").set_input_files(csr_file)
    pem = download(page, "Download", tmp_path)
    assert pem.suffix == ".pem"
    assert pem.read_text().count("BEGIN CERTIFICATE") == 3
    expect(page.get_by_label("Your certificate and chain (PEM)")).to_have_value(
        re.compile("BEGIN CERTIFICATE")
    )
    leaf = tmp_path / "leaf.pem"
    leaf.write_text(
        pem.read_text().split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n"
    )
    assert verify(desk.ca_file(tmp_path), leaf).returncode == 0
    assert watched.api_bodies()[0]["delivery"] == "csr"


def test_browser_server_generated_key_saves_p12(
    desk: Desk, watched: Watched, tmp_path: Path
) -> None:
    page = watched.page
    created = create(desk, HOLDER.model_copy(update={"profile": "client-keygen"}))
    open_form(page, created.link.url)
    fill_credentials(page, created)
    page.get_by_label("Generated by the server").check()
    page.get_by_label("Key type").select_option("rsa-2048")
    fill_password(page)
    p12 = download(page, "Download", tmp_path)
    assert_modern(p12_info(p12, PASSWORD))
    assert_result_first(page)
    leaf, key, _ = split_p12(p12)
    assert verify(desk.ca_file(tmp_path), leaf).returncode == 0
    assert_key_matches(leaf, key)
    key_text = openssl("pkey", "-in", str(key), "-noout", "-text").stdout.decode()
    assert "Private-Key: (2048 bit" in key_text
    assert "modulus:" in key_text
    assert watched.console_errors == []


def test_browser_server_compatible_p12_for_chinese_name(
    desk: Desk, watched: Watched, tmp_path: Path
) -> None:
    """The server path with the compatible choice: 3DES and SHA-1 MAC, and the RFC 6266
    filename* gives the browser 张三's name."""
    page = watched.page
    created = create(desk, ZHANG_SAN.model_copy(update={"profile": "client-keygen"}))
    open_form(page, created.link.url)
    fill_credentials(page, created)
    page.get_by_label("Generated by the server").check()
    page.get_by_label(COMPATIBLE).check()
    fill_password(page)
    p12 = download(page, "Download", tmp_path)
    assert p12.name == f"张三-{created.reference_number}.p12"
    assert_compatible(p12_info(p12, PASSWORD))
    assert watched.api_bodies()[0]["format"] == "compatible"
    assert "PrivateKeyEntry" in java_import(p12, PASSWORD, tmp_path)
    expect(page.locator("#result-message")).to_contain_text(f"Saved {p12.name}.")
    assert watched.console_errors == []


def test_browser_chinese_page_reports_wrong_code_with_attempts_left(
    desk: Desk, watched: Watched
) -> None:
    page = watched.page
    created = create(desk)
    page.goto(f"{created.link.url}?lang=zh")
    expect(page.get_by_label("参考号")).to_be_visible()
    page.get_by_label("参考号").fill(created.reference_number)
    page.get_by_label("授权码").fill("AAAA-BBBB-CCCC-DDDD")
    page.get_by_label("证书文件的密码").fill(PASSWORD)
    page.get_by_label("再次输入密码").fill(PASSWORD)
    page.get_by_role("button", name="下载").click()
    expect(page.get_by_role("alert")).to_contain_text("还可尝试 4 次")
    # Chromium logs the refused request itself; nothing else (no CSP violation) may appear.
    assert [e for e in watched.console_errors if "status of 403" not in e] == []


def test_browser_password_mismatch_stops_before_any_request(desk: Desk, watched: Watched) -> None:
    page = watched.page
    created = create(desk)
    open_form(page, created.link.url)
    fill_credentials(page, created)
    fill_password(page, repeat="something else")
    page.get_by_role("button", name="Download").click()
    expect(page.get_by_role("alert")).to_have_text(
        "The two passwords differ. Type the same password twice."
    )
    assert watched.api_requests == []


def test_browser_environment_check_explains_insecure_context(desk: Desk, watched: Watched) -> None:
    page = watched.page
    page.add_init_script("Object.defineProperty(window, 'isSecureContext', {value: false})")
    created = create(desk)
    open_form(page, created.link.url)
    secure = page.locator('[data-check="secure"]')
    expect(secure.locator(".result")).to_have_text("missing")
    expect(secure.locator(".help")).to_be_visible()
    expect(secure.locator(".help")).to_contain_text("Open the link exactly as you received it")
    expect(page.get_by_label("This browser")).to_be_disabled()
    expect(page.get_by_label("My own CSR")).to_be_checked()
    expect(page.get_by_label("USB key", exact=True)).to_be_enabled()
