"""How the ``certdesk`` program ends a command declared ``end_now`` (``ask``, ``inspect``): exit
handlers run and output is flushed before the process ends, without the interpreter's teardown."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from tests.support.pki import self_signed
from tests.support.processes import Cli

ENDS = """
import atexit, sys
from bot.cli import end_now
atexit.register(lambda: print("exit handler ran", file=sys.stderr))
print("unflushed line", end="")
end_now(int(sys.argv[1]))
"""


def test_end_now_runs_the_exit_handlers_and_flushes_output() -> None:
    result = subprocess.run(
        [sys.executable, "-c", ENDS, "3"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 3
    assert result.stdout == "unflushed line"
    assert result.stderr == "exit handler ran\n"


def test_a_closed_output_pipe_ends_with_120_and_no_traceback(cli: Cli, tmp_path: Path) -> None:
    """As the interpreter's own exit does when its last flush fails; nothing else is printed
    (before, inspect's print raised BrokenPipeError and the traceback was the whole output)."""
    _, certificate = self_signed("Test Holder 01", valid_for=timedelta(days=30))
    pem = tmp_path / "holder.pem"
    pem.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "inspect", str(pem)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli.env,
        cwd=tmp_path,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    process.stdout.close()  # the reader went away (`certdesk inspect FILE | head -0`)
    with process.stderr:
        stderr = process.stderr.read().decode()
    assert process.wait(timeout=60) == 120
    assert "Traceback" not in stderr
    assert "BrokenPipe" not in stderr


def test_ask_prints_its_whole_answer_through_a_pipe(cli: Cli) -> None:
    result = cli("ask", "How do I renew my certificate?", "--json")
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith("}\n")  # the whole JSON line, flushed before the end
