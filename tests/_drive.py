"""Driving the sans-I/O Connection in tests: requests, arrivals and a clock.

The fuzz kit (:mod:`wireproto.testing`) drives connections through probes
and draws its cuts as chunk sizes; these helpers are the plain versions the
example-based tests use: a stream cut at given offsets, fed with
``receive_data``.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from itertools import pairwise
from types import ModuleType

from wireproto._auth import NO_AUTH
from wireproto._connection import Connection, ConnectionState
from wireproto.memory import MemoryAccount

START = 1_700_000_000_000
"""The unix-ms time a :class:`Clock` starts at."""


class HandlerSender:
    """A session's sender for tests that call command handlers, which return their
    replies: anything sent or closed through it is a test failure."""

    def __init__(self) -> None:
        self.memory = MemoryAccount()
        self.auth = NO_AUTH
        self.listener = None

    def send(self, data: bytes) -> None:  # pragma: no cover - handlers return replies
        raise AssertionError(data)

    def close(self) -> None:  # pragma: no cover
        raise AssertionError

    def get_extra_info(self, name: str, default: object = None) -> object:
        return default


class Clock:
    """A settable unix-ms clock for expiry tests."""

    def __init__(self, now: int = START) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def resp_command(*args: bytes | str | int) -> bytes:
    """A RESP multibulk request; ``str`` and ``int`` arguments are written as text."""
    parts = [a if isinstance(a, bytes) else str(a).encode() for a in args]
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)


def resp_session(port: int, *commands: tuple[str, ...], host: str = "127.0.0.1") -> bytes:
    """Send ``commands`` on one new connection to ``port`` and return every reply, read up to
    an ECHO marker sent after them (small replies: at most 1,000 reads)."""
    marker = b"$5\r\n--end\r\n"
    with socket.create_connection((host, port), timeout=10.0) as sock:
        sock.sendall(
            b"".join(resp_command(*args) for args in commands) + resp_command("ECHO", "--end")
        )
        raw = b""
        for _ in range(1000):
            if raw.endswith(marker):
                return raw[: -len(marker)]
            chunk = sock.recv(65536)
            assert chunk, raw[:200]
            raw += chunk
    raise AssertionError(raw[:200])


def cut(data: bytes, points: Sequence[int]) -> list[bytes]:
    """``data`` cut at ``points``, each taken modulo ``len(data) + 1``; no empty pieces."""
    edges = sorted({0, len(data), *(point % (len(data) + 1) for point in points)})
    return [data[a:b] for a, b in pairwise(edges)]


def bytewise(data: bytes) -> list[bytes]:
    """``data`` one byte at a time."""
    return [data[i : i + 1] for i in range(len(data))]


def replay(connection: Connection, chunks: Iterable[bytes], *, until_closed: bool = False) -> bytes:
    """Feed ``chunks`` with ``receive_data``; the replies taken after each one.

    With ``until_closed``, the chunks after the one that closed the connection are not fed.
    """
    replies = bytearray()
    for chunk in chunks:
        connection.receive_data(chunk)
        replies += connection.data_to_send()
        if until_closed and connection.state is ConnectionState.CLOSED:
            break
    return bytes(replies)


@contextmanager
def module_setting(module: ModuleType, name: str, value: object) -> Iterator[None]:
    """``module.name`` is ``value`` meanwhile: a switch a module reads at run time (which
    way to parse, whether to take a fast path), for tests that compare both ways."""
    saved = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, saved)
