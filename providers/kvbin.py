"""kvbin: a tiny binary key-value protocol, the toolkit's worked example.

Every request and reply is a 12-byte header followed by a body; the header's
``length`` field counts the body. Each is declared once with construct
(``REQUEST``, ``REPLY``): the framer takes the header from the declaration,
and the compiled functions parse requests and build replies.
``specs/kvbin`` describes the format.

The provider serves the registry's shared store
(:func:`providers.kvstore.shared_store`): a key set through kvbin is the key
Redis ``GET``, memcached ``get`` and FASTER ``Read`` see, and the durability
log (``wireproto serve --dir``) records kvbin writes as it records theirs.
"""

from __future__ import annotations

import enum
import weakref
from collections.abc import Callable
from typing import Any, Final

import construct as c

from wireproto import (
    BytesLike,
    Limits,
    MessageConsumer,
    NetworkSender,
    ProtocolError,
    Registry,
    WireFormat,
    match_prefix,
)
from wireproto.framing import (
    FramedConsumer,
    LengthFieldFramer,
    compile_construct,
    precompiled_loops,
)

from . import _kvbin_loop  # noqa: F401 - registers REQUEST's loop, compiled ahead of time
from .kvstore import Store, WrongType, shared_store

__all__ = [
    "KVBIN",
    "MAGIC",
    "REPLY",
    "REQUEST",
    "KvbinProvider",
    "Opcode",
    "Status",
    "build_reply",
    "build_request",
    "register",
]

MAGIC = b"\xc0KV"
"""0xC0 never starts UTF-8 text, TLS or another binary format we serve."""

HEADER_SIZE: Final = 12
MAX_KEY_SIZE: Final = 250
DEFAULT_LIMITS = Limits(max_message_size=HEADER_SIZE + (1 << 20))


class Opcode(enum.IntEnum):
    """Request operations."""

    NOOP = 0
    GET = 1
    SET = 2
    DELETE = 3
    ECHO = 4


# Plain ints: no enum lookup per request (Final: constants inlined when compiled).
NOOP: Final = 0
GET: Final = 1
SET: Final = 2
DELETE: Final = 3
ECHO: Final = 4


class Status(enum.IntEnum):
    """Reply statuses; PROTOCOL_ERROR is the last reply before the server closes."""

    OK = 0
    NOT_FOUND = 1
    BAD_REQUEST = 2
    PROTOCOL_ERROR = 3


OK: Final = 0
NOT_FOUND: Final = 1
BAD_REQUEST: Final = 2


REQUEST = c.Struct(
    "magic" / c.Const(MAGIC),
    "opcode" / c.Int8ub,
    "request_id" / c.Int32ub,
    "body"
    / c.Prefixed(
        c.Int32ub, c.Struct("key" / c.Prefixed(c.Int16ub, c.GreedyBytes), "value" / c.GreedyBytes)
    ),
)
"""One request: the 12-byte header, then the body its ``length`` (the Prefixed) counts."""
REPLY = c.Struct(
    "magic" / c.Const(MAGIC),
    "status" / c.Int8ub,
    "request_id" / c.Int32ub,
    "body" / c.Prefixed(c.Int32ub, c.GreedyBytes),
)
"""One reply: the same header shape with a status, then the body."""

KVBIN = WireFormat("kvbin", match_prefix(MAGIC), priority=10)
"""The kvbin wire format: streams starting with the magic ``C0 4B 56``."""


def _fields_builder(con: c.Construct[Any, Any]) -> Callable[..., bytes]:
    build = compile_construct(con).build_fields
    if build is None:  # pragma: no cover - the declarations above compile
        raise RuntimeError(f"no positional build for {con}")
    return build


_build_request: Final = _fields_builder(REQUEST)
_build_reply: Final = _fields_builder(REPLY)


def build_request(
    opcode: Opcode, key: bytes = b"", value: bytes = b"", request_id: int = 0
) -> bytes:
    """The bytes of one request (clients and tests)."""
    return _build_request(opcode, request_id, key, value)


def build_reply(status: Status, request_id: int, body: BytesLike = b"") -> bytes:
    """The bytes of one reply."""
    return _build_reply(status, request_id, body)


_LOOP_DOC = """REQUEST's consumer loop (kvbin), generated from its declaration: do not edit.

Regenerate it from the repository root after a change to ``REQUEST`` or to the loop
generator (``tests/test_construct_emit.py`` fails until then; meanwhile the generated
loop runs)::

    .venv/bin/python -m wireproto.providers.kvbin > providers/_kvbin_loop.py
"""


def _loop_module() -> str:
    """The text of ``providers/_kvbin_loop.py`` (compiled by mypyc in the wheel)."""
    return precompiled_loops([REQUEST], _LOOP_DOC, fields=True)


class _KvbinSession:
    """One connection: frames requests, applies them to the shared store."""

    __slots__ = ("_framed", "_store")

    def __init__(self, store: Store, sender: NetworkSender, max_frame: int) -> None:
        # Called directly (not through bound methods kept here): a native call when compiled.
        self._store = store
        framer = LengthFieldFramer.from_message(REQUEST, max_frame_size=max_frame)
        self._framed = FramedConsumer(framer, self._handle, sender, message=REQUEST, fields=True)

    def try_consume(self, data: memoryview, /) -> int:
        try:
            return self._framed.try_consume(data)
        except ProtocolError as exc:
            if exc.reply:
                raise
            # The error reply echoes no request id: the stream is out of sync.
            reply = build_reply(Status.PROTOCOL_ERROR, 0, exc.message.encode())
            raise ProtocolError(exc.message, reply) from exc

    def close(self) -> None:
        self._framed.close()

    def _handle(self, fields: tuple[Any, ...], sender: NetworkSender) -> BytesLike:
        # REQUEST's fields; the reply is returned, sent with the others of the read.
        opcode: int  # typed for mypyc; declarations cost nothing interpreted
        request_id: int
        key: BytesLike
        value: BytesLike
        opcode, request_id, key, value = fields
        if len(key) > MAX_KEY_SIZE:
            return _build_reply(BAD_REQUEST, request_id, b"key too long")
        if type(key) is not bytes:
            key = bytes(key)  # a view of a large frame: the store keeps small keys apart
        if opcode == GET:
            try:
                found = self._store.get(key)
            except WrongType:  # a Redis list, hash...: absent, as memcached and FASTER see it
                found = None
            if found is None:
                return _build_reply(NOT_FOUND, request_id, b"")
            return _build_reply(OK, request_id, found)
        if opcode == SET:
            # A large value is a view of its frame: its one copy, the bytes the store keeps
            # (the frame is freed with the read, not kept alive by the value).
            self._store.put(key, value if type(value) is bytes else bytes(value))
            return _build_reply(OK, request_id, b"")
        if opcode == DELETE:
            gone = self._store.delete(key)
            return _build_reply(OK if gone else NOT_FOUND, request_id, b"")
        if opcode == ECHO:
            return _build_reply(OK, request_id, value)
        if opcode == NOOP:
            return _build_reply(OK, request_id, b"")
        return _build_reply(BAD_REQUEST, request_id, b"unknown opcode")


class KvbinProvider:
    """Serves kvbin from one key-value store shared by all its connections.

    Pass ``store`` to serve a given store. Otherwise ``registry`` names where
    the store comes from, bound when first needed (normally by the first
    connection, once every plugin is registered): the registry's
    :func:`~providers.kvstore.shared_store`, the keys RESP, memcached and
    FASTER serve. Without either, the provider has a store of its own.

    kvbin has no authentication in its protocol, so this provider is not
    :class:`~wireproto._session.Authenticating`: a listener that requires
    authentication refuses kvbin clients at detection.
    """

    def __init__(
        self,
        limits: Limits = DEFAULT_LIMITS,
        store: Store | None = None,
        *,
        registry: Registry | None = None,
    ) -> None:
        self._limits = limits
        self._registry = weakref.ref(registry) if registry is not None else None
        self._store = store
        if store is None and registry is None:
            self._store = Store()

    @property
    def limits(self) -> Limits:
        """The limits of kvbin connections (1 MiB values by default)."""
        return self._limits

    @property
    def store(self) -> Store:
        """The store served (the registry's shared store, bound on first use)."""
        store = self._store
        if store is None:
            registry = self._registry() if self._registry is not None else None
            store = self._store = shared_store(registry) if registry is not None else Store()
        return store

    def create_session(self, wire_format: WireFormat, sender: NetworkSender) -> MessageConsumer:
        """A new session on the shared store."""
        return _KvbinSession(self.store, sender, self._limits.max_message_size)


def register(registry: Registry) -> None:
    """Entry point of the ``wireproto.providers`` group: kvbin on the registry's shared store."""
    registry.register(KVBIN, KvbinProvider(registry=registry))


if __name__ == "__main__":
    print(_loop_module(), end="")
