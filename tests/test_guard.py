"""The cross-protocol guard: HTTP sent to a text provider is never run as a command.

Sans-I/O through the real RESP and memcached providers, cut every way; the
end-to-end half (``wireproto serve`` and a real redis-server) is in
``tests/e2e/test_guard_e2e.py``.
"""

from __future__ import annotations

import logging

import pytest
from _drive import bytewise, cut, replay, resp_command
from hypothesis import given, settings
from hypothesis import strategies as st
from wireproto.providers import memcache, resp
from wireproto.providers.kvstore import shared_store
from wireproto.providers.resp.provider import RespProvider

from wireproto import guard
from wireproto._connection import CloseReason, Connection, ConnectionState
from wireproto._detect import Verdict, WireFormat
from wireproto._registry import Registry
from wireproto._session import NetworkSender

BROWSER_POST = (
    b"POST / HTTP/1.1\r\n"
    b"Host: 127.0.0.1:6379\r\n"
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0\r\n"
    b"Accept: */*\r\n"
    b"Content-Type: text/plain;charset=UTF-8\r\n"
    b"Content-Length: 13\r\n"
    b"Origin: http://evil.example\r\n"
    b"Connection: keep-alive\r\n"
    b"\r\n"
    b"SET pwned 1\r\n"
)
BROWSER_GET = (
    b"GET / HTTP/1.1\r\n"
    b"Host: 127.0.0.1:6379\r\n"
    b"User-Agent: Mozilla/5.0\r\n"
    b"Accept: text/html\r\n"
    b"\r\n"
)


@pytest.fixture(autouse=True)
def _log_every_attack(monkeypatch: pytest.MonkeyPatch) -> None:
    """The warning is rate-limited to one a minute: start each test with it due."""
    monkeypatch.setattr(guard, "_last_logged", [-guard._LOG_INTERVAL])


def make_registry() -> tuple[Registry, RespProvider]:
    registry = Registry()
    provider = resp.register(registry)
    memcache.register(registry)
    return registry, provider


def run(chunks: list[bytes]) -> tuple[bytes, Connection, RespProvider, Registry]:
    registry, provider = make_registry()
    connection = Connection(registry)
    return replay(connection, chunks, until_closed=True), connection, provider, registry


# -- the line tests -------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        b"GET / HTTP/1.1",
        b"POST /submit?x=1 HTTP/1.0",
        b"OPTIONS * HTTP/1.1",
        b"PRI * HTTP/2.0",
        b"M-SEARCH * HTTP/1.1",
        b"Host: example.com",
        b"HOST: x",
        b"host:x",
        b"post",
        b"  POST x y",
    ],
)
def test_http_lines_are_refused(line: bytes) -> None:
    assert guard.is_http_line(line)


@pytest.mark.parametrize(
    "line",
    [
        b"GET k",
        b"get / HTTP/1.1",  # memcached: a multi-get of the keys "/" and "HTTP/1.1"
        b"GET / HTTP/1.1 x",
        b"GET  / HTTP/1.1",
        b"GET / HTTP/1.x",
        b"SET k HTTP",
        b"hostname: x",
        b"postx",
        b"",
    ],
)
def test_other_lines_pass(line: bytes) -> None:
    assert not guard.is_http_line(line)


def test_the_request_detector() -> None:
    detect = guard.http_request_detector
    assert detect(b"GET / HTTP/1.1\r\n") is Verdict.MATCH
    assert detect(b"GET / HTTP/1.1\n") is Verdict.MATCH
    for prefix in (b"", b"G", b"GET", b"GET ", b"GET /", b"GET / HTTP/1.1", b"GET / HTTP/1.1\r"):
        assert detect(prefix) is Verdict.NEED_MORE, prefix
    for other in (b"*1\r\n", b"get", b"GET  ", b"GET / X", b"GET / HTTP/1.1x", b"\x16\x03\x01"):
        assert detect(other) is Verdict.NO_MATCH, other
    assert detect(b"GET / HTTP/1.1\r\r\n") is Verdict.NO_MATCH


PIECES = [b"GET", b"POST", b"get", b" ", b"  ", b"/", b"*", b"x", b"HTTP/", b"1", b".", b"\r"]
PIECES += [b"\n", b"\r\n", b"Host:", b"\x00", b"HTTP/1.1", b"PING", b"\t"]
HTTPISH = st.lists(st.sampled_from(PIECES), max_size=12).map(b"".join)


@given(HTTPISH, HTTPISH)
def test_the_request_detector_never_changes_a_decided_answer(head: bytes, tail: bytes) -> None:
    decided = guard.http_request_detector(head)
    if decided is not Verdict.NEED_MORE:
        assert guard.http_request_detector(head + tail) is decided


@given(HTTPISH, HTTPISH)
def test_guarded_detectors_never_change_a_decided_answer(head: bytes, tail: bytes) -> None:
    registry, _ = make_registry()
    for wire_format in registry:
        decided = wire_format.detector(head)
        if decided is not Verdict.NEED_MORE:
            assert wire_format.detector(head + tail) is decided, wire_format.name


# -- at detection ---------------------------------------------------------------------


@pytest.mark.parametrize("request_bytes", [BROWSER_POST, BROWSER_GET], ids=["post", "get"])
@pytest.mark.parametrize("cutting", ["whole", "bytewise"])
def test_a_browser_request_is_refused_at_detection(
    request_bytes: bytes, cutting: str, caplog: pytest.LogCaptureFixture
) -> None:
    chunks = [request_bytes] if cutting == "whole" else bytewise(request_bytes)
    with caplog.at_level(logging.WARNING, logger="wireproto.guard"):
        replies, connection, provider, registry = run(chunks)
    assert replies == b""
    assert connection.state is ConnectionState.CLOSED
    assert connection.close_reason is CloseReason.NO_MATCH
    assert connection.wire_format is None  # no session was made: no line ran
    assert provider.processed.count == 0
    assert len(shared_store(registry)) == 0
    if cutting == "whole":  # bytewise, "POS" is refused before the line shows it is HTTP
        assert "Possible SECURITY ATTACK detected" in caplog.text


def test_the_warning_is_logged_at_most_once_a_minute(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="wireproto.guard"):
        for _ in range(3):
            run([BROWSER_GET])
    assert caplog.text.count("Possible SECURITY ATTACK detected") == 1


class _HttpSession:
    def __init__(self, sender: NetworkSender) -> None:
        self._sender = sender

    def try_consume(self, data: memoryview, /) -> int:
        end = bytes(data).find(b"\r\n\r\n")
        if end < 0:
            return 0
        self._sender.send(b"HTTP/1.1 204 No Content\r\n\r\n")
        return end + 4

    def close(self) -> None:
        pass


class _HttpProvider:
    limits = resp.RespProvider().limits

    def create_session(self, wire_format: WireFormat, sender: NetworkSender) -> _HttpSession:
        return _HttpSession(sender)


def test_a_registered_http_format_gets_the_request() -> None:
    registry, provider = make_registry()
    registry.register(
        WireFormat(guard.HTTP_FORMAT_NAME, guard.http_request_detector), _HttpProvider()
    )
    for chunks in ([BROWSER_GET], bytewise(BROWSER_GET)):
        connection = Connection(registry)
        assert replay(connection, chunks) == b"HTTP/1.1 204 No Content\r\n\r\n"
        assert connection.wire_format is not None
        assert connection.wire_format.name == "http"
    # RESP and memcached clients are still routed as before.
    connection = Connection(registry)
    assert replay(connection, [b"PING\r\n"]) == b"+PONG\r\n"
    connection = Connection(registry)
    assert replay(connection, [b"version\r\n"]).startswith(b"VERSION ")
    assert provider.processed.count == 1


# -- later in the stream --------------------------------------------------------------

SMUGGLED = [
    (b"PING\r\nHost: 127.0.0.1\r\nSET pwned 1\r\n", b"+PONG\r\n"),
    (b"PING\r\nGET / HTTP/1.1\r\nSET pwned 1\r\n", b"+PONG\r\n"),
    (b"PING\r\nPOST / HTTP/1.1\r\nSET pwned 1\r\n", b"+PONG\r\n"),
    (b'PING\r\nPOST "x"\r\nSET pwned 1\r\n', b"+PONG\r\n"),  # the sdssplitargs path
    (resp_command("PING") + b"post\r\n" + resp_command("SET", "pwned", 1), b"+PONG\r\n"),
    (resp_command("PING") + resp_command("Host:") + resp_command("SET", "pwned", 1), b"+PONG\r\n"),
    (b"MULTI\r\nPOST\r\nSET pwned 1\r\nEXEC\r\n", b"+OK\r\n"),
]


@pytest.mark.parametrize(("stream", "expected"), SMUGGLED)
@settings(max_examples=40, deadline=None)
@given(points=st.lists(st.integers(min_value=0), max_size=6))
def test_resp_closes_at_an_http_line_however_the_bytes_are_cut(
    stream: bytes, expected: bytes, points: list[int]
) -> None:
    for chunks in ([stream], bytewise(stream), cut(stream, points)):
        replies, connection, provider, registry = run(chunks)
        assert replies == expected
        assert connection.state is ConnectionState.CLOSED
        assert connection.close_reason is CloseReason.PROTOCOL_ERROR
        assert shared_store(registry).get(b"pwned") is None
        assert provider.processed.count == 1


@pytest.mark.parametrize(
    "stream",
    [
        b"version\r\nHost: 127.0.0.1\r\nset pwned 0 0 1\r\n1\r\n",
        b"version\r\nGET / HTTP/1.1\r\nset pwned 0 0 1\r\n1\r\n",
        b"version\r\nPOST / HTTP/1.1\r\nset pwned 0 0 1\r\n1\r\n",
    ],
)
@settings(max_examples=40, deadline=None)
@given(points=st.lists(st.integers(min_value=0), max_size=6))
def test_memcached_text_closes_at_an_http_line_however_the_bytes_are_cut(
    stream: bytes, points: list[int]
) -> None:
    for chunks in ([stream], bytewise(stream), cut(stream, points)):
        replies, connection, _, registry = run(chunks)
        assert replies.startswith(b"VERSION ") and replies.count(b"\r\n") == 1, replies
        assert connection.state is ConnectionState.CLOSED
        assert connection.close_reason is CloseReason.PROTOCOL_ERROR
        assert shared_store(registry).get(b"pwned") is None


def test_memcached_text_multi_get_of_http_like_keys_still_works() -> None:
    replies, connection, _, _ = run([b"get / HTTP/1.1\r\n"])
    assert replies == b"END\r\n"
    assert connection.state is ConnectionState.ACTIVE


# -- end to end -----------------------------------------------------------------------


RESP_LINES = [b"PING", b"INCR n", b"GET n", b"ECHO hi", b'SET k "a b"', b"", b"PING x"]
HTTP_LINES = [
    b"Host: x",
    b"GET / HTTP/1.1",
    b"POST /a HTTP/1.0",
    b"post",
    b"HOST:y",
    b"PRI * HTTP/2.0",
]


@settings(max_examples=150, deadline=None)
@given(
    before=st.lists(st.sampled_from(RESP_LINES), min_size=1, max_size=6),
    http=st.sampled_from([*HTTP_LINES, None]),
    after=st.lists(st.sampled_from(RESP_LINES), max_size=4),
    ending=st.sampled_from([b"\r\n", b"\n"]),
    points=st.lists(st.integers(min_value=0), max_size=8),
)
def test_the_guard_decides_the_same_however_a_stream_is_cut(
    before: list[bytes], http: bytes | None, after: list[bytes], ending: bytes, points: list[int]
) -> None:
    first = b"PING"  # a RESP first line, so that the stream is detected as RESP
    lines = [first, *before] + ([http] if http is not None else []) + after
    stream = b"".join(line + ending for line in lines)
    outcomes = set()
    for chunks in ([stream], bytewise(stream), cut(stream, points)):
        replies, connection, provider, registry = run(chunks)
        counter = shared_store(registry).get(b"n")
        outcomes.add((replies, connection.state, provider.processed.count, counter))
    assert len(outcomes) == 1
    ((replies, state, processed, counter),) = outcomes
    ran = 1 + sum(1 for line in before if line.split())
    if http is None:
        ran += sum(1 for line in after if line.split())
        assert state is ConnectionState.ACTIVE
    else:  # nothing after the HTTP line ran
        assert state is ConnectionState.CLOSED
    assert processed == ran
    incremented = before.count(b"INCR n") + (after.count(b"INCR n") if http is None else 0)
    assert counter == (None if not incremented else b"%d" % incremented)
