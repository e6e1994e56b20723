"""The asyncio adapter: one ``BufferedProtocol`` drives one sans-I/O :class:`Connection`.

It only moves bytes between a transport and the connection, and maps the
connection's state onto the transport: one write per received batch (or per
turn, see :mod:`wireproto._writes`), reading paused while the peer does not
read, a FIN (never a reset) after a protocol error. What it shares with the
server it gets as one :class:`~wireproto._listener.ListenerState`.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from typing import Final, cast

from wireproto._admission import REJECT_MAX_PER_CLIENT, client_ip
from wireproto._connection import CloseReason, Connection, ConnectionState
from wireproto._layer import Admission
from wireproto._listener import GIVE_BACK, ListenerState
from wireproto._logs import format_peer, log, log_close
from wireproto.memory import MemoryAccount, give_back_memory

_CLOSED: Final = ConnectionState.CLOSED  # a module constant: no class lookup per write

__all__ = ["ConnectionProtocol"]

_LINGER_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends a reset


class ConnectionProtocol(asyncio.BufferedProtocol):
    """Adapts one transport to one sans-I/O :class:`Connection`."""

    _conn: Connection
    _account: MemoryAccount  # the connection's memory account
    _transport: asyncio.Transport

    def __init__(self, state: ListenerState) -> None:
        self._state = state
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
        self._client: str | None = None  # the address to count against the per-client limit
        self._awaiting_client = False  # the per-client count waits for a layer to name the client
        self._defer = False  # a socket transport: write the replies of later reads in a turn later
        self._held = False  # replies wait for the end of the turn

    @property
    def connection(self) -> Connection:
        """The sans-I/O connection this protocol drives."""
        return self._conn

    @property
    def reading_paused(self) -> bool:
        """True while reading is paused because the peer does not read its replies."""
        return self._reading_paused

    @property
    def socket(self) -> socket.socket | None:
        """The transport's socket (None for other transports)."""
        return cast("socket.socket | None", self._transport.get_extra_info("socket"))

    # -- asyncio callbacks ------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        self._peer = transport.get_extra_info("peername")
        state = self._state
        settings = state.settings
        state.counters.connection_accepted()
        extra = {"peername": self._peer}
        if any(
            kind.names_client and kind.admission(extra) is not Admission.REFUSED
            for kind in (*settings.layers, *state.registry.layers)
        ):
            self._awaiting_client = True
        else:
            self._client = client_ip(self._peer)
        refusal = state.refusal(self._client)
        if refusal is not None:
            self._refuse(refusal)
            return
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            with contextlib.suppress(OSError):  # the peer may already be gone
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._defer = sock is not None
        self._conn = Connection(
            state.registry,
            settings,
            extra={"peername": self._peer, "sockname": transport.get_extra_info("sockname")},
            clock=self._loop.time,
            stats=state.counters,
            budget=state.budget,
            listener=state,
        )
        self._account = self._conn.memory
        self._conn.on_output = self._schedule_flush
        if self._awaiting_client:
            self._conn.on_peer_changed = self._client_named
        state.attach(self, self._client)
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
            if self._defer and self._state.writes.written_this_turn():
                self._held = True
                self._state.writes.hold(self)
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
            self._state.detach(self)

    # -- what the server and the listener call -----------------------------------

    def write_held(self) -> None:
        """Write the replies held back to the end of the turn (see :mod:`wireproto._writes`)."""
        self._held = False
        try:
            self._flush()
        except Exception:  # what asyncio does when a protocol callback fails
            log.exception("writing to %s failed", self._peer)
            self._transport.abort()

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
        self._arm_timer()  # a session resumed outside a read may have set a deadline

    def _flush(self) -> None:
        """Write the pending replies in one write; close the transport once the connection is."""
        if self._lost:
            return
        conn = self._conn
        transport = self._transport
        data = conn.data_to_send()
        if data and not self._finishing and not transport.is_closing():
            if self._state.barriers:  # e.g. an append-only log's write and fsync
                for barrier in self._state.barriers:
                    barrier()
            transport.write(data)
            buffered = transport.get_write_buffer_size()
            account = self._account
            if buffered or account.written:
                account.set_written(buffered)
            if buffered:  # the peer does not read as fast: hold it to the output limit
                limit = conn.output_limit
                if limit is not None and buffered > limit:
                    conn.close(CloseReason.OUTPUT_LIMIT)
        if conn.state is _CLOSED and not self._finishing:
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
            self._state.linger_timeout, self._linger_expired
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
        self._conn = self._state.refused
        self._account = self._conn.memory
        self._state.counters.connection_rejected(reason)
        self._state.warnings.rejected(
            "event=connection.rejected reason=%s peer=%s", reason, format_peer(self._peer)
        )
        self._transport.close()

    def _client_named(self, address: object) -> None:
        """Count the connection against the real client's per-client limit, now known."""
        if not self._awaiting_client:
            return
        self._awaiting_client = False
        client = client_ip(address) if address is not None else None
        if client is None:
            return
        state = self._state
        if state.clients.over_limit(client):
            state.counters.connection_rejected(REJECT_MAX_PER_CLIENT)
            state.warnings.rejected(
                "event=connection.rejected reason=%s peer=%s client=%s",
                REJECT_MAX_PER_CLIENT,
                format_peer(self._peer),
                client,
            )
            self._conn.close(CloseReason.CLIENT_LIMIT)
            return
        self._client = client
        state.clients.count(self, client)

    def _core_failed(self, exc: BaseException) -> None:
        log.error("connection from %s failed in the core", self._peer, exc_info=exc)
        self._conn.close(CloseReason.SESSION_FAILED)

    def _report_close(self) -> None:
        if self._close_reported:
            return
        self._close_reported = True
        state = self._state
        if state.budget.gave_back(GIVE_BACK):
            # After this callback: a reset clears the transport's buffer first.
            self._loop.call_soon(give_back_memory)
        log_close(self._conn, self._peer, state.warnings, state.budget)

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
