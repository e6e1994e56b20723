"""How the kit detects each property, one small consumer or detector at a time, and what it
must not flag."""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import Any

import construct as c
import pytest

from wireproto import Limits, NetworkSender, ProtocolError, Verdict, WireFormat
from wireproto.testing import Example, FuzzTarget, ReadSchedule, Stream, check_example
from wireproto.testing._driver import run_example
from wireproto.testing._properties import check_limits_and_work
from wireproto.testing._work import WorkMeter
from wireproto.testing.errors import (
    ByteAccountingError,
    DetectionError,
    KeptViewError,
    LimitError,
    RoundTripError,
    UnexpectedExceptionError,
)

LINE = c.NullTerminated(c.GreedyBytes, term=b"\n")


class Lines:
    """A correct line consumer: answers ``+line`` for each line, keeps nothing."""

    def __init__(self, sender: NetworkSender) -> None:
        self.sender = sender
        self.searched = 0

    def try_consume(self, data: memoryview, /) -> int:
        offset = 0
        while True:
            end = bytes(data[offset + self.searched :]).find(b"\n")
            if end < 0:
                self.searched = len(data) - offset
                return offset
            end += offset + self.searched
            self.sender.send(b"+" + bytes(data[offset:end]))
            offset = end + 1
            self.searched = 0

    def close(self) -> None:
        pass


def target(consumer: Callable[[NetworkSender], Any], **options: Any) -> FuzzTarget:
    options.setdefault("message", LINE)
    return FuzzTarget.from_consumer(consumer, **options)


def test_a_correct_consumer_passes_every_cut() -> None:
    good = target(Lines)
    stream = b"ab\ncd\n\nlast"
    whole = run_example(good, Example.whole(stream)).outcome
    assert whole.replies == b"+ab+cd+"
    assert not whole.closed
    for cut in ((1,) * len(stream), (3, 3, 5), (2, 9)):
        check_example(good, Example.cut(stream, cut, ReadSchedule(1, (2, 1))))


class KeepsObject(Lines):
    def try_consume(self, data: memoryview, /) -> int:
        self.kept = data.obj  # the bytes behind the view
        return super().try_consume(data)


class UsesOldView(Lines):
    def try_consume(self, data: memoryview, /) -> int:
        previous = getattr(self, "previous", None)
        if previous is not None:
            bytes(previous)  # the view from the last call
        self.previous = data
        return super().try_consume(data)


@pytest.mark.parametrize(
    ("consumer", "words"),
    [(KeepsObject, "underlying object"), (UsesOldView, "earlier try_consume")],
)
def test_other_ways_of_keeping_the_view_are_caught(consumer: type[Lines], words: str) -> None:
    with pytest.raises(KeptViewError, match=words):
        check_example(target(consumer), Example.drip(b"ab\n"))


class SliceInTraceback(Lines):
    def try_consume(self, data: memoryview, /) -> int:
        header = data[:2]
        if bytes(header) == b"!!":
            raise ProtocolError("bang")
        return super().try_consume(data)


class SliceInCycle(Lines):
    def try_consume(self, data: memoryview, /) -> int:
        holder: list[Any] = [data[:1]]
        holder.append(holder)  # garbage, but only the collector can free it
        return super().try_consume(data)


@pytest.mark.parametrize("consumer", [SliceInTraceback, SliceInCycle])
def test_views_only_garbage_or_a_traceback_holds_are_not_kept(consumer: type[Lines]) -> None:
    gc.collect()
    check_example(target(consumer), Example.drip(b"ab\n!!x"))


class ReturnsBool(Lines):
    def try_consume(self, data: memoryview, /) -> int:
        return bool(super().try_consume(data))


class ReturnsNegative(Lines):
    def try_consume(self, data: memoryview, /) -> int:
        return -1 if data[:1] == b"-" else super().try_consume(data)


@pytest.mark.parametrize(("consumer", "returned"), [(ReturnsBool, "True"), (ReturnsNegative, "-1")])
def test_counts_that_are_not_ints_in_range_are_caught(consumer: type[Lines], returned: str) -> None:
    with pytest.raises(ByteAccountingError, match=f"returned {returned} for"):
        check_example(target(consumer), Example.whole(b"-abc\n"))


class FailsToClose(Lines):
    def close(self) -> None:
        raise RuntimeError("double free")


def failing_factory(sender: NetworkSender) -> Lines:
    raise KeyError("no session for you")


@pytest.mark.parametrize(
    ("consumer", "words"),
    [(FailsToClose, "close\\(\\) raised RuntimeError"), (failing_factory, "create_session")],
)
def test_exceptions_outside_try_consume_are_caught(
    consumer: Callable[[NetworkSender], Any], words: str
) -> None:
    with pytest.raises(UnexpectedExceptionError, match=words):
        check_example(target(consumer), Example.whole(b"a\n"))


def test_a_protocol_error_is_an_allowed_outcome() -> None:
    outcome = run_example(target(SliceInTraceback), Example.whole(b"ok\n!!")).outcome
    assert outcome.close_reason == "protocol-error"
    assert outcome.error == "ProtocolError: bang"
    assert outcome.replies == b"+ok"


def raising_detector(data: bytes) -> Verdict:
    return Verdict.MATCH if data[1] == 0x41 else Verdict.NO_MATCH  # IndexError on 1 byte


def not_a_verdict(data: bytes) -> Verdict:
    return "match"  # type: ignore[return-value]


class Moody:
    """A detector that is not a pure function: its answer depends on how often it was asked."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, data: bytes) -> Verdict:
        self.calls += 1
        return Verdict.MATCH if self.calls % 2 else Verdict.NEED_MORE


@pytest.mark.parametrize(
    ("detector", "failure", "words"),
    [
        (raising_detector, UnexpectedExceptionError, "raised IndexError"),
        (not_a_verdict, DetectionError, "returned 'match', not a Verdict"),
        (Moody(), DetectionError, "for the same 1 bytes"),
    ],
)
def test_detector_bugs_are_caught(
    detector: Callable[[bytes], Verdict], failure: type[Exception], words: str
) -> None:
    fmt = WireFormat("moody", detector)
    with pytest.raises(failure, match=words):
        check_example(target(Lines, wire_format=fmt), Example.whole(b"AA\n"))


def test_declaration_mismatches_are_round_trip_failures() -> None:
    swallowing = c.Struct("head" / c.GreedyBytes, "tail" / c.Const(b"\n"))
    stream = Stream.of_messages((swallowing.build({"head": b"ab"}),), built=True)
    with pytest.raises(RoundTripError, match="does not parse"):
        check_example(target(Lines, message=swallowing), Example.whole(stream))


class TwoLinesAtOnce(Lines):
    """Consumes only in pairs of lines: inside a declared message when the count is odd."""

    def try_consume(self, data: memoryview, /) -> int:
        text = bytes(data)
        first = text.find(b"\n")
        if first < 0 or text.find(b"\n", first + 1) < 0:
            return 0
        second = text.find(b"\n", first + 1)
        self.sender.send(b"+" + text[:second])
        return first + 1 + (second - first) // 2  # BUG: stops in the middle of line two


def test_consuming_inside_a_built_message_is_a_round_trip_failure() -> None:
    stream = Stream.of_messages((b"aaaa\n", b"bbbb\n"), built=True)
    with pytest.raises(RoundTripError, match="inside message #1"):
        check_example(target(TwoLinesAtOnce), Example.whole(stream))


class Hoarder(Lines):
    """Takes every byte into its own buffer: the receive buffer's cap never applies."""

    def __init__(self, sender: NetworkSender) -> None:
        super().__init__(sender)
        self.hoard = bytearray()

    def try_consume(self, data: memoryview, /) -> int:
        self.hoard += data
        while b"\n" in self.hoard:
            line, _, rest = bytes(self.hoard).partition(b"\n")
            self.sender.send(b"+" + line)
            self.hoard = bytearray(rest)
        return len(data)


class Strict(Lines):
    """Rejects a line of exactly max_message_size bytes (one short of what it must accept)."""

    def try_consume(self, data: memoryview, /) -> int:
        if len(data) >= 64:
            raise ProtocolError("line too long")
        return super().try_consume(data)


@pytest.mark.parametrize(
    ("consumer", "words"),
    [(Hoarder, "max_message_size \\+ 1 \\(65\\) bytes was not rejected"), (Strict, "exactly")],
)
def test_max_message_size_is_checked_at_max_and_max_plus_one(
    consumer: type[Lines], words: str
) -> None:
    small = target(consumer, limits=Limits(max_message_size=64))
    with pytest.raises(LimitError, match=words):
        check_limits_and_work(small)


def test_a_correct_consumer_passes_the_limits_check() -> None:
    report = check_limits_and_work(target(Lines, limits=Limits(max_message_size=64)))
    assert report.limits_checked
    assert len(report.drip) == 2 and len(report.batch) == 3


def test_the_work_meter_counts_the_consumers_lines_only() -> None:
    meter = WorkMeter()
    run_example(target(Lines), Example.drip(b"abc\n"), meter)
    assert meter.calls == 4
    first = meter.lines
    meter = WorkMeter()
    run_example(target(Lines), Example.drip(b"abcdefg\n"), meter)
    assert meter.calls == 8
    # The same lines per call, whatever the buffered size: about twice the work.
    assert 1.5 * first <= meter.lines <= 2.5 * first
