"""A real SoftHSM2 token store in a temporary directory, and OpenSC's pkcs11-tool as a judge.

Each :class:`SoftHsm` has its own configuration file and token directory; subprocesses get it
through ``SOFTHSM2_CONF`` (:attr:`SoftHsm.env`). SoftHSM reads that variable once, when the
module is initialised, so a test process can use one store only: :func:`process_softhsm`
points this process at one store for the whole session, and :meth:`SoftHsm.new_token`
re-initialises the module so it sees tokens made after it was loaded.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.support import system

PIN = "123456"
SO_PIN = "12345678"


@dataclass(frozen=True)
class SoftHsm:
    module: str
    directory: Path

    @property
    def conf(self) -> Path:
        return self.directory / "softhsm2.conf"

    @property
    def env(self) -> dict[str, str]:
        return {"SOFTHSM2_CONF": str(self.conf)}

    def util(self, *args: str) -> subprocess.CompletedProcess[str]:
        tool = system.binary("softhsm2-util", "softhsm2")
        return subprocess.run(
            [tool, *args],
            capture_output=True,
            text=True,
            env={**os.environ, **self.env},
            check=False,
            timeout=60,
        )

    def init_token(self, label: str, *, pin: str = PIN, so_pin: str = SO_PIN) -> None:
        result = self.util(
            "--init-token", "--free", "--label", label, "--pin", pin, "--so-pin", so_pin
        )
        assert result.returncode == 0, result.stderr

    def pkcs11_tool(self, *args: str) -> subprocess.CompletedProcess[str]:
        tool = system.binary("pkcs11-tool", "opensc")
        return subprocess.run(
            [tool, "--module", self.module, *args],
            capture_output=True,
            text=True,
            env={**os.environ, **self.env},
            check=False,
            timeout=60,
        )

    def new_token(self, label: str, *, pin: str = PIN) -> None:
        """Initialise a token and make this process's loaded module see it."""
        import pkcs11

        self.init_token(label, pin=pin)
        pkcs11.lib(os.path.realpath(self.module)).reinitialize()


def make_softhsm(directory: Path) -> SoftHsm:
    """A fresh, empty SoftHSM2 store in ``directory`` (skips if SoftHSM is not installed)."""
    module = system.softhsm_module()
    system.binary("softhsm2-util", "softhsm2")
    tokens = directory / "tokens"
    tokens.mkdir(parents=True, exist_ok=True)
    hsm = SoftHsm(module=module, directory=directory)
    hsm.conf.write_text(
        f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    return hsm


_process_store: SoftHsm | None = None


def process_softhsm(directory: Path) -> SoftHsm:
    """The SoftHSM store of this test process (created in ``directory`` on first use)."""
    global _process_store
    if _process_store is None:
        _process_store = make_softhsm(directory)
        os.environ["SOFTHSM2_CONF"] = str(_process_store.conf)
    return _process_store
