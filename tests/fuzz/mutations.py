"""Hypothesis strategies that damage valid inputs: truncations, flipped and inserted bytes,
deleted spans, and bytes from nowhere. Each fuzz test draws from these with a bounded budget.

The tests assert what comes out, never how long it took: how long the worst damaged inputs
hold a parser is measured by ``benchmarks/hostile_inputs.py`` from these same strategies."""

from __future__ import annotations

import os
from collections.abc import Callable

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from common.errors import CertdeskError

CAMPAIGN = os.environ.get("CERTDESK_FUZZ_EXAMPLES")
"""Unset in the suite. Set (``CERTDESK_FUZZ_EXAMPLES=3000 scripts/test tests/fuzz ...``), every
fuzz test draws that many examples, from a random seed: a campaign, outside the suite."""


def budget(examples: int) -> int:
    """``examples`` in the suite (bounded: the brief's ceiling is 200 a property), else the
    campaign's."""
    return int(CAMPAIGN) if CAMPAIGN else examples


FUZZ = settings(
    max_examples=budget(150),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=CAMPAIGN is None,
)


@st.composite
def mutated(draw: st.DrawFn, valid: bytes) -> bytes:
    """``valid`` truncated, with bytes flipped, inserted or deleted (one to four edits)."""
    data = bytearray(valid)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["truncate", "flip", "insert", "delete", "duplicate"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "truncate":
            del data[at:]
        elif kind == "flip" and data:
            data[at] ^= draw(st.integers(1, 255))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 16))]
        elif kind == "duplicate":
            data[at:at] = data[at : at + draw(st.integers(1, 64))]
    return bytes(data)


def damaged(*valid: bytes) -> st.SearchStrategy[bytes]:
    """Mutations of any of ``valid``, or arbitrary bytes."""
    return st.one_of(
        *(mutated(sample) for sample in valid),
        st.binary(max_size=512),
    )


def defined_error(call: Callable[[], object]) -> CertdeskError | None:
    """The certdesk error ``call`` raised, or None; any other exception propagates (a finding)."""
    try:
        call()
    except CertdeskError as error:
        return error
    return None
