"""What the shell's tests share: a small line protocol (no provider needed), loopback
clients, a fake transport and a fake clock."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import ssl
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

import uvloop  # a test dependency: if it is missing these tests must fail, not skip
from _tls import server_context

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
from wireproto._connection import ConnectionState
from wireproto._protocol import ConnectionProtocol
from wireproto._proxy import (
    ProxySettings,
)
from wireproto._server import Server
from wireproto._tls import TlsSettings

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


# -- the shell without sockets: a fake transport ------------------------------------


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


def attach(server: Server) -> tuple[ConnectionProtocol, FakeTransport]:
    protocol = server._new_protocol()
    transport = FakeTransport()
    protocol.connection_made(transport)
    return protocol, transport


def feed(protocol: ConnectionProtocol, data: bytes) -> None:
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


PROXY_TRUSTED = ProxySettings.from_strings(["127.0.0.0/8"])
PROXY_ELSEWHERE = ProxySettings.from_strings(["10.0.0.0/8"])  # excludes 127.0.0.1


# -- deadlines and TLS settings ----------------------------------------------------------

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


def tls_settings(tls_files: dict[str, Path], **kwargs: Any) -> ConnectionSettings:
    return ConnectionSettings(layers=(TlsSettings(server_context(tls_files), **kwargs),))


# -- loopback clients of a TLS listener and of the CLI ------------------------------------


async def tls_connect(
    server: Server, context: ssl.SSLContext, server_hostname: str = "localhost"
) -> Client:
    return await asyncio.wait_for(
        asyncio.open_connection(
            "127.0.0.1", server.port, ssl=context, server_hostname=server_hostname
        ),
        TIMEOUT,
    )


async def connect_to(port: int) -> Client:
    return await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), TIMEOUT)
