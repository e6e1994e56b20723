"""``Store.put`` (a plain SET) against ``Store.set``, whatever else the store holds.

``put`` skips ``set``'s bookkeeping while no key has an expiry, flags, a cas
version, a container or a watch and SCAN keeps no index; every write that adds
one of those must end that, and SWAPDB must not carry it across databases.
"""

from __future__ import annotations

import random
from collections import deque

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from wireproto.providers.kvstore import Databases, Store, WrongType


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000

    def __call__(self) -> int:
        return self.now


KEYS = st.sampled_from([b"a", b"b", b"c"])
VALUES = st.sampled_from([b"1", b"two", b""])


class PutAgainstSet(RuleBasedStateMachine):
    """Two pairs of databases take the same writes; plain SETs are ``put`` in the first
    pair and ``set`` in the second, and every observable state must stay the same."""

    @initialize()
    def start(self) -> None:
        self.clock = Clock()
        self.puts = Databases(Store(self.clock, rng=random.Random(1)), count=2)
        self.sets = Databases(Store(self.clock, rng=random.Random(1)), count=2)
        self.db = 0
        self.watched: set[tuple[int, bytes]] = set()  # watches stay with the database number
        self.events: tuple[list[bytes], list[bytes]] = ([], [])
        for databases, events in zip((self.puts, self.sets), self.events, strict=True):
            databases[0].observe(lambda event, key, events=events: events.append(event + key))

    def _both(self) -> tuple[Store, Store]:
        return self.puts[self.db], self.sets[self.db]

    @rule(key=KEYS, value=VALUES)
    def plain_set(self, key: bytes, value: bytes) -> None:
        by_put, by_set = self._both()
        by_put.put(key, value)
        by_set.set(key, value)

    @rule(key=KEYS, value=VALUES, ttl=st.integers(-5, 50))
    def set_with_expiry(self, key: bytes, value: bytes, ttl: int) -> None:
        for store in self._both():
            store.set(key, value, expire_at=self.clock.now + ttl)

    @rule(key=KEYS, value=VALUES, flags=st.integers(0, 3))
    def memcached_set(self, key: bytes, value: bytes, flags: int) -> None:
        for store in self._both():
            store.set(key, value, flags=flags)

    @rule(key=KEYS, value=VALUES, flags=st.integers(0, 3))
    def memcached_set_item(self, key: bytes, value: bytes, flags: int) -> None:
        by_put, by_set = self._both()
        assert by_put.set_item(key, value, flags, None) == by_set.set_item(key, value, flags, None)

    @rule(key=KEYS)
    def memcached_gets(self, key: bytes) -> None:  # hands out a cas version
        by_put, by_set = self._both()
        assert by_put.get_with_cas(key) == by_set.get_with_cas(key)

    @rule(key=KEYS)
    def push(self, key: bytes) -> None:
        outcomes = []
        for store in self._both():
            try:
                store.write_container(key, deque).append(b"x")
                store.container_written(key, b"rpush")
                outcomes.append("pushed")
            except WrongType:
                outcomes.append("wrongtype")
        assert outcomes[0] == outcomes[1]

    @rule(key=KEYS)
    def watch(self, key: bytes) -> None:
        for store in self._both():
            store.watch(key)
        self.watched.add((self.db, key))

    @rule(key=KEYS, when=st.integers(-5, 50))
    def expire(self, key: bytes, when: int) -> None:
        by_put, by_set = self._both()
        assert by_put.expire_at(key, self.clock.now + when) == by_set.expire_at(
            key, self.clock.now + when
        )

    @rule(key=KEYS)
    def delete(self, key: bytes) -> None:
        by_put, by_set = self._both()
        assert by_put.delete(key) == by_set.delete(key)

    @rule()
    def scan(self) -> None:  # builds SCAN's index
        by_put, by_set = self._both()
        assert sorted(by_put.scan(0, count=10)[1]) == sorted(by_set.scan(0, count=10)[1])

    @rule()
    def flush(self) -> None:
        for store in self._both():
            store.flush()

    @rule()
    def swap_databases(self) -> None:
        self.puts.swap(0, 1)
        self.sets.swap(0, 1)

    @rule()
    def select_the_other_database(self) -> None:
        self.db = 1 - self.db

    @rule(ms=st.integers(0, 30))
    def time_passes(self, ms: int) -> None:
        self.clock.now += ms

    @invariant()
    def same_state(self) -> None:
        for number in (0, 1):
            by_put, by_set = self.puts[number], self.sets[number]
            assert sorted(by_put.keys()) == sorted(by_set.keys())
            for key in (b"a", b"b", b"c"):
                assert by_put.stored(key) == by_set.stored(key), key
                assert by_put.get_with_flags(key) == by_set.get_with_flags(key)
                assert by_put.expire_time(key) == by_set.expire_time(key)
                if (number, key) in self.watched:
                    assert by_put.watch_version(key) == by_set.watch_version(key)
        assert self.events[0] == self.events[1]


TestPutAgainstSet = PutAgainstSet.TestCase
TestPutAgainstSet.settings = settings(max_examples=300, stateful_step_count=40, deadline=None)


def test_a_put_after_an_expiry_drops_it_as_set_does() -> None:
    store = Store(Clock())
    store.put(b"k", b"v")
    store.set(b"k", b"v", expire_at=store.clock() + 10)
    store.put(b"k", b"w")
    assert store.expires_count == 0 and store.get(b"k") == b"w"


def test_a_put_over_a_container_replaces_it() -> None:
    store = Store(Clock())
    store.write_container(b"k", deque).append(b"x")
    store.container_written(b"k", b"rpush")
    store.put(b"k", b"v")
    assert store.get(b"k") == b"v" and store.type_of(b"k") == b"string"


def test_a_put_changes_a_watched_keys_version() -> None:
    store = Store(Clock())
    version = store.watch(b"k")
    store.put(b"k", b"v")
    assert store.watch_version(b"k") != version


def test_a_put_after_swapdb_drops_the_expiry_the_swap_brought() -> None:
    databases = Databases(Store(Clock()), count=2)
    databases[0].put(b"warm", b"up")  # database 0 has only plain strings
    databases[1].set(b"k", b"v", expire_at=databases[1].clock() + 10)
    databases.swap(0, 1)
    databases[0].put(b"k", b"w")
    assert databases[0].expires_count == 0 and databases[0].get(b"k") == b"w"


def test_a_put_after_a_cas_version_drops_it_as_set_does() -> None:
    store = Store(Clock())
    store.put(b"k", b"v")
    assert store.get_with_cas(b"k") == (b"v", 0, 1)
    store.put(b"k", b"w")
    assert store.stored(b"k") == (b"w", None, 0, 0)


def test_a_put_after_flags_drops_them_as_set_does() -> None:
    store = Store(Clock())
    store.set(b"k", b"v", flags=7)
    store.put(b"k", b"w")
    assert store.get_with_flags(b"k") == (b"w", 0)


def test_a_put_after_a_replayed_cas_version_drops_it() -> None:
    store = Store(Clock())
    store.put(b"k", b"v")
    store.restore_cas(b"k", 41)
    store.put(b"k", b"w")
    assert store.stored(b"k") == (b"w", None, 0, 0)


def test_a_put_over_a_restored_container_replaces_it() -> None:
    store = Store(Clock())
    store.set_value(b"k", deque([b"x"]))
    store.put(b"k", b"v")
    assert store.type_of(b"k") == b"string" and store.container_keys() == []


def test_a_put_after_a_scan_is_in_the_next_scan() -> None:
    store = Store(Clock())
    store.put(b"a", b"1")
    store.scan(0, count=1)  # builds SCAN's index
    store.put(b"b", b"2")
    cursor, seen = store.scan(0, count=1)
    while cursor:
        cursor, found = store.scan(cursor, count=1)
        seen += found
    assert sorted(seen) == [b"a", b"b"]


def test_put_takes_the_plain_path_again_once_the_store_holds_only_strings() -> None:
    store = Store(Clock())
    store.set(b"k", b"v", expire_at=store.clock() + 10)
    store.delete(b"k")
    store.put(b"k", b"w")  # looks again: nothing left to update
    assert store._plain_puts
    store.set(b"k", b"v", flags=1)
    assert not store._plain_puts


def test_a_put_after_a_memcached_set_drops_its_flags_and_cas() -> None:
    store = Store(Clock())
    store.put(b"k", b"v")
    store.set_item(b"k", b"v", 3, None)
    store.put(b"k", b"w")
    assert store.stored(b"k") == (b"w", None, 0, 0)
