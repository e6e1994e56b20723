"""The asyncio shell: a TCP listener that drives one :class:`Connection` per client.

Everything about bytes lives in :mod:`wireproto.connection`; this module only
moves them between a transport and the connection, and maps the connection's
state onto the transport: one write per received batch, reading paused while
the peer does not read, a FIN (never a reset) after a protocol error.

The replies to the reads of one event-loop turn leave together: on a socket
transport the first batch's replies are written at once, and the others in one
callback at the start of the next turn, as Redis writes its replies before it
sleeps. A client with many connections is then woken once per turn rather than
once per reply, which costs the server less kernel time per write than
anything it does in Python (see ``benchmarks/README.md``). Other transports
(and the first batch of a turn, so a lone client waits for nothing) are
written to as soon as the batch is read.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import select
import socket
import struct
import time
from collections.abc import KeysView
from dataclasses import dataclass
from types import MappingProxyType, TracebackType
from typing import cast

from wireproto.connection import CloseReason, Connection, ConnectionSettings, ConnectionState
from wireproto.errors import exception_text
from wireproto.layer import Admission
from wireproto.memory import MemoryAccount, MemoryBudget, give_back_memory
from wireproto.proxy import ProxySettings
from wireproto.registry import Registry
from wireproto.session import Maintained
from wireproto.stats import ServerStats, StatsCollector
from wireproto.tls import TlsSettings

__all__ = ["Server", "ServerLimits"]

_log = logging.getLogger("wireproto.server")

_LINGER_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends a reset

_QUIET_CLOSES = frozenset(
    {
        CloseReason.PROTOCOL_ERROR,
        CloseReason.NO_MATCH,
        CloseReason.DETECT_TIMEOUT,
        CloseReason.IDLE_TIMEOUT,
        CloseReason.HANDSHAKE_TIMEOUT,
    }
)

_GIVE_BACK = 32 << 20
"""A drop of the budget's use by this much since its high-water mark asks malloc to trim."""

REJECT_MAX_CONNECTIONS = "max-connections"
REJECT_MAX_PER_CLIENT = "max-connections-per-client"


@dataclass(frozen=True, slots=True)
class ServerLimits:
    """Limits over all of a listener's connections.

    ``max_connections``: open connections (closing ones included: they hold
    a descriptor); one more is closed as soon as it is accepted.
    ``max_connections_per_client``: the same per client IP address (the
    PROXY header's source for connections from a trusted proxy; ``None``:
    no limit). ``max_receive_memory``: the memory budget of all connections
    together (despite its name, everything a client makes the server hold:
    receive buffers, arguments not run yet, queued replies); a charge past
    it closes that connection (``CloseReason.MEMORY_LIMIT``), and a new
    connection whose first buffer does not fit is closed the same way.
    ``max_output_buffered``: lowers every provider's
    ``Limits.max_output_buffered`` (``None``: the provider's own); a
    connection whose queued replies would pass it is reset
    (``CloseReason.OUTPUT_LIMIT``), checked as the replies are built.
    """

    max_connections: int = 10_000
    max_connections_per_client: int | None = 1_000
    max_receive_memory: int = 1 << 30
    max_output_buffered: int | None = None

    def __post_init__(self) -> None:
        if self.max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        if self.max_connections_per_client is not None and self.max_connections_per_client < 1:
            raise ValueError("max_connections_per_client must be at least 1 or None")
        if self.max_receive_memory < 1:
            raise ValueError("max_receive_memory must be at least 1")
        if self.max_output_buffered is not None and self.max_output_buffered < 1:
            raise ValueError("max_output_buffered must be at least 1 or None")


def _client_ip(address: object) -> str | None:
    """The IP address of a peername or a PROXY source, IPv4-mapped IPv6 unwrapped."""
    host = address[0] if isinstance(address, tuple) and address else None
    if not isinstance(host, str):
        return None
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


class _RateLimitedWarning:
    """Logs at most one warning per ``interval`` seconds, counting the ones it held back."""

    def __init__(self, interval: float) -> None:
        self._interval = interval
        self._next = 0.0
        self._held_back = 0

    def __call__(self, message: str, *args: object) -> None:
        now = time.monotonic()
        if now < self._next:
            self._held_back += 1
            _log.debug(message, *args)
            return
        held_back, self._held_back = self._held_back, 0
        self._next = now + self._interval
        if held_back:
            _log.warning(message + " suppressed=%d", *args, held_back)
        else:
            _log.warning(message, *args)


class _ConnectionProtocol(asyncio.BufferedProtocol):
    """Adapts one transport to one sans-I/O :class:`Connection`."""

    _conn: Connection
    _account: MemoryAccount  # the connection's memory account
    _transport: asyncio.Transport

    def __init__(self, server: Server) -> None:
        self._server = server
        self._loop = asyncio.get_running_loop()
        self._peer: object = None
        self._flush_handle: asyncio.Handle | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_when = 0.0
        self._linger_handle: asyncio.TimerHandle | None = None
        self._reading_paused = False
        self._peer_eof = False
        self._finishing = False  # the transport is being closed: write nothing more
        self._close_reported = False
        self._lost = False
        self._refused = False
        self._client: str | None = None  # the address counted against the per-client limit
        self._awaiting_client = False  # the per-client count waits for a layer to name the client
        self._defer = False  # a socket transport: write the replies of later reads in a turn later
        self._held = False  # replies wait for the server's end of the turn

    @property
    def connection(self) -> Connection:
        """The sans-I/O connection this protocol drives."""
        return self._conn

    @property
    def reading_paused(self) -> bool:
        """True while reading is paused because the peer does not read its replies."""
        return self._reading_paused

    # -- asyncio callbacks ------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        self._peer = transport.get_extra_info("peername")
        server = self._server
        settings = server.settings
        server._stats.connection_accepted()
        extra = {"peername": self._peer}
        if any(
            kind.names_client and kind.admission(extra) is not Admission.REFUSED
            for kind in (*settings.layers, *server.registry.layers)
        ):
            self._awaiting_client = True
        else:
            self._client = _client_ip(self._peer)
        refusal = server._refusal(self._client)
        if refusal is not None:
            self._refuse(refusal)
            return
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            with contextlib.suppress(OSError):  # the peer may already be gone
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._defer = sock is not None
        self._conn = Connection(
            server.registry,
            settings,
            extra={
                "peername": self._peer,
                "sockname": transport.get_extra_info("sockname"),
                "server_stats": server._snapshot,
            },
            clock=self._loop.time,
            stats=server._stats,
            budget=server._budget,
        )
        self._account = self._conn.memory
        self._conn.on_output = self._schedule_flush
        if self._awaiting_client:
            self._conn.on_peer_changed = self._client_named
        server._attach(self)
        if self._conn.state is ConnectionState.CLOSED:  # no receive memory left for it
            self._flush()
        else:
            self._arm_timer()

    def get_buffer(self, sizehint: int) -> memoryview:
        try:
            return self._conn.get_buffer(sizehint)
        except Exception as exc:
            self._core_failed(exc)
            self._schedule_flush()
            return self._conn.get_buffer(sizehint)  # the discard buffer of a closed connection

    def buffer_updated(self, nbytes: int) -> None:
        conn = self._conn
        account = self._account
        if account.written:  # what the peer has taken since: room for new replies
            account.set_written(self._transport.get_write_buffer_size())
        try:
            conn.buffer_updated(nbytes)
        except Exception as exc:
            self._core_failed(exc)
        if not self._held:  # else written at the end of the turn (uvloop may read twice)
            if self._defer and self._server._writes_this_turn():
                self._held = True
                self._server._hold(self)
            else:
                self._flush()
        self._arm_timer()

    def eof_received(self) -> bool:
        self._peer_eof = True
        self._conn.eof_received()
        self._flush()
        return False  # the transport closes itself once the replies are written

    def pause_writing(self) -> None:
        if not self._reading_paused and not self._transport.is_closing():
            self._reading_paused = True
            self._transport.pause_reading()

    def resume_writing(self) -> None:
        self._account.set_written(self._transport.get_write_buffer_size())
        if self._reading_paused:
            self._reading_paused = False
            if not self._transport.is_closing():
                self._transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._lost:
            return
        self._lost = True
        if self._refused:
            return
        try:
            self._conn.on_output = None
            self._cancel_timers()
            self._conn.close(CloseReason.CONNECTION_LOST if exc else CloseReason.PEER_CLOSED)
            self._report_close()
        finally:
            self._server._detach(self)

    # -- what the server calls ------------------------------------------------

    def shutdown(self) -> None:
        """Write what the session queued, close it, then close the transport with a FIN."""
        if self._lost:
            return
        self._flush()
        self._conn.close(CloseReason.SERVER_SHUTDOWN)
        self._flush()

    def abort(self) -> None:
        """Drop the connection now (a reset), e.g. when a shutdown timed out."""
        if not self._lost:
            self._conn.close(CloseReason.SERVER_SHUTDOWN)
            self._report_close()
            self._reset()

    # -- internals ------------------------------------------------------------

    def _schedule_flush(self) -> None:
        if self._flush_handle is None and not self._lost:
            self._flush_handle = self._loop.call_soon(self._scheduled_flush)

    def _scheduled_flush(self) -> None:
        self._flush_handle = None
        self._flush()

    def _flush(self) -> None:
        """Write the pending replies in one write; close the transport once the connection is."""
        if self._lost:
            return
        conn = self._conn
        transport = self._transport
        data = conn.data_to_send()
        if data and not self._finishing and not transport.is_closing():
            transport.write(data)
            buffered = transport.get_write_buffer_size()
            account = self._account
            if buffered or account.written:
                account.set_written(buffered)
            if buffered:  # the peer does not read as fast: hold it to the output limit
                limit = conn.output_limit
                if limit is not None and buffered > limit:
                    conn.close(CloseReason.OUTPUT_LIMIT)
        if conn.state is ConnectionState.CLOSED and not self._finishing:
            if conn.close_reason is CloseReason.OUTPUT_LIMIT or (
                conn.close_reason is CloseReason.MEMORY_LIMIT and transport.get_write_buffer_size()
            ):
                self._finishing = True
                self._report_close()
                self._reset()  # a client over its memory gets no more of ours, not even a FIN
                return
            self._finish()

    def _finish(self) -> None:
        """Close the transport after the buffered replies, with a FIN.

        Closing a socket that still holds unread client bytes makes the kernel
        send a reset, and a reset can destroy the error reply still in flight.
        So the write side is shut first and reading goes on into the
        connection's discard buffer until the peer's FIN or the linger timeout.
        """
        self._finishing = True
        self._cancel_timer()
        self._report_close()
        transport = self._transport
        if transport.is_closing():
            return
        if self._peer_eof or not transport.can_write_eof():
            transport.close()
            return
        try:
            transport.write_eof()
        except OSError:  # the peer is already gone
            self._reset()
            return
        self.resume_writing()  # read (and discard) even if the peer stopped reading
        self._linger_handle = self._loop.call_later(
            self._server.linger_timeout, self._linger_expired
        )

    def _linger_expired(self) -> None:
        self._linger_handle = None
        transport = self._transport
        if transport.get_write_buffer_size():
            self._reset()  # close() would wait forever for a peer that does not read
        else:
            transport.close()

    def _reset(self) -> None:
        """Drop the connection: discard what is buffered, here and in the kernel, and reset.

        A plain ``abort()`` lets the kernel deliver its queue and then send a
        FIN, so the peer would take a cut-off stream for a complete one.
        """
        self._finishing = True
        sock = self._transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
        self._transport.abort()

    def _arm_timer(self) -> None:
        """Keep one timer at the connection's next deadline (or earlier: it re-checks)."""
        if self._finishing:
            return
        deadline = self._conn.next_deadline()
        timer = self._timer
        if deadline is None:
            if timer is not None:
                timer.cancel()
                self._timer = None
            return
        if timer is not None:
            if self._timer_when <= deadline:
                return  # deadlines only move later: it fires early and re-arms
            timer.cancel()
        self._timer_when = deadline
        self._timer = self._loop.call_at(deadline, self._timer_fired)

    def _timer_fired(self) -> None:
        self._timer = None
        try:
            self._conn.check_deadlines()
        except Exception as exc:
            self._core_failed(exc)
        self._flush()
        self._arm_timer()

    def _refuse(self, reason: str) -> None:
        """Close a connection over a limit at once, before any Connection is made for it."""
        self._refused = self._finishing = self._close_reported = True
        self._conn = self._server._refused
        self._account = self._conn.memory
        self._server._stats.connection_rejected(reason)
        self._server._warn_rejected(
            "event=connection.rejected reason=%s peer=%s", reason, _format_peer(self._peer)
        )
        self._transport.close()

    def _client_named(self, address: object) -> None:
        """Count the connection against the real client's per-client limit, now known."""
        if not self._awaiting_client:
            return
        self._awaiting_client = False
        client = _client_ip(address) if address is not None else None
        if client is None:
            return
        server = self._server
        if server._over_client_limit(client):
            server._stats.connection_rejected(REJECT_MAX_PER_CLIENT)
            server._warn_rejected(
                "event=connection.rejected reason=%s peer=%s client=%s",
                REJECT_MAX_PER_CLIENT,
                _format_peer(self._peer),
                client,
            )
            self._conn.close(CloseReason.CLIENT_LIMIT)
            return
        self._client = client
        server._count_client(self, client)

    def _core_failed(self, exc: BaseException) -> None:
        _log.error("connection from %s failed in the core", self._peer, exc_info=exc)
        self._conn.close(CloseReason.SESSION_FAILED)

    def _report_close(self) -> None:
        if self._close_reported:
            return
        self._close_reported = True
        if self._server._budget.gave_back(_GIVE_BACK):
            # After this callback: a reset clears the transport's buffer first.
            self._loop.call_soon(give_back_memory)
        conn = self._conn
        reason = conn.close_reason
        if reason is CloseReason.SESSION_FAILED and conn.error is not None:
            if conn.wire_format is None and conn.detected is not None:
                _log.error(
                    "detected %s from %s, but its provider's create_session() raised %s",
                    conn.detected.name,
                    self._peer,
                    exception_text(conn.error),
                    exc_info=conn.error,
                )
            else:
                _log.error(
                    "%s session from %s failed: %s",
                    conn.wire_format.name if conn.wire_format else "undetected",
                    self._peer,
                    exception_text(conn.error),
                    exc_info=conn.error,
                )
        elif reason is CloseReason.OUTPUT_LIMIT:
            self._server._warn_slow_reader(
                "event=connection.closed reason=output-limit peer=%s max_output_buffered=%d "
                "error=%r",
                _format_peer(self._peer),
                conn.output_limit or 0,
                str(conn.error or "more reply bytes unread than the limit"),
            )
        elif reason is CloseReason.MEMORY_LIMIT:
            self._server._warn_memory(
                "event=connection.closed reason=memory-limit peer=%s memory=%d limit=%d error=%r",
                _format_peer(self._peer),
                self._server._budget.used,
                self._server._budget.limit,
                str(conn.error or ""),
            )
        elif reason is CloseReason.AUTH_REQUIRED:
            self._server._warn_rejected(
                "event=connection.rejected reason=auth-required peer=%s %s",
                _format_peer(self._peer),
                conn.error,
            )
        elif reason in _QUIET_CLOSES:
            _log.debug("closed %s (%s) %s", self._peer, reason.value, conn.error or "")

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _cancel_timers(self) -> None:
        self._cancel_timer()
        for handle in (self._flush_handle, self._linger_handle):
            if handle is not None:
                handle.cancel()
        self._flush_handle = self._linger_handle = None


def _layer_mode(settings: ConnectionSettings, kind: type[TlsSettings | ProxySettings]) -> str:
    """``off``, ``on`` or ``required``: how a listener offers a built-in layer (for the log)."""
    for layer in settings.layers:
        if isinstance(layer, kind):
            return "required" if layer.required else "on"
    return "off"


_HANGUP = select.POLLHUP | select.POLLERR | getattr(select, "POLLRDHUP", 0)


def _peer_closed(protocols: set[_ConnectionProtocol]) -> list[_ConnectionProtocol]:
    """Those of ``protocols`` whose peer has closed or reset its side (one ``poll``).

    Linux reports a FIN still unread as ``POLLRDHUP``, even behind unread
    data; elsewhere only a reset or a full hang-up is seen.
    """
    poller = select.poll()
    by_fd: dict[int, _ConnectionProtocol] = {}
    for protocol in protocols:
        sock = protocol._transport.get_extra_info("socket")
        if sock is None:
            continue
        fd = sock.fileno()
        if fd >= 0:
            by_fd[fd] = protocol
            poller.register(fd, _HANGUP)
    return [by_fd[fd] for fd, events in poller.poll(0) if events & _HANGUP and fd in by_fd]


def _format_peer(peer: object) -> str:
    if isinstance(peer, tuple) and len(peer) >= 2:
        host, port = peer[0], peer[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(peer)


class Server:
    """A TCP server that detects each client's wire format and runs its session.

    Use it as an async context manager, or call :meth:`start` and
    :meth:`close`. ``linger_timeout`` bounds how long a closed connection keeps
    reading (and discarding) while it waits for the peer's FIN. ``limits``
    bound all connections together; ``reuse_port`` sets ``SO_REUSEPORT`` so
    that several processes can share the port (``wireproto serve --workers``).
    """

    def __init__(
        self,
        registry: Registry,
        host: str = "127.0.0.1",
        port: int = 6380,
        *,
        settings: ConnectionSettings | None = None,
        limits: ServerLimits | None = None,
        backlog: int = 1024,
        linger_timeout: float = 5.0,
        reuse_port: bool = False,
    ) -> None:
        if linger_timeout <= 0:
            raise ValueError("linger_timeout must be positive")
        self.registry = registry
        self.settings = settings if settings is not None else ConnectionSettings()
        self.limits = limits if limits is not None else ServerLimits()
        self.linger_timeout = linger_timeout
        self._host = host
        self._port = port
        self._backlog = backlog
        self._reuse_port = reuse_port
        self._listener: asyncio.Server | None = None
        self._live: dict[Connection, _ConnectionProtocol] = {}
        # The protocols counted against each client address's limit.
        self._clients: dict[str, set[_ConnectionProtocol]] = {}
        self._stats = StatsCollector()
        self._budget = MemoryBudget(
            self.limits.max_receive_memory, max_output_buffered=self.limits.max_output_buffered
        )
        # What refused protocols point at: closed, so it reads into a discard buffer.
        self._refused = Connection(
            Registry(), ConnectionSettings(max_detect_bytes=1, initial_buffer_size=1)
        )
        self._refused.close(CloseReason.SERVER_SHUTDOWN)
        self._idle = asyncio.Event()
        self._idle.set()
        self._closing = False
        self._draining = False
        self._close_task: asyncio.Task[None] | None = None
        self._closed = asyncio.Event()
        self._warn_slow_reader = _RateLimitedWarning(10.0)
        self._warn_rejected = _RateLimitedWarning(10.0)
        self._warn_memory = _RateLimitedWarning(10.0)
        self._maintenance: list[asyncio.TimerHandle] = []
        self._turn_written = False  # a batch's replies went out in this turn of the event loop
        self._deferred: list[_ConnectionProtocol] = []

    async def start(self) -> None:
        """Bind and start accepting connections.

        Raises ``ValueError`` when the settings' ``auth`` would leave data open
        (see :meth:`~wireproto.registry.Registry.check_auth`).
        """
        if self._listener is not None or self._closing:
            raise RuntimeError("the server was already started")
        # A configuration that would leave data open fails here, before any client is served.
        self.registry.check_auth(self.settings.auth, self.settings.fallback_format)
        loop = asyncio.get_running_loop()
        self._listener = await loop.create_server(
            lambda: _ConnectionProtocol(self),
            self._host,
            self._port,
            backlog=self._backlog,
            reuse_port=self._reuse_port or None,
            start_serving=True,
        )
        self._start_maintenance(loop)
        limits = self.limits
        _log.info(
            "event=server.start pid=%d addresses=%s formats=%s tls=%s proxy=%s max_connections=%d "
            "max_connections_per_client=%s max_receive_memory=%d",
            os.getpid(),
            ",".join(_format_peer(address) for address in self.addresses),
            ",".join(fmt.name for fmt in self.registry.formats) or "-",
            _layer_mode(self.settings, TlsSettings),
            _layer_mode(self.settings, ProxySettings),
            limits.max_connections,
            limits.max_connections_per_client,
            limits.max_receive_memory,
        )

    @property
    def addresses(self) -> list[tuple[str, int]]:
        """The (host, port) pairs actually bound; empty before :meth:`start`."""
        if self._listener is None:
            return []
        return [cast(tuple[str, int], sock.getsockname()[:2]) for sock in self._listener.sockets]

    @property
    def port(self) -> int:
        """The bound port (the OS's choice when 0 was asked)."""
        addresses = self.addresses
        if not addresses:
            raise RuntimeError("the server is not listening")
        return addresses[0][1]

    @property
    def active_sessions(self) -> int:
        """Connections whose transport is still open (detecting, active or closing)."""
        return len(self._live)

    @property
    def connections(self) -> KeysView[Connection]:
        """A live, read-only view of the open connections."""
        return MappingProxyType(self._live).keys()

    @property
    def stats(self) -> ServerStats:
        """A frozen snapshot of the counters (connections, detections, bytes, closes).

        Sessions reach it as ``sender.get_extra_info("server_stats")()``.
        """
        return self._stats.snapshot(self._budget, self._draining)

    def _snapshot(self) -> ServerStats:
        return self._stats.snapshot(self._budget, self._draining)

    @property
    def draining(self) -> bool:
        """True once :meth:`drain` or :meth:`close` was called (``ServerStats.draining``)."""
        return self._draining

    def drain(self) -> None:
        """Tell sessions the server is about to stop, while it still serves.

        Health checks (the HTTP provider's ``/healthz``) then fail, so that a
        load balancer moves traffic away before :meth:`close`.
        """
        if not self._draining:
            self._draining = True
            _log.info("event=server.drain pid=%d", os.getpid())

    @property
    def receive_memory(self) -> MemoryBudget:
        """The memory budget shared by the connections (read-only use)."""
        return self._budget

    @property
    def paused_connections(self) -> int:
        """Open connections whose reading is paused because their peer does not read."""
        return sum(1 for protocol in self._live.values() if protocol.reading_paused)

    async def serve_forever(self) -> None:
        """Serve until :meth:`close` completes; cancelling this closes the server."""
        if self._listener is None and not self._closing:
            await self.start()
        try:
            await self._closed.wait()
        except asyncio.CancelledError:
            await self.close()
            raise

    async def serve_until_signal(self, timeout: float = 5.0) -> None:
        """Serve until SIGINT (Ctrl-C) or SIGTERM, then :meth:`close` and return.

        For a server embedded in an asyncio program: ``asyncio.run(main())``
        with ``await server.serve_until_signal()`` stops cleanly on Ctrl-C,
        without a ``KeyboardInterrupt`` traceback. Where the loop cannot
        handle signals, it serves like :meth:`serve_forever`.
        """
        import signal  # noqa: PLC0415

        if self._listener is None and not self._closing:
            await self.start()
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        handled: list[signal.Signals] = []
        for signum in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(signum, stop.set)
            except (NotImplementedError, RuntimeError):  # not the main thread, or Windows
                continue
            handled.append(signum)
        closed = asyncio.ensure_future(self._closed.wait())
        stopped = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait((closed, stopped), return_when=asyncio.FIRST_COMPLETED)
        finally:
            closed.cancel()
            stopped.cancel()
            for signum in handled:
                loop.remove_signal_handler(signum)
            await self.close(timeout)

    async def close(self, timeout: float = 5.0) -> None:
        """Stop accepting, flush and FIN every connection, reset those left after ``timeout``."""
        if self._close_task is None:
            self._closing = self._draining = True
            self._close_task = asyncio.create_task(self._close(timeout))
        await asyncio.shield(self._close_task)

    def _start_maintenance(self, loop: asyncio.AbstractEventLoop) -> None:
        """Run each distinct provider's periodic work (see :class:`Maintained`)."""
        providers = {id(p): p for p in self.registry.view().values() if isinstance(p, Maintained)}
        for index, provider in enumerate(providers.values()):

            def run(provider: Maintained = provider, index: int = index) -> None:
                try:
                    provider.maintain()
                except Exception:
                    _log.exception("maintenance of %r failed", provider)
                if not self._closing:
                    interval = provider.maintenance_interval
                    self._maintenance[index] = loop.call_later(interval, run)

            self._maintenance.append(loop.call_later(provider.maintenance_interval, run))

    async def _close(self, timeout: float) -> None:
        for handle in self._maintenance:
            handle.cancel()
        try:
            if self._listener is not None:
                self._listener.close()
            for protocol in list(self._live.values()):
                protocol.shutdown()
            try:
                await asyncio.wait_for(self._idle.wait(), timeout)
            except TimeoutError:
                for protocol in list(self._live.values()):
                    protocol.abort()
                await self._idle.wait()  # abort() always leads to connection_lost
            if self._listener is not None:
                await self._listener.wait_closed()
        finally:
            self._closed.set()
            stats = self.stats
            _log.info(
                "event=server.stop pid=%d accepted=%d rejected=%d bytes_received=%d "
                "bytes_sent=%d protocol_errors=%d",
                os.getpid(),
                stats.accepted,
                stats.rejected_total,
                stats.bytes_received,
                stats.bytes_sent,
                stats.protocol_errors,
            )

    async def __aenter__(self) -> Server:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    # -- called by the protocols ------------------------------------------------

    def _refusal(self, client: str | None) -> str | None:
        """Why a new connection from ``client`` must be refused, or None."""
        if len(self._live) >= self.limits.max_connections:
            return REJECT_MAX_CONNECTIONS
        if client is not None and self._over_client_limit(client):
            return REJECT_MAX_PER_CLIENT
        return None

    def _over_client_limit(self, client: str) -> bool:
        limit = self.limits.max_connections_per_client
        if limit is None:
            return False
        counted = self._clients.get(client)
        if counted is None or len(counted) < limit:
            return False
        # At the limit: the client may have closed some of them already, with
        # the FIN still unread (a client that connects, sends and closes faster
        # than the loop reads). They no longer count.
        for protocol in _peer_closed(counted):
            self._uncount_client(protocol)
        return len(counted) >= limit

    def _count_client(self, protocol: _ConnectionProtocol, client: str) -> None:
        protocol._client = client
        self._clients.setdefault(client, set()).add(protocol)

    def _uncount_client(self, protocol: _ConnectionProtocol) -> None:
        """Release ``protocol``'s place under its client's limit (once; later calls do nothing)."""
        client = protocol._client
        if client is None:
            return
        protocol._client = None
        counted = self._clients.get(client)
        if counted is not None:
            counted.discard(protocol)
            if not counted:
                del self._clients[client]

    def client_connections(self, client: str) -> int:
        """How many open connections count against ``client``'s per-address limit."""
        return len(self._clients.get(client, ()))

    def _attach(self, protocol: _ConnectionProtocol) -> None:
        self._live[protocol.connection] = protocol
        if protocol._client is not None:
            self._count_client(protocol, protocol._client)
        self._idle.clear()
        if self._closing:  # accepted just before the listener closed
            protocol.shutdown()

    def _writes_this_turn(self) -> bool:
        """Whether a batch's replies already went out in this turn of the loop.

        The first batch's are written at once, so a lone client waits for
        nothing; the turn ends with the callback this schedules.
        """
        if self._turn_written:
            return True
        self._turn_written = True
        asyncio.get_running_loop().call_soon(self._end_turn)
        return False

    def _hold(self, protocol: _ConnectionProtocol) -> None:
        """Write the replies of ``protocol`` with the others at the end of the turn."""
        self._deferred.append(protocol)

    def _end_turn(self) -> None:
        self._turn_written = False
        deferred, self._deferred = self._deferred, []
        for protocol in deferred:
            protocol._held = False
            try:
                protocol._flush()
            except Exception:  # what asyncio does when a protocol callback fails
                _log.exception("writing to %s failed", protocol._peer)
                protocol._transport.abort()

    def _detach(self, protocol: _ConnectionProtocol) -> None:
        self._live.pop(protocol.connection, None)
        self._uncount_client(protocol)
        if self._budget.gave_back(_GIVE_BACK):
            give_back_memory()  # the connection's memory was freed: return the pages to the OS
        if not self._live:
            self._idle.set()
