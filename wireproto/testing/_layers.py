"""The layer property: the inner stream's outcome does not depend on how the outer bytes are cut.

A layer (:mod:`wireproto._layer`) sits between the bytes a connection
receives and an inner connection. :func:`check_layer_cuts` drives a fresh
outer :class:`~wireproto._connection.Connection` twice with the same
:class:`LayerPeer` (the client side of the layer: a PROXY header writer, a
TLS client over memory BIOs...): once with every outer flight whole, once cut
into the given piece sizes. What the inner connection saw must be the same:
the replies the peer decoded, the inner format, and both close reasons.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from wireproto._connection import Connection
from wireproto._errors import CloseReason
from wireproto.testing.errors import SameOutcomeError

__all__ = [
    "LayerOutcome",
    "LayerPeer",
    "PlainPeer",
    "TlsPeer",
    "check_layer_cuts",
    "run_layer",
]

_MAX_ROUNDS = 64  # flights each way; a handshake needs a few


class LayerPeer(Protocol):
    """The client side of a layer, sans-I/O."""

    @property
    def ready(self) -> bool:
        """True once inner bytes may be sent (e.g. after the handshake)."""
        ...

    def start(self) -> bytes:
        """The outer bytes the client sends first (a header, a ClientHello...)."""
        ...

    def send(self, data: bytes) -> bytes:
        """The outer bytes carrying the inner request ``data``."""
        ...

    def receive(self, data: bytes) -> tuple[bytes, bytes]:
        """Outer bytes from the server: ``(inner reply bytes, outer bytes to send back)``."""
        ...


class PlainPeer:
    """A layer whose client sends a fixed ``header`` then the inner bytes as they are (PROXY)."""

    def __init__(self, header: bytes) -> None:
        self._header = header

    @property
    def ready(self) -> bool:
        """Always."""
        return True

    def start(self) -> bytes:
        """The header."""
        return self._header

    def send(self, data: bytes) -> bytes:
        """``data`` itself."""
        return data

    def receive(self, data: bytes) -> tuple[bytes, bytes]:
        """``data`` itself; nothing to send back."""
        return data, b""


class TlsPeer:
    """A TLS client (an ``ssl.SSLObject`` over memory BIOs)."""

    def __init__(self, context: ssl.SSLContext, server_hostname: str | None = None) -> None:
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._ssl = context.wrap_bio(
            self._incoming, self._outgoing, server_hostname=server_hostname
        )
        self._handshaken = False

    @property
    def ready(self) -> bool:
        """True once the handshake is done."""
        return self._handshaken

    def start(self) -> bytes:
        """The ClientHello."""
        self._handshake()
        return self._outgoing.read()

    def send(self, data: bytes) -> bytes:
        """``data`` as TLS records."""
        self._ssl.write(data)
        return self._outgoing.read()

    def receive(self, data: bytes) -> tuple[bytes, bytes]:
        """Decrypt what came; go on with the handshake; note the server's close_notify."""
        self._incoming.write(data)
        if not self._handshaken:
            self._handshake()
        replies = bytearray()
        if self._handshaken:
            while True:
                try:
                    chunk = self._ssl.read(65536)
                except (ssl.SSLWantReadError, ssl.SSLZeroReturnError):
                    break
                if not chunk:
                    break
                replies += chunk
        return bytes(replies), self._outgoing.read()

    def _handshake(self) -> None:
        try:
            self._ssl.do_handshake()
        except ssl.SSLWantReadError:
            return
        self._handshaken = True


@dataclass(frozen=True, slots=True)
class LayerOutcome:
    """What the inner stream came to: the peer's decoded replies and the closes."""

    replies: bytes
    inner_format: str | None
    inner_close: CloseReason | None
    outer_close: CloseReason | None


def _pieces(data: bytes, sizes: Sequence[int]) -> Iterable[bytes]:
    if not sizes:
        yield data
        return
    offset, index = 0, 0
    while offset < len(data):
        size = max(sizes[index % len(sizes)], 1)
        yield data[offset : offset + size]
        offset += size
        index += 1


def run_layer(
    connection: Connection,
    peer: LayerPeer,
    requests: Sequence[bytes],
    sizes: Sequence[int] = (),
) -> LayerOutcome:
    """Drive ``connection`` with ``peer``: its flights cut into ``sizes`` (cycled; () = whole).

    Each request is sent once the peer is ready and the previous flights are
    answered; the server's replies are taken after every piece.
    """
    waiting = list(requests)
    outgoing = peer.start()
    replies = bytearray()
    for _ in range(_MAX_ROUNDS):
        if not outgoing:
            if not waiting or not peer.ready:
                break
            outgoing = peer.send(waiting.pop(0))
        back = bytearray()
        for piece in _pieces(outgoing, sizes):
            if connection.closed:
                break
            connection.receive_data(piece)
            inner, reply = peer.receive(connection.data_to_send())
            replies += inner
            back += reply
        outgoing = bytes(back)
        if connection.closed and not outgoing:
            break
    inner_connection = connection.inner
    return LayerOutcome(
        replies=bytes(replies),
        inner_format=(
            inner_connection.wire_format.name
            if inner_connection is not None and inner_connection.wire_format is not None
            else None
        ),
        inner_close=inner_connection.close_reason if inner_connection is not None else None,
        outer_close=connection.close_reason,
    )


def check_layer_cuts(
    make_connection: Callable[[], Connection],
    make_peer: Callable[[], LayerPeer],
    requests: Sequence[bytes],
    sizes: Sequence[int],
    *,
    target: str = "",
) -> LayerOutcome:
    """The inner outcome with the outer flights cut into ``sizes`` equals the one whole.

    Raises :class:`~wireproto.testing.errors.SameOutcomeError` otherwise; returns the
    outcome (so a test can also check it is the expected one).
    """
    whole = run_layer(make_connection(), make_peer(), requests)
    cut = run_layer(make_connection(), make_peer(), requests, sizes)
    if cut != whole:
        raise SameOutcomeError(
            f"the outer bytes cut into pieces of {list(sizes)} gave {cut}, whole gave {whole}",
            target=target,
        )
    return whole
