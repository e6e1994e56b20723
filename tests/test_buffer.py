"""ReceiveBuffer: a state machine against a plain ``bytes`` model, and its limits."""

from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from wireproto._buffer import BufferFull, ReceiveBuffer


def fill(buffer: ReceiveBuffer, data: bytes) -> None:
    """Write ``data`` the way the shell does: writable(), copy, commit()."""
    view = memoryview(data)
    while view:
        region = buffer.writable()
        count = min(len(region), len(view))
        region[:count] = view[:count]
        buffer.commit(count)
        view = view[count:]


class BufferMachine(RuleBasedStateMachine):
    """Random writes and consumes; the unread bytes always equal the model."""

    def __init__(self) -> None:
        super().__init__()
        self.buffer = ReceiveBuffer(1, 1)
        self.model = b""
        self.initial = 1
        self.max_size = 1
        self.kept: list[memoryview] = []

    @initialize(initial=st.integers(1, 64), max_size=st.integers(1, 300))
    def create(self, initial: int, max_size: int) -> None:
        self.buffer = ReceiveBuffer(initial, max_size)
        self.initial = min(initial, max_size)
        self.max_size = max_size
        assert self.buffer.initial_size == self.initial
        assert self.buffer.max_size == max_size
        assert self.buffer.capacity == self.initial

    @rule(data=st.data())
    def write(self, data: st.DataObject) -> None:
        capacity = self.buffer.capacity
        if len(self.model) >= self.max_size:
            with pytest.raises(BufferFull):
                self.buffer.writable()
            return
        region = self.buffer.writable()
        assert len(region) >= 1
        if self.buffer.capacity != capacity:
            # Growth only when, leftovers moved to the head, under a quarter is free.
            assert self.buffer.capacity == min(2 * capacity, self.max_size)
            assert capacity - len(self.model) < max(1, capacity // 4)
        count = data.draw(st.integers(1, len(region)), label="count")
        payload = data.draw(st.binary(min_size=count, max_size=count), label="payload")
        region[:count] = payload
        self.buffer.commit(count)
        self.model += payload

    @rule(data=st.data())
    def consume(self, data: st.DataObject) -> None:
        count = data.draw(st.integers(0, len(self.model)), label="consume")
        capacity = self.buffer.capacity
        self.buffer.consume(count)
        self.model = self.model[count:]
        assert self.buffer.capacity == capacity  # consuming never reallocates

    @rule()
    def compact(self) -> None:
        capacity = self.buffer.capacity
        self.buffer.compact()
        small = len(self.model) <= self.initial // 2
        if not self.model or (capacity > 2 * self.initial and small):
            assert self.buffer.capacity == self.initial
        else:
            assert self.buffer.capacity == capacity

    @precondition(lambda self: len(self.kept) < 4)
    @rule(data=st.data())
    def keep_view(self, data: st.DataObject) -> None:
        # A buggy session keeps a slice of the unread view: later grows,
        # shrinks and moves must still work (no BufferError).
        start = data.draw(st.integers(0, len(self.model)), label="start")
        self.kept.append(self.buffer.unread()[start:])

    @invariant()
    def unread_matches_model(self) -> None:
        assert bytes(self.buffer.unread()) == self.model
        assert len(self.buffer) == len(self.model)

    @invariant()
    def capacity_is_a_doubling_of_initial_clamped_to_max(self) -> None:
        capacity = self.buffer.capacity
        assert len(self.model) <= capacity <= self.max_size
        allowed = {min(self.initial << shift, self.max_size) for shift in range(20)}
        assert capacity in allowed

    @invariant()
    def full_exactly_at_the_cap(self) -> None:
        assert self.buffer.is_full == (len(self.model) >= self.max_size)


BufferMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=40)
TestBufferMachine = BufferMachine.TestCase


@pytest.mark.parametrize("initial", [1, 3, 4, 10])
def test_max_size_bytes_fit_and_the_next_writable_raises(initial: int) -> None:
    buffer = ReceiveBuffer(initial, 10)
    fill(buffer, bytes(range(10)))  # exactly max_size: fits
    assert len(buffer) == 10
    assert buffer.capacity == 10
    assert buffer.is_full
    with pytest.raises(BufferFull):
        buffer.writable()  # byte max_size + 1 has nowhere to go
    assert bytes(buffer.unread()) == bytes(range(10))
    buffer.consume(1)
    assert not buffer.is_full
    region = buffer.writable()
    assert len(region) == 1
    region[:1] = b"\xff"
    buffer.commit(1)
    assert bytes(buffer.unread()) == bytes(range(1, 10)) + b"\xff"


def test_one_below_the_cap_is_not_full() -> None:
    buffer = ReceiveBuffer(4, 10)
    fill(buffer, bytes(9))
    assert not buffer.is_full
    assert len(buffer.writable()) == 1


def test_initial_size_is_clamped_to_max_size() -> None:
    buffer = ReceiveBuffer(64, 16)
    assert buffer.initial_size == 16
    assert buffer.capacity == 16
    fill(buffer, bytes(16))
    with pytest.raises(BufferFull):
        buffer.writable()


@pytest.mark.parametrize(("initial", "max_size"), [(0, 10), (10, 0), (-1, 10), (10, -5)])
def test_sizes_below_one_are_rejected(initial: int, max_size: int) -> None:
    with pytest.raises(ValueError):
        ReceiveBuffer(initial, max_size)


def test_max_size_setter_rejects_below_one() -> None:
    buffer = ReceiveBuffer(4, 10)
    with pytest.raises(ValueError):
        buffer.max_size = 0
    assert buffer.max_size == 10


@pytest.mark.parametrize("extra", [1, 5])
def test_commit_past_the_writable_region_is_rejected(extra: int) -> None:
    buffer = ReceiveBuffer(8, 64)
    fill(buffer, b"abc")
    region = buffer.writable()
    with pytest.raises(ValueError):
        buffer.commit(len(region) + extra)
    with pytest.raises(ValueError):
        buffer.commit(-1)
    assert bytes(buffer.unread()) == b"abc"
    buffer.commit(len(region))  # the whole region is allowed
    assert len(buffer) == 3 + len(region)


def test_consume_out_of_range_is_rejected() -> None:
    buffer = ReceiveBuffer(8, 64)
    fill(buffer, b"abcd")
    with pytest.raises(ValueError):
        buffer.consume(5)
    with pytest.raises(ValueError):
        buffer.consume(-1)
    assert bytes(buffer.unread()) == b"abcd"
    buffer.consume(4)
    assert len(buffer) == 0
    with pytest.raises(ValueError):
        buffer.consume(1)


def test_grows_by_doubling_then_shrinks_after_a_large_message() -> None:
    buffer = ReceiveBuffer(8, 1024)
    message = bytes(range(256)) * 2
    capacities = set()
    view = memoryview(message)
    while view:
        region = buffer.writable()
        capacities.add(buffer.capacity)
        count = min(len(region), len(view), 7)
        region[:count] = view[:count]
        buffer.commit(count)
        view = view[count:]
    assert capacities == {8, 16, 32, 64, 128, 256, 512, 1024}
    assert buffer.capacity == 1024
    assert bytes(buffer.unread()) == message
    buffer.consume(500)
    buffer.compact()
    # 12 unread bytes are more than half the initial size: kept in the large buffer.
    assert buffer.capacity == 1024
    buffer.consume(8)
    assert buffer.capacity == 1024  # consuming alone never reallocates
    buffer.compact()
    assert buffer.capacity == 8  # 4 left at the end of the batch: back to the initial size
    assert bytes(buffer.unread()) == message[508:]
    buffer.consume(4)
    assert buffer.capacity == 8
    assert len(buffer) == 0


def test_consuming_everything_returns_to_initial_size() -> None:
    buffer = ReceiveBuffer(4, 256)
    fill(buffer, bytes(200))
    assert buffer.capacity > 4
    buffer.consume(200)
    buffer.compact()
    assert buffer.capacity == 4
    assert len(buffer.writable()) == 4


def test_twice_the_initial_size_shrinks_only_when_empty() -> None:
    # Hysteresis: messages just over the initial size must not reallocate every batch.
    buffer = ReceiveBuffer(8, 64)
    fill(buffer, bytes(12))
    assert buffer.capacity == 16
    buffer.consume(10)
    buffer.compact()
    assert buffer.capacity == 16
    assert bytes(buffer.unread()) == bytes(2)
    buffer.consume(2)
    buffer.compact()
    assert buffer.capacity == 8


def test_lowered_max_size_keeps_bytes_and_stops_growth() -> None:
    buffer = ReceiveBuffer(4, 1024)
    fill(buffer, bytes(range(6)))
    buffer.max_size = 8
    assert bytes(buffer.unread()) == bytes(range(6))
    fill(buffer, b"xy")
    assert buffer.capacity == 8
    assert buffer.is_full
    with pytest.raises(BufferFull):
        buffer.writable()


def test_writable_raises_once_unread_fills_a_lowered_max_size() -> None:
    # writable() promises BufferFull "when the unread bytes already fill
    # max_size", also when the cap was lowered below the current capacity.
    buffer = ReceiveBuffer(64, 1024)
    fill(buffer, bytes(20))
    buffer.max_size = 16
    assert buffer.is_full
    with pytest.raises(BufferFull):
        buffer.writable()


def test_a_kept_view_survives_grow_move_and_shrink() -> None:
    buffer = ReceiveBuffer(8, 1024)
    fill(buffer, b"0123456")
    kept = buffer.unread()[2:]  # a buggy session keeps a slice of its input
    also_kept = memoryview(buffer.unread())
    assert bytes(kept) == b"23456"
    buffer.consume(3)
    fill(buffer, b"abcdefgh" * 8)  # moves to head, then grows past the kept export
    assert buffer.capacity > 8
    assert bytes(buffer.unread()) == b"3456" + b"abcdefgh" * 8
    buffer.consume(len(buffer))
    buffer.compact()  # shrinks to a new allocation while views are alive
    assert buffer.capacity == 8
    fill(buffer, b"next")
    assert bytes(buffer.unread()) == b"next"
    assert len(kept) == 5
    assert len(also_kept) == 7


def test_no_del_bytearray_hazard_with_a_live_export() -> None:
    # The hazard the buffer avoids: resizing a bytearray with a live export.
    raw = bytearray(b"abcdef")
    export = memoryview(raw)
    with pytest.raises(BufferError):
        del raw[:2]
    export.release()

    # The buffer: consuming, moving, growing and shrinking with a live export.
    buffer = ReceiveBuffer(4, 64)
    fill(buffer, b"abcd")
    export = buffer.unread()
    model = b"abcd"
    for _ in range(3):
        buffer.consume(2)
        fill(buffer, b"efghijkl")
        model = model[2:] + b"efghijkl"
    assert buffer.capacity > 4
    assert bytes(buffer.unread()) == model
    buffer.consume(len(buffer))
    buffer.compact()
    assert buffer.capacity == 4
    assert len(export) == 4
