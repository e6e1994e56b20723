"""Longest common subsequence for Redis's LCS, bit-parallel.

Redis fills an ``(len(a)+1) x (len(b)+1)`` table of uint32 and walks it back. Here each
row of that table is one integer ``V`` of ``len(b)`` bits (Hyyrö's bit-parallel LCS):
``LCS(i, j)`` is the number of zero bits among the low ``j`` bits of row ``i``. Rows cost
``len(b)/8`` bytes instead of ``4 * len(b)``, a row is computed with a handful of big-integer
operations, and the walk back asks the very questions Redis's walk asks, so the string and
the match ranges are the ones Redis returns, ties included.
"""

from __future__ import annotations

__all__ = ["Match", "lcs"]

Match = tuple[int, int, int, int]
"""A matched range: start and end in the first string, start and end in the second."""


def _rows(a: bytes, b: bytes) -> list[int]:
    mask = (1 << len(b)) - 1
    positions: dict[int, int] = {}
    for j, char in enumerate(b):
        positions[char] = positions.get(char, 0) | (1 << j)
    row = mask
    rows = [row]
    for char in a:
        matched = row & positions.get(char, 0)
        row = ((row + matched) | (row - matched)) & mask
        rows.append(row)
    return rows


def lcs(a: bytes, b: bytes, *, want_ranges: bool) -> tuple[bytes, int, list[Match]]:
    """The LCS string, its length, and (with ``want_ranges``) the ranges Redis's IDX lists, in
    Redis's order (from the ends of the strings backwards)."""
    rows = _rows(a, b)

    def table(i: int, j: int) -> int:
        return j - (rows[i] & ((1 << j) - 1)).bit_count()

    length = table(len(a), len(b))
    result = bytearray(length)
    ranges: list[Match] = []
    idx = length
    i, j = len(a), len(b)
    unset = len(a)
    a_start, a_end, b_start, b_end = unset, 0, 0, 0
    while i > 0 and j > 0:
        emit = False
        if a[i - 1] == b[j - 1]:
            result[idx - 1] = a[i - 1]
            if a_start == unset:
                a_start = a_end = i - 1
                b_start = b_end = j - 1
            elif a_start == i and b_start == j:
                a_start -= 1
                b_start -= 1
            else:
                emit = True
            if a_start == 0 or b_start == 0:
                emit = True
            idx -= 1
            i -= 1
            j -= 1
        else:
            if table(i - 1, j) > table(i, j - 1):
                i -= 1
            else:
                j -= 1
            if a_start != unset:
                emit = True
        if emit:
            if want_ranges:
                ranges.append((a_start, a_end, b_start, b_end))
            a_start = unset
    return bytes(result), length, ranges
