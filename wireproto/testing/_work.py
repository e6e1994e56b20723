"""Counting a consumer's work: Python line events in its code, bytes it allocates, and
(where the kernel allows) instructions it retires.

Wall time is never used: it is noisy and machine-dependent. The counters,
each over every ``try_consume`` call:

- ``lines``: line events (``sys.settrace``) in frames that are not the kit's
  or the connection's, so a parser that re-walks buffered bytes in Python
  is counted per byte walked, construct's parsing code included.
- ``allocated``: bytes allocated and freed again, cumulatively: at each line
  event in the consumer's code, on each call into the connection's own code
  (what the connection allocates in that call, such as its outbox list
  growing or its memory account charging a reply, is left out: it is not the
  consumer's work, and the consumer's figures must not move with the
  connection's constant factors; in the compiled build the connection has no
  Python frames and its allocations are counted, which the batch check's fit
  absorbs as a linear cost), and at the end of the call, the peak of
  traced memory (``tracemalloc``) since the previous event, above what was
  traced then, is added and the peak reset; what the call still holds when
  it returns (replies queued in the connection, the session's state) is
  taken off. A copy that is freed again within the same call
  (``bytes(data).find(...)``, a copy per loop iteration) is counted each
  time, even though the copy and the search run in C. Growths of at most
  ``NOISE_BYTES`` are left out: they are the interpreter's own (frames,
  memoryview slices, integers), not copies of the bytes. The trace
  machinery still adds about a kilobyte per call, so a copy of the whole
  buffer once per call of a drip is found by the other measure,
  ``cumulative=False``: the sum of each call's peak, without a trace
  function.
- ``instructions``: user-space instructions retired during the call, from a
  ``perf_event_open`` counter (:mod:`wireproto.testing._perf`), when the
  kernel and the machine provide one.

What they do not see where no instruction counter is available: a C-level
scan that copies nothing, such as ``re.search(pattern, data)`` from offset 0
on every call. A memoryview cannot be replaced by a counting object
(``try_consume`` must get a real memoryview, and on Python 3.11 a Python
class cannot export a buffer), so such a re-scan stays invisible then.
"""

from __future__ import annotations

import sys
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wireproto.testing._perf import InstructionCounter

__all__ = ["WorkMeter"]

_KIT_DIR = str(Path(__file__).resolve().parent)
_CORE_FILES = frozenset(
    str(Path(__file__).resolve().parent.parent / name)
    for name in ("_connection.py", "_buffer.py", "memory.py")
)


def _excluded(filename: str) -> int:
    """0: the consumer's code; 1: the kit's (no line events); 2: the connection's own (no
    line events, and what it allocates is not counted either)."""
    if filename in _CORE_FILES:
        return 2
    return int(filename.startswith(_KIT_DIR))


NOISE_BYTES = 256
"""Allocation growths between two line events up to this size are not counted."""


class WorkMeter:
    """Accumulates the work of the consumer calls made inside :meth:`call`.

    It counts line events, allocation, or instructions (with ``counter``),
    one at a time: a trace function makes the interpreter allocate, and
    both would be counted as the consumer's work.
    """

    def __init__(
        self,
        *,
        allocation: bool = False,
        cumulative: bool = True,
        counter: InstructionCounter | None = None,
    ) -> None:
        self.lines = 0
        self.allocated = 0
        """Bytes allocated: cumulative (see the module), or the sum of per-call peaks."""
        self.cumulative = cumulative
        self.instructions = 0
        self.calls = 0
        self.allocation = allocation
        self.counter = counter
        self._skip: dict[str, int] = {}
        self._mark = 0
        self._core_depth = 0
        """How many of the connection's own frames are running (their growth is not counted)."""
        self._core_kept = 0
        """Bytes the connection's own frames kept during the current call (not counted)."""

    @contextmanager
    def call(self) -> Iterator[None]:
        """Measure one consumer call (for allocation, inside :func:`tracing`)."""
        self.calls += 1
        if self.counter is not None:
            started = self.counter.read()
            try:
                yield
            finally:
                self.instructions += self.counter.read() - started
            return
        if self.allocation:
            tracemalloc.reset_peak()
            self._mark = tracemalloc.get_traced_memory()[0]
            if not self.cumulative:  # the call's peak only: no trace function to count
                try:
                    yield
                finally:
                    self.allocated += max(0, tracemalloc.get_traced_memory()[1] - self._mark)
                return
        started = self._mark
        before = self.allocated
        self._core_depth = self._core_kept = 0
        previous = sys.gettrace()
        sys.settrace(self._on_call)
        try:
            yield
        finally:
            sys.settrace(previous)
            if self.allocation:
                self._sample()
                # What the call still holds at its end (replies queued, state kept) is
                # not work done on the bytes: only what it allocated and freed again counts.
                kept = max(0, self._mark - started - self._core_kept)
                self.allocated = before + max(0, self.allocated - before - kept)

    def _sample(self) -> None:
        current, peak = tracemalloc.get_traced_memory()
        grown = peak - self._mark
        if grown > NOISE_BYTES:
            self.allocated += grown
        tracemalloc.reset_peak()
        self._mark = current

    def _on_call(self, frame: FrameType, event: str, arg: Any) -> Any:
        filename = frame.f_code.co_filename
        skip = self._skip.get(filename)
        if skip is None:
            skip = self._skip[filename] = _excluded(filename)
        if not skip:
            return self._on_line
        if skip == 1 or not self.allocation:
            return None
        # The connection's own code (the sender, its memory account): what the consumer
        # allocated so far is counted, what this call allocates is not (see _on_return).
        if not self._core_depth:
            self._sample()
        self._core_depth += 1
        frame.f_trace_lines = False
        return self._on_return

    def _on_return(self, frame: FrameType, event: str, arg: Any) -> Any:
        if event == "return":
            self._core_depth -= 1
            if not self._core_depth:
                current = tracemalloc.get_traced_memory()[0]
                self._core_kept += current - self._mark  # what the connection holds on to
                tracemalloc.reset_peak()
                self._mark = current
        return self._on_return

    def _on_line(self, frame: FrameType, event: str, arg: Any) -> Any:
        if event == "line" and not self._core_depth:
            if self.allocation:
                self._sample()
            else:
                self.lines += 1
        return self._on_line


@contextmanager
def tracing() -> Iterator[None]:
    """Trace allocations for the block (tracemalloc), unless something already does."""
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start(1)
    try:
        yield
    finally:
        if started:
            tracemalloc.stop()
