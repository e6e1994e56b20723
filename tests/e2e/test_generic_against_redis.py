"""Generic key commands over every type we have, against a real ``redis-server``:
COPY, MOVE, TOUCH, TYPE, OBJECT ENCODING/REFCOUNT, SCAN TYPE, DUMP and RESTORE.

Hypothesis draws sequences over strings, hashes and sets in two databases. Replies
must be equal byte for byte, except DUMP's payload where Redis LZF-compresses a
string over 20 bytes or lists a hash table in its own order: there each side's
payload must RESTORE on the other side to the same value (compared as Python
values of our store). SCAN ... TYPE is compared as whole iterations (Redis's
cursor is its hash table's). See ``specs/resp/README.md``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from _drive import resp_command as _cmd
from _redis_pair import Pair, parse_replies
from _serve import redis_server
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    with redis_server(tmp_path_factory.mktemp("redis-generic")) as port:
        both = Pair(port)
        yield both
        both.close()


KEYS = st.sampled_from(["a", "b", "c"])
STRINGS = st.sampled_from(["1", "9999", "10000", "-3", "hello", "x" * 30, "y" * 50, "01"])
DBS = st.sampled_from(["0", "1", "16", "x"])
WRITES = st.one_of(
    st.tuples(st.just("SET"), KEYS, STRINGS),
    st.tuples(st.just("APPEND"), KEYS, STRINGS),
    st.tuples(st.just("HSET"), KEYS, st.sampled_from(["f", "g"]), STRINGS),
    st.tuples(st.just("SADD"), KEYS, STRINGS, STRINGS),
    st.tuples(st.just("PEXPIRE"), KEYS, st.just("100000")),
)
GENERIC = st.one_of(
    st.tuples(st.just("COPY"), KEYS, KEYS),
    st.tuples(st.just("COPY"), KEYS, KEYS, st.just("REPLACE")),
    st.tuples(st.just("COPY"), KEYS, KEYS, st.just("DB"), DBS),
    st.tuples(st.just("COPY"), KEYS, KEYS, st.just("DB"), DBS, st.just("REPLACE")),
    st.tuples(st.just("MOVE"), KEYS, DBS),
    st.tuples(st.just("SELECT"), st.sampled_from(["0", "1"])),
    st.tuples(st.just("TOUCH"), KEYS, KEYS),
    st.tuples(st.sampled_from(["TYPE", "TTL", "EXISTS"]), KEYS),
    st.tuples(st.just("OBJECT"), st.sampled_from(["ENCODING", "REFCOUNT"]), KEYS),
    st.tuples(st.just("DUMP"), KEYS),
    st.tuples(st.just("SCAN"), st.just("0"), st.just("TYPE"), st.sampled_from(["string", "set"])),
)  # fmt: skip


def _their_db(pair: Pair) -> int:
    theirs, _ = pair.run(("CLIENT", "INFO"))
    text = parse_replies(theirs)[0]
    assert isinstance(text, bytes)
    return int(text.split(b" db=")[1].split(b" ")[0])


def _check_dump(pair: Pair, key: str) -> None:
    theirs, ours = pair.run(("DUMP", key))
    if theirs == ours:
        return
    their_payload, our_payload = parse_replies(theirs)[0], parse_replies(ours)[0]
    assert isinstance(their_payload, bytes) and isinstance(our_payload, bytes), (theirs, ours)
    # Each side loads the other's payload; both copies must hold our value.
    loaded, _ = pair.run(("RESTORE", "copy:ours", "0", our_payload[1:], "REPLACE"))
    assert loaded == b"+OK\r\n", loaded
    roundtrip, _ = pair.run(("DUMP", "copy:ours"))
    _, ok = pair.run(
        ("RESTORE", "copy:theirs", "0", their_payload[1:], "REPLACE"),
        ("RESTORE", "copy:back", "0", parse_replies(roundtrip)[0][1:], "REPLACE"),  # type: ignore[index]
    )
    assert ok == b"+OK\r\n+OK\r\n", ok
    store = pair.provider.databases[_their_db(pair)]
    original = store.value_of(key.encode())
    assert store.value_of(b"copy:theirs") == original
    assert store.value_of(b"copy:back") == original
    pair.run(("DEL", "copy:ours", "copy:theirs", "copy:back"))


def _whole_scan(pair: Pair, step: tuple[str, ...]) -> None:
    found: list[set[object]] = [set(), set()]
    for side in (0, 1):
        cursor = "0"
        for _ in range(1000):
            reply = parse_replies(pair.run(("SCAN", cursor, *step[2:]))[side])[0]
            assert isinstance(reply, tuple)
            cursor_reply, keys = reply[1]
            assert isinstance(cursor_reply, bytes) and isinstance(keys, tuple)
            found[side].update(keys[1])
            cursor = cursor_reply[1:].decode()
            if cursor == "0":
                break
    assert found[0] == found[1], step


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=st.lists(st.one_of(WRITES, GENERIC), max_size=25), resp3=st.booleans())
def test_generic_sequences_match_redis(
    pair: Pair, steps: list[tuple[str, ...]], resp3: bool
) -> None:
    pair.reset(resp3)
    for step in steps:
        if step[0] == "DUMP":
            _check_dump(pair, step[1])
        elif step[0] == "SCAN":
            _whole_scan(pair, step)
        else:
            pair.same(step)
    for db in ("0", "1"):
        pair.same(("SELECT", db))
        for key in ("a", "b", "c"):
            pair.same(("TYPE", key), ("TTL", key), ("OBJECT", "ENCODING", key))
            _check_dump(pair, key)


def test_restore_errors_match_redis(pair: Pair) -> None:
    pair.reset()
    payload = parse_replies(pair.same(("SET", "s", "v"), ("DUMP", "s")))[1]
    assert isinstance(payload, bytes)
    good = payload[1:]
    bad_crc = good[:-1] + bytes((good[-1] ^ 1,))
    newer = good[:-10] + b"\x0b\x00" + good[-8:]
    pair.same(
        ("RESTORE", "s", "0", good),
        ("RESTORE", "s", "0", good, "REPLACE"),
        ("RESTORE", "t", "-1", good),
        ("RESTORE", "t", "x", good),
        ("RESTORE", "t", "0", bad_crc),
        ("RESTORE", "t", "0", newer),
        ("RESTORE", "t", "0", b"short"),
        ("RESTORE", "t", "0", good, "FOO"),
        ("RESTORE", "t", "0", good, "IDLETIME", "-1"),
        ("RESTORE", "t", "0", good, "FREQ", "256"),
        ("RESTORE", "t", "0", good, "FREQ", "1", "IDLETIME", "1"),
        ("RESTORE", "t", "0", good, "IDLETIME", "x"),
        ("RESTORE", "t", "1", good, "ABSTTL"),
        ("EXISTS", "t"),
        ("RESTORE", "t", "100000", good),
        ("TTL", "t"),
        ("RESTORE", "s", "1", good, "REPLACE", "ABSTTL"),
        ("EXISTS", "s"),
        ("DUMP", "nokey"),
        ("OBJECT", "HELP"),
        ("OBJECT", "FREQ", "t"),
        ("OBJECT", "IDLETIME", "nokey"),
        ("OBJECT", "NOPE", "t"),
        ("OBJECT", "ENCODING"),
    )


def test_copy_move_and_encoding_of_streams_and_hyperloglogs_match_redis(pair: Pair) -> None:
    pair.reset()
    pair.same(
        ("XADD", "st", "1-1", "f", "v"),
        ("COPY", "st", "st2"),
        ("XADD", "st2", "2-1", "g", "w"),
        ("XRANGE", "st", "-", "+"),
        ("XRANGE", "st2", "-", "+"),
        ("MOVE", "st2", "1"),
        ("SELECT", "1"),
        ("XRANGE", "st2", "-", "+"),
        ("OBJECT", "ENCODING", "st2"),
        ("SORT", "st2"),
        ("SELECT", "0"),
        ("PFADD", "hll", "a", "b"),
        ("COPY", "hll", "hll2", "DB", "2"),
        ("SELECT", "2"),
        ("PFCOUNT", "hll2"),
        ("OBJECT", "ENCODING", "hll2"),
    )


ITEMS = st.one_of(
    st.sampled_from(["1", "-5000", "100000", "9223372036854775807", "a", "", "01"]),
    st.binary(max_size=12),
    st.integers(60, 5000).map(lambda size: "z" * size),
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(items=st.lists(ITEMS, min_size=1, max_size=40))
def test_list_payloads_cross_restore(pair: Pair, items: list[str | bytes]) -> None:
    """A list redis-server DUMPs loads here; ours (a quicklist of listpacks) loads there."""
    pair.reset()
    dumped = parse_replies(pair.redis_only(("RPUSH", "l", *items), ("DUMP", "l")))[1]
    assert isinstance(dumped, bytes)
    pair.ours.receive_data(_cmd("RESTORE", "l", "0", dumped[1:]))
    assert pair.ours.data_to_send() == b"+OK\r\n"
    expected = [item.encode() if isinstance(item, str) else item for item in items]
    assert list(pair.provider.store.value_of(b"l")) == expected  # type: ignore[call-overload]
    pair.ours.receive_data(_cmd("DUMP", "l"))
    our_payload = parse_replies(pair.ours.data_to_send())[0]
    assert isinstance(our_payload, bytes)
    replies = parse_replies(
        pair.redis_only(("RESTORE", "l2", "0", our_payload[1:]), ("LRANGE", "l2", "0", "-1"))
    )
    assert replies[0] == b"+OK"
    assert replies[1] == (b"*", tuple(b"$" + item for item in expected))
