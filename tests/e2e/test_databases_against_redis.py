"""16 databases byte for byte against a real ``redis-server``, and redis-py's URL with a
database number against ``wireproto serve``.

Hypothesis draws sequences of SELECT, MOVE, SWAPDB, FLUSHDB, FLUSHALL, DBSIZE, writes,
reads and WATCH/MULTI/EXEC over a few keys and databases (including numbers out of
range and not numbers); each sequence runs on an in-process connection and on
``redis-server``, from empty servers, and the replies must be equal.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis
from _redis_pair import Pair
from _serve import HOST, redis_server, serve
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    with redis_server(tmp_path_factory.mktemp("redis-databases")) as port:
        both = Pair(port)
        yield both
        both.close()


KEYS = st.sampled_from(["a", "b", "c"])
DBS = st.sampled_from(["0", "1", "2", "15", "16", "-1", "x", "2147483648"])
COMMAND = st.one_of(
    st.tuples(st.just("SELECT"), DBS),
    st.tuples(st.just("MOVE"), KEYS, DBS),
    st.tuples(st.just("SWAPDB"), DBS, DBS),
    st.tuples(st.sampled_from(["FLUSHDB", "FLUSHALL"])),
    st.tuples(st.sampled_from(["FLUSHDB", "FLUSHALL"]), st.sampled_from(["ASYNC", "sync", "x"])),
    st.tuples(st.just("DBSIZE")),
    st.tuples(st.just("SET"), KEYS, st.sampled_from(["1", "2"])),
    st.tuples(st.just("SET"), KEYS, st.just("3"), st.just("EX"), st.just("100")),
    st.tuples(st.sampled_from(["GET", "TTL", "EXISTS", "DEL"]), KEYS),
    st.tuples(st.just("WATCH"), KEYS),
)
TRANSACTION = st.tuples(st.just("MULTI"), st.just("PING"), st.just("EXEC"))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    steps=st.lists(st.one_of(COMMAND, TRANSACTION), max_size=25),
    resp3=st.booleans(),
)
def test_database_sequences_match_redis(
    pair: Pair, steps: list[tuple[str, ...]], resp3: bool
) -> None:
    pair.reset(resp3)
    for step in steps:
        if step[0] == "MULTI":
            pair.same(*((word,) for word in step))
        else:
            pair.same(step)
    for db in range(16):
        # KEYS's order is the hash table's in Redis: compare each key instead.
        pair.same(("SELECT", db), ("DBSIZE",), *(("GET", key) for key in "abc"))


def test_redis_py_url_with_a_database_number(tmp_path: Path) -> None:
    with serve(tmp_path / "log", formats={"resp"}) as server:
        url = f"redis://{HOST}:{server.port}/5"
        client = redis.Redis.from_url(url, socket_timeout=15)
        other = redis.Redis(host=HOST, port=server.port, db=0, socket_timeout=15)
        try:
            assert client.set("k", "five")
            assert client.get("k") == b"five"
            assert other.get("k") is None
            assert client.dbsize() == 1
            info = other.info("keyspace")
            assert info == {"db5": {"keys": 1, "expires": 0, "avg_ttl": 0}}
            assert client.move("k", 0)
            assert other.get("k") == b"five"
            assert other.swapdb(0, 5)
            assert client.get("k") == b"five"
            assert client.flushall()
            assert client.dbsize() == 0 and other.dbsize() == 0
        finally:
            client.close()
            other.close()


@pytest.mark.parametrize("present", [True, False])
def test_swapdb_serves_a_client_blocked_on_a_key_it_brings(tmp_path: Path, present: bool) -> None:
    """A BRPOP waiting in database 9 is served when SWAPDB brings a list there (Redis's
    ``scanDatabaseForReadyKeys``), and keeps waiting when the swap brings none."""
    (tmp_path / "redis").mkdir()
    with (
        redis_server(tmp_path / "redis") as redis_port,
        serve(tmp_path / "log", formats={"resp"}) as server,
    ):
        for port in (redis_port, server.port):
            writer = redis.Redis(host=HOST, port=port, db=1, socket_timeout=15)
            waiter = redis.Redis(host=HOST, port=port, db=9, socket_timeout=15)
            try:
                writer.flushall()
                if present:
                    writer.rpush("k", "hello")
                with ThreadPoolExecutor(1) as pool:
                    popped = pool.submit(waiter.brpop, ["k"], 1)
                    for _ in range(100):  # bounded: until the waiter is blocked
                        if writer.info("clients")["blocked_clients"] == 1:
                            break
                        time.sleep(0.02)
                    assert writer.swapdb(1, 9)
                    assert popped.result(timeout=10) == ((b"k", b"hello") if present else None), (
                        port
                    )
            finally:
                writer.close()
                waiter.close()
