"""The layer contract: a stream that carries another stream, sans-I/O.

A *layer kind* (:class:`LayerKind`) is detected on a connection's first bytes
like a wire format (its ``wire_format`` detector, with the same ``Verdict``
semantics), or required by the listener. Once it matches, the connection runs
one :class:`Layer` as its session: the layer consumes its own framing from the
outer bytes and feeds the inner byte stream to a fresh inner connection,
opened through its :class:`LayerHost`, which detects again; the inner
connection's replies go back through the host's sender. Layers stack in the
order a connection lists them: ``ConnectionSettings.layers`` (the listener's,
outermost first: PROXY, then TLS), then ``Registry.layers`` (those users
register). An inner connection detects only the kinds listed after the one
that opened it.

This module knows no sockets and no particular layer: TLS
(:mod:`wireproto._tls`) and the PROXY protocol (:mod:`wireproto._proxy`) are
built on it like any user's layer.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from wireproto._detect import WireFormat
from wireproto._errors import CloseReason, ProtocolError
from wireproto._session import BytesLike, Limits, NetworkSender

__all__ = [
    "Admission",
    "BaseLayer",
    "InnerConnection",
    "Layer",
    "LayerFormat",
    "LayerHost",
    "LayerKind",
]


class Admission(enum.Enum):
    """What a layer kind is for one connection (given its peer)."""

    ALLOWED = "allowed"
    """Detected beside the wire formats."""
    REQUIRED = "required"
    """Detected alone: a stream without it is refused."""
    REFUSED = "refused"
    """Detected only to be refused (e.g. a PROXY header from an untrusted peer)."""


class InnerConnection(Protocol):
    """What a layer uses of the inner connection (a :class:`~wireproto._connection.Connection`)."""

    on_output: Callable[[], None] | None
    close_reason: CloseReason | None

    @property
    def closed(self) -> bool:
        """True once the connection is closed."""
        ...

    @property
    def closing(self) -> bool:
        """True once closed or asked to close: what is fed now is dropped."""
        ...

    def get_buffer(self, sizehint: int = -1) -> memoryview:
        """The region the next bytes are written into."""
        ...

    def buffer_updated(self, nbytes: int) -> None:
        """``nbytes`` were written into the last :meth:`get_buffer` region."""
        ...

    def receive_data(self, data: BytesLike) -> None:
        """Feed ``data`` (copied)."""
        ...

    def data_to_send(self) -> bytes:
        """Take the bytes the inner session queued."""
        ...

    def eof_received(self) -> None:
        """The inner stream ended."""
        ...

    def next_deadline(self) -> float | None:
        """When :meth:`check_deadlines` must run next, or None."""
        ...

    def check_deadlines(self) -> None:
        """Handle the deadlines that passed."""
        ...

    def close(self, reason: CloseReason) -> None:
        """Close it once."""
        ...


class LayerHost(Protocol):
    """What a connection gives the layer it runs."""

    @property
    def sender(self) -> NetworkSender:
        """Writes to the outer stream (and ``close()`` closes it after the queued bytes)."""
        ...

    @property
    def clock(self) -> Callable[[], float]:
        """The connection's clock, in seconds, for the layer's deadlines."""
        ...

    @property
    def max_detect_bytes(self) -> int:
        """The listener's detection bound: a layer's own header should fit in it."""
        ...

    @property
    def closed(self) -> bool:
        """True once the outer connection is closed (e.g. by :meth:`name_client`)."""
        ...

    @property
    def close_reason(self) -> CloseReason | None:
        """Why the outer connection closed, once it has."""
        ...

    def get_extra_info(self, name: str, default: object = None, /) -> object:
        """The outer connection's ``extra`` (``peername``, ...)."""
        ...

    def open_inner(self, extra: Mapping[str, object] | None = None) -> InnerConnection:
        """A fresh connection for the inner stream: the outer ``extra`` plus ``extra``."""
        ...

    def name_client(self, address: object, extra: Mapping[str, object]) -> None:
        """The layer learnt who the real client is (``address``, or None if it does not say).

        ``extra`` is added to the outer connections' ``extra``; the shell then
        re-checks its per-client limit and may close the connection.
        """
        ...

    def close(self, reason: CloseReason) -> None:
        """Close the outer connection (e.g. a handshake deadline passed)."""
        ...


class Layer(Protocol):
    """One connection's layer: its session on the outer stream, and the inner connection."""

    @property
    def inner(self) -> InnerConnection | None:
        """The connection on the inner stream, once opened."""
        ...

    def try_consume(self, data: memoryview, /) -> int:
        """Consume outer bytes (as a session does); ``ProtocolError`` for a broken framing."""
        ...

    def next_deadline(self) -> float | None:
        """The layer's own deadline, or its inner connection's, whichever is first."""
        ...

    def check_deadlines(self) -> None:
        """Handle the passed deadlines (its own: ``host.close(reason)``; the inner's)."""
        ...

    def shutdown(self) -> None:
        """The outer connection is about to close: last words, while sending is allowed."""
        ...

    def close(self) -> None:
        """The outer connection closed: close the inner one with ``host.close_reason``."""
        ...


class LayerKind(Protocol):
    """A kind of layer a listener (or a registry) offers: how it is found, and made."""

    @property
    def wire_format(self) -> WireFormat:
        """Its name and detector (a pure function of the first bytes, like a format's)."""
        ...

    @property
    def limits(self) -> Limits:
        """The outer connection's limits while this layer runs it."""
        ...

    @property
    def outcome(self) -> str:
        """The detection outcome counted when it is found (``"match"`` for most)."""
        ...

    @property
    def names_client(self) -> bool:
        """True if the layer may name the real client: the shell's per-client count waits."""
        ...

    def admission(self, extra: Mapping[str, object]) -> Admission:
        """What this kind is for a connection with this ``extra`` (its ``peername``...)."""
        ...

    def rejection(self, present: bool, extra: Mapping[str, object]) -> ProtocolError | None:
        """The error that closes a refused layer (``present``) or a missing required one.

        None: a missing required layer closes the connection as a ``NO_MATCH``.
        """
        ...

    def create(self, host: LayerHost) -> Layer:
        """The layer of one connection."""
        ...


class BaseLayer:
    """The common part of a layer: an inner connection fed with the decoded bytes.

    Subclasses write :meth:`try_consume` (decode the outer framing, call
    :meth:`open_inner` once and :meth:`feed` with the inner bytes, then
    :meth:`flush`) and, if replies are framed too, :meth:`encode`.
    """

    def __init__(self, host: LayerHost) -> None:
        self.host = host
        self.inner: InnerConnection | None = None
        self._finished = False

    def try_consume(self, data: memoryview, /) -> int:
        """Consume outer bytes; subclasses decode their framing here."""
        raise NotImplementedError

    def open_inner(self, extra: Mapping[str, object] | None = None) -> InnerConnection:
        """Open the inner connection; its replies are flushed through :meth:`encode`."""
        inner = self.host.open_inner(extra)
        inner.on_output = self.flush
        self.inner = inner
        return inner

    def feed(self, data: BytesLike) -> None:
        """Give inner-stream bytes to the inner connection (dropped once it is closing)."""
        inner = self.inner
        if inner is not None and not inner.closing:
            inner.receive_data(data)

    def encode(self, data: bytes) -> bytes:
        """The outer bytes carrying the inner reply ``data`` (the same bytes by default)."""
        return data

    def flush(self) -> None:
        """Send the inner connection's replies; close the outer one once it is closed."""
        inner = self.inner
        if inner is None or self._finished:
            return
        data = inner.data_to_send()
        if data:
            self.host.sender.send(self.encode(data))
        if inner.closed:
            self._finished = True
            self.host.sender.close()

    def next_deadline(self) -> float | None:
        """The inner connection's next deadline."""
        return self.inner.next_deadline() if self.inner is not None else None

    def check_deadlines(self) -> None:
        """Let the inner connection handle its deadlines, then send what it queued."""
        if self.inner is not None:
            self.inner.check_deadlines()
            self.flush()

    def shutdown(self) -> None:
        """Nothing to say before the close by default."""

    def close(self) -> None:
        """Close the inner connection for the outer connection's reason."""
        if self.inner is not None:
            self.inner.close(self.host.close_reason or CloseReason.CONNECTION_LOST)


def _allowed(_extra: Mapping[str, object]) -> Admission:
    return Admission.ALLOWED


@dataclass(frozen=True, slots=True)
class LayerFormat:
    """A layer kind offered to every peer: ``factory(host)`` makes each connection's layer.

    What users register with ``Registry.register_layer``. ``admission`` may
    restrict it by peer (a function of the connection's ``extra``).
    """

    wire_format: WireFormat
    factory: Callable[[LayerHost], Layer] = field(repr=False)
    limits: Limits = field(default_factory=Limits)
    outcome: str = "match"
    names_client: bool = False
    admit: Callable[[Mapping[str, object]], Admission] = field(default=_allowed, repr=False)

    def admission(self, extra: Mapping[str, object]) -> Admission:
        """What ``admit`` says for this peer (every peer is allowed by default)."""
        return self.admit(extra)

    def rejection(self, present: bool, extra: Mapping[str, object]) -> ProtocolError | None:
        """A refused layer is a protocol error; a missing required one a ``NO_MATCH``."""
        if present:
            return ProtocolError(f"{self.wire_format.name} layer refused for this peer")
        return None

    def create(self, host: LayerHost) -> Layer:
        """``factory(host)``."""
        return self.factory(host)
