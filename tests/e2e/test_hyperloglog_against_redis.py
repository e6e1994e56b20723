"""HyperLogLog byte for byte against a real ``redis-server``: PFADD, PFCOUNT and PFMERGE replies,
and the stored strings themselves (``GET``), sparse and dense, cache bytes included."""

from __future__ import annotations

from _differential import Pair, same
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

KEYS = st.sampled_from(["h1", "h2", "h3"])
ELEMENTS = st.lists(st.binary(max_size=5), max_size=6)
COMMANDS = st.one_of(
    st.builds(lambda key, items: ("PFADD", key, *items), KEYS, ELEMENTS),
    st.builds(lambda keys: ("PFCOUNT", *keys), st.lists(KEYS, min_size=1, max_size=3)),
    st.builds(lambda keys: ("PFMERGE", *keys), st.lists(KEYS, min_size=1, max_size=3)),
    st.tuples(st.just("SET"), KEYS, st.sampled_from([b"x", b"HYLL", b"HYLL\x02" + bytes(11)])),
    st.tuples(st.just("GET"), KEYS),
)


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=st.lists(COMMANDS, min_size=1, max_size=10))
def test_hyperloglog_commands_match_redis(pair: Pair, steps: list[tuple[object, ...]]) -> None:
    same(pair, ("DEL", "h1", "h2", "h3"), *steps, ("MGET", "h1", "h2", "h3"))  # type: ignore[arg-type]


def test_large_sets_turn_dense_at_the_same_point_and_count_the_same(pair: Pair) -> None:
    """Thousands of elements: the sparse value grows past 3000 bytes and turns dense; every
    intermediate string and count equals redis-server's."""
    same(pair, ("DEL", "big", "other", "union"))
    for batch in range(12):
        elements = [b"element-%d" % (batch * 500 + i) for i in range(500)]
        same(pair, ("PFADD", "big", *elements), ("PFCOUNT", "big"), ("GET", "big"))
    same(pair, ("PFADD", "other", *(b"e%d" % i for i in range(100))))
    same(pair, ("PFCOUNT", "big", "other"), ("PFMERGE", "union", "other", "big"))
    same(pair, ("GET", "union"), ("PFCOUNT", "union"), ("GET", "union"))
