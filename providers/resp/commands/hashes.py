"""Hash commands (Redis 7.0's H* family): a hash is a ``dict`` of field to value.

A dict keeps insertion order, which is the order of a listpack-encoded hash in
Redis (HGETALL, HKEYS, HSCAN): small hashes answer byte for byte as Redis does.
"""

from __future__ import annotations

import random
from fractions import Fraction

from ...datatypes.encodings import hash_scanned_whole
from ...kvstore import parse_int64
from .. import numbers
from ..replies import EMPTY_ARRAY, OK, ONE, ZERO, bulk, integer, map_reply
from ._base import (
    LLONG_MAX,
    LLONG_MIN,
    NOT_FLOAT,
    NOT_INTEGER,
    Client,
    Command,
    arity_error,
    random_count,
    scan_reply,
    scan_step,
)

__all__ = ["COMMANDS"]

_rng = random.Random()


def _read(s: Client, key: bytes) -> dict[bytes, bytes] | None:
    return s.store.read_container(key, dict)


def hset(s: Client, argv: list[bytes]) -> bytes:
    """HSET and HMSET."""
    argc = len(argv)
    if argc % 2:
        return arity_error(argv[0].lower().decode(errors="replace"))
    key = argv[1]
    store = s.store
    value = store.write_container(key, dict)
    before = len(value)
    if argc == 4:
        value[argv[2]] = argv[3]
    else:
        value.update(zip(argv[2::2], argv[3::2], strict=True))
    store.container_written(key, b"hset")
    return integer(len(value) - before) if argv[0][1] in b"sS" else OK


def hsetnx(s: Client, argv: list[bytes]) -> bytes:
    """HSETNX."""
    value = s.store.write_container(argv[1], dict)
    if argv[2] in value:
        return ZERO
    value[argv[2]] = argv[3]
    s.store.container_written(argv[1], b"hset")
    return ONE


def hget(s: Client, argv: list[bytes]) -> bytes:
    """HGET."""
    value = _read(s, argv[1])
    found = None if value is None else value.get(argv[2])
    return s.null if found is None else bulk(found)


def hmget(s: Client, argv: list[bytes]) -> bytes:
    """HMGET."""
    value = _read(s, argv[1]) or {}
    null = s.null
    parts = [null if (found := value.get(field)) is None else bulk(found) for field in argv[2:]]
    return b"*%d\r\n" % len(parts) + b"".join(parts)


def hdel(s: Client, argv: list[bytes]) -> bytes:
    """HDEL."""
    value = _read(s, argv[1])
    if value is None:
        return ZERO
    deleted = 0
    for field in argv[2:]:
        if value.pop(field, None) is not None:
            deleted += 1
    if deleted:
        s.store.container_written(argv[1], b"hdel")
    return integer(deleted)


def hlen(s: Client, argv: list[bytes]) -> bytes:
    """HLEN."""
    value = _read(s, argv[1])
    return integer(0 if value is None else len(value))


def hstrlen(s: Client, argv: list[bytes]) -> bytes:
    """HSTRLEN."""
    value = _read(s, argv[1])
    found = None if value is None else value.get(argv[2])
    return integer(0 if found is None else len(found))


def hexists(s: Client, argv: list[bytes]) -> bytes:
    """HEXISTS."""
    value = _read(s, argv[1])
    return ONE if value is not None and argv[2] in value else ZERO


def hkeys(s: Client, argv: list[bytes]) -> bytes:
    """HKEYS."""
    value = _read(s, argv[1]) or {}
    return b"*%d\r\n" % len(value) + b"".join(map(bulk, value))


def hvals(s: Client, argv: list[bytes]) -> bytes:
    """HVALS."""
    value = _read(s, argv[1]) or {}
    return b"*%d\r\n" % len(value) + b"".join(map(bulk, value.values()))


def hgetall(s: Client, argv: list[bytes]) -> bytes:
    """HGETALL: a map in RESP3."""
    value = _read(s, argv[1]) or {}
    return map_reply([(bulk(field), bulk(item)) for field, item in value.items()], s.resp3)


def hincrby(s: Client, argv: list[bytes]) -> bytes:
    """HINCRBY."""
    increment = parse_int64(argv[3])
    if increment is None:
        return NOT_INTEGER
    value = s.store.write_container(argv[1], dict)
    old = value.get(argv[2])
    current = 0
    if old is not None:
        parsed = parse_int64(old)
        if parsed is None:
            return b"-ERR hash value is not an integer\r\n"
        current = parsed
    result = current + increment
    if not LLONG_MIN <= result <= LLONG_MAX:
        return b"-ERR increment or decrement would overflow\r\n"
    value[argv[2]] = b"%d" % result
    s.store.container_written(argv[1], b"hincrby")
    return integer(result)


def hincrbyfloat(s: Client, argv: list[bytes]) -> bytes:
    """HINCRBYFLOAT."""
    increment = numbers.parse_long_double(argv[3])
    if increment is None:
        return NOT_FLOAT
    if isinstance(increment, float):
        return b"-ERR value is NaN or Infinity\r\n"
    value = s.store.write_container(argv[1], dict)
    old = value.get(argv[2])
    current: numbers.LongDouble = Fraction(0)
    if old is not None:
        parsed = numbers.parse_long_double(old)
        if parsed is None:
            return b"-ERR hash value is not a float\r\n"
        current = parsed
    result = numbers.add_long_doubles(current, increment)
    if result is None:
        return b"-ERR increment would produce NaN or Infinity\r\n"
    text = numbers.format_long_double(result)
    value[argv[2]] = text
    s.store.container_written(argv[1], b"hincrbyfloat")
    return bulk(text)


def _pair(field: bytes, item: bytes, withvalues: bool, resp3: bool) -> bytes:
    if not withvalues:
        return bulk(field)
    return (b"*2\r\n" if resp3 else b"") + bulk(field) + bulk(item)


def hrandfield(s: Client, argv: list[bytes]) -> bytes:
    """HRANDFIELD key [count [WITHVALUES]]."""
    if len(argv) == 2:
        value = _read(s, argv[1])
        if value is None:
            return s.null
        return bulk(_rng.choice(list(value)))
    parsed = random_count(argv, b"withvalues")
    if isinstance(parsed, bytes):
        return parsed
    count, withvalues = parsed
    value = _read(s, argv[1])
    if value is None or count == 0:
        return EMPTY_ARRAY
    resp3 = s.resp3
    per_item = 2 if withvalues and not resp3 else 1
    if count < 0:  # repetitions allowed, random order
        fields = list(value.items())
        chosen = [_rng.choice(fields) for _ in range(-count)]
    elif count >= len(value):
        chosen = list(value.items())
    else:
        chosen = _rng.sample(list(value.items()), count)
    parts = [_pair(field, item, withvalues, resp3) for field, item in chosen]
    return b"*%d\r\n" % (len(parts) * per_item) + b"".join(parts)


def hscan(s: Client, argv: list[bytes]) -> bytes:
    """HSCAN key cursor [MATCH pattern] [COUNT count]."""
    step = scan_step(s, argv, dict, hash_scanned_whole)
    if isinstance(step, bytes):
        return step
    value, next_cursor, fields = step
    return scan_reply(next_cursor, [item for field in fields for item in (field, value[field])])


_RF = ("readonly", "fast")
_R = ("readonly",)
_WDF = ("write", "denyoom", "fast")
_WF = ("write", "fast")
_KEY = (1, 1, 1)

COMMANDS: list[Command] = [
    Command("hset", -4, hset, _WDF, _KEY),
    Command("hmset", -4, hset, _WDF, _KEY),
    Command("hsetnx", 4, hsetnx, _WDF, _KEY),
    Command("hget", 3, hget, _RF, _KEY),
    Command("hmget", -3, hmget, _RF, _KEY),
    Command("hdel", -3, hdel, _WF, _KEY),
    Command("hlen", 2, hlen, _RF, _KEY),
    Command("hstrlen", 3, hstrlen, _RF, _KEY),
    Command("hexists", 3, hexists, _RF, _KEY),
    Command("hkeys", 2, hkeys, _R, _KEY),
    Command("hvals", 2, hvals, _R, _KEY),
    Command("hgetall", 2, hgetall, _R, _KEY),
    Command("hincrby", 4, hincrby, _WDF, _KEY),
    Command("hincrbyfloat", 4, hincrbyfloat, _WDF, _KEY),
    Command("hrandfield", -2, hrandfield, _R, _KEY),
    Command("hscan", -3, hscan, _R, _KEY),
]
