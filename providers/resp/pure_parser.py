"""The pure-Python RESP request parser, step by step as Redis's ``processMultibulkBuffer``
and ``processInlineBuffer`` (``src/networking.c``), and its whole-batch fast paths.

:class:`PureParser` holds one connection's parser state; :class:`~.parser.RequestParser`
builds on it (see :mod:`.parser` for the design).
"""

from __future__ import annotations

import re
from types import FunctionType
from typing import TYPE_CHECKING, Final

from wireproto import ProtocolError
from wireproto.guard import cross_protocol_error, is_request_line
from wireproto.memory import MemoryAccount

from ..kvstore import parse_int64
from .limits import (
    INT_MAX,
    UNAUTHENTICATED_MAX_BULK_LEN,
    UNAUTHENTICATED_MAX_MULTIBULK_LEN,
    RespLimits,
    protocol_error,
)

if TYPE_CHECKING:  # annotations only: mypyc makes them unboxed C integers
    from mypy_extensions import i64

__all__ = [
    "BULK_HEADERS",
    "WALKED_INLINE",
    "WALK_MULTIBULK",
    "PureParser",
    "read_bulk",
    "read_bulk_pair",
    "read_decimal",
    "shared_name",
    "split_consumed",
    "split_inline_args",
    "walked_name",
]

_INLINE_SPECIAL: Final = re.compile(b"[\"'\x00\x0b\x0c]")
"""Bytes for which ``bytes.split()`` differs from Redis's ``sdssplitargs``."""

_BULK_LENGTHS: Final = {b"$%d" % size: size for size in range(1024)}
BULK_HEADERS: Final = [b"$%d" % size for size in range(len(_BULK_LENGTHS))]
"""The canonical ``$<len>`` header line of each length in ``_BULK_LENGTHS``."""
_COUNTS: Final = {
    b"*%d" % count: count for count in range(1, UNAUTHENTICATED_MAX_MULTIBULK_LEN + 1)
}
"""Header lines valid under any limits and auth state, parsed once (the common case)."""


def _compiled() -> bool:
    """Whether this module runs compiled by mypyc (its functions are then built-ins)."""
    return not isinstance(_compiled, FunctionType)


WALK_MULTIBULK: bool = _compiled()
"""Whether new parsers take whole multibulk commands by walking their header bytes
(:meth:`PureParser._walk_batch`) rather than by one split of the batch on CRLF
(:meth:`PureParser._multibulk_batch`). Compiled, indexing and slicing ``bytes`` are C
and the walk makes only the arguments; interpreted, a loop over bytes costs more
bytecodes than the split. Read when a parser is made, so tests can run both."""


WALKED_INLINE: Final[list[bytes]] = []
"""What ``_fast_lines`` is after :meth:`PureParser._walk_inline` took commands."""


def read_decimal(data: bytes, at: i64, maximum: i64) -> tuple[i64, i64]:
    """The canonical decimal at ``data[at:]`` (no sign, no leading zero), ended by CRLF.

    Returns it and the position after the CRLF, or ``(-1, at)`` when the bytes there
    are anything else or the number exceeds ``maximum``; IndexError when ``data``
    ends first.
    """
    byte: i64 = data[at]
    value: i64 = byte - 48
    if value < 0 or value > 9:
        return -1, at
    at += 1
    byte = data[at]
    if value:
        while 48 <= byte <= 57:
            value = value * 10 + byte - 48
            if value > maximum:
                return -1, at
            at += 1
            byte = data[at]
    if byte != 13 or data[at + 1] != 10 or value > maximum:
        return -1, at
    return value, at + 2


def read_bulk(data: bytes, at: i64, max_len: i64) -> tuple[i64, i64]:
    """Where the value of the canonical ``$<len>`` bulk at ``data[at:]`` starts and ends.

    ``(-1, -1)`` unless the header is canonical, ``len <= max_len``, and CRLF follows
    the value; IndexError when ``data`` ends first.
    """
    if data[at] != 36:
        return -1, -1
    length, start = read_decimal(data, at + 1, max_len)
    if length < 0:
        return -1, -1
    stop = start + length
    if data[stop] != 13 or data[stop + 1] != 10:
        return -1, -1
    return start, stop


def read_bulk_pair(data: bytes, at: i64, max_len: i64) -> tuple[i64, i64, i64, i64]:
    """Where the values of the two canonical bulks from ``data[at:]`` start and end, as
    :func:`read_bulk` reads each; all -1 unless both are (a command's name and its key)."""
    start1, stop1 = read_bulk(data, at, max_len)
    if start1 < 0:
        return -1, -1, -1, -1
    start2, stop2 = read_bulk(data, stop1 + 2, max_len)
    if start2 < 0:
        return -1, -1, -1, -1
    return start1, stop1, start2, stop2


def _read_bulks(data: bytes, at: i64, count: i64, max_len: i64) -> tuple[list[bytes], i64]:
    """The values of ``count`` canonical bulks from ``data[at:]``, and the position after
    them; ``([], -1)`` unless each is as :func:`read_bulk` takes it."""
    argv: list[bytes] = []
    while count:
        start, stop = read_bulk(data, at, max_len)
        if start < 0:
            return [], -1
        argv.append(data[start:stop])
        at = stop + 2
        count -= 1
    return argv, at


_SHARED_NAMES: Final = (
    *(b"GET", b"SET", b"DEL", b"INCR", b"PING", b"ECHO", b"MGET", b"MSET", b"HGET", b"HSET"),
    *(b"LPUSH", b"RPUSH", b"LPOP", b"RPOP", b"SADD", b"SPOP", b"ZADD", b"LRANGE", b"EXISTS"),
)
"""Command names the walks give as these very objects: their hash is cached and the
session's table lookup compares them by identity (a new name is hashed and compared)."""


def _names_by_first_byte() -> list[tuple[bytes, ...]]:
    table: list[tuple[bytes, ...]] = [() for _ in range(256)]
    for name in _SHARED_NAMES:
        table[name[0]] += (name,)
    return table


_NAMES_BY_FIRST: Final = _names_by_first_byte()


def shared_name(name: bytes) -> bytes:
    """The object the walks give for ``name``: its ``_SHARED_NAMES`` entry, if it has one.

    A table keyed by these very objects (the session's dispatch tables) finds a walked
    name by identity; an equal key of its own would be compared byte by byte on
    every lookup."""
    for shared in _SHARED_NAMES:
        if shared == name:
            return shared
    return name


def split_consumed(chunk: bytes, tokens: list[bytes], taken: int) -> int:
    """The bytes of ``chunk`` that the first ``taken`` of ``tokens`` (``chunk`` split on
    CRLF) span with their CRLFs."""
    last = len(tokens) - 1
    if taken == last:
        return len(chunk) - len(tokens[last])
    return len(chunk) - sum(map(len, tokens[taken:])) - 2 * (last - taken)


def walked_name(data: bytes, start: i64, stop: i64) -> bytes:
    """``data[start:stop]`` (``start < stop``), as the shared object of ``_SHARED_NAMES``."""
    for name in _NAMES_BY_FIRST[data[start]]:
        size: i64 = len(name)
        if size == stop - start:
            at: i64 = 1
            while at < size and name[at] == data[start + at]:
                at += 1
            if at == size:
                return name
    return data[start:stop]


class PureParser:
    """One connection's RESP parser state, and the steps that parse it in pure Python.

    ``unauthenticated`` switches on Redis's tighter pre-AUTH limits. ``copied``
    counts the bytes copied out of receive buffers: the work a slow drip costs.
    The batch interface (``begin`` / ``whole_commands`` / ``next_command`` /
    ``end``) is :class:`~.parser.RequestParser`'s. ``walk`` chooses how whole
    multibulk commands are taken (default: ``WALK_MULTIBULK``).
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
        "_remaining",
        "_scanned",
        "_splitting",
        "_stored",
        "_tried",
        "_walk_count",
        "_walk_len",
        "_walking",
        "_window",
        "copied",
        "unauthenticated",
        "walk",
    )

    def __init__(
        self,
        limits: RespLimits,
        *,
        memory: MemoryAccount | None = None,
        walk: bool | None = None,
    ) -> None:
        self.unauthenticated = False
        self.copied = 0
        self.walk = WALK_MULTIBULK if walk is None else walk
        self.set_limits(limits)
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
        # Whether whole_commands() may run at the current position (at most twice a batch).
        self._fast = False
        self._tried = False
        # What the last whole_commands() took, for keep().
        self._fast_start = 0
        self._fast_commands: list[list[bytes]] = []
        self._fast_lines: list[bytes] | None = None

    def set_limits(self, limits: RespLimits) -> None:
        """Parse by ``limits`` from the next header on (``CONFIG SET proto-max-bulk-len``).

        The element in progress keeps the length it was accepted with, as in Redis.
        """
        self._max_bulk = limits.max_bulk_len
        self._max_multibulk = limits.max_multibulk_len
        self._max_inline = limits.max_inline_len
        self._max_query = limits.max_query_len
        self._window = limits.max_inline_len + 1
        self._lengths = _BULK_LENGTHS
        self._heads = BULK_HEADERS
        if limits.max_bulk_len < len(_BULK_LENGTHS):
            self._lengths = {b"$%d" % n: n for n in range(limits.max_bulk_len + 1)}
            self._heads = BULK_HEADERS[: limits.max_bulk_len + 1]
        self._counts = _COUNTS
        if limits.max_multibulk_len < len(_COUNTS):
            self._counts = {b"*%d" % n: n for n in range(1, limits.max_multibulk_len + 1)}
        # Commands of table-known headers hold at most this many bytes of arguments.
        self._quick = limits.max_query_len >= len(_COUNTS) * (len(_BULK_LENGTHS) - 1)
        # What _walk_batch takes: the headers the tables know, as _multibulk_batch.
        self._walk_count = len(self._counts)
        self._walk_len = len(self._heads) - 1
        # Which of the two whole_commands() uses (neither under tiny query limits).
        self._walking = self.walk and self._quick
        self._splitting = self._quick and not self.walk

    def direct_batch(self) -> tuple[bytes, i64, i64, i64]:
        """The batch, the position, and the largest count and bulk length from which
        :meth:`whole_commands` would take whole multibulk commands next (walked or split,
        see ``walk``), for a caller that runs some there itself; position -1 when it would
        not (a command in progress, taken already, no ``*`` there, limits too small).

        The caller takes only commands the same step would take, and says where it
        stopped with :meth:`advance`.
        """
        data = self._data
        pos = self._pos
        if not (
            self._fast
            and (self._walking or self._splitting)
            and pos < len(data)
            and data[pos] == 42
        ):
            return data, -1, 0, 0
        return data, pos, self._walk_count, self._walk_len

    def advance(self, pos: int) -> None:
        """The caller of :meth:`direct_batch` ran the whole commands up to ``pos``."""
        self._pos = pos

    @property
    def idle(self) -> bool:
        """True between commands (no partial command held)."""
        return not (self._remaining or self._complete or self._scanned or self._blocked)

    @property
    def held(self) -> int:
        """Bytes of the arguments the unfinished command holds (charged at :meth:`end`)."""
        return self._stored

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
        self._pos = pos + split_consumed(chunk, tokens, i)
        return commands

    def _walk_batch(self, data: bytes, pos: int) -> list[list[bytes]]:
        """The commands :meth:`_multibulk_batch` takes, read header by header.

        Each ``*N`` and ``$len`` line must be canonical, within the tables'
        limits and ended by CRLF, and each value followed by CRLF: then Redis
        reads the same arguments. Only the arguments and their lists are made
        (the split makes seven ``bytes`` per SET): the compiled build's way
        (see ``WALK_MULTIBULK``). Arguments may hold CRLF, unlike the split's.
        """
        end: i64 = len(data)
        max_count: i64 = self._walk_count
        max_len: i64 = self._walk_len
        at: i64 = pos
        commands: list[list[bytes]] = []
        try:
            while at < end and data[at] == 42:
                count, at = read_decimal(data, at + 1, max_count)
                # Unrolled for SET and GET: a list display is sized once.
                if count == 2 or count == 3:  # noqa: PLR1714 (a set display is an object)
                    start1, stop1, start2, stop2 = read_bulk_pair(data, at, max_len)
                    if start1 < 0:
                        break
                    name = walked_name(data, start1, stop1)
                    if count == 2:
                        commands.append([name, data[start2:stop2]])
                        at = stop2 + 2
                    else:
                        start3, stop3 = read_bulk(data, stop2 + 2, max_len)
                        if start3 < 0:
                            break
                        commands.append([name, data[start2:stop2], data[start3:stop3]])
                        at = stop3 + 2
                elif count > 0:
                    argv, at = _read_bulks(data, at, count, max_len)
                    if at < 0:
                        break
                    commands.append(argv)
                else:
                    break
                pos = at
        except IndexError:  # the batch ends inside the command
            pass
        self._pos = pos
        return commands

    def _walk_inline(self, data: bytes, pos: int, limit: int) -> list[list[bytes]]:
        """The inline commands :meth:`_inline_batch` takes (at most ``limit``; all if -1),
        read byte by byte: the compiled build's way (see ``WALK_MULTIBULK``).

        It stops before a line with a byte ``bytes.split()`` and ``sdssplitargs``
        treat apart (``_INLINE_SPECIAL``) or " HTTP/", before a line that starts
        with ``*``, and before an unfinished line; empty lines are consumed.
        """
        self._fast_lines = WALKED_INLINE
        commands: list[list[bytes]] = []
        end: i64 = len(data)
        if end - pos > self._max_inline:
            return commands
        at: i64 = pos
        start: i64 = -1  # of the argument being read
        argv: list[bytes] = []
        while at < end:
            byte: i64 = data[at]
            if byte > 39:  # above every byte below: part of an argument
                if start < 0:
                    start = at
                at += 1
            elif byte == 10:
                if start >= 0:
                    argv.append(data[start:at] if argv else walked_name(data, start, at))
                    start = -1
                at += 1
                pos = at
                if argv:
                    commands.append(argv)
                    if len(commands) == limit:
                        break
                    argv = []
                if at < end and data[at] == 42:
                    break
            elif byte in (32, 9, 13):
                if (
                    byte == 32
                    and at + 5 < end
                    and data[at + 1] == 72
                    and data[at + 2] == 84
                    and data[at + 3] == 84
                    and data[at + 4] == 80
                    and data[at + 5] == 47
                ):
                    break  # " HTTP/": _next_inline() refuses HTTP request lines
                if start >= 0:
                    argv.append(data[start:at] if argv else walked_name(data, start, at))
                    start = -1
                at += 1
            elif byte in (34, 39, 0, 11, 12):
                break
            else:
                if start < 0:
                    start = at
                at += 1
        self._pos = pos
        return commands

    def _inline_batch(self, data: bytes, pos: int) -> list[list[bytes]]:
        """The inline lines before the next multibulk command, when none needs sdssplitargs."""
        if len(data) - pos > self._max_inline or _INLINE_SPECIAL.search(data, pos) is not None:
            return []
        chunk = data[pos:] if pos else data
        # find(), not ``in``: bytes.__contains__ tries the argument as an integer first
        # and raises and clears a TypeError on every batch (see guard.is_http_line).
        if chunk.find(b" HTTP/") >= 0:
            return []  # _next_inline() refuses HTTP request lines one by one
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
        if line.find(b" HTTP/") >= 0 and is_request_line(line):
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


_SPACE: Final = frozenset(b" \t\n\x0b\x0c\r")
_HEX: Final = frozenset(b"0123456789abcdefABCDEF")
_ESCAPES: Final = {ord("n"): 10, ord("r"): 13, ord("t"): 9, ord("b"): 8, ord("a"): 7}


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
