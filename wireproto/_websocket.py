"""WebSocket (RFC 6455) as a layer, on wsproto: the messages carry any inner format.

A client's ``GET`` with ``Upgrade: websocket`` is detected like a wire format
(:func:`websocket_detector`: the request head must be whole, so a plain HTTP
``GET`` goes on to the HTTP provider). Its :class:`WebSocketLayer` answers
``101`` through wsproto (no handshake or frame code here), then each binary
message, once whole, is fed to a fresh inner connection, which detects the
inner format again: RESP, FASTER's batches, any registered format. The inner
replies of one message go back as one binary message, or as the provider
cuts them (:class:`ReplyMessages`: FASTER's JavaScript client reads one
reply batch per message).

Limits: a frame past ``max_frame_size`` or a message past ``max_message_size``
is closed with code 1009; a text message is closed with 1003 unless the inner
format's provider declares text (:class:`TextMessages`). wsproto enforces the
masking of client frames, control frame rules and UTF-8 (1002, 1007).
Browsers are refused (403) unless their ``Origin`` is allowed: without it any
web page could make a browser speak RESP to a server on 127.0.0.1.

:func:`register` (a ``wireproto.providers`` entry point) offers the layer on
every listener that loads the installed plugins.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import h11
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    RejectConnection,
    Request,
    TextMessage,
)
from wsproto.utilities import ProtocolError as WsProtocolError
from wsproto.utilities import RemoteProtocolError

from wireproto._detect import Detector, Verdict, WireFormat, detect
from wireproto._errors import CloseReason, ProtocolError
from wireproto._layer import Admission, BaseLayer, LayerHost
from wireproto._registry import Registry
from wireproto._session import Limits
from wireproto.guard import head_length, http_request_detector

__all__ = [
    "WEBSOCKET_FORMAT_NAME",
    "ReplyMessages",
    "TextMessages",
    "WebSocketKind",
    "WebSocketLayer",
    "WebSocketSettings",
    "head_length",
    "register",
    "websocket_detector",
]

WEBSOCKET_FORMAT_NAME = "websocket"

# RFC 6455 section 7.4.1 close codes.
NORMAL_CLOSURE = 1000
GOING_AWAY = 1001
UNSUPPORTED_DATA = 1003
POLICY_VIOLATION = 1008
MESSAGE_TOO_BIG = 1009
INTERNAL_ERROR = 1011

_INNER_CLOSE_CODES = {
    CloseReason.PEER_CLOSED: NORMAL_CLOSURE,
    CloseReason.SESSION_CLOSED: NORMAL_CLOSURE,
    CloseReason.NO_MATCH: UNSUPPORTED_DATA,
    CloseReason.SESSION_FAILED: INTERNAL_ERROR,
    CloseReason.SERVER_SHUTDOWN: GOING_AWAY,
}
"""The close code sent when the inner connection closes (others: 1008)."""

# The end of an HTTP head as h11 finds it: a blank line, CRLF or bare LF.


def _upgrade_to_websocket(head: bytes) -> bool:
    """Whether a whole request head is a ``GET`` asking ``Upgrade: websocket`` (parsed by h11)."""
    parser = h11.Connection(h11.SERVER, max_incomplete_event_size=len(head) + 1)
    parser.receive_data(head)
    try:
        event = parser.next_event()
    except h11.RemoteProtocolError:
        return False  # the HTTP provider answers it with 400
    if not isinstance(event, h11.Request) or event.method != b"GET":
        return False
    for name, value in event.headers:
        if name == b"upgrade" and any(
            token.strip().lower() == b"websocket" for token in value.split(b",")
        ):
            return True
    return False


def websocket_detector(max_handshake_size: int = 8192) -> Detector:
    """``MATCH`` on a whole ``GET`` request head with ``Upgrade: websocket``.

    ``NEED_MORE`` while the bytes can still become such a head; ``NO_MATCH``
    for another method, a head without the upgrade, or no head end within
    ``max_handshake_size`` bytes (the HTTP provider then answers it).
    """

    def detect_websocket(data: bytes) -> Verdict:
        verdict = http_request_detector(data)
        if verdict is not Verdict.MATCH:
            return verdict
        if not data.startswith(b"GET "):
            return Verdict.NO_MATCH
        size = head_length(data, max_handshake_size)
        if size is None:
            return Verdict.NEED_MORE if len(data) < max_handshake_size else Verdict.NO_MATCH
        return Verdict.MATCH if _upgrade_to_websocket(data[:size]) else Verdict.NO_MATCH

    return detect_websocket


@runtime_checkable
class TextMessages(Protocol):
    """A provider whose formats may arrive in WebSocket text messages.

    Without it (or when :meth:`websocket_text` says False for the format) a
    text message is refused with close code 1003. Replies are binary messages.
    """

    def websocket_text(self, wire_format: WireFormat) -> bool:
        """Whether the stream of ``wire_format`` may come in text messages."""
        ...


@runtime_checkable
class ReplyMessages(Protocol):
    """A provider that says how its replies are cut into WebSocket messages.

    Without it, the replies of one client message go back as one message.
    FASTER's JavaScript client, for one, reads a single batch per message.
    """

    def websocket_messages(self, wire_format: WireFormat, data: bytes) -> list[bytes]:
        """The messages that carry the reply bytes ``data`` of ``wire_format``."""
        ...


@dataclass(frozen=True, slots=True)
class WebSocketSettings:
    """Limits and policy of the WebSocket layer.

    ``max_message_size``: bytes of one message (its frames together);
    ``max_frame_size``: bytes of one frame's payload (``None``: the message
    limit); past either the connection is closed with code 1009. A message
    is held whole before the inner connection sees it, charged to the
    connection's memory account (the listener's budget).
    ``max_handshake_size``: the upgrade request's head (also the detection
    bound: a longer ``GET`` goes to the HTTP provider).
    ``allowed_origins``: the browser origins served (``"*"``: any); a
    handshake with another ``Origin`` is refused with 403, one without
    (a non-browser client) is served. ``subprotocols``: names accepted in
    ``Sec-WebSocket-Protocol`` besides the registered formats' names.
    """

    max_message_size: int = 1 << 20
    max_frame_size: int | None = None
    max_handshake_size: int = 8192
    allowed_origins: frozenset[str] = frozenset()
    subprotocols: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.max_message_size < 1:
            raise ValueError("max_message_size must be at least 1")
        if self.max_frame_size is not None and self.max_frame_size < 1:
            raise ValueError("max_frame_size must be at least 1 or None")
        if self.max_handshake_size < 64:
            raise ValueError("max_handshake_size must be at least 64")

    @property
    def frame_limit(self) -> int:
        """The frame size limit in force."""
        return self.max_frame_size if self.max_frame_size is not None else self.max_message_size

    def allows_origin(self, origin: str | None) -> bool:
        """Whether a handshake with this ``Origin`` header (None: absent) is served."""
        return origin is None or "*" in self.allowed_origins or origin in self.allowed_origins


@dataclass(frozen=True, slots=True, eq=False)
class WebSocketKind:
    """The WebSocket layer kind (a :class:`~wireproto._layer.LayerKind`) of a registry.

    ``registry`` gives the subprotocol names and the text declarations of
    the formats the inner connections may detect.
    """

    registry: Registry = field(repr=False)
    settings: WebSocketSettings = field(default_factory=WebSocketSettings)
    wire_format: WireFormat = field(init=False)
    """``websocket``, detected by :func:`websocket_detector` (one object: detection compares it)."""

    def __post_init__(self) -> None:
        detector = websocket_detector(self.settings.max_handshake_size)
        object.__setattr__(self, "wire_format", WireFormat(WEBSOCKET_FORMAT_NAME, detector))

    @property
    def limits(self) -> Limits:
        """The outer connection's: the layer takes every byte it is given."""
        return Limits(max_message_size=max(self.settings.max_handshake_size, 1 << 16))

    @property
    def outcome(self) -> str:
        """A handshake counts as a detection ``match``."""
        return "match"

    @property
    def names_client(self) -> bool:
        """WebSocket names no other client."""
        return False

    def admission(self, extra: Mapping[str, object]) -> Admission:
        """Offered beside the formats to every peer."""
        return Admission.ALLOWED

    def rejection(self, present: bool, extra: Mapping[str, object]) -> ProtocolError | None:
        """Never refused at detection (the handshake answers 403 or 400 itself)."""
        return None

    def create(self, host: LayerHost) -> WebSocketLayer:
        """The WebSocket layer of one connection."""
        return WebSocketLayer(self, host)


class WebSocketLayer(BaseLayer):
    """One WebSocket connection: wsproto's state machine and the inner connection."""

    def __init__(self, kind: WebSocketKind, host: LayerHost) -> None:
        super().__init__(host)
        self._kind = kind
        self._settings = kind.settings
        self._ws = WSConnection(ConnectionType.SERVER)
        self._message = bytearray()
        self._message_text = False
        self._frame_size = 0
        self._max_message = kind.settings.max_message_size
        # A frame is part of a message: its own limit needs a count only when lower.
        self._frame_limit = kind.settings.frame_limit
        self._count_frames = self._frame_limit < self._max_message
        self._memory = host.sender.memory
        self._done = False  # the outer connection is asked to close
        # The inner format as detection will find it (for the text rule).
        self._prefix = bytearray()
        self._decided = False
        self._text_ok = False
        self._text_fed = False
        self._splitter: Callable[[bytes], list[bytes]] | None = None

    # -- the layer contract ------------------------------------------------------

    def try_consume(self, data: memoryview, /) -> int:
        """The upgrade request (once), then frames; every byte is taken."""
        used = 0
        if self.inner is None:
            size = head_length(data, self._settings.max_handshake_size)
            if size is None:  # detection saw the whole head: only a broken caller gets here
                raise ProtocolError("WebSocket handshake head not whole")
            self._handshake(bytes(data[:size]))
            used = size
        if used < len(data) and not self._done:
            try:
                self._ws.receive_data(bytes(data[used:]))
            except WsProtocolError as exc:
                raise ProtocolError(f"WebSocket: {exc}") from None
            self._process_events()
        return len(data)

    def encode(self, data: bytes) -> bytes:
        """One binary message carrying the inner reply ``data``."""
        return self._ws.send(BytesMessage(data=data))

    def flush(self) -> None:
        """Send the inner replies as one message; close (with a close frame) after the inner."""
        inner = self.inner
        if inner is None or self._done:
            return
        data = inner.data_to_send()
        if data and self._ws.state is ConnectionState.OPEN:
            splitter = self._splitter
            for message in splitter(data) if splitter is not None else (data,):
                self.host.sender.send(self.encode(message))
        if inner.closed:
            reason = inner.close_reason
            code = _INNER_CLOSE_CODES.get(reason, POLICY_VIOLATION) if reason else NORMAL_CLOSURE
            self._close(code, reason.value if reason else "")

    def shutdown(self) -> None:
        """The server closes the connection: say 1001 (going away) if the socket is open."""
        if self._ws.state is ConnectionState.OPEN:
            self.host.sender.send(self._ws.send(CloseConnection(code=GOING_AWAY)))
        self._done = True

    # -- internals ---------------------------------------------------------------

    def _close(self, code: int, reason: str) -> None:
        if self._ws.state is ConnectionState.OPEN:
            self.host.sender.send(self._ws.send(CloseConnection(code=code, reason=reason)))
        self._done = True
        self.host.sender.close()

    def _fail(self, code: int, message: str) -> ProtocolError:
        """The error that closes the connection, its close frame as the reply."""
        self._done = True
        reply = b""
        if self._ws.state is ConnectionState.OPEN:
            reply = self._ws.send(CloseConnection(code=code, reason=message))
        return ProtocolError(f"WebSocket close {code}: {message}", reply)

    def _handshake(self, head: bytes) -> None:
        ws = self._ws
        try:
            ws.receive_data(head)
            request = next((e for e in ws.events() if isinstance(e, Request)), None)
        except RemoteProtocolError as exc:
            hint = exc.event_hint
            reply = ws.send(hint) if isinstance(hint, RejectConnection) else b""
            raise ProtocolError(f"WebSocket handshake refused: {exc}", reply) from None
        if request is None:
            raise ProtocolError("WebSocket handshake without a request")
        origin = _header(request.extra_headers, b"origin")
        if not self._settings.allows_origin(origin):
            reply = ws.send(RejectConnection(status_code=403))
            raise ProtocolError(f"WebSocket handshake from origin {origin!r} refused", reply)
        subprotocol = self._subprotocol(request.subprotocols)
        self.host.sender.send(ws.send(AcceptConnection(subprotocol=subprotocol)))
        self.open_inner(
            {
                "websocket_target": request.target,
                "websocket_host": request.host,
                "websocket_origin": origin,
                "websocket_subprotocol": subprotocol,
            }
        )

    def _subprotocol(self, offered: list[str]) -> str | None:
        names = {fmt.name for fmt in self._kind.registry.formats}
        names.update(self._settings.subprotocols)
        return next((name for name in offered if name in names), None)

    def _process_events(self) -> None:
        sender = self.host.sender
        on_data = self._on_data
        for event in self._ws.events():
            # One event per frame (or per part of one): the binary case goes first.
            if type(event) is BytesMessage:
                on_data(event.data, event.frame_finished, event.message_finished, False)
            elif isinstance(event, TextMessage):
                on_data(event.data.encode(), event.frame_finished, event.message_finished, True)
            elif isinstance(event, Ping):
                sender.send(self._ws.send(event.response()))
            elif isinstance(event, CloseConnection):
                if self._ws.state is not ConnectionState.REMOTE_CLOSING:
                    # wsproto found the client's frames broken (masking, UTF-8, ...).
                    raise self._fail(event.code, event.reason or "protocol error")
                if self.inner is not None:
                    self.inner.eof_received()
                    self.inner.data_to_send()  # too late: the client closed
                sender.send(self._ws.send(event.response()))
                self._done = True
                sender.close()
            if self._done:
                return

    def _on_data(
        self, chunk: bytes | bytearray, frame_finished: bool, message_finished: bool, text: bool
    ) -> None:
        """A frame's payload (or part of it): appended to the one message buffer."""
        size = len(chunk)
        if self._count_frames:
            self._frame_size += size
            if self._frame_size > self._frame_limit:
                raise self._fail(MESSAGE_TOO_BIG, f"frame over {self._frame_limit} bytes")
            if frame_finished:
                self._frame_size = 0
        message = self._message
        if len(message) + size > self._max_message:
            raise self._fail(MESSAGE_TOO_BIG, f"message over {self._max_message} bytes")
        self._memory.charge_arguments(size)  # the listener's budget: MemoryLimitExceeded
        message += chunk
        if text:
            self._message_text = True
        if not message_finished:
            return
        whole, text = bytes(message), self._message_text
        self._memory.release_arguments(len(message))
        message.clear()
        self._message_text = False
        self._admit(whole, text)
        self.feed(whole)
        self.flush()

    def _admit(self, message: bytes, text: bool) -> None:
        """Refuse (1003) a text message unless the inner format declares text.

        Until the inner format is known, each message also goes through the
        same detection the inner connection runs (for the text rule and the
        provider's :class:`ReplyMessages`).
        """
        if not self._decided:
            self._text_fed |= text
            self._observe(message)
            text = self._text_fed and self._decided
        if text and not self._text_ok:
            raise self._fail(UNSUPPORTED_DATA, "text messages are not accepted by this format")

    def _observe(self, message: bytes) -> None:
        """Detect the inner format as the inner connection will, from the same bytes."""
        limit = self.host.max_detect_bytes
        self._prefix += message[: limit - len(self._prefix)]
        registry = self._kind.registry
        detection = detect(registry.formats, bytes(self._prefix))
        if detection.verdict is Verdict.MATCH:
            assert detection.wire_format is not None
            wire_format = detection.wire_format
            provider = registry.provider(wire_format)
            self._text_ok = isinstance(provider, TextMessages) and provider.websocket_text(
                wire_format
            )
            if isinstance(provider, ReplyMessages):
                self._splitter = functools.partial(provider.websocket_messages, wire_format)
        elif detection.verdict is Verdict.NEED_MORE and len(self._prefix) < limit:
            return
        else:
            self._text_ok = True  # no format: the inner connection refuses it (1003)
        self._decided = True
        self._prefix = bytearray()


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


MAX_MESSAGE_OPTION = "websocket.max-message-size"
MAX_FRAME_OPTION = "websocket.max-frame-size"
ORIGINS_OPTION = "websocket.origins"
SUBPROTOCOLS_OPTION = "websocket.subprotocols"

_SUFFIXES = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def _size(text: str) -> int:
    text = text.strip().lower()
    factor = _SUFFIXES.get(text[-1:], 1)
    return int(text[:-1] if factor != 1 else text) * factor


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def register(registry: Registry, settings: WebSocketSettings | None = None) -> WebSocketKind:
    """Entry point of the ``wireproto.providers`` group: offer WebSocket on the registry.

    Without ``settings`` they come from the registry options
    ``websocket.max-message-size``, ``websocket.max-frame-size`` (sizes, with
    an optional k, m or g suffix), ``websocket.origins`` and
    ``websocket.subprotocols`` (comma-separated).
    """
    if settings is None:
        options = registry.options
        frame = options.get(MAX_FRAME_OPTION)
        settings = WebSocketSettings(
            max_message_size=_size(options.get(MAX_MESSAGE_OPTION, "1m")),
            max_frame_size=_size(frame) if frame else None,
            allowed_origins=frozenset(_names(options.get(ORIGINS_OPTION, ""))),
            subprotocols=tuple(_names(options.get(SUBPROTOCOLS_OPTION, ""))),
        )
    kind = WebSocketKind(registry, settings)
    registry.register_layer(kind)
    return kind
