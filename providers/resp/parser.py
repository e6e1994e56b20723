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
- The whole commands at the head of a batch are taken at once, before the
  command-by-command parsers (:meth:`RequestParser.whole_commands`), so the
  per-command cost in Python is a few operations:

  - multibulk commands of canonical, short headers (``*N`` with N <= 10,
    ``$len`` with len < 1024, every line and value followed by CRLF) from one
    ``split`` of the batch on CRLF: a command is accepted when each ``$len``
    token is the canonical header of the value token after it, which is
    exactly when Redis reads the same arguments from those bytes;
  - with hiredis, multibulk commands from ``hiredis.Reader`` (C) when the
    batch holds none of the type bytes for which hiredis returns ``bytes``
    or a list from something other than ``*``/``$`` (``+ = ( ~ |``): each
    list of ``bytes`` it returns is then a canonical command of exactly its
    canonical size, which places the next one;
  - runs of inline lines without quotes, NULs or the other bytes for which
    ``bytes.split()`` and Redis's ``sdssplitargs`` differ, from one ``split``
    on LF.

- With hiredis installed, the commands after those are parsed by
  ``hiredis.Reader`` one at a time, and each result is verified against the
  bytes: every argument must be a bulk string at the offset a canonical
  encoding puts it, so hiredis's laxer grammar (RESP3 types, nested arrays,
  verbatim strings) can never change what a command means.
- Anything else (inline commands with quotes, incomplete tails, errors,
  limits) goes to the pure parser at the start of that command, which
  produces the reply Redis would.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from providers.kvstore import parse_int64
from wireproto.errors import ProtocolError
from wireproto.guard import cross_protocol_error, is_request_line
from wireproto.memory import MemoryAccount

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


_HEADER = tuple(len(str(size)) + 3 for size in range(4096))
"""Bytes of a canonical ``$<size>\\r\\n`` (or ``*<count>\\r\\n``) header."""
_HEADER_LIMIT = len(_HEADER)

_INLINE_SPECIAL = re.compile(b"[\"'\x00\x0b\x0c]")
"""Bytes for which ``bytes.split()`` differs from Redis's ``sdssplitargs``."""

_DANGER = re.compile(rb"[*%~>|][0-9]{4}")
"""An aggregate header of 1000+ elements, which hiredis would preallocate."""

_BULK_LENGTHS = {b"$%d" % size: size for size in range(1024)}
_HEADS = [b"$%d" % size for size in range(len(_BULK_LENGTHS))]
"""The canonical ``$<len>`` header line of each length in ``_BULK_LENGTHS``."""
_COUNTS = {b"*%d" % count: count for count in range(1, UNAUTHENTICATED_MAX_MULTIBULK_LEN + 1)}
"""Header lines valid under any limits and auth state, parsed once (the common case)."""

_SIZES = tuple(header + size + 2 for size, header in enumerate(_HEADER))
"""Bytes of a canonical bulk string of each size: header, data, CRLF."""


def _screen_table() -> bytes:
    table = bytearray(b" " * 256)
    for byte in b"0123456789":
        table[byte] = ord("0")
    for byte in b"*%>":  # aggregates (a "~" or "|" is unsafe already)
        table[byte] = ord("*")
    for byte in b"+=(~|":
        table[byte] = ord("+")
    return bytes(table)


_SCREEN = _screen_table()
"""Maps the type bytes for which hiredis returns ``bytes`` or a list without a ``$`` or
``*`` header to ``+``, aggregate type bytes to ``*`` and digits to ``0``: one
``translate`` and two ``find`` calls then do what ``_DANGER`` and a search for
the unsafe bytes would do in a regex scan four times slower."""

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
    The arguments of an unfinished command, copied out of the receive buffer,
    are charged to ``memory`` at the end of each batch (:meth:`end`), and
    given back once the command is complete; hiredis never holds a partial
    command across batches (its reader is dropped), so only the pure path
    charges.
    """

    __slots__ = (
        "_argv",
        "_base",
        "_blocked",
        "_bulk_len",
        "_charged",
        "_complete",
        "_counts",
        "_data",
        "_fast",
        "_fast_commands",
        "_fast_lines",
        "_fast_start",
        "_feeding",
        "_heads",
        "_held",
        "_lengths",
        "_max_bulk",
        "_max_inline",
        "_max_multibulk",
        "_max_query",
        "_memory",
        "_pos",
        "_quick",
        "_reader",
        "_remaining",
        "_scanned",
        "_stored",
        "_tried",
        "_window",
        "copied",
        "unauthenticated",
    )

    def __init__(
        self,
        limits: RespLimits,
        *,
        accelerated: bool = False,
        memory: MemoryAccount | None = None,
    ) -> None:
        self.unauthenticated = False
        self.copied = 0
        self._max_bulk = limits.max_bulk_len
        self._max_multibulk = limits.max_multibulk_len
        self._max_inline = limits.max_inline_len
        self._max_query = limits.max_query_len
        self._window = limits.max_inline_len + 1
        self._lengths = _BULK_LENGTHS
        self._heads = _HEADS
        if limits.max_bulk_len < len(_BULK_LENGTHS):
            self._lengths = {b"$%d" % n: n for n in range(limits.max_bulk_len + 1)}
            self._heads = _HEADS[: limits.max_bulk_len + 1]
        self._counts = _COUNTS
        if limits.max_multibulk_len < len(_COUNTS):
            self._counts = {b"*%d" % n: n for n in range(1, limits.max_multibulk_len + 1)}
        # Commands of table-known headers hold at most this many bytes of arguments.
        self._quick = limits.max_query_len >= len(_COUNTS) * (len(_BULK_LENGTHS) - 1)
        # The command in progress.
        self._argv: list[bytes] = []
        self._stored = 0  # bytes of the arguments in _argv
        self._charged = 0  # of which charged to the memory account
        self._memory = memory
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
        # Whether whole_commands() may run at the current position (at most twice a batch).
        self._fast = False
        self._tried = False
        # What the last whole_commands() took, for keep().
        self._fast_start = 0
        self._fast_commands: list[list[bytes]] = []
        self._fast_lines: list[bytes] | None = None

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
            self._stored += self._bulk_len
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
        # At a command boundary the fast paths may start here; else once the
        # command held over from the last batch is done (next_command()).
        self._fast = self._tried = not self._remaining and not self._complete
        return True

    def whole_commands(self) -> list[list[bytes]]:
        """The whole commands at the head of the batch that the fast paths take at once.

        Empty unless the parser is at a command boundary where the fast paths
        have not run yet in this batch (at its start, or after the command held
        over from the last batch). They run before :meth:`next_command`, which
        goes on after them. The commands are canonical and short, so they mean
        the same under any limits and authentication state; none is empty. If the caller runs
        only some of them, it says how many with :meth:`keep`.
        """
        if not self._fast:
            return []
        self._fast = False
        data = self._data
        pos = self._pos
        commands: list[list[bytes]] = []
        if pos < len(data):
            self._fast_start = pos
            self._fast_lines = None
            if data[pos] != 42:
                commands = self._inline_batch(data, pos)
            elif self._reader is not None and self._hiredis_safe(data, pos):
                commands = self._hiredis_batch(data, pos)
            elif self._quick:
                commands = self._multibulk_batch(data, pos)
            self._fast_commands = commands
        if self._reader is not None:
            self._feed()  # hiredis takes the next commands
        return commands

    def keep(self, count: int) -> None:
        """Only the first ``count`` commands of the last :meth:`whole_commands` were run."""
        lines = self._fast_lines
        if lines is not None:
            used = 0
            for line in lines:  # up to the count-th line that is not empty, with its LF
                used += len(line) + 1
                if line.split():
                    count -= 1
                    if not count:
                        break
        else:
            used = _encoded_size(self._fast_commands[:count])
        self._pos = self._fast_start + used
        if self._feeding:
            self._feeding = False
            self._reader = _new_reader()

    def next_command(self) -> list[bytes] | None:
        """The next whole command of the batch (``[]`` for an empty one), or None."""
        if self._fast:  # whole_commands() was not asked for: hiredis takes over here
            self._fast = False
            if self._reader is not None:
                self._feed()
        if self._feeding:
            command = self._next_accelerated()
            if command is not _FALLBACK:
                return command
            self._feeding = False
            self._reader = _new_reader()
        command = self._next_pure()
        if not self._tried and command is not None:
            self._tried = self._fast = True  # the command held over from the last batch is done
        return command

    @property
    def held(self) -> int:
        """Bytes of the arguments the unfinished command holds (charged at :meth:`end`)."""
        return self._stored

    def end(self) -> int:
        """Finish the batch; the bytes it consumed.

        Charges the arguments the unfinished command now holds (may raise
        ``MemoryLimitExceeded``, once the batch is finished).
        """
        if self._feeding:
            self._feeding = False
            if self._pos < len(self._data):
                self._reader = _new_reader()
        consumed = self._base + self._pos
        self._data = b""
        self._pos = self._base = 0
        stored = self._stored
        if stored != self._charged and self._memory is not None:
            delta = stored - self._charged
            if delta > 0:
                self._memory.charge_arguments(delta)
            else:
                self._memory.release_arguments(-delta)
            self._charged = stored
        return consumed

    # -- whole commands at once ------------------------------------------------

    def _multibulk_batch(self, data: bytes, pos: int) -> list[list[bytes]]:
        """Canonical multibulk commands of short arguments, from one split on CRLF.

        A command is taken when its ``*N`` line is in the count table and each
        ``$len`` line is the canonical header of the token after it. Every
        token is followed by CRLF (the last one, which is not, is never used),
        so Redis reads the same lines and values from these bytes.
        """
        chunk = data[pos:] if pos else data
        tokens = chunk.split(b"\r\n")
        last = len(tokens) - 1
        counts = self._counts
        heads = self._heads
        commands: list[list[bytes]] = []
        append = commands.append
        i = 0
        try:
            while True:
                count = counts.get(tokens[i])
                if count is None:
                    break
                j = i + 1 + 2 * count
                if j > last:
                    break
                # Unrolled for the common counts: a list or map per command costs more.
                if count == 2:
                    head1, arg1, head2, arg2 = tokens[i + 1 : j]
                    if heads[len(arg1)] != head1 or heads[len(arg2)] != head2:
                        break
                    append([arg1, arg2])
                elif count == 3:
                    head1, arg1, head2, arg2, head3, arg3 = tokens[i + 1 : j]
                    if (
                        heads[len(arg1)] != head1
                        or heads[len(arg2)] != head2
                        or heads[len(arg3)] != head3
                    ):
                        break
                    append([arg1, arg2, arg3])
                elif count == 1:
                    head1, arg1 = tokens[i + 1 : j]
                    if heads[len(arg1)] != head1:
                        break
                    append([arg1])
                else:
                    argv = tokens[i + 2 : j : 2]
                    if list(map(heads.__getitem__, map(len, argv))) != tokens[i + 1 : j : 2]:
                        break
                    append(argv)
                i = j
        except IndexError:  # an argument longer than the table knows
            pass
        if i == last:
            used = len(chunk) - len(tokens[last])
        else:
            used = len(chunk) - sum(map(len, tokens[i:])) - 2 * (last - i)
        self._pos = pos + used
        return commands

    def _hiredis_safe(self, data: bytes, pos: int) -> bool:
        """Whether every command hiredis returns from these bytes can be checked by its size.

        Without the bytes that start simple, verbatim and big-number strings
        (which hiredis returns as ``bytes`` too), sets or attributes (which it
        returns as lists), a list of ``bytes`` can only come from a ``*N``
        array of ``$len`` bulks, whose headers hiredis reads as strictly as
        Redis: such a command takes exactly its canonical size. The limits
        cannot be hit by fewer bytes than the smallest of them.
        """
        max_bulk = self._max_bulk
        if self.unauthenticated:
            max_bulk = min(max_bulk, UNAUTHENTICATED_MAX_BULK_LEN)
        if len(data) - pos > min(max_bulk, self._max_query):
            return False
        screened = data.translate(_SCREEN)
        return screened.find(b"+", pos) < 0 and screened.find(b"*0000", pos) < 0

    def _hiredis_batch(self, data: bytes, pos: int) -> list[list[bytes]]:
        """The whole commands hiredis reads from ``data[pos:]`` (see :meth:`_hiredis_safe`)."""
        reader = self._reader
        reader.feed(data, pos)
        gets = reader.gets
        max_count = self._max_multibulk
        if self.unauthenticated:
            max_count = min(max_count, UNAUTHENTICATED_MAX_MULTIBULK_LEN)
        sizes = _SIZES
        commands: list[list[bytes]] = []
        append = commands.append
        used = 0
        try:
            while True:
                command = gets()
                if type(command) is not list:
                    break  # False (no whole command left), or not a command of bulks
                count = len(command)
                if not 0 < count <= max_count:
                    break  # too many arguments, or none (next_command() takes "*0")
                size = _HEADER[count]
                for arg in command:
                    if type(arg) is not bytes:
                        break
                    size += sizes[len(arg)]
                else:
                    used += size
                    append(command)
                    continue
                break
        except (_HiredisError, IndexError):  # not RESP, or sizes the tables do not hold
            pass
        self._pos = pos + used
        if self._pos < len(data):
            self._reader = _new_reader()  # it holds part of a command: drop it
        return commands

    def _inline_batch(self, data: bytes, pos: int) -> list[list[bytes]]:
        """The inline lines before the next multibulk command, when none needs sdssplitargs."""
        if len(data) - pos > self._max_inline or _INLINE_SPECIAL.search(data, pos) is not None:
            return []
        if data.find(b" HTTP/", pos) >= 0:
            return []  # _next_inline() refuses HTTP request lines one by one
        chunk = data[pos:] if pos else data
        star = chunk.find(b"\n*")
        if star >= 0:
            chunk = chunk[: star + 1]
        lines = chunk.split(b"\n")
        tail = lines.pop()  # not ended by LF yet
        self._fast_lines = lines
        self._pos = pos + len(chunk) - len(tail)
        # bytes.split() drops the CR before the LF as _next_inline does. Empty
        # lines are consumed and left out, as next_command() callers skip them.
        return [argv for line in lines if (argv := line.split())]

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
            self._held = self._stored = 0
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
        stored = self._stored
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
            stored += length
            pos += length + 2
            remaining -= 1
            if not remaining:
                self._pos = pos
                self._remaining = 0
                self._argv = []
                self._held = self._stored = 0
                return argv
        self._pos = pos
        self._remaining = remaining
        self._held = held
        self._stored = stored
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
        if b" HTTP/" in line and is_request_line(line):
            raise cross_protocol_error("resp")
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


def _encoded_size(commands: list[list[bytes]]) -> int:
    """The bytes of ``commands`` in canonical multibulk encoding."""
    size = 0
    for argv in commands:
        count = len(argv)
        size += _HEADER[count] if count < _HEADER_LIMIT else len(str(count)) + 3
        for arg in argv:
            length = len(arg)
            header = _HEADER[length] if length < _HEADER_LIMIT else len(str(length)) + 3
            size += header + length + 2
    return size


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
