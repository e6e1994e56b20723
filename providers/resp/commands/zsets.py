"""Sorted set commands (Redis 7.0): ZADD and friends, ranks, ranges by rank, score and lex,
removals, pops (and BZPOPMIN/BZPOPMAX/BZMPOP), ZRANGESTORE.

Scores are C doubles printed as Redis 7.0 prints them (``%.17g``; ``inf``);
RESP3 gets them as doubles (``,``) and WITHSCORES pairs as nested arrays.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable

from ...datatypes.zset import LexBound, ZSet
from ...kvstore import Store, WrongType, compile_glob
from ..replies import EMPTY_ARRAY, ZERO, bulk, error, integer
from ._base import (
    NOT_FLOAT,
    NOT_INTEGER,
    SYNTAX_ERROR,
    Client,
    Command,
    Serve,
    bounded_int,
    c_string,
    random_count,
    scan_reply,
    scan_start,
)
from .blocking import block, parse_timeout
from .lists import parse_mpop, positive

__all__ = ["COMMANDS", "format_score", "parse_range_score", "parse_score"]

_STRTOD = re.compile(
    rb"([+-]?)(?:(0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?[0-9]+)?)"
    rb"|((?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)"
    rb"|(inf(?:inity)?)|(nan(?:\([0-9A-Za-z_]*\))?))",
    re.IGNORECASE,
)
_SPACE = b" \t\n\v\f\r"
NAN_ERROR = b"-ERR resulting score is not a number (NaN)\r\n"
RANGE_NOT_FLOAT = b"-ERR min or max is not a float\r\n"
RANGE_NOT_LEX = b"-ERR min or max not valid string range item\r\n"
_MIN, _MAX = 0, 1
_RANDOM = random.Random()


def _strtod(text: bytes) -> tuple[float, bool] | None:
    """C's ``strtod`` on the whole of ``text``: (value, out of range), or None (not all used)."""
    match = _STRTOD.fullmatch(text)
    if match is None:
        return None
    sign, hexa, decimal, infinity, _nan = match.groups()
    negative = sign == b"-"
    if infinity is not None:
        return (-math.inf if negative else math.inf), False
    if hexa is None and decimal is None:
        return math.nan, False
    try:
        value = float.fromhex(hexa.decode()) if hexa is not None else float(decimal)
    except OverflowError:
        return (-math.inf if negative else math.inf), True
    erange = math.isinf(value)
    if value == 0:  # an underflow when a digit of the mantissa is not 0
        digits = hexa[2:] if hexa is not None else decimal
        erange = re.split(rb"[eEpP]", digits)[0].strip(b"0.") != b""
    return (-value if negative else value), erange


def parse_score(text: bytes) -> float | None:
    """Redis's ``string2d`` (ZADD's scores, ZINCRBY's increment): the double, or None."""
    if text.isdigit() and len(text) < 300:  # the common case, where float() is strtod
        return float(text)
    if not text or text[0] in _SPACE:
        return None
    parsed = _strtod(text)
    if parsed is None:
        return None
    value, erange = parsed
    if erange or math.isnan(value):
        return None
    return value


def parse_range_score(text: bytes) -> tuple[float, bool] | None:
    """One end of a score range (``zslParseRange``): (value, exclusive), or None."""
    text = c_string(text)
    exclusive = text[:1] == b"("
    if exclusive:
        text = text[1:]
    if not text:
        return 0.0, exclusive  # strtod converts nothing and stops at the NUL
    parsed = _strtod(text.lstrip(_SPACE))
    if parsed is None or math.isnan(parsed[0]):
        return None
    return parsed[0], exclusive


def parse_lex(text: bytes) -> LexBound | None:
    """One end of a lex range (``zslParseLexRangeItem``), or None."""
    first = text[:1]
    if first in (b"+", b"-"):
        if c_string(text) != first:
            return None
        return first == b"+"
    if first == b"(":
        return text[1:], True
    if first == b"[":
        return text[1:], False
    return None


def _score_text(score: float) -> bytes:
    """A score as Redis 7.0 prints it (``%.17g``, ``inf``, ``-inf``)."""
    return (b"inf" if score > 0 else b"-inf") if math.isinf(score) else b"%.17g" % score


def format_score(score: float, resp3: bool) -> bytes:
    """Redis 7.0's ``addReplyDouble``."""
    text = _score_text(score)
    if resp3:
        return b",%s\r\n" % text
    return b"$%d\r\n%s\r\n" % (len(text), text)


def _read(s: Client, key: bytes) -> ZSet | None:
    return s.store.read_container(key, ZSet)


def _pairs(pairs: list[tuple[bytes, float]], withscores: bool, resp3: bool) -> bytes:
    """Members (and scores: flat in RESP2, nested pairs in RESP3)."""
    if not withscores:
        return b"*%d\r\n" % len(pairs) + b"".join([bulk(member) for member, _ in pairs])
    if resp3:
        return b"*%d\r\n" % len(pairs) + b"".join(
            [b"*2\r\n" + bulk(member) + format_score(score, True) for member, score in pairs]
        )
    return b"*%d\r\n" % (2 * len(pairs)) + b"".join(
        [bulk(member) + format_score(score, False) for member, score in pairs]
    )


# -- ZADD, ZINCRBY, ZREM, reads -------------------------------------------------------

_NX, _XX, _CH, _INCR, _GT, _LT = 1, 2, 4, 8, 16, 32
_ZADD_FLAGS = {b"nx": _NX, b"xx": _XX, b"ch": _CH, b"incr": _INCR, b"gt": _GT, b"lt": _LT}


def _zadd_arguments(argv: list[bytes], flags: int) -> tuple[int, list[tuple[float, bytes]]] | bytes:
    """ZADD's options (added to ``flags``) and (score, member) pairs, or the error reply."""
    at, argc = 2, len(argv)
    while at < argc:
        flag = _ZADD_FLAGS.get(argv[at].lower())
        if flag is None:
            break
        flags |= flag
        at += 1
    elements = argc - at
    if elements % 2 or not elements:
        return SYNTAX_ERROR
    if flags:
        if flags & _NX and flags & _XX:
            return error(b"ERR XX and NX options at the same time are not compatible")
        if (flags & _NX and flags & (_GT | _LT)) or (flags & _GT and flags & _LT):
            return error(b"ERR GT, LT, and/or NX options at the same time are not compatible")
        if flags & _INCR and elements > 2:
            return error(b"ERR INCR option supports a single increment-element pair")
    pairs = []
    for j in range(at, argc, 2):
        score = parse_score(argv[j])
        if score is None:
            return NOT_FLOAT
        pairs.append((score, argv[j + 1]))
    return flags, pairs


def _zadd(s: Client, argv: list[bytes], flags: int) -> bytes:
    parsed = _zadd_arguments(argv, flags)
    if isinstance(parsed, bytes):
        return parsed
    flags, pairs = parsed
    key = argv[1]
    store = s.store
    zset = store.read_container(key, ZSet)
    created = zset is None
    if zset is None:
        if flags & _XX:
            return s.null if flags & _INCR else ZERO
        zset = store.write_container(key, ZSet)
    added = updated = processed = 0
    result = 0.0
    reply: bytes | None = None
    if not flags & ~_CH:  # no condition, no increment: each member takes its score
        for score, member in pairs:
            current = zset.score(member)
            if current is None:
                zset.add(member, score)
                added += 1
            elif current != score:
                zset.add(member, score)
                updated += 1
    else:
        for score, member in pairs:
            current = zset.score(member)
            if current is None:
                if flags & _XX:
                    continue
                zset.add(member, score)
                added += 1
                processed += 1
                result = score
                continue
            if flags & _NX:
                continue
            new = score + current if flags & _INCR else score
            if math.isnan(new):  # inf + -inf
                reply = NAN_ERROR
                break
            if (flags & _LT and new >= current) or (flags & _GT and new <= current):
                continue
            processed += 1
            result = new
            if new != current:
                zset.add(member, new)
                updated += 1
    if added or updated:
        store.container_written(key, b"zincr" if flags & _INCR else b"zadd")
    elif created:
        store.container_written(key, b"zadd")  # created for nothing: removed again
    if reply is not None:
        return reply
    if flags & _INCR:
        return format_score(result, s.resp3) if processed else s.null
    return integer(added + updated if flags & _CH else added)


def zadd(s: Client, argv: list[bytes]) -> bytes:
    """ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...]."""
    return _zadd(s, argv, 0)


def zincrby(s: Client, argv: list[bytes]) -> bytes:
    """ZINCRBY key increment member."""
    return _zadd(s, argv, _INCR)


def zrem(s: Client, argv: list[bytes]) -> bytes:
    """ZREM key member [member ...]."""
    key = argv[1]
    zset = _read(s, key)
    if zset is None:
        return ZERO
    removed = 0
    for member in argv[2:]:
        removed += zset.remove(member)
        if not len(zset):
            break
    if removed:
        s.store.container_written(key, b"zrem")
    return integer(removed)


def zscore(s: Client, argv: list[bytes]) -> bytes:
    """ZSCORE key member."""
    zset = _read(s, argv[1])
    score = zset.score(argv[2]) if zset is not None else None
    return s.null if score is None else format_score(score, s.resp3)


def zmscore(s: Client, argv: list[bytes]) -> bytes:
    """ZMSCORE key member [member ...]."""
    zset = _read(s, argv[1])
    parts = [b"*%d\r\n" % (len(argv) - 2)]
    for member in argv[2:]:
        score = zset.score(member) if zset is not None else None
        parts.append(s.null if score is None else format_score(score, s.resp3))
    return b"".join(parts)


def zcard(s: Client, argv: list[bytes]) -> bytes:
    """ZCARD key."""
    zset = _read(s, argv[1])
    return ZERO if zset is None else integer(len(zset))


def _rank(s: Client, argv: list[bytes], reverse: bool) -> bytes:
    zset = _read(s, argv[1])
    rank = zset.rank(argv[2]) if zset is not None else None
    if rank is None or zset is None:
        return s.null
    return integer(len(zset) - 1 - rank if reverse else rank)


def zrank(s: Client, argv: list[bytes]) -> bytes:
    """ZRANK key member."""
    return _rank(s, argv, False)


def zrevrank(s: Client, argv: list[bytes]) -> bytes:
    """ZREVRANK key member."""
    return _rank(s, argv, True)


Span = Callable[[ZSet], range]
"""A parsed range (by score, lex or rank): the rank span it covers in a sorted set."""


def _score_span(low: float, low_ex: bool, high: float, high_ex: bool) -> Span:
    def span(zset: ZSet) -> range:
        if low > high or (low == high and (low_ex or high_ex)):
            return range(0)
        return range(*zset.score_bounds(low, low_ex, high, high_ex))

    return span


def _lex_span(low: LexBound, high: LexBound, reverse: bool) -> Span:
    def span(zset: ZSet) -> range:
        if (
            isinstance(low, tuple)
            and isinstance(high, tuple)
            and (low[0] > high[0] or (low[0] == high[0] and (low[1] or high[1])))
        ):
            return range(0)
        return range(*zset.lex_bounds(low, high, reverse))

    return span


def _rank_span(start: int, end: int) -> Span:
    def span(zset: ZSet) -> range:
        size = len(zset)
        first = max(start + size if start < 0 else start, 0)
        last = end + size if end < 0 else end
        if first > last or first >= size:
            return range(0)
        return range(first, min(last, size - 1) + 1)

    return span


_RANK, _SCORE, _LEX = 1, 2, 3


def _parse_range(kind: int, low: bytes, high: bytes, reverse: bool = False) -> Span | bytes:
    """The range ``low``..``high`` by rank, score or lex (``kind``), or Redis's error reply;
    ``reverse``: for a walk from the end (a lex range on unequal scores depends on it)."""
    if kind == _RANK:
        start, end = bounded_int(low), bounded_int(high)
        if start is None or end is None:
            return NOT_INTEGER
        return _rank_span(start, end)
    if kind == _SCORE:
        first, last = parse_range_score(low), parse_range_score(high)
        if first is None or last is None:
            return RANGE_NOT_FLOAT
        return _score_span(*first, *last)
    lex_first, lex_last = parse_lex(low), parse_lex(high)
    if lex_first is None or lex_last is None:
        return RANGE_NOT_LEX
    return _lex_span(lex_first, lex_last, reverse)


def _count(s: Client, argv: list[bytes], kind: int) -> bytes:
    span = _parse_range(kind, argv[2], argv[3])
    if isinstance(span, bytes):
        return span
    zset = _read(s, argv[1])
    return ZERO if zset is None else integer(len(span(zset)))


def zcount(s: Client, argv: list[bytes]) -> bytes:
    """ZCOUNT key min max."""
    return _count(s, argv, _SCORE)


def zlexcount(s: Client, argv: list[bytes]) -> bytes:
    """ZLEXCOUNT key min max."""
    return _count(s, argv, _LEX)


# -- ZRANGE and its older forms ---------------------------------------------------------


def _select(
    zset: ZSet, kind: int, span_of: Span, *, reverse: bool, limit: tuple[int, int] | None
) -> list[tuple[bytes, float]]:
    """The (member, score) pairs of the parsed range."""
    size = len(zset)
    span = span_of(zset)
    if kind == _RANK:
        if not span:
            return []
        if reverse:
            return zset.at_reversed(span.start, span.stop)
        return zset.at(span.start, span.stop)
    offset, count = limit if limit is not None else (0, -1)
    if offset < 0 or (offset > 0 and offset >= size) or not span:
        return []
    if reverse:
        stop = span.stop - offset
        start = span.start if count < 0 else max(span.start, stop - count)
        return zset.at_reversed(size - stop, size - start) if stop > start else []
    start = span.start + offset
    stop = span.stop if count < 0 else min(span.stop, start + count)
    return zset.at(start, stop) if stop > start else []


def _zrange(
    s: Client, argv: list[bytes], at: int, kind: int, *, reverse: bool | None, store: bool
) -> bytes:
    """Redis's ``zrangeGenericCommand``: ``argv[at]`` is the source key, then min max options."""
    key = argv[at]
    withscores = False
    limit: tuple[int, int] | None = None
    j = at + 3
    while j < len(argv):
        option = argv[j].lower()
        left = len(argv) - j - 1
        if not store and option == b"withscores":
            withscores = True
        elif option == b"limit" and left >= 2:
            offset, count = bounded_int(argv[j + 1]), bounded_int(argv[j + 2])
            if offset is None or count is None:
                return NOT_INTEGER
            limit = (offset, count)
            j += 2
        elif reverse is None and option == b"rev":
            reverse = True
        elif kind == 0 and option == b"bylex":
            kind = _LEX
        elif kind == 0 and option == b"byscore":
            kind = _SCORE
        else:
            return SYNTAX_ERROR
        j += 1
    reverse = bool(reverse)
    kind = kind or _RANK
    if limit is not None and limit[1] != -1 and kind == _RANK:
        return error(
            b"ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"
        )
    if withscores and kind == _LEX:
        return error(b"ERR syntax error, WITHSCORES not supported in combination with BYLEX")
    low, high = argv[at + 1], argv[at + 2]
    if reverse and kind != _RANK:
        low, high = high, low
    span = _parse_range(kind, low, high, reverse)
    if isinstance(span, bytes):
        return span
    zset = _read(s, key)
    pairs = [] if zset is None else _select(zset, kind, span, reverse=reverse, limit=limit)
    if store:
        target = argv[1]
        result = ZSet()
        for member, score in pairs:
            result.add(member, score)
        if pairs:
            s.store.set_value(target, result)
            s.store.notify(b"zrangestore", target)
        elif s.store.delete(target):
            pass
        return integer(len(pairs))
    if zset is None:
        return EMPTY_ARRAY
    return _pairs(pairs, withscores, s.resp3)


def zrange(s: Client, argv: list[bytes]) -> bytes:
    """ZRANGE key min max [BYSCORE|BYLEX] [REV] [LIMIT offset count] [WITHSCORES]."""
    return _zrange(s, argv, 1, 0, reverse=None, store=False)


def zrangestore(s: Client, argv: list[bytes]) -> bytes:
    """ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count]."""
    return _zrange(s, argv, 2, 0, reverse=None, store=True)


def zrevrange(s: Client, argv: list[bytes]) -> bytes:
    """ZREVRANGE key start stop [WITHSCORES]."""
    return _zrange(s, argv, 1, _RANK, reverse=True, store=False)


def zrangebyscore(s: Client, argv: list[bytes]) -> bytes:
    """ZRANGEBYSCORE key min max [WITHSCORES] [LIMIT offset count]."""
    return _zrange(s, argv, 1, _SCORE, reverse=False, store=False)


def zrevrangebyscore(s: Client, argv: list[bytes]) -> bytes:
    """ZREVRANGEBYSCORE key max min [WITHSCORES] [LIMIT offset count]."""
    return _zrange(s, argv, 1, _SCORE, reverse=True, store=False)


def zrangebylex(s: Client, argv: list[bytes]) -> bytes:
    """ZRANGEBYLEX key min max [LIMIT offset count]."""
    return _zrange(s, argv, 1, _LEX, reverse=False, store=False)


def zrevrangebylex(s: Client, argv: list[bytes]) -> bytes:
    """ZREVRANGEBYLEX key max min [LIMIT offset count]."""
    return _zrange(s, argv, 1, _LEX, reverse=True, store=False)


# -- removals by range ------------------------------------------------------------------


_REMOVALS = {_RANK: b"zremrangebyrank", _SCORE: b"zremrangebyscore", _LEX: b"zremrangebylex"}


def _zremrange(s: Client, argv: list[bytes], kind: int) -> bytes:
    span = _parse_range(kind, argv[2], argv[3])
    if isinstance(span, bytes):
        return span
    key = argv[1]
    zset = _read(s, key)
    if zset is None:
        return ZERO
    pairs = _select(zset, kind, span, reverse=False, limit=None)
    for member, _ in pairs:
        zset.remove(member)
    if pairs:
        s.store.container_written(key, _REMOVALS[kind])
    return integer(len(pairs))


def zremrangebyrank(s: Client, argv: list[bytes]) -> bytes:
    """ZREMRANGEBYRANK key start stop."""
    return _zremrange(s, argv, _RANK)


def zremrangebyscore(s: Client, argv: list[bytes]) -> bytes:
    """ZREMRANGEBYSCORE key min max."""
    return _zremrange(s, argv, _SCORE)


def zremrangebylex(s: Client, argv: list[bytes]) -> bytes:
    """ZREMRANGEBYLEX key min max."""
    return _zremrange(s, argv, _LEX)


# -- pops -------------------------------------------------------------------------------


def _pop(store: Store, key: bytes, zset: ZSet, where: int, count: int) -> list[tuple[bytes, float]]:
    popped = [zset.pop(where == _MAX) for _ in range(min(count, len(zset)))]
    store.container_written(key, b"zpopmax" if where == _MAX else b"zpopmin")
    return popped


def _pop_reply(
    pairs: list[tuple[bytes, float]], key: bytes | None, nested: bool, resp3: bool
) -> bytes:
    """``genericZpopCommand``'s reply shapes (with the key for ZMPOP and BZPOP*)."""
    if nested:
        body = b"*%d\r\n" % len(pairs) + b"".join(
            [b"*2\r\n" + bulk(member) + format_score(score, resp3) for member, score in pairs]
        )
        return body if key is None else b"*2\r\n" + bulk(key) + body
    flat = b"".join([bulk(member) + format_score(score, resp3) for member, score in pairs])
    if key is None:
        return b"*%d\r\n" % (2 * len(pairs)) + flat
    return b"*%d\r\n" % (2 * len(pairs) + 1) + bulk(key) + flat


def _zpop(s: Client, argv: list[bytes], where: int) -> bytes:
    if len(argv) > 3:
        return SYNTAX_ERROR
    count = -1
    if len(argv) == 3:
        parsed = positive(argv[2])
        if isinstance(parsed, bytes):
            return parsed
        count = parsed
    key = argv[1]
    zset = s.store.read_container(key, ZSet)
    if zset is None or count == 0:
        return EMPTY_ARRAY
    pairs = _pop(s.store, key, zset, where, max(count, 1))
    return _pop_reply(pairs, None, s.resp3 and count != -1, s.resp3)


def zpopmin(s: Client, argv: list[bytes]) -> bytes:
    """ZPOPMIN key [count]."""
    return _zpop(s, argv, _MIN)


def zpopmax(s: Client, argv: list[bytes]) -> bytes:
    """ZPOPMAX key [count]."""
    return _zpop(s, argv, _MAX)


_SIDES = {b"min": _MIN, b"max": _MAX}


def zmpop(s: Client, argv: list[bytes]) -> bytes:
    """ZMPOP numkeys key [key ...] MIN|MAX [COUNT count]."""
    parsed = parse_mpop(argv, 1, _SIDES)
    if isinstance(parsed, bytes):
        return parsed
    keys, where, count = parsed
    for key in keys:
        zset = _read(s, key)
        if zset is not None:
            return _pop_reply(_pop(s.store, key, zset, where, count), key, True, s.resp3)
    return s.null_array


def _serving(where: int, count: int, nested: bool, resp3: bool) -> Serve:
    def serve(store: Store, key: bytes) -> bytes | None:
        try:
            zset = store.read_container(key, ZSet)
        except WrongType:
            return None
        if not zset:
            return None
        return _pop_reply(_pop(store, key, zset, where, count), key, nested, resp3)

    return serve


def _bzpop(s: Client, argv: list[bytes], where: int) -> bytes:
    timeout = parse_timeout(argv[-1])
    if isinstance(timeout, bytes):
        return timeout
    return _pop_or_block(s, argv[1:-1], timeout, _serving(where, 1, False, s.resp3))


def _pop_or_block(s: Client, keys: list[bytes], timeout: float | None, serve: Serve) -> bytes:
    """Serve from the first of ``keys`` holding a sorted set, else block on them all."""
    for key in keys:
        reply = serve(s.store, key) if _read(s, key) is not None else None
        if reply is not None:
            return reply
    if s.deny_blocking:
        return s.null_array
    return block(s, keys, timeout, serve, s.null_array)


def bzpopmin(s: Client, argv: list[bytes]) -> bytes:
    """BZPOPMIN key [key ...] timeout."""
    return _bzpop(s, argv, _MIN)


def bzpopmax(s: Client, argv: list[bytes]) -> bytes:
    """BZPOPMAX key [key ...] timeout."""
    return _bzpop(s, argv, _MAX)


def bzmpop(s: Client, argv: list[bytes]) -> bytes:
    """BZMPOP timeout numkeys key [key ...] MIN|MAX [COUNT count]."""
    parsed = parse_mpop(argv, 2, _SIDES)
    if isinstance(parsed, bytes):
        return parsed
    keys, where, count = parsed
    timeout = parse_timeout(argv[1])
    if isinstance(timeout, bytes):
        return timeout
    return _pop_or_block(s, keys, timeout, _serving(where, count, True, s.resp3))


# -- set operations ----------------------------------------------------------------------

_UNION, _INTER, _DIFF = 1, 2, 3
_AGGREGATES = {b"sum", b"min", b"max"}


def _source(store: Store, key: bytes) -> ZSet | set[bytes] | None:
    """A sorted set, or a set (its members score 1), or None; WRONGTYPE for other types."""
    kind = store.type_of(key)
    if kind == b"none":
        return None
    if kind == b"set":
        value = store.value_of(key)
        assert isinstance(value, set)
        return value
    return store.read_container(key, ZSet)  # raises WrongType for the rest


def _members(source: ZSet | set[bytes]) -> list[tuple[bytes, float]]:
    if isinstance(source, ZSet):
        return list(source)
    return [(member, 1.0) for member in source]


def _score_in(source: ZSet | set[bytes], member: bytes) -> float | None:
    if isinstance(source, ZSet):
        return source.score(member)
    return 1.0 if member in source else None


def _aggregate(current: float, value: float, how: bytes) -> float:
    if how == b"sum":
        total = current + value
        return 0.0 if math.isnan(total) else total
    return min(current, value) if how == b"min" else max(current, value)


def _combine(
    sources: list[ZSet | set[bytes] | None], weights: list[float], op: int, how: bytes
) -> dict[bytes, float]:
    """Redis's ``zunionInterDiffGenericCommand`` arithmetic, in its order of sources."""
    result: dict[bytes, float] = {}
    if op == _DIFF:
        first = sources[0]
        if first is None:
            return result
        others = [source for source in sources[1:] if source is not None]
        return {
            member: score
            for member, score in _members(first)
            if not any(_score_in(other, member) is not None for other in others)
        }
    # By cardinality, ascending (a stable sort, as glibc's qsort on small arrays).
    order = sorted(range(len(sources)), key=lambda i: len(sources[i] or ()))
    if op == _UNION:
        for index in order:
            source = sources[index]
            if source is None:
                continue
            for member, score in _members(source):
                value = weights[index] * score
                if math.isnan(value):
                    value = 0.0
                found = result.get(member)
                result[member] = value if found is None else _aggregate(found, value, how)
        return result
    first_index = order[0]
    first = sources[first_index]
    if first is None:
        return result
    for member, score in _members(first):
        value = weights[first_index] * score
        if math.isnan(value):
            value = 0.0
        for index in order[1:]:
            source = sources[index]
            other = _score_in(source, member) if source is not None else None
            if other is None:
                break
            value = _aggregate(value, weights[index] * other, how)
        else:
            result[member] = value
    return result


def _setop(s: Client, argv: list[bytes], at: int, op: int, *, store: bool, card: bool) -> bytes:
    """ZUNION, ZINTER, ZDIFF, their STORE forms and ZINTERCARD; ``argv[at]`` is numkeys."""
    count = bounded_int(argv[at])
    if count is None:
        return NOT_INTEGER
    if count < 1:
        name = argv[0].lower()
        return error(b"ERR at least 1 input key is needed for '%s' command" % name)
    if count > len(argv) - at - 1:
        return SYNTAX_ERROR
    keys = argv[at + 1 : at + 1 + count]
    sources = [_source(s.store, key) for key in keys]
    weights = [1.0] * count
    how = b"sum"
    withscores = False
    limit = 0
    j = at + 1 + count
    while j < len(argv):
        option = argv[j].lower()
        left = len(argv) - j
        if op != _DIFF and not card and left >= count + 1 and option == b"weights":
            for i in range(count):
                weight = parse_score(argv[j + 1 + i])
                if weight is None:
                    return b"-ERR weight value is not a float\r\n"
                weights[i] = weight
            j += count + 1
        elif op != _DIFF and not card and left >= 2 and option == b"aggregate":
            how = argv[j + 1].lower()
            if how not in _AGGREGATES:
                return SYNTAX_ERROR
            j += 2
        elif not store and not card and option == b"withscores":
            withscores = True
            j += 1
        elif card and left >= 2 and option == b"limit":
            found = positive(argv[j + 1], b"-ERR LIMIT can't be negative\r\n")
            if isinstance(found, bytes):
                return found
            limit = found
            j += 2
        else:
            return SYNTAX_ERROR
    combined = _combine(sources, weights, op, how)
    if card:
        return integer(min(len(combined), limit) if limit else len(combined))
    result = ZSet()
    for member, score in combined.items():
        result.add(member, score)
    if store:
        target = argv[1]
        if len(result):
            s.store.set_value(target, result)
            names = {_UNION: b"zunionstore", _INTER: b"zinterstore", _DIFF: b"zdiffstore"}
            s.store.notify(names[op], target)
        else:
            s.store.delete(target)
        return integer(len(result))
    return _pairs(list(result), withscores, s.resp3)


def zunion(s: Client, argv: list[bytes]) -> bytes:
    """ZUNION numkeys key [key ...] [WEIGHTS w ...] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]."""
    return _setop(s, argv, 1, _UNION, store=False, card=False)


def zinter(s: Client, argv: list[bytes]) -> bytes:
    """ZINTER numkeys key [key ...] [WEIGHTS w ...] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]."""
    return _setop(s, argv, 1, _INTER, store=False, card=False)


def zdiff(s: Client, argv: list[bytes]) -> bytes:
    """ZDIFF numkeys key [key ...] [WITHSCORES]."""
    return _setop(s, argv, 1, _DIFF, store=False, card=False)


def zunionstore(s: Client, argv: list[bytes]) -> bytes:
    """ZUNIONSTORE destination numkeys key [key ...] [WEIGHTS w ...] [AGGREGATE ...]."""
    return _setop(s, argv, 2, _UNION, store=True, card=False)


def zinterstore(s: Client, argv: list[bytes]) -> bytes:
    """ZINTERSTORE destination numkeys key [key ...] [WEIGHTS w ...] [AGGREGATE ...]."""
    return _setop(s, argv, 2, _INTER, store=True, card=False)


def zdiffstore(s: Client, argv: list[bytes]) -> bytes:
    """ZDIFFSTORE destination numkeys key [key ...]."""
    return _setop(s, argv, 2, _DIFF, store=True, card=False)


def zintercard(s: Client, argv: list[bytes]) -> bytes:
    """ZINTERCARD numkeys key [key ...] [LIMIT limit]."""
    return _setop(s, argv, 1, _INTER, store=False, card=True)


# -- ZRANDMEMBER, ZSCAN --------------------------------------------------------------------


def zrandmember(s: Client, argv: list[bytes]) -> bytes:
    """ZRANDMEMBER key [count [WITHSCORES]] (Redis's cases: distinct members for a positive
    count, repeats allowed for a negative one)."""
    if len(argv) == 2:
        zset = _read(s, argv[1])
        if zset is None:
            return s.null
        index = _RANDOM.randrange(len(zset))
        return bulk(zset.at(index, index + 1)[0][0])
    parsed = random_count(argv, b"withscores")
    if isinstance(parsed, bytes):
        return parsed
    count, withscores = parsed
    zset = _read(s, argv[1])
    if zset is None or count == 0:
        return EMPTY_ARRAY
    size = len(zset)
    if count < 0:
        picks = [_RANDOM.randrange(size) for _ in range(-count)]
    elif count >= size:
        picks = list(range(size - 1, -1, -1))  # the whole set, walked from the tail as Redis
    else:
        picks = _RANDOM.sample(range(size), count)
    pairs = [zset.at(index, index + 1)[0] for index in picks]
    return _pairs(pairs, withscores, s.resp3)


def zscan(s: Client, argv: list[bytes]) -> bytes:
    """ZSCAN key cursor [MATCH pattern] [COUNT count].

    A small sorted set (Redis's listpack) comes whole in one call with cursor 0, as in
    Redis; a large one is walked in score order, ``count`` members a call.
    """
    started = scan_start(s, argv, ZSet)
    if isinstance(started, bytes):
        return started
    zset, cursor, count, pattern = started
    size = len(zset)
    if zset.skiplist:
        pairs = zset.at(min(cursor, size), min(cursor + count, size))
        following = cursor + count if cursor + count < size else 0
    else:
        pairs, following = list(zset), 0
    if pattern is not None:
        match = compile_glob(pattern)
        pairs = [pair for pair in pairs if match(pair[0])]
    return scan_reply(following, [item for m, score in pairs for item in (m, _score_text(score))])


_R = ("readonly",)
_RF = ("readonly", "fast")
_W = ("write",)
_WF = ("write", "fast")
_WDF = ("write", "denyoom", "fast")
_ONE_KEY = (1, 1, 1)

COMMANDS: list[Command] = [
    Command("zadd", -4, zadd, _WDF, _ONE_KEY),
    Command("zincrby", 4, zincrby, _WDF, _ONE_KEY),
    Command("zrem", -3, zrem, _WF, _ONE_KEY),
    Command("zscore", 3, zscore, _RF, _ONE_KEY),
    Command("zmscore", -3, zmscore, _RF, _ONE_KEY),
    Command("zcard", 2, zcard, _RF, _ONE_KEY),
    Command("zcount", 4, zcount, _RF, _ONE_KEY),
    Command("zlexcount", 4, zlexcount, _RF, _ONE_KEY),
    Command("zrank", 3, zrank, _RF, _ONE_KEY),
    Command("zrevrank", 3, zrevrank, _RF, _ONE_KEY),
    Command("zrange", -4, zrange, _R, _ONE_KEY),
    Command("zrangestore", -5, zrangestore, ("write", "denyoom"), (1, 2, 1)),
    Command("zrevrange", -4, zrevrange, _R, _ONE_KEY),
    Command("zrangebyscore", -4, zrangebyscore, _R, _ONE_KEY),
    Command("zrevrangebyscore", -4, zrevrangebyscore, _R, _ONE_KEY),
    Command("zrangebylex", -4, zrangebylex, _R, _ONE_KEY),
    Command("zrevrangebylex", -4, zrevrangebylex, _R, _ONE_KEY),
    Command("zremrangebyrank", 4, zremrangebyrank, _W, _ONE_KEY),
    Command("zremrangebyscore", 4, zremrangebyscore, _W, _ONE_KEY),
    Command("zremrangebylex", 4, zremrangebylex, _W, _ONE_KEY),
    Command("zunion", -3, zunion, _R, (0, 0, 0)),
    Command("zinter", -3, zinter, _R, (0, 0, 0)),
    Command("zdiff", -3, zdiff, _R, (0, 0, 0)),
    Command("zunionstore", -4, zunionstore, ("write", "denyoom"), (1, 1, 1)),
    Command("zinterstore", -4, zinterstore, ("write", "denyoom"), (1, 1, 1)),
    Command("zdiffstore", -4, zdiffstore, ("write", "denyoom"), (1, 1, 1)),
    Command("zintercard", -3, zintercard, _R, (0, 0, 0)),
    Command("zrandmember", -2, zrandmember, _R, _ONE_KEY),
    Command("zscan", -3, zscan, _R, _ONE_KEY),
    Command("zpopmin", -2, zpopmin, _WF, _ONE_KEY),
    Command("zpopmax", -2, zpopmax, _WF, _ONE_KEY),
    Command("zmpop", -4, zmpop, _W, (0, 0, 0)),
    Command("bzpopmin", -3, bzpopmin, ("write", "noscript", "fast", "blocking"), (1, -2, 1)),
    Command("bzpopmax", -3, bzpopmax, ("write", "noscript", "fast", "blocking"), (1, -2, 1)),
    Command("bzmpop", -5, bzmpop, ("write", "blocking"), (0, 0, 0)),
]
