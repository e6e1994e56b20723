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
  - in the compiled (mypyc) build, the same commands by walking their header
    bytes instead (``WALK_MULTIBULK``): indexing and slicing ``bytes`` compile
    to C, and only the arguments are made (the split makes seven ``bytes`` per
    SET), so it is cheaper than the split and than hiredis, and replaces both;
  - with hiredis, multibulk commands from ``hiredis.Reader`` (C) when the
    batch holds none of the type bytes for which hiredis returns ``bytes``
    or a list from something other than ``*``/``$`` (``+ = ( ~ |``): each
    list of ``bytes`` it returns is then a canonical command of exactly its
    canonical size, which places the next one;
  - runs of inline lines without quotes, NULs or the other bytes for which
    ``bytes.split()`` and Redis's ``sdssplitargs`` differ, from one ``split``
    on LF (compiled: by walking their bytes).

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

from .hiredis_parser import _FALLBACK, HIREDIS_AVAILABLE, HiredisParser
from .limits import (
    INT_MAX,
    UNAUTHENTICATED_MAX_BULK_LEN,
    UNAUTHENTICATED_MAX_MULTIBULK_LEN,
    RespLimits,
    encoded_size,
    protocol_error,
)
from .pure_parser import WALKED_INLINE, split_inline_args

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


class RequestParser(HiredisParser):
    """Incremental RESP request parser for one connection.

    ``unauthenticated`` switches on Redis's tighter pre-AUTH limits. ``copied``
    counts the bytes copied out of receive buffers: the work a slow drip costs.
    The arguments of an unfinished command, copied out of the receive buffer,
    are charged to ``memory`` at the end of each batch (:meth:`end`), and
    given back once the command is complete; hiredis never holds a partial
    command across batches (its reader is dropped), so only the pure path
    charges. ``accelerated`` chooses hiredis (:mod:`.hiredis_parser`) before
    the pure-Python steps (:mod:`.pure_parser`); ``walk``, how whole multibulk
    commands are taken (default: the build's choice, ``WALK_MULTIBULK``).
    """

    __slots__ = ()

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
        data = view[start:].tobytes() if start else view.tobytes()
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
        if pos >= len(data):
            return []  # (nothing for hiredis to take either)
        self._fast_start = pos
        # Each step sets _fast_lines for keep() when it takes any command.
        if data[pos] != 42:
            if self.walk:
                commands = self._walk_inline(data, pos, -1)
            else:
                commands = self._inline_batch(data, pos)
        else:
            self._fast_lines = None
            if self._hiredis_batches and self._hiredis_safe(data, pos):
                commands = self._hiredis_batch(data, pos)
            elif self._splitting:
                commands = self._multibulk_batch(data, pos)
            elif self._walking:
                commands = self._walk_batch(data, pos)
            else:
                commands = []
        self._fast_commands = commands
        if self._reader is not None:
            self._feed()  # hiredis takes the next commands
        return commands

    def keep(self, count: int) -> None:
        """Only the first ``count`` commands of the last :meth:`whole_commands` were run."""
        lines = self._fast_lines
        if lines is WALKED_INLINE:
            self._walk_inline(self._data, self._fast_start, count)  # sets _pos
        elif lines is not None:
            used = 0
            for line in lines:  # up to the count-th line that is not empty, with its LF
                used += len(line) + 1
                if line.split():
                    count -= 1
                    if not count:
                        break
            self._pos = self._fast_start + used
        else:
            self._pos = self._fast_start + encoded_size(self._fast_commands[:count])
        if self._feeding:
            self._feeding = False
            self._renew_reader()

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
            self._renew_reader()
        command = self._next_pure()
        if not self._tried and command is not None:
            self._tried = self._fast = True  # the command held over from the last batch is done
        return command

    def end(self) -> int:
        """Finish the batch; the bytes it consumed.

        Charges the arguments the unfinished command now holds (may raise
        ``MemoryLimitExceeded``, once the batch is finished).
        """
        if self._feeding:
            self._feeding = False
            if self._pos < len(self._data):
                self._renew_reader()
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
