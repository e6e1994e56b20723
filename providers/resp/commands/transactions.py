"""Transactions: MULTI, EXEC, DISCARD, WATCH and UNWATCH."""

from __future__ import annotations

from ..replies import OK
from ._base import Client

# -- transactions ---------------------------------------------------------------


def multi(s: Client, argv: list[bytes]) -> bytes:
    """MULTI."""
    if s.multi is not None:
        return b"-ERR MULTI calls can not be nested\r\n"
    s.multi = []
    s.multi_failed = False
    return OK


def exec_(s: Client, argv: list[bytes]) -> bytes:
    """EXEC."""
    queued = s.multi
    if queued is None:
        return b"-ERR EXEC without MULTI\r\n"
    failed = s.multi_failed
    s.end_multi()
    changed = s.watched_keys_changed()
    s.unwatch_all()
    if failed:
        return b"-EXECABORT Transaction discarded because of previous errors.\r\n"
    if changed:
        return s.null_array
    replies = []
    room = s.room
    s.deny_blocking = True
    try:
        for command in queued:  # checked as it grows: a transaction of GETs is an MGET
            reply = s.execute(command)
            room -= len(reply)
            if room < 0:
                s.over_output(room)
            replies.append(reply)
    finally:
        s.deny_blocking = False
    return b"*%d\r\n" % len(replies) + b"".join(replies)


def discard(s: Client, argv: list[bytes]) -> bytes:
    """DISCARD."""
    if s.multi is None:
        return b"-ERR DISCARD without MULTI\r\n"
    s.end_multi()
    s.unwatch_all()
    return OK


def watch(s: Client, argv: list[bytes]) -> bytes:
    """WATCH."""
    if s.multi is not None:
        return b"-ERR WATCH inside MULTI is not allowed\r\n"
    for key in argv[1:]:
        s.watch(key)
    return OK


def unwatch(s: Client, argv: list[bytes]) -> bytes:
    """UNWATCH."""
    s.unwatch_all()
    return OK
