"""FASTER's binary and WebSocket formats through the sans-I/O Connection."""

from __future__ import annotations

import json
import struct
from collections import deque
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import construct as c
import pytest
from _drive import bytewise, cut, replay
from _faster_client import FasterClient, Reply
from hypothesis import given, settings
from hypothesis import strategies as st
from wireproto.providers import faster, kvbin, memcache, resp
from wireproto.providers.faster import (
    BINARY_REQUESTS,
    DEFAULT_SETTINGS,
    FASTER,
    FASTER_WS,
    WS_REQUESTS,
    FasterProvider,
    FasterSettings,
    MessageType,
    StatusCode,
    binary_detector,
    build_binary_batch,
    build_request,
    build_ws_batch,
    ws_detector,
)
from wireproto.providers.kvstore import Store, share_store, shared_store

from wireproto import AuthSettings, CloseReason, Connection, ConnectionSettings, Registry
from wireproto._connection import ConnectionState
from wireproto._detect import Verdict
from wireproto._session import Authenticating
from wireproto.framing import compile_construct
from wireproto.testing import FuzzTarget, check_wire_format
from wireproto.testing._target import load_corpus

SPEC = Path(__file__).resolve().parent.parent / "specs" / "faster"
WS_SPEC = SPEC.parent / "faster-ws"
VECTORS = json.loads((SPEC / "vectors.json").read_text())["vectors"]


def _registry(settings_: FasterSettings | None = None) -> Registry:
    registry = Registry()
    if settings_ is None:
        faster.register(registry)
    else:
        provider = FasterProvider(shared_store(registry), settings_)
        registry.register(FASTER, provider)
        registry.register(FASTER_WS, provider)
    return registry


def _run(chunks: Iterable[bytes], registry: Registry | None = None) -> tuple[bytes, Connection]:
    connection = Connection(registry if registry is not None else _registry())
    return replay(connection, chunks), connection


def _ws(*messages: bytes) -> bytes:
    return build_ws_batch(len(messages), b"".join(messages))


def _ws_req(kind: int, **spans: bytes) -> bytes:
    return build_request(kind, ws=True, **spans)


# -- the vectors -------------------------------------------------------------------------


@pytest.mark.parametrize("vector", VECTORS, ids=[vector["name"] for vector in VECTORS])
@pytest.mark.parametrize("cutting", ["whole", "bytewise"])
def test_vectors(vector: dict[str, Any], cutting: str) -> None:
    request = bytes.fromhex(vector["request"])
    chunks = [request] if cutting == "whole" else bytewise(request)
    replies, connection = _run(chunks)
    assert replies == bytes.fromhex(vector["reply"])
    assert connection.wire_format is not None
    assert connection.wire_format.name == vector["variant"]
    assert (connection.state is ConnectionState.CLOSED) is vector["closes"]
    if vector["closes"]:
        assert connection.close_reason is CloseReason.PROTOCOL_ERROR


def test_corpus_streams_are_served_without_closing() -> None:
    corpus = sorted(SPEC.joinpath("corpus").glob("*.bin"))
    ws_corpus = sorted(WS_SPEC.joinpath("corpus").glob("*.bin"))
    assert len(corpus) >= 6 and len(ws_corpus) >= 3
    for path in corpus + ws_corpus:
        replies, connection = _run([path.read_bytes()])
        assert connection.state is ConnectionState.ACTIVE, path.name
        assert replies, path.name
        expected = "faster-ws" if path.name.startswith("ws-") else "faster"
        assert connection.wire_format is not None
        assert connection.wire_format.name == expected


# -- the Python client against the provider ------------------------------------------------


def _talk(client: FasterClient, connection: Connection) -> list[Reply]:
    connection.receive_data(client.flush())
    return client.receive(connection.data_to_send())


def test_client_batch_of_every_operation() -> None:
    client, connection = FasterClient(), Connection(_registry())
    client.upsert(b"k", b"value", serial_num=1)
    client.read(b"k", serial_num=2)
    client.rmw(b"k", b"ab", serial_num=3)
    client.read(b"k", serial_num=4)
    client.rmw(b"n", b"new", serial_num=5)
    client.delete(b"k", serial_num=6)
    client.read(b"k", serial_num=7)
    client.delete(b"k", serial_num=8)
    replies = _talk(client, connection)
    assert [(r.type, r.status, r.output) for r in replies] == [
        (MessageType.UPSERT, 0x11, None),
        (MessageType.READ, StatusCode.FOUND, b"value"),
        (MessageType.RMW, StatusCode.IN_PLACE_UPDATED_RECORD, b""),
        (MessageType.READ, StatusCode.FOUND, b"ab"),
        (MessageType.RMW, 0x11, b""),
        (MessageType.DELETE, StatusCode.IN_PLACE_UPDATED_RECORD, None),
        (MessageType.READ, StatusCode.NOT_FOUND, None),
        (MessageType.DELETE, StatusCode.NOT_FOUND, None),
    ]
    assert {r.seq_no for r in replies} == {0}


def test_async_message_types_are_answered_with_their_own_type() -> None:
    connection = Connection(_registry())
    messages = [
        build_request(MessageType.UPSERT_ASYNC, key=b"a", value=b"1"),
        build_request(MessageType.READ_ASYNC, key=b"a", input=b""),
        build_request(MessageType.RMW_ASYNC, key=b"a", input=b"2"),
        build_request(MessageType.DELETE_ASYNC, key=b"a"),
    ]
    connection.receive_data(build_binary_batch(0, 4, b"".join(messages)))
    replies = FasterClient().receive(connection.data_to_send())
    assert [(r.type, r.status, r.output) for r in replies] == [
        (MessageType.UPSERT_ASYNC, 0x11, None),
        (MessageType.READ_ASYNC, 0, b"1"),
        (MessageType.RMW_ASYNC, 0x20, b""),
        (MessageType.DELETE_ASYNC, 0x20, None),
    ]


def test_the_sequence_numbers_count_reply_batches() -> None:
    client, connection = FasterClient(), Connection(_registry())
    for round_ in range(5):
        client.upsert(b"k%d" % round_, b"v")
        client.read(b"k%d" % round_)
        replies = _talk(client, connection)  # the client checks seq_no == last + 1
        assert [r.seq_no for r in replies] == [round_, round_]


# -- batches cut anywhere ------------------------------------------------------------------

_keys = st.binary(min_size=0, max_size=6)
_ops = st.lists(
    st.one_of(
        st.tuples(st.just("upsert"), _keys, st.binary(max_size=20)),
        st.tuples(st.just("read"), _keys, st.binary(max_size=4)),
        st.tuples(st.just("rmw"), _keys, st.binary(max_size=20)),
        st.tuples(st.just("delete"), _keys, st.just(b"")),
    ),
    min_size=1,
    max_size=30,
)


def _binary_stream(batches: list[list[tuple[str, bytes, bytes]]]) -> bytes:
    client = FasterClient()
    stream = b""
    for batch in batches:
        for op, key, data in batch:
            if op == "upsert":
                client.upsert(key, data)
            elif op == "read":
                client.read(key, data)
            elif op == "rmw":
                client.rmw(key, data)
            else:
                client.delete(key)
        stream += client.flush()
    return stream


def _ws_stream(batches: list[list[tuple[str, bytes, bytes]]]) -> bytes:
    kinds = {"upsert": MessageType.UPSERT, "rmw": MessageType.RMW}
    stream = b""
    for batch in batches:
        messages = []
        for op, key, data in batch:
            if op == "read":
                messages.append(_ws_req(MessageType.READ, key=key))
            elif op == "delete":
                messages.append(_ws_req(MessageType.DELETE, key=key))
            else:
                name = "value" if op == "upsert" else "input"
                messages.append(_ws_req(kinds[op], key=key, **{name: data}))
        stream += _ws(*messages)
    return stream


@settings(max_examples=60, deadline=None)
@given(batches=st.lists(_ops, min_size=1, max_size=4), data=st.data())
@pytest.mark.parametrize("variant", ["faster", "faster-ws"])
def test_batches_cut_anywhere_give_the_same_replies(
    variant: str, batches: list[list[tuple[str, bytes, bytes]]], data: st.DataObject
) -> None:
    stream = (_binary_stream if variant == "faster" else _ws_stream)(batches)
    whole, _ = _run([stream])
    assert whole
    points = data.draw(st.lists(st.integers(1, len(stream) - 1), max_size=8))
    assert _run(cut(stream, points))[0] == whole
    assert _run(bytewise(stream))[0] == whole


def test_a_batch_of_many_messages_cut_at_every_byte() -> None:
    batches = [[("upsert", b"k%d" % i, b"v" * i), ("read", b"k%d" % i, b"")] for i in range(40)]
    stream = _binary_stream(batches)
    whole, _ = _run([stream])
    replies = FasterClient().receive(whole)
    assert len(replies) == 80
    for point in range(1, len(stream)):
        assert _run([stream[:point], stream[point:]])[0] == whole, point


@settings(max_examples=100, deadline=None)
@given(ops=_ops)
def test_the_store_matches_a_model(ops: list[tuple[str, bytes, bytes]]) -> None:
    model: dict[bytes, bytes] = {}
    client = FasterClient()
    expected: list[tuple[int, bytes | None]] = []
    for op, key, data in ops:
        old = model.get(key)
        if op == "upsert":
            client.upsert(key, data)
            fits = old is not None and len(data) <= len(old)
            expected.append((0x20 if fits else 0x11, None))
            model[key] = data
        elif op == "read":
            client.read(key, data)
            expected.append((0, old) if old is not None else (1, None))
        elif op == "rmw":
            client.rmw(key, data)
            if old is None:
                model[key], status = data, 0x11
            elif len(data) <= len(old):
                model[key], status = data, 0x20
            else:
                model[key], status = old + bytes(len(data) - len(old)), 0x30
            expected.append((status, b""))
        else:
            client.delete(key)
            expected.append((0x20 if model.pop(key, None) is not None else 0x01, None))
    replies = _talk(client, Connection(_registry()))
    assert [(r.status, r.output) for r in replies] == expected


# -- the declarations ------------------------------------------------------------------------

_SPAN_FIELDS = st.binary(max_size=40)


@settings(max_examples=200, deadline=None)
@given(
    table=st.sampled_from(["binary", "ws"]),
    kind=st.sampled_from(sorted(BINARY_REQUESTS)),
    serial=st.integers(-(1 << 63), (1 << 63) - 1),
    spans=st.tuples(_SPAN_FIELDS, _SPAN_FIELDS),
    tail=st.binary(max_size=8),
)
def test_compiled_parse_and_build_agree_with_construct(
    table: str, kind: int, serial: int, spans: tuple[bytes, bytes], tail: bytes
) -> None:
    con = (BINARY_REQUESTS if table == "binary" else WS_REQUESTS)[kind]
    compiled = compile_construct(con)
    assert compiled.parse_compiled and compiled.build_compiled
    names = [sub.name for sub in con.subcons if sub.name not in ("type", "serial_num")]
    value = {"type": kind, "serial_num": serial, **dict(zip(names, spans, strict=False))}
    built = con.build(value)
    assert compiled.build(value) == built
    data = built + tail  # a message is followed by the next one
    assert compiled.parse(data) == con.parse(data)
    for end in range(len(built)):  # every truncation fails in both
        with pytest.raises(c.StreamError):
            con.parse(built[:end])
        with pytest.raises(c.StreamError):
            compiled.parse(built[:end])


# -- detection ------------------------------------------------------------------------------

_streams = st.one_of(
    st.binary(max_size=20),
    st.builds(lambda batches: _binary_stream(batches)[:20], st.lists(_ops, min_size=1, max_size=1)),
    st.builds(lambda batches: _ws_stream(batches)[:20], st.lists(_ops, min_size=1, max_size=1)),
)


@settings(max_examples=300)
@given(data=_streams)
@pytest.mark.parametrize("detector", [binary_detector, ws_detector])
def test_detectors_never_change_a_decided_answer(detector: Any, data: bytes) -> None:
    answers = [detector(data[:n]) for n in range(len(data) + 1)]
    decided = [a for a in answers if a is not Verdict.NEED_MORE]
    assert all(a is decided[0] for a in decided)
    if decided:  # once decided, it stays decided
        first = answers.index(decided[0])
        assert Verdict.NEED_MORE not in answers[first:]


def test_detection_follows_fasters_rule() -> None:
    batch = _binary_stream([[("read", b"k", b"")]])
    assert [binary_detector(batch[:n]) for n in (0, 3, 4, 11)] == [Verdict.NEED_MORE] * 4
    assert binary_detector(batch[:12]) is Verdict.MATCH
    assert binary_detector(b"*1\r\n") is Verdict.NO_MATCH  # the top bit of byte 3 is clear
    fixed_len = batch[:8] + b"\x01" + batch[9:]  # DefaultFixedLenKV: not served
    assert binary_detector(fixed_len) is Verdict.NO_MATCH


def test_a_batch_starting_with_0x80_is_fasters_and_memcache_binary_keeps_long_keys() -> None:
    registry = Registry()
    for register in (faster.register, kvbin.register, memcache.register, resp.register):
        register(registry)
    value = b"v" * (128 - 8 - 1 - 8 - 4 - 1 - 4)  # a batch of 128 bytes: -128 is 80 ff ff ff
    batch = _binary_stream([[("upsert", b"k", value)]])
    assert batch[:4] == b"\x80\xff\xff\xff"
    assert registry.detect(batch).wire_format == FASTER
    key = b"x" * 200  # a memcached GET with a 200-byte key: byte 3 is 0xc8
    get = struct.pack(">BBHBBHIIQ", 0x80, 0, len(key), 0, 0, 0, len(key), 0, 0) + key
    assert registry.detect(get).wire_format is not None
    assert registry.detect(get).wire_format.name == "memcache-binary"
    noop = struct.pack(">BBHBBHIIQ", 0x80, 0x0A, 0, 0, 0, 0, 0, 0, 0)  # reads as a ws size
    assert registry.detect(noop).wire_format.name == "memcache-binary"  # type: ignore[union-attr]


def test_the_ws_detector_wants_the_javascript_clients_batches() -> None:
    batch = _ws(_ws_req(MessageType.READ, key=b"k"))
    assert [ws_detector(batch[:n]) for n in (0, 3, 11)] == [Verdict.NEED_MORE] * 3
    assert ws_detector(batch) is Verdict.MATCH
    assert ws_detector(b"GET / HTTP/1.1\r\n") is Verdict.NO_MATCH
    assert ws_detector(batch[:4] + b"\x01\x00\x00\x00" + batch[8:]) is Verdict.NO_MATCH  # seq
    no_messages = batch[:8] + b"\x00\x00\x00\x00" + batch[12:]
    assert ws_detector(no_messages) is Verdict.NO_MATCH


# -- limits ---------------------------------------------------------------------------------


def _upsert_batch_of(size: int) -> bytes:
    """One Upsert in a batch of exactly ``size`` bytes after the size field."""
    value = b"v" * (size - 8 - 1 - 8 - 4 - 1 - 4)
    batch = _binary_stream([[("upsert", b"k", value)]])
    assert len(batch) == 4 + size
    return batch


def test_batch_size_at_the_limit_and_over() -> None:
    limit = 4096
    registry = _registry(FasterSettings(max_batch_size=limit, max_value_size=limit))
    replies, connection = _run([_upsert_batch_of(limit)], registry)
    assert FasterClient().receive(replies)[0].status == 0x11
    assert connection.state is ConnectionState.ACTIVE
    small, over = _upsert_batch_of(26), _upsert_batch_of(limit + 1)
    replies, connection = _run([small, over], _registry(FasterSettings(max_batch_size=limit)))
    assert len(FasterClient().receive(replies)) == 1
    assert connection.state is ConnectionState.CLOSED
    assert connection.close_reason is CloseReason.PROTOCOL_ERROR
    assert "over the limit" in str(connection.error)


def test_default_batch_limit_at_max_and_max_plus_one() -> None:
    limit = DEFAULT_SETTINGS.max_batch_size
    wide = FasterSettings(max_value_size=limit)
    replies, connection = _run([_upsert_batch_of(limit)], _registry(wide))
    assert connection.state is ConnectionState.ACTIVE and replies
    # over the limit, the first batch is not even detected as FASTER's
    assert binary_detector(_upsert_batch_of(limit + 1)[:12]) is Verdict.NO_MATCH


@pytest.mark.parametrize("variant", ["faster", "faster-ws"])
def test_key_and_value_sizes_at_the_limit_and_over(variant: str) -> None:
    limits = FasterSettings(max_key_size=16, max_value_size=32)
    ok_key, long_key = b"k" * 16, b"k" * 17
    ok_value, long_value = b"v" * 32, b"v" * 33
    cases = [(ok_key, ok_value, 0x11), (long_key, ok_value, 0x04), (b"a", long_value, 0x04)]
    for key, value, status in cases:
        if variant == "faster":
            request = build_binary_batch(
                0, 1, build_request(MessageType.UPSERT, key=key, value=value)
            )
        else:
            request = _ws(_ws_req(MessageType.UPSERT, key=key, value=value))
        registry = _registry(limits)
        replies, connection = _run([request], registry)
        assert replies[12:] == bytes([MessageType.UPSERT, status])
        assert connection.state is ConnectionState.ACTIVE
        stored = shared_store(registry).get(key)
        assert (stored == value) is (status == 0x11)


def test_oversized_subscriptions_get_an_error_the_client_can_read() -> None:
    limits = FasterSettings(max_key_size=4)
    client, connection = FasterClient(), Connection(_registry(limits))
    client.subscribe_kv(b"k" * 5)
    client.subscribe_kv(b"k" * 5, prefix=True)
    client.subscribe_kv(b"k" * 4)
    replies = _talk(client, connection)
    assert [(r.type, r.status, r.sid, r.key) for r in replies] == [
        (8, StatusCode.ERROR, 0, None),
        (9, StatusCode.ERROR, 0, b""),
        (8, StatusCode.PENDING, 1, None),
    ]
    channel = Connection(_registry(limits))
    requests = [
        build_request(MessageType.SUBSCRIBE, key=b"k" * 5),
        build_request(MessageType.PSUBSCRIBE, key=b"k" * 5),
        build_request(MessageType.PUBLISH, key=b"k" * 5, value=b"v"),
        build_request(MessageType.SUBSCRIBE, key=b"k" * 4),
    ]
    channel.receive_data(build_binary_batch(0, len(requests), b"".join(requests)))
    # a channel ERROR carries the sid 0 (FASTER.client throws on it; FASTER has no limit here)
    assert channel.data_to_send() == build_binary_batch(
        0, 4, bytes.fromhex("0a04 00000000  0c04 00000000  0b04  0a03 01000000")
    )


def test_a_long_reply_is_cut_into_batches_at_the_reply_limit() -> None:
    limits = FasterSettings(max_reply_batch=1000)
    client = FasterClient()
    client.upsert(b"k", b"x" * 300)
    for _ in range(10):
        client.read(b"k")
    connection = Connection(_registry(limits))
    connection.receive_data(client.flush())
    out = connection.data_to_send()
    replies = client.receive(out)
    assert len(replies) == 11 and all(r.output == b"x" * 300 for r in replies[1:])
    # 2 + 306 bytes per read: 3 fit under 1000 with the upsert's 2, then 3 per batch
    assert [r.seq_no for r in replies] == [0] * 4 + [1] * 3 + [2] * 3 + [3]


def test_ws_reply_batches_hold_at_most_255_messages() -> None:
    request = _ws(*[_ws_req(MessageType.DELETE, key=b"k")] * 256)
    replies, _ = _run([request])
    first = build_ws_batch(255, b"\x03\x01" * 255)
    assert replies == first + build_ws_batch(1, b"\x03\x01")
    provider = _registry().provider(FASTER_WS)
    assert isinstance(provider, FasterProvider)
    assert provider.websocket_messages(FASTER_WS, replies) == [
        first,
        build_ws_batch(1, b"\x03\x01"),
    ]
    assert provider.websocket_messages(FASTER, replies) == [replies]


# -- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "messages", "count"),
    [
        ("count over the messages", build_request(MessageType.DELETE, key=b"k"), 2),
        ("truncated span", build_request(MessageType.DELETE, key=b"k")[:-1], 1),
        ("negative span length", b"\x03" + bytes(8) + struct.pack("<i", -5), 1),
        ("a PendingResult request", b"\x0d" + bytes(8) + bytes(8), 1),
        ("an unknown message type", b"\x0e" + bytes(8) + bytes(8), 1),
    ],
)
def test_malformed_batches_close_without_a_reply(name: str, messages: bytes, count: int) -> None:
    good = build_binary_batch(0, 1, build_request(MessageType.DELETE, key=b"a"))
    replies, connection = _run([good + build_binary_batch(0, count, messages)])
    assert replies == bytes.fromhex("f6ffffff 00000000 00010000 0301"), name
    assert connection.state is ConnectionState.CLOSED
    assert connection.close_reason is CloseReason.PROTOCOL_ERROR


# -- subscriptions ---------------------------------------------------------------------------


def test_subscribe_kv_and_psubscribe_kv_notify_other_connections() -> None:
    registry = _registry()
    subscriber, sub_conn = FasterClient(), Connection(registry)
    subscriber.subscribe_kv(b"user:1")
    subscriber.subscribe_kv(b"user:", prefix=True)
    acks = _talk(subscriber, sub_conn)
    assert [(r.type, r.status, r.sid) for r in acks] == [(8, 3, 1), (9, 3, 2)]
    writer, writer_conn = FasterClient(), Connection(registry)
    writer.upsert(b"user:1", b"ada")
    writer.rmw(b"user:2", b"bob")
    writer.delete(b"user:1")
    writer.upsert(b"other", b"x")
    assert len(_talk(writer, writer_conn)) == 4
    notes = subscriber.receive(sub_conn.data_to_send())
    # each write notifies with the key's value when delivered (after the writer's batch)
    assert [(r.type, r.status, r.sid, r.key, r.output) for r in notes] == [
        (8, 1, 1, None, None),
        (9, 1, 2, b"user:1", None),
        (9, 0, 2, b"user:2", b"bob"),
        (8, 1, 1, None, None),
        (9, 1, 2, b"user:1", None),
    ]
    assert {r.seq_no for r in notes} == {0}
    sub_conn.close(CloseReason.PEER_CLOSED)
    writer.upsert(b"user:1", b"again")
    _talk(writer, writer_conn)
    provider = registry.provider(FASTER)
    assert isinstance(provider, FasterProvider)
    assert not provider.broker._exact and not provider.broker._prefix


def test_ws_subscription_notifies_as_the_javascript_client_reads_it() -> None:
    registry = _registry()
    sub = Connection(registry)
    sub.receive_data(_ws(_ws_req(MessageType.SUBSCRIBE_KV, key=b"k")))
    assert sub.data_to_send() == build_ws_batch(1, bytes.fromhex("0802 01000000"))
    writer = Connection(registry)
    writer.receive_data(
        build_binary_batch(0, 1, build_request(MessageType.UPSERT, key=b"k", value=b"v"))
    )
    writer.data_to_send()
    assert sub.data_to_send() == build_ws_batch(1, bytes.fromhex("0800 01000000 01000000 76"))
    writer.receive_data(build_binary_batch(0, 1, build_request(MessageType.DELETE, key=b"k")))
    writer.data_to_send()
    # NOT_FOUND with an empty value: the JavaScript client reads one after either status
    assert sub.data_to_send() == build_ws_batch(1, bytes.fromhex("0801 01000000 00000000"))


def _shared_registry() -> Registry:
    registry = Registry()
    for register in (faster.register, memcache.register, resp.register, kvbin.register):
        register(registry)
    return registry


def _resp(connection: Connection, *args: bytes) -> bytes:
    connection.receive_data(
        b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)
    )
    return connection.data_to_send()


def test_writes_through_resp_and_memcached_notify_faster_subscribers() -> None:
    registry = _shared_registry()
    subscriber, sub_conn = FasterClient(), Connection(registry)
    subscriber.subscribe_kv(b"user:1")
    subscriber.subscribe_kv(b"user:", prefix=True)
    assert [(r.status, r.sid) for r in _talk(subscriber, sub_conn)] == [(3, 1), (3, 2)]
    redis, mc = Connection(registry), Connection(registry)
    assert _resp(redis, b"SET", b"user:1", b"ada") == b"+OK\r\n"
    notes = subscriber.receive(sub_conn.data_to_send())
    assert [(r.type, r.status, r.sid, r.key, r.output) for r in notes] == [
        (8, 0, 1, None, b"ada"),
        (9, 0, 2, b"user:1", b"ada"),
    ]
    mc.receive_data(b"set user:1 0 0 5\r\nbyron\r\n")
    assert mc.data_to_send() == b"STORED\r\n"
    mc.receive_data(b"append user:2 0 0 1\r\nx\r\n")  # missing: NOT_STORED, no write
    assert mc.data_to_send() == b"NOT_STORED\r\n"
    assert _resp(redis, b"APPEND", b"user:1", b"!") == b":6\r\n"
    assert _resp(redis, b"EXPIRE", b"user:1", b"100") == b":1\r\n"  # the value is unchanged
    assert _resp(redis, b"DEL", b"user:1") == b":1\r\n"
    store = shared_store(registry)  # a list, as a container command writes one: absent to FASTER
    store.write_container(b"user:3", deque).append(b"a")
    store.container_written(b"user:3", b"rpush")
    reader, reader_conn = FasterClient(), Connection(registry)
    reader.read(b"user:3")
    reader.rmw(b"user:3", b"xy")  # absent: RMW creates it, as an Upsert would
    assert [r.status for r in _talk(reader, reader_conn)] == [1, 0x11]
    notes = subscriber.receive(sub_conn.data_to_send())
    assert [(r.type, r.status, r.sid, r.key, r.output) for r in notes] == [
        (8, 0, 1, None, b"byron"),
        (9, 0, 2, b"user:1", b"byron"),
        (8, 0, 1, None, b"byron!"),
        (9, 0, 2, b"user:1", b"byron!"),
        (8, 1, 1, None, None),
        (9, 1, 2, b"user:1", None),
        (9, 1, 2, b"user:3", None),
        (9, 0, 2, b"user:3", b"xy"),
    ]
    assert {r.seq_no for r in notes} == {0}


def test_an_expired_key_notifies_not_found() -> None:
    now = [1_000_000]
    registry = Registry()
    share_store(registry, Store(lambda: now[0]))
    for register in (faster.register, resp.register):
        register(registry)
    subscriber, sub_conn = FasterClient(), Connection(registry)
    subscriber.subscribe_kv(b"session")
    _talk(subscriber, sub_conn)
    redis = Connection(registry)
    assert _resp(redis, b"SET", b"session", b"token", b"PX", b"500") == b"+OK\r\n"
    assert [r.output for r in subscriber.receive(sub_conn.data_to_send())] == [b"token"]
    now[0] += 1000
    assert _resp(redis, b"GET", b"session") == b"$-1\r\n"
    notes = subscriber.receive(sub_conn.data_to_send())
    assert [(r.type, r.status, r.sid, r.output) for r in notes] == [(8, 1, 1, None)]


def test_a_faster_delete_notifies_even_when_the_key_was_missing() -> None:
    registry = _shared_registry()
    subscriber, sub_conn = FasterClient(), Connection(registry)
    subscriber.subscribe_kv(b"k")
    _talk(subscriber, sub_conn)
    writer, writer_conn = FasterClient(), Connection(registry)
    writer.delete(b"k")
    assert [r.status for r in _talk(writer, writer_conn)] == [1]  # NOT_FOUND
    notes = subscriber.receive(sub_conn.data_to_send())
    assert [(r.type, r.status, r.sid) for r in notes] == [(8, 1, 1)]
    redis = Connection(registry)
    assert _resp(redis, b"DEL", b"k") == b":0\r\n"  # Redis's DEL of nothing is no write
    assert sub_conn.data_to_send() == b""


def test_the_store_is_observed_only_while_a_subscription_exists() -> None:
    registry = _shared_registry()
    store = shared_store(registry)
    before = len(store._observers)
    subscriber, sub_conn = FasterClient(), Connection(registry)
    subscriber.subscribe_kv(b"a")
    subscriber.subscribe_kv(b"b", prefix=True)
    _talk(subscriber, sub_conn)
    assert len(store._observers) == before + 1
    sub_conn.close(CloseReason.PEER_CLOSED)
    assert len(store._observers) == before
    redis = Connection(registry)
    assert _resp(redis, b"SET", b"a", b"1") == b"+OK\r\n"


_SUB_KEYS = [b"a", b"ab", b"b"]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.tuples(st.just("sub"), st.sampled_from(_SUB_KEYS), st.booleans()),
            st.tuples(st.just("set"), st.sampled_from(_SUB_KEYS), st.binary(max_size=3)),
            st.tuples(st.just("del"), st.sampled_from(_SUB_KEYS), st.just(False)),
        ),
        max_size=25,
    )
)
def test_notifications_of_resp_writes_match_a_model(ops: list[tuple[str, bytes, Any]]) -> None:
    """Each RESP write notifies every matching subscription: exact ones, then prefixes."""
    registry = _shared_registry()
    subscriber, sub_conn = FasterClient(), Connection(registry)
    redis = Connection(registry)
    values: dict[bytes, bytes] = {}
    exact: dict[bytes, list[int]] = {}
    prefixes: dict[bytes, list[int]] = {}  # in the order each prefix was first subscribed
    sids = 0
    expected: list[tuple[int, int, int | None, bytes | None, bytes | None]] = []
    got: list[tuple[int, int, int | None, bytes | None, bytes | None]] = []
    for op, key, arg in ops:
        if op == "sub":
            sids += 1
            (exact if not arg else prefixes).setdefault(key, []).append(sids)
            subscriber.subscribe_kv(key, prefix=arg)
            expected.append((9 if arg else 8, 3, sids, None, None))
            got.extend(
                (r.type, r.status, r.sid, r.key, r.output) for r in _talk(subscriber, sub_conn)
            )
            continue
        if op == "set":
            assert _resp(redis, b"SET", key, arg) == b"+OK\r\n"
            values[key] = arg
        else:
            assert _resp(redis, b"DEL", key) == b":%d\r\n" % (key in values)
            if values.pop(key, None) is None:
                continue  # a DEL of nothing is no write
        value = values.get(key)
        status = 1 if value is None else 0
        expected.extend((8, status, sid, None, value) for sid in exact.get(key, []))
        for prefix, prefix_sids in prefixes.items():
            if key.startswith(prefix):
                expected.extend((9, status, sid, key, value) for sid in prefix_sids)
        notes = subscriber.receive(sub_conn.data_to_send())
        got.extend((r.type, r.status, r.sid, r.key, r.output) for r in notes)
    assert got == expected


def test_publish_reaches_channel_subscribers_and_not_the_store() -> None:
    registry = _shared_registry()
    subscriber, sub_conn = FasterClient(), Connection(registry)
    subscriber.subscribe(b"news")
    subscriber.subscribe(b"ne", prefix=True)
    subscriber.subscribe_kv(b"news")
    acks = _talk(subscriber, sub_conn)
    # the channel broker counts its ids apart from the store's (two brokers in FASTER)
    assert [(r.type, r.status, r.sid) for r in acks] == [(10, 3, 1), (12, 3, 2), (8, 3, 1)]
    publisher, pub_conn = FasterClient(), Connection(registry)
    publisher.publish(b"news", b"hello")
    publisher.publish(b"sports", b"goal")
    publisher.read(b"news")
    replies = _talk(publisher, pub_conn)
    assert [(r.type, r.status) for r in replies] == [(11, 0), (11, 0), (0, 1)]
    notes = subscriber.receive(sub_conn.data_to_send())
    assert [(r.type, r.status, r.sid, r.key, r.output) for r in notes] == [
        (10, 0, 1, None, b"hello"),
        (12, 0, 2, b"news", b"hello"),
    ]
    assert shared_store(registry).get(b"news") is None


def test_publish_and_subscribe_over_websocket() -> None:
    registry = _registry()
    sub = Connection(registry)
    sub.receive_data(_ws(_ws_req(MessageType.SUBSCRIBE, key=b"ch")))
    # pending as the JavaScript client's Status table has it (2), then the sid
    assert sub.data_to_send() == build_ws_batch(1, bytes.fromhex("0a02 01000000"))
    pub = Connection(registry)
    pub.receive_data(_ws(_ws_req(MessageType.PUBLISH, key=b"ch", value=b"hi")))
    assert pub.data_to_send() == build_ws_batch(1, bytes.fromhex("0b00"))
    assert sub.data_to_send() == build_ws_batch(1, bytes.fromhex("0a00 01000000 02000000 6869"))


# -- the shared store, auth -----------------------------------------------------------------


def test_a_key_upserted_through_faster_is_read_through_resp_and_memcached() -> None:
    registry = Registry()
    for register in (faster.register, memcache.register, resp.register):
        register(registry)
    client, connection = FasterClient(), Connection(registry)
    client.upsert(b"shared", b"from faster")
    _talk(client, connection)
    redis = Connection(registry)
    redis.receive_data(b"*2\r\n$3\r\nGET\r\n$6\r\nshared\r\n")
    assert redis.data_to_send() == b"$11\r\nfrom faster\r\n"
    mc = Connection(registry)
    mc.receive_data(b"get shared\r\n")
    assert mc.data_to_send() == b"VALUE shared 0 11\r\nfrom faster\r\nEND\r\n"
    redis.receive_data(b"*3\r\n$3\r\nSET\r\n$6\r\nshared\r\n$4\r\nback\r\n")
    redis.data_to_send()
    client.read(b"shared")
    assert _talk(client, connection)[0].output == b"back"
    assert isinstance(shared_store(registry), Store)


def test_faster_is_refused_on_a_password_listener() -> None:
    registry = _registry()
    provider = registry.provider(FASTER)
    assert not isinstance(provider, Authenticating)
    assert not registry.authenticates(FASTER) and not registry.authenticates(FASTER_WS)
    settings_ = ConnectionSettings(auth=AuthSettings(b"s3cret"))
    connection = Connection(registry, settings_)
    connection.receive_data(_binary_stream([[("upsert", b"k", b"v")]]))
    assert connection.data_to_send() == b""
    assert connection.state is ConnectionState.CLOSED
    assert shared_store(registry).get(b"k") is None


# -- the fuzz kit ----------------------------------------------------------------------------


def _grow_binary(size: int) -> bytes:
    value = b"v" * max(0, min(size, DEFAULT_SETTINGS.max_value_size) - 40)
    return build_binary_batch(0, 1, build_request(MessageType.UPSERT, key=b"k", value=value))


def _grow_ws(size: int) -> bytes:
    value = b"v" * max(0, min(size, DEFAULT_SETTINGS.max_value_size) - 40)
    return _ws(_ws_req(MessageType.UPSERT, key=b"k", value=value))


@pytest.mark.parametrize(
    ("name", "grow", "spec"), [("faster", _grow_binary, SPEC), ("faster-ws", _grow_ws, WS_SPEC)]
)
def test_the_fuzz_kit_passes_on_both_variants(name: str, grow: Any, spec: Path) -> None:
    corpus = load_corpus(spec / "corpus")
    assert corpus
    target = FuzzTarget.from_plugin(faster.register, name, corpus=corpus, grow=grow)
    report = check_wire_format(target, max_examples=120, seed=3)
    assert report.examples == 120
    assert report.distinct_outcomes > 1
