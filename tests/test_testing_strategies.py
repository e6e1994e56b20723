"""The kit's strategies and its construct value generator."""

from __future__ import annotations

import enum
import random
from typing import Any

import construct as c
import pytest
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st

from wireproto.testing import Example, ReadSchedule, Stream
from wireproto.testing._construct import (
    RandomChooser,
    UnsupportedConstructError,
    generate,
    grow_function,
    mutate_stream,
    parse_messages,
)
from wireproto.testing.strategies import (
    Built,
    buffer_schedules,
    chunkings,
    examples,
    from_construct,
    mutated,
    streams,
)

QUICK = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class Kind(enum.IntEnum):
    PING = 1
    DATA = 2


DECLARATIONS: dict[str, c.Construct[Any, Any]] = {
    "ints and floats": c.Struct(
        "a" / c.Int8ub,
        "b" / c.Int16sl,
        "c" / c.Int64ub,
        "d" / c.Float32b,
        "e" / c.Float64l,
        "f" / c.Int24ub,
        "g" / c.BytesInteger(3, signed=True),
    ),
    "enum, const, flag, padding": c.Struct(
        "magic" / c.Const(b"WP"),
        "kind" / c.Enum(c.Int8ub, Kind),
        "urgent" / c.Flag,
        c.Padding(3),
        "flags" / c.FlagsEnum(c.Int8ub, a=1, b=2, c=4),
    ),
    "prefixed and greedy": c.Struct(
        "key" / c.Prefixed(c.Int16ub, c.GreedyBytes),
        "blob" / c.Prefixed(c.VarInt, c.Struct("x" / c.Int8ub, "rest" / c.GreedyBytes)),
        "tail" / c.GreedyBytes,
    ),
    "arrays": c.Struct(
        "items" / c.PrefixedArray(c.Int8ub, c.Struct("id" / c.Int16ub, "on" / c.Flag)),
        "fixed" / c.Array(3, c.Int8ub),
        "counted" / c.Rebuild(c.Int8ub, c.len_(c.this.data)),
        "data" / c.Bytes(c.this.counted),
    ),
    "strings": c.Struct(
        "pascal" / c.PascalString(c.VarInt, "utf8"),
        "cstring" / c.CString("ascii"),
        "padded" / c.PaddedString(8, "utf8"),
        "zigzag" / c.ZigZag,
    ),
    "bits and nesting": c.Struct(
        "header" / c.BitStruct("version" / c.BitsInteger(3), "ack" / c.Flag, c.Padding(4)),
        "inner" / c.Struct("a" / c.Int8ub, "b" / c.Struct("c" / c.Bytes(2))),
        "choice" / c.Switch(c.this.inner.a % 2, {0: c.Int8ub, 1: c.Int16ub}),
    ),
}


@pytest.mark.parametrize("name", sorted(DECLARATIONS))
def test_from_construct_builds_what_parses_and_builds_again(name: str) -> None:
    declaration = DECLARATIONS[name]

    @QUICK
    @given(from_construct(declaration))
    def round_trips(built: Built) -> None:
        assert declaration.build(built.value) == built.data
        assert declaration.build(declaration.parse(built.data)) == built.data

    round_trips()


_PREFIXED = c.Prefixed(c.Int8ub, c.GreedyBytes)


@settings(max_examples=300, database=None)
@given(built=from_construct(_PREFIXED, max_field_size=40))
def test_from_construct_respects_the_field_size(built: Any) -> None:
    assert len(built.data) <= 41  # prefix + at most 40 bytes
    assert _PREFIXED.parse(built.data) == built.value


def test_from_construct_reaches_large_fields() -> None:
    big = find(from_construct(_PREFIXED, max_field_size=40), lambda b: len(b.data) > 30)
    assert 31 <= len(big.data) <= 41


_PASCAL = c.PascalString(c.Int8ub, "utf8")


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(from_construct(_PASCAL, max_field_size=1000))
def test_a_length_field_caps_what_it_prefixes(built: Any) -> None:
    # max_field_size asks for up to 1000 bytes; the one-byte prefix allows 255.
    assert len(built.data) <= 256
    assert _PASCAL.build(_PASCAL.parse(built.data)) == built.data


def test_unsupported_constructs_are_named() -> None:
    declaration = c.Struct("p" / c.Pointer(8, c.Int8ub))
    with pytest.raises(UnsupportedConstructError, match="Pointer"):
        generate(declaration, RandomChooser(random.Random(1)))


def test_grow_makes_messages_of_the_asked_size() -> None:
    declaration = DECLARATIONS["prefixed and greedy"]
    grow = grow_function(declaration)
    assert grow is not None
    for size in (8, 100, 1000, 70000):
        data = grow(size)
        assert len(data) == size
        declaration.parse(data)
    assert grow_function(DECLARATIONS["ints and floats"]) is None  # nothing can grow


def test_varint_prefixed_grow_is_within_a_byte_of_the_size() -> None:
    grow = grow_function(c.Prefixed(c.VarInt, c.GreedyBytes))
    assert grow is not None
    sizes = (1, 127, 128, 130, 131, 20000)
    assert [len(grow(size)) for size in sizes] == list(sizes)
    assert len(grow(129)) in (128, 130)  # 129 is not reachable: the prefix grows to 2 bytes


@pytest.mark.parametrize("seed", range(20))
def test_structure_aware_mutations_keep_messages_parseable(seed: int) -> None:
    declaration = DECLARATIONS["arrays"]
    rng = random.Random(seed)
    messages = [
        declaration.build(generate(declaration, RandomChooser(rng), max_field_size=8))
        for _ in range(3)
    ]
    stream = b"".join(messages)
    for _ in range(10):
        stream = mutate_stream(declaration, stream, rng) or stream
        values, rest = parse_messages(declaration, stream)
        assert rest == b""
        assert b"".join(declaration.build(value) for value in values) == stream


@QUICK
@given(st.data(), st.binary(max_size=64))
def test_chunkings_are_positive_sizes_summing_to_the_length(
    data: st.DataObject, stream: bytes
) -> None:
    cut = data.draw(chunkings(stream, [3, 10, 11]))
    assert sum(cut) == len(stream)
    assert all(size > 0 for size in cut)


def test_chunkings_include_whole_drip_and_every_boundary() -> None:
    stream = Stream.of_messages((b"abc", b"de", b"fghi"))
    strategy = chunkings(stream)
    assert find(strategy, lambda cut: len(cut) == 1) == (9,)
    assert find(strategy, lambda cut: len(cut) == 9) == (1,) * 9
    assert find(strategy, lambda cut: cut == (3, 2, 4)) == (3, 2, 4)
    assert find(strategy, lambda cut: cut == (2, 7)) == (2, 7)  # just before a boundary


@QUICK
@given(buffer_schedules(max_read_size=16))
def test_buffer_schedules_are_valid(schedule: ReadSchedule) -> None:
    assert schedule.initial_buffer_size >= 1
    assert all(size >= 1 for size in schedule.read_sizes)


def test_buffer_schedules_shrink_to_the_default() -> None:
    assert find(buffer_schedules(), lambda schedule: True) == ReadSchedule()


@QUICK
@given(streams([b"a", b"bb", b"ccc"], max_messages=5))
def test_streams_of_messages_know_their_boundaries(stream: Stream) -> None:
    assert stream.boundaries[-1] == len(stream.data)
    start = 0
    for end in stream.boundaries:
        assert stream.data[start:end] in (b"a", b"bb", b"ccc")
        start = end
    assert stream.messages == ()  # not declaration-built


@QUICK
@given(streams(from_construct(DECLARATIONS["prefixed and greedy"])))
def test_streams_of_built_messages_carry_them(stream: Stream) -> None:
    assert b"".join(stream.messages) == stream.data
    assert len(stream.messages) == len(stream.boundaries)


@QUICK
@given(mutated(streams([b"hello", b"world"])))
def test_mutated_streams_keep_only_boundaries_before_the_first_edit(stream: Stream) -> None:
    start = 0
    for end in stream.boundaries:
        assert stream.data[start:end] in (b"hello", b"world")
        start = end


@QUICK
@given(examples(streams([b"xy", b"z"])))
def test_examples_are_consistent(example: Example) -> None:
    assert sum(example.chunks) == len(example.stream)
    assert example.boundaries[-1] == len(example.stream)


def test_example_descriptions() -> None:
    assert Example.whole(b"abc").describe_cut() == "the whole stream in one piece"
    assert Example.drip(b"abc").describe_cut() == "a one-byte drip"
    cut = Example.cut(b"abcdef", (1, 2, 3))
    assert cut.cut_points == (1, 3)
    assert cut.describe_cut() == "cut at offsets 1, 3 (chunk sizes 1, 2, 3)"
    with pytest.raises(ValueError, match="summing"):
        Example(b"abc", (1, 1))
