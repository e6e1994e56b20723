"""The asyncio shell over loopback, on the default loop and on uvloop, and the CLI."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import re
import signal
import socket
import struct
import sys
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
import uvloop  # a test dependency: if it is missing these tests must fail, not skip

from wireproto import (
    CloseReason,
    Connection,
    ConnectionSettings,
    Limits,
    NetworkSender,
    ProtocolError,
    Registry,
    WireFormat,
    match_prefix,
)
from wireproto.cli import main
from wireproto.server import Server, _ConnectionProtocol

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
    assert re.fullmatch(r"wireproto \d+\.\d+\.\d+\S*\n", capsys.readouterr().out)


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
