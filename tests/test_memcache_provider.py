"""The memcached provider: one store with RESP, registry options, maintenance."""

from __future__ import annotations

import pytest
from _drive import Clock, resp_command
from _memcache import make_registry, run, shared_registry
from wireproto.providers import resp
from wireproto.providers.kvstore import Store, share_store, shared_store
from wireproto.providers.memcache import (
    CLAIM_OPTION,
    ITEM_SIZE_OPTION,
    Claim,
    MemcacheProvider,
    MemcacheSettings,
    register,
)

from wireproto._registry import Registry
from wireproto._session import Maintained


@pytest.mark.parametrize("resp_first", [True, False])
def test_memcached_and_redis_share_one_store(resp_first: bool) -> None:
    registry = Registry()
    if resp_first:
        resp.register(registry)
        provider = register(registry)
    else:
        provider = register(registry)
        resp.register(registry)
    mc, _ = run([b"set shared 5 0 4\r\nfrom\r\n"], registry)
    assert mc == b"STORED\r\n"
    redis, _ = run(
        [resp_command(b"GET", b"shared"), resp_command(b"SET", b"other", b"redis")], registry
    )
    assert redis == b"$4\r\nfrom\r\n+OK\r\n"
    mc, _ = run([b"get other shared\r\n"], registry)
    # RESP writes carry no memcached flags; memcached's flags survive RESP reads.
    assert mc == b"VALUE other 0 5\r\nredis\r\nVALUE shared 5 4\r\nfrom\r\nEND\r\n"
    resp_provider = registry.provider(resp.RESP)
    assert provider.store is getattr(resp_provider, "store", None)


def test_without_resp_the_registry_s_shared_store_is_used() -> None:
    registry = Registry()
    provider = register(registry)
    assert provider.store is shared_store(registry)
    assert MemcacheProvider().store is not shared_store(registry)
    given_store = Store()
    assert MemcacheProvider(given_store).store is given_store


@pytest.mark.parametrize("resp_first", [True, False])
def test_a_resp_provider_with_its_own_store_shares_it(resp_first: bool) -> None:
    own = Store()
    registry = Registry()
    if resp_first:
        resp.register(registry, resp.RespProvider(store=own))
        provider = register(registry)
    else:
        provider = register(registry)
        resp.register(registry, resp.RespProvider(store=own))
    mc, _ = run([b"set k 0 0 1\r\nv\r\n"], registry)
    assert mc == b"STORED\r\n"
    assert provider.store is own is shared_store(registry)
    assert own.get(b"k") == b"v"


def test_a_redis_write_changes_the_cas_version() -> None:
    registry = shared_registry(Claim.ALL)
    replies, _ = run([b"set k 0 0 1\r\na\r\ngets k\r\n"], registry)
    cas = int(replies.split(b"\r\n")[1].split()[-1])
    run([resp_command(b"APPEND", b"k", b"b")], registry)
    replies, _ = run([b"cas k 0 0 1 %d\r\nz\r\nget k\r\n" % cas], registry)
    assert replies == b"EXISTS\r\nVALUE k 0 2\r\nab\r\nEND\r\n"


def test_shared_store_is_one_per_owner() -> None:
    first, second = Registry(), Registry()
    assert shared_store(first) is shared_store(first)
    assert shared_store(first) is not shared_store(second)


def test_share_store_makes_a_store_the_owner_s_shared_one() -> None:
    registry, given = Registry(), Store()
    before = shared_store(registry)
    assert share_store(registry, given) is given
    assert shared_store(registry) is given is not before
    assert shared_store(Registry()) is not given


@pytest.mark.parametrize(
    ("value", "size"), [("4096", 4096), ("64k", 65536), ("2M", 2 << 20), (" 1m ", 1 << 20)]
)
def test_the_item_size_option(value: str, size: int) -> None:
    provider = register(Registry({ITEM_SIZE_OPTION: value}))
    assert provider.settings.item_size_max == size
    explicit = MemcacheSettings(item_size_max=8192)
    assert register(Registry({ITEM_SIZE_OPTION: value}), settings=explicit).settings is explicit


@pytest.mark.parametrize(
    "options", [{CLAIM_OPTION: "sometimes"}, {ITEM_SIZE_OPTION: "lots"}, {ITEM_SIZE_OPTION: "12"}]
)
def test_bad_options_fail_the_plugin(options: dict[str, str]) -> None:
    with pytest.raises(ValueError, match=r"sometimes|item-size-max|item_size_max"):
        register(Registry(options))


def test_the_server_s_maintenance_flushes_on_time_and_expires_unread_keys() -> None:
    clock = Clock()
    store = Store(clock)
    provider = MemcacheProvider(store)
    assert isinstance(provider, Maintained)
    assert 0 < provider.maintenance_interval <= 1
    registry = make_registry(provider)
    run([b"set a 0 1 1\r\na\r\nset b 0 0 1\r\nb\r\nflush_all 10\r\n"], registry)
    clock.now += 1000
    provider.maintain()
    assert len(store) == 1  # "a" expired and went without being read
    clock.now += 9000
    provider.maintain()
    assert len(store) == 0  # the delayed flush_all, without any command
    many = b"".join(b"set k%d 0 1 1\r\nx\r\n" % i for i in range(2500))
    run([many], registry)
    clock.now += 1000
    provider.maintain()
    assert len(store) == 1500  # one round is bounded: 1,000 keys
