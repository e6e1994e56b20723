"""What a standalone Redis 7.0 answers (MODULE, REPLICAOF, CLUSTER, MEMORY, LOLWUT, SUBSTR,
ACL HELP, XINFO STREAM FULL, the XGROUP/XINFO containers), byte for byte against
``redis-server`` 7.0, found missing by redis-py's own test suite."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from _drive import resp_session as session
from _serve import RunningServer, redis_server, serve


@pytest.fixture(scope="module")
def redis_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    with redis_server(tmp_path_factory.mktemp("redis-standalone")) as port:
        yield port


@pytest.fixture(scope="module")
def ours(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    log = tmp_path_factory.mktemp("standalone") / "serve.log"
    with serve(log, formats={"resp"}) as server:
        yield server


def masked(reply: bytes) -> bytes:
    """Without the version, HELLO's client id and clock times."""
    reply = re.sub(rb"Redis ver\. [0-9.]+", b"Redis ver. V", reply)
    reply = re.sub(rb"\$\d+\r\n(\r?\n?[^\r]*Redis ver\. V)", rb"$N\r\n\1", reply)
    reply = re.sub(rb"\$2\r\nid\r\n:\d+\r\n", b"$2\r\nid\r\n:ID\r\n", reply)
    return re.sub(rb":1\d{12}\r\n", b":TIME\r\n", reply)


STREAM = [
    ("FLUSHALL",),
    ("XADD", "s", "1-1", "f", "v"),
    ("XADD", "s", "2-1", "f", "v2", "g", "w"),
    ("XADD", "s", "3-1", "f", "v3"),
    ("XGROUP", "CREATE", "s", "g", "$"),
    ("XGROUP", "CREATE", "s", "h", "0"),
    ("XREADGROUP", "GROUP", "h", "c1", "COUNT", "1", "STREAMS", "s", ">"),
    ("XREADGROUP", "GROUP", "h", "c2", "STREAMS", "s", ">"),
]

COMMANDS = [
    ("SUBSTR", "a", "1", "3"),
    ("SUBSTR", "a", "-3", "-1"),
    ("SUBSTR", "missing", "0", "1"),
    ("SUBSTR", "a", "0", "x"),
    ("SUBSTR", "a", "0"),
    ("LOLWUT",),
    ("LOLWUT", "VERSION"),
    ("LOLWUT", "VERSION", "x"),
    ("LOLWUT", "VERSION", "7"),
    ("MEMORY", "USAGE", "missing"),
    ("MEMORY", "USAGE", "a", "SAMPLES", "-1"),
    ("MEMORY", "USAGE", "a", "SAMPLES", "x"),
    ("MEMORY", "USAGE", "a", "FOO", "1"),
    ("MEMORY", "USAGE"),
    ("MEMORY", "DOCTOR"),
    ("MEMORY", "DOCTOR", "x"),
    ("MEMORY", "PURGE"),
    ("MEMORY", "STATS", "x"),
    ("MEMORY", "HELP"),
    ("MEMORY", "NOPE"),
    ("MODULE", "LIST"),
    ("MODULE", "LIST", "x"),
    ("MODULE", "HELP"),
    ("MODULE", "LOAD", "/nowhere.so"),
    ("MODULE", "LOADEX", "/nowhere.so"),
    ("MODULE", "UNLOAD", "x"),
    ("REPLICAOF", "NO", "ONE"),
    ("REPLICAOF", "no one"),
    ("REPLICAOF", "127.0.0.1", "abc"),
    ("SLAVEOF", "127.0.0.1", "-1"),
    ("REPLICAOF", "localhost", "70000"),
    ("SLAVEOF", "NO", "ONE"),
    ("FAILOVER",),
    ("FAILOVER", "ABORT"),
    ("CLUSTER", "INFO"),
    ("CLUSTER", "NODES"),
    ("CLUSTER", "SLOTS"),
    ("CLUSTER", "KEYSLOT", "x"),
    ("CLUSTER", "FOO"),
    ("CLUSTER", "INFO", "x"),
    ("CLUSTER",),
    ("READONLY",),
    ("READONLY", "x"),
    ("READWRITE",),
    ("ASKING",),
    ("ACL", "HELP"),
    ("ACL", "HELP", "x"),
    ("XINFO", "STREAM", "s", "FULL"),
    ("XINFO", "STREAM", "s", "FULL", "COUNT", "1"),
    ("XINFO", "STREAM", "s", "FULL", "COUNT", "0"),
    ("XINFO", "STREAM", "s", "FULL", "COUNT", "-5"),
    ("XINFO", "STREAM", "s", "FULL", "COUNT", "x"),
    ("XINFO", "STREAM", "s", "FULL", "X", "1"),
    ("XINFO", "STREAM", "s", "FOO"),
    ("XINFO", "STREAM", "s", "FULL", "COUNT"),
    ("XINFO", "STREAM", "missing", "FULL"),
    ("XINFO", "STREAM"),
    ("XINFO", "FOO"),
    ("XINFO",),
    ("XINFO", "HELP", "x"),
    ("XGROUP", "FOO"),
    ("XGROUP", "CREATE", "s"),
    ("XGROUP", "DESTROY", "s", "g", "x"),
    ("XGROUP", "HELP"),
    ("XINFO", "HELP"),
    ("COMMAND", "INFO", "substr", "lolwut", "readonly", "asking", "replicaof", "failover"),
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_the_reply_matches_redis(
    redis_port: int, ours: RunningServer, command: tuple[str, ...]
) -> None:
    commands = [*STREAM, ("SET", "a", "hello"), command]
    theirs = masked(session(redis_port, *commands))
    assert masked(session(ours.port, *commands)) == theirs


@pytest.mark.parametrize("resp", ["2", "3"])
def test_xinfo_stream_full_after_deletes_and_acks_matches_redis(
    redis_port: int, ours: RunningServer, resp: str
) -> None:
    commands = [
        ("HELLO", resp),
        *STREAM,
        ("XDEL", "s", "2-1"),
        ("XACK", "s", "h", "1-1"),
        ("XINFO", "STREAM", "s", "FULL"),
        ("XINFO", "STREAM", "s", "FULL", "COUNT", "1"),
    ]
    theirs = masked(session(redis_port, *commands))
    assert masked(session(ours.port, *commands)) == theirs


def test_memory_usage_grows_with_the_value(ours: RunningServer) -> None:
    replies = session(
        ours.port,
        ("SET", "small", "x"),
        ("SET", "large", "x" * 10_000),
        ("MEMORY", "USAGE", "small"),
        ("MEMORY", "USAGE", "large"),
    )
    small, large = (int(n) for n in re.findall(rb":(\d+)\r\n", replies))
    assert 0 < small < large
    assert large - small >= 10_000 - 1


@pytest.mark.parametrize("resp", ["2", "3"])
def test_memory_stats_has_redis_fields_in_redis_order(
    redis_port: int, ours: RunningServer, resp: str
) -> None:
    """The values are this server's estimates; the field names, their order and each
    value's reply type (integer, double) are redis-server's."""

    def shape(port: int) -> list[bytes]:
        reply = session(
            port, ("HELLO", resp), ("FLUSHALL",), ("SET", "a", "hello"), ("MEMORY", "STATS")
        )
        stats = reply[reply.rindex(b"peak.allocated") - 20 :]
        names = re.findall(rb"\r\n\$\d+\r\n([a-z][a-z0-9.\-]*)\r\n([:$,%*])", stats)
        return [name + b" " + kind for name, kind in names]

    theirs = shape(redis_port)
    assert b"dataset.percentage " + (b"," if resp == "3" else b"$") in theirs
    assert shape(ours.port) == theirs
