"""Work counting, sizes from the target's limits, grow-built streams, the shrinker, and the
typed ``check_wire_format`` options."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from test_testing_planted import (
    CRLF_LIMITS,
    GOOD_CRLF,
    CrlfLines,
    hb_grow,
    line_grow,
)

import wireproto
from wireproto import Limits, NetworkSender, ProtocolError
from wireproto.testing import Example, FuzzTarget, check_example, check_wire_format
from wireproto.testing._driver import run_example
from wireproto.testing._perf import InstructionCounter, paranoid_level
from wireproto.testing._properties import (
    QUADRATIC_SHARE,
    batch_work,
    check_limits_and_work,
    limit_cuttings,
    quadratic_share,
    work_sizes,
)
from wireproto.testing._shrink import minimize
from wireproto.testing._work import WorkMeter, tracing
from wireproto.testing.errors import NonLinearWorkError, UnexpectedExceptionError
from wireproto.testing.strategies import grown_streams

ROOT = Path(__file__).resolve().parent.parent


class CopiesTheRest(CrlfLines):
    """Copies what is left of the buffer once per line: quadratic within a single call, and
    each copy is freed before the next (a per-call peak sees one copy only)."""

    def try_consume(self, data: memoryview, /) -> int:
        offset = 0
        while True:
            rest = bytes(data[offset:])  # BUG: a copy of the rest for every line
            end = rest.find(b"\r\n")
            del rest
            if end < 0:
                return offset
            self.sender.send(b"+\r\n")
            offset += end + 2


class CopiesTenTimes(CrlfLines):
    """Copies the whole buffer ten times in one call, freeing each copy."""

    def try_consume(self, data: memoryview, /) -> int:
        for _ in range(10):
            copy = bytes(data)
            del copy
        return super().try_consume(data)


def test_allocation_is_counted_cumulatively_within_a_call() -> None:
    target = FuzzTarget.from_consumer(CopiesTenTimes, limits=Limits(max_message_size=1 << 16))
    stream = b"x" * 5000
    cumulative = WorkMeter(allocation=True)
    peaks = WorkMeter(allocation=True, cumulative=False)
    with tracing():
        run_example(target, Example.whole(stream), cumulative)
        run_example(target, Example.whole(stream), peaks)
    assert cumulative.calls == peaks.calls == 1
    assert cumulative.allocated >= 10 * len(stream)
    assert peaks.allocated < 2 * len(stream)  # the peak sees one copy at a time


def test_a_copy_of_the_rest_per_message_is_non_linear_work() -> None:
    # Every line is short, so the drip sees one copy per call: only the batch read finds it.
    target = FuzzTarget.from_consumer(
        CopiesTheRest,
        limits=Limits(max_message_size=1 << 16),
        grow=lambda size: line_grow(min(size, 16)),
        name="copies-the-rest",
    )
    with pytest.raises(NonLinearWorkError, match=r"one read of many messages.*bytes allocated"):
        check_limits_and_work(target)


def _lines_with_scratch(consumer: type[CrlfLines], scratch: int) -> FuzzTarget:
    class WithScratch(consumer):  # type: ignore[valid-type,misc]
        """Also allocates and frees ``scratch`` bytes per line: a linear cost of its own."""

        def __init__(self, sender: NetworkSender) -> None:
            super().__init__(sender)
            self.sender = _ScratchSender(sender, scratch)

    return FuzzTarget.from_consumer(
        WithScratch,
        limits=Limits(max_message_size=1 << 16),
        grow=lambda size: line_grow(min(size, 16)),
        name=f"{consumer.__name__}+{scratch}",
    )


class _ScratchSender:
    def __init__(self, sender: NetworkSender, scratch: int) -> None:
        self._sender = sender
        self._scratch = scratch

    def send(self, data: bytes, /) -> None:
        scratch = bytearray(self._scratch)
        del scratch
        self._sender.send(data)

    def close(self) -> None:
        self._sender.close()


# The consumers' linear cost was about 36 bytes per byte fed; 4096 per 16-byte line is 256.
@pytest.mark.parametrize("scratch", [0, 1024, 4096])
def test_the_batch_check_does_not_hang_on_the_linear_cost(scratch: int) -> None:
    # The check used to compare k and 2k messages (x3 fails): the copy of the rest made x3.01
    # there, and 0.5 % more linear work per message (the connection's, or the consumer's)
    # hid it. Fitted through k, 4k and 16k messages, the n^2 term is most of the work whatever
    # the linear cost, and about none of a linear twin's with the same cost.
    quadratic = _lines_with_scratch(CopiesTheRest, scratch)
    rows = batch_work(quadratic)
    assert quadratic_share(rows, 2) > 2 * QUADRATIC_SHARE
    with pytest.raises(NonLinearWorkError, match=r"the c\*n\^2 term is \d+% of the work"):
        check_limits_and_work(quadratic)
    linear = _lines_with_scratch(CrlfLines, scratch)
    rows = batch_work(linear)
    assert rows[-1][2] > (1 + scratch // 16) * rows[-1][0]  # the scratch was counted
    assert quadratic_share(rows, 1) < QUADRATIC_SHARE / 5
    assert quadratic_share(rows, 2) < QUADRATIC_SHARE / 5
    check_limits_and_work(linear)


_SENDS = """
def light_send(sender, data, kept):
    sender.send(data)


def heavy_send(sender, data, kept):
    scratch = bytearray(4096)  # a heavier sender: 4 KB allocated and freed per reply
    del scratch
    kept.append(bytes(64))  # and 64 more bytes held per reply
    sender.send(data)
"""


def _sends(filename: str) -> tuple[Callable[..., None], Callable[..., None]]:
    """The two senders above, as if their code were in ``filename``."""
    namespace: dict[str, Any] = {}
    exec(compile(_SENDS, filename, "exec"), namespace)
    return namespace["light_send"], namespace["heavy_send"]


def _allocated_through(send: Callable[..., None], stream: bytes) -> int:
    kept: list[bytes] = []

    class Through(_ScratchSender):
        def send(self, data: bytes, /) -> None:
            send(self._sender, data, kept)

    class LinesThrough(CrlfLines):
        def __init__(self, sender: NetworkSender) -> None:
            super().__init__(Through(sender, 0))

    target = FuzzTarget.from_consumer(LinesThrough, limits=Limits(max_message_size=1 << 16))
    meter = WorkMeter(allocation=True)
    with tracing():
        run_example(target, Example.whole(stream), meter)
    assert len(kept) in (0, stream.count(b"\n"))
    return meter.allocated


@pytest.mark.parametrize(
    ("filename", "counted"),
    [(str(Path(wireproto.__file__).resolve().parent / "_connection.py"), False), (__file__, True)],
    ids=["connection", "consumer"],
)
def test_what_the_connection_allocates_is_not_the_consumers(filename: str, counted: bool) -> None:
    # The pure build runs the connection's sender as Python code inside try_consume: its
    # allocations must not move the consumer's count (compiled, it has no frames to see).
    stream = line_grow(16) * 256
    light, heavy = (_allocated_through(send, stream) for send in _sends(filename))
    assert light > 16 * len(stream)  # the consumer's own copies are counted
    if counted:  # 4 KB more per 16-byte line
        assert heavy - light > 200 * len(stream)
    else:
        assert abs(heavy - light) < len(stream) // 4  # against 256 bytes per byte fed


def test_the_instruction_counter_counts_or_says_why_not() -> None:
    counter = InstructionCounter.open()
    report = check_limits_and_work(GOOD_CRLF)
    if isinstance(counter, str):
        level = paranoid_level()
        assert counter.startswith(("perf_event_open", "kernel.perf_event_paranoid"))
        if level is not None and level > 2:
            assert f"perf_event_paranoid is {level}" in counter
        assert f"instructions not counted: {counter}" in report.notes
        assert "instructions not counted" in report.describe()
    else:
        with counter:
            before = counter.read()
            sum(range(100_000))
            assert counter.read() - before > 100_000
        assert len(report.instructions) == 2


@pytest.mark.parametrize(
    ("maximum", "sizes"), [(1 << 20, (512, 1024)), (4097, (512, 1024)), (64, (32, 64)), (8, None)]
)
def test_drip_sizes_come_from_the_targets_limit(
    maximum: int, sizes: tuple[int, int] | None
) -> None:
    assert work_sizes(maximum) == sizes


def test_a_small_limit_still_gets_the_drip_and_limit_checks() -> None:
    report = check_limits_and_work(GOOD_CRLF)
    assert [row[0] for row in report.drip] == [32, 64]
    assert report.limits_checked


def test_max_and_max_plus_one_arrive_whole_dripped_and_cut_near_the_end() -> None:
    cuts = {example.describe_cut() for example in limit_cuttings(line_grow(64))}
    assert {"the whole stream in one piece", "a one-byte drip"} <= cuts
    assert "cut at offsets 63 (chunk sizes 63, 1)" in cuts  # CR and LF apart
    assert "cut at offsets 62 (chunk sizes 62, 2)" in cuts


@settings(max_examples=50, deadline=None)
@given(grown_streams(hb_grow, 256))
def test_grow_builds_valid_streams_of_several_messages(stream: object) -> None:
    from wireproto.testing import Stream  # noqa: PLC0415

    assert isinstance(stream, Stream)
    assert stream.valid
    assert stream.boundaries[-1] == len(stream.data)
    starts = (0, *stream.boundaries[:-1])
    for start, end in zip(starts, stream.boundaries, strict=True):
        header, _, body = stream.data[start:end].partition(b"\n")
        assert int(header[1:]) == len(body)


class FailsOnXy:
    """Raises IndexError whenever ``XY`` is in the buffer."""

    def __init__(self, sender: NetworkSender) -> None:
        self.sender = sender

    def try_consume(self, data: memoryview, /) -> int:
        if b"XY" in bytes(data):
            raise IndexError("planted")
        if b"!" in bytes(data):
            raise ProtocolError("bang")
        return 0

    def close(self) -> None:
        pass


def test_the_shrinker_deletes_runs_at_any_offset() -> None:
    target = FuzzTarget.from_consumer(FailsOnXy, name="xy")
    stream = bytes(range(33, 110)) + b"XY" + bytes(range(40, 73))  # 112 bytes
    example = Example.cut(stream, (50, 62))
    with pytest.raises(UnexpectedExceptionError) as caught:
        check_example(target, example)
    shrunk = minimize(target, caught.value)
    assert shrunk.example is not None
    assert shrunk.example.stream == b"XY"


def test_check_wire_format_takes_limits_grow_and_replies() -> None:
    report = check_wire_format(
        FuzzTarget.from_consumer(CrlfLines),
        limits=CRLF_LIMITS,
        grow=line_grow,
        replies=True,
        max_examples=40,
    )
    assert report.work.limits_checked
    assert [row[0] for row in report.work.drip] == [32, 64]


def _fuzz(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-P", "-m", "wireproto.testing", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_skip_property_leaves_out_the_work_check(tmp_path: Path) -> None:
    args = ("tests.test_testing_planted:RESCANS_COPIES", "--examples=30", "--seed=1", "--quiet")
    found = _fuzz(*args, f"--regressions={tmp_path}")
    assert found.returncode == 1
    assert "FAILED: property 6 (limits-and-linear-work): NonLinearWorkError" in found.stdout
    skipped = _fuzz(*args, "--skip-property=6", f"--regressions={tmp_path}")
    assert skipped.returncode == 0, skipped.stdout + skipped.stderr
    assert "skipped: property 6 (limits-and-linear-work)" in skipped.stdout
    assert "no property failed: 30 examples" in skipped.stdout


def test_skip_property_names_the_properties_when_the_number_is_wrong() -> None:
    done = _fuzz("kvbin", "--skip-property=9")
    assert done.returncode == 2
    assert "argument --skip-property: '9' is not a property number (1 same-outcome," in done.stderr
    assert "8 completeness)" in done.stderr
