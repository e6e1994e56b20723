"""The PROXY protocol, sans-I/O."""

from __future__ import annotations

import pytest
from _lines import PROXY_ELSEWHERE, PROXY_TRUSTED, fake_connection
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from wireproto import (
    CloseReason,
    ConnectionSettings,
    ProtocolError,
)
from wireproto._detect import Verdict
from wireproto._proxy import (
    ProxyHeader,
    ProxySettings,
    build_proxy_v1,
    build_proxy_v2,
    detect_proxy,
    parse_proxy_header,
)
from wireproto._stats import StatsCollector

# -- the PROXY protocol, sans-I/O --------------------------------------------------------

PROXY_CASES = {
    "v1-tcp4": (
        b"PROXY TCP4 203.0.113.7 192.0.2.1 56324 6380\r\n",
        ProxyHeader(1, ("203.0.113.7", 56324), ("192.0.2.1", 6380)),
    ),
    "v1-tcp6": (
        b"PROXY TCP6 2001:db8::7 2001:db8::1 1 65535\r\n",
        ProxyHeader(1, ("2001:db8::7", 1), ("2001:db8::1", 65535)),
    ),
    "v1-unknown": (b"PROXY UNKNOWN\r\n", ProxyHeader(1)),
    "v1-unknown-long": (
        b"PROXY UNKNOWN ffff:f::f ffff:f::f 65535 65535\r\n",
        ProxyHeader(1),
    ),
    "v2-tcp4": (
        build_proxy_v2(("203.0.113.7", 56324), ("192.0.2.1", 6380)),
        ProxyHeader(2, ("203.0.113.7", 56324), ("192.0.2.1", 6380)),
    ),
    "v2-tcp6-tlvs": (
        build_proxy_v2(
            ("2001:db8::7", 4000), ("2001:db8::1", 6380), tlvs=[(0x01, b"redis"), (0x04, b"")]
        ),
        ProxyHeader(
            2, ("2001:db8::7", 4000), ("2001:db8::1", 6380), tlvs=((1, b"redis"), (4, b""))
        ),
    ),
    "v2-local": (build_proxy_v2(None), ProxyHeader(2, local=True)),
    "v2-unspec": (
        b"\r\n\r\n\x00\r\nQUIT\n\x21\x00\x00\x03abc",
        ProxyHeader(2),
    ),
}


@pytest.mark.parametrize("name", sorted(PROXY_CASES))
def test_proxy_headers_parse_whole_and_not_before(name: str) -> None:
    header, expected = PROXY_CASES[name]
    assert detect_proxy(header) is Verdict.MATCH
    assert parse_proxy_header(header + b"U:rest\n") == (expected, len(header))
    signature = 6 if header.startswith(b"PROXY ") else 12
    for cut in range(signature, len(header)):
        assert parse_proxy_header(header[:cut]) is None, cut


def test_proxy_builders_round_trip() -> None:
    assert build_proxy_v1(("203.0.113.7", 1), ("192.0.2.1", 2)) == (
        b"PROXY TCP4 203.0.113.7 192.0.2.1 1 2\r\n"
    )
    assert build_proxy_v1(None) == b"PROXY UNKNOWN\r\n"
    with pytest.raises(ValueError, match="one address family"):
        build_proxy_v2(("203.0.113.7", 1), ("2001:db8::1", 2))


@pytest.mark.parametrize(
    "data",
    [
        b"PROXY TCP4 203.0.113.7 192.0.2.1 56324 6380\n",  # LF alone
        b"PROXY TCP4 203.0.113.7 192.0.2.1 56324 6380\r\r\n",
        b"PROXY TCP5 203.0.113.7 192.0.2.1 1 2\r\n",
        b"PROXY TCP4 203.0.113.7 192.0.2.1 1\r\n",
        b"PROXY TCP4 203.0.113.7  192.0.2.1 1 2\r\n",
        b"PROXY TCP4 203.0.113.07 192.0.2.1 1 2\r\n",  # a leading zero
        b"PROXY TCP4 2001:db8::1 192.0.2.1 1 2\r\n",  # the wrong family
        b"PROXY TCP6 203.0.113.7 2001:db8::1 1 2\r\n",
        b"PROXY TCP4 203.0.113.7 192.0.2.1 01 2\r\n",
        b"PROXY TCP4 203.0.113.7 192.0.2.1 1 65536\r\n",
        b"PROXY TCP4 203.0.113.7 192.0.2.1 1 -2\r\n",
        b"\r\n\r\n\x00\r\nQUIT\n\x11\x11\x00\x0c" + bytes(12),  # version 1 in a v2 header
        b"\r\n\r\n\x00\r\nQUIT\n\x22\x11\x00\x0c" + bytes(12),  # command 2
        b"\r\n\r\n\x00\r\nQUIT\n\x21\x41\x00\x0c" + bytes(12),  # family 4
        b"\r\n\r\n\x00\r\nQUIT\n\x21\x13\x00\x0c" + bytes(12),  # protocol 3
        b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0b" + bytes(11),  # address block too short
        b"\r\n\r\n\x00\r\nQUIT\n\x21\x12\x00\x0c" + bytes(12),  # a datagram
        b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0e" + bytes(12) + b"\x01\x00",  # cut TLV
        b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x10" + bytes(12) + b"\x01\x00\x05x",
    ],
)
def test_malformed_proxy_headers_are_protocol_errors(data: bytes) -> None:
    with pytest.raises(ProtocolError):
        parse_proxy_header(data)


def test_proxy_v1_line_at_107_bytes_and_108() -> None:
    # The spec's worst case is 107 bytes, CRLF included: pad UNKNOWN's ignored part.
    at_max = b"PROXY UNKNOWN " + b"x" * (107 - 16) + b"\r\n"
    assert len(at_max) == 107
    assert parse_proxy_header(at_max) == (ProxyHeader(1), 107)
    over = b"PROXY UNKNOWN " + b"x" * (108 - 16) + b"\r\n"
    assert parse_proxy_header(over[:106]) is None
    with pytest.raises(ProtocolError, match="107"):
        parse_proxy_header(over)


def test_detect_proxy_verdicts() -> None:
    assert detect_proxy(b"") is Verdict.NEED_MORE
    assert detect_proxy(b"PROX") is Verdict.NEED_MORE
    assert detect_proxy(b"\r\n\r\n\x00") is Verdict.NEED_MORE
    assert detect_proxy(b"PROXY ") is Verdict.MATCH
    assert detect_proxy(b"PROXYX") is Verdict.NO_MATCH
    assert detect_proxy(b"U:") is Verdict.NO_MATCH
    assert detect_proxy(b"\r\n\r\nX") is Verdict.NO_MATCH


def test_proxy_settings_trust_networks_and_mapped_addresses() -> None:
    proxy = ProxySettings.from_strings(["10.0.0.0/8", "2001:db8::/32"])
    assert proxy.trusts(("10.1.2.3", 5))
    assert proxy.trusts(("::ffff:10.1.2.3", 5, 0, 0))
    assert proxy.trusts(("2001:db8::5", 5, 0, 0))
    assert not proxy.trusts(("127.0.0.1", 5))
    assert not proxy.trusts(None)
    assert not proxy.trusts("/run/socket")
    assert ProxySettings(("127.0.0.0/8",)).trusts(("127.0.0.1", 1))  # type: ignore[arg-type]


@pytest.mark.parametrize("version", [1, 2])
def test_a_trusted_proxy_header_names_the_real_client(version: int) -> None:
    build = build_proxy_v1 if version == 1 else build_proxy_v2
    header = build(("203.0.113.7", 56324), ("192.0.2.1", 6380))
    conn, _clock = fake_connection(ConnectionSettings(layers=(PROXY_TRUSTED,)))
    conn.receive_data(header + b"U:!info proxy_source\n")
    assert conn.data_to_send() == b"('203.0.113.7', 56324)\n"
    assert conn.get_extra_info("proxy_destination") == ("192.0.2.1", 6380)
    assert conn.get_extra_info("peername") == ("127.0.0.1", 40000)


@pytest.mark.parametrize("version", [1, 2])
def test_a_proxy_header_from_an_untrusted_peer_closes(version: int) -> None:
    build = build_proxy_v1 if version == 1 else build_proxy_v2
    for settings in (ConnectionSettings(layers=(PROXY_ELSEWHERE,)), ConnectionSettings()):
        stats = StatsCollector()
        conn, _clock = fake_connection(settings, stats=stats)
        conn.receive_data(build(("203.0.113.7", 1), ("192.0.2.1", 2)) + b"U:hi\n")
        assert conn.data_to_send() == b""
        if not settings.layers:  # a listener without PROXY: just not a known format
            assert conn.close_reason is CloseReason.NO_MATCH
        else:
            assert conn.close_reason is CloseReason.PROTOCOL_ERROR
            assert "untrusted" in str(conn.error)
            assert stats.snapshot().detections == {"proxy-rejected": 1}


def test_without_a_header_detection_goes_on_unless_required() -> None:
    conn, _clock = fake_connection(ConnectionSettings(layers=(PROXY_TRUSTED,)))
    conn.receive_data(b"U:direct\n")
    assert conn.data_to_send() == b"U:DIRECT\n"
    assert conn.get_extra_info("proxy_source") is None

    required = ProxySettings.from_strings(["127.0.0.0/8"], required=True)
    conn, _clock = fake_connection(ConnectionSettings(layers=(required,)))
    conn.receive_data(b"U:direct\n")
    assert conn.close_reason is CloseReason.PROTOCOL_ERROR
    # An untrusted peer is not asked for one.
    conn, _clock = fake_connection(ConnectionSettings(layers=(required,)), ("192.0.2.9", 1))
    conn.receive_data(b"U:direct\n")
    assert conn.data_to_send() == b"U:DIRECT\n"


def test_a_local_or_unknown_header_keeps_the_socket_addresses() -> None:
    for header in (build_proxy_v1(None), build_proxy_v2(None)):
        conn, _clock = fake_connection(ConnectionSettings(layers=(PROXY_TRUSTED,)))
        conn.receive_data(header + b"U:!info proxy_source\n")
        assert conn.data_to_send() == b"None\n"
        assert isinstance(conn.get_extra_info("proxy_header"), ProxyHeader)


def test_a_proxy_header_must_fit_in_the_detection_bytes() -> None:
    header = build_proxy_v2(("203.0.113.7", 1), ("192.0.2.1", 2), tlvs=[(0xE0, b"x" * 100)])
    fits = ConnectionSettings(layers=(PROXY_TRUSTED,), max_detect_bytes=len(header))
    conn, _clock = fake_connection(fits)
    conn.receive_data(header + b"U:a\n")
    assert conn.data_to_send() == b"U:A\n"
    too_small = ConnectionSettings(layers=(PROXY_TRUSTED,), max_detect_bytes=len(header) - 1)
    conn, _clock = fake_connection(too_small)
    conn.receive_data(header + b"U:a\n")
    assert conn.close_reason is CloseReason.PROTOCOL_ERROR


@hypothesis_settings(max_examples=100, deadline=None)
@given(
    version=st.sampled_from([1, 2]),
    cuts=st.lists(st.integers(min_value=1, max_value=20), min_size=1, max_size=40),
)
def test_proxy_header_and_stream_survive_any_cut(version: int, cuts: list[int]) -> None:
    build = build_proxy_v1 if version == 1 else build_proxy_v2
    stream = build(("198.51.100.4", 9), ("192.0.2.1", 2)) + b"U:!info proxy_source\nb\nc\n"
    conn, _clock = fake_connection(ConnectionSettings(layers=(PROXY_TRUSTED,)))
    offset, output = 0, b""
    for cut in [*cuts, len(stream)]:
        conn.receive_data(stream[offset : offset + cut])
        output += conn.data_to_send()
        offset += cut
        if offset >= len(stream):
            break
    assert output == b"('198.51.100.4', 9)\nB\nC\n"
