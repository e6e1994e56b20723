"""Keyspace commands: DEL, EXISTS, TYPE, KEYS, SCAN, RENAME, RANDOMKEY,
and expiry (EXPIRE and its variants, TTL, PERSIST...)."""

from __future__ import annotations

from ...kvstore import NO_EXPIRY, NO_KEY, parse_int64
from ..replies import OK, ONE, ZERO, bulk, bulk_array, error, integer
from ._base import (
    LLONG_MAX,
    LLONG_MIN,
    NO_SUCH_KEY,
    NOT_INTEGER,
    SYNTAX_ERROR,
    Client,
    bounded_int,
    c_string,
    expire_time_error,
    scan_cursor,
)


def del_(s: Client, argv: list[bytes]) -> bytes:
    """DEL and UNLINK."""
    delete = s.store.delete
    return integer(sum(1 for key in argv[1:] if delete(key)))


def exists(s: Client, argv: list[bytes]) -> bytes:
    """EXISTS."""
    exists = s.store.exists
    return integer(sum(1 for key in argv[1:] if exists(key)))


def type_(s: Client, argv: list[bytes]) -> bytes:
    """TYPE."""
    return b"+%s\r\n" % s.store.type_of(argv[1])


def keys(s: Client, argv: list[bytes]) -> bytes:
    """KEYS."""
    return bulk_array(s.store.keys(argv[1]), s.null)


def scan(s: Client, argv: list[bytes]) -> bytes:
    """SCAN."""
    cursor = scan_cursor(argv[1])
    if cursor is None:
        return b"-ERR invalid cursor\r\n"
    count = 10
    pattern: bytes | None = None
    kind: bytes | None = None
    j = 2
    while j < len(argv):
        option = argv[j].lower()
        if j + 1 >= len(argv):
            return SYNTAX_ERROR
        if option == b"count":
            parsed = bounded_int(argv[j + 1])
            if parsed is None:
                return NOT_INTEGER
            if parsed < 1:
                return SYNTAX_ERROR
            count = parsed
        elif option == b"match":
            pattern = argv[j + 1]
        elif option == b"type":
            kind = argv[j + 1].lower()
        else:
            return SYNTAX_ERROR
        j += 2
    next_cursor, keys = s.store.scan(cursor, count, pattern)
    if kind is not None:
        type_of = s.store.type_of
        keys = [key for key in keys if type_of(key) == kind]
    return b"*2\r\n" + bulk(b"%d" % next_cursor) + bulk_array(keys, s.null)


def rename(s: Client, argv: list[bytes]) -> bytes:
    """RENAME."""
    if not s.store.rename(argv[1], argv[2]):
        return NO_SUCH_KEY
    return OK


def renamenx(s: Client, argv: list[bytes]) -> bytes:
    """RENAMENX."""
    store = s.store
    if not store.exists(argv[1]):
        return NO_SUCH_KEY
    if argv[1] == argv[2] or store.exists(argv[2]):
        return ZERO
    store.rename(argv[1], argv[2])
    return ONE


def randomkey(s: Client, argv: list[bytes]) -> bytes:
    """RANDOMKEY."""
    key = s.store.random_key()
    return s.null if key is None else bulk(key)


# -- expiry -------------------------------------------------------------------

_C_LLONG_MIN_DIV_1000 = -(-LLONG_MIN // 1000)  # C division truncates toward zero
_EXPIRE_NX, _EXPIRE_XX, _EXPIRE_GT, _EXPIRE_LT = 1, 2, 4, 8
_EXPIRE_OPTIONS = {b"nx": _EXPIRE_NX, b"xx": _EXPIRE_XX, b"gt": _EXPIRE_GT, b"lt": _EXPIRE_LT}


def _expire_generic(s: Client, argv: list[bytes], relative: bool, unit: int) -> bytes:
    flags = 0
    for option in argv[3:]:
        flag = _EXPIRE_OPTIONS.get(option.lower())
        if flag is None:
            return error(b"ERR Unsupported option %s" % c_string(option))
        flags |= flag
    if flags & _EXPIRE_NX and flags & (_EXPIRE_XX | _EXPIRE_GT | _EXPIRE_LT):
        return b"-ERR NX and XX, GT or LT options at the same time are not compatible\r\n"
    if flags & _EXPIRE_GT and flags & _EXPIRE_LT:
        return b"-ERR GT and LT options at the same time are not compatible\r\n"
    when = parse_int64(argv[2])
    if when is None:
        return NOT_INTEGER
    name = argv[0].lower()
    if unit == 1000 and not _C_LLONG_MIN_DIV_1000 <= when <= LLONG_MAX // 1000:
        return expire_time_error(name)
    when *= unit
    base = s.store.clock() if relative else 0
    if when > LLONG_MAX - base:
        return expire_time_error(name)
    when += base
    store = s.store
    current = store.expire_time(argv[1])
    if current == NO_KEY:
        return ZERO
    if flags:
        unset = current == NO_EXPIRY
        if (
            (flags & _EXPIRE_NX and not unset)
            or (flags & _EXPIRE_XX and unset)
            or (flags & _EXPIRE_GT and (unset or when <= current))
            or (flags & _EXPIRE_LT and not unset and when >= current)
        ):
            return ZERO
    store.expire_at(argv[1], when)
    return ONE


def expire(s: Client, argv: list[bytes]) -> bytes:
    """EXPIRE."""
    return _expire_generic(s, argv, True, 1000)


def pexpire(s: Client, argv: list[bytes]) -> bytes:
    """PEXPIRE."""
    return _expire_generic(s, argv, True, 1)


def expireat(s: Client, argv: list[bytes]) -> bytes:
    """EXPIREAT."""
    return _expire_generic(s, argv, False, 1000)


def pexpireat(s: Client, argv: list[bytes]) -> bytes:
    """PEXPIREAT."""
    return _expire_generic(s, argv, False, 1)


def _ttl_generic(s: Client, key: bytes, milliseconds: bool, absolute: bool) -> bytes:
    when = s.store.expire_time(key)
    if when < 0:
        return integer(when)
    ttl = max(when if absolute else when - s.store.clock(), 0)
    return integer(ttl if milliseconds else (ttl + 500) // 1000)


def ttl(s: Client, argv: list[bytes]) -> bytes:
    """TTL."""
    return _ttl_generic(s, argv[1], False, False)


def pttl(s: Client, argv: list[bytes]) -> bytes:
    """PTTL."""
    return _ttl_generic(s, argv[1], True, False)


def expiretime(s: Client, argv: list[bytes]) -> bytes:
    """EXPIRETIME."""
    return _ttl_generic(s, argv[1], False, True)


def pexpiretime(s: Client, argv: list[bytes]) -> bytes:
    """PEXPIRETIME."""
    return _ttl_generic(s, argv[1], True, True)


def persist(s: Client, argv: list[bytes]) -> bytes:
    """PERSIST."""
    return ONE if s.store.persist(argv[1]) else ZERO
