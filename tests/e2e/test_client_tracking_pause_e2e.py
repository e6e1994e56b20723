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
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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


def _reply_end(data: bytes, pos: int) -> int:
    """Where the RESP reply starting at ``pos`` ends (IndexError/ValueError: incomplete)."""
    line_end = data.index(b"\r\n", pos)
    kind, header = data[pos : pos + 1], data[pos + 1 : line_end]
    pos = line_end + 2
    if kind in (b"$", b"=", b"!"):
        size = int(header)
        end = pos if size < 0 else pos + size + 2
        if end > len(data):
            raise IndexError(end)
        return end
    if kind in (b"*", b">", b"~", b"%"):
        count = int(header) * (2 if kind == b"%" else 1)
        for _ in range(max(count, 0)):
            pos = _reply_end(data, pos)
    return pos


def _read_reply(sock: socket.socket) -> bytes:
    """At least one whole reply (what arrives in the same reads may follow)."""
    data = b""
    deadline = time.monotonic() + TIMEOUT
    while True:
        try:
            _reply_end(data, 0)
            return data
        except (IndexError, ValueError):
            assert time.monotonic() < deadline, data
            chunk = sock.recv(65536)
            assert chunk, data
            data += chunk


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
        """One command on its own (not pipelined: Redis sends BCAST messages after each
        read batch), then a sync: everything the connection got."""
        sock = self.socks[name]
        sock.sendall(cmd(*args))
        reply = _read_reply(sock)
        if name == "sink" and self.subscribed:
            sock.sendall(cmd("PING", "sync"))
            return reply + _read_until(sock, SUB_SYNC)
        sock.sendall(cmd("ECHO", "sync"))
        return reply + _read_until(sock, SYNC)

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
    ("writer", "CLIENT", "HELP"),
    ("writer", "CLIENT", "UNBLOCK", "999999"),
    ("writer", "CLIENT", "UNBLOCK", "x"),
    ("writer", "CLIENT", "UNBLOCK", "1", "maybe"),
    ("writer", "CLIENT", "PAUSE", "x"),
    ("writer", "CLIENT", "PAUSE", "-5"),
    ("writer", "CLIENT", "PAUSE", "5", "SOME"),
    ("writer", "CLIENT", "PAUSE", "5", "ALL", "x"),
    ("writer", "CLIENT", "CACHING", "YES"),
    ("writer", "CLIENT", "TRACKINGINFO"),
    ("reader", "CLIENT", "TRACKING", "ON"),
    ("reader", "CLIENT", "TRACKINGINFO"),
    ("reader", "CLIENT", "GETREDIR"),
    ("reader", "GET", "a"),
    ("reader", "MGET", "b", "c"),
    ("reader", "HGETALL", "h"),
    ("reader", "GET", "1"),
    ("writer", "SWAPDB", "0", "1"),
    ("writer", "SWAPDB", "0", "1"),
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


KEYS = ("a", "b", "pa", "pb")
_key = st.sampled_from(KEYS)
_value = st.sampled_from(("1", "x"))
READS = st.one_of(
    st.tuples(st.just("GET"), _key),
    st.tuples(st.just("MGET"), _key, _key),
    st.tuples(st.just("EXISTS"), _key),
    st.tuples(st.just("STRLEN"), _key),
    st.tuples(st.just("CLIENT"), st.just("CACHING"), st.sampled_from(("YES", "NO"))),
    st.tuples(st.just("HGET"), _key, st.just("f")),
    st.tuples(st.just("LRANGE"), _key, st.just("0"), st.just("-1")),
    st.tuples(st.just("TYPE"), _key),
    st.tuples(st.just("CLIENT"), st.just("TRACKING"), st.sampled_from(("ON", "OFF"))),
)
WRITES = st.one_of(
    st.tuples(st.just("SET"), _key, _value),
    st.tuples(st.just("DEL"), _key),
    st.tuples(st.just("APPEND"), _key, _value),
    st.tuples(st.just("EXPIRE"), _key, st.just("100")),
    st.tuples(st.just("PERSIST"), _key),
    st.tuples(st.just("RENAME"), _key, _key),
    st.tuples(st.just("MSET"), _key, _value, _key, _value),
    st.tuples(st.just("FLUSHDB")),
    st.tuples(st.just("HSET"), _key, st.just("f"), _value),
    st.tuples(st.just("LPUSH"), _key, _value),
    st.tuples(st.just("INCR"), _key),
)
MODES = st.sampled_from(
    [
        (),
        ("NOLOOP",),
        ("OPTIN",),
        ("OPTOUT",),
        ("BCAST",),
        ("BCAST", "PREFIX", "p", "NOLOOP"),
        ("REDIRECT", "{sink}"),
        ("REDIRECT", "{sink}", "BCAST", "PREFIX", "a"),
    ]
)
STEP = st.one_of(
    st.tuples(st.just("reader"), READS),
    st.tuples(st.just("reader"), WRITES),
    st.tuples(st.just("writer"), WRITES),
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(mode=MODES, steps=st.lists(STEP, max_size=12))
def test_tracking_differential(
    redis_port: int,
    ours: RunningServer,
    mode: tuple[str, ...],
    steps: list[tuple[str, tuple[str, ...]]],
) -> None:
    sides = Side(redis_port), Side(ours.port)
    try:
        script: list[tuple[str, ...]] = []
        if "{sink}" in mode:
            script.append(("sink", "SUBSCRIBE", "__redis__:invalidate"))
        script.append(("reader", "CLIENT", "TRACKING", "ON", *mode))
        script += [(name, *command) for name, command in steps]
        for step in script:
            theirs, mine = sides[0].step(*step), sides[1].step(*step)
            assert mine == theirs, (script, step)
    finally:
        for side in sides:
            side.close()
