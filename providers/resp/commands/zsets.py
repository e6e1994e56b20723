"""Sorted set commands (Redis 7.0): ZADD and friends, ranks, ranges by rank, score and lex,
removals, pops (and BZPOPMIN/BZPOPMAX/BZMPOP), ZRANGESTORE.

Scores are C doubles printed as Redis 7.0 prints them (``%.17g``; ``inf``);
RESP3 gets them as doubles (``,``) and WITHSCORES pairs as nested arrays.
"""

from __future__ import annotations

import math
import random
import re

from ...datatypes.zset import LexBound, ZSet
from ...kvstore import Store, WrongType, compile_glob
from ..replies import EMPTY_ARRAY, ZERO, bulk, error, integer
from ._base import (
    LLONG_MAX,
    NOT_FLOAT,
    NOT_INTEGER,
    SYNTAX_ERROR,
    Client,
    Command,
    Serve,
    bounded_int,
    c_string,
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
    digits = hexa[2:] if hexa is not None else decimal
    mantissa = re.split(rb"[eEpP]", digits)[0]
    erange = math.isinf(value) or (value == 0 and mantissa.strip(b"0.") != b"")
    return (-value if negative else value), erange


def parse_score(text: bytes) -> float | None:
    """Redis's ``string2d`` (ZADD's scores, ZINCRBY's increment): the double, or None."""
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


def format_score(score: float, resp3: bool) -> bytes:
    """Redis 7.0's ``addReplyDouble``."""
    text = (b"inf" if score > 0 else b"-inf") if math.isinf(score) else b"%.17g" % score
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

_ZADD_FLAGS = {b"nx", b"xx", b"ch", b"incr", b"gt", b"lt"}


def _zadd_arguments(
    argv: list[bytes], flags: set[bytes], at: int
) -> list[tuple[float, bytes]] | bytes:
    """ZADD's options (into ``flags``) and (score, member) pairs, or the error reply."""
    while at < len(argv):
        option = argv[at].lower()
        if option not in _ZADD_FLAGS:
            break
        flags.add(option)
        at += 1
    elements = len(argv) - at
    if elements % 2 or not elements:
        return SYNTAX_ERROR
    nx, xx, gt, lt = (name in flags for name in (b"nx", b"xx", b"gt", b"lt"))
    if nx and xx:
        return error(b"ERR XX and NX options at the same time are not compatible")
    if (gt and nx) or (lt and nx) or (gt and lt):
        return error(b"ERR GT, LT, and/or NX options at the same time are not compatible")
    if b"incr" in flags and elements > 2:
        return error(b"ERR INCR option supports a single increment-element pair")
    scores = []
    for j in range(at, len(argv), 2):
        score = parse_score(argv[j])
        if score is None:
            return NOT_FLOAT
        scores.append((score, argv[j + 1]))
    return scores


def _zadd(s: Client, argv: list[bytes], flags: set[bytes], at: int) -> bytes:
    scores = _zadd_arguments(argv, flags, at)
    if isinstance(scores, bytes):
        return scores
    nx, xx, gt, lt, incr = (name in flags for name in (b"nx", b"xx", b"gt", b"lt", b"incr"))
    key = argv[1]
    store = s.store
    zset = _read(s, key)
    added = updated = processed = 0
    result = 0.0
    reply: bytes | None = None
    if zset is not None or not xx:
        zset = store.write_container(key, ZSet)
        for score, member in scores:
            current = zset.score(member)
            if current is None:
                if xx:
                    continue
                zset.add(member, score)
                added += 1
                processed += 1
                result = score
                continue
            if nx:
                continue
            new = score + current if incr else score
            if math.isnan(new):
                reply = NAN_ERROR
                break
            if (lt and new >= current) or (gt and new <= current):
                continue
            processed += 1
            result = new
            if new != current:
                zset.add(member, new)
                updated += 1
        if added or updated:
            store.container_written(key, b"zincr" if incr else b"zadd")
        elif not len(zset):
            store.container_written(key, b"zadd")  # created for nothing: removed again
    if reply is not None:
        return reply
    if incr:
        return format_score(result, s.resp3) if processed else s.null
    return integer(added + updated if b"ch" in flags else added)


def zadd(s: Client, argv: list[bytes]) -> bytes:
    """ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...]."""
    return _zadd(s, argv, set(), 2)


def zincrby(s: Client, argv: list[bytes]) -> bytes:
    """ZINCRBY key increment member."""
    return _zadd(s, argv, {b"incr"}, 2)


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


def _score_range(low: bytes, high: bytes) -> tuple[tuple[float, bool], tuple[float, bool]] | None:
    first, last = parse_range_score(low), parse_range_score(high)
    return None if first is None or last is None else (first, last)


def _score_span(zset: ZSet, span: tuple[tuple[float, bool], tuple[float, bool]]) -> range:
    (low, low_ex), (high, high_ex) = span
    if low > high or (low == high and (low_ex or high_ex)):
        return range(0)
    return range(*zset.score_bounds(low, low_ex, high, high_ex))


def _lex_span(zset: ZSet, low: LexBound, high: LexBound) -> range:
    if (
        isinstance(low, tuple)
        and isinstance(high, tuple)
        and (low[0] > high[0] or (low[0] == high[0] and (low[1] or high[1])))
    ):
        return range(0)
    return range(*zset.lex_bounds(low, high))


def zcount(s: Client, argv: list[bytes]) -> bytes:
    """ZCOUNT key min max."""
    span = _score_range(argv[2], argv[3])
    if span is None:
        return RANGE_NOT_FLOAT
    zset = _read(s, argv[1])
    return ZERO if zset is None else integer(len(_score_span(zset, span)))


def zlexcount(s: Client, argv: list[bytes]) -> bytes:
    """ZLEXCOUNT key min max."""
    low, high = parse_lex(argv[2]), parse_lex(argv[3])
    if low is None or high is None:
        return RANGE_NOT_LEX
    zset = _read(s, argv[1])
    return ZERO if zset is None else integer(len(_lex_span(zset, low, high)))


# -- ZRANGE and its older forms ---------------------------------------------------------

_RANK, _SCORE, _LEX = 1, 2, 3


def _rank_span(size: int, start: int, end: int) -> range:
    if start < 0:
        start += size
    if end < 0:
        end += size
    start = max(start, 0)
    if start > end or start >= size:
        return range(0)
    return range(start, min(end, size - 1) + 1)


def _select(
    zset: ZSet, kind: int, low: bytes, high: bytes, *, reverse: bool, limit: tuple[int, int] | None
) -> list[tuple[bytes, float]]:
    """The (member, score) pairs of the parsed range (arguments already checked)."""
    size = len(zset)
    if kind == _RANK:
        span = _rank_span(size, int(low), int(high))
        if not span:
            return []
        if reverse:
            return zset.at_reversed(span.start, span.stop)
        return zset.at(span.start, span.stop)
    if kind == _SCORE:
        scores = _score_range(low, high)
        assert scores is not None
        span = _score_span(zset, scores)
    else:
        first, last = parse_lex(low), parse_lex(high)
        assert first is not None and last is not None
        span = _lex_span(zset, first, last)
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
    if kind == _RANK:
        if bounded_int(low) is None or bounded_int(high) is None:
            return NOT_INTEGER
    elif kind == _SCORE:
        if _score_range(low, high) is None:
            return RANGE_NOT_FLOAT
    elif parse_lex(low) is None or parse_lex(high) is None:
        return RANGE_NOT_LEX
    zset = _read(s, key)
    pairs = [] if zset is None else _select(zset, kind, low, high, reverse=reverse, limit=limit)
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


def _zremrange(s: Client, argv: list[bytes], kind: int) -> bytes:
    low, high = argv[2], argv[3]
    if kind == _RANK:
        if bounded_int(low) is None or bounded_int(high) is None:
            return NOT_INTEGER
        event = b"zremrangebyrank"
    elif kind == _SCORE:
        if _score_range(low, high) is None:
            return RANGE_NOT_FLOAT
        event = b"zremrangebyscore"
    else:
        if parse_lex(low) is None or parse_lex(high) is None:
            return RANGE_NOT_LEX
        event = b"zremrangebylex"
    key = argv[1]
    zset = _read(s, key)
    if zset is None:
        return ZERO
    pairs = _select(zset, kind, low, high, reverse=False, limit=None)
    for member, _ in pairs:
        zset.remove(member)
    if pairs:
        s.store.container_written(key, event)
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
    zset = _read(s, key)
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
    keys = argv[1:-1]
    serve = _serving(where, 1, False, s.resp3)
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
    serve = _serving(where, count, True, s.resp3)
    for key in keys:
        reply = serve(s.store, key) if _read(s, key) is not None else None
        if reply is not None:
            return reply
    if s.deny_blocking:
        return s.null_array
    return block(s, keys, timeout, serve, s.null_array)


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
    count = bounded_int(argv[2])
    if count is None:
        return NOT_INTEGER
    if count < -LLONG_MAX:
        return error(
            b"ERR value is out of range, value must between -9223372036854775807 and "
            b"9223372036854775807"
        )
    if len(argv) > 4 or (len(argv) == 4 and argv[3].lower() != b"withscores"):
        return SYNTAX_ERROR
    withscores = len(argv) == 4
    if withscores and not -LLONG_MAX // 2 <= count <= LLONG_MAX // 2:
        return b"-ERR value is out of range\r\n"
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
    cursor = bounded_int(argv[2], 0, LLONG_MAX)
    if cursor is None:
        return b"-ERR invalid cursor\r\n"
    count, pattern = 10, None
    j = 3
    while j < len(argv):
        option = argv[j].lower()
        if j + 1 >= len(argv):
            return SYNTAX_ERROR
        if option == b"count":
            parsed = bounded_int(argv[j + 1])
            if parsed is None:
                return NOT_INTEGER
            if parsed < 1:
                return SYNTAX_ERROR
            count = parsed
        elif option == b"match":
            pattern = argv[j + 1]
        else:
            return SYNTAX_ERROR
        j += 2
    zset = _read(s, argv[1])
    if zset is None:
        return b"*2\r\n$1\r\n0\r\n*0\r\n"
    if zset.skiplist:
        pairs = zset.at(min(cursor, len(zset)), min(cursor + count, len(zset)))
        following = cursor + count if cursor + count < len(zset) else 0
    else:
        pairs, following = list(zset), 0
    if pattern is not None:
        match = compile_glob(pattern)
        pairs = [pair for pair in pairs if match(pair[0])]
    items = [
        bulk(member)
        + bulk(
            b"%.17g" % score
            if not math.isinf(score)
            else b"%s" % (b"inf" if score > 0 else b"-inf")
        )
        for member, score in pairs
    ]
    return b"*2\r\n" + bulk(b"%d" % following) + b"*%d\r\n" % (2 * len(pairs)) + b"".join(items)


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
    Command("bzpopmin", -3, bzpopmin, ("write", "fast", "blocking"), (1, -2, 1)),
    Command("bzpopmax", -3, bzpopmax, ("write", "fast", "blocking"), (1, -2, 1)),
    Command("bzmpop", -5, bzmpop, ("write", "blocking"), (0, 0, 0)),
]
