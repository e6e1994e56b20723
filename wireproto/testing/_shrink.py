"""A byte-level shrinking pass after Hypothesis's: smaller streams, fewer cuts, plain reads.

Hypothesis shrinks the choices that built an example (fewer messages,
fewer edits); this pass then deletes runs of bytes (or whole messages, for
a valid stream), shorter prefixes and cut points directly while the same
property still fails, so the report shows a short input.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from itertools import accumulate, pairwise
from typing import TYPE_CHECKING

from wireproto.testing._errors import CompletenessError, ConformanceError, RoundTripError
from wireproto.testing._properties import check_example
from wireproto.testing._types import Example, ReadSchedule, Stream

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
    skip: frozenset[int] = frozenset(),
) -> ConformanceError:
    """The smallest failure of the same property found within ``budget`` re-runs and
    ``seconds`` (a bound, not a measurement: the result does not depend on speed
    unless the bound is reached).

    Failures on valid streams (round trip, completeness) lose whole messages
    and cuts, so the stream stays valid; other failures lose runs of bytes at
    any offset, longest runs first, then have header bytes lowered.
    """
    example = error.example
    if example is None or error.check != "example":
        return error
    by_message = isinstance(error, RoundTripError | CompletenessError)
    best = error if by_message else error.with_example(_plain(example))
    trials = 0
    deadline = time.monotonic() + seconds
    seen: set[Example | None] = {best.example}

    def attempt(candidate: Example) -> bool:
        nonlocal best, trials
        if trials >= budget or time.monotonic() > deadline:
            return False
        trials += 1
        try:
            check_example(target, candidate, skip)
        except ConformanceError as found:
            shown = found.example
            smaller = shown is not None and len(shown.stream) <= len(candidate.stream)
            new = shown not in seen  # a failure shown on the same input again is no progress
            if found.property == error.property and found.check == "example" and smaller and new:
                seen.add(shown)
                best = found
                return True
        return False

    progress = True
    while progress and trials < budget and time.monotonic() <= deadline:
        progress = False
        current = best.example
        assert current is not None
        steps = (_message_deletions, _cut_candidates) if by_message else _BYTEWISE
        for step in steps:
            if any(attempt(candidate) for candidate in step(current)):
                progress = True
                break
    return best


def _plain(example: Example) -> Example:
    """The example without message bookkeeping: its bytes may now be cut freely."""
    return replace(example, boundaries=(), messages=(), valid=False)


def _message_deletions(current: Example) -> Iterator[Example]:
    """The stream with one message (or a run of messages) left out, the cut kept simple."""
    ends = current.boundaries
    if len(ends) < 2:
        return
    starts = (0, *ends[:-1])
    parts = [current.stream[a:b] for a, b in zip(starts, ends, strict=True)]
    built = len(current.messages) == len(parts)
    for run in range(len(parts) - 1, 0, -1):
        for first in range(len(parts) - run + 1):
            kept = parts[:first] + parts[first + run :]
            messages = tuple(kept) if built else ()
            stream = Stream.of_messages(tuple(kept), built=built, valid=current.valid)
            stream = replace(stream, messages=messages)
            yield Example.whole(stream, current.schedule)
            yield Example.drip(stream, current.schedule)


def _truncations(current: Example) -> Iterator[Example]:
    """Shorter prefixes of the stream, shortest first."""
    stream = current.stream
    length = 1
    while length < len(stream):
        yield _rebuild(stream[:length], _kept_points(current, length), current.schedule)
        length *= 2


def _run_deletions(current: Example) -> Iterator[Example]:
    """The stream with a run of bytes deleted, at any offset, longest runs first."""
    stream = current.stream
    drip = len(current.chunks) > 1 and all(size == 1 for size in current.chunks)
    points: set[int] | None = None if drip else set(_points(current))
    size = len(stream) // 2
    while size >= 1:
        step = max(1, size // 4)
        for start in range(0, len(stream) - size + 1, step):
            yield _rebuild(
                stream[:start] + stream[start + size :],
                _moved(points, start, size),
                current.schedule,
            )
        size //= 2


def _lowered(current: Example) -> Iterator[Example]:
    """Smaller byte values in the first bytes: a length field shrinks, and the bytes it
    covered can go next."""
    stream = current.stream
    drip = len(current.chunks) > 1 and all(size == 1 for size in current.chunks)
    points: set[int] | None = None if drip else set(_points(current))
    for position in range(min(len(stream), _LOWERED_BYTES)):
        value = stream[position]
        for lower in sorted({0, value // 2, value - 1}):
            if 0 <= lower < value:
                changed = stream[:position] + bytes([lower]) + stream[position + 1 :]
                yield _rebuild(changed, points, current.schedule)


def _kept_points(current: Example, length: int) -> set[int] | None:
    drip = len(current.chunks) > 1 and all(size == 1 for size in current.chunks)
    if drip:
        return None
    return {point for point in _points(current) if point < length}


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


_BYTEWISE = (_cut_candidates, _truncations, _run_deletions, _lowered)


def _moved(points: set[int] | None, start: int, size: int) -> set[int] | None:
    if points is None:
        return None
    end = start + size
    return {
        point if point <= start else point - size for point in points if not start < point < end
    }
