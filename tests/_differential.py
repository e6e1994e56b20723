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

__all__ = ["Pair", "same"]

MARKER = b"--end-of-case--"
END = b"$%d\r\n%s\r\n" % (len(MARKER), MARKER)
TIMEOUT = 15.0


class Pair:
    """One connection to redis-server and one in-process connection, fed the same requests."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection((HOST, port), timeout=TIMEOUT)
        registry = Registry()
        register(registry, RespProvider())
        self.ours = Connection(registry)

    def close(self) -> None:
        self.sock.close()

    def run(self, *commands: tuple[bytes | str, ...]) -> tuple[bytes, bytes]:
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


def same(pair: Pair, *commands: tuple[bytes | str, ...]) -> bytes:
    """Run ``commands`` on both; assert the replies are equal and return them."""
    theirs, ours = pair.run(*commands)
    assert ours == theirs, commands
    return ours
