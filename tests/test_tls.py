"""TLS sniffed on the port, sans-I/O."""

from __future__ import annotations

import contextlib
import ssl
from pathlib import Path

import pytest
from _lines import GREETING, assert_closes_at_the_deadline, fake_connection, tls_settings
from _tls import MemoryTlsClient, client_context, server_context

from wireproto import (
    CloseReason,
    ConnectionSettings,
)
from wireproto._detect import Verdict
from wireproto._stats import StatsCollector
from wireproto._tls import TlsSettings, detect_tls

# -- TLS, sans-I/O --------------------------------------------------------------------------


def test_detect_tls_verdicts() -> None:
    hello = b"\x16\x03\x01\x02\x00\x01"
    for size in range(len(hello)):
        assert detect_tls(hello[:size]) is Verdict.NEED_MORE, size
    assert detect_tls(hello) is Verdict.MATCH
    for bad in (
        b"\x17\x03\x01\x02\x00\x01",  # application data
        b"\x16\x02",  # SSL 2
        b"\x16\x03\x05",
        b"\x16\x03\x01\x00\x00",  # an empty record
        b"\x16\x03\x01\x48\x01",  # longer than a record may be
        b"\x16\x03\x01\x02\x00\x02",  # a ServerHello
        b"*1\r\n",
    ):
        assert detect_tls(bad) is Verdict.NO_MATCH, bad


@pytest.mark.parametrize("piece", [None, 1], ids=["whole", "one-byte-pieces"])
def test_tls_and_plain_on_one_connection_type(
    tls_files: dict[str, Path], piece: int | None
) -> None:
    stats = StatsCollector()
    settings = tls_settings(tls_files)
    conn, _clock = fake_connection(settings, stats=stats)
    client = MemoryTlsClient(client_context(tls_files, ["redis"]), server_hostname="localhost")
    client.handshake(conn, piece)
    inner = conn.inner
    assert inner is not None and conn.wire_format is not None
    assert conn.wire_format.name == "tls"
    assert client.request(conn, b"U:hello\n") == b"U:HELLO\n"
    assert inner.wire_format is not None and inner.wire_format.name == "upper"
    assert client.request(conn, b"!info sni\n") == b"'localhost'\n"
    assert client.request(conn, b"!info alpn_protocol\n") == b"'redis'\n"
    assert client.request(conn, b"!info tls_version\n") == b"'TLSv1.3'\n"
    assert client.request(conn, b"!info peername\n") == b"('127.0.0.1', 40000)\n"

    plain, _clock = fake_connection(settings, stats=stats)
    plain.receive_data(b"U:plain\n")
    assert plain.data_to_send() == b"U:PLAIN\n"

    snapshot = stats.snapshot()
    assert (snapshot.formats["tls"].sessions, snapshot.formats["upper"].sessions) == (1, 2)
    assert snapshot.detections == {"match": 3}
    assert snapshot.active == 2  # two sockets; the inner connection is not one
    assert snapshot.formats["upper"].bytes_received == len(b"U:hello\n!info sni\n") + len(
        b"!info alpn_protocol\n!info tls_version\n!info peername\n"
    ) + len(b"U:plain\n")

    # The inner session quits: close_notify, then the outer connection closes too.
    assert client.request(conn, b"!quit\n") == b"BYE\n"
    assert conn.close_reason is CloseReason.SESSION_CLOSED
    assert client.ssl.read(10) == b""
    client.ssl.unwrap()  # no SSLWantReadError: the server's close_notify has arrived
    assert inner.closed


def test_tls_without_sni_and_a_client_close_notify(tls_files: dict[str, Path]) -> None:
    conn, _clock = fake_connection(tls_settings(tls_files))
    context = client_context(tls_files)
    context.check_hostname = False
    client = MemoryTlsClient(context, server_hostname=None)
    client.handshake(conn)
    assert client.request(conn, b"U:!info sni\n") == b"None\n"
    with contextlib.suppress(ssl.SSLWantReadError):
        client.ssl.unwrap()
    client.deliver(conn)
    inner = conn.inner
    assert inner is not None
    assert inner.close_reason is CloseReason.PEER_CLOSED
    assert conn.close_reason is CloseReason.PEER_CLOSED


def test_tls_required_refuses_plain_and_forbidden_by_default(tls_files: dict[str, Path]) -> None:
    conn, _clock = fake_connection(tls_settings(tls_files, required=True))
    conn.receive_data(b"U:plain\n")
    assert conn.close_reason is CloseReason.NO_MATCH
    conn, _clock = fake_connection(tls_settings(tls_files, required=True))
    MemoryTlsClient(client_context(tls_files)).handshake(conn)
    assert conn.inner is not None

    plain_only, _clock = fake_connection(ConnectionSettings())
    client = MemoryTlsClient(client_context(tls_files))
    with pytest.raises(ssl.SSLWantReadError):
        client.ssl.do_handshake()
    client.deliver(plain_only)
    assert plain_only.close_reason is CloseReason.NO_MATCH


def test_the_fallback_applies_inside_tls_when_tls_is_required(tls_files: dict[str, Path]) -> None:
    settings = ConnectionSettings(
        detect_timeout=1.0,
        fallback_format="banner",
        layers=(TlsSettings(server_context(tls_files), required=True),),
    )
    silent, clock = fake_connection(settings)
    clock.now += 1.0
    silent.check_deadlines()
    assert silent.close_reason is CloseReason.DETECT_TIMEOUT

    conn, clock = fake_connection(settings)
    client = MemoryTlsClient(client_context(tls_files))
    client.handshake(conn)
    assert conn.next_deadline() == clock.now + 1.0  # the inner detection deadline
    clock.now += 1.0
    conn.check_deadlines()
    client.incoming.write(conn.data_to_send())
    assert client.ssl.read(100) == GREETING


def test_tls_handshake_deadline_at_max_and_max_plus_one(tls_files: dict[str, Path]) -> None:
    settings = ConnectionSettings(
        detect_timeout=None,
        layers=(TlsSettings(server_context(tls_files), handshake_timeout=4.0),),
    )
    conn, clock = fake_connection(settings)
    client = MemoryTlsClient(client_context(tls_files))
    with pytest.raises(ssl.SSLWantReadError):
        client.ssl.do_handshake()
    hello = client.outgoing.read()
    conn.receive_data(hello[:20])  # the ClientHello, never finished
    assert_closes_at_the_deadline(conn, clock, 4.0, CloseReason.HANDSHAKE_TIMEOUT)


def test_a_failed_handshake_sends_the_alert_then_closes(tls_files: dict[str, Path]) -> None:
    conn, _clock = fake_connection(tls_settings(tls_files))
    client = MemoryTlsClient(client_context(tls_files))
    with pytest.raises(ssl.SSLWantReadError):
        client.ssl.do_handshake()
    hello = bytearray(client.outgoing.read())
    hello[9:41] = bytes(32)  # keep the framing, break nothing detectable ...
    hello[43:] = b"\xff" * (len(hello) - 43)  # ... but the cipher suites and extensions
    conn.receive_data(bytes(hello))
    assert conn.close_reason is CloseReason.PROTOCOL_ERROR
    assert "TLS" in str(conn.error)
    alert = conn.data_to_send()
    assert alert[:1] == b"\x15"  # an alert record
