"""maxmemory for the shared store: memory accounting, access tracking and eviction.

One :class:`MemoryGuard` per set of :class:`~providers.kvstore.Databases` (the
server's 16 databases). While it is *armed* (``maxmemory`` above 0, or an LRU or
LFU policy chosen) it observes every store: each write re-estimates the size of
the key it touched (:func:`value_size`, :func:`key_size`), so :attr:`MemoryGuard.used`
is kept incrementally and always equals :meth:`MemoryGuard.recount`. It also keeps
each key's access information as Redis keeps it in the object's ``lru`` field: a
1-second LRU clock stamp, or under an LFU policy the last decrement time in
minutes and Redis's logarithmic 8-bit counter.

Unarmed, nothing observes the stores and the GET/SET paths pay nothing; accesses
are then not recorded and :meth:`MemoryGuard.idle_ms` answers an upper bound (the
last recorded access, or the start of the untracked period).

Eviction follows Redis 7.0's ``evict.c``: before a command runs, keys are
evicted until ``used <= maxmemory`` (exactly at the limit is fine, one byte
over is not); the approximated LRU, LFU and volatile-ttl policies sample
``maxmemory-samples`` keys per database into a 16-entry eviction pool sorted
by score and evict its best entry; the random policies pick a random key,
going round the databases. Evicted keys are deleted with the ``evicted``
event (keyspace notifications, the append-only log). When nothing can be
evicted (``noeviction``, or no candidate), :meth:`MemoryGuard.make_room`
says so and the caller refuses the write (``-OOM``, memcached's
``SERVER_ERROR out of memory storing object``).
"""

from __future__ import annotations

import itertools
import random
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .datatypes.zset import ZSet
from .kvstore import Databases, Store, attach_service, service

__all__ = [
    "ARMED",
    "EVPOOL_SIZE",
    "LFU_INIT_VAL",
    "POLICIES",
    "RECOUNT_LIMIT",
    "EvictionPool",
    "MemoryGuard",
    "Settings",
    "Switch",
    "estimate",
    "guard_of",
    "key_size",
    "lfu_decr",
    "lfu_log_incr",
    "recount",
    "register_size",
    "room_for_write",
    "sampled_size",
    "value_size",
]

EVPOOL_SIZE = 16
"""Entries of Redis's eviction pool."""
LFU_INIT_VAL = 5
"""The counter a new key starts with under an LFU policy (Redis's ``LFU_INIT_VAL``)."""
LRU_CLOCK_RESOLUTION_MS = 1000
"""Redis's LRU clock ticks once a second."""

POLICIES = (
    b"volatile-lru",
    b"volatile-lfu",
    b"volatile-random",
    b"volatile-ttl",
    b"allkeys-lru",
    b"allkeys-lfu",
    b"allkeys-random",
    b"noeviction",
)
"""``maxmemory-policy`` values, in the order Redis lists them."""

# -- sizes -----------------------------------------------------------------------------

KEY_OVERHEAD = 56
"""Bytes per key beside its name and value: the hash table entry, the value's object
header and the name's string header (Redis's ``dictEntry`` + ``robj`` + ``sds``)."""
EXPIRE_OVERHEAD = 32
"""Bytes for a key's entry in the expiry table."""
CONTAINER_OVERHEAD = 64
"""Bytes of an empty container's own structure."""
SAMPLED_ELEMENTS = 32
"""Containers are sized from their length and their first elements (at most this many)."""

_SIZERS: dict[type, Callable[[object], int]] = {}


def register_size(cls: type, size: Callable[[object], int]) -> None:
    """Estimate values of class ``cls`` with ``size(value)`` (beside :data:`CONTAINER_OVERHEAD`);
    :func:`sampled_size` helps with large ones."""
    _SIZERS[cls] = size


def sampled_size(elements: Iterable[object], count: int, size: Callable[[object], int]) -> int:
    """``count`` elements' estimated bytes: the first :data:`SAMPLED_ELEMENTS` measured, the
    rest taken to be of their average size (deterministic for a given value)."""
    if not count:
        return 0
    first = [size(element) for element in itertools.islice(elements, SAMPLED_ELEMENTS)]
    if not first:
        return 0
    return sum(first) * count // len(first)


def _list_element(element: object) -> int:
    return len(element) + 16 if isinstance(element, bytes | bytearray) else 24


def _set_member(element: object) -> int:
    return len(element) + 24 if isinstance(element, bytes | bytearray) else 24


def _zset_member(element: object) -> int:
    member = element[0] if isinstance(element, tuple) else b""
    return len(member) + 48 if isinstance(member, bytes) else 48


def value_size(value: object) -> int:
    """Estimated bytes of a stored value: a string's length; a container's structure plus
    its elements (lists 16, sets 24, hash fields 32, sorted-set members 48 bytes each
    beside their own bytes)."""
    kind = type(value)
    if kind is bytes or kind is bytearray:
        return len(value)  # type: ignore[arg-type]
    if kind is dict:
        table: dict[bytes, bytes] = value  # type: ignore[assignment]
        pairs = itertools.islice(table.items(), SAMPLED_ELEMENTS)
        first = [len(field) + len(item) + 32 for field, item in pairs]
        return CONTAINER_OVERHEAD + (sum(first) * len(table) // len(first) if first else 0)
    if kind is deque:
        items: deque[bytes] = value  # type: ignore[assignment]
        return CONTAINER_OVERHEAD + sampled_size(items, len(items), _list_element)
    if kind is set:
        members: set[bytes] = value  # type: ignore[assignment]
        return CONTAINER_OVERHEAD + sampled_size(members, len(members), _set_member)
    if kind is ZSet:
        zset: ZSet = value  # type: ignore[assignment]
        return CONTAINER_OVERHEAD + sampled_size(iter(zset), len(zset), _zset_member)
    sizer = _SIZERS.get(kind)
    if sizer is not None:
        return CONTAINER_OVERHEAD + sizer(value)
    count = len(value) if hasattr(value, "__len__") else 0
    return CONTAINER_OVERHEAD + 64 * count


def key_size(key: bytes, stored: tuple[object, int | None, int, int] | None) -> int:
    """Estimated bytes of one key as :meth:`Store.stored` returns it (0 when absent)."""
    if stored is None:
        return 0
    value, expire_at = stored[0], stored[1]
    size = KEY_OVERHEAD + len(key) + value_size(value)
    return size + EXPIRE_OVERHEAD if expire_at is not None else size


def recount(stores: Iterable[Store]) -> int:
    """The estimated bytes of every key of ``stores``, computed from scratch (O(keys))."""
    return sum(key_size(key, store.stored(key)) for store in stores for key in store.stored_keys())


RECOUNT_LIMIT = 10_000
"""Above this many keys in a store, :func:`estimate` samples it instead of recounting."""


def estimate(stores: Iterable[Store], rng: random.Random | None = None) -> int:
    """:func:`recount`, but a store of more than :data:`RECOUNT_LIMIT` keys is estimated
    from 1,000 randomly sampled keys (INFO while no guard keeps the account)."""
    rng = rng if rng is not None else random.Random()
    total = 0
    for store in stores:
        count = len(store)
        if count <= RECOUNT_LIMIT:
            total += sum(key_size(key, store.stored(key)) for key in store.stored_keys())
            continue
        sample = store.sample_keys(1000, False, rng)
        if sample:
            total += sum(key_size(key, store.stored(key)) for key in sample) * count // len(sample)
    return total


# -- LFU (evict.c) ------------------------------------------------------------------------


def lfu_minutes(now_ms: int) -> int:
    """Redis's ``LFUGetTimeInMinutes``: unix minutes, 16 bits."""
    return (now_ms // 60_000) & 65535


def lfu_decr(field: int, now_ms: int, decay_time: int) -> int:
    """``LFUDecrAndReturn``: the counter of ``field`` (``ldt << 8 | counter``) after decay."""
    ldt, counter = field >> 8, field & 255
    now = lfu_minutes(now_ms)
    elapsed = now - ldt if now >= ldt else 65535 - ldt + now
    periods = elapsed // decay_time if decay_time else 0
    return (0 if periods > counter else counter - periods) if periods else counter


def lfu_log_incr(counter: int, log_factor: int, rng: random.Random) -> int:
    """``LFULogIncr``: add one with probability ``1 / ((counter - 5) * log_factor + 1)``."""
    if counter == 255:
        return 255
    base = max(counter - LFU_INIT_VAL, 0)
    return counter + 1 if rng.random() < 1.0 / (base * log_factor + 1) else counter


# -- the pool -----------------------------------------------------------------------------


class EvictionPool:
    """Redis's ``EvictionPoolLRU``: at most 16 ``(score, db, key)`` sorted by ascending score.

    A higher score is a better candidate (idle time, 255 minus the LFU counter, or
    how soon the key expires). :meth:`insert` follows ``evictionPoolPopulate``.
    """

    __slots__ = ("entries",)

    def __init__(self) -> None:
        self.entries: list[tuple[int, int, bytes]] = []

    def insert(self, score: int, db: int, key: bytes) -> None:
        """Add a sampled key as ``evictionPoolPopulate`` does (the worst one drops out)."""
        entries = self.entries
        k = 0
        while k < len(entries) and entries[k][0] < score:
            k += 1
        if k == 0 and len(entries) == EVPOOL_SIZE:
            return  # worse than everything in a full pool
        if len(entries) < EVPOOL_SIZE:
            entries.insert(k, (score, db, key))
        else:  # full: drop the worst (leftmost) and insert just before k
            del entries[0]
            entries.insert(k - 1, (score, db, key))

    def pop_best(self) -> tuple[int, bytes] | None:
        """Remove and return ``(db, key)`` of the best entry, or ``None`` if empty."""
        if not self.entries:
            return None
        _, db, key = self.entries.pop()
        return db, key


# -- the guard ------------------------------------------------------------------------------


class Switch:
    """How many guards are armed in this process: the RESP session's fast path checks it."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0


ARMED = Switch()
"""While ``ARMED.count`` is non-zero, RESP commands take the path that tracks and evicts."""


@dataclass(frozen=True, slots=True)
class Settings:
    """The CONFIG parameters of maxmemory (Redis's defaults)."""

    maxmemory: int = 0
    policy: bytes = b"noeviction"
    samples: int = 5
    lfu_log_factor: int = 10
    lfu_decay_time: int = 1
    tenacity: int = 10
    """``maxmemory-eviction-tenacity``: kept and reported; evictions here are never cut short."""


class MemoryGuard:
    """maxmemory for ``databases``: the size account, access information and the evictor.

    ``clock`` is unix milliseconds (the stores' clock by default). Find the one of a
    set of databases with :func:`guard_of`.
    """

    def __init__(
        self,
        databases: Databases,
        clock: Callable[[], int] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.databases = databases
        self.clock: Callable[[], int] = clock if clock is not None else databases[0].clock
        self.rng = rng if rng is not None else random.Random()
        self.settings = Settings()
        self.used = 0
        """Estimated bytes of every key of every database (while armed)."""
        self.peak = 0
        self.evicted_keys = 0
        self.sizes: list[dict[bytes, int]] = [{} for _ in databases]
        self.access: list[dict[bytes, int]] = [{} for _ in databases]
        """Per database: key -> LRU clock (unix seconds) or, under LFU, ``ldt << 8 | counter``."""
        self.pool = EvictionPool()
        self._carried: int | None = None
        self._next_db = 0
        self._stops: list[Callable[[], None]] = []
        self.armed = False
        self.untracked_since = self.clock()
        """When the current period without access tracking began (creation, or the last
        disarm): every key was accessed at or after it, or has a recorded access."""

    # -- settings -------------------------------------------------------------------

    @property
    def lfu(self) -> bool:
        """Whether the policy is an LFU one (access information holds counters)."""
        return self.settings.policy.endswith(b"-lfu")

    def configure(
        self,
        *,
        maxmemory: int | None = None,
        policy: bytes | None = None,
        samples: int | None = None,
        lfu_log_factor: int | None = None,
        lfu_decay_time: int | None = None,
        tenacity: int | None = None,
    ) -> None:
        """Change settings (CONFIG SET); arms or disarms, converts access information
        between LRU and LFU as the policy changes, and evicts at once if over the limit."""
        old = self.settings
        self.settings = new = Settings(
            old.maxmemory if maxmemory is None else maxmemory,
            old.policy if policy is None else policy,
            old.samples if samples is None else samples,
            old.lfu_log_factor if lfu_log_factor is None else lfu_log_factor,
            old.lfu_decay_time if lfu_decay_time is None else lfu_decay_time,
            old.tenacity if tenacity is None else tenacity,
        )
        want = new.maxmemory > 0 or new.policy.endswith((b"-lru", b"-lfu"))
        was_lfu = old.policy.endswith(b"-lfu")
        if want and not self.armed:
            self._arm()
        elif not want and self.armed:
            self._disarm(was_lfu)
        elif self.armed and was_lfu != self.lfu:
            self._convert_access(was_lfu)
        self.pool.entries.clear()
        if self.armed and new.maxmemory:
            self.make_room()

    def _arm(self) -> None:
        self.armed = True
        ARMED.count += 1
        for db, store in enumerate(self.databases):
            self._stops.append(store.observe(self._observer(db, store)))
        self.recount_into_account()
        # Keys accessed while untracked: their last recorded access, or the start of the
        # untracked period (both no later than the true last access: an honest upper bound).
        since = self.untracked_since // LRU_CLOCK_RESOLUTION_MS
        self.access = [
            {key: access.get(key, since) for key in sizes}
            for sizes, access in zip(self.sizes, self.access, strict=True)
        ]
        if self.lfu:
            self._convert_access(False)

    def _disarm(self, was_lfu: bool) -> None:
        self.armed = False
        ARMED.count -= 1
        for stop in self._stops:
            stop()
        self._stops.clear()
        self.used = 0
        self.sizes = [{} for _ in self.databases]
        if was_lfu:
            self._convert_access(True)
        self.untracked_since = self.clock()

    def _convert_access(self, was_lfu: bool) -> None:
        """Switch the access information between LRU stamps and LFU fields.

        LFU to LRU: the field's decrement time (the minute of the last access) becomes
        the stamp, rounded down. LRU to LFU: every key starts at ``LFU_INIT_VAL``.
        """
        now = self.clock()
        if not was_lfu:
            fresh = lfu_minutes(now) << 8 | LFU_INIT_VAL
            self.access = [dict.fromkeys(access, fresh) for access in self.access]
            return
        minutes = now // 60_000

        def stamp(field: int) -> int:
            return (minutes - ((minutes & 65535) - (field >> 8)) % 65536) * 60

        self.access = [
            {key: stamp(field) for key, field in access.items()} for access in self.access
        ]

    def _fresh_access(self) -> int:
        now = self.clock()
        if self.lfu:
            return lfu_minutes(now) << 8 | LFU_INIT_VAL
        return now // LRU_CLOCK_RESOLUTION_MS

    # -- the account --------------------------------------------------------------------

    def recount(self) -> int:
        """The estimate recomputed from scratch over every key (what :attr:`used` must equal)."""
        return recount(self.databases)

    def recount_into_account(self) -> None:
        """Rebuild the per-key sizes from the stores."""
        self.sizes = [
            {key: key_size(key, store.stored(key)) for key in store.stored_keys()}
            for store in self.databases
        ]
        self.used = sum(sum(sizes.values()) for sizes in self.sizes)
        self.peak = max(self.peak, self.used)

    def dataset_bytes(self) -> int:
        """INFO's ``used_memory_dataset``: the account while armed, else :func:`estimate`."""
        return self.used if self.armed else estimate(self.databases, self.rng)

    def _observer(self, db: int, store: Store) -> Callable[[bytes, bytes], None]:
        def observe(event: bytes, key: bytes) -> None:
            if event == b"flushdb":
                self.used -= sum(self.sizes[db].values())
                self.sizes[db] = {}
                self.access[db] = {}
                return
            if event == b"swapdb":
                other = int(key)
                self.sizes[db], self.sizes[other] = self.sizes[other], self.sizes[db]
                self.access[db], self.access[other] = self.access[other], self.access[db]
                return
            if event in (b"rename_from", b"move_from"):  # the value keeps its lru
                self._carried = self.access[db].get(key)
            sizes = self.sizes[db]
            found = store.stored(key)
            size = key_size(key, found)
            self.used += size - sizes.get(key, 0)
            if found is None:
                sizes.pop(key, None)
                self.access[db].pop(key, None)
                return
            sizes[key] = size
            self.peak = max(self.peak, self.used)
            access = self.access[db]
            carried, self._carried = self._carried, None
            if carried is not None and event in (b"rename_to", b"move_to"):
                access[key] = carried
            elif key not in access:
                access[key] = self._fresh_access()
            elif not self.lfu:  # a write is an access; under LFU the lookup counted it
                access[key] = self.clock() // LRU_CLOCK_RESOLUTION_MS

        return observe

    # -- access --------------------------------------------------------------------------

    def touch(self, db: int, key: bytes) -> None:
        """Record an access to ``key`` (Redis's ``lookupKey`` updating ``lru``)."""
        access = self.access[db]
        field = access.get(key)
        if field is None:
            return  # not a key (a write creating it starts its information)
        if self.lfu:
            settings = self.settings
            now = self.clock()
            counter = lfu_decr(field, now, settings.lfu_decay_time)
            counter = lfu_log_incr(counter, settings.lfu_log_factor, self.rng)
            access[key] = lfu_minutes(now) << 8 | counter
        else:
            access[key] = self.clock() // LRU_CLOCK_RESOLUTION_MS

    def idle_ms(self, db: int, key: bytes) -> int:
        """Milliseconds since the last access to ``key`` (OBJECT IDLETIME times 1000).

        Unarmed, accesses are not recorded: the answer is the time since the key's last
        recorded access, or since the untracked period began (:attr:`untracked_since`):
        an upper bound on the key's idle time, never less than it.
        """
        now = self.clock()
        stamp = self.access[db].get(key)
        if stamp is None:
            return max(now - self.untracked_since, 0)
        if self.armed and self.lfu:
            return 0
        return max(now // LRU_CLOCK_RESOLUTION_MS - stamp, 0) * LRU_CLOCK_RESOLUTION_MS

    def frequency(self, db: int, key: bytes) -> int:
        """OBJECT FREQ: the decayed LFU counter of ``key`` (only meaningful under LFU)."""
        field = self.access[db].get(key)
        if field is None:
            return 0
        return lfu_decr(field, self.clock(), self.settings.lfu_decay_time)

    def set_access(self, db: int, key: bytes, *, idle_s: int = -1, freq: int = -1) -> None:
        """RESTORE's IDLETIME/FREQ (``objectSetLRUOrLFU``): ignored under the other policy."""
        if key not in self.access[db]:
            return
        now = self.clock()
        if self.lfu and freq >= 0:
            self.access[db][key] = lfu_minutes(now) << 8 | freq
        elif not self.lfu and idle_s >= 0:
            self.access[db][key] = now // LRU_CLOCK_RESOLUTION_MS - idle_s

    # -- eviction ---------------------------------------------------------------------------

    def over(self) -> bool:
        """Whether the account is over ``maxmemory`` (a limit of 0 is none)."""
        limit = self.settings.maxmemory
        return bool(limit) and self.used > limit

    def make_room(self) -> bool:
        """Evict until within ``maxmemory`` (``performEvictions``); False if that failed."""
        if not self.over():
            return True
        policy = self.settings.policy
        if policy == b"noeviction":
            return False
        while self.over():
            victim = self._pick(policy)
            if victim is None:
                return False
            db, key = victim
            if self.databases[db].delete(key, b"evicted"):
                self.evicted_keys += 1
        return True

    def _pick(self, policy: bytes) -> tuple[int, bytes] | None:
        volatile = policy.startswith(b"volatile-")
        if policy.endswith(b"-random"):
            count = len(self.databases)
            for _ in range(count):
                self._next_db = db = (self._next_db + 1) % count
                keys = self.databases[db].sample_keys(1, volatile, self.rng)
                if keys:
                    return db, keys[0]
            return None
        pool = self.pool
        while True:
            total = 0
            for db, store in enumerate(self.databases):
                keys = store.sample_keys(self.settings.samples, volatile, self.rng)
                total += len(keys)
                for key in keys:
                    pool.insert(self._score(policy, db, store, key), db, key)
            if not total:
                return None
            while True:
                best = pool.pop_best()
                if best is None:
                    break
                db, key = best
                store = self.databases[db]
                found = store.stored(key)
                if found is not None and (not volatile or found[1] is not None):
                    return db, key

    def _score(self, policy: bytes, db: int, store: Store, key: bytes) -> int:
        if policy.endswith(b"-ttl"):
            found = store.stored(key)
            expire_at = found[1] if found is not None else None
            return (1 << 64) - 1 - (expire_at if expire_at is not None else 0)
        field = self.access[db].get(key, 0)
        if policy.endswith(b"-lfu"):
            return 255 - lfu_decr(field, self.clock(), self.settings.lfu_decay_time)
        return self.idle_ms(db, key)


def room_for_write(store: Store) -> bool:
    """Whether a write to ``store`` may go ahead under its guard's maxmemory (evicting first):
    for the formats that write without RESP's check (memcached). True when no guard is armed."""
    if not ARMED.count:
        return True
    found = service(store, "memory")
    return not isinstance(found, MemoryGuard) or found.make_room()


def guard_of(databases: Databases) -> MemoryGuard:
    """The :class:`MemoryGuard` of ``databases`` (made on first use, kept on database 0)."""
    found = service(databases[0], "memory")
    if isinstance(found, MemoryGuard) and found.databases is databases:
        return found
    guard = MemoryGuard(databases)
    for store in databases:
        attach_service(store, "memory", guard)
    return guard
