"""The sans-I/O connection: detection, then the consume loop, then closed.

A :class:`Connection` knows no sockets. Whoever drives it (the asyncio shell
in :mod:`wireproto.server`, a test, the fuzz kit) hands it received bytes
through :meth:`Connection.get_buffer` / :meth:`Connection.buffer_updated` (or
:meth:`Connection.receive_data`), writes what :meth:`Connection.data_to_send`
returns, and closes the transport once :attr:`Connection.state` is
``CLOSED``.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from wireproto import proxy
from wireproto.auth import NO_AUTH, AuthSettings
from wireproto.buffer import ReceiveBuffer
from wireproto.detect import Verdict, WireFormat, detect
from wireproto.errors import ContractError, ProtocolError
from wireproto.proxy import ProxySettings
from wireproto.registry import Registry
from wireproto.session import BytesLike, Limits, MessageConsumer
from wireproto.stats import MemoryBudget, StatsCollector
from wireproto.tls import TLS, TlsSession, TlsSettings

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
    IDLE_TIMEOUT = "idle-timeout"
    HANDSHAKE_TIMEOUT = "handshake-timeout"
    MEMORY_LIMIT = "memory-limit"
    CLIENT_LIMIT = "client-limit"
    AUTH_REQUIRED = "auth-required"


@dataclass(frozen=True, slots=True)
class ConnectionSettings:
    """Per-listener settings for detection and buffering.

    ``max_detect_bytes``: detection sees at most this many bytes; a stream
    still undecided at that size is closed. ``detect_timeout``: seconds a
    client may stay undecided (``None``: no deadline); when it passes, the
    connection goes to ``fallback_format`` if one is named (for formats where
    the server speaks first), else it is closed. ``idle_timeout``: a
    connection that receives nothing for this many seconds is closed
    (``None``: never). ``tls``: TLS clients are detected and decrypted on
    this listener (``None``: plain clients only). ``proxy``: peers that may
    open with a PROXY protocol header (``None``: nobody may). ``auth``: who
    may use the listener; when it requires authentication, a format whose
    provider is not :class:`~wireproto.session.Authenticating` is refused at
    detection (``CloseReason.AUTH_REQUIRED``).
    """

    max_detect_bytes: int = 16 * 1024
    detect_timeout: float | None = 5.0
    fallback_format: str | None = None
    initial_buffer_size: int = 16 * 1024
    idle_timeout: float | None = None
    tls: TlsSettings | None = None
    proxy: ProxySettings | None = None
    auth: AuthSettings = NO_AUTH

    def __post_init__(self) -> None:
        if self.max_detect_bytes < 1:
            raise ValueError("max_detect_bytes must be at least 1")
        if self.detect_timeout is not None and self.detect_timeout <= 0:
            raise ValueError("detect_timeout must be positive or None")
        if self.initial_buffer_size < 1:
            raise ValueError("initial_buffer_size must be at least 1")
        if self.idle_timeout is not None and self.idle_timeout <= 0:
            raise ValueError("idle_timeout must be positive or None")


class _Outbox:
    """The connection's ``NetworkSender``: queues replies for the shell."""

    __slots__ = ("_connection", "chunks", "close_requested", "size")

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self.chunks: list[bytes] = []
        self.size = 0
        self.close_requested = False

    def send(self, data: BytesLike, /) -> None:
        connection = self._connection
        if connection.state is ConnectionState.CLOSED:
            return
        chunk = data if type(data) is bytes else bytes(data)
        if chunk:
            self.chunks.append(chunk)
            self.size += len(chunk)
            if not connection._in_batch and connection.on_output is not None:
                connection.on_output()

    def close(self) -> None:
        if not self.close_requested:
            self.close_requested = True
            self._connection._output_queued()

    def get_extra_info(self, name: str, default: object = None, /) -> object:
        return self._connection.extra.get(name, default)

    @property
    def auth(self) -> AuthSettings:
        return self._connection.settings.auth

    def take(self) -> bytes:
        chunks = self.chunks
        if not chunks:
            return b""
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        self.chunks = []
        self.size = 0
        return data


_DISCARD_SIZE = 64 * 1024


class Connection:
    """One client connection, driven with plain bytes.

    ``on_output`` (set by the shell) is called when a session sends or asks
    to close outside :meth:`buffer_updated`, e.g. from a background task, so
    the shell knows to call :meth:`data_to_send`.

    ``extra`` is what sessions read through ``sender.get_extra_info()``
    (the shell gives ``peername`` and ``sockname``). ``clock`` gives the
    time in seconds for the deadlines (:meth:`next_deadline`). ``stats``
    and ``budget`` are shared by a listener's connections. ``outer`` is
    the connection carrying this one (for the inner connection of a TLS
    layer).
    """

    def __init__(
        self,
        registry: Registry,
        settings: ConnectionSettings | None = None,
        *,
        extra: Mapping[str, object] | None = None,
        clock: Callable[[], float] = time.monotonic,
        stats: StatsCollector | None = None,
        budget: MemoryBudget | None = None,
        outer: Connection | None = None,
    ) -> None:
        self.settings = settings if settings is not None else ConnectionSettings()
        self.on_output: Callable[[], None] | None = None
        self.on_proxy_header: Callable[[], None] | None = None
        """Called once a PROXY header was read, before detection goes on: the
        shell checks its per-client limit against the real client here (it may
        close the connection)."""
        self.extra: dict[str, object] = dict(extra) if extra is not None else {}
        self.clock = clock
        self.outer = outer
        self._registry = registry
        self._stats = stats
        self._budget = budget
        self._buffer = ReceiveBuffer(
            self.settings.initial_buffer_size,
            max(self.settings.max_detect_bytes, self.settings.initial_buffer_size),
        )
        self._charged = 0  # buffer capacity reserved from the budget
        self._outbox = _Outbox(self)
        self._session: MessageConsumer | None = None
        self._tls: TlsSession | None = None
        self._in_batch = False
        self._discard: memoryview | None = None
        self.state = ConnectionState.DETECTING
        self.wire_format: WireFormat | None = None
        self.limits: Limits | None = None
        self.close_reason: CloseReason | None = None
        self.error: BaseException | None = None
        """The ``ProtocolError``, or the session's or detector's bug, that closed it."""
        self.bytes_received = 0
        self.bytes_sent = 0
        settings = self.settings
        now = clock() if settings.detect_timeout or settings.idle_timeout else 0.0
        self._detect_deadline = now + settings.detect_timeout if settings.detect_timeout else None
        self._last_received = now
        self._proxy_pending = settings.proxy is not None
        self._proxy_trusted = settings.proxy is not None and settings.proxy.trusts(
            self.extra.get("peername")
        )
        if stats is not None:
            stats.connection_opened(self)
        if budget is not None:
            self._charged = self._buffer.capacity
            if not budget.try_reserve(self._charged):
                self._charged = 0
                self.error = ProtocolError("the receive memory budget is exhausted")
                self.close(CloseReason.MEMORY_LIMIT)

    # -- what the shell calls ------------------------------------------------

    @property
    def buffer(self) -> ReceiveBuffer:
        """The receive buffer (read-only use: tests and metrics)."""
        return self._buffer

    @property
    def session(self) -> MessageConsumer | None:
        """The session, once detection has matched."""
        return self._session

    @property
    def inner(self) -> Connection | None:
        """The connection on the decrypted stream of a TLS connection, after the handshake."""
        return self._tls.inner if self._tls is not None else None

    @property
    def closed(self) -> bool:
        """True once the connection is closed."""
        return self.state is ConnectionState.CLOSED

    @property
    def closing(self) -> bool:
        """True once closed, or once the session asked to close (nothing more is read)."""
        return self.state is ConnectionState.CLOSED or self._outbox.close_requested

    @property
    def output_limit(self) -> int | None:
        """The most reply bytes the shell may hold for a slow reader (``None``: no session yet)."""
        inner = self.inner
        limits = inner.limits if inner is not None and inner.limits is not None else self.limits
        return limits.max_output_buffered if limits is not None else None

    def get_extra_info(self, name: str, default: object = None) -> object:
        """``extra[name]``, or ``default``: what the session's sender answers."""
        return self.extra.get(name, default)

    def get_buffer(self, sizehint: int = -1) -> memoryview:
        """The region the next receive writes into."""
        if self.state is ConnectionState.CLOSED or self._outbox.close_requested:
            return self._discard_region()
        if self._budget is not None:
            return self._budgeted_region()
        return self._buffer.writable()

    def buffer_updated(self, nbytes: int) -> None:
        """``nbytes`` were written into the last :meth:`get_buffer` region."""
        self.bytes_received += nbytes
        if self.state is ConnectionState.CLOSED or self._outbox.close_requested:
            if self.state is ConnectionState.CLOSED and self._stats is not None:
                self._stats.counted_after_close(self, nbytes, 0)
            return
        if self.settings.idle_timeout is not None:
            self._last_received = self.clock()
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
        self.bytes_sent += len(data)
        if data and self.state is ConnectionState.CLOSED and self._stats is not None:
            self._stats.counted_after_close(self, 0, len(data))  # e.g. an error reply
        if self._outbox.close_requested and self.state is ConnectionState.ACTIVE:
            inner = self.inner
            if inner is not None and inner.close_reason is not None:
                # The TLS layer closes because its inner connection did: say why.
                self.error = inner.error
                self.close(inner.close_reason)
            else:
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
        tls = self.settings.tls
        if (
            fallback is None
            or fallback not in self._registry
            or (tls is not None and tls.required)  # the fallback applies inside TLS only
        ):
            self._count_detection("timeout")
            self.close(CloseReason.DETECT_TIMEOUT)
            return
        self._count_detection("fallback")
        self._in_batch = True
        try:
            self._activate(self._registry.get(fallback))
            if self._session is not None and len(self._buffer):
                self._consume()
        finally:
            self._in_batch = False

    def next_deadline(self) -> float | None:
        """When :meth:`check_deadlines` must run next (on :attr:`clock`), or None.

        Deadlines only move later as bytes arrive, so a shell may keep a
        timer that fires early and simply calls :meth:`check_deadlines`.
        """
        state = self.state
        if state is ConnectionState.CLOSED:
            return None
        deadline = self._detect_deadline if state is ConnectionState.DETECTING else None
        idle = self.settings.idle_timeout
        if idle is not None:
            idle_deadline = self._last_received + idle
            deadline = idle_deadline if deadline is None else min(deadline, idle_deadline)
        if self._tls is not None:
            layer = self._tls.next_deadline()
            if layer is not None:
                deadline = layer if deadline is None else min(deadline, layer)
        return deadline

    def check_deadlines(self) -> None:
        """Handle the deadlines that passed: detection, idle time, a TLS layer's.

        Call :meth:`data_to_send` afterwards: a fallback session may greet.
        """
        if self.state is ConnectionState.CLOSED:
            return
        now = self.clock()
        idle = self.settings.idle_timeout
        if idle is not None and now >= self._last_received + idle:
            self.close(CloseReason.IDLE_TIMEOUT)
            return
        if (
            self.state is ConnectionState.DETECTING
            and self._detect_deadline is not None
            and now >= self._detect_deadline
        ):
            self.detect_timed_out()
            return
        tls = self._tls
        if tls is None or self.state is not ConnectionState.ACTIVE:
            return
        if tls.inner is None:
            if now >= tls.handshake_deadline:
                self.close(CloseReason.HANDSHAKE_TIMEOUT)
            return
        self._in_batch = True
        try:
            tls.check_deadlines()
        except ProtocolError as exc:
            self._protocol_error(exc)
        except Exception as exc:
            self._fail(exc)
        finally:
            self._in_batch = False

    def eof_received(self) -> None:
        """The peer will send nothing more."""
        self.close(CloseReason.PEER_CLOSED)

    def close(self, reason: CloseReason) -> None:
        """Close the connection once; the session's ``close()`` runs exactly once."""
        if self.state is ConnectionState.CLOSED:
            return
        tls = self._tls
        if tls is not None and reason is not CloseReason.CONNECTION_LOST:
            try:  # a close_notify before the FIN, while sending is still allowed
                tls.shutdown()
            except Exception:
                _log.debug("TLS shutdown failed", exc_info=True)
        self.state = ConnectionState.CLOSED
        self.close_reason = reason
        session, self._session = self._session, None
        if session is not None:
            try:
                if tls is not None:
                    tls.close(reason)
                else:
                    session.close()
            except Exception as exc:
                _log.exception("session close() of %s failed", self.wire_format)
                if self.error is None:
                    self.error = exc
        if self._budget is not None and self._charged:
            # The buffer itself is freed when the shell drops the connection.
            self._budget.release(self._charged)
            self._charged = 0
        if self._stats is not None:
            self._stats.connection_closed(self)

    # -- internals -----------------------------------------------------------

    def _output_queued(self) -> None:
        if not self._in_batch and self.on_output is not None:
            self.on_output()

    def _count_detection(self, outcome: str) -> None:
        if self._stats is not None:
            self._stats.detected(outcome)

    def _discard_region(self) -> memoryview:
        # Bytes that arrive after the close (or a close request) are dropped.
        if self._discard is None:
            self._discard = memoryview(bytearray(_DISCARD_SIZE))
        return self._discard

    def _budgeted_region(self) -> memoryview:
        """``writable()``, with any growth reserved from the budget first."""
        buffer = self._buffer
        growth = buffer.growth()
        if not growth:  # the capacity the budget was charged for (compact() reconciled it)
            return buffer.writable()
        budget = self._budget
        assert budget is not None
        if not budget.try_reserve(growth):
            self.error = ProtocolError("the receive memory budget is exhausted")
            self.close(CloseReason.MEMORY_LIMIT)
            return self._discard_region()
        self._charged += growth
        region = buffer.writable()
        self._reconcile_budget()
        return region

    def _reconcile_budget(self) -> None:
        budget = self._budget
        if budget is None or self.state is ConnectionState.CLOSED:
            return
        capacity = self._buffer.capacity
        if capacity > self._charged:
            budget.force(capacity - self._charged)
        elif capacity < self._charged:
            budget.release(self._charged - capacity)
        self._charged = capacity

    def _detect(self) -> None:
        if self._proxy_pending and not self._read_proxy_header():
            return
        if self.state is ConnectionState.CLOSED:  # closed by on_proxy_header
            return
        limit = self.settings.max_detect_bytes
        buffered = len(self._buffer)
        data = bytes(self._buffer.unread()[:limit])
        tls = self.settings.tls
        try:
            if tls is None:
                detection = self._registry.detect(data)
            elif tls.required:
                detection = detect((TLS,), data)
            else:
                detection = detect((TLS, *self._registry.formats), data)
        except Exception as exc:
            self._fail(exc)
            return
        if detection.verdict is Verdict.MATCH:
            assert detection.wire_format is not None
            self._count_detection("match")
            self._activate(detection.wire_format)
        elif detection.verdict is Verdict.NO_MATCH or buffered >= limit:
            self._count_detection("no-match")
            self.close(CloseReason.NO_MATCH)

    def _read_proxy_header(self) -> bool:
        """Read a PROXY header if there is one; False while undecided or once closed."""
        limit = self.settings.max_detect_bytes
        data = bytes(self._buffer.unread()[:limit])
        verdict = proxy.detect_proxy(data)
        if verdict is Verdict.NEED_MORE:
            return False
        settings = self.settings.proxy
        assert settings is not None
        if verdict is Verdict.NO_MATCH:
            if self._proxy_trusted and settings.required:
                self._proxy_rejected(ProtocolError("a PROXY protocol header is required"))
                return False
            self._proxy_pending = False
            return True
        if not self._proxy_trusted:
            peer = self.extra.get("peername")
            self._proxy_rejected(ProtocolError(f"PROXY protocol header from untrusted {peer}"))
            return False
        try:
            parsed = proxy.parse_proxy_header(data)
        except ProtocolError as exc:
            self._proxy_rejected(exc)
            return False
        if parsed is None:
            if len(self._buffer) >= limit:
                self._proxy_rejected(
                    ProtocolError(f"PROXY protocol header longer than {limit} bytes")
                )
            return False
        header, size = parsed
        self._buffer.consume(size)
        self._proxy_pending = False
        self.extra["proxy_header"] = header
        if header.source is not None:
            self.extra["proxy_source"] = header.source
            self.extra["proxy_destination"] = header.destination
        self._count_detection("proxy")
        if self.on_proxy_header is not None:
            self.on_proxy_header()
        return True

    def _proxy_rejected(self, exc: ProtocolError) -> None:
        self._count_detection("proxy-rejected")
        self._protocol_error(exc)

    def _activate(self, wire_format: WireFormat) -> None:
        if wire_format is TLS:
            self._activate_tls()
            return
        if self.settings.auth.required and not self._registry.authenticates(wire_format):
            self._refuse_unauthenticated(wire_format)
            return
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
        if self._stats is not None:
            self._stats.session_started(self)

    def _refuse_unauthenticated(self, wire_format: WireFormat) -> None:
        """Close a client of a format that cannot authenticate, on a listener that requires it.

        The server logs the refusal (rate-limited, as the other rejections).
        """
        _log.debug("refused a %s client: the listener requires authentication", wire_format.name)
        if self._stats is not None:
            self._stats.connection_rejected(CloseReason.AUTH_REQUIRED.value)
        self.error = ProtocolError(f"format={wire_format.name} cannot authenticate")
        self.close(CloseReason.AUTH_REQUIRED)

    def _activate_tls(self) -> None:
        tls = self.settings.tls
        assert tls is not None
        inner_settings = dataclasses.replace(self.settings, tls=None, proxy=None, idle_timeout=None)

        def open_inner(tls_extra: dict[str, object]) -> Connection:
            return Connection(
                self._registry,
                inner_settings,
                extra={**self.extra, **tls_extra},
                clock=self.clock,
                stats=self._stats,
                budget=self._budget,
                outer=self,
            )

        self._tls = TlsSession(tls, self._outbox, open_inner, self.clock)
        self.wire_format = TLS
        self.limits = tls.limits
        self._buffer.max_size = self.limits.max_message_size
        self._session = self._tls
        self.state = ConnectionState.ACTIVE
        if self._stats is not None:
            self._stats.session_started(self)

    def _consume(self) -> None:
        buffer = self._buffer
        session = self._session
        assert session is not None and self.limits is not None
        # The session never sees more than one maximal message, so a message
        # over the cap fails the same way whether it came in one read or many.
        max_message = self.limits.max_message_size
        outbox = self._outbox
        left = len(buffer)
        while left and not outbox.close_requested:
            view = buffer.unread(max_message)
            given = len(view)
            try:
                # object: compiled by mypyc, an int annotation would coerce or reject a
                # bad result before the contract check below could name it.
                used: object = session.try_consume(view)
            except ProtocolError as exc:
                self._protocol_error(exc)
                return
            except Exception as exc:
                self._fail(exc)
                return
            finally:
                # Released on every path: a traceback kept in self.error must
                # not pin the buffer. BufferError: the session kept an export.
                try:
                    view.release()
                    kept_export = False
                except BufferError:
                    kept_export = True
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
            left = buffer.consume(used)
        buffer.compact()
        if self._budget is not None and buffer.capacity != self._charged:
            self._reconcile_budget()
        if outbox.close_requested:
            return  # closed by data_to_send(), after the replies before it
        if left and buffer.is_full:
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
