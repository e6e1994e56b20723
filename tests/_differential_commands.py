"""Hypothesis strategies for Redis command sequences over a small key space, every type.

Used by the differential harness (``tests/e2e/test_differential_redis.py``, bounded for CI)
and by ``benchmarks/differential.py`` (long runs). Every command here is deterministic on
both servers: no generated stream IDs, no idle times, no random members, no wall-clock
reads; expiry uses far-future absolute times and PERSIST, so the clock never decides.
"""

from __future__ import annotations

from hypothesis import strategies as st

__all__ = ["SEQUENCES", "commands"]

KEYS = ["k1", "k2", "k3", "{t}a", "{t}b"]
key = st.sampled_from(KEYS)
small = st.integers(min_value=-3, max_value=6).map(str)
member = st.sampled_from(["a", "b", "c", "1", "2", "10", ""])
value = st.one_of(member, st.binary(max_size=4), st.integers(-5, 300).map(str))
score = st.one_of(
    st.integers(-3, 3).map(str), st.sampled_from(["1.5", "-inf", "+inf", "nan", "x", "(1"])
)
index = st.integers(-4, 4).map(str)
FAR = "4102444800"  # 2100-01-01: an expiry the test never reaches


def _flat(*parts: object) -> tuple[str | bytes, ...]:
    out: list[str | bytes] = []
    for part in parts:
        if isinstance(part, (list, tuple)):
            out.extend(part)  # type: ignore[arg-type]
        else:
            out.append(part)  # type: ignore[arg-type]
    return tuple(out)


def _c(*parts: st.SearchStrategy[object] | object) -> st.SearchStrategy[tuple[str | bytes, ...]]:
    strategies = [part if isinstance(part, st.SearchStrategy) else st.just(part) for part in parts]
    return st.tuples(*strategies).map(lambda drawn: _flat(*drawn))


def _many(
    strategy: st.SearchStrategy[object], low: int = 1, high: int = 3
) -> st.SearchStrategy[list[object]]:
    return st.lists(strategy, min_size=low, max_size=high)


def _pairs(
    a: st.SearchStrategy[object], b: st.SearchStrategy[object]
) -> st.SearchStrategy[list[object]]:
    return st.lists(st.tuples(a, b), min_size=1, max_size=3).map(
        lambda pairs: [item for pair in pairs for item in pair]
    )


STRINGS = [
    _c("SET", key, value),
    _c("GET", key),
    _c("APPEND", key, value),
    _c("INCR", key),
    _c("INCRBY", key, small),
    _c("STRLEN", key),
    _c("GETRANGE", key, index, index),
    _c("SETRANGE", key, st.integers(0, 5).map(str), value),
    _c("MSET", _pairs(key, value)),
    _c("MGET", _many(key)),
    _c("GETDEL", key),
    _c("SETNX", key, value),
    _c(
        "LCS",
        key,
        key,
        st.sampled_from(
            [[], ["LEN"], ["IDX"], ["IDX", "WITHMATCHLEN"], ["IDX", "MINMATCHLEN", "2"]]
        ),
    ),
]
KEYSPACE = [
    _c("DEL", _many(key)),
    _c("EXISTS", _many(key)),
    _c("TYPE", key),
    _c("RENAME", key, key),
    _c("RENAMENX", key, key),
    _c("EXPIREAT", key, FAR, st.sampled_from([[], ["NX"], ["XX"], ["GT"], ["LT"]])),
    _c("PERSIST", key),
    _c("EXPIRETIME", key),
    _c("KEYS", st.sampled_from(["*", "k?", "{t}*", "x"])),
    _c("DBSIZE"),
]
BITMAPS = [
    _c("SETBIT", key, st.integers(0, 20).map(str), st.sampled_from(["0", "1"])),
    _c("GETBIT", key, st.integers(0, 20).map(str)),
    _c("BITCOUNT", key),
    _c("BITPOS", key, st.sampled_from(["0", "1"])),
    _c("BITOP", st.sampled_from(["AND", "OR", "XOR"]), key, _many(key)),
]
HYPERLOGLOG = [
    _c("PFADD", key, _many(member, 0, 3)),
    _c("PFCOUNT", _many(key)),
    _c("PFMERGE", key, _many(key)),
]
STREAMS = [
    _c("XADD", key, st.integers(1, 9).map(lambda ms: f"{ms}-*"), "f", value),
    _c("XLEN", key),
    _c("XRANGE", key, "-", "+"),
    _c("XDEL", key, st.integers(1, 9).map(lambda ms: f"{ms}-0")),
    _c("XTRIM", key, "MAXLEN", st.integers(0, 3).map(str)),
]
HASHES = [
    _c("HSET", key, _pairs(member, value)),
    _c("HSETNX", key, member, value),
    _c("HGET", key, member),
    _c("HMGET", key, _many(member)),
    _c("HDEL", key, _many(member)),
    _c("HLEN", key),
    _c("HEXISTS", key, member),
    _c("HSTRLEN", key, member),
    _c("HINCRBY", key, member, small),
    _c("HINCRBYFLOAT", key, member, st.sampled_from(["1.5", "-2", "x"])),
    _c("HGETALL", key),
    _c("HKEYS", key),
    _c("HVALS", key),
]
SETS = [
    _c("SADD", key, _many(member)),
    _c("SREM", key, _many(member)),
    _c("SISMEMBER", key, member),
    _c("SMISMEMBER", key, _many(member)),
    _c("SCARD", key),
    _c("SMEMBERS", key),
    _c(st.sampled_from(["SINTER", "SUNION", "SDIFF"]), _many(key)),
    _c(st.sampled_from(["SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"]), key, _many(key)),
    _c("SMOVE", key, key, member),
    _c("SINTERCARD", "2", key, key),
]
DATABASES = [
    _c("SELECT", st.sampled_from(["0", "1", "16"])),
    _c("MOVE", key, st.sampled_from(["0", "1"])),
    _c("SWAPDB", "0", "1"),
    _c("FLUSHDB"),
    _c("COPY", key, key, st.sampled_from([[], ["REPLACE"], ["DB", "1"], ["DB", "0", "REPLACE"]])),
    _c("TOUCH", _many(key)),
]
TRANSACTIONS = [
    st.just(("MULTI",)),
    st.just(("EXEC",)),
    st.just(("DISCARD",)),
    _c("WATCH", _many(key)),
    st.just(("UNWATCH",)),
]
FAMILIES: dict[str, list[st.SearchStrategy[tuple[str | bytes, ...]]]] = {
    "strings": STRINGS,
    "keyspace": KEYSPACE,
    "bitmaps": BITMAPS,
    "hyperloglog": HYPERLOGLOG,
    "streams": STREAMS,
    "hashes": HASHES,
    "sets": SETS,
    "databases": DATABASES,
    "transactions": TRANSACTIONS,
}


def commands() -> st.SearchStrategy[tuple[str | bytes, ...]]:
    """One command of any family."""
    return st.one_of(*(strategy for family in FAMILIES.values() for strategy in family))


SEQUENCES = st.lists(commands(), min_size=1, max_size=25)
"""A sequence of commands to run on both servers."""
