"""Layers: the contract, a user's layer, PROXY then TLS then RESP, and the cut property.

The PROXY v2 declaration's own properties are here too (round trip, cuts).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from pathlib import Path

import pytest
import wireproto.providers.resp
from _drive import resp_command
from _tls import MemoryTlsClient, client_context, make_tls_files, server_context
from hypothesis import given, settings
from hypothesis import strategies as st

from wireproto import (
    CloseReason,
    Connection,
    ConnectionSettings,
    ProtocolError,
    Registry,
    WireFormat,
    match_prefix,
)
from wireproto._connection import ConnectionState
from wireproto._proxy import (
    PROXY_V2,
    ProxyHeader,
    ProxySettings,
    build_proxy_v1,
    build_proxy_v2,
    parse_proxy_header,
)
from wireproto._stats import StatsCollector
from wireproto._tls import TlsSettings
from wireproto.layers import Admission, BaseLayer, LayerFormat, LayerHost
from wireproto.memory import MemoryBudget
from wireproto.testing import PlainPeer, TlsPeer, check_layer_cuts
from wireproto.testing._layers import run_layer
from wireproto.testing.errors import SameOutcomeError

TIMEOUT = 10.0
PING = resp_command("PING")
PEER = ("127.0.0.1", 40000)
TRUSTED = ProxySettings.from_strings(["127.0.0.0/8"])


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


def resp_registry() -> Registry:
    registry = Registry()
    wireproto.providers.resp.register(registry, wireproto.providers.resp.RespProvider())
    return registry


# -- a user's layer: a 4-byte big-endian length envelope around any format -----------------


class Envelope(BaseLayer):
    """Each frame: a 4-byte big-endian length, then that many bytes of the inner stream."""

    def __init__(self, host: LayerHost) -> None:
        super().__init__(host)
        self.open_inner()

    def try_consume(self, data: memoryview, /) -> int:
        used = 0
        while len(data) - used >= 4:
            size = int.from_bytes(data[used : used + 4], "big")
            if len(data) - used - 4 < size:
                break
            self.feed(data[used + 4 : used + 4 + size])
            used += 4 + size
        self.flush()
        return used

    def encode(self, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + data


ENVELOPE = LayerFormat(WireFormat("envelope", match_prefix(b"\x00")), Envelope)


def envelope(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


def test_a_registered_layer_and_plain_resp_on_one_connection_type() -> None:
    registry = resp_registry()
    registry.register_layer(ENVELOPE)
    stats = StatsCollector()
    wrapped = Connection(registry, extra={"peername": PEER}, stats=stats)
    request = resp_command("SET", "k", "v") + resp_command("GET", "k")
    wrapped.receive_data(envelope(request[:5]) + envelope(request[5:]))
    replies = wrapped.data_to_send()
    assert replies == envelope(b"+OK\r\n$1\r\nv\r\n")  # the replies of one read, one frame
    assert wrapped.wire_format is not None and wrapped.wire_format.name == "envelope"
    assert wrapped.inner is not None and wrapped.inner.wire_format is not None
    assert wrapped.inner.wire_format.name == "resp"
    plain = Connection(registry, extra={"peername": PEER}, stats=stats)
    plain.receive_data(PING)
    assert plain.data_to_send() == b"+PONG\r\n"
    snapshot = stats.snapshot()
    assert snapshot.formats["envelope"].sessions == 1
    assert snapshot.formats["resp"].sessions == 2
    assert snapshot.detections == {"match": 3}
    # The inner session quits: the envelope's connection closes for the inner reason.
    wrapped.receive_data(envelope(resp_command("QUIT")))
    assert wrapped.data_to_send() == envelope(b"+OK\r\n")
    assert wrapped.close_reason is CloseReason.SESSION_CLOSED
    # No format inside the envelope: the inner connection's close closes the outer one.
    broken = Connection(registry, extra={"peername": PEER})
    broken.receive_data(envelope(b"\x07\x07\x07"))
    assert broken.data_to_send() == b""
    assert broken.inner is not None and broken.inner.close_reason is CloseReason.NO_MATCH
    assert broken.close_reason is CloseReason.NO_MATCH


def test_register_layer_refuses_a_name_in_use() -> None:
    registry = resp_registry()
    registry.register_layer(ENVELOPE)
    assert registry.layers == (ENVELOPE,)
    with pytest.raises(ValueError, match="already registered"):
        registry.register_layer(ENVELOPE)
    with pytest.raises(ValueError, match="already registered"):
        registry.register_layer(LayerFormat(WireFormat("resp", match_prefix(b"\x01")), Envelope))
    with pytest.raises(ValueError, match="already registered"):
        registry.register(
            WireFormat("envelope", match_prefix(b"\x02")), wireproto.providers.resp.RespProvider()
        )


def test_a_layer_admitted_only_for_some_peers() -> None:
    def local_only(extra: Mapping[str, object]) -> Admission:
        peer = extra.get("peername")
        return Admission.ALLOWED if peer == PEER else Admission.REFUSED

    registry = resp_registry()
    registry.register_layer(LayerFormat(ENVELOPE.wire_format, Envelope, admit=local_only))
    stats = StatsCollector()
    allowed = Connection(registry, extra={"peername": PEER}, stats=stats)
    allowed.receive_data(envelope(PING))
    assert allowed.data_to_send() == envelope(b"+PONG\r\n")
    refused = Connection(registry, extra={"peername": ("192.0.2.1", 1)}, stats=stats)
    refused.receive_data(envelope(PING))
    assert refused.close_reason is CloseReason.PROTOCOL_ERROR
    assert isinstance(refused.error, ProtocolError)
    assert stats.snapshot().detections == {"match": 2, "envelope-rejected": 1}


def test_layer_deadlines_and_memory_are_the_inner_connections_too() -> None:
    registry = resp_registry()
    registry.register_layer(ENVELOPE)
    now = [100.0]
    settings = ConnectionSettings(detect_timeout=2.0, initial_buffer_size=1024)
    budget = MemoryBudget(1 << 20)
    conn = Connection(
        registry, settings, extra={"peername": PEER}, clock=lambda: now[0], budget=budget
    )
    assert budget.used == 1024
    now[0] = 101.0
    conn.receive_data(envelope(b""))  # the envelope is detected, the inner stream is not yet
    assert budget.used == 2 * 1024  # the inner connection's buffer is charged too
    assert conn.next_deadline() == 103.0  # the inner connection's detection deadline
    now[0] = 103.0 - 1e-3
    conn.check_deadlines()
    assert conn.inner is not None and conn.inner.state is ConnectionState.DETECTING
    now[0] = 103.0
    conn.check_deadlines()
    assert conn.inner.close_reason is CloseReason.DETECT_TIMEOUT
    assert conn.data_to_send() == b""
    assert conn.close_reason is CloseReason.DETECT_TIMEOUT
    assert budget.used == 0


def test_a_required_layer_refuses_plain_streams_and_keeps_the_fallback_inside() -> None:
    def required(_extra: Mapping[str, object]) -> Admission:
        return Admission.REQUIRED

    registry = resp_registry()
    registry.register_layer(LayerFormat(ENVELOPE.wire_format, Envelope, admit=required))
    stats = StatsCollector()
    plain = Connection(registry, extra={"peername": PEER}, stats=stats)
    plain.receive_data(PING)
    assert plain.close_reason is CloseReason.NO_MATCH
    wrapped = Connection(registry, extra={"peername": PEER}, stats=stats)
    wrapped.receive_data(envelope(PING))
    assert wrapped.data_to_send() == envelope(b"+PONG\r\n")
    assert stats.snapshot().detections == {"no-match": 1, "match": 2}


@pytest.mark.parametrize("late", [False, True], ids=["max", "max+1"])
def test_proxy_header_timeout_at_max_and_max_plus_one(late: bool) -> None:
    now = [50.0]
    proxy = ProxySettings.from_strings(["127.0.0.0/8"])
    assert proxy.header_timeout == 5.0
    settings = ConnectionSettings(layers=(proxy,), detect_timeout=None)
    conn = Connection(resp_registry(), settings, extra={"peername": PEER}, clock=lambda: now[0])
    header = build_proxy_v2(("203.0.113.7", 1), ("192.0.2.1", 2))
    conn.receive_data(header[:14])  # the signature: the layer runs, the header is not whole
    assert conn.next_deadline() == 55.0
    now[0] = 55.0 if late else 55.0 - 1e-3
    conn.check_deadlines()
    if late:
        assert conn.close_reason is CloseReason.DETECT_TIMEOUT
    else:
        conn.receive_data(header[14:] + PING)
        assert conn.data_to_send() == b"+PONG\r\n"
    with pytest.raises(ValueError, match="header_timeout"):
        ProxySettings(header_timeout=0)


# -- PROXY v2, then TLS, then RESP, over loopback with a real TLS client ------------------


def test_proxy_then_tls_sans_io_with_the_close_notify_before_the_fin(
    tls_files: dict[str, Path],
) -> None:
    settings = ConnectionSettings(layers=(TRUSTED, TlsSettings(server_context(tls_files))))
    conn = Connection(resp_registry(), settings, extra={"peername": PEER})
    conn.receive_data(build_proxy_v1(("198.51.100.1", 7), ("192.0.2.1", 6379)))
    client = MemoryTlsClient(client_context(tls_files))
    client.handshake(conn, piece=3)
    assert client.request(conn, PING) == b"+PONG\r\n"
    assert client.request(conn, resp_command("QUIT")) == b"+OK\r\n"
    assert conn.close_reason is CloseReason.SESSION_CLOSED
    client.ssl.unwrap()  # the server's close_notify arrived before its FIN


# -- the layer property of the fuzz kit: the inner outcome, however the outer bytes are cut --


REQUESTS = [resp_command("SET", "a", "1"), PING + resp_command("GET", "a"), resp_command("QUIT")]
EXPECTED = b"+OK\r\n+PONG\r\n$1\r\n1\r\n+OK\r\n"


@settings(max_examples=25, deadline=None)
@given(sizes=st.lists(st.integers(min_value=1, max_value=300), min_size=1, max_size=8))
def test_tls_layer_outcome_is_cut_invariant(tls_files: dict[str, Path], sizes: list[int]) -> None:
    tls = TlsSettings(server_context(tls_files))
    outcome = check_layer_cuts(
        lambda: Connection(resp_registry(), ConnectionSettings(layers=(tls,))),
        lambda: TlsPeer(client_context(tls_files), "localhost"),
        REQUESTS,
        sizes,
    )
    assert outcome.replies == EXPECTED
    assert outcome.inner_format == "resp"
    assert outcome.outer_close is CloseReason.SESSION_CLOSED


@settings(max_examples=100, deadline=None)
@given(
    version=st.sampled_from([1, 2]),
    sizes=st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=8),
)
def test_proxy_layer_outcome_is_cut_invariant(version: int, sizes: list[int]) -> None:
    build = build_proxy_v1 if version == 1 else build_proxy_v2
    header = build(("198.51.100.4", 9), ("192.0.2.1", 2))
    outcome = check_layer_cuts(
        lambda: Connection(
            resp_registry(), ConnectionSettings(layers=(TRUSTED,)), extra={"peername": PEER}
        ),
        lambda: PlainPeer(header),
        REQUESTS,
        sizes,
    )
    assert outcome.replies == EXPECTED
    assert (outcome.inner_format, outcome.outer_close) == ("resp", CloseReason.SESSION_CLOSED)


def test_the_layer_property_catches_a_layer_that_depends_on_the_cut() -> None:
    class FirstPieceOnly(BaseLayer):
        """A broken envelope: it reads one frame per read, and drops the rest of the read."""

        def __init__(self, host: LayerHost) -> None:
            super().__init__(host)
            self.open_inner()

        def try_consume(self, data: memoryview, /) -> int:
            if len(data) < 4:
                return 0
            size = int.from_bytes(data[:4], "big")
            if len(data) < 4 + size:
                return 0
            self.feed(data[4 : 4 + size])
            self.flush()
            return len(data)

    registry = resp_registry()
    registry.register_layer(LayerFormat(ENVELOPE.wire_format, FirstPieceOnly))
    requests = [envelope(PING) + envelope(PING)]
    whole = run_layer(Connection(registry), PlainPeer(b""), requests)
    assert whole.replies == b"+PONG\r\n"
    with pytest.raises(SameOutcomeError, match="cut into pieces"):
        check_layer_cuts(lambda: Connection(registry), lambda: PlainPeer(b""), requests, [18])


# -- the PROXY v2 declaration: one declaration, parsed and built ---------------------------

addresses_v4 = st.tuples(st.ip_addresses(v=4).map(str), st.integers(0, 65535))
addresses_v6 = st.tuples(st.ip_addresses(v=6).map(str), st.integers(0, 65535))
tlv_lists = st.lists(st.tuples(st.integers(0, 255), st.binary(max_size=40)), max_size=4).map(tuple)
headers = st.one_of(
    st.builds(lambda s, d, t: ProxyHeader(2, s, d, tlvs=t), addresses_v4, addresses_v4, tlv_lists),
    st.builds(lambda s, d, t: ProxyHeader(2, s, d, tlvs=t), addresses_v6, addresses_v6, tlv_lists),
    st.just(ProxyHeader(2, local=True)),
)


def build(header: ProxyHeader) -> bytes:
    return build_proxy_v2(header.source, header.destination, tlvs=header.tlvs)


@settings(max_examples=300, deadline=None)
@given(header=headers, tail=st.binary(max_size=8))
def test_proxy_v2_round_trips(header: ProxyHeader, tail: bytes) -> None:
    data = build(header)
    assert parse_proxy_header(data + tail) == (header, len(data))
    # The declaration parses what it built, and builds it again byte for byte.
    assert PROXY_V2.build(PROXY_V2.parse(data)) == data


@settings(max_examples=200, deadline=None)
@given(header=headers, cut=st.integers(min_value=0))
def test_proxy_v2_is_undecided_before_its_last_byte(header: ProxyHeader, cut: int) -> None:
    data = build(header)
    prefix = data[: 12 + cut % (len(data) - 12)]
    assert parse_proxy_header(prefix) is None


@settings(max_examples=300, deadline=None)
@given(header=headers, index=st.integers(min_value=0), byte=st.integers(0, 255))
def test_a_corrupted_proxy_v2_header_parses_or_fails_cleanly(
    header: ProxyHeader, index: int, byte: int
) -> None:
    data = bytearray(build(header))
    data[12 + index % (len(data) - 12)] = byte
    try:
        parsed = parse_proxy_header(bytes(data))
    except ProtocolError:
        return
    if parsed is not None:
        result, size = parsed
        assert size <= len(data) and result.version == 2
        if result.source is not None:
            ipaddress.ip_address(result.source[0])


def test_v2_datagram_and_unix_headers() -> None:
    data = bytearray(build_proxy_v2(("203.0.113.7", 1), ("192.0.2.1", 2)))
    data[13] = 0x12  # UDP over IPv4
    with pytest.raises(ProtocolError, match="datagram"):
        parse_proxy_header(bytes(data))
    unix = bytes(
        PROXY_V2.build(
            {
                "version_command": {"version": 2, "command": 1},
                "family_protocol": {"family": 3, "protocol": 1},
                "body": {
                    "addresses": {"source": bytes(108), "destination": bytes(108)},
                    "tlvs": [],
                },
            }
        )
    )
    assert len(unix) == 16 + 216
    assert parse_proxy_header(unix) == (ProxyHeader(2), len(unix))
