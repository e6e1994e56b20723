"""Stream consumer groups byte for byte against a real ``redis-server``: Hypothesis draws
sequences of XGROUP, XREADGROUP (new entries and a consumer's history, NOACK), XACK, XCLAIM and
XAUTOCLAIM (JUSTID, so no time shows), the XPENDING summary and XINFO GROUPS (lag and
entries-read), mixed with XADD, XDEL and XTRIM. What depends on the clock (idle times) is left
to the sans-I/O tests."""

from __future__ import annotations

from _differential import Pair, same
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

KEY = st.sampled_from(["s", "s", "missing", "str"])
GROUP = st.sampled_from(["g1", "g2"])
CONSUMER = st.sampled_from(["alice", "bob"])
IDS = st.one_of(
    st.builds(lambda ms, seq: f"{ms}-{seq}", st.integers(0, 9), st.integers(0, 2)),
    st.sampled_from(["0", "$", ">", "-", "+", "x"]),
)


def _xack(group: str, ids: list[str]) -> tuple[str, ...]:
    return ("XACK", "s", group, *ids)


def _xclaim(group: str, consumer: str, ids: list[str], extra: list[str]) -> tuple[str, ...]:
    return ("XCLAIM", "s", group, consumer, "0", *ids, "JUSTID", *extra)


def _xautoclaim(group: str, consumer: str, start: str, count: list[str]) -> tuple[str, ...]:
    return ("XAUTOCLAIM", "s", group, consumer, "0", start, *count, "JUSTID")


COMMANDS = st.one_of(
    st.builds(lambda ms: ("XADD", "s", f"{ms}-*", "f", "v"), st.integers(1, 9)),
    st.builds(lambda i: ("XDEL", "s", i), IDS),
    st.builds(lambda n: ("XTRIM", "s", "MAXLEN", n), st.integers(0, 5)),
    st.builds(
        lambda key, group, start, mk: ("XGROUP", "CREATE", key, group, start, *mk),
        KEY,
        GROUP,
        IDS,
        st.sampled_from([[], ["MKSTREAM"], ["ENTRIESREAD", "2"], ["ENTRIESREAD", "-3"], ["BAD"]]),
    ),
    st.builds(lambda key, group, i: ("XGROUP", "SETID", key, group, i), KEY, GROUP, IDS),
    st.builds(lambda key, group: ("XGROUP", "DESTROY", key, group), KEY, GROUP),
    st.builds(
        lambda sub, group, consumer: ("XGROUP", sub, "s", group, consumer),
        st.sampled_from(["CREATECONSUMER", "DELCONSUMER"]),
        GROUP,
        CONSUMER,
    ),
    st.builds(
        lambda group, consumer, count, noack, key, i: (
            "XREADGROUP",
            "GROUP",
            group,
            consumer,
            *count,
            *noack,
            "STREAMS",
            key,
            i,
        ),
        GROUP,
        CONSUMER,
        st.sampled_from([[], ["COUNT", "2"]]),
        st.sampled_from([[], ["NOACK"]]),
        KEY,
        IDS,
    ),
    st.builds(
        lambda group, ids: ("XACK", "s", group, *ids), GROUP, st.lists(IDS, min_size=1, max_size=3)
    ),
    st.builds(lambda key, group: ("XPENDING", key, group), KEY, GROUP),
    st.builds(
        lambda group, consumer, ids, extra: (
            "XCLAIM",
            "s",
            group,
            consumer,
            "0",
            *ids,
            "JUSTID",
            *extra,
        ),
        GROUP,
        CONSUMER,
        st.lists(IDS, min_size=1, max_size=3),
        st.sampled_from([[], ["FORCE"], ["LASTID", "5-0"], ["RETRYCOUNT", "7"]]),
    ),
    st.builds(
        lambda group, consumer, start, count: (
            "XAUTOCLAIM",
            "s",
            group,
            consumer,
            "0",
            start,
            *count,
            "JUSTID",
        ),
        GROUP,
        CONSUMER,
        IDS,
        st.sampled_from([[], ["COUNT", "1"], ["COUNT", "0"]]),
    ),
    st.builds(lambda key: ("XINFO", "GROUPS", key), KEY),
)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=st.lists(COMMANDS, min_size=1, max_size=14))
def test_consumer_group_commands_match_redis(pair: Pair, steps: list[tuple[str, ...]]) -> None:
    same(
        pair,
        ("DEL", "s", "missing", "str"),
        ("SET", "str", "x"),
        *steps,
        ("XPENDING", "s", "g1"),
        ("XINFO", "GROUPS", "s"),
    )
