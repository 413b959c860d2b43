"""Drive the real CLI and the real server as subprocesses."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.postgres import free_port

ROOT = Path(__file__).resolve().parents[2]


def base_env(data_dir: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("CERTDESK_", "SLACK_")) and key != "PORT"
    }
    env["CERTDESK_DATA_DIR"] = str(data_dir)
    env["CERTDESK_LOG_FORMAT"] = "json"
    env.update(extra or {})
    return env


def sh(script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``script`` in bash with pipefail, in ``cwd``; its output as text (a minute at most)."""
    return subprocess.run(
        ["bash", "-o", "pipefail", "-c", script],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@dataclass
class Cli:
    """Runs `certdesk` (the installed console script's module) with a fixed environment."""

    env: dict[str, str]

    def __call__(
        self, *args: str, input: str | None = None, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bot.cli", *args],
            input=input,
            capture_output=True,
            text=True,
            env={**self.env, **(env or {})},
            cwd=self.env["CERTDESK_DATA_DIR"],
            timeout=120,
        )


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextmanager
def live_server(
    env: dict[str, str], *, port: int | None = None, tls: bool = False
) -> Iterator[LiveServer]:
    """`certdesk serve` on a free port; waits for /healthz; stops it afterwards. ``tls``: the
    server terminates TLS itself (its URL is https; the health check does not verify it)."""
    port = port or free_port()
    env = {**env, "PORT": str(port)}
    scheme = "https" if tls else "http"
    env.setdefault("CERTDESK_PUBLIC_URL", f"{scheme}://127.0.0.1:{port}")
    unverified = ssl.create_default_context()
    unverified.check_hostname = False
    unverified.verify_mode = ssl.CERT_NONE
    log_path = Path(env["CERTDESK_DATA_DIR"]) / f"server-{port}.log"
    Path(env["CERTDESK_DATA_DIR"]).mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "serve", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=env["CERTDESK_DATA_DIR"],
        )
    server = LiveServer(url=f"{scheme}://127.0.0.1:{port}", process=process, log_path=log_path)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"certdesk serve exited: {server.log()}")
            try:
                with urllib.request.urlopen(  # noqa: S310
                    f"{server.url}/healthz", timeout=2, context=unverified if tls else None
                ) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"certdesk serve did not become healthy: {server.log()}")
            time.sleep(0.2)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
