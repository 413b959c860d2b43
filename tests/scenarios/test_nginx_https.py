"""deploy/nginx.conf in front of a real `certdesk serve`, with a throwaway certificate:
headless Chromium downloads a certificate through it over HTTPS (docs/deploy.md)."""

from __future__ import annotations

import ipaddress
import json
import os
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from playwright.sync_api import Browser, expect

from tests.scenarios.conftest import Desk
from tests.scenarios.test_browser_enroll import (
    PASSWORD,
    create,
    download,
    fill_credentials,
    fill_password,
    open_form,
    split_p12,
)
from tests.support import system
from tests.support.pki import self_signed_server, verify
from tests.support.postgres import free_port
from tests.support.processes import ROOT, base_env, live_server

SITE = ROOT / "deploy" / "nginx.conf"


def throwaway_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed server certificate for 127.0.0.1 (the browser is told to accept it)."""
    san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    return self_signed_server(directory, valid_for=timedelta(days=1), extension=san, critical=False)


def site_config(*, upstream: int, http_port: int, tls_port: int, cert: Path, key: Path) -> str:
    """The shipped site file with this test's names, ports and certificate."""
    text = SITE.read_text()
    replacements = {
        "server 127.0.0.1:8080;": f"server 127.0.0.1:{upstream};",
        "listen 80;": f"listen 127.0.0.1:{http_port};",
        "listen 443 ssl;": f"listen 127.0.0.1:{tls_port} ssl;",
        "server_name certdesk.example.org;": "server_name 127.0.0.1;",
        "/etc/ssl/certdesk/fullchain.pem": str(cert),
        "/etc/ssl/certdesk/privkey.pem": str(key),
    }
    for old, new in replacements.items():
        assert old in text, f"deploy/nginx.conf no longer has {old!r}"
        text = text.replace(old, new)
    return text


def main_config(prefix: Path, site: Path) -> str:
    temp = {name: prefix / name for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
    for path in temp.values():
        path.mkdir(exist_ok=True)
    user = "user root;\n" if os.geteuid() == 0 else ""
    return (
        f"{user}daemon off;\nworker_processes 1;\npid {prefix / 'nginx.pid'};\n"
        f"error_log {prefix / 'error.log'} info;\nevents {{ worker_connections 64; }}\n"
        f"http {{\n  access_log {prefix / 'access.log'};\n"
        f"  client_body_temp_path {temp['body']};\n  proxy_temp_path {temp['proxy']};\n"
        f"  fastcgi_temp_path {temp['fastcgi']};\n  uwsgi_temp_path {temp['uwsgi']};\n"
        f"  scgi_temp_path {temp['scgi']};\n  include {site};\n}}\n"
    )


@dataclass
class Proxied:
    desk: Desk
    """The desk as seen from its public address: links are built on ``public``."""
    public: str
    http_port: int


@dataclass
class PublicDesk(Desk):
    public: str = ""

    @property
    def url(self) -> str:
        return self.public


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxied]:
    """`certdesk serve` behind nginx, which answers on ``public`` (HTTPS) and ``http_port``."""
    nginx = system.nginx()
    prefix = tmp_path_factory.mktemp("nginx")
    cert, key = throwaway_certificate(prefix)
    upstream, http_port, tls_port = free_port(), free_port(), free_port()
    public = f"https://127.0.0.1:{tls_port}"
    site = prefix / "certdesk.conf"
    site.write_text(
        site_config(upstream=upstream, http_port=http_port, tls_port=tls_port, cert=cert, key=key)
    )
    conf = prefix / "nginx.conf"
    conf.write_text(main_config(prefix, site))
    checked = subprocess.run(
        [nginx, "-t", "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert checked.returncode == 0, checked.stderr
    data_dir = tmp_path_factory.mktemp("desk")
    env = base_env(data_dir, {"CERTDESK_PUBLIC_URL": public, "CERTDESK_SERVE_REMINDERS": "false"})
    with live_server(env, port=upstream) as server:
        proxy = subprocess.Popen(
            [nginx, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                assert proxy.poll() is None, (prefix / "error.log").read_text()
                try:
                    if plain_get(f"http://127.0.0.1:{http_port}/healthz")[0] == 301:
                        break
                except OSError:
                    pass
                assert time.monotonic() < deadline, (prefix / "error.log").read_text()
                time.sleep(0.2)
            desk = PublicDesk(server=server, data_dir=data_dir, public=public)
            yield Proxied(desk=desk, public=public, http_port=http_port)
        finally:
            proxy.terminate()
            proxy.wait(timeout=15)


def test_chromium_downloads_a_certificate_through_nginx_over_https(
    proxied: Proxied, browser: Browser, tmp_path: Path
) -> None:
    created = create(proxied.desk)
    assert created.link.url.startswith(f"{proxied.public}/enroll/")
    context = browser.new_context(accept_downloads=True, locale="en-US", ignore_https_errors=True)
    try:
        page = context.new_page()
        open_form(page, created.link.url)
        assert page.evaluate("window.isSecureContext") is True
        expect(page.locator("#env-summary")).to_have_text(
            "Your browser is ready. Nothing needs to be installed."
        )
        fill_credentials(page, created)
        page.get_by_label("Where should the certificate go?").get_by_label("This browser").check()
        fill_password(page)
        p12 = download(page, "Download", tmp_path)
    finally:
        context.close()
    leaf, _, _ = split_p12(p12, PASSWORD)
    ca = tmp_path / "ca.pem"
    with urllib.request.urlopen(f"{proxied.desk.server.url}/ca.pem", timeout=10) as response:  # noqa: S310
        ca.write_bytes(response.read())
    assert verify(ca, leaf).returncode == 0
    facts = [json.loads(x) for x in proxied.desk.server.log().splitlines() if "started" in x]
    assert facts[0]["public_url"] == proxied.public


def plain_get(url: str) -> tuple[int, dict[str, str]]:
    """Status and headers of GET ``url``, following no redirect, accepting any certificate."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object, **kwargs: object) -> None:
            return None

    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    opener = urllib.request.build_opener(NoRedirect, urllib.request.HTTPSHandler(context=context))
    try:
        with opener.open(url, timeout=10) as response:
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers)


def test_http_redirects_to_https(proxied: Proxied) -> None:
    status, headers = plain_get(f"http://127.0.0.1:{proxied.http_port}/enroll/x?y=1")
    assert status == 301
    # to the standard HTTPS port, where the shipped file listens (the test's differs)
    assert headers["Location"] == "https://127.0.0.1/enroll/x?y=1"
    status, headers = plain_get(f"{proxied.public}/healthz")
    assert status == 200
    assert headers["Strict-Transport-Security"] == "max-age=31536000"


def test_the_proxy_passes_the_client_address_so_operator_views_stay_closed(
    proxied: Proxied,
) -> None:
    """X-Forwarded-For reaches certdesk: through the proxy the outbox is not "this machine"."""
    assert plain_get(f"{proxied.desk.server.url}/chat/reminders")[0] == 200
    assert plain_get(f"{proxied.public}/chat/reminders")[0] in (401, 403)
