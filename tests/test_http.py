"""The HTTP provider: routes, pipelining, limits, auth, draining and the Prometheus exposition."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import signal
import socket
import subprocess
import time
from pathlib import Path

import h11
import pytest
import websockets.sync.client as ws_client
import wireproto.providers.http
import wireproto.providers.resp
from _drive import bytewise, cut, replay, resp_command
from _serve import serve, tool
from _ws import connection, decode, frames, handshake
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families
from wireproto.providers.http import HttpProvider, HttpSettings

from wireproto import AuthSettings, CloseReason, Registry, Server
from wireproto._connection import ConnectionState
from wireproto._stats import FormatStats, ServerStats
from wireproto._websocket import WebSocketKind
from wireproto.testing import FuzzTarget, check_wire_format
from wireproto.testing._target import load_corpus

NOW = 1_700_000_000.0


def http_registry(settings: HttpSettings | None = None) -> Registry:
    registry = Registry()
    wireproto.providers.resp.register(registry, wireproto.providers.resp.RespProvider())
    wireproto.providers.http.register(registry, HttpProvider(settings, clock=lambda: NOW))
    registry.register_layer(WebSocketKind(registry))
    return registry


def request(
    path: str = "/healthz", method: str = "GET", headers: tuple[tuple[str, str], ...] = ()
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: localhost", *(f"{k}: {v}" for k, v in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def responses(data: bytes) -> list[tuple[int, dict[bytes, bytes], bytes]]:
    """Parse a server's bytes back with h11, as a client of GET requests: status, headers, body."""
    client = h11.Connection(h11.CLIENT)
    client.receive_data(data)
    out = []
    while True:
        client.send(h11.Request(method="GET", target="/", headers=[("Host", "x")]))
        client.send(h11.EndOfMessage())
        event = client.next_event()
        if event is h11.NEED_DATA:
            return out
        assert isinstance(event, h11.Response), event
        status, headers = event.status_code, {name: value for name, value in event.headers}
        body = b""
        while not isinstance(event := client.next_event(), h11.EndOfMessage):
            assert isinstance(event, h11.Data), event
            body += event.data
        out.append((status, headers, body))
        if client.their_state is not h11.DONE:
            return out
        client.start_next_cycle()


def _heads(data: bytes) -> list[bytes]:
    heads = []
    start = 0
    while (index := data.find(b"HTTP/1.1 ", start)) >= 0:
        end = data.index(b"\r\n\r\n", index)
        heads.append(data[index:end])
        start = end
    return heads


def response_status(data: bytes, index: int) -> int:
    return int(_heads(data)[index].split(b" ", 2)[1])


def _headers(data: bytes, index: int) -> list[tuple[bytes, bytes]]:
    lines = _heads(data)[index].split(b"\r\n")[1:]
    return [
        (name.lower(), value.strip()) for name, _, value in (line.partition(b":") for line in lines)
    ]


def serve_bytes(stream: bytes, registry: Registry | None = None, **settings: object):  # type: ignore[no-untyped-def]
    conn = connection(registry if registry is not None else http_registry(), **settings)
    return conn, replay(conn, [stream])


def test_routes() -> None:
    conn, out = serve_bytes(
        request("/healthz")
        + request("/metrics")
        + request("/")
        + request("/nope")
        + request("/healthz?verbose=1")
        + request("/", "POST")
    )
    got = responses(out)
    assert [status for status, _, _ in got] == [200, 200, 200, 404, 200, 405]
    assert got[0][2] == b"ok\n"
    assert got[1][1][b"content-type"] == b"text/plain; version=0.0.4; charset=utf-8"
    assert got[2][1][b"content-type"] == b"text/html; charset=utf-8"
    assert b"<h1>wireproto" in got[2][2]
    assert got[5][1][b"allow"] == b"GET, HEAD"
    assert got[0][1][b"date"] == b"Tue, 14 Nov 2023 22:13:20 GMT"
    assert out.startswith(b"HTTP/1.1 200 OK\r\n")
    assert conn.state is ConnectionState.ACTIVE  # keep-alive
    assert conn.wire_format is not None and conn.wire_format.name == "http"


def test_head_has_the_headers_of_get_and_no_body() -> None:
    _, get = serve_bytes(request("/healthz"))
    _, head = serve_bytes(request("/healthz", "HEAD"))
    assert head == get[: get.index(b"\r\n\r\n") + 4]


def test_pipelined_requests_are_answered_in_order() -> None:
    paths = ["/healthz", "/nope", "/metrics", "/healthz"] * 5
    _, out = serve_bytes(b"".join(request(path) for path in paths))
    statuses = [int(head.split(b" ", 2)[1]) for head in _heads(out)]
    assert statuses == [200, 404, 200, 200] * 5


STREAM = (
    request("/healthz") + request("/nope") + request("/", "DELETE") + request("/healthz", "HEAD")
)


def test_requests_cut_at_every_byte_give_the_same_responses() -> None:
    _, whole = serve_bytes(STREAM)
    assert len(_heads(whole)) == 4
    for point in range(1, len(STREAM)):
        conn = connection(http_registry())
        assert replay(conn, cut(STREAM, [point])) == whole, point
    assert replay(connection(http_registry()), bytewise(STREAM)) == whole


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["GET", "HEAD", "POST", "PUT"]),
            st.sampled_from(["/healthz", "/", "/x", "/healthz?a=b"]),
        ),
        min_size=1,
        max_size=6,
    ),
    st.lists(st.integers(min_value=0, max_value=2000), max_size=8),
)
def test_http_requests_cut_anywhere_give_the_same_responses(
    requests: list[tuple[str, str]], points: list[int]
) -> None:
    stream = b"".join(request(path, method) for method, path in requests)
    _, whole = serve_bytes(stream)
    conn = connection(http_registry())
    assert replay(conn, cut(stream, points)) == whole


@pytest.mark.parametrize("extra", [0, 1])
def test_header_size_at_max_and_max_plus_one(extra: int) -> None:
    limit = 1024
    base = request("/healthz", headers=(("X-Pad", ""),))
    padded = request("/healthz", headers=(("X-Pad", "p" * (limit - len(base) + extra)),))
    assert len(padded) == limit + extra
    conn, out = serve_bytes(padded, http_registry(HttpSettings(max_header_size=limit)))
    if extra:
        assert out.startswith(b"HTTP/1.1 431 ")
        assert conn.close_reason is CloseReason.PROTOCOL_ERROR
    else:
        assert out.startswith(b"HTTP/1.1 200 ")
        assert conn.state is ConnectionState.ACTIVE


@pytest.mark.parametrize("count", [3, 4])
def test_request_count_at_max_and_max_plus_one(count: int) -> None:
    registry = http_registry(HttpSettings(max_requests=3))
    conn, out = serve_bytes(request() * count, registry)
    heads = _heads(out)
    assert len(heads) == 3  # the fourth is never answered
    assert b"Connection: close" in heads[2] and b"Connection: close" not in heads[1]
    assert conn.state is ConnectionState.CLOSED


def test_a_request_with_a_body_is_answered_then_closed() -> None:
    body_request = request("/", "POST", (("Content-Length", "5"),)) + b"hello" + request()
    conn, out = serve_bytes(body_request)
    assert _heads(out)[0].startswith(b"HTTP/1.1 405 ") and len(_heads(out)) == 1
    assert b"Connection: close" in out
    assert conn.state is ConnectionState.CLOSED


def test_a_malformed_request_is_answered_400_and_closed() -> None:
    conn, out = serve_bytes(b"GET / HTTP/1.1\r\nHost: x\r\nBad header\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400 ")
    assert conn.close_reason is CloseReason.PROTOCOL_ERROR


def test_http_never_reaches_resp_and_websocket_upgrades_go_to_the_layer() -> None:
    conn, out = serve_bytes(request("/healthz") + resp_command("PING"))
    assert conn.wire_format is not None and conn.wire_format.name == "http"
    assert b"+PONG" not in out
    conn = connection(http_registry())
    conn.receive_data(handshake() + frames(resp_command("PING")))
    assert conn.wire_format is not None and conn.wire_format.name == "websocket"
    assert decode(conn.data_to_send()).messages == [b"+PONG\r\n"]


BASIC = "Basic " + base64.b64encode(b"default:s3cret").decode()
WRONG = "Basic " + base64.b64encode(b"default:nope").decode()


@pytest.mark.parametrize(
    ("path", "authorization", "status"),
    [
        ("/healthz", None, 200),
        ("/metrics", None, 401),
        ("/", None, 401),
        ("/metrics", WRONG, 401),
        ("/metrics", "Bearer x", 401),
        ("/metrics", "Basic !!!", 401),
        ("/metrics", BASIC, 200),
        ("/", BASIC, 200),
    ],
)
def test_a_password_listener_serves_health_only_without_credentials(
    path: str, authorization: str | None, status: int
) -> None:
    headers = (("Authorization", authorization),) if authorization else ()
    settings = {"auth": AuthSettings.with_password("s3cret")}
    _, out = serve_bytes(request(path, headers=headers), **settings)
    assert out.startswith(b"HTTP/1.1 %d " % status), out[:100]
    if status == 401:
        assert b'WWW-Authenticate: Basic realm="wireproto"' in out


def test_metrics_name_every_counter_and_parse_back() -> None:
    stats = ServerStats(
        accepted=7,
        active=2,
        rejected={"max-connections": 1},
        detections={"match": 5, "proxy": 1},
        bytes_received=100,
        bytes_sent=200,
        protocol_errors=1,
        closes={"peer-closed": 4},
        formats={
            "resp": FormatStats(3, 1, 10, 20, 1, {"protocol-error": 1}),
            'we"ird\\name': FormatStats(1),
        },
        receive_memory=4096,
        receive_memory_limit=1 << 30,
        draining=True,
    )
    families = {
        family.name: family
        for family in text_string_to_metric_families(wireproto.providers.http.render(stats))
    }
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in families.values()
        for sample in family.samples
    }
    assert samples[("wireproto_connections_accepted_total", ())] == 7
    assert samples[("wireproto_connections_active", ())] == 2
    assert samples[("wireproto_connections_rejected_total", (("reason", "max-connections"),))] == 1
    assert samples[("wireproto_detections_total", (("outcome", "proxy"),))] == 1
    assert samples[("wireproto_detections_total", (("outcome", "timeout"),))] == 0
    assert samples[("wireproto_closes_total", (("reason", "peer-closed"),))] == 4
    assert samples[("wireproto_closes_total", (("reason", "memory-limit"),))] == 0
    assert samples[("wireproto_receive_memory_bytes", ())] == 4096
    assert samples[("wireproto_draining", ())] == 1
    resp = (("format", "resp"),)
    assert samples[("wireproto_format_sessions_total", resp)] == 3
    assert samples[("wireproto_format_sent_bytes_total", resp)] == 20
    key = ("wireproto_format_closes_total", (("format", "resp"), ("reason", "protocol-error")))
    assert samples[key] == 1
    assert samples[("wireproto_format_sessions_total", (("format", 'we"ird\\name'),))] == 1
    assert families["wireproto_connections_accepted"].type == "counter"
    assert families["wireproto_connections_active"].type == "gauge"
    # Every field of the snapshot is exported (a field added later shows up untyped).
    exported = {name for name, _ in samples}
    assert len(exported) == len(dataclasses.fields(ServerStats)) - 1 + len(
        dataclasses.fields(FormatStats)
    )


# -- over loopback ----------------------------------------------------------------


def test_healthz_turns_503_while_the_server_drains_and_pipelining_over_a_socket() -> None:
    async def scenario() -> None:
        async with Server(http_registry(), "127.0.0.1", 0) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(request() + request("/metrics") + request())
            data = b""
            while data.count(b"HTTP/1.1 ") < 3 or not data.endswith(b"ok\n"):
                data += await asyncio.wait_for(reader.read(65536), 10)
            assert [response_status(data, i) for i in range(3)] == [200, 200, 200]
            server.drain()
            writer.write(request())
            drained = await asyncio.wait_for(reader.readuntil(b"draining\n"), 10)
            assert drained.startswith(b"HTTP/1.1 503 ")
            writer.close()
            await writer.wait_closed()

    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_wireproto_serve_serves_http_websocket_and_resp_on_one_port(tmp_path: Path) -> None:
    curl = tool("curl")
    redis_cli = tool("redis-cli")
    with serve(tmp_path / "serve.log", formats={"http", "resp"}) as running:
        port = running.port
        health = subprocess.run(
            [curl, "-sS", "-i", f"http://127.0.0.1:{port}/healthz"],
            capture_output=True,
            timeout=30,
            check=True,
        )
        assert health.stdout.startswith(b"HTTP/1.1 200 OK\r\n") and health.stdout.endswith(b"ok\n")
        with ws_client.connect(f"ws://127.0.0.1:{port}/") as ws:
            ws.send(resp_command("SET", "served", "by-websocket"))
            assert ws.recv(timeout=10) == b"+OK\r\n"
        got = subprocess.run(
            [redis_cli, "-p", str(port), "GET", "served"],
            capture_output=True,
            timeout=30,
            check=True,
        )
        assert got.stdout == b"by-websocket\n"
        metrics = subprocess.run(
            [curl, "-sS", "--fail", f"http://127.0.0.1:{port}/metrics"],
            capture_output=True,
            timeout=30,
            check=True,
        )
        families = {f.name: f for f in text_string_to_metric_families(metrics.stdout.decode())}
        sessions = {
            sample.labels["format"]: sample.value
            for sample in families["wireproto_format_sessions"].samples
        }
        assert sessions["websocket"] == 1 and sessions["resp"] == 2 and sessions["http"] == 2
        accepted = families["wireproto_connections_accepted"].samples[0].value
        assert accepted == 4
        # Pipelined over one raw socket.
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(request() + request("/nope") + request("/", "HEAD"))
            data = b""
            while data.count(b"HTTP/1.1 ") < 3:
                chunk = sock.recv(65536)
                assert chunk
                data += chunk
            assert [response_status(data, i) for i in range(3)] == [200, 404, 200]


def _grow(size: int) -> bytes:
    """A ``GET /healthz`` of about ``size`` bytes (padded with a header)."""
    base = request("/healthz", headers=(("X-Pad", ""),))
    return request("/healthz", headers=(("X-Pad", "p" * max(size - len(base), 0)),))


def test_the_fuzz_kit_on_http() -> None:
    def register(registry: Registry) -> None:
        wireproto.providers.http.register(registry, HttpProvider(clock=lambda: NOW))

    corpus = load_corpus(Path(__file__).resolve().parent.parent / "specs" / "http" / "corpus")
    assert len(corpus) == 4
    target = FuzzTarget.from_plugin(register, "http", corpus=corpus, grow=_grow)
    report = check_wire_format(target, max_examples=150, seed=7)
    assert report.examples == 150
    assert report.distinct_outcomes > 1
    assert len(report.work.drip) == 2, report.work.describe()


def test_wireproto_serve_drain_time_fails_health_checks_while_still_serving(
    tmp_path: Path,
) -> None:
    curl = tool("curl")
    with serve(tmp_path / "serve.log", "--drain-time", "30", formats={"http"}) as running:
        url = f"http://127.0.0.1:{running.port}/healthz"
        before = subprocess.run([curl, "-sS", url], capture_output=True, timeout=30, check=True)
        assert before.stdout == b"ok\n"
        running.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        while True:  # the signal is handled on the server's loop: poll until it drains
            during = subprocess.run(
                [curl, "-sS", "-i", url], capture_output=True, timeout=30, check=True
            )
            if during.stdout.startswith(b"HTTP/1.1 503 ") or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert during.stdout.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
        assert during.stdout.endswith(b"draining\n")
        # A second signal ends the drain; serve() then checks the clean exit.
    assert "event=server.drain" in (tmp_path / "serve.log").read_text()


def test_an_upgrade_asked_later_on_a_keep_alive_connection_is_ignored() -> None:
    # RFC 9110 7.8: a server may ignore Upgrade; only a connection's first request opens
    # WebSocket (the layer is chosen at detection).
    conn, out = serve_bytes(request() + handshake() + request("/nope"))
    assert [response_status(out, index) for index in range(3)] == [200, 200, 404]
    assert conn.state is ConnectionState.ACTIVE
