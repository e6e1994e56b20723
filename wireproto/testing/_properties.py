"""The property checks on one example, and the deterministic limits-and-work check.

Nothing here imports Hypothesis: regression replays and the atheris engine
use these functions directly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from typing import TYPE_CHECKING, Any

from wireproto.detect import Detection, Verdict
from wireproto.testing._driver import Run, run_example
from wireproto.testing._errors import (
    ConformanceError,
    DetectionError,
    LimitError,
    NonLinearWorkError,
    RoundTripError,
    SameOutcomeError,
    UnexpectedExceptionError,
)
from wireproto.testing._types import Example, ReadSchedule, Stream

if TYPE_CHECKING:
    from wireproto.testing._target import FuzzTarget

__all__ = [
    "Seeds",
    "WorkReport",
    "check_example",
    "check_limits_and_work",
    "prepare_seeds",
]

_DETECT_SCAN = 256
"""Every prefix up to this length is shown to the detectors; longer ones only at the cuts."""

WORK_SIZES = (512, 1024)
"""Stream sizes of the linear-work check: a drip of each, compared."""

_LIMIT_CHECK_MAX = 4 << 20
"""The max/max+1 message-size check runs when ``max_message_size`` is at most this."""


def check_example(target: FuzzTarget, example: Example) -> Run:
    """Check properties 1-5 (and 7 for declaration-built streams) on one example.

    Runs the stream whole, then as ``example`` cuts and reads it, and
    compares. Returns the cut run; raises a :class:`ConformanceError`.
    """
    check_detection(target, example)
    whole = Example.whole(Stream(example.stream, example.boundaries, example.messages))
    reference = run_example(target, whole)
    run = reference if whole == example else run_example(target, example)
    expected, got = reference.outcome, run.outcome
    if expected != got:
        detail = f"whole stream: {expected.describe()}\n  as cut:       {got.describe()}"
        detected = (expected.wire_format, expected.close_reason == "no-match")
        if detected != (got.wire_format, got.close_reason == "no-match"):
            raise DetectionError(
                "the connection detected a different format when the stream was cut\n  " + detail,
                example,
                target.label,
            )
        raise SameOutcomeError(
            "the outcome depends on how the stream is cut or read\n  " + detail,
            example,
            target.label,
        )
    if example.messages:
        _check_round_trip(target, example, reference, run)
    return run


def _answer(detection: Detection) -> str:
    if detection.wire_format is not None:
        return f"{detection.verdict.value} {detection.wire_format.name}"
    return detection.verdict.value


def check_detection(target: FuzzTarget, example: Example) -> None:
    """Property 5: every detector, and detection as a whole, never changes a decided answer."""
    data = example.stream
    limit = min(len(data), target.settings.max_detect_bytes)
    if not limit:
        return
    cuts = [point for point in accumulate(example.chunks) if point <= limit][:64]
    lengths = sorted({*range(1, min(limit, _DETECT_SCAN) + 1), *cuts, limit})
    registry = target.make_registry()
    for wire_format in registry.formats:
        detector, name = wire_format.detector, wire_format.name

        def ask(
            prefix: bytes, detector: Callable[[bytes], Verdict] = detector, name: str = name
        ) -> str:
            verdict = detector(prefix)
            if not isinstance(verdict, Verdict):
                raise DetectionError(
                    f"the detector of {name!r} returned {verdict!r}, not a Verdict",
                    example,
                    target.label,
                )
            return verdict.value

        _scan(f"the detector of {wire_format.name!r}", ask, lengths, target=target, example=example)

    def ask_all(prefix: bytes) -> str:
        return _answer(registry.detect(prefix))

    _scan("detection over all formats", ask_all, lengths, target=target, example=example)


def _scan(
    what: str,
    ask: Callable[[bytes], str],
    lengths: Sequence[int],
    *,
    target: FuzzTarget,
    example: Example,
) -> None:
    data = example.stream
    decided: tuple[int, str] | None = None
    for length in lengths:
        prefix = data[:length]
        try:
            answer = ask(prefix)
            again = ask(prefix)
        except ConformanceError:
            raise
        except Exception as exc:
            raise UnexpectedExceptionError(
                f"{what} raised {type(exc).__name__}: {exc} on the first {length} bytes; "
                "a detector must answer, never raise",
                example,
                target.label,
            ) from None
        if answer != again:
            raise DetectionError(
                f"{what} answered {answer!r}, then {again!r}, for the same {length} bytes",
                example,
                target.label,
            )
        if decided is not None and answer != decided[1]:
            raise DetectionError(
                f"{what} answered {decided[1]!r} for the first {decided[0]} bytes, then "
                f"{answer!r} for the first {length}: a decided answer must not change",
                example,
                target.label,
            )
        if decided is None and answer != Verdict.NEED_MORE.value:
            decided = (length, answer)


def _check_round_trip(target: FuzzTarget, example: Example, reference: Run, run: Run) -> None:
    declaration = target.message
    if declaration is not None:
        for index, message in enumerate(example.messages):
            try:
                rebuilt = declaration.build(declaration.parse(message))
            except Exception as exc:
                raise RoundTripError(
                    f"message #{index} ({message.hex(' ')}) built from the declaration does not "
                    f"parse and build again: {type(exc).__name__}: {exc}",
                    example,
                    target.label,
                ) from None
            if rebuilt != message:
                raise RoundTripError(
                    f"message #{index}: build -> parse -> build gave {rebuilt.hex(' ')} "
                    f"instead of {message.hex(' ')}",
                    example,
                    target.label,
                )
    boundaries = set(example.boundaries)
    for end in run.consume_ends:
        if end not in boundaries:
            inside = sum(1 for boundary in example.boundaries if boundary < end)
            raise RoundTripError(
                f"the session consumed up to offset {end}, inside message #{inside} "
                f"(messages end at {', '.join(map(str, example.boundaries))})",
                example,
                target.label,
            )
    outcome = reference.outcome
    if outcome.close_reason in ("protocol-error", "no-match"):
        raise RoundTripError(
            f"a stream of messages built from the declaration was rejected: {outcome.describe()}",
            example,
            target.label,
        )


@dataclass(frozen=True, slots=True)
class Seeds:
    """Inputs derived from a target: corpus streams cut into frames, and message prefixes."""

    streams: tuple[Stream, ...] = ()
    frames: tuple[bytes, ...] = ()
    prefixes: tuple[bytes, ...] = ()


def prepare_seeds(target: FuzzTarget, max_frames: int = 64) -> Seeds:
    """Cut each corpus stream into frames where a one-byte drip makes the session reply
    (or, for a session that never replies, where it consumes).

    Replies mark message ends even for sessions that consume a message's
    header lines before the message is whole. Each corpus stream is checked
    whole and dripped on the way (it may already show a failure).
    """
    streams: list[Stream] = []
    frames: dict[bytes, None] = {}
    prefixes: dict[bytes, None] = {}
    for data in target.corpus:
        run = check_example(target, Example.drip(data))
        marks = run.reply_ends or run.consume_ends
        ends = tuple(sorted({end for end in marks if 0 < end <= len(data)}))
        streams.append(Stream(data, ends))
        start = 0
        for end in ends:
            frames.setdefault(data[start:end])
            start = end
        for size in range(1, min(4, len(data)) + 1):
            prefixes.setdefault(data[:size])
    if target.message is not None:
        from wireproto.testing._construct import grow_function  # noqa: PLC0415

        grow = grow_function(target.message)
        if grow is not None:
            sample = grow(0)
            for size in range(1, min(4, len(sample)) + 1):
                prefixes.setdefault(sample[:size])
    return Seeds(tuple(streams), tuple(list(frames)[:max_frames]), tuple(prefixes))


@dataclass(frozen=True, slots=True)
class WorkReport:
    """What the deterministic check measured, and what it had to skip."""

    drip: tuple[tuple[int, int, int], ...] = ()
    """(stream size, line events, bytes allocated) for each one-byte drip."""
    batch: tuple[tuple[int, int, int], ...] = ()
    """(stream size, line events, bytes allocated) for each whole-stream read."""
    limits_checked: bool = False
    notes: tuple[str, ...] = field(default=())

    def describe(self) -> str:
        """A short summary."""
        parts = []
        for label, rows in (("drip", self.drip), ("batch", self.batch)):
            if len(rows) == 2:
                (n1, l1, a1), (n2, l2, a2) = rows
                allocation = f", allocation x{_ratio(a2, a1):.2f}" if min(a1, a2) >= 0 else ""
                parts.append(f"{label} {n1}->{n2} bytes: lines x{_ratio(l2, l1):.2f}{allocation}")
        if self.limits_checked:
            parts.append("max_message_size checked at max and max+1")
        return "; ".join(parts + list(self.notes)) or "nothing measured"


def _ratio(high: int, low: int) -> float:
    return high / low if low else float(high > 0) * 99.0


def _grow(target: FuzzTarget) -> Callable[[int], bytes] | None:
    if target.grow is not None:
        return target.grow
    if target.message is None:
        return None
    from wireproto.testing._construct import grow_function  # noqa: PLC0415

    return grow_function(target.message)


_MIN_CALLS_FOR_ALLOCATION = 32
"""Allocation is a per-call peak: over a few calls, container resizes are noise."""


def _measure(target: FuzzTarget, example: Example) -> tuple[int, int, int]:
    """(stream size, line events, bytes allocated); allocation is -1 over too few calls."""
    from wireproto.testing._work import WorkMeter, tracing  # noqa: PLC0415

    lines = WorkMeter()
    run_example(target, example, lines)
    allocation = WorkMeter(allocation=True)
    with tracing():
        run_example(target, example, allocation)
    allocated = allocation.allocated if allocation.calls >= _MIN_CALLS_FOR_ALLOCATION else -1
    return len(example.stream), lines.lines, allocated


def _superlinear(
    rows: tuple[tuple[int, int, int], tuple[int, int, int]],
) -> tuple[str, int, int] | None:
    (n1, lines1, alloc1), (n2, lines2, alloc2) = rows
    scale = n2 / n1
    for what, low, high in (("line events", lines1, lines2), ("bytes allocated", alloc1, alloc2)):
        if low < 0 or high < 0:
            continue
        # Linear work scales by `scale`; a re-scan per read by `scale` squared.
        excess = high - scale * low
        if excess > (scale - 1) * low and excess > n1:
            return what, low, high
    return None


def check_limits_and_work(
    target: FuzzTarget, seeds: Seeds | None = None, sizes: tuple[int, int] = WORK_SIZES
) -> WorkReport:
    """Property 6: work stays linear in the bytes fed, and max_message_size holds.

    Work (see :mod:`wireproto.testing._work`) is compared between a one-byte
    drip of ``grow(n)`` and of ``grow(2n)`` (a parser that re-scans its
    buffered bytes on every read does about four times the work), and
    between whole reads of a corpus/built stream repeated k and 2k times (a
    parser that re-scans every buffered message per call does too). Then a
    message of exactly ``max_message_size`` bytes must be accepted and one of
    ``max_message_size + 1`` rejected with a ``ProtocolError``. Raises
    :class:`NonLinearWorkError` or :class:`LimitError`; returns what was
    measured and skipped.
    """
    notes: list[str] = []
    grow = _grow(target)
    drip: tuple[tuple[int, int, int], ...] = ()
    if grow is None:
        notes.append("drip work not checked: no grow function or message declaration")
    else:
        streams = [grow(size) for size in sizes]
        if len(streams[1]) <= len(streams[0]):
            notes.append("drip work not checked: grow() does not make longer streams")
        else:
            first = _measure(target, Example.drip(streams[0]))
            second = _measure(target, Example.drip(streams[1]))
            drip = (first, second)
            _raise_if_superlinear(target, drip, Example.drip(streams[0]), "a one-byte drip")
    batch: tuple[tuple[int, int, int], ...] = ()
    unit = _batch_unit(target, seeds, grow)
    if unit:
        repeat = max(1, sizes[0] // len(unit) + 1)
        low, high = unit * repeat, unit * (2 * repeat)
        schedule = ReadSchedule(initial_buffer_size=len(high))
        first = _measure(target, Example.whole(low, schedule))
        second = _measure(target, Example.whole(high, schedule))
        batch = (first, second)
        _raise_if_superlinear(
            target, batch, Example.whole(low, schedule), "one read of many messages"
        )
    else:
        notes.append("batch work not checked: no corpus or message declaration")
    limits_checked = _check_max_message_size(target, grow, notes)
    return WorkReport(drip, batch, limits_checked, tuple(notes))


def _batch_unit(
    target: FuzzTarget, seeds: Seeds | None, grow: Callable[[int], bytes] | None
) -> bytes:
    if seeds is not None and seeds.frames:
        return b"".join(seeds.frames[:8])
    if target.corpus:
        return target.corpus[0]
    if grow is not None:
        return grow(16)
    return b""


def _raise_if_superlinear(
    target: FuzzTarget,
    rows: Any,
    example: Example,
    how: str,
) -> None:
    found = _superlinear(rows)
    if found is None:
        return
    what, low, high = found
    (n1, *_), (n2, *_) = rows
    raise NonLinearWorkError(
        f"{how} of a {n1}-byte stream cost {low} {what} in the consumer, of a {n2}-byte stream "
        f"{high} (x{_ratio(high, low):.1f}; linear work would be about x{n2 / n1:.0f}): "
        "the parser re-scans bytes it has already seen on every call",
        example,
        target.label,
        check="work",
    )


def _check_max_message_size(
    target: FuzzTarget, grow: Callable[[int], bytes] | None, notes: list[str]
) -> bool:
    limits = target.make_registry().provider(target.wire_format).limits
    maximum = limits.max_message_size
    if grow is None:
        notes.append("max_message_size not checked: no grow function or message declaration")
        return False
    if maximum > _LIMIT_CHECK_MAX:
        notes.append(f"max_message_size not checked: {maximum} bytes is too large to build")
        return False
    at_max, over = grow(maximum), grow(maximum + 1)
    if len(at_max) != maximum or len(over) != maximum + 1:
        notes.append(
            "max_message_size not checked: grow() cannot make messages of exactly "
            f"{maximum} and {maximum + 1} bytes"
        )
        return False
    schedule = ReadSchedule()
    accepted = run_example(target, Example.whole(at_max, schedule)).outcome
    if accepted.close_reason in ("protocol-error", "session-failed"):
        raise LimitError(
            f"a message of exactly max_message_size ({maximum}) bytes was rejected: "
            f"{accepted.describe()}",
            Example.whole(at_max, schedule),
            target.label,
            check="work",
        )
    rejected = run_example(target, Example.whole(over, schedule)).outcome
    if rejected.close_reason != "protocol-error":
        raise LimitError(
            f"a message of max_message_size + 1 ({maximum + 1}) bytes was not rejected with a "
            f"ProtocolError ({rejected.describe()}): the consumer must not take part of a "
            "message to get round the receive buffer's cap",
            Example.whole(over, schedule),
            target.label,
            check="work",
        )
    return True
