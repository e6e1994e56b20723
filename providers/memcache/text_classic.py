"""memcached's classic text commands: get/gets/gat/gats, the storage commands, delete,
incr/decr, touch, flush_all, version, verbosity, stats and quit."""

from __future__ import annotations

from typing import Final

from ..eviction import ARMED, room_for_write
from .engine import KEY_MAX_LENGTH, Delta, Mode, Stored, strtol32, strtoul32, strtoull
from .text_base import (
    BAD_CHUNK,
    BAD_FORMAT,
    CRLF,
    ERROR,
    INT_MAX,
    NON_NUMERIC,
    OUT_OF_MEMORY,
    TOO_LARGE,
    TextState,
)

__all__ = ["ClassicCommands"]

_BAD_EXPTIME: Final = b"CLIENT_ERROR invalid exptime argument\r\n"
_END: Final = b"END\r\n"
_NOREPLY: Final = b"noreply"
_STORED: Final = b"STORED\r\n"
_LENGTHS: Final = {b"%d" % length: length for length in range(1024)}
"""The data block lengths a set's fast path reads without ``int()`` (canonical decimals)."""

_STORED_LINES = {
    Stored.STORED: b"STORED\r\n",
    Stored.NOT_STORED: b"NOT_STORED\r\n",
    Stored.EXISTS: b"EXISTS\r\n",
    Stored.NOT_FOUND: b"NOT_FOUND\r\n",
}


class ClassicCommands(TextState):
    """The classic commands' handlers: ``(tokens, buf, start, out)`` -> where the next line
    starts (negative: the data block is not all there yet)."""

    __slots__ = ()

    # -- retrieval ------------------------------------------------------------------

    def _get(self, tokens: list[bytes], buf: bytes, start: int, out: list[bytes]) -> int:
        count = len(tokens)
        if count < 2:
            out.append(ERROR)
            return start
        stats = self._stats
        store = self._store
        if count == 2:  # the common case, without the list of replies
            key = tokens[1]
            if self._bad_key(key):
                out.append(BAD_FORMAT)
                return start
            stats.cmd_get += 1
            entry = store.get_with_flags(key)
            if entry is None:
                stats.get_misses += 1
                out.append(_END)
            else:
                stats.get_hits += 1
                value = entry[0]
                reply = b"VALUE %b %d %d\r\n%b\r\nEND\r\n" % (key, entry[1], len(value), value)
                self._charge(len(reply))
                out.append(reply)
            return start
        replies: list[bytes] = []
        for index in range(1, count):
            key = tokens[index]
            if self._bad_key(key):
                out.append(BAD_FORMAT)  # memcached drops the values found so far
                return start
            stats.cmd_get += 1
            entry = store.get_with_flags(key)
            if entry is None:
                stats.get_misses += 1
            else:
                stats.get_hits += 1
                value = entry[0]
                reply = b"VALUE %b %d %d\r\n%b\r\n" % (key, entry[1], len(value), value)
                self._charge(len(reply))  # checked as it grows: 1,000 keys of 1 MB
                replies.append(reply)
        replies.append(_END)
        out.extend(replies)
        return start

    def _gets(self, tokens: list[bytes], buf: bytes, start: int, out: list[bytes]) -> int:
        return self._retrieve(tokens, start, out, touch=False, expire_at=None, with_cas=True)

    def _gat(self, tokens: list[bytes], buf: bytes, start: int, out: list[bytes]) -> int:
        return self._touching_get(tokens, start, out, with_cas=False)

    def _gats(self, tokens: list[bytes], buf: bytes, start: int, out: list[bytes]) -> int:
        return self._touching_get(tokens, start, out, with_cas=True)

    def _touching_get(
        self, tokens: list[bytes], start: int, out: list[bytes], *, with_cas: bool
    ) -> int:
        if len(tokens) < 2:
            out.append(ERROR)
            return start
        exptime = strtol32(tokens[1])
        if exptime is None:
            out.append(_BAD_EXPTIME)
            return start
        when = self._engine.expire_at(exptime)
        return self._retrieve(tokens, start, out, touch=True, expire_at=when, with_cas=with_cas)

    def _retrieve(
        self,
        tokens: list[bytes],
        start: int,
        out: list[bytes],
        *,
        touch: bool,
        expire_at: int | None,
        with_cas: bool,
    ) -> int:
        # gets, and gat/gats (whose keys follow the exptime).
        if len(tokens) < 2:
            out.append(ERROR)
            return start
        stats = self._stats
        engine = self._engine
        lookup = self._store.get_with_cas
        replies: list[bytes] = []
        for index in range(2 if touch else 1, len(tokens)):
            key = tokens[index]
            if self._bad_key(key):
                out.append(BAD_FORMAT)
                return start
            if touch:
                found = engine.touch(key, expire_at)
                entry = lookup(key) if found else None
            else:
                stats.cmd_get += 1
                entry = lookup(key)
                if entry is None:
                    stats.get_misses += 1
                else:
                    stats.get_hits += 1
            if entry is not None:
                value, flags, cas = entry
                if with_cas:
                    head = b"VALUE %b %d %d %d\r\n" % (key, flags, len(value), cas)
                else:
                    head = b"VALUE %b %d %d\r\n" % (key, flags, len(value))
                self._charge(len(head) + len(value) + 2)
                replies += (head, value, CRLF)
        replies.append(_END)
        out.extend(replies)
        return start

    # -- storage --------------------------------------------------------------------

    def _set(self, tokens: list[bytes], buf: bytes, start: int, out: list[bytes]) -> int:
        # The common case inline: plain decimal fields, a fitting item, a whole block.
        count = len(tokens)
        if count != 5 and (count != 6 or tokens[5] != _NOREPLY):
            return self._update(tokens, buf, start, out, Mode.SET)
        key, flags_token, exptime_token, length_token = tokens[1], tokens[2], tokens[3], tokens[4]
        if (
            len(key) > KEY_MAX_LENGTH
            or self._ctl
            or self._armed  # maxmemory: the general path makes room first
        ):
            return self._update(tokens, buf, start, out, Mode.SET)
        # A small length by one dictionary lookup: isdigit() and int() are two calls.
        length = _LENGTHS.get(length_token)
        if length is None:
            if len(length_token) > 9 or not length_token.isdigit():
                return self._update(tokens, buf, start, out, Mode.SET)
            length = int(length_token)
        # "0", the usual flags and exptime, without int(): a call into the int type when
        # compiled, several times the cost of the comparison.
        if flags_token == b"0":
            flags = 0
        elif len(flags_token) <= 9 and flags_token.isdigit():
            flags = int(flags_token)
        else:
            return self._update(tokens, buf, start, out, Mode.SET)
        if exptime_token == b"0":
            exptime = 0
        elif len(exptime_token) <= 9 and exptime_token.isdigit():
            exptime = int(exptime_token)
        else:
            return self._update(tokens, buf, start, out, Mode.SET)
        end = start + length + 2
        engine = self._engine
        if (
            end > len(buf)
            or buf[end - 2] != 13  # CR
            or buf[end - 1] != 10  # LF
            or engine.too_large(len(key), flags, length)
        ):
            # Refused, incomplete, or a bad chunk: the general path says which.
            return self._update(tokens, buf, start, out, Mode.SET)
        if flags or exptime:
            self._store.set(
                key,
                buf[start : end - 2],
                expire_at=engine.expire_at(exptime) if exptime else None,
                flags=flags,
            )
        else:
            self._store.put(key, buf[start : end - 2])  # the same as set() with no options
        stats = self._stats
        stats.cmd_set += 1
        stats.total_items += 1
        if count == 5:
            out.append(_STORED)
        return end

    def _add(self, tokens: list[bytes], buf: bytes, start: int, out: list[bytes]) -> int:
        return self._update(tokens, buf, start, out, Mode.ADD)

    def _replace(self, tokens: list[bytes], buf: bytes, start: int, out: list[bytes]) -> int:
        return self._update(tokens, buf, start, out, Mode.REPLACE)

    def _append(self, tokens: list[bytes], buf: bytes, start: int, out: list[bytes]) -> int:
        return self._update(tokens, buf, start, out, Mode.APPEND)

    def _prepend(self, tokens: list[bytes], buf: bytes, start: int, out: list[bytes]) -> int:
        return self._update(tokens, buf, start, out, Mode.PREPEND)

    def _cas(self, tokens: list[bytes], buf: bytes, start: int, out: list[bytes]) -> int:
        return self._update(tokens, buf, start, out, Mode.CAS)

    def _update(
        self, tokens: list[bytes], buf: bytes, start: int, out: list[bytes], mode: Mode
    ) -> int:
        count = len(tokens)
        extra = mode is Mode.CAS
        if count != 5 + extra and count != 6 + extra:
            out.append(ERROR)
            return start
        noreply = tokens[-1] == _NOREPLY
        key = tokens[1]
        if self._bad_key(key):
            if not noreply:
                out.append(BAD_FORMAT)
            return start
        flags = strtoul32(tokens[2])
        exptime = strtol32(tokens[3])
        length = strtol32(tokens[4])
        cas = strtoull(tokens[5]) if extra else 0
        if (
            flags is None
            or exptime is None
            or length is None
            or cas is None
            or not 0 <= length <= INT_MAX - 2
        ):
            if not noreply:
                out.append(BAD_FORMAT)
            return start
        engine = self._engine
        if engine.too_large(len(key), flags, length):
            self._stats.store_too_large += 1
            if not noreply:
                out.append(TOO_LARGE)
            if mode is Mode.SET:
                self._store.delete(key)  # memcached drops the old value of a failed set
            self._swallow = length + 2
            return start
        end = start + length + 2
        if end > len(buf):
            return -end
        if buf[end - 2 : end] != CRLF:
            if not noreply:
                out.append(BAD_CHUNK)
            return end
        if ARMED.count and not room_for_write(self._store):  # maxmemory reached
            if not noreply:
                out.append(OUT_OF_MEMORY)
            if mode is Mode.SET:
                self._store.delete(key)  # memcached drops the old value of a failed set
            return end
        result = engine.store_item(
            mode,
            key,
            buf[start : end - 2],
            flags=flags,
            expire_at=engine.expire_at(exptime),
            cas=cas,
        )
        if not noreply:
            out.append(_STORED_LINES[result])
        return end

    # -- other classic commands -----------------------------------------------------

    def _delete(self, tokens: list[bytes], buf: bytes, start: int, out: list[bytes]) -> int:
        count = len(tokens)
        if not 2 <= count <= 4:
            out.append(ERROR)
            return start
        noreply = False
        if count > 2:
            hold_is_zero = tokens[2] == b"0"
            noreply = tokens[-1] == _NOREPLY
            if not (
                (count == 3 and (hold_is_zero or noreply))
                or (count == 4 and hold_is_zero and noreply)
            ):
                if not noreply:
                    out.append(
                        b"CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n"
                    )
                return start
        key = tokens[1]
        if self._bad_key(key):
            if not noreply:
                out.append(BAD_FORMAT)
            return start
        found = self._engine.delete(key)
        if not noreply:
            out.append(b"DELETED\r\n" if found else b"NOT_FOUND\r\n")
        return start

    def _incr(self, tokens: list[bytes], buf: bytes, start: int, out: list[bytes]) -> int:
        return self._arithmetic(tokens, start, out, incr=True)

    def _decr(self, tokens: list[bytes], buf: bytes, start: int, out: list[bytes]) -> int:
        return self._arithmetic(tokens, start, out, incr=False)

    def _arithmetic(self, tokens: list[bytes], start: int, out: list[bytes], *, incr: bool) -> int:
        count = len(tokens)
        if count not in (3, 4):
            out.append(ERROR)
            return start
        noreply = tokens[-1] == _NOREPLY
        key = tokens[1]
        reply: bytes
        if self._bad_key(key):
            reply = BAD_FORMAT
        else:
            delta = strtoull(tokens[2])
            if delta is None:
                reply = b"CLIENT_ERROR invalid numeric delta argument\r\n"
            else:
                outcome, value = self._engine.add_delta(key, incr, delta)
                if outcome is Delta.OK:
                    reply = b"%d\r\n" % value
                elif outcome is Delta.NON_NUMERIC:
                    reply = NON_NUMERIC
                else:
                    reply = b"NOT_FOUND\r\n"
        if not noreply:
            out.append(reply)
        return start

    def _touch(self, tokens: list[bytes], buf: bytes, start: int, out: list[bytes]) -> int:
        count = len(tokens)
        if count not in (3, 4):
            out.append(ERROR)
            return start
        noreply = tokens[-1] == _NOREPLY
        key = tokens[1]
        exptime = strtol32(tokens[2])
        if self._bad_key(key):
            reply = BAD_FORMAT
        elif exptime is None:
            reply = _BAD_EXPTIME
        else:
            found = self._engine.touch(key, self._engine.expire_at(exptime))
            reply = b"TOUCHED\r\n" if found else b"NOT_FOUND\r\n"
        if not noreply:
            out.append(reply)
        return start

    def _flush_all(self, tokens: list[bytes], buf: bytes, start: int, out: list[bytes]) -> int:
        count = len(tokens)
        if count > 3:
            out.append(ERROR)
            return start
        noreply = tokens[-1] == _NOREPLY
        exptime: int | None = 0
        if count != (2 if noreply else 1):
            exptime = strtol32(tokens[1])
        if exptime is None:
            reply = _BAD_EXPTIME
        else:
            self._engine.flush_all(exptime)
            reply = b"OK\r\n"
        if not noreply:
            out.append(reply)
        return start

    def _version(self, tokens: list[bytes], buf: bytes, start: int, out: list[bytes]) -> int:
        out.append(b"VERSION %b\r\n" % self._engine.version)
        return start

    def _verbosity(self, tokens: list[bytes], buf: bytes, start: int, out: list[bytes]) -> int:
        count = len(tokens)
        if count not in (2, 3):
            out.append(ERROR)
            return start
        noreply = tokens[-1] == _NOREPLY
        level = strtoul32(tokens[1])
        if level is None:
            reply = BAD_FORMAT
        else:
            self._engine.verbosity = min(level, 2)
            reply = b"OK\r\n"
        if not noreply:
            out.append(reply)
        return start

    def _stats_command(self, tokens: list[bytes], buf: bytes, start: int, out: list[bytes]) -> int:
        engine = self._engine
        if len(tokens) == 1:
            lines = engine.general_stats()
        else:
            sub = tokens[1]
            if sub == b"reset":
                engine.stats.reset()
                out.append(b"RESET\r\n")
                return start
            if sub == b"settings":
                lines = engine.settings_stats(self._auth.required)
            elif sub in (b"items", b"slabs", b"sizes", b"conns"):
                lines = []
            elif sub == b"detail":
                detail = tokens[2] if len(tokens) > 2 else b""
                if detail in (b"on", b"off"):
                    out.append(b"OK\r\n")
                elif detail == b"dump":
                    out.append(_END)
                else:
                    out.append(b"CLIENT_ERROR usage: stats detail on|off|dump\r\n")
                return start
            else:
                out.append(ERROR)
                return start
        out.extend(b"STAT %s %s\r\n" % (name.encode(), value.encode()) for name, value in lines)
        out.append(_END)
        return start

    def _quit(self, tokens: list[bytes], buf: bytes, start: int, out: list[bytes]) -> int:
        self.closed = True
        self._sender.close()
        return start
