"""What the issuance and memory benchmarks share: a data directory with N pending enrollments
(made in-process before the server starts), CSRs made beforehand, a `certdesk serve` pinned to
core 0, and a load of `POST /api/v1/enroll/{token}` from core 1 with a fixed number in flight.

Not a benchmark itself; `benchmarks/issuance.py` and `benchmarks/memory.py` import it.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from _common import pin
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.processes import LiveServer, base_env, live_server

SERVER_CORE = 0
LOAD_CORE = 1


def make_csrs(count: int) -> list[str]:
    """``count`` P-256 CSRs (PEM), made before any timing starts."""
    csrs = []
    for index in range(count):
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"bench {index}")])
        csr = (
            x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
        )
        csrs.append(csr.public_bytes(serialization.Encoding.PEM).decode())
    return csrs


@dataclass(frozen=True, slots=True)
class Pending:
    token: str
    reference_number: str
    authorization_code: str


def database_env(data_dir: Path, database_url: str | None) -> dict[str, str]:
    # The default log level: the JSON access log (a line per request) is part of the cost.
    extra = {"CERTDESK_SERVE_REMINDERS": "false"}
    if database_url:
        extra["CERTDESK_DATABASE_URL"] = database_url
    return base_env(data_dir, extra)


def make_enrollments(env: dict[str, str], count: int) -> list[Pending]:
    """``count`` pending enrollments in the data directory's database, made in a child process
    (the same code path as `certdesk ra issue`, without a process per enrollment)."""
    script = (
        "import asyncio, json, sys\n"
        "from bot.database import upgrade_async\n"
        "from bot.runtime import open_runtime\n"
        "from bot.settings import Settings\n"
        "from enrollment.services import EnrollmentCreate\n"
        "async def main(n):\n"
        "    settings = Settings()\n"
        "    if not settings.is_embedded_sqlite:\n"
        "        await upgrade_async(settings.database_url)\n"
        "    async with open_runtime(settings) as runtime:\n"
        "        ra = runtime.services.ra\n"
        "        gate = asyncio.Semaphore(8)\n"
        "        async def one(i):\n"
        "            async with gate:\n"
        "                request = EnrollmentCreate(cn=f'Bench Holder {i}', ous=['Branch 1'],"
        " o='Acme Bank')\n"
        "                made = await ra.create_enrollment(request, actor='benchmark')\n"
        "                return [made.link.token, made.reference_number, made.authorization_code]\n"
        "        rows = await asyncio.gather(*(one(i) for i in range(n)))\n"
        "    json.dump(rows, sys.stdout)\n"
        "asyncio.run(main(int(sys.argv[1])))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(count)],
        env=env,
        cwd=env["CERTDESK_DATA_DIR"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"could not make the enrollments: {done.stderr[-2000:]}")
    return [Pending(*row) for row in json.loads(done.stdout)]


@contextmanager
def pinned_server(env: dict[str, str]) -> Iterator[LiveServer]:
    """`certdesk serve` on core 0; the calling process moves to core 1."""
    os.sched_setaffinity(0, {LOAD_CORE})
    with live_server(env) as server:
        pin(server.process.pid, SERVER_CORE)
        yield server


@dataclass
class LoadResult:
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    health: list[float] = field(default_factory=list)
    elapsed: float = 0.0

    @property
    def ok(self) -> int:
        return self.statuses.get(201, 0)

    def rate(self) -> float:
        return self.ok / self.elapsed if self.elapsed else 0.0


async def _enroll_load(
    url: str, pending: list[Pending], csrs: list[str], *, in_flight: int, watch_health: bool
) -> LoadResult:
    result = LoadResult()
    queue = list(zip(pending, csrs, strict=True))
    queue.reverse()
    done = asyncio.Event()
    connector = aiohttp.TCPConnector(limit=in_flight + 2)
    async with aiohttp.ClientSession(connector=connector) as client:

        async def worker() -> None:
            while queue:
                item, csr = queue.pop()
                body: dict[str, Any] = {
                    "reference_number": item.reference_number,
                    "authorization_code": item.authorization_code,
                    "csr": csr,
                }
                started = time.perf_counter()
                async with client.post(f"{url}/api/v1/enroll/{item.token}", json=body) as answer:
                    await answer.read()
                    status = answer.status
                result.latencies.append(time.perf_counter() - started)
                result.statuses[status] = result.statuses.get(status, 0) + 1

        async def health() -> None:
            while not done.is_set():
                started = time.perf_counter()
                async with client.get(f"{url}/healthz") as answer:
                    await answer.read()
                result.health.append(time.perf_counter() - started)
                await asyncio.sleep(0.02)

        watcher = asyncio.create_task(health()) if watch_health else None
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(in_flight)))
        result.elapsed = time.perf_counter() - started
        done.set()
        if watcher is not None:
            await watcher
    return result


def enroll_load(
    url: str, pending: list[Pending], csrs: list[str], *, in_flight: int, watch_health: bool = True
) -> LoadResult:
    """Redeem every pending enrollment once, ``in_flight`` requests at a time."""
    return asyncio.run(
        _enroll_load(url, pending, csrs, in_flight=in_flight, watch_health=watch_health)
    )


def resident_kib(pid: int) -> int:
    """The resident set size of ``pid`` in KiB (``VmRSS``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")
