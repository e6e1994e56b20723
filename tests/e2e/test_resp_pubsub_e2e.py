"""Pub/sub end to end: redis-cli and redis-py clients, and byte-for-byte against ``redis-server``.

``wireproto serve`` and a real ``redis-server`` run side by side. Each
differential case drives two connections per server: a subscriber (RESP2 or
RESP3) and a publisher/writer, with Hypothesis-drawn command sequences over a
few channels and patterns, and compares every reply and pushed message.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis
from _drive import resp_command as cmd
from _serve import HOST, RunningServer, redis_server, serve, tool
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

TIMEOUT = 10.0
MARKER = b"--end--"
END = b"$%d\r\n%s\r\n" % (len(MARKER), MARKER)


@pytest.fixture(scope="module")
def redis_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    with redis_server(tmp_path_factory.mktemp("redis-pubsub")) as port:
        yield port


@pytest.fixture(scope="module")
def ours(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    log = tmp_path_factory.mktemp("pubsub") / "serve.log"
    with serve(log, formats={"resp"}) as server:
        yield server


# -- a raw RESP reply splitter --------------------------------------------------------


def _reply_end(data: bytes, pos: int) -> int:
    """Where the reply starting at ``pos`` ends."""
    line_end = data.index(b"\r\n", pos)
    kind, header = data[pos : pos + 1], data[pos + 1 : line_end]
    pos = line_end + 2
    if kind in (b"$", b"=", b"!"):
        size = int(header)
        return pos if size < 0 else pos + size + 2
    if kind in (b"*", b">", b"~", b"%"):
        count = int(header) * (2 if kind == b"%" else 1)
        for _ in range(max(count, 0)):
            pos = _reply_end(data, pos)
        return pos
    return pos


def split_replies(data: bytes) -> list[bytes]:
    """Top-level replies (and pushes) of ``data``, in order."""
    replies, pos = [], 0
    while pos < len(data):
        end = _reply_end(data, pos)
        replies.append(data[pos:end])
        pos = end
    return replies


class Side:
    """A subscriber and a writer connection to one server."""

    def __init__(self, port: int, resp3: bool) -> None:
        self.sub = socket.create_connection((HOST, port), timeout=TIMEOUT)
        self.writer = socket.create_connection((HOST, port), timeout=TIMEOUT)
        if resp3:
            self.sub.sendall(cmd("HELLO", 3))
            self._read_until(self.sub, b"modules\r\n*0\r\n")

    def close(self) -> None:
        self.sub.close()
        self.writer.close()

    @staticmethod
    def _read_until(sock: socket.socket, end: bytes) -> bytes:
        data = b""
        for _ in range(10_000):  # bounded: a few KB per exchange
            if data.endswith(end):
                return data
            chunk = sock.recv(65536)
            assert chunk, "the server closed the connection"
            data += chunk
        raise AssertionError(data)

    def on_sub(self, command: tuple[bytes, ...]) -> bytes:
        """``command`` on the subscriber, with what was pushed to it before."""
        self.sub.sendall(cmd(*command) + cmd("PING", MARKER))
        return self._read_until(self.sub, END)

    def on_writer(self, command: tuple[bytes, ...]) -> tuple[bytes, bytes]:
        """``command`` on the writer; its reply and what the subscriber was sent meanwhile."""
        self.writer.sendall(cmd(*command) + cmd("ECHO", MARKER))
        reply = self._read_until(self.writer, END)
        self.sub.sendall(cmd("PING", MARKER))
        return reply, self._read_until(self.sub, END)


def _comparable(command: tuple[bytes, ...], raw: bytes) -> object:
    """The replies, with the ones whose order is Redis's hash order sorted."""
    replies = split_replies(raw)
    if command[0].lower().endswith(b"unsubscribe") and len(command) == 1:
        # UNSUBSCRIBE with no channel leaves them in hash-table order: compare the set of
        # (kind, name) and the counts, which fall by one whatever the order.
        leaving = [r for r in replies if b"unsubscribe\r\n" in r]
        others = [r for r in replies if b"unsubscribe\r\n" not in r]
        names = sorted(r.rsplit(b"\r\n:", 1)[0] for r in leaving)
        return names, [r.rsplit(b":", 1)[1] for r in leaving], others
    return replies


CHANNELS = [b"a", b"b", b"ab"]
PATTERNS = [b"a*", b"?b", b"*"]
NAMES = st.sampled_from(CHANNELS)

SUB_COMMANDS = st.one_of(
    st.tuples(st.sampled_from([b"SUBSCRIBE", b"SSUBSCRIBE"]), NAMES).map(tuple),
    st.lists(NAMES, min_size=1, max_size=2).map(lambda names: (b"SUBSCRIBE", *names)),
    st.tuples(st.just(b"PSUBSCRIBE"), st.sampled_from(PATTERNS)),
    st.lists(NAMES, max_size=2).map(lambda names: (b"UNSUBSCRIBE", *names)),
    st.lists(NAMES, max_size=1).map(lambda names: (b"SUNSUBSCRIBE", *names)),
    st.lists(st.sampled_from(PATTERNS), max_size=1).map(lambda p: (b"PUNSUBSCRIBE", *p)),
    st.sampled_from([(b"PING",), (b"PING", b"x"), (b"GET", b"k"), (b"PUBLISH", b"a", b"self")]),
    st.sampled_from([(b"PUBSUB", b"NUMPAT"), (b"PUBSUB", b"NUMSUB", b"a", b"ab")]),
)
WRITER_COMMANDS = st.one_of(
    st.tuples(st.sampled_from([b"PUBLISH", b"SPUBLISH"]), NAMES, st.sampled_from([b"m", b""])),
    st.sampled_from([(b"PUBSUB", b"SHARDNUMSUB", b"a", b"b"), (b"PUBSUB", b"CHANNELS", b"z*")]),
)
STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("sub"), SUB_COMMANDS), st.tuples(st.just("writer"), WRITER_COMMANDS)
    ),
    min_size=1,
    max_size=12,
)


@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
def test_pubsub_sequences_match_redis(redis_port: int, ours: RunningServer, resp3: bool) -> None:
    @settings(
        max_examples=40,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(STEPS)
    def run(steps: list[tuple[str, tuple[bytes, ...]]]) -> None:
        theirs, mine = Side(redis_port, resp3), Side(ours.port, resp3)
        try:
            for where, command in steps:
                if where == "sub":
                    expected = theirs.on_sub(command)
                    got = mine.on_sub(command)
                    assert _comparable(command, got) == _comparable(command, expected), command
                else:
                    reply, pushed = mine.on_writer(command)
                    expected_reply, expected_pushed = theirs.on_writer(command)
                    assert reply == expected_reply, command
                    # Redis delivers to patterns in hash-table order: compare them as a set.
                    assert sorted(split_replies(pushed)) == sorted(
                        split_replies(expected_pushed)
                    ), command
        finally:
            theirs.close()
            mine.close()

    run()


KEY_COMMANDS = st.sampled_from(
    [
        (b"SET", b"k", b"1"),
        (b"SET", b"k", b"1", b"EX", b"100"),
        (b"SETEX", b"j", b"100", b"v"),
        (b"GETDEL", b"k"),
        (b"DEL", b"k", b"j"),
        (b"INCR", b"k"),
        (b"INCRBYFLOAT", b"k", b"1.5"),
        (b"APPEND", b"j", b"xy"),
        (b"SETRANGE", b"j", b"1", b"zz"),
        (b"EXPIRE", b"k", b"100"),
        (b"PERSIST", b"k"),
        (b"RENAME", b"k", b"j"),
        (b"GETEX", b"j", b"PX", b"100000"),
        (b"MSET", b"k", b"1", b"j", b"2"),
    ]
)


@pytest.mark.parametrize("events", ["KEA", "K$", "Eg", "KExg$"])
def test_keyspace_notifications_match_redis(
    redis_port: int, ours: RunningServer, events: str
) -> None:
    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(st.lists(KEY_COMMANDS, min_size=1, max_size=8))
    def run(commands: list[tuple[bytes, ...]]) -> None:
        sides = []
        for port in (redis_port, ours.port):
            side = Side(port, resp3=False)
            side.on_writer((b"FLUSHALL",))
            side.on_writer((b"CONFIG", b"SET", b"notify-keyspace-events", events.encode()))
            side.on_sub((b"PSUBSCRIBE", b"__key*__:*"))
            sides.append(side)
        try:
            for command in commands:
                assert sides[1].on_writer(command) == sides[0].on_writer(command), command
        finally:
            for side in sides:
                side.on_writer((b"CONFIG", b"SET", b"notify-keyspace-events", b""))
                side.close()

    run()


# -- real clients ---------------------------------------------------------------------


def _cli_subscribe_then_publish(port: int, tmp_path: Path) -> str:
    """redis-cli SUBSCRIBE in one process, redis-cli PUBLISH in others; what the first printed."""
    cli = tool("redis-cli")
    out = tmp_path / f"sub-{port}.txt"
    with out.open("wb") as sink:
        subscriber = subprocess.Popen(
            [cli, "-h", HOST, "-p", str(port), "SUBSCRIBE", "news", "more"],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + TIMEOUT
        publisher = redis.Redis(host=HOST, port=port, socket_timeout=TIMEOUT)
        while publisher.pubsub_numsub("more")[0][1] < 1:  # both subscriptions are in
            assert time.monotonic() < deadline, out.read_text()
            time.sleep(0.02)
        for args in (["news", "hello"], ["more", "world"], ["none", "x"]):
            result = subprocess.run(
                [cli, "-h", HOST, "-p", str(port), "PUBLISH", *args],
                capture_output=True,
                timeout=TIMEOUT,
                check=True,
            )
            assert result.stdout == (b"0\n" if args[0] == "none" else b"1\n")
        while out.read_text().count("\n") < 12:
            assert time.monotonic() < deadline, out.read_text()
            time.sleep(0.02)
        publisher.close()
    finally:
        subscriber.terminate()
        subscriber.wait(TIMEOUT)
    return out.read_text()


def test_redis_cli_subscriber_sees_what_redis_cli_publishes(
    redis_port: int, ours: RunningServer, tmp_path: Path
) -> None:
    expected = _cli_subscribe_then_publish(redis_port, tmp_path)
    assert "hello" in expected
    assert _cli_subscribe_then_publish(ours.port, tmp_path) == expected


@pytest.mark.parametrize("protocol", [2, 3])
def test_redis_py_pubsub(ours: RunningServer, protocol: int) -> None:
    client = redis.Redis(host=HOST, port=ours.port, socket_timeout=TIMEOUT, protocol=protocol)
    pubsub = client.pubsub()
    pubsub.subscribe("chan")
    pubsub.psubscribe("ch*")
    for kind in ("subscribe", "psubscribe"):
        message = pubsub.get_message(timeout=TIMEOUT)
        assert message is not None and message["type"] == kind
    assert client.publish("chan", "payload") == 2
    received = [pubsub.get_message(timeout=TIMEOUT) for _ in range(2)]
    assert [(m["type"], m["data"]) for m in received if m] == [
        ("message", b"payload"),
        ("pmessage", b"payload"),
    ]
    assert client.pubsub_numsub("chan") == [(b"chan", 1)]
    assert client.pubsub_numpat() == 1
    pubsub.unsubscribe()
    pubsub.punsubscribe()
    pubsub.close()
    deadline = time.monotonic() + TIMEOUT
    while client.pubsub_numpat():  # the server sees the connection close
        assert time.monotonic() < deadline
        time.sleep(0.02)
    client.close()


def _after_subscribe(port: int, command: tuple[str, ...]) -> tuple[bytes, bool]:
    """What a RESP2 connection receives for ``command`` sent after SUBSCRIBE; whether the
    server closed it (QUIT)."""
    with socket.create_connection((HOST, port), timeout=TIMEOUT) as sock:
        sock.sendall(cmd("SUBSCRIBE", "c") + cmd(*command))
        sock.settimeout(0.4)
        received = b""
        for _ in range(1000):  # bounded: a few small replies
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                return received, False
            if not chunk:
                return received, True
            received += chunk
    raise AssertionError(received)


@pytest.mark.parametrize(
    "command",
    [
        ("ECHO", "x"),
        ("SELECT", "1"),
        ("MULTI",),
        ("HELLO", "2"),
        ("AUTH", "x"),
        ("CLIENT", "SETNAME", "n"),
        ("QUIT",),
        ("RESET",),
        ("SSUBSCRIBE", "s"),
        ("SUNSUBSCRIBE",),
        ("PUNSUBSCRIBE",),
        ("PSUBSCRIBE", "p*"),
        ("PING", "m"),
        ("NOSUCH",),
    ],
)
def test_a_subscribed_resp2_connection_accepts_what_redis_accepts(
    redis_port: int, ours: RunningServer, command: tuple[str, ...]
) -> None:
    theirs = _after_subscribe(redis_port, command)
    assert theirs[0].startswith(b"*3\r\n$9\r\nsubscribe\r\n")
    assert _after_subscribe(ours.port, command) == theirs


def _asyncio_session(port: int) -> object:
    """A redis-py asyncio client's pipeline, pub/sub, blocking pop and database URL."""

    async def session() -> object:
        client = aioredis.Redis.from_url(f"redis://{HOST}:{port}/2", socket_timeout=TIMEOUT)
        other = aioredis.Redis(host=HOST, port=port, socket_timeout=TIMEOUT)
        try:
            await client.flushall()
            pipeline = client.pipeline(transaction=True)
            pipeline.set("k", "v").incr("n").rpush("l", "a", "b").get("k")
            results = await pipeline.execute()
            pubsub = client.pubsub()
            await pubsub.subscribe("z")
            assert await client.publish("z", "m") == 1
            message = None
            for _ in range(20):  # bounded: the subscribe confirmation first
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)
                if message is not None:
                    break
            await pubsub.aclose()
            popped = await client.blpop(["l"], timeout=1)
            timed_out = await client.blpop(["nothing"], timeout=0.1)
            return results, message, popped, timed_out, await other.dbsize()
        finally:
            await client.aclose()
            await other.aclose()

    return asyncio.run(session())


def test_redis_py_asyncio_client_sees_what_redis_shows(
    redis_port: int, ours: RunningServer
) -> None:
    theirs = _asyncio_session(redis_port)
    assert theirs == (
        [True, 1, 2, b"v"],
        {"type": "message", "pattern": None, "channel": b"z", "data": b"m"},
        (b"l", b"a"),
        None,
        0,
    )
    assert _asyncio_session(ours.port) == theirs


def _messages_until_dropped(port: int) -> int | None:
    """How many 100 KB messages a subscriber that reads nothing takes before the server
    drops it (PUBLISH then reaches nobody); None if it is not dropped within 64 MB."""
    with (
        socket.create_connection((HOST, port), timeout=TIMEOUT) as subscriber,
        socket.create_connection((HOST, port), timeout=TIMEOUT) as publisher,
    ):
        subscriber.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        subscriber.sendall(cmd("SUBSCRIBE", "big"))
        assert subscriber.recv(64).startswith(b"*3\r\n")
        payload = b"x" * 100_000
        for sent in range(640):
            publisher.sendall(cmd("PUBLISH", "big", payload))
            reply = publisher.recv(16)
            if reply == b":0\r\n":
                return sent
            assert reply == b":1\r\n"
    return None


def test_a_slow_subscriber_is_dropped_near_redis_pubsub_limit(
    redis_port: int, ours: RunningServer
) -> None:
    """Both drop a subscriber that reads nothing once about 32 MiB waits for it (socket
    buffers hold a few MB more, so the counts differ a little)."""
    theirs = _messages_until_dropped(redis_port)
    assert theirs is not None and 320 <= theirs < 520
    mine = _messages_until_dropped(ours.port)
    assert mine is not None and 320 <= mine < 520
