"""List commands (Redis 7.0): pushes and pops, ranges, LINSERT, LREM, LTRIM, LPOS, LMOVE, LMPOP.

A list is a :class:`collections.deque` in the store: O(1) at both ends, and
indexing walks blocks of 64 items from the nearer end, so LINDEX and LRANGE
in the middle cost about what Redis's quicklist costs (a walk over nodes).
"""

from __future__ import annotations

from collections import deque
from itertools import islice

from ...kvstore import Store
from ..replies import EMPTY_ARRAY, OK, ZERO, bulk, bulk_strings, error, integer
from ._base import (
    LLONG_MAX,
    NO_SUCH_KEY,
    NOT_INTEGER,
    SYNTAX_ERROR,
    Client,
    Command,
    arity_error,
    bounded_int,
)

__all__ = [
    "COMMANDS",
    "HEAD",
    "TAIL",
    "list_encoding",
    "list_position",
    "pop_count_reply",
    "positive",
]

HEAD, TAIL = 0, 1
"""Redis's LIST_HEAD (left) and LIST_TAIL (right)."""

OUT_OF_RANGE = b"-ERR index out of range\r\n"
MUST_BE_POSITIVE = b"-ERR value is out of range, must be positive\r\n"


def list_encoding(value: deque[bytes]) -> bytes:
    """OBJECT ENCODING of a list: Redis 7.0 keeps every list in a ``quicklist``."""
    return b"quicklist"


def list_position(word: bytes) -> int | None:
    """LEFT -> HEAD, RIGHT -> TAIL (any case), else None (Redis answers a syntax error)."""
    lowered = word.lower()
    if lowered == b"left":
        return HEAD
    if lowered == b"right":
        return TAIL
    return None


def positive(value: bytes, message: bytes = MUST_BE_POSITIVE) -> int | bytes:
    """Redis's ``getPositiveLongFromObjectOrReply``: 0..LLONG_MAX, else the error ``message``."""
    parsed = bounded_int(value, 0, LLONG_MAX)
    return message if parsed is None else parsed


def _read(s: Client, key: bytes) -> deque[bytes] | None:
    return s.store.read_container(key, deque)


def pop_count(store: Store, key: bytes, items: deque[bytes], where: int, count: int) -> list[bytes]:
    """Pop up to ``count`` items from one end, in pop order; notifies (and deletes if empty)."""
    take = items.popleft if where == HEAD else items.pop
    popped = [take() for _ in range(min(count, len(items)))]
    store.container_written(key, b"lpop" if where == HEAD else b"rpop")
    return popped


def pop_count_reply(store: Store, key: bytes, items: deque[bytes], where: int, count: int) -> bytes:
    """LMPOP's reply ``[key, [items...]]`` after popping up to ``count`` items."""
    return b"*2\r\n" + bulk(key) + bulk_strings(pop_count(store, key, items, where, count))


def _push(s: Client, argv: list[bytes], where: int, existing: bool) -> bytes:
    store = s.store
    key = argv[1]
    if existing and store.read_container(key, deque) is None:
        return ZERO
    items: deque[bytes] = store.write_container(key, deque)
    if where == HEAD:
        items.extendleft(argv[2:])
        store.container_written(key, b"lpush")
    else:
        items.extend(argv[2:])
        store.container_written(key, b"rpush")
    return integer(len(items))


def lpush(s: Client, argv: list[bytes]) -> bytes:
    """LPUSH."""
    return _push(s, argv, HEAD, False)


def rpush(s: Client, argv: list[bytes]) -> bytes:
    """RPUSH."""
    return _push(s, argv, TAIL, False)


def lpushx(s: Client, argv: list[bytes]) -> bytes:
    """LPUSHX."""
    return _push(s, argv, HEAD, True)


def rpushx(s: Client, argv: list[bytes]) -> bytes:
    """RPUSHX."""
    return _push(s, argv, TAIL, True)


def _pop(s: Client, argv: list[bytes], where: int) -> bytes:
    key = argv[1]
    if len(argv) == 2:
        items = s.store.read_container(key, deque)
        if items is None:
            return s.null
        if where == HEAD:
            value = items.popleft()
            s.store.container_written(key, b"lpop")
        else:
            value = items.pop()
            s.store.container_written(key, b"rpop")
        return b"$%d\r\n%s\r\n" % (len(value), value)
    if len(argv) > 3:
        return arity_error(argv[0].lower().decode())
    count = positive(argv[2])
    if isinstance(count, bytes):
        return count
    items = _read(s, key)
    if items is None:
        return s.null_array
    if count == 0:
        return EMPTY_ARRAY
    return bulk_strings(pop_count(s.store, key, items, where, count))


def lpop(s: Client, argv: list[bytes]) -> bytes:
    """LPOP."""
    return _pop(s, argv, HEAD)


def rpop(s: Client, argv: list[bytes]) -> bytes:
    """RPOP."""
    return _pop(s, argv, TAIL)


def llen(s: Client, argv: list[bytes]) -> bytes:
    """LLEN."""
    items = _read(s, argv[1])
    return ZERO if items is None else integer(len(items))


_INDEXED_RANGE = 64
"""Ranges up to this long are read item by item: each index skips the deque's blocks
of 64 (about 0.05 ns an item), where ``islice`` steps over every item (about 6 ns)."""


def _slice(items: deque[bytes], start: int, stop: int) -> list[bytes]:
    """``items[start:stop]`` (0 <= start < stop <= len), walked from the nearer end."""
    size = len(items)
    if stop - start <= _INDEXED_RANGE and min(start, size - stop) > 4 * _INDEXED_RANGE:
        return [items[index] for index in range(start, stop)]
    if start > size - stop:
        tail = list(islice(reversed(items), size - stop, size - start))
        tail.reverse()
        return tail
    return list(islice(items, start, stop))


def _range(size: int, start: int, end: int) -> tuple[int, int] | None:
    """Redis's index conversion for LRANGE / LTRIM: (start, stop) as a slice, or None if empty."""
    if start < 0:
        start += size
    if end < 0:
        end += size
    start = max(start, 0)
    if start > end or start >= size:
        return None
    return start, min(end, size - 1) + 1


def lrange(s: Client, argv: list[bytes]) -> bytes:
    """LRANGE."""
    start = bounded_int(argv[2])
    end = bounded_int(argv[3])
    if start is None or end is None:
        return NOT_INTEGER
    items = _read(s, argv[1])
    if items is None:
        return EMPTY_ARRAY
    bounds = _range(len(items), start, end)
    if bounds is None:
        return EMPTY_ARRAY
    first, stop = bounds
    reply = bulk_strings(_slice(items, first, stop))
    if len(reply) > s.room:  # refused before it joins the batch's replies
        s.over_output(s.room - len(reply))
    return reply


def lindex(s: Client, argv: list[bytes]) -> bytes:
    """LINDEX."""
    items = _read(s, argv[1])
    if items is None:
        return s.null
    index = bounded_int(argv[2])
    if index is None:
        return NOT_INTEGER
    if not -len(items) <= index < len(items):
        return s.null
    return bulk(items[index])


def lset(s: Client, argv: list[bytes]) -> bytes:
    """LSET."""
    key = argv[1]
    items = _read(s, key)
    if items is None:
        return NO_SUCH_KEY
    index = bounded_int(argv[2])
    if index is None:
        return NOT_INTEGER
    if not -len(items) <= index < len(items):
        return OUT_OF_RANGE
    items[index] = argv[3]
    s.store.container_written(key, b"lset")
    return OK


def linsert(s: Client, argv: list[bytes]) -> bytes:
    """LINSERT."""
    where = argv[2].lower()
    if where not in (b"before", b"after"):
        return SYNTAX_ERROR
    key = argv[1]
    items = _read(s, key)
    if items is None:
        return ZERO
    try:
        index = items.index(argv[3])
    except ValueError:
        return b":-1\r\n"
    items.insert(index if where == b"before" else index + 1, argv[4])
    s.store.container_written(key, b"linsert")
    return integer(len(items))


def lrem(s: Client, argv: list[bytes]) -> bytes:
    """LREM."""
    count = bounded_int(argv[2])
    if count is None:
        return NOT_INTEGER
    key = argv[1]
    items = _read(s, key)
    if items is None:
        return ZERO
    element = argv[3]
    limit = abs(count) if count else len(items)
    from_tail = count < 0
    ordered = reversed(items) if from_tail else iter(items)
    kept: list[bytes] = []
    removed = 0
    for value in ordered:
        if removed < limit and value == element:
            removed += 1
        else:
            kept.append(value)
    if removed:
        if from_tail:
            kept.reverse()
        items.clear()
        items.extend(kept)
        s.store.container_written(key, b"lrem")
    return integer(removed)


def ltrim(s: Client, argv: list[bytes]) -> bytes:
    """LTRIM."""
    start = bounded_int(argv[2])
    end = bounded_int(argv[3])
    if start is None or end is None:
        return NOT_INTEGER
    key = argv[1]
    items = _read(s, key)
    if items is None:
        return OK
    size = len(items)
    bounds = _range(size, start, end)
    if bounds is None:
        items.clear()
    else:
        first, stop = bounds
        if stop - first < size // 2:
            kept = _slice(items, first, stop)
            items.clear()
            items.extend(kept)
        else:
            for _ in range(size - stop):
                items.pop()
            for _ in range(first):
                items.popleft()
    s.store.container_written(key, b"ltrim")
    return OK


_RANK_ZERO = error(
    b"ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... "
    b"or use negative to start from the end of the list"
)


def lpos(s: Client, argv: list[bytes]) -> bytes:
    """LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]."""
    rank, count, maxlen = 1, -1, 0
    j = 3
    argc = len(argv)
    while j < argc:
        option = argv[j].lower()
        more = j + 1 < argc
        if option == b"rank" and more:
            j += 1
            parsed = bounded_int(argv[j])
            if parsed is None:
                return NOT_INTEGER
            if parsed == 0:
                return _RANK_ZERO
            rank = parsed
        elif option == b"count" and more:
            j += 1
            found = positive(argv[j], b"-ERR COUNT can't be negative\r\n")
            if isinstance(found, bytes):
                return found
            count = found
        elif option == b"maxlen" and more:
            j += 1
            found = positive(argv[j], b"-ERR MAXLEN can't be negative\r\n")
            if isinstance(found, bytes):
                return found
            maxlen = found
        else:
            return SYNTAX_ERROR
        j += 1
    items = _read(s, argv[1])
    if items is None:
        return EMPTY_ARRAY if count != -1 else s.null
    from_tail = rank < 0
    rank = abs(rank)
    size = len(items)
    element = argv[2]
    ordered = reversed(items) if from_tail else iter(items)
    if maxlen:
        ordered = islice(ordered, maxlen)
    matches = 0
    found_at: list[int] = []
    for index, value in enumerate(ordered):
        if value == element:
            matches += 1
            if matches >= rank:
                found_at.append(size - index - 1 if from_tail else index)
                if count == -1 or (count and len(found_at) >= count):
                    break
    if count == -1:
        return integer(found_at[0]) if found_at else s.null
    return b"*%d\r\n" % len(found_at) + b"".join([integer(i) for i in found_at])


def move(
    store: Store, source: bytes, items: deque[bytes], target: bytes, sides: tuple[int, int]
) -> bytes:
    """Pop from ``items`` (the list at ``source``, not empty), push onto ``target``; the reply.

    ``sides``: (where it pops, where it pushes), HEAD or TAIL.

    Raises WrongType (before popping) when ``target`` holds another type.
    """
    wherefrom, whereto = sides
    store.read_container(target, deque)  # WRONGTYPE before anything moves
    value = items.popleft() if wherefrom == HEAD else items.pop()
    destination: deque[bytes] = store.write_container(target, deque)
    if whereto == HEAD:
        destination.appendleft(value)
    else:
        destination.append(value)
    store.container_written(target, b"lpush" if whereto == HEAD else b"rpush")
    store.container_written(source, b"lpop" if wherefrom == HEAD else b"rpop")
    return bulk(value)


def lmove(s: Client, argv: list[bytes]) -> bytes:
    """LMOVE source destination LEFT|RIGHT LEFT|RIGHT."""
    wherefrom = list_position(argv[3])
    whereto = list_position(argv[4])
    if wherefrom is None or whereto is None:
        return SYNTAX_ERROR
    items = _read(s, argv[1])
    if items is None:
        return s.null
    return move(s.store, argv[1], items, argv[2], (wherefrom, whereto))


def rpoplpush(s: Client, argv: list[bytes]) -> bytes:
    """RPOPLPUSH."""
    items = _read(s, argv[1])
    if items is None:
        return s.null
    return move(s.store, argv[1], items, argv[2], (TAIL, HEAD))


NUMKEYS_ERROR = b"-ERR numkeys should be greater than 0\r\n"
COUNT_ERROR = b"-ERR count should be greater than 0\r\n"


def parse_mpop(
    argv: list[bytes], numkeys_at: int, positions: dict[bytes, int] | None = None
) -> tuple[list[bytes], int, int] | bytes:
    """``numkeys key... LEFT|RIGHT [COUNT n]`` (LMPOP, BLMPOP; ZMPOP with ``positions``).

    (keys, where, count) or the error reply, checked in Redis's order.
    """
    numkeys = bounded_int(argv[numkeys_at], 1, LLONG_MAX)
    if numkeys is None:
        return NUMKEYS_ERROR
    where_at = numkeys_at + numkeys + 1
    if where_at >= len(argv):
        return SYNTAX_ERROR
    if positions is None:
        where = list_position(argv[where_at])
    else:
        where = positions.get(argv[where_at].lower())
    if where is None:
        return SYNTAX_ERROR
    count = -1
    j = where_at + 1
    while j < len(argv):
        if count == -1 and argv[j].lower() == b"count" and j + 1 < len(argv):
            j += 1
            parsed = bounded_int(argv[j], 1, LLONG_MAX)
            if parsed is None:
                return COUNT_ERROR
            count = parsed
        else:
            return SYNTAX_ERROR
        j += 1
    return argv[numkeys_at + 1 : where_at], where, max(count, 1)


def lmpop(s: Client, argv: list[bytes]) -> bytes:
    """LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count]."""
    parsed = parse_mpop(argv, 1)
    if isinstance(parsed, bytes):
        return parsed
    keys, where, count = parsed
    for key in keys:
        items = _read(s, key)
        if items:
            return pop_count_reply(s.store, key, items, where, count)
    return s.null_array


_W = ("write",)
_WD = ("write", "denyoom")
_R = ("readonly",)
_RF = ("readonly", "fast")
_WF = ("write", "fast")
_WDF = ("write", "denyoom", "fast")
_ONE_KEY = (1, 1, 1)

COMMANDS: list[Command] = [
    Command("lpush", -3, lpush, _WDF, _ONE_KEY),
    Command("rpush", -3, rpush, _WDF, _ONE_KEY),
    Command("lpushx", -3, lpushx, _WDF, _ONE_KEY),
    Command("rpushx", -3, rpushx, _WDF, _ONE_KEY),
    Command("lpop", -2, lpop, _WF, _ONE_KEY),
    Command("rpop", -2, rpop, _WF, _ONE_KEY),
    Command("llen", 2, llen, _RF, _ONE_KEY),
    Command("lrange", 4, lrange, _R, _ONE_KEY),
    Command("lindex", 3, lindex, _R, _ONE_KEY),
    Command("lset", 4, lset, _WD, _ONE_KEY),
    Command("linsert", 5, linsert, _WD, _ONE_KEY),
    Command("lrem", 4, lrem, _W, _ONE_KEY),
    Command("ltrim", 4, ltrim, _W, _ONE_KEY),
    Command("lpos", -3, lpos, _R, _ONE_KEY),
    Command("lmove", 5, lmove, _WD, (1, 2, 1)),
    Command("rpoplpush", 3, rpoplpush, _WD, (1, 2, 1)),
    Command("lmpop", -4, lmpop, _W, (0, 0, 0)),
]
