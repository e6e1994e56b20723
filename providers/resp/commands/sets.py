"""Set commands (Redis 7.0's S* family): a set is a Python ``set`` of members.

Replies list a set's members in the order Redis 7.0 would for its encoding: an
all-integer set of up to 512 members is an intset there, iterated by value, so
we sort such a set by value; a bigger or mixed set is a hash table, whose
order Redis leaves unspecified (ours is the Python set's).
"""

from __future__ import annotations

import random
from collections.abc import Iterable

from ...datatypes.encodings import set_in_order, set_scanned_whole
from ..replies import EMPTY_ARRAY, ONE, ZERO, bulk, integer, set_header
from ._base import (
    SYNTAX_ERROR,
    Client,
    Command,
    bounded_int,
    random_count,
    scan_reply,
    scan_step,
)

__all__ = ["COMMANDS"]

_rng = random.Random()
_POSITIVE = b"-ERR value is out of range, must be positive\r\n"


def _read(s: Client, key: bytes) -> set[bytes] | None:
    return s.store.read_container(key, set)


def _set_reply(s: Client, members: Iterable[bytes], count: int) -> bytes:
    return set_header(count, s.resp3) + b"".join(map(bulk, members))


def sadd(s: Client, argv: list[bytes]) -> bytes:
    """SADD."""
    key = argv[1]
    store = s.store
    value = store.write_container(key, set)
    before = len(value)
    if len(argv) == 3:
        value.add(argv[2])
    else:
        value.update(argv[2:])
    added = len(value) - before
    if added:
        store.container_written(key, b"sadd")
    return integer(added)


def srem(s: Client, argv: list[bytes]) -> bytes:
    """SREM."""
    value = _read(s, argv[1])
    if value is None:
        return ZERO
    before = len(value)
    value.difference_update(argv[2:])
    removed = before - len(value)
    if removed:
        s.store.container_written(argv[1], b"srem")
    return integer(removed)


def smembers(s: Client, argv: list[bytes]) -> bytes:
    """SMEMBERS (a set in RESP3)."""
    value = _read(s, argv[1])
    if value is None:
        return set_header(0, s.resp3)
    return _set_reply(s, set_in_order(value), len(value))


def sismember(s: Client, argv: list[bytes]) -> bytes:
    """SISMEMBER."""
    value = _read(s, argv[1])
    return ONE if value is not None and argv[2] in value else ZERO


def smismember(s: Client, argv: list[bytes]) -> bytes:
    """SMISMEMBER."""
    value = _read(s, argv[1]) or set()
    return b"*%d\r\n" % (len(argv) - 2) + b"".join(
        ONE if member in value else ZERO for member in argv[2:]
    )


def scard(s: Client, argv: list[bytes]) -> bytes:
    """SCARD."""
    value = _read(s, argv[1])
    return integer(0 if value is None else len(value))


def spop(s: Client, argv: list[bytes]) -> bytes:
    """SPOP key [count]."""
    if len(argv) > 3:
        return SYNTAX_ERROR
    key = argv[1]
    if len(argv) == 2:
        value = s.store.read_container(key, set)
        if value is None:
            return s.null
        member = _rng.choice(tuple(value))
        value.discard(member)
        s.store.container_written(key, b"spop")
        return bulk(member)
    count = bounded_int(argv[2], 0)
    if count is None:  # Redis gives its one message for both errors here
        return _POSITIVE
    value = _read(s, key)
    if value is None or count == 0:
        return set_header(0, s.resp3)
    if count >= len(value):
        members = set_in_order(value)
        s.store.delete(key)  # the whole set: Redis announces spop, then del
        return _set_reply(s, members, len(members))
    popped = _rng.sample(tuple(value), count)
    value.difference_update(popped)
    s.store.container_written(key, b"spop")
    return _set_reply(s, popped, len(popped))


def srandmember(s: Client, argv: list[bytes]) -> bytes:
    """SRANDMEMBER key [count]."""
    if len(argv) > 3:
        return SYNTAX_ERROR
    if len(argv) == 2:
        value = _read(s, argv[1])
        return s.null if value is None else bulk(_rng.choice(tuple(value)))
    parsed = random_count(argv, b"")
    if isinstance(parsed, bytes):
        return parsed
    count = parsed[0]
    value = _read(s, argv[1])
    if value is None or count == 0:
        return EMPTY_ARRAY
    if count < 0:
        members = tuple(value)
        chosen = [_rng.choice(members) for _ in range(-count)]
    elif count >= len(value):
        chosen = set_in_order(value)
    else:
        chosen = _rng.sample(tuple(value), count)
    return b"*%d\r\n" % len(chosen) + b"".join(map(bulk, chosen))


def smove(s: Client, argv: list[bytes]) -> bytes:
    """SMOVE source destination member."""
    store = s.store
    source = _read(s, argv[1])
    if source is None:
        return ZERO
    target = _read(s, argv[2])
    member = argv[3]
    if argv[1] == argv[2]:
        return ONE if member in source else ZERO
    if member not in source:
        return ZERO
    source.discard(member)
    store.container_written(argv[1], b"srem")
    destination = target if target is not None else store.write_container(argv[2], set)
    if member not in destination:
        destination.add(member)
        store.container_written(argv[2], b"sadd")
    return ONE


def _sets(s: Client, keys: list[bytes]) -> list[set[bytes] | None]:
    """The sets at ``keys`` (None where missing); WRONGTYPE if any key holds another type."""
    return [_read(s, key) for key in keys]


def _inter(sets: list[set[bytes] | None]) -> list[bytes]:
    if any(found is None for found in sets):
        return []
    present = [found for found in sets if found is not None]
    smallest = min(present, key=len)
    return [member for member in set_in_order(smallest) if all(member in o for o in present)]


def _union(sets: list[set[bytes] | None]) -> set[bytes]:
    result: set[bytes] = set()
    for found in sets:
        if found is not None:
            result |= found
    return result


def _diff(sets: list[set[bytes] | None]) -> set[bytes]:
    first = sets[0]
    if first is None:
        return set()
    result = set(first)
    for found in sets[1:]:
        if found is not None:
            result -= found
    return result


def sinter(s: Client, argv: list[bytes]) -> bytes:
    """SINTER."""
    members = _inter(_sets(s, argv[1:]))
    return _set_reply(s, members, len(members))


def sunion(s: Client, argv: list[bytes]) -> bytes:
    """SUNION."""
    members = set_in_order(_union(_sets(s, argv[1:])))
    return _set_reply(s, members, len(members))


def sdiff(s: Client, argv: list[bytes]) -> bytes:
    """SDIFF."""
    members = set_in_order(_diff(_sets(s, argv[1:])))
    return _set_reply(s, members, len(members))


def _store(s: Client, key: bytes, members: set[bytes], event: bytes) -> bytes:
    store = s.store
    if not members:
        store.delete(key)
        return ZERO
    store.set_value(key, members)
    store.notify(event, key)
    return integer(len(members))


def sinterstore(s: Client, argv: list[bytes]) -> bytes:
    """SINTERSTORE."""
    return _store(s, argv[1], set(_inter(_sets(s, argv[2:]))), b"sinterstore")


def sunionstore(s: Client, argv: list[bytes]) -> bytes:
    """SUNIONSTORE."""
    return _store(s, argv[1], _union(_sets(s, argv[2:])), b"sunionstore")


def sdiffstore(s: Client, argv: list[bytes]) -> bytes:
    """SDIFFSTORE."""
    return _store(s, argv[1], _diff(_sets(s, argv[2:])), b"sdiffstore")


def sintercard(s: Client, argv: list[bytes]) -> bytes:
    """SINTERCARD numkeys key [key ...] [LIMIT limit]."""
    numkeys = bounded_int(argv[1])
    if numkeys is None or numkeys < 1:
        return b"-ERR numkeys should be greater than 0\r\n"
    if numkeys > len(argv) - 2:
        return b"-ERR Number of keys can't be greater than number of args\r\n"
    limit = 0
    j = 2 + numkeys
    while j < len(argv):
        if argv[j].lower() == b"limit" and j + 1 < len(argv):
            parsed = bounded_int(argv[j + 1])
            if parsed is None or parsed < 0:
                return b"-ERR LIMIT can't be negative\r\n"
            limit = parsed
            j += 2
        else:
            return SYNTAX_ERROR
    found = len(_inter(_sets(s, argv[2 : 2 + numkeys])))
    return integer(min(found, limit) if limit else found)


def sscan(s: Client, argv: list[bytes]) -> bytes:
    """SSCAN key cursor [MATCH pattern] [COUNT count]."""
    step = scan_step(s, argv, set, set_scanned_whole)
    if isinstance(step, bytes):
        return step
    return scan_reply(step[1], step[2])


_RF = ("readonly", "fast")
_R = ("readonly",)
_WDF = ("write", "denyoom", "fast")
_WD = ("write", "denyoom")
_WF = ("write", "fast")
_KEY = (1, 1, 1)

COMMANDS: list[Command] = [
    Command("sadd", -3, sadd, _WDF, _KEY),
    Command("srem", -3, srem, _WF, _KEY),
    Command("smembers", 2, smembers, _R, _KEY),
    Command("sismember", 3, sismember, _RF, _KEY),
    Command("smismember", -3, smismember, _RF, _KEY),
    Command("scard", 2, scard, _RF, _KEY),
    Command("spop", -2, spop, _WF, _KEY),
    Command("srandmember", -2, srandmember, _R, _KEY),
    Command("smove", 4, smove, _WF, (1, 2, 1)),
    Command("sinter", -2, sinter, _R, (1, -1, 1)),
    Command("sinterstore", -3, sinterstore, _WD, (1, -1, 1)),
    Command("sintercard", -3, sintercard, _R),
    Command("sunion", -2, sunion, _R, (1, -1, 1)),
    Command("sunionstore", -3, sunionstore, _WD, (1, -1, 1)),
    Command("sdiff", -2, sdiff, _R, (1, -1, 1)),
    Command("sdiffstore", -3, sdiffstore, _WD, (1, -1, 1)),
    Command("sscan", -3, sscan, _R, _KEY),
]
