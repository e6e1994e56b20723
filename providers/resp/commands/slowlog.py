"""SLOWLOG: the commands that ran longer than ``slowlog-log-slower-than`` microseconds.

Entries are made as Redis 7.0's ``slowlog.c`` makes them (at most 32 arguments, the last
saying how many more; arguments cut at 128 bytes; AUTH's secrets redacted), newest
first, at most ``slowlog-max-len`` of them. The session times a command around its
handler (:meth:`._slowlog.SlowLog.timed`).

What is timed: at Redis's default threshold (10 ms) every command but those Redis flags
``fast`` (O(1) or O(log N): GET, PING...) and the string writes (SET, APPEND...: their
work is bounded by their own arguments), which keeps the per-command cost off the fast
path. With a threshold below the default every command is timed, and the session's
direct path is turned off meanwhile (:data:`._slowlog.EVERY_COMMAND`), so that a client
that sets the threshold to 0 sees every command logged, as on Redis.
"""

from __future__ import annotations

from ..replies import EMPTY_ARRAY, OK, bulk, integer
from . import config
from ._base import Client, Command, ProviderState, bounded_int, help_reply

__all__ = ["COMMANDS"]


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
