"""The holder's client distribution, built once per test session by the real scripts/build-client.

Import the fixture into a test module (``from tests.support.client_build import client_dist``);
its scope is the session, so every module that uses it shares one build.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.processes import ROOT


@pytest.fixture(scope="session")
def client_dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding certdesk_usbkey-<version>-py3-none-any.whl and its sdist."""
    out = tmp_path_factory.mktemp("client-dist")
    result = subprocess.run(
        [str(ROOT / "scripts" / "build-client"), str(out)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHON": sys.executable},
        cwd=ROOT,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert len(list(out.glob("certdesk_usbkey-*-py3-none-any.whl"))) == 1, result.stdout
    assert len(list(out.glob("certdesk[-_]usbkey-*.tar.gz"))) == 1, result.stdout
    return out
