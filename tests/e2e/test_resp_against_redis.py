"""INCRBYFLOAT and the in-place string writes, byte for byte against a real ``redis-server``.

Each case runs the same commands on an in-process RESP connection and on a
``redis-server`` (started on an OS-chosen port, stopped by its pid) and
compares every reply byte. INCRBYFLOAT's strings come from a table of the
edge cases ``strtold`` and Redis's ``string2ld`` decide (NUL bytes, spaces,
``inf``, ``nan``, hex floats, overflow, underflow, over-long digit runs) and
from Hypothesis, which builds them from the characters those rules look at.
APPEND, SETRANGE, GETRANGE, STRLEN and GET run as Hypothesis-drawn sequences.
"""

from __future__ import annotations

import pytest
from _differential import Pair, same
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wireproto.providers.resp.numbers import parse_long_double

TIMEOUT = 15.0


def _as_increment_and_as_value(pair: Pair, text: bytes) -> None:
    """``text`` as INCRBYFLOAT's increment (on a missing and on a set key) and as the value."""
    same(
        pair,
        ("DEL", "f"),
        ("INCRBYFLOAT", "f", text),
        ("GET", "f"),
        ("SET", "f", "10.5"),
        ("INCRBYFLOAT", "f", text),
        ("GET", "f"),
        ("SET", "f", text),
        ("INCRBYFLOAT", "f", "0"),
        ("SET", "f", text),
        ("INCRBYFLOAT", "f", "1.5"),
        ("GET", "f"),
    )


EDGE_CASES = [
    b"1.5\x00abc", b"\x00", b"1\x00", b"\x001", b"", b" ", b"1.5 ", b" 1.5", b"\t1", b"1\n",
    b"+1.5", b"-1.5", b"+", b"-", b".", b"1.", b".5", b"-.5", b"+.5e1", b"1e", b"1e+", b"1e-3",
    b"1E3", b"3.0e3", b"1e-5", b"10.5", b"0.1", b"-0", b"-0.0", b"0e0", b"00012", b"1_0",
    b"inf", b"-inf", b"+inf", b"INF", b"Infinity", b"-infinity", b"infin", b"nan", b"-nan",
    b"NaN", b"nan(1)", b"0x1p3", b"0X1P-3", b"0x.8", b"0x1.8p1", b"0x", b"0x1p", b"0xg",
    b"0x1P+3", b"1e500", b"-1e500", b"1e4932", b"1e4933", b"1e-4950", b"1e-4952", b"1e-5000",
    b"1" * 4300, b"1" * 4400, b"0." + b"0" * 4400 + b"1", b"1e" + b"9" * 4400,
    b"1e-" + b"9" * 4400, b"0x" + b"f" * 4090, b"0x" + b"f" * 4100,
    b"1" * 5119, b"1" * 5120, b"1.797693134862315708e308", b"4.9e-324", b"0.30000000000000004",
    b"123456789012345678901234567890", b"1e17", b"1e18", b"1e-17", b"1e-18", b"5e-18",
    b"\xff", b"\xef\xbc\x91",
]  # fmt: skip


@pytest.mark.parametrize("text", EDGE_CASES, ids=lambda text: repr(text[:24]))
def test_edge_cases_match_redis(pair: Pair, text: bytes) -> None:
    _as_increment_and_as_value(pair, text)


def test_the_reported_nul_case_is_refused(pair: Pair) -> None:
    replies = same(pair, ("DEL", "f"), ("INCRBYFLOAT", "f", b"1.5\x00abc"), ("EXISTS", "f"))
    assert replies.endswith(b"\r\n-ERR value is not a valid float\r\n:0\r\n")
    assert parse_long_double(b"1.5\x00abc") is None


@pytest.mark.parametrize(
    ("start", "increment", "shown"),
    [
        (b"10", b"0.5", b"10.5"),
        (b"3.0e3", b"0", b"3000"),
        (b"0", b"1e-5", b"0.00001"),
        (b"10.5", b"0.1", b"10.6"),
        (b"5.0e3", b"2.0e2", b"5200"),
        (b"1", b"-1", b"0"),
        (b"-0.0", b"0", b"0"),
        (b"0", b"1e-18", b"0"),
        (b"0", b"1e20", b"100000000000000000000"),
    ],
)
def test_results_are_formatted_as_redis_does(
    pair: Pair, start: bytes, increment: bytes, shown: bytes
) -> None:
    replies = same(pair, ("SET", "f", start), ("INCRBYFLOAT", "f", increment), ("GET", "f"))
    bulk = b"$%d\r\n%s\r\n" % (len(shown), shown)
    assert replies == b"+OK\r\n" + bulk + bulk


_PIECES = [
    "0", "1", "5", "9", ".", "e", "E", "+", "-", "x", "p", "a", "f", "inf", "nan", " ",
    "\x00", "\t", "00", "17", "e3", "e-3", "0x", "1e308", "1e-320",
]  # fmt: skip
_FLOATISH = st.lists(st.sampled_from(_PIECES), max_size=8).map(
    lambda parts: "".join(parts).encode()
)

_FLOATS = st.floats(allow_nan=True, allow_infinity=True).map(lambda x: repr(x).encode())
_DECIMALS = st.decimals(allow_nan=False, allow_infinity=False, places=None).map(
    lambda d: str(d).encode()
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=st.one_of(_FLOATISH, _FLOATS, _DECIMALS, st.binary(max_size=6)))
def test_any_string_is_parsed_as_redis_does(pair: Pair, text: bytes) -> None:
    _as_increment_and_as_value(pair, text)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    start=st.one_of(_FLOATS, _DECIMALS, _FLOATISH),
    increments=st.lists(st.one_of(_FLOATS, _DECIMALS), min_size=1, max_size=4),
)
def test_sums_are_added_and_printed_as_redis_does(
    pair: Pair, start: bytes, increments: list[bytes]
) -> None:
    same(
        pair,
        ("SET", "f", start),
        *(("INCRBYFLOAT", "f", increment) for increment in increments),
        ("GET", "f"),
    )


# -- APPEND, SETRANGE, GETRANGE on values changed in place ------------------------------

_INDEX = st.integers(-30, 30) | st.sampled_from([-(2**63), 2**63 - 1, 0, -1])
_WRITES = st.one_of(
    st.tuples(st.just("APPEND"), st.binary(max_size=9)),
    st.tuples(st.just("SETRANGE"), st.integers(0, 40), st.binary(max_size=9)),
    st.tuples(st.just("SET"), st.binary(max_size=9)),
    st.tuples(st.just("GETRANGE"), _INDEX, _INDEX),
    st.tuples(st.just("STRLEN")),
    st.tuples(st.just("GET")),
    st.tuples(st.just("INCRBYFLOAT"), st.sampled_from(["1", "0.5", "-2e1"])),
    st.tuples(st.just("DEL")),
)


def _request(step: tuple[object, ...], key: str) -> tuple[bytes | str, ...]:
    name, *args = step
    return (str(name), key, *(a if isinstance(a, bytes) else str(a) for a in args))


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=st.lists(_WRITES, max_size=30))
def test_in_place_string_writes_match_redis(pair: Pair, steps: list[tuple[object, ...]]) -> None:
    same(pair, ("DEL", "s"), *(_request(step, "s") for step in steps), ("GET", "s"))
