"""A server-made key's PKCS#12 file, built in a process of its own. Internal to
:mod:`enrollment.services`.

Most of a PKCS#12's cost is Python holding the GIL: the SHA-256 MAC key's 100,000 iterations
(a Python loop over 32-byte digests, which hashlib does not release the GIL for) and pyasn1's
re-encoding, about 40 ms of an RSA-2048 issuance's 95. In a thread of the server, the event
loop could then run only every other switch interval (5 ms) whatever that thread's priority;
in a process of its own, below the server's priority, it takes only the CPU the server leaves.
The private key reaches that process through a pipe, never a file.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from enrollment.ca.pkcs12 import Pkcs12Format, ServerPrivateKey, build_pkcs12

PACKAGER_NICENESS = 10  # how much lower than the server the packaging process runs


def _started(nice: int, parent: int) -> None:
    """In the packaging process: take its nice value; end it when the server is gone."""
    with contextlib.suppress(OSError):  # no priorities here: run as is
        os.setpriority(os.PRIO_PROCESS, 0, nice)

    def watch() -> None:
        while os.getppid() == parent:
            threading.Event().wait(1.0)
        os._exit(0)  # the server died (SIGKILL): nothing is waiting for this process

    threading.Thread(target=watch, name="certdesk-packager-parent", daemon=True).start()


def _build(
    key_der: bytes,
    certificate_der: bytes,
    chain_der: Sequence[bytes],
    friendly_name: str,
    password: str,
    file_format: Pkcs12Format,
) -> bytes:
    """In the packaging process: :func:`build_pkcs12` from DER values."""
    key = serialization.load_der_private_key(key_der, password=None)
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise TypeError(f"not a server key: {type(key).__name__}")
    return build_pkcs12(
        key=key,
        certificate=x509.load_der_x509_certificate(certificate_der),
        chain=[x509.load_der_x509_certificate(der) for der in chain_der],
        friendly_name=friendly_name,
        password=password,
        file_format=file_format,
    )


class Packager:
    """One packaging process, started on first use and started again if it died."""

    def __init__(self, *, niceness: int) -> None:
        self._niceness = niceness
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self.pid: int | None = None  # the packaging process's, once started (for tests)

    def build(
        self,
        *,
        key: ServerPrivateKey,
        certificate: x509.Certificate,
        chain: Sequence[x509.Certificate],
        friendly_name: str,
        password: str,
        file_format: Pkcs12Format,
    ) -> bytes:
        """The PKCS#12 file, built in the packaging process; blocks the calling (worker)
        thread, never the event loop."""
        der = serialization.Encoding.DER
        arguments = (
            key.private_bytes(der, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
            certificate.public_bytes(der),
            [cert.public_bytes(der) for cert in chain],
            friendly_name,
            password,
            file_format,
        )
        for attempt in (1, 2):
            pool = self._running()
            try:
                return pool.submit(_build, *arguments).result()
            except BrokenProcessPool:  # the process died (killed, out of memory): once more
                with self._lock:
                    if self._pool is pool:
                        self._pool = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _running(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    1,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_started,
                    # The server's nice value (its main thread's) plus ours: the process
                    # would inherit the starting thread's, a key maker's.
                    initargs=(
                        min(19, os.getpriority(os.PRIO_PROCESS, os.getpid()) + self._niceness),
                        os.getpid(),
                    ),
                )
                self.pid = self._pool.submit(os.getpid).result()
            return self._pool


PACKAGER = Packager(niceness=PACKAGER_NICENESS)
