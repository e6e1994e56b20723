"""The sorted set structure against a simple model: a dict, sorted on every read."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st
from wireproto.providers.datatypes.zset import ZSet, zset_encoding

MEMBERS = st.binary(max_size=3)
SCORES = st.one_of(
    st.sampled_from([0.0, -0.0, 1.0, 1.5, -2.0, math.inf, -math.inf]),
    st.floats(allow_nan=False, width=64),
)
Operations = list[tuple[str, object, float]]
OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("add"), MEMBERS, SCORES),
        st.tuples(st.just("remove"), MEMBERS, st.just(0.0)),
        st.tuples(st.just("pop"), st.booleans(), st.just(0.0)),
    ),
    max_size=60,
)


def _ordered(model: dict[bytes, float]) -> list[tuple[bytes, float]]:
    return sorted(model.items(), key=lambda pair: (pair[1], pair[0]))


def _apply(zset: ZSet, model: dict[bytes, float], operations: Operations) -> None:
    for name, argument, score in operations:
        if name == "add":
            assert isinstance(argument, bytes)
            if argument not in model or model[argument] != score:
                model[argument] = 0.0 if score == 0 else score
            zset.add(argument, score)
        elif name == "remove":
            assert isinstance(argument, bytes)
            assert zset.remove(argument) == (model.pop(argument, None) is not None)
        elif model:
            highest = bool(argument)
            expected = _ordered(model)[-1 if highest else 0]
            assert zset.pop(highest) == expected
            del model[expected[0]]


@settings(max_examples=300)
@given(operations=OPERATIONS)
def test_order_ranks_and_scores_match_the_model(
    operations: Operations,
) -> None:
    zset, model = ZSet(), {}
    _apply(zset, model, operations)
    ordered = _ordered(model)
    assert len(zset) == len(model)
    assert list(zset) == ordered
    for rank, (member, score) in enumerate(ordered):
        assert zset.rank(member) == rank
        assert zset.score(member) == score
    assert zset.at(0, len(ordered)) == ordered
    assert zset.at_reversed(0, len(ordered)) == ordered[::-1]
    assert list(zset.copy()) == ordered


@settings(max_examples=300)
@given(
    operations=OPERATIONS,
    low=SCORES,
    high=SCORES,
    low_ex=st.booleans(),
    high_ex=st.booleans(),
)
def test_score_bounds_match_the_model(
    operations: Operations,
    low: float,
    high: float,
    low_ex: bool,
    high_ex: bool,
) -> None:
    zset, model = ZSet(), {}
    _apply(zset, model, operations)
    ordered = _ordered(model)
    start, stop = zset.score_bounds(low, low_ex, high, high_ex)
    inside = [
        index
        for index, (_, score) in enumerate(ordered)
        if (score > low if low_ex else score >= low)
        and (score < high if high_ex else score <= high)
    ]
    assert list(range(start, stop)) == inside


@settings(max_examples=300)
@given(
    members=st.lists(MEMBERS, max_size=30),
    low=st.one_of(st.booleans(), st.tuples(MEMBERS, st.booleans())),
    high=st.one_of(st.booleans(), st.tuples(MEMBERS, st.booleans())),
)
def test_lex_bounds_on_equal_scores_match_the_model(
    members: list[bytes], low: bool | tuple[bytes, bool], high: bool | tuple[bytes, bool]
) -> None:
    zset = ZSet()
    for member in members:
        zset.add(member, 0.0)
    ordered = sorted(set(members))

    def above(member: bytes) -> bool:
        if isinstance(low, bool):
            return not low
        return member > low[0] if low[1] else member >= low[0]

    def below(member: bytes) -> bool:
        if isinstance(high, bool):
            return high
        return member < high[0] if high[1] else member <= high[0]

    inside = [index for index, member in enumerate(ordered) if above(member) and below(member)]
    start, stop = zset.lex_bounds(low, high)
    assert [index for index in range(start, stop)] == inside or (not inside and start >= stop)


def test_the_encoding_turns_to_skiplist_past_128_members_or_64_bytes_and_stays() -> None:
    zset = ZSet()
    for index in range(128):
        zset.add(b"%d" % index, index)
    assert zset_encoding(zset) == b"listpack"
    zset.add(b"one more", 1.0)
    assert zset_encoding(zset) == b"skiplist"
    for index in range(128):
        zset.remove(b"%d" % index)
    assert zset_encoding(zset) == b"skiplist"
    small = ZSet()
    small.add(b"x" * 64, 1.0)
    assert zset_encoding(small) == b"listpack"
    small.add(b"x" * 65, 1.0)
    assert zset_encoding(small) == b"skiplist"
