"""Redis's DUMP/RESTORE serialisation (the RDB object format, version 10, as Redis 7.0
writes it) for strings, lists, hashes, sets and sorted sets, with its CRC-64 footer;
other types (streams: ``providers/resp/stream_rdb.py``) plug in with :func:`register_type`.

A payload is ``type byte + object + RDB version (2 bytes LE) + CRC-64 (8 bytes LE)``
over everything before the CRC. We write what Redis 7.0 writes for the encoding
it would choose (see :mod:`.encodings`): strings with its small-integer forms,
lists as a quicklist of listpack nodes (``RDB_TYPE_LIST_QUICKLIST_2``), hashes as
a listpack or field/value pairs, sets as an intset or members, sorted sets as a
listpack of member/score or (``RDB_TYPE_ZSET_2``) members with binary doubles. We never LZF-compress
(Redis does for strings over 20 bytes that shrink, so such payloads differ in bytes
but load the same either way); we read LZF-compressed strings.
"""

from __future__ import annotations

import math
import struct
from collections import deque
from collections.abc import Callable, Iterable

from ..kvstore import parse_int64
from .encodings import hash_is_listpack, set_is_intset
from .thresholds import THRESHOLDS
from .zset import ZSet

__all__ = [
    "RDB_VERSION",
    "BadPayload",
    "Reader",
    "crc64",
    "dump",
    "encode_length",
    "encode_string",
    "listpack",
    "lzf_decompress",
    "read_listpack",
    "register_type",
    "restore",
    "verify",
]

RDB_VERSION = 10
"""The RDB version Redis 7.0 writes (and the newest it reads)."""

TYPE_STRING, TYPE_LIST, TYPE_SET, TYPE_ZSET, TYPE_HASH, TYPE_ZSET_2 = 0, 1, 2, 3, 4, 5
TYPE_LIST_ZIPLIST, TYPE_SET_INTSET, TYPE_HASH_ZIPLIST = 10, 11, 13
TYPE_LIST_QUICKLIST, TYPE_HASH_LISTPACK, TYPE_ZSET_LISTPACK, TYPE_LIST_QUICKLIST_2 = 14, 16, 17, 18
_QUICKLIST_PLAIN, _QUICKLIST_PACKED = 1, 2
_LIST_NODE_BYTES = 8192
"""``list-max-listpack-size -2``: a quicklist node's listpack holds up to 8 KB."""


class BadPayload(ValueError):
    """The payload is not a value this module can load (Redis: ``Bad data format``)."""


_WRITERS: dict[type, Callable[[object], bytes]] = {}
_READERS: dict[int, Callable[[Reader, int], object]] = {}


def register_type(
    cls: type,
    kinds: tuple[int, ...],
    write: Callable[[object], bytes],
    read: Callable[[Reader, int], object],
) -> None:
    """Serialise values of ``cls`` (a type defined outside this package, such as streams).

    ``write(value)`` returns the type byte and the object; ``read(reader, kind)`` loads
    an object of RDB type ``kind`` (one of ``kinds``) from a :class:`Reader`.
    """
    _WRITERS[cls] = write
    for kind in kinds:
        _READERS[kind] = read


# -- CRC-64 (Jones polynomial, reflected, as Redis's crc64.c) -------------------------


def _crc_table() -> list[int]:
    poly = 0x95AC9329AC4BC9B5  # 0xad93d23594c935a9 bit-reversed
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC_TABLE = _crc_table()


def crc64(data: bytes, crc: int = 0) -> int:
    """Redis's ``crc64(crc, data)``: ``crc64(b"123456789") == 0xE9C6D914C4B8D9CA``."""
    table = _CRC_TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc


def verify(payload: bytes) -> bool:
    """Redis's ``verifyDumpPayload``: long enough, a version we read, the right CRC."""
    if len(payload) < 10:
        return False
    version = payload[-10] | payload[-9] << 8
    if version > RDB_VERSION:
        return False
    return crc64(payload[:-8]) == int.from_bytes(payload[-8:], "little")


# -- writing ----------------------------------------------------------------------------


def _length(size: int) -> bytes:
    if size < 1 << 6:
        return bytes((size,))
    if size < 1 << 14:
        return bytes((0x40 | size >> 8, size & 0xFF))
    if size <= 0xFFFFFFFF:
        return b"\x80" + size.to_bytes(4, "big")
    return b"\x81" + size.to_bytes(8, "big")


def _integer(value: int) -> bytes | None:
    """Redis's ``rdbEncodeInteger``: the int8/16/32 string forms, or None."""
    if -(1 << 7) <= value < 1 << 7:
        return b"\xc0" + value.to_bytes(1, "little", signed=True)
    if -(1 << 15) <= value < 1 << 15:
        return b"\xc1" + value.to_bytes(2, "little", signed=True)
    if -(1 << 31) <= value < 1 << 31:
        return b"\xc2" + value.to_bytes(4, "little", signed=True)
    return None


def _string(value: bytes) -> bytes:
    """Redis's ``rdbSaveRawString`` without compression: a short decimal as an integer."""
    if len(value) <= 11:
        number = parse_int64(value)
        if number is not None:
            encoded = _integer(number)
            if encoded is not None:
                return encoded
    return _length(len(value)) + value


encode_length = _length
"""Redis's ``rdbSaveLen``."""
encode_string = _string
"""Redis's ``rdbSaveRawString`` (never compressed)."""


def _backlen(size: int) -> bytes:
    """Redis's ``lpEncodeBacklen``: the entry's size, read backwards from its end."""
    if size <= 127:
        return bytes((size,))
    if size < 16383:
        width = 2
    elif size < 2097151:
        width = 3
    elif size < 268435455:
        width = 4
    else:
        width = 5
    shifts = range(7 * (width - 1), -1, -7)
    return bytes(((size >> shift) & 127) | (128 if shift < 7 * (width - 1) else 0)
                 for shift in shifts)  # fmt: skip


def _lp_entry(value: bytes) -> bytes:
    number = parse_int64(value) if len(value) <= 20 else None
    if number is not None:
        if 0 <= number <= 127:
            body = bytes((number,))
        elif -4096 <= number <= 4095:
            unsigned = number & 0x1FFF
            body = bytes((0xC0 | unsigned >> 8, unsigned & 0xFF))
        elif -(1 << 15) <= number < 1 << 15:
            body = b"\xf1" + number.to_bytes(2, "little", signed=True)
        elif -(1 << 23) <= number < 1 << 23:
            body = b"\xf2" + number.to_bytes(3, "little", signed=True)
        elif -(1 << 31) <= number < 1 << 31:
            body = b"\xf3" + number.to_bytes(4, "little", signed=True)
        else:
            body = b"\xf4" + number.to_bytes(8, "little", signed=True)
    elif len(value) < 64:
        body = bytes((0x80 | len(value),)) + value
    elif len(value) < 4096:
        body = bytes((0xE0 | len(value) >> 8, len(value) & 0xFF)) + value
    else:
        body = b"\xf0" + len(value).to_bytes(4, "little") + value
    return body + _backlen(len(body))


def listpack(values: Iterable[bytes]) -> bytes:
    """A Redis listpack holding ``values`` (integers in their compact forms)."""
    entries = [_lp_entry(value) for value in values]
    body = b"".join(entries)
    count = min(len(entries), 65535)
    return struct.pack("<IH", 6 + len(body) + 1, count) + body + b"\xff"


def _intset(members: Iterable[bytes]) -> bytes:
    numbers = sorted(int(member) for member in members)
    width = 2
    for number in (numbers[0], numbers[-1]) if numbers else ():
        if not -(1 << 15) <= number < 1 << 15:
            width = max(width, 4 if -(1 << 31) <= number < 1 << 31 else 8)
    body = b"".join(number.to_bytes(width, "little", signed=True) for number in numbers)
    return struct.pack("<II", width, len(numbers)) + body


def d2string(value: float) -> bytes:
    """Redis 7.0's ``d2string``: an integral score as an integer, else ``%.17g``."""
    if math.isinf(value):
        return b"-inf" if value < 0 else b"inf"
    if value == 0:
        return b"-0" if math.copysign(1.0, value) < 0 else b"0"
    if -(_LLONG_MAX // 2) <= value <= _LLONG_MAX // 2 and value == int(value):
        return b"%d" % int(value)
    return b"%.17g" % value


_LLONG_MAX = (1 << 63) - 1


def _zset_is_listpack(value: ZSet) -> bool:
    return (
        not value.skiplist
        and len(value) <= THRESHOLDS.zset_max_listpack_entries
        and all(len(member) <= THRESHOLDS.zset_max_listpack_value for member, _ in value)
    )


def _list_nodes(items: deque[bytes]) -> list[bytes]:
    nodes: list[bytes] = []
    chunk: list[bytes] = []
    size = 0
    for item in items:
        entry = len(item) + 11  # an entry's largest overhead
        if chunk and size + entry > _LIST_NODE_BYTES:
            nodes.append(listpack(chunk))
            chunk, size = [], 0
        chunk.append(item)
        size += entry
    if chunk:
        nodes.append(listpack(chunk))
    return nodes


def dump(value: object) -> bytes:
    """The DUMP payload of a stored value (bytes, deque, dict or set).

    Raises :class:`TypeError` for a type this module does not serialise.
    """
    if isinstance(value, (bytes, bytearray)):
        body = bytes((TYPE_STRING,)) + _string(bytes(value))
    elif type(value) is deque:
        nodes = _list_nodes(value)
        body = bytes((TYPE_LIST_QUICKLIST_2,)) + _length(len(nodes))
        body += b"".join(_length(_QUICKLIST_PACKED) + _string(node) for node in nodes)
    elif type(value) is dict:
        if hash_is_listpack(value):
            flat = [part for pair in value.items() for part in pair]
            body = bytes((TYPE_HASH_LISTPACK,)) + _string(listpack(flat))
        else:
            body = bytes((TYPE_HASH,)) + _length(len(value))
            body += b"".join(_string(field) + _string(item) for field, item in value.items())
    elif type(value) is set:
        if set_is_intset(value):
            body = bytes((TYPE_SET_INTSET,)) + _string(_intset(value))
        else:
            body = bytes((TYPE_SET,)) + _length(len(value))
            body += b"".join(_string(member) for member in value)
    elif type(value) is ZSet:
        if _zset_is_listpack(value):
            flat = [part for member, score in value for part in (member, d2string(score))]
            body = bytes((TYPE_ZSET_LISTPACK,)) + _string(listpack(flat))
        else:  # Redis writes a skiplist from its tail
            body = bytes((TYPE_ZSET_2,)) + _length(len(value))
            body += b"".join(
                _string(member) + struct.pack("<d", score)
                for member, score in reversed(list(value))
            )
    elif type(value) in _WRITERS:
        body = _WRITERS[type(value)](value)
    else:
        raise TypeError(f"DUMP of {type(value).__name__} is not supported")
    body += RDB_VERSION.to_bytes(2, "little")
    return body + crc64(body).to_bytes(8, "little")


# -- reading ----------------------------------------------------------------------------


def lzf_decompress(data: bytes, size: int) -> bytes:
    """LZF's ``lzf_decompress``: ``size`` bytes, or :class:`BadPayload`."""
    out = bytearray()
    i, end = 0, len(data)
    while i < end:
        ctrl = data[i]
        i += 1
        if ctrl < 32:
            run = ctrl + 1
            if i + run > end:
                raise BadPayload("LZF literal past the end")
            out += data[i : i + run]
            i += run
        else:
            run = ctrl >> 5
            if run == 7:
                if i >= end:
                    raise BadPayload("LZF length past the end")
                run += data[i]
                i += 1
            if i >= end:
                raise BadPayload("LZF reference past the end")
            back = ((ctrl & 0x1F) << 8) + data[i] + 1
            i += 1
            start = len(out) - back
            if start < 0:
                raise BadPayload("LZF reference before the start")
            for k in range(run + 2):
                out.append(out[start + k])
        if len(out) > size:
            raise BadPayload("LZF output too long")
    if len(out) != size:
        raise BadPayload("LZF output of the wrong size")
    return bytes(out)


class Reader:
    """Reads an RDB object: lengths, strings (integer-encoded and LZF-compressed) and bytes."""

    __slots__ = ("data", "position")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.position = 0

    def take(self, size: int) -> bytes:
        end = self.position + size
        if size < 0 or end > len(self.data):
            raise BadPayload("truncated")
        chunk = self.data[self.position : end]
        self.position = end
        return chunk

    def byte(self) -> int:
        return self.take(1)[0]

    def length(self) -> tuple[int, bool]:
        """(length, whether it is a special string encoding)."""
        first = self.byte()
        kind = first >> 6
        if kind == 0:
            return first & 0x3F, False
        if kind == 1:
            return (first & 0x3F) << 8 | self.byte(), False
        if kind == 3:
            return first & 0x3F, True
        if first == 0x80:
            return int.from_bytes(self.take(4), "big"), False
        if first == 0x81:
            return int.from_bytes(self.take(8), "big"), False
        raise BadPayload("unknown length encoding")

    def count(self) -> int:
        size, special = self.length()
        if special:
            raise BadPayload("a count cannot be an encoded value")
        return size

    def string(self) -> bytes:
        size, special = self.length()
        if not special:
            return self.take(size)
        if size == 0:
            return b"%d" % int.from_bytes(self.take(1), "little", signed=True)
        if size == 1:
            return b"%d" % int.from_bytes(self.take(2), "little", signed=True)
        if size == 2:
            return b"%d" % int.from_bytes(self.take(4), "little", signed=True)
        if size == 3:
            compressed = self.count()
            original = self.count()
            return lzf_decompress(self.take(compressed), original)
        raise BadPayload("unknown string encoding")


def read_listpack(blob: bytes) -> list[bytes]:
    """The entries of a Redis listpack (integers as their decimal strings)."""
    if len(blob) < 7 or blob[-1] != 0xFF:
        raise BadPayload("not a listpack")
    total, count = struct.unpack_from("<IH", blob)
    if total != len(blob):
        raise BadPayload("listpack size mismatch")
    entries: list[bytes] = []
    i, end = 6, len(blob) - 1
    while i < end:
        first = blob[i]
        if first < 0x80:
            value, size = b"%d" % first, 1
        elif first < 0xC0:
            length = first & 0x3F
            value, size = blob[i + 1 : i + 1 + length], 1 + length
        elif first < 0xE0:
            number = (first & 0x1F) << 8 | blob[i + 1]
            value, size = b"%d" % (number - 0x2000 if number >= 0x1000 else number), 2
        elif first < 0xF0:
            length = (first & 0x0F) << 8 | blob[i + 1]
            value, size = blob[i + 2 : i + 2 + length], 2 + length
        elif first == 0xF0:
            length = int.from_bytes(blob[i + 1 : i + 5], "little")
            value, size = blob[i + 5 : i + 5 + length], 5 + length
        elif first in (0xF1, 0xF2, 0xF3, 0xF4):
            width = {0xF1: 2, 0xF2: 3, 0xF3: 4, 0xF4: 8}[first]
            raw = blob[i + 1 : i + 1 + width]
            value, size = b"%d" % int.from_bytes(raw, "little", signed=True), 1 + width
        else:
            raise BadPayload("unknown listpack entry")
        if i + size > end:
            raise BadPayload("listpack entry past the end")
        entries.append(bytes(value))
        i += size + len(_backlen(size))
    if i != end or (count != 65535 and count != len(entries)):
        raise BadPayload("listpack count mismatch")
    return entries


def _read_intset(blob: bytes) -> set[bytes]:
    if len(blob) < 8:
        raise BadPayload("not an intset")
    width, count = struct.unpack_from("<II", blob)
    if width not in (2, 4, 8) or len(blob) != 8 + width * count:
        raise BadPayload("intset size mismatch")
    return {
        b"%d" % int.from_bytes(blob[8 + k * width : 8 + (k + 1) * width], "little", signed=True)
        for k in range(count)
    }


def _pairs(flat: list[bytes]) -> dict[bytes, bytes]:
    if len(flat) % 2:
        raise BadPayload("odd hash listpack")
    result = dict(zip(flat[::2], flat[1::2], strict=True))
    if len(result) * 2 != len(flat):
        raise BadPayload("duplicate hash fields")
    return result


def _score(text: bytes) -> float:
    try:
        score = float(text)
    except ValueError:
        raise BadPayload("a zset score that is not a number") from None
    if math.isnan(score):
        raise BadPayload("a NaN zset score")
    return score


def _old_double(reader: Reader) -> float:
    """``rdbLoadDoubleValue``: a length byte (253 NaN, 254 +inf, 255 -inf) then text."""
    size = reader.byte()
    if size == 253:
        raise BadPayload("a NaN zset score")
    if size in (254, 255):
        return math.inf if size == 254 else -math.inf
    return _score(reader.take(size))


def _read_zset(reader: Reader, kind: int) -> ZSet:
    pairs = []
    for _ in range(reader.count()):
        member = reader.string()
        if kind == TYPE_ZSET_2:
            score = struct.unpack("<d", reader.take(8))[0]
        else:
            score = _old_double(reader)
        pairs.append((member, score))
    return _zset(pairs)


def _zset(pairs: list[tuple[bytes, float]]) -> ZSet:
    value = ZSet()
    for member, score in pairs:
        if math.isnan(score):
            raise BadPayload("a NaN zset score")
        if member in value:
            raise BadPayload("duplicate zset members")
        value.add(member, score)
    value.skiplist = len(value) > THRESHOLDS.zset_max_listpack_entries or any(
        len(member) > THRESHOLDS.zset_max_listpack_value for member, _ in pairs
    )
    return value


def _read_hash(reader: Reader) -> dict[bytes, bytes]:
    size = reader.count()
    fields = {}
    for _ in range(size):
        field = reader.string()
        fields[field] = reader.string()
    if len(fields) != size:
        raise BadPayload("duplicate hash fields")
    return fields


def _extension(reader: Reader, kind: int) -> object:
    return _READERS[kind](reader, kind)  # bytes after the object are ignored, as by Redis


def restore(payload: bytes) -> object:
    """The value a DUMP payload holds (checked with :func:`verify` first).

    Raises :class:`BadPayload` for anything Redis would answer ``Bad data format``
    (including empty lists, hashes and sets, and duplicate members), and for
    types this module does not load (sorted sets, streams, modules).
    """
    reader = Reader(payload[:-10])
    kind = reader.byte()
    if kind in _READERS:
        return _extension(reader, kind)
    value: object
    if kind == TYPE_STRING:
        value = reader.string()
    elif kind == TYPE_LIST:
        value = deque(reader.string() for _ in range(reader.count()))
    elif kind == TYPE_LIST_QUICKLIST_2:
        items: deque[bytes] = deque()
        for _ in range(reader.count()):
            container = reader.count()
            if container == _QUICKLIST_PLAIN:
                items.append(reader.string())
            elif container == _QUICKLIST_PACKED:
                node = read_listpack(reader.string())
                if not node:
                    raise BadPayload("empty quicklist node")
                items.extend(node)
            else:
                raise BadPayload("unknown quicklist container")
        value = items
    elif kind == TYPE_SET:
        size = reader.count()
        members = {reader.string() for _ in range(size)}
        if len(members) != size:
            raise BadPayload("duplicate set members")
        value = members
    elif kind == TYPE_SET_INTSET:
        value = _read_intset(reader.string())
    elif kind == TYPE_HASH:
        value = _read_hash(reader)
    elif kind == TYPE_HASH_LISTPACK:
        value = _pairs(read_listpack(reader.string()))
    elif kind in (TYPE_ZSET_2, TYPE_ZSET):
        value = _read_zset(reader, kind)
    elif kind == TYPE_ZSET_LISTPACK:
        flat = read_listpack(reader.string())
        if len(flat) % 2:
            raise BadPayload("odd zset listpack")
        value = _zset([(flat[i], _score(flat[i + 1])) for i in range(0, len(flat), 2)])
    else:
        raise BadPayload(f"RDB type {kind} is not supported")
    if not isinstance(value, bytes) and not len(value):
        raise BadPayload("empty key")
    return value
