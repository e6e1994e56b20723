"""Reply encoders: the bulk header table gives the bytes formatting gives."""

from __future__ import annotations

import pytest
from _drive import replay
from _drive import resp_command as cmd
from hypothesis import given
from hypothesis import strategies as st
from wireproto.providers.resp import RESP, RespProvider
from wireproto.providers.resp.replies import BULK_HEADS, bulk

from wireproto import Connection, Registry


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
