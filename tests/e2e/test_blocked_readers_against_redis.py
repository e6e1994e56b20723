"""What a blocked reader is told when its key goes away, against ``redis-server`` 7.0:
an XREADGROUP waiting on a stream that is deleted, replaced, flushed or swapped away, or
whose group is destroyed; a BLPOP waiting through a FLUSHALL keeps waiting (found by
Redis's own test suite, ``unit/type/stream-cgroups``)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from _drive import resp_command as cmd
from _serve import HOST, RunningServer, redis_server, serve

WAIT = 0.3


@pytest.fixture(scope="module")
def redis_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    with redis_server(tmp_path_factory.mktemp("redis-blocked")) as port:
        yield port


@pytest.fixture(scope="module")
def ours(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with serve(tmp_path_factory.mktemp("blocked") / "serve.log", formats={"resp"}) as server:
        yield server


def _read(sock: socket.socket) -> bytes:
    """What arrives within WAIT seconds (b"" if nothing)."""
    sock.settimeout(WAIT)
    try:
        return sock.recv(65536)
    except TimeoutError:
        return b""


def _blocked_reader(port: int, block: tuple[str, ...], then: tuple[str, ...]) -> bytes:
    with (
        socket.create_connection((HOST, port), timeout=10) as writer,
        socket.create_connection((HOST, port), timeout=10) as reader,
    ):
        writer.sendall(
            cmd("FLUSHALL")
            + cmd("SELECT", "9")
            + cmd("XADD", "s", "666", "f", "v")
            + cmd("XGROUP", "CREATE", "s", "g", "$")
        )
        time.sleep(WAIT)
        _read(writer)
        reader.sendall(cmd("SELECT", "9") + cmd(*block))
        time.sleep(WAIT)
        assert _read(reader) == b"+OK\r\n"  # SELECT's reply only: the reader is blocked
        writer.sendall(cmd(*then))
        time.sleep(WAIT)
        return _read(reader)


XREADGROUP = ("XREADGROUP", "GROUP", "g", "alice", "BLOCK", "0", "STREAMS", "s", ">")


@pytest.mark.parametrize(
    "then",
    [
        ("DEL", "s"),
        ("SET", "s", "x"),
        ("FLUSHALL",),
        ("FLUSHDB",),
        ("SWAPDB", "9", "4"),
        ("XGROUP", "DESTROY", "s", "g"),
        ("XADD", "s", "667", "f", "w"),
    ],
    ids=" ".join,
)
def test_a_blocked_xreadgroup_is_told_as_redis_tells_it(
    redis_port: int, ours: RunningServer, then: tuple[str, ...]
) -> None:
    theirs = _blocked_reader(redis_port, XREADGROUP, then)
    assert theirs  # Redis answers the reader in each case
    assert _blocked_reader(ours.port, XREADGROUP, then) == theirs


def test_a_blocked_blpop_waits_through_a_flushall(redis_port: int, ours: RunningServer) -> None:
    for port in (redis_port, ours.port):
        assert _blocked_reader(port, ("BLPOP", "l", "0"), ("FLUSHALL",)) == b""
