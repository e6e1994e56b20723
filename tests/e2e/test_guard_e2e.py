"""The cross-protocol guard end to end: browser requests sent to ``wireproto serve`` run
nothing (checked with redis-py afterwards), and a real redis-server closes at ``POST`` /
``Host:`` the same way."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
import redis
from _drive import resp_command
from _serve import HOST, redis_server, serve
from test_guard import BROWSER_GET, BROWSER_POST


def _send_until_closed(port: int, data: bytes, *, end_writes: bool = False) -> bytes:
    """Send ``data`` (then a FIN if ``end_writes``), read until the server closes (5 s timeout)."""
    received = bytearray()
    with socket.create_connection((HOST, port), timeout=5.0) as sock:
        try:
            sock.sendall(data)
            if end_writes:
                sock.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            return bytes(received)
        while True:
            try:
                chunk = sock.recv(4096)
            except ConnectionResetError:
                break
            if not chunk:
                break
            received += chunk
    return bytes(received)


def _commands_processed(client: redis.Redis) -> int:
    return int(client.info("stats")["total_commands_processed"])


@pytest.fixture(scope="module")
def wireproto_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    log = tmp_path_factory.mktemp("guard") / "serve.log"
    with serve(log, formats={"resp", "memcache-text"}) as server:
        yield server.port
    assert "Possible SECURITY ATTACK detected" in log.read_text()


@pytest.fixture(scope="module")
def redis_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    with redis_server(tmp_path_factory.mktemp("redis-server")) as port:
        yield port


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [(BROWSER_POST, b"405"), (BROWSER_GET, b"200")],
    ids=["post", "get"],
)
def test_browser_requests_run_nothing_end_to_end(
    wireproto_port: int, request_bytes: bytes, status: bytes
) -> None:
    client = redis.Redis(host=HOST, port=wireproto_port)
    try:
        before = _commands_processed(client)
        # `wireproto serve` serves HTTP (providers/http): the browser gets an HTTP answer.
        reply = _send_until_closed(wireproto_port, request_bytes, end_writes=True)
        assert reply.startswith(b"HTTP/1.1 " + status + b" "), reply[:80]
        assert client.exists("pwned") == 0
        # INFO, then EXISTS: the two commands this client sent, and nothing else.
        assert _commands_processed(client) == before + 2
    finally:
        client.close()


def test_a_host_line_after_a_command_closes_end_to_end(wireproto_port: int) -> None:
    reply = _send_until_closed(wireproto_port, b"PING\r\nHost: x\r\nSET pwned 1\r\n")
    assert reply == b"+PONG\r\n"
    client = redis.Redis(host=HOST, port=wireproto_port)
    try:
        assert client.exists("pwned") == 0
    finally:
        client.close()


@pytest.mark.parametrize(
    "stream",
    [  # (a browser's request line goes to the HTTP provider: see above)
        b"Host: x\r\nSET pwned 1\r\n",
        b"post\r\nSET pwned 1\r\n",
        resp_command("POST") + resp_command("SET", "pwned", 1),
    ],
)
def test_same_replies_and_close_as_redis_server(
    wireproto_port: int, redis_port: int, stream: bytes
) -> None:
    ours = _send_until_closed(wireproto_port, stream)
    theirs = _send_until_closed(redis_port, stream)
    assert ours == theirs
    for port in (wireproto_port, redis_port):
        client = redis.Redis(host=HOST, port=port)
        try:
            assert client.exists("pwned") == 0
        finally:
            client.close()


def test_replies_before_the_http_line_are_sent_where_redis_drops_them(
    wireproto_port: int, redis_port: int
) -> None:
    """Where we differ on purpose: in one read, Redis runs PING but drops its reply.

    Redis frees the client before writing what it queued in that read, so what
    a client sees depends on how TCP cut its bytes; we send the replies of the
    commands that ran, whatever the cut (the toolkit's rule for protocol errors).
    """
    stream = b"PING\r\nHost: x\r\nSET pwned 1\r\n"
    assert _send_until_closed(redis_port, stream) == b""
    assert _send_until_closed(wireproto_port, stream) == b"+PONG\r\n"


def test_memcached_text_end_to_end(wireproto_port: int) -> None:
    reply = _send_until_closed(wireproto_port, b"version\r\nHost: x\r\nset pwned 0 0 1\r\n1\r\n")
    assert reply.startswith(b"VERSION ") and reply.count(b"\r\n") == 1
    client = redis.Redis(host=HOST, port=wireproto_port)
    try:
        assert client.exists("pwned") == 0
    finally:
        client.close()
