"""FASTER's remote wire formats, declared once with construct.

From microsoft/FASTER ``cs/remote/src``: ``FASTER.common/BatchHeader.cs``,
``MessageType.cs``, ``WireFormat.cs``, ``HeaderReaderWriter.cs``, the SpanByte
serialisation of ``FASTER.server/SpanByteServerSerializer.cs``, the sessions
``BinaryServerSession.cs`` and ``WebsocketServerSession.cs``, and the clients
``FASTER.client/ClientSession.cs`` and ``JavascriptClient/*.js``. All integers
are little-endian (FASTER writes them with native stores on x86/x64).

Binary (``DefaultVarLenKV``)::

    batch   = size:int32 (negated: -(bytes after it)) header messages
    header  = seq_no:int32 protocol:uint8 (0) num_messages:uint24
    request = type:uint8 serial_num:int64 SpanByte...  (per type, below)
    SpanByte = length:int32 bytes

WebSocket (``WireFormat.WebSocket``, one batch per WebSocket message)::

    batch   = size:int32 (positive) seq_no:int32 (0) num_messages:int32 messages
    request = type:uint8 SpanByte...  (no serial number)

``specs/faster/README.md`` has the tables, the replies and where this
implementation departs from FASTER's server and why.
"""

from __future__ import annotations

import enum
import struct
from typing import Any

import construct as c

from wireproto.framing import compile_construct

__all__ = [
    "BATCH_HEADER",
    "BINARY_REQUESTS",
    "PROTOCOL_VARLEN",
    "SPAN_BYTE",
    "WS_BATCH_HEADER",
    "WS_REQUESTS",
    "MessageType",
    "StatusCode",
    "build_binary_batch",
    "build_request",
    "build_ws_batch",
]


class MessageType(enum.IntEnum):
    """``FASTER.common.MessageType``."""

    READ = 0
    UPSERT = 1
    RMW = 2
    DELETE = 3
    READ_ASYNC = 4
    UPSERT_ASYNC = 5
    RMW_ASYNC = 6
    DELETE_ASYNC = 7
    SUBSCRIBE_KV = 8
    PSUBSCRIBE_KV = 9
    SUBSCRIBE = 10
    PUBLISH = 11
    PSUBSCRIBE = 12
    PENDING_RESULT = 13


class StatusCode(enum.IntEnum):
    """The status byte of a reply: ``FASTER.core.StatusCode`` (basic code | record bits)."""

    FOUND = 0x00
    NOT_FOUND = 0x01
    CANCELED = 0x02
    PENDING = 0x03
    ERROR = 0x04
    CREATED_RECORD = 0x10
    IN_PLACE_UPDATED_RECORD = 0x20
    COPY_UPDATED_RECORD = 0x30


PROTOCOL_VARLEN = 0
"""``WireFormat.DefaultVarLenKV``: the protocol byte of a binary batch header."""

SPAN_BYTE = c.Prefixed(c.Int32sl, c.GreedyBytes)
"""A serialised SpanByte: its int32 length, then its bytes."""

BATCH_HEADER = c.Struct(
    "seq_no" / c.Int32sl,
    "protocol" / c.Int8ul,
    "num_messages" / c.Int24ul,
)
"""``BatchHeader`` (8 bytes): the low byte of its second int is the protocol."""

WS_BATCH_HEADER = c.Struct(
    "seq_no" / c.Int32sl,
    "num_messages" / c.Int32sl,
)
"""The WebSocket session's header: the second int is the count, no protocol byte."""


def _request(serial: bool, *spans: str) -> c.Struct:
    fields: list[Any] = ["type" / c.Int8ul]
    if serial:
        fields.append("serial_num" / c.Int64sl)
    fields.extend(name / SPAN_BYTE for name in spans)
    return c.Struct(*fields)


_BINARY_SHAPES: dict[int, tuple[str, ...]] = {
    MessageType.READ: ("key", "input"),
    MessageType.UPSERT: ("key", "value"),
    MessageType.RMW: ("key", "input"),
    MessageType.DELETE: ("key",),
    MessageType.SUBSCRIBE_KV: ("key", "input"),
    MessageType.PSUBSCRIBE_KV: ("key", "input"),
    # The broker's messages (SubscribeBroker): a channel key, and Publish's value.
    MessageType.SUBSCRIBE: ("key",),
    MessageType.PUBLISH: ("key", "value"),
    MessageType.PSUBSCRIBE: ("key",),
}
_BINARY_SHAPES.update(
    {
        MessageType.READ_ASYNC: _BINARY_SHAPES[MessageType.READ],
        MessageType.UPSERT_ASYNC: _BINARY_SHAPES[MessageType.UPSERT],
        MessageType.RMW_ASYNC: _BINARY_SHAPES[MessageType.RMW],
        MessageType.DELETE_ASYNC: _BINARY_SHAPES[MessageType.DELETE],
    }
)
# FASTER's JavaScript client (the only WebSocket client FASTER has) sends Read
# and SubscribeKV with the key alone: WebsocketServerSession.cs would read an
# input SpanByte after it, which that client never writes.
_WS_SHAPES: dict[int, tuple[str, ...]] = {
    **_BINARY_SHAPES,
    MessageType.READ: ("key",),
    MessageType.READ_ASYNC: ("key",),
    MessageType.SUBSCRIBE_KV: ("key",),
    MessageType.PSUBSCRIBE_KV: ("key",),
}

BINARY_REQUESTS: dict[int, c.Struct] = {
    kind: _request(True, *shape) for kind, shape in _BINARY_SHAPES.items()
}
"""One binary request per message type: type, serial number, its SpanBytes."""
WS_REQUESTS: dict[int, c.Struct] = {
    kind: _request(False, *shape) for kind, shape in _WS_SHAPES.items()
}
"""One WebSocket request per message type: type, its SpanBytes (no serial number)."""

# Replies: message type, status byte, then what the type carries.
REPLY_STATUS = c.Struct("type" / c.Int8ul, "status" / c.Int8ul)
REPLY_OUTPUT = c.Struct("type" / c.Int8ul, "status" / c.Int8ul, "output" / SPAN_BYTE)
REPLY_SID = c.Struct("type" / c.Int8ul, "status" / c.Int8ul, "sid" / c.Int32sl)
REPLY_SID_OUTPUT = c.Struct(
    "type" / c.Int8ul, "status" / c.Int8ul, "sid" / c.Int32sl, "output" / SPAN_BYTE
)
REPLY_SID_KEY = c.Struct(
    "type" / c.Int8ul, "status" / c.Int8ul, "sid" / c.Int32sl, "key" / SPAN_BYTE
)
REPLY_SID_KEY_OUTPUT = c.Struct(
    "type" / c.Int8ul,
    "status" / c.Int8ul,
    "sid" / c.Int32sl,
    "key" / SPAN_BYTE,
    "output" / SPAN_BYTE,
)

_build_header = compile_construct(BATCH_HEADER).build
_build_ws_header = compile_construct(WS_BATCH_HEADER).build
_SIZE = struct.Struct("<i")


def build_binary_batch(seq_no: int, count: int, messages: bytes) -> bytes:
    """One binary batch: the negated size, the header, then ``messages``."""
    header = _build_header({"seq_no": seq_no, "protocol": PROTOCOL_VARLEN, "num_messages": count})
    return _SIZE.pack(-(len(header) + len(messages))) + header + messages


def build_ws_batch(count: int, messages: bytes, seq_no: int = 0) -> bytes:
    """One WebSocket batch (the payload of one binary WebSocket message)."""
    header = _build_ws_header({"seq_no": seq_no, "num_messages": count})
    return _SIZE.pack(len(header) + len(messages)) + header + messages


def build_request(kind: int, *, ws: bool = False, serial_num: int = 0, **spans: bytes) -> bytes:
    """The bytes of one request message (clients and tests)."""
    table = WS_REQUESTS if ws else BINARY_REQUESTS
    return compile_construct(table[kind]).build({"type": kind, "serial_num": serial_num, **spans})
