"""memcached's meta text commands (mg, ms, md, ma, mn, me) and their flags."""

from __future__ import annotations

import binascii
from base64 import b64decode, b64encode

from ..eviction import ARMED, room_for_write
from .engine import (
    KEY_MAX_LENGTH,
    Delta,
    Mode,
    Stored,
    item_total_size,
    strtol32,
    strtoul32,
    strtoull,
)
from .text_base import (
    BAD_CHUNK,
    BAD_FORMAT,
    CONTROL,
    CRLF,
    ERROR,
    INT_MAX,
    NON_NUMERIC,
    OUT_OF_MEMORY,
    TOO_LARGE,
)
from .text_classic import ClassicCommands

__all__ = ["MetaCommands"]

_META_MAX_TOKENS = 19  # memcached: more than MFLAG_MAX_OPT_LENGTH (20) tokens with the end one
_MAX_OPAQUE = 32

_META_CODES = {
    Stored.STORED: b"HD",
    Stored.NOT_STORED: b"NS",
    Stored.EXISTS: b"EX",
    Stored.NOT_FOUND: b"NF",
}


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
            flags.error = flags.error or BAD_FORMAT
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


_MS_MODES = {
    0: Mode.SET,
    83: Mode.SET,  # S
    69: Mode.ADD,  # E
    65: Mode.APPEND,  # A
    80: Mode.PREPEND,  # P
    82: Mode.REPLACE,  # R
}


class MetaCommands(ClassicCommands):
    """The meta commands' handlers, with the same signature as the classic ones.

    Built on :class:`~.text_classic.ClassicCommands` only so that the session is
    one chain of classes (mypyc compiles single inheritance); neither set of
    commands calls the other's.
    """

    __slots__ = ()

    # -- meta commands --------------------------------------------------------------

    def _mn(self, tokens: list[bytes], buf: bytes, start: int, out: list[bytes]) -> int:
        out.append(b"MN\r\n")
        return start

    def _meta_start(
        self, tokens: list[bytes], out: list[bytes], command: bytes, too_many: bytes
    ) -> _MetaFlags | None:
        # The checks every meta command makes before its flags, in memcached's order.
        if len(tokens) < 2:
            out.append(ERROR)
            return None
        if len(tokens[1]) > KEY_MAX_LENGTH:
            out.append(BAD_FORMAT)
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
        if not parsed.binary_key and self._ctl and CONTROL(parsed.key) is not None:
            out.append(BAD_FORMAT)
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
                parts.append(CRLF)
                out.append(b"".join(parts))
            return start
        value = entry[0]
        parts = [b"VA %d" % len(value) if flags.value else b"HD"]
        if not self._mg_flags(tokens, flags, entry, parts):
            out.append(b"CLIENT_ERROR opaque token too long\r\n")
            return start
        parts.append(CRLF)
        if flags.value:
            parts += (value, CRLF)
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
            out.append(ERROR)
            return start
        if len(tokens[1]) > KEY_MAX_LENGTH or count == 2:
            out.append(BAD_FORMAT)
            return start
        if count > _META_MAX_TOKENS:
            out.append(b"CLIENT_ERROR options flags too long\r\n")
            return start
        length = strtol32(tokens[2])
        if length is None or not 0 <= length <= INT_MAX - 2:
            out.append(BAD_FORMAT)
            return start
        parsed = _parse_meta_flags(tokens, 3, b"ms")
        if isinstance(parsed, bytes):
            return self._ms_refuse(parsed, length, start, out)
        flags = parsed
        if not flags.binary_key and self._ctl and CONTROL(flags.key) is not None:
            return self._ms_refuse(BAD_FORMAT, length, start, out)
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
            return self._ms_refuse(TOO_LARGE, length, start, out)
        if ARMED.count and not room_for_write(self._store):  # maxmemory reached
            if mode is Mode.SET:
                self._store.delete(key)  # memcached drops the old value of a failed set
            return self._ms_refuse(OUT_OF_MEMORY, length, start, out)
        end = start + length + 2
        if end > len(buf):
            return -end
        if buf[end - 2 : end] != CRLF:
            out.append(BAD_CHUNK)
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
        parts.append(CRLF)
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
        parts.append(CRLF)
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
            out.append(NON_NUMERIC)
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
            parts.append(CRLF)
            out.append(b"".join(parts))
            return start
        text = b"%d" % number
        parts = [b"VA %d" % len(text) if flags.value else b"HD"]
        if not self._ma_flags(tokens, flags, created, parts):
            out.append(b"CLIENT_ERROR opaque token too long\r\n")
        elif not flags.noreply:
            parts.append(CRLF)
            if flags.value:
                parts += (text, CRLF)
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
            out.append(BAD_FORMAT)
            return start
        key = tokens[1]
        binary = len(tokens) > 2 and tokens[2] == b"b"
        if binary:
            try:
                key = b64decode(key, validate=True)
            except (binascii.Error, ValueError):
                key = b""
            if not key:
                out.append(BAD_FORMAT)
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
