"""The per-address connection limit under reconnect churn.

A client that connects, sends a command and closes, faster than the server's
loop reads the FINs, used to find its closed connections still counted: with
a limit of 50, most of 3,000 sequential connections were refused. A
connection whose peer has closed no longer counts, and every close path
releases its place exactly once.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import redis
from _serve import HOST, serve
from wireproto.providers import resp
from wireproto.providers.kvstore import shared_store

from wireproto._registry import Registry
from wireproto._server import Server, ServerLimits

LIMIT = 50
CYCLES = 3000
TIMEOUT = 30.0


def churn(port: int, cycles: int, request: bytes) -> None:
    """``cycles`` x (connect, send ``request``, close without reading), as fast as possible."""
    for _ in range(cycles):
        with socket.create_connection((HOST, port), timeout=TIMEOUT) as sock:
            sock.sendall(request)


def in_loop(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(asyncio.wait_for(scenario(), 4 * TIMEOUT))


async def _until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


def test_churn_is_served_and_the_count_goes_back_to_zero() -> None:
    registry = Registry()
    resp.register(registry)
    store = shared_store(registry)

    async def scenario() -> None:
        limits = ServerLimits(max_connections_per_client=LIMIT)
        async with Server(registry, HOST, 0, limits=limits) as server:
            # A thread, so that the client runs while the loop serves (and outruns it).
            worker = threading.Thread(
                target=churn, args=(server.port, CYCLES, b"INCR churn\r\n"), daemon=True
            )
            worker.start()
            await _until(lambda: not worker.is_alive())
            await _until(lambda: server.stats.accepted == CYCLES)
            await _until(lambda: server.open_connections == 0)
            assert server.stats.rejected == {}
            assert store.get(b"churn") == b"%d" % CYCLES  # every command ran
            assert server.client_connections(HOST) == 0

    in_loop(scenario)


def test_the_limit_holds_at_max_and_max_plus_one() -> None:
    registry = Registry()
    resp.register(registry)

    async def scenario() -> None:
        limits = ServerLimits(max_connections_per_client=LIMIT)
        async with Server(registry, HOST, 0, limits=limits) as server:

            async def open_one() -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bytes]:
                reader, writer = await asyncio.open_connection(HOST, server.port)
                writer.write(b"PING\r\n")
                await writer.drain()
                reply = await asyncio.wait_for(reader.read(7), TIMEOUT)
                return reader, writer, reply

            held = [await open_one() for _ in range(LIMIT)]
            assert all(reply == b"+PONG\r\n" for _r, _w, reply in held)  # max: all served
            assert server.client_connections(HOST) == LIMIT
            _r, extra, reply = await open_one()
            assert reply == b""  # max + 1: closed at accept
            extra.close()
            assert server.stats.rejected == {"max-connections-per-client": 1}
            # A connection the client closed frees its place at once, FIN read or not.
            _reader, writer, _reply = held.pop()
            writer.close()
            _r, again, reply = await open_one()
            assert reply == b"+PONG\r\n"
            held.append((_r, again, reply))
            _r, extra, reply = await open_one()
            assert reply == b""  # still at the limit
            extra.close()
            assert server.client_connections(HOST) == LIMIT
            for _reader, writer, _reply in held:
                writer.close()
            await _until(lambda: server.open_connections == 0)
            assert server.client_connections(HOST) == 0

    in_loop(scenario)


def test_every_close_path_releases_the_count_once() -> None:
    """Client FIN, client reset, server close (QUIT, protocol error), refusal: back to 0."""
    registry = Registry()
    resp.register(registry)

    def reset(sock: socket.socket) -> None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")

    async def scenario() -> None:
        limits = ServerLimits(max_connections_per_client=2)
        async with Server(registry, HOST, 0, limits=limits) as server:

            def cycles() -> None:
                for request, before_close in [
                    (b"PING\r\n", None),
                    (b"PING\r\n", reset),
                    (b"QUIT\r\n", None),
                    (b"*x\r\n", None),  # a protocol error: the server closes and lingers
                    (b"", None),  # nothing sent
                    (b"", reset),
                ] * 20:
                    socks = [socket.create_connection((HOST, server.port)) for _ in range(3)]
                    for sock in socks:
                        if request:
                            sock.sendall(request)
                        if before_close is not None:
                            before_close(sock)
                        sock.close()

            await asyncio.to_thread(cycles)
            await _until(lambda: server.stats.accepted == 6 * 20 * 3)
            await _until(lambda: server.open_connections == 0)
            assert server.client_connections(HOST) == 0

    in_loop(scenario)


def test_churn_end_to_end(tmp_path: Path) -> None:
    with serve(
        tmp_path / "log", "--max-connections-per-client", str(LIMIT), formats={"resp"}
    ) as server:
        churn(server.port, CYCLES, b"INCR churn\r\n")
        client = redis.Redis(host=HOST, port=server.port)
        try:
            deadline = time.monotonic() + TIMEOUT
            while client.get("churn") != b"%d" % CYCLES and time.monotonic() < deadline:
                time.sleep(0.01)
            assert client.get("churn") == b"%d" % CYCLES
            assert client.info("wireproto")["connections_rejected"] == 0
        finally:
            client.close()
    assert "event=connection.rejected" not in (tmp_path / "log").read_text()
