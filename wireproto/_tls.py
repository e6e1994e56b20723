"""TLS as a layer on the same port, sans-I/O.

:class:`TlsSettings` is a layer kind (:mod:`wireproto._layer`): a TLS
ClientHello is detected like any wire format (:data:`TLS`). Each connection's
layer, :class:`TlsLayer`, feeds the bytes (those already read during
detection included: asyncio's ``start_tls`` could not take them) into an
``ssl.SSLObject`` over two ``ssl.MemoryBIO`` objects, and once the handshake
is done it opens the inner connection on the decrypted stream: a second
detection pass, then that format's session, whose replies it encrypts back
through the outer sender. Put it in ``ConnectionSettings.layers``.
"""

from __future__ import annotations

import contextlib
import ssl
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from wireproto._detect import Verdict, WireFormat
from wireproto._errors import CloseReason, ProtocolError
from wireproto._layer import Admission, BaseLayer, LayerHost
from wireproto._session import Limits

__all__ = ["TLS", "TlsLayer", "TlsSettings", "detect_tls"]

_HANDSHAKE = 0x16
_CLIENT_HELLO = 0x01
_MAX_RECORD = (1 << 14) + 2048  # TLSCiphertext.length may not pass 2^14 + 2048


def detect_tls(data: bytes) -> Verdict:
    """``MATCH`` for the start of a TLS ClientHello record.

    A handshake record (type 22), major version 3, a plausible length, and a
    ClientHello as its first handshake message; ``NEED_MORE`` while those
    six bytes are not all there. The rest of the ClientHello may follow in
    further records and segments: the ``SSLObject`` reassembles it.
    """
    size = len(data)
    if size < 1:
        return Verdict.NEED_MORE
    if data[0] != _HANDSHAKE:
        return Verdict.NO_MATCH
    if size < 2:
        return Verdict.NEED_MORE
    if data[1] != 3:
        return Verdict.NO_MATCH
    if size < 3:
        return Verdict.NEED_MORE
    if data[2] > 4:
        return Verdict.NO_MATCH
    if size < 5:
        return Verdict.NEED_MORE
    length = int.from_bytes(data[3:5], "big")
    if not 0 < length <= _MAX_RECORD:
        return Verdict.NO_MATCH
    if size < 6:
        return Verdict.NEED_MORE
    return Verdict.MATCH if data[5] == _CLIENT_HELLO else Verdict.NO_MATCH


TLS = WireFormat("tls", detect_tls, priority=1000)
"""The TLS wire format (asked before every registered format)."""

# SNI reaches Python only through the context's sni_callback; it is kept here
# per SSLObject until the handshake is done.
_server_names: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


def _install_sni_recorder(context: ssl.SSLContext) -> None:
    current = context.sni_callback
    if getattr(current, "_wireproto_sni", False):
        return

    def record(ssl_object: Any, server_name: Any, ssl_context: ssl.SSLContext) -> int | None:
        if server_name is not None:
            _server_names[ssl_object] = server_name
        return current(ssl_object, server_name, ssl_context) if current is not None else None

    record._wireproto_sni = True  # type: ignore[attr-defined]
    context.sni_callback = record


@dataclass(frozen=True, slots=True)
class TlsSettings:
    """TLS on a listener, a layer kind: the server's ``ssl.SSLContext`` and how TLS is accepted.

    ``required``: only TLS clients are served (a plain client is closed, and
    ``fallback_format`` applies inside TLS only); otherwise plain and TLS
    clients share the port. A listener without ``TlsSettings`` serves plain
    clients only. ``handshake_timeout`` bounds the handshake, from the first
    ClientHello byte; the detection deadline then starts again for the
    decrypted stream. ``max_output_buffered`` caps encrypted replies queued
    for a slow reader until the inner session is known (then its provider's
    limit applies).

    The context gets an ``sni_callback`` that records the client's server
    name (any callback already set is still called).
    """

    context: ssl.SSLContext
    required: bool = False
    handshake_timeout: float = 10.0
    max_output_buffered: int = 64 << 20

    def __post_init__(self) -> None:
        if not self.handshake_timeout > 0:
            raise ValueError("handshake_timeout must be positive")
        if self.max_output_buffered < 1:
            raise ValueError("max_output_buffered must be at least 1")
        # Renegotiation (TLS 1.2) would let a client make the server do
        # handshakes at will; there is no use for it here.
        self.context.options |= ssl.OP_NO_RENEGOTIATION
        _install_sni_recorder(self.context)

    @property
    def limits(self) -> Limits:
        """The limits of the outer (encrypted) connection."""
        return Limits(
            max_message_size=_MAX_RECORD * 4, max_output_buffered=self.max_output_buffered
        )

    @property
    def wire_format(self) -> WireFormat:
        """:data:`TLS`."""
        return TLS

    @property
    def outcome(self) -> str:
        """A ClientHello counts as a detection ``match``."""
        return "match"

    @property
    def names_client(self) -> bool:
        """TLS does not name another client."""
        return False

    def admission(self, extra: Mapping[str, object]) -> Admission:
        """``REQUIRED`` with ``required``, else ``ALLOWED`` beside the plain formats."""
        return Admission.REQUIRED if self.required else Admission.ALLOWED

    def rejection(self, present: bool, extra: Mapping[str, object]) -> ProtocolError | None:
        """A plain client where TLS is required is just not a format served: ``NO_MATCH``."""
        return None

    def create(self, host: LayerHost) -> TlsLayer:
        """The TLS layer of one connection."""
        return TlsLayer(self, host)


class TlsLayer(BaseLayer):
    """The layer of a TLS connection: an ``SSLObject`` and the inner connection.

    The inner connection is opened with the TLS facts (``sni``,
    ``alpn_protocol``, ...) once the handshake is done.
    """

    def __init__(self, settings: TlsSettings, host: LayerHost) -> None:
        super().__init__(host)
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._ssl = settings.context.wrap_bio(self._incoming, self._outgoing, server_side=True)
        self._closing = False
        self.handshake_deadline = host.clock() + settings.handshake_timeout

    def try_consume(self, data: memoryview, /) -> int:
        """Take every byte: the ``SSLObject`` keeps partial records itself."""
        self._incoming.write(data)
        if self.inner is None and not self._handshake():
            return len(data)
        self._decrypt()
        self.flush()
        return len(data)

    def next_deadline(self) -> float | None:
        """When :meth:`check_deadlines` must run next."""
        if self.inner is None:
            return self.handshake_deadline
        return self.inner.next_deadline()

    def check_deadlines(self) -> None:
        """Close at the handshake deadline; then let the inner connection handle its own."""
        if self.inner is None:
            if self.host.clock() >= self.handshake_deadline:
                self.host.close(CloseReason.HANDSHAKE_TIMEOUT)
            return
        self.inner.check_deadlines()
        self.flush()

    def flush(self) -> None:
        """Encrypt what the inner connection queued; send close_notify once it is closed."""
        inner = self.inner
        if inner is not None:
            data = inner.data_to_send()
            if data and not self._closing:
                try:
                    self._ssl.write(data)
                except ssl.SSLError as exc:
                    raise self._error("TLS write failed", exc) from None
            if inner.closed:
                self.shutdown()
                return
        self._send_records()

    def shutdown(self) -> None:
        """Send close_notify, then ask for the outer connection to close."""
        if self._closing:
            return
        self._closing = True
        if self.inner is not None:
            # SSLWantReadError: our close_notify is written, the peer's is not read.
            with contextlib.suppress(ssl.SSLError):
                self._ssl.unwrap()
        self._send_records()
        self.host.sender.close()

    # -- internals ------------------------------------------------------------

    def _send_records(self) -> None:
        if self._outgoing.pending:
            self.host.sender.send(self._outgoing.read())

    def _error(self, what: str, exc: ssl.SSLError) -> ProtocolError:
        # The alert OpenSSL queued is the reply the client should see.
        alert = self._outgoing.read() if self._outgoing.pending else b""
        return ProtocolError(f"{what}: {exc.reason or exc}", alert)

    def _handshake(self) -> bool:
        try:
            self._ssl.do_handshake()
        except ssl.SSLWantReadError:
            self._send_records()
            return False
        except ssl.SSLError as exc:
            raise self._error("TLS handshake failed", exc) from None
        ssl_object = self._ssl
        extra: dict[str, object] = {
            "sni": _server_names.pop(ssl_object, None),
            "alpn_protocol": ssl_object.selected_alpn_protocol(),
            "tls_version": ssl_object.version(),
            "cipher": ssl_object.cipher(),
            "peercert": ssl_object.getpeercert(),
            "ssl_object": ssl_object,
        }
        self.open_inner(extra)
        return True

    def _decrypt(self) -> None:
        inner = self.inner
        assert inner is not None
        ssl_object = self._ssl
        while not inner.closing:
            region = inner.get_buffer()
            try:
                # Decrypted straight into the inner buffer (typeshed says bytes: it is a count).
                count = cast(int, ssl_object.read(len(region), region))
            except ssl.SSLWantReadError:
                return
            except ssl.SSLZeroReturnError:  # the client's close_notify
                inner.eof_received()
                return
            except ssl.SSLError as exc:
                raise self._error("TLS error", exc) from None
            if not count:
                inner.eof_received()
                return
            inner.buffer_updated(count)
