"""Does hostile CMP traffic slow the rest of certdesk down? (issue 10, acceptance 3)

Starts a real `certdesk serve` pinned to one core (taskset, all its threads), then:

1. sends waves of 16 concurrent unauthenticated CMP `ir` with the PasswordBasedMac iteration
   count at the maximum (half with a wrong code for a real enrollment: a proof and a counted
   failure; half for unknown reference numbers) and measures `GET /healthz` meanwhile
   (goal: p99 < 100 ms);
2. sends 62 KB hostile messages (31,000 empty freeText strings: refused on size) and 14 KB ones
   (7,000 empty freeText strings: refused from the DER cut, before decoding), 6 at a time, and
   measures `GET /ca.pem` meanwhile (goal: p99 < 50 ms).

Each figure is printed beside its baseline (the same request with no load), measured in the
same run, and its ceiling.

    .venv/bin/python benchmarks/cmp_hostile.py [--waves 4] [--core 0]

Everything stays on the loopback interface.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from _common import percentile, pin
from cryptography.hazmat.primitives.asymmetric import ec

from enrollment.protocols import cmp
from tests.support import cmp_messages
from tests.support.processes import Cli, base_env, live_server

HEALTHZ_CEILING_MS = 100.0
CA_PEM_CEILING_MS = 50.0


def ir(reference: str, secret: bytes, **options: object) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    return cmp_messages.request(
        cmp_messages.cert_request_body(key),
        secret=secret,
        reference=reference.encode(),
        **options,  # type: ignore[arg-type]
    )


async def probe(session: aiohttp.ClientSession, url: str, stop: asyncio.Event) -> list[float]:
    """GET ``url`` back to back until ``stop``; each latency in ms."""
    latencies = []
    while not stop.is_set():
        started = time.perf_counter()
        async with session.get(url) as response:
            await response.read()
            assert response.status == 200, response.status
        latencies.append((time.perf_counter() - started) * 1000)
        await asyncio.sleep(0.005)
    return latencies


async def baseline(session: aiohttp.ClientSession, url: str, count: int = 200) -> list[float]:
    """``count`` GETs of ``url`` with no other load; each latency in ms."""
    latencies = []
    for _ in range(count):
        started = time.perf_counter()
        async with session.get(url) as response:
            await response.read()
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


async def post_cmp(session: aiohttp.ClientSession, url: str, body: bytes) -> tuple[int, float]:
    started = time.perf_counter()
    async with session.post(url, data=body, headers={"Content-Type": cmp.CONTENT_TYPE}) as answer:
        await answer.read()
        return answer.status, (time.perf_counter() - started) * 1000


async def under_load(
    session: aiohttp.ClientSession, probe_url: str, cmp_url: str, waves: list[list[bytes]]
) -> tuple[list[float], list[tuple[int, float]]]:
    stop = asyncio.Event()
    task = asyncio.create_task(probe(session, probe_url, stop))
    results: list[tuple[int, float]] = []
    for wave in waves:
        results += await asyncio.gather(*(post_cmp(session, cmp_url, body) for body in wave))
    stop.set()
    return await task, results


def line(name: str, loaded: list[float], idle: list[float], ceiling: float) -> str:
    p99, p50 = percentile(loaded, 0.99), percentile(loaded, 0.5)
    verdict = "ok" if p99 < ceiling else "OVER"
    return (
        f"{name:<44} p50 {p50:7.1f} ms  p99 {p99:7.1f} ms  (n={len(loaded)})  "
        f"baseline p99 {percentile(idle, 0.99):6.1f} ms  ceiling {ceiling:.0f} ms  {verdict}"
    )


async def measure(
    url: str, references: list[str], waves: int, iterations: int | None = None
) -> list[str]:
    cmp_url = f"{url}/.well-known/cmp"
    report = []
    async with aiohttp.ClientSession() as session:
        healthz_idle = await baseline(session, f"{url}/healthz")
        ca_idle = await baseline(session, f"{url}/ca.pem")

        iterations = iterations or cmp.MAX_PBM_ITERATIONS
        mac_waves = [
            [
                ir(references[i % len(references)], b"WRNG-WRNG-WRNG-WRNG", iterations=iterations)
                if i % 2 == 0
                else ir(f"10000{wave:02d}{i:03d}", b"WRNG-WRNG-WRNG-WRNG", iterations=iterations)
                for i in range(16)
            ]
            for wave in range(waves)
        ]
        started = time.perf_counter()
        healthz_loaded, answers = await under_load(session, f"{url}/healthz", cmp_url, mac_waves)
        elapsed = time.perf_counter() - started
        report.append(line("GET /healthz during 16 x max-iteration ir", healthz_loaded,
                           healthz_idle, HEALTHZ_CEILING_MS))  # fmt: skip
        statuses = sorted({status for status, _ in answers})
        report.append(
            f"  {len(answers)} CMP ir in {elapsed:.2f} s ({waves} waves of 16, "
            f"{iterations} iterations), HTTP {statuses}, per request p50 "
            f"{percentile([ms for _, ms in answers], 0.5):.0f} ms"
        )

        big = ir(references[0], b"x", iterations=500, free_text=("",) * 31_000)
        dense = ir(references[0], b"x", iterations=500, free_text=("",) * 7_000)
        hostile_waves = [[big, dense] * 3 for _ in range(waves * 4)]
        ca_loaded, answers = await under_load(session, f"{url}/ca.pem", cmp_url, hostile_waves)
        report.append(line("GET /ca.pem during 62 KB + 14 KB hostile CMP", ca_loaded, ca_idle,
                           CA_PEM_CEILING_MS))  # fmt: skip
        report.append(
            f"  {len(answers)} hostile messages ({len(big)} and {len(dense)} bytes), HTTP "
            f"{sorted({status for status, _ in answers})}, per request p50 "
            f"{percentile([ms for _, ms in answers], 0.5):.1f} ms"
        )
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waves", type=int, default=4, help="waves of 16 CMP requests")
    parser.add_argument("--core", type=int, default=0, help="the CPU the server is pinned to")
    parser.add_argument(
        "--iterations", type=int, default=None, help="PBM iterations (default: the maximum)"
    )
    args = parser.parse_args()
    taskset = shutil.which("taskset")
    if taskset is None:
        print("taskset (util-linux) is needed to pin the server to one core", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as directory:
        env = base_env(Path(directory), {"CERTDESK_SERVE_REMINDERS": "false"})
        cli = Cli(env)
        initialised = cli("init")  # other commands do not create the data directory
        if initialised.returncode != 0:
            print(initialised.stderr, file=sys.stderr)
            return 1
        references = []
        for index in range(4):
            created = cli("ra", "issue", "--cn", f"Bench Holder {index}", "--ou", "Branch 1",
                          "--o", "Acme Bank", "--json")  # fmt: skip
            if created.returncode != 0:
                print(created.stderr, file=sys.stderr)
                return 1
            references.append(json.loads(created.stdout)["reference_number"])
        with live_server(env) as server:
            pin(server.process.pid, args.core)
            print(f"certdesk serve (pid {server.process.pid}) pinned to core {args.core}")
            for text in asyncio.run(measure(server.url, references, args.waves, args.iterations)):
                print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
