"""The contracts between the toolkit and a provider's sessions.

These names are FASTER's (``SessionProvider``, ``MessageConsumer``,
``NetworkSender``) so that readers of ``FasterServerTcp`` find their way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from wireproto._auth import AuthSettings
    from wireproto._detect import WireFormat
    from wireproto._stats import ServerStats
    from wireproto.memory import MemoryAccount

BytesLike = bytes | bytearray | memoryview
"""What a sender accepts."""

__all__ = [
    "Authenticating",
    "BytesLike",
    "Limits",
    "ListenerInfo",
    "Maintained",
    "MessageConsumer",
    "NetworkSender",
    "SessionProvider",
]


@dataclass(frozen=True, slots=True)
class Limits:
    """Sizes a provider allows on one connection; the toolkit enforces them.

    ``max_message_size`` caps the receive buffer: a message that does not fit
    is a ``ProtocolError``. ``max_output_buffered`` caps the replies queued for
    a client that does not read them; past it the connection is closed.
    """

    max_message_size: int = 1 << 20
    max_output_buffered: int = 64 << 20

    def __post_init__(self) -> None:
        if self.max_message_size < 1:
            raise ValueError("max_message_size must be at least 1")
        if self.max_output_buffered < 1:
            raise ValueError("max_output_buffered must be at least 1")


@runtime_checkable
class ListenerInfo(Protocol):
    """What a session may know of the listener (the ``Server``) that serves it."""

    @property
    def draining(self) -> bool:
        """True once the server was asked to stop (``Server.drain()`` or ``close()``).

        A health check should then fail, so that a load balancer moves traffic away.
        """
        ...

    def stats(self) -> ServerStats:
        """A frozen snapshot of the listener's counters (``Server.stats``)."""
        ...


@runtime_checkable
class NetworkSender(Protocol):
    """Where a session writes its replies.

    Bytes sent while a read batch is processed are written in one transport
    write at the end of the batch. ``close()`` asks for the connection to be
    closed once everything sent before it has been flushed.
    ``get_extra_info()`` tells the session about its connection.
    """

    def send(self, data: BytesLike, /) -> None:
        """Queue ``data`` (copied) for the peer."""
        ...

    def close(self) -> None:
        """Close the connection after the queued bytes are flushed."""
        ...

    @property
    def memory(self) -> MemoryAccount:
        """The connection's memory account: charge what the session holds for the client.

        ``send()`` charges the replies itself (and raises
        ``OutputLimitExceeded`` past the output limit); a session that builds
        a large reply checks ``memory.reply_room`` as it grows, and charges
        arguments it holds across reads with ``memory.charge_arguments()``.
        """
        ...

    def get_extra_info(self, name: str, default: object = None, /) -> object:
        """Information about the connection, like ``asyncio.BaseTransport.get_extra_info``.

        Keys the toolkit fills: ``peername`` and ``sockname`` (the socket's
        addresses); with the PROXY protocol ``proxy_source`` and
        ``proxy_destination`` (the real client's and the address it connected
        to, as ``(host, port)``) and ``proxy_header``; on TLS ``sni``,
        ``alpn_protocol``, ``tls_version``, ``cipher``, ``peercert`` and
        ``ssl_object``. A missing key gives ``default``.
        """
        ...

    @property
    def listener(self) -> ListenerInfo | None:
        """The listener serving the connection, or None outside a ``Server`` (tests, fuzzing)."""
        ...

    @property
    def auth(self) -> AuthSettings:
        """The listener's authentication setting, which the session must enforce."""
        ...


@runtime_checkable
class MessageConsumer(Protocol):
    """One connection's session: it consumes whole messages from the buffer."""

    def try_consume(self, data: memoryview, /) -> int:
        """Consume whole messages at the head of ``data``; return the bytes used.

        0 means "a whole message is not there yet". The view is only valid
        during the call: copy what must outlive it. Raise ``ProtocolError`` for
        malformed input.
        """
        ...

    def close(self) -> None:
        """Release the session's resources; the toolkit calls it exactly once."""
        ...


# Optional parts of the contract, looked up once per session (not part of the Protocols,
# so every existing session and sender stays valid):
#
# - A session may pause: ``try_consume`` returns without consuming the messages
#   after the one it is waiting on (a client blocked on a key). When it can go on
#   outside a read batch, it sends its reply and calls ``sender.resume()``: the
#   connection offers the buffered bytes to ``try_consume`` again before it next
#   hands out output (``Connection.data_to_send``). While it waits, a full receive
#   buffer is still "a message over the limit".
# - A session may have deadlines: ``next_deadline() -> float | None`` (on
#   ``sender.clock``, the connection's clock, in seconds) and ``check_deadlines()``,
#   which the connection calls once that time has passed (like a layer's).
# - A provider whose limits change at run time (RESP's CONFIG SET proto-max-bulk-len)
#   gives an open session's connection the new ones with ``sender.set_limits(Limits)``:
#   the receive-buffer cap and output limit change at once, the listener's memory
#   budget still bounding both. Listener-wide limits that may change
#   (``maxclients``) are ``sender.listener.runtime_limits``
#   (:class:`~wireproto._listener_limits.ListenerLimits`), reached like its ``users``.


@runtime_checkable
class SessionProvider(Protocol):
    """Creates the session for each connection of the wire formats it serves."""

    @property
    def limits(self) -> Limits:
        """The limits enforced on this provider's connections."""
        ...

    def create_session(self, wire_format: WireFormat, sender: NetworkSender) -> MessageConsumer:
        """Return a new session for one connection detected as ``wire_format``."""
        ...


@runtime_checkable
class Authenticating(Protocol):
    """A provider whose formats speak their protocol's own authentication.

    Implementing it declares that every session the provider creates
    enforces its sender's :attr:`NetworkSender.auth`. A provider without it
    is taken to authenticate nobody: on a listener that requires
    authentication its formats are refused at detection.
    """

    def check_auth(self, auth: AuthSettings) -> None:
        """Raise ``ValueError`` if serving a listener with ``auth`` would leave data open.

        For example a provider built with its own password that differs from
        the listener's. The server calls it before it starts listening.
        """
        ...


@runtime_checkable
class Maintained(Protocol):
    """A provider with periodic work, such as expiring keys that nobody reads.

    The server calls :meth:`maintain` every ``maintenance_interval`` seconds
    on its event loop, between reads; it must return quickly (bounded work).
    """

    @property
    def maintenance_interval(self) -> float:
        """Seconds between two :meth:`maintain` calls."""
        ...

    def maintain(self) -> None:
        """Do one bounded round of periodic work."""
        ...
