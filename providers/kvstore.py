"""A small in-memory key-value store shared by the RESP (and later memcached) providers.

Keys and values are ``bytes``. Expiry times are **wall-clock unix
milliseconds**, as in Redis: ``EXPIREAT`` and memcached's absolute expiry
times need unix time, and a TTL is stored as the instant it ends. A jump of
the system clock therefore shortens or lengthens TTLs, exactly as it does in
Redis. Tests inject ``clock``.

Expiry is lazy (a key found expired on access is removed) plus a bounded
active sweep (:meth:`Store.sweep`) that a server calls periodically.

Each item also carries memcached metadata: ``flags`` (an int the client
chooses) and a ``cas`` version. A write through the typed API that does not
pass ``flags`` resets them to 0, and every write changes the item's cas
(versions are handed out lazily, when :meth:`Store.get_item` reads them).

Values are stored as ``bytes`` until a write changes them in place (APPEND,
SETRANGE, memcached ``append``/``prepend``): the value then becomes a
``bytearray``, which CPython grows geometrically, so a run of appends costs
amortised O(bytes written), as Redis's sds strings do. No reader ever sees
that ``bytearray``: every read returns ``bytes``. A whole-value read turns
the stored ``bytearray`` back into ``bytes`` and keeps that (an immutable
snapshot, so later reads of an unchanged value are free and a reply queued
for a slow reader never changes); the next in-place write copies it once
into a new ``bytearray``. Partial reads (:meth:`Store.get_range`,
:meth:`Store.length`) leave the representation alone.
"""

from __future__ import annotations

import enum
import heapq
import itertools
import random
import re
import time
import weakref
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import TypeVar

__all__ = [
    "NO_EXPIRY",
    "NO_KEY",
    "CasOutcome",
    "Databases",
    "IntegerOverflow",
    "Item",
    "NotAnInteger",
    "Observer",
    "Store",
    "StoreError",
    "WrongType",
    "attach_service",
    "codec_of",
    "compile_glob",
    "glob_match",
    "kind_class",
    "kind_name",
    "parse_int64",
    "register_codec",
    "register_kind",
    "service",
    "share_databases",
    "share_store",
    "shared_databases",
    "shared_store",
    "wall_clock_ms",
]

NO_KEY = -2
"""What :meth:`Store.expire_time` returns for a missing key (Redis's TTL -2)."""
NO_EXPIRY = -1
"""What :meth:`Store.expire_time` returns for a key without expiry (Redis's TTL -1)."""

_LLONG_MIN = -(1 << 63)
_LLONG_MAX = (1 << 63) - 1


def wall_clock_ms() -> int:
    """The default clock: unix time in milliseconds."""
    return time.time_ns() // 1_000_000


class StoreError(Exception):
    """A store operation refused its input; the store is unchanged."""


class NotAnInteger(StoreError):
    """The stored value is not a 64-bit signed decimal integer."""


class IntegerOverflow(StoreError):
    """The result would leave the 64-bit signed range."""


class WrongType(StoreError):
    """The key holds a value of another type (Redis's ``WRONGTYPE``)."""


Observer = Callable[[bytes, bytes], None]
"""Called as ``observer(event, key)`` after each write to a key of the store.

``event`` is the name Redis's keyspace notifications give the change (``set``,
``del``, ``expire``, ``expired``, ``incrby``, ``append``, ``setrange``,
``rename_from``, ``rename_to``, ``persist``, or what a container command passes
to :meth:`Store.container_written`, such as ``lpush`` or ``hset``). :meth:`Store.flush`
reports ``flushdb`` with an empty key; :meth:`Databases.swap` reports ``swapdb``
on the first store with the second's number as the key.
"""


def _nothing() -> None:
    """Does nothing (a callback nobody asked for)."""


_C = TypeVar("_C")

_KINDS: dict[type, bytes] = {deque: b"list", dict: b"hash", set: b"set"}


_KEEP_EMPTY: set[type] = set()


def register_kind(cls: type, name: bytes, *, keep_empty: bool = False) -> None:
    """Name the Redis type (``TYPE``'s answer) of container values of class ``cls``.

    ``collections.deque`` is a list, ``dict`` a hash and ``set`` a set; modules
    that add a type (sorted sets, streams) register their class here. With
    ``keep_empty`` an emptied value stays in the keyspace (Redis keeps empty streams).
    """
    _KINDS[cls] = name
    if keep_empty:
        _KEEP_EMPTY.add(cls)


_CODECS: dict[type, tuple[Callable[[object], bytes], Callable[[bytes], object]]] = {}


def register_codec(
    cls: type, encode: Callable[[object], bytes], decode: Callable[[bytes], object]
) -> None:
    """How an append-only log writes values of class ``cls`` (a container type) and reads them.

    ``decode(encode(value))`` must equal ``value`` and be a new object the store
    may own. The log tags each value with its :func:`register_kind` name. Types
    without a codec are logged with :mod:`pickle` (works, but ties the files to
    the class's layout).
    """
    _CODECS[cls] = (encode, decode)


def codec_of(
    cls: type,
) -> tuple[Callable[[object], bytes], Callable[[bytes], object]] | None:
    """The ``(encode, decode)`` pair :func:`register_codec` registered for ``cls``, if any."""
    return _CODECS.get(cls)


def kind_class(name: bytes) -> type | None:
    """The container class :func:`register_kind` named ``name`` (``b"list"``: ``deque``)."""
    return next((cls for cls, kind in _KINDS.items() if kind == name), None)


def kind_name(value: object) -> bytes:
    """``TYPE``'s answer for a stored value: ``string``, ``list``, ``hash``..."""
    if type(value) is bytes or type(value) is bytearray:
        return b"string"
    return _KINDS[type(value)]


class CasOutcome(enum.Enum):
    """The result of :meth:`Store.check_and_set`."""

    STORED = "stored"
    EXISTS = "exists"
    NOT_FOUND = "not-found"


@dataclass(frozen=True, slots=True)
class Item:
    """A snapshot of one item with its memcached metadata."""

    value: bytes
    flags: int
    cas: int
    expire_at: int | None
    """Unix milliseconds, or ``None`` for no expiry."""


def parse_int64(data: bytes | bytearray) -> int | None:
    """Redis's ``string2ll``: a strict decimal int64 (no sign '+', no leading zeros, no spaces)."""
    size = len(data)
    if data.isdigit():
        if data[0] == 48:
            return 0 if size == 1 else None
        if size > 19:
            return None
        value = int(data)
        return value if value <= _LLONG_MAX else None
    if 1 < size <= 20 and data[0] == 45 and data[1] != 48 and data[1:].isdigit():
        value = -int(data[1:])
        return value if value >= _LLONG_MIN else None
    return None


class _ScanIndex:
    """Keys in insertion order with stable serial numbers: SCAN's cursor.

    A cursor is the serial of the next key to visit, so a key present for a
    whole iteration is returned however many keys are added or removed
    meanwhile. Removed keys leave holes that compaction drops (keeping the
    serials of the others).
    """

    __slots__ = ("dead", "keys", "next_serial", "serial_of", "serials")

    def __init__(self, keys: Iterable[bytes]) -> None:
        self.keys: list[bytes | None] = list(keys)
        self.serials = list(range(1, len(self.keys) + 1))
        self.serial_of: dict[bytes, int] = {
            key: serial
            for key, serial in zip(self.keys, self.serials, strict=True)
            if key is not None
        }
        self.next_serial = len(self.keys) + 1
        self.dead = 0

    def add(self, key: bytes) -> None:
        serial = self.next_serial
        self.next_serial = serial + 1
        self.serial_of[key] = serial
        self.serials.append(serial)
        self.keys.append(key)

    def remove(self, key: bytes) -> None:
        serial = self.serial_of.pop(key)
        self.keys[bisect_left(self.serials, serial)] = None
        self.dead += 1
        if self.dead > 64 and self.dead * 2 > len(self.keys):
            live = [(s, k) for s, k in zip(self.serials, self.keys, strict=True) if k is not None]
            self.serials = [s for s, _ in live]
            self.keys = [k for _, k in live]
            self.dead = 0

    def start(self, cursor: int) -> int:
        return bisect_left(self.serials, cursor)


class Store:
    """An in-memory keyspace with per-key expiry: one Redis database.

    Strings (``bytes``) are the values every format shares. Redis's other
    types are container objects (a ``deque`` for a list, a ``dict`` for a
    hash, a ``set``, or a class given to :func:`register_kind`), kept apart so
    that the string path pays nothing for them. String methods raise
    :class:`WrongType` on a container key; :meth:`read_container`,
    :meth:`write_container` and :meth:`container_written` are the container
    API; expiry, WATCH, ``DEL``, ``RENAME``, ``KEYS``, ``SCAN`` and
    observers work the same for every type.

    ``clock`` returns unix time in milliseconds (default :func:`wall_clock_ms`);
    ``rng`` picks random keys and sweep samples.
    """

    def __init__(
        self, clock: Callable[[], int] | None = None, *, rng: random.Random | None = None
    ) -> None:
        self.clock: Callable[[], int] = clock if clock is not None else wall_clock_ms
        self._rng = rng if rng is not None else random.Random()
        self._data: dict[bytes, bytes | bytearray] = {}
        self._containers: dict[bytes, object] = {}
        self._observers: list[Observer] = []
        # Where plain puts are recorded instead of calling the one observer (observe's puts).
        self._puts: list[bytes] | None = None
        self._puts_begun: Callable[[], None] = _nothing
        self.services: dict[str, object] = {}
        """What other modules keep for this store (:func:`attach_service`); a plain attribute,
        not a weak map: the compiled ``Store`` takes no weak references."""
        self._expires: dict[bytes, int] = {}
        self._heap: list[tuple[int, bytes]] = []
        self._meta: dict[bytes, tuple[int, int]] = {}
        self._next_cas = 1
        self.on_cas: Callable[[bytes], None] | None = None
        """Called with a key when it is handed a new cas version (a log keeps it); not an
        observer event: the value did not change."""
        self._index: _ScanIndex | None = None
        self._watched: dict[bytes, list[int]] = {}  # key -> [watchers, version]
        self._plain_puts = True
        # True only while no key has an expiry, flags, a cas version, a container or a
        # watch, and SCAN keeps no index: a plain put then only stores (see put). Every
        # write that adds to one of those sets it False; put looks again when it is False.
        self.expired_keys = 0
        """How many keys expired so far (lazily or by :meth:`sweep`)."""
        self.item_flags = 0
        """The flags of the item :meth:`read_item` found last."""
        self.item_cas = 0
        """The cas version of the item :meth:`read_item` found last."""

    # -- size -----------------------------------------------------------------

    def __len__(self) -> int:
        """Keys held, counting expired keys not removed yet (as Redis's DBSIZE does)."""
        return len(self._data) + len(self._containers)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, bytes) and self.exists(key)

    @property
    def expires_count(self) -> int:
        """Keys that have an expiry time."""
        return len(self._expires)

    # -- reads ----------------------------------------------------------------

    def get(self, key: bytes) -> bytes | None:
        """The value of ``key``, or ``None`` if it is missing or expired.

        Always ``bytes``: a value the store can still change is never handed out.
        """
        value = self._data.get(key)
        if type(value) is bytes and (not self._expires or key not in self._expires):
            return value  # what _live() returns for it, without the call (GET's hot path)
        if value is None and not self._containers:
            return None  # a missing key, without the call either
        value = self._live(key)
        if value is None or type(value) is bytes:
            return value
        frozen = self._data[key] = bytes(value)
        return frozen

    def exists(self, key: bytes) -> bool:
        """Whether ``key`` holds a live value of any type."""
        return self._live_any(key) is not None

    def length(self, key: bytes) -> int | None:
        """The length of the value of ``key`` (``STRLEN``), or ``None`` if it is missing."""
        value = self._live(key)
        return None if value is None else len(value)

    def get_range(self, key: bytes, start: int, stop: int) -> bytes | None:
        """``value[start:stop]`` of ``key`` (Python slice rules), or ``None`` if it is missing.

        Copies only the slice, whatever the value's size.
        """
        value = self._live(key)
        if value is None or type(value) is bytes:
            if value is None:
                return None
            # Normalised first: compiled by mypyc, a slice with start > stop raises.
            begin, end, _ = slice(start, stop).indices(len(value))
            return value[begin:end] if begin < end else b""
        with memoryview(value) as view:
            return view[start:stop].tobytes()

    def get_item(self, key: bytes) -> Item | None:
        """The value with its flags, cas version and expiry (memcached's view).

        Like every memcached view, it sees strings only: a container key looks absent.
        """
        value = self._string_view(key)
        if value is None:
            return None
        flags, cas = self._cas(key)
        return Item(value, flags, cas, self._expires.get(key))

    def get_meta(self, key: bytes) -> tuple[int, int, int] | None:
        """``(length, flags, cas)`` of a live string ``key`` without reading its value."""
        value = self._live(key) if key not in self._containers else None
        if value is None:
            return None
        flags, cas = self._cas(key)
        return len(value), flags, cas

    def expire_time(self, key: bytes) -> int:
        """The unix ms at which ``key`` expires, :data:`NO_EXPIRY` or :data:`NO_KEY`."""
        if self._live_any(key) is None:
            return NO_KEY
        return self._expires.get(key, NO_EXPIRY)

    # -- writes ---------------------------------------------------------------

    def set(
        self,
        key: bytes,
        value: bytes,
        *,
        expire_at: int | None = None,
        keep_ttl: bool = False,
        flags: int = 0,
        event: bytes = b"set",
    ) -> None:
        """Store ``value``; drop the old expiry unless ``keep_ttl``, or set ``expire_at``.

        ``event`` is what the observers are told (then ``expire`` with ``expire_at``).

        An ``expire_at`` already in the past leaves the key absent.
        """
        data = self._data
        if keep_ttl and self._expires:
            self._live_any(key)  # an expired key must not pass its expiry on
        if self._watched:
            self._touch_watched(key)
        new = key not in data
        if new and self._containers and self._containers.pop(key, None) is not None:
            new = False
        if new and self._index is not None:
            self._index.add(key)
        data[key] = value
        if expire_at is not None:
            self._set_expiry(key, expire_at)
        elif not keep_ttl and self._expires:
            self._expires.pop(key, None)
        if flags:
            self._meta[key] = (flags, 0)
            self._plain_puts = False
        elif self._meta:
            self._meta.pop(key, None)
        if self._observers:
            self._notify(event, key)
            if expire_at is not None:  # SET EX, SETEX: Redis tells both
                self._notify(b"expire", key)

    def put(self, key: bytes, value: bytes) -> None:
        """``set(key, value)``: store ``value`` without expiry or flags (Redis's plain SET)."""
        # One attribute on the common path: SET's cost is mostly per-command overhead.
        if not self._plain_puts and not self._only_strings():
            self.set(key, value)
        else:  # nothing else to update
            self._data[key] = value
            if self._observers:
                puts = self._puts
                if puts is not None and len(self._observers) == 1:  # a log's (see observe)
                    if not puts:
                        self._puts_begun()
                    puts.append(key)
                    puts.append(value)
                else:
                    self._notify(b"set", key)

    def _only_strings(self) -> bool:
        """Whether a plain put only stores (no expiry, flags, container, watch or index
        anywhere); remembered in ``_plain_puts`` until a write adds one of those."""
        self._plain_puts = not (
            self._watched
            or self._expires
            or self._meta
            or self._index is not None
            or self._containers
        )
        return self._plain_puts

    def check_and_set(
        self, key: bytes, value: bytes, cas: int, *, flags: int = 0, expire_at: int | None = None
    ) -> CasOutcome:
        """memcached's ``cas``: store only if the item's cas version is still ``cas``."""
        item = self.get_item(key)
        if item is None:
            return CasOutcome.NOT_FOUND
        if item.cas != cas:
            return CasOutcome.EXISTS
        self.set(key, value, expire_at=expire_at, flags=flags)
        return CasOutcome.STORED

    def delete(self, key: bytes, event: bytes = b"del") -> bool:
        """Remove ``key`` (of any type); whether a live value was removed.

        ``event`` is what observers hear (MOVE's ``move_from``).
        """
        if self._live_any(key) is None:
            return False
        self._remove(key)
        if self._observers:
            self._notify(event, key)
        return True

    def pop(self, key: bytes) -> bytes | None:
        """Remove ``key`` and return its value (``GETDEL``)."""
        value = self._live(key)
        if value is None:
            return None
        self._remove(key)
        if self._observers:
            self._notify(b"del", key)
        return value if type(value) is bytes else bytes(value)

    def expire_at(self, key: bytes, when: int) -> bool:
        """Make ``key`` expire at unix ms ``when`` (a past time deletes it); whether it exists."""
        if self._live_any(key) is None:
            return False
        if when <= self.clock():  # Redis deletes at once and calls it a DEL
            self._remove(key)
            if self._observers:
                self._notify(b"del", key)
            return True
        self._set_expiry(key, when)
        self._modified(key)
        if self._observers:
            self._notify(b"expire", key)
        return True

    def persist(self, key: bytes) -> bool:
        """Remove the expiry of ``key``; whether it had one."""
        if self._live_any(key) is None or self._expires.pop(key, None) is None:
            return False
        self._modified(key)
        if self._watched:
            self._touch_watched(key)
        if self._observers:
            self._notify(b"persist", key)
        return True

    def incr_by(self, key: bytes, delta: int) -> int:
        """Add ``delta`` to the decimal integer at ``key`` (missing: 0); keeps the expiry.

        Raises :class:`NotAnInteger` or :class:`IntegerOverflow` (Redis's rules).
        """
        old = self._live(key)
        current = 0
        if old is not None:
            parsed = parse_int64(old)
            if parsed is None:
                raise NotAnInteger(key)
            current = parsed
        result = current + delta
        if not _LLONG_MIN <= result <= _LLONG_MAX:
            raise IntegerOverflow(key)
        self._replace(key, b"%d" % result, old is None)
        if self._observers:
            self._notify(b"incrby", key)
        return result

    def append(self, key: bytes, suffix: bytes) -> int:
        """Append ``suffix`` (missing key: create it); the new length. Keeps the expiry.

        Amortised O(len(suffix)): the value grows in place.
        """
        value = self._mutable(key)
        if value is None:
            self._replace(key, bytes(suffix), True)
            size = len(suffix)
        else:
            value += suffix
            self._changed(key)
            size = len(value)
        if self._observers:
            self._notify(b"append", key)
        return size

    def prepend(self, key: bytes, prefix: bytes) -> int | None:
        """Put ``prefix`` before the value of a live ``key``; the new length, or ``None``.

        O(length of the value): the old bytes move up, in place.
        """
        value = self._mutable(key)
        if value is None:
            return None
        value[:0] = prefix
        self._changed(key)
        if self._observers:
            self._notify(b"prepend", key)
        return len(value)

    def set_range(self, key: bytes, offset: int, chunk: bytes) -> int:
        """Overwrite from ``offset`` (zero-padding as needed); the new length. Keeps the expiry.

        O(len(chunk)) plus any padding, amortised: the value changes in place.
        """
        value = self._mutable(key)
        if value is None:
            created = bytes(offset) + chunk
            self._replace(key, created, True)
            size = len(created)
        else:
            if offset > len(value):
                value.extend(bytes(offset - len(value)))
            value[offset : offset + len(chunk)] = chunk
            self._changed(key)
            size = len(value)
        if self._observers:
            self._notify(b"setrange", key)
        return size

    def rename(self, source: bytes, target: bytes) -> bool:
        """Move ``source`` (any type, with its expiry and flags) to ``target``; False if missing."""
        value = self._live_any(source)
        if value is None:
            return False
        if source == target:
            return True
        when = self._expires.get(source)
        flags = self._meta.get(source, (0, 0))[0]
        self._remove(source)
        if self._observers:
            self._notify(b"rename_from", source)
        self._insert(target, value, when)  # the value object moves as it is
        if flags:
            self._meta[target] = (flags, 0)
            self._plain_puts = False
        if self._observers:
            self._notify(b"rename_to", target)
        return True

    def flush(self) -> None:
        """Remove every key."""
        for key in self._watched:
            if key in self._data or key in self._containers:
                self._touch_watched(key)
        self._data.clear()
        self._containers.clear()
        self._expires.clear()
        self._heap.clear()
        self._meta.clear()
        if self._index is not None:
            self._index = _ScanIndex(())
        if self._observers:
            self._notify(b"flushdb", b"")

    # -- WATCH ------------------------------------------------------------------

    def watch(self, key: bytes) -> int:
        """Start watching ``key``; its version, which every later write to it changes.

        Writes, expiry changes, deletions and expiring all count (Redis's
        ``signalModifiedKey``). Each call must be paired with :meth:`unwatch`.
        """
        self._live_any(key)  # a key already expired is gone before the watch starts
        entry = self._watched.get(key)
        if entry is None:
            entry = self._watched[key] = [0, 0]
            self._plain_puts = False
        entry[0] += 1
        return entry[1]

    def watch_version(self, key: bytes) -> int:
        """The current version of a watched ``key`` (expiring it first if it is due)."""
        self._live_any(key)
        return self._watched[key][1]

    def unwatch(self, key: bytes) -> None:
        """Stop one watch of ``key``."""
        entry = self._watched[key]
        entry[0] -= 1
        if not entry[0]:
            del self._watched[key]

    # -- iteration ------------------------------------------------------------

    def keys(self, pattern: bytes = b"*") -> list[bytes]:
        """Live keys matching the Redis glob ``pattern`` (see :func:`glob_match`)."""
        now = self.clock()
        expires = self._expires
        every = itertools.chain(self._data, self._containers) if self._containers else self._data
        if pattern == b"*":
            found = list(every)
        else:
            match = compile_glob(pattern)
            found = [key for key in every if match(key)]
        if expires:
            found = [key for key in found if expires.get(key, now + 1) > now]
        return found

    def scan(
        self, cursor: int, count: int = 10, pattern: bytes | None = None
    ) -> tuple[int, list[bytes]]:
        """Visit up to ``count`` keys from ``cursor``; the next cursor (0: done) and matches.

        Every key present during a whole iteration (cursor 0 to 0) is returned
        once, whatever is added or removed meanwhile.
        """
        index = self._enable_index()
        keys = index.keys
        position = index.start(cursor)
        stop = min(len(keys), position + max(count, 1))
        match = None if pattern is None or pattern == b"*" else compile_glob(pattern)
        visited = [key for key in keys[position:stop] if key is not None]
        # Serials survive compaction, which expiring keys below may trigger.
        next_cursor = index.serials[stop] if stop < len(keys) else 0
        found = [key for key in visited if (match is None or match(key)) and self.exists(key)]
        return next_cursor, found

    def random_key(self) -> bytes | None:
        """A random live key, or ``None`` when the store is empty."""
        while self._data or self._containers:
            index = self._enable_index()
            key = index.keys[self._rng.randrange(len(index.keys))]
            if key is not None and self.exists(key):
                return key
        return None

    def sample_keys(self, count: int, volatile: bool, rng: random.Random) -> list[bytes]:
        """Up to ``count`` keys picked at random (repeats possible, expired keys included):
        eviction's sample (Redis's ``dictGetSomeKeys``); ``volatile``: keys with an expiry."""
        if volatile:
            expires = self._expires
            if not expires:
                return []
            entries = self._heap  # holds every key with an expiry (and some stale entries)
            found = []
            for _ in range(4 * count):
                when, key = entries[rng.randrange(len(entries))]
                if expires.get(key) == when:
                    found.append(key)
                    if len(found) == count:
                        break
            return found or list(itertools.islice(expires, count))
        if not self._data and not self._containers:
            return []
        keys = self._enable_index().keys
        found = []
        for _ in range(4 * count):
            picked = keys[rng.randrange(len(keys))]
            if picked is not None:
                found.append(picked)
                if len(found) == count:
                    break
        return found or list(itertools.islice(itertools.chain(self._data, self._containers), count))

    # -- expiry ---------------------------------------------------------------

    def sweep(self, max_keys: int = 20) -> int:
        """Remove up to ``max_keys`` expired keys, soonest first; how many were removed.

        The work is bounded: at most ``4 * max_keys`` heap entries are looked at.
        """
        heap = self._heap
        expires = self._expires
        now = self.clock()
        removed = 0
        budget = 4 * max_keys
        while heap and removed < max_keys and budget > 0:
            budget -= 1
            when, key = heap[0]
            if when > now:
                break
            heapq.heappop(heap)
            if expires.get(key) == when and (key in self._data or key in self._containers):
                self._expire(key)
                removed += 1
        return removed

    # -- internals ------------------------------------------------------------

    def _live(self, key: bytes) -> bytes | bytearray | None:
        """The string at ``key`` as it is (never to leave the store), expiring it if due.

        Raises :class:`WrongType` when ``key`` holds a live container.
        """
        value = self._data.get(key)
        if value is None:
            if self._containers and self._live_any(key) is not None:
                raise WrongType(key)
            return None
        if self._expires:
            when = self._expires.get(key)
            if when is not None and when <= self.clock():
                self._expire(key)
                return None
        return value

    def _live_any(self, key: bytes) -> object | None:
        """The value of ``key`` of any type, expiring it if due."""
        value: object | None = self._data.get(key)
        if value is None:
            value = self._containers.get(key)
            if value is None:
                return None
        if self._expires:
            when = self._expires.get(key)
            if when is not None and when <= self.clock():
                self._expire(key)
                return None
        return value

    def _insert(self, key: bytes, value: object, expire_at: int | None) -> None:
        """Put ``value`` (any type) at ``key``, replacing what is there, with ``expire_at``."""
        if self._live_any(key) is not None:
            self._remove(key)
        elif self._watched:
            self._touch_watched(key)
        if type(value) is bytes or type(value) is bytearray:
            self._data[key] = value
        else:
            self._containers[key] = value
            self._plain_puts = False
        if self._index is not None:
            self._index.add(key)
        if expire_at is not None:
            self._set_expiry(key, expire_at)

    def _notify(self, event: bytes, key: bytes) -> None:
        for observer in tuple(self._observers):
            observer(event, key)

    def _mutable(self, key: bytes) -> bytearray | None:
        """The value of a live ``key`` as a ``bytearray`` to change in place (copied once)."""
        value = self._live(key)
        if value is None or type(value) is bytearray:
            return value
        grown = self._data[key] = bytearray(value)
        return grown

    def _changed(self, key: bytes) -> None:
        """Bookkeeping after the value of ``key`` changed in place (WATCH, cas)."""
        if self._watched:
            self._touch_watched(key)
        if self._meta:
            self._modified(key)

    def _cas(self, key: bytes) -> tuple[int, int]:
        """``(flags, cas)`` of a live ``key``, handing out a cas version if it has none."""
        flags, cas = self._meta.get(key, (0, 0))
        if not cas:
            cas = self._new_cas(key, flags)
        return flags, cas

    def _new_cas(self, key: bytes, flags: int) -> int:
        """Hand ``key`` (with ``flags``) the next cas version, and tell ``on_cas``."""
        cas = self._next_cas
        self._next_cas = cas + 1
        self._meta[key] = (flags, cas)
        self._plain_puts = False
        if self.on_cas is not None:
            self.on_cas(key)
        return cas

    def _set_expiry(self, key: bytes, when: int) -> None:
        if self._watched:
            self._touch_watched(key)
        if when <= self.clock():
            self._expire(key)
            return
        self._expires[key] = when
        self._plain_puts = False
        heap = self._heap
        heapq.heappush(heap, (when, key))
        if len(heap) > 2 * len(self._expires) + 64:
            self._heap = [(w, k) for k, w in self._expires.items()]
            heapq.heapify(self._heap)

    def _replace(self, key: bytes, value: bytes, new: bool) -> None:
        if self._watched:
            self._touch_watched(key)
        if new and self._index is not None:
            self._index.add(key)
        self._data[key] = value
        if self._meta:
            self._modified(key)

    def _touch_watched(self, key: bytes) -> None:
        entry = self._watched.get(key)
        if entry is not None:
            entry[1] += 1

    def _modified(self, key: bytes) -> None:
        meta = self._meta.get(key)
        if meta is not None and meta[1]:
            self._meta[key] = (meta[0], 0)

    def _expire(self, key: bytes) -> None:
        self.expired_keys += 1
        self._remove(key)
        if self._observers:
            self._notify(b"expired", key)

    def _remove(self, key: bytes) -> None:
        if self._watched:
            self._touch_watched(key)
        if self._data.pop(key, None) is None:
            del self._containers[key]
        if self._expires:
            self._expires.pop(key, None)
        if self._meta:
            self._meta.pop(key, None)
        if self._index is not None:
            self._index.remove(key)

    def _enable_index(self) -> _ScanIndex:
        if self._index is None:
            self._index = _ScanIndex(itertools.chain(self._data, self._containers))
            self._plain_puts = False
        return self._index

    # -- memcached views (added for the memcached providers) -------------------

    def get_with_flags(self, key: bytes) -> tuple[bytes, int] | None:
        """The live string at ``key`` and its flags, without handing out a cas version."""
        value = self._string_view(key)
        if value is None:
            return None
        meta = self._meta.get(key) if self._meta else None
        return value, (0 if meta is None else meta[0])

    def get_with_cas(self, key: bytes) -> tuple[bytes, int, int] | None:
        """``(value, flags, cas)`` of a live string ``key``: :meth:`get_item` as a plain tuple."""
        value = self.read_item(key)
        if value is None:
            return None
        return value, self.item_flags, self.item_cas

    def read_item(self, key: bytes) -> bytes | None:
        """The live string at ``key`` (None: missing), its flags and cas version left in
        :attr:`item_flags` and :attr:`item_cas`: :meth:`get_with_cas` without a tuple.

        memcached's binary GET reads items with it: compiled, returning a tuple of three
        would box both numbers and build the tuple, and the caller unbox them again.
        """
        value = self._data.get(key)
        if value is None:
            return None  # missing, or a container (which memcached does not see)
        if type(value) is not bytes or (self._expires and key in self._expires):
            value = self.get(key)  # expired, or a bytearray to freeze
            if value is None:
                return None
        meta = self._meta.get(key)
        if meta is not None and meta[1]:
            self.item_flags, self.item_cas = meta
        else:  # no cas version yet: hand one out (_cas)
            flags = 0 if meta is None else meta[0]
            self.item_flags = flags
            self.item_cas = self._new_cas(key, flags)
        return value

    def set_item(self, key: bytes, value: bytes, flags: int, expire_at: int | None) -> int:
        """memcached's ``set``: store ``value`` with ``flags``; the item's new cas version.

        :meth:`set` then :meth:`get_with_cas` in one step (0 if ``expire_at`` is already
        past and the item is gone).
        """
        if (
            expire_at is None
            and not self._expires
            and not self._watched
            and not self._containers
            and not self._observers
            and self._index is None
        ):
            self._data[key] = value  # all that set() would do here, before its cas
        else:
            self.set(key, value, expire_at=expire_at, flags=flags)
            if key not in self._data:
                return 0
        return self._new_cas(key, flags)

    def restore_cas(self, key: bytes, cas: int) -> None:
        """Give string ``key`` the cas version ``cas`` (a log's replay); later ones are higher."""
        if cas and key in self._data:
            meta = self._meta.get(key)
            self._meta[key] = (0 if meta is None else meta[0], cas)
            self._plain_puts = False
        self.raise_next_cas(cas + 1)

    @property
    def next_cas(self) -> int:
        """The cas version the store hands out next."""
        return self._next_cas

    def raise_next_cas(self, floor: int) -> None:
        """Hand out no cas version below ``floor`` from now on (versions given before a restart)."""
        self._next_cas = max(self._next_cas, floor)

    def update(self, key: bytes, value: bytes, event: bytes = b"set") -> bool:
        """Replace the live string at ``key``, keeping its expiry and flags (its cas changes).

        ``event`` is what the observers are told (``incrbyfloat`` for INCRBYFLOAT).
        """
        if key in self._containers or self._live(key) is None:
            return False
        self._replace(key, value, False)
        if self._observers:
            self._notify(event, key)
        return True

    def touch(self, key: bytes, expire_at: int | None) -> bool:
        """Set the expiry of a live ``key`` (``None``: none) without changing its cas.

        memcached's ``touch``; an ``expire_at`` already past removes the key.
        A container key looks absent.
        """
        if key in self._containers or self._live(key) is None:
            return False
        if expire_at is None:
            if self._expires.pop(key, None) is not None and self._watched:
                self._touch_watched(key)
        else:
            self._set_expiry(key, expire_at)
        if self._observers and key in self._data:
            self._notify(b"expire", key)
        return True

    def read_string(self, key: bytes) -> bytes | bytearray | None:
        """The string at ``key`` as stored, without a copy (``BITCOUNT``, ``GETBIT``...).

        It may be a ``bytearray`` the store changes later: read it at once, never
        keep it. Raises :class:`WrongType` on a container.
        """
        return self._live(key)

    def edit_string(self, key: bytes, size: int) -> tuple[bytearray, bool]:
        """The string at ``key`` to change in place, zero-padded to at least ``size`` bytes.

        Created (``size`` zero bytes) when missing. Returns the ``bytearray`` and
        whether the key was created or grew (Redis's "dirty"). Call
        :meth:`string_written` after changing it. Raises :class:`WrongType`.
        """
        value = self._mutable(key)
        if value is None:
            created = bytearray(size)
            self._replace(key, b"", True)
            self._data[key] = created
            return created, True
        grew = len(value) < size
        if grew:
            value.extend(bytes(size - len(value)))
        return value, grew

    def string_written(self, key: bytes, event: bytes | None) -> None:
        """Bookkeeping after a string from :meth:`edit_string` changed (WATCH, cas, observers).

        ``event`` ``None``: a change Redis makes without announcing it (the cache
        inside a HyperLogLog that ``PFCOUNT`` refreshes); observers are not called.
        """
        self._changed(key)
        if self._observers and event is not None:
            self._notify(event, key)

    def _string_view(self, key: bytes) -> bytes | None:
        """:meth:`get` for the formats that only know strings: a container looks absent."""
        if self._containers and key in self._containers:
            return None
        return self.get(key)

    # -- containers (lists, hashes, sets, sorted sets, streams) ----------------

    def type_of(self, key: bytes) -> bytes:
        """``TYPE``: ``none``, ``string``, ``list``, ``hash``, ``set``..."""
        value = self._live_any(key)
        return b"none" if value is None else kind_name(value)

    def value_of(self, key: bytes) -> object | None:
        """The live value of ``key`` of any type, as stored (for COPY, DUMP, OBJECT).

        A string may come back as a ``bytearray`` the store still changes; copy it
        before keeping it.
        """
        return self._live_any(key)

    def read_container(self, key: bytes, kind: type[_C]) -> _C | None:
        """The live container of class ``kind`` at ``key``, or ``None`` when it is missing.

        Raises :class:`WrongType` when ``key`` holds another type. The caller
        may read it; after changing it, call :meth:`container_written`.
        """
        value = self._containers.get(key)
        if value is None:
            if key in self._data and self._live(key) is not None:
                raise WrongType(key)
            return None
        if self._expires:
            when = self._expires.get(key)
            if when is not None and when <= self.clock():
                self._expire(key)
                return None
        if type(value) is not kind:
            raise WrongType(key)
        return value

    def write_container(self, key: bytes, kind: type[_C]) -> _C:
        """The container of class ``kind`` at ``key``, created empty when missing.

        Raises :class:`WrongType` when ``key`` holds another type. A new
        container is in the keyspace at once: fill it, then call
        :meth:`container_written` (which removes it again if it stayed empty).
        """
        found = self.read_container(key, kind)
        if found is not None:
            return found
        created = kind()
        self._containers[key] = created
        self._plain_puts = False
        if self._index is not None:
            self._index.add(key)
        return created

    def container_written(self, key: bytes, event: bytes) -> None:
        """Bookkeeping after the container at ``key`` changed: WATCH, observers, emptiness.

        An empty container is removed, as Redis removes an empty list, hash,
        set or sorted set (streams may stay empty: pass ``keep_empty`` types via
        :meth:`set_value`). ``event`` is the keyspace-notification name.
        """
        if self._watched:
            self._touch_watched(key)
        value = self._containers.get(key)
        if self._observers:
            self._notify(event, key)
        if value is not None and not len(value) and type(value) not in _KEEP_EMPTY:  # type: ignore[arg-type]
            self._remove(key)
            if self._observers:
                self._notify(b"del", key)

    def set_value(self, key: bytes, value: object, *, expire_at: int | None = None) -> None:
        """Put ``value`` of any type at ``key``, replacing what is there (and its expiry).

        For RESTORE, COPY, SORT ... STORE, the *STORE commands and replays. The
        store owns ``value`` from now on. Observers are not called: the command
        knows the event name (see :meth:`notify`).
        """
        self._insert(key, value, expire_at)

    def notify(self, event: bytes, key: bytes) -> None:
        """Tell the observers about ``event`` on ``key`` (after a :meth:`set_value`)."""
        if self._observers:
            self._notify(event, key)

    def stored(self, key: bytes) -> tuple[object, int | None, int, int] | None:
        """``(value, expire_at, flags, cas)`` of ``key`` as stored, expired or not (for a log).

        ``cas`` is 0 until one is handed out.

        Unlike every read, it never expires the key nor calls observers. The
        value may be a ``bytearray`` the store still changes.
        """
        value: object | None = self._data.get(key)
        if value is None:
            value = self._containers.get(key)
            if value is None:
                return None
        meta = self._meta.get(key) if self._meta else None
        if meta is None:
            return value, self._expires.get(key), 0, 0
        return value, self._expires.get(key), meta[0], meta[1]

    def stored_strings(self, keys: list[bytes]) -> list[bytes | bytearray] | None:
        """The values of ``keys`` if each is a string without expiry, flags nor cas, else None.

        A log's fast path for a batch of plain writes (no Python step per key); like
        :meth:`stored`, no side effects, and a value may be a ``bytearray``.
        """
        if (self._expires and not self._expires.keys().isdisjoint(keys)) or (
            self._meta and not self._meta.keys().isdisjoint(keys)
        ):
            return None
        values = list(map(self._data.get, keys))
        return None if None in values else values  # type: ignore[return-value]

    def stored_keys(self) -> list[bytes]:
        """Every key held, expired or not (for a snapshot; see :meth:`stored`)."""
        return [*self._data, *self._containers]

    def container_keys(self) -> list[bytes]:
        """Keys holding containers (live or not yet expired lazily)."""
        return list(self._containers)

    # -- observers and databases ---------------------------------------------------

    def observe(
        self,
        observer: Observer,
        *,
        puts: list[bytes] | None = None,
        begun: Callable[[], None] | None = None,
    ) -> Callable[[], None]:
        """Call ``observer(event, key)`` after every write; returns the function that stops it.

        Observers run synchronously inside the write, after the store changed.
        They must not write to the store.

        ``puts`` (one observer of a store at most) is for a log: while ``observer`` is
        the store's only observer, a plain :meth:`put` (the key now holds that string,
        without expiry, flags nor cas) appends its key and value to ``puts`` instead of
        calling ``observer``, and calls ``begun()`` first if ``puts`` was empty (the log
        schedules its write). Every other write, and every put while other observers
        watch, calls ``observer``: a state read from the store after the puts is the
        one that holds.
        """
        if puts is not None and self._puts is not None:
            raise ValueError("another observer already records the puts")
        self._observers.append(observer)
        if puts is not None:
            self._puts = puts
            self._puts_begun = begun if begun is not None else _nothing

        def stop() -> None:
            if observer in self._observers:
                self._observers.remove(observer)
                if puts is not None:
                    self._puts = None
                    self._puts_begun = _nothing

        return stop

    def swap_with(self, other: Store) -> None:
        """Exchange every key (and its expiry and metadata) with ``other`` (``SWAPDB``).

        Clients that WATCH a key present in either store see it changed; each
        store keeps its observers and watches (they belong to the database number).
        """
        for store in (self, other):
            for key in store._watched:
                if any(key in keys for keys in (self._data, self._containers)) or any(
                    key in keys for keys in (other._data, other._containers)
                ):
                    store._touch_watched(key)
        for name in ("_data", "_containers", "_expires", "_heap", "_meta", "_index"):
            mine, theirs = getattr(self, name), getattr(other, name)
            setattr(self, name, theirs)
            setattr(other, name, mine)
        self._plain_puts = other._plain_puts = False  # the next put of each looks again


class Databases:
    """The numbered stores of one server (``SELECT``'s databases; 16 as in Redis).

    Database 0 is the one every other format (memcached, kvbin, FASTER) serves.
    """

    def __init__(self, first: Store | None = None, count: int = 16) -> None:
        base = first if first is not None else Store()
        self._stores = [base] + [Store(base.clock) for _ in range(count - 1)]

    def __len__(self) -> int:
        return len(self._stores)

    def __getitem__(self, index: int) -> Store:
        return self._stores[index]

    def __iter__(self) -> Iterator[Store]:
        return iter(self._stores)

    def swap(self, first: int, second: int) -> None:
        """``SWAPDB``: the two databases exchange their keys (the numbers stay put)."""
        if first != second:
            self._stores[first].swap_with(self._stores[second])
            # One event, on the first store, naming the second (an AOF logs the pair).
            self._stores[first].notify(b"swapdb", b"%d" % second)


# -- Redis glob patterns -------------------------------------------------------

_ANY = b"."


def _class_regex(members: set[int], negate: bool) -> bytes:
    if not members:
        return b"[\\x00-\\xff]" if negate else b"[^\\x00-\\xff]"
    body = b"".join(b"\\x%02x" % member for member in sorted(members))
    return (b"[^" if negate else b"[") + body + b"]"


def _glob_tokens(pattern: bytes) -> list[bytes | None]:
    """One regex per pattern position matching exactly one byte; ``None`` for a star.

    Follows Redis's ``stringmatchlen``: ``\\`` escapes, ``[...]`` with ``^``,
    ranges (ends in either order) and escapes, an unterminated ``[`` running
    to the end of the pattern. Bytes compare unsigned.
    """
    tokens: list[bytes | None] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == 42:  # '*'
            while i + 1 < n and pattern[i + 1] == 42:
                i += 1
            tokens.append(None)
        elif c == 63:  # '?'
            tokens.append(_ANY)
        elif c == 91:  # '['
            i += 1
            negate = i < n and pattern[i] == 94
            if negate:
                i += 1
            members: set[int] = set()
            while True:
                if i >= n:
                    i = n - 1
                    break
                if pattern[i] == 92 and n - i >= 2:
                    i += 1
                    members.add(pattern[i])
                elif pattern[i] == 93:
                    break
                elif n - i >= 3 and pattern[i + 1] == 45:
                    low, high = sorted((pattern[i], pattern[i + 2]))
                    members.update(range(low, high + 1))
                    i += 2
                else:
                    members.add(pattern[i])
                i += 1
            tokens.append(_class_regex(members, negate))
        else:
            if c == 92 and i + 1 < n:
                i += 1
                c = pattern[i]
            tokens.append(b"\\x%02x" % c)
        i += 1
    return tokens


@lru_cache(maxsize=256)
def compile_glob(pattern: bytes) -> Callable[[bytes], bool]:
    """A predicate for the Redis glob ``pattern``, linear-time on any subject.

    Segments between stars have a fixed length, so matching each middle one
    at its earliest position is optimal: atomic groups stop the regex engine
    from backtracking into them, which keeps patterns like ``*a*a*a*b``
    from blowing up.
    """
    segments: list[list[bytes]] = [[]]
    for token in _glob_tokens(pattern):
        if token is None:
            segments.append([])
        else:
            segments[-1].append(token)
    parts = [b"".join(segment) for segment in segments]
    if len(parts) == 1:
        regex = parts[0]
    else:
        middle = b"".join(b"(?>.*?" + part + b")" for part in parts[1:-1])
        regex = parts[0] + middle + b".*" + parts[-1]
    fullmatch = re.compile(regex, re.DOTALL).fullmatch
    empty_matches = not pattern

    def match(subject: bytes) -> bool:
        # Redis's matcher never enters its loop for an empty subject: only "" matches it.
        if not subject:
            return empty_matches
        return fullmatch(subject) is not None

    return match


def glob_match(pattern: bytes, subject: bytes) -> bool:
    """Whether ``subject`` matches the Redis glob ``pattern`` (``*``, ``?``, ``[...]``, ``\\``).

    As in Redis, an empty subject matches only the empty pattern (KEYS and
    SCAN treat a lone ``*`` as "everything" before matching).
    """
    return compile_glob(pattern)(subject)


# -- one store per registry ------------------------------------------------------

_SHARED_STORES: weakref.WeakKeyDictionary[object, Store] = weakref.WeakKeyDictionary()
_SHARED_DATABASES: weakref.WeakKeyDictionary[object, Databases] = weakref.WeakKeyDictionary()


def shared_databases(owner: object) -> Databases:
    """The 16 databases of ``owner`` (see :func:`shared_store`, which is database 0)."""
    store = shared_store(owner)
    databases = _SHARED_DATABASES.get(owner)
    if databases is None or databases[0] is not store:
        databases = _SHARED_DATABASES[owner] = Databases(store)
    return databases


def share_databases(owner: object, databases: Databases) -> Databases:
    """Make ``databases`` (and its database 0, see :func:`share_store`) the ones
    :func:`shared_databases` returns for ``owner`` from now on."""
    share_store(owner, databases[0])
    _SHARED_DATABASES[owner] = databases
    return databases


def shared_store(owner: object) -> Store:
    """The one :class:`Store` shared by every provider registered with ``owner``.

    ``owner`` is normally the :class:`~wireproto._registry.Registry` a plugin's
    ``register(registry)`` receives: the RESP and memcached providers loaded
    into one registry (one listener) then serve the same data, while two
    registries never share keys. The store lives as long as ``owner``.
    Providers reach each other's data only through it (see :func:`share_store`).
    """
    store = _SHARED_STORES.get(owner)
    if store is None:
        store = _SHARED_STORES[owner] = Store()
    return store


def attach_service(store: Store, name: str, value: object) -> None:
    """Attach ``value`` to ``store`` under ``name`` (e.g. ``"persistence"``: its log).

    How providers reach what another module of ``providers`` keeps for a store
    without importing that module (a RESP command finds the append-only log).
    """
    store.services[name] = value


def service(store: Store, name: str) -> object | None:
    """What :func:`attach_service` attached to ``store`` under ``name``, or ``None``."""
    return store.services.get(name)


def share_store(owner: object, store: Store) -> Store:
    """Make ``store`` the one :func:`shared_store` returns for ``owner`` from now on.

    A provider built with a store of its own calls it when it is registered
    with ``owner`` (RESP's ``register(registry, provider)`` does), so that the
    other providers of that registry, which bind their store when first
    needed, serve the same data.
    """
    _SHARED_STORES[owner] = store
    return store
