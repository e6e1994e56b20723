"""CONFIG SET of the limits Redis lets an administrator change at run time: maxclients
(the listener's admission), timeout (idle clients), proto-max-bulk-len and
client-query-buffer-limit (the request parser and the receive buffer), each at max
and max+1, on connections opened before and after the change."""

from __future__ import annotations

import resource
from collections.abc import Iterator
from time import monotonic as _monotonic

import pytest
from _drive import resp_command as cmd
from wireproto.providers.resp import RespLimits, RespProvider, register
from wireproto.providers.resp.commands.blocking import WAITING

from wireproto import CloseReason, Connection, ConnectionSettings, Registry, ServerStats
from wireproto import _listener_limits as listener_limits
from wireproto._connection import ConnectionState
from wireproto._listener import ListenerState, ServerLimits
from wireproto._listener_limits import ListenerLimits, OpenFilesLimit, fit_open_files
from wireproto.memory import MemoryBudget

OK = b"+OK\r\n"
MB = 1024 * 1024
BULK_ERROR = b"-ERR Protocol error: invalid bulk length\r\n"


OPEN: list[Connection] = []
"""The connections a test opened: closed after it (a blocked one would stay in the
process's waiting room)."""


@pytest.fixture(autouse=True)
def _close_connections() -> Iterator[None]:
    yield
    while OPEN:
        OPEN.pop().close(CloseReason.PEER_CLOSED)
    assert WAITING.count == 0


def set_failed(name: str, reason: str) -> bytes:
    return b"-ERR CONFIG SET failed (possibly related to argument '%s') - %s\r\n" % (
        name.encode(),
        reason.encode(),
    )


class Server:
    """One provider and the connections opened on it (as one listener would have them)."""

    def __init__(
        self,
        accelerated: bool,
        limits: RespLimits | None = None,
        budget: MemoryBudget | None = None,
    ) -> None:
        self.provider = RespProvider(limits=limits, accelerated=accelerated)
        self.registry = Registry()
        register(self.registry, self.provider)
        self.budget = budget

    def connect(self) -> Connection:
        connection = Connection(self.registry, budget=self.budget)
        OPEN.append(connection)
        assert call(connection, "PING") == b"+PONG\r\n"
        return connection


def send(connection: Connection, data: bytes, piece: int = 256 * 1024) -> bytes:
    """``data`` in pieces (as reads of a socket would give it); the replies."""
    replies = b""
    for start in range(0, len(data), piece):
        connection.receive_data(data[start : start + piece])
        replies += connection.data_to_send()
        if connection.state is ConnectionState.CLOSED:
            break
    return replies


def call(connection: Connection, *args: bytes | str | int) -> bytes:
    return send(connection, cmd(*args))


@pytest.fixture(params=[False, True], ids=["pure", "hiredis"])
def accelerated(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


# -- maxclients: the listener's admission -------------------------------------------------


def test_listener_limits_validate() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        ListenerLimits(0)
    limits = ListenerLimits(1)
    assert limits.max_connections == 1
    with pytest.raises(ValueError, match="at least 1"):
        limits.set_max_connections(0)
    assert limits.max_connections == 1


def test_an_open_file_limit_too_low_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    limits = ListenerLimits(5)
    monkeypatch.setattr(listener_limits, "fit_open_files", lambda wanted: 40)
    with pytest.raises(OpenFilesLimit) as refused:
        limits.set_max_connections(41)
    assert refused.value.fits == 40
    assert limits.max_connections == 5
    limits.set_max_connections(40)  # at what fits
    assert limits.max_connections == 40


class FakeLimits:
    """``resource``'s open-file limit, with a hard limit only privilege may raise."""

    def __init__(self, soft: int, hard: int, privileged: bool) -> None:
        self.soft, self.hard, self.privileged = soft, hard, privileged

    def getrlimit(self, which: int) -> tuple[int, int]:
        assert which == resource.RLIMIT_NOFILE
        return self.soft, self.hard

    def setrlimit(self, which: int, limits: tuple[int, int]) -> None:
        soft, hard = limits
        if soft > hard or (hard < self.hard and not self.privileged):
            raise ValueError("not allowed")
        if hard > self.hard and not self.privileged:
            raise PermissionError("not allowed")
        self.soft, self.hard = soft, hard


FILE_LIMITS = [
    # soft, hard, privileged; connections wanted; how many fit; the limits after
    (20_000, 20_000, False, 10_000, 10_000, (20_000, 20_000)),  # already enough
    (1_024, 20_000, False, 10_000, 10_000, (10_064, 20_000)),  # soft raised
    (1_024, 5_064, False, 10_000, 5_000, (5_064, 5_064)),  # up to the hard limit
    (1_024, 5_064, True, 10_000, 10_000, (10_064, 10_064)),  # as root, hard raised too
    (5_064, 5_064, False, 5_000, 5_000, (5_064, 5_064)),  # at max
    (5_064, 5_064, False, 5_001, 5_000, (5_064, 5_064)),  # max+1
]


@pytest.mark.parametrize("case", FILE_LIMITS)
def test_fit_open_files(
    monkeypatch: pytest.MonkeyPatch, case: tuple[int, int, bool, int, int, tuple[int, int]]
) -> None:
    soft, hard, privileged, wanted, fits, after = case
    fake = FakeLimits(soft, hard, privileged)
    monkeypatch.setattr(listener_limits.resource, "getrlimit", fake.getrlimit)
    monkeypatch.setattr(listener_limits.resource, "setrlimit", fake.setrlimit)
    assert fit_open_files(wanted) == fits
    assert (fake.soft, fake.hard) == after


class Adapter:
    """What the listener counts of an open connection."""

    def __init__(self) -> None:
        self.connection = Connection(Registry())
        self.reading_paused = False
        self.socket = None

    def shutdown(self) -> None:
        raise AssertionError("not closing")

    def abort(self) -> None:
        raise AssertionError("not closing")


def test_the_listener_admits_up_to_its_run_time_limit() -> None:
    state = ListenerState(
        Registry(),
        ConnectionSettings(),
        ServerLimits(max_connections=3, max_connections_per_client=None),
        1.0,
    )
    for _ in range(2):
        state.attach(Adapter(), None)
    assert state.refusal(None) is None  # the third: at max
    state.runtime_limits.set_max_connections(2)
    assert state.refusal(None) == "max-connections"  # max+1
    state.runtime_limits.set_max_connections(3)
    assert state.refusal(None) is None


class Listener:
    """A sender's ``listener`` as a Server gives it (with its run-time limits)."""

    def __init__(self, max_connections: int) -> None:
        self.runtime_limits = ListenerLimits(max_connections)
        self.draining = False

    def stats(self) -> ServerStats:
        return ServerStats()


def test_maxclients_is_the_listeners(accelerated: bool) -> None:
    """CONFIG GET reports what the listener enforces, and CONFIG SET changes it."""
    provider = RespProvider(accelerated=accelerated, max_clients=10_000)
    registry = Registry()
    register(registry, provider)
    listener = Listener(50)
    connection = Connection(registry, listener=listener)  # type: ignore[arg-type]
    assert call(connection, "CONFIG", "GET", "maxclients") == (
        b"*2\r\n$10\r\nmaxclients\r\n$2\r\n50\r\n"
    )
    assert b"maxclients:50\r\n" in call(connection, "INFO", "clients")
    assert call(connection, "CONFIG", "SET", "maxclients", "2") == OK
    assert listener.runtime_limits.max_connections == 2
    assert b"maxclients:2\r\n" in call(connection, "INFO", "clients")
    assert call(connection, "CONFIG", "SET", "maxclients", "0") == set_failed(
        "maxclients", "argument must be between 1 and 4294967295 inclusive"
    )
    assert call(connection, "CONFIG", "SET", "maxclients", "1") == OK
    assert listener.runtime_limits.max_connections == 1


def test_maxclients_the_process_cannot_hold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(listener_limits, "fit_open_files", lambda wanted: min(wanted, 1000))
    provider = RespProvider(accelerated=False)
    registry = Registry()
    register(registry, provider)
    connection = Connection(registry, listener=Listener(10))  # type: ignore[arg-type]
    assert call(connection, "CONFIG", "SET", "maxclients", "1000") == OK
    assert call(connection, "CONFIG", "SET", "maxclients", "1001") == set_failed(
        "maxclients",
        "The operating system is not able to handle the specified number of clients, try with 1000",
    )
    assert call(connection, "CONFIG", "GET", "maxclients") == (
        b"*2\r\n$10\r\nmaxclients\r\n$4\r\n1000\r\n"
    )


# -- timeout: idle clients ------------------------------------------------------------------


def idle_for(connection: Connection, provider: RespProvider, seconds: float) -> None:
    for session in provider.clients.values():
        if session.sender.memory is connection.memory:
            session.last_active -= seconds


def test_timeout_closes_clients_idle_longer(accelerated: bool) -> None:
    server = Server(accelerated)
    provider = server.provider
    admin, idle, busy, subscriber, blocked, monitor = (server.connect() for _ in range(6))
    assert call(admin, "CONFIG", "GET", "timeout") == b"*2\r\n$7\r\ntimeout\r\n$1\r\n0\r\n"
    assert call(subscriber, "SUBSCRIBE", "news").startswith(b"*3\r\n$9\r\nsubscribe")
    assert call(blocked, "BLPOP", "nothing", "0") == b""
    assert call(monitor, "MONITOR") == OK
    assert call(admin, "CONFIG", "SET", "timeout", "10") == OK
    assert call(admin, "CONFIG", "GET", "timeout") == b"*2\r\n$7\r\ntimeout\r\n$2\r\n10\r\n"
    now = max(session.last_active for session in provider.clients.values())
    for session in provider.clients.values():
        session.last_active = now
    assert provider.close_idle_clients(now + 10) == 0  # at max: not yet
    for connection in (idle, subscriber, blocked, monitor):
        idle_for(connection, provider, 0.5)
    assert provider.close_idle_clients(now + 10) == 1  # max+1 (a part of a second)
    idle.data_to_send()
    assert idle.state is ConnectionState.CLOSED
    for connection in (admin, busy, subscriber, blocked, monitor):
        assert connection.state is ConnectionState.ACTIVE
    # Any bytes count as activity, even an unfinished command.
    idle_for(busy, provider, 20)
    send(busy, b"*1\r\n$4\r\nPI")
    assert provider.close_idle_clients(now + 10) == 0
    assert send(busy, b"NG\r\n") == b"+PONG\r\n"
    # A blocked client served is active at that moment (Redis counts the reply written).
    idle_for(blocked, provider, 30)
    assert call(admin, "LPUSH", "nothing", "x") == b":1\r\n"
    assert blocked.data_to_send() == b"*2\r\n$7\r\nnothing\r\n$1\r\nx\r\n"
    assert provider.close_idle_clients(max(now, _monotonic()) + 9) == 0
    # A subscriber that leaves pub/sub mode is a client like the others again.
    assert call(subscriber, "UNSUBSCRIBE").startswith(b"*3\r\n$11\r\nunsubscribe")
    for session in provider.clients.values():
        session.last_active = now
    idle_for(subscriber, provider, 0.5)
    assert provider.close_idle_clients(now + 10) == 1
    subscriber.data_to_send()
    assert subscriber.state is ConnectionState.CLOSED
    assert call(admin, "CONFIG", "SET", "timeout", "0") == OK
    idle_for(admin, provider, 10**6)
    assert provider.close_idle_clients(now + 10**6) == 0


def test_maintenance_looks_for_idle_clients_once_a_second(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = Server(False)
    provider = server.provider
    connection = server.connect()
    assert call(connection, "CONFIG", "SET", "timeout", "1") == OK
    swept: list[float] = []
    monkeypatch.setattr(provider, "close_idle_clients", swept.append)
    clock = [1000.0]
    monkeypatch.setattr("wireproto.providers.resp.provider.time.monotonic", lambda: clock[0])
    for step in range(25):  # 2.5 s of maintenance rounds at hz 10
        clock[0] = 1000.0 + step / 10
        provider.maintain()
    assert swept == [1000.0, 1001.0, 1002.0]
    assert call(connection, "CONFIG", "SET", "timeout", "0") == OK
    clock[0] = 2000.0
    provider.maintain()
    assert swept == [1000.0, 1001.0, 1002.0]


# -- proto-max-bulk-len and client-query-buffer-limit ----------------------------------------


def set_value(size: int) -> bytes:
    return cmd("SET", "k", b"v" * size)


def test_proto_max_bulk_len_on_new_and_open_connections(accelerated: bool) -> None:
    server = Server(accelerated)
    before = server.connect()  # opened before the change
    admin = server.connect()
    assert call(admin, "CONFIG", "SET", "proto-max-bulk-len", "1mb") == OK
    after = server.connect()
    for connection in (before, after):
        assert send(connection, set_value(MB)) == OK  # at max
        assert send(connection, set_value(MB + 1)) == BULK_ERROR  # max+1
        assert connection.close_reason is CloseReason.PROTOCOL_ERROR
    assert call(admin, "STRLEN", "k") == b":%d\r\n" % MB


def test_raising_proto_max_bulk_len_grows_open_connections_caps(accelerated: bool) -> None:
    """A connection opened under a small limit takes a bulk the new limit allows: its
    receive buffer may grow to the new cap, and its output limit follows."""
    server = Server(accelerated, RespLimits(max_bulk_len=1000))
    before = server.connect()
    assert send(before, set_value(1001)) == BULK_ERROR
    before = server.connect()
    cap = before.memory.output_limit
    assert call(before, "CONFIG", "SET", "proto-max-bulk-len", "2mb") == OK
    assert before.memory.output_limit == cap - 1000 + 2 * MB
    assert send(before, set_value(2 * MB)) == OK  # at max
    assert call(before, "GET", "k") == b"$%d\r\n%s\r\n" % (2 * MB, b"v" * 2 * MB)
    assert send(before, set_value(2 * MB + 1)) == BULK_ERROR  # max+1


def test_a_raised_limit_still_answers_to_the_listeners_budget(accelerated: bool) -> None:
    server = Server(accelerated, budget=MemoryBudget(3 * MB))
    connection = server.connect()
    assert call(connection, "CONFIG", "SET", "proto-max-bulk-len", "8mb") == OK
    send(connection, set_value(4 * MB))
    assert connection.close_reason is CloseReason.MEMORY_LIMIT


def test_a_subscriber_keeps_the_pubsub_output_limit(accelerated: bool) -> None:
    server = Server(accelerated)
    subscriber = server.connect()
    admin = server.connect()
    assert call(subscriber, "SUBSCRIBE", "news").startswith(b"*3\r\n")
    assert subscriber.memory.output_limit == 32 << 20
    assert call(admin, "CONFIG", "SET", "proto-max-bulk-len", "1gb") == OK
    assert subscriber.memory.output_limit == 32 << 20
    assert admin.memory.output_limit == (1 << 30) + (64 << 20)
    assert call(subscriber, "UNSUBSCRIBE").startswith(b"*3\r\n")
    assert subscriber.memory.output_limit == (1 << 30) + (64 << 20)


def test_client_query_buffer_limit_on_open_connections(accelerated: bool) -> None:
    """The arguments of one command may hold the limit, not a byte more (Redis closes such
    a client without a reply)."""
    server = Server(accelerated)
    connection = server.connect()
    assert call(connection, "CONFIG", "SET", "client-query-buffer-limit", "1mb") == OK
    assert call(connection, "CONFIG", "GET", "client-query-buffer-limit") == (
        b"*2\r\n$25\r\nclient-query-buffer-limit\r\n$7\r\n1048576\r\n"
    )
    arguments = len("SET") + len("k")
    assert send(connection, set_value(MB - arguments)) == OK  # at max
    assert send(connection, set_value(MB - arguments + 1)) == b""  # max+1
    assert connection.close_reason is CloseReason.PROTOCOL_ERROR


@pytest.mark.parametrize("name", ["proto-max-bulk-len", "client-query-buffer-limit"])
@pytest.mark.parametrize(
    ("value", "reply"),
    [
        ("1048576", OK),
        ("1mb", OK),
        ("2MB", OK),
        ("1gb", OK),
        ("9223372036854775807", OK),
        ("1048575", "argument must be between 1048576 and 9223372036854775807 inclusive"),
        ("1m", "argument must be between 1048576 and 9223372036854775807 inclusive"),
        (
            "9223372036854775808",
            "argument must be between 1048576 and 9223372036854775807 inclusive",
        ),
        (
            "18446744073709551616",
            "argument must be between 1048576 and 9223372036854775807 inclusive",
        ),
        ("mb", "argument must be between 1048576 and 9223372036854775807 inclusive"),
        ("-1", "argument must be a memory value"),
        ("1.5mb", "argument must be a memory value"),
        ("x", "argument must be a memory value"),
    ],
)
def test_limit_values(name: str, value: str, reply: bytes | str) -> None:
    server = Server(False)
    connection = server.connect()
    default = call(connection, "CONFIG", "GET", name)
    answer = call(connection, "CONFIG", "SET", name, value)
    if isinstance(reply, str):
        assert answer == set_failed(name, reply)
        assert call(connection, "CONFIG", "GET", name) == default
    else:
        assert answer == reply


def test_limits_change_all_or_nothing() -> None:
    server = Server(False)
    connection = server.connect()
    assert call(
        connection, "CONFIG", "SET", "proto-max-bulk-len", "2mb", "timeout", "5", "maxclients", "0"
    ) == set_failed("maxclients", "argument must be between 1 and 4294967295 inclusive")
    assert call(connection, "CONFIG", "GET", "proto-max-bulk-len", "timeout") == (
        b"*4\r\n$18\r\nproto-max-bulk-len\r\n$9\r\n536870912\r\n$7\r\ntimeout\r\n$1\r\n0\r\n"
    )
    assert server.provider.resp_limits.max_bulk_len == 512 * MB
