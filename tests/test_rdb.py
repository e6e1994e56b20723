"""DUMP/RESTORE serialisation (providers/datatypes/rdb.py): round trips of every type we
serialise, Redis's CRC-64, listpack and intset forms, and payloads redis-server wrote."""

from __future__ import annotations

from collections import deque

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wireproto.providers.datatypes import rdb

SMALL = st.one_of(
    st.binary(max_size=80),
    st.integers(-(1 << 63), (1 << 63) - 1).map(lambda n: b"%d" % n),
    st.sampled_from([b"0", b"-0", b"01", b"127", b"128", b"-4096", b"4095", b"4096", b"x" * 4096]),
)
VALUES = st.one_of(
    SMALL,
    st.lists(SMALL, min_size=1, max_size=40).map(deque),
    st.dictionaries(SMALL, SMALL, min_size=1, max_size=20),
    st.sets(SMALL, min_size=1, max_size=20),
    st.sets(st.integers(-(1 << 63), (1 << 63) - 1).map(lambda n: b"%d" % n), min_size=1),
)


@settings(max_examples=200, deadline=None)
@given(VALUES)
def test_dump_restore_round_trip(value: object) -> None:
    payload = rdb.dump(value)
    assert rdb.verify(payload)
    assert rdb.restore(payload) == value


@given(st.lists(SMALL, max_size=60))
def test_listpack_round_trip(values: list[bytes]) -> None:
    assert rdb.read_listpack(rdb.listpack(values)) == values


def test_crc64_check_value() -> None:
    assert rdb.crc64(b"123456789") == 0xE9C6D914C4B8D9CA


def test_a_changed_byte_or_a_newer_version_fails_verification() -> None:
    payload = bytearray(rdb.dump(b"hello"))
    assert rdb.verify(bytes(payload))
    payload[3] ^= 1
    assert not rdb.verify(bytes(payload))
    newer = bytearray(rdb.dump(b"hello")[:-10]) + (rdb.RDB_VERSION + 1).to_bytes(2, "little")
    newer += rdb.crc64(bytes(newer)).to_bytes(8, "little")
    assert not rdb.verify(bytes(newer))
    assert not rdb.verify(b"\x00" * 9)


# Payloads redis-server 7.0 wrote (DUMP), and what they hold.
REDIS_PAYLOADS = [
    (b"\x00\xc3\x06\x15\x01xx\xe0\n\x00\n\x00\x94\x1a\x83g`\x17\x19/", b"x" * 21),  # LZF
    (b"\x00\x05hello\n\x00cr\xdfve4 \n", b"hello"),
    (b"\x00\xc0\x0c\n\x00<*\xf8Q\\\x04\xbc\xd5", b"12"),
]


@pytest.mark.parametrize(("payload", "value"), REDIS_PAYLOADS)
def test_payloads_from_redis_load(payload: bytes, value: object) -> None:
    assert rdb.verify(payload)
    assert rdb.restore(payload) == value


def test_small_strings_dump_as_redis_does() -> None:
    for payload, value in REDIS_PAYLOADS[1:]:
        assert rdb.dump(value) == payload


@pytest.mark.parametrize(
    "body",
    [
        bytes((rdb.TYPE_SET,)) + b"\x02\x01a\x01a",  # duplicate members
        bytes((rdb.TYPE_HASH,)) + b"\x00",  # empty
        bytes((rdb.TYPE_SET_INTSET,)) + b"\x08\x02\x00\x00\x00\x01\x00\x00\x00",  # short intset
        b"\x03\x00",  # a sorted set: not loaded here
        bytes((rdb.TYPE_STRING,)) + b"\x05abc",  # truncated
    ],
)
def test_bad_payloads_are_refused(body: bytes) -> None:
    body += rdb.RDB_VERSION.to_bytes(2, "little")
    payload = body + rdb.crc64(body).to_bytes(8, "little")
    assert rdb.verify(payload)
    with pytest.raises(rdb.BadPayload):
        rdb.restore(payload)


def test_lzf_refuses_references_before_the_start() -> None:
    with pytest.raises(rdb.BadPayload):
        rdb.lzf_decompress(b"\x20\x05", 4)
