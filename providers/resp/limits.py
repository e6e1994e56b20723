"""RESP request limits (Redis's), the protocol error Redis sends, and canonical sizes.

What both request parsers share (:mod:`.pure_parser` and :mod:`.hiredis_parser`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from wireproto import ProtocolError

__all__ = [
    "HEADER_LIMIT",
    "HEADER_SIZES",
    "INT_MAX",
    "UNAUTHENTICATED_MAX_BULK_LEN",
    "UNAUTHENTICATED_MAX_MULTIBULK_LEN",
    "RespLimits",
    "encoded_size",
    "protocol_error",
]

INT_MAX: Final = (1 << 31) - 1
UNAUTHENTICATED_MAX_MULTIBULK_LEN: Final = 10
"""Redis refuses more arguments than this before AUTH when a password is set."""
UNAUTHENTICATED_MAX_BULK_LEN: Final = 16384
"""Redis refuses longer bulks than this before AUTH when a password is set."""


@dataclass(frozen=True, slots=True)
class RespLimits:
    """Request size limits, as Redis has them.

    ``max_bulk_len`` is Redis's ``proto-max-bulk-len`` (512 MB);
    ``max_multibulk_len`` caps the arguments of one command (Redis: INT_MAX;
    here 1M by default); ``max_inline_len`` is ``PROTO_INLINE_MAX_SIZE``
    (64 KiB), which also caps header lines; ``max_query_len`` caps the bytes of
    one command's arguments (Redis's ``client-query-buffer-limit``, 1 GiB).
    ``max_output_buffered`` caps the reply bytes held for one client
    (default: one maximal bulk plus 64 MiB, 576 MiB: a value of the largest
    size SET accepts can always be read back, as Redis, whose normal clients
    have no output limit, allows).
    """

    max_bulk_len: int = 512 * 1024 * 1024
    max_multibulk_len: int = 1024 * 1024
    max_inline_len: int = 64 * 1024
    max_query_len: int = 1024 * 1024 * 1024
    max_output_buffered: int | None = None

    def __post_init__(self) -> None:
        for name in ("max_bulk_len", "max_multibulk_len", "max_inline_len", "max_query_len"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.max_multibulk_len > INT_MAX:
            raise ValueError("max_multibulk_len must not exceed INT_MAX")
        if self.max_output_buffered is not None and self.max_output_buffered < 1:
            raise ValueError("max_output_buffered must be at least 1")

    @property
    def max_message_size(self) -> int:
        """The receive-buffer cap these limits need.

        The buffer holds at most one element: a bulk and the two bytes after
        it, or a header or inline line (which errors once it passes
        ``max_inline_len`` bytes without its terminator; a header line's
        ``\\r`` also needs the byte after it).
        """
        return max(self.max_bulk_len, self.max_inline_len) + 2

    @property
    def output_limit(self) -> int:
        """The effective ``max_output_buffered``."""
        if self.max_output_buffered is not None:
            return self.max_output_buffered
        return self.max_bulk_len + (64 << 20)


def protocol_error(text: bytes) -> ProtocolError:
    """The error Redis sends before closing: ``-ERR Protocol error: <text>``."""
    message = b"Protocol error: " + text.replace(b"\r", b" ").replace(b"\n", b" ")
    return ProtocolError(message.decode("utf-8", "replace"), b"-ERR " + message + b"\r\n")


HEADER_SIZES: Final = tuple(len(str(size)) + 3 for size in range(4096))
"""Bytes of a canonical ``$<size>\\r\\n`` (or ``*<count>\\r\\n``) header."""
HEADER_LIMIT: Final = len(HEADER_SIZES)


def encoded_size(commands: list[list[bytes]]) -> int:
    """The bytes of ``commands`` in canonical multibulk encoding."""
    size = 0
    for argv in commands:
        count = len(argv)
        size += HEADER_SIZES[count] if count < HEADER_LIMIT else len(str(count)) + 3
        for arg in argv:
            length = len(arg)
            header = HEADER_SIZES[length] if length < HEADER_LIMIT else len(str(length)) + 3
            size += header + length + 2
    return size
