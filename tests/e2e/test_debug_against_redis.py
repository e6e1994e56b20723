"""DEBUG's harmless subcommands byte for byte against a ``redis-server`` 7.0 that allows
DEBUG (``--enable-debug-command yes``; it refuses DEBUG by default)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from _drive import resp_session as session
from _serve import RunningServer, redis_server, serve


@pytest.fixture(scope="module")
def redis_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    workdir = tmp_path_factory.mktemp("redis-debug")
    with redis_server(workdir, "--enable-debug-command", "yes") as port:
        yield port


@pytest.fixture(scope="module")
def ours(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with serve(tmp_path_factory.mktemp("debug") / "serve.log", formats={"resp"}) as server:
        yield server


def masked(reply: bytes) -> bytes:
    """A DEBUG OBJECT line without what names this process's memory and clock: the
    address, the LRU clock and idle seconds (an upper bound here while maxmemory is off,
    and Redis's shared integers are as old as the server), and Redis's quicklist details."""
    reply = re.sub(rb"Value at:0x[0-9a-f]+", b"Value at:ADDR", reply)
    reply = re.sub(rb" lru:\d+ lru_seconds_idle:\d+", b" lru:CLOCK lru_seconds_idle:IDLE", reply)
    return re.sub(rb" ql_nodes:.*\r\n", b"\r\n", reply)


WRITES = [
    ("SET", "s", "v"),
    ("SET", "n", "123"),
    ("SET", "big-n", "123456789012"),
    ("SET", "twenty", "a" * 20),
    ("RPUSH", "l", "a", "b", "c"),
    ("HSET", "h", "f", "v", "g", "w"),
    ("SADD", "is", "1", "2", "3"),
    ("SADD", "ss", "x", "y"),
    ("ZADD", "z", "1", "a", "2.5", "b"),
    ("XADD", "x", "1-1", "f", "v"),
    ("PFADD", "hll", "a", "b"),
]
KEYS = ["s", "n", "big-n", "twenty", "l", "h", "is", "ss", "z", "x", "hll", "missing"]


@pytest.mark.parametrize("key", KEYS)
def test_debug_object_matches_redis(redis_port: int, ours: RunningServer, key: str) -> None:
    commands = [("FLUSHALL",), *WRITES, ("DEBUG", "OBJECT", key)]
    theirs = masked(session(redis_port, *commands))
    assert masked(session(ours.port, *commands)) == theirs
    assert (b"encoding:" in theirs) == (key != "missing")


@pytest.mark.parametrize(
    "command",
    [
        ("DEBUG", "SLEEP", "0"),
        ("DEBUG", "SLEEP", "0.01"),
        ("DEBUG", "SLEEP", "x"),
        ("DEBUG", "SLEEP"),
        ("DEBUG", "OBJECT"),
        ("DEBUG", "OBJECT", "a", "b"),
        ("DEBUG", "SET-ACTIVE-EXPIRE", "0"),
        ("DEBUG", "SET-ACTIVE-EXPIRE", "1"),
        ("DEBUG", "SLEEP", "-1"),
        ("DEBUG", "SLEEP", "0.01abc"),
        ("DEBUG", "SET-ACTIVE-EXPIRE", "x"),
        ("DEBUG", "SET-ACTIVE-EXPIRE", "2"),
        ("DEBUG", "SET-ACTIVE-EXPIRE"),
        ("DEBUG", "NOSUCH"),
        ("DEBUG", "ERROR", "LOADING fake message"),
        ("DEBUG", "ERROR", "ERR two\r\nlines\n"),
        ("DEBUG", "ERROR", ""),
        ("DEBUG", "ERROR"),
        ("DEBUG", "ERROR", "a", "b"),
    ],
)
def test_debug_answers_match_redis(
    redis_port: int, ours: RunningServer, command: tuple[str, ...]
) -> None:
    assert session(ours.port, command) == session(redis_port, command)
