"""The RESP provider end to end: real Redis clients over loopback against ``wireproto serve``.

The server is a ``python -m wireproto serve --port 0`` subprocess (the command
a user runs), started once per module for each of the provider's two request
parsers (pure Python and hiredis) on asyncio, and once on uvloop (with hiredis);
every test runs against each. Clients: redis-py with its hiredis parser
and with its pure-Python parsers, on RESP2 and RESP3; Debian's ``redis-cli``
and ``redis-benchmark``; and raw sockets, whose reply bytes are compared with
those of a real ``redis-server`` that the module also starts.

``redis-cli``, ``redis-benchmark`` and ``redis-server`` come from
``.ci/install-debian-packages``: without them these tests fail, they do not skip.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import selectors
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis
from _drive import resp_command as _command
from _serve import (
    HOST,
    NO_RETRY,
    START_LINE,
    START_TIMEOUT,
    STOP_TIMEOUT,
    RunningServer,
    read_line,
    serve,
    start,
    stop,
    tool,
)
from _serve import (
    redis_server as start_redis_server,
)
from redis.connection import _HiredisParser, _RESP2Parser, _RESP3Parser
from wireproto.providers.resp import PARSER_ENV

TOOL_TIMEOUT = 120.0
SOCKET_TIMEOUT = 15.0

SERVERS = (("pure", "asyncio"), ("hiredis", "asyncio"), ("hiredis", "uvloop"))
"""(``PARSER_ENV`` value, ``--loop``): both request parsers on one loop, and uvloop."""


# -- servers --------------------------------------------------------------------


def _serving(
    log: Path, parser: str, loop: str, *options: str
) -> contextlib.AbstractContextManager[RunningServer]:
    """``wireproto serve --port 0 OPTIONS``, stopped (and its log checked) on exit."""
    env = {PARSER_ENV: parser}
    return serve(log, "--log-level", "info", "--loop", loop, *options, formats={"resp"}, env=env)


@pytest.fixture(scope="module", params=SERVERS, ids=lambda param: "server-{}-{}".format(*param))
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """``wireproto serve --port 0`` with the pure-Python or hiredis request parser, on a loop."""
    parser, loop = request.param
    log = tmp_path_factory.mktemp(f"wireproto-{parser}-{loop}") / "server.log"
    with _serving(log, parser, loop) as running:
        yield running


@pytest.mark.parametrize("option", [["--password", "s3cret"], ["--set", "resp.password=s3cret"]])
def test_serve_with_a_password(tmp_path: Path, option: list[str]) -> None:
    with _serving(tmp_path / "server.log", "auto", "asyncio", *option) as running:
        anonymous = redis.Redis(
            host=HOST, port=running.port, socket_timeout=SOCKET_TIMEOUT, retry=NO_RETRY
        )
        try:
            with pytest.raises(redis.AuthenticationError):
                anonymous.get("k")
        finally:
            _close(anonymous)
        wrong = redis.Redis(
            host=HOST,
            port=running.port,
            password="nope",
            socket_timeout=SOCKET_TIMEOUT,
            retry=NO_RETRY,
        )
        try:
            with pytest.raises(redis.AuthenticationError):
                wrong.ping()
        finally:
            _close(wrong)
        authed = redis.Redis(
            host=HOST, port=running.port, password="s3cret", socket_timeout=SOCKET_TIMEOUT
        )
        try:
            assert authed.set("k", "v") is True
            assert authed.get("k") == b"v"
        finally:
            _close(authed)
        done = _redis_cli(running.port, "-a", "s3cret", "--no-auth-warning", "GET", "k")
        assert done.stdout == b"v\n"
        refused = _redis_cli(running.port, "GET", "k")
        assert refused.stdout.startswith(b"NOAUTH")


def test_server_fixture_selects_the_parser_through_the_environment(tmp_path: Path) -> None:
    """The variable the fixture sets is read: a bad value makes the resp plugin fail to load."""
    log = tmp_path / "server.log"
    process = start(log, env={PARSER_ENV: "no-such-parser"})
    try:
        line = read_line(process, START_TIMEOUT).decode(errors="replace")
    finally:
        stop(process)
        assert process.stdout is not None
        process.stdout.close()
    match = START_LINE.fullmatch(line)
    assert match, (line, log.read_text())
    assert "resp" not in match[1].split(", "), line
    assert "no-such-parser" in log.read_text()


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A real ``redis-server`` (persistence off, 127.0.0.1 only), the oracle; yields its port."""
    with start_redis_server(tmp_path_factory.mktemp("redis-server")) as port:
        yield port


# -- redis-py clients -----------------------------------------------------------

CLIENT_KINDS = {
    "resp2-hiredis": (2, _HiredisParser),
    "resp2-pure": (2, _RESP2Parser),
    "resp3-hiredis": (3, _HiredisParser),
    "resp3-pure": (3, _RESP3Parser),
}


def _connect(port: int, kind: str) -> redis.Redis:
    protocol, parser_class = CLIENT_KINDS[kind]
    pool = redis.ConnectionPool(
        host=HOST,
        port=port,
        protocol=protocol,
        parser_class=parser_class,
        socket_timeout=SOCKET_TIMEOUT,
        socket_connect_timeout=SOCKET_TIMEOUT,
    )
    return redis.Redis(connection_pool=pool)


def _close(client: redis.Redis) -> None:
    client.close()
    client.connection_pool.disconnect()


@pytest.fixture(params=list(CLIENT_KINDS), ids=lambda kind: f"client-{kind}")
def client(request: pytest.FixtureRequest, server: RunningServer) -> Iterator[redis.Redis]:
    """A redis-py client of one kind on an emptied server; checks it uses the parser asked."""
    kind: str = request.param
    client = _connect(server.port, kind)
    try:
        assert client.flushall() is True
        connection = client.connection_pool.get_connection()
        try:
            assert type(connection._parser) is CLIENT_KINDS[kind][1]
            assert connection.protocol == CLIENT_KINDS[kind][0]
        finally:
            client.connection_pool.release(connection)
        yield client
    finally:
        _close(client)


# -- redis-py -------------------------------------------------------------------


def test_string_commands(client: redis.Redis) -> None:
    assert client.ping() is True
    assert client.echo(b"hi\r\nthere") == b"hi\r\nthere"
    assert client.set("k", "v") is True
    assert client.get("k") == b"v"
    assert client.get("missing") is None
    assert client.set("k", "v2", nx=True) is None
    assert client.set("k", "v2", xx=True) is True
    assert client.set("missing", "x", xx=True) is None
    assert client.set("k", "v3", get=True) == b"v2"
    assert client.getdel("k") == b"v3"
    assert client.get("k") is None
    assert client.setnx("n", 10) is True
    assert client.setnx("n", 11) is False
    assert client.incr("n") == 11
    assert client.incrby("n", 5) == 16
    assert client.decr("n") == 15
    assert client.decrby("n", 20) == -5
    assert client.incrbyfloat("f", 2.5) == 2.5
    assert client.incrbyfloat("f", -1) == 1.5
    assert client.append("s", "Hello") == 5
    assert client.append("s", " World") == 11
    assert client.strlen("s") == 11
    assert client.strlen("missing") == 0
    assert client.getrange("s", 0, 4) == b"Hello"
    assert client.getrange("s", -5, -1) == b"World"
    assert client.setrange("s", 6, "Redis") == 11
    assert client.get("s") == b"Hello Redis"
    assert client.setrange("pad", 3, "x") == 4
    assert client.get("pad") == b"\x00\x00\x00x"
    assert client.mset({"a": 1, "b": 2, "c": 3}) is True
    assert client.mget("a", "missing", "c") == [b"1", None, b"3"]
    assert client.msetnx({"c": 9, "d": 4}) is False
    assert client.get("d") is None
    assert client.msetnx({"d": 4, "e": 5}) is True
    assert client.exists("a", "a", "missing", "b") == 3
    assert client.type("a") == b"string"
    assert client.type("missing") == b"none"
    assert client.delete("a", "missing") == 1
    assert client.unlink("b", "c") == 2
    assert client.exists("a", "b", "c") == 0
    assert client.rename("d", "renamed") is True
    assert client.get("renamed") == b"4"
    keys = {b"n", b"f", b"s", b"pad", b"e", b"renamed"}
    assert set(client.keys("*")) == keys
    assert client.randomkey() in keys
    assert client.dbsize() == len(keys)
    assert client.flushdb() is True
    assert client.dbsize() == 0
    assert client.randomkey() is None


def test_connection_commands_and_info(client: redis.Redis) -> None:
    assert client.client_getname() is None
    assert client.client_setname("e2e-client") is True
    assert client.client_getname() in ("e2e-client", b"e2e-client")
    client_id = client.client_id()
    assert isinstance(client_id, int)
    assert client_id > 0
    assert client.execute_command("SELECT", 0) in (True, b"OK", "OK")
    hello = client.execute_command("HELLO")
    if isinstance(hello, list):  # RESP2: a flat list of pairs
        hello = dict(zip(hello[::2], hello[1::2], strict=True))
    assert hello[b"proto"] == client.connection_pool.connection_kwargs["protocol"]
    assert hello[b"server"] == b"redis"
    client.mset({"x": 1, "y": 2})
    assert client.expire("x", 100) is True
    info = client.info()
    assert info["connected_clients"] >= 1
    assert "redis_version" in info
    keyspace = client.info("keyspace")
    assert keyspace["db0"]["keys"] == 2
    assert keyspace["db0"]["expires"] == 1


def test_expiry(client: redis.Redis) -> None:
    client.set("k", "v")
    assert client.ttl("k") == -1
    assert client.ttl("missing") == -2
    assert client.pttl("missing") == -2
    assert client.expire("k", 100) is True
    assert client.ttl("k") in (99, 100)  # Redis rounds to the nearest second
    assert 0 < client.pttl("k") <= 100_000
    assert client.expire("missing", 100) is False
    assert client.persist("k") is True
    assert client.persist("k") is False
    assert client.ttl("k") == -1
    assert client.set("k", "v", ex=50) is True
    assert client.ttl("k") in (49, 50)
    assert client.set("k", "w", keepttl=True) is True
    assert client.ttl("k") in (49, 50)
    assert client.set("k", "w") is True
    assert client.ttl("k") == -1
    assert client.getex("k", ex=30) == b"w"
    assert client.ttl("k") in (29, 30)
    assert client.getex("k", persist=True) == b"w"
    assert client.ttl("k") == -1
    assert client.execute_command("SETEX", "e", 40, "v") in (True, b"OK")  # setex() is deprecated
    assert client.ttl("e") in (39, 40)
    assert client.psetex("p", 60_000, "v") is True
    assert client.ttl("p") in (59, 60)
    assert client.expireat("k", int(time.time()) + 1000) is True
    assert client.ttl("k") in (999, 1000, 1001)
    assert client.expireat("k", 1) is True  # in the past: the key is deleted now
    assert client.exists("k") == 0
    assert client.set("short", "v", px=30) is True
    assert client.pexpire("e", 30) is True
    deadline = time.monotonic() + 10
    while client.exists("short", "e") and time.monotonic() < deadline:
        time.sleep(0.02)
    assert client.get("short") is None
    assert client.get("e") is None
    assert client.exists("short", "e") == 0
    assert client.ttl("short") == -2


def test_expired_keys_are_removed_without_being_read(
    server: RunningServer, redis_server: int
) -> None:
    """Redis's active expiry: keys nobody reads again still leave DBSIZE and INFO keyspace.

    Without it a cache of keys with TTLs that are never read again grows forever.
    Redis removes them within a few of its 100 ms cycles; the bound here is 10 s.
    """

    def remaining(port: int) -> tuple[int, int]:
        client = _connect(port, "resp2-pure")
        try:
            client.flushall()
            client.mset({f"ttl:{i}": b"v" for i in range(200)})
            pipe = client.pipeline(transaction=False)
            for i in range(200):
                pipe.pexpire(f"ttl:{i}", 20)
            pipe.execute()
            client.set("kept", "v")
            deadline = time.monotonic() + 10
            while client.dbsize() > 1 and time.monotonic() < deadline:
                time.sleep(0.05)
            return client.dbsize(), client.info("keyspace")["db0"]["keys"]
        finally:
            _close(client)

    assert remaining(redis_server) == (1, 1)
    assert remaining(server.port) == (1, 1)


def test_scan_returns_every_key_present_for_the_whole_iteration(client: redis.Redis) -> None:
    wanted = {f"scan:{i}".encode() for i in range(1000)}
    client.mset({key: b"v" for key in wanted})
    client.mset({f"other:{i}": b"v" for i in range(100)})
    assert set(client.scan_iter(match="scan:*", count=37)) == wanted
    assert set(client.keys("other:*")) == {f"other:{i}".encode() for i in range(100)}

    # Redis's guarantee: a key present from start to end of a full iteration is returned,
    # whatever is added or removed meanwhile.
    removed = {f"scan:{i}".encode() for i in range(0, 1000, 3)}
    stable = wanted - removed
    seen: set[bytes] = set()
    cursor, calls = 0, 0
    while True:
        cursor, batch = client.scan(cursor, match="scan:*", count=50)
        seen.update(batch)
        calls += 1
        if calls == 3:
            client.delete(*removed)
            client.mset({f"scan:new:{i}": b"v" for i in range(300)})
        if cursor == 0 or calls > 10_000:
            break
    assert cursor == 0
    assert stable <= seen
    assert seen <= wanted | {f"scan:new:{i}".encode() for i in range(300)}


def test_pipeline_without_transaction(client: redis.Redis) -> None:
    pipe = client.pipeline(transaction=False)
    for i in range(2000):
        pipe.set(f"p:{i}", i)
        pipe.incr(f"p:{i}")
        pipe.get(f"p:{i}")
    results = pipe.execute()
    assert results == [item for i in range(2000) for item in (True, i + 1, str(i + 1).encode())]

    pipe = client.pipeline(transaction=False)
    pipe.set("word", "abc").incr("word").get("word").execute_command("NOPE", "x")
    pipe.ping()
    first, error, value, unknown, pong = pipe.execute(raise_on_error=False)
    assert (first, value, pong) == (True, b"abc", True)
    assert isinstance(error, redis.ResponseError)
    assert str(error) == "value is not an integer or out of range"
    assert isinstance(unknown, redis.ResponseError)
    assert str(unknown).startswith("unknown command 'NOPE'")

    pipe = client.pipeline(transaction=False)
    pipe.incr("word").set("after", 1)
    with pytest.raises(redis.ResponseError, match="not an integer"):
        pipe.execute()
    assert client.get("after") == b"1"  # the commands after the error still ran


def test_transactions(client: redis.Redis, server: RunningServer) -> None:
    pipe = client.pipeline(transaction=True)
    pipe.set("tx", 1).incr("tx").get("tx").incrby("tx", 10)
    assert pipe.execute() == [True, 2, b"2", 12]

    other = _connect(server.port, "resp2-pure")
    try:
        with client.pipeline(transaction=True) as pipe:
            pipe.watch("tx")
            assert pipe.get("tx") == b"12"  # immediate mode while watching
            other.set("tx", "changed by another client")
            pipe.multi()
            pipe.set("tx", "lost")
            with pytest.raises(redis.WatchError):
                pipe.execute()
        assert client.get("tx") == b"changed by another client"

        def add_one(pipe: redis.client.Pipeline) -> None:
            value = int(pipe.get("counter") or 0)
            pipe.multi()
            pipe.set("counter", value + 1)

        for _ in range(5):
            client.transaction(add_one, "counter")
        assert client.get("counter") == b"5"

        pipe = client.pipeline(transaction=True)
        pipe.set("text", "abc").incr("text").get("text")
        with pytest.raises(redis.ResponseError, match="not an integer"):
            pipe.execute()
        assert client.get("text") == b"abc"  # the commands around the failed one ran

        pipe = client.pipeline(transaction=True)
        pipe.set("aborted", 1).execute_command("GET")  # wrong arity: queued with an error
        with pytest.raises(redis.ResponseError):
            pipe.execute()
        assert client.exists("aborted") == 0
    finally:
        _close(other)


def test_error_replies_are_redis_exceptions(client: redis.Redis) -> None:
    def error_of(*args: object) -> str:
        with pytest.raises(redis.ResponseError) as caught:
            client.execute_command(*args)
        return str(caught.value)

    assert error_of("FOO", "a", "b") == "unknown command 'FOO', with args beginning with: 'a' 'b' "
    assert error_of("GET") == "wrong number of arguments for 'get' command"
    assert error_of("SET", "k") == "wrong number of arguments for 'set' command"
    assert error_of("SET", "k", "v", "NX", "XX") == "syntax error"
    assert error_of("SET", "k", "v", "EX", "0") == "invalid expire time in 'set' command"
    assert error_of("SET", "k", "v", "EX", "x") == "value is not an integer or out of range"
    assert error_of("SETEX", "k", "-1", "v") == "invalid expire time in 'setex' command"
    client.set("text", "abc")
    assert error_of("INCR", "text") == "value is not an integer or out of range"
    assert error_of("INCRBY", "n", "1.5") == "value is not an integer or out of range"
    assert error_of("INCRBYFLOAT", "text", "1") == "value is not a valid float"
    client.set("big", str(2**63 - 1))
    assert error_of("INCR", "big") == "increment or decrement would overflow"
    assert error_of("EXPIRE", "text", "soon") == "value is not an integer or out of range"
    assert error_of("RENAME", "missing", "x") == "no such key"
    assert error_of("SETRANGE", "text", "-1", "x") == "offset is out of range"
    assert client.get("text") == b"abc"
    assert client.ping() is True  # errors leave the connection usable


@pytest.mark.parametrize("size", [0, 1, 65_535, 65_537, 4 << 20, 24 << 20])
def test_large_and_binary_values(client: redis.Redis, size: int) -> None:
    rng = random.Random(size)
    value = rng.randbytes(size)
    if size > 8:
        value = b"\r\n$5\r\n*1\r\n" + value[10:]  # RESP framing inside a value means nothing
    assert client.set("big", value) is True
    assert client.get("big") == value
    assert client.strlen("big") == size
    assert client.append("big", b"tail") == size + 4
    assert client.getrange("big", -4, -1) == b"tail"
    assert client.getdel("big") == value + b"tail"


def test_many_arguments(client: redis.Redis) -> None:
    mapping = {f"many:{i}".encode(): str(i).encode() * (i % 7) for i in range(5000)}
    assert client.mset(mapping) is True
    assert client.mget(list(mapping)) == list(mapping.values())
    assert client.delete(*mapping) == 5000


# -- redis-cli ------------------------------------------------------------------


def _redis_cli(port: int, *args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [tool("redis-cli"), "-h", HOST, "-p", str(port), *args],
        input=stdin,
        capture_output=True,
        timeout=TOOL_TIMEOUT,
        check=False,
    )


def test_redis_cli_commands(server: RunningServer) -> None:
    def cli(*args: str) -> bytes:
        result = _redis_cli(server.port, *args)
        assert result.returncode == 0, result
        assert result.stderr == b""
        return result.stdout

    assert cli("PING") == b"PONG\n"
    assert cli("SET", "cli:k", "hello world") == b"OK\n"
    assert cli("GET", "cli:k") == b"hello world\n"
    assert cli("GET", "cli:missing") == b"\n"
    assert cli("SET", "cli:n", "41") == b"OK\n"
    assert cli("INCR", "cli:n") == b"42\n"
    assert cli("EXPIRE", "cli:n", "100") == b"1\n"
    assert cli("TTL", "cli:n") in (b"99\n", b"100\n")
    assert cli("TTL", "cli:missing") == b"-2\n"
    # redis-cli prints an error reply, then an empty line (and still exits 0).
    assert cli("INCR", "cli:k") == b"ERR value is not an integer or out of range\n\n"
    # Commands read from standard input, one per line, on one connection.
    lines = b"SET cli:s 1\nINCR cli:s\nINCRBY cli:s 10\nGET cli:s\nDEL cli:s cli:n cli:k\n"
    assert _redis_cli(server.port, stdin=lines).stdout == b"OK\n2\n12\n12\n3\n"


def test_redis_cli_interactive(server: RunningServer) -> None:
    """redis-cli's prompt on a terminal: it starts (asking COMMAND DOCS) and runs commands."""
    prompt = f"127.0.0.1:{server.port}> ".encode()
    master, slave = os.openpty()
    try:
        process = subprocess.Popen(
            [tool("redis-cli"), "-h", HOST, "-p", str(server.port)],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env={**os.environ, "TERM": "dumb"},  # linenoise: plain line input, no escapes
        )
    finally:
        os.close(slave)

    def until(expected: bytes) -> bytes:
        """What the terminal shows up to ``expected``; fails after TOOL_TIMEOUT."""
        shown = b""
        deadline = time.monotonic() + TOOL_TIMEOUT
        with selectors.DefaultSelector() as selector:
            selector.register(master, selectors.EVENT_READ)
            while not shown.endswith(expected):
                left = deadline - time.monotonic()
                assert left > 0 and selector.select(left), shown
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # EIO: the terminal's other side closed
                    chunk = b""
                assert chunk, shown
                shown += chunk
        return shown

    try:
        assert until(prompt) == prompt
        for line, reply in (
            (b"SET cli:i 41", b"OK"),
            (b"INCR cli:i", b"(integer) 42"),
            (b"GET cli:i", b'"42"'),
            (b"EXPIRE cli:i 100", b"(integer) 1"),
            (b"DEL cli:i", b"(integer) 1"),
            (b"GET cli:i", b"(nil)"),
            (b"NOSUCH", b"(error) ERR unknown command 'NOSUCH', with args beginning with: "),
        ):
            os.write(master, line + b"\n")
            assert until(prompt) == line + b"\r\n" + reply + b"\r\n" + prompt
        os.write(master, b"quit\n")
        assert process.wait(TOOL_TIMEOUT) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(STOP_TIMEOUT)
        os.close(master)


def test_redis_cli_pipe(server: RunningServer) -> None:
    count = 20_000
    stream = b"".join(
        _command(b"SET", b"pipe:%d" % i, b"value %d\r\n" % i)
        if i % 4
        else _command(b"INCRBY", b"pipe:counter", b"%d" % i)
        for i in range(count)
    )
    result = _redis_cli(server.port, "--pipe", stdin=stream)
    out = result.stdout.decode()
    assert result.returncode == 0, result
    assert out.splitlines()[-1] == f"errors: 0, replies: {count}", out
    check = _connect(server.port, "resp2-pure")
    try:
        assert check.get("pipe:1") == b"value 1\r\n"
        assert check.get(f"pipe:{count - 1}") == f"value {count - 1}\r\n".encode()
        assert check.get("pipe:counter") == str(sum(range(0, count, 4))).encode()
        assert check.delete(*(f"pipe:{i}" for i in range(count) if i % 4)) == count * 3 // 4
    finally:
        _close(check)

    # An error reply in the stream is counted by redis-cli as an error.
    result = _redis_cli(
        server.port,
        "--pipe",
        stdin=_command(b"SET", b"pipe:x", b"a") + _command(b"INCR", b"pipe:x"),
    )
    assert result.stdout.decode().splitlines()[-1] == "errors: 1, replies: 2"
    assert b"value is not an integer or out of range" in result.stderr


# -- redis-benchmark --------------------------------------------------------------

BENCHMARK_TESTS = ("PING_INLINE", "PING_MBULK", "SET", "GET", "INCR", "MSET (10 keys)")


def test_redis_benchmark_completes_without_errors(server: RunningServer) -> None:
    command = [
        tool("redis-benchmark"), "-h", HOST, "-p", str(server.port),
        "-t", "ping_inline,ping_mbulk,set,get,incr,mset", "-n", "20000", "-q",
    ]  # fmt: skip
    result = subprocess.run(
        command,
        capture_output=True,
        timeout=TOOL_TIMEOUT,
        check=False,
    )
    out = result.stdout.decode(errors="replace")
    err = result.stderr.decode(errors="replace")
    assert result.returncode == 0, (out, err)
    # -q rewrites a progress line with \r; the final figure of each test ends with \n.
    finals = [part.strip() for line in out.split("\n") for part in line.split("\r")[-1:]]
    for name in BENCHMARK_TESTS:
        pattern = rf"{re.escape(name)}: [0-9.]+ requests per second(, p50=[0-9.]+ msec)?"
        assert any(re.fullmatch(pattern, line) for line in finals), (name, out)
    # redis-benchmark asks for CONFIG GET, which is not a command of this server: it warns.
    other = [line for line in err.splitlines() if line != "WARNING: Could not fetch server CONFIG"]
    assert other == [], err
    assert "rror" not in out


# -- protocol errors ----------------------------------------------------------------


def _exchange(port: int, data: bytes) -> bytes:
    """Send ``data``, then read to the server's FIN (a reset raises)."""
    with socket.create_connection((HOST, port), timeout=SOCKET_TIMEOUT) as sock:
        sock.sendall(data)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        return received


GARBAGE = [
    b"*1\r\n$x\r\n",  # invalid bulk length
    b"*abc\r\n",  # invalid multibulk length
    b"*1\r\n+PING\r\n",  # expected '$', got '+'
    b"*2\r\n$3\r\nGET\r\n$-1\r\n",
    b'SET "unbalanced 1\r\n',  # inline, unbalanced quotes
    b"*1\r\n$4\r\nPING\r\n*1\r\n$99999999999999999999\r\n",
    b"*1\r\n$536870913\r\n",  # one byte over Redis's default proto-max-bulk-len
    b"*" + b"1" * 70_000,  # too big mbulk count string
    b"*1\r\n$" + b"1" * 70_000,  # too big bulk count string
    b"PING\r\nPING " + b"x" * 70_000,  # too big inline request
    b"*1\r\n$4\r\nPING\r\n" + b"y" * 70_000,
]


@pytest.mark.parametrize("garbage", GARBAGE, ids=range(len(GARBAGE)))
def test_garbage_client_gets_protocol_error_and_is_closed(
    server: RunningServer, redis_server: int, garbage: bytes
) -> None:
    good = _connect(server.port, "resp3-hiredis")
    try:
        good.delete("survivor", "survivor:n")
        assert good.set("survivor", "still here") is True
        got = _exchange(server.port, garbage)
        expected = _exchange(redis_server, garbage)
        assert b"-ERR Protocol error" in expected  # the case is one Redis calls a protocol error
        assert got == expected
        assert good.get("survivor") == b"still here"
        assert good.incr("survivor:n") == 1
    finally:
        _close(good)


# -- byte-for-byte replies against redis-server ------------------------------------


def _skip_reply(data: bytes, pos: int) -> int:
    """The offset just after the RESP2/RESP3 reply at ``pos``."""
    kind = data[pos : pos + 1]
    eol = data.index(b"\r\n", pos)
    head = data[pos + 1 : eol]
    pos = eol + 2
    if kind in (b"$", b"=", b"!"):
        size = int(head)
        return pos if size < 0 else pos + size + 2
    if kind in (b"*", b"~", b">", b"%", b"|"):
        count = int(head) * (2 if kind in (b"%", b"|") else 1)
        for _ in range(max(count, 0)):
            pos = _skip_reply(data, pos)
        return _skip_reply(data, pos) if kind == b"|" else pos
    assert kind in (b"+", b"-", b":", b"_", b",", b"#", b"("), data[pos - 40 : pos + 40]
    return pos


def _split_replies(data: bytes) -> list[bytes]:
    replies, pos = [], 0
    while pos < len(data):
        end = _skip_reply(data, pos)
        replies.append(data[pos:end])
        pos = end
    return replies


SCRIPT: list[bytes | tuple[bytes, ...]] = [
    # Each entry is a command (argv) sent as multibulk, or raw bytes sent as they are.
    (b"FLUSHALL",),
    (b"PING",),
    (b"PING", b"hello"),
    (b"PING", b"a", b"b"),
    (b"ECHO", b"bin\x00\r\nary"),
    (b"ECHO",),
    (b"SET", b"o:k", b"v"),
    (b"GET", b"o:k"),
    (b"GET", b"o:missing"),
    (b"get", b"o:k"),
    (b"SET", b"o:k", b"v2", b"NX"),
    (b"SET", b"o:k", b"v2", b"XX", b"GET"),
    (b"SET", b"o:new", b"x", b"XX"),
    (b"SET", b"o:k", b"v", b"NX", b"XX"),
    (b"SET", b"o:k", b"v", b"EX", b"10", b"PX", b"100"),
    (b"SET", b"o:k", b"v", b"KEEPTTL", b"EX", b"10"),
    (b"SET", b"o:k", b"v", b"EX", b"0"),
    (b"SET", b"o:k", b"v", b"EX", b"-1"),
    (b"SET", b"o:k", b"v", b"EX", b"abc"),
    (b"SET", b"o:k", b"v", b"EX", b"9999999999999999"),
    (b"SET", b"o:k", b"v", b"PX", b"1.5"),
    (b"SET", b"o:k", b"v", b"BOGUS"),
    (b"SET", b"o:k"),
    (b"SET", b"o:t", b"v", b"EX", b"100"),
    (b"TTL", b"o:t"),
    (b"SET", b"o:t", b"w", b"KEEPTTL"),
    (b"TTL", b"o:t"),
    (b"GETEX", b"o:t", b"PERSIST"),
    (b"TTL", b"o:t"),
    (b"GETEX", b"o:t", b"EX", b"50"),
    (b"TTL", b"o:t"),
    (b"GETEX", b"o:t", b"PERSIST", b"EX", b"10"),
    (b"GETEX", b"o:missing"),
    (b"GETDEL", b"o:t"),
    (b"GETDEL", b"o:t"),
    (b"SETNX", b"o:nx", b"1"),
    (b"SETNX", b"o:nx", b"2"),
    (b"SETEX", b"o:ex", b"100", b"v"),
    (b"TTL", b"o:ex"),
    (b"SETEX", b"o:ex", b"0", b"v"),
    (b"SETEX", b"o:ex", b"x", b"v"),
    (b"PSETEX", b"o:pex", b"100000", b"v"),
    (b"TTL", b"o:pex"),
    (b"MSET", b"o:a", b"1", b"o:b", b"2"),
    (b"MSET", b"o:a"),
    (b"MSET", b"o:a", b"1", b"o:b"),
    (b"MGET", b"o:a", b"o:missing", b"o:b"),
    (b"MSETNX", b"o:a", b"9", b"o:c", b"3"),
    (b"MSETNX", b"o:c", b"3", b"o:d", b"4"),
    (b"EXISTS", b"o:a", b"o:a", b"o:missing", b"o:c"),
    (b"TYPE", b"o:a"),
    (b"TYPE", b"o:missing"),
    (b"DEL", b"o:a", b"o:missing"),
    (b"DEL",),
    (b"UNLINK", b"o:b", b"o:c"),
    (b"EXPIRE", b"o:d", b"100"),
    (b"TTL", b"o:d"),
    (b"EXPIRE", b"o:d", b"abc"),
    (b"EXPIRE", b"o:missing", b"100"),
    (b"TTL", b"o:missing"),
    (b"PERSIST", b"o:d"),
    (b"PERSIST", b"o:d"),
    (b"TTL", b"o:d"),
    (b"PEXPIRE", b"o:d", b"100000"),
    (b"TTL", b"o:d"),
    (b"EXPIREAT", b"o:d", b"1"),
    (b"GET", b"o:d"),
    (b"INCR", b"o:n"),
    (b"INCRBY", b"o:n", b"10"),
    (b"INCRBY", b"o:n", b"1.5"),
    (b"DECR", b"o:n"),
    (b"DECRBY", b"o:n", b"-5"),
    (b"DECRBY", b"o:n", b"-9223372036854775808"),
    (b"INCR", b"o:k"),
    (b"SET", b"o:max", b"9223372036854775807"),
    (b"INCR", b"o:max"),
    (b"SET", b"o:blank", b" 1"),
    (b"INCR", b"o:blank"),
    (b"INCRBYFLOAT", b"o:f", b"10.5"),
    (b"INCRBYFLOAT", b"o:f", b"0.1"),
    (b"INCRBYFLOAT", b"o:f", b"-5.0e3"),
    (b"INCRBYFLOAT", b"o:f", b"abc"),
    (b"INCRBYFLOAT", b"o:k", b"1"),
    (b"INCRBYFLOAT", b"o:g", b"3"),
    (b"APPEND", b"o:s", b"Hello"),
    (b"APPEND", b"o:s", b" World"),
    (b"STRLEN", b"o:s"),
    (b"STRLEN", b"o:missing"),
    (b"GETRANGE", b"o:s", b"0", b"4"),
    (b"GETRANGE", b"o:s", b"-5", b"-1"),
    (b"GETRANGE", b"o:s", b"5", b"2"),
    (b"GETRANGE", b"o:s", b"0", b"x"),
    (b"GETRANGE", b"o:missing", b"0", b"-1"),
    (b"SETRANGE", b"o:s", b"6", b"Redis"),
    (b"SETRANGE", b"o:pad", b"3", b"x"),
    (b"GET", b"o:pad"),
    (b"SETRANGE", b"o:s", b"-1", b"x"),
    (b"SETRANGE", b"o:missing", b"0", b""),
    (b"RENAME", b"o:s", b"o:s2"),
    (b"RENAME", b"o:s2", b"o:s2"),
    (b"RENAME", b"o:missing", b"o:x"),
    (b"KEYS", b"o:s*"),
    (b"SCAN", b"0", b"MATCH", b"o:s*", b"COUNT", b"1000"),
    (b"SCAN", b"x"),
    (b"DBSIZE",),
    (b"SELECT", b"0"),
    (b"SELECT", b"x"),
    (b"CLIENT", b"GETNAME"),
    (b"CLIENT", b"SETNAME", b"oracle"),
    (b"CLIENT", b"GETNAME"),
    (b"CLIENT", b"SETNAME", b"has space"),
    (b"CLIENT", b"NOSUCH"),
    (b"NOSUCH", b"a", b"b"),
    (b"NOSUCH",),
    (b"",),
    b"PING\r\n",
    b"  set   o:i   5  \r\n",
    b"INCR o:i\r\n",
    b'ECHO "two words" \'single\' "\\x41\\n"\r\n',  # three arguments: wrong arity
    b'ECHO "two \\x41words\\n\\"\\\\"\r\n',
    b"SET o:q 'single \"quoted\"'\r\n",
    b"GET o:q\r\n",
    b"GET o:i\r\n",
    (b"MULTI",),
    (b"SET", b"o:tx", b"1"),
    (b"INCR", b"o:tx"),
    (b"INCR", b"o:q"),  # fails when EXEC runs it; the others still run
    (b"GET", b"o:tx"),
    (b"EXEC",),
    (b"MULTI",),
    (b"MULTI",),
    (b"WATCH", b"o:tx"),
    (b"GET",),  # a queuing error: EXEC aborts
    (b"SET", b"o:tx", b"never"),
    (b"EXEC",),
    (b"GET", b"o:tx"),
    (b"EXEC",),
    (b"DISCARD",),
    (b"MULTI",),
    (b"SET", b"o:tx", b"discarded"),
    (b"DISCARD",),
    (b"WATCH", b"o:tx", b"o:missing"),
    (b"SET", b"o:tx", b"changed"),  # this connection's own write still breaks the watch
    (b"MULTI",),
    (b"GET", b"o:tx"),
    (b"EXEC",),
    (b"WATCH", b"o:tx"),
    (b"UNWATCH",),
    (b"SET", b"o:tx", b"again"),
    (b"MULTI",),
    (b"GET", b"o:tx"),
    (b"EXEC",),
    (b"FLUSHDB",),
    (b"DBSIZE",),
]

RESP3_SCRIPT: list[bytes | tuple[bytes, ...]] = [
    (b"HELLO", b"3"),  # its reply names the server: not compared
    (b"FLUSHALL",),
    (b"GET", b"o3:missing"),
    (b"SET", b"o3:a", b"1"),
    (b"MGET", b"o3:a", b"o3:missing"),
    (b"SET", b"o3:a", b"2", b"NX"),
    (b"SET", b"o3:a", b"2", b"GET"),
    (b"GETEX", b"o3:missing"),
    (b"GETDEL", b"o3:missing"),
    (b"EXISTS", b"o3:a"),
    (b"TTL", b"o3:a"),
    (b"INCRBYFLOAT", b"o3:f", b"1.25"),
    (b"CLIENT", b"GETNAME"),
    (b"KEYS", b"o3:a*"),
    (b"SCAN", b"0", b"MATCH", b"o3:a*", b"COUNT", b"1000"),
    (b"TYPE", b"o3:a"),
    (b"PING",),
    (b"ECHO", b"x"),
    (b"NOSUCH",),
    b"GET o3:missing\r\n",
    (b"MULTI",),
    (b"GET", b"o3:missing"),
    (b"INCR", b"o3:a"),
    (b"EXEC",),
    (b"WATCH", b"o3:a"),
    (b"SET", b"o3:a", b"x"),
    (b"MULTI",),
    (b"GET", b"o3:a"),
    (b"EXEC",),  # the watch broke: a null reply
    (b"FLUSHALL",),
]


def _replay(port: int, script: Sequence[bytes | tuple[bytes, ...]]) -> list[bytes]:
    stream = b"".join(item if isinstance(item, bytes) else _command(*item) for item in script)
    return _split_replies(_exchange(port, stream + _command(b"QUIT")))


@pytest.mark.parametrize("script", [SCRIPT, RESP3_SCRIPT], ids=["resp2", "resp3"])
def test_replies_match_redis_server_byte_for_byte(
    server: RunningServer, redis_server: int, script: list[bytes | tuple[bytes, ...]]
) -> None:
    expected = _replay(redis_server, script)
    got = _replay(server.port, script)
    assert len(expected) == len(script) + 1  # the oracle answered every command, then QUIT
    labels = [repr(item) for item in [*script, b"QUIT"]]
    compared = range(1 if script is RESP3_SCRIPT else 0, len(labels))
    assert [(labels[i], got[i] if i < len(got) else None) for i in compared] == [
        (labels[i], expected[i]) for i in compared
    ]


def test_replies_do_not_depend_on_how_the_stream_is_cut(server: RunningServer) -> None:
    stream = b"".join(item if isinstance(item, bytes) else _command(*item) for item in SCRIPT)
    stream += _command(b"QUIT")
    whole = _exchange(server.port, stream)
    rng = random.Random(20261127)
    for _round in range(3):
        with socket.create_connection((HOST, server.port), timeout=SOCKET_TIMEOUT) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            offset = 0
            while offset < len(stream):
                size = rng.choice((1, 1, 2, 3, 7, 16, 100))
                sock.sendall(stream[offset : offset + size])
                offset += size
                if rng.random() < 0.1:
                    time.sleep(0.001)  # let the server read what was sent so far
            received = b""
            while chunk := sock.recv(65536):
                received += chunk
        assert _split_replies(received) == _split_replies(whole)


def test_concurrent_clients_see_each_others_writes(server: RunningServer) -> None:
    clients = [_connect(server.port, kind) for kind in CLIENT_KINDS for _ in range(3)]
    rounds, per_round = 20, 50

    def work(index: int) -> list[int]:
        client = clients[index]
        seen = []
        for _ in range(rounds):
            pipe = client.pipeline(transaction=False)
            for _ in range(per_round):
                pipe.incr("shared:counter")
            pipe.set(f"shared:{index}", index)
            seen.extend(pipe.execute()[:-1])
        return seen

    try:
        clients[0].delete("shared:counter")
        with ThreadPoolExecutor(max_workers=len(clients)) as pool:
            results = list(pool.map(work, range(len(clients))))
        total = len(clients) * rounds * per_round
        assert clients[0].get("shared:counter") == str(total).encode()
        # INCR is atomic: every value from 1 to total was returned to exactly one client.
        assert sorted(value for seen in results for value in seen) == list(range(1, total + 1))
        for seen in results:
            assert seen == sorted(seen)  # one client's replies come back in order
        assert clients[-1].mget([f"shared:{i}" for i in range(len(clients))]) == [
            str(i).encode() for i in range(len(clients))
        ]
    finally:
        for client in clients:
            _close(client)
