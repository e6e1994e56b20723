"""memcached's authentication, parsed without I/O: SASL ``PLAIN`` and the text protocol's token.

Both follow memcached 1.6 (``proto_bin.c``, ``proto_text.c``
``try_read_command_asciiauth``, cyrus-sasl's ``plain.c``). The sessions in
:mod:`providers.memcache.binary` and :mod:`providers.memcache.text` check
the credentials against their sender's
:class:`~wireproto.auth.AuthSettings`.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "MAX_AUTH_REQ_LEN",
    "MAX_SASL_MECH_LEN",
    "MAX_UNTERMINATED",
    "MIN_AUTH_REQ_LEN",
    "SASL_MECHANISMS",
    "TextAuthStep",
    "parse_plain",
    "text_auth_step",
]

SASL_MECHANISMS = b"PLAIN"
"""What ``SASL_LIST_MECHS`` answers: the one mechanism served."""

MAX_SASL_MECH_LEN = 32
"""memcached's longest mechanism name (the key of ``SASL_AUTH``); longer is ``EINVAL``."""

MAX_AUTH_REQ_LEN = 16384
"""The longest text token (``username password``) memcached reads."""

MIN_AUTH_REQ_LEN = 6
"""A first line shorter than this (its ``\\r`` included) closes the connection."""

MAX_UNTERMINATED = 2048
"""Buffered bytes without a newline past which an unauthenticated text client is closed."""

UNAUTHENTICATED = b"CLIENT_ERROR unauthenticated\r\n"
TOKEN_TOO_LONG = b"CLIENT_ERROR auth token too long\r\n"
BAD_TERMINATION = b"CLIENT_ERROR bad command line termination\r\n"
BAD_FORMAT = b"CLIENT_ERROR bad authentication token format\r\n"
AUTH_FAILURE = b"CLIENT_ERROR authentication failure\r\n"
STORED = b"STORED\r\n"

_U32_DIGITS = 11  # mcmc_toktou32 refuses longer tokens


def parse_plain(message: bytes) -> tuple[bytes, bytes] | None:
    """``(authcid, password)`` of a SASL PLAIN message, or None when it is malformed.

    The message is ``authzid NUL authcid NUL password`` with exactly two
    NULs (cyrus-sasl's rule); an authorization identity other than the
    authentication identity is refused, as no user may act for another.
    """
    parts = message.split(b"\0")
    if len(parts) != 3:
        return None
    authzid, authcid, password = parts
    if authzid and authzid != authcid:
        return None
    return authcid, password


@dataclass(frozen=True, slots=True)
class TextAuthStep:
    """What an unauthenticated text client's next bytes lead to.

    ``used`` bytes are consumed (0: ``need`` bytes are needed from the head
    before anything can be decided). Then either ``close`` (without a
    reply, as memcached closes on junk), or ``reply`` is sent, or
    ``credentials`` (username, password) are to be checked: ``STORED`` if
    they match, ``CLIENT_ERROR authentication failure`` if not.
    """

    used: int = 0
    need: int = 0
    reply: bytes = b""
    close: bool = False
    credentials: tuple[bytes, bytes] | None = None


def _size_token(line: bytes) -> int | None:
    """The fifth token of a ``set`` line as memcached's mcmc tokenizer reads it, or None."""
    if not line.startswith(b"set"):
        return None
    # mcmc_tokenize() is given the line up to (not with) its "\n" and drops its
    # last byte, or its last two when the one before is "\r": "\r\n" lines lose
    # the "\r", and a bare "\n" line loses its last character.
    end = len(line) - 2 if line[-2] == 13 else len(line) - 1
    tokens = [token for token in line[:end].split(b" ") if token]
    if len(tokens) < 5:
        return None
    size = tokens[4]
    if len(size) > _U32_DIGITS or not size.isdigit():
        return None
    value = int(size)
    return value if value <= 0xFFFFFFFF else None


def text_auth_step(data: bytes, start: int = 0) -> TextAuthStep:
    """memcached's ``try_read_command_asciiauth`` on the bytes of ``data`` from ``start``.

    ``used`` and ``need`` count from ``start``.
    """
    newline = data.find(b"\n", start)
    if newline < 0:
        if len(data) - start > MAX_UNTERMINATED:
            return TextAuthStep(used=len(data) - start, close=True)
        return TextAuthStep(need=len(data) - start + 1)
    line = data[start:newline]
    if len(line) < MIN_AUTH_REQ_LEN:
        return TextAuthStep(used=len(line) + 1, close=True)
    size = _size_token(line)
    if size is None:
        return TextAuthStep(used=len(line) + 1, reply=UNAUTHENTICATED)
    if size > MAX_AUTH_REQ_LEN:
        return TextAuthStep(used=len(line) + 1, reply=TOKEN_TOO_LONG)
    end = len(line) + 1 + size + 2
    if len(data) - start < end:
        return TextAuthStep(need=end)
    block = data[newline + 1 : start + end]
    if block[-2:] != b"\r\n":
        return TextAuthStep(used=end, reply=BAD_TERMINATION)
    middle = block.find(b" ")
    if middle < 0:
        return TextAuthStep(used=end, reply=BAD_FORMAT)
    return TextAuthStep(used=end, credentials=(block[:middle], block[middle + 1 : size]))
