"""Redis's sorted set: a dict of scores beside a ``sortedcontainers.SortedList`` of
(score, member) pairs, so lookups are O(1) and rank, insertion and ranges O(log n).

Pairs sort as Redis's skiplist does: by score, then by member bytes. Scores
are Python floats (C doubles); NaN is never stored (the commands refuse it).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from sortedcontainers import SortedList  # type: ignore[import-untyped,import-not-found,unused-ignore]

from ..kvstore import register_kind
from .thresholds import THRESHOLDS

__all__ = ["LexBound", "ZSet", "zset_encoding"]

_INF = math.inf

LexBound = tuple[bytes, bool] | bool
"""A lex range end: (member, exclusive), or True for ``+`` and False for ``-``."""


def _above(member: bytes, low: LexBound) -> bool:
    """Whether ``member`` is at or past the lex range's start (``zzlLexValueGteMin``)."""
    if isinstance(low, bool):
        return not low
    return member > low[0] if low[1] else member >= low[0]


def _below(member: bytes, high: LexBound) -> bool:
    """Whether ``member`` is at or before the lex range's end (``zzlLexValueLteMax``)."""
    if isinstance(high, bool):
        return high
    return member < high[0] if high[1] else member <= high[0]


class ZSet:
    """A sorted set: members with float scores, ordered by (score, member)."""

    __slots__ = ("_order", "_scores", "skiplist")

    def __init__(self) -> None:
        self._scores: dict[bytes, float] = {}
        self._order = SortedList()
        self.skiplist = False
        """Whether Redis would hold it as a skiplist by now (it never goes back)."""

    def __len__(self) -> int:
        return len(self._scores)

    def __contains__(self, member: object) -> bool:
        return member in self._scores

    def __iter__(self) -> Iterator[tuple[bytes, float]]:
        """(member, score) pairs in order."""
        for score, member in self._order:
            yield member, score

    def score(self, member: bytes) -> float | None:
        """The member's score, or None."""
        return self._scores.get(member)

    def add(self, member: bytes, score: float) -> None:
        """Insert ``member`` or move it to ``score``."""
        old = self._scores.get(member)
        if old is not None:
            if old == score:  # -0.0 stays -0.0, as in Redis (score != curscore)
                return
            self._order.remove((old, member))
        elif (
            len(self._scores) >= THRESHOLDS.zset_max_listpack_entries
            or len(member) > THRESHOLDS.zset_max_listpack_value
        ):
            self.skiplist = True
        if score == 0 and not self.skiplist:
            score = 0.0  # a listpack keeps -0 as the integer 0 (Redis 7.0's d2string)
        self._scores[member] = score
        self._order.add((score, member))

    def remove(self, member: bytes) -> bool:
        """Remove ``member``; whether it was there."""
        score = self._scores.pop(member, None)
        if score is None:
            return False
        self._order.remove((score, member))
        return True

    def rank(self, member: bytes) -> int | None:
        """0-based rank from the lowest score, or None."""
        score = self._scores.get(member)
        if score is None:
            return None
        index: int = self._order.bisect_left((score, member))
        return index

    def at(self, start: int, stop: int) -> list[tuple[bytes, float]]:
        """(member, score) pairs of ranks ``start`` to ``stop - 1`` (0 <= start <= stop <= len)."""
        return [(member, score) for score, member in self._order.islice(start, stop)]

    def at_reversed(self, start: int, stop: int) -> list[tuple[bytes, float]]:
        """As :meth:`at`, counting ranks from the highest score."""
        size = len(self._scores)
        pairs = self.at(size - stop, size - start)
        pairs.reverse()
        return pairs

    def score_bounds(self, low: float, low_ex: bool, high: float, high_ex: bool) -> tuple[int, int]:
        """The rank span (start, stop) of the scores in the range; start >= stop when empty."""
        order = self._order
        size = len(order)
        if low_ex:
            start = size if low == _INF else order.bisect_left((math.nextafter(low, _INF), b""))
        else:
            start = order.bisect_left((low, b""))
        if high_ex:
            stop = order.bisect_left((high, b""))
        else:
            stop = size if high == _INF else order.bisect_left((math.nextafter(high, _INF), b""))
        return int(start), int(stop)

    def _member_bisect(self, bound: bytes, right: bool) -> int:
        """Binary search by member alone (what Redis's skiplist walk does for lex ranges)."""
        order = self._order
        low, high = 0, len(order)
        while low < high:
            middle = (low + high) // 2
            member: bytes = order[middle][1]
            if member < bound or (right and member == bound):
                low = middle + 1
            else:
                high = middle
        return low

    def lex_bounds(self, low: LexBound, high: LexBound, reverse: bool = False) -> tuple[int, int]:
        """The rank span of the members in the lex range (meaningful when all scores are equal).

        With unequal scores the members are not in lex order; a small set (Redis's
        listpack) then answers as Redis's walk does: from the first member not below
        ``low`` (the last not above ``high`` when ``reverse``) while they stay in range.
        """
        if low is True or high is False:
            return 0, 0
        if not self.skiplist:
            return self._listpack_lex_bounds(low, high, reverse)
        if low is False:
            start = 0
        else:
            assert isinstance(low, tuple)
            start = self._member_bisect(low[0], low[1])
        if high is True:
            stop = len(self._order)
        else:
            assert isinstance(high, tuple)
            stop = self._member_bisect(high[0], not high[1])
        return start, stop

    def _listpack_lex_bounds(self, low: LexBound, high: LexBound, reverse: bool) -> tuple[int, int]:
        """``zzlFirstInLexRange`` / ``zzlLastInLexRange``, then the walk while in range."""
        members = [member for _, member in self._order]
        size = len(members)
        if not size or not _above(members[-1], low) or not _below(members[0], high):
            return 0, 0
        if reverse:
            last = size - 1
            while last >= 0 and not _below(members[last], high):
                last -= 1
            if last < 0 or not _above(members[last], low):
                return 0, 0
            first = last
            while first > 0 and _above(members[first - 1], low):
                first -= 1
            return first, last + 1
        first = 0
        while first < size and not _above(members[first], low):
            first += 1
        if first == size or not _below(members[first], high):
            return 0, 0
        stop = first + 1
        while stop < size and _below(members[stop], high):
            stop += 1
        return first, stop

    def pop(self, highest: bool) -> tuple[bytes, float]:
        """Remove and return the lowest (or highest) (member, score)."""
        score, member = self._order.pop(-1 if highest else 0)
        del self._scores[member]
        return member, score

    def copy(self) -> ZSet:
        """A copy (for COPY and the *STORE commands)."""
        other = ZSet()
        other._scores = dict(self._scores)
        other._order = SortedList(self._order)
        other.skiplist = self.skiplist
        return other


def zset_encoding(value: ZSet) -> bytes:
    """OBJECT ENCODING of a sorted set, as Redis 7.0 answers it."""
    return b"skiplist" if value.skiplist else b"listpack"


register_kind(ZSet, b"zset")
