"""memcached's binary protocol declared once: 24-byte headers, the extras of each command,
opcodes and statuses, and the requests and responses built from them.

The headers and the extras are declared with construct (:data:`REQUEST_HEADER`,
:data:`RESPONSE_HEADER`, :data:`STORE_EXTRAS`, ...); the session
(:mod:`.binary`) decodes them with ``struct.Struct`` layouts derived from
those declarations (:func:`struct_layout`), never with construct's compiled
mode. ``specs/memcache-binary`` describes the format.
"""

from __future__ import annotations

import enum
import struct
from typing import Any

import construct as c

from wireproto import Detector, match_prefix

__all__ = [
    "DELTA_EXTRAS",
    "DELTA_LAYOUT",
    "DELTA_VALUE",
    "ERROR_TEXT",
    "EXPIRATION_EXTRAS",
    "EXPIRATION_LAYOUT",
    "FLAGS_EXTRAS",
    "FLAGS_LAYOUT",
    "HEADER_SIZE",
    "QUIET_OPCODES",
    "REQUEST",
    "REQUEST_HEADER",
    "REQUEST_LAYOUT",
    "REQUEST_MAGIC",
    "RESPONSE_HEADER",
    "RESPONSE_LAYOUT",
    "RESPONSE_MAGIC",
    "STORE_EXTRAS",
    "STORE_LAYOUT",
    "VALUE_LAYOUT",
    "Opcode",
    "Sasl",
    "Status",
    "binary_detector",
    "build_request",
    "build_response",
    "struct_layout",
]

REQUEST_MAGIC = 0x80
RESPONSE_MAGIC = 0x81
HEADER_SIZE = 24

REQUEST_HEADER = c.Struct(
    "magic" / c.Const(REQUEST_MAGIC, c.Int8ub),
    "opcode" / c.Int8ub,
    "keylen" / c.Int16ub,
    "extlen" / c.Int8ub,
    "datatype" / c.Int8ub,
    "vbucket" / c.Int16ub,
    "bodylen" / c.Int32ub,
    "opaque" / c.Int32ub,
    "cas" / c.Int64ub,
)
"""A request header; ``bodylen`` counts extras, key and value."""

RESPONSE_HEADER = c.Struct(
    "magic" / c.Const(RESPONSE_MAGIC, c.Int8ub),
    "opcode" / c.Int8ub,
    "keylen" / c.Int16ub,
    "extlen" / c.Int8ub,
    "datatype" / c.Int8ub,
    "status" / c.Int16ub,
    "bodylen" / c.Int32ub,
    "opaque" / c.Int32ub,
    "cas" / c.Int64ub,
)
"""A response header: the request's opcode and opaque, a status, the item's CAS."""

REQUEST = c.Struct(
    "header" / REQUEST_HEADER,
    "extras" / c.Bytes(c.this.header.extlen),
    "key" / c.Bytes(c.this.header.keylen),
    "value" / c.Bytes(c.this.header.bodylen - c.this.header.extlen - c.this.header.keylen),
)
"""A whole request (tests and tools; the session slices the body by the header)."""

STORE_EXTRAS = c.Struct("flags" / c.Int32ub, "expiration" / c.Int32ub)
"""Extras of set, add and replace."""
DELTA_EXTRAS = c.Struct("delta" / c.Int64ub, "initial" / c.Int64ub, "expiration" / c.Int32ub)
"""Extras of increment and decrement (expiration 0xffffffff: do not create)."""
EXPIRATION_EXTRAS = c.Struct("expiration" / c.Int32ub)
"""Extras of flush (optional), touch and the get-and-touch commands."""
FLAGS_EXTRAS = c.Struct("flags" / c.Int32ub)
"""Extras of a get response."""
DELTA_VALUE = c.Struct("value" / c.Int64ub)
"""The body of an increment or decrement response."""


def struct_layout(declaration: c.Construct[Any, Any]) -> struct.Struct:
    """One big-endian ``struct.Struct`` decoding a construct ``Struct`` of integer fields."""
    if not isinstance(declaration, c.Struct):
        raise TypeError("struct_layout needs a construct Struct")
    codes = []
    for sub in declaration.subcons:
        field = sub.subcon if isinstance(sub, c.Renamed) else sub
        if isinstance(field, c.Const):
            field = field.subcon
        if not isinstance(field, c.FormatField) or field.fmtstr[0] not in "><":
            raise ValueError(f"{sub!r} is not a fixed-size integer field")
        codes.append(field.fmtstr[1:])
    layout = struct.Struct(">" + "".join(codes))
    if layout.size != declaration.sizeof():
        raise ValueError("the struct layout does not have the declaration's size")
    return layout


REQUEST_LAYOUT = struct_layout(REQUEST_HEADER)
RESPONSE_LAYOUT = struct_layout(RESPONSE_HEADER)
STORE_LAYOUT = struct_layout(STORE_EXTRAS)
DELTA_LAYOUT = struct_layout(DELTA_EXTRAS)
EXPIRATION_LAYOUT = struct_layout(EXPIRATION_EXTRAS)
FLAGS_LAYOUT = struct_layout(FLAGS_EXTRAS)
VALUE_LAYOUT = struct_layout(DELTA_VALUE)


class Opcode(enum.IntEnum):
    """Request opcodes this server knows (memcached 1.6's, SASL aside: see :class:`Sasl`)."""

    GET = 0x00
    SET = 0x01
    ADD = 0x02
    REPLACE = 0x03
    DELETE = 0x04
    INCREMENT = 0x05
    DECREMENT = 0x06
    QUIT = 0x07
    FLUSH = 0x08
    GETQ = 0x09
    NOOP = 0x0A
    VERSION = 0x0B
    GETK = 0x0C
    GETKQ = 0x0D
    APPEND = 0x0E
    PREPEND = 0x0F
    STAT = 0x10
    SETQ = 0x11
    ADDQ = 0x12
    REPLACEQ = 0x13
    DELETEQ = 0x14
    INCREMENTQ = 0x15
    DECREMENTQ = 0x16
    QUITQ = 0x17
    FLUSHQ = 0x18
    APPENDQ = 0x19
    PREPENDQ = 0x1A
    TOUCH = 0x1C
    GAT = 0x1D
    GATQ = 0x1E
    GATK = 0x23
    GATKQ = 0x24


class Status(enum.IntEnum):
    """Response statuses, with the texts memcached puts in error bodies."""

    SUCCESS = 0x00
    KEY_ENOENT = 0x01
    KEY_EEXISTS = 0x02
    E2BIG = 0x03
    EINVAL = 0x04
    NOT_STORED = 0x05
    DELTA_BADVAL = 0x06
    AUTH_ERROR = 0x20
    AUTH_CONTINUE = 0x21
    UNKNOWN_COMMAND = 0x81
    ENOMEM = 0x82


ERROR_TEXT = {
    Status.KEY_ENOENT: b"Not found",
    Status.KEY_EEXISTS: b"Data exists for key.",
    Status.E2BIG: b"Too large.",
    Status.EINVAL: b"Invalid arguments",
    Status.NOT_STORED: b"Not stored.",
    Status.DELTA_BADVAL: b"Non-numeric server-side value for incr or decr",
    Status.AUTH_ERROR: b"Auth failure.",
    Status.UNKNOWN_COMMAND: b"Unknown command",
    Status.ENOMEM: b"Out of memory",
}

# The quiet opcode of each command, mapped to the command it runs.
QUIET_OPCODES = {
    Opcode.GETQ: Opcode.GET,
    Opcode.GETKQ: Opcode.GETK,
    Opcode.SETQ: Opcode.SET,
    Opcode.ADDQ: Opcode.ADD,
    Opcode.REPLACEQ: Opcode.REPLACE,
    Opcode.DELETEQ: Opcode.DELETE,
    Opcode.INCREMENTQ: Opcode.INCREMENT,
    Opcode.DECREMENTQ: Opcode.DECREMENT,
    Opcode.QUITQ: Opcode.QUIT,
    Opcode.FLUSHQ: Opcode.FLUSH,
    Opcode.APPENDQ: Opcode.APPEND,
    Opcode.PREPENDQ: Opcode.PREPEND,
    Opcode.GATQ: Opcode.GAT,
    Opcode.GATKQ: Opcode.GATK,
}


class Sasl(enum.IntEnum):
    """The SASL opcodes, served only on a listener that requires authentication."""

    LIST_MECHS = 0x20
    AUTH = 0x21
    STEP = 0x22


def binary_detector() -> Detector:
    """Binary requests start with the magic byte 0x80 (never the first byte of text)."""
    return match_prefix(bytes([REQUEST_MAGIC]))


def build_response(
    opcode: int,
    status: int = Status.SUCCESS,
    opaque: int = 0,
    cas: int = 0,
    *,
    extras: bytes = b"",
    key: bytes = b"",
    value: bytes = b"",
) -> bytes:
    """The bytes of one response."""
    body = len(extras) + len(key) + len(value)
    head = RESPONSE_LAYOUT.pack(
        RESPONSE_MAGIC, opcode, len(key), len(extras), 0, status, body, opaque, cas
    )
    return head + extras + key + value


def build_request(
    opcode: int,
    key: bytes = b"",
    value: bytes = b"",
    extras: bytes = b"",
    *,
    opaque: int = 0,
    cas: int = 0,
) -> bytes:
    """The bytes of one request (clients, tests and benchmarks)."""
    body = len(extras) + len(key) + len(value)
    head = REQUEST_LAYOUT.pack(
        REQUEST_MAGIC, opcode, len(key), len(extras), 0, 0, body, opaque, cas
    )
    return head + extras + key + value
