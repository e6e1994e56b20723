"""The asyncio shell over loopback, on the default loop and on uvloop, and the CLI.

Also the production hardening: TLS sniffed on the port, the PROXY protocol,
connection and memory limits, deadlines (sans-I/O, with a fake clock), a
fault suite, graceful shutdown, counters and ``--workers``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import re
import signal
import socket
import ssl
import struct
import sys
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
import uvloop  # a test dependency: if it is missing these tests must fail, not skip
from _tls import MemoryTlsClient, client_context, make_tls_files, server_context
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

import providers.resp
from providers.kvbin import KVBIN, KvbinProvider, Opcode, build_request
from wireproto import (
    CloseReason,
    Connection,
    ConnectionSettings,
    ConnectionState,
    Limits,
    NetworkSender,
    ProtocolError,
    Registry,
    WireFormat,
    match_prefix,
)
from wireproto.cli import main
from wireproto.detect import Verdict
from wireproto.proxy import (
    ProxyHeader,
    ProxySettings,
    build_proxy_v1,
    build_proxy_v2,
    detect_proxy,
    parse_proxy_header,
)
from wireproto.server import Server, ServerLimits, _ConnectionProtocol
from wireproto.stats import MemoryBudget, StatsCollector
from wireproto.tls import TlsSettings, detect_tls

TIMEOUT = 10.0
ROOT = Path(__file__).resolve().parent.parent
MAX_LINE = 64  # bytes per line, newline included
LINE_TOO_LONG = b"-ERR line too long\n"
GREETING = b"WELCOME\n"

# -- a small line protocol, defined here so these tests depend on no provider ----


class LineSession:
    """Replies to each line with ``transform(line)``; lines starting ``!`` are commands."""

    def __init__(self, provider: LineProvider, sender: NetworkSender) -> None:
        self.provider = provider
        self.sender = sender
        self.closes = 0
        if provider.greeting:
            sender.send(provider.greeting)

    def try_consume(self, data: memoryview) -> int:
        head = bytes(data[:MAX_LINE])
        end = head.find(b"\n")
        if end < 0:
            if len(head) >= MAX_LINE:
                raise ProtocolError("line too long", LINE_TOO_LONG)
            return 0
        line = head[:end]
        command = line.removeprefix(b"U:")
        if command.startswith(b"!flood "):
            self.sender.send(b"F" * int(command[7:]))
            # Runs after the shell has written this batch.
            asyncio.get_running_loop().call_soon(self.provider.flooded.set)
        elif command == b"!crash":
            raise RuntimeError("boom")
        elif command == b"!later":
            asyncio.get_running_loop().call_soon(self.sender.send, b"LATER\n")
        elif command.startswith(b"!info "):
            value = self.sender.get_extra_info(command[6:].decode())
            self.sender.send(repr(value).encode() + b"\n")
        elif command == b"!quit":
            self.sender.send(b"BYE\n")
            self.sender.close()
        else:
            self.sender.send(self.provider.transform(line) + b"\n")
        return end + 1

    def close(self) -> None:
        self.closes += 1
        self.provider.changed.set()


class LineProvider:
    """Creates :class:`LineSession` objects and remembers them."""

    def __init__(
        self,
        limits: Limits | None = None,
        greeting: bytes = b"",
        transform: Callable[[bytes], bytes] = bytes.upper,
    ) -> None:
        self._limits = limits if limits is not None else Limits(max_message_size=MAX_LINE)
        self.greeting = greeting
        self.transform = transform
        self.sessions: list[LineSession] = []
        self.changed = asyncio.Event()
        self.flooded = asyncio.Event()

    @property
    def limits(self) -> Limits:
        return self._limits

    def create_session(self, wire_format: WireFormat, sender: NetworkSender) -> LineSession:
        session = LineSession(self, sender)
        self.sessions.append(session)
        return session

    async def wait_closes(self, count: int) -> None:
        """Wait until ``count`` session closes have happened."""
        while sum(session.closes for session in self.sessions) < count:
            self.changed.clear()
            await asyncio.wait_for(self.changed.wait(), TIMEOUT)


def make_registry(upper: LineProvider, banner: LineProvider | None = None) -> Registry:
    registry = Registry()
    registry.register(WireFormat("upper", match_prefix(b"U:")), upper)
    if banner is None:
        banner = LineProvider(greeting=GREETING, transform=bytes.lower)
    registry.register(WireFormat("banner", match_prefix(b"B\x00")), banner)
    return registry


# -- running each scenario on both loops ------------------------------------------

LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop] | None] = {
    "asyncio": None,
    "uvloop": uvloop.new_event_loop,
}

Run = Callable[[Coroutine[Any, Any, None]], None]


@pytest.fixture(params=sorted(LOOPS))
def run(request: pytest.FixtureRequest) -> Run:
    """Run a scenario to completion, under a global timeout, on the parametrized loop."""
    name: str = request.param

    async def checked(scenario: Coroutine[Any, Any, None]) -> None:
        assert isinstance(asyncio.get_running_loop(), uvloop.Loop) == (name == "uvloop")
        await asyncio.wait_for(scenario, TIMEOUT)

    def runner(scenario: Coroutine[Any, Any, None]) -> None:
        with asyncio.Runner(loop_factory=LOOPS[name]) as loop_runner:
            loop_runner.run(checked(scenario))

    return runner


# -- client helpers -----------------------------------------------------------------

Client = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def connect(server: Server, rcvbuf: int | None = None) -> Client:
    if rcvbuf is None:
        return await asyncio.wait_for(asyncio.open_connection("127.0.0.1", server.port), TIMEOUT)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        # Set before connecting so the window the client advertises stays small.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        await asyncio.wait_for(loop.sock_connect(sock, ("127.0.0.1", server.port)), TIMEOUT)
    except BaseException:
        sock.close()
        raise
    return await asyncio.wait_for(asyncio.open_connection(sock=sock), TIMEOUT)


async def request(client: Client, data: bytes, reply_size: int) -> bytes:
    reader, writer = client
    writer.write(data)
    return await asyncio.wait_for(reader.readexactly(reply_size), TIMEOUT)


async def read_to_eof(client: Client) -> bytes:
    """Everything until the FIN; a reset raises ConnectionResetError instead."""
    return await asyncio.wait_for(client[0].read(), TIMEOUT)


async def close(client: Client) -> None:
    writer = client[1]
    writer.close()
    with contextlib.suppress(ConnectionError):  # an aborted connection may report its reset
        await asyncio.wait_for(writer.wait_closed(), TIMEOUT)


async def until(predicate: Callable[[], bool]) -> None:
    """Poll a state that no event announces (e.g. a transport's connection_lost)."""
    async with asyncio.timeout(TIMEOUT):
        while not predicate():
            await asyncio.sleep(0.005)


def connection_of(server: Server, session: LineSession) -> Connection:
    (connection,) = [conn for conn in server.connections if conn.session is session]
    return connection


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


# -- the stream and its errors --------------------------------------------------------


def test_pipelined_pieces_stay_in_order_while_a_garbage_client_is_closed(run: Run) -> None:
    rng = random.Random(6380)
    alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789 "
    lines = [b"U:first"] + [
        bytes(rng.choices(alphabet, k=rng.randrange(0, MAX_LINE))) for _ in range(400)
    ]
    stream = b"".join(line + b"\n" for line in lines)
    expected = b"".join(line.upper() + b"\n" for line in lines)
    cuts = []
    offset = 0
    while offset < len(stream):
        size = rng.randrange(1, 12)
        cuts.append(stream[offset : offset + size])
        offset += size

    async def scenario() -> None:
        upper = LineProvider()
        async with Server(make_registry(upper), "127.0.0.1", 0) as server:
            good = await connect(server)
            good[1].transport.get_extra_info("socket").setsockopt(
                socket.IPPROTO_TCP, socket.TCP_NODELAY, 1
            )
            halfway = asyncio.Event()

            async def send() -> None:
                for index, piece in enumerate(cuts):
                    good[1].write(piece)
                    await asyncio.wait_for(good[1].drain(), TIMEOUT)
                    await asyncio.sleep(0)  # let the loop send each piece on its own
                    if index == len(cuts) // 2:
                        halfway.set()

            sending = asyncio.create_task(send())
            await asyncio.wait_for(halfway.wait(), TIMEOUT)
            bad = await connect(server)
            # A valid line, then a line far over the limit: the server stops parsing
            # at the limit and must still close with a FIN although bytes keep coming.
            bad[1].write(b"U:ok\n" + b"x" * 200_000 + b"\n")
            assert await read_to_eof(bad) == b"U:OK\n" + LINE_TOO_LONG
            await close(bad)

            await asyncio.wait_for(sending, TIMEOUT)
            replies = await asyncio.wait_for(good[0].readexactly(len(expected)), TIMEOUT)
            assert replies == expected
            assert await request(good, b"still here\n", 11) == b"STILL HERE\n"
            await close(good)
            await upper.wait_closes(2)
            assert [session.closes for session in upper.sessions] == [1, 1]

    run(scenario())


def test_line_limit_at_max_and_max_plus_one(run: Run) -> None:
    async def scenario() -> None:
        upper = LineProvider()
        async with Server(make_registry(upper), "127.0.0.1", 0) as server:
            at_max = b"U:" + b"a" * (MAX_LINE - 3) + b"\n"
            client = await connect(server)
            assert await request(client, at_max, MAX_LINE) == at_max.upper()
            assert await request(client, b"next\n", 5) == b"NEXT\n"

            over = await connect(server)
            over[1].write(b"U:" + b"a" * (MAX_LINE - 2) + b"\n")
            assert await read_to_eof(over) == LINE_TOO_LONG
            await close(over)
            await close(client)

    run(scenario())


def test_deferred_replies_are_flushed(run: Run) -> None:
    async def scenario() -> None:
        async with Server(make_registry(LineProvider()), "127.0.0.1", 0) as server:
            client = await connect(server)
            assert await request(client, b"U:a\n!later\nb\n", 12) == b"U:A\nB\nLATER\n"
            await close(client)

    run(scenario())


# -- detection -----------------------------------------------------------------------------


def test_unknown_and_silent_clients_are_closed(run: Run) -> None:
    async def scenario() -> None:
        upper = LineProvider()
        settings = ConnectionSettings(detect_timeout=0.2)
        async with Server(make_registry(upper), "127.0.0.1", 0, settings=settings) as server:
            unknown = await connect(server)
            unknown[1].write(b"GET / HTTP/1.1\r\n\r\n")
            silent = await connect(server)
            assert await read_to_eof(unknown) == b""
            assert await read_to_eof(silent) == b""
            await close(unknown)
            await close(silent)
            assert upper.sessions == []

    run(scenario())


def test_silent_client_goes_to_the_fallback_format(run: Run) -> None:
    async def scenario() -> None:
        upper = LineProvider()
        banner = LineProvider(greeting=GREETING, transform=bytes.lower)
        settings = ConnectionSettings(detect_timeout=0.2, fallback_format="banner")
        registry = make_registry(upper, banner)
        async with Server(registry, "127.0.0.1", 0, settings=settings) as server:
            silent = await connect(server)
            assert await asyncio.wait_for(silent[0].readexactly(8), TIMEOUT) == GREETING
            assert await request(silent, b"Hello\n", 6) == b"hello\n"

            speaking = await connect(server)
            assert await request(speaking, b"U:Hi\n", 5) == b"U:HI\n"
            magic = await connect(server)
            assert await request(magic, b"B\x00Hi\n", 13) == GREETING + b"b\x00hi\n"
            for client in (silent, speaking, magic):
                await close(client)
            assert (len(banner.sessions), len(upper.sessions)) == (2, 1)

    run(scenario())


# -- closing -------------------------------------------------------------------------------


def test_session_close_runs_once_on_every_close_path(run: Run) -> None:
    async def scenario() -> None:
        upper = LineProvider()
        server = Server(make_registry(upper), "127.0.0.1", 0)
        await server.start()
        names = ("eof", "reset", "error", "quit", "shutdown")
        clients = {name: await connect(server) for name in names}
        for index, name in enumerate(names):
            assert await request(clients[name], b"U:%d\n" % index, 4) == b"U:%d\n" % index
        assert server.active_sessions == 5
        conns = {name: connection_of(server, upper.sessions[i]) for i, name in enumerate(names)}

        clients["eof"][1].write_eof()
        assert await read_to_eof(clients["eof"]) == b""
        sock = clients["reset"][1].transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        clients["error"][1].write(b"x" * MAX_LINE)
        assert await read_to_eof(clients["error"]) == LINE_TOO_LONG
        clients["quit"][1].write(b"!quit\nignored\n")
        assert await read_to_eof(clients["quit"]) == b"BYE\n"
        for name in ("eof", "reset", "error", "quit"):
            await close(clients[name])
        await upper.wait_closes(4)

        # Shutting down: the last client gets what it was sent, then a FIN.
        clients["shutdown"][1].write(b"last\n")
        assert await asyncio.wait_for(clients["shutdown"][0].readexactly(5), TIMEOUT) == b"LAST\n"
        closing = asyncio.create_task(server.close())
        assert await read_to_eof(clients["shutdown"]) == b""
        await close(clients["shutdown"])
        await asyncio.wait_for(closing, TIMEOUT)

        assert [session.closes for session in upper.sessions] == [1] * 5
        assert {name: conn.close_reason for name, conn in conns.items()} == {
            "eof": CloseReason.PEER_CLOSED,
            "reset": CloseReason.CONNECTION_LOST,
            "error": CloseReason.PROTOCOL_ERROR,
            "quit": CloseReason.SESSION_CLOSED,
            "shutdown": CloseReason.SERVER_SHUTDOWN,
        }
        assert server.active_sessions == 0
        assert list(server.connections) == []

    run(scenario())


def test_close_lets_clients_read_pending_replies_then_eof(run: Run) -> None:
    size = 8 << 20  # far more than the kernel buffers: most of it waits in the transport

    async def scenario() -> None:
        upper = LineProvider()
        server = Server(make_registry(upper), "127.0.0.1", 0)
        await server.start()
        client = await connect(server, rcvbuf=4096)
        client[1].write(b"U:a\n!flood %d\n" % size)
        await asyncio.wait_for(upper.flooded.wait(), TIMEOUT)
        closing = asyncio.create_task(server.close(timeout=TIMEOUT))
        assert await read_to_eof(client) == b"U:A\n" + b"F" * size
        await close(client)
        await asyncio.wait_for(closing, TIMEOUT)
        assert upper.sessions[0].closes == 1
        assert server.active_sessions == 0

    run(scenario())


def test_close_resets_clients_that_do_not_read_after_the_timeout(run: Run) -> None:
    async def scenario() -> None:
        upper = LineProvider()
        server = Server(make_registry(upper), "127.0.0.1", 0)
        await server.start()
        client = await connect(server, rcvbuf=4096)
        client[1].write(b"U:!flood %d\n" % (8 << 20))
        await asyncio.wait_for(upper.flooded.wait(), TIMEOUT)
        await asyncio.wait_for(server.close(timeout=0.2), TIMEOUT)
        assert server.active_sessions == 0
        assert upper.sessions[0].closes == 1
        with pytest.raises(ConnectionResetError):
            while await asyncio.wait_for(client[0].read(1 << 20), TIMEOUT):
                pass
        await close(client)

    run(scenario())


def test_a_session_bug_closes_only_its_connection(
    run: Run, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        upper = LineProvider()
        async with Server(make_registry(upper), "127.0.0.1", 0) as server:
            bystander = await connect(server)
            assert await request(bystander, b"U:a\n", 4) == b"U:A\n"
            buggy = await connect(server)
            buggy[1].write(b"U:b\n!crash\nc\n")
            assert await read_to_eof(buggy) == b"U:B\n"
            await close(buggy)
            assert await request(bystander, b"d\n", 2) == b"D\n"
            newcomer = await connect(server)
            assert await request(newcomer, b"U:e\n", 4) == b"U:E\n"
            await close(bystander)
            await close(newcomer)
            await upper.wait_closes(3)
            assert [session.closes for session in upper.sessions] == [1, 1, 1]

    with caplog.at_level(logging.ERROR, logger="wireproto"):
        run(scenario())
    failures = [
        record
        for record in caplog.records
        if record.name == "wireproto.server" and record.exc_info is not None
    ]
    assert len(failures) == 1
    assert failures[0].levelno == logging.ERROR
    exc_info = failures[0].exc_info
    assert exc_info is not None
    assert isinstance(exc_info[1], RuntimeError)
    assert str(exc_info[1]) == "boom"


# -- slow readers ------------------------------------------------------------------------


def test_a_client_that_does_not_read_pauses_reading_until_it_drains(run: Run) -> None:
    size = 8 << 20

    async def scenario() -> None:
        upper = LineProvider()
        async with Server(make_registry(upper), "127.0.0.1", 0) as server:
            client = await connect(server, rcvbuf=4096)
            client[1].write(b"U:a\n!flood %d\n" % size)
            await asyncio.wait_for(upper.flooded.wait(), TIMEOUT)
            assert server.paused_connections == 1
            client[1].write(b"b\n")  # waits in the kernel while the server does not read
            reply = await asyncio.wait_for(client[0].readexactly(4 + size + 2), TIMEOUT)
            assert reply == b"U:A\n" + b"F" * size + b"B\n"
            assert server.paused_connections == 0
            await close(client)

    run(scenario())


def test_a_slow_reader_past_its_output_limit_is_dropped(
    run: Run, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        upper = LineProvider(Limits(max_message_size=MAX_LINE, max_output_buffered=1 << 20))
        async with Server(make_registry(upper), "127.0.0.1", 0) as server:
            client = await connect(server, rcvbuf=4096)
            assert await request(client, b"U:a\n", 4) == b"U:A\n"
            conn = connection_of(server, upper.sessions[0])
            client[1].write(b"!flood %d\n" % (8 << 20))
            await upper.wait_closes(1)
            assert conn.close_reason is CloseReason.OUTPUT_LIMIT
            with pytest.raises(ConnectionResetError):
                while await asyncio.wait_for(client[0].read(1 << 20), TIMEOUT):
                    pass
            await close(client)
            await until(lambda: server.active_sessions == 0)
            assert upper.sessions[0].closes == 1

    with caplog.at_level(logging.WARNING, logger="wireproto.server"):
        run(scenario())
    assert any("unread" in record.getMessage() for record in caplog.records)


# -- resources -------------------------------------------------------------------------


def test_file_descriptors_return_to_baseline(run: Run) -> None:
    async def scenario() -> None:
        # uvloop keeps one descriptor per loop once it has listened (libuv's
        # reserve for EMFILE), so the baseline is taken after a first server.
        async with Server(make_registry(LineProvider()), "127.0.0.1", 0):
            pass
        before_server = open_fds()
        upper = LineProvider()
        server = Server(make_registry(upper), "127.0.0.1", 0)
        await server.start()
        listening = open_fds()
        for round_ in range(3):
            clients = [await connect(server) for _ in range(8)]
            for index, client in enumerate(clients):
                kind = index % 4
                if kind == 0:
                    assert await request(client, b"U:ok\n", 5) == b"U:OK\n"
                elif kind == 1:
                    client[1].write(b"U:" + b"x" * MAX_LINE)
                    assert await read_to_eof(client) == LINE_TOO_LONG
                elif kind == 2:
                    client[1].write(b"nothing known\n")
                    assert await read_to_eof(client) == b""
                else:
                    assert await request(client, b"U:!quit\n", 4) == b"BYE\n"
            for client in clients:
                await close(client)
            await upper.wait_closes(4 * (round_ + 1))
            await until(lambda: server.active_sessions == 0)
            assert open_fds() == listening
        await server.close()
        assert open_fds() == before_server

    run(scenario())


# -- the Server object -------------------------------------------------------------------


def test_addresses_port_and_serve_forever(run: Run) -> None:
    async def scenario() -> None:
        server = Server(make_registry(LineProvider()), "127.0.0.1", 0)
        assert server.addresses == []
        serving = asyncio.create_task(server.serve_forever())
        await until(lambda: server.addresses != [])
        port = server.port
        assert port != 0
        assert server.addresses == [("127.0.0.1", port)]
        client = await connect(server)
        assert await request(client, b"U:x\n", 4) == b"U:X\n"
        serving.cancel()
        assert await read_to_eof(client) == b""
        await close(client)
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(serving, TIMEOUT)
        assert server.addresses == []
        with pytest.raises(ConnectionRefusedError):
            await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), TIMEOUT)

    run(scenario())


def test_a_second_close_waits_for_the_first(run: Run) -> None:
    async def scenario() -> None:
        server = Server(make_registry(LineProvider()), "127.0.0.1", 0)
        await server.start()
        client = await connect(server)
        first = asyncio.create_task(server.close())
        second = asyncio.create_task(server.close())
        assert await read_to_eof(client) == b""
        await close(client)
        await asyncio.wait_for(asyncio.gather(first, second), TIMEOUT)
        assert server.active_sessions == 0

    run(scenario())


# -- the shell without sockets: exact limits and ordering ------------------------------


class FakeTransport(asyncio.Transport):
    """Keeps everything written; nothing drains until :meth:`drain` is called."""

    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.buffered = 0
        self.eof_written = False
        self.closing = False
        self.aborted = False
        self.reading = True
        self.closed = asyncio.Event()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        assert not (self.closing or self.eof_written)
        self.written += data
        self.buffered += len(data)

    def drain(self) -> None:
        self.buffered = 0

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True
        self.closed.set()

    def abort(self) -> None:
        self.aborted = True
        self.close()

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.eof_written = True

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def is_reading(self) -> bool:
        return self.reading

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


def attach(server: Server) -> tuple[_ConnectionProtocol, FakeTransport]:
    protocol = _ConnectionProtocol(server)
    transport = FakeTransport()
    protocol.connection_made(transport)
    return protocol, transport


def feed(protocol: _ConnectionProtocol, data: bytes) -> None:
    """Deliver ``data`` the way a transport does, one ``get_buffer`` region at a time."""
    view = memoryview(data)
    while view:
        region = protocol.get_buffer(-1)
        count = min(len(region), len(view))
        region[:count] = view[:count]
        view = view[count:]
        protocol.buffer_updated(count)


def in_loop(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(scenario(), TIMEOUT))


def test_output_limit_at_max_and_max_plus_one() -> None:
    async def scenario() -> None:
        upper = LineProvider(Limits(max_message_size=MAX_LINE, max_output_buffered=100))
        server = Server(make_registry(upper))
        at_max, at_max_transport = attach(server)
        feed(at_max, b"U:!flood 60\n")
        feed(at_max, b"!flood 40\n")
        assert bytes(at_max_transport.written) == b"F" * 100
        assert not at_max_transport.closing
        assert at_max.connection.close_reason is None

        over, over_transport = attach(server)
        feed(over, b"U:!flood 60\n")
        feed(over, b"!flood 41\n")
        assert over_transport.aborted
        assert over.connection.close_reason is CloseReason.OUTPUT_LIMIT
        assert upper.sessions[1].closes == 1

        for protocol in (at_max, over):
            protocol.connection_lost(None)
        assert [session.closes for session in upper.sessions] == [1, 1]
        assert server.active_sessions == 0

    in_loop(scenario)


def test_one_write_per_batch_and_pending_output_before_the_shutdown_fin() -> None:
    async def scenario() -> None:
        upper = LineProvider()
        server = Server(make_registry(upper))
        protocol, transport = attach(server)
        writes: list[bytes] = []
        original_write = transport.write

        def counting_write(data: bytes | bytearray | memoryview) -> None:
            writes.append(bytes(data))
            original_write(data)

        transport.write = counting_write  # type: ignore[method-assign]
        feed(protocol, b"U:a\nb\nc\n")
        assert writes == [b"U:A\nB\nC\n"]

        upper.sessions[0].sender.send(b"queued outside a batch\n")  # a flush is scheduled
        protocol.shutdown()
        assert writes[1:] == [b"queued outside a batch\n"]
        assert transport.eof_written and not transport.closing
        assert protocol.connection.close_reason is CloseReason.SERVER_SHUTDOWN
        feed(protocol, b"late bytes are read and dropped\n")
        assert protocol.eof_received() is False  # the transport closes itself
        assert not transport.aborted
        protocol.connection_lost(None)
        assert len(writes) == 2
        assert upper.sessions[0].closes == 1

    in_loop(scenario)


def test_backpressure_pauses_and_resumes_reading_unless_closing() -> None:
    async def scenario() -> None:
        server = Server(make_registry(LineProvider()))
        protocol, transport = attach(server)
        protocol.pause_writing()
        assert not transport.reading
        assert server.paused_connections == 1
        protocol.resume_writing()
        assert transport.reading
        assert server.paused_connections == 0

        transport.closing = True
        protocol.pause_writing()
        assert transport.reading
        assert server.paused_connections == 0
        protocol.connection_lost(None)

    in_loop(scenario)


def test_a_closed_connection_lingers_until_the_peer_fin_or_the_timeout() -> None:
    async def scenario() -> None:
        upper = LineProvider()
        server = Server(make_registry(upper), linger_timeout=0.05)
        delivered, delivered_transport = attach(server)
        stuck, stuck_transport = attach(server)
        for protocol, transport in ((delivered, delivered_transport), (stuck, stuck_transport)):
            feed(protocol, b"U:" + b"x" * MAX_LINE)
            assert bytes(transport.written) == LINE_TOO_LONG
            assert transport.eof_written and not transport.closing
            feed(protocol, b"y" * 100_000)  # read (in pieces) and dropped
            assert bytes(transport.written) == LINE_TOO_LONG
        delivered_transport.drain()

        # The peer sends no FIN: once the linger time is over, the transport is
        # closed, and reset only if the peer never read the replies.
        await asyncio.wait_for(delivered_transport.closed.wait(), TIMEOUT)
        await asyncio.wait_for(stuck_transport.closed.wait(), TIMEOUT)
        assert not delivered_transport.aborted
        assert stuck_transport.aborted
        for protocol in (delivered, stuck):
            protocol.connection_lost(None)
        assert [session.closes for session in upper.sessions] == [1, 1]
        assert server.active_sessions == 0

    in_loop(scenario)


# -- the command line -------------------------------------------------------------------


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert re.fullmatch(
        r"wireproto \d+\.\d+\.\d+\S* \((pure Python|compiled: \d+ modules?)\)\n", out
    )


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_cli_serves_until_a_signal(loop: str, signum: signal.Signals) -> None:
    async def scenario() -> None:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            *("-m", "wireproto", "serve", "--port", "0", "--loop", loop),
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            assert process.stdout is not None
            start = await asyncio.wait_for(process.stdout.readline(), TIMEOUT)
            match = re.fullmatch(rb"wireproto serving .+ on 127\.0\.0\.1:(\d+)\n", start)
            assert match, start
            port = int(match[1])
            assert port != 0
            client = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), TIMEOUT)
            process.send_signal(signum)
            assert await read_to_eof(client) == b""  # closed by the shutdown, with a FIN
            await close(client)
            out, err = await asyncio.wait_for(process.communicate(), TIMEOUT)
            assert process.returncode == 0, err
            assert out == b"wireproto stopped\n"
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()

    in_loop(scenario)


# == production hardening ===============================================================
#
# Sans-I/O first (a fake clock makes every deadline exact), then over loopback.


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def line_registry() -> tuple[Registry, LineProvider]:
    upper = LineProvider()
    return make_registry(upper), upper


def fake_connection(
    settings: ConnectionSettings,
    peer: tuple[str, int] = ("127.0.0.1", 40000),
    registry: Registry | None = None,
    **kwargs: Any,
) -> tuple[Connection, FakeClock]:
    clock = FakeClock()
    if registry is None:
        registry = line_registry()[0]
    conn = Connection(registry, settings, extra={"peername": peer}, clock=clock, **kwargs)
    return conn, clock


# -- certificates: a test CA and a server certificate, made once per session --------------


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


# -- the PROXY protocol, sans-I/O --------------------------------------------------------

PROXY_CASES = {
    "v1-tcp4": (
        b"PROXY TCP4 203.0.113.7 192.0.2.1 56324 6380\r\n",
        ProxyHeader(1, ("203.0.113.7", 56324), ("192.0.2.1", 6380)),
    ),
    "v1-tcp6": (
        b"PROXY TCP6 2001:db8::7 2001:db8::1 1 65535\r\n",
        ProxyHeader(1, ("2001:db8::7", 1), ("2001:db8::1", 65535)),
    ),
    "v1-unknown": (b"PROXY UNKNOWN\r\n", ProxyHeader(1)),
    "v1-unknown-long": (
        b"PROXY UNKNOWN ffff:f::f ffff:f::f 65535 65535\r\n",
        ProxyHeader(1),
    ),
    "v2-tcp4": (
        build_proxy_v2(("203.0.113.7", 56324), ("192.0.2.1", 6380)),
        ProxyHeader(2, ("203.0.113.7", 56324), ("192.0.2.1", 6380)),
    ),
    "v2-tcp6-tlvs": (
        build_proxy_v2(
            ("2001:db8::7", 4000), ("2001:db8::1", 6380), tlvs=[(0x01, b"redis"), (0x04, b"")]
        ),
        ProxyHeader(
            2, ("2001:db8::7", 4000), ("2001:db8::1", 6380), tlvs=((1, b"redis"), (4, b""))
        ),
    ),
    "v2-local": (build_proxy_v2(None), ProxyHeader(2, local=True)),
    "v2-unspec": (
        b"\r\n\r\n\x00\r\nQUIT\n\x21\x00\x00\x03abc",
        ProxyHeader(2),
    ),
}


@pytest.mark.parametrize("name", sorted(PROXY_CASES))
def test_proxy_headers_parse_whole_and_not_before(name: str) -> None:
    header, expected = PROXY_CASES[name]
    assert detect_proxy(header) is Verdict.MATCH
    assert parse_proxy_header(header + b"U:rest\n") == (expected, len(header))
    signature = 6 if header.startswith(b"PROXY ") else 12
    for cut in range(signature, len(header)):
        assert parse_proxy_header(header[:cut]) is None, cut


def test_proxy_builders_round_trip() -> None:
    assert build_proxy_v1(("203.0.113.7", 1), ("192.0.2.1", 2)) == (
        b"PROXY TCP4 203.0.113.7 192.0.2.1 1 2\r\n"
    )
    assert build_proxy_v1(None) == b"PROXY UNKNOWN\r\n"
    with pytest.raises(ValueError, match="one address family"):
        build_proxy_v2(("203.0.113.7", 1), ("2001:db8::1", 2))


@pytest.mark.parametrize(
    "data",
    [
        b"PROXY TCP4 203.0.113.7 192.0.2.1 56324 6380\n",  # LF alone
        b"PROXY TCP4 203.0.113.7 192.0.2.1 56324 6380\r\r\n",
        b"PROXY TCP5 203.0.113.7 192.0.2.1 1 2\r\n",
        b"PROXY TCP4 203.0.113.7 192.0.2.1 1\r\n",
        b"PROXY TCP4 203.0.113.7  192.0.2.1 1 2\r\n",
        b"PROXY TCP4 203.0.113.07 192.0.2.1 1 2\r\n",  # a leading zero
        b"PROXY TCP4 2001:db8::1 192.0.2.1 1 2\r\n",  # the wrong family
        b"PROXY TCP6 203.0.113.7 2001:db8::1 1 2\r\n",
        b"PROXY TCP4 203.0.113.7 192.0.2.1 01 2\r\n",
        b"PROXY TCP4 203.0.113.7 192.0.2.1 1 65536\r\n",
        b"PROXY TCP4 203.0.113.7 192.0.2.1 1 -2\r\n",
        b"\r\n\r\n\x00\r\nQUIT\n\x11\x11\x00\x0c" + bytes(12),  # version 1 in a v2 header
        b"\r\n\r\n\x00\r\nQUIT\n\x22\x11\x00\x0c" + bytes(12),  # command 2
        b"\r\n\r\n\x00\r\nQUIT\n\x21\x41\x00\x0c" + bytes(12),  # family 4
        b"\r\n\r\n\x00\r\nQUIT\n\x21\x13\x00\x0c" + bytes(12),  # protocol 3
        b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0b" + bytes(11),  # address block too short
        b"\r\n\r\n\x00\r\nQUIT\n\x21\x12\x00\x0c" + bytes(12),  # a datagram
        b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0e" + bytes(12) + b"\x01\x00",  # cut TLV
        b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x10" + bytes(12) + b"\x01\x00\x05x",
    ],
)
def test_malformed_proxy_headers_are_protocol_errors(data: bytes) -> None:
    with pytest.raises(ProtocolError):
        parse_proxy_header(data)


def test_proxy_v1_line_at_107_bytes_and_108() -> None:
    # The spec's worst case is 107 bytes, CRLF included: pad UNKNOWN's ignored part.
    at_max = b"PROXY UNKNOWN " + b"x" * (107 - 16) + b"\r\n"
    assert len(at_max) == 107
    assert parse_proxy_header(at_max) == (ProxyHeader(1), 107)
    over = b"PROXY UNKNOWN " + b"x" * (108 - 16) + b"\r\n"
    assert parse_proxy_header(over[:106]) is None
    with pytest.raises(ProtocolError, match="107"):
        parse_proxy_header(over)


def test_detect_proxy_verdicts() -> None:
    assert detect_proxy(b"") is Verdict.NEED_MORE
    assert detect_proxy(b"PROX") is Verdict.NEED_MORE
    assert detect_proxy(b"\r\n\r\n\x00") is Verdict.NEED_MORE
    assert detect_proxy(b"PROXY ") is Verdict.MATCH
    assert detect_proxy(b"PROXYX") is Verdict.NO_MATCH
    assert detect_proxy(b"U:") is Verdict.NO_MATCH
    assert detect_proxy(b"\r\n\r\nX") is Verdict.NO_MATCH


def test_proxy_settings_trust_networks_and_mapped_addresses() -> None:
    proxy = ProxySettings.from_strings(["10.0.0.0/8", "2001:db8::/32"])
    assert proxy.trusts(("10.1.2.3", 5))
    assert proxy.trusts(("::ffff:10.1.2.3", 5, 0, 0))
    assert proxy.trusts(("2001:db8::5", 5, 0, 0))
    assert not proxy.trusts(("127.0.0.1", 5))
    assert not proxy.trusts(None)
    assert not proxy.trusts("/run/socket")
    assert ProxySettings(("127.0.0.0/8",)).trusts(("127.0.0.1", 1))  # type: ignore[arg-type]


PROXY_TRUSTED = ProxySettings.from_strings(["127.0.0.0/8"])
PROXY_ELSEWHERE = ProxySettings.from_strings(["10.0.0.0/8"])  # excludes 127.0.0.1


@pytest.mark.parametrize("version", [1, 2])
def test_a_trusted_proxy_header_names_the_real_client(version: int) -> None:
    build = build_proxy_v1 if version == 1 else build_proxy_v2
    header = build(("203.0.113.7", 56324), ("192.0.2.1", 6380))
    conn, _clock = fake_connection(ConnectionSettings(layers=(PROXY_TRUSTED,)))
    conn.receive_data(header + b"U:!info proxy_source\n")
    assert conn.data_to_send() == b"('203.0.113.7', 56324)\n"
    assert conn.get_extra_info("proxy_destination") == ("192.0.2.1", 6380)
    assert conn.get_extra_info("peername") == ("127.0.0.1", 40000)


@pytest.mark.parametrize("version", [1, 2])
def test_a_proxy_header_from_an_untrusted_peer_closes(version: int) -> None:
    build = build_proxy_v1 if version == 1 else build_proxy_v2
    for settings in (ConnectionSettings(layers=(PROXY_ELSEWHERE,)), ConnectionSettings()):
        stats = StatsCollector()
        conn, _clock = fake_connection(settings, stats=stats)
        conn.receive_data(build(("203.0.113.7", 1), ("192.0.2.1", 2)) + b"U:hi\n")
        assert conn.data_to_send() == b""
        if not settings.layers:  # a listener without PROXY: just not a known format
            assert conn.close_reason is CloseReason.NO_MATCH
        else:
            assert conn.close_reason is CloseReason.PROTOCOL_ERROR
            assert "untrusted" in str(conn.error)
            assert stats.snapshot().detections == {"proxy-rejected": 1}


def test_without_a_header_detection_goes_on_unless_required() -> None:
    conn, _clock = fake_connection(ConnectionSettings(layers=(PROXY_TRUSTED,)))
    conn.receive_data(b"U:direct\n")
    assert conn.data_to_send() == b"U:DIRECT\n"
    assert conn.get_extra_info("proxy_source") is None

    required = ProxySettings.from_strings(["127.0.0.0/8"], required=True)
    conn, _clock = fake_connection(ConnectionSettings(layers=(required,)))
    conn.receive_data(b"U:direct\n")
    assert conn.close_reason is CloseReason.PROTOCOL_ERROR
    # An untrusted peer is not asked for one.
    conn, _clock = fake_connection(ConnectionSettings(layers=(required,)), ("192.0.2.9", 1))
    conn.receive_data(b"U:direct\n")
    assert conn.data_to_send() == b"U:DIRECT\n"


def test_a_local_or_unknown_header_keeps_the_socket_addresses() -> None:
    for header in (build_proxy_v1(None), build_proxy_v2(None)):
        conn, _clock = fake_connection(ConnectionSettings(layers=(PROXY_TRUSTED,)))
        conn.receive_data(header + b"U:!info proxy_source\n")
        assert conn.data_to_send() == b"None\n"
        assert isinstance(conn.get_extra_info("proxy_header"), ProxyHeader)


def test_a_proxy_header_must_fit_in_the_detection_bytes() -> None:
    header = build_proxy_v2(("203.0.113.7", 1), ("192.0.2.1", 2), tlvs=[(0xE0, b"x" * 100)])
    fits = ConnectionSettings(layers=(PROXY_TRUSTED,), max_detect_bytes=len(header))
    conn, _clock = fake_connection(fits)
    conn.receive_data(header + b"U:a\n")
    assert conn.data_to_send() == b"U:A\n"
    too_small = ConnectionSettings(layers=(PROXY_TRUSTED,), max_detect_bytes=len(header) - 1)
    conn, _clock = fake_connection(too_small)
    conn.receive_data(header + b"U:a\n")
    assert conn.close_reason is CloseReason.PROTOCOL_ERROR


@hypothesis_settings(max_examples=100, deadline=None)
@given(
    version=st.sampled_from([1, 2]),
    cuts=st.lists(st.integers(min_value=1, max_value=20), min_size=1, max_size=40),
)
def test_proxy_header_and_stream_survive_any_cut(version: int, cuts: list[int]) -> None:
    build = build_proxy_v1 if version == 1 else build_proxy_v2
    stream = build(("198.51.100.4", 9), ("192.0.2.1", 2)) + b"U:!info proxy_source\nb\nc\n"
    conn, _clock = fake_connection(ConnectionSettings(layers=(PROXY_TRUSTED,)))
    offset, output = 0, b""
    for cut in [*cuts, len(stream)]:
        conn.receive_data(stream[offset : offset + cut])
        output += conn.data_to_send()
        offset += cut
        if offset >= len(stream):
            break
    assert output == b"('198.51.100.4', 9)\nB\nC\n"


# -- deadlines with a fake clock: each at max and max+1 ---------------------------------

TICK = 1e-3


def assert_closes_at_the_deadline(
    conn: Connection, clock: FakeClock, seconds: float, reason: CloseReason
) -> None:
    """The next deadline is ``seconds`` away: open a tick before it, closed for ``reason`` at it."""
    assert conn.next_deadline() == clock.now + seconds
    clock.now += seconds - TICK
    conn.check_deadlines()
    assert conn.state is ConnectionState.ACTIVE
    clock.now += TICK
    conn.check_deadlines()
    assert conn.close_reason is reason


def test_detection_deadline_at_max_and_max_plus_one() -> None:
    settings = ConnectionSettings(detect_timeout=2.0)
    conn, clock = fake_connection(settings)
    assert conn.next_deadline() == clock.now + 2.0
    conn.receive_data(b"U")  # undecided
    clock.now += 2.0 - TICK
    conn.check_deadlines()
    assert conn.state is ConnectionState.DETECTING
    clock.now += TICK
    conn.check_deadlines()
    assert conn.close_reason is CloseReason.DETECT_TIMEOUT
    assert conn.next_deadline() is None


def test_detection_deadline_routes_to_the_fallback_at_max() -> None:
    settings = ConnectionSettings(detect_timeout=2.0, fallback_format="banner")
    conn, clock = fake_connection(settings)
    clock.now += 2.0 - TICK
    conn.check_deadlines()
    assert conn.data_to_send() == b""
    clock.now += TICK
    conn.check_deadlines()
    assert conn.wire_format is not None and conn.wire_format.name == "banner"
    assert conn.data_to_send() == GREETING


def test_idle_timeout_at_max_and_max_plus_one() -> None:
    conn, clock = fake_connection(ConnectionSettings(idle_timeout=3.0, detect_timeout=None))
    conn.receive_data(b"U:a\n")
    clock.now += 2.0
    conn.receive_data(b"b\n")  # restarts the idle time
    assert_closes_at_the_deadline(conn, clock, 3.0, CloseReason.IDLE_TIMEOUT)
    assert conn.data_to_send() == b"U:A\nB\n"


def test_the_earliest_deadline_wins() -> None:
    conn, clock = fake_connection(ConnectionSettings(idle_timeout=1.0, detect_timeout=5.0))
    start = clock.now
    assert conn.next_deadline() == start + 1.0
    clock.now += 1.0
    conn.check_deadlines()
    assert conn.close_reason is CloseReason.IDLE_TIMEOUT


# -- TLS, sans-I/O --------------------------------------------------------------------------


def test_detect_tls_verdicts() -> None:
    hello = b"\x16\x03\x01\x02\x00\x01"
    for size in range(len(hello)):
        assert detect_tls(hello[:size]) is Verdict.NEED_MORE, size
    assert detect_tls(hello) is Verdict.MATCH
    for bad in (
        b"\x17\x03\x01\x02\x00\x01",  # application data
        b"\x16\x02",  # SSL 2
        b"\x16\x03\x05",
        b"\x16\x03\x01\x00\x00",  # an empty record
        b"\x16\x03\x01\x48\x01",  # longer than a record may be
        b"\x16\x03\x01\x02\x00\x02",  # a ServerHello
        b"*1\r\n",
    ):
        assert detect_tls(bad) is Verdict.NO_MATCH, bad


def tls_settings(tls_files: dict[str, Path], **kwargs: Any) -> ConnectionSettings:
    return ConnectionSettings(layers=(TlsSettings(server_context(tls_files), **kwargs),))


@pytest.mark.parametrize("piece", [None, 1], ids=["whole", "one-byte-pieces"])
def test_tls_and_plain_on_one_connection_type(
    tls_files: dict[str, Path], piece: int | None
) -> None:
    stats = StatsCollector()
    settings = tls_settings(tls_files)
    conn, _clock = fake_connection(settings, stats=stats)
    client = MemoryTlsClient(client_context(tls_files, ["redis"]), server_hostname="localhost")
    client.handshake(conn, piece)
    inner = conn.inner
    assert inner is not None and conn.wire_format is not None
    assert conn.wire_format.name == "tls"
    assert client.request(conn, b"U:hello\n") == b"U:HELLO\n"
    assert inner.wire_format is not None and inner.wire_format.name == "upper"
    assert client.request(conn, b"!info sni\n") == b"'localhost'\n"
    assert client.request(conn, b"!info alpn_protocol\n") == b"'redis'\n"
    assert client.request(conn, b"!info tls_version\n") == b"'TLSv1.3'\n"
    assert client.request(conn, b"!info peername\n") == b"('127.0.0.1', 40000)\n"

    plain, _clock = fake_connection(settings, stats=stats)
    plain.receive_data(b"U:plain\n")
    assert plain.data_to_send() == b"U:PLAIN\n"

    snapshot = stats.snapshot()
    assert (snapshot.formats["tls"].sessions, snapshot.formats["upper"].sessions) == (1, 2)
    assert snapshot.detections == {"match": 3}
    assert snapshot.active == 2  # two sockets; the inner connection is not one
    assert snapshot.formats["upper"].bytes_received == len(b"U:hello\n!info sni\n") + len(
        b"!info alpn_protocol\n!info tls_version\n!info peername\n"
    ) + len(b"U:plain\n")

    # The inner session quits: close_notify, then the outer connection closes too.
    assert client.request(conn, b"!quit\n") == b"BYE\n"
    assert conn.close_reason is CloseReason.SESSION_CLOSED
    assert client.ssl.read(10) == b""
    client.ssl.unwrap()  # no SSLWantReadError: the server's close_notify has arrived
    assert inner.closed


def test_tls_without_sni_and_a_client_close_notify(tls_files: dict[str, Path]) -> None:
    conn, _clock = fake_connection(tls_settings(tls_files))
    context = client_context(tls_files)
    context.check_hostname = False
    client = MemoryTlsClient(context, server_hostname=None)
    client.handshake(conn)
    assert client.request(conn, b"U:!info sni\n") == b"None\n"
    with contextlib.suppress(ssl.SSLWantReadError):
        client.ssl.unwrap()
    client.deliver(conn)
    inner = conn.inner
    assert inner is not None
    assert inner.close_reason is CloseReason.PEER_CLOSED
    assert conn.close_reason is CloseReason.PEER_CLOSED


def test_tls_required_refuses_plain_and_forbidden_by_default(tls_files: dict[str, Path]) -> None:
    conn, _clock = fake_connection(tls_settings(tls_files, required=True))
    conn.receive_data(b"U:plain\n")
    assert conn.close_reason is CloseReason.NO_MATCH
    conn, _clock = fake_connection(tls_settings(tls_files, required=True))
    MemoryTlsClient(client_context(tls_files)).handshake(conn)
    assert conn.inner is not None

    plain_only, _clock = fake_connection(ConnectionSettings())
    client = MemoryTlsClient(client_context(tls_files))
    with pytest.raises(ssl.SSLWantReadError):
        client.ssl.do_handshake()
    client.deliver(plain_only)
    assert plain_only.close_reason is CloseReason.NO_MATCH


def test_the_fallback_applies_inside_tls_when_tls_is_required(tls_files: dict[str, Path]) -> None:
    settings = ConnectionSettings(
        detect_timeout=1.0,
        fallback_format="banner",
        layers=(TlsSettings(server_context(tls_files), required=True),),
    )
    silent, clock = fake_connection(settings)
    clock.now += 1.0
    silent.check_deadlines()
    assert silent.close_reason is CloseReason.DETECT_TIMEOUT

    conn, clock = fake_connection(settings)
    client = MemoryTlsClient(client_context(tls_files))
    client.handshake(conn)
    assert conn.next_deadline() == clock.now + 1.0  # the inner detection deadline
    clock.now += 1.0
    conn.check_deadlines()
    client.incoming.write(conn.data_to_send())
    assert client.ssl.read(100) == GREETING


def test_tls_handshake_deadline_at_max_and_max_plus_one(tls_files: dict[str, Path]) -> None:
    settings = ConnectionSettings(
        detect_timeout=None,
        layers=(TlsSettings(server_context(tls_files), handshake_timeout=4.0),),
    )
    conn, clock = fake_connection(settings)
    client = MemoryTlsClient(client_context(tls_files))
    with pytest.raises(ssl.SSLWantReadError):
        client.ssl.do_handshake()
    hello = client.outgoing.read()
    conn.receive_data(hello[:20])  # the ClientHello, never finished
    assert_closes_at_the_deadline(conn, clock, 4.0, CloseReason.HANDSHAKE_TIMEOUT)


def test_a_failed_handshake_sends_the_alert_then_closes(tls_files: dict[str, Path]) -> None:
    conn, _clock = fake_connection(tls_settings(tls_files))
    client = MemoryTlsClient(client_context(tls_files))
    with pytest.raises(ssl.SSLWantReadError):
        client.ssl.do_handshake()
    hello = bytearray(client.outgoing.read())
    hello[9:41] = bytes(32)  # keep the framing, break nothing detectable ...
    hello[43:] = b"\xff" * (len(hello) - 43)  # ... but the cipher suites and extensions
    conn.receive_data(bytes(hello))
    assert conn.close_reason is CloseReason.PROTOCOL_ERROR
    assert "TLS" in str(conn.error)
    alert = conn.data_to_send()
    assert alert[:1] == b"\x15"  # an alert record


# -- the receive-memory budget, at max and max+1 ----------------------------------------


def test_memory_budget_admits_connections_at_max_and_refuses_max_plus_one() -> None:
    settings = ConnectionSettings(initial_buffer_size=1024, max_detect_bytes=1024)
    budget = MemoryBudget(3 * 1024)
    conns = [fake_connection(settings, budget=budget)[0] for _ in range(4)]
    assert [conn.state for conn in conns[:3]] == [ConnectionState.DETECTING] * 3
    assert conns[3].close_reason is CloseReason.MEMORY_LIMIT
    assert budget.used == 3 * 1024
    conns[0].close(CloseReason.PEER_CLOSED)
    assert budget.used == 2 * 1024
    assert fake_connection(settings, budget=budget)[0].state is ConnectionState.DETECTING


@pytest.mark.parametrize("spare", [0, -1], ids=["max", "max+1"])
def test_memory_budget_refuses_a_growth_past_it(spare: int) -> None:
    registry = Registry()
    registry.register(KVBIN, KvbinProvider(Limits(max_message_size=4096)))
    settings = ConnectionSettings(initial_buffer_size=1024, max_detect_bytes=1024)
    # The first buffer, one doubling, and the echo's reply (the budget covers replies too).
    budget = MemoryBudget(1024 + 1024 + 12 + 1500 + spare)
    conn, _clock = fake_connection(settings, registry=registry, budget=budget)
    message = build_request(Opcode.ECHO, b"", b"x" * 1500, 9)
    conn.receive_data(message[:1002])  # the next read needs a 2048-byte buffer
    assert budget.used == 1024
    conn.receive_data(message[1002:])
    if spare == 0:
        assert conn.data_to_send()[12:] == b"x" * 1500
        assert conn.buffer.capacity == 1024  # shrunk back once the message was consumed
        assert budget.used == 1024
        assert budget.refusals == 0
    else:
        assert conn.close_reason is CloseReason.MEMORY_LIMIT
        assert budget.used == 0
        assert budget.refusals == 1


# == over loopback ===========================================================================


async def tls_connect(
    server: Server, context: ssl.SSLContext, server_hostname: str = "localhost"
) -> Client:
    return await asyncio.wait_for(
        asyncio.open_connection(
            "127.0.0.1", server.port, ssl=context, server_hostname=server_hostname
        ),
        TIMEOUT,
    )


def test_tls_and_plain_share_a_port_over_loopback(run: Run, tls_files: dict[str, Path]) -> None:
    async def scenario() -> None:
        registry, upper = line_registry()
        kvbin = KvbinProvider()
        registry.register(KVBIN, kvbin)
        settings = tls_settings(tls_files)
        async with Server(registry, "127.0.0.1", 0, settings=settings) as server:
            secure = await tls_connect(server, client_context(tls_files, ["wireproto-test"]))
            assert await request(secure, b"U:secret\n", 9) == b"U:SECRET\n"
            assert await request(secure, b"!info alpn_protocol\n", 17) == b"'wireproto-test'\n"
            plain = await connect(server)
            assert await request(plain, b"U:plain\n", 8) == b"U:PLAIN\n"
            kv = await tls_connect(server, client_context(tls_files))
            reply = await request(kv, build_request(Opcode.ECHO, b"", b"x" * 100_000, 7), 100_012)
            assert reply[12:] == b"x" * 100_000
            stats = server.stats
            assert stats.formats["tls"].sessions == 2
            assert stats.formats["kvbin"].sessions == 1
            assert stats.formats["upper"].sessions == 2
            # What a session sees of the counters (for an INFO-style reply).
            plain_port = plain[1].get_extra_info("sockname")
            (session,) = [
                each
                for each in upper.sessions
                if each.sender.get_extra_info("peername") == plain_port
            ]
            snapshot = session.sender.get_extra_info("server_stats")()
            assert snapshot.accepted == 3 and snapshot.active == 3
            for client in (secure, plain, kv):
                await close(client)
            await until(lambda: server.active_sessions == 0)
            assert server.stats.closes == {"peer-closed": 3}

    run(scenario())


def test_a_client_hello_in_one_byte_writes_over_loopback(
    run: Run, tls_files: dict[str, Path]
) -> None:
    async def scenario() -> None:
        registry, _upper = line_registry()
        async with Server(registry, "127.0.0.1", 0, settings=tls_settings(tls_files)) as server:
            reader, writer = await connect(server)
            writer.transport.get_extra_info("socket").setsockopt(
                socket.IPPROTO_TCP, socket.TCP_NODELAY, 1
            )
            (conn,) = list(server.connections)
            client = MemoryTlsClient(client_context(tls_files))
            with pytest.raises(ssl.SSLWantReadError):
                client.ssl.do_handshake()
            hello = client.outgoing.read()
            assert len(hello) > 200
            for index in range(len(hello)):
                writer.write(hello[index : index + 1])
                await writer.drain()
                async with asyncio.timeout(TIMEOUT):
                    while conn.bytes_received <= index:  # one read per byte, on the server
                        await asyncio.sleep(0)
            assert conn.wire_format is not None and conn.wire_format.name == "tls"
            while True:
                client.incoming.write(await asyncio.wait_for(reader.read(65536), TIMEOUT))
                try:
                    client.ssl.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    continue
            client.ssl.write(b"U:split\n")
            writer.write(client.outgoing.read())
            reply = b""
            while not reply.endswith(b"\n"):
                client.incoming.write(await asyncio.wait_for(reader.read(65536), TIMEOUT))
                with contextlib.suppress(ssl.SSLWantReadError):
                    reply += client.ssl.read(100)
            assert reply == b"U:SPLIT\n"
            await close((reader, writer))

    run(scenario())


def test_redis_py_with_and_without_tls_on_one_port(run: Run, tls_files: dict[str, Path]) -> None:
    async def scenario() -> None:
        registry = Registry()
        resp = providers.resp.register(registry)
        async with Server(registry, "127.0.0.1", 0, settings=tls_settings(tls_files)) as server:
            secure = aioredis.Redis(
                host="127.0.0.1",
                port=server.port,
                ssl=True,
                ssl_ca_certs=str(tls_files["ca"]),
                ssl_cert_reqs="required",
                ssl_check_hostname=True,
            )
            plain = aioredis.Redis(host="127.0.0.1", port=server.port)
            try:
                assert await asyncio.wait_for(secure.set("k", "over tls"), TIMEOUT) is True
                assert await asyncio.wait_for(plain.get("k"), TIMEOUT) == b"over tls"
                assert await asyncio.wait_for(plain.set("p", "plain"), TIMEOUT) is True
                assert await asyncio.wait_for(secure.get("p"), TIMEOUT) == b"plain"
            finally:
                await secure.aclose()
                await plain.aclose()
            assert resp.store is not None
            await until(lambda: server.active_sessions == 0)
            stats = server.stats
            assert stats.formats["tls"].sessions == 1
            assert stats.formats["resp"].sessions == 2

    run(scenario())


@pytest.mark.parametrize("version", [1, 2])
def test_proxy_headers_over_loopback_trusted_and_untrusted(run: Run, version: int) -> None:
    build = build_proxy_v1 if version == 1 else build_proxy_v2

    async def scenario() -> None:
        header = build(("203.0.113.7", 56324), ("192.0.2.1", 6380))
        for proxy, trusted in ((PROXY_TRUSTED, True), (PROXY_ELSEWHERE, False)):
            registry, upper = line_registry()
            settings = ConnectionSettings(layers=(proxy,))
            async with Server(registry, "127.0.0.1", 0, settings=settings) as server:
                client = await connect(server)
                client[1].write(header + b"U:!info proxy_source\n")
                if trusted:
                    expected = b"('203.0.113.7', 56324)\n"
                    assert await asyncio.wait_for(client[0].readline(), TIMEOUT) == expected
                else:
                    assert await read_to_eof(client) == b""
                    assert upper.sessions == []
                    assert server.stats.detections == {"proxy-rejected": 1}
                # Either way, a direct client is served as usual.
                direct = await connect(server)
                assert await request(direct, b"U:direct\n", 9) == b"U:DIRECT\n"
                for each in (client, direct):
                    await close(each)

    run(scenario())


# -- connection limits over loopback, at max and max+1 ----------------------------------


def test_max_connections_at_max_and_max_plus_one(
    run: Run, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        registry, _upper = line_registry()
        limits = ServerLimits(max_connections=3, max_connections_per_client=None)
        async with Server(registry, "127.0.0.1", 0, limits=limits) as server:
            clients = [await connect(server) for _ in range(3)]
            for index, client in enumerate(clients):
                assert await request(client, b"U:%d\n" % index, 4) == b"U:%d\n" % index
            refused = [await connect(server) for _ in range(3)]
            for client in refused:
                assert await read_to_eof(client) == b""
                await close(client)
            assert server.stats.rejected == {"max-connections": 3}
            assert await request(clients[0], b"still\n", 6) == b"STILL\n"
            await close(clients.pop())
            await until(lambda: server.active_sessions == 2)
            again = await connect(server)
            assert await request(again, b"U:again\n", 8) == b"U:AGAIN\n"
            for client in [*clients, again]:
                await close(client)
            stats = server.stats
            assert (stats.accepted, stats.rejected_total) == (7, 3)

    with caplog.at_level(logging.DEBUG, logger="wireproto.server"):
        run(scenario())
    rejections = [r for r in caplog.records if "event=connection.rejected" in r.getMessage()]
    assert len(rejections) == 3
    # Rate-limited: one warning, the others at debug level.
    assert [r.levelno for r in rejections] == [logging.WARNING, logging.DEBUG, logging.DEBUG]


def test_max_connections_per_client_at_max_and_max_plus_one(run: Run) -> None:
    async def scenario() -> None:
        registry, _upper = line_registry()
        limits = ServerLimits(max_connections_per_client=2)
        settings = ConnectionSettings(layers=(PROXY_TRUSTED,))
        async with Server(registry, "127.0.0.1", 0, limits=limits, settings=settings) as server:
            # Behind a trusted proxy the limit applies to the PROXY header's source.
            first, second, third, other = [await connect(server) for _ in range(4)]
            via = {
                "first": (first, "198.51.100.1"),
                "second": (second, "198.51.100.1"),
                "other": (other, "198.51.100.2"),
            }
            for client, source in via.values():
                client[1].write(build_proxy_v1((source, 1000), ("192.0.2.1", 1)) + b"U:a\n")
                assert await asyncio.wait_for(client[0].readexactly(4), TIMEOUT) == b"U:A\n"
            third[1].write(build_proxy_v1(("198.51.100.1", 1001), ("192.0.2.1", 1)) + b"U:a\n")
            assert await read_to_eof(third) == b""
            assert server.stats.rejected == {"max-connections-per-client": 1}
            for client in (first, second, third, other):
                await close(client)
            await until(lambda: server.active_sessions == 0)

        plain_limits = ServerLimits(max_connections_per_client=2)
        async with Server(registry, "127.0.0.1", 0, limits=plain_limits) as server:
            at_max = [await connect(server) for _ in range(2)]
            for client in at_max:
                assert await request(client, b"U:x\n", 4) == b"U:X\n"
            over = await connect(server)
            assert await read_to_eof(over) == b""
            assert server.stats.rejected == {"max-connections-per-client": 1}
            await close(at_max.pop())
            await until(lambda: server.active_sessions == 1)
            replacement = await connect(server)
            assert await request(replacement, b"U:y\n", 4) == b"U:Y\n"
            for client in [*at_max, over, replacement]:
                await close(client)

    run(scenario())


def test_server_limits_validate() -> None:
    for bad in (
        {"max_connections": 0},
        {"max_connections_per_client": 0},
        {"max_receive_memory": 0},
        {"max_output_buffered": 0},
    ):
        with pytest.raises(ValueError):
            ServerLimits(**bad)
    with pytest.raises(ValueError):
        ConnectionSettings(idle_timeout=0)


def test_server_output_cap_lowers_the_providers_at_max_and_max_plus_one() -> None:
    async def scenario() -> None:
        upper = LineProvider()  # its own cap is 64 MiB
        server = Server(make_registry(upper), limits=ServerLimits(max_output_buffered=100))
        at_max, at_max_transport = attach(server)
        feed(at_max, b"U:!flood 100\n")
        assert not at_max_transport.aborted
        over, over_transport = attach(server)
        feed(over, b"U:!flood 101\n")
        assert over_transport.aborted
        assert over.connection.close_reason is CloseReason.OUTPUT_LIMIT
        for protocol in (at_max, over):
            protocol.connection_lost(None)

    in_loop(scenario)


def test_idle_clients_are_closed_over_loopback(run: Run) -> None:
    async def scenario() -> None:
        registry, upper = line_registry()
        settings = ConnectionSettings(idle_timeout=0.2)
        async with Server(registry, "127.0.0.1", 0, settings=settings) as server:
            client = await connect(server)
            assert await request(client, b"U:a\n", 4) == b"U:A\n"
            conn = connection_of(server, upper.sessions[0])
            assert await read_to_eof(client) == b""  # a FIN, not a reset
            assert conn.close_reason is CloseReason.IDLE_TIMEOUT
            await close(client)
            assert server.stats.closes == {"idle-timeout": 1}

    run(scenario())


# -- the fault suite: after each fault, fds and sessions return to the baseline -----------


FAULT_SETTINGS = ConnectionSettings(detect_timeout=0.2, idle_timeout=0.6)


async def _silent(server: Server) -> None:
    client = await connect(server)
    assert await read_to_eof(client) == b""  # closed at the detection deadline
    await close(client)


async def _half_frame_then_vanish(server: Server) -> None:
    client = await connect(server)
    client[1].write(b"U:half a li")
    await until(lambda: any(conn.bytes_received for conn in server.connections))
    sock = client[1].transport.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    await close(client)


async def _half_frame_then_silence(server: Server) -> None:
    client = await connect(server)
    client[1].write(b"U:half a li")
    assert await read_to_eof(client) == b""  # closed at the idle deadline
    await close(client)


async def _garbage(server: Server) -> None:
    client = await connect(server)
    client[1].write(bytes(random.Random(7).randbytes(5000)))
    with contextlib.suppress(ConnectionResetError):
        assert await read_to_eof(client) == b""
    await close(client)


async def _garbage_after_detection(server: Server) -> None:
    client = await connect(server)
    client[1].write(b"U:ok\n" + b"\xff" * 10_000)
    with contextlib.suppress(ConnectionResetError):
        assert await read_to_eof(client) == b"U:OK\n" + LINE_TOO_LONG
    await close(client)


async def _reset_mid_message(server: Server) -> None:
    client = await connect(server)
    assert await request(client, b"U:first\n", 8) == b"U:FIRST\n"
    client[1].write(b"second line, cut")
    await until(lambda: sum(conn.bytes_received for conn in server.connections) >= 8 + 16)
    sock = client[1].transport.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    await close(client)


async def _never_reads(server: Server) -> None:
    client = await connect(server, rcvbuf=4096)
    client[1].write(b"U:!flood %d\n" % (8 << 20))
    with pytest.raises(ConnectionResetError):  # the output cap: a reset
        while await asyncio.wait_for(client[0].read(1 << 20), TIMEOUT):
            pass
    await close(client)


FAULTS = {
    "silent": _silent,
    "half-frame-then-vanish": _half_frame_then_vanish,
    "half-frame-then-silence": _half_frame_then_silence,
    "garbage": _garbage,
    "garbage-after-detection": _garbage_after_detection,
    "reset-mid-message": _reset_mid_message,
    "never-reads": _never_reads,
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_fault_suite(run: Run, fault: str) -> None:
    async def scenario() -> None:
        async with Server(make_registry(LineProvider()), "127.0.0.1", 0):
            pass  # uvloop's one-off descriptor (see test_file_descriptors_return_to_baseline)
        upper = LineProvider(Limits(max_message_size=MAX_LINE, max_output_buffered=1 << 20))
        server = Server(make_registry(upper), "127.0.0.1", 0, settings=FAULT_SETTINGS)
        await server.start()
        bystander = await connect(server)
        assert await request(bystander, b"U:before\n", 9) == b"U:BEFORE\n"
        baseline_fds, baseline_sessions = open_fds(), server.active_sessions
        for round_ in range(2):
            fault_task = asyncio.create_task(FAULTS[fault](server))
            # Meanwhile the bystander is served, in order (and kept from its idle deadline).
            index = 0
            async with asyncio.timeout(TIMEOUT):
                while not fault_task.done() or index < 5:
                    line = b"during %d %d\n" % (round_, index)
                    assert await request(bystander, line, len(line)) == line.upper()
                    index += 1
                    await asyncio.sleep(0.01)
            await fault_task
            await until(lambda: server.active_sessions == baseline_sessions)
            await until(lambda: open_fds() == baseline_fds)
        assert await request(bystander, b"after\n", 6) == b"AFTER\n"
        await close(bystander)
        await asyncio.wait_for(server.close(), TIMEOUT)
        assert all(session.closes == 1 for session in upper.sessions)
        stats = server.stats
        assert stats.active == 0
        assert stats.accepted == 3
        assert sum(stats.closes.values()) == 3

    run(scenario())


# -- graceful shutdown: nothing acknowledged is lost -----------------------------------


def test_shutdown_loses_nothing_acknowledged(run: Run) -> None:
    count = 20_000

    async def scenario() -> None:
        kvbin = KvbinProvider()
        registry = Registry()
        registry.register(KVBIN, kvbin)
        server = Server(registry, "127.0.0.1", 0)
        await server.start()
        reader, writer = await connect(server)
        writer.write(b"".join(build_request(Opcode.SET, b"k%d" % n, b"v", n) for n in range(count)))
        first = await asyncio.wait_for(reader.readexactly(12), TIMEOUT)
        closing = asyncio.create_task(server.close(timeout=TIMEOUT))
        rest = await read_to_eof((reader, writer))
        await close((reader, writer))
        await asyncio.wait_for(closing, TIMEOUT)
        replies = first + rest
        assert len(replies) % 12 == 0  # whole replies only
        acknowledged = len(replies) // 12
        ids = [int.from_bytes(replies[i + 4 : i + 8]) for i in range(0, len(replies), 12)]
        assert ids == list(range(acknowledged))
        # Every acknowledged SET is in the store, and nothing was applied unacknowledged.
        assert sorted(kvbin.store) == sorted(b"k%d" % n for n in range(acknowledged))

    run(scenario())


# -- the command line: TLS options and --workers ---------------------------------------


async def _start_cli(*args: str) -> tuple[asyncio.subprocess.Process, int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "wireproto", "serve", "--port", "0", *args),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    line = (await asyncio.wait_for(process.stdout.readline(), TIMEOUT)).decode()
    match = re.fullmatch(r"wireproto serving .+ on 127\.0\.0\.1:(\d+)( with \d+ workers)?\n", line)
    if match is None:
        process.kill()
        await process.wait()
        raise AssertionError(line)
    return process, int(match[1]), line


async def _kvbin_echo(port: int, payload: bytes, context: ssl.SSLContext | None = None) -> bytes:
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(
            "127.0.0.1", port, ssl=context, server_hostname="localhost" if context else None
        ),
        TIMEOUT,
    )
    try:
        writer.write(build_request(Opcode.ECHO, b"", payload, 1))
        reply = await asyncio.wait_for(reader.readexactly(12 + len(payload)), TIMEOUT)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await asyncio.wait_for(writer.wait_closed(), TIMEOUT)
    return reply[12:]


def test_cli_serves_tls_and_plain(tls_files: dict[str, Path]) -> None:
    async def scenario() -> None:
        process, port, _line = await _start_cli(
            *("--tls-cert", str(tls_files["cert"]), "--tls-key", str(tls_files["key"])),
            *("--idle-timeout", "30", "--max-connections", "50", "--max-receive-memory", "64m"),
        )
        try:
            assert await _kvbin_echo(port, b"secure", client_context(tls_files)) == b"secure"
            assert await _kvbin_echo(port, b"plain") == b"plain"
            process.send_signal(signal.SIGTERM)
            out, err = await asyncio.wait_for(process.communicate(), TIMEOUT)
            assert process.returncode == 0, err
            assert out == b"wireproto stopped\n"
            assert b"event=server.start" in err and b"tls=on" in err
            assert b"event=server.stop" in err
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()

    in_loop(scenario)


def test_cli_serves_a_proxy_header_then_required_tls(tls_files: dict[str, Path]) -> None:
    async def scenario() -> None:
        process, port, _line = await _start_cli(
            *("--tls-cert", str(tls_files["cert"]), "--tls-key", str(tls_files["key"])),
            *("--tls-required", "--proxy-protocol-from", "127.0.0.0/8"),
        )
        try:
            reader, writer = await connect_to(port)
            writer.write(build_proxy_v2(("203.0.113.7", 4000), ("127.0.0.1", port)))
            await writer.start_tls(client_context(tls_files), server_hostname="localhost")
            writer.write(build_request(Opcode.ECHO, b"", b"proxied", 1))
            reply = await asyncio.wait_for(reader.readexactly(12 + 7), TIMEOUT)
            assert reply[12:] == b"proxied"
            writer.close()
            plain = await connect_to(port)  # neither a PROXY header nor TLS: refused
            plain[1].write(build_request(Opcode.ECHO, b"", b"plain", 1))
            assert await asyncio.wait_for(plain[0].read(), TIMEOUT) == b""
            plain[1].close()
            process.send_signal(signal.SIGTERM)
            _out, err = await asyncio.wait_for(process.communicate(), TIMEOUT)
            assert process.returncode == 0, err
            assert b"tls=required proxy=on" in err
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()

    in_loop(scenario)


async def connect_to(port: int) -> Client:
    return await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), TIMEOUT)


def test_cli_rejects_tls_options_without_a_certificate() -> None:
    assert main(["serve", "--port", "0", "--tls-required"]) == 2
    assert main(["serve", "--port", "0", "--proxy-protocol-required"]) == 2


def test_cli_workers_share_the_port_and_a_dead_worker_is_restarted() -> None:
    async def scenario() -> None:
        process, port, line = await _start_cli("--workers", "2", "--log-level", "info")
        assert line.endswith(" with 2 workers\n")
        assert process.stderr is not None
        started: list[tuple[int, int]] = []
        changed = asyncio.Event()

        async def read_log() -> None:
            assert process.stderr is not None
            async for raw in process.stderr:
                match = re.search(rb"event=worker\.start worker=(\d+) pid=(\d+)", raw)
                if match:
                    started.append((int(match[1]), int(match[2])))
                    changed.set()

        logger = asyncio.create_task(read_log())
        try:
            async with asyncio.timeout(TIMEOUT):
                while len(started) < 2:
                    changed.clear()
                    await changed.wait()
            for index in range(10):
                assert await _kvbin_echo(port, b"%d" % index) == b"%d" % index
            _worker, victim = started[0]
            os.kill(victim, signal.SIGKILL)
            async with asyncio.timeout(TIMEOUT):
                while len(started) < 3:
                    changed.clear()
                    await changed.wait()
            assert started[2][0] == started[0][0] and started[2][1] != victim
            for index in range(10):  # the port keeps being served
                assert await _kvbin_echo(port, b"again %d" % index) == b"again %d" % index
            process.send_signal(signal.SIGTERM)
            assert process.stdout is not None
            rest = await asyncio.wait_for(process.stdout.read(), TIMEOUT)
            assert await asyncio.wait_for(process.wait(), TIMEOUT) == 0
            assert rest == b"wireproto stopped\n"
            for _index, pid in started[1:]:
                with pytest.raises(ProcessLookupError):
                    os.kill(pid, 0)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
            await asyncio.wait_for(logger, TIMEOUT)

    in_loop(scenario)


def test_counters_by_outcome_reason_and_format() -> None:
    stats = StatsCollector()
    settings = ConnectionSettings(detect_timeout=1.0, fallback_format="banner")
    registry, _upper = line_registry()

    def new() -> tuple[Connection, FakeClock]:
        return fake_connection(settings, registry=registry, stats=stats)

    ok, _clock = new()
    ok.receive_data(b"U:abc\n")
    assert ok.data_to_send() == b"U:ABC\n"
    bad, _clock = new()
    bad.receive_data(b"U:" + b"x" * MAX_LINE)
    assert bad.data_to_send() == LINE_TOO_LONG  # taken after the close was counted
    late = b"late bytes, discarded"
    bad.get_buffer()[: len(late)] = late  # what the shell does after a close
    bad.buffer_updated(len(late))
    unknown, _clock = new()
    unknown.receive_data(b"?")
    silent, clock = new()
    clock.now += 1.0
    silent.check_deadlines()  # to the fallback format
    assert silent.data_to_send() == GREETING
    snapshot = stats.snapshot()
    assert snapshot.detections == {"match": 2, "no-match": 1, "fallback": 1}
    assert snapshot.protocol_errors == 1
    assert snapshot.closes == {"protocol-error": 1, "no-match": 1}
    assert snapshot.active == 2
    assert snapshot.bytes_received == 6 + 2 + MAX_LINE + len(b"late bytes, discarded") + 1
    assert snapshot.bytes_sent == 6 + len(LINE_TOO_LONG) + len(GREETING)
    upper = snapshot.formats["upper"]
    assert (upper.sessions, upper.active, upper.protocol_errors) == (2, 1, 1)
    assert upper.closes == {"protocol-error": 1}
    assert snapshot.formats["banner"].bytes_sent == len(GREETING)
    ok.close(CloseReason.PEER_CLOSED)
    silent.close(CloseReason.SERVER_SHUTDOWN)
    final = stats.snapshot()
    assert final.active == 0
    assert final.closes == {
        "protocol-error": 1,
        "no-match": 1,
        "peer-closed": 1,
        "server-shutdown": 1,
    }
    assert final.bytes_received == snapshot.bytes_received  # folded in at the close
    assert final.formats["upper"].active == 0
