"""List commands through a Connection: replies in RESP2 and RESP3, and ranges against a model."""

from __future__ import annotations

from collections import deque

import pytest
from _resp import NIL2, NIL3, NOT_INT, SYNTAX, Case, Client, bulk, run_case
from hypothesis import given, settings
from hypothesis import strategies as st
from wireproto.providers.resp.commands.lists import _range, _slice, list_encoding

WRONGTYPE = b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"

CASES = [
    Case("push creates", [("RPUSH", "l", "a", "b"), ("LPUSH", "l", "c")], b":2\r\n:3\r\n"),
    Case("lpush order", [("LPUSH", "l", "a", "b"), ("LRANGE", "l", 0, -1)],
         b":2\r\n*2\r\n" + bulk(b"b") + bulk(b"a")),
    Case("pushx on missing", [("LPUSHX", "l", "a"), ("EXISTS", "l")], b":0\r\n:0\r\n"),
    Case("pop missing", [("LPOP", "l"), ("RPOP", "l", 2)], NIL2 + b"*-1\r\n", NIL3 + NIL3),
    Case("pop count zero", [("RPUSH", "l", "a"), ("LPOP", "l", 0)], b":1\r\n*0\r\n"),
    Case("pop count negative", [("LPOP", "l", -1)],
         b"-ERR value is out of range, must be positive\r\n"),
    Case("pop arity", [("LPOP", "l", 1, 2)],
         b"-ERR wrong number of arguments for 'lpop' command\r\n"),
    Case("rpop count", [("RPUSH", "l", "a", "b", "c"), ("RPOP", "l", 2), ("LLEN", "l")],
         b":3\r\n*2\r\n" + bulk(b"c") + bulk(b"b") + b":1\r\n"),
    Case("last pop deletes", [("RPUSH", "l", "a"), ("LPOP", "l"), ("TYPE", "l")],
         b":1\r\n" + bulk(b"a") + b"+none\r\n"),
    Case("wrong type", [("SET", "s", "v"), ("LPUSH", "s", "a"), ("LLEN", "s")],
         b"+OK\r\n" + WRONGTYPE + WRONGTYPE),
    Case("type list", [("RPUSH", "l", "a"), ("TYPE", "l")], b":1\r\n+list\r\n"),
    Case("lindex", [("RPUSH", "l", "a", "b"), ("LINDEX", "l", -1), ("LINDEX", "l", 2)],
         b":2\r\n" + bulk(b"b") + NIL2, b":2\r\n" + bulk(b"b") + NIL3),
    Case("lindex not integer", [("RPUSH", "l", "a"), ("LINDEX", "l", "x")], b":1\r\n" + NOT_INT),
    Case("lset", [("RPUSH", "l", "a"), ("LSET", "l", 0, "b"), ("LSET", "l", 1, "c"),
                  ("LSET", "m", 0, "c")],
         b":1\r\n+OK\r\n-ERR index out of range\r\n-ERR no such key\r\n"),
    Case("linsert", [("RPUSH", "l", "a"), ("LINSERT", "l", "BEFORE", "a", "z"),
                     ("LINSERT", "l", "after", "q", "z"), ("LINSERT", "l", "x", "a", "z")],
         b":1\r\n:2\r\n:-1\r\n" + SYNTAX),
    Case("lrem from the tail", [("RPUSH", "l", "a", "b", "a", "a"), ("LREM", "l", -2, "a"),
                                ("LRANGE", "l", 0, -1)],
         b":4\r\n:2\r\n*2\r\n" + bulk(b"a") + bulk(b"b")),
    Case("ltrim to nothing", [("RPUSH", "l", "a"), ("LTRIM", "l", 1, 0), ("EXISTS", "l")],
         b":1\r\n+OK\r\n:0\r\n"),
    Case("lpos", [("RPUSH", "l", "a", "b", "a"), ("LPOS", "l", "a", "RANK", -1),
                  ("LPOS", "l", "a", "COUNT", 0), ("LPOS", "l", "q")],
         b":3\r\n:2\r\n*2\r\n:0\r\n:2\r\n" + NIL2, b":3\r\n:2\r\n*2\r\n:0\r\n:2\r\n" + NIL3),
    Case("lpos rank zero", [("LPOS", "l", "a", "RANK", 0)],
         b"-ERR RANK can't be zero: use 1 to start from the first match, 2 from the second "
         b"... or use negative to start from the end of the list\r\n"),
    Case("lpos count negative", [("LPOS", "l", "a", "COUNT", -1)],
         b"-ERR COUNT can't be negative\r\n"),
    Case("lmove", [("RPUSH", "l", "a", "b"), ("LMOVE", "l", "m", "RIGHT", "LEFT"),
                   ("LRANGE", "m", 0, -1)],
         b":2\r\n" + bulk(b"b") + b"*1\r\n" + bulk(b"b")),
    Case("lmove wrong target keeps the source", [("RPUSH", "l", "a"), ("SET", "s", "v"),
                                                 ("LMOVE", "l", "s", "LEFT", "LEFT"),
                                                 ("LLEN", "l")],
         b":1\r\n+OK\r\n" + WRONGTYPE + b":1\r\n"),
    Case("rpoplpush rotates", [("RPUSH", "l", "a", "b"), ("RPOPLPUSH", "l", "l"),
                               ("LRANGE", "l", 0, -1)],
         b":2\r\n" + bulk(b"b") + b"*2\r\n" + bulk(b"b") + bulk(b"a")),
    Case("lmpop", [("RPUSH", "b", "1", "2"), ("LMPOP", 2, "a", "b", "RIGHT", "COUNT", 5),
                   ("LMPOP", 1, "b", "LEFT")],
         b":2\r\n*2\r\n" + bulk(b"b") + b"*2\r\n" + bulk(b"2") + bulk(b"1") + b"*-1\r\n",
         b":2\r\n*2\r\n" + bulk(b"b") + b"*2\r\n" + bulk(b"2") + bulk(b"1") + NIL3),
    Case("lmpop numkeys", [("LMPOP", 0, "a", "LEFT"), ("LMPOP", 3, "a", "LEFT")],
         b"-ERR numkeys should be greater than 0\r\n" + SYNTAX),
    Case("lmpop count", [("LMPOP", 1, "a", "LEFT", "COUNT", 0)],
         b"-ERR count should be greater than 0\r\n"),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
def test_command_replies(case: Case, resp3: bool, accelerated: bool) -> None:
    expected = case.resp3 if resp3 and case.resp3 is not None else case.resp2
    assert run_case(case, accelerated, resp3) == expected


def test_list_encoding_is_redis_7_0s() -> None:
    assert list_encoding(deque([b"a"])) == b"quicklist"


def test_a_range_past_the_output_limit_is_refused(accelerated: bool) -> None:
    client = Client(accelerated)
    client.call("RPUSH", "l", *([b"x" * 1000] * 100))
    client.connection.memory.output_limit = 50_000
    assert client.call("LRANGE", "l", 0, 10).startswith(b"*11\r\n")
    client.call("LRANGE", "l", 0, -1)
    assert client.connection.closed


def _model_range(size: int, start: int, end: int) -> range:
    """LRANGE's indexes, from Redis's rules written out differently."""
    first = max(start + size if start < 0 else start, 0)
    last = min(end + size if end < 0 else end, size - 1)
    return range(first, last + 1)


@settings(max_examples=300)
@given(
    values=st.lists(st.binary(max_size=3), max_size=200),
    start=st.integers(-300, 300),
    end=st.integers(-300, 300),
)
def test_ranges_match_a_model(values: list[bytes], start: int, end: int) -> None:
    items = deque(values)
    indexes = _model_range(len(values), start, end)
    bounds = _range(len(values), start, end)
    if not indexes:
        assert bounds is None
        return
    assert bounds == (indexes.start, indexes.stop)
    assert _slice(items, *bounds) == values[indexes.start : indexes.stop]


@settings(max_examples=200)
@given(size=st.integers(0, 1500), start=st.integers(-1600, 1600), end=st.integers(-1600, 1600))
def test_ranges_of_long_lists_match_list_slices(size: int, start: int, end: int) -> None:
    # Long enough for both ways _slice reads: item by item in the middle, or islice.
    values = [b"%d" % i for i in range(size)]
    indexes = _model_range(size, start, end)
    bounds = _range(size, start, end)
    assert (bounds is None) == (not indexes)
    if bounds is not None:
        assert _slice(deque(values), *bounds) == values[indexes.start : indexes.stop]
