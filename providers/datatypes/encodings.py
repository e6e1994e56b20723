"""Which internal encoding Redis 7.0 would give a value of a given content
(``OBJECT ENCODING``, SCAN's one-shot answers, DUMP's type byte).

Redis picks the compact encoding (listpack, intset, embstr, int) while a value
is small and converts it for good once it grows past the thresholds (:mod:`.thresholds`); we
decide from the value as it is now, so a value that grew and shrank again
reports the compact encoding where Redis would keep the big one (listed in
``specs/resp/README.md``).
"""

from __future__ import annotations

from collections import deque

from ..kvstore import kind_name, parse_int64
from .thresholds import THRESHOLDS
from .zset import ZSet, zset_encoding

__all__ = [
    "EMBSTR_SIZE_LIMIT",
    "encoding_of",
    "hash_is_listpack",
    "hash_scanned_whole",
    "set_in_order",
    "set_is_intset",
    "set_scanned_whole",
    "string_encoding",
]

EMBSTR_SIZE_LIMIT = 44
"""Redis's ``OBJ_ENCODING_EMBSTR_SIZE_LIMIT``."""


def hash_is_listpack(value: dict[bytes, bytes]) -> bool:
    """Whether Redis 7.0 keeps this hash as a listpack (insertion order, one-shot HSCAN)."""
    if len(value) > THRESHOLDS.hash_max_listpack_entries:
        return False
    limit = THRESHOLDS.hash_max_listpack_value
    return all(len(field) <= limit and len(item) <= limit for field, item in value.items())


def set_is_intset(value: set[bytes]) -> bool:
    """Whether Redis 7.0 keeps this set as an intset (sorted by value, one-shot SSCAN)."""
    return len(value) <= THRESHOLDS.set_max_intset_entries and all(
        parse_int64(member) is not None for member in value
    )


def set_in_order(members: set[bytes]) -> list[bytes]:
    """The members in the order Redis 7.0 iterates the set: by value for an intset,
    else unspecified (a hash table's order; ours is the Python set's)."""
    if set_is_intset(members):
        return sorted(members, key=int)
    return list(members)


def hash_scanned_whole(value: dict[bytes, bytes]) -> list[bytes] | None:
    """The fields, if HSCAN answers this hash in one go as Redis does a listpack; else None."""
    return list(value) if hash_is_listpack(value) else None


def set_scanned_whole(value: set[bytes]) -> list[bytes] | None:
    """The members by value, if SSCAN answers this set in one go as Redis does an intset;
    else None."""
    return sorted(value, key=int) if set_is_intset(value) else None


def string_encoding(value: bytes | bytearray) -> bytes:
    """``int``, ``embstr`` or ``raw``: a string changed in place (a bytearray) is raw."""
    if type(value) is bytearray:
        return b"raw"
    if len(value) <= 20 and parse_int64(value) is not None:
        return b"int"
    return b"embstr" if len(value) <= EMBSTR_SIZE_LIMIT else b"raw"


def encoding_of(value: object) -> bytes:
    """OBJECT ENCODING's answer for a stored value (strings, lists, hashes, sets).

    Streams are ``stream``; other types (sorted sets) answer through an
    ``encoding()`` method of their class, if they have one; else ``unknown``.
    """
    if type(value) is bytes or type(value) is bytearray:
        return string_encoding(value)
    if type(value) is deque:
        return b"quicklist"  # Redis 7.0 keeps every list in a quicklist
    if type(value) is dict:
        return b"listpack" if hash_is_listpack(value) else b"hashtable"
    if type(value) is set:
        return b"intset" if set_is_intset(value) else b"hashtable"
    if type(value) is ZSet:
        return zset_encoding(value)
    if kind_name(value) == b"stream":
        return b"stream"  # Redis has one stream encoding
    encoding = getattr(value, "encoding", None)
    if callable(encoding):
        answer = encoding()
        if isinstance(answer, bytes):
            return answer
    return b"unknown"
