"""memcached's semantics over the shared :class:`~providers.kvstore.Store`.

Both memcached sessions (text and binary) go through one
:class:`MemcacheEngine` per provider: store modes and CAS checks as
``do_store_item`` does them, ``incr``/``decr`` on unsigned 64-bit decimals,
expiry times, the item size limit, a delayed ``flush_all``, and the counters
``stats`` reports. The store itself is plain ``bytes -> bytes`` shared with
RESP; flags and CAS versions are the store's memcached metadata.
"""

from __future__ import annotations

import enum
import os
import re
import resource
import time
from dataclasses import dataclass
from typing import Final

from wireproto import AuthSettings, Limits
from wireproto._users import UserDirectory

from ..kvstore import Store

__all__ = [
    "DEFAULT_VERSION",
    "KEY_MAX_LENGTH",
    "Delta",
    "MemcacheEngine",
    "MemcacheSettings",
    "Mode",
    "Stats",
    "Stored",
    "item_total_size",
    "strtol32",
    "strtoul32",
    "strtoull",
]

DEFAULT_VERSION = "1.6.0-wireproto"
"""What ``version`` answers: the memcached protocol level, then who serves it."""

KEY_MAX_LENGTH: Final = 250
"""memcached's ``KEY_MAX_LENGTH``."""

REALTIME_MAXDELTA: Final = 60 * 60 * 24 * 30
"""Expiry times up to 30 days are relative; larger ones are unix times."""

ITEM_HEADER_SIZE: Final = 56
"""memcached's ``sizeof(item)`` (48) plus the 8-byte CAS, counted in the item size."""

_U64 = (1 << 64) - 1
_U32 = (1 << 32) - 1

# strtoull/strtol: optional C-locale spaces, a sign, digits, then a space or the end.
_C_NUMBER = re.compile(rb"[\t\n\x0b\x0c\r ]*([+-]?)([0-9]+)(?:[\t\n\x0b\x0c\r ]|\Z)")
# A stored value is followed by "\r\n" (and may hold a NUL) in memcached's item.
_C_VALUE_NUMBER = re.compile(rb"[\t\n\x0b\x0c\r ]*([+-]?)([0-9]+)(?=[\t\n\x0b\x0c\r \x00]|\Z)")


def _c_unsigned(match: re.Match[bytes] | None, bits: int) -> int | None:
    # strtoul(l) on 64-bit: ERANGE past 2**64-1; "-n" wraps; a negative-looking
    # result with a '-' is refused (memcached's safe_strtoul(l) check).
    if match is None:
        return None
    sign, digits = match.group(1), match.group(2)
    value = int(digits)
    if value > _U64:
        return None
    if sign == b"-":
        value = -value & _U64
        if value >> 63:
            return None
    return value & ((1 << bits) - 1)


def strtoull(token: bytes) -> int | None:
    """memcached's ``safe_strtoull``: an unsigned 64-bit decimal, or None."""
    if token.isdigit() and len(token) < 20:
        return int(token)
    return _c_unsigned(_C_NUMBER.match(token), 64)


def strtoul32(token: bytes) -> int | None:
    """memcached's ``safe_strtoul`` into a ``uint32_t`` (64-bit ``strtoul``, then truncated)."""
    if token.isdigit() and len(token) < 10:
        return int(token)
    return _c_unsigned(_C_NUMBER.match(token), 32)


def strtol32(token: bytes) -> int | None:
    """memcached's ``safe_strtol`` into an ``int32_t`` (64-bit ``strtol``, then truncated)."""
    if token.isdigit() and len(token) < 10:
        return int(token)
    match = _C_NUMBER.match(token)
    if match is None:
        return None
    value = int(match.group(2))
    if match.group(1) == b"-":
        value = -value
    if not -(1 << 63) <= value < (1 << 63):
        return None  # ERANGE
    return ((value + (1 << 31)) & _U32) - (1 << 31)


def value_as_u64(value: bytes) -> int | None:
    """The unsigned number a stored value holds for ``incr``/``decr``, or None."""
    if value.isdigit() and len(value) < 20:
        return int(value)
    if not value:
        return None  # memcached: a zero-byte value is never numeric
    return _c_unsigned(_C_VALUE_NUMBER.match(value), 64)


def item_total_size(nkey: int, flags: int, nbytes: int) -> int:
    """The size memcached's ``item_size_ok`` checks: header, key, flags, value and CRLF."""
    return ITEM_HEADER_SIZE + nkey + 1 + (4 if flags else 0) + nbytes + 2


@dataclass(frozen=True, slots=True)
class MemcacheSettings:
    """Settings of the memcached providers (both protocols).

    ``item_size_max`` is memcached's ``-I``: an item's value, key and
    ``ITEM_HEADER_SIZE`` bytes of header must fit in it, exactly as memcached
    counts (so a 1 MiB limit stores values up to 1 MiB minus about 60 bytes).
    ``max_line_length`` caps a text command line, ``\\r`` included, as
    memcached's 2048-byte read check does (multi-key ``get``/``gets`` lines are
    exempt, like in memcached, up to the connection's buffer cap).
    ``max_output_buffered`` is the reply backlog allowed for a slow reader.
    """

    item_size_max: int = 1 << 20
    max_line_length: int = 2048
    version: str = DEFAULT_VERSION
    max_output_buffered: int = 64 << 20

    def __post_init__(self) -> None:
        if self.item_size_max < 1024:
            raise ValueError("item_size_max must be at least 1024 bytes (as memcached's -I)")
        if self.max_line_length < 64:
            raise ValueError("max_line_length must be at least 64")
        if not self.version or not self.version.isprintable() or " " in self.version:
            raise ValueError(f"invalid version string {self.version!r}")
        if self.max_output_buffered < 1:
            raise ValueError("max_output_buffered must be at least 1")

    @property
    def limits(self) -> Limits:
        """Connection limits: one command line (or binary header) plus one maximal item."""
        return Limits(
            max_message_size=self.item_size_max + self.max_line_length + 2 + 512,
            max_output_buffered=self.max_output_buffered,
        )


class Mode(enum.Enum):
    """How a storage command stores (memcached's ``NREAD_*``)."""

    SET = "set"
    ADD = "add"
    REPLACE = "replace"
    APPEND = "append"
    PREPEND = "prepend"
    CAS = "cas"


class Stored(enum.Enum):
    """The outcome of a storage command (memcached's ``store_item_type``)."""

    STORED = "STORED"
    NOT_STORED = "NOT_STORED"
    EXISTS = "EXISTS"
    NOT_FOUND = "NOT_FOUND"


class Delta(enum.Enum):
    """The outcome of ``incr``/``decr`` (memcached's ``delta_result_type``)."""

    OK = "ok"
    NON_NUMERIC = "non-numeric"
    NOT_FOUND = "not-found"
    CAS_MISMATCH = "cas-mismatch"


_COUNTERS = (
    "total_connections",
    "cmd_get",
    "cmd_set",
    "cmd_flush",
    "cmd_touch",
    "cmd_meta",
    "get_hits",
    "get_misses",
    "delete_misses",
    "delete_hits",
    "incr_misses",
    "incr_hits",
    "decr_misses",
    "decr_hits",
    "cas_misses",
    "cas_hits",
    "cas_badval",
    "touch_hits",
    "touch_misses",
    "store_too_large",
    "auth_cmds",
    "auth_errors",
    "bytes_read",
    "bytes_written",
    "total_items",
)


class Stats:
    """The counters ``stats`` reports; plain attributes, incremented in place."""

    __slots__ = ("curr_connections", *_COUNTERS)

    total_connections: int
    cmd_get: int
    cmd_set: int
    cmd_flush: int
    cmd_touch: int
    cmd_meta: int
    get_hits: int
    get_misses: int
    delete_misses: int
    delete_hits: int
    incr_misses: int
    incr_hits: int
    decr_misses: int
    decr_hits: int
    cas_misses: int
    cas_hits: int
    cas_badval: int
    touch_hits: int
    touch_misses: int
    store_too_large: int
    auth_cmds: int
    auth_errors: int
    bytes_read: int
    bytes_written: int
    total_items: int

    def __init__(self) -> None:
        self.curr_connections = 0
        self.reset()

    def reset(self) -> None:
        """Zero what ``stats reset`` zeroes (everything but the open connections)."""
        for name in _COUNTERS:
            setattr(self, name, 0)

    def counters(self) -> list[tuple[str, int]]:
        """The counters after the connection counts, in memcached's order."""
        return [(name, getattr(self, name)) for name in _COUNTERS[1:-1]]


class MemcacheEngine:
    """memcached's item semantics for every session of one provider.

    ``store`` is shared with the other providers of the registry (RESP);
    ``flush_all`` therefore empties it for them too, as ``FLUSHALL`` does.
    """

    def __init__(self, store: Store, settings: MemcacheSettings) -> None:
        self.store = store
        self.settings = settings
        self.stats = Stats()
        self.user_directories: dict[AuthSettings, UserDirectory] = {}
        """Users for sessions outside a ``Server`` (a listener keeps its own)."""
        self.verbosity = 0
        self.flush_at = 0
        """Unix ms of a delayed ``flush_all`` not yet applied (0: none)."""
        self._started = time.monotonic()
        # memcached's process_started: unix times up to it are already past.
        self._started_unix = store.clock() // 1000 - 62
        self._version = settings.version.encode()

    @property
    def version(self) -> bytes:
        """The version string ``version`` answers."""
        return self._version

    # -- time -------------------------------------------------------------------

    def expire_at(self, exptime: int) -> int | None:
        """The unix ms an item set with memcached ``exptime`` expires at (None: never).

        0 never expires; up to 30 days is relative; more is a unix time; a
        negative time, or a unix time before the server started, is already past.
        """
        if exptime == 0:
            return None
        if exptime < 0:
            return 0
        if exptime > REALTIME_MAXDELTA:
            return 0 if exptime <= self._started_unix else exptime * 1000
        return self.store.clock() + exptime * 1000

    def ttl(self, expire_at: int | None) -> int:
        """Seconds left before ``expire_at`` (-1: never), as meta's ``t`` flag reports."""
        if expire_at is None:
            return -1
        return max(0, (expire_at - self.store.clock() + 999) // 1000)

    def check_flush(self) -> None:
        """Apply a delayed ``flush_all`` whose time has come."""
        if self.flush_at and self.store.clock() >= self.flush_at:
            self.flush_at = 0
            self.store.flush()

    def flush_all(self, exptime: int = 0) -> None:
        """``flush_all [exptime]``: now, or once ``exptime`` (as for items) has passed."""
        self.stats.cmd_flush += 1
        when = self.expire_at(exptime) if exptime > 0 else None
        if when is None or when <= self.store.clock():
            self.flush_at = 0
            self.store.flush()
        else:
            self.flush_at = when

    # -- items ------------------------------------------------------------------

    def too_large(self, nkey: int, flags: int, nbytes: int) -> bool:
        """Whether an item of this key length, flags and value size exceeds the limit."""
        return item_total_size(nkey, flags, nbytes) > self.settings.item_size_max

    def store_item(
        self,
        mode: Mode,
        key: bytes,
        value: bytes,
        *,
        flags: int = 0,
        expire_at: int | None = None,
        cas: int = 0,
    ) -> Stored:
        """Store as memcached's ``do_store_item`` does (``cas`` 0: no CAS check).

        APPEND and PREPEND keep the item's flags and expiry and refuse a CAS
        that does not match; CAS (any mode upgraded to it by a CAS value)
        needs the item and its exact version.
        """
        store = self.store
        stats = self.stats
        stats.cmd_set += 1
        if mode is Mode.SET and not cas:
            store.set(key, value, expire_at=expire_at, flags=flags)
            stats.total_items += 1
            return Stored.STORED
        if mode is Mode.APPEND or mode is Mode.PREPEND:
            return self._join(mode, key, value, cas)
        old = store.get_with_cas(key)
        if old is None:
            if mode is Mode.CAS:
                stats.cas_misses += 1
                return Stored.NOT_FOUND
            if mode is Mode.SET or mode is Mode.ADD:
                store.set(key, value, expire_at=expire_at, flags=flags)
                stats.total_items += 1
                return Stored.STORED
            return Stored.NOT_STORED
        matches = cas != 0 and cas == old[2]
        if mode is Mode.ADD:
            return Stored.NOT_STORED
        if mode is Mode.CAS:
            if not matches:
                stats.cas_badval += 1
                return Stored.EXISTS
            stats.cas_hits += 1
        store.set(key, value, expire_at=expire_at, flags=flags)
        stats.total_items += 1
        return Stored.STORED

    def _join(self, mode: Mode, key: bytes, value: bytes, cas: int) -> Stored:
        """APPEND or PREPEND in place: amortised O(len(value)) for APPEND.

        PREPEND moves the old bytes up, O(item size), as memcached itself copies
        the whole item for both (and ``item_size_max`` bounds it).
        """
        store = self.store
        meta = store.get_meta(key)
        if meta is None:
            return Stored.NOT_STORED
        size, flags, version = meta
        if cas and cas != version:
            return Stored.EXISTS
        if self.too_large(len(key), flags, size + len(value)):
            return Stored.NOT_STORED  # memcached cannot allocate the joined item
        if mode is Mode.APPEND:
            store.append(key, value)
        else:
            store.prepend(key, value)
        self.stats.total_items += 1
        return Stored.STORED

    def add_delta(self, key: bytes, incr: bool, delta: int, cas: int = 0) -> tuple[Delta, int]:
        """``incr``/``decr`` as memcached's ``do_add_delta``: the outcome and the new value.

        Values are unsigned 64-bit: ``incr`` wraps, ``decr`` stops at 0. A
        result shorter than the old value is padded with spaces to its length,
        as memcached rewrites the item in place.
        """
        store = self.store
        stats = self.stats
        old = store.get(key)
        if old is None:
            if incr:
                stats.incr_misses += 1
            else:
                stats.decr_misses += 1
            return Delta.NOT_FOUND, 0
        if not old:
            return Delta.NON_NUMERIC, 0  # checked before the CAS, as memcached does
        if cas:
            entry = store.get_with_cas(key)
            if entry is None or entry[2] != cas:
                return Delta.CAS_MISMATCH, 0
        current = value_as_u64(old)
        if current is None:
            return Delta.NON_NUMERIC, 0
        if incr:
            result = (current + delta) & _U64
            stats.incr_hits += 1
        else:
            result = current - delta if delta < current else 0
            stats.decr_hits += 1
        text = b"%d" % result
        if len(text) < len(old):
            text = text.ljust(len(old))
        store.update(key, text)
        return Delta.OK, result

    def touch(self, key: bytes, expire_at: int | None) -> bool:
        """Change the expiry of a live item (its CAS stays); whether it exists."""
        found = self.store.touch(key, expire_at)
        self.stats.cmd_touch += 1
        if found:
            self.stats.touch_hits += 1
        else:
            self.stats.touch_misses += 1
        return found

    def delete(self, key: bytes) -> bool:
        """Delete ``key``; whether it existed."""
        found = self.store.delete(key)
        if found:
            self.stats.delete_hits += 1
        else:
            self.stats.delete_misses += 1
        return found

    # -- stats ------------------------------------------------------------------

    def general_stats(self) -> list[tuple[str, str]]:
        """``stats`` with no argument: a subset of memcached's list, same names."""
        usage = resource.getrusage(resource.RUSAGE_SELF)
        stats = self.stats
        lines: list[tuple[str, str]] = [
            ("pid", str(os.getpid())),
            ("uptime", str(int(time.monotonic() - self._started))),
            ("time", str(self.store.clock() // 1000)),
            ("version", self.settings.version),
            ("pointer_size", "64"),
            ("rusage_user", f"{usage.ru_utime:.6f}"),
            ("rusage_system", f"{usage.ru_stime:.6f}"),
            ("curr_connections", str(stats.curr_connections)),
            ("total_connections", str(stats.total_connections)),
        ]
        lines.extend((name, str(value)) for name, value in stats.counters())
        lines += [
            ("threads", "1"),
            ("curr_items", str(len(self.store))),
            ("total_items", str(stats.total_items)),
            ("evictions", "0"),
        ]
        return lines

    def settings_stats(self, auth_required: bool = False) -> list[tuple[str, str]]:
        """``stats settings``: the settings that exist here, with memcached's names.

        ``auth_required``: the listener of the asking session requires
        authentication, which both formats then speak (SASL and the text token).
        """
        auth = "yes" if auth_required else "no"
        return [
            ("verbosity", str(self.verbosity)),
            ("evictions", "off"),
            ("cas_enabled", "yes"),
            ("binding_protocol", "auto-negotiate"),
            ("auth_enabled_sasl", auth),
            ("auth_enabled_ascii", auth),
            ("item_size_max", str(self.settings.item_size_max)),
            ("flush_enabled", "yes"),
        ]
