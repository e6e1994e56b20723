"""INFO's fields with this server's values: listener counters, rates, blocked clients,
the port, and the fields a replaced section leaves out."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from _drive import resp_command as cmd
from wireproto.providers.resp import RespProvider, register
from wireproto.providers.resp.commands.blocking import WAITING
from wireproto.providers.resp.info import Rates, _complete

from wireproto import CloseReason, Connection, FormatStats, Registry, ServerStats

OPEN: list[Connection] = []
"""The connections a test opened: closed after it (a blocked one would stay in the
process's waiting room)."""


@pytest.fixture(autouse=True)
def _close_connections() -> Iterator[None]:
    yield
    while OPEN:
        OPEN.pop().close(CloseReason.PEER_CLOSED)
    assert WAITING.count == 0


def fields(reply: bytes) -> dict[str, str]:
    """The ``name:value`` lines of an INFO reply (RESP2 bulk)."""
    body = reply.split(b"\r\n", 1)[1]
    found = {}
    for line in body.decode().split("\r\n"):
        if line and not line.startswith("#"):
            name, _, value = line.partition(":")
            found[name] = value
    return found


class Listener:
    """A sender's ``listener`` whose counters a test sets."""

    def __init__(self) -> None:
        self.draining = False
        self.counters = ServerStats()

    def stats(self) -> ServerStats:
        return self.counters


class Server:
    def __init__(self) -> None:
        self.provider = RespProvider(accelerated=False)
        self.registry = Registry()
        register(self.registry, self.provider)
        self.listener = Listener()

    def connect(self, port: int = 6380) -> Connection:
        connection = Connection(
            self.registry,
            listener=self.listener,  # type: ignore[arg-type]
            extra={"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", port)},
        )
        OPEN.append(connection)
        return connection


def call(connection: Connection, *args: bytes | str | int) -> bytes:
    connection.receive_data(cmd(*args))
    return connection.data_to_send()


def test_rates_average_the_last_16_samples_of_100_ms() -> None:
    rates = Rates()
    assert rates.rate(0) == 0.0
    rates.sample(0.0, (0, 0))
    rates.sample(0.05, (100, 100))  # within 100 ms: not a sample
    assert rates.rate(0) == 0.0
    rates.sample(0.1, (10, 1000))
    assert rates.rate(0) == pytest.approx(100.0)
    assert rates.rate(1) == pytest.approx(10_000.0)
    for step in range(2, 18):  # 16 more samples of 20 a second push the first out
        rates.sample(step / 10, (10 + 2 * (step - 1), 1000))
    assert rates.rate(0) == pytest.approx(20.0)
    assert rates.rate(1) == pytest.approx(0.0)
    rates.sample(1.8, (0, 0))  # a counter reset counts as no progress, not negative
    assert rates.rate(0) == pytest.approx(20.0 * 15 / 16)


def test_a_replaced_section_is_completed_in_redis_order() -> None:
    given = b"b:given\r\nextra:1\r\n"
    assert _complete(given, (("a", 0), ("b", "x"), ("c", "-1"))) == (
        b"a:0\r\nb:given\r\nc:-1\r\nextra:1\r\n"
    )


def test_info_reports_the_listener_counters_and_the_port() -> None:
    server = Server()
    connection = server.connect(port=7001)
    server.listener.counters = ServerStats(
        rejected={"max-connections": 3, "max-connections-per-client": 1},
        formats={
            "resp": FormatStats(bytes_received=1000, bytes_sent=5000),
            "memcache-text": FormatStats(bytes_received=7, bytes_sent=9),
        },
        receive_memory=16384,
    )
    info = fields(call(connection, "INFO"))
    assert info["tcp_port"] == "7001"
    assert info["total_net_input_bytes"] == "1000"
    assert info["total_net_output_bytes"] == "5000"
    assert info["rejected_connections"] == "4"
    assert info["mem_clients_normal"] == "16384"
    assert call(connection, "CONFIG", "RESETSTAT") == b"+OK\r\n"
    server.listener.counters = ServerStats(
        rejected={"max-connections": 5},
        formats={"resp": FormatStats(bytes_received=1100, bytes_sent=5500)},
    )
    info = fields(call(connection, "INFO", "stats"))
    assert (info["total_net_input_bytes"], info["total_net_output_bytes"]) == ("100", "500")
    assert info["rejected_connections"] == "1"


def test_info_outside_a_listener() -> None:
    provider = RespProvider(accelerated=False)
    registry = Registry()
    register(registry, provider)
    info = fields(call(Connection(registry), "INFO"))
    for name in ("tcp_port", "total_net_input_bytes", "rejected_connections", "keyspace_hits"):
        assert info[name] == "0"


def test_blocked_clients_and_the_timeout_table() -> None:
    server = Server()
    admin, forever, timed = (server.connect() for _ in range(3))
    assert call(forever, "BLPOP", "a", "0") == b""
    assert call(timed, "BLPOP", "b", "100") == b""
    info = fields(call(admin, "INFO", "clients"))
    assert (info["blocked_clients"], info["clients_in_timeout_table"]) == ("2", "1")
    assert call(admin, "LPUSH", "b", "x") == b":1\r\n"
    timed.data_to_send()
    info = fields(call(admin, "INFO", "clients"))
    assert (info["blocked_clients"], info["clients_in_timeout_table"]) == ("1", "0")


def test_instantaneous_rates_come_from_the_maintenance_round(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = Server()
    provider = server.provider
    connection = server.connect()
    clock = [100.0]
    monkeypatch.setattr("wireproto.providers.resp.provider.time.monotonic", lambda: clock[0])
    for step in range(11):  # one second: 50 commands and 10 KiB in and 20 KiB out
        clock[0] = 100.0 + step / 10
        if step:
            for _ in range(5):
                assert call(connection, "PING") == b"+PONG\r\n"
        server.listener.counters = ServerStats(
            formats={"resp": FormatStats(bytes_received=1024 * step, bytes_sent=2048 * step)}
        )
        provider.maintain()
    info = fields(call(connection, "INFO", "stats"))
    assert info["instantaneous_ops_per_sec"] == "50"
    assert info["instantaneous_input_kbps"] == "10.00"
    assert info["instantaneous_output_kbps"] == "20.00"


def test_persistence_has_every_redis_field() -> None:
    server = Server()
    info = call(server.connect(), "INFO", "persistence")
    names = list(fields(info))
    assert names[:3] == ["loading", "async_loading", "current_cow_peak"]
    assert names[-2:] == ["module_fork_in_progress", "module_fork_last_cow_size"]
    assert len(names) == 30
