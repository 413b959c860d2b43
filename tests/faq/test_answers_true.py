"""The answers tell the truth about certdesk: every backticked `certdesk …` command in an answer
parses with the real command line, every backticked HTTP path is a route of the real app, and
the OpenSSL and keytool commands the import answer gives work on a certdesk-style `.p12`."""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp import web
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import PrivateFormat, pkcs12

from bot.app import create_app
from bot.cli import build_parser
from bot.settings import Settings
from common.language import LANGUAGES
from faq.knowledge import load_entries
from tests.support import system
from tests.support.pki import self_signed

BACKTICKED = re.compile(r"`([^`]+)`")
PLACEHOLDER = re.compile(r"<[^>]*>|…")
FILE_PATHS = ("/usr/", "/Library/", "/opt/", "/etc/")  # a PKCS#11 module's file, not a route


def snippets() -> Iterator[tuple[str, str, str]]:
    for entry in load_entries():
        for language in LANGUAGES:
            for text in BACKTICKED.findall(entry.answer(language)):
                yield entry.id, language, text


COMMANDS = sorted({(eid, text) for eid, _, text in snippets() if text.startswith("certdesk ")})
PATHS = sorted(
    {
        (eid, text)
        for eid, _, text in snippets()
        if text.startswith("/") and " " not in text and not text.startswith(FILE_PATHS)
    }
)


def test_answers_name_commands_and_paths() -> None:
    assert len(COMMANDS) >= 5
    assert {"/ca.pem", "/crl", "/enroll/…"} <= {text for _, text in PATHS}


def subcommand(parser: argparse.ArgumentParser, words: list[str]) -> tuple[list[str], list[str]]:
    """The command words of ``words`` that name (sub)commands, and what is left."""
    path: list[str] = []
    current = parser
    while words:
        choices = next(
            (a.choices for a in current._actions if isinstance(a, argparse._SubParsersAction)),
            None,
        )
        if not choices or words[0] not in choices:
            break
        path.append(words[0])
        current = choices[words.pop(0)]
    return path, words


@pytest.mark.parametrize(("entry_id", "command"), COMMANDS)
def test_a_certdesk_command_in_an_answer_parses(entry_id: str, command: str) -> None:
    words = shlex.split(PLACEHOLDER.sub("X", command))[1:]
    path, rest = subcommand(build_parser(), list(words))
    assert path, f"{entry_id}: {command!r} names no certdesk command"
    if rest:  # arguments are given: they must be what the command takes
        try:
            build_parser().parse_args(words)
        except SystemExit as exc:
            pytest.fail(f"{entry_id}: {command!r} does not parse (exit {exc.code})")


def routes(app: web.Application, prefix: str = "") -> Iterator[re.Pattern[str]]:
    for resource in app.router.resources():
        if isinstance(resource, web.PrefixedSubAppResource):
            yield from routes(resource._app, prefix + resource.canonical)
            continue
        if isinstance(resource, web.StaticResource):
            yield re.compile(re.escape(prefix + resource.canonical) + "/.+")
            continue
        pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(prefix + resource.canonical))
        yield re.compile(pattern)


@pytest.mark.parametrize(("entry_id", "path"), PATHS)
def test_an_http_path_in_an_answer_is_a_route(entry_id: str, path: str, tmp_path: Path) -> None:
    app = create_app(Settings(_env_file=None, data_dir=tmp_path))  # type: ignore[call-arg]
    concrete = PLACEHOLDER.sub("sample-token", path)
    assert any(route.fullmatch(concrete) for route in routes(app)), (entry_id, path)


def modern_p12(path: Path, password: bytes) -> None:
    """A `.p12` in the modern format certdesk makes: AES-256-CBC, PBKDF2, SHA-256 MAC."""
    key, cert = self_signed("Import Holder", valid_for=timedelta(days=30))
    encryption = (
        PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(100_000)
        .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
        .hmac_hash(hashes.SHA256())
        .build(password)
    )
    path.write_bytes(pkcs12.serialize_key_and_certificates(b"holder", key, cert, None, encryption))


def test_the_import_answer_conversion_and_keytool_commands_work(tmp_path: Path) -> None:
    """The two OpenSSL commands turn a modern `.p12` into one with 3DES and a SHA-1 MAC, and the
    keytool command imports it, as the import-certificate-file answer says."""
    modern_p12(tmp_path / "FILE.p12", b"s3cret-pass")
    [entry] = [e for e in load_entries() if e.id == "import-certificate-file"]
    snippets = BACKTICKED.findall(entry.answer("en"))
    commands = [c for c in snippets if c.startswith("openssl pkcs12")]
    assert len(commands) == 2
    openssl = system.binary("openssl", "openssl")
    secrets = ["-passin", "pass:s3cret-pass", "-passout", "pass:s3cret-pass"]
    for command in commands:
        done = subprocess.run(
            [openssl, *shlex.split(command)[1:], *secrets],
            cwd=tmp_path,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
    info = subprocess.run(
        [openssl, "pkcs12", "-info", "-noout", "-in", "compatible.p12", *secrets[:2]],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert info.returncode == 0, info.stderr
    assert "MAC: sha1" in info.stderr
    assert info.stderr.count("pbeWithSHA1And3-KeyTripleDES-CBC") == 2  # key and certificates
    [keytool] = [c for c in snippets if c.startswith("keytool")]
    stores = ["-srcstorepass", "s3cret-pass", "-deststorepass", "s3cret-pass", "-noprompt"]
    imported = subprocess.run(
        [system.binary("keytool", "default-jre-headless"), *shlex.split(keytool)[1:], *stores],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert imported.returncode == 0, imported.stdout + imported.stderr
    assert (tmp_path / "keystore.p12").stat().st_size > 0
