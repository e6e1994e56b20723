"""Key specs byte for byte against ``redis-server`` 7.0.15: COMMAND INFO for every command
both servers know, and COMMAND GETKEYS / GETKEYSANDFLAGS / ACL DRYRUN on argument lists
Hypothesis draws for the commands whose keys take finding (keynum, keyword, getkeys_proc).

Whole COMMAND INFO entries must be Redis's too, except the commands in
KNOWN_DIFFERENCES (also listed in ``specs/resp/README.md``); their key specs, first, last
and step must still be Redis's.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from _redis_pair import Pair, Reply, parse_replies
from _serve import redis_server
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

KNOWN_DIFFERENCES: dict[str, str] = {}
"""Commands whose COMMAND INFO differs from Redis 7.0.15's beyond their subcommand lists,
and why; key specs are never among the differences."""

ARITY_OF_7_2 = {"zrank", "zrevrank"}
"""Commands whose arity may be 7.2's (ZRANK ... WITHSCORE): everything else is compared."""

NOT_IN_REDIS_7_0 = {"client|setinfo", "client|no-touch"}
"""Commands we serve that Redis 7.0 lacks (7.2's)."""


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    with redis_server(tmp_path_factory.mktemp("redis-keyspecs")) as port:
        both = Pair(port)
        yield both
        both.close()


def _entry(raw: bytes) -> tuple[Reply, ...] | None:
    (reply,) = parse_replies(raw)
    assert isinstance(reply, tuple)
    (entry,) = reply[1]
    if entry is None:
        return None
    assert isinstance(entry, tuple)
    return entry[1]


def _names(pair: Pair) -> list[str]:
    _, ours = pair.run(("COMMAND", "LIST"))
    (reply,) = parse_replies(ours)
    assert isinstance(reply, tuple)
    names = [item[1:].decode() for item in reply[1] if isinstance(item, bytes)]
    assert len(names) > 250
    return names


@pytest.mark.parametrize("resp3", [False, True])
def test_command_info_is_redis_for_every_command(pair: Pair, resp3: bool) -> None:
    pair.reset(resp3)
    same = 0
    for name in _names(pair):
        theirs_raw, ours_raw = pair.run(("COMMAND", "INFO", name))
        theirs, ours = _entry(theirs_raw), _entry(ours_raw)
        if theirs is None:
            assert name in NOT_IN_REDIS_7_0
            continue
        assert ours is not None
        # first key, last key, step and the key specs: always Redis's
        assert ours[3:6] == theirs[3:6], name
        assert ours[8] == theirs[8], name
        container = isinstance(theirs[9], tuple) and bool(theirs[9][1])
        if name in ARITY_OF_7_2:
            assert (ours[0], *ours[2:9]) == (theirs[0], *theirs[2:9]), name
        elif name in KNOWN_DIFFERENCES:
            assert ours[:9] != theirs[:9], f"{name} now matches: drop it from KNOWN_DIFFERENCES"
        elif container:  # Redis lists subcommands in its dictionary's order
            assert ours[:9] == theirs[:9], name
        else:
            assert ours_raw == theirs_raw, name
            same += 1
    assert same > 250


def test_the_issue_examples(pair: Pair) -> None:
    pair.reset()
    eval_ = ("EVAL", "x", "3", "key1", "key2", "key3", "arg1", "arg2", "arg3")
    assert pair.same(("COMMAND", "GETKEYS", *eval_)) == (
        b"*3\r\n$4\r\nkey1\r\n$4\r\nkey2\r\n$4\r\nkey3\r\n"
    )
    lmove = ("LMOVE", "mylist1", "mylist2", "left", "left")
    assert pair.same(("COMMAND", "GETKEYSANDFLAGS", *lmove)) == (
        b"*2\r\n*2\r\n$7\r\nmylist1\r\n*3\r\n+RW\r\n+access\r\n+delete\r\n"
        b"*2\r\n$7\r\nmylist2\r\n*2\r\n+RW\r\n+insert\r\n"
    )


COMMANDS = [
    "EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL", "FCALL_RO", "ZUNIONSTORE",
    "ZINTERSTORE", "ZDIFFSTORE", "ZUNION", "ZINTER", "ZDIFF", "ZINTERCARD", "SINTERCARD",
    "XREAD", "XREADGROUP", "SORT", "SORT_RO", "LMOVE", "BLMOVE", "LMPOP", "BLMPOP", "ZMPOP",
    "BZMPOP", "GEORADIUS", "GEORADIUSBYMEMBER", "GEORADIUS_RO", "GEOSEARCHSTORE", "XADD",
    "SET", "BITFIELD", "BITFIELD_RO", "MSET", "MSETNX", "DEL", "RENAME", "COPY", "SMOVE",
    "BLPOP", "PFCOUNT", "PFMERGE", "MGET", "LCS", "GETEX", "RPOPLPUSH", "OBJECT", "XGROUP",
    "XINFO", "PING", "NOSUCH", "WATCH", "SUNIONSTORE", "BITOP", "GET",
]  # fmt: skip
"""Commands with keyword or keynum specs, getkeys_procs, several specs, and a few plain."""

WORDS = [
    "k1", "k2", "k3", "STREAMS", "streams", "STORE", "STOREDIST", "GET", "get", "BY",
    "LIMIT", "KEYS", "AUTH", "BLOCK", "COUNT", "GROUP", "NOACK", "WEIGHTS", "AGGREGATE",
    "LEFT", "RIGHT", "MIN", "MAX", "WITHSCORES", "SET", "INCRBY", "OVERFLOW", "ENCODING",
    "CREATE", "STREAM", "-1", "0", "1", "2", "3", "5", "3abc", " 2", "+2", "02", "",
    "get\x00x", "4294967297", "-4294967295",
]  # fmt: skip
"""Arguments: keys, the keywords the key finders look for, counts good and bad."""


@settings(
    max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.sampled_from(COMMANDS),
    st.lists(st.sampled_from(WORDS), max_size=9),
    st.booleans(),
)
def test_getkeys_is_redis(pair: Pair, command: str, args: list[str], resp3: bool) -> None:
    pair.reset(resp3)
    pair.same(("COMMAND", "GETKEYS", command, *args))
    pair.same(("COMMAND", "GETKEYSANDFLAGS", command, *args))


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.sampled_from([c for c in COMMANDS if c not in ("NOSUCH", "XGROUP", "XINFO", "OBJECT")]),
    st.lists(
        st.one_of(st.sampled_from(["r1", "w1", "k1", "x1"]), st.sampled_from(WORDS[3:])),
        max_size=9,
    ),
)
def test_acl_key_permissions_follow_each_keys_flags(
    pair: Pair, command: str, args: list[str]
) -> None:
    """A user reading ``r*``, writing ``w*`` and doing both on ``k*``: DRYRUN's verdict
    (which key is denied, or OK) is Redis's, key by key."""
    pair.reset()
    rules = ("ACL", "SETUSER", "u", "on", "nopass", "+@all", "%R~r*", "%W~w*", "~k*")
    pair.same(rules)
    try:
        pair.same(("ACL", "DRYRUN", "u", command, *args))
    finally:
        pair.run(("ACL", "DELUSER", "u"))


PROBES = [
    ("GET", "r1"), ("GET", "w1"), ("SET", "w1", "v"), ("SET", "w1", "v", "GET"),
    ("SET", "r1", "v"), ("LMOVE", "k1", "w1", "LEFT", "LEFT"),
    ("LMOVE", "r1", "w1", "LEFT", "LEFT"), ("LMOVE", "k1", "r1", "LEFT", "LEFT"),
    ("COPY", "r1", "w1"), ("COPY", "w1", "r1"),
    ("RENAME", "k1", "w1"), ("SMOVE", "k1", "w1", "m"), ("EVAL", "x", "2", "r1", "w1"),
    ("EVAL_RO", "x", "1", "r1"), ("EVAL", "x", "0", "r1"), ("SORT", "r1", "STORE", "w1"),
    ("SORT", "r1"), ("SORT_RO", "r1", "BY", "x1"), ("ZUNIONSTORE", "w1", "2", "r1", "k1"),
    ("ZUNIONSTORE", "w1", "3", "r1", "k1"), ("XREAD", "STREAMS", "r1", "w1", "0", "0"),
    ("XADD", "w1", "*", "f", "v"), ("BITFIELD", "r1", "GET", "u8", "0"),
    ("BITFIELD", "r1", "SET", "u8", "0", "1"), ("BITFIELD_RO", "r1", "GET", "u8", "0"),
    ("PFCOUNT", "r1"), ("GETEX", "r1"), ("GETDEL", "w1"), ("APPEND", "w1", "x"),
    ("GEORADIUS", "r1", "0", "0", "1", "km", "STORE", "w1"), ("OBJECT", "ENCODING", "r1"),
    ("XGROUP", "CREATE", "r1", "g", "$"), ("XINFO", "STREAM", "r1"), ("EXISTS", "x1", "r1"),
    ("LMPOP", "2", "k1", "w1", "LEFT"), ("BLMPOP", "0", "1", "w1", "LEFT"), ("DEL", "w1", "r1"),
]  # fmt: skip
"""ACL DRYRUN requests: keys read, written or both by commands whose keys differ."""


def test_acl_checks_each_key_by_its_own_flags(pair: Pair) -> None:
    pair.reset()
    pair.same(("ACL", "SETUSER", "u", "on", "nopass", "+@all", "%R~r*", "%W~w*", "~k*"))
    try:
        for probe in PROBES:
            pair.same(("ACL", "DRYRUN", "u", *probe))
    finally:
        pair.run(("ACL", "DELUSER", "u"))
