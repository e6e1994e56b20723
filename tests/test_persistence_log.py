"""The append-only log over real files, without sockets: replay, state records, rewrite."""

from __future__ import annotations

import os
import tempfile
from collections import deque
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wireproto.providers.datatypes.zset import ZSet
from wireproto.providers.kvstore import CasOutcome, Databases, Store, shared_databases
from wireproto.providers.persistence import log as aof
from wireproto.providers.persistence import records, register
from wireproto.providers.resp import stream_rdb  # registers the stream codec
from wireproto.providers.resp.stream import Group, Stream

from wireproto import Registry


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000

    def __call__(self) -> int:
        return self.now


def databases(clock: Clock | None = None) -> Databases:
    return Databases(Store(clock or Clock()))


def opened(directory: Path, dbs: Databases, mode: str = "always", **options: int) -> aof.AppendLog:
    log = aof.AppendLog(str(directory), list(dbs), mode, **options)
    log.open()
    return log


def reopen(directory: Path, clock: Clock | None = None) -> tuple[aof.AppendLog, Databases]:
    dbs = databases(clock)
    return opened(directory, dbs), dbs


def incr_file(log: aof.AppendLog) -> Path:
    return Path(log.directory) / log._incrs[-1]


def test_every_kind_of_write_survives_a_reopen(tmp_path: Path) -> None:
    clock = Clock()
    dbs = databases(clock)
    log = opened(tmp_path, dbs)
    store = dbs[0]
    store.set(b"s", b"v", flags=7)
    store.set(b"ttl", b"v", expire_at=clock.now + 5000)
    store.append(b"s", b"w")
    store.incr_by(b"n", 5)
    store.set(b"gone", b"x")
    store.delete(b"gone")
    store.set(b"old", b"x")
    store.rename(b"old", b"new")
    items = store.write_container(b"list", deque)
    items.extend([b"a", b"b"])
    store.container_written(b"list", b"rpush")
    fields = store.write_container(b"hash", dict)
    fields[b"f"] = b"1"
    store.container_written(b"hash", b"hset")
    members = store.write_container(b"set", set)
    members.add(b"m")
    store.container_written(b"set", b"sadd")
    dbs[3].set(b"three", b"3")
    scores = store.write_container(b"zset", ZSet)
    scores.add(b"m", 1.5)
    store.container_written(b"zset", b"zadd")
    log.flush()
    log.close()
    again, copy = reopen(tmp_path, clock)
    assert copy[0].get_with_flags(b"s") == (b"vw", 7)
    assert copy[0].expire_time(b"ttl") == clock.now + 5000
    assert copy[0].get(b"n") == b"5"
    assert copy[0].get(b"gone") is None
    assert copy[0].get(b"old") is None
    assert copy[0].get(b"new") == b"x"
    assert copy[0].read_container(b"list", deque) == deque([b"a", b"b"])
    assert copy[0].read_container(b"hash", dict) == {b"f": b"1"}
    assert copy[0].read_container(b"set", set) == {b"m"}
    assert copy[3].get(b"three") == b"3"
    restored = copy[0].read_container(b"zset", ZSet)
    assert restored is not None
    assert restored.score(b"m") == 1.5
    again.close()


def test_a_key_written_many_times_in_one_batch_is_one_record(tmp_path: Path) -> None:
    dbs = databases()
    log = opened(tmp_path, dbs)
    for number in range(100):
        dbs[0].set(b"k", b"%d" % number)
    log.flush()
    payloads, _ = records.read_records(incr_file(log).read_bytes())
    assert [records.decode(p) for p in payloads] == [records.Strings(0, (b"k",), (b"99",))]
    log.close()


def test_expiry_is_absolute_and_a_key_expired_while_down_stays_gone(tmp_path: Path) -> None:
    clock = Clock()
    dbs = databases(clock)
    log = opened(tmp_path, dbs)
    dbs[0].set(b"short", b"v", expire_at=clock.now + 1000)
    dbs[0].set(b"long", b"v", expire_at=clock.now + 10_000)
    log.close()
    clock.now += 5000  # the server was down for five seconds
    again, copy = reopen(tmp_path, clock)
    assert copy[0].get(b"short") is None
    assert copy[0].expire_time(b"long") == clock.now + 5000
    again.close()


def test_flush_and_swap_are_logged_in_order_with_the_keys_around_them(tmp_path: Path) -> None:
    dbs = databases()
    log = opened(tmp_path, dbs)
    dbs[0].set(b"a", b"in0")
    dbs[1].set(b"b", b"in1")
    dbs.swap(0, 1)  # dirty keys of both are logged as they were before the swap
    dbs[0].set(b"c", b"after")
    dbs[2].set(b"x", b"1")
    dbs[2].flush()
    dbs[2].set(b"y", b"2")
    log.close()
    again, copy = reopen(tmp_path)
    assert sorted(copy[0].keys()) == [b"b", b"c"]
    assert copy[1].get(b"a") == b"in0"
    assert copy[2].keys() == [b"y"]
    again.close()


@given(cut=st.integers(0, 10_000), flip=st.booleans(), flip_at=st.integers(0, 10_000))
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_a_torn_or_corrupt_tail_is_cut_at_the_last_whole_record(
    tmp_path_factory: pytest.TempPathFactory, cut: int, flip: bool, flip_at: int
) -> None:
    directory = tmp_path_factory.mktemp("aof")
    dbs = databases()
    log = opened(directory, dbs)
    for number in range(50):
        write = dbs[0].put if number % 2 else dbs[0].set  # string pairs, strings records
        write(b"k%d" % number, b"v" * number)
        log.flush()  # one record each
    log.close()
    path = incr_file(log)
    data = bytearray(path.read_bytes())
    cut %= len(data) + 1
    data = data[:cut]
    if flip and data:
        data[flip_at % len(data)] ^= 0xFF
    path.write_bytes(bytes(data))
    payloads, good = records.read_records(bytes(data))
    again, copy = reopen(directory)
    assert os.path.getsize(path) == good  # the tail was truncated
    assert len(copy[0]) == len(payloads)
    assert all(copy[0].get(b"k%d" % n) == b"v" * n for n in range(len(payloads)))
    dbs = copy
    dbs[0].set(b"after", b"1")  # the log goes on after the cut
    again.close()
    final, latest = reopen(directory)
    assert latest[0].get(b"after") == b"1"
    final.close()


def test_a_rewrite_in_a_forked_child_replaces_the_old_files_and_loses_nothing(
    tmp_path: Path,
) -> None:
    dbs = databases()
    log = opened(tmp_path, dbs)
    for number in range(1000):
        dbs[0].set(b"k%d" % (number % 100), b"%d" % number)
        log.flush()
    before = log.incr_size
    assert log.rewrite()
    assert not log.rewrite()  # one child at a time
    dbs[0].set(b"during", b"1")  # written to the new incremental log
    log.flush()
    assert log.wait_child(block=True)
    assert log.rewrites == 1
    assert log.last_rewrite_ok
    names = sorted(os.listdir(tmp_path))
    assert names == ["appendonly.2.base.wpl", "appendonly.2.incr.wpl", "appendonly.manifest"]
    assert log.base_size < before
    log.close()
    again, copy = reopen(tmp_path)
    assert copy[0].get(b"during") == b"1"
    assert all(copy[0].get(b"k%d" % n) == b"%d" % (900 + n) for n in range(100))
    again.close()


def test_the_log_rewrites_itself_past_the_minimum_size(tmp_path: Path) -> None:
    dbs = databases()
    log = opened(tmp_path, dbs, auto_rewrite_min_size=10_000)
    for number in range(2000):
        dbs[0].set(b"k%d" % (number % 10), b"x" * 50)
        log.flush()
        log.wait_child(block=False)
    log.wait_child(block=True)
    assert log.rewrites >= 1
    assert log.incr_size < 20_000
    log.close()
    again, copy = reopen(tmp_path)
    assert len(copy[0]) == 10
    again.close()


def test_save_writes_a_snapshot_loaded_when_there_is_no_log(tmp_path: Path) -> None:
    dbs = databases()
    log = opened(tmp_path, dbs)
    dbs[0].set(b"a", b"1")
    log.save()
    assert log.bgsave()
    assert log.wait_child(block=True)
    assert log.last_save_ok
    log.close()
    snapshot = tmp_path / aof.SNAPSHOT
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    os.replace(snapshot, fresh / aof.SNAPSHOT)
    again, copy = reopen(fresh)
    assert copy[0].get(b"a") == b"1"
    again.close()


def test_the_plugin_does_nothing_without_a_directory(tmp_path: Path) -> None:
    registry = Registry()
    register(registry)
    assert registry.reply_barriers == ()
    assert all(not store._observers for store in shared_databases(registry))


def test_the_plugin_logs_the_shared_databases_and_registers_the_barrier(tmp_path: Path) -> None:
    registry = Registry({"persistence.dir": str(tmp_path), "persistence.appendfsync": "always"})
    register(registry)
    (barrier,) = registry.reply_barriers
    shared_databases(registry)[5].set(b"k", b"v")
    barrier()
    payloads, _ = records.read_records((tmp_path / "appendonly.1.incr.wpl").read_bytes())
    assert [records.decode(p) for p in payloads] == [records.Strings(5, (b"k",), (b"v",))]


def test_an_unknown_fsync_mode_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="appendfsync"):
        aof.AppendLog(str(tmp_path), list(databases()), "sometimes")


@pytest.mark.parametrize("plain", [False, True], ids=["states", "puts"])
def test_the_tail_cut_at_every_byte_of_its_last_records_keeps_every_whole_one(
    tmp_path: Path, plain: bool
) -> None:
    source = tmp_path / "source"
    dbs = databases()
    log = opened(source, dbs)
    for number in range(20):
        if plain:  # Redis's SET: the string pairs record
            dbs[0].put(b"k%d" % number, b"v" * number)
        else:
            dbs[0].set(b"k%d" % number, b"v" * number, flags=number)
        log.flush()  # one frame each
    log.close()
    data = incr_file(log).read_bytes()
    _, whole = records.split_records(data)
    assert whole == len(data)
    frames_end = []
    offset = 0
    for payload in records.split_records(data)[0]:
        offset += 8 + len(payload)
        frames_end.append(offset)
    start = frames_end[-4]  # every offset inside the last three records, and the end
    for cut in range(start, len(data) + 1):
        case = tmp_path / f"cut{cut}"
        case.mkdir()
        for path in source.iterdir():
            (case / path.name).write_bytes(path.read_bytes())
        (case / incr_file(log).name).write_bytes(data[:cut])
        kept = sum(1 for end in frames_end if end <= cut)
        again, copy = reopen(case)
        assert len(copy[0]) == kept, cut
        assert all(
            copy[0].get_with_flags(b"k%d" % n) == (b"v" * n, 0 if plain else n) for n in range(kept)
        )
        assert (case / incr_file(log).name).stat().st_size == frames_end[kept - 1]
        again.close()


def test_closing_stops_a_running_child_and_keeps_a_loadable_directory(tmp_path: Path) -> None:
    dbs = databases()
    log = opened(tmp_path, dbs)
    for number in range(200_000):
        dbs[0].put(b"k%d" % number, b"v")
    log.flush()
    assert log.rewrite()
    dbs[0].set(b"during", b"1")
    log.close()  # the child is killed at once, not waited for
    assert log.child_running == ""
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".tmp")]
    again, copy = reopen(tmp_path)
    assert len(copy[0]) == 200_001
    again.close()


def _manifest(directory: Path) -> list[str]:
    return (directory / "appendonly.manifest").read_text().split("\n")[1:-1]  # after seq


def test_enabling_again_logs_at_once_and_writes_the_base_in_a_child(tmp_path: Path) -> None:
    dbs = databases()
    log = opened(tmp_path, dbs)
    dbs[0].set(b"before", b"1")
    log.flush()
    log.close()  # CONFIG SET appendonly no
    dbs[0].set(b"while-off", b"2")
    log.enable()  # CONFIG SET appendonly yes: returns with the child still writing
    assert log.enabled and log.child_running == "rewrite"
    assert _manifest(tmp_path) == ["base appendonly.1.base.wpl", "incr appendonly.1.incr.wpl"]
    dbs[0].set(b"after", b"3")
    log.flush()
    assert not log.rewrite()  # one child at a time
    assert log.wait_child(block=True)
    assert log.last_rewrite_ok
    assert _manifest(tmp_path) == ["base appendonly.2.base.wpl", "incr appendonly.2.incr.wpl"]
    assert sorted(os.listdir(tmp_path)) == [
        "appendonly.2.base.wpl",
        "appendonly.2.incr.wpl",
        "appendonly.manifest",
    ]
    log.close()
    again, copy = reopen(tmp_path)
    assert [copy[0].get(k) for k in (b"before", b"while-off", b"after")] == [b"1", b"2", b"3"]
    again.close()


def test_a_crash_before_the_new_base_restarts_from_the_old_files_and_no_orphan_leaks(
    tmp_path: Path,
) -> None:
    dbs = databases()
    log = opened(tmp_path, dbs)
    dbs[0].set(b"before", b"1")
    log.flush()
    log.close()
    dbs[0].set(b"while-off", b"2")
    log.enable()
    dbs[0].set(b"orphan", b"3")  # logged in appendonly.2.incr.wpl, which no manifest names
    log.flush()
    log._stop_child()  # the process dies before the base is written
    assert (tmp_path / "appendonly.2.incr.wpl").stat().st_size > 0
    again, copy = reopen(tmp_path)
    # As Redis after a crash while waiting for the rewrite: the old files' state.
    assert copy[0].get(b"before") == b"1"
    assert copy[0].get(b"while-off") is None and copy[0].get(b"orphan") is None
    copy[0].set(b"next", b"4")
    again.flush()
    assert again.rewrite()  # its new incremental log takes the orphan's name: emptied first
    copy[0].set(b"later", b"5")
    again.flush()
    assert again.wait_child(block=True)
    again.close()
    log.close()
    last, final = reopen(tmp_path)
    assert final[0].get(b"orphan") is None
    assert [final[0].get(k) for k in (b"before", b"next", b"later")] == [b"1", b"4", b"5"]
    last.close()


def test_a_failed_base_keeps_the_old_manifest_until_a_rewrite_succeeds(tmp_path: Path) -> None:
    dbs = databases()
    log = opened(tmp_path, dbs)
    dbs[0].set(b"before", b"1")
    log.flush()
    log.close()
    log.enable()
    log._stop_child()
    log.last_rewrite_ok = False
    assert _manifest(tmp_path) == ["base appendonly.1.base.wpl", "incr appendonly.1.incr.wpl"]
    dbs[0].set(b"after", b"2")
    log.flush()
    assert log.rewrite()  # BGREWRITEAOF (or the automatic one) tries again
    assert _manifest(tmp_path) == ["base appendonly.1.base.wpl", "incr appendonly.1.incr.wpl"]
    assert log.wait_child(block=True) and log.last_rewrite_ok
    assert _manifest(tmp_path) == ["base appendonly.3.base.wpl", "incr appendonly.3.incr.wpl"]
    log.close()
    assert sorted(os.listdir(tmp_path)) == [
        "appendonly.3.base.wpl",
        "appendonly.3.incr.wpl",
        "appendonly.manifest",
    ]
    again, copy = reopen(tmp_path)
    assert [copy[0].get(k) for k in (b"before", b"after")] == [b"1", b"2"]
    again.close()


def test_memcached_cas_versions_survive_a_reopen(tmp_path: Path) -> None:
    dbs = databases()
    log = opened(tmp_path, dbs)
    store = dbs[0]
    store.set(b"a", b"1", flags=3)
    assert store.get_with_cas(b"a") == (b"1", 3, 1)  # gets before the batch's barrier
    store.set(b"b", b"2")
    log.flush()  # b's cas is fixed now, as gets would give it
    _, _, cas_b = store.get_with_cas(b"b") or (b"", 0, 0)
    store.set(b"gone", b"x")
    log.flush()
    _, _, cas_gone = store.get_with_cas(b"gone") or (b"", 0, 0)
    store.delete(b"gone")
    store.append(b"b", b"!")  # a change hands out a new version
    log.flush()
    _, _, cas_changed = store.get_with_cas(b"b") or (b"", 0, 0)
    assert len({1, cas_b, cas_gone, cas_changed}) == 4
    log.close()
    again, copy = reopen(tmp_path)
    assert copy[0].get_with_cas(b"a") == (b"1", 3, 1)
    assert copy[0].get_with_cas(b"b") == (b"2!", 0, cas_changed)
    assert copy[0].check_and_set(b"b", b"new", cas_b) is CasOutcome.EXISTS
    assert copy[0].check_and_set(b"a", b"new", 1) is CasOutcome.STORED
    copy[0].set(b"gone", b"again")  # never the version a client may hold from before
    again.flush()
    _, _, fresh = copy[0].get_with_cas(b"gone") or (b"", 0, 0)
    assert fresh > max(cas_b, cas_gone, cas_changed)
    again.close()


def test_a_rewrite_keeps_cas_versions_and_the_next_one(tmp_path: Path) -> None:
    dbs = databases()
    log = opened(tmp_path, dbs)
    for number in range(10):
        dbs[0].set(b"k%d" % number, b"v")
    log.flush()  # no cas handed out yet: none fixed (a cost per key a Redis-only store skips)
    payloads, _ = records.read_records(incr_file(log).read_bytes())
    assert [records.decode(p) for p in payloads] == [  # plain strings: one batch record
        records.Strings(0, tuple(b"k%d" % n for n in range(10)), (b"v",) * 10)
    ]
    versions = {key: dbs[0].get_with_cas(key) for key in (b"k%d" % n for n in range(10))}
    dbs[0].delete(b"k9")  # the highest version handed out leaves with it
    log.flush()
    del versions[b"k9"]
    assert log.rewrite() and log.wait_child(block=True)
    log.close()
    again, copy = reopen(tmp_path)
    assert {key: copy[0].get_with_cas(key) for key in versions} == versions
    assert copy[0].next_cas == dbs[0].next_cas == 11
    again.close()


def test_the_next_cas_version_is_logged_with_the_batch_that_follows_it(tmp_path: Path) -> None:
    dbs = databases()
    log = opened(tmp_path, dbs)
    dbs[0].set(b"a", b"1")
    dbs[0].set(b"b", b"1")
    log.flush()
    dbs[0].get_with_cas(b"a")
    dbs[0].get_with_cas(b"b")  # version 2, then b is deleted: only the floor remembers it
    dbs[0].delete(b"b")
    log.flush()
    payloads, _ = records.read_records(incr_file(log).read_bytes())
    assert [records.decode(p) for p in payloads][-2:] == [
        records.Delete(0, b"b"),
        records.CasFloor(0, 3),
    ]
    log.close()
    again, copy = reopen(tmp_path)
    copy[0].set(b"b", b"other")
    assert copy[0].get_with_cas(b"b") == (b"other", 0, 3)
    again.close()


def test_a_stream_with_a_group_survives_a_reopen_in_its_dump_form(tmp_path: Path) -> None:
    clock = Clock()
    dbs = databases(clock)
    log = opened(tmp_path, dbs)
    stream = dbs[0].write_container(b"s", Stream)
    stream.append((1, 1), [b"f", b"v"])
    stream.append((2, 0), [b"g", b"w"])
    stream.last_id = (2, 0)
    stream.groups[b"grp"] = Group((1, 1), 1)
    dbs[0].container_written(b"s", b"xadd")
    log.flush()
    log.close()
    assert records._PICKLED not in b"".join(p.read_bytes() for p in tmp_path.glob("appendonly.*"))
    again, copy = reopen(tmp_path, clock)
    loaded = copy[0].read_container(b"s", Stream)
    assert isinstance(loaded, Stream)
    assert loaded.entries == {(1, 1): [b"f", b"v"], (2, 0): [b"g", b"w"]}
    assert loaded.last_id == (2, 0)
    assert (loaded.groups[b"grp"].last_id, loaded.groups[b"grp"].entries_read) == ((1, 1), 1)
    assert stream_rdb.dump_stream(loaded) == stream_rdb.dump_stream(stream)
    again.close()


def test_stored_strings_gives_values_only_when_every_key_is_a_plain_string() -> None:
    clock = Clock()
    store = Store(clock)
    store.set(b"a", b"1")
    store.set(b"b", b"2")
    assert store.stored_strings([b"a", b"b"]) == [b"1", b"2"]
    store.append(b"b", b"x")  # changed in place: a bytearray, still plain
    assert store.stored_strings([b"b"]) == [b"2x"]
    store.set(b"e", b"3", expire_at=clock.now + 1000)
    store.set(b"f", b"4", flags=7)
    store.set_value(b"l", deque([b"x"]))
    store.get_with_cas(b"a")  # a cas version handed out
    for other in (b"e", b"f", b"l", b"a", b"missing"):
        assert store.stored_strings([b"b", other]) is None, other
    assert store.stored_strings([b"b"]) == [b"2x"]


_KEYS = (b"a", b"b", b"c", b"d")
writes = st.lists(
    st.tuples(
        st.sampled_from(["set", "put", "setex", "flags", "append", "del", "list", "cas", "flush"]),
        st.sampled_from(_KEYS),
        st.binary(max_size=8),
    ),
    max_size=30,
)


@given(writes, st.integers(1, 8))
@settings(max_examples=60, deadline=None)
def test_any_mix_of_writes_in_any_batches_replays_to_the_same_state(
    history: list[tuple[str, bytes, bytes]], every: int
) -> None:
    clock = Clock()
    with tempfile.TemporaryDirectory() as directory:
        dbs = databases(clock)
        log = opened(Path(directory), dbs, "no")
        store = dbs[0]
        for step, (kind, key, value) in enumerate(history):
            if kind == "set":
                store.set(key, value)
            elif kind == "put":  # Redis's plain SET: appended to the log's pairs (no call)
                store.put(key, value)
            elif kind == "setex":
                store.set(key, value, expire_at=clock.now + 10_000)
            elif kind == "flags":
                store.set(key, value, flags=len(value) + 1)
            elif kind == "append":
                if key not in store.container_keys():
                    store.append(key, value)
            elif kind == "del":
                store.delete(key)
            elif kind == "list":
                store.set_value(key, deque([value]))
                store.notify(b"lpush", key)
            elif kind == "cas":
                store.get_with_cas(key)  # hands out a version to a string key
            else:
                log.flush()
            if step % every == 0:
                log.flush()
        log.close()
        again, copy = reopen(Path(directory), clock)
        assert {k: copy[0].stored(k) for k in _KEYS} == {k: store.stored(k) for k in _KEYS}
        again.close()


def test_a_snapshot_writes_runs_of_plain_strings_as_strings_records(tmp_path: Path) -> None:
    clock = Clock()
    dbs = databases(clock)
    dbs[0].set(b"gone", b"x", expire_at=clock.now + 1)
    for number in range(2500):
        dbs[0].set(b"k%d" % number, b"v%d" % number)
    dbs[0].set(b"k7", b"soon", expire_at=clock.now + 5_000)  # its run of 1,000 goes key by key
    dbs[0].append(b"k2400", b"!")  # a bytearray now, still plain
    dbs[3].set(b"other", b"db")
    clock.now += 2  # b"gone" expired, not removed yet: not written
    path = tmp_path / "snapshot"
    aof.write_snapshot(str(path), dbs)
    payloads, _ = records.read_records(path.read_bytes())
    decoded = [records.decode(p) for p in payloads]
    strings = [r for r in decoded if isinstance(r, records.Strings)]
    assert [(r.db, len(r.keys)) for r in strings] == [(0, 1000), (0, 501), (3, 1)]
    assert sum(isinstance(r, records.State) for r in decoded) == 999  # not b"gone"
    copy = databases(clock)
    aof.load_file(str(path), copy, truncate=False)
    assert copy[0].stored(b"k2400") == (b"v2400!", None, 0, 0)
    assert copy[0].stored(b"gone") is None
    assert copy[0].expire_time(b"k7") == clock.now + 4_998
    for db in (0, 3):
        assert {k: copy[db].stored(k) for k in dbs[db].stored_keys() if k != b"gone"} == {
            k: dbs[db].stored(k) for k in dbs[db].stored_keys() if k != b"gone"
        }


def test_puts_are_pairs_and_a_later_write_in_the_batch_wins(tmp_path: Path) -> None:
    clock = Clock()
    dbs = databases(clock)
    log = opened(tmp_path, dbs)
    store = dbs[0]
    for key in (b"a", b"b", b"c", b"d", b"e"):
        store.put(key, b"1")
    store.put(b"a", b"2")  # twice in the batch: both logged, in order
    store.delete(b"b")
    store.incr_by(b"c", 5)
    store.set(b"d", b"ttl", expire_at=clock.now + 5000)
    store.append(b"e", b"x")
    log.flush()
    decoded = [records.decode(p) for p in records.read_records(incr_file(log).read_bytes())[0]]
    pairs = decoded[0]  # the puts, in order
    assert isinstance(pairs, records.Strings)
    assert pairs.keys[:6] == (b"a", b"b", b"c", b"d", b"e", b"a")
    assert pairs.values[:6] == (b"1", b"1", b"1", b"1", b"1", b"2")
    # Then the plain strings among the keys written otherwise, read from the store.
    assert pairs.keys[6:] == (b"c", b"e")
    assert pairs.values[6:] == (b"6", b"1x")
    assert records.Delete(0, b"b") in decoded[1:]  # states of keys written since: after
    log.close()
    again, copy = reopen(tmp_path, clock)
    assert copy[0].get(b"a") == b"2"
    assert copy[0].get(b"b") is None
    assert copy[0].get(b"c") == b"6"
    assert (copy[0].get(b"d"), copy[0].expire_time(b"d")) == (b"ttl", clock.now + 5000)
    assert copy[0].get(b"e") == b"1x"
    again.close()


def test_puts_before_a_flush_or_a_swap_stay_on_their_side_of_it(tmp_path: Path) -> None:
    dbs = databases()
    log = opened(tmp_path, dbs)
    dbs[0].put(b"a", b"in0")
    dbs[0].put(b"b", b"in0")
    dbs[1].put(b"c", b"in1")
    dbs.swap(0, 1)
    dbs[0].put(b"d", b"after")
    dbs[2].put(b"x", b"1")
    dbs[2].put(b"z", b"1")
    dbs[2].flush()
    dbs[2].put(b"y", b"2")
    log.close()
    again, copy = reopen(tmp_path)
    assert sorted(copy[0].keys()) == [b"c", b"d"]
    assert sorted(copy[1].keys()) == [b"a", b"b"]
    assert copy[2].keys() == [b"y"]
    again.close()


def test_a_batch_of_puts_schedules_one_write_and_other_observers_still_hear_them(
    tmp_path: Path,
) -> None:
    scheduled: list[object] = []
    dbs = databases()
    log = aof.AppendLog(str(tmp_path), list(dbs), "no", schedule=scheduled.append)
    log.open()
    store = dbs[0]
    heard: list[tuple[bytes, bytes]] = []
    store.put(b"a", b"1")
    store.put(b"b", b"1")
    assert len(scheduled) == 1  # the batch's first put told the log: a write is due
    assert log.info_fields()[2] == ("rdb_changes_since_last_save", 2)
    stop = store.observe(lambda event, key: heard.append((event, key)))
    store.put(b"c", b"1")  # another observer: every put calls them all
    stop()
    store.put(b"d", b"1")
    assert heard == [(b"set", b"c")]
    log.flush()
    log.close()
    again, copy = reopen(tmp_path)
    assert sorted(copy[0].keys()) == [b"a", b"b", b"c", b"d"]
    again.close()
