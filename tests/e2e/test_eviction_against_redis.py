"""maxmemory against a real ``redis-server``: CONFIG, -OOM, OBJECT FREQ/IDLETIME and RESTORE.

Only what is deterministic on both sides is compared byte for byte: parameter
values and errors, the OOM refusal when one key is over a 1-byte limit (Redis's
own overhead is over it too), the LFU counter's first steps (5 for a new key, 6
after one access: the first increment has probability 1), the errors OBJECT gives
under the other policy. Which keys a sampled policy evicts is not compared
(memory figures are estimates here; see ``specs/resp/README.md``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from _redis_pair import Pair
from _serve import redis_server


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    with redis_server(tmp_path_factory.mktemp("redis-eviction")) as port:
        both = Pair(port)
        yield both
        both.close()


@pytest.fixture(autouse=True)
def fresh(pair: Pair) -> Iterator[None]:
    pair.reset()
    yield
    pair.run(("CONFIG", "SET", "maxmemory", "0", "maxmemory-policy", "noeviction"))
    pair.run(("CONFIG", "SET", "maxmemory-samples", "5"))


def test_config_get_and_set(pair: Pair) -> None:
    pair.same(
        ("CONFIG", "GET", "maxmemory"),
        ("CONFIG", "GET", "maxmemory-policy"),
        ("CONFIG", "GET", "maxmemory-samples"),
        ("CONFIG", "GET", "lfu-log-factor"),
        ("CONFIG", "GET", "lfu-decay-time"),
        ("CONFIG", "GET", "maxmemory-eviction-tenacity"),
    )
    for value in ("1gb", "100mb", "10k", "3KB", "12345", "7b", "2G", "0"):
        pair.same(("CONFIG", "SET", "maxmemory", value), ("CONFIG", "GET", "maxmemory"))
    for value in ("-1", "1x", "mb", "1.5mb", "abc"):
        pair.same(("CONFIG", "SET", "maxmemory", value))
    for policy in ("volatile-lru", "ALLKEYS-LFU", "volatile-ttl", "allkeys-random", "lru", ""):
        pair.same(
            ("CONFIG", "SET", "maxmemory-policy", policy), ("CONFIG", "GET", "maxmemory-policy")
        )
    for name, value in (
        ("maxmemory-samples", "0"),
        ("maxmemory-samples", "1"),
        ("maxmemory-samples", "x"),
        ("lfu-log-factor", "-1"),
        ("lfu-decay-time", "7"),
        ("maxmemory-eviction-tenacity", "100"),
        ("maxmemory-eviction-tenacity", "101"),
    ):
        pair.same(("CONFIG", "SET", name, value), ("CONFIG", "GET", name))
    pair.same(
        ("CONFIG", "SET", "lfu-log-factor", "10", "lfu-decay-time", "1"),
        ("CONFIG", "SET", "maxmemory-eviction-tenacity", "10"),
    )


def test_oom_under_noeviction(pair: Pair) -> None:
    pair.same(("SET", "kept", "value"), ("RPUSH", "list", "a"))
    pair.same(("CONFIG", "SET", "maxmemory", "1"))
    pair.same(
        ("SET", "x", "y"),
        ("RPUSH", "list", "b"),
        ("APPEND", "kept", "more"),
        ("GET", "kept"),  # reads run
        ("LLEN", "list"),
        ("EXISTS", "kept", "x"),
        ("DEL", "list"),  # DEL is not denyoom
        ("MULTI",),
        ("GET", "kept"),  # inside MULTI, queueing anything is refused
        ("EXEC",),
        ("MULTI",),
        ("DISCARD",),
        ("INCR", "counter"),
        ("SETNX", "kept", "v"),
    )
    pair.same(("CONFIG", "SET", "maxmemory", "0"), ("SET", "x", "y"))


def test_object_freq_and_idletime_errors_and_lfu_counter(pair: Pair) -> None:
    pair.same(
        ("SET", "k", "value"),
        ("OBJECT", "FREQ", "k"),
        ("OBJECT", "FREQ", "missing"),
        ("OBJECT", "IDLETIME", "missing"),
        ("CONFIG", "SET", "maxmemory-policy", "allkeys-lfu"),
        ("OBJECT", "IDLETIME", "k"),
        ("SET", "new", "value"),
        ("OBJECT", "FREQ", "new"),
        ("GET", "new"),
        ("OBJECT", "FREQ", "new"),
        ("OBJECT", "FREQ", "new"),  # OBJECT does not count as an access
        ("CONFIG", "SET", "maxmemory-policy", "volatile-lru"),
        ("OBJECT", "FREQ", "new"),
    )  # (IDLETIME after a switch from LFU reads the LFU field as a clock in Redis: not compared)


def test_restore_sets_idletime_or_freq(pair: Pair) -> None:
    pair.same(("SET", "k", "value"), ("CONFIG", "SET", "maxmemory-policy", "allkeys-lru"))
    theirs, _ = pair.run(("DUMP", "k"))
    payload = theirs.split(b"\r\n", 1)[1][:-2]
    pair.same(("RESTORE", "idle", "0", payload, "IDLETIME", "1000"))
    theirs, ours = pair.run(("OBJECT", "IDLETIME", "idle"))
    assert theirs in (b":1000\r\n", b":1001\r\n") and ours in (b":1000\r\n", b":1001\r\n")
    pair.same(
        ("CONFIG", "SET", "maxmemory-policy", "volatile-lfu"),
        ("RESTORE", "freq", "0", payload, "FREQ", "100"),
        ("OBJECT", "FREQ", "freq"),
        ("RESTORE", "bad", "0", payload, "FREQ", "256"),
        ("RESTORE", "bad", "0", payload, "IDLETIME", "-1"),
        ("RESTORE", "bad", "0", payload, "FREQ", "1", "IDLETIME", "1"),
    )


def test_evictions_keep_within_the_limit(pair: Pair) -> None:
    # Redis's own overhead is over a 1-byte limit: every key goes, on both sides.
    for policy in ("allkeys-lru", "allkeys-lfu", "allkeys-random"):
        pair.same(("SET", "a", "1"), ("SET", "b", "2"), ("HSET", "h", "f", "v"))
        pair.same(
            ("CONFIG", "SET", "maxmemory-policy", policy), ("CONFIG", "SET", "maxmemory", "1")
        )
        pair.same(("DBSIZE",), ("GET", "a"))
        pair.same(("CONFIG", "SET", "maxmemory", "0"))
    pair.same(
        ("SET", "forever", "1"),
        ("SET", "soon", "2", "EX", "100"),
        ("CONFIG", "SET", "maxmemory-policy", "volatile-ttl"),
        ("CONFIG", "SET", "maxmemory", "1"),
        ("EXISTS", "forever", "soon"),
        ("SET", "x", "y"),  # no key with an expiry left: refused
    )
