"""The deterministic checks run before any random example: exhaustive where it is cheap.

- Detection: every one-byte prefix, and the first bytes of the corpus and of
  built messages, is shown to each detector and to detection as a whole;
  each decided prefix is then extended by each of the 256 next bytes (and a
  few random tails), and the verdict must hold (property 5). A detector
  that decides before the byte it depends on has arrived is found here on
  any seed, without waiting for a random stream to hold that byte.
- Completeness: the smallest valid messages, alone and two or three back to
  back, each whole, dripped, and cut at every single offset (properties 1-8).
  A detector whose window is longer than the shortest message, an offset
  counted from the current message instead of the call, or state not reset
  between messages shows here.

Nothing here imports Hypothesis.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from wireproto._detect import Detection, Verdict
from wireproto._errors import exception_text
from wireproto.testing._properties import check_example, check_extensions
from wireproto.testing._target import target_grow
from wireproto.testing._types import Example, Stream
from wireproto.testing.errors import DetectionError, UnexpectedExceptionError

if TYPE_CHECKING:
    from wireproto.testing._properties import Seeds
    from wireproto.testing._target import FuzzTarget

__all__ = ["check_detectors_exhaustively", "check_small_streams", "small_streams"]

_PREFIX_BYTES = 4
"""The first bytes of each corpus stream and built message whose prefixes are scanned."""

_EVERY_CUT_MAX = 96
"""Streams up to this size are cut at every single offset; longer ones near boundaries."""


def _answer(detection: Detection) -> str:
    if detection.wire_format is not None:
        return f"{detection.verdict.value} {detection.wire_format.name}"
    return detection.verdict.value


def _starts(target: FuzzTarget, seeds: Seeds | None) -> list[bytes]:
    """Prefixes to scan: each single byte, then the first bytes of known-valid streams."""
    found: dict[bytes, None] = {bytes((value,)): None for value in range(256)}
    sources = [stream.data for stream in small_streams(target, seeds)]
    if seeds is not None:
        sources += [stream.data for stream in seeds.streams]
    for data in sources:
        for size in range(2, min(_PREFIX_BYTES, len(data)) + 1):
            found.setdefault(data[:size])
    return list(found)


def check_detectors_exhaustively(target: FuzzTarget, seeds: Seeds | None = None) -> int:
    """Property 5 near every decision a short prefix reaches; returns the prefixes checked."""
    registry = target.make_registry()
    limit = target.settings.max_detect_bytes
    asks: list[tuple[str, Callable[[bytes], str]]] = []
    for wire_format in registry.formats:
        detector = wire_format.detector
        what = f"the detector of {wire_format.name!r}"

        def ask(
            prefix: bytes, detector: Callable[[bytes], Verdict] = detector, what: str = what
        ) -> str:
            verdict = detector(prefix)
            if not isinstance(verdict, Verdict):
                raise DetectionError(
                    f"{what} returned {verdict!r}, not a Verdict", Example.whole(prefix)
                )
            return verdict.value

        asks.append((what, ask))
    asks.append(("detection over all formats", lambda prefix: _answer(registry.detect(prefix))))
    checked = 0
    for prefix in _starts(target, seeds):
        if len(prefix) >= limit:
            continue
        for what, asking in asks:
            try:
                answer = asking(prefix)
            except DetectionError as error:
                raise error.with_example(Example.whole(prefix), target.label) from None
            except Exception as exc:
                raise UnexpectedExceptionError(
                    f"{what} raised {exception_text(exc)} on {len(prefix)} bytes; "
                    "a detector must answer, never raise",
                    Example.whole(prefix),
                    target.label,
                ) from None
            if answer != Verdict.NEED_MORE.value:
                check_extensions(what, asking, prefix, answer, target=target)
                checked += 1
    return checked


def small_streams(target: FuzzTarget, seeds: Seeds | None = None) -> list[Stream]:
    """The smallest valid messages ``grow`` (or the declaration) makes, alone and back to
    back. (Corpus frames are not used: a frame cut out of a session need not be valid on
    its own, as the first message of a connection.)"""
    grow = target_grow(target)
    if grow is None:
        return []
    # The smallest message, and two with a few bytes of body (state kept across a body).
    by_size = {len(message): message for message in map(grow, (16, 8, 3, 2, 1, 0)) if message}
    sizes = sorted(by_size)
    messages = [by_size[size] for size in dict.fromkeys((sizes[0], *sizes[-2:]))]
    found = [Stream.of_messages((message,), valid=True) for message in messages]
    found.append(Stream.of_messages((messages[0], messages[0]), valid=True))
    if len(messages) > 1:
        found.append(Stream.of_messages(tuple(messages), valid=True))
        found.append(Stream.of_messages(tuple(reversed(messages)), valid=True))
    return found


def _cuttings(stream: Stream) -> Iterator[Example]:
    data = stream.data
    yield Example.whole(stream)
    yield Example.drip(stream)
    # Longer streams are cut only near their boundaries.
    points = range(1, len(data)) if len(data) <= _EVERY_CUT_MAX else range(0)
    near = {end + step for end in stream.boundaries for step in (-2, -1, 0, 1, 2)}
    for point in sorted({*points, *(p for p in near if 0 < p < len(data))}):
        yield Example.cut(stream, (point, len(data) - point))


def check_small_streams(
    target: FuzzTarget, seeds: Seeds | None = None, skip: frozenset[int] = frozenset()
) -> int:
    """Properties 1-8 on :func:`small_streams`, each cut every way; returns the runs."""
    runs = 0
    for stream in small_streams(target, seeds):
        for example in _cuttings(stream):
            check_example(target, example, skip)
            runs += 1
    return runs
