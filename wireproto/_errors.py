"""Exceptions shared by the toolkit and the providers, and why a connection closes."""

from __future__ import annotations

import enum

__all__ = ["CloseReason", "ContractError", "ProtocolError", "exception_text"]


class CloseReason(enum.Enum):
    """Why a connection was closed."""

    PEER_CLOSED = "peer-closed"
    CONNECTION_LOST = "connection-lost"
    SESSION_CLOSED = "session-closed"
    PROTOCOL_ERROR = "protocol-error"
    NO_MATCH = "no-match"
    DETECT_TIMEOUT = "detect-timeout"
    SESSION_FAILED = "session-failed"
    OUTPUT_LIMIT = "output-limit"
    SERVER_SHUTDOWN = "server-shutdown"
    IDLE_TIMEOUT = "idle-timeout"
    HANDSHAKE_TIMEOUT = "handshake-timeout"
    MEMORY_LIMIT = "memory-limit"
    CLIENT_LIMIT = "client-limit"
    AUTH_REQUIRED = "auth-required"


class ProtocolError(Exception):
    """The peer broke the wire protocol; the connection will be closed.

    ``reply`` holds bytes the client should see before the close (for example
    ``b"-ERR Protocol error: ...\\r\\n"``); it may be empty when the protocol has
    no way to report errors.
    """

    def __init__(self, message: str, reply: bytes = b"") -> None:
        super().__init__(message)
        self.message = message
        self.reply = bytes(reply)


class ContractError(Exception):
    """A session or detector broke its contract with the toolkit (a server-side bug).

    Raised, for instance, when ``try_consume`` reports more bytes than it was
    given. It closes the one connection and is logged; it is never silently
    turned into corrupted stream state.
    """


def exception_text(exc: BaseException) -> str:
    """``Class: message``, the class named with its module unless it is a builtin
    (``struct.error: unpack_from requires ...``, not ``error: ...``)."""
    kind = type(exc)
    name = kind.__qualname__
    if kind.__module__ not in ("builtins", "__main__"):
        name = f"{kind.__module__}.{name}"
    message = str(exc)
    return f"{name}: {message}" if message else name
