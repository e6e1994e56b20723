"""A byte-level shrinking pass after Hypothesis's: smaller streams, fewer cuts, plain reads.

Hypothesis shrinks the choices that built an example (fewer messages,
fewer edits); this pass then deletes bytes and cut points directly while
the same property still fails, so the report shows a short input.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from itertools import accumulate, pairwise
from typing import TYPE_CHECKING

from wireproto.testing._errors import ConformanceError, RoundTripError
from wireproto.testing._properties import check_example
from wireproto.testing._types import Example, ReadSchedule

if TYPE_CHECKING:
    from wireproto.testing._target import FuzzTarget

__all__ = ["minimize"]

_LOWERED_BYTES = 64
"""Only the first bytes are tried with smaller values: headers live there."""


def _points(example: Example) -> tuple[int, ...]:
    return tuple(accumulate(example.chunks))[:-1]


def _rebuild(stream: bytes, points: set[int] | None, schedule: ReadSchedule) -> Example:
    """``points`` None means a one-byte drip."""
    if points is None:
        return Example(stream, (1,) * len(stream), schedule)
    edges = [0, *sorted(point for point in points if 0 < point < len(stream)), len(stream)]
    chunks = tuple(b - a for a, b in pairwise(edges) if b > a)
    return Example(stream, chunks, schedule)


def minimize(
    target: FuzzTarget,
    error: ConformanceError,
    *,
    budget: int = 2000,
    seconds: float = 5.0,
) -> ConformanceError:
    """The smallest failure of the same property found within ``budget`` re-runs and
    ``seconds`` (a bound, not a measurement: the result does not depend on speed
    unless the bound is reached)."""
    example = error.example
    if example is None or error.check != "example":
        return error
    # A round trip is about whole, declaration-built messages: only the cut and the
    # reads may be simplified. Other failures may lose bytes, and the messages with them.
    bytewise = not isinstance(error, RoundTripError)
    best = error.with_example(replace(example, boundaries=(), messages=())) if bytewise else error
    trials = 0
    deadline = time.monotonic() + seconds

    def attempt(candidate: Example) -> bool:
        nonlocal best, trials
        if trials >= budget or time.monotonic() > deadline:
            return False
        trials += 1
        try:
            check_example(target, candidate)
        except ConformanceError as found:
            if found.property == error.property and found.check == "example":
                best = found
                return True
        return False

    while trials < budget and time.monotonic() <= deadline:
        current = best.example
        assert current is not None
        candidates = _candidates(current, coarse=True)
        if not bytewise:
            candidates = _cut_candidates(current)
        if not any(attempt(candidate) for candidate in candidates) and (
            not bytewise
            or not any(attempt(candidate) for candidate in _candidates(current, coarse=False))
        ):
            break
    return best


def _cut_candidates(current: Example) -> Iterator[Example]:
    """The same bytes with plain reads, then fewer cuts."""
    drip = len(current.chunks) > 1 and all(size == 1 for size in current.chunks)
    points = set() if drip else set(_points(current))
    schedule = current.schedule
    if schedule != ReadSchedule():
        yield replace(current, schedule=ReadSchedule())
    if len(current.chunks) > 1:
        yield replace(current, chunks=(len(current.stream),))
    for point in sorted(points):
        yield replace(current, chunks=_rebuild(current.stream, points - {point}, schedule).chunks)


def _candidates(current: Example, *, coarse: bool) -> Iterator[Example]:
    """Simpler examples, simplest first; ``coarse`` leaves out the slow byte-by-byte steps."""
    drip = len(current.chunks) > 1 and all(size == 1 for size in current.chunks)
    points: set[int] | None = None if drip else set(_points(current))
    stream = current.stream
    schedule = current.schedule
    if coarse:
        yield from _cut_candidates(current)
    smallest = max(1, len(stream) // 8) if coarse else 1
    size = len(stream) // 2 or 1
    while size >= smallest:
        if coarse or size < max(1, len(stream) // 8):
            for start in range(0, len(stream) - size + 1, size):
                yield _rebuild(
                    stream[:start] + stream[start + size :], _moved(points, start, size), schedule
                )
        size //= 2
    if coarse:
        # Smaller byte values: a length field shrinks, and the bytes it covered can go.
        for position in range(min(len(stream), _LOWERED_BYTES)):
            value = stream[position]
            for lower in sorted({0, value // 2, value - 1}):
                if 0 <= lower < value:
                    changed = stream[:position] + bytes([lower]) + stream[position + 1 :]
                    yield _rebuild(changed, points, schedule)


def _moved(points: set[int] | None, start: int, size: int) -> set[int] | None:
    if points is None:
        return None
    end = start + size
    return {
        point if point <= start else point - size for point in points if not start < point < end
    }
