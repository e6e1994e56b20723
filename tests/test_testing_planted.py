"""Planted bugs: each small consumer or detector below breaks one property, and the kit
must catch it, name the property, and show a short input.

The targets are module-level so that ``wireproto fuzz tests.test_testing_planted:NAME``
finds them too (see ``tests/test_testing_cli.py``).

The test format "lp": each frame is ``b"L"``, a 2-byte big-endian payload length, then
the payload; every frame is answered with ``b"+"`` and its payload.
"""

from __future__ import annotations

from dataclasses import replace

import construct as c
import pytest

from wireproto import Limits, NetworkSender, ProtocolError, Verdict, WireFormat, match_prefix
from wireproto._session import MessageConsumer
from wireproto.framing import DelimiterFramer, FramedConsumer
from wireproto.testing import ConformanceError, FuzzTarget, check_wire_format
from wireproto.testing.errors import (
    ByteAccountingError,
    CompletenessError,
    DetectionError,
    KeptViewError,
    LimitError,
    NonLinearWorkError,
    RoundTripError,
    SameOutcomeError,
    UnexpectedExceptionError,
)

LP = WireFormat("lp", match_prefix(b"L"))
LP_FRAME = c.Struct("magic" / c.Const(b"L"), "payload" / c.Prefixed(c.Int16ub, c.GreedyBytes))
VARINT_FRAME = c.Prefixed(c.VarInt, c.GreedyBytes)
LINE = c.NullTerminated(c.GreedyBytes, term=b"\n")


class GoodLp:
    """The correct lp consumer: every whole frame at the head, nothing kept."""

    def __init__(self, sender: NetworkSender) -> None:
        self.sender = sender

    def try_consume(self, data: memoryview, /) -> int:
        offset = 0
        while len(data) - offset >= 3:
            if data[offset] != ord("L"):
                raise ProtocolError("bad magic")
            length = int.from_bytes(data[offset + 1 : offset + 3], "big")
            if len(data) - offset - 3 < length:
                break
            self.sender.send(b"+" + bytes(data[offset + 3 : offset + 3 + length]))
            offset += 3 + length
        return offset

    def close(self) -> None:
        pass


class OneFramePerRead(GoodLp):
    """Frames misread when several share one buffer: it assumes one frame per read."""

    def try_consume(self, data: memoryview, /) -> int:
        if len(data) < 3:
            return 0
        length = int.from_bytes(data[1:3], "big")
        if len(data) < 3 + length:
            return 0
        self.sender.send(b"+" + bytes(data[3 : 3 + length]))
        return len(data)  # BUG: the rest of the buffer may hold more frames


class LosesShortFirstRead(GoodLp):
    """Bytes lost when the first read is short: it stashes a short first read, then forgets it."""

    def __init__(self, sender: NetworkSender) -> None:
        super().__init__(sender)
        self.first = True
        self.stash = b""

    def try_consume(self, data: memoryview, /) -> int:
        if self.first:
            self.first = False
            if len(data) < 3:
                self.stash = bytes(data)  # BUG: never put back in front of the next read
                return len(data)
        return super().try_consume(data)


class VarintSplit:
    """A varint prefix split across reads: the prefix bytes present are taken as all of it."""

    def __init__(self, sender: NetworkSender) -> None:
        self.sender = sender

    def try_consume(self, data: memoryview, /) -> int:
        offset = 0
        while offset < len(data):
            length, shift, start = 0, 0, offset
            while start < len(data):  # BUG: running out of bytes mid-prefix should mean "wait"
                byte = data[start]
                length |= (byte & 0x7F) << shift
                shift += 7
                start += 1
                if not byte & 0x80:
                    break
            if len(data) < start + length:
                break
            self.sender.send(b"+" + bytes(data[start : start + length]))
            offset = start + length
        return offset

    def close(self) -> None:
        pass


class KeepsView(GoodLp):
    """A kept memoryview: it holds on to a partial frame's bytes as a slice."""

    def try_consume(self, data: memoryview, /) -> int:
        used = super().try_consume(data)
        if used < len(data):
            self.partial = data[used:]  # BUG: a view of the buffer, kept after returning
        return used


class ClaimsMore(GoodLp):
    """A consumer claiming more bytes than given: it never checks the payload is complete."""

    def try_consume(self, data: memoryview, /) -> int:
        if len(data) < 3:
            return 0
        length = int.from_bytes(data[1:3], "big")
        self.sender.send(b"+" + bytes(data[3 : 3 + length]))
        return 3 + length  # BUG: may be more than len(data)


_OPERATIONS = (b"+", b"-", b"?")


class LeaksIndexError(GoodLp):
    """An IndexError leaking from malformed input: the payload's first byte indexes a table."""

    def try_consume(self, data: memoryview, /) -> int:
        offset = 0
        while len(data) - offset >= 3:
            length = int.from_bytes(data[offset + 1 : offset + 3], "big")
            if len(data) - offset - 3 < length:
                break
            payload = bytes(data[offset + 3 : offset + 3 + length])
            self.sender.send(_OPERATIONS[payload[0]] + payload[1:])  # BUG: unchecked index
            offset += 3 + length
        return offset


def flipping_detector(data: bytes) -> Verdict:
    """A detector that flips: it matches before the version byte it checks has arrived."""
    if not data.startswith(b"L"):
        return Verdict.NO_MATCH if data else Verdict.NEED_MORE
    if len(data) < 4:
        return Verdict.MATCH  # BUG: should be NEED_MORE until byte 3 is known
    return Verdict.MATCH if data[3] < 0x80 else Verdict.NO_MATCH


class RescansInPython:
    """A parser that re-scans from the start on every read, byte by byte in Python."""

    def __init__(self, sender: NetworkSender) -> None:
        self.sender = sender

    def try_consume(self, data: memoryview, /) -> int:
        for index in range(len(data)):  # BUG: starts again at 0 after every read
            if data[index] == 0x0A:
                self.sender.send(b"+" + bytes(data[:index]))
                return index + 1
        return 0

    def close(self) -> None:
        pass


class RescansCopies(RescansInPython):
    """A parser that copies the whole buffer and searches it again on every read."""

    def try_consume(self, data: memoryview, /) -> int:
        end = bytes(data).find(b"\n")  # BUG: a full copy and a search from 0, per read
        if end < 0:
            return 0
        self.sender.send(b"+" + bytes(data[:end]))
        return end + 1


def decides_too_early(data: bytes) -> Verdict:
    """A detector that decides on ``L`` alone, although ``LX`` is not lp."""
    if not data:
        return Verdict.NEED_MORE
    if data[:1] != b"L":
        return Verdict.NO_MATCH
    if len(data) == 1:
        return Verdict.MATCH  # BUG: should be NEED_MORE until the second byte is known
    return Verdict.NO_MATCH if data[1:2] == b"X" else Verdict.MATCH


def window_of_four(data: bytes) -> Verdict:
    """A detector that waits for 4 bytes, though the shortest lp message has 3."""
    if len(data) < 4:  # BUG: a lone 3-byte message is never decided
        return Verdict.NEED_MORE if data[:1] in (b"", b"L") else Verdict.NO_MATCH
    return Verdict.MATCH if data[:1] == b"L" else Verdict.NO_MATCH


class RelativeOffset(GoodLp):
    """Returns where the last message ends relative to that message, not to the call."""

    def try_consume(self, data: memoryview, /) -> int:
        offset = start = 0
        while len(data) - offset >= 3:
            if data[offset] != ord("L"):
                raise ProtocolError("bad magic")
            length = int.from_bytes(data[offset + 1 : offset + 3], "big")
            if len(data) - offset - 3 < length:
                break
            self.sender.send(b"+" + bytes(data[offset + 3 : offset + 3 + length]))
            start = offset
            offset += 3 + length
        return offset - start  # BUG: right only when the call held a single message


MAX_LINE = 64
"""The longest line of the CRLF line format, CR and LF included."""


def line_grow(size: int) -> bytes:
    """A line of ``size`` bytes, CRLF included (at least the CRLF)."""
    return b"a" * max(0, size - 2) + b"\r\n"


class CrlfLines:
    """Lines ending in CRLF, at most ``MAX_LINE`` bytes with the CRLF; each answered."""

    def __init__(self, sender: NetworkSender) -> None:
        self.sender = sender

    def try_consume(self, data: memoryview, /) -> int:
        offset = 0
        while True:
            window = bytes(data[offset : offset + MAX_LINE])
            end = window.find(b"\r\n")
            if end < 0:
                # A CR as the last byte of a full window may be followed by its LF.
                if len(window) >= MAX_LINE and not (
                    len(window) == MAX_LINE and window.endswith(b"\r")
                ):
                    raise ProtocolError("line too long")
                return offset
            self.sender.send(b"+" + window[:end] + b"\r\n")
            offset += end + 2

    def close(self) -> None:
        pass


class CutCrlf(CrlfLines):
    """Refuses a line of exactly the maximum when its CR arrives without its LF."""

    def try_consume(self, data: memoryview, /) -> int:
        offset = 0
        while True:
            window = bytes(data[offset : offset + MAX_LINE])
            end = window.find(b"\r\n")
            if end < 0:
                if len(window) > MAX_LINE - 2:  # BUG: counts the CR of a line at the maximum
                    raise ProtocolError("line too long")
                return offset
            self.sender.send(b"+" + window[:end] + b"\r\n")
            offset += end + 2


HB = WireFormat("hb", match_prefix(b"#"))
HB_MAX = 256


def hb_grow(size: int) -> bytes:
    """An hb message of about ``size`` bytes: ``#<length>\\n`` then the body."""
    body = max(0, size - 2 - len(str(size)))
    header = b"#%d\n" % body
    if len(header) + body != size and body:  # the length's digits changed width
        body = max(0, size - len(b"#%d\n" % (body - 1)))
        header = b"#%d\n" % body
    return header + b"b" * body


class HeaderThenBody:
    """A stateful consumer: it consumes the ``#<length>\\n`` header first, then the body."""

    def __init__(self, sender: NetworkSender) -> None:
        self.sender = sender
        self.length: int | None = None

    def try_consume(self, data: memoryview, /) -> int:
        if self.length is None:
            end = bytes(data[:8]).find(b"\n")
            if end < 0:
                if len(data) >= 8:
                    raise ProtocolError("header too long")
                return 0
            digits = bytes(data[1:end])
            if data[0] != ord("#") or not digits.isdigit():
                raise ProtocolError("bad header")
            length = int(digits)
            if end + 1 + length > HB_MAX:
                raise ProtocolError("message too long")
            if len(data) - end - 1 < length:
                self.length = length
                return end + 1  # the header now; the body when it is all there
            self.sender.send(b"+" + bytes(data[end + 1 : end + 1 + length]))
            return end + 1 + length
        length = self.length
        if len(data) < length:
            return 0
        self.sender.send(b"+" + bytes(data[:length]))
        self._done()
        return length

    def _done(self) -> None:
        self.length = None

    def close(self) -> None:
        pass


class KeepsLength(HeaderThenBody):
    """Forgets to reset its state after a body that came after its header."""

    def _done(self) -> None:
        pass  # BUG: self.length stays set, so the next header is read as a body


def _lp(consumer: type[GoodLp], name: str) -> FuzzTarget:
    return FuzzTarget.from_consumer(consumer, wire_format=LP, message=LP_FRAME, name=name)


# A limit small enough for the max/max+1 check to build its messages.
GOOD_LP = replace(_lp(GoodLp, "good-lp"), limits=Limits(max_message_size=1024))
ONE_FRAME_PER_READ = _lp(OneFramePerRead, "one-frame-per-read")
LOSES_SHORT_FIRST_READ = _lp(LosesShortFirstRead, "loses-short-first-read")
KEEPS_VIEW = _lp(KeepsView, "keeps-view")
CLAIMS_MORE = _lp(ClaimsMore, "claims-more")
LEAKS_INDEX_ERROR = _lp(LeaksIndexError, "leaks-index-error")
VARINT_SPLIT = FuzzTarget.from_consumer(VarintSplit, message=VARINT_FRAME, name="varint-split")
FLIPPING_DETECTOR = FuzzTarget.from_consumer(
    GoodLp, wire_format=WireFormat("lp", flipping_detector), message=LP_FRAME, name="flips"
)
DECIDES_TOO_EARLY = FuzzTarget.from_consumer(
    GoodLp, wire_format=WireFormat("lp", decides_too_early), message=LP_FRAME, name="early"
)
WINDOW_TOO_LONG = FuzzTarget.from_consumer(
    GoodLp, wire_format=WireFormat("lp", window_of_four), message=LP_FRAME, name="window"
)
RELATIVE_OFFSET = FuzzTarget.from_consumer(
    RelativeOffset, wire_format=LP, message=LP_FRAME, replies=True, name="relative-offset"
)
CRLF_LIMITS = Limits(max_message_size=MAX_LINE)
CUT_CRLF = FuzzTarget.from_consumer(
    CutCrlf, limits=CRLF_LIMITS, grow=line_grow, replies=True, name="cut-crlf"
)
GOOD_CRLF = FuzzTarget.from_consumer(
    CrlfLines, limits=CRLF_LIMITS, grow=line_grow, replies=True, name="good-crlf"
)
# Stateful consumers, checked with `grow` only: no declaration, no corpus.
KEEPS_LENGTH = FuzzTarget.from_consumer(
    KeepsLength, wire_format=HB, limits=Limits(max_message_size=HB_MAX), grow=hb_grow,
    replies=True, name="keeps-length",
)  # fmt: skip
GOOD_HB = FuzzTarget.from_consumer(
    HeaderThenBody, wire_format=HB, limits=Limits(max_message_size=HB_MAX), grow=hb_grow,
    replies=True, name="good-hb",
)  # fmt: skip
RESCANS_IN_PYTHON = FuzzTarget.from_consumer(RescansInPython, message=LINE, name="rescans")
RESCANS_COPIES = FuzzTarget.from_consumer(RescansCopies, message=LINE, name="rescans-copies")


def _good_lines(sender: NetworkSender) -> MessageConsumer:
    def handle(payload: bytes, out: NetworkSender) -> None:
        out.send(b"+" + payload)

    return FramedConsumer(DelimiterFramer(b"\n", max_line_length=4096), handle, sender)


GOOD_LINES = FuzzTarget.from_consumer(
    _good_lines, limits=Limits(max_message_size=4097), message=LINE, name="good-lines"
)

PLANTED: dict[str, tuple[FuzzTarget, tuple[type[ConformanceError], ...], int]] = {
    # name: (target, the failures the kit may raise, the longest acceptable shrunk input).
    # Several frames in one read are caught either because the replies change with the cut
    # (property 1) or because the session consumed up to a point inside a message (7).
    "ONE_FRAME_PER_READ": (ONE_FRAME_PER_READ, (SameOutcomeError, RoundTripError), 8),
    "LOSES_SHORT_FIRST_READ": (LOSES_SHORT_FIRST_READ, (SameOutcomeError,), 8),
    "VARINT_SPLIT": (VARINT_SPLIT, (SameOutcomeError,), 140),
    "KEEPS_VIEW": (KEEPS_VIEW, (KeptViewError,), 4),
    "CLAIMS_MORE": (CLAIMS_MORE, (ByteAccountingError,), 4),
    "LEAKS_INDEX_ERROR": (LEAKS_INDEX_ERROR, (UnexpectedExceptionError,), 4),
    "FLIPPING_DETECTOR": (FLIPPING_DETECTOR, (DetectionError,), 4),
    "RESCANS_IN_PYTHON": (RESCANS_IN_PYTHON, (NonLinearWorkError,), 1024),
    "RESCANS_COPIES": (RESCANS_COPIES, (NonLinearWorkError,), 1024),
}

FOUND_WITHOUT_CORPUS: dict[str, tuple[FuzzTarget, tuple[type[ConformanceError], ...], int]] = {
    # Each is found by `wireproto fuzz` on any seed within seconds, with no corpus.
    "DECIDES_TOO_EARLY": (DECIDES_TOO_EARLY, (DetectionError,), 2),
    "CUT_CRLF": (CUT_CRLF, (LimitError,), MAX_LINE),
    "RELATIVE_OFFSET": (RELATIVE_OFFSET, (SameOutcomeError, CompletenessError), 6),
    "WINDOW_TOO_LONG": (WINDOW_TOO_LONG, (CompletenessError,), 3),
    "KEEPS_LENGTH": (KEEPS_LENGTH, (SameOutcomeError, CompletenessError), 32),
}
PLANTED.update(FOUND_WITHOUT_CORPUS)


@pytest.mark.parametrize("name", sorted(PLANTED))
def test_the_kit_catches_the_planted_bug(name: str) -> None:
    target, expected, longest = PLANTED[name]
    with pytest.raises(expected) as caught:
        check_wire_format(target, max_examples=300, seed=1)
    failure = caught.value
    assert failure.property in {cls.property for cls in expected}
    assert failure.example is not None
    assert 0 < len(failure.example.stream) <= longest, failure
    report = str(failure)
    assert f"property {failure.property} ({failure.name})" in report
    shown = failure.example.stream[:256]  # longer inputs are shown truncated
    assert f"hex): {shown.hex(' ')}" in report
    assert f"as bytes: {shown!r}" in report
    assert failure.example.describe_cut() in report


@pytest.mark.parametrize(
    "target", [GOOD_LP, GOOD_LINES, GOOD_CRLF, GOOD_HB], ids=["lp", "lines", "crlf", "hb"]
)
def test_the_correct_twins_pass(target: FuzzTarget) -> None:
    report = check_wire_format(target, max_examples=150, seed=1)
    assert report.examples == 150
    assert report.work.drip and report.work.batch
    assert report.work.limits_checked
