"""The per-connection receive buffer.

One ``bytearray`` with a read index and a write index. Consuming only moves
the read index; the unread bytes are moved to the head lazily, when the tail
is too small for a useful read and moving costs at most half the buffer.
When the unread bytes fill more than half the buffer the buffer doubles, up
to ``max_size``; once a large message is consumed it shrinks back to its
initial size. Growing and shrinking allocate a new ``bytearray`` rather than
resizing in place, so a view a buggy session kept can never make a resize
fail (``BufferError``) or point at freed memory. ``benchmarks/buffer.py``
compares this with copying to the head on every consume and with
``del bytearray[:n]``.
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
    yet consumed and :meth:`consume` drops bytes from the head.
    """

    __slots__ = ("_buf", "_end", "_initial_size", "_max_size", "_start")

    def __init__(self, initial_size: int = DEFAULT_INITIAL_SIZE, max_size: int = 1 << 20) -> None:
        if initial_size < 1:
            raise ValueError("initial_size must be at least 1")
        if max_size < 1:
            raise ValueError("max_size must be at least 1")
        self._max_size = max_size
        self._initial_size = min(initial_size, max_size)
        self._buf = bytearray(self._initial_size)
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

    def writable(self) -> memoryview:
        """The region the next receive writes into (never empty).

        Moves the unread bytes to the head or doubles the buffer when the tail
        is too small; raises :class:`BufferFull` when the unread bytes already
        fill ``max_size``.
        """
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

    def unread(self) -> memoryview:
        """A view of the unread bytes; valid until the next call that changes the buffer."""
        return memoryview(self._buf)[self._start : self._end]

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
