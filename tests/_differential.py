"""Differential testing against a real ``redis-server``: the same requests to it and to an
in-process RESP connection, every reply compared byte for byte.

End-to-end tests get a :class:`Pair` from the ``pair`` fixture of ``tests/e2e/conftest.py``
(one ``redis-server`` per module, persistence off, on 127.0.0.1, stopped by its pid).
"""

from __future__ import annotations

import socket

from _drive import resp_command as cmd
from _serve import HOST
from wireproto.providers.resp import RespProvider, register

from wireproto import Connection, Registry

__all__ = ["UNORDERED", "Command", "Pair", "ServerPair", "replies", "same"]

MARKER = b"--end-of-case--"
END = b"$%d\r\n%s\r\n" % (len(MARKER), MARKER)
TIMEOUT = 15.0
Command = tuple[bytes | str | int, ...]


class Pair:
    """One connection to redis-server and one in-process connection, fed the same requests."""

    def __init__(self, port: int, resp3: bool = False) -> None:
        self.sock = socket.create_connection((HOST, port), timeout=TIMEOUT)
        registry = Registry()
        register(registry, RespProvider())
        self.ours = Connection(registry)
        if resp3:  # HELLO's reply names the server: not compared
            self.run(("HELLO", "3"))

    def close(self) -> None:
        self.sock.close()

    def run(self, *commands: Command) -> tuple[bytes, bytes]:
        """The replies of redis-server and of ours to ``commands``."""
        request = b"".join(cmd(*command) for command in commands)
        self.sock.sendall(request + cmd("ECHO", MARKER))
        theirs = bytearray()
        for _ in range(10_000):  # bounded: the replies are a few KB at most
            if theirs.endswith(END):
                break
            chunk = self.sock.recv(65536)
            assert chunk, "redis-server closed the connection"
            theirs += chunk
        assert theirs.endswith(END)
        self.ours.receive_data(request)
        return bytes(theirs[: -len(END)]), self.ours.data_to_send()


def same(pair: Pair, *commands: Command) -> bytes:
    """Run ``commands`` on both; assert the replies are equal and return them."""
    theirs, ours = pair.run(*commands)
    assert ours == theirs, commands
    return ours


def _read_until_marker(sock: socket.socket) -> bytes:
    received = bytearray()
    for _ in range(100_000):  # bounded: a few MB at most
        if received.endswith(END):
            return bytes(received[: -len(END)])
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection"
        received += chunk
    raise AssertionError("no end marker")


class ServerPair:
    """One connection to redis-server and one to ``wireproto serve``, fed the same requests."""

    def __init__(self, redis_port: int, wireproto_port: int) -> None:
        self.theirs = socket.create_connection((HOST, redis_port), timeout=TIMEOUT)
        self.ours = socket.create_connection((HOST, wireproto_port), timeout=TIMEOUT)

    def close(self) -> None:
        self.theirs.close()
        self.ours.close()

    def run(self, *commands: tuple[bytes | str, ...]) -> tuple[bytes, bytes]:
        """The replies of redis-server and of ``wireproto serve`` to ``commands``."""
        request = b"".join(cmd(*command) for command in commands) + cmd("ECHO", MARKER)
        self.theirs.sendall(request)
        self.ours.sendall(request)
        return _read_until_marker(self.theirs), _read_until_marker(self.ours)


Reply = bytes | int | None | list["Reply"]
"""A parsed RESP2 reply: a simple or bulk string or error (bytes, errors keep their ``-``), an
integer, a null, or an array."""


def _parse(data: bytes, at: int) -> tuple[Reply, int]:
    kind, end = data[at : at + 1], data.index(b"\r\n", at)
    line = data[at + 1 : end]
    at = end + 2
    if kind in (b"+", b"-"):
        return (kind + line if kind == b"-" else line), at
    if kind == b":":
        return int(line), at
    if kind == b"$":
        size = int(line)
        if size < 0:
            return None, at
        return data[at : at + size], at + size + 2
    if kind == b"*":
        count = int(line)
        if count < 0:
            return None, at
        items: list[Reply] = []
        for _ in range(count):
            item, at = _parse(data, at)
            items.append(item)
        return items, at
    raise ValueError(f"not a RESP2 reply at {at}: {data[at - 1 : at + 20]!r}")


def replies(data: bytes) -> list[Reply]:
    """Every RESP2 reply in ``data``, parsed."""
    found: list[Reply] = []
    at = 0
    while at < len(data):
        reply, at = _parse(data, at)
        found.append(reply)
    return found


UNORDERED = frozenset(
    {b"KEYS", b"SMEMBERS", b"SINTER", b"SUNION", b"SDIFF", b"HKEYS", b"HVALS", b"SCAN", b"HGETALL"}
)
"""Commands whose reply order Redis leaves to its hash tables (seeded per process): the
harness compares their items as multisets."""
