"""The differential harness: Hypothesis-generated command sequences over a small key space
(every type we serve, expiry, MULTI/EXEC/WATCH) run against ``wireproto serve`` and a real
redis-server side by side, over loopback; every reply byte must be equal.

The example count is bounded for CI; ``benchmarks/differential.py`` runs it for longer.
Differences we keep on purpose are listed in ``specs/resp/README.md`` and are not generated.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from _differential import UNORDERED, Reply, ServerPair, parse_replies, unordered
from _differential_commands import SEQUENCES
from _serve import serve
from hypothesis import HealthCheck, given, settings

RESET = (("DISCARD",), ("UNWATCH",), ("FLUSHALL",), ("SELECT", "0"))


@pytest.fixture(scope="module")
def servers(redis_port: int, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerPair]:
    log = Path(tmp_path_factory.mktemp("differential")) / "serve.log"
    with serve(log, formats={"resp"}) as running:
        both = ServerPair(redis_port, running.port)
        yield both
        both.close()


def _name(step: tuple[str | bytes, ...]) -> bytes:
    first = step[0]
    return (first if isinstance(first, bytes) else first.encode()).upper()


def _normalised(steps: list[tuple[str | bytes, ...]], data: bytes) -> list[Reply]:
    """The replies, with those of hash-table-ordered commands sorted (in EXEC's too)."""
    parsed = parse_replies(data)
    queued: list[tuple[str | bytes, ...]] | None = None
    for index, step in enumerate(steps):
        name = _name(step)
        reply = parsed[index]
        if name == b"MULTI":
            queued = []
        elif name in (b"EXEC", b"DISCARD"):
            if name == b"EXEC" and queued is not None and isinstance(reply, tuple):
                kind, items = reply
                parsed[index] = (
                    kind,
                    tuple(
                        unordered(item) if _name(command) in UNORDERED else item
                        for item, command in zip(items, queued, strict=False)
                    ),
                )
            queued = None
        elif queued is not None:
            queued.append(step)
        elif name in UNORDERED:
            parsed[index] = unordered(reply)
    return parsed


def check(servers: ServerPair, steps: list[tuple[str | bytes, ...]]) -> None:
    """Run ``steps`` after a reset on both servers; the replies must be the same, byte for
    byte except for the order of what Redis's hash tables order."""
    servers.run(*RESET)
    everything = [*steps, ("DISCARD",)]
    theirs, ours = servers.run(*everything)
    if ours != theirs:
        assert _normalised(everything, ours) == _normalised(everything, theirs), steps


@settings(
    max_examples=500,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=SEQUENCES)
def test_command_sequences_match_redis_server(
    servers: ServerPair, steps: list[tuple[str | bytes, ...]]
) -> None:
    check(servers, steps)
