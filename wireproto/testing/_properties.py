"""The property checks on one example, and the deterministic limits-and-work check.

Nothing here imports Hypothesis: regression replays and the atheris engine
use these functions directly.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from typing import TYPE_CHECKING, Any

from wireproto._detect import Detection, Verdict
from wireproto._errors import exception_text
from wireproto.testing._driver import Run, run_example
from wireproto.testing._types import Example, ReadSchedule, Stream
from wireproto.testing.errors import (
    CompletenessError,
    ConformanceError,
    DetectionError,
    LimitError,
    NonLinearWorkError,
    RoundTripError,
    SameOutcomeError,
    UnexpectedExceptionError,
)

if TYPE_CHECKING:
    from wireproto.testing._target import FuzzTarget

__all__ = [
    "QUADRATIC_SHARE",
    "Seeds",
    "WorkReport",
    "batch_work",
    "check_complete",
    "check_example",
    "check_extensions",
    "check_limits_and_work",
    "extensions",
    "limit_cuttings",
    "prepare_seeds",
    "quadratic_share",
    "work_sizes",
]

_DETECT_SCAN = 256
"""Every prefix up to this length is shown to the detectors; longer ones only at the cuts."""

_LIMIT_CHECK_MAX = 4 << 20
"""The max/max+1 message-size check runs when ``max_message_size`` is at most this."""


def check_example(target: FuzzTarget, example: Example, skip: frozenset[int] = frozenset()) -> Run:
    """Check properties 1-5 (7 for declaration-built streams, 8 for valid ones) on one example.

    Runs the stream whole, then as ``example`` cuts and reads it, and
    compares. Returns the cut run; raises a :class:`ConformanceError`.
    ``skip`` names properties not to check (a failure of 2, 3 or 4 still
    ends the run: it is raised as the probes see it).
    """
    if 5 not in skip:
        check_detection(target, example)
    whole = Example.whole(example.as_stream)
    reference = run_example(target, whole)
    run = reference if whole == example else run_example(target, example)
    expected, got = reference.outcome, run.outcome
    if expected != got:
        detail = f"whole stream: {expected.describe()}\n  as cut:       {got.describe()}"
        detected = (expected.wire_format, expected.close_reason == "no-match")
        if detected != (got.wire_format, got.close_reason == "no-match"):
            if 5 not in skip:
                raise DetectionError(
                    "the connection detected a different format when the stream was cut\n  "
                    + detail,
                    example,
                    target.label,
                )
        elif 1 not in skip:
            raise SameOutcomeError(
                "the outcome depends on how the stream is cut or read\n  " + detail,
                example,
                target.label,
            )
    if example.messages and 7 not in skip:
        _check_round_trip(target, example, reference, run)
    if example.valid and 8 not in skip:
        check_complete(target, example, run)
    return run


_DRIP_REPLIES_MAX = 4096
"""Valid streams up to this size are also dripped to count replies per message."""


def check_complete(target: FuzzTarget, example: Example, run: Run) -> None:
    """Property 8: a stream of valid messages is detected, consumed to its last byte and,
    where the target declares replies, answered once per message."""
    outcome = run.outcome
    name = target.wire_format.name

    def fail(detail: str, shown: Example = example) -> CompletenessError:
        return CompletenessError(
            f"{detail} (a stream of {len(example.boundaries) or 'valid'} valid message(s); "
            f"they end at {', '.join(map(str, example.boundaries)) or 'unknown offsets'}): "
            f"{outcome.describe()}",
            shown,
            target.label,
        )

    if outcome.wire_format != name:
        if outcome.wire_format is None:
            raise fail(f"the stream was never detected as {name!r}")
        raise fail(f"the stream was detected as {outcome.wire_format!r}, not {name!r}")
    if outcome.close_reason == "session-closed":
        return  # the session ended the connection itself (a QUIT): the rest is not read
    if outcome.close_reason is not None:
        raise fail(f"the connection was closed ({outcome.close_reason})")
    if run.consumed != len(example.stream):
        raise fail(
            f"the session consumed {run.consumed} of the {len(example.stream)} bytes and "
            "waits for more"
        )
    if not target.replies or not example.boundaries or len(example.stream) > _DRIP_REPLIES_MAX:
        return
    drip = Example.drip(example.as_stream)
    dripped = run if example == drip else run_example(target, drip)
    answered = sorted(set(dripped.reply_ends))
    if answered != sorted(set(example.boundaries)):
        missing = sorted(set(example.boundaries) - set(answered))
        early = sorted(set(answered) - set(example.boundaries))
        what = []
        if missing:
            what.append(f"no reply when the message ending at {missing[0]} was complete")
        if early:
            what.append(f"a reply at offset {early[0]}, inside a message")
        raise CompletenessError(
            f"replies are declared, but dripped one byte at a time the stream got "
            f"{'; '.join(what)} (messages end at {', '.join(map(str, example.boundaries))})",
            example,  # the drip is rerun from it, so a replay fails the same way
            target.label,
        )


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
                f"{what} raised {exception_text(exc)} on the first {length} bytes; "
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
    # After the stream's own prefixes, so that a flip inside the stream is shown on it.
    if decided is not None and decided[0] < target.settings.max_detect_bytes:
        prefix = data[: decided[0]]
        check_extensions(what, ask, prefix, decided[1], target=target, example=example)


_TAILS = 4
"""Random tails tried after a decided prefix, besides each one-byte extension."""


def extensions(prefix: bytes) -> list[bytes]:
    """``prefix`` extended by each of the 256 next bytes, then by a few random tails
    (seeded by the prefix, so the check is deterministic)."""
    found = [prefix + bytes((value,)) for value in range(256)]
    chooser = random.Random(hashlib.sha256(prefix).digest())
    found.extend(prefix + chooser.randbytes(chooser.randint(2, 32)) for _ in range(_TAILS))
    return found


def check_extensions(
    what: str,
    ask: Callable[[bytes], str],
    prefix: bytes,
    answer: str,
    *,
    target: FuzzTarget,
    example: Example | None = None,
) -> None:
    """A decided answer on ``prefix`` must hold on every extension of it (property 5)."""
    for longer in extensions(prefix):
        try:
            again = ask(longer)
        except ConformanceError:
            raise
        except Exception as exc:
            raise UnexpectedExceptionError(
                f"{what} raised {exception_text(exc)} on {len(longer)} bytes; "
                "a detector must answer, never raise",
                Example.whole(longer),
                target.label,
            ) from None
        if again != answer:
            raise DetectionError(
                f"{what} answered {answer!r} for the first {len(prefix)} bytes "
                f"({prefix[:32].hex(' ')}), then {again!r} once {len(longer) - len(prefix)} "
                "more arrived: it decided before the bytes it depends on had arrived",
                Example.whole(longer),
                target.label,
            )


def _check_round_trip(target: FuzzTarget, example: Example, reference: Run, run: Run) -> None:
    declaration = target.message
    if declaration is not None:
        for index, message in enumerate(example.messages):
            try:
                rebuilt = declaration.build(declaration.parse(message))
            except Exception as exc:
                raise RoundTripError(
                    f"message #{index} ({message.hex(' ')}) built from the declaration does not "
                    f"parse and build again: {exception_text(exc)}",
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
        run = check_example(target, Example.drip(Stream(data, valid=True)))
        marks = run.reply_ends or run.consume_ends
        ends = tuple(sorted({end for end in marks if 0 < end <= len(data)}))
        streams.append(Stream(data, ends, valid=True))
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


_Row = tuple[int, int, int, int, int]
"""A batch measurement: stream size, line events, bytes allocated, per-call peaks, replies."""


@dataclass(frozen=True, slots=True)
class WorkReport:
    """What the deterministic check measured, and what it had to skip."""

    drip: tuple[tuple[int, int, int, int], ...] = ()
    """(stream size, line events, bytes allocated, per-call peaks) for each one-byte drip."""
    batch: tuple[tuple[int, int, int, int, int], ...] = ()
    """(stream size, line events, bytes allocated, per-call peaks, reply bytes) for each whole
    read (k, 4k and 16k messages, see _BATCH_SCALES)."""
    limits_checked: bool = False
    notes: tuple[str, ...] = field(default=())
    instructions: tuple[tuple[int, int], ...] = ()
    """(stream size, instructions retired in the consumer) for each drip, where counted."""

    def describe(self) -> str:
        """A short summary."""
        parts = []
        for label, rows in (("drip", self.drip), ("batch", self.batch)):
            if len(rows) >= 2:
                (n1, l1, a1, *_), (n2, l2, a2, *_) = rows[0], rows[-1]
                allocation = f", allocation x{_ratio(a2, a1):.2f}" if min(a1, a2) >= 0 else ""
                parts.append(f"{label} {n1}->{n2} bytes: lines x{_ratio(l2, l1):.2f}{allocation}")
        if len(self.batch) == 3:
            lines, allocated = quadratic_share(self.batch, 1), quadratic_share(self.batch, 2)
            parts.append(f"batch n^2 share: lines {lines:.2f}, allocation {allocated:.2f}")
        if len(self.instructions) == 2:
            (n1, i1), (n2, i2) = self.instructions
            parts.append(f"drip {n1}->{n2} bytes: instructions x{_ratio(i2, i1):.2f}")
        if self.limits_checked:
            parts.append("max_message_size checked at max and max+1, whole, dripped and cut")
        return "; ".join(parts + list(self.notes)) or "nothing measured"


def _ratio(high: int, low: int) -> float:
    return high / low if low else float(high > 0) * 99.0


_MIN_CALLS_FOR_ALLOCATION = 32
"""Over fewer calls, per-call allocation peaks are noise (container resizes)."""

_DRIP_MAX = 1024
"""The larger drip of the work check is at most this many bytes (less under a smaller limit)."""

_BATCH_BYTES = 1024
"""The smallest whole read of the batch check holds at least this many bytes of messages."""

_BATCH_SCALES = (1, 4, 16)
"""The batch check reads k, 4k and 16k messages at once: three sizes fit a + b*n + c*n**2
(a wide span: a step in a linear cost, such as a buffer doubling, hardly bends the fit)."""

QUADRATIC_SHARE = 0.25
"""The batch check fails when the fitted c*n**2 term is more than this share of the work at
the largest size. The built-in formats' term is at most 0.03; a copy of the rest of the
buffer per 16-byte message makes 0.97. Constant and linear costs (the consumer's own per
message) cancel in the fit: such a copy stays found under a linear cost a hundred times
larger."""

_DRIP_MIN = 16
"""Below this larger drip size, the work check is not meaningful and is skipped."""


def work_sizes(max_message_size: int) -> tuple[int, int] | None:
    """The two drip sizes of the work check, from the target's own limit (None: too small)."""
    high = min(_DRIP_MAX, max_message_size)
    if high < _DRIP_MIN:
        return None
    return high // 2, high


def _measure(target: FuzzTarget, example: Example) -> tuple[int, int, int, int]:
    """(stream size, line events, bytes allocated, sum of per-call allocation peaks); the
    peaks are -1 over too few calls (container resizes are noise then)."""
    return _measure_replies(target, example)[:4]


def _measure_replies(target: FuzzTarget, example: Example) -> _Row:
    """:func:`_measure`, and the reply bytes the stream got."""
    from wireproto.testing._work import WorkMeter, tracing  # noqa: PLC0415

    lines = WorkMeter()
    replied = len(run_example(target, example, lines).outcome.replies)
    cumulative = WorkMeter(allocation=True)
    peaks = WorkMeter(allocation=True, cumulative=False)
    with tracing():
        run_example(target, example, cumulative)
        run_example(target, example, peaks)
    allocated = cumulative.allocated
    if peaks.calls < _MIN_CALLS_FOR_ALLOCATION:
        peaks.allocated = -1
    return len(example.stream), lines.lines, allocated, peaks.allocated, replied


_ALLOCATION_FLOOR = 8
"""The batch check's c*n**2 term of cumulative allocation must exceed this many bytes per byte
of the largest read to count: the interpreter's own allocations (frames, reply buffers
growing) are not copies of the bytes."""


def _superlinear(rows: Any) -> tuple[str, int, int] | None:
    (n1, lines1, _, peak1), (n2, lines2, _, peak2) = rows
    checks = [
        ("line events", lines1, lines2, n1),
        ("bytes allocated (per-call peaks)", peak1, peak2, n1),
    ]
    for what, low, high, floor in checks:
        if _excessive(n1, n2, low, high, floor):
            return what, low, high
    return None


def quadratic_share(rows: Sequence[_Row], column: int) -> float:
    """The share of the work at the largest of three sizes that the c*n**2 term of the
    quadratic through the three points makes (0 if the work is not measured or shrinks).

    n is the bytes fed and the reply bytes: a session whose replies grow faster than its
    input (a subscription repeated with every message fans each write out to all of them)
    does work in proportion to what it sends, which is not a re-scan."""
    (n1, w1), (n2, w2), (n3, w3) = ((row[0] + row[4], row[column]) for row in rows)
    if min(w1, w2, w3) < 0 or w3 <= 0:
        return 0.0
    # Work above the line through the two smaller points: c*(n3-n2)*(n3-n1) for a quadratic.
    excess = w3 - w2 - (w2 - w1) * (n3 - n2) / (n2 - n1)
    quadratic = excess / ((n3 - n2) * (n3 - n1)) * n3 * n3
    return max(0.0, quadratic / w3)


def _quadratic(rows: Sequence[_Row]) -> tuple[str, int, int, int, float] | None:
    """What grows quadratically over the batch sizes: (measure, work at each size, share)."""
    n3 = rows[-1][0]
    checks = [("line events", 1, n3), ("bytes allocated", 2, _ALLOCATION_FLOOR * n3)]
    for what, column, floor in checks:
        share = quadratic_share(rows, column)
        works = [row[column] for row in rows]
        if share > QUADRATIC_SHARE and share * works[-1] > floor:
            return what, works[0], works[1], works[2], share
    return None


def _excessive(n1: int, n2: int, low: int, high: int, floor: int | None = None) -> bool:
    if low < 0 or high < 0:
        return False
    scale = n2 / n1
    # Linear work scales by `scale`; a re-scan per read by `scale` squared.
    excess = high - scale * low
    return excess > (scale - 1) * low and excess > (n1 if floor is None else floor)


def check_limits_and_work(
    target: FuzzTarget, seeds: Seeds | None = None, sizes: tuple[int, int] | None = None
) -> WorkReport:
    """Property 6: work stays linear in the bytes fed, and max_message_size holds.

    Work (see :mod:`wireproto.testing._work`) is compared between a one-byte
    drip of ``grow(n)`` and of ``grow(2n)``, 2n being the target's
    ``max_message_size`` up to 1024 (a parser that re-scans its buffered
    bytes on every read does about four times the work), and between whole
    reads of a corpus/built stream repeated k, 4k and 16k times (k messages
    of at least 1 KB): the work is fitted by a + b*n + c*n**2 through the
    three, and a parser that copies or re-scans the rest of the buffer per
    message, whose c*n**2 term is most of the work whatever its constant and
    linear costs, fails when that term is over a quarter of the work at 16k.
    Then a message of
    exactly ``max_message_size`` bytes must be accepted and one of
    ``max_message_size + 1`` rejected with a ``ProtocolError``, whole,
    dripped and cut near its end. Raises :class:`NonLinearWorkError` or
    :class:`LimitError`; returns what was measured and skipped.
    """
    from wireproto.testing._target import target_grow, target_limits  # noqa: PLC0415

    notes: list[str] = []
    grow = target_grow(target)
    maximum = target_limits(target).max_message_size
    chosen = sizes if sizes is not None else work_sizes(maximum)
    drip: tuple[tuple[int, int, int, int], ...] = ()
    instructions: tuple[tuple[int, int], ...] = ()
    if grow is None:
        notes.append("drip work not checked: no grow function or message declaration")
    elif chosen is None:
        notes.append(f"drip work not checked: max_message_size {maximum} is below {_DRIP_MIN}")
    else:
        streams = [grow(size) for size in chosen]
        if len(streams[1]) <= len(streams[0]):
            notes.append("drip work not checked: grow() does not make longer streams")
        else:
            first = _measure(target, Example.drip(streams[0]))
            second = _measure(target, Example.drip(streams[1]))
            drip = (first, second)
            _raise_if_superlinear(target, drip, Example.drip(streams[0]), "a one-byte drip")
            instructions = _count_instructions(target, streams, notes)
    batch: tuple[_Row, ...] = ()
    unit = _batch_unit(target, seeds, grow)
    if unit:
        batch = batch_work(target, unit)
        _raise_if_quadratic(target, batch, _batch_examples(unit)[0])
    else:
        notes.append("batch work not checked: no corpus or message declaration")
    limits_checked = _check_max_message_size(target, grow, maximum, notes)
    return WorkReport(drip, batch, limits_checked, tuple(notes), instructions)


def _count_instructions(
    target: FuzzTarget, streams: list[bytes], notes: list[str]
) -> tuple[tuple[int, int], ...]:
    """Instructions retired by the consumer during each drip, where the kernel counts them."""
    from wireproto.testing._perf import InstructionCounter  # noqa: PLC0415
    from wireproto.testing._work import WorkMeter  # noqa: PLC0415

    counter = InstructionCounter.open()
    if isinstance(counter, str):
        notes.append(f"instructions not counted: {counter}")
        return ()
    rows: list[tuple[int, int]] = []
    with counter:
        for data in streams:
            meter = WorkMeter(counter=counter)
            run_example(target, Example.drip(data), meter)
            rows.append((len(data), meter.instructions))
    (n1, low), (n2, high) = rows
    if _excessive(n1, n2, low, high) and high - (n2 / n1) * low > 100 * n1:
        raise NonLinearWorkError(
            f"a one-byte drip of a {n1}-byte stream cost {low} instructions in the consumer, "
            f"of a {n2}-byte stream {high} (x{_ratio(high, low):.1f}; linear work would be "
            f"about x{n2 / n1:.0f}): the parser re-scans bytes it has already seen on every "
            "call, in C",
            Example.drip(streams[0]),
            target.label,
            check="work",
        )
    return tuple(rows)


def _batch_examples(unit: bytes) -> list[Example]:
    """Whole reads of k, 4k and 16k copies of ``unit`` (many messages in one read: not
    bounded by max_message_size)."""
    repeat = max(1, _BATCH_BYTES // len(unit) + 1)
    streams = [unit * (scale * repeat) for scale in _BATCH_SCALES]
    schedule = ReadSchedule(initial_buffer_size=len(streams[-1]))
    return [Example.whole(data, schedule) for data in streams]


def batch_work(target: FuzzTarget, unit: bytes | None = None) -> tuple[_Row, ...]:
    """The work of the batch check's three whole reads (``unit``: the target's own batch
    unit, from its corpus or ``grow``, by default)."""
    if unit is None:
        from wireproto.testing._target import target_grow  # noqa: PLC0415

        unit = _batch_unit(target, None, target_grow(target))
    return tuple(_measure_replies(target, example) for example in _batch_examples(unit))


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


def _raise_if_quadratic(target: FuzzTarget, rows: Sequence[_Row], example: Example) -> None:
    found = _quadratic(rows)
    if found is None:
        return
    what, *works, share = found
    sizes = [row[0] for row in rows]
    raise NonLinearWorkError(
        f"one read of many messages of {sizes[0]}, {sizes[1]} and {sizes[2]} bytes cost "
        f"{works[0]}, {works[1]} and {works[2]} {what} in the consumer: fitted as "
        f"a + b*n + c*n^2, the c*n^2 term is {share:.0%} of the work at {sizes[2]} bytes "
        f"(a linear parser's is about 0; over {QUADRATIC_SHARE:.0%} fails): the parser "
        "re-scans or copies bytes it has already seen for every message",
        example,
        target.label,
        check="work",
    )


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


_LIMIT_DRIP_MAX = 1 << 16
"""Messages at max and max+1 up to this size are also dripped."""


def limit_cuttings(data: bytes) -> list[Example]:
    """How the max/max+1 messages arrive: whole, dripped (when small enough), cut just
    before each of the last bytes (a CR and LF apart, a last length byte alone), in two
    halves, and read through a one-byte initial buffer."""
    size = len(data)
    found = [Example.whole(data)]
    if size <= _LIMIT_DRIP_MAX:
        found.append(Example.drip(data))
    points = sorted({point for point in (size - 1, size - 2, size - 3, size // 2) if point > 0})
    found += [Example.cut(data, (point, size - point)) for point in points]
    found.append(Example.whole(data, ReadSchedule(initial_buffer_size=1)))
    return found


def _check_max_message_size(
    target: FuzzTarget, grow: Callable[[int], bytes] | None, maximum: int, notes: list[str]
) -> bool:
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
    for example in limit_cuttings(at_max):
        accepted = run_example(target, example).outcome
        if accepted.close_reason in ("protocol-error", "session-failed"):
            raise LimitError(
                f"a message of exactly max_message_size ({maximum}) bytes was rejected when "
                f"it arrived as {example.describe_cut()}: {accepted.describe()}",
                example,
                target.label,
                check="work",
            )
    for example in limit_cuttings(over):
        rejected = run_example(target, example).outcome
        if rejected.close_reason != "protocol-error":
            raise LimitError(
                f"a message of max_message_size + 1 ({maximum + 1}) bytes was not rejected with "
                f"a ProtocolError when it arrived as {example.describe_cut()} "
                f"({rejected.describe()}): the consumer must not take part of a message to get "
                "round the receive buffer's cap",
                example,
                target.label,
                check="work",
            )
    return True
