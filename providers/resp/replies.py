"""Reply encoding for RESP2 and RESP3.

Most replies are the same bytes in both versions; nulls, maps, sets and
verbatim strings differ, so those encoders take ``resp3``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final

__all__ = [
    "BULK_HEADS",
    "EMPTY_ARRAY",
    "EMPTY_BULK",
    "NULL2",
    "NULL3",
    "OK",
    "ONE",
    "PONG",
    "ZERO",
    "array",
    "bulk",
    "bulk_array",
    "bulk_strings",
    "error",
    "integer",
    "map_reply",
    "null",
    "set_header",
    "simple",
    "verbatim",
]

OK: Final = b"+OK\r\n"
PONG: Final = b"+PONG\r\n"
ZERO: Final = b":0\r\n"
ONE: Final = b":1\r\n"
NULL2: Final = b"$-1\r\n"
"""The RESP2 null (a null bulk string)."""
NULL3: Final = b"_\r\n"
"""The RESP3 null."""
EMPTY_BULK: Final = b"$0\r\n\r\n"
EMPTY_ARRAY: Final = b"*0\r\n"


def null(resp3: bool) -> bytes:
    """The null reply of the protocol version."""
    return NULL3 if resp3 else NULL2


def integer(value: int) -> bytes:
    """``:<value>``."""
    return b":%d\r\n" % value


BULK_HEADS: Final = tuple(b"$%d\r\n" % size for size in range(1024))
"""``$<size>\r\n`` for the sizes below 1024: a join of three parts costs under half
the formatting of ``b"$%d\r\n%s\r\n"`` (the CPU of a GET's reply)."""


def bulk(value: bytes) -> bytes:
    """A bulk string."""
    size = len(value)
    if size < 1024:
        return b"".join((BULK_HEADS[size], value, b"\r\n"))
    return b"$%d\r\n%s\r\n" % (size, value)


def simple(text: bytes) -> bytes:
    """A simple string (no CR or LF inside)."""
    return b"+" + text + b"\r\n"


def error(message: bytes) -> bytes:
    """An error reply; CR and LF in ``message`` become spaces, as Redis does."""
    return b"-" + message.replace(b"\r", b" ").replace(b"\n", b" ") + b"\r\n"


def array(items: Sequence[bytes]) -> bytes:
    """An array of already-encoded replies."""
    return b"*%d\r\n" % len(items) + b"".join(items)


def bulk_array(values: Iterable[bytes | None], null_reply: bytes) -> bytes:
    """An array of bulk strings; ``None`` items become ``null_reply``."""
    parts = [null_reply if value is None else bulk(value) for value in values]
    return b"*%d\r\n" % len(parts) + b"".join(parts)


def map_reply(pairs: Sequence[tuple[bytes, bytes]], resp3: bool) -> bytes:
    """A map of already-encoded keys and values (RESP2: a flat array)."""
    header = b"%%%d\r\n" % len(pairs) if resp3 else b"*%d\r\n" % (2 * len(pairs))
    return header + b"".join(key + value for key, value in pairs)


def set_header(count: int, resp3: bool) -> bytes:
    """The header of a set of ``count`` items (RESP2: an array)."""
    return b"~%d\r\n" % count if resp3 else b"*%d\r\n" % count


def verbatim(text: bytes, resp3: bool) -> bytes:
    """A verbatim ``txt`` string (RESP2: a bulk string)."""
    if not resp3:
        return bulk(text)
    return b"=%d\r\ntxt:%s\r\n" % (len(text) + 4, text)


_BULK_HEADS: Final = [b"$%d" % size for size in range(1024)]


def bulk_strings(values: Sequence[bytes]) -> bytes:
    """An array of the bulk strings ``values`` (LRANGE, SMEMBERS, HKEYS...).

    One ``join`` over the values and their length headers, with no formatting
    per value: the headers of values under 1 KiB are made once, here.
    """
    parts = [b""] * (2 * len(values) + 2)
    parts[0] = b"*%d" % len(values)
    try:
        parts[1:-1:2] = map(_BULK_HEADS.__getitem__, map(len, values))
    except IndexError:
        parts[1:-1:2] = [b"$%d" % len(value) for value in values]
    parts[2:-1:2] = values
    return b"\r\n".join(parts)
