"""README command one: `scripts/serve` answers /healthz on the embedded defaults."""

from __future__ import annotations

import subprocess
import time
import urllib.request
from pathlib import Path

from tests.support.postgres import free_port
from tests.support.processes import ROOT, base_env


def test_scripts_serve_answers_healthz_on_embedded_defaults(tmp_path: Path) -> None:
    port = free_port()
    env = base_env(tmp_path / "var", {"PORT": str(port)})
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(ROOT / "scripts" / "serve")],
            env=env,
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, log.read_text()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                assert time.monotonic() < deadline, "scripts/serve did not answer /healthz"
                time.sleep(0.3)
    finally:
        process.terminate()
        process.wait(timeout=20)
    assert (tmp_path / "var" / "certdesk.db").exists()
    assert (tmp_path / "var" / "ca" / "issuing.pem").exists()
