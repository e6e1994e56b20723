"""maxmemory: the memory account, the eviction pool and policies, LRU/LFU, -OOM (sans-I/O)."""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterator
from pathlib import Path

import pytest
from _drive import START, Clock
from _drive import resp_command as cmd
from _memcache import shared_registry
from _resp import Client, bulk
from hypothesis import given, settings
from hypothesis import strategies as st
from wireproto.providers.eviction import (
    ARMED,
    EVPOOL_SIZE,
    KEY_OVERHEAD,
    LFU_INIT_VAL,
    RECOUNT_LIMIT,
    EvictionPool,
    estimate,
    guard_of,
    key_size,
    lfu_decr,
    lfu_log_incr,
    lfu_minutes,
    recount,
    value_size,
)
from wireproto.providers.kvstore import Databases, Store, shared_databases
from wireproto.providers.memcache import Claim
from wireproto.providers.memcache.binary_messages import STORE_EXTRAS, Opcode, build_request
from wireproto.providers.persistence.log import AppendLog
from wireproto.providers.resp import RespProvider, register
from wireproto.providers.resp.commands.maxmemory import OOM, parse_memory

from wireproto import Connection, Registry

OK = b"+OK\r\n"
NOT_LFU = (
    b"-ERR An LFU maxmemory policy is not selected, access frequency not tracked. "
    b"Please note that when switching between policies at runtime LRU and LFU data "
    b"will take some time to adjust.\r\n"
)
IS_LFU = (
    b"-ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that "
    b"when switching between policies at runtime LRU and LFU data will take some time to "
    b"adjust.\r\n"
)


@pytest.fixture(autouse=True)
def _armed_count_restored() -> Iterator[None]:
    # Guards left armed die with their test's provider: the process-wide switch must not
    # send the other tests' commands down the checked path.
    before = ARMED.count
    yield
    ARMED.count = before


def info_field(client: Client, name: bytes) -> bytes:
    reply = client.call("INFO", "everything")
    for line in reply.split(b"\r\n"):
        if line.startswith(name + b":"):
            return line.partition(b":")[2]
    raise AssertionError(name)


def used(client: Client) -> int:
    return int(info_field(client, b"used_memory"))


# -- the pool, against a model ------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(st.integers(0, 40).map(lambda s: ("insert", s)), st.just(("pop", 0))),
        max_size=120,
    )
)
def test_the_pool_keeps_the_best_sixteen_scores_and_pops_the_best(
    ops: list[tuple[str, int]],
) -> None:
    pool = EvictionPool()
    model: list[int] = []  # the multiset of scores the pool must hold
    score_of: dict[bytes, int] = {}
    for n, (op, score) in enumerate(ops):
        if op == "insert":
            score_of[b"k%d" % n] = score
            pool.insert(score, n % 3, b"k%d" % n)
            if len(model) < EVPOOL_SIZE:
                model.append(score)
            elif score > min(model):  # a full pool drops its worst for a better one
                model.remove(min(model))
                model.append(score)
        else:
            best = pool.pop_best()
            if not model:
                assert best is None
            else:
                top = max(model)
                model.remove(top)
                assert best is not None
                db, key = best
                assert score_of[key] == top and int(key[1:]) % 3 == db  # the best goes first
                assert [e for e in pool.entries if e[2] == key] == []
        scores = [entry[0] for entry in pool.entries]
        assert scores == sorted(scores)  # ascending: the best at the right end
        assert sorted(scores) == sorted(model)
        assert len(scores) <= EVPOOL_SIZE


def test_the_pool_refuses_a_score_no_better_than_the_worst_of_a_full_pool() -> None:
    pool = EvictionPool()
    for score in range(10, 10 + EVPOOL_SIZE):
        pool.insert(score, 0, b"%d" % score)
    pool.insert(10, 0, b"tie")  # equal to the worst: not better, dropped
    pool.insert(3, 0, b"low")
    assert [key for _, _, key in pool.entries] == [b"%d" % s for s in range(10, 10 + EVPOOL_SIZE)]
    pool.insert(11, 1, b"better")  # better than the worst: the worst goes
    assert pool.entries[0][2] != b"10" and (11, 1, b"better") in pool.entries


# -- sizes and the account ------------------------------------------------------------------


def test_sizes() -> None:
    assert value_size(b"abc") == 3
    assert key_size(b"k", (b"abc", None, 0, 0)) == KEY_OVERHEAD + 1 + 3
    assert key_size(b"k", (b"abc", START, 0, 0)) == KEY_OVERHEAD + 1 + 3 + 32
    assert key_size(b"k", None) == 0
    assert value_size(deque([b"a", b"bc"])) == 64 + (1 + 16) + (2 + 16)
    assert value_size({b"f": b"vv"}) == 64 + 1 + 2 + 32
    assert value_size({b"m"}) == 64 + 1 + 24
    # Large containers are sized from their first elements: O(1) per write.
    big = deque([b"x" * 10] * 10_000)
    assert value_size(big) == 64 + 10_000 * 26


KEYS = [b"a", b"b", b"c", b"d"]
_key = st.sampled_from(KEYS)
_value = st.binary(max_size=40)
_op = st.one_of(
    st.tuples(st.just("set"), _key, _value),
    st.tuples(st.just("setex"), _key, _value),
    st.tuples(st.just("append"), _key, _value),
    st.tuples(st.just("setrange"), _key, _value),
    st.tuples(st.just("incr"), _key, _value),
    st.tuples(st.just("delete"), _key, _value),
    st.tuples(st.just("lpush"), _key, _value),
    st.tuples(st.just("lpop"), _key, _value),
    st.tuples(st.just("hset"), _key, _value),
    st.tuples(st.just("sadd"), _key, _value),
    st.tuples(st.just("rename"), _key, _value),
    st.tuples(st.just("persist"), _key, _value),
    st.tuples(st.just("restore"), _key, _value),
    st.tuples(st.just("tick"), _key, _value),
    st.tuples(st.just("select"), _key, _value),
    st.tuples(st.just("swapdb"), _key, _value),
    st.tuples(st.just("flush"), _key, _value),
)


def _apply(databases: Databases, db: int, clock: Clock, op: tuple[str, bytes, bytes]) -> int:
    name, key, value = op
    store = databases[db]
    try:
        if name == "set":
            store.set(key, value)
        elif name == "setex":
            store.set(key, value, expire_at=clock.now + 1500)
        elif name == "append":
            store.append(key, value)
        elif name == "setrange":
            store.set_range(key, len(value), value)
        elif name == "incr":
            store.incr_by(key, len(value))
        elif name == "delete":
            store.delete(key)
        elif name == "lpush":
            store.write_container(key, deque).appendleft(value)
            store.container_written(key, b"lpush")
        elif name == "lpop":
            items = store.read_container(key, deque)
            if items is not None:
                items.popleft()
                store.container_written(key, b"lpop")
        elif name == "hset":
            store.write_container(key, dict)[value[:2]] = value
            store.container_written(key, b"hset")
        elif name == "sadd":
            store.write_container(key, set).add(value)
            store.container_written(key, b"sadd")
        elif name == "rename":
            store.rename(key, KEYS[len(value) % len(KEYS)])
        elif name == "persist":
            store.persist(key)
        elif name == "restore":
            store.set_value(key, {value: value}, expire_at=clock.now + 800)
            store.notify(b"restore", key)
        elif name == "tick":
            clock.now += 1000
            store.sweep()
        elif name == "select":
            return len(value) % 3
        elif name == "swapdb":
            databases.swap(db, len(value) % 3)
        elif name == "flush" and len(value) % 4 == 0:
            store.flush()
    except Exception as error:  # a refused write changes nothing
        assert type(error).__name__ in ("WrongType", "NotAnInteger", "IntegerOverflow")
    return db


@settings(max_examples=200, deadline=None)
@given(st.lists(_op, max_size=60), st.booleans())
def test_the_account_equals_a_recount_after_any_writes(
    ops: list[tuple[str, bytes, bytes]], lfu: bool
) -> None:
    clock = Clock()
    databases = Databases(Store(clock), count=3)
    databases[0].set(b"before", b"arming")  # counted when the guard arms
    guard = guard_of(databases)
    guard.configure(policy=b"allkeys-lfu" if lfu else b"allkeys-lru")
    db = 0
    for op in ops:
        db = _apply(databases, db, clock, op)
        assert guard.used == guard.recount()
        for number, store in enumerate(databases):
            assert set(guard.sizes[number]) == set(store.stored_keys())
            assert set(guard.access[number]) == set(store.stored_keys())
    guard.configure(policy=b"noeviction")
    assert not guard.armed and guard.used == 0
    assert guard.dataset_bytes() == guard.recount()


# -- LFU ----------------------------------------------------------------------------------------


def test_lfu_counter_as_redis_computes_it() -> None:
    rng = random.Random(1)
    assert lfu_log_incr(LFU_INIT_VAL, 10, rng) == LFU_INIT_VAL + 1  # probability 1
    assert lfu_log_incr(255, 10, rng) == 255
    assert lfu_log_incr(0, 10, rng) == 1
    # redis.conf's table for lfu-log-factor 10: 100 hits make about 10, 1000 about 18.
    counter = LFU_INIT_VAL
    for hits in range(1, 1001):
        counter = lfu_log_incr(counter, 10, rng)
        if hits == 100:
            assert 8 <= counter <= 12
    assert 15 <= counter <= 22
    now = START
    field = lfu_minutes(now) << 8 | 20
    assert lfu_decr(field, now, 1) == 20
    assert lfu_decr(field, now + 5 * 60_000, 1) == 15  # one per minute of decay time
    assert lfu_decr(field, now + 5 * 60_000, 2) == 18
    assert lfu_decr(field, now + 50 * 60_000, 1) == 0
    assert lfu_decr(field, now + 50 * 60_000, 0) == 20  # decay time 0: never


# -- memory values ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        (b"0", 0),
        (b"100", 100),
        (b"1k", 1000),
        (b"1KB", 1024),
        (b"2mb", 2 * 1024 * 1024),
        (b"3g", 3 * 10**9),
        (b"1gb", 1 << 30),
        (b"5b", 5),
        (b"-1", None),
        (b"1x", None),
        (b"k", 0),  # no digits: strtoull("") is 0 for Redis too
        (b"", 0),
        (b"1.5mb", None),
    ],
)
def test_memory_values_as_memtoull(text: bytes, value: int | None) -> None:
    assert parse_memory(text) == value


# -- through RESP -------------------------------------------------------------------------------


def test_config_parameters() -> None:
    client = Client(False)
    assert client.call("CONFIG", "GET", "maxmemory") == b"*2\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n"
    assert client.call("CONFIG", "SET", "maxmemory", "1mb") == OK
    assert client.call("CONFIG", "GET", "maxmemory") == (
        b"*2\r\n$9\r\nmaxmemory\r\n$7\r\n1048576\r\n"
    )
    assert client.call("CONFIG", "SET", "maxmemory", "1x") == (
        b"-ERR CONFIG SET failed (possibly related to argument 'maxmemory') - "
        b"argument must be a memory value\r\n"
    )
    assert client.call("CONFIG", "SET", "maxmemory-policy", "ALLKEYS-LRU") == OK
    assert client.call("CONFIG", "GET", "maxmemory-policy") == (
        b"*2\r\n$16\r\nmaxmemory-policy\r\n$11\r\nallkeys-lru\r\n"
    )
    assert client.call("CONFIG", "SET", "maxmemory-policy", "lru") == (
        b"-ERR CONFIG SET failed (possibly related to argument 'maxmemory-policy') - "
        b"argument(s) must be one of the following: volatile-lru, volatile-lfu, "
        b"volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction\r\n"
    )
    assert client.call("CONFIG", "SET", "maxmemory-samples", "0") == (
        b"-ERR CONFIG SET failed (possibly related to argument 'maxmemory-samples') - "
        b"argument must be between 1 and 2147483647 inclusive\r\n"
    )
    assert client.call("CONFIG", "SET", "maxmemory-samples", "10") == OK
    assert client.call("CONFIG", "SET", "lfu-log-factor", "1", "lfu-decay-time", "0") == OK
    settings_ = guard_of(client.provider.databases).settings
    assert (settings_.samples, settings_.lfu_log_factor, settings_.lfu_decay_time) == (10, 1, 0)
    assert info_field(client, b"maxmemory") == b"1048576"
    assert info_field(client, b"maxmemory_human") == b"1.00M"
    assert info_field(client, b"maxmemory_policy") == b"allkeys-lru"


def test_used_memory_is_the_account() -> None:
    client = Client(False)
    assert used(client) == 0
    client.call("SET", "key", "value")
    assert used(client) == KEY_OVERHEAD + 3 + 5  # unarmed: recounted for INFO
    client.call("CONFIG", "SET", "maxmemory", "1mb")
    client.call("RPUSH", "list", "a", "b")
    assert used(client) == KEY_OVERHEAD + 8 + KEY_OVERHEAD + 4 + 64 + 2 * 17
    assert int(info_field(client, b"used_memory_dataset")) == used(client)
    client.call("FLUSHALL")
    assert used(client) == 0


def _fill(client: Client, count: int, size: int = 10) -> int:
    for i in range(count):
        assert client.call("SET", f"key:{i:03d}", "v" * size) == OK
    return used(client)


@pytest.mark.parametrize("policy", [b"noeviction", b"allkeys-lru"])
def test_maxmemory_exactly_reached_and_one_byte_over(policy: bytes) -> None:
    client = Client(False)
    total = _fill(client, 10)
    client.call("CONFIG", "SET", "maxmemory-policy", policy)
    assert client.call("CONFIG", "SET", "maxmemory", total) == OK  # exactly at the limit
    assert client.call("SET", "one", "more") == OK  # used == maxmemory: allowed
    assert len(client.provider.store) == 11  # (the next command evicts, under an LRU policy)
    client.provider.store.delete(b"one")  # not a command: nothing is evicted first
    assert client.call("CONFIG", "SET", "maxmemory", total - 1) == OK  # one byte over
    if policy == b"noeviction":
        assert client.call("SET", "one", "more") == OOM
        assert client.call("GET", "key:000") == bulk(b"vvvvvvvvvv")  # reads still run
        assert client.call("DEL", "key:000") == b":1\r\n"  # not denyoom
        assert info_field(client, b"evicted_keys") == b"0"
    else:
        assert len(client.provider.store) == 9  # one key went at once, at CONFIG SET
        assert info_field(client, b"evicted_keys") == b"1"
        assert used(client) <= total - 1


def _lru_client(policy: bytes, samples: int = 1000) -> Client:
    client = Client(False)
    assert client.call("CONFIG", "SET", "maxmemory-policy", policy) == OK
    assert client.call("CONFIG", "SET", "maxmemory-samples", samples) == OK
    return client


def test_allkeys_lru_evicts_the_least_recently_used() -> None:
    client = _lru_client(b"allkeys-lru")
    for i in range(10):
        client.call("SET", f"key:{i}", "v")
        client.clock.now += 1000
    client.call("GET", "key:0")  # now the most recent
    assert client.call("OBJECT", "IDLETIME", "key:3") == b":7\r\n"
    client.call("CONFIG", "SET", "maxmemory", used(client) - 1)
    store = client.provider.store
    assert [store.exists(b"key:%d" % i) for i in range(3)] == [True, False, True]  # the idlest


def test_allkeys_lfu_evicts_the_least_frequently_used() -> None:
    client = _lru_client(b"allkeys-lfu")
    for i in range(5):
        client.call("SET", f"key:{i}", "v")
    for i in (0, 1, 3, 4):
        client.call("GET", f"key:{i}")
    assert client.call("OBJECT", "FREQ", "key:0") == b":6\r\n"
    assert client.call("OBJECT", "FREQ", "key:2") == b":5\r\n"
    client.call("CONFIG", "SET", "maxmemory", used(client) - 1)
    assert client.call("EXISTS", "key:2") == b":0\r\n"
    assert client.call("DBSIZE") == b":4\r\n"


def test_volatile_policies_evict_keys_with_an_expiry_only() -> None:
    for policy in (b"volatile-lru", b"volatile-lfu", b"volatile-random", b"volatile-ttl"):
        client = _lru_client(policy)
        client.call("SET", "forever", "v")
        client.call("SET", "soon", "v", "PX", 5000)
        client.call("SET", "later", "v", "PX", 9000)
        client.call("CONFIG", "SET", "maxmemory", used(client) - 1)
        assert client.call("EXISTS", "forever") == b":1\r\n", policy
        assert client.call("DBSIZE") == b":2\r\n", policy
        if policy == b"volatile-ttl":  # the soonest to expire goes first
            assert client.call("EXISTS", "soon") == b":0\r\n"
        client.call("CONFIG", "SET", "maxmemory", 1)
        assert client.call("DBSIZE") == b":1\r\n", policy  # no volatile key left
        assert client.call("SET", "x", "y") == OOM, policy


def test_allkeys_random_evicts_round_the_databases() -> None:
    client = _lru_client(b"allkeys-random")
    for db in range(3):
        client.call("SELECT", db)
        for i in range(4):
            client.call("SET", f"key:{i}", "v")
    client.call("CONFIG", "SET", "maxmemory", 1)
    assert info_field(client, b"evicted_keys") == b"12"
    assert used(client) == 0
    assert client.call("SET", "x", "y") == OK  # used 0 <= 1 before the command: allowed
    assert client.call("SET", "z", "y") == OK  # x is evicted first
    assert client.provider.databases[2].keys() == [b"z"]


def test_evictions_are_announced_as_evicted() -> None:
    client = _lru_client(b"allkeys-lru")
    events: list[tuple[bytes, bytes]] = []
    client.provider.databases[0].observe(lambda event, key: events.append((event, key)))
    client.call("SET", "a", "v")
    client.call("CONFIG", "SET", "maxmemory", 1)
    assert events == [(b"set", b"a"), (b"evicted", b"a")]


def test_oom_inside_multi() -> None:
    client = Client(False)
    client.call("SET", "a", "v")
    client.call("CONFIG", "SET", "maxmemory", 1)
    assert client.call("MULTI") == OK
    assert client.call("GET", "a") == OOM  # queueing anything is refused when out of memory
    assert (
        client.call("EXEC") == b"-EXECABORT Transaction discarded because of previous errors.\r\n"
    )


def test_exec_refused_only_with_queued_writes() -> None:
    client = Client(False)
    client.call("SET", "a", "v")
    assert client.call("MULTI") == OK
    assert client.call("SET", "b", "v") == b"+QUEUED\r\n"
    guard_of(client.provider.databases).configure(maxmemory=1)
    assert client.call("EXEC") == OOM
    assert client.call("DISCARD") == OK
    assert client.call("MULTI") == OK
    guard_of(client.provider.databases).configure(maxmemory=0)
    assert client.call("GET", "a") == b"+QUEUED\r\n"
    guard_of(client.provider.databases).configure(maxmemory=1)
    assert client.call("EXEC") == b"*1\r\n" + bulk(b"v")


def test_idletime_and_no_touch() -> None:
    client = _lru_client(b"allkeys-lru")
    client.call("SET", "a", "v")
    client.clock.now += 5000
    assert client.call("OBJECT", "IDLETIME", "a") == b":5\r\n"
    assert client.call("OBJECT", "IDLETIME", "a") == b":5\r\n"  # OBJECT does not touch
    assert client.call("CLIENT", "NO-TOUCH", "on") == OK
    assert client.call("GET", "a") == bulk(b"v")
    assert client.call("OBJECT", "IDLETIME", "a") == b":5\r\n"
    assert client.call("TOUCH", "a") == b":1\r\n"  # TOUCH touches all the same
    assert client.call("OBJECT", "IDLETIME", "a") == b":0\r\n"
    client.clock.now += 3000
    assert client.call("CLIENT", "NO-TOUCH", "off") == OK
    assert client.call("OBJECT", "IDLETIME", "a") == b":3\r\n"
    assert client.call("GET", "a") == bulk(b"v")
    assert client.call("OBJECT", "IDLETIME", "a") == b":0\r\n"
    assert client.call("OBJECT", "IDLETIME", "missing") == b"$-1\r\n"


def test_idletime_untracked_is_an_upper_bound() -> None:
    client = Client(False)  # its guard is made with the provider, at START
    client.clock.now += 7000
    client.call("SET", "a", "v")
    client.clock.now += 2000
    # Unarmed, nothing is recorded: the time since the start bounds the idle time.
    assert client.call("OBJECT", "IDLETIME", "a") == b":9\r\n"
    client.call("CONFIG", "SET", "maxmemory-policy", "allkeys-lru")  # armed: now recorded
    assert client.call("OBJECT", "IDLETIME", "a") == b":9\r\n"
    client.clock.now += 1000
    client.call("GET", "a")
    client.clock.now += 4000
    client.call("CONFIG", "SET", "maxmemory-policy", "noeviction")  # the stamp stays
    client.call("GET", "a")  # not recorded
    client.clock.now += 1000
    assert client.call("OBJECT", "IDLETIME", "a") == b":5\r\n"
    client.call("SET", "b", "v")  # written after the disarm: bounded by it
    client.clock.now += 3000
    assert client.call("OBJECT", "IDLETIME", "b") == b":4\r\n"
    client.call("CONFIG", "SET", "maxmemory-policy", "allkeys-lfu")
    client.clock.now += 120_000
    client.call("GET", "a")  # the LFU field keeps the minute of the last access
    client.clock.now += 180_000 + 30_000
    client.call("CONFIG", "SET", "maxmemory-policy", "volatile-random")  # LFU to LRU stamps
    idle = int(client.call("OBJECT", "IDLETIME", "a")[1:-2])
    assert 210 <= idle < 270  # the minute of the last access, rounded down


def test_rename_and_move_keep_the_access_information() -> None:
    client = _lru_client(b"allkeys-lru")
    client.call("SET", "a", "v")
    client.clock.now += 7000
    assert client.call("CLIENT", "NO-TOUCH", "on") == OK
    assert client.call("RENAME", "a", "b") == OK
    assert client.call("OBJECT", "IDLETIME", "b") == b":7\r\n"
    assert client.call("MOVE", "b", "3") == b":1\r\n"
    client.call("SELECT", "3")
    assert client.call("OBJECT", "IDLETIME", "b") == b":7\r\n"


def test_object_freq_and_idletime_errors_under_the_other_policy() -> None:
    client = Client(False)
    client.call("SET", "a", "v")
    assert client.call("OBJECT", "FREQ", "a") == NOT_LFU
    assert client.call("CONFIG", "SET", "maxmemory-policy", "volatile-lfu") == OK
    assert client.call("OBJECT", "IDLETIME", "a") == IS_LFU
    assert client.call("OBJECT", "FREQ", "a") == b":5\r\n"
    assert client.call("OBJECT", "FREQ", "nokey") == b"$-1\r\n"


def test_restore_idletime_and_freq() -> None:
    client = _lru_client(b"allkeys-lru")
    client.call("SET", "a", "v")
    payload = client.call("DUMP", "a").split(b"\r\n", 1)[1][:-2]
    assert client.call("RESTORE", "b", 0, payload, "IDLETIME", 100) == OK
    assert client.call("OBJECT", "IDLETIME", "b") == b":100\r\n"
    client.call("CONFIG", "SET", "maxmemory-policy", "allkeys-lfu")
    assert client.call("RESTORE", "c", 0, payload, "FREQ", 77) == OK
    assert client.call("OBJECT", "FREQ", "c") == b":77\r\n"


# -- memcached over the same store ----------------------------------------------------------


def test_memcached_writes_count_and_are_refused_out_of_memory() -> None:
    registry = shared_registry(Claim.ALL)
    resp_connection = Connection(registry)
    memcached = Connection(registry)

    def redis(*args: str | int) -> bytes:
        resp_connection.receive_data(cmd(*args))
        return resp_connection.data_to_send()

    def mc(line: bytes) -> bytes:
        memcached.receive_data(line)
        return memcached.data_to_send()

    assert mc(b"set a 0 0 5\r\nhello\r\n") == b"STORED\r\n"
    assert redis("SET", "b", "v") == OK
    size = guard_of(shared_databases(registry)).recount()
    assert size == 2 * KEY_OVERHEAD + 1 + 5 + 1 + 1
    assert redis("CONFIG", "SET", "maxmemory", size) == OK  # exactly reached: writes go on
    assert mc(b"set a 0 0 5\r\nworld\r\n") == b"STORED\r\n"
    assert redis("CONFIG", "SET", "maxmemory", size - 1) == OK  # one byte over: refused
    assert mc(b"add c 0 0 1\r\nx\r\n") == b"SERVER_ERROR out of memory storing object\r\n"
    assert mc(b"ms c 1 T0\r\nx\r\nmn\r\n") == (
        b"SERVER_ERROR out of memory storing object\r\nMN\r\n"  # meta: the block is skipped
    )
    binary = Connection(registry)
    binary.receive_data(
        build_request(Opcode.SET, b"c", b"x", STORE_EXTRAS.build({"flags": 0, "expiration": 0}))
    )
    reply = binary.data_to_send()
    assert reply[0] == 0x81 and int.from_bytes(reply[6:8], "big") == 0x82  # ENOMEM
    assert reply.endswith(b"Out of memory")
    assert mc(b"set a 0 0 1\r\nx\r\n") == b"SERVER_ERROR out of memory storing object\r\n"
    assert mc(b"get a\r\n") == b"END\r\n"  # a failed set drops the old value, as memcached
    assert mc(b"set c 0 0 1\r\nx\r\n") == b"STORED\r\n"  # room again
    assert redis("CONFIG", "SET", "maxmemory-policy", "allkeys-random") == OK
    assert redis("CONFIG", "SET", "maxmemory", 1) == OK
    assert mc(b"set d 0 0 1\r\nx\r\n") == b"STORED\r\n"  # the others were evicted
    # b and c went at CONFIG SET, d before INFO ran (used > 1 again).
    assert b"\r\nevicted_keys:3\r\n" in redis("INFO", "stats")


def test_evictions_reach_keyspace_notifications() -> None:
    registry = Registry()
    register(registry, RespProvider())
    writer, listener = Connection(registry), Connection(registry)

    def call(connection: Connection, *args: str | int) -> bytes:
        connection.receive_data(cmd(*args))
        return connection.data_to_send()

    assert call(writer, "CONFIG", "SET", "notify-keyspace-events", "Ee") == OK
    call(listener, "SUBSCRIBE", "__keyevent@0__:evicted")
    call(writer, "SET", "k", "v")
    assert call(writer, "CONFIG", "SET", "maxmemory-policy", "allkeys-lru", "maxmemory", 1) == OK
    assert listener.data_to_send() == (
        b"*3\r\n$7\r\nmessage\r\n$22\r\n__keyevent@0__:evicted\r\n$1\r\nk\r\n"
    )


def test_evictions_are_logged_as_deletions(tmp_path: Path) -> None:
    clock = Clock()
    databases = Databases(Store(clock))
    log = AppendLog(str(tmp_path), list(databases), "always")
    log.open()
    databases[0].set(b"kept", b"v", expire_at=clock.now + 10_000)
    databases[0].set(b"evicted", b"v")
    guard = guard_of(databases)
    guard.configure(policy=b"allkeys-lru", samples=10)
    clock.now += 5000
    databases[0].get(b"kept")
    guard.touch(0, b"kept")
    guard.configure(maxmemory=guard.used - 1)
    assert databases[0].keys() == [b"kept"]
    log.flush()
    log.close()
    again = Databases(Store(clock))
    reopened = AppendLog(str(tmp_path), list(again), "always")
    reopened.open()
    assert again[0].keys() == [b"kept"]
    reopened.close()


def test_sample_keys() -> None:
    store = Store(Clock())
    rng = random.Random(3)
    assert store.sample_keys(5, False, rng) == []
    assert store.sample_keys(5, True, rng) == []
    for i in range(100):
        store.set(b"k%d" % i, b"v", expire_at=START + 1000 if i < 3 else None)
    picked = store.sample_keys(5, False, rng)
    assert len(picked) == 5 and all(key in store for key in picked)
    volatile = store.sample_keys(5, True, rng)
    assert len(volatile) == 5 and set(volatile) <= {b"k0", b"k1", b"k2"}
    for i in range(3, 100):  # the index is mostly holes now: a sample still finds the keys
        store.delete(b"k%d" % i)
    assert set(store.sample_keys(5, False, rng)) <= {b"k0", b"k1", b"k2"}
    store.persist(b"k0")
    store.persist(b"k1")
    assert set(store.sample_keys(5, True, rng)) == {b"k2"}


def test_info_estimates_a_large_keyspace_from_a_sample() -> None:
    store = Store(Clock())
    for i in range(RECOUNT_LIMIT + 1):
        store.set(b"key:%06d" % i, b"v" * 10)
    exact = recount([store])
    assert exact == (RECOUNT_LIMIT + 1) * (KEY_OVERHEAD + 10 + 10)
    assert estimate([store], random.Random(1)) == exact  # every key is the same size
    store.delete(b"key:000000")
    assert estimate([store]) == recount([store])  # at the limit: recounted
