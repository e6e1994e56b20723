"""Values changed in place (APPEND, SETRANGE, memcached append/prepend) and what readers see.

The store keeps a value it changes in place as a ``bytearray``; these tests
check that every reader still gets the right ``bytes`` (a model-based test
against a plain ``dict``), that nothing handed out changes afterwards (a
reply queued for a slow reader included), that CAS and WATCH versions move
on every in-place write, and that partial reads do not copy the value.
"""

from __future__ import annotations

import random

import pytest
from _drive import Clock
from _drive import resp_command as cmd
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)
from wireproto.providers import resp
from wireproto.providers.kvstore import IntegerOverflow, NotAnInteger, Store, parse_int64
from wireproto.providers.memcache import register as register_memcache
from wireproto.providers.memcache.engine import MemcacheEngine, MemcacheSettings, Mode, Stored

from wireproto import Connection, Registry

KEYS = st.sampled_from([b"a", b"b", b"c"])
CHUNKS = st.binary(max_size=12) | st.sampled_from([b"1", b"7", b"-", b"0"])


class StoreAgainstADict(RuleBasedStateMachine):
    """The store's string operations against a ``dict[bytes, bytes]`` model.

    Every value read is ``bytes`` and stays what it was when it was read;
    memcached cas versions change on every write and on nothing else.
    """

    @initialize()
    def start(self) -> None:
        self.store = Store(Clock(), rng=random.Random(3))
        self.model: dict[bytes, bytes] = {}
        self.handed_out: list[tuple[bytes, bytes]] = []  # (object read, its bytes then)
        self.cas: dict[bytes, int] = {}  # key -> cas last read, until a write
        self.stale: set[int] = set()  # cas versions a write has made stale
        self.versions = {key: self.store.watch(key) for key in (b"a", b"b", b"c")}

    def _read(self, value: bytes | None) -> None:
        if value is not None:
            assert type(value) is bytes
            self.handed_out.append((value, bytes(value)))
            del self.handed_out[:-20]

    def _wrote(self, key: bytes) -> None:
        stale = self.cas.pop(key, None)
        if stale is not None:
            self.stale.add(stale)
        version = self.store.watch_version(key)
        assert version != self.versions[key]
        self.versions[key] = version

    @rule(key=KEYS, value=CHUNKS)
    def set(self, key: bytes, value: bytes) -> None:
        self.store.set(key, value)
        self.model[key] = value
        self._wrote(key)

    @rule(key=KEYS, suffix=CHUNKS)
    def append(self, key: bytes, suffix: bytes) -> None:
        expected = self.model.get(key, b"") + suffix
        assert self.store.append(key, suffix) == len(expected)
        self.model[key] = expected
        self._wrote(key)

    @rule(key=KEYS, prefix=CHUNKS)
    def prepend(self, key: bytes, prefix: bytes) -> None:
        found = self.store.prepend(key, prefix)
        if key not in self.model:
            assert found is None
            return
        self.model[key] = prefix + self.model[key]
        assert found == len(self.model[key])
        self._wrote(key)

    @rule(key=KEYS, offset=st.integers(0, 40), chunk=CHUNKS)
    def set_range(self, key: bytes, offset: int, chunk: bytes) -> None:
        old = self.model.get(key, b"")
        padded = old.ljust(offset, b"\0")
        expected = padded[:offset] + chunk + padded[offset + len(chunk) :]
        assert self.store.set_range(key, offset, chunk) == len(expected)
        self.model[key] = expected
        self._wrote(key)

    @rule(key=KEYS, delta=st.integers(-5, 5))
    def incr_by(self, key: bytes, delta: int) -> None:
        old = self.model.get(key, b"0")
        current = parse_int64(old)
        if current is None:
            with pytest.raises(NotAnInteger):
                self.store.incr_by(key, delta)
            assert self.store.watch_version(key) == self.versions[key]
            return
        try:
            result = self.store.incr_by(key, delta)
        except IntegerOverflow:
            return
        assert result == current + delta
        self.model[key] = b"%d" % result
        self._wrote(key)

    @rule(key=KEYS)
    def get(self, key: bytes) -> None:
        value = self.store.get(key)
        assert value == self.model.get(key)
        self._read(value)

    @rule(key=KEYS, start=st.integers(-50, 50), stop=st.integers(-50, 50))
    def get_range(self, key: bytes, start: int, stop: int) -> None:
        value = self.store.get_range(key, start, stop)
        expected = self.model.get(key)
        assert value == (None if expected is None else expected[start:stop])
        self._read(value)

    @rule(key=KEYS)
    def length(self, key: bytes) -> None:
        expected = self.model.get(key)
        assert self.store.length(key) == (None if expected is None else len(expected))

    @rule(key=KEYS)
    def get_item(self, key: bytes) -> None:
        item = self.store.get_item(key)
        if key not in self.model:
            assert item is None
            return
        assert item is not None
        assert item.value == self.model[key]
        self._read(item.value)
        meta = self.store.get_meta(key)
        assert meta == (len(item.value), item.flags, item.cas)
        assert item.cas not in self.stale  # every write changed the version
        if key in self.cas:
            assert item.cas == self.cas[key]  # reads do not change the version
        self.cas[key] = item.cas

    @rule(key=KEYS)
    def pop(self, key: bytes) -> None:
        value = self.store.pop(key)
        assert value == self.model.pop(key, None)
        self._read(value)
        if value is not None:
            self._wrote(key)

    @rule(source=KEYS, destination=KEYS)
    def rename(self, source: bytes, destination: bytes) -> None:
        moved = self.store.rename(source, destination)
        assert moved == (source in self.model)
        if moved and source != destination:
            self.model[destination] = self.model.pop(source)
            self._wrote(source)
            self._wrote(destination)

    @precondition(lambda self: bool(self.handed_out))
    @invariant()
    def nothing_handed_out_changed(self) -> None:
        for value, then in self.handed_out:
            assert value == then

    @invariant()
    def same_keys(self) -> None:
        assert sorted(self.store.keys()) == sorted(self.model)


StoreAgainstADict.TestCase.settings = settings(max_examples=300, stateful_step_count=40)
test_store_against_a_dict = StoreAgainstADict.TestCase


def test_appends_grow_one_buffer_and_partial_reads_leave_it() -> None:
    store = Store(Clock())
    store.set(b"k", b"start")
    store.append(b"k", b"-")
    buffer = store._data[b"k"]
    assert type(buffer) is bytearray
    for i in range(1000):
        store.append(b"k", b"%d," % i)
        store.set_range(b"k", 0, b"S")
        assert store.length(b"k") == len(buffer)
        assert store.get_range(b"k", -2, len(buffer)) == buffer[-2:]
    assert store._data[b"k"] is buffer  # never copied: amortised O(bytes written)
    value = store.get(b"k")
    assert type(value) is bytes
    assert store._data[b"k"] is value  # the whole-value read is a snapshot kept for later reads
    assert store.get(b"k") is value
    store.append(b"k", b"!")
    assert value == bytes(buffer)  # the snapshot did not change
    assert store.get(b"k") == value + b"!"


def test_set_range_pads_with_zero_bytes_and_overwrites_in_place() -> None:
    store = Store(Clock())
    assert store.set_range(b"k", 3, b"ab") == 5
    assert store.get(b"k") == b"\0\0\0ab"
    assert store.set_range(b"k", 1, b"xyz") == 5
    assert store.get(b"k") == b"\0xyzb"
    assert store.set_range(b"k", 8, b"!") == 9
    assert store.get(b"k") == b"\0xyzb\0\0\0!"
    assert store.prepend(b"missing", b"x") is None
    assert b"missing" not in store


def _resp_registry() -> Registry:
    registry = Registry()
    resp.register(registry)
    register_memcache(registry)
    return registry


def test_a_queued_resp_reply_does_not_change_when_the_value_is_appended_to() -> None:
    registry = _resp_registry()
    slow, writer = Connection(registry), Connection(registry)
    writer.receive_data(cmd("SET", "k", "abc") + cmd("APPEND", "k", "def"))
    assert writer.data_to_send() == b"+OK\r\n:6\r\n"
    slow.receive_data(cmd("GET", "k") + cmd("GETRANGE", "k", 1, -1) + cmd("STRLEN", "k"))
    writer.receive_data(cmd("APPEND", "k", "ghi") + cmd("SETRANGE", "k", 0, "X"))
    assert writer.data_to_send() == b":9\r\n:9\r\n"
    assert slow.data_to_send() == b"$6\r\nabcdef\r\n$5\r\nbcdef\r\n:6\r\n"
    slow.receive_data(cmd("GET", "k"))
    assert slow.data_to_send() == b"$9\r\nXbcdefghi\r\n"


def test_a_queued_memcached_reply_does_not_change_when_the_value_is_appended_to() -> None:
    registry = _resp_registry()
    slow, writer = Connection(registry), Connection(registry)
    writer.receive_data(b"set k 3 0 3\r\nabc\r\nappend k 0 0 3\r\ndef\r\n")
    assert writer.data_to_send() == b"STORED\r\nSTORED\r\n"
    slow.receive_data(b"get k\r\n")
    writer.receive_data(b"append k 0 0 1\r\n!\r\nprepend k 0 0 1\r\n<\r\n")
    assert writer.data_to_send() == b"STORED\r\nSTORED\r\n"
    assert slow.data_to_send() == b"VALUE k 3 6\r\nabcdef\r\nEND\r\n"
    slow.receive_data(b"get k\r\n")
    assert slow.data_to_send() == b"VALUE k 3 8\r\n<abcdef!\r\nEND\r\n"


def test_memcached_append_and_prepend_keep_flags_and_expiry_and_check_cas() -> None:
    store = Store(Clock())
    engine = MemcacheEngine(store, MemcacheSettings(item_size_max=1024))
    assert engine.store_item(Mode.APPEND, b"k", b"x") is Stored.NOT_STORED
    assert engine.store_item(Mode.PREPEND, b"k", b"x") is Stored.NOT_STORED
    assert b"k" not in store
    expire_at = store.clock() + 60_000
    assert engine.store_item(Mode.SET, b"k", b"mid", flags=9, expire_at=expire_at)
    before = store.get_item(b"k")
    assert before is not None
    assert engine.store_item(Mode.APPEND, b"k", b"+", cas=before.cas + 1) is Stored.EXISTS
    assert engine.store_item(Mode.APPEND, b"k", b">", cas=before.cas) is Stored.STORED
    assert engine.store_item(Mode.PREPEND, b"k", b"<") is Stored.STORED
    after = store.get_item(b"k")
    assert after is not None
    assert (after.value, after.flags, after.expire_at) == (b"<mid>", 9, expire_at)
    assert after.cas != before.cas
    assert engine.store_item(Mode.PREPEND, b"k", b"<", cas=before.cas) is Stored.EXISTS


def test_memcached_append_up_to_the_item_size_limit() -> None:
    store = Store(Clock())
    engine = MemcacheEngine(store, MemcacheSettings(item_size_max=1024))
    assert engine.store_item(Mode.SET, b"k", b"") is Stored.STORED
    room = 0
    while not engine.too_large(1, 0, room + 1):
        room += 1
    assert engine.store_item(Mode.APPEND, b"k", b"a" * room) is Stored.STORED  # max
    assert engine.store_item(Mode.APPEND, b"k", b"a") is Stored.NOT_STORED  # max + 1
    assert engine.store_item(Mode.PREPEND, b"k", b"a") is Stored.NOT_STORED
    assert store.get(b"k") == b"a" * room


def test_append_and_setrange_at_the_bulk_limit_and_one_past_it() -> None:
    registry = Registry()
    resp.register(registry, resp.RespProvider(limits=resp.RespLimits(max_bulk_len=16)))
    client = Connection(registry)
    too_long = b"-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n"
    client.receive_data(
        cmd("APPEND", "a", "x" * 10)
        + cmd("APPEND", "a", "y" * 6)  # 16: the maximum
        + cmd("APPEND", "a", "z")  # 17
        + cmd("SETRANGE", "r", 15, "x")  # ends at 16
        + cmd("SETRANGE", "r", 15, "xy")  # would end at 17
        + cmd("SETRANGE", "r", 16, "x")
        + cmd("STRLEN", "a")
        + cmd("STRLEN", "r")
    )
    assert client.data_to_send() == b":10\r\n:16\r\n" + too_long + b":16\r\n" + too_long * 2 + (
        b":16\r\n:16\r\n"
    )
