"""Generic key commands over every type: COPY, DUMP, RESTORE, OBJECT, TOUCH."""

from __future__ import annotations

import copy
from collections import deque

from ...datatypes import rdb
from ...datatypes.encodings import encoding_of
from ...datatypes.zset import ZSet
from ...eviction import guard_of
from ...kvstore import parse_int64
from .. import stream_rdb  # noqa: F401 - DUMP/RESTORE of streams (registers with rdb)
from ..replies import OK, ONE, ZERO, bulk, integer, simple
from ._base import (
    INT_MAX,
    NOT_INTEGER,
    SAME_OBJECT,
    SYNTAX_ERROR,
    Client,
    Command,
    container,
    db_index,
)

__all__ = ["COMMANDS", "debug_object", "duplicate"]


def duplicate(value: object) -> object:
    """An independent copy of a stored value (COPY): later writes to one leave the other."""
    if type(value) is bytearray:  # changed in place: raw, and its copy too (dupStringObject)
        return bytearray(value)
    if isinstance(value, bytes):
        return value
    if type(value) is deque:
        return deque(value)
    if type(value) is dict:
        return dict(value)
    if type(value) is set:
        return set(value)
    if type(value) is ZSet:
        return value.copy()
    return copy.deepcopy(value)


def copy_(s: Client, argv: list[bytes]) -> bytes:
    """COPY source destination [DB destination-db] [REPLACE]."""
    replace = False
    target = s.db
    j = 3
    while j < len(argv):
        option = argv[j].lower()
        if option == b"replace":
            replace = True
        elif option == b"db" and j + 1 < len(argv):
            index = db_index(s, argv[j + 1])
            if isinstance(index, bytes):
                return index
            target = index
            j += 1
        else:
            return SYNTAX_ERROR
        j += 1
    source, key, new_key = s.store, argv[1], argv[2]
    if target == s.db and key == new_key:
        return SAME_OBJECT
    value = source.value_of(key)
    if value is None:
        return ZERO
    when = source.expire_time(key)
    destination = s.provider.databases[target]
    if destination.exists(new_key) and not replace:
        return ZERO
    destination.set_value(new_key, duplicate(value), expire_at=when if when >= 0 else None)
    destination.notify(b"copy_to", new_key)
    return ONE


def touch(s: Client, argv: list[bytes]) -> bytes:
    """TOUCH key [key ...]: how many exist."""
    exists = s.store.exists
    return integer(sum(1 for key in argv[1:] if exists(key)))


# -- DUMP / RESTORE ------------------------------------------------------------------


def dump(s: Client, argv: list[bytes]) -> bytes:
    """DUMP key."""
    value = s.store.value_of(argv[1])
    if value is None:
        return s.null
    try:
        return bulk(rdb.dump(value))
    except TypeError:
        return b"-ERR DUMP of this type is not supported here\r\n"


def restore(s: Client, argv: list[bytes]) -> bytes:
    """RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]."""
    replace = absolute = False
    idle = freq = -1
    j = 4
    while j < len(argv):
        option = argv[j].lower()
        more = len(argv) - j - 1
        if option == b"replace":
            replace = True
        elif option == b"absttl":
            absolute = True
        elif option == b"idletime" and more and freq == -1:
            parsed = parse_int64(argv[j + 1])
            if parsed is None:
                return NOT_INTEGER
            if parsed < 0:
                return b"-ERR Invalid IDLETIME value, must be >= 0\r\n"
            idle = parsed
            j += 1
        elif option == b"freq" and more and idle == -1:
            parsed = parse_int64(argv[j + 1])
            if parsed is None:
                return NOT_INTEGER
            if not 0 <= parsed <= 255:
                return b"-ERR Invalid FREQ value, must be >= 0 and <= 255\r\n"
            freq = parsed
            j += 1
        else:
            return SYNTAX_ERROR
        j += 1
    store, key = s.store, argv[1]
    if not replace and store.exists(key):
        return b"-BUSYKEY Target key name already exists.\r\n"
    ttl = parse_int64(argv[2])
    if ttl is None:
        return NOT_INTEGER
    if ttl < 0:
        return b"-ERR Invalid TTL value, must be >= 0\r\n"
    payload = argv[3]
    if not rdb.verify(payload):
        return b"-ERR DUMP payload version or checksum are wrong\r\n"
    try:
        value = rdb.restore(payload)
    except rdb.BadPayload:
        return b"-ERR Bad data format\r\n"
    if ttl and not absolute:
        ttl += store.clock()
    if ttl and ttl <= store.clock():  # already expired: only the old key goes
        if replace:
            store.delete(key)
        return OK
    store.set_value(key, value, expire_at=ttl or None)
    store.notify(b"restore", key)
    if idle >= 0 or freq >= 0:
        guard_of(s.provider.databases).set_access(s.db, key, idle_s=idle, freq=freq)
    return OK


# -- OBJECT -------------------------------------------------------------------------

_SHARED_INTEGERS = 10000
"""Redis shares the objects of the integers 0..9999 (``OBJ_SHARED_INTEGERS``)."""


def object_encoding(s: Client, argv: list[bytes]) -> bytes:
    """OBJECT ENCODING key."""
    value = s.store.value_of(argv[2])
    return s.null if value is None else bulk(encoding_of(value))


def object_refcount(s: Client, argv: list[bytes]) -> bytes:
    """OBJECT REFCOUNT key: Redis's shared small integers count as INT_MAX references."""
    value = s.store.value_of(argv[2])
    if value is None:
        return s.null
    count = _refcount(value)
    return ONE if count == 1 else integer(count)


def _refcount(value: object) -> int:
    if type(value) is bytes and len(value) <= 20:
        number = parse_int64(value)
        if number is not None and 0 <= number < _SHARED_INTEGERS:
            return INT_MAX
    return 1


_LRU_CLOCK_MAX = (1 << 24) - 1


def debug_object(s: Client, key: bytes) -> bytes:
    """DEBUG OBJECT key: Redis's line (``serializedlength`` from our DUMP, which never
    LZF-compresses; no ``ql_*`` quicklist details for lists)."""
    value = s.store.value_of(key)
    if value is None:
        return b"-ERR no such key\r\n"
    try:
        length = len(rdb.dump(value)) - 11  # the type byte, the RDB version and CRC-64
    except TypeError:
        length = 0
    memory = guard_of(s.provider.databases)
    idle_ms = memory.idle_ms(s.db, key)
    field = memory.access[s.db].get(key)
    if field is None:
        field = (memory.clock() - idle_ms) // 1000
    return simple(
        b"Value at:0x%x refcount:%d encoding:%s serializedlength:%d lru:%d lru_seconds_idle:%d"
        % (
            id(value),
            _refcount(value),
            encoding_of(value),
            length,
            field & _LRU_CLOCK_MAX,
            idle_ms // 1000,
        )
    )


def object_idletime(s: Client, argv: list[bytes]) -> bytes:
    """OBJECT IDLETIME key: seconds since the last access (see :mod:`.maxmemory`)."""
    return _access_reply(s, argv[2], freq=False)


def object_freq(s: Client, argv: list[bytes]) -> bytes:
    """OBJECT FREQ key: the LFU counter, under an LFU ``maxmemory-policy`` only."""
    return _access_reply(s, argv[2], freq=True)


def _access_reply(s: Client, key: bytes, freq: bool) -> bytes:
    """OBJECT FREQ (``freq``) or IDLETIME of ``key``, with Redis's errors under the other policy."""
    if s.store.value_of(key) is None:
        return s.null
    memory = guard_of(s.provider.databases)
    if freq:
        if not memory.lfu:
            return (
                b"-ERR An LFU maxmemory policy is not selected, access frequency not tracked. "
                b"Please note that when switching between policies at runtime LRU and LFU data "
                b"will take some time to adjust.\r\n"
            )
        return b":%d\r\n" % memory.frequency(s.db, key)
    if memory.lfu:
        return (
            b"-ERR An LFU maxmemory policy is selected, idle time not tracked. Please note "
            b"that when switching between policies at runtime LRU and LFU data will take some "
            b"time to adjust.\r\n"
        )
    return b":%d\r\n" % (memory.idle_ms(s.db, key) // 1000)


_OBJECT_HELP = (
    b"OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    b"ENCODING <key>",
    b"    Return the kind of internal representation used in order to store the value",
    b"    associated with a <key>.",
    b"FREQ <key>",
    b"    Return the access frequency index of the <key>. The returned integer is",
    b"    proportional to the logarithm of the recent access frequency of the key.",
    b"IDLETIME <key>",
    b"    Return the idle time of the <key>, that is the approximated number of",
    b"    seconds elapsed since the last access to the key.",
    b"REFCOUNT <key>",
    b"    Return the number of references of the value associated with the specified",
    b"    <key>.",
    b"HELP",
    b"    Prints this help.",
)


def object_help(s: Client, argv: list[bytes]) -> bytes:
    """OBJECT HELP."""
    return b"*%d\r\n" % len(_OBJECT_HELP) + b"".join(map(simple, _OBJECT_HELP))


_R = ("readonly",)
_WD = ("write", "denyoom")
_RF = ("readonly", "fast")
_SLOW = ("loading", "stale")

COMMANDS: list[Command] = [
    Command("copy", -3, copy_, _WD, (1, 2, 1)),
    Command("touch", -2, touch, _RF, (1, -1, 1)),
    Command("dump", 2, dump, _R, (1, 1, 1)),
    Command("restore", -4, restore, _WD, (1, 1, 1)),
    container(
        "object",
        -2,
        (),
        Command("object|encoding", 3, object_encoding, _R, (2, 2, 1)),
        Command("object|freq", 3, object_freq, _R, (2, 2, 1)),
        Command("object|idletime", 3, object_idletime, _R, (2, 2, 1)),
        Command("object|refcount", 3, object_refcount, _R, (2, 2, 1)),
        Command("object|help", 2, object_help, _SLOW),
    ),
]
