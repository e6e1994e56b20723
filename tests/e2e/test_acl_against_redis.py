"""ACL byte for byte against a real ``redis-server``: SETUSER/GETUSER/LIST/DELUSER/DRYRUN,
AUTH as a user, and the NOPERM replies, in RESP2 and RESP3.

Hypothesis draws rule lists; each SETUSER reply must be Redis's, then what the user may
do (ACL DRYRUN over a fixed set of commands, keys and channels) and what it gets running
them must be Redis's too. GETUSER and LIST are compared whole for rules whose description
does not depend on the order of Redis's command dictionary (listed in
``specs/resp/README.md``: with several single-command rules, Redis emits them in hash order).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from _redis_pair import Pair, parse_replies
from _serve import redis_server
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    with redis_server(tmp_path_factory.mktemp("redis-acl")) as port:
        both = Pair(port)
        yield both
        both.close()


def _clean(pair: Pair, resp3: bool = False) -> None:
    pair.run(("AUTH", "default", "any"), ("ACL", "DELUSER", "u", "v"))
    pair.reset(resp3)


RULES = st.sampled_from(
    ["on", "off", ">a", ">b", "<a", "nopass", "resetpass", "~k*", "%R~r*", "%W~w*", "%RW~b*",
     "allkeys", "resetkeys", "&c*", "&d", "allchannels", "resetchannels", "+@all", "-@all",
     "allcommands", "nocommands", "+get", "-get", "+set", "+client|list", "-client",
     "+select|0", "+@string", "-@string", "+@read", "-@write", "+@pubsub", "+@keyspace",
     "reset", "+nosuch", "-@nosuch", "#abc", "bogus", "sanitize-payload"]
)  # fmt: skip

PROBES = [
    ("get", "k1"), ("set", "k1", "v"), ("get", "r1"), ("set", "r1", "v"), ("get", "w1"),
    ("set", "w1", "v"), ("get", "b1"), ("append", "b1", "v"), ("get", "z"), ("del", "k1", "z"),
    ("mset", "k1", "v", "w1", "v"), ("lpush", "k1", "v"), ("hset", "k1", "f", "v"),
    ("client", "list"), ("client", "kill", "id", "1"), ("select", "0"), ("select", "1"),
    ("publish", "c1", "m"), ("publish", "d", "m"), ("publish", "z", "m"),
    ("subscribe", "c1", "z"), ("psubscribe", "c*"), ("ping",), ("flushall",),
    ("config", "get", "x"), ("exists", "k1", "r1"),
]  # fmt: skip
"""What DRYRUN asks for each drawn user."""


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(RULES, max_size=8), st.lists(RULES, max_size=4))
def test_setuser_then_what_the_user_may_do(pair: Pair, first: list[str], second: list[str]) -> None:
    _clean(pair)
    pair.same(("ACL", "SETUSER", "u", *first))
    pair.same(("ACL", "SETUSER", "u", *second))
    pair.same(*(("ACL", "DRYRUN", "u", *probe) for probe in PROBES))
    # Logged in as u (when it may be), the same replies to the same commands.
    pair.same(("ACL", "SETUSER", "v", "on", ">pw", *first, *second))
    pair.same(
        ("AUTH", "v", "pw"),
        ("GET", "k1"),
        ("SET", "w1", "v"),
        ("GET", "z"),
        ("PUBLISH", "c1", "m"),
        ("PUBLISH", "z", "m"),
        ("AUTH", "default", "any"),
    )
    pair.same(("ACL", "GETUSER", "nobody"), ("ACL", "USERS"))


DESCRIBED = st.sampled_from(
    ["on", "off", ">a", ">b", "nopass", "resetpass", "~k*", "%R~r*", "%W~w*", "allkeys",
     "resetkeys", "&c*", "&d", "allchannels", "resetchannels", "+@all", "-@all", "+get",
     "-get", "reset", "skip-sanitize-payload"]
)  # fmt: skip
"""Rules whose description is the same whatever the command dictionary's order."""


@pytest.mark.parametrize("resp3", [False, True])
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rules=st.lists(DESCRIBED, max_size=8))
def test_getuser_and_list(pair: Pair, resp3: bool, rules: list[str]) -> None:
    _clean(pair, resp3)
    pair.same(("ACL", "SETUSER", "u", *rules))
    pair.same(("ACL", "GETUSER", "u"), ("ACL", "LIST"), ("ACL", "GETUSER", "default"))


@pytest.mark.parametrize("resp3", [False, True])
def test_fixed_exchanges(pair: Pair, resp3: bool) -> None:
    _clean(pair, resp3)
    pair.same(
        ("ACL", "SETUSER", "u", "on", ">p1", "~k*", "%R~r*", "&ch*", "-@all", "+@string"),
        ("ACL", "GETUSER", "u"),
        ("ACL", "LIST"),
        ("ACL", "WHOAMI"),
        ("ACL", "CAT", "nosuch"),
        ("ACL", "SETUSER", "u", "(~x"),
        ("ACL", "SETUSER", "a b"),
        ("ACL", "SETUSER", "u", "~*", "~x"),
        ("ACL", "SETUSER", "u", "+client|list|x"),
        ("ACL", "SETUSER", "u", "+get|"),
        ("ACL", "SETUSER", "u", "%X~x"),
        ("ACL", "DRYRUN", "nobody", "get", "k"),
        ("ACL", "DRYRUN", "u", "nosuch", "k"),
        ("ACL", "DRYRUN", "u", "get"),
        ("ACL", "DELUSER", "default"),
        ("ACL", "GENPASS", "0"),
        ("ACL", "GENPASS", "x"),
        ("AUTH", "u", "wrong"),
        ("AUTH", "nobody", "x"),
        ("AUTH", "u", "p1"),
        ("ACL", "WHOAMI"),
        ("GET", "k1"),
        ("GET", "zz"),
        ("MULTI",),
        ("GET", "k1"),
        ("EXEC",),
        ("SETRANGE", "r1", "0", "v"),
        ("AUTH", "default", "x"),
        ("ACL", "WHOAMI"),
        ("ACL", "DELUSER", "u", "nobody"),
    )


def _masked(reply: bytes) -> list[object]:
    """ACL LOG's entries without ``age-seconds`` and ``client-info`` (times, addresses and
    CLIENT LIST fields differ as CLIENT LIST's do)."""
    parsed = parse_replies(reply)[0]
    assert isinstance(parsed, tuple)
    masked: list[object] = []
    for entry in parsed[1]:
        assert isinstance(entry, tuple)
        masked.append(entry[1][:10])
    return masked


def test_acl_log(pair: Pair) -> None:
    _clean(pair)
    pair.same(("ACL", "LOG", "RESET"), ("ACL", "SETUSER", "u", "on", ">pw", "~k*", "+get",
                                         "+multi", "+discard", "+eval"))  # fmt: skip
    pair.same(
        ("AUTH", "u", "pw"), ("GET", "z"), ("GET", "z"), ("SET", "k", "v"), ("MULTI",),
        ("GET", "q"), ("DISCARD",), ("EVAL", "return redis.pcall('get', 'zz')", "0"),
        ("AUTH", "u", "bad"), ("AUTH", "default", "any"),
    )  # fmt: skip
    theirs, ours = pair.run(("ACL", "LOG"))
    assert _masked(ours) == _masked(theirs)
    pair.same(("ACL", "LOG", "RESET"), ("ACL", "LOG"), ("ACL", "LOG", "x"))
