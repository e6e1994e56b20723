"""SORT and SORT_RO against a real ``redis-server``: Hypothesis draws sets (integers,
decimals, words, odd floats), weight strings and hash fields, and SORT options; replies
must be equal byte for byte, except the order of elements whose sort keys tie where
Redis's qsort leaves it unspecified (ALPHA BY a missing key, BY a constant pattern on a
hash-table set): those are compared as multisets (see ``specs/resp/README.md``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from _redis_pair import Pair, parse_replies, unordered
from _serve import redis_server
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    with redis_server(tmp_path_factory.mktemp("redis-sort")) as port:
        both = Pair(port)
        yield both
        both.close()


ELEMENTS = st.sampled_from(
    ["1", "2", "10", "-3", "1.5", "a", "b", "B", "", "0x10", "inf", "-inf", "1e300", "nan", "01"]
)
# No weight overflows or underflows: Redis reads strtod's errno without clearing it
# first, so after one ERANGE its answers depend on what last set errno (unit tests
# check that we refuse those weights).
WEIGHTS = st.sampled_from(["1", "2", "0.5", "-1", "x", "", "1e-300", " 3", "7"])
OPTIONS = st.lists(
    st.one_of(
        st.just(("DESC",)),
        st.just(("ASC",)),
        st.just(("ALPHA",)),
        st.tuples(st.just("LIMIT"), st.sampled_from(["0", "1", "-1", "5", "x"]),
                  st.sampled_from(["0", "2", "-1", "10"])),
        st.tuples(st.just("BY"), st.sampled_from(["w_*", "h_*->f", "nosort", "h_*->"])),
        st.tuples(st.just("GET"), st.sampled_from(["#", "w_*", "h_*->f", "constant"])),
    ),
    max_size=4,
)  # fmt: skip


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    elements=st.lists(ELEMENTS, min_size=1, max_size=8),
    weights=st.dictionaries(ELEMENTS, WEIGHTS, max_size=6),
    fields=st.dictionaries(ELEMENTS, WEIGHTS, max_size=6),
    options=OPTIONS,
    store=st.booleans(),
    resp3=st.booleans(),
)
def test_sort_matches_redis(  # noqa: PLR0917 - one argument per drawn part
    pair: Pair,
    elements: list[str],
    weights: dict[str, str],
    fields: dict[str, str],
    options: list[tuple[str, ...]],
    store: bool,
    resp3: bool,
) -> None:
    pair.reset(resp3)
    pair.same(("SET", "errno", "reset"), ("GET", "errno"))
    pair.same(("SADD", "s", *elements))
    for element, weight in weights.items():
        pair.same(("SET", f"w_{element}", weight))
    for element, value in fields.items():
        pair.same(("HSET", f"h_{element}", "f", value))
    flat = [word for option in options for word in option]
    command = ("SORT", "s", *flat, *(("STORE", "dst") if store else ()))
    _same_but_ties(pair, command, flat)
    if store:
        _same_but_ties(pair, ("SORT", "dst", "BY", "nosort"), flat)
    if "BY" not in flat:
        pair.same(("SORT_RO", "s", *flat))


def _same_but_ties(pair: Pair, command: tuple[str, ...], flat: list[str]) -> None:
    """Equal replies, but where ties are unordered in Redis (BY): equal as multisets, or
    (with LIMIT, which then picks among tied elements) of equal length."""
    theirs, ours = pair.run(command)
    if theirs == ours:
        return
    assert "BY" in flat, (command, theirs, ours)
    mine, redis = parse_replies(ours)[0], parse_replies(theirs)[0]
    if "LIMIT" in flat:
        assert isinstance(mine, tuple) and isinstance(redis, tuple), command
        assert len(mine[1]) == len(redis[1]), command
    else:
        assert unordered(mine) == unordered(redis), command


def test_sort_errors_match_redis(pair: Pair) -> None:
    pair.reset()
    pair.same(
        ("SET", "str", "x"),
        ("SORT", "str"),
        ("SORT", "str", "FOO"),
        ("SORT", "nokey"),
        ("SORT", "nokey", "STORE", "dst"),
        ("SORT_RO", "nokey", "STORE", "dst"),
        ("SORT", "nokey", "LIMIT", "1"),
        ("SORT", "nokey", "LIMIT", "x", "1"),
        ("SORT", "nokey", "GET"),
        ("HSET", "h", "f", "v"),
        ("SORT", "h"),
    )
