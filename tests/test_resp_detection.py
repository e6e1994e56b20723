"""Detecting RESP: ``*`` at once, inline commands only once their first line names a command."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wireproto.providers.kvbin import KVBIN, KvbinProvider
from wireproto.providers.resp import RESP, RespProvider, resp_format

from wireproto import Connection, Registry, Verdict
from wireproto._connection import ConnectionState

MATCH, NO_MATCH, NEED_MORE = Verdict.MATCH, Verdict.NO_MATCH, Verdict.NEED_MORE


@pytest.mark.parametrize(
    ("data", "verdict"),
    [
        (b"", NEED_MORE),
        (b"*", MATCH),
        (b"*garbage", MATCH),
        (b"P", NEED_MORE),
        (b"pI", NEED_MORE),
        (b"PING", NEED_MORE),
        (b"PING ", NEED_MORE),
        (b"PING\r", NEED_MORE),
        (b"PING\r\n", MATCH),
        (b"ping\n", MATCH),
        (b" \t PiNg  hello\r\n", MATCH),
        (b"GET key", NEED_MORE),
        (b"GET key\r\nrest", MATCH),
        (b"get\x00\n", NO_MATCH),  # Redis never sees the end of a line with a NUL in it
        (b"   ", NEED_MORE),
        (b"PINGX", NO_MATCH),
        (b"PINGX\r\n", NO_MATCH),
        (b"FOO\r\n", NO_MATCH),
        (b"\r\n", NEED_MORE),  # Redis skips blank lines
        (b"\r\n\r\nPING\r\n", MATCH),
        (b"\n \t\r\nping\n", MATCH),
        (b"\r\n\r\nPI", NEED_MORE),
        (b"\r\nFOO\r\n", NO_MATCH),
        (b"\r\n*1\r\n", MATCH),
        (b"\x00", MATCH),  # Redis waits for a line end it never sees, then refuses
        (b"\x00junk\r\n", MATCH),
        (b"\r\n\x00junk", MATCH),
        (b'"PING"\r\n', NO_MATCH),
        (b"\x16\x03\x01\x02\x00", NO_MATCH),
        (b"\xc0KV\x01", NO_MATCH),
        (b"$3\r\n", NO_MATCH),
        (b"$", NEED_MORE),
        (b"$\x00payload", MATCH),  # Redis never sees the end of that line, then refuses
        (b"$3\r\n\x00", NO_MATCH),  # the NUL is past the first line
        (b"GET / HTTP/1.1\r\n", NO_MATCH),  # the cross-protocol guard (wireproto.guard)
        (b"Host: x\r\n", NO_MATCH),
    ],
)
def test_verdicts(data: bytes, verdict: Verdict) -> None:
    assert RESP.detector(data) is verdict


def test_blank_lines_count_toward_the_inline_limit() -> None:
    fmt = resp_format(max_inline_len=16)
    assert fmt.detector(b"\r\n" * 8) is NEED_MORE  # 16 bytes
    assert fmt.detector(b"\r\n" * 8 + b"P") is NO_MATCH
    assert fmt.detector(b"\r\n" * 5 + b"PING\r\n") is MATCH


def test_an_inline_line_past_the_limit_is_no_match() -> None:
    fmt = resp_format(max_inline_len=16)
    line = b"PING " + b"x" * 11  # 16 bytes
    assert fmt.detector(line) is NEED_MORE
    assert fmt.detector(line + b"\n") is MATCH
    assert fmt.detector(line + b"x") is NO_MATCH
    assert fmt.detector(line + b"x\n") is NO_MATCH


_alphabet = st.sampled_from([bytes([c]) for c in b"PINGgetET \t\r\n*x\0"])


@settings(max_examples=300)
@given(st.lists(_alphabet, max_size=24).map(b"".join))
def test_detection_never_changes_its_mind(data: bytes) -> None:
    final = RESP.detector(data)
    for size in range(len(data) + 1):
        verdict = RESP.detector(data[:size])
        if verdict is not NEED_MORE:
            assert final is verdict, (data[:size], data)


def test_resp_shares_a_registry_with_kvbin() -> None:
    registry = Registry()
    registry.register(KVBIN, KvbinProvider())
    registry.register(RESP, RespProvider(accelerated=False))
    assert registry.detect(b"*1\r\n").wire_format == RESP
    assert registry.detect(b"PING\r\n").wire_format == RESP
    assert registry.detect(b"\xc0KV").wire_format == KVBIN
    assert registry.detect(b"PIN").verdict is NEED_MORE
    assert registry.detect(b"HEAD / HTTP/1.0\r\n").verdict is NO_MATCH


def test_an_inline_first_command_is_served_once_its_line_is_complete() -> None:
    registry = Registry()
    registry.register(RESP, RespProvider(accelerated=False))
    connection = Connection(registry)
    for byte in b"PING\r\n":
        connection.receive_data(bytes([byte]))
        assert connection.state is not ConnectionState.CLOSED
    assert connection.wire_format == RESP
    assert connection.data_to_send() == b"+PONG\r\n"
