"""The key-value store: values, expiry with an injected clock, sweep, SCAN, globs, metadata."""

from __future__ import annotations

import random

import pytest
from _drive import START, Clock
from hypothesis import given, settings
from hypothesis import strategies as st
from wireproto.providers.kvstore import (
    NO_EXPIRY,
    NO_KEY,
    CasOutcome,
    IntegerOverflow,
    NotAnInteger,
    Store,
    compile_glob,
    glob_match,
    parse_int64,
)


def make_store() -> tuple[Store, Clock]:
    clock = Clock()
    return Store(clock, rng=random.Random(7)), clock


def test_set_get_delete_exists() -> None:
    store, _ = make_store()
    assert store.get(b"k") is None
    store.set(b"k", b"v")
    assert store.get(b"k") == b"v"
    assert store.exists(b"k")
    assert b"k" in store
    assert len(store) == 1
    assert store.delete(b"k")
    assert not store.delete(b"k")
    assert store.get(b"k") is None
    assert len(store) == 0


def test_pop_returns_and_removes() -> None:
    store, _ = make_store()
    store.set(b"k", b"v")
    assert store.pop(b"k") == b"v"
    assert store.pop(b"k") is None


def test_expiry_is_lazy_and_exact_to_the_millisecond() -> None:
    store, clock = make_store()
    store.set(b"k", b"v", expire_at=START + 1000)
    assert store.expire_time(b"k") == START + 1000
    clock.now = START + 999
    assert store.get(b"k") == b"v"
    assert len(store) == 1
    clock.now = START + 1000
    assert len(store) == 1  # not removed until touched (like Redis's DBSIZE)
    assert store.get(b"k") is None
    assert len(store) == 0
    assert store.expired_keys == 1


def test_expire_time_sentinels_and_persist() -> None:
    store, _ = make_store()
    assert store.expire_time(b"missing") == NO_KEY
    store.set(b"k", b"v")
    assert store.expire_time(b"k") == NO_EXPIRY
    assert not store.persist(b"k")
    assert store.expire_at(b"k", START + 50)
    assert store.persist(b"k")
    assert store.expire_time(b"k") == NO_EXPIRY
    assert not store.expire_at(b"missing", START + 50)


def test_expire_at_in_the_past_deletes() -> None:
    store, _ = make_store()
    store.set(b"k", b"v")
    assert store.expire_at(b"k", START)
    assert not store.exists(b"k")
    store.set(b"j", b"v", expire_at=START - 1)
    assert not store.exists(b"j")


def test_set_drops_ttl_unless_keep_ttl() -> None:
    store, _ = make_store()
    store.set(b"k", b"v", expire_at=START + 100)
    store.set(b"k", b"w", keep_ttl=True)
    assert store.expire_time(b"k") == START + 100
    store.set(b"k", b"x")
    assert store.expire_time(b"k") == NO_EXPIRY


def test_keep_ttl_on_an_expired_key_does_not_inherit_the_old_expiry() -> None:
    store, clock = make_store()
    store.set(b"k", b"v", expire_at=START + 10)
    clock.now = START + 20
    store.set(b"k", b"new", keep_ttl=True)
    assert store.get(b"k") == b"new"
    assert store.expire_time(b"k") == NO_EXPIRY


def test_sweep_removes_expired_keys_soonest_first_and_is_bounded() -> None:
    store, clock = make_store()
    for i in range(10):
        store.set(b"k%d" % i, b"v", expire_at=START + 10 + i)
    store.set(b"forever", b"v")
    clock.now = START + 15
    assert store.sweep(max_keys=3) == 3
    assert len(store) == 8
    assert store.sweep(max_keys=100) == 3  # k3..k5 have expired; k6.. have not
    assert len(store) == 5
    assert store.sweep() == 0
    clock.now = START + 1000
    assert store.sweep() == 4
    assert store.keys() == [b"forever"]


def test_sweep_skips_stale_entries_of_rewritten_ttls() -> None:
    store, clock = make_store()
    for i in range(200):
        store.set(b"k", b"v", expire_at=START + 10 + i)
    # Rewriting one key's TTL must not let the heap grow without bound.
    assert len(store._heap) <= 2 * store.expires_count + 65
    clock.now = START + 100
    assert store.sweep() == 0  # only stale entries are due
    assert store.get(b"k") == b"v"
    clock.now = START + 10 + 199
    assert store.sweep(max_keys=5) == 1
    assert not store.exists(b"k")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        (b"0", 0),
        (b"7", 7),
        (b"-7", -7),
        (b"9223372036854775807", (1 << 63) - 1),
        (b"-9223372036854775808", -(1 << 63)),
        (b"9223372036854775808", None),
        (b"-9223372036854775809", None),
        (b"01", None),
        (b"-0", None),
        (b"+1", None),
        (b" 1", None),
        (b"1 ", None),
        (b"1_0", None),
        (b"", None),
        (b"-", None),
        (b"\xd9\xa1", None),
    ],
)
def test_parse_int64_is_redis_string2ll(text: bytes, value: int | None) -> None:
    assert parse_int64(text) == value


def test_incr_by() -> None:
    store, _ = make_store()
    assert store.incr_by(b"n", 5) == 5
    assert store.incr_by(b"n", -7) == -2
    assert store.get(b"n") == b"-2"
    store.set(b"bad", b"1.5")
    with pytest.raises(NotAnInteger):
        store.incr_by(b"bad", 1)
    store.set(b"big", b"9223372036854775807")
    with pytest.raises(IntegerOverflow):
        store.incr_by(b"big", 1)
    assert store.get(b"big") == b"9223372036854775807"


def test_incr_append_setrange_keep_the_ttl() -> None:
    store, _ = make_store()
    store.set(b"n", b"1", expire_at=START + 100)
    store.incr_by(b"n", 1)
    store.append(b"n", b"0")
    store.set_range(b"n", 0, b"3")
    assert store.get(b"n") == b"30"
    assert store.expire_time(b"n") == START + 100


def test_append_and_set_range() -> None:
    store, _ = make_store()
    assert store.append(b"s", b"ab") == 2
    assert store.append(b"s", b"cd") == 4
    assert store.set_range(b"s", 1, b"XY") == 4
    assert store.get(b"s") == b"aXYd"
    assert store.set_range(b"s", 6, b"!") == 7
    assert store.get(b"s") == b"aXYd\x00\x00!"
    assert store.set_range(b"new", 2, b"z") == 3
    assert store.get(b"new") == b"\x00\x00z"


def test_rename_moves_value_expiry_and_flags() -> None:
    store, _ = make_store()
    store.set(b"a", b"1", expire_at=START + 500, flags=9)
    store.set(b"b", b"2")
    assert store.rename(b"a", b"b")
    assert store.get(b"a") is None
    item = store.get_item(b"b")
    assert item is not None
    assert (item.value, item.flags, item.expire_at) == (b"1", 9, START + 500)
    assert not store.rename(b"missing", b"b")
    assert store.rename(b"b", b"b")
    assert store.get(b"b") == b"1"


def test_keys_match_globs_and_skip_expired() -> None:
    store, clock = make_store()
    for key in (b"hello", b"hallo", b"hxllo", b"world"):
        store.set(key, b"v")
    store.set(b"hbllo", b"v", expire_at=START + 5)
    assert sorted(store.keys(b"h?llo")) == [b"hallo", b"hbllo", b"hello", b"hxllo"]
    clock.now = START + 5
    assert sorted(store.keys(b"h[a-b]llo")) == [b"hallo"]
    assert sorted(store.keys()) == [b"hallo", b"hello", b"hxllo", b"world"]


def test_flush() -> None:
    store, _ = make_store()
    store.set(b"a", b"1", expire_at=START + 5, flags=3)
    store.scan(0)
    store.flush()
    assert len(store) == 0
    assert store.expires_count == 0
    assert store.scan(0) == (0, [])


def test_random_key() -> None:
    store, clock = make_store()
    assert store.random_key() is None
    keys = {b"k%d" % i for i in range(20)}
    for key in keys:
        store.set(key, b"v")
    seen = {store.random_key() for _ in range(200)}
    assert seen <= keys
    assert len(seen) > 10
    for key in keys:
        store.expire_at(key, START + 1)
    clock.now = START + 1
    assert store.random_key() is None


def test_memcached_metadata_and_cas() -> None:
    store, _ = make_store()
    store.set(b"k", b"v", flags=42)
    first = store.get_item(b"k")
    assert first is not None
    assert first.flags == 42
    assert store.get_item(b"k") == first  # reading does not change the cas
    store.append(b"k", b"w")  # a write keeps the flags but changes the cas
    second = store.get_item(b"k")
    assert second is not None
    assert second.flags == 42
    assert second.cas != first.cas
    assert store.check_and_set(b"k", b"x", first.cas) is CasOutcome.EXISTS
    assert store.check_and_set(b"k", b"x", second.cas, flags=5) is CasOutcome.STORED
    assert store.check_and_set(b"nope", b"x", 1) is CasOutcome.NOT_FOUND
    store.set(b"k", b"y")  # a plain SET (as RESP's) resets the flags and the cas
    third = store.get_item(b"k")
    assert third is not None
    assert third.flags == 0
    assert third.cas not in (first.cas, second.cas)


def _full_scan(store: Store, count: int) -> list[bytes]:
    found: list[bytes] = []
    cursor, keys = store.scan(0, count)
    found += keys
    while cursor:
        cursor, keys = store.scan(cursor, count)
        found += keys
    return found


def test_scan_visits_every_key_once() -> None:
    store, _ = make_store()
    keys = [b"k%d" % i for i in range(57)]
    for key in keys:
        store.set(key, b"v")
    assert sorted(_full_scan(store, 5)) == sorted(keys)
    cursor, found = store.scan(0, 100, b"k1*")
    assert cursor == 0
    assert sorted(found) == sorted(key for key in keys if key.startswith(b"k1"))


@settings(max_examples=150)
@given(
    initial=st.sets(st.integers(0, 40), max_size=30),
    steps=st.lists(
        st.tuples(
            st.integers(1, 6),
            st.lists(st.tuples(st.booleans(), st.integers(0, 60)), max_size=4),
        ),
        max_size=30,
    ),
)
def test_scan_returns_keys_present_throughout_despite_changes(
    initial: set[int], steps: list[tuple[int, list[tuple[bool, int]]]]
) -> None:
    store, _ = make_store()
    for number in initial:
        store.set(b"k%d" % number, b"v")
    present_throughout = {b"k%d" % number for number in initial}
    ever_present = set(present_throughout)
    returned: list[bytes] = []
    cursor, keys = store.scan(0, 3)
    returned += keys
    for count, changes in steps:
        for insert, number in changes:
            key = b"k%d" % number
            if insert:
                store.set(key, b"w")
                ever_present.add(key)
            else:
                store.delete(key)
                present_throughout.discard(key)
        if not cursor:
            break
        cursor, keys = store.scan(cursor, count)
        returned += keys
    while cursor:
        cursor, keys = store.scan(cursor, 4)
        returned += keys
    assert present_throughout <= set(returned)
    assert set(returned) <= ever_present


def test_scan_survives_compaction_of_the_index() -> None:
    store, _ = make_store()
    keys = [b"k%03d" % i for i in range(300)]
    for key in keys:
        store.set(key, b"v")
    cursor, found = store.scan(0, 100)
    for key in keys[:250]:
        if key not in found:
            continue
        store.delete(key)  # many deletions compact the index mid-iteration
    rest = []
    while cursor:
        cursor, part = store.scan(cursor, 7)
        rest += part
    assert sorted(found + rest) == sorted(found + keys[100:])


# -- globs ----------------------------------------------------------------------


def _redis_class(pattern: bytes, p: int, byte: int) -> tuple[bool, int]:
    """The ``[...]`` case of ``stringmatchlen``: whether ``byte`` is in it, and where it ends."""
    plen = len(pattern)
    negate = p < plen and pattern[p] == ord("^")
    if negate:
        p += 1
    matched = False
    while True:
        if p < plen - 1 and pattern[p] == ord("\\"):
            p += 1
            matched = matched or pattern[p] == byte
        elif p < plen and pattern[p] == ord("]"):
            break
        elif p >= plen:
            p -= 1
            break
        elif plen - p >= 3 and pattern[p + 1] == ord("-"):
            low, high = sorted((pattern[p], pattern[p + 2]))
            matched = matched or low <= byte <= high
            p += 2
        else:
            matched = matched or pattern[p] == byte
        p += 1
    return matched is not negate, p


def redis_stringmatch(pattern: bytes, subject: bytes) -> bool:
    """A line-by-line port of Redis's ``stringmatchlen`` (util.c), as the test oracle."""
    plen, slen = len(pattern), len(subject)
    skip_longer = [False]  # Redis's skipLongerMatches: one failed tail means none can match

    def match(p: int, s: int) -> bool:
        while p < plen and s < slen:
            c = pattern[p]
            if c == ord("*"):
                while p + 1 < plen and pattern[p + 1] == ord("*"):
                    p += 1
                if p == plen - 1:
                    return True
                while s < slen:
                    if match(p + 1, s):
                        return True
                    if skip_longer[0]:
                        return False
                    s += 1
                skip_longer[0] = True
                return False
            if c == ord("["):
                matched, p = _redis_class(pattern, p + 1, subject[s])
                if not matched:
                    return False
            elif c != ord("?"):
                if c == ord("\\") and plen - p >= 2:
                    p += 1
                if pattern[p] != subject[s]:
                    return False
            s += 1
            p += 1
            if s == slen:
                while p < plen and pattern[p] == ord("*"):
                    p += 1
                break
        return p == plen and s == slen

    return match(0, 0)


@pytest.mark.parametrize(
    ("pattern", "subject", "expected"),
    [
        (b"h?llo", b"hello", True),
        (b"h?llo", b"hllo", False),
        (b"h*llo", b"hllo", True),
        (b"h*llo", b"heeeello", True),
        (b"h[ae]llo", b"hallo", True),
        (b"h[ae]llo", b"hillo", False),
        (b"h[^e]llo", b"hallo", True),
        (b"h[^e]llo", b"hello", False),
        (b"h[a-b]llo", b"hbllo", True),
        (b"h[b-a]llo", b"hbllo", True),
        (b"a\\*", b"a*", True),
        (b"a\\*", b"ab", False),
        (b"a\\", b"a\\", True),
        (b"[abc", b"c", True),
        (b"[]", b"]", False),
        (b"[^]", b"x", True),
        (b"[\\]]", b"]", True),
        (b"*", b"", False),  # Redis's quirk: only "" matches an empty subject
        (b"", b"", True),
        (b"?", b"", False),
        (b"*\n*", b"a\nb", True),
        (b"*a*a*a*a*a*b", b"a" * 3000, False),
    ],
)
def test_glob_examples(pattern: bytes, subject: bytes, expected: bool) -> None:
    assert glob_match(pattern, subject) is expected
    assert redis_stringmatch(pattern, subject) is expected


@settings(max_examples=200)
@given(
    pattern=st.binary(max_size=8).map(lambda raw: bytes(b"ab*?[]^-\\"[x % 9] for x in raw)),
    subject=st.binary(max_size=8).map(lambda raw: bytes(b"ab-]^\\"[x % 6] for x in raw)),
)
def test_glob_agrees_with_redis_stringmatch(pattern: bytes, subject: bytes) -> None:
    assert compile_glob(pattern)(subject) is redis_stringmatch(pattern, subject)


def test_watch_versions_change_on_every_kind_of_write() -> None:
    store, clock = make_store()
    store.set(b"k", b"1")
    version = store.watch(b"k")
    changes = [
        lambda: store.set(b"k", b"2"),
        lambda: store.append(b"k", b"3"),
        lambda: store.set_range(b"k", 0, b"4"),
        lambda: store.expire_at(b"k", START + 100),
        lambda: store.persist(b"k"),
        lambda: store.rename(b"k", b"j") and store.rename(b"j", b"k"),
        lambda: store.delete(b"k"),
        lambda: store.incr_by(b"k", 1),
        store.flush,
    ]
    for change in changes:
        if not store.exists(b"k"):
            store.set(b"k", b"1")
        version = store.watch_version(b"k")
        change()
        assert store.watch_version(b"k") != version, change
    store.set(b"k", b"5", expire_at=START + 10)
    version = store.watch_version(b"k")
    store.get(b"k")
    store.exists(b"k")
    assert store.watch_version(b"k") == version  # reads are not writes
    clock.now = START + 10
    assert store.watch_version(b"k") != version  # expiring is
    assert store.watch(b"k") == store.watch_version(b"k")
    store.unwatch(b"k")
    store.unwatch(b"k")
    assert not store._watched
