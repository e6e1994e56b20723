"""Bitmap commands sans I/O: against a plain Python model of the bits, the documented examples,
WRONGTYPE, and the offset limit (``proto-max-bulk-len``) at max and max+1."""

from __future__ import annotations

from collections import deque

import pytest
from _resp import Client
from hypothesis import given
from hypothesis import strategies as st
from wireproto.providers.resp.limits import RespLimits

BAD_OFFSET = b"-ERR bit offset is not an integer or out of range\r\n"


def _bits(value: bytes) -> list[int]:
    return [(byte >> (7 - i)) & 1 for byte in value for i in range(8)]


def test_the_redis_documentation_examples() -> None:
    client = Client(accelerated=False)
    assert client.call("SETBIT", "mykey", 7, 1) == b":0\r\n"
    assert client.call("SETBIT", "mykey", 7, 0) == b":1\r\n"
    assert client.call("GET", "mykey") == b"$1\r\n\x00\r\n"
    client.call("SET", "mykey", "foobar")
    assert client.call("BITCOUNT", "mykey") == b":26\r\n"
    assert client.call("BITCOUNT", "mykey", 0, 0) == b":4\r\n"
    assert client.call("BITCOUNT", "mykey", 1, 1) == b":6\r\n"
    assert client.call("BITCOUNT", "mykey", 1, 1, "BYTE") == b":6\r\n"
    assert client.call("BITCOUNT", "mykey", 5, 30, "BIT") == b":17\r\n"
    client.call("SET", "mykey", b"\xff\xf0\x00")
    assert client.call("BITPOS", "mykey", 0) == b":12\r\n"
    client.call("SET", "mykey", b"\x00\xff\xf0")
    assert client.call("BITPOS", "mykey", 1, 0) == b":8\r\n"
    assert client.call("BITPOS", "mykey", 1, 2) == b":16\r\n"
    assert client.call("BITPOS", "mykey", 1, 2, -1, "BYTE") == b":16\r\n"
    assert client.call("BITPOS", "mykey", 1, 7, 15, "BIT") == b":8\r\n"
    client.call("SET", "mykey", b"\x00\x00\x00")
    assert client.call("BITPOS", "mykey", 1) == b":-1\r\n"
    client.call("SET", "key1", "foobar")
    client.call("SET", "key2", "abcdef")
    assert client.call("BITOP", "AND", "dest", "key1", "key2") == b":6\r\n"
    assert client.call("GET", "dest") == b"$6\r\n`bc`ab\r\n"
    assert client.call("BITFIELD", "mykey", "INCRBY", "i5", 100, 1, "GET", "u4", 0) == (
        b"*2\r\n:1\r\n:0\r\n"
    )


def test_bit_commands_on_another_type_answer_wrongtype() -> None:
    client = Client(accelerated=False)
    store = client.provider.store
    store.write_container(b"l", deque).append(b"x")
    store.container_written(b"l", b"rpush")
    wrongtype = b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
    for command in (
        ("SETBIT", "l", 1, 1),
        ("GETBIT", "l", 1),
        ("BITCOUNT", "l"),
        ("BITPOS", "l", 1),
        ("BITOP", "OR", "d", "l"),
        ("BITFIELD", "l", "GET", "u8", 0),
    ):
        assert client.call(*command) == wrongtype, command
    assert client.call("BITFIELD_RO", "l", "SET", "u8", 0, 1) == (
        b"-ERR BITFIELD_RO only supports the GET subcommand\r\n"
    )


@pytest.mark.parametrize(("offset", "allowed"), [(16 * 8 - 1, True), (16 * 8, False)])
def test_the_offset_limit_at_max_and_max_plus_one(offset: int, allowed: bool) -> None:
    client = Client(accelerated=False, limits=RespLimits(max_bulk_len=16))
    reply = client.call("SETBIT", "k", offset, 1)
    assert reply == (b":0\r\n" if allowed else BAD_OFFSET)
    assert client.call("STRLEN", "k") == (b":16\r\n" if allowed else b":0\r\n")
    assert client.call("GETBIT", "k", offset) == (b":1\r\n" if allowed else BAD_OFFSET)


@given(
    st.lists(
        st.tuples(st.integers(0, 40), st.integers(0, 1)),
        max_size=30,
    ),
    st.integers(-8, 8),
    st.integers(-8, 8),
)
def test_setbit_getbit_bitcount_and_bitpos_follow_a_model(
    writes: list[tuple[int, int]], start: int, end: int
) -> None:
    client = Client(accelerated=False)
    model: list[int] = []
    for offset, bit in writes:
        if offset >= len(model):
            model += [0] * ((offset // 8 + 1) * 8 - len(model))
        expected = model[offset]
        assert client.call("SETBIT", "k", offset, bit) == b":%d\r\n" % expected
        model[offset] = bit
    for offset in range(len(model) + 9):
        bit = model[offset] if offset < len(model) else 0
        assert client.call("GETBIT", "k", offset) == b":%d\r\n" % bit
    if not model:
        return
    value = client.provider.store.get(b"k")
    assert value is not None and _bits(value) == model
    assert client.call("BITCOUNT", "k") == b":%d\r\n" % sum(model)
    size = len(model)
    first, last = (start + size if start < 0 else start), (end + size if end < 0 else end)
    first, last = max(first, 0), min(max(last, 0), size - 1)
    in_range = model[first : last + 1] if not (start < 0 and end < 0 and start > end) else []
    assert client.call("BITCOUNT", "k", start, end, "BIT") == b":%d\r\n" % sum(in_range)
    ones = [i for i in range(first, last + 1) if model[i]]
    expected_pos = ones[0] if ones and first <= last else -1
    assert client.call("BITPOS", "k", 1, start, end, "BIT") == b":%d\r\n" % expected_pos
