"""Hashes and sets on an in-process connection: the random picks' count rules, HSCAN and
SSCAN's cursors over big values, and the encodings' thresholds at max and max+1."""

from __future__ import annotations

import pytest
from _redis_pair import parse_replies
from _resp import Client
from hypothesis import given, settings
from hypothesis import strategies as st
from wireproto.providers.datatypes.encodings import encoding_of
from wireproto.providers.datatypes.thresholds import THRESHOLDS
from wireproto.providers.resp.commands.sort import strtod


def _items(reply: bytes) -> list[object]:
    parsed = parse_replies(reply)[0]
    assert isinstance(parsed, tuple)
    return list(parsed[1])


def test_hset_counts_new_fields_and_hmset_says_ok(accelerated: bool) -> None:
    client = Client(accelerated)
    assert client.call("HSET", "h", "a", 1, "b", 2) == b":2\r\n"
    assert client.call("HSET", "h", "a", 3, "c", 4) == b":1\r\n"
    assert client.call("HMSET", "h", "d", 5) == b"+OK\r\n"
    assert client.call("HSET", "h", "odd") == (
        b"-ERR wrong number of arguments for 'hset' command\r\n"
    )
    assert client.call("HGETALL", "h") == (
        b"*8\r\n$1\r\na\r\n$1\r\n3\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nc\r\n$1\r\n4\r\n$1\r\nd\r\n$1\r\n5\r\n"
    )
    client.call("HELLO", 3)
    assert client.call("HGETALL", "h").startswith(b"%4\r\n$1\r\na\r\n$1\r\n3\r\n")
    assert client.call("HGETALL", "none") == b"%0\r\n"


def test_wrong_type_everywhere(accelerated: bool) -> None:
    client = Client(accelerated)
    client.call("SET", "str", "x")
    wrong = b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
    for command in [
        ("HGET", "str", "a"),
        ("HSET", "str", "a", 1),
        ("SADD", "str", 1),
        ("SMEMBERS", "str"),
        ("SINTER", "none", "str"),
        ("HRANDFIELD", "str", 1),
    ]:
        assert client.call(*command) == wrong, command
    client.call("SADD", "s", 1)
    assert client.call("GET", "s") == wrong
    assert client.call("TYPE", "s") == b"+set\r\n"  # fmt: skip


def test_hrandfield_counts(accelerated: bool) -> None:
    client = Client(accelerated)
    client.call("HSET", "h", "a", 1, "b", 2, "c", 3)
    distinct = _items(client.call("HRANDFIELD", "h", 2))
    assert len(distinct) == 2 and len(set(distinct)) == 2
    assert {b"$a", b"$b", b"$c"} >= set(distinct)  # type: ignore[arg-type]
    repeated = _items(client.call("HRANDFIELD", "h", -10))
    assert len(repeated) == 10
    pairs = _items(client.call("HRANDFIELD", "h", -4, "WITHVALUES"))
    assert len(pairs) == 8
    client.call("HELLO", 3)
    nested = _items(client.call("HRANDFIELD", "h", 2, "WITHVALUES"))
    assert len(nested) == 2 and all(isinstance(item, tuple) for item in nested)
    assert client.call("HRANDFIELD", "h") in (b"$1\r\na\r\n", b"$1\r\nb\r\n", b"$1\r\nc\r\n")


def test_spop_and_srandmember_counts(accelerated: bool) -> None:
    client = Client(accelerated)
    client.call("SADD", "s", *range(10))
    picked = _items(client.call("SRANDMEMBER", "s", 4))
    assert len(set(picked)) == 4
    assert len(_items(client.call("SRANDMEMBER", "s", -30))) == 30
    popped = _items(client.call("SPOP", "s", 3))
    assert len(set(popped)) == 3
    assert client.call("SCARD", "s") == b":7\r\n"
    for member in popped:
        assert isinstance(member, bytes)
        assert client.call("SISMEMBER", "s", member[1:]) == b":0\r\n"
    one = client.call("SPOP", "s")
    assert client.call("SCARD", "s") == b":6\r\n"
    assert client.call("SISMEMBER", "s", one.split(b"\r\n")[1]) == b":0\r\n"
    assert client.call("SPOP", "s", 6).startswith(b"*6\r\n")
    assert client.call("EXISTS", "s") == b":0\r\n"


def _whole_scan(client: Client, command: str, key: str, count: int) -> list[bytes]:
    seen: list[bytes] = []
    cursor = b"0"
    for _ in range(10_000):
        reply = parse_replies(client.call(command, key, cursor, "COUNT", count))[0]
        assert isinstance(reply, tuple)
        cursor_reply, elements = reply[1]
        assert isinstance(cursor_reply, bytes) and isinstance(elements, tuple)
        seen.extend(item for item in elements[1] if isinstance(item, bytes))
        cursor = cursor_reply[1:]
        if cursor == b"0":
            return seen
    raise AssertionError("the scan did not end")


@settings(max_examples=20, deadline=None)
@given(
    members=st.sets(st.binary(min_size=1, max_size=8), min_size=1, max_size=700),
    count=st.integers(1, 50),
)
def test_sscan_returns_every_member_once_or_more(members: set[bytes], count: int) -> None:
    client = Client(False)
    client.call("SADD", "s", *members)
    assert set(_whole_scan(client, "SSCAN", "s", count)) == {b"$" + m for m in members}


def test_hscan_survives_writes_between_calls(accelerated: bool) -> None:
    client = Client(accelerated)
    fields = [b"f%d" % i for i in range(1000)]
    client.call("HSET", "h", *[part for field in fields for part in (field, b"v")])
    seen: set[bytes] = set()
    cursor = b"0"
    for step in range(10_000):
        reply = parse_replies(client.call("HSCAN", "h", cursor, "COUNT", 20))[0]
        assert isinstance(reply, tuple)
        cursor_reply, elements = reply[1]
        assert isinstance(cursor_reply, bytes) and isinstance(elements, tuple)
        seen.update(item for item in elements[1][::2] if isinstance(item, bytes))
        client.call("HSET", "h", b"new%d" % step, b"v")  # added meanwhile: may or may not show
        cursor = cursor_reply[1:]
        if cursor == b"0":
            break
    assert {b"$" + field for field in fields} <= seen


@pytest.mark.parametrize(
    ("size", "expected"), [(THRESHOLDS.hash_max_listpack_entries, b"listpack"),
                           (THRESHOLDS.hash_max_listpack_entries + 1, b"hashtable")]
)  # fmt: skip
def test_hash_entries_threshold(size: int, expected: bytes) -> None:
    assert encoding_of({b"%d" % i: b"v" for i in range(size)}) == expected


@pytest.mark.parametrize(
    ("size", "expected"), [(THRESHOLDS.hash_max_listpack_value, b"listpack"),
                           (THRESHOLDS.hash_max_listpack_value + 1, b"hashtable")]
)  # fmt: skip
def test_hash_value_threshold(size: int, expected: bytes) -> None:
    assert encoding_of({b"f": b"v" * size}) == expected
    assert encoding_of({b"f" * size: b"v"}) == expected


@pytest.mark.parametrize(
    ("size", "expected"), [(THRESHOLDS.set_max_intset_entries, b"intset"),
                           (THRESHOLDS.set_max_intset_entries + 1, b"hashtable")]
)  # fmt: skip
def test_intset_threshold(size: int, expected: bytes, accelerated: bool) -> None:
    client = Client(accelerated)
    client.call("SADD", "s", *range(size, 0, -1))
    assert encoding_of(client.provider.store.value_of(b"s")) == expected
    if expected == b"intset":  # listed by value, as Redis's intset
        members = [item for item in _items(client.call("SMEMBERS", "s"))]
        assert members == [b"$%d" % i for i in range(1, size + 1)]
        reply = client.call("SSCAN", "s", 0, "COUNT", 1)
        assert reply.startswith(b"*2\r\n$1\r\n0\r\n*%d\r\n" % size)


@pytest.mark.parametrize(
    ("text", "expected"),
    [(b"2", 2.0), (b"", 0.0), (b" 3", 3.0), (b"0x10", 16.0), (b"1.5\x00junk", 1.5),
     (b"-inf", float("-inf")), (b"1e-300", 1e-300), (b"0e5", 0.0), (b"x", None), (b" ", None),
     (b"3 ", None), (b"nan", None), (b"1e400", None), (b"1e-400", None), (b"2.5e-320", None)],
)  # fmt: skip
def test_sort_weights_follow_strtod(text: bytes, expected: float | None) -> None:
    assert strtod(text) == expected


def test_sort_by_and_get_patterns(accelerated: bool) -> None:
    client = Client(accelerated)
    client.call("SADD", "s", "a", "b", "c")
    client.call("MSET", "w_a", 3, "w_b", 1, "w_c", 2, "v_a", "A")
    client.call("HSET", "h_b", "f", "B")
    assert client.call("SORT", "s", "BY", "w_*", "GET", "#", "GET", "v_*", "GET", "h_*->f") == (
        b"*9\r\n$1\r\nb\r\n$-1\r\n$1\r\nB\r\n$1\r\nc\r\n$-1\r\n$-1\r\n$1\r\na\r\n$1\r\nA\r\n$-1\r\n"
    )
    assert client.call("SORT", "s", "BY", "w_*", "DESC", "LIMIT", 0, 1, "STORE", "d") == b":1\r\n"
    assert client.call("TYPE", "d") == b"+list\r\n"
    assert client.call("SORT", "d") == b"-ERR One or more scores can't be converted into double\r\n"
    assert client.call("SORT", "d", "ALPHA") == b"*1\r\n$1\r\na\r\n"
    assert client.call("SORT_RO", "s", "STORE", "d") == b"-ERR syntax error\r\n"


@pytest.mark.parametrize(
    ("parameter", "value", "expected"),
    [
        ("hash-max-listpack-entries", "1", [b"listpack", b"hashtable"]),
        ("hash-max-ziplist-value", "2", [b"listpack", b"hashtable"]),
        ("set-max-intset-entries", "1", [b"intset", b"hashtable"]),
        ("zset-max-listpack-entries", "1", [b"listpack", b"skiplist"]),
        ("zset-max-ziplist-value", "2", [b"listpack", b"skiplist"]),
    ],
)
def test_config_set_moves_the_encoding_thresholds(
    parameter: str, value: str, expected: list[bytes]
) -> None:
    """At the threshold a value keeps its compact encoding; one past it, it leaves it."""
    client = Client(accelerated=False)
    add = {
        "hash": lambda key, n: ("HSET", key, *(x for i in range(n) for x in (f"f{i}", "vv"))),
        "set": lambda key, n: ("SADD", key, *(str(i) for i in range(n))),
        "zset": lambda key, n: ("ZADD", key, *(x for i in range(n) for x in (str(i), f"m{i}"))),
    }[parameter.split("-", maxsplit=1)[0]]
    try:
        assert client.call("CONFIG", "SET", parameter, value) == b"+OK\r\n"
        if parameter.endswith("value"):
            small = ("HSET", "at", "ab", "xy") if parameter[0] == "h" else ("ZADD", "at", "1", "ab")
            large = (
                ("HSET", "past", "abc", "x")
                if parameter[0] == "h"
                else ("ZADD", "past", "1", "abc")
            )
            client.call(*small)
            client.call(*large)
        else:
            client.call(*add("at", int(value)))
            client.call(*add("past", int(value) + 1))
        got = [client.call("OBJECT", "ENCODING", key) for key in ("at", "past")]
        assert got == [b"$%d\r\n%s\r\n" % (len(e), e) for e in expected]
    finally:
        client.call(
            "CONFIG",
            "SET",
            parameter,
            {"hash": "512", "set": "512", "zset": "128"}[parameter.split("-", maxsplit=1)[0]]
            if parameter.endswith("entries")
            else "64",
        )
