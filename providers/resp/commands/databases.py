"""The numbered databases: MOVE and SWAPDB (SELECT is in :mod:`.connection`,
FLUSHDB, FLUSHALL and DBSIZE in :mod:`.server`)."""

from __future__ import annotations

from ..replies import OK, ONE, ZERO
from ._base import DB_OUT_OF_RANGE, SAME_OBJECT, Client, Command, db_index, int32
from .blocking import WAITING

__all__ = ["COMMANDS"]


def move(s: Client, argv: list[bytes]) -> bytes:
    """MOVE key db."""
    target = db_index(s, argv[2])
    if isinstance(target, bytes):
        return target
    if target == s.db:
        return SAME_OBJECT
    source = s.store
    key = argv[1]
    value = source.value_of(key)
    if value is None:
        return ZERO
    destination = s.provider.databases[target]
    if destination.exists(key):
        return ZERO
    when = source.expire_time(key)
    if type(value) is bytearray:
        value = bytes(value)
    source.delete(key, event=b"move_from")
    destination.set_value(key, value, expire_at=when if when >= 0 else None)
    destination.notify(b"move_to", key)
    return ONE


def swapdb(s: Client, argv: list[bytes]) -> bytes:
    """SWAPDB index1 index2."""
    first = int32(argv[1], b"-ERR invalid first DB index\r\n")
    if isinstance(first, bytes):
        return first
    second = int32(argv[2], b"-ERR invalid second DB index\r\n")
    if isinstance(second, bytes):
        return second
    count = len(s.provider.databases)
    if not (0 <= first < count and 0 <= second < count):
        return DB_OUT_OF_RANGE
    databases = s.provider.databases
    databases.swap(first, second)
    WAITING.all_keys_ready(databases[first])
    WAITING.all_keys_ready(databases[second])
    return OK


_WF = ("write", "fast")

COMMANDS: list[Command] = [
    Command("move", 3, move, _WF, (1, 1, 1)),
    Command("swapdb", 3, swapdb, _WF),
]
