"""String commands: GET, SET and their variants, counters, APPEND and ranges."""

from __future__ import annotations

from fractions import Fraction

from ...kvstore import IntegerOverflow, NotAnInteger, WrongType, parse_int64
from .. import numbers
from ..lcs import lcs as longest_common_subsequence
from ..replies import BULK_HEADS, EMPTY_BULK, OK, ONE, ZERO, bulk, integer, map_reply
from ._base import (
    LLONG_MAX,
    LLONG_MIN,
    NOT_FLOAT,
    NOT_INTEGER,
    STRING_TOO_LONG,
    SYNTAX_ERROR,
    Client,
    arity_error,
    expire_time_error,
)

_NX, _XX, _GET, _KEEPTTL, _PERSIST, _EX, _PX, _EXAT, _PXAT = (1 << bit for bit in range(9))
_SECONDS = _EX | _EXAT
_RELATIVE = _EX | _PX
_ABSOLUTE = _EXAT | _PXAT
_EXPIRY = _SECONDS | _PX | _PXAT
# For each option: the flags that exclude it, and whether it takes a value.
_SET_OPTIONS: dict[bytes, tuple[int, int, bool]] = {
    b"nx": (_NX, _XX, False),
    b"xx": (_XX, _NX, False),
    b"get": (_GET, 0, False),
    b"keepttl": (_KEEPTTL, _PERSIST | _EXPIRY, False),
    b"ex": (_EX, _KEEPTTL | _PERSIST | _EXAT | _PX | _PXAT, True),
    b"px": (_PX, _KEEPTTL | _PERSIST | _EX | _EXAT | _PXAT, True),
    b"exat": (_EXAT, _KEEPTTL | _PERSIST | _EX | _PX | _PXAT, True),
    b"pxat": (_PXAT, _KEEPTTL | _PERSIST | _EX | _EXAT | _PX, True),
}
_GETEX_OPTIONS: dict[bytes, tuple[int, int, bool]] = {
    b"persist": (_PERSIST, _EXPIRY | _KEEPTTL, False),
    **{name: _SET_OPTIONS[name] for name in (b"ex", b"px", b"exat", b"pxat")},
}


def _string_options(
    argv: list[bytes], start: int, table: dict[bytes, tuple[int, int, bool]]
) -> tuple[int, bytes | None] | None:
    """Redis's ``parseExtendedStringArgumentsOrReply``: (flags, expire argument) or None."""
    flags = 0
    expire: bytes | None = None
    j = start
    last = len(argv) - 1
    while j <= last:
        option = table.get(argv[j].lower())
        if option is None:
            return None
        flag, excluded, takes_value = option
        if flags & excluded or (takes_value and j == last):
            return None
        flags |= flag
        if takes_value:
            j += 1
            expire = argv[j]
        j += 1
    return flags, expire


def _expire_ms(s: Client, expire: bytes, flags: int, name: bytes) -> int | bytes:
    """Redis's ``getExpireMillisecondsOrReply``: unix ms, or an error reply."""
    value = parse_int64(expire)
    if value is None:
        return NOT_INTEGER
    if value <= 0 or (flags & _SECONDS and value > LLONG_MAX // 1000):
        return expire_time_error(name)
    if flags & _SECONDS:
        value *= 1000
    if flags & _RELATIVE:
        value += s.store.clock()
    if value > LLONG_MAX:
        return expire_time_error(name)
    return value


# -- strings ------------------------------------------------------------------


def get(s: Client, argv: list[bytes]) -> bytes:
    """GET."""
    value = s.store.get(argv[1])
    if value is None:
        return s.null
    size = len(value)
    if size < 1024:  # bulk() inlined: GET's reply (concatenated: see session._get_string)
        return BULK_HEADS[size] + value + b"\r\n"
    return b"$%d\r\n%s\r\n" % (size, value)


def _set_generic(
    s: Client, argv: list[bytes], flags: int, expire: bytes | None, name: bytes
) -> bytes:
    """Redis's ``setGenericCommand`` for SET, SETEX and PSETEX (argv: name, key, value)."""
    when: int | None = None
    if expire is not None:
        checked = _expire_ms(s, expire, flags, name)
        if isinstance(checked, bytes):
            return checked
        when = checked
    store = s.store
    key = argv[1]
    old = store.get(key) if flags & (_GET | _NX | _XX) else None
    reply = (s.null if old is None else bulk(old)) if flags & _GET else OK
    if (flags & _NX and old is not None) or (flags & _XX and old is None):
        return reply if flags & _GET else s.null
    store.set(key, argv[2], expire_at=when, keep_ttl=bool(flags & _KEEPTTL))
    return reply


def set_(s: Client, argv: list[bytes]) -> bytes:
    """SET."""
    if len(argv) == 3:
        s.store.put(argv[1], argv[2])
        return OK
    options = _string_options(argv, 3, _SET_OPTIONS)
    if options is None:
        return SYNTAX_ERROR
    return _set_generic(s, argv, options[0], options[1], b"set")


def setex(s: Client, argv: list[bytes]) -> bytes:
    """SETEX."""
    return _set_generic(s, [argv[0], argv[1], argv[3]], _EX, argv[2], b"setex")


def psetex(s: Client, argv: list[bytes]) -> bytes:
    """PSETEX."""
    return _set_generic(s, [argv[0], argv[1], argv[3]], _PX, argv[2], b"psetex")


def setnx(s: Client, argv: list[bytes]) -> bytes:
    """SETNX."""
    store = s.store
    if store.exists(argv[1]):
        return ZERO
    store.set(argv[1], argv[2])
    return ONE


def getset(s: Client, argv: list[bytes]) -> bytes:
    """GETSET."""
    old = s.store.get(argv[1])
    s.store.set(argv[1], argv[2])
    return s.null if old is None else bulk(old)


def getdel(s: Client, argv: list[bytes]) -> bytes:
    """GETDEL."""
    value = s.store.pop(argv[1])
    return s.null if value is None else bulk(value)


def getex(s: Client, argv: list[bytes]) -> bytes:
    """GETEX."""
    options = _string_options(argv, 2, _GETEX_OPTIONS)
    if options is None:
        return SYNTAX_ERROR
    flags, expire = options
    store = s.store
    key = argv[1]
    value = store.get(key)
    if value is None:
        return s.null
    if expire is not None:
        when = _expire_ms(s, expire, flags, b"getex")
        if isinstance(when, bytes):
            return when
        store.expire_at(key, when)
    elif flags & _PERSIST:
        store.persist(key)
    return bulk(value)


def mget(s: Client, argv: list[bytes]) -> bytes:
    """MGET."""
    get = s.store.get
    null = s.null
    parts = [b"*%d\r\n" % (len(argv) - 1)]
    room = s.room
    for key in argv[1:]:  # checked as it grows: 100 KB x 20,000 keys must not be built
        try:
            value = get(key)
        except WrongType:  # MGET answers nil for a key of another type, as Redis does
            value = None
        part = null if value is None else b"$%d\r\n%s\r\n" % (len(value), value)
        room -= len(part)
        if room < 0:
            s.over_output(room)
        parts.append(part)
    return b"".join(parts)


def mset(s: Client, argv: list[bytes]) -> bytes:
    """MSET."""
    if len(argv) % 2 == 0:
        return arity_error("mset")
    store_set = s.store.set
    for j in range(1, len(argv), 2):
        store_set(argv[j], argv[j + 1])
    return OK


def msetnx(s: Client, argv: list[bytes]) -> bytes:
    """MSETNX."""
    if len(argv) % 2 == 0:
        return arity_error("msetnx")
    store = s.store
    if any(store.exists(argv[j]) for j in range(1, len(argv), 2)):
        return ZERO
    for j in range(1, len(argv), 2):
        store.set(argv[j], argv[j + 1])
    return ONE


def _incr_by(s: Client, key: bytes, delta: int) -> bytes:
    try:
        return b":%d\r\n" % s.store.incr_by(key, delta)
    except NotAnInteger:
        return NOT_INTEGER
    except IntegerOverflow:
        return b"-ERR increment or decrement would overflow\r\n"


def incr(s: Client, argv: list[bytes]) -> bytes:
    """INCR."""
    return _incr_by(s, argv[1], 1)


def decr(s: Client, argv: list[bytes]) -> bytes:
    """DECR."""
    return _incr_by(s, argv[1], -1)


def incrby(s: Client, argv: list[bytes]) -> bytes:
    """INCRBY."""
    delta = parse_int64(argv[2])
    return NOT_INTEGER if delta is None else _incr_by(s, argv[1], delta)


def decrby(s: Client, argv: list[bytes]) -> bytes:
    """DECRBY."""
    delta = parse_int64(argv[2])
    if delta is None:
        return NOT_INTEGER
    if delta == LLONG_MIN:
        return b"-ERR decrement would overflow\r\n"
    return _incr_by(s, argv[1], -delta)


def incrbyfloat(s: Client, argv: list[bytes]) -> bytes:
    """INCRBYFLOAT."""
    store = s.store
    old = store.get(argv[1])
    current = numbers.parse_long_double(old) if old is not None else Fraction(0)
    if current is None:
        return NOT_FLOAT
    increment = numbers.parse_long_double(argv[2])
    if increment is None:
        return NOT_FLOAT
    result = numbers.add_long_doubles(current, increment)
    if result is None:
        return b"-ERR increment would produce NaN or Infinity\r\n"
    text = numbers.format_long_double(result)
    if old is None or not store.update(argv[1], text, b"incrbyfloat"):  # keeps the expiry
        store.set(argv[1], text, event=b"incrbyfloat")
    return bulk(text)


def _too_long(s: Client, size: int, extra: int) -> bool:
    return size + extra > s.provider.resp_limits.max_bulk_len


def append(s: Client, argv: list[bytes]) -> bytes:
    """APPEND."""
    store = s.store
    size = store.length(argv[1])
    if size is not None and _too_long(s, size, len(argv[2])):
        return STRING_TOO_LONG
    return integer(store.append(argv[1], argv[2]))


def strlen(s: Client, argv: list[bytes]) -> bytes:
    """STRLEN."""
    size = s.store.length(argv[1])  # not get(): that would copy a value APPEND grows
    return integer(0 if size is None else size)


def getrange(s: Client, argv: list[bytes]) -> bytes:
    """GETRANGE."""
    start = parse_int64(argv[2])
    end = parse_int64(argv[3])
    if start is None or end is None:
        return NOT_INTEGER
    store = s.store
    size = store.length(argv[1])
    if size is None:
        return EMPTY_BULK
    if start < 0 and end < 0 and start > end:
        return EMPTY_BULK
    if start < 0:
        start = max(size + start, 0)
    if end < 0:
        end = max(size + end, 0)
    end = min(end, size - 1)
    if start > end or size == 0:
        return EMPTY_BULK
    return bulk(store.get_range(argv[1], start, end + 1) or b"")


def setrange(s: Client, argv: list[bytes]) -> bytes:
    """SETRANGE."""
    offset = parse_int64(argv[2])
    if offset is None:
        return NOT_INTEGER
    if offset < 0:
        return b"-ERR offset is out of range\r\n"
    store = s.store
    chunk = argv[3]
    if not chunk:
        size = store.length(argv[1])
        return integer(0 if size is None else size)
    if _too_long(s, offset, len(chunk)):
        return STRING_TOO_LONG
    return integer(store.set_range(argv[1], offset, chunk))


_NOT_STRINGS = b"-ERR The specified keys must contain string values\r\n"


def lcs(s: Client, argv: list[bytes]) -> bytes:
    """LCS key1 key2 [LEN] [IDX] [MINMATCHLEN n] [WITHMATCHLEN]."""
    store = s.store
    try:
        first, second = store.read_string(argv[1]), store.read_string(argv[2])
    except WrongType:
        return _NOT_STRINGS
    a, b = bytes(first or b""), bytes(second or b"")
    want_len = want_idx = with_len = False
    min_len = 0
    index = 3
    while index < len(argv):
        option = argv[index].lower()
        if option == b"idx":
            want_idx = True
        elif option == b"len":
            want_len = True
        elif option == b"withmatchlen":
            with_len = True
        elif option == b"minmatchlen" and index + 1 < len(argv):
            parsed = parse_int64(argv[index + 1])
            if parsed is None:
                return NOT_INTEGER
            min_len = max(parsed, 0)
            index += 1
        else:
            return SYNTAX_ERROR
        index += 1
    if want_len and want_idx:
        return b"-ERR If you want both the length and indexes, please just use IDX.\r\n"
    if 4 * (len(a) + 1) * (len(b) + 1) > s.provider.resp_limits.max_bulk_len:
        return b"-ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len\r\n"
    common, length, ranges = longest_common_subsequence(a, b, want_ranges=want_idx)
    if not want_idx:
        return integer(length) if want_len else bulk(common)
    rows = []
    for a_start, a_end, b_start, b_end in ranges:
        size = a_end - a_start + 1
        if min_len and size < min_len:
            continue
        row = b"*2\r\n:%d\r\n:%d\r\n*2\r\n:%d\r\n:%d\r\n" % (a_start, a_end, b_start, b_end)
        rows.append(
            b"*%d\r\n" % (3 if with_len else 2) + row + (integer(size) if with_len else b"")
        )
    matches = b"*%d\r\n" % len(rows) + b"".join(rows)
    return map_reply([(bulk(b"matches"), matches), (bulk(b"len"), integer(length))], s.resp3)
