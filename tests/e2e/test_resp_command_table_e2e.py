"""COMMAND GETKEYS / LIST / INFO checks over real sockets, byte for byte against
``redis-server`` 7.0 (COMMAND INFO of every command: ``test_keyspecs_against_redis.py``).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import hiredis
import pytest
from _drive import resp_command as cmd
from _serve import HOST, RunningServer, redis_server, serve


@pytest.fixture(scope="module")
def redis_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    with redis_server(tmp_path_factory.mktemp("redis-command-table")) as port:
        yield port


@pytest.fixture(scope="module")
def ours(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    log = tmp_path_factory.mktemp("command-table") / "serve.log"
    with serve(log, formats={"resp"}) as server:
        yield server


def call(port: int, *args: bytes | str) -> tuple[bytes, object]:
    """The raw reply to ``args`` and its parsed form."""
    with socket.create_connection((HOST, port), timeout=10.0) as sock:
        sock.sendall(cmd(*args))
        reader = hiredis.Reader()
        raw = b""
        for _ in range(10_000):  # bounded: COMMAND's reply is under a few hundred KB
            chunk = sock.recv(1 << 20)
            assert chunk
            raw += chunk
            reader.feed(chunk)
            parsed = reader.gets()
            if parsed is not False:
                return raw, parsed
    raise AssertionError(raw[:200])


@pytest.mark.parametrize(
    "request_args",
    [
        ("COMMAND", "GETKEYS", "mset", "a", "1", "b", "2"),
        ("COMMAND", "GETKEYS", "EVAL", "x", "3", "key1", "key2", "key3", "a1", "a2", "a3"),
        ("COMMAND", "GETKEYSANDFLAGS", "LMOVE", "mylist1", "mylist2", "left", "left"),
        ("COMMAND", "GETKEYSANDFLAGS", "XREAD", "COUNT", "2", "STREAMS", "s1", "s2", "0", "0"),
        ("COMMAND", "GETKEYS", "EVAL", "x", "4", "a"),
        ("COMMAND", "INFO", "lmove", "eval", "xread", "sort", "georadius", "xadd"),
        ("COMMAND", "GETKEYS", "del", "a", "b", "c"),
        ("COMMAND", "GETKEYSANDFLAGS", "incr", "a"),
        ("COMMAND", "GETKEYSANDFLAGS", "mset", "a", "1", "b", "2"),
        ("COMMAND", "GETKEYSANDFLAGS", "getdel", "a"),
        ("COMMAND", "GETKEYS", "ping", "x"),
        ("COMMAND", "GETKEYS", "get", "a", "b"),
        ("COMMAND", "GETKEYS", "nosuch", "a"),
        ("COMMAND", "GETKEYS", "get"),
        ("COMMAND", "LIST", "FILTERBY", "module", "x"),
        ("COMMAND", "LIST", "FILTERBY", "nosuch", "x"),
        ("COMMAND", "LIST", "x"),
        ("COMMAND", "INFO", "nosuch", "get", "client|id", "CONFIG|GET"),
    ],
)
def test_command_subcommands_answer_as_redis(
    redis_port: int, ours: RunningServer, request_args: tuple[str, ...]
) -> None:
    assert call(ours.port, *request_args)[0] == call(redis_port, *request_args)[0]


@pytest.mark.parametrize("category", ["transaction", "pubsub", "connection", "string"])
def test_acl_category_filter_lists_a_subset_of_redis(
    redis_port: int, ours: RunningServer, category: str
) -> None:
    _, theirs = call(redis_port, "COMMAND", "LIST", "FILTERBY", "aclcat", category)
    _, mine = call(ours.port, "COMMAND", "LIST", "FILTERBY", "aclcat", category)
    assert isinstance(mine, list) and isinstance(theirs, list)
    assert mine
    assert set(mine) - {b"client|setinfo", b"client|no-touch"} <= set(theirs)  # Redis 7.2
