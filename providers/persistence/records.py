"""The log's records, sans I/O: checksummed, length-prefixed frames around batches of changes.

A frame is ``length (u32 LE) | crc32 (u32 LE) | payload``; the checksum
(:func:`zlib.crc32`) covers the length and the payload, so a torn write, a
flipped byte or a garbage length all end the readable log at the last whole
frame (:func:`split_records`). A frame's payload is one or more records, each
after its u32 length: the log writes one frame per batch of replies (what one
fsync covers), so the checksum is paid once per batch, not once per key.

Records are *states*, not commands: "key K of database D now holds this value
of this type, expiring at this absolute unix millisecond", or "K is gone",
"database D was emptied", "D and E swapped". Replaying a state twice changes
nothing, whatever provider made the change (RESP, memcached, FASTER). A batch's plain
strings (no expiry, flags nor cas) share one :class:`Strings` record per database.

Values of a type other than strings go through a codec found by their class
(:func:`register_codec`): lists (``deque``), hashes (``dict``), sets and
sorted sets are built in (a sorted set's encoding starts with its version,
:data:`ZSET_VERSION`); streams register theirs (their DUMP payload, from
``providers/resp/stream_rdb.py``); a type with no codec still falls back to pickle.
"""

from __future__ import annotations

import marshal
import math
import pickle
import struct
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from construct import Bytes, Int32ul, Struct, this

from .. import kvstore
from ..datatypes.zset import ZSet

__all__ = [
    "FRAME",
    "MAX_RECORD",
    "ZSET_VERSION",
    "CasFloor",
    "Delete",
    "Flush",
    "Record",
    "State",
    "Strings",
    "Swap",
    "decode",
    "encode",
    "encode_state",
    "encode_string_pairs",
    "frame",
    "group",
    "pack_items",
    "read_records",
    "register_codec",
    "sized_string_pairs",
    "sized_string_state",
    "sized_strings",
    "split_records",
    "unpack_items",
]

_HEADER = struct.Struct("<II")
_STATE = struct.Struct("<BBqII")  # op, db, expire_at (-1: none), flags, key length
_SIZED_STATE = struct.Struct("<IBBqII")  # the same after the record's length (in a frame)
_STATE_CAS = struct.Struct("<BBqIIQ")  # a state with its memcached cas version
_SIZED_STATE_CAS = struct.Struct("<IBBqIIQ")
_CAS_FLOOR = struct.Struct("<BBQ")  # op, db, next cas version
_DB_KEY = struct.Struct("<BBI")  # op, db, key length
_TWO_DBS = struct.Struct("<BBB")
_ITEM = struct.Struct("<I")
_STRINGS = struct.Struct("<BBI")  # op, db, count (then the lengths, the keys, the values)
_SIZED_STRINGS = struct.Struct("<IBBI")  # the same after the record's length (in a frame)

_OP_STATE = 1
_OP_DELETE = 2
_OP_FLUSH = 3
_OP_SWAP = 4
_OP_STATE_CAS = 5  # _OP_STATE with a cas version (logs before it have no cas: still read)
_OP_CAS_FLOOR = 6
_OP_STRINGS = 7  # many plain strings of one database in one record
_OP_STRING_PAIRS = 8  # the same, laid out as marshal's version 2 writes a list (the hot path)
_MAP_HEAD = struct.Struct("<IBB")  # the record's length, op, db (then marshal's bytes)

MAX_RECORD = 1 << 31
"""A length above this is not a record (the header is corrupt)."""

FRAME = Struct("length" / Int32ul, "crc" / Int32ul, "payload" / Bytes(this.length))
"""The frame as a construct declaration (the format's reference; tests check :func:`frame`
against it). ``crc`` is ``zlib.crc32`` of the length's four bytes, then the payload.
:func:`frame` and :func:`split_records` are the hot-path implementations.
"""


def frame(payload: bytes) -> bytes:
    """``payload`` in a frame: length, checksum, payload."""
    length = _ITEM.pack(len(payload))
    return _HEADER.pack(len(payload), zlib.crc32(payload, zlib.crc32(length))) + payload


def split_records(data: bytes | bytearray | memoryview) -> tuple[list[bytes], int]:
    """The payloads of the whole, intact records at the start of ``data``, and where they end.

    Reading stops at the first frame that is cut short or whose checksum does
    not match: everything from there on is the torn (or corrupt) tail.
    """
    view = memoryview(data)
    payloads: list[bytes] = []
    offset = 0
    size = len(view)
    crc32 = zlib.crc32
    while size - offset >= 8:
        length, crc = _HEADER.unpack_from(view, offset)
        end = offset + 8 + length
        if length > MAX_RECORD or end > size:
            break
        payload = view[offset + 8 : end]
        if crc32(payload, crc32(view[offset : offset + 4])) != crc:
            break
        payloads.append(payload.tobytes())
        offset = end
    return payloads, offset


def group(payloads: Iterable[bytes]) -> bytes:
    """One frame's payload holding ``payloads`` (records), each after its u32 length."""
    pack = _ITEM.pack
    return b"".join(pack(len(payload)) + payload for payload in payloads)


def read_records(data: bytes | bytearray | memoryview) -> tuple[list[bytes], int]:
    """The record payloads of the whole frames at the start of ``data``, and where they end."""
    frames, good = split_records(data)
    return [record for payload in frames for record in unpack_items(payload)], good


def sized_string_state(
    db: int, key: bytes, state: tuple[bytes | bytearray, int | None, int, int]
) -> tuple[bytes, bytes, bytes, bytes | bytearray]:
    """A string's state record already after its length (for :func:`group`), in four parts.

    ``state`` is ``(value, expire_at, flags, cas)``, as :meth:`Store.stored
    <providers.kvstore.Store.stored>` gives it. The log's hot path: ``b"".join`` of the
    parts of many keys is a frame's payload.
    """
    value, expire_at, flags, cas = state
    when = -1 if expire_at is None else expire_at
    if cas:
        size = _STATE_CAS.size + len(key) + 1 + len(value)
        head = _SIZED_STATE_CAS.pack(size, _OP_STATE_CAS, db, when, flags, len(key), cas)
    else:
        size = _STATE.size + len(key) + 1 + len(value)
        head = _SIZED_STATE.pack(size, _OP_STATE, db, when, flags, len(key))
    return head, key, b"\x00", value


def sized_strings(
    db: int, keys: Sequence[bytes], values: Sequence[bytes | bytearray]
) -> tuple[bytes, bytes, bytes]:
    """A :class:`Strings` record already after its length (for :func:`group`), in three parts.

    The log's hot path for a batch of plain strings: no Python-level step per key
    (the lengths are packed by one ``struct.pack``, keys and values joined by C loops).
    """
    count = len(keys)
    lengths = struct.pack(f"<{2 * count}I", *map(len, keys), *map(len, values))
    joined_keys = b"".join(keys)
    joined_values = b"".join(values)
    size = _STRINGS.size + len(lengths) + len(joined_keys) + len(joined_values)
    head = _SIZED_STRINGS.pack(size, _OP_STRINGS, db, count) + lengths
    return head, joined_keys, joined_values


def sized_string_pairs(db: int, pairs: list[bytes]) -> tuple[bytes, bytes]:
    """Plain strings of database ``db`` as one record, sized: ``pairs`` is key, value, key, ...

    The log's hot path, in two parts (the record's length first) to join into a frame.
    The layout is ``op 8 | db (u8)``, then ``[ | count (u32 LE)``, then per item ``s |
    length (u32 LE) | bytes``: what ``marshal.dumps(pairs, 2)`` writes for a list of
    byte strings (a ``bytearray`` too), one C call for the whole batch. It replays as a
    :class:`Strings`, in order (a key may come more than once: the last one stays).
    """
    body = marshal.dumps(pairs, 2)
    return _MAP_HEAD.pack(2 + len(body), _OP_STRING_PAIRS, db), body


def encode_string_pairs(db: int, pairs: list[bytes]) -> bytes:
    """The payload of :func:`sized_string_pairs` (without its length)."""
    return bytes((_OP_STRING_PAIRS, db)) + marshal.dumps(pairs, 2)


# -- codecs for the types that are not strings -------------------------------------

Encoder = Callable[[object], bytes]
Decoder = Callable[[bytes], object]

_PICKLED = b"~pickle"


def register_codec(cls: type, encode: Encoder, decode: Decoder) -> None:
    """Log values of class ``cls`` as ``encode(value)``; replay them with ``decode``.

    The same registry as :func:`providers.kvstore.register_codec` (which modules
    that cannot import this package call); the tag written is the class's
    :func:`~providers.kvstore.register_kind` name.
    """
    kvstore.register_codec(cls, encode, decode)


def _encode_value(value: object) -> tuple[bytes, bytes]:
    """The tag and the bytes of a container value."""
    kind = type(value)
    found = kvstore.codec_of(kind)
    if found is None:  # a type without a codec: still durable
        return _PICKLED, pickle.dumps(value, protocol=5)
    return kvstore.kind_name(value), found[0](value)


def _decode_value(tag: bytes, data: bytes) -> object:
    if tag == _PICKLED:
        return pickle.loads(data)
    cls = kvstore.kind_class(tag)
    found = None if cls is None else kvstore.codec_of(cls)
    if found is None:
        raise KeyError(tag)
    return found[1](data)


def pack_items(items: Iterator[bytes] | list[bytes]) -> bytes:
    """Byte strings one after the other, each after its u32 length."""
    pack = _ITEM.pack
    return b"".join(pack(len(item)) + item for item in items)


def unpack_items(data: bytes) -> Iterator[bytes]:
    """The byte strings of :func:`pack_items`."""
    offset = 0
    unpack = _ITEM.unpack_from
    while offset < len(data):
        (length,) = unpack(data, offset)
        offset += 4
        yield data[offset : offset + length]
        offset += length


def _pairs(data: bytes) -> dict[bytes, bytes]:
    items = iter(unpack_items(data))
    return dict(zip(items, items, strict=True))


def _encode_hash(value: object) -> bytes:
    assert isinstance(value, dict)
    return pack_items([part for pair in value.items() for part in pair])


def _encode_items(value: object) -> bytes:
    assert isinstance(value, (deque, set))
    return pack_items(list(value))


def _list(data: bytes) -> object:
    return deque(unpack_items(data))


def _set(data: bytes) -> object:
    return set(unpack_items(data))


ZSET_VERSION = 1
"""The first byte of a sorted set's encoding: ``version | skiplist (u8) | count (u32)``, then
per member in order ``length (u32) | member | score (f64)``, all little-endian. A score is
the exact double (``-0.0``, the infinities); ``skiplist`` keeps OBJECT ENCODING's answer."""
_ZSET_HEAD = struct.Struct("<BBI")
_ZSET_SCORE = struct.Struct("<d")


def _encode_zset(value: object) -> bytes:
    assert isinstance(value, ZSet)
    pack_length, pack_score = _ITEM.pack, _ZSET_SCORE.pack
    parts = [_ZSET_HEAD.pack(ZSET_VERSION, value.skiplist, len(value))]
    for member, score in value:
        parts += (pack_length(len(member)), member, pack_score(score))
    return b"".join(parts)


def _zset(data: bytes) -> object:
    version, skiplist, count = _ZSET_HEAD.unpack_from(data)
    if version != ZSET_VERSION or skiplist > 1:
        raise ValueError(f"not a record: sorted set encoding {version}.{skiplist}")
    value = ZSet()
    offset = _ZSET_HEAD.size
    unpack_length, unpack_score = _ITEM.unpack_from, _ZSET_SCORE.unpack_from
    for _ in range(count):
        (size,) = unpack_length(data, offset)
        offset += 4
        member = data[offset : offset + size]
        if len(member) != size:
            raise ValueError("not a record: short sorted set member")
        (score,) = unpack_score(data, offset + size)
        offset += size + 8
        if math.isnan(score) or member in value:
            raise ValueError("not a record: a NaN score or a member twice")
        value.add(member, score)
    if offset != len(data):
        raise ValueError("not a record: bytes after the sorted set")
    value.skiplist = bool(skiplist)
    return value


register_codec(deque, _encode_items, _list)
register_codec(dict, _encode_hash, _pairs)
register_codec(set, _encode_items, _set)
register_codec(ZSet, _encode_zset, _zset)


# -- records -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class State:
    """Key ``key`` of database ``db`` holds ``value`` (bytes, or a codec's type) from now on."""

    db: int
    key: bytes
    value: object
    expire_at: int | None = None
    """Absolute unix milliseconds, or ``None``."""
    flags: int = 0
    """memcached's client flags (strings only)."""
    cas: int = 0
    """memcached's cas version (strings only; 0: none handed out)."""


@dataclass(frozen=True, slots=True)
class Delete:
    """Key ``key`` of database ``db`` is gone."""

    db: int
    key: bytes


@dataclass(frozen=True, slots=True)
class Flush:
    """Database ``db`` was emptied."""

    db: int


@dataclass(frozen=True, slots=True)
class Swap:
    """Databases ``first`` and ``second`` exchanged their keys."""

    first: int
    second: int


@dataclass(frozen=True, slots=True)
class CasFloor:
    """Database ``db`` hands out no cas version below ``next`` (a snapshot's last record)."""

    db: int
    next: int


@dataclass(frozen=True, slots=True)
class Strings:
    """Keys ``keys`` of database ``db`` hold the strings ``values`` (no expiry, flags nor cas).

    What a batch's plain string writes log as (one record, the same as a :class:`State`
    per key in order): ``op | db | count (u32)``, ``count`` key lengths then ``count``
    value lengths (u32), the keys one after the other, then the values.
    """

    db: int
    keys: tuple[bytes, ...]
    values: tuple[bytes, ...]


Record = State | Delete | Flush | Swap | CasFloor | Strings


def encode_state(
    db: int, key: bytes, value: object, expire_at: int | None, flags: int, *, cas: int = 0
) -> bytes:
    """The payload of a :class:`State` (without building one)."""
    when = -1 if expire_at is None else expire_at
    if cas:
        head = _STATE_CAS.pack(_OP_STATE_CAS, db, when, flags, len(key), cas)
    else:
        head = _STATE.pack(_OP_STATE, db, when, flags, len(key))
    kind = type(value)
    if kind is bytes or kind is bytearray:
        return head + key + b"\x00" + value  # type: ignore[operator]
    name, data = _encode_value(value)
    return head + key + bytes((len(name),)) + name + data


def encode(record: Record) -> bytes:
    """The payload of ``record``."""
    if isinstance(record, State):
        return encode_state(
            record.db, record.key, record.value, record.expire_at, record.flags, cas=record.cas
        )
    if isinstance(record, Delete):
        return _DB_KEY.pack(_OP_DELETE, record.db, len(record.key)) + record.key
    if isinstance(record, Flush):
        return bytes((_OP_FLUSH, record.db))
    if isinstance(record, CasFloor):
        return _CAS_FLOOR.pack(_OP_CAS_FLOOR, record.db, record.next)
    if isinstance(record, Strings):
        if len(record.keys) != len(record.values):
            raise ValueError("as many keys as values")
        return b"".join(sized_strings(record.db, record.keys, record.values))[_ITEM.size :]
    return _TWO_DBS.pack(_OP_SWAP, record.first, record.second)


def decode(payload: bytes) -> Record:
    """The record of ``payload``; ``ValueError`` if it is none (an unknown op or type)."""
    op = payload[0] if payload else 0
    try:
        if op in (_OP_STATE, _OP_STATE_CAS):
            cas = 0
            if op == _OP_STATE:
                _, db, expire_at, flags, size = _STATE.unpack_from(payload)
                start = _STATE.size
            else:
                _, db, expire_at, flags, size, cas = _STATE_CAS.unpack_from(payload)
                start = _STATE_CAS.size
            key = payload[start : start + size]
            tag_length = payload[start + size]
            body = start + size + 1
            if len(key) != size:
                raise ValueError("not a record: short key")
            if not tag_length:
                value: object = payload[body:]
            else:
                name = payload[body : body + tag_length]
                value = _decode_value(name, payload[body + tag_length :])
            return State(db, key, value, None if expire_at < 0 else expire_at, flags, cas)
        if op == _OP_DELETE:
            _, db, size = _DB_KEY.unpack_from(payload)
            key = payload[_DB_KEY.size :]
            if len(key) != size:
                raise ValueError("not a record: short key")
            return Delete(db, key)
        if op == _OP_FLUSH and len(payload) == 2:
            return Flush(payload[1])
        if op == _OP_SWAP and len(payload) == 3:
            return Swap(payload[1], payload[2])
        if op == _OP_CAS_FLOOR and len(payload) == _CAS_FLOOR.size:
            _, db, floor = _CAS_FLOOR.unpack(payload)
            return CasFloor(db, floor)
        if op == _OP_STRINGS:
            return _decode_strings(payload)
        if op == _OP_STRING_PAIRS:
            return _decode_string_pairs(payload)
    except (struct.error, IndexError, KeyError, pickle.UnpicklingError, EOFError) as exc:
        raise ValueError(f"not a record: {exc!r}") from exc
    raise ValueError(f"not a record (op {op})")


def _decode_strings(payload: bytes) -> Strings:
    _, db, count = _STRINGS.unpack_from(payload)
    if _STRINGS.size + 8 * count > len(payload):
        raise ValueError("not a record: short strings record")
    lengths = struct.unpack_from(f"<{2 * count}I", payload, _STRINGS.size)
    offset = _STRINGS.size + 8 * count
    if offset + sum(lengths) != len(payload):
        raise ValueError("not a record: the strings' lengths do not add up")
    parts = []
    for length in lengths:
        parts.append(payload[offset : offset + length])
        offset += length
    return Strings(db, tuple(parts[:count]), tuple(parts[count:]))


def _decode_string_pairs(payload: bytes) -> Strings:
    if len(payload) < 7 or payload[2] != 0x5B:  # "["
        raise ValueError("not a record: short string pairs")
    try:
        pairs = marshal.loads(payload[2:])
    except (EOFError, ValueError, TypeError) as exc:
        raise ValueError(f"not a record: {exc!r}") from exc
    if type(pairs) is not list or len(pairs) % 2:
        raise ValueError("not a record: string pairs that are no pairs")
    if not set(map(type, pairs)) <= {bytes}:
        raise ValueError("not a record: string pairs holding other than strings")
    # marshal ignores trailing bytes and reads back references: the exact size rules both out.
    if 7 + 5 * len(pairs) + sum(map(len, pairs)) != len(payload):
        raise ValueError("not a record: the string pairs' lengths do not add up")
    return Strings(payload[1], tuple(pairs[0::2]), tuple(pairs[1::2]))
