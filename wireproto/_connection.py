"""The sans-I/O connection: detection, then the consume loop, then closed.

A :class:`Connection` knows no sockets. Whoever drives it (the asyncio shell
in :mod:`wireproto._server`, a test, the fuzz kit) hands it received bytes
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
from typing import Final

from wireproto._auth import NO_AUTH, AuthSettings
from wireproto._buffer import ReceiveBuffer
from wireproto._detect import Verdict, WireFormat, detect
from wireproto._errors import CloseReason, ContractError, ProtocolError
from wireproto._layer import Admission, Layer, LayerKind
from wireproto._registry import Registry
from wireproto._session import BytesLike, Limits, ListenerInfo, MessageConsumer, NetworkSender
from wireproto._stats import ConnectionCounts, StatsCollector
from wireproto._users import UserDirectory
from wireproto.memory import MemoryAccount, MemoryBudget, MemoryLimitExceeded, OutputLimitExceeded

__all__ = ["CloseReason", "Connection", "ConnectionSettings", "ConnectionState"]

_log = logging.getLogger("wireproto.connection")


class ConnectionState(enum.Enum):
    """Where a connection is in its life."""

    DETECTING = "detecting"
    ACTIVE = "active"
    CLOSED = "closed"


# Module constants for the per-read paths: ``ConnectionState.CLOSED`` is an
# attribute lookup on the class every time (CPython 3.11 does not specialise it).
_DETECTING: Final = ConnectionState.DETECTING
_ACTIVE: Final = ConnectionState.ACTIVE
_CLOSED: Final = ConnectionState.CLOSED


@dataclass(frozen=True, slots=True)
class ConnectionSettings:
    """Per-listener settings for detection and buffering.

    ``max_detect_bytes``: detection sees at most this many bytes; a stream
    still undecided at that size is closed. ``detect_timeout``: seconds a
    client may stay undecided (``None``: no deadline); when it passes, the
    connection goes to ``fallback_format`` if one is named (for formats where
    the server speaks first), else it is closed. ``idle_timeout``: a
    connection that receives nothing for this many seconds is closed
    (``None``: never). ``layers``: the layer kinds this listener offers,
    outermost first (see :mod:`wireproto._layer`); the registry's layers
    follow them. ``auth``: who may use the listener; when it requires
    authentication, a format whose provider is not
    :class:`~wireproto._session.Authenticating` is refused at detection
    (``CloseReason.AUTH_REQUIRED``).
    """

    max_detect_bytes: int = 16 * 1024
    detect_timeout: float | None = 5.0
    fallback_format: str | None = None
    initial_buffer_size: int = 16 * 1024
    idle_timeout: float | None = None
    layers: tuple[LayerKind, ...] = ()
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
    """The connection's ``NetworkSender``: queues replies for the shell, charging each one."""

    __slots__ = ("_connection", "chunks", "close_requested")

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self.chunks: list[bytes] = []
        self.close_requested = False

    def send(self, data: BytesLike, /) -> None:
        connection = self._connection
        if connection.state is _CLOSED:
            return
        chunk = data if type(data) is bytes else bytes(data)
        if chunk:
            # MemoryAccount.charge_output() inlined for the common case (once per
            # read batch): within the output limit and the budget, account open.
            account = connection._memory
            size = len(chunk)
            outbox = account.outbox + size
            budget = account.budget
            if outbox > account.outbox_cap:
                self._charge(account, size)  # raises, unless the account is closed
            elif budget is None:
                account.outbox = outbox
            else:
                used = budget.used + size
                if used > budget.limit or account.closed:
                    self._charge(account, size)
                else:
                    account.outbox = outbox
                    budget.used = used
                    if used > budget.high_water:  # noqa: PLR1730 (max() is a call)
                        budget.high_water = used
            self.chunks.append(chunk)  # their size: the account's ``outbox``
            if not connection._in_batch and connection.on_output is not None:
                connection.on_output()

    def _charge(self, account: MemoryAccount, size: int) -> None:
        """Charge ``size`` bytes through the account (the budget, or past the limit: it raises)."""
        try:
            account.charge_output(size)
        except MemoryLimitExceeded as exc:
            if not self._connection._in_batch:  # else _consume() closes it
                self._connection._memory_exceeded(exc)
            raise

    def close(self) -> None:
        if not self.close_requested:
            self.close_requested = True
            self._connection._output_queued()

    @property
    def memory(self) -> MemoryAccount:
        return self._connection._memory

    @property
    def clock(self) -> Callable[[], float]:
        """The connection's clock (seconds): a session's deadlines are on it."""
        return self._connection.clock

    def resume(self) -> None:
        """Offer the buffered bytes to the session again, before the next replies are taken.

        For a session that stopped consuming (it returned less than the whole
        messages it was given, e.g. a client blocked on a key) and is ready again
        outside a read batch: the connection calls ``try_consume`` from
        :meth:`Connection.data_to_send`, and the shell is told there is output.
        """
        connection = self._connection
        if connection.state is ConnectionState.ACTIVE:
            connection._resume = True
            connection._output_queued()

    def set_limits(self, limits: Limits) -> None:
        """Hold the open session to its provider's new ``limits`` (changed at run time).

        The receive-buffer cap and the output limit change at once (the
        listener's memory budget still bounds both); bytes already held stay.
        """
        connection = self._connection
        if connection.state is ConnectionState.ACTIVE:
            connection._set_limits(limits)

    def get_extra_info(self, name: str, default: object = None, /) -> object:
        return self._connection.extra.get(name, default)

    @property
    def auth(self) -> AuthSettings:
        return self._connection.settings.auth

    @property
    def listener(self) -> ListenerInfo | None:
        return self._connection.listener

    def take(self) -> bytes:
        chunks = self.chunks
        if not chunks:
            return b""
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        self.chunks = []
        account = self._connection._memory
        if not account.closed:  # release_output() inlined
            budget = account.budget
            if budget is not None:
                budget.used -= account.outbox
            account.outbox = 0
        return data

    @property
    def size(self) -> int:
        """Bytes queued (the account's count while the connection is open)."""
        account = self._connection._memory
        return sum(map(len, self.chunks)) if account.closed else account.outbox

    def drop(self) -> None:
        """Forget the queued replies (the peer is being cut off)."""
        self._connection._memory.release_output(self._connection._memory.outbox)
        self.chunks = []


_DISCARD = memoryview(bytearray(16 * 1024))
"""Where every closed connection of the process reads the bytes it drops.

One region for all: what is written there is never read, and a read fills it
and returns before the next one starts (one event loop per thread)."""


def _without_frames(exc: BaseException) -> BaseException:
    """``exc`` and the exceptions it was raised from, without their tracebacks.

    An error kept in :attr:`Connection.error` must not keep the session's frames,
    and with them the session and what it held (the arguments of an unfinished
    command), alive while the closed connection lingers outside the budget.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        current.__traceback__ = None
        current = current.__cause__ or current.__context__
    return exc


class Connection:
    """One client connection, driven with plain bytes.

    ``on_output`` (set by the shell) is called when a session sends or asks
    to close outside :meth:`buffer_updated`, e.g. from a background task, so
    the shell knows to call :meth:`data_to_send`.

    ``extra`` is what sessions read through ``sender.get_extra_info()``
    (the shell gives ``peername`` and ``sockname``). ``clock`` gives the
    time in seconds for the deadlines (:meth:`next_deadline`). ``stats``
    and ``budget`` are shared by a listener's connections: everything the
    connection holds for its client is charged to its :attr:`memory`
    account, and through it to ``budget``. ``listener`` is what sessions
    see of the listener (``sender.listener``; the shell gives it). ``outer`` is
    the connection carrying this one (for the inner connection of a layer),
    and ``layers`` the layer kinds it may detect (by default the settings'
    then the registry's).
    """

    # Slots: past 29 attributes CPython 3.11 keeps an instance dict of its own, on
    # which method calls are not specialised (one lookup per call, several per
    # read). "__dict__" keeps an attribute added without a slot working.
    __slots__ = (
        "__dict__",
        "__weakref__",
        "_budget",
        "_buffer",
        "_counts",
        "_detect_deadline",
        "_detect_formats",
        "_in_batch",
        "_inner",
        "_last_received",
        "_layer",
        "_layer_kinds",
        "_layers",
        "_memory",
        "_outbox",
        "_registry",
        "_required_layer",
        "_resume",
        "_session",
        "_session_check",
        "_session_deadline",
        "_stats",
        "_try_consume",
        "_unauthenticated_in",
        "clock",
        "close_reason",
        "detected",
        "error",
        "extra",
        "limits",
        "listener",
        "on_output",
        "on_peer_changed",
        "outer",
        "settings",
        "state",
        "wire_format",
    )

    def __init__(
        self,
        registry: Registry,
        settings: ConnectionSettings | None = None,
        *,
        extra: Mapping[str, object] | None = None,
        clock: Callable[[], float] = time.monotonic,
        stats: StatsCollector | None = None,
        budget: MemoryBudget | None = None,
        listener: ListenerInfo | None = None,
        outer: Connection | None = None,
        layers: tuple[LayerKind, ...] | None = None,
    ) -> None:
        self.settings = settings if settings is not None else ConnectionSettings()
        self.on_output: Callable[[], None] | None = None
        self.on_peer_changed: Callable[[object], None] | None = None
        """Called when a layer names the real client (its address, or None):
        the shell checks its per-client limit against it here (it may close
        the connection). Unset, an inner connection passes it to its outer one."""
        self.extra: dict[str, object] = dict(extra) if extra is not None else {}
        self.clock = clock
        self.listener = listener
        self.outer = outer
        self._registry = registry
        self._stats = stats
        self._budget = budget
        self._unauthenticated_in: UserDirectory | None = None
        self._buffer = ReceiveBuffer(
            self.settings.initial_buffer_size,
            max(self.settings.max_detect_bytes, self.settings.initial_buffer_size),
        )
        self._memory = MemoryAccount(budget)
        self._outbox = _Outbox(self)
        self._session: MessageConsumer | None = None
        # Its try_consume, bound once. Typed as returning object: compiled by mypyc, the
        # declared int result would coerce or reject a bad one before the contract check
        # in _consume() could name it.
        self._try_consume: Callable[[memoryview], object] | None = None
        self._layer: Layer | None = None
        self._inner: Connection | None = None
        self._in_batch = False
        self._resume = False
        self._session_deadline: Callable[[], float | None] | None = None
        self._session_check: Callable[[], None] | None = None
        self.state = ConnectionState.DETECTING
        self.wire_format: WireFormat | None = None
        # The format detection chose, set before its create_session() runs (even if it fails).
        self.detected: WireFormat | None = None
        self.limits: Limits | None = None
        self.close_reason: CloseReason | None = None
        self.error: BaseException | None = None
        """The ``ProtocolError``, or the session's or detector's bug, that closed it."""
        self._counts = ConnectionCounts(socket=outer is None)
        settings = self.settings
        now = clock() if settings.detect_timeout or settings.idle_timeout else 0.0
        self._detect_deadline = now + settings.detect_timeout if settings.detect_timeout else None
        self._last_received = now
        self._layers = settings.layers + registry.layers if layers is None else layers
        self._layer_kinds: dict[str, tuple[int, LayerKind, Admission]] = {}
        self._required_layer: LayerKind | None = None
        self._detect_formats = self._offer_layers() if self._layers else None
        if stats is not None:
            stats.connection_opened(self._counts)
        if budget is not None and not self._memory.try_grow_receive(self._buffer.capacity):
            self.error = MemoryLimitExceeded("the memory budget is exhausted")
            self.close(CloseReason.MEMORY_LIMIT)

    # -- what the shell calls ------------------------------------------------

    @property
    def buffer(self) -> ReceiveBuffer:
        """The receive buffer (read-only use: tests and metrics)."""
        return self._buffer

    @property
    def memory(self) -> MemoryAccount:
        """What the connection holds for its client (read-only; sessions use ``sender.memory``)."""
        return self._memory

    @property
    def session(self) -> MessageConsumer | None:
        """The session, once detection has matched."""
        return self._session

    @property
    def inner(self) -> Connection | None:
        """The connection on the inner stream of a layer, once the layer opened it."""
        return self._inner

    @property
    def bytes_received(self) -> int:
        """Bytes received on this connection (the inner stream's, for an inner connection)."""
        return self._counts.bytes_received

    @property
    def bytes_sent(self) -> int:
        """Bytes taken by :meth:`data_to_send`."""
        return self._counts.bytes_sent

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
        inner = self._inner
        limit = inner.output_limit if inner is not None else None
        if limit is not None:
            return limit
        return self._memory.output_limit if self.limits is not None else None

    def get_extra_info(self, name: str, default: object = None) -> object:
        """``extra[name]``, or ``default``: what the session's sender answers."""
        return self.extra.get(name, default)

    def get_buffer(self, sizehint: int = -1) -> memoryview:
        """The region the next receive writes into."""
        if self.state is _CLOSED or self._outbox.close_requested:
            return self._discard_region()
        if self._budget is not None:
            return self._budgeted_region()
        return self._buffer.writable()

    def buffer_updated(self, nbytes: int) -> None:
        """``nbytes`` were written into the last :meth:`get_buffer` region."""
        self._counts.bytes_received += nbytes
        if self.state is _CLOSED or self._outbox.close_requested:
            if self.state is _CLOSED and self._stats is not None:
                self._stats.counted_after_close(self._counts, nbytes, 0)
            return
        if self.settings.idle_timeout is not None:
            self._last_received = self.clock()
        self._buffer.commit(nbytes)
        self._in_batch = True
        try:
            if self.state is _DETECTING:
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
        if self._resume:
            self._resume_consuming()
        data = self._outbox.take()
        self._counts.bytes_sent += len(data)
        if data and self.state is _CLOSED and self._stats is not None:
            self._stats.counted_after_close(self._counts, 0, len(data))  # e.g. an error reply
        if self._outbox.close_requested and self.state is _ACTIVE:
            inner = self._inner
            if inner is not None and inner.close_reason is not None:
                # The layer closes because its inner connection did: say why.
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
        if (
            fallback is None
            or fallback not in self._registry
            or self._required_layer is not None  # the fallback applies inside it only
        ):
            self._count_detection("timeout")
            self.close(CloseReason.DETECT_TIMEOUT)
            return
        self._count_detection("fallback")
        self._in_batch = True
        try:
            self._activate(self._registry.wire_format(fallback))
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
        idle = self.settings.idle_timeout
        if state is _ACTIVE and idle is None and self._layer is None:
            # The shell asks after every read: the common case in one test.
            of_session = self._session_deadline
            return of_session() if of_session is not None else None
        if state is _CLOSED:
            return None
        deadline = self._detect_deadline if state is _DETECTING else None
        if idle is not None:
            idle_deadline = self._last_received + idle
            deadline = idle_deadline if deadline is None else min(deadline, idle_deadline)
        if self._layer is not None:
            layer = self._layer.next_deadline()
            if layer is not None:
                deadline = layer if deadline is None else min(deadline, layer)
        if self._session_deadline is not None and state is _ACTIVE:
            session = self._session_deadline()
            if session is not None:
                deadline = session if deadline is None else min(deadline, session)
        return deadline

    def check_deadlines(self) -> None:
        """Handle the deadlines that passed: detection, idle time, a layer's, the session's.

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
        if self._session_check is not None and self.state is ConnectionState.ACTIVE:
            self._check_session_deadline(now)
        layer = self._layer
        if layer is None or self.state is not ConnectionState.ACTIVE:
            return
        self._in_batch = True
        try:
            layer.check_deadlines()
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
        layer = self._layer
        if layer is not None and reason is not CloseReason.CONNECTION_LOST:
            try:  # the layer's last words before the FIN, while sending is still allowed
                layer.shutdown()
            except Exception:
                _log.debug("layer shutdown failed", exc_info=True)
        self.state = ConnectionState.CLOSED
        self.close_reason = reason
        if self._unauthenticated_in is not None:
            self._unauthenticated_in.detach(self._unauthenticated_in.default, self)
            self._unauthenticated_in = None
        session, self._session = self._session, None
        self._session_deadline = self._session_check = None  # bound to it: they would pin it
        self._try_consume = None
        if session is not None:
            try:
                session.close()
            except Exception as exc:
                name = self.wire_format.name if self.wire_format else "an undetected stream"
                _log.exception("session close() of %s failed", name)
                if self.error is None:
                    self.error = exc
        self._memory.close()
        if self._buffer.capacity > 1:
            # Freed now, not when the shell drops the connection after its linger.
            self._buffer = ReceiveBuffer(1, 1)
        if self._stats is not None:
            self._stats.connection_closed(self._counts, reason)

    # -- internals -----------------------------------------------------------

    def _resume_consuming(self) -> None:
        """The session asked (``sender.resume()``) to see the buffered bytes again."""
        self._resume = False
        if self.state is not ConnectionState.ACTIVE or self._outbox.close_requested:
            return
        if self._session is not None and len(self._buffer):
            self._in_batch = True
            try:
                self._consume()
            finally:
                self._in_batch = False

    def _check_session_deadline(self, now: float) -> None:
        """Run the session's ``check_deadlines()`` when its deadline has passed."""
        deadline = self._session_deadline() if self._session_deadline is not None else None
        check = self._session_check
        if deadline is None or now < deadline or check is None:
            return
        self._in_batch = True
        try:
            check()
        except ProtocolError as exc:
            self._protocol_error(exc)
        except MemoryLimitExceeded as exc:
            self._memory_exceeded(exc)
        except Exception as exc:
            self._fail(exc)
        finally:
            self._in_batch = False

    def _output_queued(self) -> None:
        if not self._in_batch and self.on_output is not None:
            self.on_output()

    def _count_detection(self, outcome: str) -> None:
        if self._stats is not None:
            self._stats.detected(outcome)

    def _discard_region(self) -> memoryview:
        # Bytes that arrive after the close (or a close request) are dropped.
        return _DISCARD

    def _memory_exceeded(self, exc: MemoryLimitExceeded) -> None:
        """Close for a charge that was refused; the queued replies are dropped."""
        self._outbox.drop()
        self.error = _without_frames(exc)
        output = isinstance(exc, OutputLimitExceeded)
        self.close(CloseReason.OUTPUT_LIMIT if output else CloseReason.MEMORY_LIMIT)

    def _budgeted_region(self) -> memoryview:
        """``writable()``, with any growth reserved from the budget first."""
        buffer = self._buffer
        growth = buffer.growth()
        if not growth:  # the capacity the budget was charged for (compact() reconciled it)
            return buffer.writable()
        if not self._memory.try_grow_receive(growth):
            self.error = MemoryLimitExceeded("the memory budget is exhausted")
            self.close(CloseReason.MEMORY_LIMIT)
            return self._discard_region()
        region = buffer.writable()
        self._memory.set_receive(buffer.capacity)
        return region

    def _offer_layers(self) -> tuple[WireFormat, ...]:
        """The formats to detect: the layers offered to this peer, then the registry's formats.

        The first layer this peer is required to use ends the list: nothing
        after it is detected at this level.
        """
        formats: list[WireFormat] = []
        for index, kind in enumerate(self._layers):
            admission = kind.admission(self.extra)
            self._layer_kinds[kind.wire_format.name] = (index, kind, admission)
            formats.append(kind.wire_format)
            if admission is Admission.REQUIRED:
                self._required_layer = kind
                return tuple(formats)
        return (*formats, *self._registry.formats)

    def _detect(self) -> None:
        limit = self.settings.max_detect_bytes
        buffered = len(self._buffer)
        data = bytes(self._buffer.unread()[:limit])
        try:
            if self._detect_formats is None:
                detection = self._registry.detect(data)
            else:
                detection = detect(self._detect_formats, data)
        except Exception as exc:
            self._fail(exc)
            return
        if detection.verdict is Verdict.MATCH:
            assert detection.wire_format is not None
            offered = self._layer_kinds.get(detection.wire_format.name)
            if offered is not None and offered[1].wire_format is detection.wire_format:
                self._open_layer(*offered)
                return
            self._count_detection("match")
            self._activate(detection.wire_format)
        elif detection.verdict is Verdict.NO_MATCH or buffered >= limit:
            required = self._required_layer
            error = required.rejection(False, self.extra) if required is not None else None
            if required is not None and error is not None:
                self._count_detection(f"{required.wire_format.name}-rejected")
                self._protocol_error(error)
                return
            self._count_detection("no-match")
            self.close(CloseReason.NO_MATCH)

    def _open_layer(self, index: int, kind: LayerKind, admission: Admission) -> None:
        name = kind.wire_format.name
        if admission is Admission.REFUSED:
            error = kind.rejection(True, self.extra)
            self._count_detection(f"{name}-rejected")
            self._protocol_error(error or ProtocolError(f"the {name} layer is refused"))
            return
        self._count_detection(kind.outcome)
        try:
            limits = kind.limits
            self._buffer.max_size = limits.max_message_size
            layer = kind.create(_LayerHost(self, self._layers[index + 1 :]))
        except ProtocolError as exc:
            self._protocol_error(exc)
            return
        except Exception as exc:
            self._fail(exc)
            return
        self.wire_format = kind.wire_format
        self.limits = limits
        self._memory.output_limit = self._output_cap(limits)
        self._layer = layer
        self._session = layer
        self._try_consume = layer.try_consume
        self.state = ConnectionState.ACTIVE
        if self._stats is not None:
            self._stats.session_started(self._counts, name)

    def _name_client(self, address: object, extra: Mapping[str, object]) -> None:
        self.extra.update(extra)
        if self.on_peer_changed is not None:
            self.on_peer_changed(address)
        elif self.outer is not None:
            self.outer._name_client(address, extra)

    def _activate(self, wire_format: WireFormat) -> None:
        users = self._listener_users()
        closed_to_anyone = self.settings.auth.required or (
            users is not None and not users.open_to_anyone
        )
        if (closed_to_anyone or users is not None) and not self._registry.authenticates(
            wire_format
        ):
            if closed_to_anyone:
                self._refuse_unauthenticated(wire_format)
                return
            # Served as user ``default`` with no password asked: only while
            # ``default`` is open to anyone (an ACL SETUSER may close it later).
            assert users is not None
            users.attach(users.default, self, self._default_user_changed)
            self._unauthenticated_in = users
        provider = self._registry.provider(wire_format)
        try:
            limits = provider.limits
            self._buffer.max_size = limits.max_message_size
            self.detected = wire_format
            session = provider.create_session(wire_format, self._outbox)
        except ProtocolError as exc:
            self._protocol_error(exc)
            return
        except Exception as exc:
            self._fail(exc)
            return
        self.wire_format = wire_format
        self._set_limits(limits)
        self._session = session
        self._try_consume = session.try_consume
        # Optional: a session with deadlines of its own (on this connection's clock).
        self._session_deadline = getattr(session, "next_deadline", None)
        self._session_check = getattr(session, "check_deadlines", None)
        self.state = ConnectionState.ACTIVE
        if self._stats is not None:
            self._stats.session_started(self._counts, wire_format.name)

    def _listener_users(self) -> UserDirectory | None:
        users = getattr(self.listener, "users", None)
        return users if isinstance(users, UserDirectory) else None

    def _default_user_changed(self, what: str) -> None:
        """User ``default`` changed while this client of a format that cannot
        authenticate is served as it: a password or a restriction ends the service."""
        users = self._unauthenticated_in
        if users is not None and not users.open_to_anyone:
            _log.debug("closing a %s client: user default now needs more", self.wire_format)
            self._outbox.close()

    def _refuse_unauthenticated(self, wire_format: WireFormat) -> None:
        """Close a client of a format that cannot authenticate, on a listener that requires it.

        The server logs the refusal (rate-limited, as the other rejections).
        """
        _log.debug("refused a %s client: the listener requires authentication", wire_format.name)
        if self._stats is not None:
            self._stats.connection_rejected(CloseReason.AUTH_REQUIRED.value)
        self.error = ProtocolError(f"format={wire_format.name} cannot authenticate")
        self.close(CloseReason.AUTH_REQUIRED)

    def _set_limits(self, limits: Limits) -> None:
        """Hold the session to ``limits`` (its provider's, which may change while it is open)."""
        self._buffer.max_size = limits.max_message_size
        self.limits = limits
        self._memory.output_limit = self._output_cap(limits)
        # The layers' records carry this session's replies: the session's limit
        # applies to them too, plus their own framing (under 1% for an encrypting layer).
        limit = self._memory.output_limit
        outer = self.outer
        while outer is not None and limit is not None:
            outer._memory.output_limit = limit + (limit >> 7)
            outer = outer.outer

    def _consume(self) -> None:
        buffer = self._buffer
        try_consume = self._try_consume
        assert try_consume is not None
        # The session never sees more than one maximal message (the limits' max_message_size,
        # the buffer's cap), so a message over the cap fails the same way whether it came
        # in one read or many.
        max_message = buffer.max_size
        outbox = self._outbox
        left = buffer._end - buffer._start  # len(buffer) without the call (a slot, from C)
        while left and not outbox.close_requested:
            view = buffer.unread(max_message)
            given = len(view)
            try:
                used = try_consume(view)
            except ProtocolError as exc:
                self._protocol_error(exc)
                return
            except MemoryLimitExceeded as exc:
                self._memory_exceeded(exc)
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
        # buffer.capacity without the property's call (not specialised by 3.11).
        if self._budget is not None and len(buffer._buf) != self._memory.receive:
            self._memory.set_receive(buffer.capacity)
        if outbox.close_requested:
            return  # closed by data_to_send(), after the replies before it
        if left and buffer.is_full:
            size = buffer.max_size
            self._protocol_error(ProtocolError(f"message larger than the {size}-byte limit"))

    def _protocol_error(self, exc: ProtocolError) -> None:
        if exc.reply:
            try:
                self._outbox.send(exc.reply)
            except MemoryLimitExceeded as limit:
                self._memory_exceeded(limit)
                return
        self.error = _without_frames(exc)
        self.close(CloseReason.PROTOCOL_ERROR)

    def _output_cap(self, limits: Limits) -> int:
        cap = self._budget.max_output_buffered if self._budget is not None else None
        limit = limits.max_output_buffered
        return limit if cap is None or limit < cap else cap

    def _fail(self, exc: Exception) -> None:
        # The shell logs it with its traceback; a debug line here is enough.
        _log.debug("closing a %s connection after a server-side bug: %r", self.wire_format, exc)
        self.error = exc
        self.close(CloseReason.SESSION_FAILED)


class _LayerHost:
    """What a connection gives its layer (a :class:`wireproto._layer.LayerHost`)."""

    __slots__ = ("_connection", "_layers")

    def __init__(self, connection: Connection, layers: tuple[LayerKind, ...]) -> None:
        self._connection = connection
        self._layers = layers  # what the inner connection may detect

    @property
    def sender(self) -> NetworkSender:
        return self._connection._outbox

    @property
    def clock(self) -> Callable[[], float]:
        return self._connection.clock

    @property
    def max_detect_bytes(self) -> int:
        return self._connection.settings.max_detect_bytes

    @property
    def closed(self) -> bool:
        return self._connection.state is ConnectionState.CLOSED

    @property
    def close_reason(self) -> CloseReason | None:
        return self._connection.close_reason

    def get_extra_info(self, name: str, default: object = None, /) -> object:
        return self._connection.extra.get(name, default)

    def open_inner(self, extra: Mapping[str, object] | None = None) -> Connection:
        outer = self._connection
        inner = Connection(
            outer._registry,
            dataclasses.replace(outer.settings, layers=(), idle_timeout=None),
            extra={**outer.extra, **(extra or {})},
            clock=outer.clock,
            stats=outer._stats,
            budget=outer._budget,
            listener=outer.listener,
            outer=outer,
            layers=self._layers,
        )
        outer._inner = inner
        return inner

    def name_client(self, address: object, extra: Mapping[str, object]) -> None:
        self._connection._name_client(address, extra)

    def close(self, reason: CloseReason) -> None:
        self._connection.close(reason)
