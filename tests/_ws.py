"""A WebSocket client side for the sans-I/O tests, on wsproto: handshakes, frames, decoding."""

from __future__ import annotations

from dataclasses import dataclass, field

import wireproto.providers.resp
from wsproto import ConnectionType, WSConnection
from wsproto.connection import Connection as FrameConnection
from wsproto.events import (
    BytesMessage,
    CloseConnection,
    Event,
    Ping,
    Pong,
    RejectConnection,
    Request,
    TextMessage,
)

from wireproto import Registry
from wireproto._connection import Connection, ConnectionSettings
from wireproto._websocket import WebSocketKind, WebSocketSettings, head_length


def ws_registry(settings: WebSocketSettings | None = None) -> tuple[Registry, WebSocketKind]:
    """RESP (a fresh store) and the WebSocket layer."""
    registry = Registry()
    wireproto.providers.resp.register(registry, wireproto.providers.resp.RespProvider())
    kind = WebSocketKind(registry, settings or WebSocketSettings())
    registry.register_layer(kind)
    return registry, kind


def connection(registry: Registry, **settings: object) -> Connection:
    """A sans-I/O connection of ``registry`` with no detection deadline."""
    return Connection(registry, ConnectionSettings(detect_timeout=None, **settings))  # type: ignore[arg-type]


def handshake(
    subprotocols: list[str] | None = None,
    extra_headers: list[tuple[bytes, bytes]] | None = None,
    target: str = "/",
) -> bytes:
    """A client's upgrade request, as wsproto writes it."""
    client = WSConnection(ConnectionType.CLIENT)
    return client.send(
        Request(
            host="localhost",
            target=target,
            subprotocols=subprotocols or [],
            extra_headers=extra_headers or [],
        )
    )


def frames(message: bytes | str, frame_size: int | None = None) -> bytes:
    """One message as masked client frames of ``frame_size`` payload bytes (one frame: None)."""
    client = FrameConnection(ConnectionType.CLIENT)
    size = frame_size or max(len(message), 1)
    pieces = [message[i : i + size] for i in range(0, len(message), size)] or [message[:0]]
    out = bytearray()
    for index, piece in enumerate(pieces):
        last = index == len(pieces) - 1
        event = (
            TextMessage(data=piece, message_finished=last)
            if isinstance(piece, str)
            else BytesMessage(data=piece, message_finished=last)
        )
        out += client.send(event)
    return bytes(out)


def one_byte_frames(message: bytes, mask: bytes = b"\x5a\xc3\x0f\x96") -> bytes:
    """``message`` as masked client frames of one payload byte each, built in bulk.

    The frames wsproto's client writes (``frames(message, 1)``) but with one
    masking key for all and in C-speed slices: 16 MiB of frames in about a
    second, where a frame-by-frame client takes minutes. Each frame is 7 bytes:
    FIN/opcode, MASK|1, the key, the payload byte XOR the key's first byte.
    """
    count = len(message)
    if count == 0:
        return frames(message)
    out = bytearray(7 * count)
    out[0::7] = b"\x00" * count  # continuation frames, FIN clear
    out[1::7] = b"\x81" * count  # masked, payload length 1
    for index in range(4):
        out[2 + index :: 7] = mask[index : index + 1] * count
    out[6::7] = message.translate(bytes(byte ^ mask[0] for byte in range(256)))
    out[0] = 0x02  # the first frame opens a binary message
    out[-7] |= 0x80  # the last one ends it
    return bytes(out)


def control(event: Event) -> bytes:
    """A masked client control frame (ping, pong, close)."""
    return FrameConnection(ConnectionType.CLIENT).send(event)


@dataclass
class Decoded:
    """What the server sent: its handshake response head, then the events of its frames."""

    head: bytes
    messages: list[bytes | str] = field(default_factory=list)
    pongs: list[bytes] = field(default_factory=list)
    close: CloseConnection | None = None


def decode(output: bytes) -> Decoded:
    """Split the server's bytes into the 101 head and whole messages, pongs and its close."""
    size = head_length(output)
    assert size is not None, output[:200]
    decoded = Decoded(output[:size])
    if not output.startswith(b"HTTP/1.1 101 "):
        return decoded
    client = FrameConnection(ConnectionType.CLIENT)
    client.receive_data(output[size:])
    parts: list[bytes | str] = []
    for event in client.events():
        if isinstance(event, BytesMessage | TextMessage):
            parts.append(event.data)
            if event.message_finished:
                first = parts[0]
                joined = "".join(parts) if isinstance(first, str) else b"".join(parts)  # type: ignore[arg-type]
                decoded.messages.append(joined)
                parts = []
        elif isinstance(event, Pong):
            decoded.pongs.append(bytes(event.payload))
        elif isinstance(event, CloseConnection):
            decoded.close = event
    return decoded


__all__ = [
    "BytesMessage",
    "CloseConnection",
    "Decoded",
    "Ping",
    "RejectConnection",
    "connection",
    "control",
    "decode",
    "frames",
    "handshake",
    "one_byte_frames",
    "ws_registry",
]
