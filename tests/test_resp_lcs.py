"""LCS sans I/O: the bit-parallel table against the plain dynamic programme Redis fills, on
any two strings; the documented examples; the transient-memory limit at max and max+1."""

from __future__ import annotations

import pytest
from _resp import Client
from hypothesis import given
from hypothesis import strategies as st
from wireproto.providers.resp.lcs import lcs
from wireproto.providers.resp.limits import RespLimits


def _redis_lcs(a: bytes, b: bytes) -> tuple[bytes, list[tuple[int, int, int, int]]]:
    """Redis's ``lcsCommand``, table and walk, in plain Python (the oracle)."""
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            if a[i - 1] == b[j - 1]:
                table[i][j] = table[i - 1][j - 1] + 1
            else:
                table[i][j] = max(table[i - 1][j], table[i][j - 1])
    out = bytearray()
    ranges = []
    i, j = len(a), len(b)
    start = None
    while i > 0 and j > 0:
        emit = False
        if a[i - 1] == b[j - 1]:
            out.insert(0, a[i - 1])
            if start is None:
                start = [i - 1, i - 1, j - 1, j - 1]
            elif start[0] == i and start[2] == j:
                start[0] -= 1
                start[2] -= 1
            else:
                emit = True
            if start[0] == 0 or start[2] == 0:
                emit = True
            i, j = i - 1, j - 1
        else:
            if table[i - 1][j] > table[i][j - 1]:
                i -= 1
            else:
                j -= 1
            emit = start is not None
        if emit and start is not None:
            ranges.append((start[0], start[1], start[2], start[3]))
            start = None
    return bytes(out), ranges


@given(st.binary(max_size=30), st.binary(max_size=30))
def test_the_bit_parallel_table_walks_as_redis_does(a: bytes, b: bytes) -> None:
    expected, ranges = _redis_lcs(a, b)
    common, length, found = lcs(a, b, want_ranges=True)
    assert (common, length, found) == (expected, len(expected), ranges)


@given(st.text(alphabet="ab", max_size=40), st.text(alphabet="ab", max_size=40))
def test_small_alphabets_tie_break_as_redis(a: str, b: str) -> None:
    assert lcs(a.encode(), b.encode(), want_ranges=True)[::2] == _redis_lcs(a.encode(), b.encode())


def test_the_documented_example() -> None:
    client = Client(accelerated=False)
    client.call("MSET", "key1", "ohmytext", "key2", "mynewtext")
    assert client.call("LCS", "key1", "key2") == b"$6\r\nmytext\r\n"
    assert client.call("LCS", "key1", "key2", "LEN") == b":6\r\n"
    assert client.call("LCS", "key1", "key2", "IDX", "MINMATCHLEN", 4, "WITHMATCHLEN") == (
        b"*4\r\n$7\r\nmatches\r\n*1\r\n*3\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n:4\r\n"
        b"$3\r\nlen\r\n:6\r\n"
    )


@pytest.mark.parametrize(("size", "allowed"), [(15, True), (16, False)])
def test_the_table_limit_at_max_and_max_plus_one(size: int, allowed: bool) -> None:
    # (15 + 1) * (15 + 1) * 4 = 1024 bytes: at the limit; 16 characters pass it.
    client = Client(accelerated=False, limits=RespLimits(max_bulk_len=1024))
    client.call("MSET", "a", "x" * size, "b", "x" * size)
    reply = client.call("LCS", "a", "b", "LEN")
    assert reply == (
        b":%d\r\n" % size
        if allowed
        else (b"-ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len\r\n")
    )
