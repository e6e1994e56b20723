"""Server commands: INFO, TIME, DBSIZE and FLUSH*."""

from __future__ import annotations

import time

from ..replies import OK, bulk_array, integer, verbatim
from ._base import SYNTAX_ERROR, Client


def info(s: Client, argv: list[bytes]) -> bytes:
    """INFO."""
    listener = s.sender.listener
    stats = listener.stats() if listener is not None else None
    sockname = s.sender.get_extra_info("sockname")
    port = sockname[1] if isinstance(sockname, tuple) and len(sockname) > 1 else 0
    sections = [arg.lower() for arg in argv[1:]]
    return verbatim(s.provider.info(sections, stats, port), s.resp3)


def time_(s: Client, argv: list[bytes]) -> bytes:
    """TIME."""
    now = time.time_ns() // 1000
    return bulk_array((b"%d" % (now // 1_000_000), b"%d" % (now % 1_000_000)), s.null)


def dbsize(s: Client, argv: list[bytes]) -> bytes:
    """DBSIZE."""
    return integer(len(s.store))


def flush(s: Client, argv: list[bytes]) -> bytes:
    """FLUSHDB (the selected database) and FLUSHALL (every database)."""
    if len(argv) == 1 or (len(argv) == 2 and argv[1].lower() in (b"sync", b"async")):
        if argv[0].lower() == b"flushall":
            for store in s.provider.databases:
                store.flush()
        else:
            s.store.flush()
        return OK
    return SYNTAX_ERROR
