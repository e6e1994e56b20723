"""The asyncio shell over loopback, on the default loop and on uvloop: the stream and its
errors, detection, closing, slow readers, resources, TLS and PROXY on the port, connection
limits, the fault suite and graceful shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import ssl
import struct
from pathlib import Path

import pytest
import redis.asyncio as aioredis
import wireproto.providers.resp
from _lines import (
    GREETING,
    LINE_TOO_LONG,
    MAX_LINE,
    PROXY_ELSEWHERE,
    PROXY_TRUSTED,
    TIMEOUT,
    LineProvider,
    Run,
    close,
    connect,
    connection_of,
    line_registry,
    make_registry,
    open_fds,
    read_to_eof,
    request,
    tls_connect,
    tls_settings,
    until,
)
from _tls import MemoryTlsClient, client_context
from wireproto.providers.kvbin import KVBIN, KvbinProvider, Opcode, build_request

from wireproto import (
    CloseReason,
    ConnectionSettings,
    Limits,
    Registry,
)
from wireproto._proxy import (
    build_proxy_v1,
    build_proxy_v2,
)
from wireproto._server import Server, ServerLimits

# -- the stream and its errors --------------------------------------------------------


def test_pipelined_pieces_stay_in_order_while_a_garbage_client_is_closed(run: Run) -> None:
    rng = random.Random(6380)
    alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789 "
    lines = [b"U:first"] + [
        bytes(rng.choices(alphabet, k=rng.randrange(0, MAX_LINE))) for _ in range(400)
    ]
    stream = b"".join(line + b"\n" for line in lines)
    expected = b"".join(line.upper() + b"\n" for line in lines)
    cuts = []
    offset = 0
    while offset < len(stream):
        size = rng.randrange(1, 12)
        cuts.append(stream[offset : offset + size])
        offset += size

    async def scenario() -> None:
        upper = LineProvider()
        async with Server(make_registry(upper), "127.0.0.1", 0) as server:
            good = await connect(server)
            good[1].transport.get_extra_info("socket").setsockopt(
                socket.IPPROTO_TCP, socket.TCP_NODELAY, 1
            )
            halfway = asyncio.Event()

            async def send() -> None:
                for index, piece in enumerate(cuts):
                    good[1].write(piece)
                    await asyncio.wait_for(good[1].drain(), TIMEOUT)
                    await asyncio.sleep(0)  # let the loop send each piece on its own
                    if index == len(cuts) // 2:
                        halfway.set()

            sending = asyncio.create_task(send())
            await asyncio.wait_for(halfway.wait(), TIMEOUT)
            bad = await connect(server)
            # A valid line, then a line far over the limit: the server stops parsing
            # at the limit and must still close with a FIN although bytes keep coming.
            bad[1].write(b"U:ok\n" + b"x" * 200_000 + b"\n")
            assert await read_to_eof(bad) == b"U:OK\n" + LINE_TOO_LONG
            await close(bad)

            await asyncio.wait_for(sending, TIMEOUT)
            replies = await asyncio.wait_for(good[0].readexactly(len(expected)), TIMEOUT)
            assert replies == expected
            assert await request(good, b"still here\n", 11) == b"STILL HERE\n"
            await close(good)
            await upper.wait_closes(2)
            assert [session.closes for session in upper.sessions] == [1, 1]

    run(scenario())


def test_line_limit_at_max_and_max_plus_one(run: Run) -> None:
    async def scenario() -> None:
        upper = LineProvider()
        async with Server(make_registry(upper), "127.0.0.1", 0) as server:
            at_max = b"U:" + b"a" * (MAX_LINE - 3) + b"\n"
            client = await connect(server)
            assert await request(client, at_max, MAX_LINE) == at_max.upper()
            assert await request(client, b"next\n", 5) == b"NEXT\n"

            over = await connect(server)
            over[1].write(b"U:" + b"a" * (MAX_LINE - 2) + b"\n")
            assert await read_to_eof(over) == LINE_TOO_LONG
            await close(over)
            await close(client)

    run(scenario())


def test_deferred_replies_are_flushed(run: Run) -> None:
    async def scenario() -> None:
        async with Server(make_registry(LineProvider()), "127.0.0.1", 0) as server:
            client = await connect(server)
            assert await request(client, b"U:a\n!later\nb\n", 12) == b"U:A\nB\nLATER\n"
            await close(client)

    run(scenario())


# -- detection -----------------------------------------------------------------------------


def test_unknown_and_silent_clients_are_closed(run: Run) -> None:
    async def scenario() -> None:
        upper = LineProvider()
        settings = ConnectionSettings(detect_timeout=0.2)
        async with Server(make_registry(upper), "127.0.0.1", 0, settings=settings) as server:
            unknown = await connect(server)
            unknown[1].write(b"GET / HTTP/1.1\r\n\r\n")
            silent = await connect(server)
            assert await read_to_eof(unknown) == b""
            assert await read_to_eof(silent) == b""
            await close(unknown)
            await close(silent)
            assert upper.sessions == []

    run(scenario())


def test_silent_client_goes_to_the_fallback_format(run: Run) -> None:
    async def scenario() -> None:
        upper = LineProvider()
        banner = LineProvider(greeting=GREETING, transform=bytes.lower)
        settings = ConnectionSettings(detect_timeout=0.2, fallback_format="banner")
        registry = make_registry(upper, banner)
        async with Server(registry, "127.0.0.1", 0, settings=settings) as server:
            silent = await connect(server)
            assert await asyncio.wait_for(silent[0].readexactly(8), TIMEOUT) == GREETING
            assert await request(silent, b"Hello\n", 6) == b"hello\n"

            speaking = await connect(server)
            assert await request(speaking, b"U:Hi\n", 5) == b"U:HI\n"
            magic = await connect(server)
            assert await request(magic, b"B\x00Hi\n", 13) == GREETING + b"b\x00hi\n"
            for client in (silent, speaking, magic):
                await close(client)
            assert (len(banner.sessions), len(upper.sessions)) == (2, 1)

    run(scenario())


# -- closing -------------------------------------------------------------------------------


def test_session_close_runs_once_on_every_close_path(run: Run) -> None:
    async def scenario() -> None:
        upper = LineProvider()
        server = Server(make_registry(upper), "127.0.0.1", 0)
        await server.start()
        names = ("eof", "reset", "error", "quit", "shutdown")
        clients = {name: await connect(server) for name in names}
        for index, name in enumerate(names):
            assert await request(clients[name], b"U:%d\n" % index, 4) == b"U:%d\n" % index
        assert server.open_connections == 5
        conns = {name: connection_of(server, upper.sessions[i]) for i, name in enumerate(names)}

        clients["eof"][1].write_eof()
        assert await read_to_eof(clients["eof"]) == b""
        sock = clients["reset"][1].transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        clients["error"][1].write(b"x" * MAX_LINE)
        assert await read_to_eof(clients["error"]) == LINE_TOO_LONG
        clients["quit"][1].write(b"!quit\nignored\n")
        assert await read_to_eof(clients["quit"]) == b"BYE\n"
        for name in ("eof", "reset", "error", "quit"):
            await close(clients[name])
        await upper.wait_closes(4)

        # Shutting down: the last client gets what it was sent, then a FIN.
        clients["shutdown"][1].write(b"last\n")
        assert await asyncio.wait_for(clients["shutdown"][0].readexactly(5), TIMEOUT) == b"LAST\n"
        closing = asyncio.create_task(server.close())
        assert await read_to_eof(clients["shutdown"]) == b""
        await close(clients["shutdown"])
        await asyncio.wait_for(closing, TIMEOUT)

        assert [session.closes for session in upper.sessions] == [1] * 5
        assert {name: conn.close_reason for name, conn in conns.items()} == {
            "eof": CloseReason.PEER_CLOSED,
            "reset": CloseReason.CONNECTION_LOST,
            "error": CloseReason.PROTOCOL_ERROR,
            "quit": CloseReason.SESSION_CLOSED,
            "shutdown": CloseReason.SERVER_SHUTDOWN,
        }
        assert server.open_connections == 0
        assert list(server.connections) == []

    run(scenario())


def test_close_lets_clients_read_pending_replies_then_eof(run: Run) -> None:
    size = 8 << 20  # far more than the kernel buffers: most of it waits in the transport

    async def scenario() -> None:
        upper = LineProvider()
        server = Server(make_registry(upper), "127.0.0.1", 0)
        await server.start()
        client = await connect(server, rcvbuf=4096)
        client[1].write(b"U:a\n!flood %d\n" % size)
        await asyncio.wait_for(upper.flooded.wait(), TIMEOUT)
        closing = asyncio.create_task(server.close(timeout=TIMEOUT))
        assert await read_to_eof(client) == b"U:A\n" + b"F" * size
        await close(client)
        await asyncio.wait_for(closing, TIMEOUT)
        assert upper.sessions[0].closes == 1
        assert server.open_connections == 0

    run(scenario())


def test_close_resets_clients_that_do_not_read_after_the_timeout(run: Run) -> None:
    async def scenario() -> None:
        upper = LineProvider()
        server = Server(make_registry(upper), "127.0.0.1", 0)
        await server.start()
        client = await connect(server, rcvbuf=4096)
        client[1].write(b"U:!flood %d\n" % (8 << 20))
        await asyncio.wait_for(upper.flooded.wait(), TIMEOUT)
        await asyncio.wait_for(server.close(timeout=0.2), TIMEOUT)
        assert server.open_connections == 0
        assert upper.sessions[0].closes == 1
        with pytest.raises(ConnectionResetError):
            while await asyncio.wait_for(client[0].read(1 << 20), TIMEOUT):
                pass
        await close(client)

    run(scenario())


def test_a_session_bug_closes_only_its_connection(
    run: Run, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        upper = LineProvider()
        async with Server(make_registry(upper), "127.0.0.1", 0) as server:
            bystander = await connect(server)
            assert await request(bystander, b"U:a\n", 4) == b"U:A\n"
            buggy = await connect(server)
            buggy[1].write(b"U:b\n!crash\nc\n")
            assert await read_to_eof(buggy) == b"U:B\n"
            await close(buggy)
            assert await request(bystander, b"d\n", 2) == b"D\n"
            newcomer = await connect(server)
            assert await request(newcomer, b"U:e\n", 4) == b"U:E\n"
            await close(bystander)
            await close(newcomer)
            await upper.wait_closes(3)
            assert [session.closes for session in upper.sessions] == [1, 1, 1]

    with caplog.at_level(logging.ERROR, logger="wireproto"):
        run(scenario())
    failures = [
        record
        for record in caplog.records
        if record.name == "wireproto.server" and record.exc_info is not None
    ]
    assert len(failures) == 1
    assert failures[0].levelno == logging.ERROR
    exc_info = failures[0].exc_info
    assert exc_info is not None
    assert isinstance(exc_info[1], RuntimeError)
    assert str(exc_info[1]) == "boom"


# -- slow readers ------------------------------------------------------------------------


def test_a_client_that_does_not_read_pauses_reading_until_it_drains(run: Run) -> None:
    size = 8 << 20

    async def scenario() -> None:
        upper = LineProvider()
        async with Server(make_registry(upper), "127.0.0.1", 0) as server:
            client = await connect(server, rcvbuf=4096)
            client[1].write(b"U:a\n!flood %d\n" % size)
            await asyncio.wait_for(upper.flooded.wait(), TIMEOUT)
            assert server.paused_connections == 1
            client[1].write(b"b\n")  # waits in the kernel while the server does not read
            reply = await asyncio.wait_for(client[0].readexactly(4 + size + 2), TIMEOUT)
            assert reply == b"U:A\n" + b"F" * size + b"B\n"
            assert server.paused_connections == 0
            await close(client)

    run(scenario())


def test_a_slow_reader_past_its_output_limit_is_dropped(
    run: Run, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        upper = LineProvider(Limits(max_message_size=MAX_LINE, max_output_buffered=1 << 20))
        async with Server(make_registry(upper), "127.0.0.1", 0) as server:
            client = await connect(server, rcvbuf=4096)
            assert await request(client, b"U:a\n", 4) == b"U:A\n"
            conn = connection_of(server, upper.sessions[0])
            client[1].write(b"!flood %d\n" % (8 << 20))
            await upper.wait_closes(1)
            assert conn.close_reason is CloseReason.OUTPUT_LIMIT
            with pytest.raises(ConnectionResetError):
                while await asyncio.wait_for(client[0].read(1 << 20), TIMEOUT):
                    pass
            await close(client)
            await until(lambda: server.open_connections == 0)
            assert upper.sessions[0].closes == 1

    with caplog.at_level(logging.WARNING, logger="wireproto.server"):
        run(scenario())
    assert any("unread" in record.getMessage() for record in caplog.records)


# -- resources -------------------------------------------------------------------------


def test_file_descriptors_return_to_baseline(run: Run) -> None:
    async def scenario() -> None:
        # uvloop keeps one descriptor per loop once it has listened (libuv's
        # reserve for EMFILE), so the baseline is taken after a first server.
        async with Server(make_registry(LineProvider()), "127.0.0.1", 0):
            pass
        before_server = open_fds()
        upper = LineProvider()
        server = Server(make_registry(upper), "127.0.0.1", 0)
        await server.start()
        listening = open_fds()
        for round_ in range(3):
            clients = [await connect(server) for _ in range(8)]
            for index, client in enumerate(clients):
                kind = index % 4
                if kind == 0:
                    assert await request(client, b"U:ok\n", 5) == b"U:OK\n"
                elif kind == 1:
                    client[1].write(b"U:" + b"x" * MAX_LINE)
                    assert await read_to_eof(client) == LINE_TOO_LONG
                elif kind == 2:
                    client[1].write(b"nothing known\n")
                    assert await read_to_eof(client) == b""
                else:
                    assert await request(client, b"U:!quit\n", 4) == b"BYE\n"
            for client in clients:
                await close(client)
            await upper.wait_closes(4 * (round_ + 1))
            await until(lambda: server.open_connections == 0)
            assert open_fds() == listening
        await server.close()
        assert open_fds() == before_server

    run(scenario())


# -- the Server object -------------------------------------------------------------------


def test_addresses_port_and_serve_forever(run: Run) -> None:
    async def scenario() -> None:
        server = Server(make_registry(LineProvider()), "127.0.0.1", 0)
        assert server.addresses == []
        serving = asyncio.create_task(server.serve_forever())
        await until(lambda: server.addresses != [])
        port = server.port
        assert port != 0
        assert server.addresses == [("127.0.0.1", port)]
        client = await connect(server)
        assert await request(client, b"U:x\n", 4) == b"U:X\n"
        serving.cancel()
        assert await read_to_eof(client) == b""
        await close(client)
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(serving, TIMEOUT)
        assert server.addresses == []
        with pytest.raises(ConnectionRefusedError):
            await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), TIMEOUT)

    run(scenario())


def test_a_second_close_waits_for_the_first(run: Run) -> None:
    async def scenario() -> None:
        server = Server(make_registry(LineProvider()), "127.0.0.1", 0)
        await server.start()
        client = await connect(server)
        first = asyncio.create_task(server.close())
        second = asyncio.create_task(server.close())
        assert await read_to_eof(client) == b""
        await close(client)
        await asyncio.wait_for(asyncio.gather(first, second), TIMEOUT)
        assert server.open_connections == 0

    run(scenario())


def test_tls_and_plain_share_a_port_over_loopback(run: Run, tls_files: dict[str, Path]) -> None:
    async def scenario() -> None:
        registry, upper = line_registry()
        kvbin = KvbinProvider()
        registry.register(KVBIN, kvbin)
        settings = tls_settings(tls_files)
        async with Server(registry, "127.0.0.1", 0, settings=settings) as server:
            secure = await tls_connect(server, client_context(tls_files, ["wireproto-test"]))
            assert await request(secure, b"U:secret\n", 9) == b"U:SECRET\n"
            assert await request(secure, b"!info alpn_protocol\n", 17) == b"'wireproto-test'\n"
            plain = await connect(server)
            assert await request(plain, b"U:plain\n", 8) == b"U:PLAIN\n"
            kv = await tls_connect(server, client_context(tls_files))
            reply = await request(kv, build_request(Opcode.ECHO, b"", b"x" * 100_000, 7), 100_012)
            assert reply[12:] == b"x" * 100_000
            stats = server.stats
            assert stats.formats["tls"].sessions == 2
            assert stats.formats["kvbin"].sessions == 1
            assert stats.formats["upper"].sessions == 2
            # What a session sees of the counters (for an INFO-style reply).
            plain_port = plain[1].get_extra_info("sockname")
            (session,) = [
                each
                for each in upper.sessions
                if each.sender.get_extra_info("peername") == plain_port
            ]
            listener = session.sender.listener
            assert listener is not None and not listener.draining
            snapshot = listener.stats()
            assert snapshot.accepted == 3 and snapshot.active == 3
            assert session.sender.get_extra_info("server_stats") is None
            server.drain()
            assert listener.draining and listener.stats().draining
            for client in (secure, plain, kv):
                await close(client)
            await until(lambda: server.open_connections == 0)
            assert server.stats.closes == {"peer-closed": 3}

    run(scenario())


def test_a_client_hello_in_one_byte_writes_over_loopback(
    run: Run, tls_files: dict[str, Path]
) -> None:
    async def scenario() -> None:
        registry, _upper = line_registry()
        async with Server(registry, "127.0.0.1", 0, settings=tls_settings(tls_files)) as server:
            reader, writer = await connect(server)
            writer.transport.get_extra_info("socket").setsockopt(
                socket.IPPROTO_TCP, socket.TCP_NODELAY, 1
            )
            (conn,) = list(server.connections)
            client = MemoryTlsClient(client_context(tls_files))
            with pytest.raises(ssl.SSLWantReadError):
                client.ssl.do_handshake()
            hello = client.outgoing.read()
            assert len(hello) > 200
            for index in range(len(hello)):
                writer.write(hello[index : index + 1])
                await writer.drain()
                async with asyncio.timeout(TIMEOUT):
                    while conn.bytes_received <= index:  # one read per byte, on the server
                        await asyncio.sleep(0)
            assert conn.wire_format is not None and conn.wire_format.name == "tls"
            while True:
                client.incoming.write(await asyncio.wait_for(reader.read(65536), TIMEOUT))
                try:
                    client.ssl.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    continue
            client.ssl.write(b"U:split\n")
            writer.write(client.outgoing.read())
            reply = b""
            while not reply.endswith(b"\n"):
                client.incoming.write(await asyncio.wait_for(reader.read(65536), TIMEOUT))
                with contextlib.suppress(ssl.SSLWantReadError):
                    reply += client.ssl.read(100)
            assert reply == b"U:SPLIT\n"
            await close((reader, writer))

    run(scenario())


def test_redis_py_with_and_without_tls_on_one_port(run: Run, tls_files: dict[str, Path]) -> None:
    async def scenario() -> None:
        registry = Registry()
        resp = wireproto.providers.resp.register(registry)
        async with Server(registry, "127.0.0.1", 0, settings=tls_settings(tls_files)) as server:
            secure = aioredis.Redis(
                host="127.0.0.1",
                port=server.port,
                ssl=True,
                ssl_ca_certs=str(tls_files["ca"]),
                ssl_cert_reqs="required",
                ssl_check_hostname=True,
            )
            plain = aioredis.Redis(host="127.0.0.1", port=server.port)
            try:
                assert await asyncio.wait_for(secure.set("k", "over tls"), TIMEOUT) is True
                assert await asyncio.wait_for(plain.get("k"), TIMEOUT) == b"over tls"
                assert await asyncio.wait_for(plain.set("p", "plain"), TIMEOUT) is True
                assert await asyncio.wait_for(secure.get("p"), TIMEOUT) == b"plain"
            finally:
                await secure.aclose()
                await plain.aclose()
            assert resp.store is not None
            await until(lambda: server.open_connections == 0)
            stats = server.stats
            assert stats.formats["tls"].sessions == 1
            assert stats.formats["resp"].sessions == 2

    run(scenario())


@pytest.mark.parametrize("version", [1, 2])
def test_proxy_headers_over_loopback_trusted_and_untrusted(run: Run, version: int) -> None:
    build = build_proxy_v1 if version == 1 else build_proxy_v2

    async def scenario() -> None:
        header = build(("203.0.113.7", 56324), ("192.0.2.1", 6380))
        for proxy, trusted in ((PROXY_TRUSTED, True), (PROXY_ELSEWHERE, False)):
            registry, upper = line_registry()
            settings = ConnectionSettings(layers=(proxy,))
            async with Server(registry, "127.0.0.1", 0, settings=settings) as server:
                client = await connect(server)
                client[1].write(header + b"U:!info proxy_source\n")
                if trusted:
                    expected = b"('203.0.113.7', 56324)\n"
                    assert await asyncio.wait_for(client[0].readline(), TIMEOUT) == expected
                else:
                    assert await read_to_eof(client) == b""
                    assert upper.sessions == []
                    assert server.stats.detections == {"proxy-rejected": 1}
                # Either way, a direct client is served as usual.
                direct = await connect(server)
                assert await request(direct, b"U:direct\n", 9) == b"U:DIRECT\n"
                for each in (client, direct):
                    await close(each)

    run(scenario())


# -- connection limits over loopback, at max and max+1 ----------------------------------


def test_max_connections_at_max_and_max_plus_one(
    run: Run, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        registry, _upper = line_registry()
        limits = ServerLimits(max_connections=3, max_connections_per_client=None)
        async with Server(registry, "127.0.0.1", 0, limits=limits) as server:
            clients = [await connect(server) for _ in range(3)]
            for index, client in enumerate(clients):
                assert await request(client, b"U:%d\n" % index, 4) == b"U:%d\n" % index
            refused = [await connect(server) for _ in range(3)]
            for client in refused:
                assert await read_to_eof(client) == b""
                await close(client)
            assert server.stats.rejected == {"max-connections": 3}
            assert await request(clients[0], b"still\n", 6) == b"STILL\n"
            await close(clients.pop())
            await until(lambda: server.open_connections == 2)
            again = await connect(server)
            assert await request(again, b"U:again\n", 8) == b"U:AGAIN\n"
            for client in [*clients, again]:
                await close(client)
            stats = server.stats
            assert (stats.accepted, stats.rejected_total) == (7, 3)

    with caplog.at_level(logging.DEBUG, logger="wireproto.server"):
        run(scenario())
    rejections = [r for r in caplog.records if "event=connection.rejected" in r.getMessage()]
    assert len(rejections) == 3
    # Rate-limited: one warning, the others at debug level.
    assert [r.levelno for r in rejections] == [logging.WARNING, logging.DEBUG, logging.DEBUG]


def test_max_connections_per_client_at_max_and_max_plus_one(run: Run) -> None:
    async def scenario() -> None:
        registry, _upper = line_registry()
        limits = ServerLimits(max_connections_per_client=2)
        settings = ConnectionSettings(layers=(PROXY_TRUSTED,))
        async with Server(registry, "127.0.0.1", 0, limits=limits, settings=settings) as server:
            # Behind a trusted proxy the limit applies to the PROXY header's source.
            first, second, third, other = [await connect(server) for _ in range(4)]
            via = {
                "first": (first, "198.51.100.1"),
                "second": (second, "198.51.100.1"),
                "other": (other, "198.51.100.2"),
            }
            for client, source in via.values():
                client[1].write(build_proxy_v1((source, 1000), ("192.0.2.1", 1)) + b"U:a\n")
                assert await asyncio.wait_for(client[0].readexactly(4), TIMEOUT) == b"U:A\n"
            third[1].write(build_proxy_v1(("198.51.100.1", 1001), ("192.0.2.1", 1)) + b"U:a\n")
            assert await read_to_eof(third) == b""
            assert server.stats.rejected == {"max-connections-per-client": 1}
            for client in (first, second, third, other):
                await close(client)
            await until(lambda: server.open_connections == 0)

        plain_limits = ServerLimits(max_connections_per_client=2)
        async with Server(registry, "127.0.0.1", 0, limits=plain_limits) as server:
            at_max = [await connect(server) for _ in range(2)]
            for client in at_max:
                assert await request(client, b"U:x\n", 4) == b"U:X\n"
            over = await connect(server)
            assert await read_to_eof(over) == b""
            assert server.stats.rejected == {"max-connections-per-client": 1}
            await close(at_max.pop())
            await until(lambda: server.open_connections == 1)
            replacement = await connect(server)
            assert await request(replacement, b"U:y\n", 4) == b"U:Y\n"
            for client in [*at_max, over, replacement]:
                await close(client)

    run(scenario())


def test_idle_clients_are_closed_over_loopback(run: Run) -> None:
    async def scenario() -> None:
        registry, upper = line_registry()
        settings = ConnectionSettings(idle_timeout=0.2)
        async with Server(registry, "127.0.0.1", 0, settings=settings) as server:
            client = await connect(server)
            assert await request(client, b"U:a\n", 4) == b"U:A\n"
            conn = connection_of(server, upper.sessions[0])
            assert await read_to_eof(client) == b""  # a FIN, not a reset
            assert conn.close_reason is CloseReason.IDLE_TIMEOUT
            await close(client)
            assert server.stats.closes == {"idle-timeout": 1}

    run(scenario())


# -- the fault suite: after each fault, fds and sessions return to the baseline -----------


FAULT_SETTINGS = ConnectionSettings(detect_timeout=0.2, idle_timeout=0.6)


async def _silent(server: Server) -> None:
    client = await connect(server)
    assert await read_to_eof(client) == b""  # closed at the detection deadline
    await close(client)


async def _half_frame_then_vanish(server: Server) -> None:
    client = await connect(server)
    client[1].write(b"U:half a li")
    await until(lambda: any(conn.bytes_received for conn in server.connections))
    sock = client[1].transport.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    await close(client)


async def _half_frame_then_silence(server: Server) -> None:
    client = await connect(server)
    client[1].write(b"U:half a li")
    assert await read_to_eof(client) == b""  # closed at the idle deadline
    await close(client)


async def _garbage(server: Server) -> None:
    client = await connect(server)
    client[1].write(bytes(random.Random(7).randbytes(5000)))
    with contextlib.suppress(ConnectionResetError):
        assert await read_to_eof(client) == b""
    await close(client)


async def _garbage_after_detection(server: Server) -> None:
    client = await connect(server)
    client[1].write(b"U:ok\n" + b"\xff" * 10_000)
    with contextlib.suppress(ConnectionResetError):
        assert await read_to_eof(client) == b"U:OK\n" + LINE_TOO_LONG
    await close(client)


async def _reset_mid_message(server: Server) -> None:
    client = await connect(server)
    assert await request(client, b"U:first\n", 8) == b"U:FIRST\n"
    client[1].write(b"second line, cut")
    await until(lambda: sum(conn.bytes_received for conn in server.connections) >= 8 + 16)
    sock = client[1].transport.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    await close(client)


async def _never_reads(server: Server) -> None:
    client = await connect(server, rcvbuf=4096)
    client[1].write(b"U:!flood %d\n" % (8 << 20))
    with pytest.raises(ConnectionResetError):  # the output cap: a reset
        while await asyncio.wait_for(client[0].read(1 << 20), TIMEOUT):
            pass
    await close(client)


FAULTS = {
    "silent": _silent,
    "half-frame-then-vanish": _half_frame_then_vanish,
    "half-frame-then-silence": _half_frame_then_silence,
    "garbage": _garbage,
    "garbage-after-detection": _garbage_after_detection,
    "reset-mid-message": _reset_mid_message,
    "never-reads": _never_reads,
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_fault_suite(run: Run, fault: str) -> None:
    async def scenario() -> None:
        async with Server(make_registry(LineProvider()), "127.0.0.1", 0):
            pass  # uvloop's one-off descriptor (see test_file_descriptors_return_to_baseline)
        upper = LineProvider(Limits(max_message_size=MAX_LINE, max_output_buffered=1 << 20))
        server = Server(make_registry(upper), "127.0.0.1", 0, settings=FAULT_SETTINGS)
        await server.start()
        bystander = await connect(server)
        assert await request(bystander, b"U:before\n", 9) == b"U:BEFORE\n"
        baseline_fds, baseline_sessions = open_fds(), server.open_connections
        for round_ in range(2):
            fault_task = asyncio.create_task(FAULTS[fault](server))
            # Meanwhile the bystander is served, in order (and kept from its idle deadline).
            index = 0
            async with asyncio.timeout(TIMEOUT):
                while not fault_task.done() or index < 5:
                    line = b"during %d %d\n" % (round_, index)
                    assert await request(bystander, line, len(line)) == line.upper()
                    index += 1
                    await asyncio.sleep(0.01)
            await fault_task
            await until(lambda: server.open_connections == baseline_sessions)
            await until(lambda: open_fds() == baseline_fds)
        assert await request(bystander, b"after\n", 6) == b"AFTER\n"
        await close(bystander)
        await asyncio.wait_for(server.close(), TIMEOUT)
        assert all(session.closes == 1 for session in upper.sessions)
        stats = server.stats
        assert stats.active == 0
        assert stats.accepted == 3
        assert sum(stats.closes.values()) == 3

    run(scenario())


# -- graceful shutdown: nothing acknowledged is lost -----------------------------------


def test_shutdown_loses_nothing_acknowledged(run: Run) -> None:
    count = 20_000

    async def scenario() -> None:
        kvbin = KvbinProvider()
        registry = Registry()
        registry.register(KVBIN, kvbin)
        server = Server(registry, "127.0.0.1", 0)
        await server.start()
        reader, writer = await connect(server)
        writer.write(b"".join(build_request(Opcode.SET, b"k%d" % n, b"v", n) for n in range(count)))
        first = await asyncio.wait_for(reader.readexactly(12), TIMEOUT)
        closing = asyncio.create_task(server.close(timeout=TIMEOUT))
        rest = await read_to_eof((reader, writer))
        await close((reader, writer))
        await asyncio.wait_for(closing, TIMEOUT)
        replies = first + rest
        assert len(replies) % 12 == 0  # whole replies only
        acknowledged = len(replies) // 12
        ids = [int.from_bytes(replies[i + 4 : i + 8]) for i in range(0, len(replies), 12)]
        assert ids == list(range(acknowledged))
        # Every acknowledged SET is in the store, and nothing was applied unacknowledged.
        assert sorted(kvbin.store.stored_keys()) == sorted(b"k%d" % n for n in range(acknowledged))

    run(scenario())
