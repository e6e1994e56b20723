"""The same commands to a real ``redis-server`` and to an in-process RESP connection.

For the differential tests: :class:`Pair` sends each batch to both and returns both
reply streams, to compare byte for byte (or order-insensitively where Redis's order
is unspecified, as listed in ``specs/resp/README.md``).
"""

from __future__ import annotations

import socket

from _drive import resp_command as cmd
from _serve import HOST
from wireproto.providers.resp import RespProvider, register

from wireproto import Connection, Registry

__all__ = ["Pair"]

MARKER = b"--end-of-case--"
END = b"$%d\r\n%s\r\n" % (len(MARKER), MARKER)
TIMEOUT = 15.0

Arg = bytes | str | int


class Pair:
    """One connection to redis-server and one in-process connection, fed the same requests."""

    def __init__(self, port: int, resp3: bool = False) -> None:
        self.sock = socket.create_connection((HOST, port), timeout=TIMEOUT)
        registry = Registry()
        self.provider = register(registry, RespProvider())
        self.ours = Connection(registry)
        if resp3:  # HELLO's reply names the server: not compared
            self.run(("HELLO", "3"))

    def close(self) -> None:
        self.sock.close()

    def redis_only(self, *commands: tuple[Arg, ...]) -> bytes:
        """The replies of redis-server alone to ``commands``."""
        self.sock.sendall(b"".join(cmd(*command) for command in commands) + cmd("ECHO", MARKER))
        return self._their_replies()

    def run(self, *commands: tuple[Arg, ...]) -> tuple[bytes, bytes]:
        """The replies of redis-server and of ours to ``commands``."""
        request = b"".join(cmd(*command) for command in commands)
        self.sock.sendall(request + cmd("ECHO", MARKER))
        theirs = self._their_replies()
        self.ours.receive_data(request)
        return theirs, self.ours.data_to_send()

    def _their_replies(self) -> bytes:
        theirs = bytearray()
        for _ in range(100_000):  # bounded: replies are at most a few MB
            if theirs.endswith(END):
                break
            chunk = self.sock.recv(65536)
            assert chunk, "redis-server closed the connection"
            theirs += chunk
        assert theirs.endswith(END)
        return bytes(theirs[: -len(END)])

    def reset(self, resp3: bool = False) -> None:
        """Both sides back to an empty server: every database flushed, database 0, RESP2/3."""
        theirs, ours = self.run(
            ("UNWATCH",), ("FLUSHALL",), ("SELECT", 0), ("HELLO", 3 if resp3 else 2)
        )
        assert theirs.startswith(b"+OK\r\n+OK\r\n+OK\r\n"), theirs
        assert ours.startswith(b"+OK\r\n+OK\r\n+OK\r\n"), ours

    def same(self, *commands: tuple[Arg, ...]) -> bytes:
        """Run ``commands`` on both; assert the replies are equal byte for byte; ours."""
        theirs, ours = self.run(*commands)
        assert ours == theirs, commands
        return ours


Reply = bytes | int | None | tuple[bytes, tuple["Reply", ...]]
"""A parsed reply: a bulk/simple/error/double line as bytes (with its type byte), an
integer, a null, or an aggregate as (its type byte, its items)."""


def parse_replies(data: bytes) -> list[Reply]:
    """Every reply in ``data`` (RESP2 or RESP3), for comparisons that ignore order."""
    replies: list[Reply] = []
    position = 0
    while position < len(data):
        reply, position = _parse(data, position)
        replies.append(reply)
    return replies


def _parse(data: bytes, position: int) -> tuple[Reply, int]:
    end = data.index(b"\r\n", position)
    kind, line = data[position : position + 1], data[position + 1 : end]
    position = end + 2
    if kind in (b"$", b"="):
        size = int(line)
        if size < 0:
            return None, position
        return kind + data[position : position + size], position + size + 2
    if kind in (b"*", b"~", b"%", b">"):
        count = int(line)
        if count < 0:
            return None, position
        items: list[Reply] = []
        for _ in range(count * 2 if kind == b"%" else count):
            item, position = _parse(data, position)
            items.append(item)
        return (kind, tuple(items)), position
    if kind == b":":
        return int(line), position
    if kind == b"_":
        return None, position
    return kind + line, position


def unordered(reply: Reply, pairs: bool = False) -> Reply:
    """``reply`` with its aggregate's items sorted (in (field, value) pairs if ``pairs``
    or a map); nested aggregates (HSCAN's, RESP3 pairs) are sorted too."""
    if not isinstance(reply, tuple):
        return reply
    kind, items = reply
    inner = tuple(unordered(item) for item in items)
    if pairs or kind == b"%":
        grouped = [inner[i : i + 2] for i in range(0, len(inner), 2)]
        return kind, tuple(sorted(grouped, key=repr))
    return kind, tuple(sorted(inner, key=repr))
