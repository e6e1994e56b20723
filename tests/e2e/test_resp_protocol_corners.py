"""Protocol corner cases of a connection's first bytes, byte for byte against ``redis-server``.

``wireproto serve`` (every bundled format on one port, memcached included)
and a real ``redis-server`` get the same bytes on a fresh connection; the
replies, and whether the server closed the connection, must be the same.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from _serve import HOST, RunningServer, redis_server, serve

WAIT = 0.6
"""Seconds of silence after which a server is taken to wait for more bytes."""


@pytest.fixture(scope="module")
def redis_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    with redis_server(tmp_path_factory.mktemp("redis-corners")) as port:
        yield port


@pytest.fixture(scope="module")
def ours(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    log = tmp_path_factory.mktemp("corners") / "serve.log"
    with serve(log, formats={"resp", "memcache-text"}) as server:
        yield server


def exchange(port: int, data: bytes) -> tuple[bytes, bool]:
    """The reply of the server on ``port`` to ``data`` on a new connection; whether it closed."""
    with socket.create_connection((HOST, port), timeout=5.0) as sock:
        sock.sendall(data)
        sock.settimeout(WAIT)
        reply = b""
        for _ in range(1000):  # bounded: replies here are a few bytes
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                return reply, False
            except ConnectionResetError:
                return reply, True
            if not chunk:
                return reply, True
            reply += chunk
    raise AssertionError("the server kept sending")


@pytest.mark.parametrize(
    "data",
    [
        b"\r\nPING\r\n",
        b"\r\n\r\n\r\nPING\r\n",
        b"\n\nping\n",
        b"  \r\n\t\r\nPING\r\n",
        b"\r\n*1\r\n$4\r\nPING\r\n",
        b"set k v\r\nget k\r\n",
        b"set k2 v EX 100\r\nttl k2\r\n",
        b"incr counter\r\nincr counter\r\n",
        b"append k3 v\r\nappend k3 w\r\nget k3\r\n",
        b"\x00junk\r\n",
        b"\x00junk\r\n" + b"x" * (64 * 1024),
        b"\r\n\x00" + b"y" * (64 * 1024 + 10),
        b"$\x00" + b"payload" * 10_000,  # Redis's "Protocol desync regression test #3"
        b"*\x00" + b"payload" * 10_000,
    ],
)
def test_first_bytes_are_answered_as_redis_answers_them(
    redis_port: int, ours: RunningServer, data: bytes
) -> None:
    # Both at once: each exchange ends in WAIT seconds of silence.
    with ThreadPoolExecutor(2) as pool:
        their_future = pool.submit(exchange, redis_port, data)
        mine = exchange(ours.port, data)
        theirs = their_future.result()
    assert mine == theirs
    if data[:1] in (b"\x00", b"$") and len(data) > 64 * 1024:
        assert theirs == (b"-ERR Protocol error: too big inline request\r\n", True)


def test_memcached_storage_lines_stay_memcached(ours: RunningServer) -> None:
    assert exchange(ours.port, b"set m 0 0 1\r\nx\r\nget m\r\n") == (
        b"STORED\r\nVALUE m 0 1\r\nx\r\nEND\r\n",
        False,
    )
    assert exchange(ours.port, b"incr m2 1\r\n") == (b"NOT_FOUND\r\n", False)
