"""Bitmap commands byte for byte against a real ``redis-server``: Hypothesis draws sequences of
SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP and BITFIELD(_RO) (valid and invalid arguments) over
three keys, and every reply must be the same bytes."""

from __future__ import annotations

from _differential import Pair, same
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

KEYS = st.sampled_from(["a", "b", "c"])
SMALL = st.integers(min_value=-20, max_value=90)
NUMBER = st.one_of(SMALL, st.sampled_from(["x", "1.5", "#3", "", "-0", "99999999999"]))
UNIT = st.sampled_from(["BIT", "BYTE", "bit", "nope"])
TYPE = st.sampled_from(["u1", "u8", "i8", "u63", "i64", "i5", "u64", "i0", "x8", "u"])
OFFSET = st.one_of(st.integers(min_value=-2, max_value=70), st.sampled_from(["#0", "#2", "#x"]))
FIELD_VALUE = st.one_of(
    st.integers(min_value=-(1 << 63), max_value=(1 << 63) - 1), st.integers(-300, 300)
)


def _bitfield_args() -> st.SearchStrategy[list[object]]:
    get = st.tuples(st.just("GET"), TYPE, OFFSET)
    write = st.tuples(st.sampled_from(["SET", "INCRBY"]), TYPE, OFFSET, FIELD_VALUE)
    overflow = st.tuples(st.just("OVERFLOW"), st.sampled_from(["WRAP", "SAT", "FAIL", "bad"]))
    return st.lists(st.one_of(get, write, overflow), max_size=4).map(
        lambda parts: [arg for part in parts for arg in part]
    )


COMMANDS = st.one_of(
    st.tuples(st.just("SETBIT"), KEYS, OFFSET, st.sampled_from([0, 1, 2, "x"])),
    st.tuples(st.just("GETBIT"), KEYS, OFFSET),
    st.tuples(st.just("SET"), KEYS, st.binary(max_size=6)),
    st.builds(
        lambda key, rest: ("BITCOUNT", key, *rest),
        KEYS,
        st.one_of(
            st.just(()),
            st.tuples(NUMBER, NUMBER),
            st.tuples(NUMBER, NUMBER, UNIT),
            st.tuples(NUMBER),
        ),
    ),
    st.builds(
        lambda key, bit, rest: ("BITPOS", key, bit, *rest),
        KEYS,
        st.sampled_from([0, 1, 2, "x"]),
        st.one_of(
            st.just(()),
            st.tuples(NUMBER),
            st.tuples(NUMBER, NUMBER),
            st.tuples(NUMBER, NUMBER, UNIT),
            st.tuples(NUMBER, NUMBER, UNIT, NUMBER),
        ),
    ),
    st.builds(
        lambda op, target, sources: ("BITOP", op, target, *sources),
        st.sampled_from(["AND", "OR", "XOR", "NOT", "nand"]),
        KEYS,
        st.lists(KEYS, min_size=1, max_size=3),
    ),
    st.builds(lambda key, args: ("BITFIELD", key, *args), KEYS, _bitfield_args()),
    st.builds(lambda key, args: ("BITFIELD_RO", key, *args), KEYS, _bitfield_args()),
    st.tuples(st.just("GET"), KEYS),
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=st.lists(COMMANDS, min_size=1, max_size=12))
def test_bitmap_commands_match_redis(pair: Pair, steps: list[tuple[object, ...]]) -> None:
    requests = [tuple(str(arg) if isinstance(arg, int) else arg for arg in step) for step in steps]
    same(pair, ("DEL", "a", "b", "c"), *requests, ("MGET", "a", "b", "c"))  # type: ignore[arg-type]


def test_bitfield_overflow_examples_match_redis(pair: Pair) -> None:
    same(
        pair,
        ("DEL", "a"),
        ("BITFIELD", "a", "SET", "u8", "0", "255", "GET", "u8", "0"),
        (
            "BITFIELD",
            "a",
            "INCRBY",
            "u2",
            "100",
            "1",
            "OVERFLOW",
            "SAT",
            "INCRBY",
            "u2",
            "102",
            "1",
        ),
        ("BITFIELD", "a", "OVERFLOW", "FAIL", "INCRBY", "i8", "0", "200"),
        ("BITFIELD", "a", "OVERFLOW", "WRAP", "INCRBY", "i64", "0", "9223372036854775807"),
        ("BITFIELD", "a", "SET", "i64", "#1", "-9223372036854775808", "GET", "i64", "#1"),
        ("SETBIT", "a", "4294967295", "0"),  # just under proto-max-bulk-len: 512 MB
        ("STRLEN", "a"),
        ("DEL", "a"),
        ("SETBIT", "a", "4294967296", "1"),  # one past it
    )
