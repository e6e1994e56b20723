"""CONFIG SET of the run-time limits beside redis-server 7.0: the replies byte for byte
(valid and invalid values), then each limit taking effect for real clients (redis-py,
pymemcache, raw sockets) at max and max+1.

``maxclients`` is the listener's admission: it holds for every format on the port.
"""

from __future__ import annotations

import contextlib
import re
import socket
import time
from collections.abc import Iterator

import hiredis
import pytest
import redis
from _drive import resp_command as cmd
from _serve import HOST, NO_RETRY, RunningServer, redis_server, serve
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymemcache.client.base import Client as MemcacheClient

MB = 1024 * 1024
DEFAULTS = {
    "maxclients": "10000",
    "timeout": "0",
    "proto-max-bulk-len": "536870912",
    "client-query-buffer-limit": "1073741824",
    "stream-node-max-bytes": "4096",
    "stream-node-max-entries": "100",
    "zset-max-listpack-entries": "128",
    "hash-max-ziplist-value": "64",
    "set-max-intset-entries": "512",
}


@pytest.fixture(scope="module")
def redis_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    with redis_server(tmp_path_factory.mktemp("redis-limits")) as port:
        yield port


@pytest.fixture(scope="module")
def ours(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    log = tmp_path_factory.mktemp("limits") / "serve.log"
    with serve(log, formats={"resp", "memcache-text"}) as server:
        yield server


@pytest.fixture(params=["redis-server", "wireproto"])
def port(request: pytest.FixtureRequest, redis_port: int, ours: RunningServer) -> Iterator[int]:
    """Each server in turn; its limits back at their defaults afterwards."""
    chosen = redis_port if request.param == "redis-server" else ours.port
    yield chosen
    for name, value in DEFAULTS.items():
        assert call(chosen, "CONFIG", "SET", name, value) == b"+OK\r\n"


def call(port: int, *args: bytes | str) -> bytes:
    with socket.create_connection((HOST, port), timeout=10.0) as sock:
        sock.sendall(cmd(*args))
        reader = hiredis.Reader()
        raw = b""
        for _ in range(1000):  # bounded: small replies
            chunk = sock.recv(65536)
            assert chunk
            raw += chunk
            reader.feed(chunk)
            if reader.gets() is not False:
                return raw
    raise AssertionError(raw[:200])


VALUES = {
    "maxclients": ["2", "0", "-1", "abc", "4294967296", "1mb", "", "+5", "05", "10000"],
    "timeout": ["1", "0", "-1", "2147483647", "2147483648", "x", "1k"],
    "proto-max-bulk-len": [
        "1048576",
        "1048575",
        "2mb",
        "1MB",
        "1m",
        "-1",
        "x",
        "",
        "mb",
        "1.5mb",
        "1gb",
        "9223372036854775807",
        "9223372036854775808",
        "18446744073709551615",
        "99999999999999999999999",
    ],
    "client-query-buffer-limit": [
        "1048576",
        "1048575",
        "2mb",
        "1m",
        "-1",
        "x",
        "mb",
        "1gb",
        "9223372036854775807",
        "9223372036854775808",
        "18446744073709551615",
    ],
}
for _name in ("stream-node-max-bytes", "stream-node-max-entries", "zset-max-listpack-entries"):
    VALUES[_name] = ["0", "1", "-1", "4kb", "x", "", "9223372036854775807", "9223372036854775808"]
CASES = [(name, value) for name, values in VALUES.items() for value in values]


@pytest.mark.parametrize(("name", "value"), CASES, ids=[f"{n}={v!r}" for n, v in CASES])
def test_config_set_and_get_match_redis(
    redis_port: int, ours: RunningServer, name: str, value: str
) -> None:
    answers = []
    for port in (redis_port, ours.port):
        *answer, restored = calls(
            port,
            ("CONFIG", "SET", name, value),
            ("CONFIG", "GET", name),
            ("CONFIG", "SET", name, DEFAULTS[name]),
        )
        assert restored == b"+OK\r\n"
        answers.append(answer)
    assert answers[1] == answers[0]


UNITS = ["", "b", "k", "kb", "m", "mb", "g", "gb", "KB", "Mb", "gB", "x", "kbb", " "]
VALUE = st.one_of(
    st.builds(
        lambda number, unit: f"{number}{unit}",
        st.one_of(st.integers(-5, 5 * MB), st.integers(-(2**70), 2**70)),
        st.sampled_from(UNITS),
    ),
    st.text("0123456789kmgbKMGB+- .", max_size=24),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=st.sampled_from(sorted(DEFAULTS)), value=VALUE)
def test_any_value_is_taken_or_refused_as_redis_does(
    redis_port: int, ours: RunningServer, name: str, value: str
) -> None:
    if name == "maxclients":  # past the open-file limit Redis tries every lower value in turn
        value = value if (parsed := _small(value)) is None or parsed <= 10000 else "10000x"
    answers = []
    for port in (redis_port, ours.port):
        # One connection: it stays admitted whatever maxclients becomes.
        *answer, restored = calls(
            port,
            ("CONFIG", "SET", name, value),
            ("CONFIG", "GET", name),
            ("CONFIG", "SET", name, DEFAULTS[name]),
        )
        assert restored == b"+OK\r\n"
        answers.append(answer)
    assert answers[1] == answers[0]


def calls(port: int, *commands: tuple[str, ...]) -> list[bytes]:
    """The raw replies to ``commands``, sent one after the other on one connection."""
    replies = []
    with socket.create_connection((HOST, port), timeout=10.0) as sock:
        for command in commands:
            sock.sendall(cmd(*command))
            reader = hiredis.Reader()
            raw = b""
            for _ in range(1000):  # bounded: small replies
                chunk = sock.recv(65536)
                assert chunk
                raw += chunk
                reader.feed(chunk)
                if reader.gets() is not False:
                    break
            replies.append(raw)
    return replies


def _small(value: str) -> int | None:
    """``value`` as Redis's ``string2ll`` reads it, or None."""
    return int(value) if re.fullmatch(r"-?(0|[1-9][0-9]*)", value) else None


@pytest.mark.parametrize(
    "commands",
    [
        (("timeout", "5", "maxclients", "0"), ("timeout",)),
        (("timeout", "5", "proto-max-bulk-len", "x"), ("timeout", "proto-max-bulk-len")),
        (("maxclients", "5", "maxclients", "6"), ("maxclients",)),
        (("client-query-buffer-limit", "2mb", "proto-max-bulk-len", "4mb"), ("*-len", "client-*")),
    ],
)
def test_several_at_once_all_or_nothing_as_redis(
    redis_port: int, ours: RunningServer, commands: tuple[tuple[str, ...], tuple[str, ...]]
) -> None:
    settings, patterns = commands
    answers = []
    for port in (redis_port, ours.port):
        answer = call(port, "CONFIG", "SET", *settings)
        got = hiredis.Reader()
        got.feed(call(port, "CONFIG", "GET", *patterns))
        reported = got.gets()
        assert isinstance(reported, list)
        # Redis has more parameters matching a glob: compare the ones named here.
        pairs = dict(zip(reported[::2], reported[1::2], strict=True))
        answers.append((answer, {key: pairs[key] for key in pairs if key.decode() in DEFAULTS}))
        for name, value in DEFAULTS.items():
            assert call(port, "CONFIG", "SET", name, value) == b"+OK\r\n"
    assert answers[1] == answers[0]


# -- the limits taking effect -----------------------------------------------------------------


def test_maxclients_refuses_the_next_client(port: int) -> None:
    """With two clients open under ``maxclients 2`` a third is refused (redis-py raises
    ConnectionError for both servers: Redis says why, this server closes at once)."""
    admin = redis.Redis(host=HOST, port=port, socket_timeout=10)
    other = redis.Redis(host=HOST, port=port, socket_timeout=10)
    try:
        assert admin.config_set("maxclients", 2)
        assert other.ping()  # at max
        third = redis.Redis(host=HOST, port=port, socket_timeout=10, retry=NO_RETRY)
        with pytest.raises(redis.ConnectionError):
            third.ping()  # max+1
        third.close()
        other.close()  # a place again (once the server saw the close)
        deadline = time.monotonic() + 10
        while True:
            try:
                assert redis.Redis(host=HOST, port=port, socket_timeout=10).ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        assert admin.config_get("maxclients") == {"maxclients": "2"}
    finally:
        admin.close()
        other.close()


def test_maxclients_holds_for_every_format_on_the_port(ours: RunningServer) -> None:
    admin = redis.Redis(host=HOST, port=ours.port, socket_timeout=10)
    memcached = MemcacheClient((HOST, ours.port), timeout=10)
    try:
        assert memcached.set("k", b"v")  # opened before: it stays
        assert admin.config_set("maxclients", 2)
        with socket.create_connection((HOST, ours.port), timeout=10) as refused:
            refused.sendall(b"version\r\n")
            # A memcached client past the limit: closed at once (a reset, as it spoke).
            with contextlib.suppress(ConnectionResetError):
                assert refused.recv(100) == b""
        assert memcached.get("k") == b"v"
        assert admin.config_set("maxclients", 10000)
        with socket.create_connection((HOST, ours.port), timeout=10) as admitted:
            admitted.sendall(b"version\r\n")
            assert admitted.recv(100).startswith(b"VERSION ")
    finally:
        admin.config_set("maxclients", 10000)
        admin.close()
        memcached.close()


def _closed(connection: redis.Connection) -> bool:
    """True if the server closed ``connection`` (checked for 0.1 s); it sent nothing."""
    try:
        if not connection.can_read(timeout=0.1):
            return False
        connection.read_response()
    except redis.ConnectionError:
        return True
    raise AssertionError("the server sent something unasked")


def _closed_within(connection: redis.Connection, seconds: float) -> bool:
    """True once the server closed ``connection`` (within ``seconds``)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if _closed(connection):
            return True
    return False


def test_timeout_closes_idle_clients_but_not_subscribers_or_blocked(port: int) -> None:
    admin = redis.Redis(host=HOST, port=port, socket_timeout=10)
    idle = redis.Connection(host=HOST, port=port, socket_timeout=10)
    busy = redis.Connection(host=HOST, port=port, socket_timeout=10)
    blocked = redis.Connection(host=HOST, port=port, socket_timeout=10)
    subscriber = redis.Redis(host=HOST, port=port, socket_timeout=10).pubsub()
    try:
        assert admin.config_set("timeout", 1)
        for connection in (idle, busy):
            connection.send_command("PING")
            assert connection.read_response() == b"PONG"
        subscriber.subscribe("news")
        assert subscriber.get_message(timeout=5)["type"] == "subscribe"  # type: ignore[index]
        blocked.send_command("BLPOP", "work", 0)
        started = time.monotonic()
        # Redis closes a client idle more than 1 s at its next check (10 a second, each
        # client about once a second): within 3 s; this server sweeps once a second.
        while not _closed(idle):
            busy.send_command("PING")
            assert busy.read_response() == b"PONG"
            assert time.monotonic() - started < 5, "the idle client was not closed"
        assert time.monotonic() - started > 1
        time.sleep(1.5)  # past the timeout again: the subscriber and the blocked client stay
        assert admin.publish("news", "hello") == 1
        message = subscriber.get_message(timeout=5)
        assert message is not None and message["data"] == b"hello"
        assert admin.info("clients")["blocked_clients"] == 1  # still there, still blocked
        # Served while the timeout is on, redis-server may close the client it just
        # unblocked before writing its reply (its cron runs between the two): not tested.
        assert admin.config_set("timeout", 0)
        assert admin.lpush("work", "job") == 1
        assert blocked.read_response() == [b"work", b"job"]
        # The blocked client was served: now an idle client like any other.
        assert admin.config_set("timeout", 1)
        assert _closed_within(blocked, 5)
        assert admin.config_set("timeout", 0)
    finally:
        for connection in (idle, busy, blocked):
            connection.disconnect()
        subscriber.close()
        admin.close()


def _bulk_header_reply(port: int, size: int, value: bool) -> bytes:
    """What the server answers to a SET of ``size`` bytes (sent whole when ``value``, else
    only its header), until it closes or 5 s pass."""
    with socket.create_connection((HOST, port), timeout=5) as sock:
        request = cmd("SET", "k", b"v" * size) if value else b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n"
        if not value:
            request += b"$%d\r\n" % size
        sock.sendall(request)
        answer = sock.recv(100)
        return answer if answer.startswith(b"+") else answer + sock.recv(100)


def test_proto_max_bulk_len_at_max_and_max_plus_one(port: int) -> None:
    with socket.create_connection((HOST, port), timeout=10) as before:
        assert call(port, "CONFIG", "SET", "proto-max-bulk-len", "1mb") == b"+OK\r\n"
        before.sendall(cmd("SET", "k", b"v" * MB))  # a connection opened before the change
        assert before.recv(100) == b"+OK\r\n"
        before.sendall(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$%d\r\n" % (MB + 1))
        assert before.recv(100) == b"-ERR Protocol error: invalid bulk length\r\n"
        assert before.recv(100) == b""
    assert _bulk_header_reply(port, MB, value=True) == b"+OK\r\n"
    assert _bulk_header_reply(port, MB + 1, value=False) == (
        b"-ERR Protocol error: invalid bulk length\r\n"
    )
    client = redis.Redis(host=HOST, port=port, socket_timeout=10)
    try:
        assert client.set("big", b"x" * MB)
        assert client.strlen("big") == MB
    finally:
        client.close()


def test_client_query_buffer_limit_closes_a_bigger_command(ours: RunningServer) -> None:
    """This server counts one command's arguments; Redis counts its query buffer (the
    value and the bytes around it), so its boundary is a few bytes off
    (specs/resp/README.md)."""
    assert call(ours.port, "CONFIG", "SET", "client-query-buffer-limit", "1mb") == b"+OK\r\n"
    try:
        assert _bulk_header_reply(ours.port, MB - 4, value=True) == b"+OK\r\n"  # at max
        assert _bulk_header_reply(ours.port, MB - 3, value=True) == b""  # max+1: closed
    finally:
        call(ours.port, "CONFIG", "SET", "client-query-buffer-limit", "1gb")
