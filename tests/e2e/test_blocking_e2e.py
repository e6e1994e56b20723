"""Blocking list commands over loopback: redis-py against ``wireproto serve``, and a scripted
scenario over raw sockets whose replies are compared with a real ``redis-server``'s."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import redis
from _drive import resp_command as cmd
from _serve import HOST, redis_server, serve

Step = tuple[int, tuple[bytes | str | int, ...]]


@pytest.fixture(scope="module")
def port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    log = tmp_path_factory.mktemp("blocking") / "serve.log"
    with serve(log, formats={"resp"}) as server:
        yield server.port


@pytest.fixture(scope="module")
def redis_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    with redis_server(tmp_path_factory.mktemp("redis-blocking")) as found:
        yield found


@pytest.mark.parametrize("protocol", [2, 3])
def test_redis_py_blpop_is_served_by_a_push_from_another_connection(
    port: int, protocol: int
) -> None:
    waiter = redis.Redis(host=HOST, port=port, protocol=protocol, socket_timeout=10)
    pusher = redis.Redis(host=HOST, port=port, protocol=protocol, socket_timeout=10)
    try:
        pusher.delete("queue")
        result: list[object] = []
        thread = threading.Thread(target=lambda: result.append(waiter.blpop(["queue"], 5)))
        thread.start()
        time.sleep(0.2)  # the waiter is blocked by now
        assert pusher.rpush("queue", "job-1", "job-2") == 2
        thread.join(10)
        assert not thread.is_alive()
        assert result in ([(b"queue", b"job-1")], [[b"queue", b"job-1"]])
        assert pusher.lrange("queue", 0, -1) == [b"job-2"]
        assert waiter.ping()  # the waiter's connection goes on
    finally:
        waiter.close()
        pusher.close()


def test_redis_py_blpop_times_out_with_none(port: int) -> None:
    client = redis.Redis(host=HOST, port=port, socket_timeout=10)
    try:
        started = time.monotonic()
        assert client.blpop(["nothing-here"], 0.3) is None
        elapsed = time.monotonic() - started
        assert 0.3 <= elapsed < 5.0
        assert client.brpoplpush("nothing-here", "dst", 0.1) is None
    finally:
        client.close()


def _read_until(sock: socket.socket, expected: int, timeout: float) -> bytes:
    """What ``sock`` receives until ``expected`` bytes or ``timeout`` seconds."""
    data = bytearray()
    deadline = time.monotonic() + timeout
    while len(data) < expected and time.monotonic() < deadline:
        sock.settimeout(max(deadline - time.monotonic(), 0.01))
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        if not chunk:
            break
        data += chunk
    return bytes(data)


def test_a_pipelined_timeout_after_a_served_block_still_fires(port: int) -> None:
    # After the first BLPOP is served, the connection resumes outside a read and
    # the second one's deadline must still be armed.
    with (
        socket.create_connection((HOST, port), timeout=10) as waiter,
        socket.create_connection((HOST, port), timeout=10) as pusher,
    ):
        pusher.sendall(cmd("DEL", "p1", "p2"))
        assert _read_until(pusher, 4, 5) == b":0\r\n"
        waiter.sendall(cmd("BLPOP", "p1", 0) + cmd("BLPOP", "p2", "0.3") + cmd("PING"))
        time.sleep(0.1)
        pusher.sendall(cmd("RPUSH", "p1", "x"))
        assert _read_until(pusher, 4, 5) == b":1\r\n"
        first = b"*2\r\n$2\r\np1\r\n$1\r\nx\r\n"
        started = time.monotonic()
        replies = _read_until(waiter, len(first) + 5 + 7, 5)
        assert replies == first + b"*-1\r\n+PONG\r\n"
        assert time.monotonic() - started >= 0.2


SCENARIO: list[Step] = [
    (0, ("DEL", "k", "src", "dst", "s")),
    (1, ("BLPOP", "k", "other", 0)),
    (2, ("BRPOP", "k", 0)),
    (3, ("BLMOVE", "src", "k", "RIGHT", "LEFT", 0)),
    (0, ("MULTI",)),
    (0, ("RPUSH", "k", "a")),
    (0, ("LPOP", "k")),
    (0, ("EXEC",)),
    (0, ("RPUSH", "k", "b", "c", "d")),
    (0, ("LRANGE", "k", 0, -1)),
    (1, ("PING",)),
    (0, ("RPUSH", "src", "e", "f")),
    (0, ("LRANGE", "k", 0, -1)),
    (1, ("BLMPOP", 0, 2, "dst", "k", "LEFT", "COUNT", 5)),
    (2, ("MULTI",)),
    (2, ("BLPOP", "nothing", 0)),
    (2, ("BLMOVE", "nothing", "x", "LEFT", "LEFT", 0)),
    (2, ("EXEC",)),
    (3, ("BLPOP", "s", 0)),
    (0, ("SET", "s", "v")),
    (0, ("DEL", "s")),
    (0, ("LPUSH", "s", "g")),
    (0, ("LPUSH", "k", "h")),
    (2, ("BLPOP", "k", -1)),
    (2, ("BLPOP", "k", "x")),
    (2, ("BLPOP", "k", "inf")),
    (2, ("BRPOPLPUSH", "k", "dst", "0.05")),
    (1, ("BRPOPLPUSH", "nothing", "dst", "0.05")),
    (3, ("BLMPOP", "0.05", 1, "nothing", "RIGHT")),
]


def _play(port: int) -> list[bytes]:
    """Run :data:`SCENARIO` on four connections (the last on RESP3), a pause after each
    step; the bytes each one received."""
    sockets = [socket.create_connection((HOST, port), timeout=10) for _ in range(4)]
    try:
        sockets[3].sendall(cmd("HELLO", 3))  # its reply names the server: not compared
        assert _read_until(sockets[3], 1 << 20, 0.3).startswith(b"%7\r\n")
        for who, command in SCENARIO:
            sockets[who].sendall(cmd(*command))
            time.sleep(0.03)
        time.sleep(0.2)  # the 50 ms timeouts have passed
        return [_read_until(sock, 1 << 20, 0.3) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def test_a_blocking_scenario_matches_redis(port: int, redis_port: int) -> None:
    ours = _play(port)
    theirs = _play(redis_port)
    for mine, real in zip(ours, theirs, strict=True):
        assert mine == real
    assert ours[1].startswith(b"*2\r\n$1\r\nk\r\n$1\r\nb\r\n+PONG\r\n")
