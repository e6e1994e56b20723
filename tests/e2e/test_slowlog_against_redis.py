"""SLOWLOG against ``redis-server`` 7.0: the same entries (ids, arguments as Redis cuts and
redacts them, client address and name) for the same commands, with the threshold at 0;
at the default threshold a command slower than 10 ms is logged and a fast one is not."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from _drive import resp_session as session
from _serve import RunningServer, redis_server, serve


@pytest.fixture(scope="module")
def redis_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    workdir = tmp_path_factory.mktemp("redis-slowlog")
    with redis_server(workdir, "--enable-debug-command", "yes") as port:
        yield port


@pytest.fixture(scope="module")
def ours(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with serve(tmp_path_factory.mktemp("slowlog") / "serve.log", formats={"resp"}) as server:
        yield server


def masked(reply: bytes) -> bytes:
    """Entries without their clock time, duration and client port."""
    reply = re.sub(rb"\*6\r\n:(\d+)\r\n:\d+\r\n:\d+\r\n", rb"*6\r\n:\1\r\n:T\r\n:D\r\n", reply)
    reply = re.sub(rb"\$\d+\r\n127\.0\.0\.1:\d+\r\n", b"$A\r\n127.0.0.1:P\r\n", reply)
    return re.sub(rb"\$2\r\nid\r\n:\d+\r\n", b"$2\r\nid\r\n:ID\r\n", reply)


RESET = [
    ("CONFIG", "SET", "slowlog-log-slower-than", "0"),
    ("CONFIG", "SET", "slowlog-max-len", "128"),
    ("SLOWLOG", "RESET"),
]
RESTORE = [
    ("CONFIG", "SET", "slowlog-log-slower-than", "10000"),
    ("CONFIG", "SET", "slowlog-max-len", "128"),
]

SEQUENCES = {
    "plain": [("SET", "a", "b"), ("GET", "a"), ("PING",), ("SLOWLOG", "LEN")],
    "many arguments": [("RPUSH", "l", *(str(i) for i in range(40)))],
    "32 arguments": [("RPUSH", "l", *(str(i) for i in range(30)))],
    "long arguments": [("SET", "k", "v" * 129), ("SET", "k" * 128, "v" * 128)],
    "secrets": [
        ("AUTH", "nobody", "secret"),
        ("AUTH", "secret"),
        ("HELLO", "2", "AUTH", "default", "secret"),
    ],
    "client name": [("CLIENT", "SETNAME", "reporter"), ("GET", "a")],
    "errors": [("GET",), ("NOSUCH",), ("LPUSH", "a", "x")],
    "transaction": [("MULTI",), ("SET", "t", "1"), ("INCR", "t"), ("EXEC",)],
    "max-len": [
        ("SET", "x", "1"),
        ("CONFIG", "SET", "slowlog-max-len", "2"),
        ("GET", "x"),
        ("SLOWLOG", "LEN"),
    ],
    "disabled": [("CONFIG", "SET", "slowlog-log-slower-than", "-1"), ("GET", "x")],
}


@pytest.mark.parametrize("name", SEQUENCES)
def test_slowlog_entries_match_redis(redis_port: int, ours: RunningServer, name: str) -> None:
    commands = [
        ("FLUSHALL",),
        *RESET,
        *SEQUENCES[name],
        ("SLOWLOG", "GET", "-1"),
        ("SLOWLOG", "LEN"),
        ("SLOWLOG", "GET", "1"),
        *RESTORE,
    ]
    theirs = masked(session(redis_port, *commands))
    assert masked(session(ours.port, *commands)) == theirs


@pytest.mark.parametrize(
    "command",
    [
        ("SLOWLOG", "GET", "-2"),
        ("SLOWLOG", "GET", "x"),
        ("SLOWLOG", "GET", "0"),
        ("SLOWLOG", "LEN", "x"),
        ("SLOWLOG", "RESET", "x"),
        ("SLOWLOG", "HELP"),
        ("CONFIG", "SET", "slowlog-log-slower-than", "-2"),
        ("CONFIG", "SET", "slowlog-max-len", "-1"),
        ("CONFIG", "GET", "slowlog-max-len"),
    ],
)
def test_slowlog_answers_match_redis(
    redis_port: int, ours: RunningServer, command: tuple[str, ...]
) -> None:
    assert session(ours.port, command) == session(redis_port, command)


def test_at_the_default_threshold_a_slow_command_is_logged_and_fast_ones_are_not(
    ours: RunningServer,
) -> None:
    replies = session(
        ours.port,
        *RESTORE,
        ("SLOWLOG", "RESET"),
        ("SET", "k", "v"),
        ("GET", "k"),
        ("DEBUG", "SLEEP", "0.02"),
        ("GET", "k"),
        ("SLOWLOG", "GET"),
    )
    entries = replies.split(b"*6\r\n")[1:]
    assert len(entries) == 1
    assert b"$5\r\nDEBUG\r\n$5\r\nSLEEP\r\n$4\r\n0.02\r\n" in entries[0]
    micros = int(entries[0].split(b"\r\n")[2][1:])
    assert micros >= 20_000
