"""kvbin on the registry's shared store: the keys RESP and memcached see, logged by persistence."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from _drive import resp_command
from hypothesis import given, settings
from hypothesis import strategies as st
from wireproto.providers import kvbin, memcache, persistence, resp
from wireproto.providers.kvbin import KvbinProvider, Opcode, Status, build_reply, build_request
from wireproto.providers.kvstore import Store, shared_store
from wireproto.providers.persistence import records

from wireproto import Connection, Registry


def _registry(
    *extra: Callable[[Registry], object], options: dict[str, str] | None = None
) -> Registry:
    registry = Registry(options or {})
    for register in (*extra, kvbin.register, memcache.register, resp.register):
        register(registry)
    return registry


def _ask(connection: Connection, request: bytes) -> bytes:
    connection.receive_data(request)
    return connection.data_to_send()


def _kv(
    connection: Connection, opcode: Opcode, key: bytes, value: bytes = b"", rid: int = 1
) -> bytes:
    return _ask(connection, build_request(opcode, key, value, request_id=rid))


def test_a_kvbin_set_is_the_key_resp_and_memcached_read() -> None:
    registry = _registry()
    client, redis, mc = Connection(registry), Connection(registry), Connection(registry)
    assert _kv(client, Opcode.SET, b"user:1", b"ada") == build_reply(Status.OK, 1)
    assert _ask(redis, resp_command("GET", "user:1")) == b"$3\r\nada\r\n"
    assert _ask(mc, b"get user:1\r\n") == b"VALUE user:1 0 3\r\nada\r\nEND\r\n"
    assert _ask(redis, resp_command("SET", "user:2", "bob")) == b"+OK\r\n"
    assert _kv(client, Opcode.GET, b"user:2", rid=2) == build_reply(Status.OK, 2, b"bob")
    assert _kv(client, Opcode.DELETE, b"user:1", rid=3) == build_reply(Status.OK, 3)
    assert _ask(redis, resp_command("EXISTS", "user:1")) == b":0\r\n"
    assert _kv(client, Opcode.DELETE, b"user:1", rid=4) == build_reply(Status.NOT_FOUND, 4)


def test_a_redis_container_looks_absent_to_get_and_is_replaced_by_set() -> None:
    registry = _registry()
    client, redis = Connection(registry), Connection(registry)
    assert _ask(redis, resp_command("RPUSH", "list", "a")) == b":1\r\n"
    assert _kv(client, Opcode.GET, b"list") == build_reply(Status.NOT_FOUND, 1)
    # SET replaces a key of any type, as Redis's SET does.
    assert _kv(client, Opcode.SET, b"list", b"now a string", rid=2) == build_reply(Status.OK, 2)
    assert _ask(redis, resp_command("TYPE", "list")) == b"+string\r\n"
    assert _ask(redis, resp_command("RPUSH", "other", "a")) == b":1\r\n"
    assert _kv(client, Opcode.DELETE, b"other", rid=3) == build_reply(Status.OK, 3)
    assert _ask(redis, resp_command("EXISTS", "other")) == b":0\r\n"


def test_an_expired_key_is_gone_for_kvbin_and_a_kvbin_set_clears_the_ttl() -> None:
    now = [1_000_000]
    registry = Registry()
    store = Store(lambda: now[0])
    kvbin_provider = KvbinProvider(store=store)
    registry.register(kvbin.KVBIN, kvbin_provider)
    client = Connection(registry)
    store.set(b"k", b"v", expire_at=now[0] + 10)
    assert _kv(client, Opcode.GET, b"k") == build_reply(Status.OK, 1, b"v")
    assert _kv(client, Opcode.SET, b"k", b"w", rid=2) == build_reply(Status.OK, 2)
    now[0] += 100
    assert _kv(client, Opcode.GET, b"k", rid=3) == build_reply(Status.OK, 3, b"w")
    store.set(b"k", b"x", expire_at=now[0] + 10)
    now[0] += 10
    assert _kv(client, Opcode.GET, b"k", rid=4) == build_reply(Status.NOT_FOUND, 4)


def test_the_store_is_bound_when_first_needed_so_resp_given_a_provider_still_shares_it() -> None:
    registry = Registry()
    provider = KvbinProvider(registry=registry)
    registry.register(kvbin.KVBIN, provider)
    served = resp.register(registry, resp.RespProvider())  # its store becomes the shared one
    client, redis = Connection(registry), Connection(registry)
    assert _kv(client, Opcode.SET, b"k", b"v") == build_reply(Status.OK, 1)
    assert provider.store is served.databases[0] is shared_store(registry)
    assert _ask(redis, resp_command("GET", "k")) == b"$1\r\nv\r\n"


def test_providers_without_a_registry_keep_stores_of_their_own() -> None:
    first, second = KvbinProvider(), KvbinProvider()
    assert first.store is not second.store
    given_store = Store()
    assert KvbinProvider(store=given_store).store is given_store


def _logged(directory: Path) -> list[records.Record]:
    payloads, _ = records.read_records((directory / "appendonly.1.incr.wpl").read_bytes())
    return [records.decode(payload) for payload in payloads]


def _durable(directory: Path) -> tuple[Registry, Callable[[], None]]:
    options = {"persistence.dir": str(directory), "persistence.appendfsync": "always"}
    registry = _registry(persistence.register, options=options)
    (barrier,) = registry.reply_barriers
    return registry, barrier


def test_kvbin_writes_are_logged_by_the_store_and_replayed_at_start(tmp_path: Path) -> None:
    registry, barrier = _durable(tmp_path)
    client = Connection(registry)
    big = bytes(range(256)) * 1024  # a view of its frame until the store copies it
    assert _kv(client, Opcode.SET, b"a", b"1") == build_reply(Status.OK, 1)
    assert _kv(client, Opcode.SET, b"big", big, rid=2) == build_reply(Status.OK, 2)
    assert _kv(client, Opcode.SET, b"gone", b"x", rid=3) == build_reply(Status.OK, 3)
    barrier()
    assert _kv(client, Opcode.DELETE, b"gone", rid=4) == build_reply(Status.OK, 4)
    assert _kv(client, Opcode.DELETE, b"never", rid=5) == build_reply(Status.NOT_FOUND, 5)
    assert _kv(client, Opcode.GET, b"a", rid=6) == build_reply(Status.OK, 6, b"1")
    assert _kv(client, Opcode.ECHO, b"", b"not a write", rid=7) == build_reply(
        Status.OK, 7, b"not a write"
    )
    barrier()
    strings, deleted = _logged(tmp_path)
    assert isinstance(strings, records.Strings)  # the batch's plain strings, in one record
    assert strings.db == 0
    assert dict(zip(strings.keys, strings.values, strict=True)) == {
        b"a": b"1",
        b"big": big,
        b"gone": b"x",
    }
    assert deleted == records.Delete(0, b"gone")
    log = persistence.log_of(shared_store(registry))
    assert log is not None
    log.close()

    again, _ = _durable(tmp_path)
    client = Connection(again)
    assert _kv(client, Opcode.GET, b"a") == build_reply(Status.OK, 1, b"1")
    assert _kv(client, Opcode.GET, b"big", rid=2) == build_reply(Status.OK, 2, big)
    assert _kv(client, Opcode.GET, b"gone", rid=3) == build_reply(Status.NOT_FOUND, 3)
    assert _ask(Connection(again), resp_command("GET", "a")) == b"$1\r\n1\r\n"
    replayed = persistence.log_of(shared_store(again))
    assert replayed is not None
    replayed.close()


_KEYS = st.binary(min_size=0, max_size=4)
_OPS = st.lists(
    st.one_of(
        st.tuples(st.just(Opcode.SET), _KEYS, st.binary(max_size=8)),
        st.tuples(st.just(Opcode.DELETE), _KEYS, st.just(b"")),
        st.tuples(st.just(Opcode.GET), _KEYS, st.just(b"")),
    ),
    max_size=30,
)


@settings(max_examples=40, deadline=None)
@given(ops=_OPS)
def test_any_kvbin_history_replays_to_what_redis_sees(tmp_path_factory: object, ops: list) -> None:
    directory = tmp_path_factory.mktemp("log")  # type: ignore[attr-defined]
    registry, barrier = _durable(directory)
    client = Connection(registry)
    model: dict[bytes, bytes] = {}
    for rid, (opcode, key, value) in enumerate(ops):
        reply = _kv(client, opcode, key, value, rid)
        if opcode == Opcode.SET:
            model[key] = value
            assert reply == build_reply(Status.OK, rid)
        elif opcode == Opcode.DELETE:
            assert reply == build_reply(
                Status.OK if model.pop(key, None) is not None else Status.NOT_FOUND, rid
            )
        else:
            found = model.get(key)
            assert reply == (
                build_reply(Status.NOT_FOUND, rid)
                if found is None
                else build_reply(Status.OK, rid, found)
            )
        if rid % 3 == 0:
            barrier()
    barrier()
    log = persistence.log_of(shared_store(registry))
    assert log is not None
    log.close()
    again, _ = _durable(directory)
    store = shared_store(again)
    assert {key: store.get(key) for key in store.stored_keys()} == model
    redis = Connection(again)
    for key, value in model.items():
        assert _ask(redis, resp_command("GET", key)) == b"$%d\r\n%s\r\n" % (len(value), value)
    replayed = persistence.log_of(store)
    assert replayed is not None
    replayed.close()
