"""memcached's text protocol: classic commands and the meta commands.

A session reads command lines ended by ``\\n`` (a ``\\r`` before it is
dropped), splits them on spaces as memcached's ``tokenize_command`` does, and
answers with memcached 1.6's exact reply lines. Storage commands are followed
by a data block of the declared length and ``\\r\\n``; a block for an item
over the size limit is skipped (swallowed) after ``SERVER_ERROR object too
large for cache``, so the stream stays in sync. ``specs/memcache-text``
describes the format, the limits and the detection rule.

Speed: one ``bytes`` copy of the unread data per read batch (never for a
batch that cannot complete a message), then ``bytes.find``, ``split`` and
slicing; a command waiting for its data block is not parsed again until
the whole block is there.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

from wireproto import NetworkSender, ProtocolError
from wireproto._users import User
from wireproto.guard import cross_protocol_error, is_http_line
from wireproto.memory import MemoryLimitExceeded

from ..eviction import ARMED
from .acl import guard_text
from .auth import AUTH_FAILURE, STORED, text_auth_step
from .engine import MemcacheEngine
from .text_base import ERROR, has_control
from .text_detection import COMMAND_WORDS, SHARED_WITH_RESP, Claim, text_detector
from .text_meta import MetaCommands

__all__ = [
    "COMMAND_WORDS",
    "SHARED_WITH_RESP",
    "Claim",
    "TextSession",
    "text_detector",
]

_ARMED: Final = ARMED  # a C static when compiled, not a module dictionary lookup
_NEWLINE = re.compile(b"\n").search
"""Searches a memoryview in place: a line dripping in is scanned once."""


class TextSession(MetaCommands):
    """One memcached text connection over the provider's engine.

    The commands are :mod:`.text_classic`'s and :mod:`.text_meta`'s; this
    class reads the lines and dispatches them.
    """

    __slots__ = ()

    def __init__(self, engine: MemcacheEngine, sender: NetworkSender) -> None:
        super().__init__(engine, sender)
        handler = Callable[[list[bytes], bytes, int, list[bytes]], int]
        self._commands: dict[bytes, handler] = {
            b"get": self._get,
            b"bget": self._get,
            b"gets": self._gets,
            b"gat": self._gat,
            b"gats": self._gats,
            b"set": self._set,
            b"add": self._add,
            b"replace": self._replace,
            b"append": self._append,
            b"prepend": self._prepend,
            b"cas": self._cas,
            b"delete": self._delete,
            b"incr": self._incr,
            b"decr": self._decr,
            b"touch": self._touch,
            b"flush_all": self._flush_all,
            b"version": self._version,
            b"verbosity": self._verbosity,
            b"stats": self._stats_command,
            b"quit": self._quit,
            b"mn": self._mn,
            b"mg": self._mg,
            b"ms": self._ms,
            b"md": self._md,
            b"ma": self._ma,
            b"me": self._me,
        }
        self._plain = dict(self._commands)
        self._run_as(self._user)

    def _run_as(self, user: User) -> None:
        """Check commands against ``user``'s rules from now on (unless it may run anything)."""
        self._users.detach(self._user, self)
        self._user = user
        self._acl = None if user.unrestricted else user
        self._users.attach(user, self, self._user_changed)
        self._guard()

    def _guard(self) -> None:
        acl = self._acl
        if acl is None:
            self._commands = self._plain
        else:
            self._commands = {
                word: guard_text(acl, word, handler) for word, handler in self._plain.items()
            }

    def _user_changed(self, what: str) -> None:
        if what == "changed":
            self._acl = None if self._user.unrestricted else self._user
            self._guard()
        else:  # deleted: Redis closes the user's connections
            self._sender.close()

    # -- the consume loop -----------------------------------------------------------

    def try_consume(self, data: memoryview, /) -> int:
        """Handle every whole command at the head of ``data``; return the bytes used."""
        if not self._authenticated:
            return self._consume_unauthenticated(data)
        size = len(data)
        skipped = 0
        if self._swallow:
            skipped = min(self._swallow, size)
            self._swallow -= skipped
            if skipped == size:
                self._stats.bytes_read += skipped
                return skipped
        if size - skipped < self._need:
            return skipped
        if self._scan_from:
            # An unterminated line: look for its end in the new bytes only.
            if _NEWLINE(data, skipped + self._scan_from) is None:
                self._line_unterminated(bytes(data[skipped : skipped + 110]), size - skipped, [])
                self._scan_from = size - skipped
                self._need = self._scan_from + 1
                return skipped
            self._scan_from = 0
        self._flush_check()
        self._armed = _ARMED.count != 0  # maxmemory is armed or not between reads only
        buf = bytes(data[skipped:]) if skipped else bytes(data)
        out: list[bytes] = []
        self._room = self._memory.reply_room
        try:
            pos = self._run(buf, out)
        except MemoryLimitExceeded:
            out.clear()  # the connection is cut off: its replies are dropped
            raise
        finally:
            if out:
                reply = b"".join(out)
                self._stats.bytes_written += len(reply)
                self._sender.send(reply)
        used = skipped + pos
        self._stats.bytes_read += used
        return used

    def _consume_unauthenticated(self, data: memoryview) -> int:
        """Before authentication, as memcached ``-Y``: only a ``set`` carrying ``user password``.

        Every other line gets ``CLIENT_ERROR unauthenticated``; junk (more than
        2 KiB without a newline) closes the connection.
        """
        if len(data) < self._auth_need:
            return 0
        buf = bytes(data)
        pos = 0
        self._auth_need = 0
        out: list[bytes] = []
        try:
            while pos < len(buf) and not self._authenticated:
                step = text_auth_step(buf, pos)
                if not step.used:
                    self._auth_need = step.need
                    break
                pos += step.used
                if step.close:
                    raise ProtocolError("junk from an unauthenticated memcached text client")
                if step.credentials is None:
                    out.append(step.reply)
                    continue
                self._stats.auth_cmds += 1
                user = self._users.authenticate(*step.credentials)
                if user is not None:
                    self._authenticated = True
                    self._run_as(user)
                    out.append(STORED)
                else:
                    self._stats.auth_errors += 1
                    out.append(AUTH_FAILURE)
        finally:
            if out:
                reply = b"".join(out)
                self._stats.bytes_written += len(reply)
                self._sender.send(reply)
            self._stats.bytes_read += pos
        return pos

    def _run(self, buf: bytes, out: list[bytes]) -> int:  # noqa: PLR0915 - the hot loop, inlined
        """Handle the commands in ``buf``; the bytes they used."""
        end = len(buf)
        pos = 0
        self._need = 0
        commands = self._commands
        direct = self._acl is None  # get and set are called directly, not through the table
        max_line = self._max_line
        find = buf.find  # bound once per batch, not looked up per line
        while pos < end:
            if self._swallow:
                count = min(self._swallow, end - pos)
                self._swallow -= count
                pos += count
                continue
            newline = find(b"\n", pos)
            if newline < 0:
                self._line_unterminated(buf[pos : pos + 110], end - pos, out)
                self._scan_from = end - pos
                self._need = self._scan_from + 1
                break
            if newline - pos > max_line and not _is_multiget(buf[pos : pos + 110]):
                self._too_long(out)
            line_end = newline - 1 if newline > pos and buf[newline - 1] == 13 else newline
            line = buf[pos:line_end]
            if has_control(line):
                self._ctl = True
                tokens = [token for token in line.split(b" ") if token]
            else:
                self._ctl = False
                tokens = line.split()
            if direct and tokens:
                # The hot commands called as methods (compiled: native calls).
                word = tokens[0]
                if word == b"set":
                    after = self._set(tokens, buf, newline + 1, out)
                    if after < 0:
                        self._need = -after - pos
                        break
                    pos = after
                    continue
                if word == b"get":
                    pos = self._get(tokens, buf, newline + 1, out)
                    continue
            handler = commands.get(tokens[0]) if tokens else None
            if handler is None:
                if is_http_line(line):
                    raise cross_protocol_error(
                        "memcache-text", self._sender.get_extra_info("peername")
                    )
                out.append(ERROR)
                pos = newline + 1
                continue
            after = handler(tokens, buf, newline + 1, out)
            if after < 0:  # the data block is not all there yet
                self._need = -after - pos
                break
            pos = after
            if self.closed:
                break
        return pos

    def close(self) -> None:
        """Forget the connection (the toolkit calls it once)."""
        self._engine.stats.curr_connections -= 1
        self._users.detach(self._user, self)

    def _line_unterminated(self, head: bytes, length: int, out: list[bytes]) -> None:
        if length > self._max_line and not _is_multiget(head):
            self._too_long(out)

    def _too_long(self, out: list[bytes]) -> None:
        # memcached closes such a connection without a word.
        if out:
            self._sender.send(b"".join(out))
            out.clear()
        raise ProtocolError(f"command line longer than {self._max_line} bytes")


def _is_multiget(head: bytes) -> bool:
    # memcached lets only get/gets lines (after at most 100 spaces) grow past its read check.
    stripped = head.lstrip(b" ")
    return len(head) - len(stripped) <= 100 and stripped.startswith((b"get ", b"gets "))
