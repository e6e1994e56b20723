"""memcached's authentication, parsed without I/O: SASL ``PLAIN`` and the text protocol's token.

Both follow memcached 1.6.18, the version the differential tests run
(``proto_bin.c``, ``proto_text.c`` ``try_read_command_asciiauth``,
cyrus-sasl's ``plain.c``), with one guard of later versions: a text token
longer than 16 KiB is refused (``CLIENT_ERROR auth token too long``) rather
than waited for. Not copied: 1.6.18 answers a pipelined batch of
unauthenticated lines with one reply (each overwrites the last); here each
line gets its reply. The sessions in
:mod:`providers.memcache.binary` and :mod:`providers.memcache.text` check
the credentials against their sender's
:class:`~wireproto._auth.AuthSettings`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "MAX_AUTH_REQ_LEN",
    "MAX_SASL_MECH_LEN",
    "MAX_UNTERMINATED",
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

MAX_UNTERMINATED = 2048
"""Buffered bytes without a newline past which an unauthenticated text client is closed."""

UNAUTHENTICATED = b"CLIENT_ERROR unauthenticated\r\n"
TOKEN_TOO_LONG = b"CLIENT_ERROR auth token too long\r\n"
BAD_TERMINATION = b"CLIENT_ERROR bad command line termination\r\n"
BAD_FORMAT = b"CLIENT_ERROR bad authentication token format\r\n"
AUTH_FAILURE = b"CLIENT_ERROR authentication failure\r\n"
STORED = b"STORED\r\n"

_SIZE = re.compile(rb"[ \t\n\v\f\r]*\+?([0-9]+)[ \t\n\v\f\r]*")


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
    """The size of a ``set <key> <flags> <exptime> <bytes>`` line, or None for any other line.

    As memcached 1.6.18: tokens split on spaces, the first exactly ``set``,
    the fifth read by ``safe_strtoul`` (digits, then the end or a space such
    as the line's ``\r``; no sign).
    """
    tokens = [token for token in line.split(b" ") if token]
    if len(tokens) < 5 or tokens[0] != b"set":
        return None
    match = _SIZE.fullmatch(tokens[4])
    return int(match[1]) if match is not None else None


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
    words = [word for word in block[:-2].split(b" ") if word]
    if len(words) < 2:
        return TextAuthStep(used=end, reply=BAD_FORMAT)
    return TextAuthStep(used=end, credentials=(words[0], words[1]))
