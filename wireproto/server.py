"""The asyncio shell: a TCP listener that drives one :class:`Connection` per client.

Everything about bytes lives in :mod:`wireproto.connection`; this module only
moves them between a transport and the connection, and maps the connection's
state onto the transport: one write per received batch, reading paused while
the peer does not read, a FIN (never a reset) after a protocol error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
import time
from collections.abc import KeysView
from types import MappingProxyType, TracebackType
from typing import cast

from wireproto.connection import CloseReason, Connection, ConnectionSettings, ConnectionState
from wireproto.registry import Registry

__all__ = ["Server"]

_log = logging.getLogger("wireproto.server")

_LINGER_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends a reset

_QUIET_CLOSES = frozenset(
    {CloseReason.PROTOCOL_ERROR, CloseReason.NO_MATCH, CloseReason.DETECT_TIMEOUT}
)


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
            _log.warning(message + " (%d more since the last warning)", *args, held_back)
        else:
            _log.warning(message, *args)


class _ConnectionProtocol(asyncio.BufferedProtocol):
    """Adapts one transport to one sans-I/O :class:`Connection`."""

    _conn: Connection
    _transport: asyncio.Transport

    def __init__(self, server: Server) -> None:
        self._server = server
        self._loop = asyncio.get_running_loop()
        self._peer: object = None
        self._flush_handle: asyncio.Handle | None = None
        self._detect_handle: asyncio.TimerHandle | None = None
        self._linger_handle: asyncio.TimerHandle | None = None
        self._reading_paused = False
        self._peer_eof = False
        self._finishing = False  # the transport is being closed: write nothing more
        self._close_reported = False
        self._lost = False

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
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            with contextlib.suppress(OSError):  # the peer may already be gone
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        settings = self._server.settings
        self._conn = Connection(self._server.registry, settings)
        self._conn.on_output = self._schedule_flush
        if settings.detect_timeout is not None:
            self._detect_handle = self._loop.call_later(
                settings.detect_timeout, self._detect_deadline
            )
        self._server._attach(self)

    def get_buffer(self, sizehint: int) -> memoryview:
        try:
            return self._conn.get_buffer(sizehint)
        except Exception as exc:
            self._core_failed(exc)
            self._schedule_flush()
            return self._conn.get_buffer(sizehint)  # the discard buffer of a closed connection

    def buffer_updated(self, nbytes: int) -> None:
        try:
            self._conn.buffer_updated(nbytes)
        except Exception as exc:
            self._core_failed(exc)
        if self._conn.state is not ConnectionState.DETECTING:
            self._cancel_detect()
        self._flush()

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
        if self._reading_paused:
            self._reading_paused = False
            if not self._transport.is_closing():
                self._transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._lost:
            return
        self._lost = True
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
            limits = conn.limits
            if (
                limits is not None
                and transport.get_write_buffer_size() > limits.max_output_buffered
            ):
                conn.close(CloseReason.OUTPUT_LIMIT)
                self._finishing = True
                self._report_close()
                self._reset()  # a slow reader gets no more of our memory, not even a FIN
                return
        if conn.state is ConnectionState.CLOSED and not self._finishing:
            self._finish()

    def _finish(self) -> None:
        """Close the transport after the buffered replies, with a FIN.

        Closing a socket that still holds unread client bytes makes the kernel
        send a reset, and a reset can destroy the error reply still in flight.
        So the write side is shut first and reading goes on into the
        connection's discard buffer until the peer's FIN or the linger timeout.
        """
        self._finishing = True
        self._cancel_detect()
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

    def _detect_deadline(self) -> None:
        self._detect_handle = None
        try:
            self._conn.detect_timed_out()
        except Exception as exc:
            self._core_failed(exc)
        self._flush()

    def _core_failed(self, exc: Exception) -> None:
        _log.error("connection from %s failed in the core", self._peer, exc_info=exc)
        self._conn.close(CloseReason.SESSION_FAILED)

    def _report_close(self) -> None:
        if self._close_reported:
            return
        self._close_reported = True
        conn = self._conn
        reason = conn.close_reason
        if reason is CloseReason.SESSION_FAILED and conn.error is not None:
            _log.error(
                "%s session from %s failed: %r",
                conn.wire_format.name if conn.wire_format else "undetected",
                self._peer,
                conn.error,
                exc_info=conn.error,
            )
        elif reason is CloseReason.OUTPUT_LIMIT:
            self._server._warn_slow_reader(
                "closed %s: more than %d reply bytes unread",
                self._peer,
                conn.limits.max_output_buffered if conn.limits else 0,
            )
        elif reason in _QUIET_CLOSES:
            _log.debug("closed %s (%s) %s", self._peer, reason.value, conn.error or "")

    def _cancel_detect(self) -> None:
        if self._detect_handle is not None:
            self._detect_handle.cancel()
            self._detect_handle = None

    def _cancel_timers(self) -> None:
        self._cancel_detect()
        for handle in (self._flush_handle, self._linger_handle):
            if handle is not None:
                handle.cancel()
        self._flush_handle = self._linger_handle = None


class Server:
    """A TCP server that detects each client's wire format and runs its session.

    Use it as an async context manager, or call :meth:`start` and
    :meth:`close`. ``linger_timeout`` bounds how long a closed connection keeps
    reading (and discarding) while it waits for the peer's FIN.
    """

    def __init__(
        self,
        registry: Registry,
        host: str = "127.0.0.1",
        port: int = 6380,
        *,
        settings: ConnectionSettings | None = None,
        backlog: int = 1024,
        linger_timeout: float = 5.0,
    ) -> None:
        if linger_timeout <= 0:
            raise ValueError("linger_timeout must be positive")
        self.registry = registry
        self.settings = settings if settings is not None else ConnectionSettings()
        self.linger_timeout = linger_timeout
        self._host = host
        self._port = port
        self._backlog = backlog
        self._listener: asyncio.Server | None = None
        self._live: dict[Connection, _ConnectionProtocol] = {}
        self._idle = asyncio.Event()
        self._idle.set()
        self._closing = False
        self._close_task: asyncio.Task[None] | None = None
        self._closed = asyncio.Event()
        self._warn_slow_reader = _RateLimitedWarning(10.0)

    async def start(self) -> None:
        """Bind and start accepting connections."""
        if self._listener is not None or self._closing:
            raise RuntimeError("the server was already started")
        loop = asyncio.get_running_loop()
        self._listener = await loop.create_server(
            lambda: _ConnectionProtocol(self),
            self._host,
            self._port,
            backlog=self._backlog,
            start_serving=True,
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

    async def close(self, timeout: float = 5.0) -> None:
        """Stop accepting, flush and FIN every connection, reset those left after ``timeout``."""
        if self._close_task is None:
            self._closing = True
            self._close_task = asyncio.create_task(self._close(timeout))
        await asyncio.shield(self._close_task)

    async def _close(self, timeout: float) -> None:
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

    def _attach(self, protocol: _ConnectionProtocol) -> None:
        self._live[protocol.connection] = protocol
        self._idle.clear()
        if self._closing:  # accepted just before the listener closed
            protocol.shutdown()

    def _detach(self, protocol: _ConnectionProtocol) -> None:
        self._live.pop(protocol.connection, None)
        if not self._live:
            self._idle.set()
