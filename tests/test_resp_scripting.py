"""Lua scripting sans I/O: EVAL/EVALSHA and SCRIPT as Redis answers them, the value conversions
both ways, errors from redis.call and redis.pcall, the sandbox and the time limit."""

from __future__ import annotations

import hashlib
import time

import pytest
from _resp import Client


@pytest.fixture
def client() -> Client:
    return Client(accelerated=False)


def test_eval_converts_values_as_redis_does(client: Client) -> None:
    assert client.call("EVAL", "return 1", 0) == b":1\r\n"
    assert client.call("EVAL", "return 3.99", 0) == b":3\r\n"
    assert client.call("EVAL", "return 'x'", 0) == b"$1\r\nx\r\n"
    assert client.call("EVAL", "return true", 0) == b":1\r\n"
    assert client.call("EVAL", "return false", 0) == b"$-1\r\n"
    assert client.call("EVAL", "return nil", 0) == b"$-1\r\n"
    assert client.call("EVAL", "return {1, 'a', {2}, nil, 5}", 0) == (
        b"*3\r\n:1\r\n$1\r\na\r\n*1\r\n:2\r\n"
    )
    assert client.call("EVAL", "return redis.status_reply('FINE')", 0) == b"+FINE\r\n"
    assert client.call("EVAL", "return redis.error_reply('MY bad')", 0) == b"-MY bad\r\n"
    assert client.call("EVAL", "return {KEYS[1], ARGV[1], #ARGV}", 1, "k", "a", "b") == (
        b"*3\r\n$1\r\nk\r\n$1\r\na\r\n:2\r\n"
    )


def test_redis_call_runs_commands_and_converts_their_replies(client: Client) -> None:
    script = (
        "redis.call('SET', KEYS[1], ARGV[1]); redis.call('RPUSH', 'l', 'a', 'b');"
        "return {redis.call('GET', KEYS[1]), redis.call('LRANGE', 'l', 0, -1),"
        " redis.call('GET', 'missing') == false, redis.call('INCR', 'n'),"
        " redis.call('SET', 'x', 1)['ok']}"
    )
    assert client.call("EVAL", script, 1, "k", "v") == (
        b"*5\r\n$1\r\nv\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n:1\r\n:1\r\n$2\r\nOK\r\n"
    )


def test_errors_from_redis_call_stop_the_script_and_pcall_returns_them(client: Client) -> None:
    client.call("SET", "s", "x")
    failed = client.call("EVAL", "redis.call('INCR', 's'); return 1", 0)
    sha = hashlib.sha1(b"redis.call('INCR', 's'); return 1").hexdigest().encode()
    assert failed == (
        b"-ERR value is not an integer or out of range script: %s, on @user_script:1.\r\n" % sha
    )
    assert client.call("EVAL", "return redis.pcall('INCR', 's')['err']", 0) == (
        b"$43\r\nERR value is not an integer or out of range\r\n"
    )
    assert client.call("EVAL", "return redis.pcall('NOPE')", 0) == (
        b"-ERR Unknown Redis command called from script\r\n"
    )
    assert client.call("EVAL", "return redis.pcall('MULTI')", 0) == (
        b"-ERR This Redis command is not allowed from script\r\n"
    )
    assert client.call("EVAL_RO", "return redis.pcall('SET', 'a', 1)", 0) == (
        b"-ERR Write commands are not allowed from read-only scripts.\r\n"
    )
    assert client.call("EVAL", "return (", 0).startswith(
        b"-ERR Error compiling script (new function): "
    )


def test_evalsha_and_script_load_exists_flush(client: Client) -> None:
    body = b"return 'hi'"
    sha = hashlib.sha1(body).hexdigest().encode()
    assert client.call("EVALSHA", sha, 0) == b"-NOSCRIPT No matching script. Please use EVAL.\r\n"
    assert client.call("SCRIPT", "LOAD", body) == b"$40\r\n" + sha + b"\r\n"
    assert client.call("EVALSHA", sha.upper(), 0) == b"$2\r\nhi\r\n"
    assert client.call("SCRIPT", "EXISTS", sha, "0" * 40) == b"*2\r\n:1\r\n:0\r\n"
    assert client.call("SCRIPT", "FLUSH") == b"+OK\r\n"
    assert client.call("SCRIPT", "EXISTS", sha) == b"*1\r\n:0\r\n"
    assert client.call("EVAL", "return 1", -1) == b"-ERR Number of keys can't be negative\r\n"
    assert client.call("EVAL", "return 1", 2, "k") == (
        b"-ERR Number of keys can't be greater than number of args\r\n"
    )


def test_the_sandbox_has_no_way_out(client: Client) -> None:
    assert client.call("EVAL", "return type(debug)", 0) == b"$3\r\nnil\r\n"
    for name in ("os", "io", "package", "require", "dofile", "loadfile", "python"):
        reply = client.call("EVAL", f"return type({name})", 0)
        assert reply.startswith(
            b"-ERR user_script:1: Script attempted to access nonexistent global variable '%s'"
            % name.encode()
        ), name
    assert client.call("EVAL", "x = 1", 0).startswith(
        b"-ERR user_script:1: Attempt to modify a readonly table script: "
    )


def test_a_script_that_runs_too_long_is_stopped(client: Client) -> None:
    assert client.call("CONFIG", "SET", "lua-time-limit", 50) == b"+OK\r\n"
    started = time.monotonic()
    reply = client.call("EVAL", "while true do end", 0)
    assert reply.startswith(b"-ERR Script killed: it ran past lua-time-limit")
    assert 0.05 <= time.monotonic() - started < 2.0  # the set limit, not the default 5 s
    assert client.call("PING") == b"+PONG\r\n"  # the interpreter is still usable
    assert client.call("EVAL", "return 2", 0) == b":2\r\n"
