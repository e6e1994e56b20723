"""Receive-buffer strategies compared on identical framed-message workloads.

Run from the repository root::

    .venv/bin/python benchmarks/buffer.py            # full run, 9 timed runs each
    .venv/bin/python benchmarks/buffer.py --quick    # smaller streams, 5 timed runs

Every strategy exposes the interface of :class:`wireproto._buffer.ReceiveBuffer`
(``writable``/``commit``/``unread``/``consume``/``compact``) and is driven by
the same loop, the one ``Connection`` runs: a simulated socket copies the next
chunk of a pre-built stream into the writable region (what ``recv_into`` does,
without the system call), then a consumer takes whole messages (4-byte
big-endian length prefix, read with ``struct.unpack_from`` on a memoryview) one
at a time until it needs more, and the batch ends with ``compact()`` for the
strategies that have one.

Strategies: (a) ``ReceiveBuffer`` as shipped (leftovers moved to the head in
``compact()`` once per batch, one cached memoryview, shrink with hysteresis);
(a0) the previous shipped version, lazy move and no cached view; (a+) (a0)
with a cached memoryview; (b) and (b') (a0)'s indexes with leftovers moved to
the head at the next receive or on every consume; (c) a scratch receive
region appended to a bytearray consumed with ``del buf[:n]``; (d) ``bytes``
concatenation, the quadratic baseline.

Before anything is timed, each strategy is run once on each workload with
every payload collected, and the payloads are asserted equal to the ones the
stream was built from. That run also records the capacities reported in the
table. See ``benchmarks/README.md`` for figures and conclusions.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import random
import statistics
import struct
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

# Runnable as a script from the repository root without installing the package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from wireproto._buffer import BufferFull, ReceiveBuffer

KIB = 1024
MIB = 1024 * KIB
INITIAL_SIZE = 16 * KIB  # wireproto's default initial receive buffer
MAX_SIZE = 8 * MIB  # above the largest message of the "large" workload
SCRATCH_SIZE = 64 * KIB  # recv_into target of the strategies that append a copy
HEADER = struct.Struct(">I")
_EMPTY_BYTEARRAY_SIZEOF = bytearray().__sizeof__()


class Strategy(Protocol):
    """What the driver needs: ReceiveBuffer's interface plus its capacity."""

    def __len__(self) -> int: ...

    @property
    def capacity(self) -> int: ...

    def writable(self) -> memoryview: ...

    def commit(self, nbytes: int) -> None: ...

    def unread(self, limit: int | None = None) -> memoryview: ...

    def consume(self, nbytes: int) -> None: ...

    def compact(self) -> None: ...


class LazyMoveBuffer:
    """Strategy (a0): the previous shipped ReceiveBuffer, lazy move and no cached view.

    The code of ``wireproto/_buffer.py`` before commit 1b55cbe (the properties
    the driver does not use left out). Consuming only moves the read index;
    the unread bytes go to the head when the tail is under a quarter of the
    buffer and they fill at most half of it, otherwise the buffer doubles.
    It shrinks in :meth:`consume` as soon as 8 KiB or less is unread. Two
    changes, both also made to (a+), (b), (c) and (d) so the driver can treat
    every strategy alike: :meth:`unread` takes ``limit`` as the shipped one
    does, and :meth:`compact` exists but is never called.
    """

    __slots__ = ("_buf", "_end", "_initial_size", "_max_size", "_start")

    def __init__(self, initial_size: int, max_size: int) -> None:
        self._max_size = max_size
        self._initial_size = min(initial_size, max_size)
        self._buf = bytearray(self._initial_size)
        self._start = 0
        self._end = 0

    def __len__(self) -> int:
        """The number of unread bytes."""
        return self._end - self._start

    @property
    def capacity(self) -> int:
        """Bytes currently allocated."""
        return len(self._buf)

    def writable(self) -> memoryview:
        """Move the unread bytes to the head or double when the tail is short; the tail."""
        capacity = len(self._buf)
        if capacity - self._end < (capacity >> 2 or 1):
            unread = self._end - self._start
            if unread <= capacity >> 1:
                self._move_to_head()
            elif capacity < self._max_size:
                self._reallocate(min(capacity * 2, self._max_size))
            elif unread < capacity:
                self._move_to_head()
            else:
                raise BufferFull(f"{unread} unread bytes fill the {self._max_size}-byte limit")
        return memoryview(self._buf)[self._end :]

    def commit(self, nbytes: int) -> None:
        """Record that ``nbytes`` were written at the start of the last :meth:`writable`."""
        if not 0 <= nbytes <= len(self._buf) - self._end:
            raise ValueError(f"commit of {nbytes} bytes exceeds the writable region")
        self._end += nbytes

    def unread(self, limit: int | None = None) -> memoryview:
        """A view of the unread bytes (at most ``limit``)."""
        if limit is None or self._end - self._start <= limit:
            return memoryview(self._buf)[self._start : self._end]
        return memoryview(self._buf)[self._start : self._start + limit]

    def consume(self, nbytes: int) -> None:
        """Drop ``nbytes`` from the head; shrink once a large message is gone."""
        if not 0 <= nbytes <= self._end - self._start:
            raise ValueError(f"cannot consume {nbytes} of {self._end - self._start} unread bytes")
        self._start += nbytes
        if self._start == self._end:
            self._start = self._end = 0
            if len(self._buf) > self._initial_size:
                self._buf = bytearray(self._initial_size)
        elif len(self._buf) > self._initial_size and self._end - self._start <= (
            self._initial_size >> 1
        ):
            self._reallocate(self._initial_size)

    def compact(self) -> None:
        """Nothing to do: the move is lazy (never called by the driver)."""

    def _move_to_head(self) -> None:
        unread = self._end - self._start
        if self._start:
            # memoryview slice assignment is a memmove: no temporary copy.
            view = memoryview(self._buf)
            view[:unread] = view[self._start : self._end]
            view.release()
        self._start, self._end = 0, unread

    def _reallocate(self, capacity: int) -> None:
        unread = self._end - self._start
        new = bytearray(capacity)
        new[:unread] = memoryview(self._buf)[self._start : self._end]
        self._buf = new
        self._start, self._end = 0, unread


class CachedViewBuffer(LazyMoveBuffer):
    """Strategy (a+): (a0) keeping one memoryview of its bytearray.

    The proposal of the first version of this benchmark. Next to (a) it
    isolates the move policy: both slice a kept view, but (a+) moves leftovers
    lazily and shrinks in :meth:`consume` without hysteresis.
    """

    __slots__ = ("_view",)

    def __init__(self, initial_size: int, max_size: int) -> None:
        super().__init__(initial_size, max_size)
        self._view = memoryview(self._buf)

    def writable(self) -> memoryview:
        """As :meth:`LazyMoveBuffer.writable`, sliced from the kept view."""
        capacity = len(self._buf)
        if capacity - self._end < (capacity >> 2 or 1):
            unread = self._end - self._start
            if unread <= capacity >> 1:
                self._move_to_head()
            elif capacity < self._max_size:
                self._reallocate(min(capacity * 2, self._max_size))
            elif unread < capacity:
                self._move_to_head()
            else:
                raise BufferFull(f"{unread} unread bytes fill the {self._max_size}-byte limit")
        return self._view[self._end :]

    def unread(self, limit: int | None = None) -> memoryview:
        """As :meth:`LazyMoveBuffer.unread`, sliced from the kept view."""
        if limit is None or self._end - self._start <= limit:
            return self._view[self._start : self._end]
        return self._view[self._start : self._start + limit]

    def consume(self, nbytes: int) -> None:
        """As :meth:`LazyMoveBuffer.consume`, re-taking the view when the buffer shrinks."""
        if not 0 <= nbytes <= self._end - self._start:
            raise ValueError(f"cannot consume {nbytes} of {self._end - self._start} unread bytes")
        self._start += nbytes
        if self._start == self._end:
            self._start = self._end = 0
            if len(self._buf) > self._initial_size:
                self._buf = bytearray(self._initial_size)
                self._view = memoryview(self._buf)
        elif len(self._buf) > self._initial_size and self._end - self._start <= (
            self._initial_size >> 1
        ):
            self._reallocate(self._initial_size)

    def _move_to_head(self) -> None:
        unread = self._end - self._start
        if self._start:
            self._view[:unread] = self._view[self._start : self._end]
        self._start, self._end = 0, unread

    def _reallocate(self, capacity: int) -> None:
        unread = self._end - self._start
        new = bytearray(capacity)
        new[:unread] = self._view[self._start : self._end]
        self._buf = new
        self._view = memoryview(new)
        self._start, self._end = 0, unread


class EagerShiftBuffer:
    """Strategies (b) and (b'): (a0)'s indexes, but leftovers go to the head eagerly.

    With ``per_consume=False`` (b) the unread bytes are moved to the head once
    per batch, when the next receive asks for a region: the same bytes (a)
    moves in ``compact()``, but with a new memoryview per call and (a0)'s
    shrink rule. With ``per_consume=True`` (b') they are moved on every
    :meth:`consume`, as a naive "consume shifts the rest" does. Growth
    (doubling when the tail is under a quarter of the buffer) and shrinking
    copy (a0)'s policy so only the move policy differs from (a0).
    """

    __slots__ = ("_buf", "_end", "_initial_size", "_max_size", "_per_consume", "_start")

    def __init__(self, initial_size: int, max_size: int, *, per_consume: bool) -> None:
        self._initial_size = initial_size
        self._max_size = max_size
        self._per_consume = per_consume
        self._buf = bytearray(initial_size)
        self._start = 0
        self._end = 0

    def __len__(self) -> int:
        """The number of unread bytes."""
        return self._end - self._start

    @property
    def capacity(self) -> int:
        """Bytes currently allocated."""
        return len(self._buf)

    def writable(self) -> memoryview:
        """Shift leftovers to the head, double if still short of room, return the tail."""
        if self._start:
            self._move_to_head()
        capacity = len(self._buf)
        if capacity - self._end < (capacity >> 2 or 1):
            if capacity < self._max_size:
                self._reallocate(min(capacity * 2, self._max_size))
            elif self._end == capacity:
                raise BufferFull(f"{self._end} unread bytes fill the {self._max_size}-byte limit")
        return memoryview(self._buf)[self._end :]

    def commit(self, nbytes: int) -> None:
        """Record ``nbytes`` written at the start of the last region."""
        if not 0 <= nbytes <= len(self._buf) - self._end:
            raise ValueError(f"commit of {nbytes} bytes exceeds the writable region")
        self._end += nbytes

    def unread(self, limit: int | None = None) -> memoryview:
        """A view of the unread bytes (at most ``limit``)."""
        if limit is None or self._end - self._start <= limit:
            return memoryview(self._buf)[self._start : self._end]
        return memoryview(self._buf)[self._start : self._start + limit]

    def consume(self, nbytes: int) -> None:
        """Drop ``nbytes`` from the head (and shift the rest, if per consume)."""
        if not 0 <= nbytes <= self._end - self._start:
            raise ValueError(f"cannot consume {nbytes} of {self._end - self._start} unread bytes")
        self._start += nbytes
        if self._start == self._end:
            self._start = self._end = 0
            if len(self._buf) > self._initial_size:
                self._buf = bytearray(self._initial_size)
        elif len(self._buf) > self._initial_size and self._end - self._start <= (
            self._initial_size >> 1
        ):
            self._reallocate(self._initial_size)
        elif self._per_consume:
            self._move_to_head()

    def compact(self) -> None:
        """Nothing to do: :meth:`writable` or :meth:`consume` moves (never called)."""

    def _move_to_head(self) -> None:
        unread = self._end - self._start
        view = memoryview(self._buf)
        view[:unread] = view[self._start : self._end]
        view.release()
        self._start, self._end = 0, unread

    def _reallocate(self, capacity: int) -> None:
        unread = self._end - self._start
        new = bytearray(capacity)
        new[:unread] = memoryview(self._buf)[self._start : self._end]
        self._buf = new
        self._start, self._end = 0, unread


class DelSliceBuffer:
    """Strategy (c): receive into a scratch buffer, append, ``del buf[:n]`` to consume.

    CPython deletes a bytearray's head by advancing its start pointer and only
    compacts once more than half the allocation is dead, so consuming is
    amortised O(1). The price is a second copy of every byte (scratch to
    ``buf``) and that ``buf`` itself can never be the receive region: it is
    resized on every append and consume, which raises ``BufferError`` while
    any view of it is exported.
    """

    __slots__ = ("_buf", "_max_size", "_scratch", "_scratch_view")

    def __init__(self, scratch_size: int, max_size: int) -> None:
        self._buf = bytearray()
        self._max_size = max_size
        self._scratch = bytearray(scratch_size)
        self._scratch_view = memoryview(self._scratch)

    def __len__(self) -> int:
        """The number of unread bytes."""
        return len(self._buf)

    @property
    def capacity(self) -> int:
        """Bytes allocated: the bytearray's allocation (dead head included) plus scratch."""
        return self._buf.__sizeof__() - _EMPTY_BYTEARRAY_SIZEOF + len(self._scratch)

    def writable(self) -> memoryview:
        """The scratch region, cut to the room left under the cap."""
        room = self._max_size - len(self._buf)
        if room <= 0:
            raise BufferFull(f"{len(self._buf)} unread bytes fill the {self._max_size}-byte limit")
        if room >= len(self._scratch):
            return self._scratch_view
        return self._scratch_view[:room]

    def commit(self, nbytes: int) -> None:
        """Append the received bytes to the buffer."""
        self._buf += self._scratch_view[:nbytes]

    def unread(self, limit: int | None = None) -> memoryview:
        """A view of the unread bytes, at most ``limit`` (released before the next change)."""
        if limit is None or len(self._buf) <= limit:
            return memoryview(self._buf)
        return memoryview(self._buf)[:limit]

    def consume(self, nbytes: int) -> None:
        """Delete ``nbytes`` from the head."""
        del self._buf[:nbytes]

    def compact(self) -> None:
        """Nothing to do: CPython compacts the bytearray itself (never called)."""


class BytesConcatBuffer:
    """Strategy (d): immutable ``bytes``, ``buf += chunk`` and ``buf = buf[n:]``.

    Every receive and every consume copies everything still unread: quadratic.
    """

    __slots__ = ("_buf", "_scratch", "_scratch_view")

    def __init__(self, scratch_size: int) -> None:
        self._buf = b""
        self._scratch = bytearray(scratch_size)
        self._scratch_view = memoryview(self._scratch)

    def __len__(self) -> int:
        """The number of unread bytes."""
        return len(self._buf)

    @property
    def capacity(self) -> int:
        """Bytes held: the unread bytes plus scratch."""
        return len(self._buf) + len(self._scratch)

    def writable(self) -> memoryview:
        """The scratch region."""
        return self._scratch_view

    def commit(self, nbytes: int) -> None:
        """Concatenate the received bytes (a full copy)."""
        self._buf += self._scratch_view[:nbytes]

    def unread(self, limit: int | None = None) -> memoryview:
        """A view of the unread bytes (at most ``limit``)."""
        if limit is None or len(self._buf) <= limit:
            return memoryview(self._buf)
        return memoryview(self._buf)[:limit]

    def consume(self, nbytes: int) -> None:
        """Slice off the head (a full copy of the rest)."""
        self._buf = self._buf[nbytes:]

    def compact(self) -> None:
        """Nothing to do (never called)."""


@dataclass(frozen=True)
class Contender:
    """A strategy under test: table key, description, a fresh-instance factory.

    ``batch_end``: the driver calls ``compact()`` after each batch, as
    ``Connection`` does. Only the shipped buffer needs it; the others would
    pay for a call that does nothing.
    """

    key: str
    label: str
    factory: Callable[[], Strategy]
    batch_end: bool = False


CONTENDERS: tuple[Contender, ...] = (
    Contender(
        "a",
        "ReceiveBuffer (shipped)",
        lambda: ReceiveBuffer(INITIAL_SIZE, MAX_SIZE),
        batch_end=True,
    ),
    Contender("a0", "lazy move, no cached view", lambda: LazyMoveBuffer(INITIAL_SIZE, MAX_SIZE)),
    Contender("a+", "(a0) + cached memoryview", lambda: CachedViewBuffer(INITIAL_SIZE, MAX_SIZE)),
    Contender(
        "b",
        "eager shift per batch",
        lambda: EagerShiftBuffer(INITIAL_SIZE, MAX_SIZE, per_consume=False),
    ),
    Contender(
        "b'",
        "eager shift per consume",
        lambda: EagerShiftBuffer(INITIAL_SIZE, MAX_SIZE, per_consume=True),
    ),
    Contender("c", "del bytearray[:n] + scratch", lambda: DelSliceBuffer(SCRATCH_SIZE, MAX_SIZE)),
    Contender("d", "bytes concat (baseline)", lambda: BytesConcatBuffer(SCRATCH_SIZE)),
)


@dataclass(frozen=True)
class Workload:
    """A pre-built stream of framed messages and the size of each simulated receive."""

    name: str
    description: str
    read_size: int
    payloads: tuple[bytes, ...]
    stream: bytes


def _frame(payloads: Sequence[bytes]) -> bytes:
    return b"".join(HEADER.pack(len(p)) + p for p in payloads)


def _small_payloads(rng: random.Random, count: int) -> list[bytes]:
    # 60-196 byte payloads: 64-200 byte messages with the header.
    return [rng.randbytes(rng.randint(60, 196)) for _ in range(count)]


def build_workloads(rng: random.Random, *, quick: bool) -> list[Workload]:
    """The brief's four workloads plus "bulk" (steady large messages), seeded by ``rng``."""
    small_count = 10_000 if quick else 100_000
    medium_count = 300 if quick else 2_000
    large_cycles = 2 if quick else 4
    tail_count = 500 if quick else 2_000
    drip_count = 20 if quick else 50
    bulk_count = 12 if quick else 48

    small = _small_payloads(rng, small_count)
    medium = [rng.randbytes(rng.randint(4 * KIB - 4, 16 * KIB - 4)) for _ in range(medium_count)]
    large: list[bytes] = []
    for _ in range(large_cycles):
        large.append(rng.randbytes(rng.randint(1 * MIB, 4 * MIB)))
        large.extend(_small_payloads(rng, tail_count))
    drip = _small_payloads(rng, drip_count)
    bulk = [rng.randbytes(rng.randint(256 * KIB, 1 * MIB)) for _ in range(bulk_count)]

    specs: list[tuple[str, str, int, list[bytes]]] = [
        ("small", f"{small_count} msgs of 64-200 B, 16 KiB reads", 16 * KIB, small),
        ("medium", f"{medium_count} msgs of 4-16 KiB, 4 KiB reads", 4 * KIB, medium),
        (
            "large",
            f"{large_cycles} x (one 1-4 MiB msg + {tail_count} small), 64 KiB reads",
            64 * KIB,
            large,
        ),
        ("drip", f"{drip_count} msgs of 64-200 B, 1-byte reads", 1, drip),
        ("bulk", f"{bulk_count} back-to-back msgs of 256 KiB-1 MiB, 64 KiB reads", 64 * KIB, bulk),
    ]
    return [Workload(n, d, r, tuple(p), _frame(p)) for n, d, r, p in specs]


def drive(buffer: Strategy, stream: bytes, read_size: int, *, batch_end: bool) -> tuple[int, int]:
    """The timed loop: receive, consume whole messages, end the batch.

    Returns (messages, receives). Like ``Connection``, it asks for at most
    one maximal message (``unread(MAX_SIZE)``) and, with ``batch_end``, calls
    ``compact()`` once the consume loop is done.
    """
    unpack_from = HEADER.unpack_from
    source = memoryview(stream)
    total = len(source)
    pos = messages = receives = 0
    while pos < total:
        region = buffer.writable()
        nbytes = min(len(region), read_size, total - pos)
        region[:nbytes] = source[pos : pos + nbytes]  # what recv_into does
        buffer.commit(nbytes)
        pos += nbytes
        receives += 1
        while True:
            view = buffer.unread(MAX_SIZE)
            available = len(view)
            if available < 4:
                view.release()
                break
            end = 4 + unpack_from(view)[0]
            view.release()
            if available < end:
                break
            buffer.consume(end)
            messages += 1
        if batch_end:
            buffer.compact()
        # asyncio keeps the region alive until buffer_updated() returns; so do we.
        del region
    return messages, receives


@dataclass(frozen=True)
class Observation:
    """The untimed checking run: what came out and how much memory was held."""

    payloads: list[bytes]
    receives: int
    peak_capacity: int
    final_capacity: int
    capacity_changes: int


def drive_checked(
    buffer: Strategy, stream: bytes, read_size: int, *, batch_end: bool
) -> Observation:
    """:func:`drive` plus collecting every payload and watching the capacity."""
    unpack_from = HEADER.unpack_from
    source = memoryview(stream)
    total = len(source)
    pos = receives = changes = 0
    payloads: list[bytes] = []
    capacity = peak = buffer.capacity

    def watch() -> None:
        nonlocal capacity, peak, changes
        now = buffer.capacity
        if now != capacity:
            changes += 1
            capacity = now
            peak = max(peak, now)

    while pos < total:
        region = buffer.writable()
        watch()
        nbytes = min(len(region), read_size, total - pos)
        region[:nbytes] = source[pos : pos + nbytes]
        buffer.commit(nbytes)
        watch()
        pos += nbytes
        receives += 1
        while True:
            view = buffer.unread(MAX_SIZE)
            available = len(view)
            if available < 4:
                view.release()
                break
            end = 4 + unpack_from(view)[0]
            if available < end:
                view.release()
                break
            payloads.append(bytes(view[4:end]))
            view.release()
            buffer.consume(end)
            watch()
        if batch_end:
            buffer.compact()
            watch()
        del region
    assert len(buffer) == 0, f"{len(buffer)} bytes left unread"
    return Observation(payloads, receives, peak, buffer.capacity, changes)


def check_export_limit() -> None:
    """Show why (c) cannot be the region handed to asyncio's BufferedProtocol.

    asyncio's selector transport still holds the ``get_buffer()`` region while
    it calls ``buffer_updated()``; a bytearray with a view exported cannot be
    resized, so ``del buf[:n]`` there raises.
    """
    buf = bytearray(b"\0" * 64)
    region = memoryview(buf)[32:]
    try:
        del buf[:8]
    except BufferError:
        pass
    else:  # pragma: no cover - would mean CPython changed
        raise AssertionError("del bytearray[:n] succeeded with a view exported")
    finally:
        region.release()
    del buf[:8]  # fine once the view is gone


@dataclass(frozen=True)
class Result:
    """Timings and memory of one strategy on one workload."""

    workload: Workload
    contender: Contender
    times_ns: list[int]
    observation: Observation

    @property
    def median_ns(self) -> float:
        """Median wall time of the timed runs."""
        return statistics.median(self.times_ns)

    @property
    def spread(self) -> float:
        """(max - min) / median of the timed runs."""
        return (max(self.times_ns) - min(self.times_ns)) / self.median_ns


def run(workloads: Sequence[Workload], runs: int) -> list[Result]:
    """Check every strategy, then time them round-robin, ``runs`` times each."""
    check_export_limit()
    results: list[Result] = []
    for workload in workloads:
        observations: list[Observation] = []
        for contender in CONTENDERS:
            observation = drive_checked(
                contender.factory(),
                workload.stream,
                workload.read_size,
                batch_end=contender.batch_end,
            )
            assert observation.payloads == list(workload.payloads), (
                f"{contender.key} garbled {workload.name}"
            )
            observations.append(observation)
        times: list[list[int]] = [[] for _ in CONTENDERS]
        expected = len(workload.payloads)
        # Round -1 is an untimed warm-up of the timed loop (allocator, caches).
        for index in range(-1, runs):
            # Rotate the order so no strategy always runs first (or after the slowest).
            for offset in range(len(CONTENDERS)):
                slot = (index + offset) % len(CONTENDERS)
                contender = CONTENDERS[slot]
                buffer = contender.factory()
                batch_end = contender.batch_end
                gc.collect()
                started = time.perf_counter_ns()
                messages, receives = drive(
                    buffer, workload.stream, workload.read_size, batch_end=batch_end
                )
                elapsed = time.perf_counter_ns() - started
                assert messages == expected and len(buffer) == 0
                assert receives == observations[slot].receives
                if index >= 0:
                    times[slot].append(elapsed)
        results.extend(
            Result(workload, contender, slot_times, observation)
            for contender, slot_times, observation in zip(
                CONTENDERS, times, observations, strict=True
            )
        )
    return results


def _size(nbytes: int) -> str:
    if nbytes >= MIB:
        return f"{nbytes / MIB:.1f} MiB"
    if nbytes >= KIB:
        return f"{nbytes / KIB:.0f} KiB"
    return f"{nbytes} B"


def machine() -> list[str]:
    """A few lines describing where the figures came from."""
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return [
        f"python: {platform.python_implementation()} {sys.version.split()[0]}",
        f"platform: {platform.platform()}",
        f"cpu: {cpu}; nproc: {usable} (os.cpu_count: {os.cpu_count()})",
    ]


def report(results: Sequence[Result], runs: int) -> str:
    """The results as a Markdown table, one row per workload x strategy."""
    lines = [f"- {line}" for line in machine()]
    lines.append(f"- median of {runs} runs each; MB/s = 10^6 bytes of stream per second")
    lines.append("")
    lines.append(
        "| workload | strategy | median ms | MB/s | time vs (a) | spread | receives "
        "| peak capacity | final capacity | capacity changes |"
    )
    lines.append("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|")
    baseline: dict[str, float] = {
        r.workload.name: r.median_ns for r in results if r.contender.key == "a"
    }
    for r in results:
        obs = r.observation
        median_s = r.median_ns / 1e9
        lines.append(
            f"| {r.workload.name} | ({r.contender.key}) {r.contender.label} "
            f"| {r.median_ns / 1e6:.2f} | {len(r.workload.stream) / 1e6 / median_s:.1f} "
            f"| {r.median_ns / baseline[r.workload.name]:.2f}x | {r.spread:.0%} "
            f"| {obs.receives} | {_size(obs.peak_capacity)} | {_size(obs.final_capacity)} "
            f"| {obs.capacity_changes} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse options, build the workloads, check, time and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="smaller streams, 5 runs")
    parser.add_argument("--runs", type=int, default=None, help="timed runs per cell (>= 5)")
    parser.add_argument("--seed", type=int, default=20240601, help="workload RNG seed")
    args = parser.parse_args(argv)
    runs: int = args.runs if args.runs is not None else (5 if args.quick else 9)
    if runs < 5:
        parser.error("--runs must be at least 5")
    workloads = build_workloads(random.Random(args.seed), quick=args.quick)
    for w in workloads:
        print(f"# {w.name}: {w.description}; stream {_size(len(w.stream))}", file=sys.stderr)
    print(report(run(workloads, runs), runs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
