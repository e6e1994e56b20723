"""RESP string commands (GET, SET and variants, counters, APPEND, ranges): exact reply bytes."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

import pytest
from _drive import START
from _drive import resp_command as cmd
from _resp import EXAT, NIL2, NIL3, NOT_INT, SYNTAX, Case, Client, bulk, run_case
from wireproto.providers.resp import RespProvider, register

from wireproto import Connection, Registry

CASES = [
    Case("mixed case command", [("gEt", "k")], NIL2, NIL3),
    Case("set get", [("SET", "k", "v"), ("GET", "k")], b"+OK\r\n$1\r\nv\r\n"),
    Case("get missing", [("GET", "k")], NIL2, NIL3),
    Case("set arity", [("SET", "k")], b"-ERR wrong number of arguments for 'set' command\r\n"),
    Case(
        "set nx on existing",
        [("SET", "k", "1"), ("SET", "k", "2", "NX")],
        b"+OK\r\n" + NIL2,
        b"+OK\r\n" + NIL3,
    ),
    Case(
        "set nx on existing resp3",
        [("SET", "k", "1"), ("SET", "k", "2", "nx"), ("GET", "k")],
        b"+OK\r\n$-1\r\n$1\r\n1\r\n",
        b"+OK\r\n_\r\n$1\r\n1\r\n",
    ),
    Case("set xx on missing", [("SET", "k", "v", "XX"), ("GET", "k")], NIL2 * 2, NIL3 * 2),
    Case(
        "set get option",
        [("SET", "k", "1"), ("SET", "k", "2", "GET"), ("SET", "j", "3", "GET")],
        b"+OK\r\n$1\r\n1\r\n" + NIL2,
        b"+OK\r\n$1\r\n1\r\n" + NIL3,
    ),
    Case(
        "set nx get on existing returns the old value and keeps it",
        [("SET", "k", "1"), ("SET", "k", "2", "NX", "GET"), ("GET", "k")],
        b"+OK\r\n$1\r\n1\r\n$1\r\n1\r\n",
    ),
    Case(
        "set ex",
        [("SET", "k", "v", "EX", 10), ("TTL", "k"), ("PTTL", "k")],
        b"+OK\r\n:10\r\n:10000\r\n",
    ),
    Case("set px rounds ttl", [("SET", "k", "v", "px", 1500), ("TTL", "k")], b"+OK\r\n:2\r\n"),
    Case("set exat", [("SET", "k", "v", "EXAT", EXAT), ("TTL", "k")], b"+OK\r\n:100\r\n"),
    Case(
        "set pxat",
        [("SET", "k", "v", "PXAT", START + 2500), ("PTTL", "k")],
        b"+OK\r\n:2500\r\n",
    ),
    Case(
        "set pxat in the past",
        [("SET", "k", "v", "PXAT", START - 1), ("GET", "k")],
        b"+OK\r\n" + NIL2,
        b"+OK\r\n" + NIL3,
    ),
    Case(
        "set keepttl",
        [("SET", "k", "v", "EX", 100), ("SET", "k", "w", "KEEPTTL"), ("TTL", "k")],
        b"+OK\r\n+OK\r\n:100\r\n",
    ),
    Case(
        "set drops ttl",
        [("SET", "k", "v", "EX", 100), ("SET", "k", "w"), ("TTL", "k")],
        b"+OK\r\n+OK\r\n:-1\r\n",
    ),
    Case(
        "set ex 0", [("SET", "k", "v", "EX", 0)], b"-ERR invalid expire time in 'set' command\r\n"
    ),
    Case(
        "set ex -1", [("SET", "k", "v", "EX", -1)], b"-ERR invalid expire time in 'set' command\r\n"
    ),
    Case("set ex not int", [("SET", "k", "v", "EX", "1.5")], NOT_INT),
    Case(
        "set ex overflow",
        [("SET", "k", "v", "EX", 2**63 - 1)],
        b"-ERR invalid expire time in 'set' command\r\n",
    ),
    Case(
        "set px overflow after adding now",
        [("SET", "k", "v", "PX", 2**63 - 1)],
        b"-ERR invalid expire time in 'set' command\r\n",
    ),
    Case("set ex and px", [("SET", "k", "v", "EX", 1, "PX", 1)], SYNTAX),
    Case("set nx and xx", [("SET", "k", "v", "NX", "XX")], SYNTAX),
    Case("set ex without value", [("SET", "k", "v", "EX")], SYNTAX),
    Case("set keepttl and ex", [("SET", "k", "v", "KEEPTTL", "EX", 1)], SYNTAX),
    Case("set unknown option", [("SET", "k", "v", "FOO")], SYNTAX),
    Case("set repeated ex", [("SET", "k", "v", "EX", 1, "EX", 5), ("TTL", "k")], b"+OK\r\n:5\r\n"),
    Case(
        "getdel",
        [("SET", "k", "v"), ("GETDEL", "k"), ("GETDEL", "k")],
        b"+OK\r\n$1\r\nv\r\n" + NIL2,
        b"+OK\r\n$1\r\nv\r\n" + NIL3,
    ),
    Case(
        "getex ex and persist",
        [
            ("SET", "k", "v"),
            ("GETEX", "k", "EX", 100),
            ("TTL", "k"),
            ("GETEX", "k", "PERSIST"),
            ("TTL", "k"),
        ],
        b"+OK\r\n$1\r\nv\r\n:100\r\n$1\r\nv\r\n:-1\r\n",
    ),
    Case("getex missing", [("GETEX", "k", "EX", 0)], NIL2, NIL3),
    Case(
        "getex ex 0",
        [("SET", "k", "v"), ("GETEX", "k", "EX", 0)],
        b"+OK\r\n-ERR invalid expire time in 'getex' command\r\n",
    ),
    Case("getex bad option", [("SET", "k", "v"), ("GETEX", "k", "NX")], b"+OK\r\n" + SYNTAX),
    Case("getex ex with persist", [("GETEX", "k", "EX", 1, "PERSIST")], SYNTAX),
    Case(
        "getex pxat in the past deletes",
        [("SET", "k", "v"), ("GETEX", "k", "PXAT", 1), ("EXISTS", "k")],
        b"+OK\r\n$1\r\nv\r\n:0\r\n",
    ),
    Case(
        "setnx",
        [("SETNX", "k", "1"), ("SETNX", "k", "2"), ("GET", "k")],
        b":1\r\n:0\r\n$1\r\n1\r\n",
    ),
    Case(
        "setex", [("SETEX", "k", 10, "v"), ("TTL", "k"), ("GET", "k")], b"+OK\r\n:10\r\n$1\r\nv\r\n"
    ),
    Case("setex 0", [("SETEX", "k", 0, "v")], b"-ERR invalid expire time in 'setex' command\r\n"),
    Case("psetex", [("PSETEX", "k", 1000, "v"), ("PTTL", "k")], b"+OK\r\n:1000\r\n"),
    Case(
        "psetex -5", [("PSETEX", "k", -5, "v")], b"-ERR invalid expire time in 'psetex' command\r\n"
    ),
    Case(
        "getset",
        [("GETSET", "k", "1"), ("GETSET", "k", "2")],
        NIL2 + b"$1\r\n1\r\n",
        NIL3 + b"$1\r\n1\r\n",
    ),
    Case(
        "mget",
        [("MSET", "a", "1", "b", "2"), ("MGET", "a", "x", "b")],
        b"+OK\r\n*3\r\n$1\r\n1\r\n$-1\r\n$1\r\n2\r\n",
        b"+OK\r\n*3\r\n$1\r\n1\r\n_\r\n$1\r\n2\r\n",
    ),
    Case(
        "mset odd arguments",
        [("MSET", "a", "1", "b")],
        b"-ERR wrong number of arguments for 'mset' command\r\n",
    ),
    Case(
        "msetnx",
        [("MSETNX", "a", "1", "b", "2"), ("MSETNX", "b", "3", "c", "4"), ("MGET", "b", "c")],
        b":1\r\n:0\r\n*2\r\n$1\r\n2\r\n$-1\r\n",
        b":1\r\n:0\r\n*2\r\n$1\r\n2\r\n_\r\n",
    ),
    Case(
        "del unlink exists",
        [
            ("MSET", "a", 1, "b", 2, "c", 3),
            ("EXISTS", "a", "a", "x"),
            ("DEL", "a", "b", "x"),
            ("UNLINK", "c"),
            ("EXISTS", "a", "b", "c"),
        ],
        b"+OK\r\n:2\r\n:2\r\n:1\r\n:0\r\n",
    ),
    Case("type", [("SET", "k", "v"), ("TYPE", "k"), ("TYPE", "x")], b"+OK\r\n+string\r\n+none\r\n"),
    Case(
        "expire and ttl",
        [
            ("SET", "k", "v"),
            ("TTL", "k"),
            ("EXPIRE", "k", 10),
            ("TTL", "k"),
            ("TTL", "x"),
            ("EXPIRE", "x", 10),
        ],
        b"+OK\r\n:-1\r\n:1\r\n:10\r\n:-2\r\n:0\r\n",
    ),
    Case(
        "expire options",
        [
            ("SET", "k", "v"),
            ("EXPIRE", "k", 10, "XX"),
            ("EXPIRE", "k", 10, "GT"),
            ("EXPIRE", "k", 10, "NX"),
            ("EXPIRE", "k", 20, "NX"),
            ("EXPIRE", "k", 5, "GT"),
            ("EXPIRE", "k", 30, "gt"),
            ("EXPIRE", "k", 40, "LT"),
            ("EXPIRE", "k", 15, "LT", "XX"),
            ("TTL", "k"),
        ],
        b"+OK\r\n:0\r\n:0\r\n:1\r\n:0\r\n:0\r\n:1\r\n:0\r\n:1\r\n:15\r\n",
    ),
    Case(
        "expire negative deletes",
        [("SET", "k", "v"), ("EXPIRE", "k", -1), ("GET", "k")],
        b"+OK\r\n:1\r\n" + NIL2,
        b"+OK\r\n:1\r\n" + NIL3,
    ),
    Case(
        "pexpire and pttl",
        [("SET", "k", "v"), ("PEXPIRE", "k", 1234), ("PTTL", "k"), ("TTL", "k")],
        b"+OK\r\n:1\r\n:1234\r\n:1\r\n",
    ),
    Case(
        "expireat and expiretime",
        [
            ("SET", "k", "v"),
            ("EXPIREAT", "k", EXAT),
            ("EXPIRETIME", "k"),
            ("PEXPIRETIME", "k"),
            ("EXPIRETIME", "x"),
        ],
        b"+OK\r\n:1\r\n:%d\r\n:%d\r\n:-2\r\n" % (EXAT, EXAT * 1000),
    ),
    Case(
        "expireat in the past",
        [("SET", "k", "v"), ("EXPIREAT", "k", 1), ("EXISTS", "k")],
        b"+OK\r\n:1\r\n:0\r\n",
    ),
    Case(
        "pexpireat",
        [("SET", "k", "v"), ("PEXPIREAT", "k", START + 777), ("PTTL", "k")],
        b"+OK\r\n:1\r\n:777\r\n",
    ),
    Case(
        "persist",
        [
            ("SET", "k", "v", "EX", 5),
            ("PERSIST", "k"),
            ("PERSIST", "k"),
            ("TTL", "k"),
            ("PERSIST", "x"),
        ],
        b"+OK\r\n:1\r\n:0\r\n:-1\r\n:0\r\n",
    ),
    Case(
        "incr family",
        [("INCR", "n"), ("INCRBY", "n", 10), ("DECR", "n"), ("DECRBY", "n", 3), ("GET", "n")],
        b":1\r\n:11\r\n:10\r\n:7\r\n$1\r\n7\r\n",
    ),
    Case("incr not an integer", [("SET", "n", "abc"), ("INCR", "n")], b"+OK\r\n" + NOT_INT),
    Case("incr strict", [("SET", "n", " 1"), ("INCR", "n")], b"+OK\r\n" + NOT_INT),
    Case("incrby not an integer", [("INCRBY", "n", "1.0")], NOT_INT),
    Case(
        "incr overflow",
        [("SET", "n", 2**63 - 1), ("INCR", "n")],
        b"+OK\r\n-ERR increment or decrement would overflow\r\n",
    ),
    Case(
        "decrby min",
        [("DECRBY", "n", -(2**63))],
        b"-ERR decrement would overflow\r\n",
    ),
    Case(
        "incr keeps ttl",
        [("SET", "n", 1, "EX", 100), ("INCR", "n"), ("TTL", "n")],
        b"+OK\r\n:2\r\n:100\r\n",
    ),
    Case(
        "incrbyfloat",
        [
            ("SET", "f", "10.50"),
            ("INCRBYFLOAT", "f", "0.1"),
            ("INCRBYFLOAT", "f", -5),
            ("GET", "f"),
        ],
        b"+OK\r\n$4\r\n10.6\r\n$3\r\n5.6\r\n$3\r\n5.6\r\n",
    ),
    Case(
        "incrbyfloat exponent",
        [("SET", "f", "5.0e3"), ("INCRBYFLOAT", "f", "2.0e2")],
        b"+OK\r\n$4\r\n5200\r\n",
    ),
    Case(
        "incrbyfloat missing key",
        [("INCRBYFLOAT", "f", "0.1"), ("INCRBYFLOAT", "f", "0.2")],
        b"$3\r\n0.1\r\n$3\r\n0.3\r\n",
    ),
    Case(
        "incrbyfloat bad increment",
        [("INCRBYFLOAT", "f", "x")],
        b"-ERR value is not a valid float\r\n",
    ),
    Case(
        "incrbyfloat bad value",
        [("SET", "f", "1 "), ("INCRBYFLOAT", "f", "1")],
        b"+OK\r\n-ERR value is not a valid float\r\n",
    ),
    Case(
        "incrbyfloat infinity",
        [("INCRBYFLOAT", "f", "inf")],
        b"-ERR increment would produce NaN or Infinity\r\n",
    ),
    Case(
        "append and strlen",
        [
            ("APPEND", "k", "Hello"),
            ("APPEND", "k", " World"),
            ("GET", "k"),
            ("STRLEN", "k"),
            ("STRLEN", "x"),
        ],
        b":5\r\n:11\r\n$11\r\nHello World\r\n:11\r\n:0\r\n",
    ),
    Case(
        "getrange",
        [
            ("SET", "k", "This is a string"),
            ("GETRANGE", "k", 0, 3),
            ("GETRANGE", "k", -3, -1),
            ("GETRANGE", "k", 0, -1),
            ("GETRANGE", "k", 10, 100),
            ("GETRANGE", "k", 5, 3),
            ("GETRANGE", "k", -1, -5),
            ("GETRANGE", "x", 0, 1),
        ],
        b"+OK\r\n$4\r\nThis\r\n$3\r\ning\r\n$16\r\nThis is a string\r\n$6\r\nstring\r\n"
        b"$0\r\n\r\n$0\r\n\r\n$0\r\n\r\n",
    ),
    Case("getrange not int", [("GETRANGE", "k", "a", 1)], NOT_INT),
    Case(
        "setrange",
        [
            ("SET", "k", "Hello World"),
            ("SETRANGE", "k", 6, "Redis"),
            ("GET", "k"),
            ("SETRANGE", "j", 2, "ab"),
            ("GET", "j"),
        ],
        b"+OK\r\n:11\r\n$11\r\nHello Redis\r\n:4\r\n$4\r\n\x00\x00ab\r\n",
    ),
    Case("setrange negative", [("SETRANGE", "k", -1, "x")], b"-ERR offset is out of range\r\n"),
    Case("setrange empty on missing", [("SETRANGE", "k", 5, ""), ("EXISTS", "k")], b":0\r\n:0\r\n"),
    Case(
        "setrange too long",
        [("SETRANGE", "k", 512 * 1024 * 1024, "x")],
        b"-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n",
    ),
    Case(
        "keys",
        [("MSET", "hello", 1, "hallo", 2, "world", 3), ("KEYS", "h?llo"), ("KEYS", "*o*l*")],
        b"+OK\r\n*2\r\n$5\r\nhello\r\n$5\r\nhallo\r\n*1\r\n$5\r\nworld\r\n",
    ),
    Case(
        "scan",
        [("MSET", "a", 1, "b", 2, "c", 3), ("SCAN", 0, "COUNT", 2), ("SCAN", 3, "MATCH", "*")],
        b"+OK\r\n*2\r\n$1\r\n3\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n*2\r\n$1\r\n0\r\n*1\r\n$1\r\nc\r\n",
    ),
    Case(
        "scan type",
        [("SET", "a", 1), ("SCAN", 0, "TYPE", "hash")],
        b"+OK\r\n*2\r\n$1\r\n0\r\n*0\r\n",
    ),
    Case(
        "rename",
        [
            ("SET", "a", 1, "EX", 50),
            ("RENAME", "a", "b"),
            ("GET", "b"),
            ("TTL", "b"),
            ("RENAME", "a", "c"),
        ],
        b"+OK\r\n+OK\r\n$1\r\n1\r\n:50\r\n-ERR no such key\r\n",
    ),
    Case(
        "renamenx",
        [
            ("MSET", "a", 1, "b", 2),
            ("RENAMENX", "a", "b"),
            ("RENAMENX", "a", "c"),
            ("RENAMENX", "x", "y"),
        ],
        b"+OK\r\n:0\r\n:1\r\n-ERR no such key\r\n",
    ),
    Case(
        "dbsize and flush",
        [
            ("MSET", "a", 1, "b", 2),
            ("DBSIZE",),
            ("FLUSHDB",),
            ("DBSIZE",),
            ("SET", "c", 3),
            ("FLUSHALL", "ASYNC"),
            ("DBSIZE",),
            ("FLUSHDB", "x"),
        ],
        b"+OK\r\n:2\r\n+OK\r\n:0\r\n+OK\r\n+OK\r\n:0\r\n" + SYNTAX,
    ),
    Case(
        "exec keeps going after a runtime error",
        [("SET", "s", "x"), ("MULTI",), ("INCR", "s"), ("SET", "t", 1), ("EXEC",), ("GET", "t")],
        b"+OK\r\n+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n"
        b"-ERR value is not an integer or out of range\r\n+OK\r\n$1\r\n1\r\n",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
def test_command_replies(case: Case, resp3: bool, accelerated: bool) -> None:
    expected = case.resp3 if resp3 and case.resp3 is not None else case.resp2
    assert run_case(case, accelerated, resp3) == expected


# This family's cases among the first 40 of the table before it was split by family.
PIPELINED = CASES[:24]


@pytest.mark.parametrize("case", PIPELINED, ids=[case.name for case in PIPELINED])
def test_pipelined_commands_give_the_same_replies(case: Case, accelerated: bool) -> None:
    client = Client(accelerated)
    assert client.send(b"".join(cmd(*command) for command in case.commands)) == case.resp2


def test_large_values_round_trip(accelerated: bool) -> None:
    client = Client(accelerated)
    value = bytes(range(256)) * 4096  # 1 MiB with every byte value, CR and LF included
    assert client.call("SET", "big", value) == b"+OK\r\n"
    assert client.call("GET", "big") == bulk(value)
    assert client.call("APPEND", "big", b"\r\n") == b":%d\r\n" % (len(value) + 2)


def _commands_of(case: Case) -> Iterator[bytes]:
    for command in case.commands:
        yield cmd(*command)


def test_store_is_shared_between_connections(accelerated: bool) -> None:
    provider = RespProvider(accelerated=accelerated)
    registry = Registry()
    register(registry, provider)
    first, second = Connection(registry), Connection(registry)
    case = next(case for case in CASES if case.name == "set get")
    first.receive_data(b"".join(_commands_of(case)))
    assert first.data_to_send() == case.resp2
    second.receive_data(cmd("GET", "k"))
    assert second.data_to_send() == b"$1\r\nv\r\n"
    assert provider.store.get(b"k") == b"v"


@pytest.mark.parametrize("accelerated", [False, True])
def test_string_commands_on_a_list_key_answer_wrongtype(accelerated: bool) -> None:
    client = Client(accelerated)
    store = client.provider.store
    store.write_container(b"l", deque).append(b"x")
    store.container_written(b"l", b"rpush")
    wrongtype = b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
    for command in (
        ("GET", "l"),
        ("APPEND", "l", "x"),
        ("INCR", "l"),
        ("STRLEN", "l"),
        ("GETRANGE", "l", 0, 1),
        ("SETRANGE", "l", 0, "x"),
        ("GETDEL", "l"),
        ("INCRBYFLOAT", "l", "1.5"),
    ):
        assert client.call(*command) == wrongtype, command
    assert client.call("MULTI") == b"+OK\r\n"
    client.call("GET", "l")
    assert client.call("EXEC") == b"*1\r\n" + wrongtype
    assert client.call("TYPE", "l") == b"+list\r\n"
    assert client.call("MGET", "l", "missing") == b"*2\r\n$-1\r\n$-1\r\n"  # nil, as Redis
    assert client.call("SET", "l", "v") == b"+OK\r\n"
    assert client.call("GET", "l") == b"$1\r\nv\r\n"
