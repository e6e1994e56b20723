"""List commands, byte for byte against a real ``redis-server`` (RESP2 and RESP3).

Hypothesis draws command sequences over a few keys (one of them a string, for
WRONGTYPE) and small values and indexes; each sequence runs on an in-process
RESP connection and on redis-server, after FLUSHALL on both, and every reply
byte must match. A table of edge cases (errors, option parsing, nulls) runs too.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from _differential import Command, Pair
from _differential import same as same_replies
from _serve import redis_server
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


def same(pair: Pair, *commands: Command) -> bytes:
    """``commands`` after FLUSHALL on both servers: the replies, checked equal."""
    return same_replies(pair, ("FLUSHALL",), *commands)


@pytest.fixture(scope="module")
def redis_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A real ``redis-server`` 7 (persistence off, 127.0.0.1 only); yields its port."""
    with redis_server(tmp_path_factory.mktemp("redis-lists")) as port:
        yield port


@pytest.fixture(scope="module", params=[False, True], ids=["resp2", "resp3"])
def pair(redis_port: int, request: pytest.FixtureRequest) -> Iterator[Pair]:
    both = Pair(redis_port, request.param)
    yield both
    both.close()


EDGE_CASES: list[list[Command]] = [
    [("LPUSH", "l")],
    [("LPUSH", "l", "a", "b", "c"), ("LRANGE", "l", 0, -1), ("LLEN", "l"), ("TYPE", "l")],
    [("LPUSHX", "l", "a"), ("RPUSHX", "l", "a"), ("EXISTS", "l")],
    [("RPUSH", "l", "a"), ("LPUSHX", "l", "b", "c"), ("RPUSHX", "l", "d"), ("LRANGE", "l", 0, 9)],
    [("LPOP", "l"), ("LPOP", "l", 0), ("LPOP", "l", 3), ("RPOP", "l", -1), ("LPOP", "l", "x")],
    [("RPUSH", "l", "a", "b"), ("LPOP", "l", 0), ("LPOP", "l", -1), ("LPOP", "l", "1.5")],
    [("RPUSH", "l", "a", "b"), ("RPOP", "l", 5), ("EXISTS", "l"), ("RPOP", "l", 1)],
    [("RPUSH", "l", "a"), ("LPOP", "l", 1, 2), ("RPOP", "l", "a", "b")],
    [("SET", "s", "v"), ("LPUSH", "s", "a"), ("LPOP", "s"), ("LLEN", "s"), ("LRANGE", "s", 0, 1)],
    [("SET", "s", "v"), ("LPUSHX", "s", "a"), ("LINDEX", "s", 0), ("LPOS", "s", "a")],
    [("RPUSH", "l", "a", "b", "c"), ("LINDEX", "l", 5), ("LINDEX", "l", -3), ("LINDEX", "l", "x")],
    [("LINDEX", "l", "x"), ("LSET", "l", 0, "v"), ("LSET", "l", "x", "v")],
    [("RPUSH", "l", "a"), ("LSET", "l", 1, "v"), ("LSET", "l", -1, "v"), ("LSET", "l", "x", "v")],
    [("RPUSH", "l", "a", "b"), ("LINSERT", "l", "before", "b", "x"), ("LRANGE", "l", 0, -1)],
    [("RPUSH", "l", "a"), ("LINSERT", "l", "AFTER", "a", "x"), ("LINSERT", "l", "after", "q", 1)],
    [("LINSERT", "l", "middle", "a", "x"), ("LINSERT", "l", "before", "a", "x")],
    [("RPUSH", "l", "a", "b", "a", "c", "a"), ("LREM", "l", -2, "a"), ("LRANGE", "l", 0, -1)],
    [("RPUSH", "l", "a", "b", "a"), ("LREM", "l", 0, "a"), ("LREM", "l", 1, "b"), ("EXISTS", "l")],
    [("LREM", "l", "x", "a"), ("LREM", "l", 1, "a")],
    [("RPUSH", "l", 1, 2, 3, 4, 5), ("LTRIM", "l", 1, -2), ("LRANGE", "l", 0, -1)],
    [("RPUSH", "l", 1, 2, 3), ("LTRIM", "l", 5, 10), ("EXISTS", "l"), ("LTRIM", "l", 0, 1)],
    [("LTRIM", "l", "a", 1), ("RPUSH", "l", 1), ("LTRIM", "l", -100, 100), ("LRANGE", "l", 0, 0)],
    [("RPUSH", "l", "a", "b", "a", "c", "a"), ("LPOS", "l", "a"), ("LPOS", "l", "a", "RANK", -1)],
    [("RPUSH", "l", "a", "b", "a"), ("LPOS", "l", "a", "COUNT", 0), ("LPOS", "l", "a", "RANK", 0)],
    [("RPUSH", "l", "a", "b", "a"), ("LPOS", "l", "a", "COUNT", -1), ("LPOS", "l", "a", "COUNT")],
    [("RPUSH", "l", "a", "b", "a"), ("LPOS", "l", "a", "MAXLEN", -1), ("LPOS", "l", "a", "X", 1)],
    [("RPUSH", "l", "a", "b", "a"), ("LPOS", "l", "a", "MAXLEN", 2, "COUNT", 5, "RANK", 1)],
    [("RPUSH", "l", "a"), ("LPOS", "l", "a", "COUNT", "x"), ("LPOS", "l", "a", "RANK", "x")],
    [("LPOS", "l", "a"), ("LPOS", "l", "a", "COUNT", 1), ("LPOS", "l", "z", "RANK", 0)],
    [("RPUSH", "l", "a", "b", "a"), ("LPOS", "l", "a", "RANK", -2, "COUNT", 2)],
    [("RPUSH", "l", "a", "b"), ("LMOVE", "l", "m", "LEFT", "RIGHT"), ("LRANGE", "m", 0, -1)],
    [("RPUSH", "l", "a", "b"), ("LMOVE", "l", "l", "left", "right"), ("LRANGE", "l", 0, -1)],
    [("RPUSH", "l", "a"), ("LMOVE", "l", "l", "right", "left"), ("LRANGE", "l", 0, -1)],
    [("RPUSH", "l", "a"), ("SET", "s", "v"), ("LMOVE", "l", "s", "left", "left"), ("LLEN", "l")],
    [("LMOVE", "l", "m", "up", "left"), ("LMOVE", "x", "y", "left", "left")],
    [("RPUSH", "l", "a", "b"), ("RPOPLPUSH", "l", "m"), ("RPOPLPUSH", "l", "m")],
    [("RPOPLPUSH", "l", "m"), ("RPOPLPUSH", "l", "l"), ("EXISTS", "m")],
    [("RPUSH", "b", 1, 2, 3), ("LMPOP", 2, "a", "b", "LEFT"), ("LMPOP", 2, "a", "b", "RIGHT")],
    [("RPUSH", "b", 1, 2, 3), ("LMPOP", 1, "b", "LEFT", "COUNT", 10), ("LMPOP", 1, "b", "LEFT")],
    [("LMPOP", 0, "a", "LEFT"), ("LMPOP", -1, "a", "LEFT"), ("LMPOP", "x", "a", "LEFT")],
    [("LMPOP", 2, "a", "LEFT"), ("LMPOP", 1, "a", "UP"), ("LMPOP", 1, "a", "LEFT", "COUNT")],
    [("LMPOP", 1, "a", "LEFT", "COUNT", 0), ("LMPOP", 1, "a", "LEFT", "COUNT", 1, "COUNT", 1)],
    [("SET", "s", "v"), ("LMPOP", 2, "x", "s", "LEFT"), ("RPUSH", "x", 1)],
    [("RPUSH", "x", 1), ("SET", "s", "v"), ("LMPOP", 2, "x", "s", "LEFT")],
    [("LMPOP", 1, "a", "LEFT", "count", "x")],
    [("RPUSH", "l", "a\r\nb", "", "\x00\xff"), ("LRANGE", "l", 0, -1), ("LPOS", "l", "")],
    [("RPUSH", "l", *range(300)), ("LRANGE", "l", 140, 160), ("LINDEX", "l", -150)],
    [("RPUSH", "l", *range(300)), ("LTRIM", "l", 10, 289), ("LRANGE", "l", 275, -1)],
    [("RPUSH", "l", *range(300)), ("LTRIM", "l", 100, 110), ("LRANGE", "l", 0, -1)],
    [("RPUSH", "l", "a"), ("LRANGE", "l", "9223372036854775807", "-9223372036854775808")],
    [("RPUSH", "l", "a"), ("LRANGE", "l", "9223372036854775808", 1)],
]


@pytest.mark.parametrize("commands", EDGE_CASES, ids=lambda commands: repr(commands[-1])[:40])
def test_edge_cases_match_redis(pair: Pair, commands: list[Command]) -> None:
    same(pair, *commands)


KEYS = st.sampled_from(["a", "b", "s"])
VALUES = st.sampled_from(["x", "y", "z", "1", ""])
INDEXES = st.integers(-4, 4)
SIDES = st.sampled_from(["LEFT", "RIGHT", "left"])
COMMANDS = st.one_of(
    st.tuples(st.sampled_from(["LPUSH", "RPUSH", "LPUSHX", "RPUSHX"]), KEYS, VALUES, VALUES),
    st.tuples(st.sampled_from(["LPOP", "RPOP"]), KEYS),
    st.tuples(st.sampled_from(["LPOP", "RPOP"]), KEYS, st.integers(0, 3)),
    st.tuples(st.sampled_from(["LLEN", "TYPE", "EXISTS"]), KEYS),
    st.tuples(st.sampled_from(["LRANGE", "LTRIM"]), KEYS, INDEXES, INDEXES),
    st.tuples(st.just("LINDEX"), KEYS, INDEXES),
    st.tuples(st.just("LSET"), KEYS, INDEXES, VALUES),
    st.tuples(st.just("LINSERT"), KEYS, st.sampled_from(["BEFORE", "after"]), VALUES, VALUES),
    st.tuples(st.just("LREM"), KEYS, INDEXES, VALUES),
    st.tuples(st.just("LPOS"), KEYS, VALUES, st.just("RANK"), st.sampled_from([1, 2, -1, -2])),
    st.tuples(st.just("LPOS"), KEYS, VALUES, st.just("COUNT"), st.integers(0, 2)),
    st.tuples(st.just("LPOS"), KEYS, VALUES, st.just("MAXLEN"), st.integers(0, 3)),
    st.tuples(st.just("LMOVE"), KEYS, KEYS, SIDES, SIDES),
    st.tuples(st.just("RPOPLPUSH"), KEYS, KEYS),
    st.tuples(st.just("LMPOP"), st.just(2), KEYS, KEYS, SIDES, st.just("COUNT"), st.integers(1, 3)),
    st.tuples(st.just("SET"), st.just("s"), VALUES),
    st.tuples(st.just("DEL"), KEYS),
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(commands=st.lists(COMMANDS, min_size=1, max_size=25))
def test_command_sequences_match_redis(pair: Pair, commands: list[Command]) -> None:
    same(pair, *commands)
