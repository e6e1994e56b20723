"""memcached's binary protocol declared once: 24-byte headers, the extras of each command,
opcodes and statuses, and the requests and responses built from them.

The messages and the extras are declared with construct (:data:`REQUEST`,
:data:`RESPONSE`, :data:`VALUE_RESPONSE`, :data:`STORE_EXTRAS`, ...); the session
(:mod:`.binary`) decodes requests with ``struct.Struct`` layouts derived from
those declarations (:func:`struct_layout`) and builds every response with the
functions ``compile_construct`` generates from them (``build_fields``: one
``struct`` pack of the header, then the body), never with construct's own
compiled mode. ``specs/memcache-binary`` describes the format.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Callable, Collection
from typing import Any, Final

import construct as c

from wireproto import Detector, match_prefix
from wireproto.framing import compile_construct

__all__ = [
    "DELTA_EXTRAS",
    "DELTA_LAYOUT",
    "DELTA_RESPONSE",
    "DELTA_VALUE",
    "ERROR_TEXT",
    "EXPIRATION_EXTRAS",
    "EXPIRATION_LAYOUT",
    "FLAGS_EXTRAS",
    "FLAGS_LAYOUT",
    "GET_REQUEST_LAYOUT",
    "HEADER_SIZE",
    "HEAD_LAYOUT",
    "QUIET_OPCODES",
    "REQUEST",
    "REQUEST_HEADER",
    "REQUEST_LAYOUT",
    "REQUEST_MAGIC",
    "RESPONSE",
    "RESPONSE_HEADER",
    "RESPONSE_LAYOUT",
    "RESPONSE_MAGIC",
    "SET_REQUEST_LAYOUT",
    "STATUS_RESPONSE",
    "STORE_EXTRAS",
    "STORE_LAYOUT",
    "TEXT_RESPONSE",
    "VALUE_HEAD_LAYOUT",
    "VALUE_LAYOUT",
    "VALUE_RESPONSE",
    "Opcode",
    "Sasl",
    "Status",
    "binary_detector",
    "build_delta_response",
    "build_request",
    "build_response",
    "build_response_fields",
    "build_status_response",
    "build_text_response",
    "build_value_response",
    "response_prefix",
    "struct_layout",
]

REQUEST_MAGIC: Final = 0x80
RESPONSE_MAGIC: Final = 0x81
HEADER_SIZE: Final = 24


# construct's expression builders as Any: their stubs say int, and a compiled (mypyc)
# module would check the expression objects they return against that.
_this: Any = c.this
_len: Any = c.len_

_Part = c.Struct | bool
"""A message part: ``True`` for bytes of any length, a fixed-size ``Struct``, ``False`` for none."""


def _message(
    magic: int, third: str, *, extras: _Part = True, key: bool = True, value: _Part = True
) -> c.Struct:
    """One message: the 24-byte header, then its extras, key and value.

    ``third`` names the header's sixteen bits after ``datatype`` (``vbucket`` in a
    request, ``status`` in a response). The lengths are ``Rebuild`` (computed when
    building, read when parsing), or ``Const`` for a part of fixed size or absent.
    """

    def size(part: _Part) -> int:
        return part.sizeof() if isinstance(part, c.Struct) else 0

    def length(name: str, part: _Part, field: c.Construct[Any, Any]) -> c.Construct[Any, Any]:
        if part is True:
            return c.Rebuild(field, _len(_this[name]))
        return c.Const(size(part), field)

    fixed = size(extras) + size(value)
    variable: list[Any] = [_this.extlen] if extras is True else []
    variable += [_this.keylen] if key else []
    variable += [_len(_this.value)] if value is True else []
    if variable:
        total = sum(variable[1:], variable[0])
        bodylen: c.Construct[Any, Any] = c.Rebuild(c.Int32ub, total + fixed if fixed else total)
    else:
        bodylen = c.Const(fixed, c.Int32ub)
    fields: list[c.Construct[Any, Any]] = [
        "magic" / c.Const(magic, c.Int8ub),
        "opcode" / c.Int8ub,
        "keylen" / length("key", key, c.Int16ub),
        "extlen" / length("extras", extras, c.Int8ub),
        # memcached answers raw bytes only (proto_bin.c add_bin_header): datatype 0.
        "datatype" / (c.Int8ub if magic == REQUEST_MAGIC else c.Const(0, c.Int8ub)),
        third / c.Int16ub,
        "bodylen" / bodylen,
        "opaque" / c.Int32ub,
        "cas" / c.Int64ub,
    ]
    if extras is not False:
        fields.append("extras" / (c.Bytes(_this.extlen) if extras is True else extras))
    if key:
        fields.append("key" / c.Bytes(_this.keylen))
    if value is True:
        fields.append("value" / c.Bytes(_this.bodylen - _this.extlen - _this.keylen))
    elif value is not False:
        fields.append("value" / value)
    return c.Struct(*fields)


def _header_of(message: c.Struct) -> c.Struct:
    """The first 24 bytes of ``message`` as plain fields (each length read as it is)."""
    fields: list[c.Construct[Any, Any]] = []
    for sub in message.subcons[:9]:
        assert isinstance(sub, c.Renamed) and sub.name is not None
        inner = sub.subcon
        if isinstance(inner, c.Rebuild):
            inner = inner.subcon
        fields.append(sub.name / inner)
    return c.Struct(*fields)


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

REQUEST = _message(REQUEST_MAGIC, "vbucket")
"""A whole request; ``bodylen`` counts extras, key and value."""
RESPONSE = _message(RESPONSE_MAGIC, "status")
"""A whole response: the request's opcode and opaque, a status, the item's CAS, a body."""
VALUE_RESPONSE = _message(RESPONSE_MAGIC, "status", extras=FLAGS_EXTRAS)
"""A response carrying an item (get, touch, gat): its flags as extras, key, value."""
STATUS_RESPONSE = _message(RESPONSE_MAGIC, "status", extras=False, key=False, value=False)
"""A response that is its header alone (a stored item, a delete, a noop)."""
TEXT_RESPONSE = _message(RESPONSE_MAGIC, "status", extras=False, key=False)
"""A response with a value only (an error's text, the version, the SASL mechanisms)."""
DELTA_RESPONSE = _message(RESPONSE_MAGIC, "status", extras=False, key=False, value=DELTA_VALUE)
"""The response of an increment or decrement: the new value."""
REQUEST_HEADER = _header_of(REQUEST)
"""A request header (the session slices the body by it)."""
RESPONSE_HEADER = _header_of(RESPONSE)
"""A response header."""


def _fields_builder(declaration: c.Construct[Any, Any]) -> Callable[..., bytes]:
    build = compile_construct(declaration).build_fields
    if build is None:  # pragma: no cover - the declarations above compile
        raise RuntimeError(f"no positional build for {declaration}")
    return build


build_response_fields = _fields_builder(RESPONSE)
"""``(opcode, status, opaque, cas, extras, key, value)``: a response's bytes."""
build_value_response = _fields_builder(VALUE_RESPONSE)
"""``(opcode, status, opaque, cas, flags, key, value)``: an item's response."""
build_status_response = _fields_builder(STATUS_RESPONSE)
"""``(opcode, status, opaque, cas)``: a response with no body."""
build_text_response = _fields_builder(TEXT_RESPONSE)
"""``(opcode, status, opaque, cas, value)``: a response with a value only."""
build_delta_response = _fields_builder(DELTA_RESPONSE)
"""``(opcode, status, opaque, cas, value)``: an increment's new value."""
_build_request = _fields_builder(REQUEST)


def struct_layout(declaration: c.Construct[Any, Any], skip: Collection[str] = ()) -> struct.Struct:
    """One big-endian ``struct.Struct`` decoding a construct ``Struct`` of integer fields.

    The fields named in ``skip`` are padding to it (``x``): not decoded, not built.
    """
    if not isinstance(declaration, c.Struct):
        raise TypeError("struct_layout needs a construct Struct")
    codes = []
    for sub in declaration.subcons:
        field = sub.subcon if isinstance(sub, c.Renamed) else sub
        if isinstance(field, c.Const):
            field = field.subcon
        if not isinstance(field, c.FormatField) or field.fmtstr[0] not in "><":
            raise ValueError(f"{sub!r} is not a fixed-size integer field")
        code = field.fmtstr[1:]
        codes.append(f"{struct.calcsize(code)}x" if sub.name in skip else code)
    layout = struct.Struct(">" + "".join(codes))
    if layout.size != declaration.sizeof():
        raise ValueError("the struct layout does not have the declaration's size")
    return layout


# Final: a compiled (mypyc) module reads them as C statics, not by a dictionary lookup.
REQUEST_LAYOUT: Final = struct_layout(REQUEST_HEADER)
RESPONSE_LAYOUT: Final = struct_layout(RESPONSE_HEADER)
STORE_LAYOUT: Final = struct_layout(STORE_EXTRAS)
DELTA_LAYOUT: Final = struct_layout(DELTA_EXTRAS)
EXPIRATION_LAYOUT: Final = struct_layout(EXPIRATION_EXTRAS)
FLAGS_LAYOUT: Final = struct_layout(FLAGS_EXTRAS)
VALUE_LAYOUT: Final = struct_layout(DELTA_VALUE)
# The session's fast path (a GET or SET, test_memcache_binary.py checks these layouts
# against the declarations' own builds): a request header without the fields it does not
# read; a response header as its first eight bytes (magic to status: constant for one
# reply kind), then its fields; the same followed by the flags (a GET hit up to its key).
GET_REQUEST_LAYOUT: Final = struct_layout(
    REQUEST_HEADER, skip=("magic", "opcode", "datatype", "vbucket", "cas")
)
"""``(keylen, extlen, bodylen, opaque)`` of a request header."""
SET_REQUEST_LAYOUT: Final = struct.Struct(
    struct_layout(REQUEST_HEADER, skip=("magic", "opcode", "datatype", "vbucket")).format
    + STORE_LAYOUT.format[1:]
)
"""``(keylen, extlen, bodylen, opaque, cas, flags, expiration)``: a request header and
:data:`STORE_EXTRAS` after it."""
_PREFIX_SIZE: Final = struct.calcsize(RESPONSE_LAYOUT.format[:7])
HEAD_LAYOUT: Final = struct.Struct(f">{_PREFIX_SIZE}s{RESPONSE_LAYOUT.format[7:]}")
"""``(prefix, bodylen, opaque, cas)``: a response header after its first eight bytes."""
VALUE_HEAD_LAYOUT: Final = struct.Struct(HEAD_LAYOUT.format + FLAGS_LAYOUT.format[1:])
"""``(prefix, bodylen, opaque, cas, flags)``: a :data:`VALUE_RESPONSE` up to its key."""


def response_prefix(opcode: int, status: int, keylen: int = 0, extlen: int = 0) -> bytes:
    """The first bytes of a response header (magic to status), as :data:`HEAD_LAYOUT` takes."""
    return RESPONSE_LAYOUT.pack(RESPONSE_MAGIC, opcode, keylen, extlen, 0, status, 0, 0, 0)[
        :_PREFIX_SIZE
    ]


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
    """The bytes of one response (built from :data:`RESPONSE`)."""
    return build_response_fields(opcode, status, opaque, cas, extras, key, value)


def build_request(
    opcode: int,
    key: bytes = b"",
    value: bytes = b"",
    extras: bytes = b"",
    *,
    opaque: int = 0,
    cas: int = 0,
) -> bytes:
    """The bytes of one request (clients, tests and benchmarks; built from :data:`REQUEST`)."""
    return _build_request(opcode, 0, 0, opaque, cas, extras, key, value)
