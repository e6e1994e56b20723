"""Sorted set commands, byte for byte against a real ``redis-server`` (RESP2 and RESP3).

Scores are printed as Redis 7.0 prints them (``%.17g``), so the edge cases
include values like 0.1 and 1e300, ``inf``, NaN results and the score
strings ``strtod`` and ``string2d`` judge differently. Hypothesis draws
sequences over a few keys and members with equal and different scores.
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
    with redis_server(tmp_path_factory.mktemp("redis-zsets")) as port:
        yield port


@pytest.fixture(scope="module", params=[False, True], ids=["resp2", "resp3"])
def pair(redis_port: int, request: pytest.FixtureRequest) -> Iterator[Pair]:
    both = Pair(redis_port, request.param)
    yield both
    both.close()


Z = ("ZADD", "z", 1, "a", 2, "b", 3, "c", "0.1", "d", "-inf", "e", "inf", "f")
LEX = ("ZADD", "l", 0, "a", 0, "b", 0, "c", 0, "d", 0, "e")

EDGE_CASES: list[list[Command]] = [
    [Z, ("ZRANGE", "z", 0, -1, "WITHSCORES"), ("ZCARD", "z"), ("TYPE", "z")],
    [Z, ("ZSCORE", "z", "d"), ("ZSCORE", "z", "e"), ("ZSCORE", "z", "x"), ("ZSCORE", "y", "a")],
    [Z, ("ZMSCORE", "z", "a", "x", "f"), ("ZMSCORE", "y", "a")],
    [("ZADD", "z", "1e300", "a", "-0", "b", "0.3", "c", "1.5e-10", "d", "123456789012345678", "e"),
     ("ZRANGE", "z", 0, -1, "WITHSCORES")],
    [("ZADD", "z", "nan", "a"), ("ZADD", "z", "x", "a"), ("ZADD", "z", "1e400", "a"),
     ("ZADD", "z", " 1", "a"), ("ZADD", "z", "1 ", "a"), ("ZADD", "z", "", "a"),
     ("ZADD", "z", "0x10", "a"), ("ZADD", "z", "1e-400", "b"), ("ZADD", "z", "Infinity", "c"),
     ("ZRANGE", "z", 0, -1, "WITHSCORES")],
    [("ZADD", "z", 1), ("ZADD", "z", 1, "a", 2), ("ZADD", "z", "NX", "XX", 1, "a"),
     ("ZADD", "z", "GT", "LT", 1, "a"), ("ZADD", "z", "NX", "GT", 1, "a"),
     ("ZADD", "z", "INCR", 1, "a", 2, "b"), ("ZADD", "z", "CH")],
    [("ZADD", "z", 1, "a", 2, "b"), ("ZADD", "z", "CH", 1, "a", 3, "b", 4, "c"),
     ("ZADD", "z", "NX", 9, "a", 5, "d"), ("ZADD", "z", "XX", "CH", 9, "a", 5, "e"),
     ("ZADD", "z", "GT", "CH", 8, "a", 10, "b"), ("ZADD", "z", "LT", "CH", 1, "a", 20, "b"),
     ("ZRANGE", "z", 0, -1, "WITHSCORES")],
    [("ZADD", "z", "XX", 1, "a"), ("EXISTS", "z"), ("ZADD", "z", "XX", "INCR", 1, "a"),
     ("ZADD", "z", "INCR", 1.5, "a"), ("ZADD", "z", "NX", "INCR", 1, "a"),
     ("ZADD", "z", "GT", "INCR", -1, "a"), ("ZADD", "z", "INCR", "inf", "a"),
     ("ZADD", "z", "INCR", "-inf", "a"), ("ZSCORE", "z", "a")],
    [("ZINCRBY", "z", "0.1", "a"), ("ZINCRBY", "z", "0.2", "a"), ("ZINCRBY", "z", "x", "a"),
     ("ZINCRBY", "z", "inf", "b"), ("ZINCRBY", "z", "-inf", "b")],
    [Z, ("ZREM", "z", "a", "x", "a"), ("ZREM", "y", "a"), ("ZREM", "z", "b", "c", "d", "e", "f"),
     ("EXISTS", "z")],
    [Z, ("ZRANK", "z", "a"), ("ZREVRANK", "z", "a"), ("ZRANK", "z", "x"), ("ZRANK", "y", "a")],
    [Z, ("ZCOUNT", "z", "-inf", "+inf"), ("ZCOUNT", "z", "(1", "3"), ("ZCOUNT", "z", "(1", "(1"),
     ("ZCOUNT", "z", "x", 1), ("ZCOUNT", "z", "", ""), ("ZCOUNT", "z", " 1", "(3"),
     ("ZCOUNT", "z", 3, 1), ("ZCOUNT", "z", "1e400", "inf"), ("ZCOUNT", "z", "(inf", "inf")],
    [LEX, ("ZLEXCOUNT", "l", "-", "+"), ("ZLEXCOUNT", "l", "[b", "(d"),
     ("ZLEXCOUNT", "l", "a", "+"),
     ("ZLEXCOUNT", "l", "+", "-"), ("ZLEXCOUNT", "l", "(b", "(b"), ("ZLEXCOUNT", "l", "[b", "[b"),
     ("ZLEXCOUNT", "l", "-x", "+")],
    [Z, ("ZRANGE", "z", 1, 3), ("ZRANGE", "z", -2, -1, "WITHSCORES"), ("ZRANGE", "z", 5, 1),
     ("ZRANGE", "z", 0, 100, "REV"), ("ZREVRANGE", "z", 0, 1, "WITHSCORES"),
     ("ZRANGE", "z", "x", 1), ("ZRANGE", "y", 0, -1)],
    [Z, ("ZRANGE", "z", 1, 3, "BYSCORE"), ("ZRANGE", "z", "(1", "+inf", "BYSCORE", "WITHSCORES"),
     ("ZRANGE", "z", 3, 1, "BYSCORE", "REV"), ("ZRANGE", "z", "+inf", "-inf", "BYSCORE", "REV",
                                               "LIMIT", 1, 2)],
    [Z, ("ZRANGE", "z", "-inf", "+inf", "BYSCORE", "LIMIT", 2, 2),
     ("ZRANGE", "z", "-inf", "+inf", "BYSCORE", "LIMIT", -1, 2),
     ("ZRANGE", "z", "-inf", "+inf", "BYSCORE", "LIMIT", 2, -1),
     ("ZRANGE", "z", "-inf", "+inf", "BYSCORE", "LIMIT", 10, 1),
     ("ZRANGE", "z", "-inf", "+inf", "BYSCORE", "LIMIT", 1, 0)],
    [Z, ("ZRANGE", "z", 0, 1, "LIMIT", 0, 1), ("ZRANGE", "z", 0, 1, "LIMIT", 0, -1),
     ("ZRANGE", "z", "-", "+", "BYLEX", "WITHSCORES"), ("ZRANGE", "z", 0, 1, "BYSCORE", "BYLEX"),
     ("ZRANGE", "z", 0, 1, "REV", "REV"), ("ZRANGE", "z", 0, 1, "FOO"),
     ("ZRANGE", "z", 0, 1, "LIMIT", 1), ("ZRANGE", "z", 0, 1, "LIMIT", "x", 1)],
    [LEX, ("ZRANGE", "l", "[b", "(e", "BYLEX"), ("ZRANGE", "l", "+", "-", "BYLEX", "REV"),
     ("ZRANGE", "l", "(e", "[b", "BYLEX", "REV", "LIMIT", 1, 1), ("ZRANGEBYLEX", "l", "-", "(c"),
     ("ZREVRANGEBYLEX", "l", "+", "[c"), ("ZRANGEBYLEX", "l", "b", "c"),
     ("ZRANGEBYLEX", "l", "-", "+", "LIMIT", 1, 3)],
    [Z, ("ZRANGEBYSCORE", "z", 1, 3, "WITHSCORES", "LIMIT", 1, 5),
     ("ZREVRANGEBYSCORE", "z", 3, 1), ("ZREVRANGEBYSCORE", "z", "(3", "-inf", "WITHSCORES"),
     ("ZRANGEBYSCORE", "z", 1, 3, "BYSCORE"), ("ZRANGEBYSCORE", "z", 1, 3, "REV"),
     ("ZRANGEBYSCORE", "z", "(x", 3)],
    [Z, ("ZRANGESTORE", "d", "z", 0, 2), ("ZRANGE", "d", 0, -1, "WITHSCORES"),
     ("ZRANGESTORE", "d", "z", 5, 1), ("EXISTS", "d"),
     ("ZRANGESTORE", "d", "z", 0, 1, "WITHSCORES"),
     ("ZRANGESTORE", "d", "nothing", 0, -1), ("ZRANGESTORE", "d", "z", "(1", "inf", "BYSCORE")],
    [Z, ("ZREMRANGEBYRANK", "z", 0, 1), ("ZREMRANGEBYSCORE", "z", "(2", "inf"),
     ("ZRANGE", "z", 0, -1), ("ZREMRANGEBYSCORE", "z", "x", 1), ("ZREMRANGEBYRANK", "z", "a", 1)],
    [LEX, ("ZREMRANGEBYLEX", "l", "[b", "[c"), ("ZREMRANGEBYLEX", "l", "b", "c"),
     ("ZRANGE", "l", 0, -1), ("ZREMRANGEBYLEX", "l", "-", "+"), ("EXISTS", "l")],
    [Z, ("ZPOPMIN", "z"), ("ZPOPMAX", "z", 2), ("ZPOPMIN", "z", 0), ("ZPOPMIN", "z", -1),
     ("ZPOPMIN", "y"), ("ZPOPMIN", "y", 2), ("ZPOPMIN", "z", 1, 2), ("ZPOPMAX", "z", 10),
     ("EXISTS", "z")],
    [Z, ("ZMPOP", 2, "y", "z", "MIN"), ("ZMPOP", 1, "z", "MAX", "COUNT", 2),
     ("ZMPOP", 1, "y", "MIN"), ("ZMPOP", 0, "z", "MIN"), ("ZMPOP", 1, "z", "LEFT"),
     ("ZMPOP", 1, "z", "MIN", "COUNT", 0)],
    [Z, ("BZPOPMIN", "y", "z", 0), ("BZPOPMAX", "z", "1"), ("BZMPOP", 0, 1, "z", "MAX", "COUNT", 2),
     ("BZPOPMIN", "z", -1), ("MULTI",), ("BZPOPMIN", "empty", 0), ("BZMPOP", 0, 1, "e", "MIN"),
     ("EXEC",)],
    [("SET", "s", "v"), ("ZADD", "s", 1, "a"), ("ZSCORE", "s", "a"), ("ZRANGE", "s", 0, 1),
     ("ZPOPMIN", "s"), ("ZMPOP", 1, "s", "MIN"), ("BZPOPMIN", "s", 0), ("ZCARD", "s")],
    [Z, ("ZADD", "y", 5, "a", 6, "b", 7, "x"), ("ZUNION", 2, "z", "y", "WITHSCORES"),
     ("ZINTER", 2, "z", "y", "WITHSCORES"), ("ZDIFF", 2, "z", "y", "WITHSCORES"),
     ("ZUNION", 2, "z", "y", "WEIGHTS", 2, "0.5", "AGGREGATE", "MAX", "WITHSCORES"),
     ("ZINTER", 2, "z", "y", "AGGREGATE", "min"), ("ZUNION", 3, "z", "y", "nothing"),
     ("ZINTER", 2, "z", "nothing"), ("ZDIFF", 1, "nothing")],
    [Z, ("ZADD", "y", "-inf", "f", "inf", "e"), ("ZUNION", 2, "z", "y", "WITHSCORES"),
     ("ZINTER", 2, "z", "y", "WEIGHTS", 0, 1, "WITHSCORES"),
     ("ZUNIONSTORE", "d", 2, "z", "y"), ("ZRANGE", "d", 0, -1, "WITHSCORES"),
     ("ZINTERSTORE", "d", 2, "z", "y", "AGGREGATE", "MAX"), ("ZRANGE", "d", 0, -1, "WITHSCORES"),
     ("ZDIFFSTORE", "d", 2, "z", "y"), ("ZRANGE", "d", 0, -1), ("ZINTERSTORE", "d", 2, "z", "q"),
     ("EXISTS", "d")],
    [Z, ("ZUNION", 0, "z"), ("ZUNION", -1, "z"), ("ZUNION", "x", "z"), ("ZUNION", 3, "z", "y"),
     ("ZUNION", 1, "z", "WEIGHTS"), ("ZUNION", 1, "z", "WEIGHTS", "x"),
     ("ZUNION", 1, "z", "AGGREGATE", "avg"), ("ZDIFF", 1, "z", "WEIGHTS", 1),
     ("ZUNIONSTORE", "d", 1, "z", "WITHSCORES"), ("ZINTERSTORE", "d", 0, "z"),
     ("ZDIFFSTORE", "d", 0, "z"), ("ZINTERCARD", 0, "z")],
    [Z, ("ZADD", "y", 1, "a", 2, "b"), ("ZINTERCARD", 2, "z", "y"),
     ("ZINTERCARD", 2, "z", "y", "LIMIT", 1), ("ZINTERCARD", 2, "z", "y", "LIMIT", 0),
     ("ZINTERCARD", 2, "z", "y", "LIMIT", -1), ("ZINTERCARD", 2, "z", "y", "WITHSCORES"),
     ("ZINTERCARD", 1, "nothing")],
    [("SET", "s", "v"), ("ZUNION", 2, "z", "s"), ("ZUNIONSTORE", "s", 1, "nothing"), ("TYPE", "s")],
    [Z, ("ZSCAN", "z", 0), ("ZSCAN", "z", 0, "MATCH", "[a-c]"), ("ZSCAN", "z", 0, "COUNT", 1),
     ("ZSCAN", "nothing", 0), ("ZSCAN", "z", "x"), ("ZSCAN", "z", 0, "COUNT", 0),
     ("ZSCAN", "z", 0, "FOO", 1), ("ZSCAN", "z", "-1"), ("ZSCAN", "z", "18446744073709551615"),
     ("ZSCAN", "z", "18446744073709551616"), ("ZSCAN", "nothing", 0, "FOO", 1),
     ("ZSCAN", "nothing", "x")],
    [Z, ("ZRANDMEMBER", "z", "4611686018427387903", "WITHSCORES"),
     ("ZRANDMEMBER", "z", "4611686018427387904", "WITHSCORES"),
     ("ZRANDMEMBER", "z", "-4611686018427387904", "WITHSCORES"),
     ("ZRANDMEMBER", "z", "-9223372036854775807", "WITHSCORES"),
     ("ZRANDMEMBER", "z", "-9223372036854775807", "FOO")],
    [("ZADD", "b", 0, "n", 1, "m", 2, "a", 3, "z", 4, "c"), ("ZLEXCOUNT", "b", "-", "[m"),
     ("ZLEXCOUNT", "b", "[n", "+"), ("ZRANGEBYLEX", "b", "-", "[n"),
     ("ZRANGEBYLEX", "b", "[a", "+"),
     ("ZREVRANGEBYLEX", "b", "[z", "-"), ("ZREVRANGEBYLEX", "b", "+", "(n"),
     ("ZREVRANGEBYLEX", "b", "[m", "[b"), ("ZRANGE", "b", "[b", "[z", "BYLEX"),
     ("ZRANGE", "b", "[z", "[b", "BYLEX", "REV"), ("ZREMRANGEBYLEX", "b", "[n", "[o"),
     ("ZRANGE", "b", 0, -1)],
    [("ZADD", "z", "007", "a", "9" * 299, "big"), ("ZSCORE", "z", "big"),
     ("ZADD", "z", "9" * 308, "b"), ("ZADD", "z", "9" * 309, "c"), ("ZADD", "z", "1" * 400, "c"),
     ("ZADD", "z", "1e-400", "d"), ("ZADD", "z", "0" * 400, "e"),
     ("ZRANGE", "z", 0, -1, "WITHSCORES"),
     ("ZADD", "z", "nx", "f"), ("ZADD", "z", "xx", "1", "f"), ("ZADD", "q", "xx", "1", "f"),
     ("ZADD", "q", "XX", "INCR", "1", "f"), ("EXISTS", "q")],
    [Z, ("ZRANDMEMBER", "z", 10), ("ZRANDMEMBER", "z", 6, "WITHSCORES"),
     ("ZRANDMEMBER", "z", 0), ("ZRANDMEMBER", "nothing"), ("ZRANDMEMBER", "nothing", 5),
     ("ZRANDMEMBER", "z", 1, "FOO"), ("ZRANDMEMBER", "z", "x"),
     ("ZRANDMEMBER", "z", "-9223372036854775808"),
     ("ZRANDMEMBER", "z", "9223372036854775807", "WITHSCORES")],
    [("RPUSH", "list", "a"), ("ZADD", "list", 1, "a"), ("ZRANGESTORE", "list", "nothing", 0, 1),
     ("TYPE", "list")],
]  # fmt: skip


@pytest.mark.parametrize("commands", EDGE_CASES, ids=lambda commands: repr(commands[-1])[:40])
def test_edge_cases_match_redis(pair: Pair, commands: list[Command]) -> None:
    same(pair, *commands)


KEYS = st.sampled_from(["a", "b", "s"])
MEMBERS = st.sampled_from(["m", "n", "o", "p", "q"])
SCORES = st.sampled_from(["0", "1", "1.5", "-2", "0.1", "inf", "-inf", "3"])
BOUNDS = st.sampled_from(["-inf", "+inf", "0", "(1", "1.5", "(0.1", "3", "-2"])
LEXES = st.sampled_from(["-", "+", "[m", "(n", "[o", "(q"])
RANKS = st.integers(-4, 4)
FLAGS = st.lists(st.sampled_from(["NX", "XX", "GT", "LT", "CH"]), max_size=2, unique=True)
COMMANDS = st.one_of(
    st.builds(lambda k, f, s1, m1, s2, m2: ("ZADD", k, *f, s1, m1, s2, m2),
              KEYS, FLAGS, SCORES, MEMBERS, SCORES, MEMBERS),
    st.tuples(st.just("ZADD"), KEYS, st.just("INCR"), SCORES, MEMBERS),
    st.tuples(st.just("ZINCRBY"), KEYS, SCORES, MEMBERS),
    st.tuples(st.just("ZREM"), KEYS, MEMBERS, MEMBERS),
    st.tuples(st.sampled_from(["ZSCORE", "ZRANK", "ZREVRANK"]), KEYS, MEMBERS),
    st.tuples(st.sampled_from(["ZCARD", "TYPE"]), KEYS),
    st.tuples(st.just("ZCOUNT"), KEYS, BOUNDS, BOUNDS),
    st.tuples(st.just("ZLEXCOUNT"), KEYS, LEXES, LEXES),
    st.tuples(st.sampled_from(["ZRANGE", "ZREVRANGE"]), KEYS, RANKS, RANKS,
              st.sampled_from(["WITHSCORES", "REV"])),
    st.tuples(st.just("ZRANGE"), KEYS, BOUNDS, BOUNDS, st.just("BYSCORE"),
              st.sampled_from(["REV", "WITHSCORES"]), st.just("LIMIT"), st.integers(-1, 3),
              st.integers(-1, 3)),
    st.tuples(st.sampled_from(["ZRANGEBYSCORE", "ZREVRANGEBYSCORE"]), KEYS, BOUNDS, BOUNDS,
              st.just("WITHSCORES")),
    st.tuples(st.sampled_from(["ZRANGEBYLEX", "ZREVRANGEBYLEX"]), KEYS, LEXES, LEXES),
    st.tuples(st.just("ZRANGESTORE"), KEYS, KEYS, RANKS, RANKS),
    st.tuples(st.just("ZREMRANGEBYRANK"), KEYS, RANKS, RANKS),
    st.tuples(st.just("ZREMRANGEBYSCORE"), KEYS, BOUNDS, BOUNDS),
    st.tuples(st.sampled_from(["ZPOPMIN", "ZPOPMAX"]), KEYS, st.integers(0, 3)),
    st.tuples(st.sampled_from(["ZPOPMIN", "ZPOPMAX"]), KEYS),
    st.tuples(st.just("ZMPOP"), st.just(2), KEYS, KEYS, st.sampled_from(["MIN", "MAX"]),
              st.just("COUNT"), st.integers(1, 3)),
    st.tuples(st.just("SET"), st.just("s"), MEMBERS),
    st.tuples(st.just("DEL"), KEYS),
)  # fmt: skip


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(commands=st.lists(COMMANDS, min_size=1, max_size=25))
def test_command_sequences_match_redis(pair: Pair, commands: list[Command]) -> None:
    same(pair, *commands)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    commands=st.lists(
        st.one_of(
            st.tuples(st.just("ZADD"), st.just("l"), st.just("0"), MEMBERS),
            st.tuples(st.sampled_from(["ZRANGEBYLEX", "ZREVRANGEBYLEX", "ZLEXCOUNT"]),
                      st.just("l"), LEXES, LEXES),
            st.tuples(st.just("ZREMRANGEBYLEX"), st.just("l"), LEXES, LEXES),
            st.tuples(st.just("ZRANGE"), st.just("l"), LEXES, LEXES, st.just("BYLEX"),
                      st.just("REV"), st.just("LIMIT"), st.integers(0, 2), st.integers(-1, 2)),
        ),
        min_size=1,
        max_size=20,
    )
)  # fmt: skip
def test_lex_sequences_on_equal_scores_match_redis(pair: Pair, commands: list[Command]) -> None:
    same(pair, *commands)
