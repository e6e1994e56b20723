"""The per-connection receive buffer.

One ``bytearray`` with a read index and a write index, FASTER's way: a session
consumes from the head by moving the read index, and at the end of each read
batch :meth:`ReceiveBuffer.compact` moves the leftover bytes (at most one
partial message) to the head. When less than a quarter of the buffer is free
for the next receive it doubles, up to ``max_size``; once a large message is
gone it shrinks back to its initial size.

Growing and shrinking allocate a new ``bytearray`` rather than resizing in
place, so a view a buggy session kept can never make a resize fail
(``BufferError``) or point at freed memory, and the buffer can keep one
``memoryview`` of its bytearray and slice it instead of creating views per
call. ``benchmarks/buffer.py`` compares this with a lazy move to the head,
a move on every consume, and ``del bytearray[:n]``.
"""

from __future__ import annotations

__all__ = ["BufferFull", "ReceiveBuffer"]

DEFAULT_INITIAL_SIZE = 16 * 1024


class BufferFull(Exception):
    """The unread bytes fill a buffer that may not grow any more."""


class ReceiveBuffer:
    """A growable receive buffer with a hard cap.

    The shell asks :meth:`writable` for a region, the transport fills part of
    it, and :meth:`commit` records how much. :meth:`unread` views the bytes not
    yet consumed, :meth:`consume` drops bytes from the head, and
    :meth:`compact` ends a batch.
    """

    __slots__ = ("_buf", "_end", "_initial_size", "_max_size", "_start", "_view")

    def __init__(self, initial_size: int = DEFAULT_INITIAL_SIZE, max_size: int = 1 << 20) -> None:
        if initial_size < 1:
            raise ValueError("initial_size must be at least 1")
        if max_size < 1:
            raise ValueError("max_size must be at least 1")
        self._max_size = max_size
        self._initial_size = min(initial_size, max_size)
        self._buf = bytearray(self._initial_size)
        self._view = memoryview(self._buf)
        self._start = 0
        self._end = 0

    def __len__(self) -> int:
        """The number of unread bytes."""
        return self._end - self._start

    def __repr__(self) -> str:
        return (
            f"ReceiveBuffer(unread={len(self)}, capacity={self.capacity}, "
            f"initial_size={self._initial_size}, max_size={self._max_size})"
        )

    @property
    def capacity(self) -> int:
        """Bytes currently allocated."""
        return len(self._buf)

    @property
    def initial_size(self) -> int:
        """The capacity the buffer starts with and shrinks back to."""
        return self._initial_size

    @property
    def max_size(self) -> int:
        """The capacity the buffer never grows past."""
        return self._max_size

    @max_size.setter
    def max_size(self, value: int) -> None:
        # A new cap applies to future growth; bytes already held are kept.
        if value < 1:
            raise ValueError("max_size must be at least 1")
        self._max_size = value

    @property
    def is_full(self) -> bool:
        """True when the unread bytes reach ``max_size``: nothing more can be received."""
        return self._end - self._start >= self._max_size

    def growth(self) -> int:
        """The bytes the next :meth:`writable` will add to the capacity (0: none)."""
        capacity = len(self._buf)
        free = capacity - (self._end - self._start)  # once the leftovers are at the head
        if free < (capacity >> 2 or 1) and capacity < self._max_size:
            return min(capacity * 2, self._max_size) - capacity
        return 0

    def writable(self) -> memoryview:
        """The region the next receive writes into (never empty).

        Moves leftovers to the head if :meth:`compact` was not called, and
        doubles the buffer when less than a quarter of it is free; raises
        :class:`BufferFull` when the unread bytes already fill ``max_size``.
        """
        if self._start:
            self._move_to_head()
        capacity = len(self._buf)
        if capacity - self._end < (capacity >> 2 or 1) and capacity < self._max_size:
            self._reallocate(min(capacity * 2, self._max_size))
        # The region never lets the unread bytes pass max_size, even when the
        # cap was lowered below the capacity already allocated.
        limit = min(len(self._buf), self._max_size)
        if self._end >= limit:
            raise BufferFull(f"{self._end} unread bytes fill the {self._max_size}-byte limit")
        return self._view[self._end : limit]

    def commit(self, nbytes: int) -> None:
        """Record that ``nbytes`` were written at the start of the last :meth:`writable`."""
        if not 0 <= nbytes <= len(self._buf) - self._end:
            raise ValueError(f"commit of {nbytes} bytes exceeds the writable region")
        self._end += nbytes

    def unread(self, limit: int | None = None) -> memoryview:
        """A view of the unread bytes (at most ``limit``), valid until the buffer changes."""
        if limit is None or self._end - self._start <= limit:
            return self._view[self._start : self._end]
        return self._view[self._start : self._start + limit]

    def consume(self, nbytes: int) -> int:
        """Drop ``nbytes`` from the head; the number of unread bytes left."""
        start = self._start + nbytes
        end = self._end
        if not self._start <= start <= end:
            raise ValueError(f"cannot consume {nbytes} of {end - self._start} unread bytes")
        if start == end:
            self._start = self._end = 0
            return 0
        self._start = start
        return end - start

    def compact(self) -> None:
        """End a batch: move the leftovers to the head; shrink once a large message is gone.

        A buffer twice its initial size shrinks only when empty, so a stream
        of messages just over the initial size does not reallocate on every
        batch.
        """
        unread = self._end - self._start
        capacity = len(self._buf)
        if capacity > self._initial_size and (
            unread == 0 or (capacity > 2 * self._initial_size and unread <= self._initial_size >> 1)
        ):
            self._reallocate(self._initial_size)
        elif self._start:
            self._move_to_head()

    def _move_to_head(self) -> None:
        unread = self._end - self._start
        # memoryview slice assignment is a memmove: no temporary copy.
        self._view[:unread] = self._view[self._start : self._end]
        self._start, self._end = 0, unread

    def _reallocate(self, capacity: int) -> None:
        unread = self._end - self._start
        new = bytearray(capacity)
        new[:unread] = self._view[self._start : self._end]
        self._buf = new
        self._view = memoryview(new)
        self._start, self._end = 0, unread
