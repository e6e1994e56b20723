"""RESP reply encoders: ``bulk_strings`` against the one-value-at-a-time encoding."""

from __future__ import annotations

from collections import deque

from hypothesis import given
from hypothesis import strategies as st
from wireproto.providers.resp.replies import bulk, bulk_strings


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
