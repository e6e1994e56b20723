"""memcached's binary protocol through the sans-I/O Connection: vectors, cuts, limits, construct.

The replay of the same vectors against a real memcached and memcapable are in
``e2e/test_memcache_e2e.py``.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import construct
import pytest
from _drive import bytewise, cut, module_setting, replay
from hypothesis import example, given, settings
from hypothesis import strategies as st
from wireproto.providers import resp
from wireproto.providers.memcache import (
    MemcacheProvider,
    MemcacheSettings,
    item_total_size,
    register,
)
from wireproto.providers.memcache import binary as binary_module
from wireproto.providers.memcache.binary_messages import (
    DELTA_EXTRAS,
    GET_REQUEST_LAYOUT,
    HEAD_LAYOUT,
    REQUEST,
    REQUEST_HEADER,
    RESPONSE_HEADER,
    SET_REQUEST_LAYOUT,
    STATUS_RESPONSE,
    STORE_EXTRAS,
    VALUE_HEAD_LAYOUT,
    VALUE_RESPONSE,
    Opcode,
    Status,
    build_request,
    response_prefix,
    struct_layout,
)
from wireproto.providers.resp.commands.acl import catalog

from wireproto import AuthSettings, _build
from wireproto._connection import CloseReason, Connection, ConnectionSettings, ConnectionState
from wireproto._errors import ProtocolError
from wireproto._registry import Registry
from wireproto._users import UserDirectory

SPEC = Path(__file__).resolve().parent.parent / "specs" / "memcache-binary"
SPEC_DATA = json.loads((SPEC / "vectors.json").read_text())
VECTORS = SPEC_DATA["vectors"]
OPCODES: dict[str, int] = SPEC_DATA["opcodes"]
HEADER = struct.Struct(">BBHBBHIIQ")


def opcode_of(op: object) -> int:
    return op if isinstance(op, int) else OPCODES[str(op)]


def text(field: dict[str, Any], name: str) -> bytes:
    """A key or value of a vector packet: Latin-1 text, or ``[text, count]`` repeated."""
    if name + "_repeat" in field:
        chunk, count = field[name + "_repeat"]
        return str(chunk).encode("latin-1") * int(count)
    return str(field.get(name, "")).encode("latin-1")


def vector_request(packets: list[dict[str, Any]]) -> bytes:
    """The bytes of a vector's requests, packed here with struct (not with the provider)."""
    data = bytearray()
    for packet in packets:
        if "raw" in packet:
            data += bytes.fromhex(packet["raw"])
            continue
        key, value = text(packet, "key"), text(packet, "value")
        extras = bytes.fromhex(packet.get("extras", ""))
        body = len(extras) + len(key) + len(value)
        opcode = opcode_of(packet["op"])
        opaque, cas = packet.get("opaque", 0), packet.get("cas", 0)
        data += HEADER.pack(0x80, opcode, len(key), len(extras), 0, 0, body, opaque, cas)
        data += extras + key + value
    return bytes(data)


def split_packets(data: bytes) -> list[dict[str, Any]]:
    """Response packets as dicts; trailing bytes that are not a whole packet fail the test."""
    packets = []
    while data:
        assert len(data) >= 24, data
        magic, opcode, keylen, extlen, datatype, status, bodylen, opaque, cas = HEADER.unpack_from(
            data
        )
        assert (magic, datatype) == (0x81, 0)
        body = data[24 : 24 + bodylen]
        assert len(body) == bodylen
        packets.append(
            {
                "op": opcode,
                "status": status,
                "opaque": opaque,
                "cas": cas,
                "extras": body[:extlen],
                "key": body[extlen : extlen + keylen],
                "value": body[extlen + keylen :],
            }
        )
        data = data[24 + bodylen :]
    return packets


def check_replies(replies: bytes, expected: list[dict[str, Any]]) -> None:
    packets = split_packets(replies)
    assert len(packets) == len(expected), packets
    for got, want in zip(packets, expected, strict=True):
        assert got["op"] == opcode_of(want["op"]), got
        assert got["status"] == want["status"], got
        assert got["opaque"] == want.get("opaque", 0), got
        assert got["extras"] == bytes.fromhex(want.get("extras", "")), got
        assert got["key"] == text(want, "key"), got
        if want.get("value") == "<version>":
            assert got["value"] and b" " not in got["value"], got
        else:
            assert got["value"] == text(want, "value"), got
        if want.get("cas") == "nonzero":
            assert got["cas"] != 0, got
        else:
            assert got["cas"] == want.get("cas", 0), got


def make_registry(provider: MemcacheProvider | None = None) -> Registry:
    registry = Registry()
    register(registry, provider)
    return registry


def run(
    chunks: Iterable[bytes],
    registry: Registry | None = None,
    connection_settings: ConnectionSettings | None = None,
) -> tuple[bytes, Connection]:
    connection = Connection(registry or make_registry(), connection_settings)
    return replay(connection, chunks, until_closed=True), connection


# -- vectors ----------------------------------------------------------------------------


@pytest.mark.parametrize("vector", VECTORS, ids=[vector["name"] for vector in VECTORS])
@pytest.mark.parametrize("cutting", ["whole", "pieces"])
def test_vectors(vector: dict[str, Any], cutting: str) -> None:
    request = vector_request(vector["request"])
    if cutting == "whole":
        chunks = [request]
    elif len(request) < 4096:
        chunks = bytewise(request)
    else:
        chunks = cut(request, range(0, len(request), 1000))
    replies, connection = run(chunks)
    check_replies(replies, vector["reply"])
    assert (connection.state is ConnectionState.CLOSED) is vector["closes"]


def test_vectors_that_differ_from_memcached_say_why() -> None:
    differing = [vector for vector in VECTORS if not vector["memcached"]]
    assert differing
    assert all(vector.get("why") for vector in differing)


def test_the_vector_opcodes_are_the_provider_s() -> None:
    assert {op.name: int(op) for op in Opcode} == OPCODES


def test_corpus_streams_are_answered_without_closing() -> None:
    corpus = sorted(SPEC.joinpath("corpus").glob("*.bin"))
    assert corpus
    for path in corpus:
        data = path.read_bytes()
        replies, connection = run([data])
        assert connection.state is ConnectionState.ACTIVE, path.name
        assert split_packets(replies), path.name
        assert run(bytewise(data))[0] == replies, path.name


# -- the construct declarations -----------------------------------------------------------


@settings(max_examples=150)
@given(st.binary(min_size=24, max_size=24))
def test_the_struct_layout_decodes_as_the_construct_declaration(header: bytes) -> None:
    fields = struct_layout(REQUEST_HEADER).unpack(header)
    names = [str(sub.name) for sub in REQUEST_HEADER.subcons]
    if header[0] != 0x80:
        with pytest.raises(construct.ConstError):
            REQUEST_HEADER.parse(header)
        return
    parsed = REQUEST_HEADER.parse(header)
    assert [parsed[name] for name in names] == list(fields)
    response = bytes([0x81]) + header[1:5] + b"\x00" + header[6:]  # datatype: raw bytes only
    assert list(struct_layout(RESPONSE_HEADER).unpack(response)) == [
        RESPONSE_HEADER.parse(response)[str(sub.name)] for sub in RESPONSE_HEADER.subcons
    ]


def test_build_request_parses_with_the_request_declaration() -> None:
    extras = STORE_EXTRAS.build({"flags": 7, "expiration": 60})
    message = REQUEST.parse(build_request(Opcode.SET, b"key", b"value", extras, opaque=9, cas=3))
    assert (message.opcode, message.opaque, message.cas) == (1, 9, 3)
    assert (message.key, message.value) == (b"key", b"value")
    assert STORE_EXTRAS.parse(message.extras) == {"flags": 7, "expiration": 60}
    assert DELTA_EXTRAS.sizeof() == 20


def test_struct_layout_refuses_what_it_cannot_decode() -> None:
    with pytest.raises(ValueError, match="fixed-size integer"):
        struct_layout(construct.Struct("name" / construct.CString("ascii")))
    with pytest.raises(TypeError):
        struct_layout(construct.Int32ub)


# -- cutting the stream anywhere ----------------------------------------------------------

KEYS = st.sampled_from([b"a", b"b", b"key:1", b"k" * 250])


@st.composite
def requests(draw: st.DrawFn) -> bytes:
    key = draw(KEYS)
    value = draw(st.binary(max_size=40) | st.sampled_from([b"7", b"18446744073709551615"]))
    store = STORE_EXTRAS.build({"flags": draw(st.integers(0, 2**32 - 1)), "expiration": 0})
    delta = DELTA_EXTRAS.build(
        {
            "delta": draw(st.integers(0, 2**64 - 1)),
            "initial": draw(st.integers(0, 2**64 - 1)),
            "expiration": draw(st.sampled_from([0, 0xFFFFFFFF])),
        }
    )
    opaque = draw(st.integers(0, 2**32 - 1))
    cas = draw(st.sampled_from([0, 0, 1, 2, 3]))
    choices = [
        build_request(
            draw(st.sampled_from([1, 2, 3, 17, 18, 19])), key, value, store, opaque=opaque, cas=cas
        ),
        build_request(draw(st.sampled_from([0, 9, 12, 13])), key, opaque=opaque),
        build_request(draw(st.sampled_from([14, 15, 25, 26])), key, value, opaque=opaque, cas=cas),
        build_request(draw(st.sampled_from([4, 20])), key, opaque=opaque, cas=cas),
        build_request(draw(st.sampled_from([5, 6, 21, 22])), key, extras=delta, opaque=opaque),
        build_request(
            draw(st.sampled_from([28, 29, 30, 35, 36])),
            key,
            extras=b"\x00\x00\x00\x00",
            opaque=opaque,
        ),
        build_request(Opcode.NOOP, opaque=opaque),
        build_request(Opcode.VERSION, opaque=opaque),
        build_request(draw(st.sampled_from([8, 24])), opaque=opaque),
        build_request(Opcode.STAT, b"reset", opaque=opaque),
        build_request(0x50, key, value, opaque=opaque),
        # around the 1024-byte item limit the property runs with: E2BIG and skip, or stored
        build_request(Opcode.SET, key, b"v" * draw(st.integers(900, 1100)), store, opaque=opaque),
    ]
    return draw(st.sampled_from(choices))


@settings(max_examples=150, deadline=None)
@given(st.lists(requests(), min_size=1, max_size=25), st.lists(st.integers(0, 10_000), max_size=12))
def test_replies_do_not_depend_on_how_the_stream_is_cut(
    stream: list[bytes], cuts: list[int]
) -> None:
    data = build_request(Opcode.NOOP) + b"".join(stream)
    whole, first = run([data], tiny_registry())
    assert first.state is ConnectionState.ACTIVE
    assert split_packets(whole)
    assert run(bytewise(data), tiny_registry())[0] == whole
    assert run(cut(data, cuts), tiny_registry())[0] == whole
    small = ConnectionSettings(initial_buffer_size=16)
    assert run(cut(data, cuts), tiny_registry(), small)[0] == whole


def tiny_registry() -> Registry:
    return make_registry(MemcacheProvider(settings=MemcacheSettings(item_size_max=1024)))


def general_path_registry() -> Registry:
    """A session whose default user is checked (no channels: every memcached command and
    key is allowed), so that no request takes the session's fast path."""
    provider = MemcacheProvider(settings=MemcacheSettings(item_size_max=1024))
    directory = UserDirectory(AuthSettings())
    directory.set_user(b"default", [b"resetchannels"], catalog(resp.RespProvider().command_list()))
    provider.engine.user_directories[AuthSettings()] = directory
    return make_registry(provider)


@st.composite
def gets_and_sets(draw: st.DrawFn) -> bytes:
    """Mostly the fast path's GET and SET, and now and then one it must leave to the general
    path (a CAS, a key or extras memcached refuses, a body length that disagrees)."""
    odd = draw(st.integers(0, 19)) == 0
    odd_key = draw(st.integers(0, 7)) == 0  # drawn apart: in a request otherwise well formed
    key = draw(st.sampled_from([b"", b"k" * 251, b"k" * 300]) if odd_key else KEYS)
    value = b"v" * 1000 if draw(st.integers(0, 7)) == 0 else draw(st.binary(max_size=40))
    flags = draw(st.sampled_from([0, 1, 256, 2**24 + 5, 2**32 - 1]))
    expiration = draw(st.sampled_from([0, 0, 100, 2**31, 2**32 - 1]))
    store = STORE_EXTRAS.build({"flags": flags, "expiration": expiration})
    opaque = draw(st.integers(0, 2**32 - 1))
    cas = draw(st.sampled_from([1, 2, 2**56, 2**64 - 1])) if draw(st.integers(0, 5)) == 0 else 0
    if draw(st.booleans()):
        extras = draw(st.sampled_from([b"", store + b"x", b"\0" * 4])) if odd else store
        request = build_request(Opcode.SET, key, value, extras, opaque=opaque, cas=cas)
    else:
        extras = draw(st.sampled_from([b"\0" * 4, b""])) if odd else b""
        request = build_request(Opcode.GET, key, b"", extras, opaque=opaque, cas=cas)
    if draw(st.integers(0, 9)) == 0:  # a body length that disagrees with the parts
        # one that differs from the true length in a single byte of the four, now and then
        shift = draw(st.sampled_from([-(2**8), 2**8, 2**16, 2**24]))
        length = draw(st.integers(0, 1100) | st.just(max(0, len(request) - 24 + shift)))
        request = request[:8] + length.to_bytes(4, "big") + request[12:]
    return draw(st.sampled_from([request, request, request, draw(requests())]))


def headers(walk: bool) -> AbstractContextManager[None]:
    """Sessions made meanwhile read the fast path's headers byte by byte, or by ``struct``."""
    return module_setting(binary_module, "WALK_HEADERS", walk)


WALKS = pytest.mark.parametrize("walk", [False, True], ids=["unpack", "walk"])


def _body_length(request: bytes, length: int) -> bytes:
    return request[:8] + length.to_bytes(4, "big") + request[12:]


_LONG_GET = build_request(Opcode.GET, b"k" * 300)
_STORE = STORE_EXTRAS.build({"flags": 0, "expiration": 0})


@WALKS
@settings(max_examples=200, deadline=None)
@given(st.lists(gets_and_sets(), min_size=1, max_size=25), st.lists(st.integers(0, 2000)))
# Headers one byte away from the fast path's (the walk reads them byte by byte).
@example([_body_length(_LONG_GET, 300 % 256)], [])  # keylen 300, bodylen its low byte
@example([build_request(Opcode.SET, b"k" * 300, b"v", _STORE)], [])
@example([_body_length(build_request(Opcode.GET, b"a"), 2**16 + 1)], [])
def test_the_fast_path_answers_as_the_general_path(
    walk: bool, stream: list[bytes], cuts: list[int]
) -> None:
    data = build_request(Opcode.NOOP) + b"".join(stream)
    with headers(walk):
        fast, _ = run(cut(data, cuts), tiny_registry())
    general, _ = run(cut(data, cuts), general_path_registry())
    assert fast == general


def test_the_compiled_build_walks_the_headers() -> None:
    compiled = "wireproto.providers.memcache.binary" in _build.current().compiled
    assert binary_module.WALK_HEADERS is compiled


U32 = st.integers(0, 2**32 - 1)


@given(
    st.integers(0, 255),
    st.integers(0, 2**32 - 1),
    st.integers(0, 2**64 - 1),
    st.integers(0, 2**32 - 1),
    st.binary(max_size=50),
    st.fixed_dictionaries({"flags": U32, "expiration": U32}),
)
def test_the_fast_path_layouts_agree_with_the_declarations(  # noqa: PLR0917 - drawn values
    opcode: int, opaque: int, cas: int, flags: int, value: bytes, store: dict[str, int]
) -> None:
    head = VALUE_HEAD_LAYOUT.pack(
        response_prefix(opcode, 0, extlen=4), 4 + len(value), opaque, cas, flags
    )
    declared = VALUE_RESPONSE.build(
        {
            "opcode": opcode,
            "status": 0,
            "opaque": opaque,
            "cas": cas,
            "extras": {"flags": flags},
            "key": b"",
            "value": value,
        }
    )
    assert head + value == declared
    status = {"opcode": opcode, "status": 0, "opaque": opaque, "cas": cas}
    head = HEAD_LAYOUT.pack(response_prefix(opcode, 0), 0, opaque, cas)
    assert head == STATUS_RESPONSE.build(status)
    key = b"k" * (flags % 300)
    request = build_request(opcode, key, value, b"x" * (flags % 7), opaque=opaque, cas=cas)
    parsed = REQUEST.parse(request)
    fields = (parsed.keylen, parsed.extlen, parsed.bodylen, opaque)
    assert GET_REQUEST_LAYOUT.unpack_from(request) == fields
    stored = build_request(opcode, key, value, STORE_EXTRAS.build(store), opaque=opaque, cas=cas)
    parsed = REQUEST.parse(stored)
    fields = (parsed.keylen, 8, parsed.bodylen, opaque, cas, store["flags"], store["expiration"])
    assert SET_REQUEST_LAYOUT.unpack_from(stored) == fields


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=600), st.lists(st.integers(0, 1000), max_size=8))
def test_garbage_gives_only_protocol_errors(garbage: bytes, cuts: list[int]) -> None:
    data = build_request(Opcode.NOOP) + garbage
    replies, connection = run(cut(data, cuts))
    assert replies.startswith(b"\x81\x0a")
    assert connection.close_reason in (None, CloseReason.PROTOCOL_ERROR, CloseReason.SESSION_CLOSED)
    assert connection.error is None or isinstance(connection.error, ProtocolError)
    assert run([data])[0] == replies


# -- limits -------------------------------------------------------------------------------

SMALL = MemcacheSettings(item_size_max=4096)


@pytest.mark.parametrize("flags", [0, 7])
def test_item_size_at_the_limit_and_one_byte_over(flags: int) -> None:
    limit = SMALL.item_size_max - item_total_size(1, flags, 0)
    extras = STORE_EXTRAS.build({"flags": flags, "expiration": 0})
    data = (
        build_request(Opcode.SET, b"k", b"x" * limit, extras, opaque=1)
        + build_request(Opcode.GET, b"k", opaque=2)
        + build_request(Opcode.SET, b"k", b"y" * (limit + 1), extras, opaque=3)
        + build_request(Opcode.GET, b"k", opaque=4)
    )
    for chunks in ([data], cut(data, range(0, len(data), 700))):
        replies, connection = run(chunks, make_registry(MemcacheProvider(settings=SMALL)))
        assert connection.state is ConnectionState.ACTIVE
        packets = split_packets(replies)
        assert [(p["opaque"], p["status"]) for p in packets] == [
            (1, Status.SUCCESS),
            (2, Status.SUCCESS),
            (3, Status.E2BIG),
            (4, Status.KEY_ENOENT),  # a failed set drops the old value, as memcached does
        ]
        assert packets[1]["value"] == b"x" * limit


def test_a_refused_value_larger_than_the_buffer_is_skipped_as_it_arrives() -> None:
    size = 20 * SMALL.limits.max_message_size
    extras = STORE_EXTRAS.build({"flags": 0, "expiration": 0})
    data = build_request(Opcode.APPEND, b"k", b"z" * size) + build_request(
        Opcode.SET, b"k", b"z" * size, extras
    )
    data += build_request(Opcode.NOOP, opaque=5)
    replies, connection = run(
        cut(data, range(0, len(data), 4096)), make_registry(MemcacheProvider(settings=SMALL))
    )
    assert [(p["op"], p["status"]) for p in split_packets(replies)] == [
        (Opcode.APPEND, Status.E2BIG),
        (Opcode.SET, Status.E2BIG),
        (Opcode.NOOP, Status.SUCCESS),
    ]
    assert connection.buffer.capacity < size


def test_keys_of_250_bytes_work_and_251_close() -> None:
    extras = STORE_EXTRAS.build({"flags": 0, "expiration": 0})
    replies, connection = run(
        [
            build_request(Opcode.SET, b"k" * 250, b"v", extras)
            + build_request(Opcode.GET, b"k" * 250)
        ]
    )
    assert [p["status"] for p in split_packets(replies)] == [0, 0]
    replies, connection = run([build_request(Opcode.GET, b"k" * 251)])
    assert [p["status"] for p in split_packets(replies)] == [Status.EINVAL]
    assert connection.close_reason is CloseReason.PROTOCOL_ERROR


def test_binary_and_text_share_the_store_and_its_cas() -> None:
    registry = make_registry()
    text_connection = Connection(registry)
    text_connection.receive_data(b"set k 3 0 2\r\nhi\r\ngets k\r\n")
    text_replies = text_connection.data_to_send()
    cas = int(text_replies.split(b"\r\n")[1].split()[-1])
    replies, _ = run([build_request(Opcode.GETK, b"k")], registry)
    (packet,) = split_packets(replies)
    assert (packet["extras"], packet["key"], packet["value"], packet["cas"]) == (
        b"\x00\x00\x00\x03",
        b"k",
        b"hi",
        cas,
    )
    stats = Connection(registry)
    stats.receive_data(build_request(Opcode.STAT))
    names = [p["key"] for p in split_packets(stats.data_to_send())]
    assert names[-1] == b""
    assert {b"curr_connections", b"cmd_get", b"get_hits", b"total_items"} <= set(names)
