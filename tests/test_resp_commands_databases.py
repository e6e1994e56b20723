"""RESP's 16 databases (SELECT, MOVE, SWAPDB, FLUSHDB/FLUSHALL, DBSIZE, WATCH per database,
INFO keyspace): exact reply bytes on an in-process connection."""

from __future__ import annotations

import pytest
from _resp import NOT_INT, SYNTAX, Case, Client, run_case
from wireproto.providers.kvstore import Store, shared_databases, shared_store
from wireproto.providers.resp import RespProvider, register

from wireproto import Registry

OUT_OF_RANGE = b"-ERR DB index is out of range\r\n"
SAME = b"-ERR source and destination objects are the same\r\n"

CASES = [
    Case(
        "keys live in their database",
        [("SET", "a", 1), ("SELECT", 3), ("GET", "a"), ("SET", "a", 2), ("DBSIZE",),
         ("SELECT", 0), ("GET", "a")],
        b"+OK\r\n+OK\r\n$-1\r\n+OK\r\n:1\r\n+OK\r\n$1\r\n1\r\n",
        b"+OK\r\n+OK\r\n_\r\n+OK\r\n:1\r\n+OK\r\n$1\r\n1\r\n",
    ),
    Case("select 15", [("SELECT", 15)], b"+OK\r\n"),
    Case("select 16", [("SELECT", 16)], OUT_OF_RANGE),
    Case("select not int", [("SELECT", "1.0")], NOT_INT),
    Case(
        "move",
        [("SET", "k", "v"), ("PEXPIRE", "k", 5000), ("MOVE", "k", 2), ("EXISTS", "k"),
         ("SELECT", 2), ("PTTL", "k"), ("MOVE", "k", 2), ("MOVE", "nope", 0)],
        b"+OK\r\n:1\r\n:1\r\n:0\r\n+OK\r\n:5000\r\n" + SAME + b":0\r\n",
    ),
    Case(
        "move onto an existing key",
        [("SET", "k", 1), ("SELECT", 1), ("SET", "k", 2), ("MOVE", "k", 0), ("GET", "k")],
        b"+OK\r\n+OK\r\n+OK\r\n:0\r\n$1\r\n2\r\n",
    ),
    Case("move 16", [("SET", "k", 1), ("MOVE", "k", 16)], b"+OK\r\n" + OUT_OF_RANGE),
    Case("move -1", [("MOVE", "k", -1)], OUT_OF_RANGE),
    Case("move not int", [("MOVE", "k", "x")], NOT_INT),
    Case(
        "swapdb",
        [("SET", "a", 0), ("SWAPDB", 0, 15), ("EXISTS", "a"), ("SELECT", 15), ("GET", "a")],
        b"+OK\r\n+OK\r\n:0\r\n+OK\r\n$1\r\n0\r\n",
    ),
    Case("swapdb itself", [("SWAPDB", 4, 4)], b"+OK\r\n"),
    Case("swapdb first", [("SWAPDB", "x", 99)], b"-ERR invalid first DB index\r\n"),
    Case("swapdb second", [("SWAPDB", 99, "x")], b"-ERR invalid second DB index\r\n"),
    Case("swapdb range", [("SWAPDB", 0, 16)], OUT_OF_RANGE),
    Case("swapdb int range", [("SWAPDB", 2**31, 0)], b"-ERR invalid first DB index\r\n"),
    Case(
        "flushdb flushes the selected database",
        [("SET", "a", 1), ("SELECT", 1), ("SET", "b", 1), ("FLUSHDB", "ASYNC"), ("DBSIZE",),
         ("SELECT", 0), ("DBSIZE",)],
        b"+OK\r\n+OK\r\n+OK\r\n+OK\r\n:0\r\n+OK\r\n:1\r\n",
    ),
    Case(
        "flushall flushes every database",
        [("SET", "a", 1), ("SELECT", 1), ("SET", "b", 1), ("FLUSHALL", "SYNC"), ("DBSIZE",),
         ("SELECT", 0), ("DBSIZE",)],
        b"+OK\r\n+OK\r\n+OK\r\n+OK\r\n:0\r\n+OK\r\n:0\r\n",
    ),
    Case("flush syntax", [("FLUSHALL", "SYNC", "ASYNC"), ("FLUSHDB", "x")], SYNTAX + SYNTAX),
    Case(
        "watch is per database",
        [("WATCH", "k"), ("SELECT", 1), ("SET", "k", 1), ("MULTI",), ("PING",), ("EXEC",)],
        b"+OK\r\n+OK\r\n+OK\r\n+OK\r\n+QUEUED\r\n*1\r\n+PONG\r\n",
    ),
    Case(
        "watch follows the database it was made in",
        [("WATCH", "k"), ("SELECT", 1), ("SELECT", 0), ("SET", "k", 1), ("SELECT", 1),
         ("MULTI",), ("PING",), ("EXEC",)],
        b"+OK\r\n+OK\r\n+OK\r\n+OK\r\n+OK\r\n+OK\r\n+QUEUED\r\n*-1\r\n",
        b"+OK\r\n+OK\r\n+OK\r\n+OK\r\n+OK\r\n+OK\r\n+QUEUED\r\n_\r\n",
    ),
    Case(
        "swapdb touches a watched key present in the other database",
        [("SELECT", 1), ("SET", "k", 1), ("SELECT", 0), ("WATCH", "k"), ("SWAPDB", 0, 1),
         ("MULTI",), ("PING",), ("EXEC",)],
        b"+OK\r\n+OK\r\n+OK\r\n+OK\r\n+OK\r\n+OK\r\n+QUEUED\r\n*-1\r\n",
        b"+OK\r\n+OK\r\n+OK\r\n+OK\r\n+OK\r\n+OK\r\n+QUEUED\r\n_\r\n",
    ),
    Case(
        "swapdb leaves a watched key absent from both alone",
        [("WATCH", "k"), ("SWAPDB", 0, 1), ("MULTI",), ("PING",), ("EXEC",)],
        b"+OK\r\n+OK\r\n+OK\r\n+QUEUED\r\n*1\r\n+PONG\r\n",
    ),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
def test_command_replies(case: Case, resp3: bool, accelerated: bool) -> None:
    expected = case.resp3 if resp3 and case.resp3 is not None else case.resp2
    assert run_case(case, accelerated, resp3) == expected


def test_database_zero_is_the_registry_s_shared_store() -> None:
    registry = Registry()
    provider = register(registry)
    assert provider.store is shared_store(registry)
    assert provider.databases is shared_databases(registry)
    assert len(provider.databases) == 16


def test_a_store_given_alone_becomes_database_zero() -> None:
    store = Store()
    provider = RespProvider(store=store)
    assert provider.databases[0] is store
    with pytest.raises(ValueError, match="database 0"):
        RespProvider(store=Store(), databases=provider.databases)


def test_info_keyspace_lists_every_database_holding_keys(accelerated: bool) -> None:
    client = Client(accelerated)
    client.call("SET", "a", 1)
    client.call("SELECT", 5)
    client.call("SET", "b", 1)
    client.call("SET", "c", 1, "EX", 100)
    info = client.call("INFO", "keyspace")
    body = info.split(b"\r\n", 1)[1]
    assert b"# Keyspace\r\ndb0:keys=1,expires=0,avg_ttl=0\r\n" in body
    assert b"db5:keys=2,expires=1,avg_ttl=0\r\n" in body
    assert b"db1:" not in body


def test_expired_keys_leave_every_database(accelerated: bool) -> None:
    client = Client(accelerated)
    client.call("SELECT", 7)
    client.call("SET", "k", 1, "PX", 10)
    client.clock.now += 20
    assert client.provider.sweep(20) == 1
    assert len(client.provider.databases[7]) == 0


def test_config_get_databases(accelerated: bool) -> None:
    client = Client(accelerated)
    assert client.call("CONFIG", "GET", "databases") == b"*2\r\n$9\r\ndatabases\r\n$2\r\n16\r\n"


def test_a_given_provider_s_databases_become_the_registry_s() -> None:
    registry = Registry()
    provider = register(registry, RespProvider())
    assert shared_databases(registry) is provider.databases
    assert shared_store(registry) is provider.store
