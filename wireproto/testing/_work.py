"""Counting a consumer's work: Python line events in its code, and bytes it allocates.

Wall time is never used: it is noisy and machine-dependent. Two counters
are kept per ``try_consume`` call:

- ``lines``: line events (``sys.settrace``) in frames that are not the kit's
  or the connection's, so a parser that re-walks buffered bytes in Python
  is counted per byte walked, construct's parsing code included.
- ``allocated``: the peak of traced memory during the call above what was
  traced when it began (``tracemalloc``), so a parser that copies the
  buffered bytes (``bytes(data)``, ``data.tobytes()``, ``bytearray(data)``)
  on every call is counted per byte copied, even though the copy and a
  following ``bytes.find`` run in C.

What neither sees: a C-level scan that copies nothing, such as
``re.search(pattern, data)`` from offset 0 on every call. A memoryview
cannot be replaced by a counting object (``try_consume`` must get a real
memoryview, and on Python 3.11 a Python class cannot export a buffer), so
such a re-scan stays invisible to the counters.
"""

from __future__ import annotations

import sys
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

__all__ = ["WorkMeter"]

_KIT_DIR = str(Path(__file__).resolve().parent)
_CORE_FILES = frozenset(
    str(Path(__file__).resolve().parent.parent / name) for name in ("connection.py", "buffer.py")
)


def _excluded(filename: str) -> bool:
    return filename.startswith(_KIT_DIR) or filename in _CORE_FILES


class WorkMeter:
    """Accumulates the work of the consumer calls made inside :meth:`call`.

    It counts line events, or allocation, not both: a trace function makes
    the interpreter allocate a frame object per traced call, which would be
    counted as the consumer's allocation.
    """

    def __init__(self, *, allocation: bool = False) -> None:
        self.lines = 0
        self.allocated = 0
        self.calls = 0
        self.allocation = allocation
        self._skip: dict[str, bool] = {}

    @contextmanager
    def call(self) -> Iterator[None]:
        """Measure one consumer call (for allocation, inside :func:`tracing`)."""
        self.calls += 1
        if self.allocation:
            tracemalloc.reset_peak()
            before = tracemalloc.get_traced_memory()[0]
            try:
                yield
            finally:
                self.allocated += max(0, tracemalloc.get_traced_memory()[1] - before)
            return
        previous = sys.gettrace()
        sys.settrace(self._on_call)
        try:
            yield
        finally:
            sys.settrace(previous)

    def _on_call(self, frame: FrameType, event: str, arg: Any) -> Any:
        filename = frame.f_code.co_filename
        skip = self._skip.get(filename)
        if skip is None:
            skip = self._skip[filename] = _excluded(filename)
        return None if skip else self._on_line

    def _on_line(self, frame: FrameType, event: str, arg: Any) -> Any:
        if event == "line":
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
