"""SLOWLOG: the commands that ran longer than ``slowlog-log-slower-than`` microseconds.

Entries are made as Redis 7.0's ``slowlog.c`` makes them (at most 32 arguments, the last
saying how many more; arguments cut at 128 bytes; AUTH's secrets redacted), newest
first, at most ``slowlog-max-len`` of them. The session times a command around its
handler (:meth:`SlowLog.timed`).

What is timed: at Redis's default threshold (10 ms) every command but those Redis flags
``fast`` (O(1) or O(log N): GET, SET, PING...), which keeps the per-command cost off the
fast path. With a threshold below the default every command is timed, and the session's
direct path is turned off while it is (:data:`EVERY_COMMAND`), so that a client that
sets the threshold to 0 sees every command logged, as on Redis.
"""

from __future__ import annotations

import time
import weakref
from collections import deque
from collections.abc import Callable

from ..replies import EMPTY_ARRAY, OK, bulk, integer
from . import config
from ._base import Client, Command, ProviderState, bounded_int, help_reply

__all__ = [
    "COMMANDS",
    "EVERY_COMMAND",
    "SlowLog",
    "on_every_command_change",
]

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

    def timed(self, s: Client, command: Command, argv: list[bytes]) -> bytes:
        """Run ``command`` and log it if it took at least the threshold."""
        started = time.perf_counter_ns()
        try:
            return command.handler(s, argv)
        finally:
            micros = (time.perf_counter_ns() - started) // 1000
            if 0 <= self.threshold <= micros:
                self.record(s, argv, micros)

    def record(self, s: Client, argv: list[bytes], micros: int) -> None:
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


def slowlog_get(s: Client, argv: list[bytes]) -> bytes:
    """SLOWLOG GET [count]: the newest ``count`` entries (10; -1: all)."""
    log = s.provider.slowlog
    count = 10
    if len(argv) == 3:
        parsed = bounded_int(argv[2], -1)
        if parsed is None:
            return b"-ERR count should be greater than or equal to -1\r\n"
        count = len(log.entries) if parsed == -1 else parsed
    chosen = list(log.entries)[:count]
    if not chosen:
        return EMPTY_ARRAY
    parts = [b"*%d\r\n" % len(chosen)]
    for entry_id, when, micros, args, address, name in chosen:
        parts.append(b"*6\r\n" + integer(entry_id) + integer(when) + integer(micros))
        parts.append(b"*%d\r\n" % len(args) + b"".join(map(bulk, args)))
        parts.append(bulk(address) + bulk(name))
    return b"".join(parts)


def slowlog_len(s: Client, argv: list[bytes]) -> bytes:
    """SLOWLOG LEN."""
    return integer(len(s.provider.slowlog.entries))


def slowlog_reset(s: Client, argv: list[bytes]) -> bytes:
    """SLOWLOG RESET."""
    s.provider.slowlog.entries.clear()
    return OK


_SLOWLOG_HELP = (
    b"GET [<count>]",
    b"    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
    b"    Entries are made of:",
    b"    id, timestamp, time in microseconds, arguments array, client IP and port,",
    b"    client name",
    b"LEN",
    b"    Return the length of the slowlog.",
    b"RESET",
    b"    Reset the slowlog.",
)


def slowlog_help(s: Client, argv: list[bytes]) -> bytes:
    """SLOWLOG HELP (Redis's text)."""
    return help_reply(b"SLOWLOG", _SLOWLOG_HELP)


_LONG_MAX = (1 << 63) - 1


def _get_threshold(provider: ProviderState) -> bytes:
    return b"%d" % provider.slowlog.threshold


def _set_threshold(provider: ProviderState, value: bytes) -> bytes | None:
    parsed = config.checked_int(value, -1, _LONG_MAX)
    if isinstance(parsed, bytes):
        return parsed
    provider.slowlog.set_threshold(parsed)
    return None


def _get_max_len(provider: ProviderState) -> bytes:
    return b"%d" % provider.slowlog.max_len


def _set_max_len(provider: ProviderState, value: bytes) -> bytes | None:
    parsed = config.checked_int(value, 0, _LONG_MAX)
    if isinstance(parsed, bytes):
        return parsed
    provider.slowlog.set_max_len(parsed)
    return None


config.register_parameter(
    config.Parameter(b"slowlog-log-slower-than", _get_threshold, _set_threshold)
)
config.register_parameter(config.Parameter(b"slowlog-max-len", _get_max_len, _set_max_len))

_SLOWLOG = ("admin", "loading", "stale")

COMMANDS: list[Command] = [
    Command("slowlog|get", -2, slowlog_get, _SLOWLOG),
    Command("slowlog|len", 2, slowlog_len, _SLOWLOG),
    Command("slowlog|reset", 2, slowlog_reset, _SLOWLOG),
    Command("slowlog|help", 2, slowlog_help, ("loading", "stale")),
]
"""SLOWLOG's subcommands (the container is in :mod:`.admin`)."""
