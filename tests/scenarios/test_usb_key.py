"""`certdesk token` against a real SoftHSM2 token and a real `certdesk serve`.

OpenSSL and OpenSC's pkcs11-tool judge what ends up on the token.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from playwright.sync_api import Page, expect

from bot.runtime import Runtime
from enrollment.models import Certificate, CertificateStatus
from enrollment.services import EnrollmentCreate
from enrollment.services.ra import NewEnrollment
from tests.scenarios.conftest import Desk, Watched
from tests.support.client_build import client_dist  # noqa: F401 (a session fixture)
from tests.support.pki import verify
from tests.support.postgres import free_port
from tests.support.processes import Cli, base_env
from tests.support.softhsm import PIN, SoftHsm, make_softhsm
from tests.support.store import certificate_row


@pytest.fixture
def hsm(tmp_path: Path) -> SoftHsm:
    return make_softhsm(tmp_path / "softhsm")


@pytest.fixture
def holder_cli(tmp_path: Path) -> Cli:
    home = tmp_path / "holder"
    home.mkdir()
    return Cli(base_env(home))


def new_enrollment(desk: Desk, cn: str) -> NewEnrollment:
    request = EnrollmentCreate(cn=cn, ous=["Branch 01", "RA Shanghai"], o="Acme Bank")

    async def create(runtime: Runtime) -> NewEnrollment:
        return await runtime.services.ra.create_enrollment(request, actor="test")

    return desk.call(create)


def stored_certificate(desk: Desk, serial: str) -> Certificate:
    async def get(runtime: Runtime) -> Certificate:
        return await certificate_row(runtime.engine, serial)

    return desk.call(get)


def token_cli(
    cli: Cli, hsm: SoftHsm, *args: str, pin: str = PIN, code: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**hsm.env, "TOKEN_PIN": pin}
    if code is not None:
        env["AUTH_CODE"] = code
    return cli("token", *args, env=env)


def enroll(
    cli: Cli, hsm: SoftHsm, created: NewEnrollment, *extra: str, pin: str = PIN
) -> subprocess.CompletedProcess[str]:
    return token_cli(
        cli,
        hsm,
        "enroll",
        created.link.url,
        "--module",
        hsm.module,
        "--pin-env",
        "TOKEN_PIN",
        "--reference-number",
        created.reference_number,
        "--authorization-code-env",
        "AUTH_CODE",
        *extra,
        pin=pin,
        code=created.authorization_code,
    )


def field(output: str, name: str) -> str:
    match = re.search(rf"^\s*{name}:\s+(\S+)", output, re.MULTILINE)
    assert match, output
    return match.group(1)


def read_object(hsm: SoftHsm, kind: str, key_id: str, path: Path) -> bytes:
    result = hsm.pkcs11_tool("--read-object", "--type", kind, "--id", key_id, "-o", str(path))
    assert result.returncode == 0, result.stderr
    return path.read_bytes()


def private_keys(hsm: SoftHsm) -> int:
    listing = hsm.pkcs11_tool("--login", "--pin", PIN, "--list-objects", "--type", "privkey")
    return listing.stdout.count("Private Key Object")


def token_objects(hsm: SoftHsm) -> str:
    """Every object on the token, as pkcs11-tool lists them (logged in: keys included)."""
    listing = hsm.pkcs11_tool("--login", "--pin", PIN, "--list-objects")
    assert listing.returncode == 0, listing.stderr
    return listing.stdout


@pytest.fixture
def enrolled(desk: Desk, hsm: SoftHsm, holder_cli: Cli) -> str:
    """A token 'holder' with an enrolled certificate; yields the CLI's output."""
    hsm.init_token("holder")
    created = new_enrollment(desk, "Token Holder")
    result = enroll(holder_cli, hsm, created)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_token_enroll_generates_key_on_token_and_stores_certificate(
    desk: Desk, hsm: SoftHsm, enrolled: str, tmp_path: Path
) -> None:
    """The certificate verifies, certifies the key on the token, and pkcs11-tool lists it."""
    key_id = field(enrolled, "Key ID")
    serial = field(enrolled, "Serial")
    der = read_object(hsm, "cert", key_id, tmp_path / "cert.der")
    certificate = x509.load_der_x509_certificate(der)
    cert_pem = tmp_path / "cert.pem"
    cert_pem.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    result = verify(desk.ca_file(tmp_path), cert_pem)
    assert result.returncode == 0, result.stderr.decode()
    token_public = read_object(hsm, "pubkey", key_id, tmp_path / "pub.der")
    assert certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) == serialization.load_der_public_key(token_public).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    objects = hsm.pkcs11_tool("--login", "--pin", PIN, "--list-objects").stdout
    assert "Certificate Object" in objects
    assert "Token Holder" in objects  # the certificate's label: its friendly name
    assert "Issuing CA" in objects  # the chain is stored too
    assert re.search(r"Private Key Object; EC.*?never extractable", objects, re.DOTALL)
    record = stored_certificate(desk, serial)
    assert record.delivery == "token"
    assert record.subject_cn == "Token Holder"


def test_token_enroll_with_used_link_is_refused_and_deletes_the_new_key(
    desk: Desk, hsm: SoftHsm, holder_cli: Cli
) -> None:
    hsm.init_token("holder")
    created = new_enrollment(desk, "Used Link Holder")
    assert enroll(holder_cli, hsm, created).returncode == 0
    keys_before = private_keys(hsm)
    again = enroll(holder_cli, hsm, created)
    assert again.returncode == 7  # server refused
    assert "the server refused (link_used): This link has already been used" in again.stderr
    assert private_keys(hsm) == keys_before


def test_token_enroll_with_unknown_link_is_refused(
    desk: Desk, hsm: SoftHsm, holder_cli: Cli
) -> None:
    hsm.init_token("holder")
    created = new_enrollment(desk, "Unknown Link Holder")
    result = token_cli(
        holder_cli,
        hsm,
        "enroll",
        f"{desk.url}/enroll/not-a-real-token",
        "--module",
        hsm.module,
        "--pin-env",
        "TOKEN_PIN",
        "--reference-number",
        created.reference_number,
        "--authorization-code-env",
        "AUTH_CODE",
        code=created.authorization_code,
    )
    assert result.returncode == 7  # server refused
    assert "(link_unknown): This link is not known" in result.stderr
    assert private_keys(hsm) == 0


def test_token_enroll_with_wrong_pin_changes_nothing(
    desk: Desk, hsm: SoftHsm, holder_cli: Cli
) -> None:
    hsm.init_token("holder")
    created = new_enrollment(desk, "Wrong Pin Holder")
    result = enroll(holder_cli, hsm, created, pin="000000")
    assert result.returncode == 5  # PIN incorrect
    assert "PIN is wrong" in result.stderr
    assert token_objects(hsm) == ""
    assert enroll(holder_cli, hsm, created).returncode == 0  # the link was not used up


@pytest.mark.parametrize(
    "module",
    ["/usr/lib/x86_64-linux-gnu/libc.so.6", "TEXT_FILE", "/nonexistent/libpkcs11.so"],
    ids=["shared-library", "text-file", "missing"],
)
def test_token_list_with_wrong_module_explains_and_names_known_modules(
    holder_cli: Cli, hsm: SoftHsm, tmp_path: Path, module: str
) -> None:
    if module == "TEXT_FILE":
        text = tmp_path / "module.so"
        text.write_text("not a library\n")
        module = str(text)
    elif not Path(module).parent.exists():
        pass
    elif not Path(module).exists():
        pytest.skip(f"{module} is not on this machine")
    result = token_cli(holder_cli, hsm, "list", "--module", module)
    assert result.returncode == 3  # module not loadable
    assert f"{module} cannot be used as a PKCS#11 module" in result.stderr
    assert "/usr/lib/softhsm/libsofthsm2.so" in result.stderr  # the table of known models
    assert "Traceback" not in result.stderr


def test_token_enroll_without_token_label_and_two_tokens_asks_to_choose(
    desk: Desk, hsm: SoftHsm, holder_cli: Cli
) -> None:
    hsm.init_token("first")
    hsm.init_token("second")
    created = new_enrollment(desk, "Two Tokens Holder")
    result = enroll(holder_cli, hsm, created)
    assert result.returncode == 4  # no token or several tokens
    assert "Several USB keys are plugged in ('first', 'second')" in result.stderr
    chosen = enroll(holder_cli, hsm, created, "--token-label", "second")
    assert chosen.returncode == 0, chosen.stderr
    assert "on the USB key 'second'" in chosen.stdout


def test_token_enroll_with_no_token_says_to_plug_it_in(
    desk: Desk, hsm: SoftHsm, holder_cli: Cli
) -> None:
    created = new_enrollment(desk, "No Token Holder")
    result = enroll(holder_cli, hsm, created)
    assert result.returncode == 4  # no token or several tokens
    assert "No initialised USB key was found" in result.stderr


def test_token_list_shows_token_and_certificates(
    hsm: SoftHsm, holder_cli: Cli, enrolled: str
) -> None:
    result = token_cli(holder_cli, hsm, "list", "--module", hsm.module)
    assert result.returncode == 0, result.stderr
    assert "'holder' (SoftHSM project SoftHSM v2, serial " in result.stdout
    serial = field(enrolled, "Serial")
    line = next(line for line in result.stdout.splitlines() if serial in line)
    assert "CN=Token Holder" in line
    assert line.lstrip().startswith("* ")  # marked current
    assert re.search(
        r"valid until \d{4}-\d\d-\d\d \d\d:\d\d UTC \(current, \d+ days left; not revoked\)", line
    )
    assert re.search(r"'[^']*Issuing CA[^']*':.*\(CA, \d+ days left\)", result.stdout)


def test_token_list_asks_the_ca_whether_the_current_certificate_is_revoked(
    desk: Desk, hsm: SoftHsm, holder_cli: Cli, enrolled: str
) -> None:
    """Revoked by RA staff from another process, the certificate shows as revoked at the next
    `list` (the CA's OCSP responder, proven by its signature and the nonce); `--offline` asks
    nobody."""
    serial = field(enrolled, "Serial")

    def current_line(*extra: str) -> tuple[str, str]:
        result = token_cli(holder_cli, hsm, "list", "--module", hsm.module, *extra)
        assert result.returncode == 0, result.stderr
        asked = "asking the CA whether the current certificate is revoked" in result.stderr
        assert asked == ("--offline" not in extra), result.stderr
        return next(line for line in result.stdout.splitlines() if serial in line), result.stdout

    line, _ = current_line()
    assert line.endswith("days left; not revoked)"), line
    cli = Cli(base_env(desk.data_dir, {"CERTDESK_PUBLIC_URL": desk.url}))
    revoked = cli("ra", "revoke", serial, "--reason", "keyCompromise")
    assert revoked.returncode == 0, revoked.stderr
    line, output = current_line()
    assert re.search(r"REVOKED on \d{4}-\d\d-\d\d \d\d:\d\d UTC: key compromised\)$", line), line
    assert "ask RA staff for a new one. Once the new one is on this USB key" in output
    line, output = current_line("--offline")
    assert line.endswith("days left)"), line
    assert "REVOKED" not in output
    # What the hint says: once a new certificate for the holder is on the key, the revoked
    # one is superseded and `clean` removes it.
    assert enroll(holder_cli, hsm, new_enrollment(desk, "Token Holder")).returncode == 0
    line, _ = current_line("--offline")
    assert "(superseded" in line, line
    cleaned = token_cli(
        holder_cli, hsm, "clean", "--module", hsm.module, "--pin-env", "TOKEN_PIN", "--yes"
    )
    assert cleaned.returncode == 0, cleaned.stderr
    assert serial in cleaned.stdout
    listing = token_cli(holder_cli, hsm, "list", "--module", hsm.module, "--offline")
    assert serial not in listing.stdout


def renew(cli: Cli, hsm: SoftHsm, *extra: str) -> subprocess.CompletedProcess[str]:
    return token_cli(cli, hsm, "renew", "--module", hsm.module, "--pin-env", "TOKEN_PIN", *extra)


def holder_objects(hsm: SoftHsm) -> tuple[int, int, int]:
    """(holder certificates, private keys, public keys) on the token; the CAs are not counted."""
    listing = token_objects(hsm)
    certificates = [
        block
        for block in listing.split("Certificate Object")[1:]
        if not re.search(r"label:\s+.*(Issuing|Root) CA", block)
    ]
    return (
        len(certificates),
        listing.count("Private Key Object"),
        listing.count("Public Key Object"),
    )


def test_token_renew_replaces_old_certificate_and_key_in_place(
    desk: Desk, hsm: SoftHsm, holder_cli: Cli, enrolled: str, tmp_path: Path
) -> None:
    """The new pair replaces the old one; back-to-back renewals (same second) each work."""
    old_serial = field(enrolled, "Serial")
    old_id = field(enrolled, "Key ID")
    result = renew(holder_cli, hsm)
    assert result.returncode == 0, result.stderr
    new_serial = field(result.stdout, "Serial")
    new_id = field(result.stdout, "Key ID")
    assert new_serial != old_serial
    assert new_id != old_id
    assert field(result.stdout, "Replaces") == old_serial
    old = stored_certificate(desk, old_serial)
    assert old.status == CertificateStatus.SUPERSEDED
    assert old.superseded_by == new_serial
    new = stored_certificate(desk, new_serial)
    assert (new.subject_cn, new.delivery, new.friendly_name) == (
        "Token Holder",
        "token",
        old.friendly_name,
    )
    der = read_object(hsm, "cert", new_id, tmp_path / "new.der")
    cert_pem = tmp_path / "new.pem"
    cert_pem.write_bytes(
        x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM)
    )
    assert verify(desk.ca_file(tmp_path), cert_pem).returncode == 0
    listing = token_cli(holder_cli, hsm, "list", "--module", hsm.module).stdout
    assert old_serial not in listing  # deleted from the token
    assert old_id not in token_objects(hsm)
    assert new_serial in listing
    assert holder_objects(hsm) == (1, 1, 1)
    for _ in range(2):  # straight after: the same second as the first renewal
        again = renew(holder_cli, hsm)
        assert again.returncode == 0, again.stderr
        assert field(again.stdout, "Replaces") == new_serial
        new_serial = field(again.stdout, "Serial")
    assert holder_objects(hsm) == (1, 1, 1)  # three renewals: one certificate, one key


def test_token_renew_keep_old_keeps_the_old_pair_under_a_distinct_label(
    desk: Desk, hsm: SoftHsm, holder_cli: Cli, enrolled: str
) -> None:
    """--keep-old keeps the old pair, relabelled; list marks it superseded; clean removes it."""
    old_serial = field(enrolled, "Serial")
    kept = renew(holder_cli, hsm, "--keep-old")
    assert kept.returncode == 0, kept.stderr
    new_serial = field(kept.stdout, "Serial")
    assert holder_objects(hsm) == (2, 2, 2)
    assert f"(superseded {old_serial})" in token_objects(hsm)  # a distinct label
    listing = token_cli(holder_cli, hsm, "list", "--module", hsm.module).stdout
    old_line = next(line for line in listing.splitlines() if old_serial in line)
    new_line = next(line for line in listing.splitlines() if new_serial in line)
    assert "(superseded, " in old_line
    assert not old_line.lstrip().startswith("*")
    assert new_line.lstrip().startswith("* ")
    assert "(current, " in new_line
    again = renew(holder_cli, hsm)  # the kept pair is never picked for renewal
    assert again.returncode == 0, again.stderr
    assert field(again.stdout, "Replaces") == new_serial

    refused = token_cli(holder_cli, hsm, "clean", "--module", hsm.module, "--pin-env", "TOKEN_PIN")
    assert refused.returncode == 2  # no terminal to confirm on, no --yes
    assert "--yes" in refused.stderr
    assert holder_objects(hsm) == (2, 2, 2)
    cleaned = token_cli(
        holder_cli, hsm, "clean", "--module", hsm.module, "--pin-env", "TOKEN_PIN", "--yes"
    )
    assert cleaned.returncode == 0, cleaned.stderr
    assert old_serial in cleaned.stdout
    assert "Deleted 1 certificate(s)" in cleaned.stdout
    assert holder_objects(hsm) == (1, 1, 1)
    assert "Issuing CA" in token_objects(hsm)  # the CA chain stays
    nothing = token_cli(holder_cli, hsm, "clean", "--module", hsm.module, "--yes")
    assert nothing.returncode == 0
    assert "Nothing to remove" in nothing.stdout


def test_token_wrong_module_and_wrong_pin_exit_differently_and_leave_the_token_unchanged(
    hsm: SoftHsm, holder_cli: Cli, enrolled: str, tmp_path: Path
) -> None:
    """Acceptance 4: status 3 for the module, 5 for the PIN; every object stays as it was."""
    before = token_objects(hsm)
    not_pkcs11 = tmp_path / "not-pkcs11.so"
    not_pkcs11.write_text("not a library\n")
    for module in ("/nonexistent/libpkcs11.so", str(not_pkcs11)):
        wrong_module = token_cli(
            holder_cli, hsm, "renew", "--module", module, "--pin-env", "TOKEN_PIN"
        )
        assert wrong_module.returncode == 3, wrong_module.stderr
        assert "cannot be used as a PKCS#11 module" in wrong_module.stderr
    wrong_pin = token_cli(
        holder_cli, hsm, "renew", "--module", hsm.module, "--pin-env", "TOKEN_PIN", pin="000000"
    )
    assert wrong_pin.returncode == 5, wrong_pin.stderr
    assert "PIN is wrong" in wrong_pin.stderr
    assert token_objects(hsm) == before


def test_token_unreachable_server_exits_8_and_leaves_the_token_unchanged(
    desk: Desk, hsm: SoftHsm, holder_cli: Cli, enrolled: str
) -> None:
    before = token_objects(hsm)
    closed = f"http://127.0.0.1:{free_port()}"
    result = renew(holder_cli, hsm, "--server", closed)
    assert result.returncode == 8, result.stderr
    assert f"certdesk at {closed}/api/v1/renew-challenge did not answer" in result.stderr
    assert token_objects(hsm) == before
    created = new_enrollment(desk, "Offline Holder")
    offline = token_cli(
        holder_cli,
        hsm,
        "enroll",
        created.link.url.replace(desk.url, closed),
        "--module",
        hsm.module,
        "--pin-env",
        "TOKEN_PIN",
        "--reference-number",
        created.reference_number,
        "--authorization-code-env",
        "AUTH_CODE",
        code=created.authorization_code,
    )
    assert offline.returncode == 8, offline.stderr
    assert token_objects(hsm) == before  # the key pair made for it was deleted again


def test_token_usage_errors_exit_2(hsm: SoftHsm, holder_cli: Cli) -> None:
    hsm.init_token("holder")
    not_a_link = token_cli(holder_cli, hsm, "enroll", "https://example.com/x", "--module", "m")
    assert not_a_link.returncode == 2
    assert "is not a certdesk download link" in not_a_link.stderr
    bad_option = token_cli(holder_cli, hsm, "renew", "--module", hsm.module, "--bogus")
    assert bad_option.returncode == 2
    no_pin = token_cli(holder_cli, hsm, "renew", "--module", hsm.module)  # no terminal
    assert no_pin.returncode == 2
    assert "--pin-env VAR" in no_pin.stderr


def test_token_speaks_chinese_with_lang_and_shows_progress_unless_quiet(
    desk: Desk, hsm: SoftHsm, holder_cli: Cli
) -> None:
    hsm.init_token("holder")
    created = new_enrollment(desk, "Chinese Holder")
    result = enroll(holder_cli, hsm, created, "--lang", "zh")
    assert result.returncode == 0, result.stderr
    assert "证书已保存到 USB 密钥 'holder'。" in result.stdout
    assert result.stderr.splitlines() == [
        "正在 USB 密钥上生成密钥对（可能需要一分钟）…",
        "正在发送请求…",
        "正在保存证书…",
    ]
    english = renew(holder_cli, hsm)
    assert english.returncode == 0, english.stderr
    assert english.stderr.splitlines() == [
        "generating the key pair on the token (this can take a minute)…",
        "sending the request…",
        "storing the certificate…",
    ]
    quiet = renew(holder_cli, hsm, "--quiet")
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == ""
    wrong = token_cli(
        holder_cli,
        hsm,
        "renew",
        "--module",
        hsm.module,
        "--pin-env",
        "TOKEN_PIN",
        "--lang",
        "zh",
        pin="000000",
    )
    assert wrong.returncode == 5
    assert "USB 密钥的 PIN 不正确" in wrong.stderr


def offer_client(desk: Desk, dist: Path) -> str:
    """Put the built wheel where the server offers it; its public URL."""
    directory = desk.data_dir / "clients"
    directory.mkdir(exist_ok=True)
    (wheel,) = dist.glob("certdesk_usbkey-*-py3-none-any.whl")
    shutil.copy(wheel, directory / wheel.name)
    return f"{desk.url}/downloads/{wheel.name}"


def choose_usb_key(page: Page, created: NewEnrollment, lang: str, labels: dict[str, str]) -> None:
    page.goto(f"{created.link.url}?lang={lang}")
    expect(page.locator("#certdesk-form")).to_be_visible()
    page.get_by_label(labels["reference"]).fill(created.reference_number)
    page.get_by_label(labels["usb"], exact=True).check()


def test_page_usb_key_choice_shows_install_and_enroll_commands_per_shell(
    desk: Desk,
    watched: Watched,
    client_dist: Path,  # noqa: F811
) -> None:
    """Acceptance 4 (issue 12): install command, then the code variable and enroll per shell."""
    page = watched.page
    wheel_url = offer_client(desk, client_dist)
    created = new_enrollment(desk, "Page Holder")
    choose_usb_key(page, created, "en", {"reference": "Reference number", "usb": "USB key"})
    expect(page.locator("#env-check")).to_be_hidden()  # it is about keys made in the browser
    expect(page.get_by_text("Nothing needs to be installed")).to_be_hidden()
    install = page.locator("#token-install")
    expect(install).to_have_text(f"pipx install {wheel_url}\nuv tool install {wheel_url}")
    expect(page.locator("#token-not-offered")).to_be_hidden()
    page.get_by_label("USB key model").select_option("safenet")
    command = page.locator("#token-command")
    code = page.locator("#token-code")
    page.get_by_label("Operating system").select_option("windows-powershell")
    expect(code).to_have_text('$env:CERTDESK_AUTHORIZATION_CODE = "<authorization code>"')
    expect(command).to_have_text(
        f"certdesk-usbkey enroll {created.link.url} --module "
        '"C:\\Windows\\System32\\eTPKCS11.dll" '
        f"--reference-number {created.reference_number} "
        "--authorization-code-env CERTDESK_AUTHORIZATION_CODE"
    )
    page.get_by_label("Operating system").select_option("windows-cmd")
    expect(code).to_have_text("set CERTDESK_AUTHORIZATION_CODE=<authorization code>")
    expect(command).to_contain_text('--module "C:\\Windows\\System32\\eTPKCS11.dll"')
    page.get_by_label("Operating system").select_option("macos")
    expect(code).to_contain_text("export CERTDESK_AUTHORIZATION_CODE")
    expect(command).to_contain_text("--module /usr/local/lib/libeTPkcs11.dylib")
    page.get_by_label("USB key model").select_option("yubikey")
    page.get_by_label("Operating system").select_option("linux")
    expect(command).to_contain_text("--module /usr/lib/x86_64-linux-gnu/libykcs11.so")
    expect(page.get_by_role("button", name="Download")).to_be_hidden()
    assert watched.api_requests == []
    assert watched.console_errors == []

    created_zh = new_enrollment(desk, "Page Holder Zh")
    choose_usb_key(page, created_zh, "zh", {"reference": "参考号", "usb": "USB 密钥"})
    expect(page.get_by_text("安装 certdesk 的 USB 密钥客户端")).to_be_visible()
    expect(install).to_contain_text(f"pipx install {wheel_url}")
    page.get_by_label("操作系统").select_option("windows-powershell")
    expect(code).to_have_text('$env:CERTDESK_AUTHORIZATION_CODE = "<授权码>"')
    expect(command).to_contain_text(f"certdesk-usbkey enroll {created_zh.link.url}")
    assert watched.console_errors == []


def test_page_usb_key_choice_says_when_the_client_is_not_offered(
    desk: Desk, watched: Watched
) -> None:
    """Before a build the page says so, in either language, instead of a broken install URL."""
    clients = desk.data_dir / "clients"
    moved = list(clients.glob("*")) if clients.exists() else []
    for path in moved:
        path.rename(path.with_name(path.name + ".away"))
    try:
        page = watched.page
        created = new_enrollment(desk, "No Client Holder")
        choose_usb_key(page, created, "en", {"reference": "Reference number", "usb": "USB key"})
        expect(page.locator("#token-not-offered")).to_be_visible()
        expect(page.locator("#token-not-offered")).to_contain_text("Ask RA staff")
        expect(page.locator("#token-install")).to_be_hidden()
        choose_usb_key(page, created, "zh", {"reference": "参考号", "usb": "USB 密钥"})
        expect(page.locator("#token-not-offered")).to_contain_text("尚未提供 USB 密钥客户端下载")
    finally:
        for path in moved:
            path.with_name(path.name + ".away").rename(path)
