"""maxmemory on ``wireproto serve`` with real clients: redis-py sets the limit and sees
``OutOfMemoryError``, pymemcache on the same port gets ``SERVER_ERROR out of memory
storing object``, and an eviction policy makes room for both."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from _serve import HOST, RunningServer, serve
from pymemcache.client.base import Client  # type: ignore[import-untyped]
from pymemcache.exceptions import MemcacheServerError  # type: ignore[import-untyped]

TIMEOUT = 15.0


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    with serve(tmp_path / "server.log", formats=("resp", "memcache-text")) as running:
        yield running


def test_maxmemory_over_real_sockets(server: RunningServer) -> None:
    r = redis.Redis(HOST, server.port, socket_timeout=TIMEOUT)
    mc = Client((HOST, server.port), timeout=TIMEOUT)
    try:
        for i in range(20):
            r.set(f"key:{i}", "v" * 100)
        mc.set("mc", b"x" * 100)
        used = int(r.info("memory")["used_memory"])
        assert used > 21 * 100
        r.config_set("maxmemory", used - 1)  # one byte under: noeviction refuses writes
        with pytest.raises(redis.exceptions.OutOfMemoryError):
            r.set("more", "v")
        assert r.get("key:0") == b"v" * 100  # reads go on
        with pytest.raises(MemcacheServerError, match="out of memory storing object"):
            mc.set("mc2", b"y", noreply=False)
        r.config_set("maxmemory-policy", "allkeys-lru")
        assert mc.set("mc2", b"y", noreply=False) is True  # an eviction made room
        r.set("more", "v")
        info = r.info()
        assert int(info["evicted_keys"]) >= 1
        assert int(info["used_memory"]) <= used - 1  # INFO ran after the evictions it needed
        assert r.config_get("maxmemory-policy") == {"maxmemory-policy": "allkeys-lru"}
        r.config_set("maxmemory", 0)
        r.config_set("maxmemory-policy", "noeviction")
    finally:
        r.close()
        mc.close()
