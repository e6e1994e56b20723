"""Stream commands byte for byte against a real ``redis-server``: Hypothesis draws sequences of
XADD (explicit, partial and generated IDs, MAXLEN/MINID exact and ``~``, LIMIT, NOMKSTREAM),
XRANGE/XREVRANGE (exclusive bounds, COUNT), XREAD, XDEL, XTRIM, XLEN and XSETID, valid and not,
over two stream keys and a string key."""

from __future__ import annotations

import pytest
from _differential import Pair, same
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

KEYS = st.sampled_from(["s1", "s2", "str"])
MS = st.integers(min_value=0, max_value=6)
IDS = st.one_of(
    st.builds(lambda ms, seq: f"{ms}-{seq}", MS, st.integers(0, 4)),
    st.builds(str, MS),
    st.sampled_from(
        [
            "-",
            "+",
            "0-0",
            "(1-1",
            "(2",
            "x",
            "1-x",
            "-1",
            "18446744073709551615-18446744073709551615",
        ]
    ),
)
ADD_IDS = st.one_of(
    st.builds(lambda ms, seq: f"{ms}-{seq}", MS, st.integers(0, 4)),
    st.builds(lambda ms: f"{ms}-*", MS),
    st.sampled_from(["0-0", "0", "bad"]),
)
FIELDS = st.lists(st.sampled_from(["f", "g", "1", "v"]), min_size=2, max_size=4)
TRIM = st.one_of(
    st.just([]),
    st.builds(lambda how, n: ["MAXLEN", how, n], st.sampled_from(["=", "~"]), st.integers(-1, 6)),
    st.builds(lambda n: ["MAXLEN", n], st.integers(0, 6)),
    st.builds(lambda how, i: ["MINID", how, i], st.sampled_from(["=", "~"]), IDS),
    st.builds(
        lambda n, lim: ["MAXLEN", "~", n, "LIMIT", lim], st.integers(0, 6), st.integers(-1, 3)
    ),
    st.just(["LIMIT", "2"]),
    st.just(["MAXLEN", "1", "MINID", "1"]),
)
COMMANDS = st.one_of(
    st.builds(
        lambda key, nomk, trim, i, fields: ("XADD", key, *nomk, *trim, i, *fields),
        KEYS,
        st.sampled_from([[], ["NOMKSTREAM"]]),
        TRIM,
        ADD_IDS,
        FIELDS,
    ),
    st.builds(lambda key, trim: ("XTRIM", key, *trim), KEYS, TRIM),
    st.builds(
        lambda name, key, a, b, count: (name, key, a, b, *count),
        st.sampled_from(["XRANGE", "XREVRANGE"]),
        KEYS,
        IDS,
        IDS,
        st.sampled_from([[], ["COUNT", "2"], ["COUNT", "0"], ["COUNT", "-1"], ["COUNT"]]),
    ),
    st.builds(
        lambda count, keys, ids: ("XREAD", *count, "STREAMS", *keys, *ids),
        st.sampled_from([[], ["COUNT", "1"], ["COUNT", "x"]]),
        st.lists(KEYS, min_size=1, max_size=2),
        st.lists(st.one_of(IDS, st.just("$")), min_size=1, max_size=2),
    ),
    st.builds(lambda key, ids: ("XDEL", key, *ids), KEYS, st.lists(IDS, min_size=1, max_size=3)),
    st.tuples(st.just("XLEN"), KEYS),
    st.builds(lambda key, i: ("XSETID", key, i), KEYS, IDS),
    st.tuples(st.just("TYPE"), KEYS),
)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=st.lists(COMMANDS, min_size=1, max_size=12))
def test_stream_commands_match_redis(pair: Pair, steps: list[tuple[object, ...]]) -> None:
    requests = [tuple(str(arg) if isinstance(arg, int) else arg for arg in step) for step in steps]
    same(
        pair,
        ("DEL", "s1", "s2", "str"),
        ("SET", "str", "x"),
        *requests,  # type: ignore[arg-type]
        ("XRANGE", "s1", "-", "+"),
        ("XRANGE", "s2", "-", "+"),
    )


def test_approximate_trimming_removes_whole_nodes_as_redis_does(pair: Pair) -> None:
    same(pair, ("DEL", "big"))
    for batch in range(5):
        same(pair, *(("XADD", "big", f"{batch * 100 + i + 1}-1", "f", "v") for i in range(100)))
    same(
        pair,
        ("XDEL", "big", "5-1", "150-1"),
        ("XTRIM", "big", "MAXLEN", "~", "250"),
        ("XLEN", "big"),
        ("XTRIM", "big", "MINID", "~", "420"),
        ("XLEN", "big"),
        ("XADD", "big", "MAXLEN", "~", "10", "LIMIT", "50", "1000-1", "f", "v"),
        ("XLEN", "big"),
        ("XTRIM", "big", "MAXLEN", "=", "7"),
        ("XRANGE", "big", "-", "+", "COUNT", "3"),
    )


@pytest.mark.parametrize("node_entries", ["1", "0", "3", "100"])
def test_node_size_and_the_default_approximate_limit_follow_config(
    pair: Pair, node_entries: str
) -> None:
    """``stream-node-max-entries`` sizes new nodes, and an approximate trim without LIMIT
    removes at most 100 nodes of it (10,000 entries when it is 0), as Redis 7.0 does."""
    same(pair, ("DEL", "nodes"), ("CONFIG", "SET", "stream-node-max-entries", node_entries))
    try:
        same(pair, *(("XADD", "nodes", f"{i + 1}-1", "x", "v") for i in range(302)))
        same(
            pair,
            ("XTRIM", "nodes", "MAXLEN", "~", "1"),
            ("XLEN", "nodes"),
            ("XRANGE", "nodes", "-", "+", "COUNT", "2"),
        )
    finally:
        same(pair, ("CONFIG", "SET", "stream-node-max-entries", "100"))
