"""RESP request parsing: multibulk (``*N`` / ``$len``) and inline commands.

The parser follows Redis's ``processMultibulkBuffer`` and
``processInlineBuffer`` (``src/networking.c``), including their error texts
and quirks: a header line ends at its first ``\\r`` and the byte after it is
skipped unchecked, as are the two bytes after a bulk's data.

Design (one :class:`RequestParser` per connection):

- A read batch is parsed by ``begin`` / ``next_command`` (repeatedly) / ``end``.
  ``end`` returns the bytes consumed: everything up to the last *element*
  parsed, so the arguments of an unfinished command are copied out and
  consumed, and the parser remembers the command's progress (arguments so
  far, arguments left, the length of the bulk it waits for). The receive
  buffer then never holds more than one element: the bulk being received or
  one header line. A slow drip of a large bulk costs O(1) per read (a length
  comparison) until the bulk is complete, and a header line that arrives
  byte by byte is searched only in its new bytes.
- Redis finds line ends with ``strchr``, which stops at a NUL byte: a line
  with a NUL before its end is never complete, and Redis waits until the
  inline limit is passed, then fails. The parser does the same.
- All scanning is ``bytes.find`` and slicing; numbers are ``int()`` on slices
  after an ASCII ``isdigit()`` check (Redis's ``string2ll`` is strict).
- With hiredis installed, whole commands at the head of a batch go through
  ``hiredis.Reader`` (C) and each result is verified against the bytes: every
  argument must be a bulk string at the offset a canonical encoding puts it,
  so hiredis's laxer grammar (RESP3 types, nested arrays, verbatim strings)
  can never change what a command means. Anything else (inline commands,
  incomplete tails, errors, limits) falls back to the pure parser at the
  start of that command, which produces the reply Redis would.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from providers.kvstore import parse_int64
from wireproto.errors import ProtocolError

try:
    import hiredis as _hiredis  # type: ignore[import-not-found, unused-ignore]
except ImportError:  # pragma: no cover - depends on the environment
    _hiredis = None  # type: ignore[assignment, unused-ignore]

__all__ = [
    "HIREDIS_AVAILABLE",
    "INT_MAX",
    "UNAUTHENTICATED_MAX_BULK_LEN",
    "UNAUTHENTICATED_MAX_MULTIBULK_LEN",
    "RequestParser",
    "RespLimits",
    "protocol_error",
    "split_inline_args",
]

HIREDIS_AVAILABLE = _hiredis is not None
"""Whether the hiredis accelerator can be used."""

INT_MAX = (1 << 31) - 1
UNAUTHENTICATED_MAX_MULTIBULK_LEN = 10
"""Redis refuses more arguments than this before AUTH when a password is set."""
UNAUTHENTICATED_MAX_BULK_LEN = 16384
"""Redis refuses longer bulks than this before AUTH when a password is set."""


@dataclass(frozen=True, slots=True)
class RespLimits:
    """Request size limits, as Redis has them.

    ``max_bulk_len`` is Redis's ``proto-max-bulk-len`` (512 MB);
    ``max_multibulk_len`` caps the arguments of one command (Redis: INT_MAX;
    here 1M by default); ``max_inline_len`` is ``PROTO_INLINE_MAX_SIZE``
    (64 KiB), which also caps header lines; ``max_query_len`` caps the bytes of
    one command's arguments (Redis's ``client-query-buffer-limit``, 1 GiB).
    ``max_output_buffered`` is the reply backlog allowed for a slow reader
    (default: one maximal bulk plus 64 MiB).
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


_HEADER = tuple(len(str(size)) + 3 for size in range(4096))
"""Bytes of a canonical ``$<size>\\r\\n`` (or ``*<count>\\r\\n``) header."""
_HEADER_LIMIT = len(_HEADER)

_INLINE_SPECIAL = re.compile(b"[\"'\x00\x0b\x0c]")
"""Bytes for which ``bytes.split()`` differs from Redis's ``sdssplitargs``."""

_DANGER = re.compile(rb"[*%~>|][0-9]{4}")
"""An aggregate header of 1000+ elements, which hiredis would preallocate."""

_BULK_LENGTHS = {b"$%d" % size: size for size in range(1024)}
_COUNTS = {b"*%d" % count: count for count in range(1, UNAUTHENTICATED_MAX_MULTIBULK_LEN + 1)}
"""Header lines valid under any limits and auth state, parsed once (the common case)."""

_FALLBACK: list[bytes] = []
"""Returned by the hiredis step to hand a command to the pure parser."""

_HiredisError: type[Exception] = _hiredis.HiredisError if _hiredis is not None else Exception


def _new_reader() -> Any:
    if _hiredis is None:
        raise RuntimeError("the hiredis accelerator is not installed (pip install hiredis)")
    return _hiredis.Reader()


class RequestParser:
    """Incremental RESP request parser for one connection.

    ``unauthenticated`` switches on Redis's tighter pre-AUTH limits. ``copied``
    counts the bytes copied out of receive buffers: the work a slow drip costs.
    """

    __slots__ = (
        "_argv",
        "_base",
        "_blocked",
        "_bulk_len",
        "_complete",
        "_counts",
        "_data",
        "_feeding",
        "_held",
        "_lengths",
        "_max_bulk",
        "_max_inline",
        "_max_multibulk",
        "_max_query",
        "_pos",
        "_quick",
        "_reader",
        "_remaining",
        "_scanned",
        "_tried",
        "_window",
        "copied",
        "unauthenticated",
    )

    def __init__(self, limits: RespLimits, *, accelerated: bool = False) -> None:
        self.unauthenticated = False
        self.copied = 0
        self._max_bulk = limits.max_bulk_len
        self._max_multibulk = limits.max_multibulk_len
        self._max_inline = limits.max_inline_len
        self._max_query = limits.max_query_len
        self._window = limits.max_inline_len + 1
        self._lengths = _BULK_LENGTHS
        if limits.max_bulk_len < len(_BULK_LENGTHS):
            self._lengths = {b"$%d" % n: n for n in range(limits.max_bulk_len + 1)}
        self._counts = _COUNTS
        if limits.max_multibulk_len < len(_COUNTS):
            self._counts = {b"*%d" % n: n for n in range(1, limits.max_multibulk_len + 1)}
        # Commands of table-known headers hold at most this many bytes of arguments.
        self._quick = limits.max_query_len >= len(_COUNTS) * (len(_BULK_LENGTHS) - 1)
        # The command in progress.
        self._argv: list[bytes] = []
        self._remaining = 0
        self._bulk_len = -1
        self._held = 0
        self._scanned = 0
        self._blocked = b""
        self._complete = False
        # The batch in progress.
        self._data = b""
        self._pos = 0
        self._base = 0
        self._reader: Any = _new_reader() if accelerated else None
        self._feeding = False
        self._tried = False

    @property
    def accelerated(self) -> bool:
        """Whether hiredis parses whole commands."""
        return self._reader is not None

    @property
    def idle(self) -> bool:
        """True between commands (no partial command held)."""
        return not (self._remaining or self._complete or self._scanned or self._blocked)

    def begin(self, view: memoryview) -> bool:
        """Start a batch on the unread bytes; False when it cannot make progress."""
        size = len(view)
        start = 0
        if self._bulk_len >= 0:
            need = self._bulk_len + 2
            if size < need:
                return False
            self._argv.append(view[: self._bulk_len].tobytes())
            self.copied += self._bulk_len
            self._bulk_len = -1
            self._remaining -= 1
            self._complete = not self._remaining
            start = need
        elif self._blocked:
            # A NUL hides the line's end from Redis, which waits until the limit.
            if size <= self._max_inline:
                return False
            raise protocol_error(self._blocked)
        elif self._scanned:
            # The head is an unfinished line whose first bytes hold no terminator.
            scanned = self._scanned
            if size <= self._window:
                terminator = 13 if self._remaining or view[0] == 42 else 10
                tail = view[scanned:].tobytes()
                self.copied += len(tail)
                found = tail.find(terminator)
                if found < 0 and size <= self._max_inline:
                    self._scanned = size
                    return False
                if found >= 0 and terminator == 13 and scanned + found + 1 >= size:
                    self._scanned = scanned + found
                    return False
            self._scanned = 0
        data = view[start:].tobytes()
        self.copied += len(data)
        self._data = data
        self._pos = 0
        self._base = start
        self._tried = False
        if self._reader is not None and not self._remaining and not self._complete:
            self._feed()
        return True

    def next_command(self) -> list[bytes] | None:
        """The next whole command of the batch (``[]`` for an empty one), or None."""
        if self._feeding:
            command = self._next_accelerated()
            if command is not _FALLBACK:
                return command
            self._feeding = False
            self._reader = _new_reader()
        command = self._next_pure()
        if not self._tried and self._reader is not None and command is not None:
            self._feed()  # the command held over from the last batch is done
        return command

    def end(self) -> int:
        """Finish the batch; the bytes it consumed."""
        if self._feeding:
            self._feeding = False
            if self._pos < len(self._data):
                self._reader = _new_reader()
        consumed = self._base + self._pos
        self._data = b""
        self._pos = self._base = 0
        return consumed

    # -- the accelerated path ---------------------------------------------------

    def _feed(self) -> None:
        self._tried = True
        data = self._data
        pos = self._pos
        if pos < len(data) and data[pos] == 42 and _DANGER.search(data, pos) is None:
            self._reader.feed(data, pos)
            self._feeding = True

    def _next_accelerated(self) -> list[bytes] | None:
        data = self._data
        pos = self._pos
        if pos >= len(data):
            return None  # every fed byte was a verified command: the reader is empty
        if data[pos] != 42:
            return _FALLBACK
        try:
            command = self._reader.gets()
        except _HiredisError:
            return _FALLBACK
        if type(command) is not list:
            return _FALLBACK
        count = len(command)
        if count > self._max_multibulk or (
            self.unauthenticated and count > UNAUTHENTICATED_MAX_MULTIBULK_LEN
        ):
            return _FALLBACK
        max_bulk = self._max_bulk
        if self.unauthenticated:
            max_bulk = min(max_bulk, UNAUTHENTICATED_MAX_BULK_LEN)
        at = pos + (_HEADER[count] if count < _HEADER_LIMIT else len(str(count)) + 3)
        held = 0
        try:
            for arg in command:
                if type(arg) is not bytes or data[at] != 36:
                    return _FALLBACK
                length = len(arg)
                if length > max_bulk:
                    return _FALLBACK
                held += length
                at += (
                    length
                    + 2
                    + (_HEADER[length] if length < _HEADER_LIMIT else len(str(length)) + 3)
                )
        except IndexError:
            return _FALLBACK
        if held > self._max_query:
            return _FALLBACK
        self._pos = at
        return command

    # -- the pure path --------------------------------------------------------

    def _next_pure(self) -> list[bytes] | None:
        if self._complete:
            self._complete = False
            argv = self._argv
            self._argv = []
            self._held = 0
            return argv
        data = self._data
        pos = self._pos
        remaining = self._remaining
        if remaining:
            return self._read_args(data, pos, remaining, self._held)
        end = len(data)
        if pos >= end:
            return None
        if data[pos] != 42:
            return self._next_inline(data, pos, end)
        newline = data.find(b"\r", pos, pos + 12)
        count = self._counts.get(data[pos:newline]) if 0 <= newline < end - 1 else None
        if count is None:
            pos = self._read_count(data, pos, end)
            if pos < 0:
                return None
            count = self._remaining
            if not count:
                self._pos = pos
                return []
        else:
            pos = newline + 2
            if self._quick:
                # A whole command of canonical headers: no limit can be hit, so parse
                # it without checks; anything else is done again by _read_args.
                lengths = self._lengths
                argv = []
                at = pos
                try:
                    for _ in range(count):
                        newline = data.index(b"\r", at)
                        length = lengths[data[at:newline]]
                        at = newline + 2
                        argv.append(data[at : at + length])
                        at += length + 2
                except (ValueError, KeyError):
                    at = end + 1
                if at <= end:
                    self._pos = at
                    return argv
        return self._read_args(data, pos, count, 0)

    def _read_args(self, data: bytes, pos: int, remaining: int, held: int) -> list[bytes] | None:
        """Read ``$<len>`` bulks into the command: the whole command, or None to wait."""
        argv = self._argv
        end = len(data)
        window = self._window
        lengths = self._lengths
        max_query = self._max_query
        while pos < end:
            newline = data.find(b"\r", pos, pos + window)
            if newline < 0:
                if end - pos > self._max_inline:
                    raise protocol_error(b"too big bulk count string")
                self._scanned = end - pos
                break
            length = lengths.get(data[pos:newline])
            if length is None:
                length = self._bulk_length(data, pos, newline, end)
                if length < 0:
                    break
            elif newline + 1 >= end:
                self._scanned = newline - pos
                break
            held += length
            if held > max_query:
                # Redis closes such a client without a reply.
                raise ProtocolError(f"command larger than max_query_len ({max_query})")
            pos = newline + 2
            if end - pos < length + 2:
                self._bulk_len = length
                break
            argv.append(data[pos : pos + length])
            pos += length + 2
            remaining -= 1
            if not remaining:
                self._pos = pos
                self._remaining = 0
                self._argv = []
                self._held = 0
                return argv
        self._pos = pos
        self._remaining = remaining
        self._held = held
        return None

    def _bulk_length(self, data: bytes, pos: int, newline: int, end: int) -> int:
        """Check a ``$<len>`` line the length table does not know, in Redis's order.

        Returns the length, or -1 to wait for more bytes.
        """
        if not self._line_usable(data, pos, newline, end, b"too big bulk count string"):
            return -1
        if newline + 1 >= end:
            self._scanned = newline - pos
            return -1
        if data[pos] != 36:
            raise protocol_error(b"expected '$', got '%c'" % data[pos])
        length = parse_int64(data[pos + 1 : newline])
        if length is None or length < 0 or length > self._max_bulk:
            raise protocol_error(b"invalid bulk length")
        if length > UNAUTHENTICATED_MAX_BULK_LEN and self.unauthenticated:
            raise protocol_error(b"unauthenticated bulk length")
        return length

    def _read_count(self, data: bytes, pos: int, end: int) -> int:
        """Parse a ``*<count>`` line: the position after it, or -1 to wait for more."""
        newline = data.find(b"\r", pos, pos + self._window)
        if newline < 0:
            if end - pos > self._max_inline:
                raise protocol_error(b"too big mbulk count string")
            self._scanned = end - pos
            return -1
        if not self._line_usable(data, pos, newline, end, b"too big mbulk count string"):
            return -1
        if newline + 1 >= end:
            self._scanned = newline - pos
            return -1
        count = parse_int64(data[pos + 1 : newline])
        if count is None or count > INT_MAX or count > self._max_multibulk:
            raise protocol_error(b"invalid multibulk length")
        if count > UNAUTHENTICATED_MAX_MULTIBULK_LEN and self.unauthenticated:
            raise protocol_error(b"unauthenticated multibulk length")
        self._remaining = max(count, 0)
        return newline + 2

    def _line_usable(self, data: bytes, pos: int, newline: int, end: int, too_big: bytes) -> bool:
        """False when a NUL comes before the line's end, which Redis (``strchr``) never sees.

        Redis then waits for more bytes and fails once the limit is passed; so
        does this parser, without looking at the line again.
        """
        if data.find(b"\0", pos, newline) < 0:
            return True
        if end - pos > self._max_inline:
            raise protocol_error(too_big)
        self._blocked = too_big
        return False

    def _next_inline(self, data: bytes, pos: int, end: int) -> list[bytes] | None:
        newline = data.find(b"\n", pos, pos + self._window)
        if newline < 0:
            if end - pos > self._max_inline:
                raise protocol_error(b"too big inline request")
            self._scanned = end - pos
            return None
        stop = newline - 1 if newline > pos and data[newline - 1] == 13 else newline
        line = data[pos:stop]
        if _INLINE_SPECIAL.search(line) is None:
            self._pos = newline + 1
            return line.split()
        if not self._line_usable(data, pos, newline, end, b"too big inline request"):
            return None
        self._pos = newline + 1
        argv = split_inline_args(line)
        if argv is None:
            raise protocol_error(b"unbalanced quotes in request")
        return argv


_SPACE = frozenset(b" \t\n\x0b\x0c\r")
_HEX = frozenset(b"0123456789abcdefABCDEF")
_ESCAPES = {ord("n"): 10, ord("r"): 13, ord("t"): 9, ord("b"): 8, ord("a"): 7}


def split_inline_args(line: bytes) -> list[bytes] | None:
    """Redis's ``sdssplitargs``: split an inline request; None for unbalanced quotes.

    Double quotes take ``\\xHH`` and C escapes, single quotes take ``\\'``; a
    closing quote must be followed by a space or the end; a NUL byte ends
    the line (the C string).
    """
    nul = line.find(b"\0")
    text = line if nul < 0 else line[:nul]
    size = len(text)

    def at(index: int) -> int:
        return text[index] if index < size else 0

    args: list[bytes] = []
    i = 0
    while True:
        while i < size and text[i] in _SPACE:
            i += 1
        if i >= size:
            return args
        current = bytearray()
        in_double = in_single = done = False
        while not done:
            c = at(i)
            if in_double:
                if c == 92 and at(i + 1) == 120 and at(i + 2) in _HEX and at(i + 3) in _HEX:
                    current.append(int(text[i + 2 : i + 4], 16))
                    i += 3
                elif c == 92 and at(i + 1):
                    i += 1
                    current.append(_ESCAPES.get(text[i], text[i]))
                elif c == 34:
                    if at(i + 1) and at(i + 1) not in _SPACE:
                        return None
                    done = True
                elif c == 0:
                    return None
                else:
                    current.append(c)
            elif in_single:
                if c == 92 and at(i + 1) == 39:
                    i += 1
                    current.append(39)
                elif c == 39:
                    if at(i + 1) and at(i + 1) not in _SPACE:
                        return None
                    done = True
                elif c == 0:
                    return None
                else:
                    current.append(c)
            elif c in (32, 10, 13, 9, 0):
                done = True
            elif c == 34:
                in_double = True
            elif c == 39:
                in_single = True
            else:
                current.append(c)
            if at(i):
                i += 1
        args.append(bytes(current))
