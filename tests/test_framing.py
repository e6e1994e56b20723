"""Framers, FramedConsumer and FramedProvider: directly and through the sans-I/O Connection."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import construct as c
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wireproto import (
    CloseReason,
    Connection,
    ConnectionSettings,
    Limits,
    NetworkSender,
    ProtocolError,
    Registry,
    WireFormat,
    match_any,
    match_prefix,
)
from wireproto._connection import ConnectionState
from wireproto._errors import ContractError
from wireproto.framing import (
    DelimiterFramer,
    FixedSizeFramer,
    FramedConsumer,
    FramedProvider,
    Framer,
    FrameSpan,
    LengthFieldFramer,
    VarintFramer,
)
from wireproto.memory import MemoryAccount, MemoryBudget

FORMAT = WireFormat("framed", match_any)

# Two headers with one 5-byte layout (magic, a one-byte kind, a 16-bit length): the first
# maps to one struct.Struct, the BitStruct in the second leaves the parsing to construct.
FAST_HEADER = c.Struct("magic" / c.Const(b"WP"), "kind" / c.Int8ub, "length" / c.Int16ub)
SLOW_HEADER = c.Struct(
    "magic" / c.Const(b"WP"),
    "kind" / c.BitStruct("urgent" / c.Flag, "code" / c.BitsInteger(7)),
    "length" / c.Int16ub,
)
# A little-endian length that counts the header too.
INCLUSIVE_HEADER = c.Struct("length" / c.Int32ul, "tag" / c.Int8ub)


class Sender:
    """A NetworkSender for direct tests."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.closed = 0
        self.memory = MemoryAccount()
        self.close_requested = False  # as the Connection's sender says it

    def send(self, data: bytes | bytearray | memoryview, /) -> None:
        self.sent.append(bytes(data))

    def close(self) -> None:
        self.closed += 1
        self.close_requested = True


def line_payloads(delimiter: bytes, alphabet: bytes) -> st.SearchStrategy[bytes]:
    """Lines whose first delimiter is the one that ends them."""
    return (
        st.lists(st.sampled_from(alphabet), max_size=12)
        .map(bytes)
        .filter(lambda p: (p + delimiter).find(delimiter) == len(p))
    )


@dataclass(frozen=True)
class Case:
    """A framing, how to encode a payload, and what the handler must receive for it."""

    name: str
    make: Callable[[], Framer]
    encode: Callable[[bytes], bytes]
    whole_frame: bool  # the handler receives the whole frame, not only the payload
    payloads: st.SearchStrategy[bytes]

    def expected(self, payload: bytes) -> bytes:
        return self.encode(payload) if self.whole_frame else payload


CASES = [
    Case(
        "length-fast",
        lambda: LengthFieldFramer(FAST_HEADER, "length", max_frame_size=512),
        lambda p: FAST_HEADER.build({"kind": 7, "length": len(p)}) + p,
        True,
        st.binary(max_size=40),
    ),
    Case(
        "length-slow",
        lambda: LengthFieldFramer(SLOW_HEADER, "length", max_frame_size=512),
        lambda p: SLOW_HEADER.build({"kind": {"urgent": True, "code": 5}, "length": len(p)}) + p,
        True,
        st.binary(max_size=40),
    ),
    Case(
        "length-inclusive",
        lambda: LengthFieldFramer(INCLUSIVE_HEADER, "length", length_includes_header=True),
        lambda p: INCLUSIVE_HEADER.build({"length": 5 + len(p), "tag": 1}) + p,
        True,
        st.binary(max_size=40),
    ),
    Case(
        "varint",
        lambda: VarintFramer(max_frame_size=1000),
        lambda p: c.VarInt.build(len(p)) + p,
        False,
        st.one_of(st.binary(max_size=20), st.binary(min_size=127, max_size=300)),
    ),
    Case(
        "line-crlf",
        lambda: DelimiterFramer(b"\r\n", max_line_length=64),
        lambda p: p + b"\r\n",
        False,
        line_payloads(b"\r\n", b"a\r\n\x00"),
    ),
    Case(
        "line-lf",
        lambda: DelimiterFramer(b"\n", max_line_length=64),
        lambda p: p + b"\n",
        False,
        line_payloads(b"\n", b"ab\r\n"),
    ),
    Case(
        "line-3-byte",
        lambda: DelimiterFramer(b"<|>", max_line_length=64),
        lambda p: p + b"<|>",
        False,
        line_payloads(b"<|>", b"<|>a"),
    ),
    Case(
        "fixed", lambda: FixedSizeFramer(4), lambda p: p, False, st.binary(min_size=4, max_size=4)
    ),
]
CASE_IDS = [case.name for case in CASES]


def make_connection(
    framer: Callable[[], Framer],
    handler: Callable[[Any, NetworkSender], Any],
    *,
    message: c.Construct[Any, Any] | None = None,
    fields: bool = False,
    max_message_size: int = 4096,
    initial_buffer_size: int = 16 * 1024,
    wire_format: WireFormat = FORMAT,
    budget: MemoryBudget | None = None,
) -> Connection:
    provider = FramedProvider(
        framer,
        handler,
        message=message,
        fields=fields,
        limits=Limits(max_message_size=max_message_size),
    )
    registry = Registry()
    registry.register(wire_format, provider)
    settings_ = ConnectionSettings(detect_timeout=None, initial_buffer_size=initial_buffer_size)
    return Connection(registry, settings_, budget=budget)


def feed(conn: Connection, stream: bytes, sizes: Sequence[int], *, cycle: bool = False) -> int:
    """Write ``stream`` through get_buffer/buffer_updated, at most sizes[i] bytes per write.

    Past the end of ``sizes`` the schedule restarts (``cycle``) or writes the rest.
    Returns how many writes filled the region to its end and left a partial frame:
    a frame straddling the end of the buffer.
    """
    position = step = straddles = 0
    while position < len(stream):
        assert conn.state is not ConnectionState.CLOSED, conn.error
        region = conn.get_buffer()
        limit = sizes[step % len(sizes)] if step < len(sizes) or cycle else len(stream)
        count = min(len(region), limit, len(stream) - position)
        region[:count] = stream[position : position + count]
        region_size = len(region)
        region.release()
        conn.buffer_updated(count)
        if count == region_size and len(conn.buffer):
            straddles += 1
        position += count
        step += 1
    return straddles


def serve(
    case: Case, stream: bytes, sizes: Sequence[int], *, cycle: bool = False, initial: int = 16384
) -> list[bytes]:
    received: list[bytes] = []
    conn = make_connection(
        case.make, lambda payload, _sender: received.append(payload), initial_buffer_size=initial
    )
    feed(conn, stream, sizes, cycle=cycle)
    assert conn.state is ConnectionState.ACTIVE, conn.error
    assert len(conn.buffer) == 0  # every byte was a whole frame
    return received


def draw_payloads(data: st.DataObject, case: Case) -> list[bytes]:
    return data.draw(st.lists(case.payloads, min_size=1, max_size=12), label="payloads")


# -- the same frames however the stream is cut -------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_whole_and_one_byte_at_a_time(case: Case, data: st.DataObject) -> None:
    payloads = draw_payloads(data, case)
    stream = b"".join(map(case.encode, payloads))
    expected = [case.expected(p) for p in payloads]
    assert serve(case, stream, [len(stream)]) == expected
    assert serve(case, stream, [1], cycle=True) == expected


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_cut_at_any_points(case: Case, data: st.DataObject) -> None:
    payloads = draw_payloads(data, case)
    stream = b"".join(map(case.encode, payloads))
    cuts = sorted(data.draw(st.sets(st.integers(1, len(stream))), label="cuts") | {len(stream)})
    sizes = [end - start for start, end in zip([0, *cuts], cuts, strict=False)]
    assert serve(case, stream, sizes) == [case.expected(p) for p in payloads]


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_get_buffer_size_schedule(case: Case, data: st.DataObject) -> None:
    payloads = draw_payloads(data, case)
    stream = b"".join(map(case.encode, payloads))
    sizes = data.draw(st.lists(st.integers(1, 40), min_size=1, max_size=8), label="sizes")
    initial = data.draw(st.integers(4, 64), label="initial_buffer_size")
    received = serve(case, stream, sizes, cycle=True, initial=initial)
    assert received == [case.expected(p) for p in payloads]


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_framer_sees_each_frame_exactly_when_complete(case: Case, data: st.DataObject) -> None:
    # Growing prefixes of one stream, straight into the framer: None on every proper
    # prefix of a frame, its span as soon as its last byte is there.
    payloads = draw_payloads(data, case)
    frames = [case.encode(p) for p in payloads]
    stream = b"".join(frames)
    framer = case.make()
    offset = 0
    for frame, payload in zip(frames, payloads, strict=True):
        for end in range(offset, offset + len(frame)):
            assert framer.next_frame(memoryview(stream)[offset:end]) is None
        span = framer.next_frame(memoryview(stream)[offset : offset + len(frame)])
        assert span is not None
        assert span.frame_end == len(frame)
        assert stream[offset + span.payload_start : offset + span.payload_end] == (
            case.expected(payload)
        )
        offset += len(frame)


def test_frames_straddling_the_buffer_end() -> None:
    # FASTER #738: several frames share one buffer and one straddles its end; the
    # buffer moves the partial frame to its head, grows for a big one, shrinks back.
    bodies = [b"ab", b"", b"cdefgh", b"x" * 40, b"ij", b"k" * 11, b"lmn", b"o" * 9, b"p"] * 3
    frames = [FAST_HEADER.build({"kind": i, "length": len(b)}) + b for i, b in enumerate(bodies)]
    received: list[bytes] = []
    conn = make_connection(
        lambda: LengthFieldFramer(FAST_HEADER, "length", max_frame_size=64),
        lambda payload, _sender: received.append(payload),
        max_message_size=64,
        initial_buffer_size=16,
    )
    straddles = feed(conn, b"".join(frames), [1 << 20], cycle=True)  # fill every region
    assert straddles >= 3
    assert received == frames
    assert conn.state is ConnectionState.ACTIVE
    assert len(conn.buffer) == 0
    assert conn.buffer.capacity == 16


# -- limits at max and max + 1 -------------------------------------------------------------


def test_length_field_frame_size_limit() -> None:
    framer = LengthFieldFramer(FAST_HEADER, "length", max_frame_size=5 + 10)
    at_max = FAST_HEADER.build({"kind": 0, "length": 10}) + bytes(10)
    assert framer.next_frame(memoryview(at_max)) == FrameSpan(0, 15, 15)
    over = FAST_HEADER.build({"kind": 0, "length": 11})
    with pytest.raises(ProtocolError, match="16 bytes exceeds the 15-byte limit"):
        framer.next_frame(memoryview(over))  # the header alone is enough


def test_length_field_including_header_limits() -> None:
    framer = LengthFieldFramer(
        INCLUSIVE_HEADER, "length", length_includes_header=True, max_frame_size=20
    )
    at_max = INCLUSIVE_HEADER.build({"length": 20, "tag": 0}) + bytes(15)
    assert framer.next_frame(memoryview(at_max)) == FrameSpan(0, 20, 20)
    with pytest.raises(ProtocolError, match="exceeds the 20-byte limit"):
        framer.next_frame(memoryview(INCLUSIVE_HEADER.build({"length": 21, "tag": 0})))
    # The smallest declared length is the header itself.
    header_only = INCLUSIVE_HEADER.build({"length": 5, "tag": 0})
    assert framer.next_frame(memoryview(header_only)) == FrameSpan(0, 5, 5)
    with pytest.raises(ProtocolError, match="shorter than the 5-byte header"):
        framer.next_frame(memoryview(INCLUSIVE_HEADER.build({"length": 4, "tag": 0})))


def test_length_field_negative_length_rejected() -> None:
    header = c.Struct("length" / c.Int16sb)
    framer = LengthFieldFramer(header, "length")
    assert framer.next_frame(memoryview(header.build({"length": 0}))) == FrameSpan(0, 2, 2)
    with pytest.raises(ProtocolError, match="negative"):
        framer.next_frame(memoryview(header.build({"length": -1})))


def test_varint_payload_limit() -> None:
    framer = VarintFramer(max_frame_size=300)
    at_max = c.VarInt.build(300) + bytes(300)
    assert framer.next_frame(memoryview(at_max)) == FrameSpan(2, 302, 302)
    with pytest.raises(ProtocolError, match="301 bytes exceeds the 300-byte limit"):
        framer.next_frame(memoryview(c.VarInt.build(301)))  # the prefix alone is enough


def test_varint_prefix_length_limit() -> None:
    framer = VarintFramer(max_frame_size=(1 << 35) - 1)
    largest = c.VarInt.build((1 << 35) - 1)
    assert len(largest) == 5
    assert framer.next_frame(memoryview(largest)) is None  # accepted; waits for the payload
    padded = b"\x83\x80\x80\x80\x00"  # 3, in five bytes: construct.VarInt parses it too
    assert c.VarInt.parse(padded) == 3
    assert VarintFramer().next_frame(memoryview(padded + b"abc")) == FrameSpan(5, 8, 8)
    assert VarintFramer().next_frame(memoryview(b"\x80" * 4)) is None  # may still end
    with pytest.raises(ProtocolError, match="longer than 5 bytes"):
        VarintFramer().next_frame(memoryview(b"\x80" * 5))


@settings(max_examples=200)
@given(length=st.integers(0, (1 << 35) - 1))
def test_varint_agrees_with_construct(length: int) -> None:
    prefix = c.VarInt.build(length)
    # Accepted at a cap of exactly the length, rejected one below: the decoded length is exact.
    exact = VarintFramer(max_frame_size=length).next_frame(memoryview(prefix))
    if length:
        assert exact is None
        with pytest.raises(ProtocolError):
            VarintFramer(max_frame_size=length - 1).next_frame(memoryview(prefix))
    else:
        assert exact == FrameSpan(1, 1, 1)
    if length <= 4096:
        frame = prefix + bytes(length)
        span = VarintFramer(max_frame_size=4096).next_frame(memoryview(frame))
        assert span == FrameSpan(len(prefix), len(frame), len(frame))


def test_fixed_size_frames() -> None:
    framer = FixedSizeFramer(4)
    assert framer.max_frame_size == 4
    assert framer.next_frame(memoryview(b"abc")) is None
    assert framer.next_frame(memoryview(b"abcd")) == FrameSpan(0, 4, 4)
    assert framer.next_frame(memoryview(b"abcde")) == FrameSpan(0, 4, 4)


@pytest.mark.parametrize(("max_message_size", "served"), [(8, True), (7, False)])
def test_fixed_size_frame_against_the_message_limit(max_message_size: int, served: bool) -> None:
    received: list[bytes] = []
    conn = make_connection(
        lambda: FixedSizeFramer(8),
        lambda payload, _sender: received.append(payload),
        max_message_size=max_message_size,
        initial_buffer_size=4,
    )
    conn.receive_data(b"01234567" * 2)
    if served:
        assert received == [b"01234567"] * 2
        assert conn.state is ConnectionState.ACTIVE
    else:
        assert received == []
        assert conn.close_reason is CloseReason.PROTOCOL_ERROR


@pytest.mark.parametrize("delimiter", [b"\n", b"\r\n"])
def test_line_length_limit(delimiter: bytes) -> None:
    framer = DelimiterFramer(delimiter, max_line_length=8)
    assert framer.max_frame_size == 8 + len(delimiter)
    at_max = b"x" * 8 + delimiter
    for end in range(len(at_max)):
        assert framer.next_frame(memoryview(at_max)[:end]) is None
    assert framer.next_frame(memoryview(at_max)) == FrameSpan(0, 8, len(at_max))

    framer = DelimiterFramer(delimiter, max_line_length=8)
    over = b"x" * 9 + delimiter
    for end in range(8 + len(delimiter)):
        assert framer.next_frame(memoryview(over)[:end]) is None
    with pytest.raises(ProtocolError, match="line longer than the 8-byte limit"):
        framer.next_frame(memoryview(over)[: 8 + len(delimiter)])


def test_two_byte_delimiter_starting_exactly_at_the_limit() -> None:
    framer = DelimiterFramer(b"\r\n", max_line_length=8)
    assert framer.next_frame(memoryview(b"x" * 8 + b"\r")) is None
    assert framer.next_frame(memoryview(b"x" * 8 + b"\r\n")) == FrameSpan(0, 8, 10)
    framer = DelimiterFramer(b"\r\n", max_line_length=8)
    assert framer.next_frame(memoryview(b"x" * 8 + b"\r")) is None
    with pytest.raises(ProtocolError):
        framer.next_frame(memoryview(b"x" * 8 + b"\ry"))


# -- never allocate what a peer declares ---------------------------------------------------


@pytest.mark.parametrize(
    ("make", "declaration"),
    [
        (
            lambda: LengthFieldFramer(
                c.Struct("magic" / c.Const(b"WP"), "length" / c.Int32ub), "length"
            ),
            b"WP\xff\xff\xff\xff",
        ),
        (VarintFramer, c.VarInt.build((1 << 35) - 1)),
    ],
    ids=["length-field", "varint"],
)
def test_huge_declared_length_rejected_before_the_buffer_grows(
    make: Callable[[], Framer], declaration: bytes
) -> None:
    received: list[bytes] = []
    budget = MemoryBudget(1 << 30)
    conn = make_connection(
        make,
        lambda p, _s: received.append(p),
        max_message_size=1 << 20,
        initial_buffer_size=64,
        budget=budget,
    )
    conn.receive_data(declaration)
    assert conn.close_reason is CloseReason.PROTOCOL_ERROR
    assert isinstance(conn.error, ProtocolError)
    assert "exceeds" in conn.error.message
    assert budget.high_water == 64  # the first buffer, never grown (a close frees it)
    assert budget.used == 0
    assert received == []


# -- the header fast path ------------------------------------------------------------------


def test_fast_path_chosen_for_struct_mappable_headers() -> None:
    mappable = c.Struct(
        "magic" / c.Const(b"AB"),
        "kind" / c.Enum(c.Int8ub, ping=1, pong=2),
        c.Padding(2),
        "version" / c.Const(3, c.Int16ul),
        "length" / c.Int32ul,
        "ratio" / c.Float32l,
    )
    framer = LengthFieldFramer(mappable, "length")
    assert framer.uses_fast_path
    header = mappable.build({"kind": "pong", "length": 3, "ratio": 0.5})
    assert framer.next_frame(memoryview(header + b"xyz")) == FrameSpan(0, 18, 18)
    with pytest.raises(ProtocolError, match="version"):
        LengthFieldFramer(mappable, "length").next_frame(
            memoryview(header[:5] + b"\x04" + header[6:])
        )


@pytest.mark.parametrize(
    ("header", "declares_one"),
    [
        (SLOW_HEADER, b"WP\x80\x00\x01"),
        (c.Struct("length" / c.Int24ub), b"\x00\x00\x01"),  # BytesInteger: no struct code
        (c.Struct("a" / c.Int16ub, "length" / c.Int16ul), b"\x00\x00\x01\x00"),  # mixed orders
        (c.Struct("length" / c.Enum(c.Int8ub, one=1)), b"\x01"),  # not a plain integer
    ],
    ids=["bitstruct", "int24", "mixed-order", "enum-length"],
)
def test_slow_path_for_other_headers(header: c.Construct[Any, Any], declares_one: bytes) -> None:
    framer = LengthFieldFramer(header, "length")
    assert not framer.uses_fast_path
    assert framer.next_frame(memoryview(declares_one)) is None
    size = len(declares_one) + 1
    assert framer.next_frame(memoryview(declares_one + b"z")) == FrameSpan(0, size, size)


def test_header_parsed_once_while_the_body_drips_in() -> None:
    parses: list[int] = []
    header = c.Struct("length" / c.Int24ub, "seen" / c.Computed(lambda _ctx: parses.append(1)))
    framer = LengthFieldFramer(header, "length")
    frame = b"\x00\x00\x64" + bytes(100)
    for end in range(len(frame)):
        assert framer.next_frame(memoryview(frame)[:end]) is None
    assert framer.next_frame(memoryview(frame)) == FrameSpan(0, 103, 103)
    assert parses == [1]


def frame_events(framer: Framer, stream: bytes) -> list[object]:
    """Drip ``stream`` into ``framer``: the spans it yields, and the error that stops it."""
    events: list[object] = []
    offset = 0
    for end in range(len(stream) + 1):
        try:
            span = framer.next_frame(memoryview(stream)[offset:end])
        except ProtocolError:
            events.append(("error", end))
            break
        if span is not None:
            events.append(span)
            offset += span.frame_end
    return events


@settings(max_examples=200)
@given(
    st.lists(
        st.one_of(
            st.tuples(st.integers(0, 255), st.binary(max_size=24)).map(
                lambda t: FAST_HEADER.build({"kind": t[0], "length": len(t[1])}) + t[1]
            ),
            st.binary(min_size=2, max_size=2).map(lambda kind_len: b"WP" + kind_len),
            st.binary(max_size=8),
        ),
        max_size=8,
    ).map(b"".join)
)
def test_fast_and_slow_paths_agree(stream: bytes) -> None:
    fast = LengthFieldFramer(FAST_HEADER, "length", max_frame_size=40)
    slow = LengthFieldFramer(SLOW_HEADER, "length", max_frame_size=40)
    assert fast.uses_fast_path
    assert not slow.uses_fast_path
    assert frame_events(fast, stream) == frame_events(slow, stream)


@pytest.mark.parametrize("header", [FAST_HEADER, SLOW_HEADER], ids=["fast", "slow"])
def test_bad_magic_rejected_as_soon_as_the_header_is_in(header: c.Construct[Any, Any]) -> None:
    framer = LengthFieldFramer(header, "length")
    assert framer.next_frame(memoryview(b"XP\x00\x00")) is None  # header incomplete
    with pytest.raises(ProtocolError, match="magic"):
        framer.next_frame(memoryview(b"XP\x00\x00\x10"))  # 16-byte body not there


def test_header_declarations_checked_at_init() -> None:
    with pytest.raises(ValueError, match="fixed size"):
        LengthFieldFramer(c.Struct("n" / c.Int8ub, "data" / c.Bytes(c.this.n)), "n")
    with pytest.raises(ValueError, match="no field named"):
        LengthFieldFramer(FAST_HEADER, "size")
    with pytest.raises(ValueError, match="Struct"):
        LengthFieldFramer(c.Int32ub, "length")
    with pytest.raises(ValueError, match="compiled"):
        LengthFieldFramer(FAST_HEADER.compile(), "length")
    assert (
        FixedSizeFramer.from_construct(c.Struct("a" / c.Int32ub, "b" / c.Int16ub)).max_frame_size
        == 6
    )
    with pytest.raises(ValueError, match="fixed size"):
        FixedSizeFramer.from_construct(c.GreedyBytes)
    with pytest.raises(ValueError):
        FixedSizeFramer(0)
    with pytest.raises(ValueError):
        DelimiterFramer(b"")


# -- the delimiter scans each byte once ----------------------------------------------------


@pytest.mark.parametrize("delimiter", [b"\n", b"\r\n", b"<|>"])
def test_delimiter_one_byte_drip_scans_linearly(delimiter: bytes) -> None:
    stream = (b"y" * 3000 + delimiter) + b"".join(b"z" * n + delimiter for n in range(40))
    framer = DelimiterFramer(delimiter, max_line_length=4000)
    lines = []
    offset = 0
    for end in range(len(stream) + 1):
        span = framer.next_frame(memoryview(stream)[offset:end])
        if span is not None:
            lines.append(stream[offset : offset + span.payload_end])
            offset += span.frame_end
    assert lines == stream.split(delimiter)[:-1]
    # Each call looks at its new byte and at most len(delimiter) - 1 bytes before it.
    assert framer.bytes_scanned <= len(delimiter) * len(stream)


def test_delimiter_drip_through_a_connection_scans_linearly() -> None:
    stream = b"a" * 2000 + b"\r\n" + b"b\r\n" * 200
    received: list[bytes] = []
    conn = make_connection(
        lambda: DelimiterFramer(max_line_length=4096), lambda p, _s: received.append(p)
    )
    feed(conn, stream, [1], cycle=True)
    assert received == [b"a" * 2000] + [b"b"] * 200
    assert isinstance(conn.session, FramedConsumer)
    framer = conn.session.framer
    assert isinstance(framer, DelimiterFramer)
    assert framer.bytes_scanned <= 2 * len(stream)


def test_delimiter_whole_stream_scans_each_byte_once() -> None:
    stream = b"".join(b"w" * n + b"\r\n" for n in range(100))
    framer = DelimiterFramer()
    consumer = FramedConsumer(framer, lambda p, _s: None, Sender())
    assert consumer.try_consume(memoryview(stream)) == len(stream)
    assert framer.bytes_scanned <= len(stream)


# -- FramedConsumer ------------------------------------------------------------------------

MESSAGE = c.Struct("op" / c.Int8ub, "key" / c.PascalString(c.Int8ub, "utf8"))


def test_consumer_parses_each_payload_with_the_message() -> None:
    parsed: list[Any] = []
    sender = Sender()
    consumer = FramedConsumer(VarintFramer(), lambda m, _s: parsed.append(m), sender, MESSAGE)
    frames = [
        c.VarInt.build(len(p)) + p
        for p in (MESSAGE.build({"op": i, "key": k}) for i, k in [(1, "a"), (2, "bc")])
    ]
    data = b"".join(frames) + b"\x05\x01"  # and the start of a third
    assert consumer.try_consume(memoryview(data)) == len(frames[0]) + len(frames[1])
    assert [(m.op, m.key) for m in parsed] == [(1, "a"), (2, "bc")]


@pytest.mark.parametrize("payload", [b"\x01\x05ab", b"\x01\x02\xff\xfe"], ids=["short", "bad-utf8"])
def test_consumer_construct_error_is_a_protocol_error(payload: bytes) -> None:
    consumer = FramedConsumer(VarintFramer(), lambda m, _s: None, Sender(), MESSAGE)
    with pytest.raises(ProtocolError, match="malformed message"):
        consumer.try_consume(memoryview(c.VarInt.build(len(payload)) + payload))

    conn = make_connection(VarintFramer, lambda m, _s: None, message=MESSAGE)
    conn.receive_data(c.VarInt.build(len(payload)) + payload)
    assert conn.close_reason is CloseReason.PROTOCOL_ERROR


def test_handler_protocol_error_propagates_unchanged() -> None:
    error = ProtocolError("no such command", reply=b"-ERR no such command\r\n")

    def handler(payload: Any, sender: NetworkSender) -> None:
        if payload == b"bad":
            raise error
        sender.send(b"+" + payload + b"\r\n")

    consumer = FramedConsumer(DelimiterFramer(), handler, Sender())
    with pytest.raises(ProtocolError) as info:
        consumer.try_consume(memoryview(b"bad\r\n"))
    assert info.value is error

    conn = make_connection(DelimiterFramer, handler)
    conn.receive_data(b"ok\r\nbad\r\nnever\r\n")
    assert conn.error is error
    assert conn.close_reason is CloseReason.PROTOCOL_ERROR
    assert conn.data_to_send() == b"+ok\r\n-ERR no such command\r\n"


def test_handler_bug_fails_the_session() -> None:
    def handler(payload: Any, sender: NetworkSender) -> None:
        raise RuntimeError("bug")

    conn = make_connection(DelimiterFramer, handler)
    conn.receive_data(b"x\r\n")
    assert conn.close_reason is CloseReason.SESSION_FAILED
    assert isinstance(conn.error, RuntimeError)


def test_frames_after_a_close_request_are_left_unread() -> None:
    handled: list[bytes] = []

    def handler(payload: Any, sender: NetworkSender) -> None:
        handled.append(payload)
        sender.send(b"bye\r\n" if payload == b"quit" else b"ok\r\n")
        if payload == b"quit":
            sender.close()

    sender = Sender()
    consumer = FramedConsumer(DelimiterFramer(), handler, sender)
    assert consumer.try_consume(memoryview(b"a\r\nquit\r\nb\r\n")) == len(b"a\r\nquit\r\n")
    assert handled == [b"a", b"quit"]
    assert sender.closed == 1

    handled.clear()
    conn = make_connection(DelimiterFramer, handler)
    conn.receive_data(b"a\r\nquit\r\nb\r\n")
    assert conn.data_to_send() == b"ok\r\nbye\r\n"
    assert conn.close_reason is CloseReason.SESSION_CLOSED
    assert handled == [b"a", b"quit"]


def test_session_knows_its_wire_format_and_closes_once() -> None:
    magic = WireFormat("magic", match_prefix(b"WP"))
    conn = make_connection(
        lambda: LengthFieldFramer(FAST_HEADER, "length"), lambda p, _s: None, wire_format=magic
    )
    conn.receive_data(b"W")
    assert conn.session is None
    conn.receive_data(b"P\x00\x00")
    assert isinstance(conn.session, FramedConsumer)
    assert conn.session.wire_format == magic

    closes: list[int] = []
    consumer = FramedConsumer(
        VarintFramer(), lambda p, _s: None, Sender(), on_close=lambda: closes.append(1)
    )
    consumer.close()
    consumer.close()
    assert closes == [1]


class BrokenFramer:
    max_frame_size = 10

    def next_frame(self, data: memoryview, /) -> FrameSpan | None:
        return FrameSpan(0, 0, 0)


def test_framer_breaking_its_contract_is_a_contract_error() -> None:
    consumer = FramedConsumer(BrokenFramer(), lambda p, _s: None, Sender())
    with pytest.raises(ContractError):
        consumer.try_consume(memoryview(b"abc"))


def test_compiled_message_refused() -> None:
    with pytest.raises(ValueError, match="compiled"):
        FramedProvider(VarintFramer, lambda p, _s: None, message=MESSAGE.compile())


def failing_handler(payload: Any, sender: NetworkSender) -> None:
    if payload == b"\x00boom":
        raise ProtocolError("boom")


@pytest.mark.parametrize(
    ("message", "data", "consumed"),
    [
        (None, c.VarInt.build(2) + b"ab" + c.VarInt.build(3) + b"cd", 3),  # and a partial frame
        (MESSAGE, c.VarInt.build(2) + b"\x01\x09", None),  # construct error
        (None, c.VarInt.build(5) + b"\x00boom", None),  # handler error
        (None, c.VarInt.build(2) + b"ab" + b"\xff" * 5, None),  # framer error, second frame
    ],
    ids=["frames", "parse-error", "handler-error", "framer-error"],
)
def test_consumer_never_keeps_the_view(
    message: c.Construct[Any, Any] | None, data: bytes, consumed: int | None
) -> None:
    # A bytearray cannot be resized while any view of it (or a slice of one) is alive.
    buffer = bytearray(data)
    view = memoryview(buffer)
    consumer = FramedConsumer(VarintFramer(), failing_handler, Sender(), message)
    error: pytest.ExceptionInfo[ProtocolError] | None = None
    if consumed is None:
        with pytest.raises(ProtocolError) as error:
            consumer.try_consume(view)
    else:
        assert consumer.try_consume(view) == consumed
    view.release()
    # The error is kept alive, as Connection.error keeps it: its traceback's frames must
    # hold no live view either.
    buffer.extend(b"more")  # raises BufferError if a view survived
    assert buffer.endswith(b"more")
    assert (error is None) == (consumed is not None)


# -- declared once: from_message, the handler's sender, session hooks ---------------------

SHOUT = c.Struct(
    "magic" / c.Const(b"SH"),
    "kind" / c.Int8ub,
    "text" / c.Prefixed(c.Int16ub, c.GreedyBytes),
    c.Terminated,
)


def test_from_message_takes_the_header_from_the_declaration() -> None:
    framer = LengthFieldFramer.from_message(SHOUT, max_frame_size=5 + 3)
    assert framer.header_size == 5
    assert framer.uses_fast_path
    frame = SHOUT.build({"kind": 1, "text": b"abc"})
    assert framer.next_frame(memoryview(frame + b"SH")) == FrameSpan(0, len(frame), len(frame))
    assert framer.next_frame(memoryview(frame[:-1])) is None
    with pytest.raises(ProtocolError, match="magic"):
        LengthFieldFramer.from_message(SHOUT).next_frame(memoryview(b"XX\x01\x00\x00"))
    # The limit at max and max+1, decided from the header alone.
    over = SHOUT.build({"kind": 1, "text": b"abcd"})
    with pytest.raises(ProtocolError, match="exceeds"):
        LengthFieldFramer.from_message(SHOUT, max_frame_size=8).next_frame(memoryview(over[:5]))


def test_from_message_refuses_what_it_cannot_frame() -> None:
    with pytest.raises(ValueError, match="no Prefixed"):
        LengthFieldFramer.from_message(c.Struct("a" / c.Int8ub, "b" / c.GreedyBytes))
    with pytest.raises(ValueError, match="follows the Prefixed"):
        LengthFieldFramer.from_message(
            c.Struct("a" / c.Prefixed(c.Int8ub, c.GreedyBytes), "b" / c.Int8ub)
        )
    with pytest.raises(ValueError, match="counts its own length"):
        LengthFieldFramer.from_message(
            c.Struct("a" / c.Prefixed(c.Int8ub, c.GreedyBytes, includelength=True))
        )
    with pytest.raises(ValueError, match="compiled"):
        LengthFieldFramer.from_message(SHOUT.compile())


@given(
    texts=st.lists(st.binary(max_size=40), min_size=1, max_size=5),
    sizes=st.lists(st.integers(1, 16), max_size=30),
)
def test_from_message_frames_and_parses_however_cut(texts: list[bytes], sizes: list[int]) -> None:
    got: list[bytes] = []
    conn = make_connection(
        lambda: LengthFieldFramer.from_message(SHOUT),
        lambda m, _s: got.append(m.text),
        message=SHOUT,
        wire_format=WireFormat("shout", match_prefix(b"SH")),
    )
    stream = b"".join(SHOUT.build({"kind": 0, "text": t}) for t in texts)
    feed(conn, stream, sizes)
    assert got == texts


def test_handlers_get_the_sender_the_session_got_and_hooks_run_once() -> None:
    events: list[tuple[str, object]] = []

    def handler(message: Any, sender: NetworkSender) -> None:
        events.append(("message", sender))

    provider = FramedProvider(
        lambda: LengthFieldFramer.from_message(SHOUT),
        handler,
        message=SHOUT,
        on_open=lambda sender: events.append(("open", sender)),
        on_close=lambda sender: events.append(("close", sender)),
    )
    sender = Sender()
    consumer = provider.create_session(FORMAT, sender)
    assert events == [("open", sender)]
    frame = SHOUT.build({"kind": 0, "text": b"hi"})
    assert consumer.try_consume(memoryview(frame * 2)) == 2 * len(frame)
    consumer.close()
    consumer.close()
    assert events == [("open", sender), ("message", sender), ("message", sender), ("close", sender)]


def test_a_large_payload_is_a_view_of_its_single_copy() -> None:
    seen: list[Any] = []
    big = b"x" * (1 << 17)
    consumer = FramedConsumer(
        LengthFieldFramer.from_message(SHOUT), lambda m, _s: seen.append(m.text), Sender(), SHOUT
    )
    frame = SHOUT.build({"kind": 0, "text": big[:100]}) + c.Struct(
        "magic" / c.Const(b"SH"), "kind" / c.Int8ub, "text" / c.Prefixed(c.Int16ub, c.GreedyBytes)
    ).build({"kind": 0, "text": big[:60000]})
    assert consumer.try_consume(memoryview(frame)) == len(frame)
    assert [type(v) for v in seen] == [bytes, bytes]  # small frames: plain bytes
    wide = c.Struct("magic" / c.Const(b"SH"), "text" / c.Prefixed(c.Int32ub, c.GreedyBytes))
    consumer = FramedConsumer(
        LengthFieldFramer.from_message(wide, max_frame_size=1 << 20),
        lambda m, _s: seen.append(m.text),
        Sender(),
        wide,
    )
    frame = wide.build({"text": big})
    assert consumer.try_consume(memoryview(frame)) == len(frame)
    view = seen[-1]
    assert isinstance(view, memoryview) and view.readonly
    assert view == big and isinstance(view.obj, bytes) and len(view.obj) == len(frame)


# -- one generated function frames and parses; returned replies, one send per read -------

KV = c.Struct(
    "magic" / c.Const(b"KV"),
    "op" / c.Int8ub,
    "id" / c.Int32ub,
    "body"
    / c.Prefixed(
        c.Int16ub,
        c.Struct("key" / c.Prefixed(c.Int8ub, c.GreedyBytes), "value" / c.GreedyBytes),
    ),
)
# The same header declared apart: a framer not made from KV, so framing and parsing are
# two steps (the path the fused one must agree with).
KV_HEADER = c.Struct(
    "magic" / c.Const(b"KV"), "op" / c.Int8ub, "id" / c.Int32ub, "body" / c.Int16ub
)
KV_MAX = 9 + 40


def kv_framer(fused: bool) -> Callable[[], Framer]:
    if fused:
        return lambda: LengthFieldFramer.from_message(KV, max_frame_size=KV_MAX)
    return lambda: LengthFieldFramer(KV_HEADER, "body", max_frame_size=KV_MAX)


def test_the_fused_path_is_taken_only_for_a_framer_made_from_the_message() -> None:
    def handler(message: Any, sender: NetworkSender) -> None:
        pass

    for fields in (False, True):
        fused = FramedConsumer(kv_framer(True)(), handler, Sender(), KV, fields=fields)
        apart = FramedConsumer(kv_framer(False)(), handler, Sender(), KV, fields=fields)
        assert fused._framed is not None
        assert apart._framed is None
    other = c.Struct(*KV.subcons)  # equal, but not the declaration the framer was made from
    assert FramedConsumer(kv_framer(True)(), handler, Sender(), other)._framed is None


def serve_kv(stream: bytes, sizes: Sequence[int], *, fused: bool, fields: bool) -> tuple[Any, ...]:
    """Messages seen, bytes sent, and how the connection ended."""
    seen: list[Any] = []

    def handler(message: Any, sender: NetworkSender) -> bytes:
        seen.append(message)
        return b"<%d>" % len(seen)

    conn = make_connection(kv_framer(fused), handler, message=KV, fields=fields)
    out = []
    position = step = 0
    while position < len(stream) and conn.state is not ConnectionState.CLOSED:
        region = conn.get_buffer()
        count = min(len(region), sizes[step % len(sizes)], len(stream) - position)
        region[:count] = stream[position : position + count]
        region.release()
        conn.buffer_updated(count)
        out.append(conn.data_to_send())
        position += count
        step += 1
    error = None if conn.error is None else (type(conn.error), str(conn.error))
    return seen, b"".join(out), conn.close_reason, error, len(conn.buffer)


def kv_frames() -> st.SearchStrategy[bytes]:
    return st.builds(
        lambda op, id_, key, value: KV.build(
            {"op": op, "id": id_, "body": {"key": key, "value": value}}
        ),
        st.integers(0, 255),
        st.integers(0, 2**32 - 1),
        st.binary(max_size=12),
        st.binary(max_size=30),
    )


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_fused_framing_and_parsing_agree_with_the_two_steps(data: st.DataObject) -> None:
    frames = data.draw(st.lists(kv_frames(), min_size=1, max_size=6), label="frames")
    stream = bytearray(b"".join(frames))
    # Sometimes corrupt a few bytes (a bad magic, a length past the cap or the body, ...).
    for index, byte in data.draw(
        st.lists(st.tuples(st.integers(0, len(stream) - 1), st.integers(0, 255)), max_size=3),
        label="corruption",
    ):
        stream[index] = byte
    stream += data.draw(st.binary(max_size=12), label="tail")
    cuts = sorted(data.draw(st.sets(st.integers(1, len(stream))), label="cuts") | {len(stream)})
    schedules = [
        [len(stream)],
        [1],
        [end - start for start, end in zip([0, *cuts], cuts, strict=False)],
    ]
    whole = serve_kv(bytes(stream), schedules[0], fused=False, fields=False)
    for sizes in schedules:
        for fields in (False, True):
            got = serve_kv(bytes(stream), sizes, fused=True, fields=fields)
            apart = serve_kv(bytes(stream), sizes, fused=False, fields=fields)
            assert got == apart
            messages = whole[0]
            if fields:  # the same values, as tuples
                messages = [(m.op, m.id, m.body.key, m.body.value) for m in messages]
            assert got[0] == messages
            assert got[1:4] == whole[1:4]  # replies, close reason, error
    # Whatever was handled is what construct parses from the same bytes.
    offset = 0
    for message in whole[0]:
        size = 9 + int.from_bytes(stream[offset + 7 : offset + 9], "big")
        assert message == KV.parse(bytes(stream[offset : offset + size]))
        offset += size


def test_fused_path_errors_and_limits() -> None:
    def handler(message: Any, sender: NetworkSender) -> bytes:
        return bytes(message.body.value)

    frame = KV.build({"op": 1, "id": 2, "body": {"key": b"k", "value": b"v" * 38}})
    assert len(frame) == KV_MAX  # at the cap: served
    sender = Sender()
    consumer = FramedConsumer(kv_framer(True)(), handler, sender, KV)
    assert consumer.try_consume(memoryview(frame)) == len(frame)
    assert sender.sent == [b"v" * 38]
    over = KV.build({"op": 1, "id": 2, "body": {"key": b"k", "value": b"v" * 39}})
    with pytest.raises(ProtocolError, match="exceeds the 49-byte limit"):
        consumer.try_consume(memoryview(over[:9]))  # max+1: refused from the header alone
    with pytest.raises(ProtocolError, match="bad magic"):
        consumer.try_consume(memoryview(b"KX" + frame[2:9]))
    with pytest.raises(ProtocolError, match="malformed message"):  # the key passes the body
        consumer.try_consume(memoryview(frame[:9] + b"\xff" + frame[10:]))
    assert consumer.try_consume(memoryview(frame[:8])) == 0


def test_returned_replies_are_sent_once_per_read() -> None:
    replies = iter([b"a", None, b"bb", b""])
    sender = Sender()
    consumer = FramedConsumer(
        LengthFieldFramer.from_message(SHOUT), lambda m, s: next(replies), sender, SHOUT
    )
    frame = SHOUT.build({"kind": 0, "text": b"x"})
    assert consumer.try_consume(memoryview(frame * 4)) == 4 * len(frame)
    assert sender.sent == [b"abb"]
    assert consumer.try_consume(memoryview(frame[:-1])) == 0
    assert sender.sent == [b"abb"]  # nothing returned, nothing sent


@pytest.mark.parametrize("fused", [True, False])
def test_returned_replies_go_out_before_an_error(fused: bool) -> None:
    def handler(message: Any, sender: NetworkSender) -> bytes:
        if message.op == 9:
            raise ProtocolError("op 9")
        return b"r%d" % message.id

    sender = Sender()
    consumer = FramedConsumer(kv_framer(fused)(), handler, sender, KV)
    stream = b"".join(
        KV.build({"op": op, "id": i, "body": {"key": b"", "value": b""}})
        for i, op in enumerate([0, 0, 9, 0])
    )
    with pytest.raises(ProtocolError, match="op 9"):
        consumer.try_consume(memoryview(stream))
    assert sender.sent == [b"r0r1"]
    sender.sent.clear()
    with pytest.raises(ProtocolError, match="malformed"):
        consumer.try_consume(memoryview(stream[:10] + stream[:7] + b"\x00\x01\x05"))
    assert sender.sent == [b"r0"]


def test_returned_replies_are_sent_every_64_kib() -> None:
    # The connection's memory account must see large replies as they grow.
    size = 40 * 1024
    sender = Sender()
    consumer = FramedConsumer(
        LengthFieldFramer.from_message(SHOUT), lambda m, s: b"x" * size, sender, SHOUT
    )
    frame = SHOUT.build({"kind": 0, "text": b"x"})
    assert consumer.try_consume(memoryview(frame * 5)) == 5 * len(frame)
    assert [len(chunk) for chunk in sender.sent] == [2 * size, 2 * size, size]


def test_fields_need_a_declaration_that_has_them() -> None:
    def handler(message: Any, sender: NetworkSender) -> None:
        pass

    with pytest.raises(ValueError, match="fields"):
        FramedProvider(kv_framer(True), handler, fields=True)
    with pytest.raises(ValueError, match="fields"):
        FramedProvider(DelimiterFramer, handler, message=c.Int8ub, fields=True)


@pytest.mark.parametrize("fused", [True, False])
def test_returned_replies_and_a_close_request(fused: bool) -> None:
    # The replies up to the one that asks to close go out, then the connection closes.
    def handler(message: Any, sender: NetworkSender) -> bytes:
        if message.op == 9:
            sender.close()
        return b"r%d" % message.id

    stream = b"".join(
        KV.build({"op": op, "id": i, "body": {"key": b"", "value": b""}})
        for i, op in enumerate([0, 9, 0])
    )
    conn = make_connection(kv_framer(fused), handler, message=KV)
    conn.receive_data(stream)
    assert conn.data_to_send() == b"r0r1"
    assert conn.close_reason is CloseReason.SESSION_CLOSED
