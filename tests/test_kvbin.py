"""kvbin through the sans-I/O Connection: vectors, cuts, limits."""

from __future__ import annotations

import json
import struct
import tracemalloc
from collections.abc import Iterable
from pathlib import Path

import pytest
from _drive import cut as _cut
from _drive import replay
from hypothesis import given, settings
from hypothesis import strategies as st
from wireproto.providers.kvbin import (
    HEADER_SIZE,
    KVBIN,
    MAGIC,
    REPLY,
    REQUEST,
    KvbinProvider,
    Opcode,
    Status,
    build_reply,
    build_request,
    register,
)

from wireproto import CloseReason, Connection, Limits, Registry
from wireproto._connection import ConnectionState

SPEC = Path(__file__).resolve().parent.parent / "specs" / "kvbin"
VECTORS = json.loads((SPEC / "vectors.json").read_text())["vectors"]


def _registry(provider: KvbinProvider | None = None) -> Registry:
    registry = Registry()
    if provider is None:
        register(registry)
    else:
        registry.register(KVBIN, provider)
    return registry


def _run(
    chunks: Iterable[bytes], provider: KvbinProvider | None = None
) -> tuple[bytes, Connection]:
    connection = Connection(_registry(provider))
    return replay(connection, chunks), connection


@pytest.mark.parametrize("vector", VECTORS, ids=[vector["name"] for vector in VECTORS])
@pytest.mark.parametrize("cutting", ["whole", "bytewise"])
def test_vectors(vector: dict[str, object], cutting: str) -> None:
    request = bytes.fromhex(str(vector["request"]))
    expected = bytes.fromhex(str(vector["reply"]))
    chunks = [request] if cutting == "whole" else [request[i : i + 1] for i in range(len(request))]
    replies, connection = _run(chunks)
    if vector.get("reply_is_prefix"):
        assert replies.startswith(expected)
        assert len(replies) > len(expected)  # the error text follows
    else:
        assert replies == expected
    assert (connection.state is ConnectionState.CLOSED) is vector["closes"]
    if vector["closes"]:
        assert connection.close_reason is CloseReason.PROTOCOL_ERROR


def test_corpus_streams_parse_without_closing() -> None:
    corpus = sorted(SPEC.joinpath("corpus").glob("*.bin"))
    assert corpus
    for path in corpus:
        replies, connection = _run([path.read_bytes()])
        assert connection.state is ConnectionState.ACTIVE, path.name
        assert replies.startswith(MAGIC), path.name


_keys = st.binary(min_size=0, max_size=8)
_requests = st.lists(
    st.one_of(
        st.tuples(st.just(Opcode.SET), _keys, st.binary(max_size=40)),
        st.tuples(st.sampled_from([Opcode.GET, Opcode.DELETE]), _keys, st.just(b"")),
        st.tuples(st.just(Opcode.ECHO), st.just(b""), st.binary(max_size=40)),
        st.tuples(st.just(Opcode.NOOP), st.just(b""), st.just(b"")),
    ),
    min_size=1,
    max_size=20,
)


def _model_replies(requests: list[tuple[Opcode, bytes, bytes]]) -> bytes:
    store: dict[bytes, bytes] = {}
    out = bytearray()
    for request_id, (opcode, key, value) in enumerate(requests):
        if opcode is Opcode.SET:
            store[key] = value
            out += build_reply(Status.OK, request_id)
        elif opcode is Opcode.GET:
            found = store.get(key)
            status = Status.NOT_FOUND if found is None else Status.OK
            out += build_reply(status, request_id, found or b"")
        elif opcode is Opcode.DELETE:
            status = Status.OK if store.pop(key, None) is not None else Status.NOT_FOUND
            out += build_reply(status, request_id)
        elif opcode is Opcode.ECHO:
            out += build_reply(Status.OK, request_id, value)
        else:
            out += build_reply(Status.OK, request_id)
    return bytes(out)


@settings(max_examples=150)
@given(requests=_requests, cuts=st.lists(st.integers(min_value=0), max_size=30))
def test_replies_match_a_model_however_the_stream_is_cut(
    requests: list[tuple[Opcode, bytes, bytes]], cuts: list[int]
) -> None:
    stream = b"".join(
        build_request(opcode, key, value, request_id)
        for request_id, (opcode, key, value) in enumerate(requests)
    )
    expected = _model_replies(requests)
    whole, _ = _run([stream])
    bytewise, _ = _run(stream[i : i + 1] for i in range(len(stream)))
    cut, connection = _run(_cut(stream, cuts))
    assert whole == bytewise == cut == expected
    assert connection.state is ConnectionState.ACTIVE


def _set_with_body_size(body_size: int) -> bytes:
    key = b"k"
    value = b"v" * (body_size - 2 - len(key))
    return build_request(Opcode.SET, key, value, request_id=1)


def test_frame_of_exactly_the_limit_is_served() -> None:
    limit = 4096
    provider = KvbinProvider(Limits(max_message_size=limit))
    request = _set_with_body_size(limit - HEADER_SIZE)
    assert len(request) == limit
    replies, connection = _run([request], provider)
    assert replies == build_reply(Status.OK, 1)
    assert provider.store.get(b"k") == request[HEADER_SIZE + 3 :]
    assert connection.state is ConnectionState.ACTIVE


def test_frame_one_over_the_limit_is_refused_at_the_header() -> None:
    limit = 4096
    provider = KvbinProvider(Limits(max_message_size=limit))
    request = _set_with_body_size(limit - HEADER_SIZE + 1)
    replies, connection = _run([request[:HEADER_SIZE]], provider)
    assert replies.startswith(MAGIC + bytes([Status.PROTOCOL_ERROR]) + bytes(4))
    assert connection.state is ConnectionState.CLOSED
    assert len(provider.store) == 0


def test_huge_declared_length_allocates_nothing() -> None:
    header = MAGIC + struct.pack(">BII", Opcode.SET, 1, 0xFFFFFFFF)
    replies, connection = _run([header])
    assert connection.close_reason is CloseReason.PROTOCOL_ERROR
    assert connection.buffer.capacity <= connection.settings.initial_buffer_size
    assert replies.startswith(MAGIC + bytes([Status.PROTOCOL_ERROR]))


def test_key_at_and_over_250_bytes() -> None:
    ok = build_request(Opcode.SET, b"k" * 250, b"v", request_id=1)
    too_long = build_request(Opcode.SET, b"k" * 251, b"v", request_id=2)
    replies, connection = _run([ok + too_long])
    assert replies == build_reply(Status.OK, 1) + build_reply(
        Status.BAD_REQUEST, 2, b"key too long"
    )
    assert connection.state is ConnectionState.ACTIVE


def test_store_is_shared_between_connections() -> None:
    provider = KvbinProvider()
    registry = _registry(provider)
    first, second = Connection(registry), Connection(registry)
    first.receive_data(build_request(Opcode.SET, b"shared", b"yes", 1))
    assert first.data_to_send() == build_reply(Status.OK, 1)
    second.receive_data(build_request(Opcode.GET, b"shared", request_id=2))
    assert second.data_to_send() == build_reply(Status.OK, 2, b"yes")


def test_a_large_value_is_stored_as_bytes_of_its_own_and_sent_back_whole() -> None:
    provider = KvbinProvider()
    value = bytes(range(256)) * 1024  # 256 KiB: over the zero-copy threshold
    stream = build_request(Opcode.SET, b"big", value, request_id=1) + build_request(
        Opcode.GET, b"big", request_id=2
    )
    replies, connection = _run(
        [stream[i : i + 65536] for i in range(0, len(stream), 65536)], provider
    )
    assert replies == build_reply(Status.OK, 1) + build_reply(Status.OK, 2, value)
    stored = provider.store.stored(b"big")
    assert stored is not None
    # The frame's view copied once into the bytes the store keeps: no frame kept alive.
    assert type(stored[0]) is bytes and stored[0] == value
    assert provider.store.stored_keys() == [b"big"]
    assert connection.state is not ConnectionState.CLOSED


def test_a_large_set_keeps_one_copy_of_the_value() -> None:
    provider = KvbinProvider()
    value = bytes(range(256)) * 4096  # 1 MiB - the header room: the largest value
    value = value[: (1 << 20) - 2 - 3]
    request = build_request(Opcode.SET, b"big", value, request_id=1)
    connection = Connection(_registry(provider))
    tracemalloc.start()
    try:
        replay(connection, [request[i : i + 65536] for i in range(0, len(request), 65536)])
        kept, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert provider.store.get(b"big") == value
    # The stored bytes, and not also the frame they were cut from (nor a copy per layer).
    assert len(value) <= kept < 1.5 * len(value)


def test_requests_and_replies_are_declared_once() -> None:
    request = build_request(Opcode.SET, b"k", b"v", request_id=9)
    parsed = REQUEST.parse(request)
    assert (parsed.opcode, parsed.request_id, parsed.body.key, parsed.body.value) == (
        Opcode.SET,
        9,
        b"k",
        b"v",
    )
    assert REQUEST.build(parsed) == request
    reply = build_reply(Status.NOT_FOUND, 9, b"x")
    assert REPLY.parse(reply).status == Status.NOT_FOUND
    assert reply[:HEADER_SIZE] == MAGIC + struct.pack(">BII", Status.NOT_FOUND, 9, 1)
