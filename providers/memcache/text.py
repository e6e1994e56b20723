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

import binascii
import enum
import re
from base64 import b64decode, b64encode
from collections.abc import Callable

from providers.memcache.auth import AUTH_FAILURE, STORED, text_auth_step
from providers.memcache.engine import (
    KEY_MAX_LENGTH,
    Delta,
    MemcacheEngine,
    Mode,
    Stored,
    item_total_size,
    strtol32,
    strtoul32,
    strtoull,
)
from wireproto.detect import Detector, Verdict
from wireproto.errors import ProtocolError
from wireproto.guard import cross_protocol_error, guarded, is_http_line
from wireproto.memory import MemoryLimitExceeded
from wireproto.session import NetworkSender

__all__ = [
    "COMMAND_WORDS",
    "SHARED_WITH_RESP",
    "Claim",
    "TextSession",
    "text_detector",
]

COMMAND_WORDS = frozenset(
    b"get gets gat gats bget set add replace append prepend cas delete incr decr touch "
    b"flush_all version verbosity stats quit mg ms md ma mn me".split()
)
"""The first words of the commands this provider serves (memcached is case-sensitive)."""

SHARED_WITH_RESP = frozenset(b"get set append incr decr quit".split())
"""memcached command words the bundled RESP provider also serves (in any case, for RESP)."""

_INT_MAX = (1 << 31) - 1
_META_MAX_TOKENS = 19  # memcached: more than MFLAG_MAX_OPT_LENGTH (20) tokens with the end one
_MAX_OPAQUE = 32

_ERROR = b"ERROR\r\n"
_BAD_FORMAT = b"CLIENT_ERROR bad command line format\r\n"
_BAD_CHUNK = b"CLIENT_ERROR bad data chunk\r\n"
_TOO_LARGE = b"SERVER_ERROR object too large for cache\r\n"
_BAD_EXPTIME = b"CLIENT_ERROR invalid exptime argument\r\n"
_NON_NUMERIC = b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"
_END = b"END\r\n"
_CRLF = b"\r\n"
_NOREPLY = b"noreply"

_STORED_LINES = {
    Stored.STORED: b"STORED\r\n",
    Stored.NOT_STORED: b"NOT_STORED\r\n",
    Stored.EXISTS: b"EXISTS\r\n",
    Stored.NOT_FOUND: b"NOT_FOUND\r\n",
}
_META_CODES = {
    Stored.STORED: b"HD",
    Stored.NOT_STORED: b"NS",
    Stored.EXISTS: b"EX",
    Stored.NOT_FOUND: b"NF",
}

_CONTROL = re.compile(rb"[\x00-\x1f\x7f]").search
"""Lines with these bytes are split exactly (on spaces only) and their keys refused."""
_NEWLINE = re.compile(b"\n").search
"""Searches a memoryview in place: a line dripping in is scanned once."""


class Claim(enum.Enum):
    """Which first lines the memcached text detector claims when RESP shares the port.

    ``get k\\r\\n`` is a valid command in both protocols. ``ALL`` (the default)
    claims every line starting with a lower-case memcached command word;
    ``UNAMBIGUOUS`` leaves to RESP every line RESP would accept with the same
    first word (``get k``, ``set k v``, ``incr k``, ``append k v``, ``quit``)
    and claims the rest (``get a b``, ``set k 0 0 5``, ``incr k 1``, and the
    words RESP does not serve). Upper-case words are never memcached's.
    """

    ALL = "all"
    UNAMBIGUOUS = "unambiguous"


def _memcached_storage_shape(tokens: list[bytes]) -> bool:
    return len(tokens) in (5, 6) and all(strtol32(token) is not None for token in tokens[2:5])


def _claims(tokens: list[bytes], shared: frozenset[bytes]) -> bool:
    """Under ``Claim.UNAMBIGUOUS``: whether RESP would refuse this line (so it is memcached's)."""
    word = tokens[0]
    if word not in shared:
        return True
    if word == b"get":
        return len(tokens) != 2  # GET takes exactly one key
    if word in (b"set", b"append"):
        return _memcached_storage_shape(tokens)  # SET k 0 0 5 is a Redis syntax error
    if word in (b"incr", b"decr"):
        return len(tokens) != 2  # INCR takes exactly one key
    return False  # quit, and shared words without an arity rule here: valid in both


def text_detector(
    claim: Claim = Claim.ALL, shared: frozenset[bytes] = SHARED_WITH_RESP
) -> Detector:
    """The memcached text detector: a complete first line starting with a command word.

    Leading spaces are skipped and words are split on spaces, as memcached
    does. While the line is incomplete the answer is NEED_MORE as long as
    the first word can still be a command word, else NO_MATCH. ``shared``
    names the words the RESP provider on the same port serves, for
    ``Claim.UNAMBIGUOUS``.
    """
    prefixes = frozenset(word[:size] for word in COMMAND_WORDS for size in range(1, len(word) + 1))

    def detect(data: bytes) -> Verdict:
        newline = data.find(b"\n")
        if newline < 0:
            rest = data.lstrip(b" ")
            space = rest.find(b" ")
            if space < 0:
                word = rest[:-1] if rest.endswith(b"\r") else rest  # "\r" may end the line
                return Verdict.NEED_MORE if not word or word in prefixes else Verdict.NO_MATCH
            return Verdict.NEED_MORE if rest[:space] in COMMAND_WORDS else Verdict.NO_MATCH
        line = data[: newline - 1 if newline and data[newline - 1] == 13 else newline]
        tokens = [token for token in line.split(b" ") if token]
        if not tokens or tokens[0] not in COMMAND_WORDS:
            return Verdict.NO_MATCH
        if claim is Claim.ALL or _claims(tokens, shared):
            return Verdict.MATCH
        return Verdict.NO_MATCH

    return guarded(detect)  # an HTTP request line is never a command


class _MetaFlags:
    """The flags of one meta command, as memcached's ``_meta_flag_preparse`` reads them."""

    __slots__ = (
        "binary_key",
        "cas",
        "client_flags",
        "delta",
        "error",
        "exptime",
        "has_cas",
        "initial",
        "key",
        "mode",
        "noreply",
        "value",
        "vivify_exptime",
    )

    def __init__(self, key: bytes) -> None:
        self.key = key
        self.binary_key = False
        self.noreply = False
        self.value = False
        self.has_cas = False
        self.cas = 0
        self.client_flags = 0
        self.exptime: int | None = None
        self.vivify_exptime: int | None = None
        self.delta = 1
        self.initial = 0
        self.mode = 0
        self.error = b""


# Meta flags memcached knows but this server does not implement (leases and
# stale items, hit and last-access tracking): refused as invalid flags.
_UNSUPPORTED_META = {
    b"mg": frozenset(b"NRIhl"),
    b"ms": frozenset(b"NRIhl"),
    b"md": frozenset(b"NRIhl"),
    b"ma": frozenset(b"RIhl"),
}


def _parse_meta_flags(tokens: list[bytes], start: int, command: bytes) -> _MetaFlags | bytes:
    """The flags from ``tokens[start:]``, or the error line memcached gives for them."""
    flags = _MetaFlags(tokens[1])
    seen: set[int] = set()
    unsupported = _UNSUPPORTED_META[command]
    for index in range(start, len(tokens)):
        token = tokens[index]
        flag = token[0]
        if flag >= 127 or flag in seen:
            return b"CLIENT_ERROR duplicate flag\r\n"
        seen.add(flag)
        if flag in unsupported or flag not in _KNOWN_META_FLAGS:
            return b"CLIENT_ERROR invalid flag\r\n"
        if flag == 98:  # b: base64 key
            try:
                flags.key = b64decode(tokens[1], validate=True)
            except (binascii.Error, ValueError):
                flags.key = b""
            if not flags.key:
                flags.error = b"CLIENT_ERROR error decoding key\r\n"
            flags.binary_key = True
        elif flag == 118:  # v
            flags.value = True
        elif flag == 113:  # q
            flags.noreply = True
        elif flag in _NUMERIC_META_FLAGS:
            _numeric_flag(flags, flag, token)
    return flags.error or flags


_KNOWN_META_FLAGS = frozenset(b"bvqTNFCMJDOPLkstcfuhlRI")
_NUMERIC_META_FLAGS = frozenset(b"TNFCMJD")


def _numeric_flag(flags: _MetaFlags, flag: int, token: bytes) -> None:
    """Read one flag with an argument; a bad one sets ``flags.error`` (the last one wins)."""
    arg = token[1:]
    bad_token = b"CLIENT_ERROR bad token in command line format\r\n"
    if flag in (84, 78):  # T: ttl, N: vivify with ttl
        number = strtol32(arg)
        if number is None:
            flags.error = bad_token
        elif flag == 84:
            flags.exptime = number
        else:
            flags.vivify_exptime = number
    elif flag == 70:  # F: client flags (memcached keeps the previous error text)
        number = strtoul32(arg)
        if number is None:
            flags.error = flags.error or _BAD_FORMAT
        else:
            flags.client_flags = number
    elif flag == 67:  # C: compare cas
        number = strtoull(arg)
        if number is None:
            flags.error = bad_token
        else:
            flags.cas, flags.has_cas = number, True
    elif flag == 77:  # M: mode
        if len(token) != 2:
            flags.error = b"CLIENT_ERROR incorrect length for M token\r\n"
        else:
            flags.mode = token[1]
    else:  # J: initial, D: delta
        number = strtoull(arg)
        if number is None:
            what = b"initial" if flag == 74 else b"delta"
            flags.error = b"CLIENT_ERROR invalid numeric %s value\r\n" % what
        elif flag == 74:
            flags.initial = number
        else:
            flags.delta = number


def _meta_key_token(flags: _MetaFlags) -> bytes:
    if flags.binary_key:
        return b" k" + b64encode(flags.key) + b" b"
    return b" k" + flags.key


class TextSession:
    """One memcached text connection over the provider's engine."""

    __slots__ = (
        "_auth",
        "_auth_need",
        "_authenticated",
        "_commands",
        "_ctl",
        "_engine",
        "_flush_check",
        "_max_line",
        "_memory",
        "_need",
        "_room",
        "_scan_from",
        "_sender",
        "_stats",
        "_store",
        "_swallow",
        "closed",
    )

    def __init__(self, engine: MemcacheEngine, sender: NetworkSender) -> None:
        self._engine = engine
        self._store = engine.store
        self._stats = engine.stats
        self._sender = sender
        self._memory = sender.memory
        self._room = 0  # value bytes the batch's replies may still hold (the output limit)
        self._max_line = engine.settings.max_line_length
        self._need = 0  # bytes the next message needs, counted from the head
        self._scan_from = 0  # bytes of an unterminated first line already searched
        self._swallow = 0  # bytes of a refused data block still to skip
        self._ctl = False  # the line being handled holds control bytes
        self._flush_check = engine.check_flush
        self._auth = sender.auth
        self._authenticated = not self._auth.required
        self._auth_need = 0  # bytes the unauthenticated client's next step needs
        self.closed = False
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
        engine.stats.curr_connections += 1
        engine.stats.total_connections += 1

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
                if self._auth.check(*step.credentials):
                    self._authenticated = True
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

    def _run(self, buf: bytes, out: list[bytes]) -> int:
        """Handle the commands in ``buf``; the bytes they used."""
        end = len(buf)
        pos = 0
        self._need = 0
        commands = self._commands
        max_line = self._max_line
        while pos < end:
            if self._swallow:
                count = min(self._swallow, end - pos)
                self._swallow -= count
                pos += count
                continue
            newline = buf.find(b"\n", pos)
            if newline < 0:
                self._line_unterminated(buf[pos : pos + 110], end - pos, out)
                self._scan_from = end - pos
                self._need = self._scan_from + 1
                break
            if newline - pos > max_line and not _is_multiget(buf[pos : pos + 110]):
                self._too_long(out)
            line_end = newline - 1 if newline > pos and buf[newline - 1] == 13 else newline
            line = buf[pos:line_end]
            if _CONTROL(line) is None:
                self._ctl = False
                tokens = line.split()
            else:
                self._ctl = True
                tokens = [token for token in line.split(b" ") if token]
            handler = commands.get(tokens[0]) if tokens else None
            if handler is None:
                if is_http_line(line):
                    raise cross_protocol_error(
                        "memcache-text", self._sender.get_extra_info("peername")
                    )
                out.append(_ERROR)
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

    def _line_unterminated(self, head: bytes, length: int, out: list[bytes]) -> None:
        if length > self._max_line and not _is_multiget(head):
            self._too_long(out)

    def _too_long(self, out: list[bytes]) -> None:
        # memcached closes such a connection without a word.
        if out:
            self._sender.send(b"".join(out))
            out.clear()
        raise ProtocolError(f"command line longer than {self._max_line} bytes")

    def _charge(self, size: int) -> None:
        """A reply part of ``size`` bytes was built: stop once the batch's pass the output limit."""
        room = self._room - size
        self._room = room
        if room < 0:
            self._memory.refuse_output(self._memory.reply_room - room)

    def _bad_key(self, key: bytes) -> bool:
        return len(key) > KEY_MAX_LENGTH or (self._ctl and _CONTROL(key) is not None)

    # -- retrieval ------------------------------------------------------------------

    def _get(self, tokens: list[bytes], buf: bytes, start: int, out: list[bytes]) -> int:
        count = len(tokens)
        if count < 2:
            out.append(_ERROR)
            return start
        stats = self._stats
        lookup = self._store.get_with_flags
        if count == 2:  # the common case, without the list of replies
            key = tokens[1]
            if self._bad_key(key):
                out.append(_BAD_FORMAT)
                return start
            stats.cmd_get += 1
            entry = lookup(key)
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
                out.append(_BAD_FORMAT)  # memcached drops the values found so far
                return start
            stats.cmd_get += 1
            entry = lookup(key)
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
            out.append(_ERROR)
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
            out.append(_ERROR)
            return start
        stats = self._stats
        engine = self._engine
        lookup = self._store.get_with_cas
        replies: list[bytes] = []
        for index in range(2 if touch else 1, len(tokens)):
            key = tokens[index]
            if self._bad_key(key):
                out.append(_BAD_FORMAT)
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
                replies += (head, value, _CRLF)
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
        engine = self._engine
        if (
            len(key) > KEY_MAX_LENGTH
            or self._ctl
            or len(flags_token) > 9
            or len(exptime_token) > 9
            or len(length_token) > 9
            or not (flags_token.isdigit() and exptime_token.isdigit() and length_token.isdigit())
        ):
            return self._update(tokens, buf, start, out, Mode.SET)
        flags = int(flags_token)
        length = int(length_token)
        end = start + length + 2
        if engine.too_large(len(key), flags, length) or buf[end - 2 : end] != _CRLF:
            # Refused, incomplete, or a bad chunk: the general path says which.
            return self._update(tokens, buf, start, out, Mode.SET)
        exptime = int(exptime_token)
        self._store.set(
            key,
            buf[start : end - 2],
            expire_at=engine.expire_at(exptime) if exptime else None,
            flags=flags,
        )
        stats = self._stats
        stats.cmd_set += 1
        stats.total_items += 1
        if count == 5:
            out.append(b"STORED\r\n")
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
            out.append(_ERROR)
            return start
        noreply = tokens[-1] == _NOREPLY
        key = tokens[1]
        if self._bad_key(key):
            if not noreply:
                out.append(_BAD_FORMAT)
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
            or not 0 <= length <= _INT_MAX - 2
        ):
            if not noreply:
                out.append(_BAD_FORMAT)
            return start
        engine = self._engine
        if engine.too_large(len(key), flags, length):
            self._stats.store_too_large += 1
            if not noreply:
                out.append(_TOO_LARGE)
            if mode is Mode.SET:
                self._store.delete(key)  # memcached drops the old value of a failed set
            self._swallow = length + 2
            return start
        end = start + length + 2
        if end > len(buf):
            return -end
        if buf[end - 2 : end] != _CRLF:
            if not noreply:
                out.append(_BAD_CHUNK)
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
            out.append(_ERROR)
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
                out.append(_BAD_FORMAT)
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
            out.append(_ERROR)
            return start
        noreply = tokens[-1] == _NOREPLY
        key = tokens[1]
        reply: bytes
        if self._bad_key(key):
            reply = _BAD_FORMAT
        else:
            delta = strtoull(tokens[2])
            if delta is None:
                reply = b"CLIENT_ERROR invalid numeric delta argument\r\n"
            else:
                outcome, value = self._engine.add_delta(key, incr, delta)
                if outcome is Delta.OK:
                    reply = b"%d\r\n" % value
                elif outcome is Delta.NON_NUMERIC:
                    reply = _NON_NUMERIC
                else:
                    reply = b"NOT_FOUND\r\n"
        if not noreply:
            out.append(reply)
        return start

    def _touch(self, tokens: list[bytes], buf: bytes, start: int, out: list[bytes]) -> int:
        count = len(tokens)
        if count not in (3, 4):
            out.append(_ERROR)
            return start
        noreply = tokens[-1] == _NOREPLY
        key = tokens[1]
        exptime = strtol32(tokens[2])
        if self._bad_key(key):
            reply = _BAD_FORMAT
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
            out.append(_ERROR)
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
            out.append(_ERROR)
            return start
        noreply = tokens[-1] == _NOREPLY
        level = strtoul32(tokens[1])
        if level is None:
            reply = _BAD_FORMAT
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
                out.append(_ERROR)
                return start
        out.extend(b"STAT %s %s\r\n" % (name.encode(), value.encode()) for name, value in lines)
        out.append(_END)
        return start

    def _quit(self, tokens: list[bytes], buf: bytes, start: int, out: list[bytes]) -> int:
        self.closed = True
        self._sender.close()
        return start

    # -- meta commands --------------------------------------------------------------

    def _mn(self, tokens: list[bytes], buf: bytes, start: int, out: list[bytes]) -> int:
        out.append(b"MN\r\n")
        return start

    def _meta_start(
        self, tokens: list[bytes], out: list[bytes], command: bytes, too_many: bytes
    ) -> _MetaFlags | None:
        # The checks every meta command makes before its flags, in memcached's order.
        if len(tokens) < 2:
            out.append(_ERROR)
            return None
        if len(tokens[1]) > KEY_MAX_LENGTH:
            out.append(_BAD_FORMAT)
            return None
        if len(tokens) > _META_MAX_TOKENS:
            out.append(too_many)
            return None
        parsed = _parse_meta_flags(tokens, 2, command)
        if isinstance(parsed, bytes):
            out.append(
                parsed if command == b"mg" else b"CLIENT_ERROR invalid or duplicate flag\r\n"
            )
            return None
        if not parsed.binary_key and self._ctl and _CONTROL(parsed.key) is not None:
            out.append(_BAD_FORMAT)
            return None
        return parsed

    def _echo_flags(self, tokens: list[bytes], flags: _MetaFlags, parts: list[bytes]) -> bool:
        """Append the ``O`` and ``k`` flags (in request order); False for a too-long opaque."""
        for index in range(2, len(tokens)):
            token = tokens[index]
            if token[0] == 79:  # O
                if len(token) > _MAX_OPAQUE:
                    return False
                parts.append(b" " + token)
            elif token[0] == 107:  # k
                parts.append(_meta_key_token(flags))
        return True

    def _mg(self, tokens: list[bytes], buf: bytes, start: int, out: list[bytes]) -> int:
        flags = self._meta_start(tokens, out, b"mg", b"CLIENT_ERROR options flags are too long\r\n")
        if flags is None:
            return start
        entry = self._store.get_with_cas(flags.key)
        self._count_get(touched=flags.exptime is not None, hit=entry is not None)
        if entry is None:
            parts = [b"EN"]
            if not self._echo_flags(tokens, flags, parts):
                out.append(b"CLIENT_ERROR opaque token too long\r\n")
            elif not flags.noreply:
                parts.append(_CRLF)
                out.append(b"".join(parts))
            return start
        value = entry[0]
        parts = [b"VA %d" % len(value) if flags.value else b"HD"]
        if not self._mg_flags(tokens, flags, entry, parts):
            out.append(b"CLIENT_ERROR opaque token too long\r\n")
            return start
        parts.append(_CRLF)
        if flags.value:
            parts += (value, _CRLF)
        reply = b"".join(parts)
        self._charge(len(reply))
        out.append(reply)
        return start

    def _count_get(self, *, touched: bool, hit: bool) -> None:
        stats = self._stats
        if touched:
            stats.cmd_touch += 1
            if hit:
                stats.touch_hits += 1
            else:
                stats.touch_misses += 1
        else:
            stats.cmd_get += 1
            if hit:
                stats.get_hits += 1
            else:
                stats.get_misses += 1

    def _mg_flags(
        self,
        tokens: list[bytes],
        flags: _MetaFlags,
        entry: tuple[bytes, int, int],
        parts: list[bytes],
    ) -> bool:
        """Append the flags of an ``mg`` hit in request order; False for a too-long opaque."""
        engine = self._engine
        key = flags.key
        value, client_flags, cas = entry
        for index in range(2, len(tokens)):
            token = tokens[index]
            flag = token[0]
            if flag == 84:  # T: the new ttl applies from here on
                assert flags.exptime is not None
                self._store.touch(key, engine.expire_at(flags.exptime))
            elif flag == 115:  # s
                parts.append(b" s%d" % len(value))
            elif flag == 116:  # t
                parts.append(b" t%d" % engine.ttl(self._expiry_of(key)))
            elif flag == 99:  # c
                parts.append(b" c%d" % cas)
            elif flag == 102:  # f
                parts.append(b" f%d" % client_flags)
            elif flag == 79:  # O
                if len(token) > _MAX_OPAQUE:
                    return False
                parts.append(b" " + token)
            elif flag == 107:  # k
                parts.append(_meta_key_token(flags))
        return True

    def _expiry_of(self, key: bytes) -> int | None:
        when = self._store.expire_time(key)
        return when if when >= 0 else None

    def _ms(self, tokens: list[bytes], buf: bytes, start: int, out: list[bytes]) -> int:
        count = len(tokens)
        if count < 2:
            out.append(_ERROR)
            return start
        if len(tokens[1]) > KEY_MAX_LENGTH or count == 2:
            out.append(_BAD_FORMAT)
            return start
        if count > _META_MAX_TOKENS:
            out.append(b"CLIENT_ERROR options flags too long\r\n")
            return start
        length = strtol32(tokens[2])
        if length is None or not 0 <= length <= _INT_MAX - 2:
            out.append(_BAD_FORMAT)
            return start
        parsed = _parse_meta_flags(tokens, 3, b"ms")
        if isinstance(parsed, bytes):
            return self._ms_refuse(parsed, length, start, out)
        flags = parsed
        if not flags.binary_key and self._ctl and _CONTROL(flags.key) is not None:
            return self._ms_refuse(_BAD_FORMAT, length, start, out)
        mode = _MS_MODES.get(flags.mode)
        if mode is None:
            return self._ms_refuse(
                b"CLIENT_ERROR invalid mode for ms M token\r\n", length, start, out
            )
        for index in range(3, count):
            if tokens[index][0] == 79 and len(tokens[index]) > _MAX_OPAQUE:
                return self._ms_refuse(
                    b"CLIENT_ERROR opaque token too long\r\n", length, start, out
                )
        if flags.has_cas and mode in (Mode.SET, Mode.REPLACE):
            mode = Mode.CAS
        engine = self._engine
        key = flags.key
        if engine.too_large(len(key), flags.client_flags, length):
            self._stats.store_too_large += 1
            self._store.delete(key)
            return self._ms_refuse(_TOO_LARGE, length, start, out)
        end = start + length + 2
        if end > len(buf):
            return -end
        if buf[end - 2 : end] != _CRLF:
            out.append(_BAD_CHUNK)
            return end
        exptime = 0 if flags.exptime is None else flags.exptime
        result = engine.store_item(
            mode,
            key,
            buf[start : end - 2],
            flags=flags.client_flags,
            expire_at=engine.expire_at(exptime),
            cas=flags.cas if flags.has_cas else 0,
        )
        if result is Stored.STORED and flags.noreply:
            return end
        parts = [_META_CODES[result]]
        for index in range(3, count):
            token = tokens[index]
            if token[0] == 79:  # O
                parts.append(b" " + token)
            elif token[0] == 107:  # k
                parts.append(_meta_key_token(flags))
            elif token[0] == 99:  # c: the new version, 0 when nothing was stored
                entry = self._store.get_with_cas(key) if result is Stored.STORED else None
                parts.append(b" c%d" % (0 if entry is None else entry[2]))
        parts.append(_CRLF)
        out.append(b"".join(parts))
        return end

    def _ms_refuse(self, error: bytes, length: int, start: int, out: list[bytes]) -> int:
        # After its length is known, a refused ms skips its data block.
        out.append(error)
        self._swallow = length + 2
        return start

    def _md(self, tokens: list[bytes], buf: bytes, start: int, out: list[bytes]) -> int:
        flags = self._meta_start(tokens, out, b"md", b"CLIENT_ERROR options flags too long\r\n")
        if flags is None:
            return start
        parts: list[bytes] = [b"HD"]
        if not self._echo_flags(tokens, flags, parts):
            out.append(b"CLIENT_ERROR opaque token too long\r\n")
            return start
        key = flags.key
        if flags.has_cas:
            entry = self._store.get_with_cas(key)
            if entry is None or entry[2] != flags.cas:
                self._stats.delete_misses += 1
                parts[0] = b"NF" if entry is None else b"EX"
            else:
                self._engine.delete(key)
        elif not self._engine.delete(key):
            parts[0] = b"NF"
        if parts[0] == b"HD" and flags.noreply:
            return start
        parts.append(_CRLF)
        out.append(b"".join(parts))
        return start

    def _ma(self, tokens: list[bytes], buf: bytes, start: int, out: list[bytes]) -> int:
        flags = self._meta_start(tokens, out, b"ma", b"CLIENT_ERROR options flags too long\r\n")
        if flags is None:
            return start
        if flags.mode in (0, 73, 43):  # I, +
            incr = True
        elif flags.mode in (68, 45):  # D, -
            incr = False
        else:
            out.append(b"CLIENT_ERROR invalid mode for ma M token\r\n")
            return start
        key = flags.key
        outcome, number = self._engine.add_delta(key, incr, flags.delta, flags.cas)
        created = False
        if outcome is Delta.NON_NUMERIC:
            out.append(_NON_NUMERIC)
            return start
        if outcome is Delta.NOT_FOUND and flags.vivify_exptime is not None:
            number = flags.initial
            self._store.set(key, b"%d" % number)
            created = True
            outcome = Delta.OK
        if outcome is not Delta.OK:
            parts = [b"NF" if outcome is Delta.NOT_FOUND else b"EX"]
            if not self._echo_flags(tokens, flags, parts):
                out.append(b"CLIENT_ERROR opaque token too long\r\n")
                return start
            parts.append(_CRLF)
            out.append(b"".join(parts))
            return start
        text = b"%d" % number
        parts = [b"VA %d" % len(text) if flags.value else b"HD"]
        if not self._ma_flags(tokens, flags, created, parts):
            out.append(b"CLIENT_ERROR opaque token too long\r\n")
        elif not flags.noreply:
            parts.append(_CRLF)
            if flags.value:
                parts += (text, _CRLF)
            out.append(b"".join(parts))
        return start

    def _ma_flags(
        self, tokens: list[bytes], flags: _MetaFlags, created: bool, parts: list[bytes]
    ) -> bool:
        """Append the flags of a counted ``ma`` in request order; False for a too-long opaque."""
        engine = self._engine
        store = self._store
        key = flags.key
        for index in range(2, len(tokens)):
            token = tokens[index]
            flag = token[0]
            if flag == 99:  # c
                entry = store.get_with_cas(key)
                parts.append(b" c%d" % (0 if entry is None else entry[2]))
            elif flag == 116:  # t
                parts.append(b" t%d" % engine.ttl(self._expiry_of(key)))
            elif flag == 84:  # T
                assert flags.exptime is not None
                store.touch(key, engine.expire_at(flags.exptime))
            elif flag == 78 and created:  # N: the ttl of a counter it created
                assert flags.vivify_exptime is not None
                store.touch(key, engine.expire_at(flags.vivify_exptime))
            elif flag == 79:  # O
                if len(token) > _MAX_OPAQUE:
                    return False
                parts.append(b" " + token)
            elif flag == 107:  # k
                parts.append(_meta_key_token(flags))
        return True

    def _me(self, tokens: list[bytes], buf: bytes, start: int, out: list[bytes]) -> int:
        if len(tokens) < 2 or len(tokens[1]) > KEY_MAX_LENGTH:
            out.append(_BAD_FORMAT)
            return start
        key = tokens[1]
        binary = len(tokens) > 2 and tokens[2] == b"b"
        if binary:
            try:
                key = b64decode(key, validate=True)
            except (binascii.Error, ValueError):
                key = b""
            if not key:
                out.append(_BAD_FORMAT)
                return start
        entry = self._store.get_with_cas(key)
        if entry is None:
            out.append(b"EN\r\n")
            return start
        value, client_flags, cas = entry
        expiry = self._expiry_of(key)
        shown = b64encode(key) if binary else key
        out.append(
            b"ME %b exp=%d la=0 cas=%d fetch=no cls=1 size=%d\r\n"
            % (
                shown,
                -1 if expiry is None else -self._engine.ttl(expiry),
                cas,
                item_total_size(len(key), client_flags, len(value)),
            )
        )
        return start


_MS_MODES = {
    0: Mode.SET,
    83: Mode.SET,  # S
    69: Mode.ADD,  # E
    65: Mode.APPEND,  # A
    80: Mode.PREPEND,  # P
    82: Mode.REPLACE,  # R
}


def _is_multiget(head: bytes) -> bool:
    # memcached lets only get/gets lines (after at most 100 spaces) grow past its read check.
    stripped = head.lstrip(b" ")
    return len(head) - len(stripped) <= 100 and stripped.startswith((b"get ", b"gets "))
