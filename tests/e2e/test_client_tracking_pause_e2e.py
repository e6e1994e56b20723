"""CLIENT TRACKING and CLIENT PAUSE end to end, beside a real ``redis-server``.

The same scripted steps run on ``wireproto serve`` and on redis-server 7.0 over
real sockets, with three connections each: a RESP3 reader, a RESP2 writer and a
RESP2 sink subscribed to ``__redis__:invalidate``. After every step each
connection is synchronised (ECHO, or PING for the subscriber) and everything it
received is compared byte for byte: replies, invalidation pushes (RESP3), and the
REDIRECT messages (RESP2). CLIENT PAUSE is checked for timing on both servers.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from _drive import resp_command as cmd
from _serve import HOST, RunningServer, redis_server, serve

TIMEOUT = 10.0
SYNC = b"$4\r\nsync\r\n"
SUB_SYNC = b"*2\r\n$4\r\npong\r\n$4\r\nsync\r\n"


@pytest.fixture(scope="module")
def redis_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    with redis_server(tmp_path_factory.mktemp("redis-tracking")) as port:
        yield port


@pytest.fixture(scope="module")
def ours(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    log = tmp_path_factory.mktemp("tracking") / "serve.log"
    with serve(log, formats={"resp"}) as server:
        yield server


def _read_until(sock: socket.socket, end: bytes) -> bytes:
    data = b""
    deadline = time.monotonic() + TIMEOUT
    while not data.endswith(end):
        assert time.monotonic() < deadline, data
        chunk = sock.recv(65536)
        assert chunk, data
        data += chunk
    return data[: -len(end)]


class Side:
    """The three connections to one server."""

    def __init__(self, port: int) -> None:
        self.subscribed = False
        self.socks = {
            name: socket.create_connection((HOST, port), timeout=TIMEOUT)
            for name in ("reader", "writer", "sink")
        }
        self.ids = {name: int(self.call(name, "CLIENT", "ID")[1:-2]) for name in self.socks}
        assert self.call("reader", "HELLO", "3").startswith(b"%7\r\n")
        self.call("writer", "FLUSHALL")

    def close(self) -> None:
        for sock in self.socks.values():
            sock.close()

    def call(self, name: str, *args: str) -> bytes:
        sock = self.socks[name]
        if name == "sink" and self.subscribed:
            sock.sendall(cmd(*args) + cmd("PING", "sync"))
            return _read_until(sock, SUB_SYNC)
        sock.sendall(cmd(*args) + cmd("ECHO", "sync"))
        return _read_until(sock, SYNC)

    def drain(self) -> dict[str, bytes]:
        out = {}
        for name, sock in self.socks.items():
            if name == "sink" and self.subscribed:
                sock.sendall(cmd("PING", "sync"))
                out[name] = _read_until(sock, SUB_SYNC)
            else:
                sock.sendall(cmd("ECHO", "sync"))
                out[name] = _read_until(sock, SYNC)
        return out

    def step(self, name: str, *args: str) -> tuple[bytes, dict[str, bytes]]:
        args = tuple(str(self.ids["sink"]) if arg == "{sink}" else arg for arg in args)
        if args[0] == "SUBSCRIBE":
            self.subscribed = True  # the sync that follows is a subscriber's PING
        reply = self.call(name, *args)
        return reply, self.drain()


STEPS: list[tuple[str, ...]] = [
    ("reader", "CLIENT", "TRACKING", "ON"),
    ("reader", "CLIENT", "TRACKINGINFO"),
    ("reader", "CLIENT", "GETREDIR"),
    ("reader", "GET", "a"),
    ("reader", "MGET", "b", "c"),
    ("reader", "HGETALL", "h"),
    ("writer", "SET", "a", "1"),
    ("writer", "SET", "a", "2"),
    ("writer", "MSET", "c", "1", "b", "2"),
    ("writer", "HSET", "h", "f", "v"),
    ("reader", "GET", "a"),
    ("reader", "SET", "a", "3"),
    ("reader", "EXISTS", "a"),
    ("writer", "EXPIRE", "a", "100"),
    ("reader", "GET", "a"),
    ("writer", "FLUSHALL"),
    ("reader", "FLUSHDB"),
    ("reader", "CLIENT", "TRACKING", "ON", "NOLOOP"),
    ("reader", "GET", "n"),
    ("reader", "SET", "n", "1"),
    ("reader", "CLIENT", "TRACKING", "OFF"),
    ("reader", "CLIENT", "TRACKING", "ON", "OPTIN"),
    ("reader", "GET", "x"),
    ("reader", "CLIENT", "CACHING", "YES"),
    ("reader", "GET", "y"),
    ("reader", "CLIENT", "TRACKINGINFO"),
    ("writer", "MSET", "x", "1", "y", "1"),
    ("reader", "CLIENT", "TRACKING", "OFF"),
    ("reader", "CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "p", "PREFIX", "q"),
    ("writer", "MSET", "p2", "1", "p1", "1", "r", "1", "q", "1"),
    ("reader", "CLIENT", "TRACKINGINFO"),
    ("reader", "CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "pp"),
    ("reader", "CLIENT", "TRACKING", "OFF"),
    ("sink", "SUBSCRIBE", "__redis__:invalidate"),
    ("writer", "CLIENT", "TRACKING", "ON", "REDIRECT", "{sink}"),
    ("writer", "GET", "k"),
    ("writer", "SET", "k", "1"),
    ("writer", "GET", "k"),
    ("writer", "FLUSHDB"),
    ("writer", "CLIENT", "TRACKING", "OFF"),
    ("reader", "CLIENT", "TRACKING", "ON", "REDIRECT", "{sink}", "BCAST"),
    ("writer", "SET", "z", "1"),
    ("reader", "CLIENT", "TRACKING", "OFF"),
]


def test_tracking_transcript_matches_redis(redis_port: int, ours: RunningServer) -> None:
    theirs_side, ours_side = Side(redis_port), Side(ours.port)
    try:
        for step in STEPS:
            theirs = theirs_side.step(*step)
            mine = ours_side.step(*step)
            assert mine == theirs, step
    finally:
        theirs_side.close()
        ours_side.close()


def _timed_write_during_pause(port: int, mode: str) -> tuple[bytes, float, float]:
    pauser = socket.create_connection((HOST, port), timeout=TIMEOUT)
    other = socket.create_connection((HOST, port), timeout=TIMEOUT)
    try:
        pauser.sendall(cmd("CLIENT", "PAUSE", "400", mode))
        assert _read_until(pauser, b"+OK\r\n") == b""
        started = time.monotonic()
        other.sendall(cmd("GET", "paused-key") + cmd("ECHO", "sync"))
        read = _read_until(other, SYNC)
        read_time = time.monotonic() - started
        other.sendall(cmd("SET", "paused-key", "v") + cmd("GET", "paused-key"))
        written = _read_until(other, b"$1\r\nv\r\n")
        return read + written, read_time, time.monotonic() - started
    finally:
        pauser.close()
        other.close()


@pytest.mark.parametrize("mode", ["WRITE", "ALL"])
def test_pause_holds_writes_until_it_ends_as_redis(
    redis_port: int, ours: RunningServer, mode: str
) -> None:
    replies, read_time, write_time = _timed_write_during_pause(ours.port, mode)
    expected, _, redis_write_time = _timed_write_during_pause(redis_port, mode)
    assert replies == expected
    assert 0.35 <= write_time < 3.0 and 0.35 <= redis_write_time < 3.0
    if mode == "WRITE":
        assert read_time < 0.3  # reads go through a WRITE pause
    else:
        assert read_time >= 0.35
