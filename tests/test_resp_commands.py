"""RESP commands: exact reply bytes in RESP2 and RESP3, on the pure and the hiredis parser."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from _drive import START, Clock
from _drive import resp_command as cmd

from providers.kvstore import shared_store
from providers.resp import RESP, RespLimits, RespProvider, register
from wireproto import CloseReason, Connection, ConnectionState, Registry
from wireproto.auth import NO_AUTH
from wireproto.memory import MemoryAccount

Arg = bytes | str | int


class Client:
    """A Connection on a fresh provider, driven with whole requests."""

    def __init__(
        self,
        accelerated: bool,
        *,
        password: str | None = None,
        limits: RespLimits | None = None,
    ) -> None:
        self.clock = Clock()
        self.provider = RespProvider(
            password=password, limits=limits, accelerated=accelerated, clock=self.clock
        )
        registry = Registry()
        register(registry, self.provider)
        self.connection = Connection(registry)

    def send(self, data: bytes) -> bytes:
        self.connection.receive_data(data)
        return self.connection.data_to_send()

    def call(self, *args: Arg) -> bytes:
        return self.send(cmd(*args))


@pytest.fixture(params=[False, True], ids=["pure", "hiredis"])
def accelerated(request: pytest.FixtureRequest) -> bool:
    value: bool = request.param
    return value


@dataclass(frozen=True)
class Case:
    name: str
    commands: list[tuple[Arg, ...]]
    resp2: bytes
    resp3: bytes | None = None  # None: the same bytes as RESP2


NOT_INT = b"-ERR value is not an integer or out of range\r\n"
SYNTAX = b"-ERR syntax error\r\n"
NIL2, NIL3 = b"$-1\r\n", b"_\r\n"
EXAT = START // 1000 + 100

CASES = [
    Case("ping", [("PING",)], b"+PONG\r\n"),
    Case("ping message", [("PING", "hi")], b"$2\r\nhi\r\n"),
    Case(
        "ping arity",
        [("PING", "a", "b")],
        b"-ERR wrong number of arguments for 'ping' command\r\n",
    ),
    Case("echo", [("ECHO", "")], b"$0\r\n\r\n"),
    Case("echo arity", [("ECHO",)], b"-ERR wrong number of arguments for 'echo' command\r\n"),
    Case("select 0", [("SELECT", 0)], b"+OK\r\n"),
    Case("select 1", [("SELECT", 1)], b"-ERR DB index is out of range\r\n"),
    Case("select not int", [("SELECT", "x")], NOT_INT),
    Case(
        "select beyond int",
        [("SELECT", 2**31)],
        b"-ERR value is out of range, value must between -2147483648 and 2147483647\r\n",
    ),
    Case(
        "unknown command",
        [("FOO", "a", "b")],
        b"-ERR unknown command 'FOO', with args beginning with: 'a' 'b' \r\n",
    ),
    Case(
        "unknown command without args",
        [("foo",)],
        b"-ERR unknown command 'foo', with args beginning with: \r\n",
    ),
    Case(
        "unknown command args are cut at 128 bytes",
        [("x", "a" * 100, "b" * 100, "c")],
        b"-ERR unknown command 'x', with args beginning with: '"
        + b"a" * 100
        + b"' '"
        + b"b" * 25
        + b"' \r\n",
    ),
    Case(
        "newlines in errors become spaces",
        [("x\r\ny",)],
        b"-ERR unknown command 'x  y', with args beginning with: \r\n",
    ),
    Case("mixed case command", [("gEt", "k")], NIL2, NIL3),
    Case(
        "unknown subcommand",
        [("client", "foo")],
        b"-ERR unknown subcommand 'foo'. Try CLIENT HELP.\r\n",
    ),
    Case(
        "container arity",
        [("CLIENT",)],
        b"-ERR wrong number of arguments for 'client' command\r\n",
    ),
    Case(
        "subcommand arity",
        [("CLIENT", "SETNAME")],
        b"-ERR wrong number of arguments for 'client|setname' command\r\n",
    ),
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
        "expire nx and xx",
        [("EXPIRE", "k", 1, "NX", "XX")],
        b"-ERR NX and XX, GT or LT options at the same time are not compatible\r\n",
    ),
    Case(
        "expire gt and lt",
        [("EXPIRE", "k", 1, "GT", "LT")],
        b"-ERR GT and LT options at the same time are not compatible\r\n",
    ),
    Case("expire unknown option", [("EXPIRE", "k", 1, "FOO")], b"-ERR Unsupported option FOO\r\n"),
    Case("expire not int", [("EXPIRE", "k", "ten")], NOT_INT),
    Case(
        "expire overflow",
        [("EXPIRE", "k", 2**63 // 1000 + 1)],
        b"-ERR invalid expire time in 'expire' command\r\n",
    ),
    Case(
        "pexpire overflow",
        [("PEXPIRE", "k", 2**63 - 1)],
        b"-ERR invalid expire time in 'pexpire' command\r\n",
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
    Case("scan count 0", [("SCAN", 0, "COUNT", 0)], SYNTAX),
    Case("scan count not int", [("SCAN", 0, "COUNT", "x")], NOT_INT),
    Case("scan bad cursor", [("SCAN", "x")], b"-ERR invalid cursor\r\n"),
    Case("scan negative cursor wraps", [("SCAN", -1)], b"*2\r\n$1\r\n0\r\n*0\r\n"),
    Case("scan cursor with a space", [("SCAN", " 1")], b"-ERR invalid cursor\r\n"),
    Case("scan option without value", [("SCAN", 0, "MATCH")], SYNTAX),
    Case("scan unknown option", [("SCAN", 0, "FOO", 1)], SYNTAX),
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
        "randomkey",
        [("RANDOMKEY",), ("SET", "k", 1), ("RANDOMKEY",)],
        NIL2 + b"+OK\r\n$1\r\nk\r\n",
        NIL3 + b"+OK\r\n$1\r\nk\r\n",
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
        "hello",
        [("HELLO",)],
        b"*14\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$5\r\n7.2.4\r\n$5\r\nproto\r\n:2\r\n"
        b"$2\r\nid\r\n:1\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n"
        b"$7\r\nmodules\r\n*0\r\n",
        b"%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$5\r\n7.2.4\r\n$5\r\nproto\r\n:3\r\n"
        b"$2\r\nid\r\n:1\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n"
        b"$7\r\nmodules\r\n*0\r\n",
    ),
    Case("hello 4", [("HELLO", 4)], b"-NOPROTO unsupported protocol version\r\n"),
    Case(
        "hello not int",
        [("HELLO", "three")],
        b"-ERR Protocol version is not an integer or out of range\r\n",
    ),
    Case("hello bad option", [("HELLO", 2, "FOO")], b"-ERR Syntax error in HELLO option 'FOO'\r\n"),
    Case(
        "hello setname",
        [("HELLO", 2, "SETNAME", "app"), ("CLIENT", "GETNAME")],
        b"*14\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$5\r\n7.2.4\r\n$5\r\nproto\r\n:2\r\n"
        b"$2\r\nid\r\n:1\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n"
        b"$7\r\nmodules\r\n*0\r\n$3\r\napp\r\n",
    ),
    Case(
        "hello auth with wrong user",
        [("HELLO", 3, "AUTH", "bob", "pw")],
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n",
    ),
    Case(
        "auth without a password configured",
        [("AUTH", "pw")],
        b"-ERR AUTH <password> called without any password configured for the default user. "
        b"Are you sure your configuration is correct?\r\n",
    ),
    Case("auth default user without a password", [("AUTH", "default", "any")], b"+OK\r\n"),
    Case("auth too many args", [("AUTH", "a", "b", "c")], SYNTAX),
    Case(
        "client name",
        [
            ("CLIENT", "GETNAME"),
            ("CLIENT", "SETNAME", "conn-1"),
            ("CLIENT", "GETNAME"),
            ("CLIENT", "SETNAME", ""),
            ("CLIENT", "GETNAME"),
        ],
        NIL2 + b"+OK\r\n$6\r\nconn-1\r\n+OK\r\n" + NIL2,
        NIL3 + b"+OK\r\n$6\r\nconn-1\r\n+OK\r\n" + NIL3,
    ),
    Case(
        "client setname with a space",
        [("CLIENT", "SETNAME", "a b")],
        b"-ERR Client names cannot contain spaces, newlines or special characters.\r\n",
    ),
    Case("client id", [("CLIENT", "ID")], b":1\r\n"),
    Case(
        "client setinfo",
        [("CLIENT", "SETINFO", "LIB-NAME", "redis-py"), ("CLIENT", "SETINFO", "lib-ver", "5.0.1")],
        b"+OK\r\n+OK\r\n",
    ),
    Case(
        "client setinfo unknown attribute",
        [("CLIENT", "SETINFO", "foo", "bar")],
        b"-ERR Unrecognized option 'foo'\r\n",
    ),
    Case(
        "client setinfo bad value",
        [("CLIENT", "SETINFO", "LIB-NAME", "a b")],
        b"-ERR LIB-NAME cannot contain spaces, newlines or special characters.\r\n",
    ),
    Case("command docs", [("COMMAND", "DOCS")], b"*0\r\n", b"%0\r\n"),
    Case(
        "command info",
        [("COMMAND", "INFO", "get", "nosuch")],
        b"*2\r\n*10\r\n$3\r\nget\r\n:2\r\n*2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n*0\r\n*0\r\n*0\r\n*0\r\n$-1\r\n",
        b"*2\r\n*10\r\n$3\r\nget\r\n:2\r\n~2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n~0\r\n*0\r\n*0\r\n*0\r\n_\r\n",
    ),
    Case(
        "config get",
        [("CONFIG", "GET", "save"), ("CONFIG", "GET", "nothing")],
        b"*2\r\n$4\r\nsave\r\n$0\r\n\r\n*0\r\n",
        b"%1\r\n$4\r\nsave\r\n$0\r\n\r\n%0\r\n",
    ),
    Case(
        "config get glob",
        [("CONFIG", "GET", "MAXMEMORY*", "appendonly")],
        b"*6\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n$16\r\nmaxmemory-policy\r\n$10\r\nnoeviction\r\n"
        b"$10\r\nappendonly\r\n$2\r\nno\r\n",
        b"%3\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n$16\r\nmaxmemory-policy\r\n$10\r\nnoeviction\r\n"
        b"$10\r\nappendonly\r\n$2\r\nno\r\n",
    ),
    Case(
        "config set is not supported",
        [("CONFIG", "SET", "save", "")],
        b"-ERR unknown subcommand 'SET'. Try CONFIG HELP.\r\n",
    ),
    Case(
        "info keyspace",
        [("INFO", "keyspace"), ("SET", "a", 1, "EX", 9), ("SET", "b", 2), ("INFO", "KEYSPACE")],
        b"$12\r\n# Keyspace\r\n\r\n+OK\r\n+OK\r\n"
        b"$44\r\n# Keyspace\r\ndb0:keys=2,expires=1,avg_ttl=0\r\n\r\n",
        b"=16\r\ntxt:# Keyspace\r\n\r\n+OK\r\n+OK\r\n"
        b"=48\r\ntxt:# Keyspace\r\ndb0:keys=2,expires=1,avg_ttl=0\r\n\r\n",
    ),
    Case(
        "multi exec",
        [("MULTI",), ("SET", "n", 1), ("INCR", "n"), ("GET", "n"), ("EXEC",)],
        b"+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n*3\r\n+OK\r\n:2\r\n$1\r\n2\r\n",
    ),
    Case(
        "exec keeps going after a runtime error",
        [("SET", "s", "x"), ("MULTI",), ("INCR", "s"), ("SET", "t", 1), ("EXEC",), ("GET", "t")],
        b"+OK\r\n+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n"
        b"-ERR value is not an integer or out of range\r\n+OK\r\n$1\r\n1\r\n",
    ),
    Case(
        "a refused command aborts the transaction",
        [("MULTI",), ("SET", "a", 1), ("GET",), ("NOPE",), ("EXEC",), ("EXISTS", "a")],
        b"+OK\r\n+QUEUED\r\n-ERR wrong number of arguments for 'get' command\r\n"
        b"-ERR unknown command 'NOPE', with args beginning with: \r\n"
        b"-EXECABORT Transaction discarded because of previous errors.\r\n:0\r\n",
    ),
    Case(
        "discard",
        [("MULTI",), ("SET", "a", 1), ("DISCARD",), ("EXISTS", "a"), ("DISCARD",)],
        b"+OK\r\n+QUEUED\r\n+OK\r\n:0\r\n-ERR DISCARD without MULTI\r\n",
    ),
    Case("exec without multi", [("EXEC",)], b"-ERR EXEC without MULTI\r\n"),
    Case(
        "nested multi",
        [("MULTI",), ("MULTI",), ("PING",), ("EXEC",)],
        b"+OK\r\n-ERR MULTI calls can not be nested\r\n+QUEUED\r\n*1\r\n+PONG\r\n",
    ),
    Case(
        "watch inside multi",
        [("MULTI",), ("WATCH", "k"), ("EXEC",)],
        b"+OK\r\n-ERR WATCH inside MULTI is not allowed\r\n*0\r\n",
    ),
    Case(
        "watch then own write fails exec",
        [("WATCH", "k"), ("SET", "k", 1), ("MULTI",), ("GET", "k"), ("EXEC",), ("EXEC",)],
        b"+OK\r\n+OK\r\n+OK\r\n+QUEUED\r\n*-1\r\n-ERR EXEC without MULTI\r\n",
        b"+OK\r\n+OK\r\n+OK\r\n+QUEUED\r\n_\r\n-ERR EXEC without MULTI\r\n",
    ),
    Case(
        "unwatch",
        [("WATCH", "k"), ("SET", "k", 1), ("UNWATCH",), ("MULTI",), ("GET", "k"), ("EXEC",)],
        b"+OK\r\n+OK\r\n+OK\r\n+OK\r\n+QUEUED\r\n*1\r\n$1\r\n1\r\n",
    ),
    Case("info unknown section", [("INFO", "nosuch")], b"$0\r\n\r\n", b"=4\r\ntxt:\r\n"),
]


def _run_case(case: Case, accelerated: bool, resp3: bool) -> bytes:
    client = Client(accelerated)
    if resp3:
        assert client.call("HELLO", 3).startswith(b"%7\r\n")
    return b"".join(client.call(*command) for command in case.commands)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
def test_command_replies(case: Case, resp3: bool, accelerated: bool) -> None:
    expected = case.resp3 if resp3 and case.resp3 is not None else case.resp2
    assert _run_case(case, accelerated, resp3) == expected


@pytest.mark.parametrize("case", CASES[:40], ids=[case.name for case in CASES[:40]])
def test_pipelined_commands_give_the_same_replies(case: Case, accelerated: bool) -> None:
    client = Client(accelerated)
    assert client.send(b"".join(cmd(*command) for command in case.commands)) == case.resp2


def test_ttl_counts_down_with_the_clock(accelerated: bool) -> None:
    client = Client(accelerated)
    client.call("SET", "k", "v", "PX", 2600)
    assert client.call("TTL", "k") == b":3\r\n"
    client.clock.now += 1000
    assert client.call("PTTL", "k") == b":1600\r\n"
    assert client.call("TTL", "k") == b":2\r\n"
    client.clock.now += 1600
    assert client.call("GET", "k") == b"$-1\r\n"
    assert client.call("TTL", "k") == b":-2\r\n"


def test_inline_commands(accelerated: bool) -> None:
    client = Client(accelerated)
    assert client.send(b"PING\r\n") == b"+PONG\r\n"
    assert client.send(b"  set k   v \n") == b"+OK\r\n"
    assert client.send(b'SET q "a b\\x41\\n"\r\nGET q\r\n') == b"+OK\r\n$5\r\na bA\n\r\n"
    assert client.send(b"SET s 'it\\'s'\r\nGET s\r\n") == b"+OK\r\n$4\r\nit's\r\n"
    assert client.send(b'SET e ""\r\nSTRLEN e\r\n') == b"+OK\r\n:0\r\n"
    assert client.send(b"\r\n") == b""  # an empty line is an empty command: no reply
    # Redis looks for the newline with strchr, which stops at a NUL: the line never ends.
    assert client.send(b"GET k\x00ignored\r\nPING\r\n") == b""
    assert client.connection.state is ConnectionState.ACTIVE


@pytest.mark.parametrize(
    "line",
    [b'SET k "abc\r\n', b"SET k 'abc\r\n", b'GET "k"x\r\n'],
)
def test_unbalanced_quotes_close_the_connection(line: bytes, accelerated: bool) -> None:
    client = Client(accelerated)
    assert client.send(b"PING\r\n" + line + b"PING\r\n") == (
        b"+PONG\r\n-ERR Protocol error: unbalanced quotes in request\r\n"
    )
    assert client.connection.close_reason is CloseReason.PROTOCOL_ERROR


def test_empty_multibulk_commands_get_no_reply(accelerated: bool) -> None:
    client = Client(accelerated)
    assert client.send(b"*0\r\n*-1\r\n*-7\r\n" + cmd("PING")) == b"+PONG\r\n"
    assert client.connection.state is ConnectionState.ACTIVE


def test_quit_replies_then_closes_and_ignores_the_rest(accelerated: bool) -> None:
    client = Client(accelerated)
    assert client.send(cmd("SET", "a", 1) + cmd("QUIT") + cmd("SET", "b", 2)) == b"+OK\r\n+OK\r\n"
    assert client.connection.state is ConnectionState.CLOSED
    assert client.connection.close_reason is CloseReason.SESSION_CLOSED
    assert client.provider.store.get(b"b") is None


def test_authentication_required(accelerated: bool) -> None:
    client = Client(accelerated, password="s3cret")
    noauth = b"-NOAUTH Authentication required.\r\n"
    assert client.call("GET", "k") == noauth
    assert client.call("PING") == noauth
    assert client.call("CLIENT", "SETINFO", "LIB-NAME", "x") == noauth
    # Unknown commands and wrong arity are reported before NOAUTH, as Redis does.
    assert client.call("NOPE").startswith(b"-ERR unknown command 'NOPE'")
    assert client.call("GET") == b"-ERR wrong number of arguments for 'get' command\r\n"
    assert client.call("HELLO", 3) == (
        b"-NOAUTH HELLO must be called with the client already authenticated, otherwise the "
        b"HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and "
        b"select the RESP protocol version at the same time\r\n"
    )
    wrongpass = b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    assert client.call("AUTH", "nope") == wrongpass
    assert client.call("AUTH", "admin", "s3cret") == wrongpass
    assert client.call("GET", "k") == noauth
    assert client.call("AUTH", "s3cret") == b"+OK\r\n"
    assert client.call("GET", "k") == b"$-1\r\n"


def test_hello_auth_authenticates_and_switches_protocol(accelerated: bool) -> None:
    client = Client(accelerated, password="s3cret")
    reply = client.call("HELLO", 3, "AUTH", "default", "s3cret", "SETNAME", "me")
    assert reply.startswith(b"%7\r\n")
    assert b"$5\r\nproto\r\n:3\r\n" in reply
    assert client.call("GET", "k") == b"_\r\n"
    assert client.call("CLIENT", "GETNAME") == b"$2\r\nme\r\n"
    assert client.call("HELLO", 2).startswith(b"*14\r\n")
    assert client.call("GET", "k") == b"$-1\r\n"


def test_watch_sees_writes_from_other_connections(accelerated: bool) -> None:
    provider = RespProvider(accelerated=accelerated, clock=Clock())
    registry = Registry()
    register(registry, provider)
    watcher, writer = Connection(registry), Connection(registry)

    def call(connection: Connection, *args: Arg) -> bytes:
        connection.receive_data(cmd(*args))
        return connection.data_to_send()

    transaction = [("MULTI",), ("SET", "k", "mine"), ("EXEC",)]
    # Untouched: EXEC runs.
    assert call(watcher, "WATCH", "k", "j") == b"+OK\r\n"
    assert b"".join(call(watcher, *c) for c in transaction).endswith(b"*1\r\n+OK\r\n")
    # Created and deleted again by another client: still a change.
    call(writer, "DEL", "k")
    assert call(watcher, "WATCH", "k") == b"+OK\r\n"
    assert call(writer, "SET", "k", "theirs") + call(writer, "DEL", "k") == b"+OK\r\n:1\r\n"
    assert b"".join(call(watcher, *c) for c in transaction).endswith(b"*-1\r\n")
    # An expiry change counts; a read does not.
    call(writer, "SET", "k", "v")
    call(watcher, "WATCH", "k")
    call(writer, "GET", "k")
    assert b"".join(call(watcher, *c) for c in transaction).endswith(b"*1\r\n+OK\r\n")
    call(watcher, "WATCH", "k")
    call(writer, "EXPIRE", "k", 100)
    assert b"".join(call(watcher, *c) for c in transaction).endswith(b"*-1\r\n")
    # Expiring counts too.
    call(writer, "SET", "k", "v", "PX", 10)
    call(watcher, "WATCH", "k")
    provider.store.clock.now += 10  # type: ignore[attr-defined]
    assert b"".join(call(watcher, *c) for c in transaction).endswith(b"*-1\r\n")
    # A closed connection releases its watches.
    call(watcher, "WATCH", "k")
    watcher.close(CloseReason.PEER_CLOSED)
    assert not provider.store._watched


def test_quit_works_before_auth(accelerated: bool) -> None:
    client = Client(accelerated, password="pw")
    assert client.call("QUIT") == b"+OK\r\n"
    assert client.connection.state is ConnectionState.CLOSED


def test_client_ids_are_distinct_and_clients_are_counted(accelerated: bool) -> None:
    provider = RespProvider(accelerated=accelerated)
    registry = Registry()
    register(registry, provider)
    first, second = Connection(registry), Connection(registry)
    first.receive_data(cmd("CLIENT", "ID"))
    second.receive_data(cmd("CLIENT", "ID") + cmd("INFO", "clients"))
    assert first.data_to_send() == b":1\r\n"
    replies = second.data_to_send()
    assert replies.startswith(b":2\r\n")
    assert b"connected_clients:2\r\n" in replies
    first.close(CloseReason.PEER_CLOSED)
    second.receive_data(cmd("INFO", "clients"))
    assert b"connected_clients:1\r\n" in second.data_to_send()


def test_info_default_sections(accelerated: bool) -> None:
    client = Client(accelerated)
    client.call("SET", "k", "v")
    reply = client.call("INFO")
    header, _, body = reply.partition(b"\r\n")
    assert int(header[1:]) == len(body) - 2
    sections = [line for line in body.split(b"\r\n") if line.startswith(b"#")]
    assert sections == [b"# Server", b"# Clients", b"# Memory", b"# Stats", b"# Keyspace"]
    assert b"redis_version:7.2.4\r\n" in body
    assert b"db0:keys=1,expires=0,avg_ttl=0\r\n" in body
    assert b"\r\n\r\n# Clients\r\n" in body
    assert client.call("INFO", "server", "memory").count(b"# ") == 2


def test_command_count_and_list_agree(accelerated: bool) -> None:
    client = Client(accelerated)
    count = int(client.call("COMMAND", "COUNT")[1:-2])
    names = client.call("COMMAND", "LIST")
    assert names.startswith(b"*%d\r\n" % count)
    for name in (b"get", b"set", b"hello", b"client", b"command", b"scan"):
        assert bulk(name) in names
    everything = client.call("COMMAND")
    assert everything.startswith(b"*%d\r\n" % count)
    assert everything.count(b"*10\r\n") >= count


def bulk(value: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(value), value)


def test_time_reply_shape(accelerated: bool) -> None:
    reply = Client(accelerated).call("TIME")
    parts = reply.split(b"\r\n")
    assert parts[0] == b"*2"
    assert parts[2].isdigit()
    assert parts[4].isdigit()
    assert int(parts[4]) < 1_000_000


def test_large_values_round_trip(accelerated: bool) -> None:
    client = Client(accelerated)
    value = bytes(range(256)) * 4096  # 1 MiB with every byte value, CR and LF included
    assert client.call("SET", "big", value) == b"+OK\r\n"
    assert client.call("GET", "big") == bulk(value)
    assert client.call("APPEND", "big", b"\r\n") == b":%d\r\n" % (len(value) + 2)


def test_one_send_per_batch(accelerated: bool) -> None:
    sent: list[bytes] = []

    class Sender:
        memory = MemoryAccount()
        auth = NO_AUTH

        def send(self, data: bytes) -> None:
            sent.append(bytes(data))

        def close(self) -> None:  # pragma: no cover - not closed here
            raise AssertionError

    provider = RespProvider(accelerated=accelerated)
    session = provider.create_session(RESP, Sender())
    batch = (
        cmd("SET", "a", 1) + b"PING\r\n" + cmd("GET", "a") + cmd("INCR", "a") + b"*1\r\n$4\r\nPI"
    )
    view = memoryview(bytearray(batch))
    # The started command's header lines are consumed too; its bulk waits in the buffer.
    assert session.try_consume(view) == len(batch) - 2
    assert sent == [b"+OK\r\n+PONG\r\n$1\r\n1\r\n:2\r\n"]
    assert session.try_consume(memoryview(bytearray(b"PI"))) == 0
    assert session.try_consume(memoryview(bytearray(b"PING\r\n"))) == 6
    assert sent[1:] == [b"+PONG\r\n"]


def _commands_of(case: Case) -> Iterator[bytes]:
    for command in case.commands:
        yield cmd(*command)


def test_register_serves_the_registrys_shared_store() -> None:
    registry = Registry()
    provider = register(registry)
    assert provider.store is shared_store(registry)
    assert registry.provider(RESP) is provider


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
