"""Memory accounting: one account per connection, one budget per listener.

Everything a client makes the server hold is charged to its connection's
:class:`MemoryAccount`, and through it to the listener's
:class:`MemoryBudget`:

- ``receive``: the capacity of the connection's receive buffer;
- ``arguments``: parsed arguments not run yet (the arguments of an
  unfinished command, commands queued by a transaction);
- ``output``: reply bytes queued in the connection's outbox, being built by a
  session, or held by the transport for a peer that does not read.

A charge the budget cannot cover raises :class:`MemoryLimitExceeded`; an
output charge past the connection's output limit raises
:class:`OutputLimitExceeded`. The connection turns either into a close
(``CloseReason.MEMORY_LIMIT`` / ``CloseReason.OUTPUT_LIMIT``) of that
connection only, and the server logs it. An account that was closed gives
everything back to the budget and ignores later charges.

What is not charged (see the README, "Limits"): the interpreter's own
per-object overhead and what the shared store holds (values a client was
allowed to store), and the transient copies of one read batch (at most a
few times the receive buffer of the connection being served).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from collections.abc import Callable
from typing import NoReturn

__all__ = [
    "MemoryAccount",
    "MemoryBudget",
    "MemoryLimitExceeded",
    "OutputLimitExceeded",
    "give_back_memory",
]


_UNLIMITED = sys.maxsize


class MemoryLimitExceeded(Exception):
    """A charge the listener's memory budget cannot cover: the connection is closed."""


class OutputLimitExceeded(MemoryLimitExceeded):
    """Replies past the connection's output limit: the connection is closed (reset)."""


class MemoryBudget:
    """A cap on the bytes held for all the connections sharing it (one listener).

    Connections charge it through their :class:`MemoryAccount`: receive
    buffers (reserved before a buffer grows), arguments held and replies
    queued. A charge the budget cannot cover is refused, and that connection
    is closed (``CloseReason.MEMORY_LIMIT``) rather than the process running
    out of memory. ``max_output_buffered`` (``None``: no cap) lowers the
    output limit of every connection charging it.
    """

    __slots__ = ("high_water", "limit", "max_output_buffered", "refusals", "used")

    def __init__(self, limit: int, *, max_output_buffered: int | None = None) -> None:
        if limit < 1:
            raise ValueError("the memory budget must be at least 1 byte")
        if max_output_buffered is not None and max_output_buffered < 1:
            raise ValueError("max_output_buffered must be at least 1 or None")
        self.limit = limit
        self.max_output_buffered = max_output_buffered
        self.used = 0
        self.high_water = 0
        """The most bytes used since the last :meth:`gave_back`."""
        self.refusals = 0

    @property
    def available(self) -> int:
        """Bytes that may still be reserved."""
        return max(self.limit - self.used, 0)

    def try_reserve(self, nbytes: int) -> bool:
        """Reserve ``nbytes``; False (and nothing reserved) if that would pass the limit."""
        used = self.used + nbytes
        if used > self.limit:
            self.refusals += 1
            return False
        self.used = used
        self.high_water = max(self.high_water, used)
        return True

    def force(self, nbytes: int) -> None:
        """Account for ``nbytes`` already allocated, even past the limit."""
        self.used += nbytes
        self.high_water = max(self.high_water, self.used)

    def release(self, nbytes: int) -> None:
        """Give back ``nbytes`` reserved earlier."""
        self.used = max(self.used - nbytes, 0)

    def gave_back(self, threshold: int) -> bool:
        """True (once) when use fell ``threshold`` bytes below its high-water mark.

        The mark then starts again from the current use: the caller returns
        the freed memory to the OS (:func:`give_back_memory`) at most once per
        such drop.
        """
        if self.high_water - self.used < threshold:
            return False
        self.high_water = self.used
        return True


class MemoryAccount:
    """What one connection holds, charged to its listener's budget as it grows.

    Sessions reach it as ``sender.memory``. ``budget`` may be ``None`` (a
    connection driven alone, in a test): only the output limit applies then.
    ``output_limit`` (``None``: none) caps ``output``: queued, building and
    transport-held reply bytes.
    """

    __slots__ = (
        "_output_limit",
        "arguments",
        "budget",
        "closed",
        "outbox",
        "outbox_cap",
        "receive",
        "written",
    )

    def __init__(self, budget: MemoryBudget | None = None, output_limit: int | None = None) -> None:
        self.budget = budget
        self._output_limit = output_limit
        self.outbox_cap = _UNLIMITED if output_limit is None else output_limit
        """The most the outbox may hold now: the output limit less what the transport holds."""
        self.receive = 0
        """Receive-buffer capacity."""
        self.arguments = 0
        """Parsed arguments held before they run."""
        self.outbox = 0
        """Replies queued in the connection's outbox."""
        self.written = 0
        """Replies the transport still holds (written but not sent)."""
        self.closed = False

    def __repr__(self) -> str:
        return (
            f"MemoryAccount(receive={self.receive}, arguments={self.arguments}, "
            f"outbox={self.outbox}, written={self.written}, output_limit={self.output_limit}, "
            f"closed={self.closed})"
        )

    @property
    def output_limit(self) -> int | None:
        """The most reply bytes held for the peer (``None``: no limit)."""
        return self._output_limit

    @output_limit.setter
    def output_limit(self, limit: int | None) -> None:
        self._output_limit = limit
        self.outbox_cap = _UNLIMITED if limit is None else limit - self.written

    @property
    def held(self) -> int:
        """Every byte charged to this account now."""
        return self.receive + self.arguments + self.outbox + self.written

    @property
    def output(self) -> int:
        """Reply bytes held for the peer (queued and in the transport)."""
        return self.outbox + self.written

    @property
    def reply_room(self) -> int:
        """Reply bytes a session may still build before a charge would be refused."""
        # Read once per batch: outbox_cap is the output limit less what the transport holds.
        room = self.outbox_cap - self.outbox
        budget = self.budget
        if budget is not None:
            left = budget.limit - budget.used
            if left < room:  # noqa: PLR1730 (min() is a call)
                room = left
        return room if room > 0 and not self.closed else 0

    def refuse_output(self, nbytes: int) -> NoReturn:
        """Raise the error for a reply of ``nbytes`` more than :attr:`reply_room` allows."""
        limit = self._output_limit  # not the property: a call per batch
        if limit is not None and self.outbox + self.written + nbytes > limit:
            raise OutputLimitExceeded(
                f"{self.outbox + self.written + nbytes} reply bytes unread by the peer "
                f"(limit {limit})"
            )
        if self.budget is not None:
            self.budget.refusals += 1
        raise MemoryLimitExceeded(f"no memory left in the budget for {nbytes} reply bytes")

    # -- receive buffer --------------------------------------------------------

    def try_grow_receive(self, nbytes: int) -> bool:
        """Reserve ``nbytes`` more of receive buffer; False if the budget cannot cover them."""
        if self.closed:
            return False
        if self.budget is not None and not self.budget.try_reserve(nbytes):
            return False
        self.receive += nbytes
        return True

    def set_receive(self, capacity: int) -> None:
        """The receive buffer now has ``capacity`` bytes (already allocated, or given back)."""
        if self.closed:
            return
        self._adjust(capacity - self.receive)
        self.receive = capacity

    # -- arguments -------------------------------------------------------------

    def charge_arguments(self, nbytes: int) -> None:
        """Hold ``nbytes`` of arguments; :class:`MemoryLimitExceeded` if the budget is spent."""
        if self.closed or nbytes <= 0:
            return
        budget = self.budget
        if budget is not None and not budget.try_reserve(nbytes):
            raise MemoryLimitExceeded(
                f"no memory left in the budget for {nbytes} more bytes of arguments "
                f"({self.arguments} held)"
            )
        self.arguments += nbytes

    def release_arguments(self, nbytes: int) -> None:
        """Give back ``nbytes`` of arguments (they ran, or were dropped)."""
        if self.closed or nbytes <= 0:
            return
        nbytes = min(nbytes, self.arguments)
        self.arguments -= nbytes
        if self.budget is not None:
            self.budget.release(nbytes)

    # -- output ----------------------------------------------------------------

    def charge_output(self, nbytes: int) -> None:
        """Queue ``nbytes`` of replies; raises past the output limit or the budget."""
        # Once per read batch on every connection: kept to plain attribute arithmetic.
        if self.closed:
            return
        outbox = self.outbox + nbytes
        limit = self._output_limit  # not the property: a call per batch
        if limit is not None and outbox + self.written > limit:
            self.refuse_output(nbytes)
        budget = self.budget
        if budget is not None:
            used = budget.used + nbytes
            if used > budget.limit:
                self.refuse_output(nbytes)
            budget.used = used
            budget.high_water = max(budget.high_water, used)
        self.outbox = outbox

    def release_output(self, nbytes: int) -> None:
        """``nbytes`` of queued replies left the outbox (written, or dropped)."""
        if self.closed or not nbytes:
            return
        nbytes = min(nbytes, self.outbox)
        self.outbox -= nbytes
        budget = self.budget
        if budget is not None:
            budget.used = max(budget.used - nbytes, 0)

    def set_written(self, nbytes: int) -> None:
        """The transport holds ``nbytes`` of replies the peer has not taken yet."""
        if self.closed:
            return
        self._adjust(nbytes - self.written)
        self.written = nbytes
        limit = self._output_limit
        self.outbox_cap = _UNLIMITED if limit is None else limit - nbytes

    # -- the end ---------------------------------------------------------------

    def close(self) -> int:
        """Give every charge back to the budget; later charges are ignored. The bytes given back."""
        if self.closed:
            return 0
        held = self.held
        if self.budget is not None:
            self.budget.release(held)
        self.receive = self.arguments = self.outbox = self.written = 0
        self.closed = True
        return held

    def _adjust(self, delta: int) -> None:
        budget = self.budget
        if budget is None or not delta:
            return
        if delta > 0:
            budget.force(delta)
        else:
            budget.release(-delta)


def _load_malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim  # glibc only: musl has no malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim  # type: ignore[no-any-return, unused-ignore]


_malloc_trim = _load_malloc_trim()


def give_back_memory() -> bool:
    """Ask the C allocator to return free heap pages to the OS (glibc ``malloc_trim``).

    CPython frees a large object's memory to ``malloc`` at once, but glibc
    keeps freed heap pages mapped (its mmap threshold grows after large frees,
    so later large objects land on the heap); ``malloc_trim(0)`` gives those
    pages back. Returns False where there is no such call (not glibc).
    Small objects live in CPython's own arenas, which are returned only once
    every object in an arena is gone: that part nobody can force.
    """
    if _malloc_trim is None:
        return False
    _malloc_trim(0)
    return True
