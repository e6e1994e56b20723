"""The log's record codec, sans I/O: round trips; a cut stream keeps its whole records."""

from __future__ import annotations

import math
import pickle
import struct
import zlib
from collections import deque

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wireproto.providers.datatypes.zset import ZSet
from wireproto.providers.kvstore import register_kind
from wireproto.providers.persistence import records

keys = st.binary(max_size=20)
values = st.one_of(
    st.binary(max_size=40),
    st.lists(st.binary(max_size=8), max_size=5).map(deque),
    st.dictionaries(st.binary(max_size=8), st.binary(max_size=8), max_size=5),
    st.sets(st.binary(max_size=8), max_size=5),
)
dbs = st.integers(0, 15)
expiries = st.one_of(st.none(), st.integers(0, 1 << 62))
cas_versions = st.one_of(st.just(0), st.integers(0, (1 << 64) - 1))


def _strings(db: int, pairs: list[tuple[bytes, bytes]]) -> records.Strings:
    return records.Strings(db, tuple(k for k, _ in pairs), tuple(v for _, v in pairs))


record_strategy = st.one_of(
    st.builds(
        records.State, dbs, keys, values, expiries, st.integers(0, (1 << 32) - 1), cas_versions
    ),
    st.builds(records.Delete, dbs, keys),
    st.builds(records.Flush, dbs),
    st.builds(records.Swap, dbs, dbs),
    st.builds(records.CasFloor, dbs, cas_versions),
    st.builds(_strings, dbs, st.lists(st.tuples(keys, st.binary(max_size=40)), max_size=6)),
)


@given(record_strategy)
def test_encode_decode_round_trip(record: records.Record) -> None:
    assert records.decode(records.encode(record)) == record


@given(st.lists(st.lists(record_strategy, min_size=1, max_size=3), max_size=6), st.data())
@settings(max_examples=200)
def test_any_cut_recovers_exactly_the_whole_frames_before_it(
    batches: list[list[records.Record]], data: st.DataObject
) -> None:
    frames = [records.frame(records.group(map(records.encode, batch))) for batch in batches]
    joined = b"".join(frames)
    cut = data.draw(st.integers(0, len(joined)))
    payloads, good = records.split_records(joined[:cut])
    whole = 0
    ends = [0]
    for piece in frames:
        if ends[-1] + len(piece) > cut:
            break
        whole += 1
        ends.append(ends[-1] + len(piece))
    assert good == ends[whole]
    assert payloads == [records.group(map(records.encode, b)) for b in batches[:whole]]
    found, end = records.read_records(joined[:cut])
    assert end == good
    assert [records.decode(p) for p in found] == [r for b in batches[:whole] for r in b]


@given(st.lists(record_strategy, min_size=1, max_size=6), st.data())
@settings(max_examples=200)
def test_a_flipped_byte_ends_the_log_at_the_record_before_it(
    stream: list[records.Record], data: st.DataObject
) -> None:
    frames = [records.frame(records.group([records.encode(record)])) for record in stream]
    joined = bytearray(b"".join(frames))
    position = data.draw(st.integers(0, len(joined) - 1))
    joined[position] ^= data.draw(st.integers(1, 255))
    payloads, good = records.read_records(joined)
    start = 0
    damaged = 0
    for index, piece in enumerate(frames):
        if start <= position < start + len(piece):
            damaged = index
            break
        start += len(piece)
    assert good == start
    assert [records.decode(p) for p in payloads] == stream[:damaged]


@given(st.binary(max_size=64))
def test_frame_matches_the_construct_declaration(payload: bytes) -> None:
    framed = records.frame(payload)
    parsed = records.FRAME.parse(framed)
    assert parsed.length == len(payload)
    assert parsed.payload == payload
    assert parsed.crc == zlib.crc32(payload, zlib.crc32(framed[:4]))
    assert records.FRAME.build({"length": len(payload), "crc": parsed.crc, "payload": payload}) == (
        framed
    )


def test_a_length_past_the_maximum_is_corruption_not_a_wait() -> None:
    header = (records.MAX_RECORD + 1).to_bytes(4, "little") + bytes(4)
    assert records.split_records(header + bytes(100)) == ([], 0)


@given(st.integers(0, 15), keys, st.binary(max_size=30), expiries, st.integers(0, (1 << 32) - 1))
def test_the_hot_path_string_state_is_the_sized_record(
    db: int, key: bytes, value: bytes, expire_at: int | None, flags: int
) -> None:
    parts = records.sized_string_state(db, key, (bytearray(value), expire_at, flags, 0))
    grouped = b"".join(parts)
    (payload,) = records.unpack_items(grouped)
    assert records.decode(payload) == records.State(db, key, value, expire_at, flags)
    assert grouped == records.group([records.encode_state(db, key, value, expire_at, flags)])


@pytest.mark.parametrize(
    "payload", [b"", b"\x09", b"\x01\x00", b"\x02\x00\x05\x00\x00\x00ab", b"\x03", b"\x04\x01"]
)
def test_payloads_that_are_no_record_are_refused(payload: bytes) -> None:
    with pytest.raises(ValueError, match="not a record"):
        records.decode(payload)


def test_a_registered_codec_logs_a_new_type() -> None:
    class Box(list[bytes]):
        pass

    register_kind(Box, b"box")
    records.register_codec(Box, b",".join, lambda data: Box(data.split(b",")))
    state = records.State(3, b"k", Box([b"a", b"b"]), 123, 0)
    decoded = records.decode(records.encode(state))
    assert isinstance(decoded, records.State)
    assert type(decoded.value) is Box
    assert decoded.value == [b"a", b"b"]


class Unregistered(list[bytes]):
    """A container type with a kind but no codec: logged with pickle."""


register_kind(Unregistered, b"unregistered")


def test_a_type_without_a_codec_is_still_logged() -> None:
    state = records.State(0, b"k", Unregistered([b"x"]), None, 0)
    decoded = records.decode(records.encode(state))
    assert isinstance(decoded, records.State)
    assert type(decoded.value) is Unregistered
    assert decoded.value == [b"x"]


scores = st.floats(allow_nan=False)  # the infinities and -0.0 included
zsets = st.tuples(st.dictionaries(st.binary(max_size=70), scores, max_size=140), st.booleans())


def _zset(pairs: dict[bytes, float], skiplist: bool) -> ZSet:
    value = ZSet()
    for member, score in pairs.items():
        value.add(member, score)
    value.skiplist = value.skiplist or skiplist
    return value


def _exact(value: ZSet) -> list[tuple[bytes, bytes]]:
    return [(member, struct.pack("<d", score)) for member, score in value]


@given(zsets, keys, expiries)
@settings(max_examples=200)
def test_a_sorted_set_round_trips_exactly_in_its_versioned_encoding(
    drawn: tuple[dict[bytes, float], bool], key: bytes, expire_at: int | None
) -> None:
    value = _zset(*drawn)
    payload = records.encode(records.State(2, key, value, expire_at, 0))
    decoded = records.decode(payload)
    assert isinstance(decoded, records.State)
    assert (decoded.db, decoded.key, decoded.expire_at) == (2, key, expire_at)
    copy = decoded.value
    assert type(copy) is ZSet
    assert _exact(copy) == _exact(value)  # order, members and scores bit for bit
    assert copy.skiplist == value.skiplist
    # After the key: the kind's tag, then the version (no pickle).
    tag_at = struct.calcsize("<BBqII") + len(key)
    assert payload[tag_at : tag_at + 6] == b"\x04zset" + bytes((records.ZSET_VERSION,))


@given(zsets, st.data())
@settings(max_examples=100)
def test_a_cut_or_unknown_sorted_set_encoding_is_no_record(
    drawn: tuple[dict[bytes, float], bool], data: st.DataObject
) -> None:
    payload = records.encode(records.State(0, b"k", _zset(*drawn), None, 0))
    start = struct.calcsize("<BBqII") + 1 + 5  # the key b"k", then the tag b"\x04zset"
    cut = data.draw(st.integers(start, len(payload) - 1))
    with pytest.raises(ValueError, match="not a record"):
        records.decode(payload[:cut])
    for version in (0, records.ZSET_VERSION + 1):
        changed = payload[:start] + bytes((version,)) + payload[start + 1 :]
        with pytest.raises(ValueError, match="not a record"):
            records.decode(changed)


def test_a_sorted_set_with_a_nan_or_a_member_twice_is_no_record() -> None:
    head = struct.pack("<BBI", records.ZSET_VERSION, 0, 2)
    member = struct.pack("<I", 1) + b"m"
    state = struct.pack("<BBqII", 1, 0, -1, 0, 1) + b"k" + b"\x04zset"
    twice = head + member + struct.pack("<d", 1.0) + member + struct.pack("<d", 2.0)
    nan = head[:2] + struct.pack("<I", 1) + member + struct.pack("<d", math.nan)
    for payload in (twice, nan, head[:2] + struct.pack("<I", 0) + b"extra"):
        with pytest.raises(ValueError, match="not a record"):
            records.decode(state + payload)


def test_a_sorted_set_pickled_by_an_older_log_still_loads() -> None:
    value = _zset({b"a": 1.5, b"b": -math.inf}, False)
    head = struct.pack("<BBqII", 1, 0, -1, 0, 1) + b"k"
    old = head + bytes((len(b"~pickle"),)) + b"~pickle" + pickle.dumps(value, protocol=5)
    decoded = records.decode(old)
    assert isinstance(decoded, records.State) and type(decoded.value) is ZSet
    assert _exact(decoded.value) == _exact(value)


@given(
    st.tuples(dbs, keys, st.binary(max_size=40), expiries, st.integers(0, (1 << 32) - 1)),
    cas_versions,
)
def test_the_log_hot_path_writes_the_records_encode_writes(
    fields: tuple[int, bytes, bytes, int | None, int], cas: int
) -> None:
    db, key, value, expire_at, flags = fields
    head, *rest = records.sized_string_state(db, key, (value, expire_at, flags, cas))
    payload = records.encode(records.State(*fields, cas))
    assert head[:4] == struct.pack("<I", len(payload))
    assert head[4:] + b"".join(rest) == payload
    # A state without a cas keeps the format logs had before cas versions were kept.
    assert payload[0] == (5 if cas else 1)


def test_a_state_written_before_cas_versions_were_kept_still_loads() -> None:
    old = struct.pack("<BBqII", 1, 0, -1, 7, 1) + b"k" + b"\x00" + b"value"
    assert records.decode(old) == records.State(0, b"k", b"value", None, 7, 0)
    for cut in range(1, len(records.encode(records.CasFloor(0, 9)))):
        with pytest.raises(ValueError, match="not a record"):
            records.decode(records.encode(records.CasFloor(0, 9))[:cut])


@given(dbs, st.lists(st.tuples(keys, st.binary(max_size=40), st.booleans()), max_size=20))
def test_the_hot_path_strings_record_is_the_encoded_one(
    db: int, items: list[tuple[bytes, bytes, bool]]
) -> None:
    keys_ = [key for key, _, _ in items]
    values_ = [bytearray(value) if mutable else value for _, value, mutable in items]
    grouped = b"".join(records.sized_strings(db, keys_, values_))
    (payload,) = records.unpack_items(grouped)
    expected = records.Strings(db, tuple(keys_), tuple(bytes(value) for value in values_))
    assert payload == records.encode(expected)
    assert records.decode(payload) == expected
    # The layout the docstring gives: op, db, count, key lengths, value lengths, keys, values.
    count = len(items)
    lengths = [len(key) for key in keys_] + [len(value) for value in values_]
    assert payload == (
        struct.pack(f"<BBI{2 * count}I", 7, db, count, *lengths)
        + b"".join(keys_)
        + b"".join(values_)
    )


@given(
    dbs,
    st.lists(st.tuples(keys, st.binary(max_size=10)), min_size=1, max_size=6),
    st.data(),
)
def test_a_cut_or_padded_strings_record_is_no_record(
    db: int, pairs: list[tuple[bytes, bytes]], data: st.DataObject
) -> None:
    payload = records.encode(_strings(db, pairs))
    cut = data.draw(st.integers(1, len(payload) - 1))
    for broken in (payload[:cut], payload + b"x"):
        with pytest.raises(ValueError, match="not a record"):
            records.decode(broken)
    # A count far past what the payload holds is refused before anything is unpacked.
    with pytest.raises(ValueError, match="not a record"):
        records.decode(struct.pack("<BBI", 7, db, (1 << 32) - 1) + payload[6:])


def test_a_strings_record_needs_as_many_values_as_keys() -> None:
    with pytest.raises(ValueError, match="as many keys as values"):
        records.encode(records.Strings(0, (b"a", b"b"), (b"1",)))


def _hand_pairs(db: int, items: list[bytes | bytearray]) -> bytes:
    """The string pairs record as its docstring lays it out, written without marshal."""
    body = b"".join(b"s" + struct.pack("<I", len(item)) + bytes(item) for item in items)
    return struct.pack("<BBcI", 8, db, b"[", len(items)) + body


@given(dbs, st.lists(st.tuples(keys, st.binary(max_size=40), st.booleans()), max_size=20))
def test_the_string_pairs_record_is_its_documented_layout_and_replays_in_order(
    db: int, items: list[tuple[bytes, bytes, bool]]
) -> None:
    pairs: list[bytes] = []
    for key, value, mutable in items:  # a bytearray value is written as its bytes
        pairs += (key, bytearray(value) if mutable else value)  # type: ignore[arg-type]
    size, payload = records.sized_string_pairs(db, pairs)
    assert size == struct.pack("<IBB", 2 + len(payload), 8, db)
    record = size[4:] + payload
    assert record == records.encode_string_pairs(db, pairs) == _hand_pairs(db, pairs)
    # A key may come more than once (puts in order): decoded in order, repeats kept.
    assert records.decode(record) == records.Strings(
        db, tuple(key for key, _, _ in items), tuple(value for _, value, _ in items)
    )


@given(
    dbs,
    st.lists(st.tuples(keys, st.binary(max_size=10)), min_size=1, max_size=6),
    st.data(),
)
def test_a_cut_padded_or_odd_string_pairs_record_is_no_record(
    db: int, items: list[tuple[bytes, bytes]], data: st.DataObject
) -> None:
    pairs = [part for pair in items for part in pair]
    record = records.encode_string_pairs(db, pairs)
    cut = data.draw(st.integers(0, len(record) - 1))
    broken = [
        record[:cut],
        record + b"x",  # marshal would ignore a trailing byte: the sizes do not
        records.encode_string_pairs(db, pairs[:-1]),  # a key without its value
        _hand_pairs(db, pairs).replace(b"s", b"u", 1),  # a str, not bytes
    ]
    for payload in broken:
        with pytest.raises(ValueError, match="not a record"):
            records.decode(payload)


def test_string_pairs_holding_what_marshal_reads_but_no_string_are_no_record() -> None:
    import marshal  # noqa: PLC0415

    for other in ([1, 2], [b"k", None], (b"k", b"v"), {b"k": b"v"}, [b"k", [b"v"]]):
        with pytest.raises(ValueError, match="not a record"):
            records.decode(bytes((8, 0)) + marshal.dumps(other, 2))
    # References (marshal's version 3 and later) are not this layout: refused by size.
    shared = b"same"
    with pytest.raises(ValueError, match="not a record"):
        records.decode(bytes((8, 0)) + marshal.dumps([b"a", shared, b"b", shared], 4))
    assert records.decode(bytes((8, 0)) + marshal.dumps([], 2)) == records.Strings(0, (), ())
