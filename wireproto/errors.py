"""Exceptions shared by the toolkit and the providers."""

from __future__ import annotations

__all__ = ["ContractError", "ProtocolError"]


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
