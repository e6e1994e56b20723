"""The store's container API: typed values beside strings, WRONGTYPE, observers, databases."""

from __future__ import annotations

from collections import deque

import pytest
from hypothesis import given
from hypothesis import strategies as st
from wireproto.providers.kvstore import (
    NO_KEY,
    Databases,
    Store,
    WrongType,
    kind_name,
    register_kind,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000

    def __call__(self) -> int:
        return self.now


def test_a_container_is_created_filled_and_typed() -> None:
    store = Store()
    items = store.write_container(b"l", deque)
    items.append(b"a")
    store.container_written(b"l", b"rpush")
    assert store.type_of(b"l") == b"list"
    assert store.read_container(b"l", deque) == deque([b"a"])
    assert store.exists(b"l") and len(store) == 1
    assert store.type_of(b"missing") == b"none"


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.get(b"k"),
        lambda s: s.length(b"k"),
        lambda s: s.get_range(b"k", 0, 1),
        lambda s: s.incr_by(b"k", 1),
        lambda s: s.append(b"k", b"x"),
        lambda s: s.set_range(b"k", 0, b"x"),
        lambda s: s.pop(b"k"),
    ],
)
def test_string_operations_on_a_container_raise_wrongtype(call: object) -> None:
    store = Store()
    store.write_container(b"k", set).add(b"m")
    store.container_written(b"k", b"sadd")
    with pytest.raises(WrongType):
        call(store)  # type: ignore[operator]
    assert store.read_container(b"k", set) == {b"m"}


def test_container_operations_on_another_type_raise_wrongtype() -> None:
    store = Store()
    store.set(b"s", b"v")
    with pytest.raises(WrongType):
        store.read_container(b"s", deque)
    with pytest.raises(WrongType):
        store.write_container(b"s", dict)
    store.write_container(b"h", dict)[b"f"] = b"v"
    store.container_written(b"h", b"hset")
    with pytest.raises(WrongType):
        store.read_container(b"h", set)
    assert store.get(b"s") == b"v"


def test_memcached_views_see_containers_as_absent() -> None:
    store = Store()
    store.write_container(b"k", deque).append(b"x")
    store.container_written(b"k", b"lpush")
    assert store.get_with_flags(b"k") is None
    assert store.get_with_cas(b"k") is None
    assert store.get_item(b"k") is None
    assert store.get_meta(b"k") is None
    assert store.update(b"k", b"v") is False
    assert store.touch(b"k", None) is False
    assert store.type_of(b"k") == b"list"


def test_set_replaces_a_container_and_the_key_is_counted_once() -> None:
    store = Store()
    store.write_container(b"k", deque).append(b"x")
    store.container_written(b"k", b"lpush")
    store.scan(0)  # with the scan index on
    store.set(b"k", b"v")
    assert store.get(b"k") == b"v" and len(store) == 1
    assert store.scan(0, 100) == (0, [b"k"])
    store.put(b"k2", b"w")
    assert sorted(store.keys()) == [b"k", b"k2"]


def test_an_emptied_container_is_removed() -> None:
    store = Store()
    events: list[tuple[bytes, bytes]] = []
    store.observe(lambda event, key: events.append((event, key)))
    items = store.write_container(b"l", deque)
    items.append(b"a")
    store.container_written(b"l", b"rpush")
    items.pop()
    store.container_written(b"l", b"rpop")
    assert not store.exists(b"l") and len(store) == 0
    assert events == [(b"rpush", b"l"), (b"rpop", b"l"), (b"del", b"l")]
    # A container created and left empty (nothing pushed) is removed too.
    store.write_container(b"e", set)
    store.container_written(b"e", b"sadd")
    assert store.type_of(b"e") == b"none"


def test_containers_expire_rename_delete_and_scan_like_strings() -> None:
    clock = Clock()
    store = Store(clock)
    store.write_container(b"h", dict)[b"f"] = b"v"
    store.container_written(b"h", b"hset")
    assert store.expire_at(b"h", clock.now + 10)
    assert store.expire_time(b"h") == clock.now + 10
    assert store.rename(b"h", b"h2")
    assert store.type_of(b"h") == b"none" and store.type_of(b"h2") == b"hash"
    assert store.expire_time(b"h2") == clock.now + 10
    assert store.keys() == [b"h2"] and store.scan(0) == (0, [b"h2"])
    clock.now += 10
    assert store.read_container(b"h2", dict) is None
    assert store.expire_time(b"h2") == NO_KEY and store.expired_keys == 1
    store.write_container(b"s", set).add(b"m")
    store.container_written(b"s", b"sadd")
    store.set(b"t", b"x")
    assert store.rename(b"s", b"t")  # RENAME replaces a string with a set
    assert store.type_of(b"t") == b"set" and len(store) == 1
    assert store.delete(b"t") and len(store) == 0


def test_sweep_expires_containers() -> None:
    clock = Clock()
    store = Store(clock)
    store.write_container(b"l", deque).append(b"x")
    store.container_written(b"l", b"rpush")
    store.expire_at(b"l", clock.now + 1)
    clock.now += 1
    assert store.sweep() == 1 and len(store) == 0


def test_watch_sees_container_writes() -> None:
    store = Store()
    version = store.watch(b"l")
    store.write_container(b"l", deque).append(b"x")
    store.container_written(b"l", b"rpush")
    assert store.watch_version(b"l") != version


def test_observers_see_each_write_with_redis_event_names() -> None:
    clock = Clock()
    store = Store(clock)
    events: list[tuple[bytes, bytes]] = []
    stop = store.observe(lambda event, key: events.append((event, key)))
    store.put(b"a", b"1")
    store.incr_by(b"a", 2)
    store.append(b"a", b"0")
    store.set_range(b"a", 0, b"x")
    store.expire_at(b"a", clock.now + 5)
    store.persist(b"a")
    store.rename(b"a", b"b")
    store.delete(b"b")
    store.set(b"c", b"v", expire_at=clock.now + 1)
    clock.now += 1
    assert store.get(b"c") is None
    store.set(b"d", b"v")
    store.expire_at(b"d", clock.now - 1)
    stop()
    store.put(b"z", b"unseen")
    assert events == [
        (b"set", b"a"),
        (b"incrby", b"a"),
        (b"append", b"a"),
        (b"setrange", b"a"),
        (b"expire", b"a"),
        (b"persist", b"a"),
        (b"rename_from", b"a"),
        (b"rename_to", b"b"),
        (b"del", b"b"),
        (b"set", b"c"),
        (b"expire", b"c"),  # a SET with an expiry is both, as Redis's SET EX
        (b"expired", b"c"),
        (b"set", b"d"),
        (b"del", b"d"),
    ]


def test_an_observer_with_puts_gets_plain_puts_appended_instead_of_called() -> None:
    clock = Clock()
    store = Store(clock)
    events: list[tuple[bytes, bytes]] = []
    puts: list[bytes] = []
    begun: list[int] = []

    def begin() -> None:
        begun.append(len(puts))

    stop = store.observe(lambda event, key: events.append((event, key)), puts=puts, begun=begin)
    with pytest.raises(ValueError, match="already records the puts"):
        store.observe(lambda event, key: None, puts=[])
    store.put(b"a", b"1")  # puts was empty: begun() first (a batch begins)
    store.put(b"b", b"2")
    store.put(b"a", b"3")
    store.set(b"c", b"4")  # not a put: heard only
    store.set(b"e", b"x", expire_at=clock.now + 5)
    store.put(b"e", b"5")  # the fast path is closed while a key expires: set() tells it
    assert begun == [0]
    assert events == [
        (b"set", b"c"),
        (b"set", b"e"),
        (b"expire", b"e"),
        (b"set", b"e"),
    ]
    assert puts == [b"a", b"1", b"b", b"2", b"a", b"3"]
    puts.clear()
    events.clear()
    other: list[tuple[bytes, bytes]] = []
    stop_other = store.observe(lambda event, key: other.append((event, key)))
    store.delete(b"e")
    store.put(b"f", b"6")  # two observers: both called, nothing appended
    stop_other()
    assert events == other == [(b"del", b"e"), (b"set", b"f")]
    assert puts == []
    store.put(b"g", b"7")
    assert puts == [b"g", b"7"]
    assert begun == [0, 0]
    stop()
    store.put(b"h", b"8")
    assert puts == [b"g", b"7"]
    assert events == [(b"del", b"e"), (b"set", b"f")]
    store.observe(lambda event, key: None, puts=[])  # the puts are free to take again


def test_databases_are_apart_and_swap_their_keys() -> None:
    databases = Databases()
    assert len(databases) == 16
    zero, one = databases[0], databases[1]
    zero.put(b"k", b"zero")
    one.write_container(b"l", deque).append(b"x")
    one.container_written(b"l", b"rpush")
    watched = zero.watch(b"l")
    databases.swap(0, 1)
    assert databases[0] is zero  # the numbers keep their Store objects
    assert zero.type_of(b"l") == b"list" and zero.get(b"k") is None
    assert one.get(b"k") == b"zero"
    assert zero.watch_version(b"l") != watched


def test_register_kind_names_a_new_type() -> None:
    class Stream:
        def __len__(self) -> int:
            return 1

    register_kind(Stream, b"stream")
    store = Store()
    store.set_value(b"x", Stream())
    assert store.type_of(b"x") == b"stream"
    assert kind_name(b"v") == b"string" and kind_name(bytearray()) == b"string"


_OPS = st.lists(
    st.tuples(
        st.sampled_from(["set", "push", "pop", "del", "rename"]),
        st.sampled_from([b"a", b"b", b"c"]),
        st.sampled_from([b"a", b"b", b"c"]),
    ),
    max_size=40,
)


@given(_OPS)
def test_the_keyspace_matches_a_model(ops: list[tuple[str, bytes, bytes]]) -> None:
    store = Store()
    store.scan(0)  # keep the scan index on, so its bookkeeping is exercised
    model: dict[bytes, object] = {}
    for op, key, other in ops:
        if op == "set":
            store.set(key, b"v")
            model[key] = b"v"
        elif op == "push":
            current = model.get(key)
            if current is not None and not isinstance(current, list):
                with pytest.raises(WrongType):
                    store.write_container(key, deque)
                continue
            store.write_container(key, deque).append(other)
            store.container_written(key, b"rpush")
            model[key] = [*(current or []), other]  # type: ignore[misc]
        elif op == "pop":
            current = model.get(key)
            if not isinstance(current, list):
                continue
            items = store.read_container(key, deque)
            assert items is not None
            items.popleft()
            store.container_written(key, b"lpop")
            current.pop(0)
            if not current:
                del model[key]
        elif op == "del":
            assert store.delete(key) == (key in model)
            model.pop(key, None)
        else:
            assert store.rename(key, other) == (key in model)
            if key in model:
                model[other] = model.pop(key)
        assert sorted(store.keys()) == sorted(model)
        assert len(store) == len(model)
    cursor, seen = 0, []
    while True:
        cursor, found = store.scan(cursor, 2)
        seen += found
        if cursor == 0:
            break
    assert sorted(seen) == sorted(model)
    for key, value in model.items():
        if isinstance(value, list):
            assert list(store.read_container(key, deque) or ()) == value
        else:
            assert store.get(key) == value
