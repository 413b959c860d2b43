"""certdesk's own TLS: the settings, the auto server certificate (reused, reissued when due,
loaded into the live context), and the context's client-certificate request."""

from __future__ import annotations

import asyncio
import os
import ssl
import stat
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from pydantic import ValidationError

from bot.settings import Settings
from bot.tls import (
    RENEW_BEFORE,
    SERVER_VALIDITY,
    AutoCertificate,
    TlsUnavailable,
    refresh,
    request_client_certificates,
    server_context,
)
from common.time import utcnow
from enrollment.ca.authority import IssuingCA, load_or_create_local_ca
from enrollment.ca.pairs import read_pair
from enrollment.files import snapshot_path


def settings(**values: Any) -> Settings:
    values.setdefault("public_url", "https://desk.example")
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def ca(tmp_path: Path) -> IssuingCA:
    return load_or_create_local_ca(
        tmp_path / "ca", key_type="ec-p256", organization="Test CA", crl_url=None
    )


@pytest.mark.parametrize(
    ("values", "says"),
    [
        ({"tls": "auto", "tls_cert": "x.pem", "tls_key": "x.key"}, "unset CERTDESK_TLS_CERT"),
        ({"tls_cert": "x.pem"}, "go together"),
        ({"tls_cert": "/nonexistent/x.pem", "tls_key": "/nonexistent/x.key"}, "readable file"),
        ({"trusted_proxy": "10.0.0.5"}, "CERTDESK_CLIENT_CERT_HEADER"),
        ({"client_cert_header": "X-Client-Cert"}, "CERTDESK_TRUSTED_PROXY"),
        ({"trusted_proxy": "proxy.example", "client_cert_header": "X-C"}, "IP addresses"),
        ({"trusted_proxy": "10.0.0.5", "client_cert_header": "X Cert"}, "header name"),
        ({"tls": "yes"}, "auto"),
        ({"tls": "auto", "public_url": "http://desk.example"}, "must start with https://"),
    ],
)
def test_settings_tls_misconfiguration_refused_at_construction(
    values: dict[str, str], says: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        settings(**values)
    assert says in str(caught.value)


def test_settings_tls_off_and_proxy_parsed() -> None:
    plain = settings(tls="off")
    assert not plain.tls_enabled
    proxied = settings(trusted_proxy="10.0.0.5, 10.0.1.0/28", client_cert_header="X-Client-Cert")
    assert [str(n) for n in proxied.trusted_proxy] == ["10.0.0.5/32", "10.0.1.0/28"]


def test_server_context_bad_pair_names_the_variables(tmp_path: Path, ca: IssuingCA) -> None:
    cert = tmp_path / "cert.pem"
    cert.write_bytes(ca.chain_pem())
    key = tmp_path / "key.pem"
    key.write_text("not a key")
    with pytest.raises(TlsUnavailable) as caught:
        server_context(settings(tls_cert=cert, tls_key=key))
    assert "CERTDESK_TLS_CERT" in str(caught.value)
    assert "not a key" not in str(caught.value)


def test_auto_certificate_reused_while_current_and_reissued_when_due(
    tmp_path: Path, ca: IssuingCA
) -> None:
    auto = AutoCertificate(ca=ca, host="desk.example", directory=tmp_path / "tls")
    now = utcnow()
    first, new = auto.ensure(now)
    assert new
    names = first.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["desk.example"]
    assert (auto.path.stat().st_mode & 0o777) == 0o600
    again, new = auto.ensure(now + timedelta(days=1))
    assert (again.serial_number, new) == (first.serial_number, False)
    due = now + SERVER_VALIDITY - RENEW_BEFORE + timedelta(hours=1)
    renewed, new = auto.ensure(due)
    assert new
    assert renewed.serial_number != first.serial_number
    other_host = AutoCertificate(ca=ca, host="other.example", directory=tmp_path / "tls")
    assert other_host.current(now) is None  # a new public host name gets a new certificate


async def served_serial(context: ssl.SSLContext, trust: Path) -> int:
    """The serial of the certificate a fresh handshake with ``context`` presents."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    client = ssl.create_default_context(cafile=str(trust))
    try:
        _, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=client, server_hostname="localhost"
        )
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
        writer.close()
    finally:
        server.close()
        await server.wait_closed()
    return x509.load_der_x509_certificate(der).serial_number


async def test_refresh_reissues_a_due_certificate_into_the_live_context(
    tmp_path: Path, ca: IssuingCA
) -> None:
    """A certificate close to expiry on disk is served until refresh(); the next handshake on
    the same context gets the new one (no restart)."""
    trust = tmp_path / "trust.pem"
    trust.write_bytes(ca.chain_pem())
    auto = AutoCertificate(ca=ca, host="localhost", directory=tmp_path / "tls")
    old = auto.issue(utcnow() - SERVER_VALIDITY + RENEW_BEFORE - timedelta(days=1))
    context = server_context(settings(tls="auto"))
    assert context is not None
    context.load_cert_chain(auto.path)
    assert await served_serial(context, trust) == old.serial_number
    new = await refresh(context, auto)
    assert new.serial_number != old.serial_number
    assert await served_serial(context, trust) == new.serial_number
    assert new.not_valid_after_utc - utcnow() > RENEW_BEFORE


def test_request_client_certificates_is_optional_with_the_ca_as_anchor(ca: IssuingCA) -> None:
    context = server_context(settings(tls="auto"))
    assert context is not None
    request_client_certificates(context, ca)
    assert context.verify_mode == ssl.CERT_OPTIONAL
    anchors = {
        x509.load_der_x509_certificate(der).subject
        for der in context.get_ca_certs(binary_form=True)
    }
    assert anchors == {ca.certificate.subject, ca.root.subject}


async def test_server_context_serves_the_operators_certificate_pair(
    tmp_path: Path, ca: IssuingCA
) -> None:
    """CERTDESK_TLS_CERT + CERTDESK_TLS_KEY: the pair is loaded before the port is bound."""
    trust = tmp_path / "trust.pem"
    trust.write_bytes(ca.chain_pem())
    pair = AutoCertificate(ca=ca, host="localhost", directory=tmp_path / "own")
    leaf = pair.issue(utcnow())
    context = server_context(settings(tls_cert=pair.path, tls_key=pair.path))
    assert context is not None
    assert await served_serial(context, trust) == leaf.serial_number


def test_serve_with_an_unusable_pair_stops_with_one_line(tmp_path: Path) -> None:
    """A bad CERTDESK_TLS_CERT/KEY stops `certdesk serve` before it binds, exit status 2, one
    line naming the variables and never the key file's content."""
    from tests.support.processes import Cli, base_env

    (tmp_path / "c.pem").write_text("junk")
    (tmp_path / "k.pem").write_text("PRIVATE-KEY-CONTENT")
    env = {
        "CERTDESK_PUBLIC_URL": "https://localhost:18443",
        "CERTDESK_TLS_CERT": str(tmp_path / "c.pem"),
        "CERTDESK_TLS_KEY": str(tmp_path / "k.pem"),
    }
    result = Cli(base_env(tmp_path, env))("serve", "--port", "0")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("certdesk: CERTDESK_TLS_CERT=")
    assert "PRIVATE-KEY-CONTENT" not in result.stderr
    assert "Traceback" not in result.stderr


def test_auto_pair_is_one_private_file_and_the_legacy_pair_is_removed(
    tmp_path: Path, ca: IssuingCA
) -> None:
    """server.pem holds key, certificate and chain (0600); the two files of earlier versions
    are removed on upgrade (a valid earlier pair is not reused: it is the pair that split)."""
    directory = tmp_path / "tls"
    directory.mkdir()
    for name in AutoCertificate.LEGACY_FILES:
        (directory / name).write_text("from an earlier version")
    auto = AutoCertificate(ca=ca, host="desk.example", directory=directory)
    leaf, new = auto.ensure(utcnow())
    assert new
    assert sorted(p.name for p in directory.iterdir()) == ["server.pem", "server.pem.lock"]
    assert stat.S_IMODE(auto.path.stat().st_mode) == 0o600
    pair = read_pair(auto.path)
    assert pair is not None
    assert pair.certificates == (leaf, *ca.chain)
    assert pair.private_key.public_key() == leaf.public_key()


def test_auto_certificate_due_in_two_processes_is_issued_once(
    tmp_path: Path, ca: IssuingCA
) -> None:
    """Two renewals at once on one directory (threads standing in for two processes: flock
    locks per open file): the lock lets one issue, the other reuses its pair."""
    start = threading.Barrier(2)
    results: list[tuple[x509.Certificate, bool]] = []

    def ensure() -> None:
        auto = AutoCertificate(ca=ca, host="desk.example", directory=tmp_path / "tls")
        start.wait()
        results.append(auto.ensure(utcnow()))

    threads = [threading.Thread(target=ensure) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(new for _, new in results) == [False, True]
    assert results[0][0] == results[1][0]


RENEWER = """
import sys
from pathlib import Path
from bot.tls import AutoCertificate
from common.time import utcnow
from enrollment.ca.authority import load_local_ca

ca = load_local_ca(Path(sys.argv[1]), crl_url=None)
auto = AutoCertificate(ca=ca, host="localhost", directory=Path(sys.argv[2]))
print("ready", flush=True)
for _ in range(int(sys.argv[3])):
    auto.renew(utcnow())
"""


def test_loading_while_another_process_renews_never_splits_the_pair(
    tmp_path: Path, ca: IssuingCA
) -> None:
    """Another process renews the pair over and over while this one loads it: every load
    gets a key and certificate that belong together (load_cert_chain refuses a split pair,
    "key values mismatch"), and no snapshot is left behind."""
    directory = tmp_path / "tls"
    auto = AutoCertificate(ca=ca, host="localhost", directory=directory)
    auto.ensure(utcnow())
    context = server_context(settings(tls="auto"))
    assert context is not None
    served: set[int] = set()
    command = [sys.executable, "-c", RENEWER, str(tmp_path / "ca"), str(directory), "60"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as renewer:
        assert renewer.stdout is not None
        assert renewer.stdout.readline().strip() == "ready"
        while renewer.poll() is None:
            served.add(auto.load_into(context).serial_number)
    assert renewer.returncode == 0
    served.add(auto.load_into(context).serial_number)
    assert len(served) > 1  # the loads overlapped renewals
    assert sorted(p.name for p in directory.iterdir()) == ["server.pem", "server.pem.lock"]


def test_stale_snapshots_of_dead_processes_are_removed_at_start(
    tmp_path: Path, ca: IssuingCA
) -> None:
    auto = AutoCertificate(ca=ca, host="desk.example", directory=tmp_path / "tls")
    auto.ensure(utcnow())
    dead = subprocess.Popen(["true"])
    dead.wait()
    alive = subprocess.Popen(["sleep", "60"])
    try:
        for pid in (dead.pid, alive.pid):
            os.link(auto.path, snapshot_path(auto.path, pid))
        auto.remove_stale_snapshots()
        assert not snapshot_path(auto.path, dead.pid).exists()
        assert snapshot_path(auto.path, alive.pid).exists()  # still loading, perhaps
    finally:
        alive.kill()
        alive.wait()
