"""The sans-I/O connection: detection, then the consume loop, then closed.

A :class:`Connection` knows no sockets. Whoever drives it (the asyncio shell
in :mod:`wireproto.server`, a test, the fuzz kit) hands it received bytes
through :meth:`Connection.get_buffer` / :meth:`Connection.buffer_updated` (or
:meth:`Connection.receive_data`), writes what :meth:`Connection.data_to_send`
returns, and closes the transport once :attr:`Connection.state` is
``CLOSED``.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass

from wireproto.buffer import ReceiveBuffer
from wireproto.detect import Verdict, WireFormat
from wireproto.errors import ContractError, ProtocolError
from wireproto.registry import Registry
from wireproto.session import BytesLike, Limits, MessageConsumer

__all__ = ["CloseReason", "Connection", "ConnectionSettings", "ConnectionState"]

_log = logging.getLogger("wireproto.connection")


class ConnectionState(enum.Enum):
    """Where a connection is in its life."""

    DETECTING = "detecting"
    ACTIVE = "active"
    CLOSED = "closed"


class CloseReason(enum.Enum):
    """Why a connection was closed."""

    PEER_CLOSED = "peer-closed"
    CONNECTION_LOST = "connection-lost"
    SESSION_CLOSED = "session-closed"
    PROTOCOL_ERROR = "protocol-error"
    NO_MATCH = "no-match"
    DETECT_TIMEOUT = "detect-timeout"
    SESSION_FAILED = "session-failed"
    OUTPUT_LIMIT = "output-limit"
    SERVER_SHUTDOWN = "server-shutdown"


@dataclass(frozen=True, slots=True)
class ConnectionSettings:
    """Per-listener settings for detection and buffering.

    ``max_detect_bytes``: detection sees at most this many bytes; a stream
    still undecided at that size is closed. ``detect_timeout``: seconds a
    client may stay undecided (``None``: no deadline); when it passes, the
    connection goes to ``fallback_format`` if one is named (for formats where
    the server speaks first), else it is closed.
    """

    max_detect_bytes: int = 16 * 1024
    detect_timeout: float | None = 5.0
    fallback_format: str | None = None
    initial_buffer_size: int = 16 * 1024

    def __post_init__(self) -> None:
        if self.max_detect_bytes < 1:
            raise ValueError("max_detect_bytes must be at least 1")
        if self.detect_timeout is not None and self.detect_timeout <= 0:
            raise ValueError("detect_timeout must be positive or None")
        if self.initial_buffer_size < 1:
            raise ValueError("initial_buffer_size must be at least 1")


class _Outbox:
    """The connection's ``NetworkSender``: queues replies for the shell."""

    __slots__ = ("_connection", "chunks", "close_requested", "size")

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self.chunks: list[bytes] = []
        self.size = 0
        self.close_requested = False

    def send(self, data: BytesLike, /) -> None:
        if self._connection.state is ConnectionState.CLOSED:
            return
        chunk = data if type(data) is bytes else bytes(data)
        if chunk:
            self.chunks.append(chunk)
            self.size += len(chunk)
            self._connection._output_queued()

    def close(self) -> None:
        if not self.close_requested:
            self.close_requested = True
            self._connection._output_queued()

    def take(self) -> bytes:
        chunks = self.chunks
        if not chunks:
            return b""
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        self.chunks = []
        self.size = 0
        return data


_DISCARD_SIZE = 64 * 1024


def _release(view: memoryview) -> bool:
    """Release ``view``; False when something still holds an export of it."""
    try:
        view.release()
    except BufferError:
        return False
    return True


class Connection:
    """One client connection, driven with plain bytes.

    ``on_output`` (set by the shell) is called when a session sends or asks
    to close outside :meth:`buffer_updated`, e.g. from a background task, so
    the shell knows to call :meth:`data_to_send`.
    """

    def __init__(self, registry: Registry, settings: ConnectionSettings | None = None) -> None:
        self.settings = settings if settings is not None else ConnectionSettings()
        self.on_output: Callable[[], None] | None = None
        self._registry = registry
        self._buffer = ReceiveBuffer(
            self.settings.initial_buffer_size,
            max(self.settings.max_detect_bytes, self.settings.initial_buffer_size),
        )
        self._outbox = _Outbox(self)
        self._session: MessageConsumer | None = None
        self._in_batch = False
        self._discard: memoryview | None = None
        self.state = ConnectionState.DETECTING
        self.wire_format: WireFormat | None = None
        self.limits: Limits | None = None
        self.close_reason: CloseReason | None = None
        self.error: BaseException | None = None
        """The ``ProtocolError``, or the session's or detector's bug, that closed it."""

    # -- what the shell calls ------------------------------------------------

    @property
    def buffer(self) -> ReceiveBuffer:
        """The receive buffer (read-only use: tests and metrics)."""
        return self._buffer

    @property
    def session(self) -> MessageConsumer | None:
        """The session, once detection has matched."""
        return self._session

    def get_buffer(self, sizehint: int = -1) -> memoryview:
        """The region the next receive writes into."""
        if self.state is ConnectionState.CLOSED or self._outbox.close_requested:
            # Bytes that arrive after the close (or a close request) are dropped.
            if self._discard is None:
                self._discard = memoryview(bytearray(_DISCARD_SIZE))
            return self._discard
        return self._buffer.writable()

    def buffer_updated(self, nbytes: int) -> None:
        """``nbytes`` were written into the last :meth:`get_buffer` region."""
        if self.state is ConnectionState.CLOSED or self._outbox.close_requested:
            return
        self._buffer.commit(nbytes)
        self._in_batch = True
        try:
            if self.state is ConnectionState.DETECTING:
                self._detect()
            if self._session is not None:  # detection matched, now or earlier
                self._consume()
        finally:
            self._in_batch = False

    def receive_data(self, data: BytesLike) -> None:
        """Feed ``data`` as if the transport had received it (tests, the fuzz kit)."""
        view = memoryview(data).cast("B")
        while view and self.state is not ConnectionState.CLOSED:
            region = self.get_buffer()
            count = min(len(region), len(view))
            region[:count] = view[:count]
            view = view[count:]
            self.buffer_updated(count)

    def data_to_send(self) -> bytes:
        """Take the bytes to write now.

        If the session asked to close, the connection is closed after these
        bytes: check :attr:`state` after the write.
        """
        data = self._outbox.take()
        if self._outbox.close_requested and self.state is ConnectionState.ACTIVE:
            self.close(CloseReason.SESSION_CLOSED)
        return data

    @property
    def pending_output(self) -> int:
        """Bytes queued by the session and not yet taken."""
        return self._outbox.size

    def detect_timed_out(self) -> None:
        """The detection deadline passed: go to the fallback format or close."""
        if self.state is not ConnectionState.DETECTING:
            return
        fallback = self.settings.fallback_format
        if fallback is None or fallback not in self._registry:
            self.close(CloseReason.DETECT_TIMEOUT)
            return
        self._in_batch = True
        try:
            self._activate(self._registry.get(fallback))
            if self._session is not None and len(self._buffer):
                self._consume()
        finally:
            self._in_batch = False

    def eof_received(self) -> None:
        """The peer will send nothing more."""
        self.close(CloseReason.PEER_CLOSED)

    def close(self, reason: CloseReason) -> None:
        """Close the connection once; the session's ``close()`` runs exactly once."""
        if self.state is ConnectionState.CLOSED:
            return
        self.state = ConnectionState.CLOSED
        self.close_reason = reason
        session, self._session = self._session, None
        if session is not None:
            try:
                session.close()
            except Exception as exc:
                _log.exception("session close() of %s failed", self.wire_format)
                if self.error is None:
                    self.error = exc

    # -- internals -----------------------------------------------------------

    def _output_queued(self) -> None:
        if not self._in_batch and self.on_output is not None:
            self.on_output()

    def _detect(self) -> None:
        limit = self.settings.max_detect_bytes
        buffered = len(self._buffer)
        data = bytes(self._buffer.unread()[:limit])
        try:
            detection = self._registry.detect(data)
        except Exception as exc:
            self._fail(exc)
            return
        if detection.verdict is Verdict.MATCH:
            assert detection.wire_format is not None
            self._activate(detection.wire_format)
        elif detection.verdict is Verdict.NO_MATCH or buffered >= limit:
            self.close(CloseReason.NO_MATCH)

    def _activate(self, wire_format: WireFormat) -> None:
        provider = self._registry.provider(wire_format)
        try:
            limits = provider.limits
            self._buffer.max_size = limits.max_message_size
            session = provider.create_session(wire_format, self._outbox)
        except ProtocolError as exc:
            self._protocol_error(exc)
            return
        except Exception as exc:
            self._fail(exc)
            return
        self.wire_format = wire_format
        self.limits = limits
        self._session = session
        self.state = ConnectionState.ACTIVE

    def _consume(self) -> None:
        buffer = self._buffer
        session = self._session
        assert session is not None and self.limits is not None
        # The session never sees more than one maximal message, so a message
        # over the cap fails the same way whether it came in one read or many.
        max_message = self.limits.max_message_size
        outbox = self._outbox
        while buffer and not outbox.close_requested:
            view = buffer.unread(max_message)
            given = len(view)
            try:
                used = session.try_consume(view)
            except ProtocolError as exc:
                self._protocol_error(exc)
                return
            except Exception as exc:
                self._fail(exc)
                return
            finally:
                # Released on every path: a traceback kept in self.error must
                # not pin the buffer. BufferError: the session kept an export.
                kept_export = not _release(view)
            if kept_export:
                self._fail(ContractError("the session kept an export of the buffer view"))
                return
            if type(used) is not int or not 0 <= used <= given:
                self._fail(
                    ContractError(f"try_consume returned {used!r} for {given} bytes of input")
                )
                return
            if used == 0:
                break
            buffer.consume(used)
        buffer.compact()
        if outbox.close_requested:
            return  # closed by data_to_send(), after the replies before it
        if buffer.is_full:
            size = buffer.max_size
            self._protocol_error(ProtocolError(f"message larger than the {size}-byte limit"))

    def _protocol_error(self, exc: ProtocolError) -> None:
        if exc.reply:
            self._outbox.send(exc.reply)
        self.error = exc
        self.close(CloseReason.PROTOCOL_ERROR)

    def _fail(self, exc: Exception) -> None:
        # The shell logs it with its traceback; a debug line here is enough.
        _log.debug("closing a %s connection after a server-side bug: %r", self.wire_format, exc)
        self.error = exc
        self.close(CloseReason.SESSION_FAILED)
