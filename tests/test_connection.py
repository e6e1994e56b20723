"""The sans-I/O Connection, driven with plain bytes.

The sessions here speak a small test protocol: the magic ``LP``, then messages
made of a 2-byte big-endian length and a payload; each message is answered
with ``ack:<payload>;``.
"""

from __future__ import annotations

import array
import logging
import pickle
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wireproto._connection import CloseReason, Connection, ConnectionSettings, ConnectionState
from wireproto._detect import Detector, Verdict, WireFormat, match_prefix
from wireproto._errors import ContractError, ProtocolError
from wireproto._registry import Registry
from wireproto._session import Limits, MessageConsumer, NetworkSender

MAGIC = b"LP"
DETECTING = ConnectionState.DETECTING
ACTIVE = ConnectionState.ACTIVE
CLOSED = ConnectionState.CLOSED


def frame(payload: bytes) -> bytes:
    return len(payload).to_bytes(2, "big") + payload


def ack(payload: bytes) -> bytes:
    return b"ack:" + payload + b";"


Respond = Callable[["Session", bytes], bytes]
Consume = Callable[["Session", memoryview], object]


def respond_ack(session: Session, payload: bytes) -> bytes:
    return ack(payload)


class Session:
    """A recording session; what it does with the bytes is the provider's ``consume``."""

    def __init__(
        self, wire_format: WireFormat, sender: NetworkSender, consume: Consume, respond: Respond
    ) -> None:
        self.wire_format = wire_format
        self.sender = sender
        self.consume = consume
        self.respond = respond
        self.seen: list[bytes] = []
        self.messages: list[bytes] = []
        self.greeted = False
        self.stopped = False
        self.close_calls = 0
        self.kept: object = None

    def try_consume(self, data: memoryview, /) -> int:
        self.seen.append(bytes(data))
        return self.consume(self, data)  # type: ignore[return-value]

    def close(self) -> None:
        self.close_calls += 1


def lp_consume(session: Session, data: memoryview, *, one: bool = False) -> int:
    """Consume the magic, then every whole length-prefixed message (or only one)."""
    if not session.greeted:
        if len(data) < len(MAGIC):
            return 0
        assert bytes(data[: len(MAGIC)]) == MAGIC
        session.greeted = True
        return len(MAGIC)
    pos = 0
    while len(data) - pos >= 2:
        end = pos + 2 + int.from_bytes(data[pos : pos + 2], "big")
        if end > len(data):
            break
        payload = bytes(data[pos + 2 : end])
        session.messages.append(payload)
        reply = session.respond(session, payload)
        if reply:
            session.sender.send(reply)
        pos = end
        if one or session.stopped:
            break
    return pos


def lp_consume_one(session: Session, data: memoryview) -> int:
    return lp_consume(session, data, one=True)


def consume_all(session: Session, data: memoryview) -> int:
    return len(data)


@dataclass
class Provider:
    """A provider whose sessions record what they see."""

    consume: Consume = lp_consume
    respond: Respond = respond_ack
    provider_limits: Limits = field(default_factory=Limits)
    greeting: bytes = b""
    create_error: Exception | None = None
    sessions: list[Session] = field(default_factory=list)

    @property
    def limits(self) -> Limits:
        return self.provider_limits

    def create_session(self, wire_format: WireFormat, sender: NetworkSender) -> MessageConsumer:
        if self.create_error is not None:
            raise self.create_error
        if self.greeting:
            sender.send(self.greeting)
        session = Session(wire_format, sender, self.consume, self.respond)
        self.sessions.append(session)
        return session

    @property
    def session(self) -> Session:
        assert len(self.sessions) == 1
        return self.sessions[0]


LP = WireFormat("lp", match_prefix(MAGIC))
# A second, higher-priority format keeps detection undecided after b"L".
OTHER = WireFormat("other", match_prefix(b"LQ", b"X"), priority=5)


def connect(
    provider: Provider,
    settings: ConnectionSettings | None = None,
    *,
    extra: Sequence[tuple[WireFormat, Provider]] = (),
) -> Connection:
    registry = Registry()
    registry.register(OTHER, Provider(consume_all))
    registry.register(LP, provider)
    for wire_format, other in extra:
        registry.register(wire_format, other)
    return Connection(registry, settings)


class Driver:
    """Feeds a connection the way the asyncio shell does and collects its output."""

    def __init__(self, connection: Connection, sizes: Sequence[int] = (1 << 30,)) -> None:
        self.connection = connection
        self.sizes = sizes
        self.steps = 0
        self.output = bytearray()
        self.capacities: list[int] = []

    def feed(self, data: bytes) -> None:
        view = memoryview(data)
        while view and self.connection.state is not CLOSED:
            size = self.sizes[self.steps % len(self.sizes)]
            self.steps += 1
            region = self.connection.get_buffer(size)
            assert len(region) >= 1
            self.capacities.append(self.connection.buffer.capacity)  # a close frees the buffer
            count = min(len(region), len(view), size)
            region[:count] = view[:count]
            del region
            self.connection.buffer_updated(count)
            self.capacities.append(self.connection.buffer.capacity)
            self.output += self.connection.data_to_send()
            view = view[count:]

    def feed_chunks(self, chunks: Sequence[bytes]) -> None:
        for chunk in chunks:
            self.feed(chunk)


def feed_whole(connection: Connection, data: bytes) -> bytes:
    connection.receive_data(data)
    return connection.data_to_send()


def feed_bytewise(connection: Connection, data: bytes) -> bytes:
    out = bytearray()
    for i in range(len(data)):
        connection.receive_data(data[i : i + 1])
        out += connection.data_to_send()
    return bytes(out)


def feed_driver(connection: Connection, data: bytes) -> bytes:
    driver = Driver(connection, sizes=(7, 1, 3))
    driver.feed(data)
    return bytes(driver.output)


FEEDERS = {"whole": feed_whole, "bytewise": feed_bytewise, "get_buffer": feed_driver}
feeders = pytest.mark.parametrize("feed", list(FEEDERS.values()), ids=list(FEEDERS))


# -- settings ------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_detect_bytes": 0},
        {"detect_timeout": 0.0},
        {"detect_timeout": -1.0},
        {"initial_buffer_size": 0},
    ],
)
def test_invalid_connection_settings(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        ConnectionSettings(**kwargs)  # type: ignore[arg-type]


def test_smallest_valid_settings_and_limits() -> None:
    smallest = ConnectionSettings(max_detect_bytes=1, initial_buffer_size=1, detect_timeout=None)
    assert (smallest.max_detect_bytes, smallest.initial_buffer_size) == (1, 1)
    limits = Limits(max_message_size=1, max_output_buffered=1)
    assert (limits.max_message_size, limits.max_output_buffered) == (1, 1)
    with pytest.raises(ValueError):
        Limits(max_message_size=0)
    with pytest.raises(ValueError):
        Limits(max_output_buffered=0)


# -- states --------------------------------------------------------------------


def test_states_detecting_active_closed() -> None:
    provider = Provider()
    conn = connect(provider)
    assert conn.state is DETECTING
    conn.receive_data(b"L")
    assert conn.state is DETECTING
    assert conn.session is None
    assert conn.wire_format is None
    assert provider.sessions == []
    conn.receive_data(b"P" + frame(b"hi"))
    assert conn.state is ACTIVE
    assert conn.wire_format == LP
    assert conn.limits == provider.limits
    assert conn.session is provider.session
    assert provider.session.messages == [b"hi"]
    assert conn.data_to_send() == ack(b"hi")
    assert conn.data_to_send() == b""
    conn.eof_received()
    assert conn.state is CLOSED
    assert conn.close_reason is CloseReason.PEER_CLOSED
    assert conn.session is None
    assert provider.session.close_calls == 1


@feeders
def test_no_match_closes_without_a_session(feed: Callable[[Connection, bytes], bytes]) -> None:
    provider = Provider()
    conn = connect(provider)
    assert feed(conn, b"LZ" + frame(b"x")) == b""
    assert conn.state is CLOSED
    assert conn.close_reason is CloseReason.NO_MATCH
    assert provider.sessions == []


def test_an_empty_registry_matches_nothing() -> None:
    conn = Connection(Registry())
    conn.receive_data(b"\x00")
    assert conn.close_reason is CloseReason.NO_MATCH


def test_a_higher_priority_format_wins() -> None:
    other = Provider(consume_all)
    registry = Registry()
    registry.register(LP, Provider())
    registry.register(WireFormat("lp-too", match_prefix(b"L"), priority=1), other)
    conn = Connection(registry)
    conn.receive_data(MAGIC)
    assert conn.wire_format is not None
    assert conn.wire_format.name == "lp-too"
    assert other.session.seen == [MAGIC]


@pytest.mark.parametrize("verdict", ["match", None])
def test_a_detector_returning_a_non_verdict_fails_the_connection(verdict: object) -> None:
    registry = Registry()
    registry.register(WireFormat("bad", lambda data: verdict), Provider())  # type: ignore[arg-type,return-value]
    conn = Connection(registry)
    conn.receive_data(b"x")
    assert conn.close_reason is CloseReason.SESSION_FAILED
    assert isinstance(conn.error, TypeError)


def test_a_detector_raising_fails_the_connection() -> None:
    def explode(data: bytes) -> Verdict:
        raise RuntimeError("detector bug")

    registry = Registry()
    registry.register(WireFormat("bad", explode), Provider())
    conn = Connection(registry)
    conn.receive_data(b"x")
    assert conn.state is CLOSED
    assert conn.close_reason is CloseReason.SESSION_FAILED
    assert isinstance(conn.error, RuntimeError)


# -- detection cap -------------------------------------------------------------


def needs(count: int, seen: list[int]) -> Detector:
    """A detector that decides once it has ``count`` bytes, recording what it sees."""

    def detector(data: bytes) -> Verdict:
        seen.append(len(data))
        return Verdict.MATCH if len(data) >= count else Verdict.NEED_MORE

    return detector


def detect_connection(
    count: int, max_detect: int, initial: int = 4
) -> tuple[Connection, Provider, list[int]]:
    seen: list[int] = []
    provider = Provider(consume_all)
    registry = Registry()
    registry.register(WireFormat("counted", needs(count, seen)), provider)
    settings = ConnectionSettings(max_detect_bytes=max_detect, initial_buffer_size=initial)
    return Connection(registry, settings), provider, seen


MAX_DETECT = 8


@feeders
@pytest.mark.parametrize("initial", [1, 4, 64])
def test_a_detector_deciding_at_max_detect_bytes_matches(
    feed: Callable[[Connection, bytes], bytes], initial: int
) -> None:
    conn, provider, seen = detect_connection(MAX_DETECT, MAX_DETECT, initial)
    stream = bytes(range(3 * MAX_DETECT))
    feed(conn, stream)
    assert conn.state is ACTIVE
    assert max(seen) == MAX_DETECT
    assert b"".join(provider.session.seen) == stream  # nothing lost past the window


@feeders
@pytest.mark.parametrize("initial", [1, 4, 64])
def test_a_detector_needing_one_more_byte_is_closed(
    feed: Callable[[Connection, bytes], bytes], initial: int
) -> None:
    conn, provider, seen = detect_connection(MAX_DETECT + 1, MAX_DETECT, initial)
    feed(conn, bytes(3 * MAX_DETECT))
    assert conn.state is CLOSED
    assert conn.close_reason is CloseReason.NO_MATCH
    assert max(seen) == MAX_DETECT
    assert provider.sessions == []


@settings(max_examples=150)
@given(
    count=st.integers(1, 30),
    max_detect=st.integers(1, 24),
    initial=st.integers(1, 40),
    stream=st.binary(max_size=60),
    sizes=st.lists(st.integers(1, 16), min_size=1, max_size=5),
)
def test_detection_sees_at_most_max_detect_bytes_whatever_the_cuts(
    count: int, max_detect: int, initial: int, stream: bytes, sizes: list[int]
) -> None:
    conn, provider, seen = detect_connection(count, max_detect, initial)
    Driver(conn, sizes).feed(stream)
    assert all(size <= max_detect for size in seen)
    if count <= max_detect and len(stream) >= count:
        assert conn.state is ACTIVE
        assert b"".join(provider.session.seen) == stream
    elif count > max_detect and len(stream) >= max_detect:
        assert conn.close_reason is CloseReason.NO_MATCH
        assert provider.sessions == []
    else:
        assert conn.state is DETECTING


# -- detection deadline --------------------------------------------------------

BANNER = WireFormat("banner", lambda data: Verdict.NO_MATCH)


def test_detect_timeout_without_fallback_closes() -> None:
    provider = Provider()
    conn = connect(provider)
    conn.receive_data(b"L")
    conn.detect_timed_out()
    assert conn.state is CLOSED
    assert conn.close_reason is CloseReason.DETECT_TIMEOUT
    assert provider.sessions == []


def test_detect_timeout_with_an_unknown_fallback_closes() -> None:
    conn = connect(Provider(), ConnectionSettings(fallback_format="nowhere"))
    conn.detect_timed_out()
    assert conn.close_reason is CloseReason.DETECT_TIMEOUT


@pytest.mark.parametrize("buffered", [b"", b"L"])
def test_detect_timeout_routes_to_the_fallback_with_the_buffered_bytes(buffered: bytes) -> None:
    banner = Provider(consume_all, greeting=b"220 ready\r\n")
    lp = Provider()
    conn = connect(lp, ConnectionSettings(fallback_format="banner"), extra=[(BANNER, banner)])
    conn.receive_data(buffered)
    assert conn.state is DETECTING
    conn.detect_timed_out()
    assert conn.state is ACTIVE
    assert conn.wire_format == BANNER
    assert banner.session.seen == ([buffered] if buffered else [])
    assert conn.data_to_send() == b"220 ready\r\n"
    assert lp.sessions == []
    conn.receive_data(b"more")
    assert banner.session.seen[-1] == b"more"


def test_detect_timeout_after_detection_does_nothing() -> None:
    provider = Provider()
    conn = connect(provider, ConnectionSettings(fallback_format="other"))
    conn.receive_data(MAGIC)
    conn.detect_timed_out()
    assert conn.state is ACTIVE
    assert conn.wire_format == LP
    conn.close(CloseReason.SERVER_SHUTDOWN)
    conn.detect_timed_out()
    assert conn.close_reason is CloseReason.SERVER_SHUTDOWN


def test_a_fallback_whose_create_session_fails_closes() -> None:
    broken = Provider(create_error=RuntimeError("no session"))
    conn = connect(
        Provider(), ConnectionSettings(fallback_format="banner"), extra=[(BANNER, broken)]
    )
    conn.receive_data(b"L")
    conn.detect_timed_out()
    assert conn.close_reason is CloseReason.SESSION_FAILED
    assert isinstance(conn.error, RuntimeError)


# -- the consume loop ----------------------------------------------------------


def test_try_consume_is_called_until_it_returns_zero() -> None:
    provider = Provider(lp_consume_one)
    conn = connect(provider)
    partial = frame(b"dddd")[:3]
    conn.receive_data(MAGIC + frame(b"a") + frame(b"bb") + frame(b"") + partial)
    session = provider.session
    assert session.messages == [b"a", b"bb", b""]
    assert len(session.seen) == 5  # magic, three messages, then 0 for the partial one
    assert session.seen[-1] == partial
    assert conn.data_to_send() == ack(b"a") + ack(b"bb") + ack(b"")
    conn.receive_data(frame(b"dddd")[3:])
    assert session.messages[-1] == b"dddd"


def test_try_consume_is_never_called_with_no_bytes() -> None:
    provider = Provider(lp_consume_one)
    conn = connect(provider)
    feed_bytewise(conn, MAGIC + frame(b"a") + frame(b"bc"))
    conn.receive_data(frame(b"x") * 3)
    assert all(provider.session.seen)
    assert provider.session.messages == [b"a", b"bc", b"x", b"x", b"x"]


# -- contract violations -------------------------------------------------------


class Three(int):
    pass


@pytest.mark.parametrize(
    "result",
    [
        lambda data: -1,
        lambda data: len(data) + 1,
        lambda data: True,
        lambda data: 1.0,
        lambda data: "1",
        lambda data: None,
        lambda data: Three(1),
    ],
    ids=["negative", "len+1", "bool", "float", "str", "none", "int-subclass"],
)
def test_a_bad_try_consume_result_is_a_contract_error(
    result: Callable[[memoryview], object],
) -> None:
    provider = Provider(lambda session, data: result(data))
    conn = connect(provider)
    conn.receive_data(MAGIC + b"rest")
    assert conn.state is CLOSED
    assert conn.close_reason is CloseReason.SESSION_FAILED
    assert isinstance(conn.error, ContractError)
    assert provider.session.close_calls == 1
    assert len(provider.session.seen) == 1


def keep_memoryview(session: Session, data: memoryview) -> int:
    session.kept = memoryview(data)
    return len(data)


def keep_slice(session: Session, data: memoryview) -> int:
    session.kept = data[1:]
    return len(data)


def keep_pickle_buffer(session: Session, data: memoryview) -> int:
    session.kept = pickle.PickleBuffer(data)
    return len(data)


def test_a_session_keeping_an_export_of_the_view_is_a_contract_error() -> None:
    provider = Provider(keep_pickle_buffer)
    conn = connect(provider)
    conn.receive_data(MAGIC + b"payload")
    assert conn.state is CLOSED
    assert conn.close_reason is CloseReason.SESSION_FAILED
    assert isinstance(conn.error, ContractError)
    assert provider.session.close_calls == 1


@pytest.mark.parametrize("keep", [keep_memoryview, keep_slice])
def test_a_session_keeping_a_derived_view_cannot_break_the_buffer(keep: Consume) -> None:
    # A derived view shares the buffer's own export, so the Connection cannot
    # see it cheaply (the fuzz kit's driver does). What the Connection
    # guarantees: the buffer never resizes in place, so reusing it under the
    # kept view works and later data is read correctly (growth and shrink
    # under kept views: tests/test_buffer.py).
    provider = Provider(keep)
    conn = connect(provider, ConnectionSettings(initial_buffer_size=16))
    conn.receive_data(MAGIC + b"payload")
    for size in (100, 3, 1000, 5):
        before = len(provider.session.seen)
        conn.receive_data(bytes([size % 256]) * size)
        assert conn.state is ACTIVE
        assert b"".join(provider.session.seen[before:]) == bytes([size % 256]) * size
    assert conn.buffer.capacity == 16


def test_a_session_copying_what_it_keeps_is_fine() -> None:
    def copy(session: Session, data: memoryview) -> int:
        session.kept = bytes(data[1:])
        return len(data)

    provider = Provider(copy)
    conn = connect(provider)
    conn.receive_data(MAGIC + b"payload")
    conn.receive_data(b"more")
    assert conn.state is ACTIVE
    assert provider.session.kept == b"ore"


# -- errors and closing --------------------------------------------------------


def respond_or_fail(session: Session, payload: bytes) -> bytes:
    if payload == b"bad":
        raise ProtocolError("bad command", reply=b"-ERR bad\r\n")
    if payload == b"silent":
        raise ProtocolError("no way to say it")
    if payload == b"bug":
        raise RuntimeError("session bug")
    if payload == b"quit":
        session.stopped = True
        session.sender.send(b"+BYE\r\n")
        session.sender.close()
        return b""
    return b"+OK\r\n"


@feeders
def test_a_protocol_error_reply_is_sent_before_the_close(
    feed: Callable[[Connection, bytes], bytes],
) -> None:
    provider = Provider(respond=respond_or_fail)
    conn = connect(provider)
    out = feed(conn, MAGIC + frame(b"ok") + frame(b"bad") + frame(b"ok"))
    out += conn.data_to_send()
    assert out == b"+OK\r\n-ERR bad\r\n"
    assert conn.state is CLOSED
    assert conn.close_reason is CloseReason.PROTOCOL_ERROR
    assert isinstance(conn.error, ProtocolError)
    assert conn.error.message == "bad command"
    assert provider.session.messages == [b"ok", b"bad"]
    assert provider.session.close_calls == 1


def test_a_protocol_error_without_a_reply_sends_nothing_more() -> None:
    provider = Provider(respond=respond_or_fail)
    conn = connect(provider)
    conn.receive_data(MAGIC + frame(b"ok") + frame(b"silent"))
    assert conn.data_to_send() == b"+OK\r\n"
    assert conn.close_reason is CloseReason.PROTOCOL_ERROR


def test_any_other_exception_fails_the_session() -> None:
    provider = Provider(respond=respond_or_fail)
    conn = connect(provider)
    conn.receive_data(MAGIC + frame(b"ok") + frame(b"bug") + frame(b"ok"))
    assert conn.close_reason is CloseReason.SESSION_FAILED
    assert isinstance(conn.error, RuntimeError)
    assert provider.session.messages == [b"ok", b"bug"]
    assert provider.session.close_calls == 1
    assert conn.data_to_send() == b"+OK\r\n"  # replies before the bug still go out
    assert "session bug" in str(conn.error)


def test_create_session_raising_closes_without_a_session() -> None:
    provider = Provider(create_error=RuntimeError("cannot create"))
    conn = connect(provider)
    conn.receive_data(MAGIC + frame(b"x"))
    assert conn.state is CLOSED
    assert conn.close_reason is CloseReason.SESSION_FAILED
    assert isinstance(conn.error, RuntimeError)
    assert conn.session is None
    assert provider.sessions == []
    conn.close(CloseReason.SERVER_SHUTDOWN)
    assert conn.close_reason is CloseReason.SESSION_FAILED


def test_create_session_raising_a_protocol_error_sends_its_reply() -> None:
    provider = Provider(create_error=ProtocolError("refused", reply=b"-ERR busy\r\n"))
    conn = connect(provider)
    conn.receive_data(MAGIC)
    assert conn.close_reason is CloseReason.PROTOCOL_ERROR
    assert conn.data_to_send() == b"-ERR busy\r\n"


def close_by_eof(conn: Connection, provider: Provider) -> None:
    conn.eof_received()


def close_by_protocol_error(conn: Connection, provider: Provider) -> None:
    conn.receive_data(frame(b"bad"))


def close_by_bug(conn: Connection, provider: Provider) -> None:
    conn.receive_data(frame(b"bug"))


def close_twice(conn: Connection, provider: Provider) -> None:
    conn.close(CloseReason.SERVER_SHUTDOWN)
    conn.close(CloseReason.CONNECTION_LOST)


def close_by_sender_outside_a_batch(conn: Connection, provider: Provider) -> None:
    provider.session.sender.close()
    provider.session.sender.close()
    assert conn.state is ACTIVE  # closed once the queued bytes are taken
    conn.data_to_send()


def close_by_sender_in_a_batch(conn: Connection, provider: Provider) -> None:
    conn.receive_data(frame(b"quit") + frame(b"ok"))
    assert conn.state is ACTIVE
    assert conn.data_to_send() == b"+BYE\r\n"
    assert provider.session.messages[-1] == b"quit"


@pytest.mark.parametrize(
    ("close", "reason"),
    [
        (close_by_eof, CloseReason.PEER_CLOSED),
        (close_by_protocol_error, CloseReason.PROTOCOL_ERROR),
        (close_by_bug, CloseReason.SESSION_FAILED),
        (close_twice, CloseReason.SERVER_SHUTDOWN),
        (close_by_sender_outside_a_batch, CloseReason.SESSION_CLOSED),
        (close_by_sender_in_a_batch, CloseReason.SESSION_CLOSED),
    ],
)
def test_session_close_runs_exactly_once(
    close: Callable[[Connection, Provider], None], reason: CloseReason
) -> None:
    provider = Provider(respond=respond_or_fail)
    conn = connect(provider)
    conn.receive_data(MAGIC)
    close(conn, provider)
    assert conn.state is CLOSED
    assert conn.close_reason is reason
    conn.eof_received()
    conn.close(CloseReason.SERVER_SHUTDOWN)
    conn.data_to_send()
    assert conn.close_reason is reason
    assert provider.session.close_calls == 1


def test_a_failing_session_close_is_recorded_once(caplog: pytest.LogCaptureFixture) -> None:
    provider = Provider()
    conn = connect(provider)
    conn.receive_data(MAGIC)
    calls: list[int] = []

    def broken_close() -> None:
        calls.append(1)
        raise OSError("close failed")

    provider.session.close = broken_close  # type: ignore[method-assign]
    conn.eof_received()
    conn.eof_received()
    assert calls == [1]
    assert conn.state is CLOSED
    assert isinstance(conn.error, OSError)
    assert any(r.levelno == logging.ERROR for r in caplog.records)


# -- message size cap ----------------------------------------------------------

MAX_MESSAGE = 64


def sized(total: int) -> bytes:
    """A framed message of ``total`` bytes, header included."""
    return frame(bytes(range(total - 2)))


@feeders
@pytest.mark.parametrize("initial", [16, MAX_MESSAGE, 16 * 1024])
def test_a_message_of_exactly_max_message_size_is_consumed(
    feed: Callable[[Connection, bytes], bytes], initial: int
) -> None:
    provider = Provider(provider_limits=Limits(max_message_size=MAX_MESSAGE))
    conn = connect(provider, ConnectionSettings(initial_buffer_size=initial))
    message = sized(MAX_MESSAGE)
    out = feed(conn, MAGIC + message + message)
    assert conn.state is ACTIVE
    assert provider.session.messages == [message[2:], message[2:]]
    assert out == ack(message[2:]) * 2


@feeders
@pytest.mark.parametrize("initial", [16, MAX_MESSAGE, 16 * 1024])
def test_a_message_one_byte_over_max_message_size_is_a_protocol_error(
    feed: Callable[[Connection, bytes], bytes], initial: int
) -> None:
    provider = Provider(provider_limits=Limits(max_message_size=MAX_MESSAGE))
    conn = connect(provider, ConnectionSettings(initial_buffer_size=initial))
    feed(conn, MAGIC + sized(MAX_MESSAGE + 1) + sized(10))
    assert conn.state is CLOSED
    assert conn.close_reason is CloseReason.PROTOCOL_ERROR
    assert isinstance(conn.error, ProtocolError)
    assert provider.session.messages == []
    assert provider.session.close_calls == 1


@pytest.mark.parametrize("sizes", [(1 << 30,), (1,), (5, 9)])
def test_the_buffer_never_grows_past_max_message_size(sizes: tuple[int, ...]) -> None:
    provider = Provider(provider_limits=Limits(max_message_size=MAX_MESSAGE))
    conn = connect(provider, ConnectionSettings(initial_buffer_size=4))
    driver = Driver(conn, sizes)
    driver.feed(MAGIC + sized(MAX_MESSAGE) + sized(MAX_MESSAGE + 1))
    assert conn.close_reason is CloseReason.PROTOCOL_ERROR
    assert len(provider.session.messages) == 1
    assert max(driver.capacities) == MAX_MESSAGE


def test_many_small_messages_in_one_read_are_not_limited() -> None:
    provider = Provider(provider_limits=Limits(max_message_size=MAX_MESSAGE))
    conn = connect(provider)
    stream = MAGIC + sized(MAX_MESSAGE) * 20
    conn.receive_data(stream)
    assert conn.state is ACTIVE
    assert len(provider.session.messages) == 20


def test_the_buffer_shrinks_back_after_a_large_message() -> None:
    provider = Provider(provider_limits=Limits(max_message_size=4096))
    conn = connect(provider, ConnectionSettings(initial_buffer_size=16))
    driver = Driver(conn, sizes=(100,))
    driver.feed(MAGIC + frame(bytes(1000)))
    assert provider.session.messages == [bytes(1000)]
    assert max(driver.capacities[:-1]) >= 1002
    assert conn.buffer.capacity == 16
    driver.feed(frame(b"small"))
    assert conn.buffer.capacity == 16


# -- output --------------------------------------------------------------------


def test_output_outside_a_batch_calls_on_output_and_inside_does_not() -> None:
    provider = Provider()
    conn = connect(provider)
    calls: list[int] = []
    conn.on_output = lambda: calls.append(1)
    conn.receive_data(MAGIC + frame(b"a") + frame(b"b"))
    assert calls == []
    assert conn.pending_output == 2 * len(ack(b"a"))
    provider.session.sender.send(b"late")
    assert calls == [1]
    assert conn.pending_output == 2 * len(ack(b"a")) + 4
    assert conn.data_to_send() == ack(b"a") + ack(b"b") + b"late"
    assert conn.pending_output == 0
    provider.session.sender.send(b"")
    assert calls == [1]  # nothing queued, nothing to announce
    provider.session.sender.close()
    assert calls == [1, 1]
    assert conn.data_to_send() == b""
    assert conn.close_reason is CloseReason.SESSION_CLOSED


def test_send_copies_its_argument() -> None:
    provider = Provider()
    conn = connect(provider)
    conn.receive_data(MAGIC)
    data = bytearray(b"abc")
    provider.session.sender.send(data)
    provider.session.sender.send(memoryview(b"xyz")[1:])
    data[:] = b"XXX"
    assert conn.data_to_send() == b"abcyz"


def test_sends_after_close_are_dropped() -> None:
    provider = Provider()
    conn = connect(provider)
    conn.receive_data(MAGIC + frame(b"a"))
    calls: list[int] = []
    conn.on_output = lambda: calls.append(1)
    conn.close(CloseReason.SERVER_SHUTDOWN)
    provider.session.sender.send(b"too late")
    assert calls == []
    assert conn.data_to_send() == ack(b"a")  # queued before the close: still delivered
    assert conn.data_to_send() == b""
    assert conn.pending_output == 0


@pytest.mark.parametrize("how", ["eof", "protocol-error"])
def test_bytes_received_after_close_are_discarded(how: str) -> None:
    provider = Provider(respond=respond_or_fail)
    conn = connect(provider)
    conn.receive_data(MAGIC + frame(b"ok"))
    if how == "eof":
        conn.eof_received()
    else:
        conn.receive_data(frame(b"bad"))
    seen = list(provider.session.seen)
    buffered = bytes(conn.buffer.unread())
    conn.receive_data(frame(b"ok") * 10_000)
    region = conn.get_buffer()
    assert len(region) >= 1
    region[:4] = b"more"
    del region
    conn.buffer_updated(4)
    assert provider.session.seen == seen
    assert bytes(conn.buffer.unread()) == buffered
    assert conn.state is CLOSED


def test_bytes_after_a_session_close_request_are_not_consumed() -> None:
    provider = Provider(respond=respond_or_fail, provider_limits=Limits(max_message_size=64))
    conn = connect(provider, ConnectionSettings(initial_buffer_size=16))
    # The client pipelines more than the buffer can hold after its "quit".
    conn.receive_data(MAGIC + frame(b"quit") + frame(b"ok") * 100)
    assert provider.session.messages == [b"quit"]
    assert conn.data_to_send() == b"+BYE\r\n"
    assert conn.state is CLOSED
    assert conn.close_reason is CloseReason.SESSION_CLOSED


def test_receive_data_accepts_any_buffer() -> None:
    provider = Provider(consume_all)
    conn = connect(provider)
    words = array.array("H", [0x504C, 0x0102])  # native byte order
    conn.receive_data(b"LP")
    conn.receive_data(memoryview(words))
    conn.receive_data(bytearray(b"xy"))
    assert b"".join(provider.session.seen) == b"LP" + words.tobytes() + b"xy"


# -- the same result however the stream is cut ---------------------------------


def run(feed: Callable[[Connection], bytes], initial: int) -> tuple[object, ...]:
    provider = Provider(provider_limits=Limits(max_message_size=512))
    conn = connect(provider, ConnectionSettings(initial_buffer_size=initial))
    calls: list[int] = []
    conn.on_output = lambda: calls.append(1)
    output = feed(conn) + conn.data_to_send()
    assert calls == []  # every send happened inside a batch
    session = provider.session
    return conn.state, tuple(session.messages), output, len(conn.buffer), conn.buffer.capacity


@settings(max_examples=150, deadline=None)
@given(
    messages=st.lists(st.binary(max_size=300), max_size=6),
    cuts=st.lists(st.integers(0, 2000), max_size=10),
    sizes=st.lists(st.integers(1, 100), min_size=1, max_size=6),
    initial=st.integers(1, 64),
)
def test_the_same_messages_and_replies_however_the_stream_is_cut(
    messages: list[bytes], cuts: list[int], sizes: list[int], initial: int
) -> None:
    stream = MAGIC + b"".join(frame(m) for m in messages)
    ends = sorted({c for c in cuts if 0 < c < len(stream)} | {len(stream)})
    chunks = [stream[a:b] for a, b in zip([0, *ends], ends, strict=False)]

    def cut(conn: Connection) -> bytes:
        driver = Driver(conn, sizes)
        driver.feed_chunks(chunks)
        assert max(driver.capacities) <= 512
        return bytes(driver.output)

    whole = run(lambda conn: feed_whole(conn, stream), initial)
    assert whole == (ACTIVE, tuple(messages), b"".join(map(ack, messages)), 0, initial)
    assert run(lambda conn: feed_bytewise(conn, stream), initial) == whole
    assert run(cut, initial) == whole
