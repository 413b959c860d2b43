"""The PKCS#12 packaging process: it builds the same file the server would, and does not
outlive a server that was killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from cryptography.hazmat.primitives.serialization import pkcs12

from enrollment.services._packaging import PACKAGER
from tests.support.pki import self_signed
from tests.support.processes import ROOT

SERVER = """
import sys, time
from datetime import timedelta
sys.path.insert(0, {root!r})
from enrollment.services._packaging import PACKAGER
from tests.support.pki import self_signed
key, cert = self_signed("Killed Holder", valid_for=timedelta(days=1))
PACKAGER.build(key=key, certificate=cert, chain=[], friendly_name="x",
               password="correct horse", file_format="modern")
print(PACKAGER.pid, flush=True)
time.sleep(600)
"""


def test_package_built_in_the_process_opens_with_its_password() -> None:
    key, cert = self_signed("Packaged Holder", valid_for=timedelta(days=1))
    data = PACKAGER.build(
        key=key,
        certificate=cert,
        chain=[cert],
        friendly_name="Packaged Holder (1234567890)",
        password="correct horse",
        file_format="modern",
    )
    assert PACKAGER.pid is not None
    assert PACKAGER.pid != os.getpid()
    opened = pkcs12.load_pkcs12(data, b"correct horse")
    assert opened.key is not None
    assert opened.key.public_key() == key.public_key()
    assert opened.cert is not None
    assert opened.cert.certificate == cert
    assert opened.cert.friendly_name == b"Packaged Holder (1234567890)"
    assert [extra.certificate for extra in opened.additional_certs] == [cert]


def ended(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    try:
        state = next(line for line in status.read_text().splitlines() if line.startswith("State"))
    except (FileNotFoundError, ProcessLookupError):
        return True
    return "Z" in state.split()[1]  # a zombie has ended, whoever reaps it


def test_packaging_process_ends_when_the_server_is_killed(tmp_path: Path) -> None:
    """A server killed with SIGKILL leaves no packaging process behind."""
    with subprocess.Popen(
        [sys.executable, "-c", SERVER.format(root=str(ROOT))],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # the killed server's resource tracker complains
        text=True,
        cwd=tmp_path,
    ) as server:
        try:
            assert server.stdout is not None
            packager = int(server.stdout.readline())
            assert not ended(packager)
        finally:
            server.send_signal(signal.SIGKILL)
            server.wait()
    deadline = time.monotonic() + 60  # a guard against a hang, not a timing assertion
    while not ended(packager) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert ended(packager)
