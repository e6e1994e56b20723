"""RESP reply encoders: ``bulk_strings`` against the one-value-at-a-time encoding, and the
bulk header table against formatting."""

from __future__ import annotations

from collections import deque

import pytest
from _drive import replay
from _drive import resp_command as cmd
from hypothesis import given
from hypothesis import strategies as st
from wireproto.providers.resp import RESP, RespProvider
from wireproto.providers.resp.replies import BULK_HEADS, bulk, bulk_strings

from wireproto import Connection, Registry


def _one_by_one(values: list[bytes]) -> bytes:
    return b"*%d\r\n" % len(values) + b"".join(bulk(value) for value in values)


@given(st.lists(st.binary(max_size=40), max_size=50))
def test_bulk_strings_is_an_array_of_bulk_strings(values: list[bytes]) -> None:
    assert bulk_strings(values) == _one_by_one(values)
    assert bulk_strings(deque(values)) == _one_by_one(values)


@given(st.lists(st.sampled_from([1022, 1023, 1024, 1025, 5000, 0]), max_size=6))
def test_bulk_strings_past_its_made_headers(sizes: list[int]) -> None:
    # Headers of values under 1 KiB are made once; 1024 bytes and more are formatted.
    values = [b"\r" * size for size in sizes]
    assert bulk_strings(values) == _one_by_one(values)


def test_bulk_strings_of_nothing() -> None:
    assert bulk_strings([]) == b"*0\r\n"


def formatted(value: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(value), value)


@given(st.binary(max_size=3000))
def test_bulk_is_the_formatted_bulk_string(value: bytes) -> None:
    assert bulk(value) == formatted(value)


@pytest.mark.parametrize("size", [0, 1, len(BULK_HEADS) - 1, len(BULK_HEADS), len(BULK_HEADS) + 1])
def test_bulk_at_the_end_of_the_header_table(size: int) -> None:
    value = (b"\r\n$*x" * size)[:size]
    assert bulk(value) == formatted(value)


@pytest.mark.parametrize("size", [0, 3, len(BULK_HEADS) - 1, len(BULK_HEADS)])
def test_get_replies_with_the_value_whatever_its_size(size: int) -> None:
    registry = Registry()
    registry.register(RESP, RespProvider())
    connection = Connection(registry)
    value = b"\r\n" + b"v" * (size - 2) if size >= 2 else b"v" * size
    reply = replay(connection, [cmd("SET", "k", value) + cmd("GET", "k") + cmd("GET", "missing")])
    assert reply == b"+OK\r\n" + formatted(value) + b"$-1\r\n"
