"""Differential testing against a real ``redis-server``: the same requests to it and to an
in-process RESP connection, every reply compared byte for byte.

End-to-end tests get a :class:`Pair` from the ``pair`` fixture of ``tests/e2e/conftest.py``
(one ``redis-server`` per module, persistence off, on 127.0.0.1, stopped by its pid).
"""

from __future__ import annotations

import socket

from _drive import resp_command as cmd
from _redis_pair import END, MARKER, TIMEOUT, Pair, Reply, parse_replies, unordered
from _serve import HOST

__all__ = [
    "UNORDERED",
    "Command",
    "Pair",
    "Reply",
    "ServerPair",
    "parse_replies",
    "same",
    "unordered",
]

Command = tuple[bytes | str | int, ...]


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


UNORDERED = frozenset(
    {b"KEYS", b"SMEMBERS", b"SINTER", b"SUNION", b"SDIFF", b"HKEYS", b"HVALS", b"SCAN", b"HGETALL"}
)
"""Commands whose reply order Redis leaves to its hash tables (seeded per process): the
harness compares their items as multisets."""
