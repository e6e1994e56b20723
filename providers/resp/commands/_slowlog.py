"""The slow log's entries and settings, and the switch that times every command.

Apart from :mod:`.slowlog` (the commands and CONFIG parameters) so that the command
modules' shared state can name it without an import cycle.
"""

from __future__ import annotations

import time
import weakref
from collections import deque
from collections.abc import Callable
from typing import Protocol, TypeVar

from wireproto import NetworkSender

__all__ = [
    "DEFAULT_MAX_LEN",
    "DEFAULT_THRESHOLD",
    "EVERY_COMMAND",
    "SlowLog",
    "on_every_command_change",
]


class _Caller(Protocol):
    """What an entry records of the client that ran the command."""

    @property
    def name(self) -> bytes | None: ...

    @property
    def sender(self) -> NetworkSender: ...


_C = TypeVar("_C", bound=_Caller)

MAX_ARGS = 32
"""Redis's ``SLOWLOG_ENTRY_MAX_ARGC``."""
MAX_STRING = 128
"""Redis's ``SLOWLOG_ENTRY_MAX_STRING``."""
DEFAULT_THRESHOLD = 10_000
DEFAULT_MAX_LEN = 128

_REDACTED = b"(redacted)"


class _EveryCommand:
    """How many slow logs in this process time every command (a threshold below the default)."""

    __slots__ = ("count", "listeners")

    def __init__(self) -> None:
        self.count = 0
        self.listeners: list[Callable[[bool], None]] = []

    def change(self, delta: int) -> None:
        before = self.count > 0
        self.count += delta
        if (self.count > 0) != before:
            for listener in self.listeners:
                listener(self.count > 0)


EVERY_COMMAND = _EveryCommand()
"""While ``EVERY_COMMAND.count`` is non-zero, fast commands are timed too."""


def on_every_command_change(listener: Callable[[bool], None]) -> None:
    """Call ``listener(on)`` whenever timing every command starts or stops (the session
    turns its direct path off meanwhile)."""
    EVERY_COMMAND.listeners.append(listener)


def _redacted(argv: list[bytes]) -> list[bytes]:
    """``argv`` without the secrets Redis 7.0 keeps out of the slow log (AUTH, HELLO AUTH)."""
    name = argv[0].lower()
    if name == b"auth":
        return [argv[0], *(_REDACTED for _ in argv[1:])]
    if name == b"hello":
        shown = list(argv)
        for i in range(2, len(shown) - 2):
            if shown[i].lower() == b"auth":
                shown[i + 1] = shown[i + 2] = _REDACTED
        return shown
    return argv


def _entry_args(argv: list[bytes]) -> list[bytes]:
    shown = argv[:MAX_ARGS]
    if len(argv) > MAX_ARGS:
        shown[-1] = b"... (%d more arguments)" % (len(argv) - MAX_ARGS + 1)
    return [
        arg
        if len(arg) <= MAX_STRING
        else arg[:MAX_STRING] + b"... (%d more bytes)" % (len(arg) - MAX_STRING)
        for arg in shown
    ]


class SlowLog:
    """One server's slow log: its settings and entries (encoded, newest first)."""

    __slots__ = ("__weakref__", "_every", "entries", "max_len", "next_id", "threshold")

    def __init__(self) -> None:
        self.entries: deque[tuple[int, int, int, list[bytes], bytes, bytes]] = deque()
        self.next_id = 0
        self.threshold = DEFAULT_THRESHOLD
        self.max_len = DEFAULT_MAX_LEN
        self._every: weakref.finalize[[int], SlowLog] | None = None

    def set_threshold(self, micros: int) -> None:
        """``slowlog-log-slower-than`` (negative: off)."""
        self.threshold = micros
        every = 0 <= micros < DEFAULT_THRESHOLD
        if every and self._every is None:
            EVERY_COMMAND.change(1)
            # A provider dropped with a low threshold must not leave the count raised.
            self._every = weakref.finalize(self, EVERY_COMMAND.change, -1)
        elif not every and self._every is not None:
            self._every()
            self._every = None

    def set_max_len(self, length: int) -> None:
        """``slowlog-max-len``: older entries beyond it are dropped."""
        self.max_len = length
        while len(self.entries) > length:
            self.entries.pop()

    def timed(self, handler: Callable[[_C, list[bytes]], bytes], s: _C, argv: list[bytes]) -> bytes:
        """Run ``handler`` and log the command if it took at least the threshold."""
        started = time.perf_counter_ns()
        try:
            return handler(s, argv)
        finally:
            micros = (time.perf_counter_ns() - started) // 1000
            if 0 <= self.threshold <= micros:
                self.record(s, argv, micros)

    def record(self, s: _Caller, argv: list[bytes], micros: int) -> None:
        """Add an entry for ``argv``, run by ``s``, that took ``micros``."""
        peer = s.sender.get_extra_info("peername")
        address = b"%s:%d" % (str(peer[0]).encode(), peer[1]) if isinstance(peer, tuple) else b""
        self.entries.appendleft(
            (
                self.next_id,
                int(time.time()),
                micros,
                _entry_args(_redacted(argv)),
                address,
                s.name or b"",
            )
        )
        self.next_id += 1
        while len(self.entries) > self.max_len:
            self.entries.pop()
