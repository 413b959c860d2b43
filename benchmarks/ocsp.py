"""OCSP responses per second on one core, beside the in-process signing ceiling (issue 14).

Starts a real `certdesk serve` pinned to one core (taskset, all its threads), issues one
certificate through the API, and drives `wrk` pinned to the other core:

1. ``GET /ocsp/{request}`` without a nonce, the RFC 5019 path: a pre-signed good answer from
   the cache, after one indexed read of the certificate's state (goal: >= 5,000/s);
2. ``POST /ocsp`` without a nonce: the same, over POST;
3. ``POST /ocsp`` with a nonce: signed for each request (a worker thread per signature);

then revokes the certificate with `certdesk ra revoke` (another process, as RA staff would)
and checks that the very next request answers ``revoked``. The ceilings are measured in the
same run: how many answers one core signs per second (``sign_answer``, the delegated EC P-256
key), how many cached answers the responder gives per second without HTTP
(``OcspResponder.answer``: the database read plus the cache), and the HTTP floor: a bare
aiohttp server on the server's core answering the same GET with fixed bytes (no routing of
certdesk's, no log), what no aiohttp handler can beat.

Each run prints the wall rate and the rate per CPU-second the server used (its threads'
user + system time over the run, from /proc): on a machine shared with other work the server
gets only part of its core, and the second figure is what one whole core would give.

    .venv/bin/python benchmarks/ocsp.py [--seconds 10] [--server-core 0] [--load-core 1]

Needs wrk and taskset. Everything stays on the loopback interface.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from _common import pin
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID

from tests.support.processes import Cli, base_env, free_port, live_server

GOAL_PER_SECOND = 5000
CONNECTIONS = 32


def enroll(cli: Cli, url: str) -> x509.Certificate:
    """One certificate: `certdesk ra issue`, then the API with a CSR made here."""
    created = cli("ra", "issue", "--cn", "OCSP Bench Holder", "--o", "Acme Bank", "--json")
    if created.returncode != 0:
        raise SystemExit(created.stderr)
    facts = json.loads(created.stdout)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ignored")])
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    body = json.dumps(
        {
            "reference_number": facts["reference_number"],
            "authorization_code": facts["authorization_code"],
            "csr": csr.public_bytes(serialization.Encoding.PEM).decode(),
        }
    ).encode()
    token = facts["link"].rsplit("/", 1)[1]
    request = urllib.request.Request(  # noqa: S310 (loopback)
        f"{url}/api/v1/enroll/{token}", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return x509.load_pem_x509_certificate(json.load(response)["certificate"].encode())


def fetch_issuer(url: str) -> x509.Certificate:
    with urllib.request.urlopen(f"{url}/ca.cer", timeout=10) as response:  # noqa: S310
        return x509.load_der_x509_certificate(response.read())


def request_der(cert: x509.Certificate, issuer: x509.Certificate, *, nonce: bool) -> bytes:
    sha1 = hashes.SHA1()  # noqa: S303 (RFC 5019: the CertID hash clients send)
    builder = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, sha1)
    if nonce:
        builder = builder.add_extension(x509.OCSPNonce(os.urandom(16)), critical=False)
    return builder.build().public_bytes(serialization.Encoding.DER)


def status_of(url: str, der: bytes) -> ocsp.OCSPCertStatus:
    request = urllib.request.Request(  # noqa: S310 (loopback)
        f"{url}/ocsp", data=der, headers={"Content-Type": "application/ocsp-request"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return ocsp.load_der_ocsp_response(response.read()).certificate_status


def wrk(
    wrk_path: str, core: int, url: str, seconds: int, work: Path, *, body: bytes | None, nonce: bool
) -> tuple[float, int]:
    """Requests/s and non-2xx count of a `wrk` run pinned to ``core``."""
    script = work / "ocsp.lua"
    lines = ['wrk.headers["Content-Type"] = "application/ocsp-request"']
    if body is not None:
        escaped = "".join(f"\\{b}" for b in body)
        lines += ['wrk.method = "POST"', f'wrk.body = "{escaped}"']
    if nonce:
        # A fresh 16-byte nonce per request: the nonce is the request's last 16 bytes.
        assert body is not None
        lines += [
            "request = function()",
            "  local n = ''",
            "  for i = 1, 16 do n = n .. string.char(math.random(0, 255)) end",
            "  return wrk.format(nil, nil, nil, string.sub(wrk.body, 1, -17) .. n)",
            "end",
        ]
    lines += [
        "done = function(summary, latency, requests)",
        '  io.write(string.format("NON2XX %d\\n", summary.errors.status))',
        "end",
    ]
    script.write_text("\n".join(lines) + "\n")
    threads = "1"
    result = subprocess.run(
        ["taskset", "-c", str(core), wrk_path, "-t", threads, "-c", str(CONNECTIONS),
         "-d", f"{seconds}s", "-s", str(script), url],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    rate = re.search(r"Requests/sec:\s+([\d.]+)", result.stdout)
    errors = re.search(r"NON2XX (\d+)", result.stdout)
    if rate is None or errors is None:
        raise SystemExit(f"wrk failed: {result.stdout}{result.stderr}")
    return float(rate.group(1)), int(errors.group(1))


def cpu_seconds(pid: int) -> float:
    """User + system time of every thread of ``pid`` so far."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        fields = Path(f"/proc/{pid}/task/{task}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def measured(
    pid: int, run: Callable[[], tuple[float, int]], seconds: int
) -> tuple[float, float, int]:
    """(wall rate, rate per CPU-second of ``pid``, non-2xx) of one wrk run."""
    before = cpu_seconds(pid)
    rate, errors = run()
    used = cpu_seconds(pid) - before
    return rate, rate * seconds / used if used > 0 else 0.0, errors


def serve_floor(port: int, body: bytes) -> None:
    """The HTTP floor: bare aiohttp, one route, fixed bytes, no access log."""
    from aiohttp import web

    async def answer(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/ocsp-response")

    app = web.Application()
    app.router.add_get("/ocsp/{request:.*}", answer)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=lambda message: None)


def wait_for(port: int) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/ocsp/x", timeout=2).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def signing_ceiling(seconds: float) -> float:
    """Answers signed per second in this process, one thread: the delegated P-256 key."""
    from datetime import timedelta

    from common.time import utcnow
    from enrollment.ca.authority import load_or_create_local_ca
    from enrollment.ca.ocsp_signer import SignerPolicy, load_or_rotate_signer
    from enrollment.protocols.ocsp.messages import parse_request, sign_answer

    with tempfile.TemporaryDirectory() as directory:
        ca = load_or_create_local_ca(
            Path(directory), key_type="ec-p256", organization="Bench", crl_url=None
        )
        signer = load_or_rotate_signer(Path(directory), ca=ca, policy=SignerPolicy())
        leaf = ca.issue_ocsp_signer(
            public_key=signer.private_key.public_key(), validity=timedelta(days=1)
        )
        query = parse_request(request_der(leaf, ca.certificate, nonce=True))
        count, started = 0, time.perf_counter()
        now = utcnow()
        while time.perf_counter() - started < seconds:
            for _ in range(100):
                sign_answer(query, issued=True, revoked=None, signer=signer, this_update=now,
                            next_update=now + timedelta(days=7))  # fmt: skip
            count += 100
        return count / (time.perf_counter() - started)


def responder_ceiling(data_dir: Path, der: bytes, seconds: float) -> float:
    """Cached answers per second from ``OcspResponder.answer`` in this process (the store read
    plus the cache, no HTTP), for a good certificate on the server's own database."""
    from bot.datadir import ca_directory
    from bot.runtime import open_runtime
    from bot.settings import Settings
    from enrollment.protocols.ocsp.messages import parse_request
    from enrollment.protocols.ocsp.responder import OcspResponder, ResponderConfig
    from enrollment.protocols.ocsp.states import StoreStates

    async def run() -> float:
        settings = Settings(_env_file=None, data_dir=data_dir)  # type: ignore[call-arg]
        async with open_runtime(settings) as runtime:
            states = StoreStates(runtime.engine)
            responder = OcspResponder(
                ca=runtime.ca,
                states=states,
                config=ResponderConfig(
                    lifetime=runtime.services.config.crl_validity,
                    refresh=runtime.services.config.crl_refresh,
                    signer_directory=ca_directory(settings),
                ),
            )
            query = parse_request(der)
            await responder.answer(query)
            counts = [0] * CONNECTIONS
            deadline = time.perf_counter() + seconds

            async def client(index: int) -> None:
                while time.perf_counter() < deadline:
                    await responder.answer(query)
                    counts[index] += 1

            started = time.perf_counter()
            await asyncio.gather(*(client(i) for i in range(CONNECTIONS)))
            rate = sum(counts) / (time.perf_counter() - started)
            await states.close()
            return rate

    return asyncio.run(run())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="length of each wrk run")
    parser.add_argument("--server-core", type=int, default=0, help="the CPU of the server")
    parser.add_argument("--load-core", type=int, default=1, help="the CPU of wrk and the ceiling")
    parser.add_argument(
        "--log-level",
        default="INFO",
        help="the server's CERTDESK_LOG_LEVEL (INFO writes one access-log record a request)",
    )
    parser.add_argument("--serve-floor", type=int, help=argparse.SUPPRESS)  # the HTTP floor
    args = parser.parse_args()
    if args.serve_floor is not None:
        serve_floor(args.serve_floor, b"\x30" * 480)
        return 0
    wrk_path, taskset = shutil.which("wrk"), shutil.which("taskset")
    if wrk_path is None or taskset is None:
        print("wrk and taskset (util-linux) are needed: apt-get install wrk", file=sys.stderr)
        return 2
    os.sched_setaffinity(0, {args.load_core})
    with tempfile.TemporaryDirectory() as directory:
        work = Path(directory)
        (work / "data").mkdir(mode=0o700)
        env = base_env(
            work / "data",
            {"CERTDESK_SERVE_REMINDERS": "false", "CERTDESK_LOG_LEVEL": args.log_level},
        )
        cli = Cli(env)
        with live_server(env) as server:
            pin(server.process.pid, args.server_core)
            print(
                f"certdesk serve (pid {server.process.pid}) pinned to core {args.server_core}; wrk"
                f" and the ceilings on core {args.load_core}; load average {os.getloadavg()[0]:.1f}"
            )
            cert = enroll(cli, server.url)
            spare = enroll(cli, server.url)  # stays good: the responder's ceiling asks for it
            issuer = fetch_issuer(server.url)
            plain = request_der(cert, issuer, nonce=False)
            with_nonce = request_der(cert, issuer, nonce=True)
            get_url = f"{server.url}/ocsp/" + base64.urlsafe_b64encode(plain).decode().rstrip("=")
            assert status_of(server.url, plain) == ocsp.OCSPCertStatus.GOOD
            runs = [
                ("GET, cached good answer", get_url, None, False),
                ("POST, cached good answer", f"{server.url}/ocsp", plain, False),
                ("POST with a nonce, signed per request", f"{server.url}/ocsp", with_nonce, True),
            ]
            rates, per_cpu = {}, {}
            pid = server.process.pid
            for label, url, body, nonce in runs:
                rate, core_rate, errors = measured(
                    pid,
                    lambda url=url, body=body, nonce=nonce: wrk(
                        wrk_path, args.load_core, url, args.seconds, work, body=body, nonce=nonce
                    ),
                    args.seconds,
                )
                rates[label], per_cpu[label] = rate, core_rate
                print(f"{label:40} {rate:9,.0f} responses/s {core_rate:9,.0f}/CPU-second"
                      f"   ({errors} non-2xx)")  # fmt: skip
            floor_port = free_port()
            floor = subprocess.Popen(
                [taskset, "-c", str(args.server_core), sys.executable, __file__,
                 "--serve-floor", str(floor_port)],
            )  # fmt: skip
            try:
                wait_for(floor_port)
                floor_path = get_url.removeprefix(server.url)
                floor_url = f"http://127.0.0.1:{floor_port}{floor_path}"
                floor_rate, floor_cpu, _ = measured(
                    floor.pid,
                    lambda: wrk(
                        wrk_path,
                        args.load_core,
                        floor_url,
                        args.seconds,
                        work,
                        body=None,
                        nonce=False,
                    ),
                    args.seconds,
                )
            finally:
                floor.terminate()
                floor.wait(timeout=30)
            revoked = cli(
                "ra", "revoke", format(cert.serial_number, "x"), "--reason", "keyCompromise"
            )
            if revoked.returncode != 0:
                print(revoked.stderr, file=sys.stderr)
                return 1
            seen = status_of(server.url, plain)
            visible = seen == ocsp.OCSPCertStatus.REVOKED
            print(f"revocation by `certdesk ra revoke`, next request: {seen.name.lower()} "
                  f"({'visible at once' if visible else 'NOT VISIBLE'})")  # fmt: skip
            data_dir = work / "data"
        ceiling = responder_ceiling(data_dir, request_der(spare, issuer, nonce=False), 5)
    signing = signing_ceiling(5)
    print(
        f"{'ceiling: responder.answer, no HTTP':40} {ceiling:9,.0f} answers/s (store read + cache)"
    )
    print(f"{'ceiling: sign_answer, one thread':40} {signing:9,.0f} signatures/s")
    print(f"{'floor: bare aiohttp, fixed GET answer':40} {floor_rate:9,.0f} responses/s "
          f"{floor_cpu:9,.0f}/CPU-second")  # fmt: skip
    label = "GET, cached good answer"
    cached, cached_cpu = rates[label], per_cpu[label]
    print(f"GET / bare aiohttp: {cached / floor_rate:.2f} (wall), {cached_cpu / floor_cpu:.2f} "
          f"(per CPU-second); GET / sign_answer: {cached / signing:.1f}")  # fmt: skip
    verdict = "met" if cached >= GOAL_PER_SECOND else "NOT MET"
    core_verdict = "met" if cached_cpu >= GOAL_PER_SECOND else "not met"
    print(f"goal: >= {GOAL_PER_SECOND:,}/s/core from cache (GET): {verdict} as measured; "
          f"{core_verdict} per CPU-second of the server ({cached_cpu:,.0f})")  # fmt: skip
    return 0 if visible else 1


if __name__ == "__main__":
    raise SystemExit(main())
